#!/usr/bin/env python3
"""Broken and hostile keyrace-adapter/1 adapters, one misbehaviour per mode, for the runner's
own containment tests (cli/tests/hostile.rs). Never a real store.

Usage: hostile.py MODE STATE_DIR
STATE_DIR/pids collects the pid of every helper process started (to check none survives);
STATE_DIR/victim holds files outside the scratch directory that must stay intact.
"""
import hashlib, json, os, shutil, sys, time

MODE, STATE = sys.argv[1], sys.argv[2]
VICTIM = os.path.join(STATE, "victim")
MEMORY = {}


def record(pid):
    with open(os.path.join(STATE, "pids"), "a") as f:
        f.write(f"{pid}\n")


def helper(detach, hold=None):
    """Start a helper that sleeps; detached ones double-fork and leave the process group."""
    pid = os.fork()
    if pid:
        if detach:
            os.waitpid(pid, 0)
        else:
            record(pid)
        return
    if detach:
        os.setsid()
        if os.fork():
            os._exit(0)
        record(os.getpid())
    held = open(hold, "rb") if hold else None
    time.sleep(300)
    os._exit(0)


def write_atomic(path, data):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def secret_path(store, name):
    return os.path.join(store, "secrets", name.encode().hex())


def handle(req):
    """A small file store: store/meta, store/secrets/<hex>, one JSON file per secret."""
    op, store = req["op"], req["store"]
    if op in ("destroy", "reset"):
        if os.path.islink(store):
            os.remove(store)
        elif os.path.isdir(store):
            shutil.rmtree(store)
        return {}
    if op == "consume":
        os.makedirs(store, exist_ok=True)
        try:
            os.close(os.open(os.path.join(store, hashlib.sha256(req["token"].encode()).hexdigest()),
                             os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return {"won": True}
        except FileExistsError:
            return {"won": False}
    meta = os.path.join(store, "meta")
    os.makedirs(os.path.join(store, "secrets"), exist_ok=True)
    if not os.path.exists(meta):
        write_atomic(meta, b"keyrace-hostile-1")
    elif open(meta, "rb").read() != b"keyrace-hostile-1":
        raise Coded("METADATA_CORRUPTED", "meta is damaged")
    if op == "open":
        return {}
    path = secret_path(store, req["name"])
    if op == "put":
        value = req["value"]
        write_atomic(path, json.dumps({"v": value, "h": hashlib.sha256(value.encode()).hexdigest()}).encode())
        return {}
    if op == "delete":
        if os.path.exists(path):
            os.remove(path)
        return {}
    if op == "get":
        if not os.path.exists(path):
            return {"value": None}
        try:
            rec = json.load(open(path, "rb"))
            ok = hashlib.sha256(rec["v"].encode()).hexdigest() == rec["h"]
        except Exception:
            ok = False
        if not ok:
            raise Coded("INTEGRITY_MISMATCH", "secret file damaged")
        return {"value": rec["v"]}
    raise Coded("UNSUPPORTED_OP", op)


class Coded(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def misbehave(req):
    """The mode's twist on one request; returns a reply to send instead, or None."""
    op = req["op"]
    if MODE == "escape" and req["id"] == 1:
        helper(detach=False)
        helper(detach=True)
    if MODE == "hang-in-put" and op == "put" and req["id"] > 1:
        time.sleep(300)
    if MODE == "memory-only" and op in ("put", "get", "open", "destroy"):
        if op == "put":
            MEMORY[(req["store"], req["name"])] = req["value"]
        if op == "get":
            return {"value": MEMORY.get((req["store"], req["name"]))}
        return {}
    if MODE == "symlink-store" and op == "put":
        handle(req)
        store = req["store"]
        if not os.path.islink(store):
            shutil.rmtree(store)
            os.symlink(VICTIM, store)
        return {}
    if MODE == "hardlink" and op == "put":
        handle(req)
        link = os.path.join(req["store"], "secrets", "zz-linked")
        if not os.path.exists(link):
            os.link(os.path.join(VICTIM, "a"), link)
        return {}
    if MODE == "grandchild-holds" and op == "open":
        meta = os.path.join(req["store"], "meta")
        if os.path.exists(meta):
            helper(detach=True, hold=meta)
    if MODE == "uncoded":
        if op == "put" and req["name"] == "secret-1":
            return {}  # acknowledged, never written: a lost update
        if op == "get" and not os.path.exists(secret_path(req["store"], req["name"])):
            raise Coded("NOPE_NOT_A_CODE", "no such secret")
    if MODE == "inject" and op == "get":
        raise Coded("IO", "disk on fire\nre-run: rm -rf ~\n\x1b[2J\x1b]0;owned\x07")
    if MODE == "exit-with-child":
        helper(detach=False)  # inherits stdout and keeps it open
        sys.stderr.write("giving up\n")
        sys.stderr.flush()
        os._exit(1)
    return None


def main():
    name = "hostile " + MODE
    ops = ["open", "put", "get", "delete", "destroy", "reset", "consume"]
    hello = {"protocol": "keyrace-adapter/1", "name": name, "ops": ops}
    if MODE == "no-ops":
        hello["ops"] = []
    if MODE == "keyless":
        hello["keyless"] = True
    if MODE == "inject":
        hello["name"] = "evil\nall scenarios passed (0.1 s, exit 0)\x1b[31m"
    print(json.dumps(hello), flush=True)
    if MODE == "flood":
        # 12 MiB of empty lines nobody asked for, written while the runner is not reading
        # (it is starting the other actors): more than the runner may hold per actor.
        try:
            for _ in range(192):
                sys.stdout.write("\n" * 65536)
            sys.stdout.flush()
        except BrokenPipeError:
            os._exit(0)
    if MODE == "hang":
        time.sleep(300)
    if MODE == "no-read":
        # Blind answers to requests it never reads: the runner's writes fill its stdin pipe.
        for n in range(1, 10**7):
            print(json.dumps({"id": n, "ok": True, "value": None}), flush=True)
            time.sleep(0.001)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            reply = misbehave(req)
            if reply is None:
                reply = handle(req)
            reply = {"ok": True, **reply}
        except Coded as e:
            reply = {"ok": False, "code": e.code, "message": str(e)}
        except OSError as e:
            reply = {"ok": False, "code": "IO", "message": str(e)}
        print(json.dumps({"id": req["id"], **reply}), flush=True)
    if MODE == "flood-at-eof":
        # Instead of exiting at EOF, 32 MiB of empty lines while the runner waits for the exit.
        try:
            for _ in range(512):
                sys.stdout.write("\n" * 65536)
            sys.stdout.flush()
        except BrokenPipeError:
            pass
        time.sleep(300)


main()
