#!/usr/bin/env python3
"""A keyrace-adapter/1 adapter (stdlib only) for a tiny file-based store, as an example.

The store is a directory: `store.json` ({"format": 1}) and `secrets/<hex name>`, one JSON file
per secret with a SHA-256 of its value, each replaced atomically (temp, fsync, rename, fsync dir).
The `witness` op is a witness client (docs/witness.md) with urllib: it sends the last known
head, retries a bootstrap-412 once with the head it carries, never retries a 409, coalesces
concurrent cold starts, and keeps the head in a cache file it replaces atomically.
Check it: keyrace check --adapter python3 examples/adapter.py
"""
import hashlib, http.client, json, os, re, shutil, stat, sys, threading, urllib.error, urllib.request

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
    fsync_dir(store)  # a racing creator may not have made store.json durable yet: nothing before
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

# The witness client. A head is `<position>:<22 base64url>`, canonical (the last character
# carries 2 bits, so it is one of A, Q, g, w); anything else is no head.
HEAD = re.compile(r"(0|[1-9][0-9]{0,19}):[A-Za-z0-9_-]{21}[AQgw]")
CODES = {"BOOTSTRAP_ALREADY_CONSUMED", "DIVERGENCE", "INVALID_ARGUMENT", "IO", "BUSY", "NOT_FOUND",
         "PERMISSION_DENIED"}
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

def valid_head(head):
    return isinstance(head, str) and HEAD.fullmatch(head) is not None and int(head.split(":")[0]) < 2**64

def load_head(path):  # a miss for anything but our own regular file holding a valid head
    try: fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError: return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid(): return None
        data = os.read(fd, 4096)
    finally: os.close(fd)
    try: head = json.loads(data).get("head")
    except (ValueError, AttributeError): return None
    return head if valid_head(head) else None

def store_head(path, head):  # temp, fsync, rename over the name (never through a link), fsync dir
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.urandom(8).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try: os.write(fd, json.dumps({"version": 1, "head": head}).encode()); os.fsync(fd)
    finally: os.close(fd)
    os.replace(tmp, path); fsync_dir(os.path.dirname(path))

class WitnessClient:
    def __init__(self, url, key, cache_dir):
        self.url, self.key, self.head, self.leading = url.rstrip("/") + "/v1/witness", key, None, False
        self.cache = os.path.join(cache_dir, "keyrace-py-sth-" + hashlib.sha256(f"{url}\0{key}".encode()).hexdigest()[:32] + ".json")
        self.cond = threading.Condition()

    def send(self, head):
        headers = {"Authorization": f"Bearer {self.key}", **({"X-Keyrace-Last-Known-Head": head} if head else {})}
        request = urllib.request.Request(self.url, data=b"", method="POST", headers=headers)
        def whole(r):  # the whole body or an error: a cut answer is no answer
            if int(r.headers.get("Content-Length") or 0) > 65536: raise Coded("IO", "the witness server's answer is too large")
            return r.read()
        try:
            with NO_PROXY.open(request, timeout=3) as r: status, current, body = r.status, r.headers.get("X-Keyrace-Current-Head"), whole(r)
        except urllib.error.HTTPError as e: status, current, body = e.code, e.headers.get("X-Keyrace-Current-Head"), whole(e)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e: raise Coded("IO", f"cannot reach the witness server: {e}")
        try: code = json.loads(body).get("code")
        except (ValueError, AttributeError): code = None
        return status, code, current if valid_head(current) and status in (200, 409, 412) else None

    def learn(self, head):
        with self.cond:
            if head == self.head: return
            self.head = head
        try: store_head(self.cache, head)
        except OSError: pass  # an unwritable cache is no cache

    def call(self):
        with self.cond:  # one cold-start leader; the others wait for the head it learns
            while self.head is None and self.leading: self.cond.wait()
            head, leading = self.head, self.head is None
            self.leading = leading
        learned = None
        try:
            if leading:
                head = learned = load_head(self.cache)
                if head:
                    with self.cond: self.head = head
            for attempt in (1, 2):
                status, code, carried = self.send(head)
                if carried: self.learn(carried); learned = carried
                if leading:
                    with self.cond: self.leading = False; self.cond.notify_all()
                    leading = False
                if status == 200: return
                if status == 409: raise Coded("DIVERGENCE", f"the server's history does not hold head {head}; investigate, do not retry")
                if status == 412 and code == "BOOTSTRAP_ALREADY_CONSUMED" and attempt == 1 and carried:
                    head = carried; continue
                if status == 412 and code == "BOOTSTRAP_ALREADY_CONSUMED":
                    raise Coded(code, "the key's one-time bootstrap grace is consumed and the retry with its head did not pass")
                raise Coded(code if code in CODES else "IO", f"the witness server answered {status}")
        finally:
            if leading:
                with self.cond: self.leading = False; self.cond.notify_all()

def witness(req):
    client, errors = WitnessClient(req["url"], req["api_key"], req["cache_dir"]), []
    calls = max(1, min(int(req.get("concurrency") or 1), 64))
    cached = load_head(client.cache) if calls == 1 else None  # a fresh client's first request carries it
    def one():
        try: client.call()
        except Coded as e: errors.append(e)
    threads = [threading.Thread(target=one) for _ in range(calls)]
    for t in threads: t.start()
    for t in threads: t.join()
    if errors: raise errors[0]
    return {"head": cached, "from_cache": cached is not None} if calls == 1 else {}

def handle(req):
    if req["op"] == "witness": return witness(req)
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
        except FileExistsError: fsync_dir(store); return {"won": False}  # the winner's marker, durably
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
                  "ops": ["open", "put", "get", "delete", "destroy", "reset", "consume", "witness"]}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    try: reply = {"ok": True, **handle(req)}
    except Coded as e: reply = {"ok": False, "code": e.code, "message": str(e)}
    except OSError as e:
        code = {PermissionError: "PERMISSION_DENIED", FileNotFoundError: "NOT_FOUND"}.get(type(e), "IO")
        reply = {"ok": False, "code": code, "message": str(e)}
    print(json.dumps({"id": req["id"], **reply}), flush=True)
