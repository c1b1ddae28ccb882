#!/usr/bin/env python3
"""A small keyless store on SQLite (stdlib sqlite3) for the crash states' and the controlled
races' tests (cli/tests/sqlite.rs), one mode per durability setting. Never a real store.

Usage: sqlite_store.py MODE
  wal-full      journal_mode=WAL, synchronous=FULL: the WAL is synced at every commit. Durable.
  wal-normal    journal_mode=WAL, synchronous=NORMAL: the WAL is synced only at a checkpoint,
                so the last acknowledged commits can vanish in a power loss (SQLite documents
                it: consistent, not durable).
  delete-full   journal_mode=DELETE, synchronous=FULL: the commit is the journal's unlink,
                which nothing syncs, so a power loss can bring the journal back and roll the
                commit back (SQLite documents it: EXTRA syncs the directory after the unlink).
  delete-extra  journal_mode=DELETE, synchronous=EXTRA. Durable.
  off           journal_mode=DELETE, synchronous=OFF: nothing is synced; commits are lost and
                the database can be left corrupt.

A second argument, `pragma-once`, makes the store set its journal mode once, without the retry
a careful store needs: two processes opening a fresh database both set it, and SQLite answers
one "database is locked" at once, without its busy handler (a race the controlled mode must
find).

Like a long-running application, the store keeps one connection per store open between
requests: closing the last connection checkpoints the WAL, which syncs it, and would hide
NORMAL's loss. A request on a store whose database file was replaced or removed reopens it.
"""
import json, os, sqlite3, sys, time

MODE = sys.argv[1]
PRAGMA_ONCE = sys.argv[2:] == ["pragma-once"]
JOURNAL, SYNCHRONOUS = {
    "wal-full": ("WAL", "FULL"),
    "wal-normal": ("WAL", "NORMAL"),
    "delete-full": ("DELETE", "FULL"),
    "delete-extra": ("DELETE", "EXTRA"),
    "off": ("DELETE", "OFF"),
}[MODE]

# store directory -> (connection, (st_dev, st_ino) of its database file); at most one
OPEN = {}


class Coded(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def identity(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def close(store):
    conn = OPEN.pop(store, (None, None))[0]
    if conn is not None:
        conn.close()


def connect(store):
    db = os.path.join(store, "store.db")
    cached = OPEN.get(store)
    if cached is not None and cached[1] == identity(db):
        return cached[0]
    # One open store at a time: the verifier reads thousands of crash states, one each.
    for other in list(OPEN):
        close(other)
    if not os.path.isdir(store):
        os.makedirs(store, mode=0o700, exist_ok=True)
        fsync_dir(os.path.dirname(store))  # the store's own name, durably
    # Python's default busy timeout: a lock held longer than this fails the request with
    # BUSY, which is how a scheduler that starves the lock's holder would show.
    conn = sqlite3.connect(db, isolation_level=None, timeout=5)
    try:
        set_journal_mode(conn)
        conn.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
        conn.execute("CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        # The first commit created the file: its name must outlive a power loss too.
        fsync_dir(store)
    except BaseException:
        conn.close()
        raise
    OPEN[store] = (conn, identity(db))
    return conn


def set_journal_mode(conn):
    """SQLite answers a journal-mode change that races another connection's with "database is
    locked" at once, without its busy handler (two processes opening a fresh store both
    make it): retry it within the busy timeout."""
    deadline = time.monotonic() + 5
    delay = 0.001
    while True:
        try:
            conn.execute(f"PRAGMA journal_mode={JOURNAL}")
            return
        except sqlite3.OperationalError as e:
            if PRAGMA_ONCE or "locked" not in str(e) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def clear(store, remove_dir):
    close(store)
    if not os.path.isdir(store):
        return
    names = os.listdir(store)
    if not all(n.startswith("store.db") for n in names):
        raise Coded("INVALID_ARGUMENT", f"{store} does not look like a store; refusing to delete it")
    for n in names:
        os.unlink(os.path.join(store, n))
    if remove_dir:
        os.rmdir(store)
        fsync_dir(os.path.dirname(store))
    else:
        fsync_dir(store)


def handle(req):
    op, store = req["op"], req["store"]
    if op == "destroy":
        clear(store, remove_dir=True)
        return {}
    if op == "reset":
        clear(store, remove_dir=False)
        return {}
    conn = connect(store)
    if op == "open":
        conn.execute("SELECT count(*) FROM secrets").fetchone()
        return {}
    if op == "put":
        conn.execute(
            "INSERT INTO secrets (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (req["name"], req["value"]),
        )
        return {}
    if op == "delete":
        conn.execute("DELETE FROM secrets WHERE name = ?", (req["name"],))
        return {}
    if op == "get":
        row = conn.execute("SELECT value FROM secrets WHERE name = ?", (req["name"],)).fetchone()
        return {"value": None if row is None else row[0]}
    raise Coded("UNSUPPORTED_OP", f"no op {op!r}")


def code(e):
    if isinstance(e, Coded):
        return e.code
    if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
        return "BUSY"
    if isinstance(e, sqlite3.DatabaseError):
        # "database disk image is malformed", "file is not a database"
        return "INTEGRITY_MISMATCH"
    if isinstance(e, PermissionError):
        return "PERMISSION_DENIED"
    return "IO"


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


send({"protocol": "keyrace-adapter/1", "name": f"sqlite test store ({MODE})", "keyless": True,
      "ops": ["open", "put", "get", "delete", "destroy", "reset"]})
for line in sys.stdin:
    req = json.loads(line)
    try:
        reply = {"ok": True, **handle(req)}
    except Exception as e:  # every failure is answered with its code
        reply = {"ok": False, "code": code(e), "message": str(e)}
    send({"id": req["id"], **reply})
