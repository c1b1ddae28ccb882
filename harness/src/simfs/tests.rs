//! SimFs semantics, checked directly (std primitives, one thread).

use std::io::{ErrorKind, Read, Write};
use std::path::Path;

use keyrace_core::fs::read_file;
use keyrace_core::{FileKind, Fs, FsFile};

use super::{CallKind, CrashMode, Fault, FaultError, Semantics, SimFs};

fn p(path: &str) -> &Path {
    Path::new(path)
}

fn fs_with_dir(semantics: Semantics) -> SimFs {
    let fs = SimFs::new(semantics);
    fs.mkdir_durable(p("/d")).expect("mkdir");
    fs
}

#[test]
fn exclusive_create_and_link_never_replace() {
    let fs = fs_with_dir(Semantics::Posix);
    fs.write_durable(p("/d/a"), b"a").expect("write");
    assert_eq!(
        fs.create_new(p("/d/a"), 0o600).err().map(|e| e.kind()),
        Some(ErrorKind::AlreadyExists)
    );
    fs.write_durable(p("/d/b"), b"b").expect("write");
    let linked = fs.link_noreplace(p("/d/b"), p("/d/a"));
    assert_eq!(
        linked.err().map(|e| e.kind()),
        Some(ErrorKind::AlreadyExists)
    );
    assert_eq!(read_file(&fs, p("/d/a")).expect("read"), b"a");
    fs.rename(p("/d/b"), p("/d/a")).expect("rename replaces");
    assert_eq!(read_file(&fs, p("/d/a")).expect("read"), b"b");
    assert!(!fs.exists(p("/d/b")));
}

#[test]
fn a_crash_keeps_only_synced_content_and_synced_names() {
    let fs = fs_with_dir(Semantics::Posix);
    fs.write_durable(p("/d/kept"), b"kept").expect("write");
    // Synced name, unsynced content.
    let mut g = fs.create_new(p("/d/empty"), 0o600).expect("create");
    fs.sync_dir(p("/d")).expect("sync dir");
    g.write_all(b"lost").expect("write");
    // Synced content, unsynced name.
    let mut f = fs.create_new(p("/d/unnamed"), 0o600).expect("create");
    f.write_all(b"data").expect("write");
    f.sync_all().expect("sync");
    drop(f);
    // An unsynced removal.
    fs.remove_file(p("/d/kept")).expect("remove");
    fs.crash(CrashMode::DurableOnly);
    // The process that wrote died in the crash; a restarted one sees the durable state.
    assert!(fs.create_dir(p("/d/x"), 0o700).is_err());
    let fs = fs.actor("restarted");
    assert!(!fs.exists(p("/d/unnamed")));
    assert_eq!(read_file(&fs, p("/d/empty")).expect("read"), b"");
    assert_eq!(read_file(&fs, p("/d/kept")).expect("read"), b"kept");
    // The handle died with the crash.
    assert!(g.write_all(b"more").is_err());
    assert_eq!(fs.open_handles(), 0);
}

#[test]
fn zero_pending_mode_empties_files_with_unsynced_changes() {
    let fs = fs_with_dir(Semantics::Posix);
    fs.write_durable(p("/d/f"), b"old").expect("write");
    let mut f = fs.open_truncate(p("/d/f"), 0o600).expect("open");
    f.write_all(b"new").expect("write");
    drop(f);
    fs.crash(CrashMode::ZeroPending);
    let fs = fs.actor("restarted");
    assert_eq!(read_file(&fs, p("/d/f")).expect("read"), b"");

    let fs = fs_with_dir(Semantics::Posix);
    fs.write_durable(p("/d/f"), b"old").expect("write");
    let mut f = fs.open_truncate(p("/d/f"), 0o600).expect("open");
    f.write_all(b"new").expect("write");
    drop(f);
    fs.crash(CrashMode::DurableOnly);
    let fs = fs.actor("restarted");
    assert_eq!(read_file(&fs, p("/d/f")).expect("read"), b"old");
}

#[test]
fn a_new_directory_needs_its_parent_synced() {
    let fs = fs_with_dir(Semantics::Posix);
    fs.create_dir(p("/d/new"), 0o700).expect("mkdir");
    fs.write_durable(p("/d/new/f"), b"x").expect("write");
    fs.crash(CrashMode::DurableOnly);
    assert!(!fs.exists(p("/d/new")));
}

#[test]
fn create_dir_all_makes_every_new_directory_durable() {
    let fs = fs_with_dir(Semantics::Posix);
    keyrace_core::fs::create_dir_all(&fs, p("/d/a/b/c"), 0o700).expect("mkdir -p");
    fs.crash(CrashMode::DurableOnly);
    let fs = fs.actor("restarted");
    assert!(fs.exists(p("/d/a/b/c")), "{}", fs.trace());
}

#[test]
fn create_dir_all_makes_a_racers_fresh_ancestor_durable_too() {
    let fs = fs_with_dir(Semantics::Posix);
    // A racer created /d/a and has not fsynced /d yet when this process creates below it.
    fs.actor("racer")
        .create_dir(p("/d/a"), 0o700)
        .expect("mkdir");
    keyrace_core::fs::create_dir_all(&fs, p("/d/a/b"), 0o700).expect("mkdir -p");
    fs.crash(CrashMode::DurableOnly);
    let fs = fs.actor("restarted");
    assert!(fs.exists(p("/d/a/b")), "{}", fs.trace());
}

#[test]
fn windows_refuses_to_remove_or_replace_an_open_file() {
    for (semantics, busy) in [(Semantics::Windows, true), (Semantics::Posix, false)] {
        let fs = fs_with_dir(semantics);
        fs.write_durable(p("/d/f"), b"x").expect("write");
        fs.write_durable(p("/d/g"), b"y").expect("write");
        let mut open = fs.open_read(p("/d/f")).expect("open");
        let removed = fs.remove_file(p("/d/f"));
        let replaced = fs.rename(p("/d/g"), p("/d/f"));
        if busy {
            assert_eq!(
                removed.err().map(|e| e.kind()),
                Some(ErrorKind::ResourceBusy)
            );
            assert_eq!(
                replaced.err().map(|e| e.kind()),
                Some(ErrorKind::ResourceBusy)
            );
            drop(open);
            fs.remove_file(p("/d/f")).expect("closed: removable");
        } else {
            removed.expect("POSIX unlinks open files");
            // The open handle still reads the unlinked inode.
            let mut bytes = Vec::new();
            open.read_to_end(&mut bytes).expect("read");
            assert_eq!(bytes, b"x");
        }
    }
}

#[test]
fn the_kth_matching_operation_fails_with_the_chosen_error() {
    let fs = fs_with_dir(Semantics::Posix);
    fs.write_durable(p("/d/f"), b"x").expect("write");
    fs.inject(Fault::nth(
        CallKind::OpenRead,
        "/d/f",
        2,
        FaultError::PermissionDenied,
    ));
    assert!(read_file(&fs, p("/d/f")).is_ok());
    let second = read_file(&fs, p("/d/f")).expect_err("second open fails");
    assert_eq!(second.kind(), ErrorKind::PermissionDenied);
    assert!(read_file(&fs, p("/d/f")).is_ok());
    fs.inject(Fault::always(CallKind::RemoveFile, "/d/", FaultError::Busy).for_actor("B"));
    assert!(fs.actor("A").remove_file(p("/d/f")).is_ok());
    let busy = fs.actor("B").remove_file(p("/d/g")).expect_err("injected");
    assert_eq!(busy.kind(), ErrorKind::ResourceBusy);
}

#[test]
fn a_crashed_actor_fails_from_its_kth_operation_on() {
    let fs = fs_with_dir(Semantics::Posix);
    fs.crash_actor_after("A", 1);
    let a = fs.actor("A");
    assert!(a.create_dir(p("/d/x"), 0o700).is_ok());
    assert!(a.create_dir(p("/d/y"), 0o700).is_err());
    assert!(fs.actor("B").create_dir(p("/d/z"), 0o700).is_ok());
}

#[test]
fn lstat_and_open_never_follow_a_final_symlink() {
    let fs = fs_with_dir(Semantics::Posix);
    fs.write_durable(p("/d/target"), b"secret").expect("write");
    fs.symlink(p("/d/target"), p("/d/link")).expect("symlink");
    assert_eq!(
        fs.symlink_metadata(p("/d/link")).expect("lstat").kind,
        FileKind::Symlink
    );
    assert!(fs.open_read(p("/d/link")).is_err());
    assert_eq!(
        fs.create_new(p("/d/link"), 0o600).err().map(|e| e.kind()),
        Some(ErrorKind::AlreadyExists)
    );
    // An intermediate symlink is followed.
    fs.symlink(p("/d"), p("/alias")).expect("symlink");
    assert_eq!(read_file(&fs, p("/alias/target")).expect("read"), b"secret");
}

#[test]
fn open_truncate_follows_a_final_symlink_like_o_creat_o_trunc() {
    let fs = fs_with_dir(Semantics::Posix);
    fs.write_durable(p("/d/target"), b"secret").expect("write");
    fs.symlink(p("/d/target"), p("/d/link")).expect("symlink");
    fs.open_truncate(p("/d/link"), 0o600)
        .expect("open")
        .write_all(b"overwritten")
        .expect("write");
    assert_eq!(
        read_file(&fs, p("/d/target")).expect("read"),
        b"overwritten"
    );
    // A dangling link: the target is created.
    fs.symlink(p("/d/new"), p("/d/dangling")).expect("symlink");
    drop(fs.open_truncate(p("/d/dangling"), 0o600).expect("open"));
    assert_eq!(
        fs.symlink_metadata(p("/d/new")).expect("lstat").kind,
        FileKind::File
    );
    // A loop ends in an error, not a hang.
    fs.symlink(p("/d/loop"), p("/d/loop")).expect("symlink");
    assert!(fs.open_truncate(p("/d/loop"), 0o600).is_err());
    fs.symlink(p("/d/loop2"), p("/d/loop1")).expect("symlink");
    fs.symlink(p("/d/loop1"), p("/d/loop2")).expect("symlink");
    assert!(fs.open_truncate(p("/d/loop1"), 0o600).is_err());
}

#[test]
fn directories_list_sorted_and_remove_only_when_empty() {
    let fs = fs_with_dir(Semantics::Posix);
    fs.write_durable(p("/d/b"), b"").expect("write");
    fs.create_dir(p("/d/a"), 0o700).expect("mkdir");
    let names: Vec<_> = fs
        .read_dir(p("/d"))
        .expect("list")
        .into_iter()
        .map(|e| (e.name, e.kind))
        .collect();
    assert_eq!(
        names,
        vec![("a".into(), FileKind::Dir), ("b".into(), FileKind::File)]
    );
    assert_eq!(
        fs.remove_dir(p("/d")).err().map(|e| e.kind()),
        Some(ErrorKind::DirectoryNotEmpty)
    );
    fs.remove_dir(p("/d/a")).expect("empty dir");
}

#[test]
fn the_trace_names_actor_operation_path_and_result() {
    let fs = fs_with_dir(Semantics::Posix);
    let _ = fs.actor("B").open_read(p("/d/missing"));
    let trace = fs.trace().to_string();
    let line = trace.lines().last().expect("a line");
    assert!(
        line.contains("B") && line.contains("open_read") && line.contains("/d/missing"),
        "{line}"
    );
    assert!(line.contains("NotFound"), "{line}");
}

#[test]
fn short_writes_expose_a_partly_written_file() {
    let fs = fs_with_dir(Semantics::Posix);
    fs.set_write_chunk(3);
    let mut f = fs.create_new(p("/d/f"), 0o600).expect("create");
    assert_eq!(f.write(b"abcdef").expect("write"), 3);
    assert_eq!(read_file(&fs, p("/d/f")).expect("read"), b"abc");
    f.write_all(b"def").expect("write_all loops");
    assert_eq!(read_file(&fs, p("/d/f")).expect("read"), b"abcdef");
}

#[test]
fn a_backoff_sleep_returns_once_no_other_process_runs() {
    let fs = fs_with_dir(Semantics::Posix);
    let a = fs.actor("A");
    let b = fs.actor("B");
    b.exit();
    // B exited and nobody else runs: time passing changes nothing, so the sleep ends.
    a.sleep(std::time::Duration::from_millis(500));
    assert_eq!(fs.op_count("A"), 0);
}

#[test]
fn std_fs_write_rewrites_in_place_and_a_crash_keeps_only_what_was_synced() {
    let fs = fs_with_dir(Semantics::Posix);
    let std = keyrace_core::StdFs::new(&fs);
    std.write("/d/s", b"old").expect("write");
    fs.settle();
    std.write("/d/s", b"new value").expect("rewrite");
    assert_eq!(std.read_to_string("/d/s").expect("read"), "new value");
    fs.crash(CrashMode::DurableOnly);
    let restarted = fs.actor("R");
    let std = keyrace_core::StdFs::new(&restarted);
    assert_eq!(std.read("/d/s").expect("read after crash"), b"old");
    std.write("/d/s", b"newer").expect("rewrite again");
    fs.crash(CrashMode::ZeroPending);
    let restarted = fs.actor("R2");
    let std = keyrace_core::StdFs::new(&restarted);
    assert_eq!(std.read("/d/s").expect("read after crash"), b"");
    let calls: Vec<CallKind> = fs.trace().0.iter().map(|e| e.op).collect();
    assert!(calls.contains(&CallKind::OpenTruncate), "{calls:?}");
}
