#!/usr/bin/env python3
"""A small keyless store (all secrets in one JSON file) for the tracer's tests
(scenarios/tests/explore.rs). Never a real store.

Usage: traced.py MODE
  locked    read-modify-write of secrets.json under a blocking flock: correct
  unlocked  the same without the lock: concurrent puts lose each other's secrets
  mmap      writes secrets.json through a shared writable mapping (invisible to the tracer)
  uring     like locked, but when io_uring_setup works it writes "out of sight" (through a
            shared mapping, as a runtime would through io_uring); when it fails, plainly
"""
import ctypes, errno, fcntl, json, mmap, os, sys

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


def write(store, secrets):
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
    with open(tmp, "wb") as f:
        f.write(data); f.flush(); os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(store)


def ensure(store):
    if not os.path.isdir(store):
        os.makedirs(store, exist_ok=True)
        fsync_dir(os.path.dirname(os.path.abspath(store)))


def update(store, change):
    ensure(store)
    lock = None
    if MODE != "unlocked":
        lock = os.open(os.path.join(store, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        secrets = read(store)
        change(secrets)
        write(store, secrets)
    finally:
        if lock is not None:
            os.close(lock)


def handle(req):
    op, store = req["op"], req["store"]
    if op == "open":
        ensure(store)
        return {}
    if op == "put":
        update(store, lambda s: s.__setitem__(req["name"], req["value"]))
        return {}
    if op == "get":
        return {"value": read(store).get(req["name"])}
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
    try:
        reply = {"id": req["id"], "ok": True, **handle(req)}
    except Exception as e:  # noqa: BLE001 - every failure is reported, coded
        reply = {"id": req["id"], "ok": False, "code": "IO", "message": str(e)}
    print(json.dumps(reply), flush=True)
