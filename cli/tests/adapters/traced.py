#!/usr/bin/env python3
"""A small keyless store (all secrets in one JSON file) for the tracer's tests
(cli/tests/explore.rs). Never a real store.

Usage: traced.py MODE
  locked    read-modify-write of secrets.json under a blocking flock: correct
  unlocked  the same without the lock: concurrent puts lose each other's secrets
  polled    like locked, but the lock is polled: an O_EXCL lock file, retried after a sleep
  nbflock   like locked, but flock(LOCK_EX | LOCK_NB) retried after a sleep
  impatient like nbflock, but it gives up after two attempts: a put fails whenever the lock's
            holder is preempted that long
  indexed   like locked, and every put also rewrites index.json (the names), which get checks
  mmap      writes secrets.json through a shared writable mapping (invisible to the tracer)
  uring     like locked, but when io_uring_setup works it writes "out of sight" (through a
            shared mapping, as a runtime would through io_uring); when it fails, plainly
  threaded  like locked, but each put runs on two threads of the actor (the secret, and a
            copy under "<name>~copy"), each taking the flock through its own descriptor: one
            thread's lock waits on its sibling while the scheduler holds that sibling
  slow      like locked, but every request takes 300 ms more (a runtime that is slow to start
            and to open its store, as Bun with SQLite is under the tracer)
  chunked   like locked, but the temporary file's first 12 bytes are written one at a time
            (1-byte writes cannot tear) before the rest and its fsync: correct, with more
            unsynced operations at one crash point than the crash states try every subset of
"""
import ctypes, errno, fcntl, json, mmap, os, sys, threading, time

MODE = sys.argv[1]


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(store):
    try:
        with open(os.path.join(store, "secrets.json"), "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def replace(path, data):
    tmp = path + f".tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data); f.flush(); os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path))


def write(store, secrets):
    if MODE == "indexed":
        replace(os.path.join(store, "secrets.json"), json.dumps(secrets).encode())
        # A second new file in the same put: ext4 hands it the inode just freed.
        replace(os.path.join(store, "index.json"), json.dumps(sorted(secrets)).encode())
        return
    path, data = os.path.join(store, "secrets.json"), json.dumps(secrets).encode()
    if MODE == "mmap" or (MODE == "uring" and IO_URING):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(fd, len(data))
        with mmap.mmap(fd, len(data), mmap.MAP_SHARED, mmap.PROT_WRITE | mmap.PROT_READ) as m:
            m[:] = data
            m.flush()
        os.close(fd)
        return
    tmp = path + f".tmp-{os.getpid()}"
    with open(tmp, "wb", buffering=0) as f:
        if MODE == "chunked":
            for i in range(min(12, len(data))):
                f.write(data[i:i + 1])
            f.write(data[12:])
        else:
            f.write(data)
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(store)


def ensure(store):
    if not os.path.isdir(store):
        os.makedirs(store, exist_ok=True)
        fsync_dir(os.path.dirname(os.path.abspath(store)))


def update(store, change):
    ensure(store)
    lock, lock_file = None, os.path.join(store, ".lock")
    if MODE == "polled":
        while True:
            try:
                lock = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileExistsError:
                time.sleep(0.001)
    elif MODE in ("nbflock", "impatient"):
        lock = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        attempts = 0
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                attempts += 1
                if MODE == "impatient" and attempts == 2:
                    os.close(lock)
                    raise
                time.sleep(0.001)
    elif MODE != "unlocked":
        lock = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        secrets = read(store)
        change(secrets)
        write(store, secrets)
    finally:
        if MODE == "polled":
            os.unlink(lock_file)
        if lock is not None:
            os.close(lock)


def handle(req):
    op, store = req["op"], req["store"]
    if op == "open":
        ensure(store)
        return {}
    if op == "put" and MODE == "threaded":
        errors = []

        def half(name):
            try:
                update(store, lambda s: s.__setitem__(name, req["value"]))
            except Exception as e:  # noqa: BLE001 - reported by the request
                errors.append(e)

        workers = [threading.Thread(target=half, args=(n,)) for n in (req["name"], req["name"] + "~copy")]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if errors:
            raise errors[0]
        return {}
    if op == "put":
        update(store, lambda s: s.__setitem__(req["name"], req["value"]))
        return {}
    if op == "get":
        secrets = read(store)
        if MODE == "indexed" and secrets:
            with open(os.path.join(store, "index.json"), "rb") as f:
                if json.load(f) != sorted(secrets):
                    raise ValueError("index.json does not match secrets.json")
        return {"value": secrets.get(req["name"])}
    raise ValueError(op)


def io_uring_errno():
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    fd = libc.syscall(425, 4, params)
    if fd >= 0:
        os.close(fd)
        return 0
    return ctypes.get_errno()


IO_URING = MODE == "uring" and io_uring_errno() == 0
name = f"traced {MODE} store"
print(json.dumps({"protocol": "keyrace-adapter/1", "name": name, "keyless": True,
                  "ops": ["open", "put", "get"]}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    if MODE == "slow":
        time.sleep(0.3)
    try:
        reply = {"id": req["id"], "ok": True, **handle(req)}
    except Exception as e:  # noqa: BLE001 - every failure is reported, coded
        code = "BUSY" if isinstance(e, BlockingIOError) else "IO"
        reply = {"id": req["id"], "ok": False, "code": code, "message": str(e)}
    print(json.dumps(reply), flush=True)
