//! Under the tracer, `fsync` and `fdatasync` of a store file or directory return success
//! without reaching the disk (the crash states are computed from the calls, never read back
//! from the disk), while every other sync keeps the kernel's own answer.

use std::path::Path;
use std::time::Duration;

use keyrace_process::actor::ActorSpec;
use keyrace_process::finding::Findings;
use keyrace_protocol::Op;
use keyrace_systematic::trace::Tracer;

/// A keyless adapter whose `open` syncs a key file, an unlinked file, their directory, an
/// `O_PATH` descriptor of the key file and a FIFO, and replies `ok` only if each sync answered
/// as the kernel would.
const PROBE: &str = r#"
import errno, json, os, sys

def sync(call, fd):
    try:
        call(fd)
        return 0
    except OSError as e:
        return e.errno

print(json.dumps({"protocol": "keyrace-adapter/1", "name": "sync probe", "keyless": True,
                  "ops": ["open"]}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    store = request["store"]
    os.makedirs(store, exist_ok=True)
    key = os.path.join(store, "key")
    fifo = os.path.join(store, "fifo")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    data = os.open(key, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    os.write(data, b"k")
    gone = os.open(os.path.join(store, "gone"), os.O_CREAT | os.O_WRONLY, 0o600)
    os.unlink(os.path.join(store, "gone"))
    directory = os.open(store, os.O_RDONLY | os.O_DIRECTORY)
    path_only = os.open(key, os.O_PATH)
    pipe = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    got = {
        "fsync key": sync(os.fsync, data),
        "fdatasync key": sync(os.fdatasync, data),
        "fsync directory": sync(os.fsync, directory),
        "fsync unlinked": sync(os.fsync, gone),
        "fsync O_PATH": sync(os.fsync, path_only),
        "fsync FIFO": sync(os.fsync, pipe),
    }
    for fd in (data, gone, directory, path_only, pipe):
        os.close(fd)
    wanted = {"fsync key": 0, "fdatasync key": 0, "fsync directory": 0, "fsync unlinked": 0,
              "fsync O_PATH": errno.EBADF, "fsync FIFO": errno.EINVAL}
    if got == wanted:
        reply = {"id": request["id"], "ok": True}
    else:
        reply = {"id": request["id"], "ok": False, "code": "IO",
                 "message": "errno by sync: %s, wanted %s" % (got, wanted)}
    print(json.dumps(reply), flush=True)
"#;

fn python3() -> String {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3".to_owned()
    } else {
        "python3".to_owned()
    }
}

#[test]
fn store_flushes_succeed_unflushed_and_other_syncs_keep_their_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tracer = Tracer::new(dir.path()).expect("ptrace and seccomp work here");
    let spec = ActorSpec {
        argv: vec![python3().into(), "-c".into(), PROBE.into()],
        home: dir.path().to_owned(),
        master_key: None,
        run_as: None,
        timeout: Duration::from_secs(30),
        label: "sync probe".to_owned(),
        findings: Findings::default(),
    };
    let slot = tracer
        .spawn(&spec)
        .expect("the probe starts under the tracer");
    let store = dir.path().join("store");
    for round in 1..=2u64 {
        let reply = tracer
            .call(
                slot,
                &Op::Open {
                    store: store.clone(),
                },
            )
            .expect("a reply");
        assert!(reply.outcome.is_ok(), "round {round}: {:?}", reply.outcome);
        // The key file's, its data's, the directory's and the unlinked file's (what the
        // descriptor refers to is still a file); not the O_PATH one nor the FIFO's.
        assert_eq!(tracer.flushes_skipped, 4 * round);
    }
    assert_eq!(
        std::fs::read(store.join("key")).expect("the key file"),
        b"k",
        "what was written stays, flushed or not"
    );
}
