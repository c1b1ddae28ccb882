#!/usr/bin/env python3
"""A keyrace-adapter/1 adapter (stdlib only) for a tiny file-based store, as an example.

The store is a directory: `store.json` ({"format": 1}) and `secrets/<hex name>`, one JSON file
per secret with a SHA-256 of its value, each replaced atomically (temp, fsync, rename, fsync dir).
Check it: keyrace check --adapter python3 examples/adapter.py
"""
import hashlib, json, os, shutil, sys

class Coded(Exception):
    def __init__(self, code, message): super().__init__(message); self.code = code

def sha(value):
    return hashlib.sha256(value.encode()).hexdigest() if isinstance(value, str) else None

def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try: os.fsync(fd)
    finally: os.close(fd)

def write_atomic(path, data):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data); f.flush(); os.fsync(f.fileno())
    os.replace(tmp, path); fsync_dir(os.path.dirname(path))

def open_store(store):
    meta, secrets = os.path.join(store, "store.json"), os.path.join(store, "secrets")
    try:
        with open(meta, "rb") as f: fmt = json.load(f).get("format")
    except FileNotFoundError:
        if os.path.isdir(secrets) and os.listdir(secrets):
            # A racing creator publishes store.json before any secret: look again first.
            if os.path.exists(meta): return open_store(store)
            raise Coded("METADATA_MISSING", f"{meta} is missing; destroy the store to start over")
        os.makedirs(secrets, exist_ok=True)
        fsync_dir(os.path.dirname(os.path.abspath(store)))  # the store's own name, durably
        write_atomic(meta, b'{"format": 1}')  # racing creators all write the same bytes
        return secrets
    except (ValueError, AttributeError) as e:
        raise Coded("METADATA_CORRUPTED", f"{meta} is corrupted ({e}); destroy the store to start over")
    if fmt != 1:
        raise Coded("UNSUPPORTED_VERSION", f"{meta} has format {fmt!r}, this adapter reads 1")
    return secrets

def clear_store(store):  # without opening it (it may be damaged); never a directory not ours
    names = os.listdir(store) if os.path.isdir(store) else []
    secrets, ours = os.path.join(store, "secrets"), lambda n: all(c in "0123456789abcdef" for c in n.split(".tmp-")[0])
    if not all(n == "store.json" or n.startswith("store.json.tmp-") or (n == "secrets" and not os.path.islink(secrets)
               and os.path.isdir(secrets) and all(map(ours, os.listdir(secrets)))) for n in names):
        raise Coded("INVALID_ARGUMENT", f"{store} does not look like a store; refusing to delete it")
    for name in names:
        shutil.rmtree(secrets) if name == "secrets" else os.remove(os.path.join(store, name))
    return names

def handle(req):
    op, store = req["op"], req["store"]
    if op in ("destroy", "reset"):
        names = clear_store(store)
        if op == "destroy" and os.path.isdir(store): os.rmdir(store)
        elif names: fsync_dir(store)
        return {}
    if op == "consume":
        os.makedirs(store, exist_ok=True); fsync_dir(os.path.dirname(os.path.abspath(store)))
        marker = os.path.join(store, hashlib.sha256(req["token"].encode()).hexdigest())
        try: fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError: return {"won": False}
        os.fsync(fd); os.close(fd); fsync_dir(store); return {"won": True}
    secrets = open_store(store)
    if op == "open": return {}
    path = os.path.join(secrets, req["name"].encode().hex())
    if op == "put":
        value = req["value"]
        write_atomic(path, json.dumps({"name": req["name"], "value": value, "sha256": sha(value)}).encode())
        return {}
    if op == "delete":
        try: os.remove(path)
        except FileNotFoundError: pass
        fsync_dir(secrets); return {}
    if op == "get":
        try:
            with open(path, "rb") as f: rec = json.load(f)
        except FileNotFoundError: return {"value": None}
        except ValueError: rec = None
        if not isinstance(rec, dict) or rec.get("name") != req["name"] or sha(rec.get("value")) != rec.get("sha256"):
            raise Coded("INTEGRITY_MISMATCH", f"{path} is damaged; put the secret again")
        return {"value": rec["value"]}
    raise Coded("UNSUPPORTED_OP", f"no op {op!r}")

print(json.dumps({"protocol": "keyrace-adapter/1", "name": "python example file store",
                  "ops": ["open", "put", "get", "delete", "destroy", "reset", "consume"]}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    try: reply = {"ok": True, **handle(req)}
    except Coded as e: reply = {"ok": False, "code": e.code, "message": str(e)}
    except OSError as e:
        code = {PermissionError: "PERMISSION_DENIED", FileNotFoundError: "NOT_FOUND"}.get(type(e), "IO")
        reply = {"ok": False, "code": code, "message": str(e)}
    print(json.dumps({"id": req["id"], **reply}), flush=True)
