//! What a released store call reads and writes, so the explorer can tell which calls of
//! different actors commute. Two calls are dependent when they touch one object and at least
//! one of them writes it; every other pair gives the same result in either order.
//!
//! The objects are those a store's correctness hangs on:
//! - a directory entry ([`Object::Name`]): created, removed or renamed by one call, looked up
//!   by another (every path lookup reads the entry of each directory on the way, too);
//! - a directory's existence ([`Object::Directory`]): made by `mkdir`, removed by `rmdir`,
//!   read by a lookup of the directory itself and by a creation of an entry in it. `mkdir`
//!   and `rmdir` leave the entry itself unwritten: a lookup beneath the directory fails
//!   alike before and after either (the directory is missing, or empty), so it commutes
//!   with them (a store's `mkdir -p` of its directory races no `stat` of its key file);
//! - a directory's listing ([`Object::Listing`]): read by `getdents`, written by any change
//!   to one of its entries (two such changes commute: they change different entries, or
//!   the entry itself orders them);
//! - a file's content ([`Object::Content`], by inode): written by `write` and truncation, read
//!   by a check (`stat` shows the size) and by any read through a descriptor;
//! - a file's lock ([`Object::Lock`], by inode).
//!
//! Reads through a descriptor are not stopped by the tracer, so a transition also reads the
//! content of every file its actor holds open for reading; a lock can be released by an
//! untraced `close`, so every transition of an actor writes the locks it took. Inode metadata
//! that no store decision hangs on (link counts, times) is left out.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::libc;

use super::call::{Call, FdTarget, Kind};

/// A file by device, inode number and birth time: its identity whatever names it has. The
/// birth time tells a file from a later one given the number it freed (ext4 reuses them
/// within a round, or not, as other processes on the filesystem take them): by number alone
/// the two would be one object, and the calls on them dependent by chance.
pub type Inode = (u64, u64, Option<std::time::SystemTime>);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Object {
    Name(PathBuf),
    Directory(PathBuf),
    Listing(PathBuf),
    Content(Inode),
    Lock(Inode),
}

impl Object {
    /// Whether two accesses conflict: one writes, and they are not two changes of a listing.
    pub fn conflict(&self, first_writes: bool, second_writes: bool) -> bool {
        match self {
            Object::Listing(_) => first_writes != second_writes,
            _ => first_writes || second_writes,
        }
    }
}

/// The objects a transition reads and writes. `global`: it touches something the tracer
/// cannot see (shared memory, a call it cannot resolve), so it is dependent on every other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    pub reads: Vec<Object>,
    pub writes: Vec<Object>,
    pub global: bool,
}

impl Footprint {
    /// Dependent on every other transition.
    pub fn global() -> Footprint {
        Footprint {
            global: true,
            ..Footprint::default()
        }
    }

    /// Whether the two transitions may not commute: one writes what the other touches.
    pub fn dependent(&self, other: &Footprint) -> bool {
        self.global
            || other.global
            || self.objects().any(|(object, writes)| {
                other
                    .objects()
                    .any(|(theirs, wrote)| theirs == object && object.conflict(writes, wrote))
            })
    }

    /// Whether it may change an entry, a directory or a listing: what names resolve to.
    pub fn changes_names(&self) -> bool {
        self.global
            || self.writes.iter().any(|o| {
                matches!(
                    o,
                    Object::Name(_) | Object::Directory(_) | Object::Listing(_)
                )
            })
    }

    /// Every object it touches, and whether it writes it.
    pub fn objects(&self) -> impl Iterator<Item = (&Object, bool)> {
        self.writes
            .iter()
            .map(|o| (o, true))
            .chain(self.reads.iter().map(|o| (o, false)))
    }

    fn read(&mut self, object: Object) {
        if !self.reads.contains(&object) && !self.writes.contains(&object) {
            self.reads.push(object);
        }
    }

    fn write(&mut self, object: Object) {
        self.reads.retain(|o| *o != object);
        if !self.writes.contains(&object) {
            self.writes.push(object);
        }
    }

    /// A lookup of `path`: the entries of the directories on the way (under `scope`) and of
    /// `path` itself, and whether `path` is a directory.
    fn look_up(&mut self, path: &Path, scope: &Path) {
        for ancestor in path.ancestors().filter(|a| a.starts_with(scope)) {
            self.read(Object::Name(ancestor.to_owned()));
        }
        self.read(Object::Directory(path.to_owned()));
    }

    /// `path` is removed or renamed away: its entry and its directory's listing change.
    fn change_entry(&mut self, path: &Path) {
        self.write(Object::Name(path.to_owned()));
        if let Some(parent) = path.parent() {
            self.write(Object::Listing(parent.to_owned()));
        }
    }

    /// `path` is created (or replaced): as a change of the entry, which also needs its
    /// directory to exist.
    fn create_entry(&mut self, path: &Path) {
        self.change_entry(path);
        if let Some(parent) = path.parent() {
            self.read(Object::Directory(parent.to_owned()));
        }
    }

    /// A directory is made or removed at `path`: only a lookup of `path` itself or a creation
    /// in it can tell (see the module's doc), and the listing it is in changes.
    fn make_or_remove_directory(&mut self, path: &Path) {
        self.write(Object::Directory(path.to_owned()));
        if let Some(parent) = path.parent() {
            self.write(Object::Listing(parent.to_owned()));
        }
    }

    /// What `call` (stopped, not yet run) will touch, as the file system stands now;
    /// `scope` is the store's directory. Reads via descriptors and locks its actor holds are
    /// added by [`Footprint::holding`].
    pub fn of(call: &Call, scope: &Path) -> Footprint {
        // Entries are compared by their names: a name reached through a symlink in the store
        // is another name for the same entry.
        if call.paths.iter().any(|p| through_symlink(p, scope)) {
            return Footprint::global();
        }
        // A path the tracer could not resolve is missing from `paths`.
        let wanted = match call.kind {
            Kind::Rename | Kind::Link => 2,
            Kind::Open
            | Kind::Stat
            | Kind::Truncate
            | Kind::Symlink
            | Kind::Unlink
            | Kind::Mkdir
            | Kind::Rmdir => 1,
            _ => 0,
        };
        if call.paths.len() < wanted {
            return Footprint::global();
        }
        let mut footprint = Footprint::default();
        let first = call.paths.first();
        let fd_inode = || match &call.fd {
            Some((fd, FdTarget::Path(_))) => descriptor_inode(call.tid.as_raw(), *fd),
            _ => None,
        };
        match call.kind {
            Kind::Open => {
                let Some(path) = first else {
                    return Footprint::global();
                };
                footprint.look_up(path, scope);
                if call.open_flags & libc::O_CREAT as u64 != 0 {
                    footprint.create_entry(path);
                }
                if let Some(inode) = path_inode(path) {
                    footprint.read(Object::Content(inode));
                    if call.open_flags & libc::O_TRUNC as u64 != 0 {
                        footprint.write(Object::Content(inode));
                    }
                }
            }
            Kind::Stat | Kind::Truncate => {
                let Some(path) = first else {
                    return Footprint::global();
                };
                footprint.look_up(path, scope);
                if let Some(inode) = path_inode(path) {
                    if call.kind == Kind::Truncate {
                        footprint.write(Object::Content(inode));
                    } else {
                        footprint.read(Object::Content(inode));
                    }
                }
            }
            Kind::Rename
            | Kind::Link
            | Kind::Symlink
            | Kind::Unlink
            | Kind::Mkdir
            | Kind::Rmdir => {
                if call.paths.is_empty() {
                    return Footprint::global();
                }
                for path in &call.paths {
                    footprint.look_up(path, scope);
                }
                match (call.kind, call.paths.as_slice()) {
                    // The target of a link is created; a rename removes its source and
                    // creates (or replaces) its target.
                    (Kind::Link | Kind::Rename, [from, to]) => {
                        if call.kind == Kind::Rename {
                            footprint.change_entry(from);
                        }
                        footprint.create_entry(to);
                    }
                    (Kind::Symlink, [.., to]) => footprint.create_entry(to),
                    (Kind::Mkdir, [path, ..]) => {
                        footprint.make_or_remove_directory(path);
                        if let Some(parent) = path.parent() {
                            footprint.read(Object::Directory(parent.to_owned()));
                        }
                    }
                    (Kind::Rmdir, [path, ..]) => {
                        footprint.make_or_remove_directory(path);
                        // Removing a directory fails while it has entries.
                        footprint.read(Object::Listing(path.clone()));
                    }
                    (_, paths) => {
                        for path in paths {
                            footprint.change_entry(path);
                        }
                    }
                }
            }
            Kind::Write | Kind::Ftruncate | Kind::Fallocate => match fd_inode() {
                Some(inode) => footprint.write(Object::Content(inode)),
                None => return Footprint::global(),
            },
            Kind::Flock | Kind::FcntlLock => match fd_inode() {
                Some(inode) => footprint.write(Object::Lock(inode)),
                None => return Footprint::global(),
            },
            Kind::List => match &call.fd {
                Some((_, FdTarget::Path(dir))) => footprint.read(Object::Listing(dir.clone())),
                _ => return Footprint::global(),
            },
            // Not held by the tracer; should one be released, it orders against everything.
            Kind::Close | Kind::Fsync | Kind::SyncAll | Kind::Mmap | Kind::Splice | Kind::Other => {
                return Footprint::global()
            }
        }
        footprint
    }

    /// Add what the actor may do between this call and its next stop: read any file it holds
    /// open for reading, and release (by closing) any lock it took.
    pub fn holding(mut self, open: &[Inode], locked: &[Inode]) -> Footprint {
        for &inode in open {
            self.read(Object::Content(inode));
        }
        for &inode in locked {
            self.write(Object::Lock(inode));
        }
        self
    }
}

/// Whether `path`, or a directory on its way under `scope`, is a symlink now.
fn through_symlink(path: &Path, scope: &Path) -> bool {
    path.ancestors()
        .take_while(|a| a.starts_with(scope) && *a != scope)
        .any(|a| std::fs::symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink()))
}

/// The file `path` names now (following symlinks, as open and stat do), if any.
pub(crate) fn path_inode(path: &Path) -> Option<Inode> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino(), m.created().ok()))
}

/// The file descriptor `fd` of thread `tid` refers to.
pub(crate) fn descriptor_inode(tid: i32, fd: i32) -> Option<Inode> {
    path_inode(Path::new(&format!("/proc/{tid}/fd/{fd}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(p: &str) -> Object {
        Object::Name(PathBuf::from(p))
    }

    fn footprint(reads: &[Object], writes: &[Object]) -> Footprint {
        Footprint {
            reads: reads.to_vec(),
            writes: writes.to_vec(),
            global: false,
        }
    }

    #[test]
    fn two_reads_commute_and_a_write_orders_against_a_read() {
        let read = footprint(&[name("/s/k")], &[]);
        let write = footprint(&[], &[name("/s/k")]);
        let other = footprint(&[], &[name("/s/j")]);
        assert!(!read.dependent(&read.clone()));
        assert!(read.dependent(&write) && write.dependent(&read));
        assert!(write.dependent(&write.clone()));
        assert!(!write.dependent(&other));
        assert!(Footprint::global().dependent(&other));
        assert!(other.dependent(&Footprint::global()));
    }

    fn call(kind: Kind, paths: &[&str], open_flags: u64) -> Call {
        Call {
            tid: nix::unistd::Pid::this(),
            nr: 0,
            kind,
            args: [0; 6],
            paths: paths.iter().map(PathBuf::from).collect(),
            fd: None,
            open_flags,
            lock: None,
        }
    }

    #[test]
    fn a_rename_orders_against_a_lookup_of_either_end_or_below_and_a_listing() {
        let scope = Path::new("/s");
        let rename = Footprint::of(&call(Kind::Rename, &["/s/d/.tmp", "/s/d/key"], 0), scope);
        let open = |p| Footprint::of(&call(Kind::Open, &[p], 0), scope);
        assert!(rename.dependent(&open("/s/d/key")));
        assert!(rename.dependent(&open("/s/d/.tmp")));
        assert!(!rename.dependent(&open("/s/d/other")));
        let listing = footprint(&[Object::Listing(PathBuf::from("/s/d"))], &[]);
        assert!(rename.dependent(&listing));
        // Two changes of one directory's entries commute unless the entries are the same.
        let other_rename = Footprint::of(&call(Kind::Rename, &["/s/d/.t2", "/s/d/k2"], 0), scope);
        assert!(!rename.dependent(&other_rename));
        // Renaming a directory changes every lookup beneath it.
        let move_dir = Footprint::of(&call(Kind::Rename, &["/s/d", "/s/e"], 0), scope);
        assert!(move_dir.dependent(&open("/s/d/key")));
        assert!(!move_dir.dependent(&open("/s/f/key")));
    }

    /// A lookup beneath a directory fails alike before and after `mkdir` or `rmdir` (the
    /// directory is missing, or empty): it commutes with them. A check of the directory, a
    /// creation in it, another `mkdir` of it and a rename of it do not.
    #[test]
    fn making_a_directory_commutes_with_a_lookup_beneath_it_only() {
        let scope = Path::new("/s");
        let of = |kind, paths: &[&str], flags| Footprint::of(&call(kind, paths, flags), scope);
        let creat = libc::O_CREAT as u64;
        for made in [of(Kind::Mkdir, &["/s/d"], 0), of(Kind::Rmdir, &["/s/d"], 0)] {
            assert!(!made.dependent(&of(Kind::Stat, &["/s/d/key"], 0)));
            assert!(!made.dependent(&of(Kind::Open, &["/s/d/e/key"], creat)));
            assert!(made.dependent(&of(Kind::Stat, &["/s/d"], 0)));
            assert!(made.dependent(&of(Kind::Open, &["/s/d/key"], creat)));
            assert!(made.dependent(&of(Kind::Mkdir, &["/s/d"], 0)));
            assert!(made.dependent(&of(Kind::Mkdir, &["/s/d/e"], 0)));
            assert!(made.dependent(&of(Kind::Rename, &["/s/d/.t", "/s/d/key"], 0)));
            assert!(made.dependent(&of(Kind::Rename, &["/s/e", "/s/d"], 0)));
            assert!(made.dependent(&of(Kind::Unlink, &["/s/d"], 0)));
        }
        // Making a directory needs its parent; removing one beneath a missing parent fails
        // as it does beneath a fresh one.
        assert!(of(Kind::Mkdir, &["/s/d"], 0).dependent(&of(Kind::Mkdir, &["/s"], 0)));
        assert!(!of(Kind::Rmdir, &["/s/d"], 0).dependent(&of(Kind::Mkdir, &["/s"], 0)));
        // Renaming a directory moves what is beneath it; removing one waits for its entries.
        let moved = of(Kind::Rename, &["/s/e", "/s/d"], 0);
        assert!(moved.dependent(&of(Kind::Stat, &["/s/d/key"], 0)));
        let removed = of(Kind::Rmdir, &["/s/d"], 0);
        assert!(removed.dependent(&of(Kind::Unlink, &["/s/d/key"], 0)));
    }

    #[test]
    fn creating_a_file_orders_against_its_check_but_not_against_a_sibling() {
        let scope = Path::new("/s");
        let create = Footprint::of(
            &call(
                Kind::Open,
                &["/s/key"],
                (libc::O_CREAT | libc::O_EXCL) as u64,
            ),
            scope,
        );
        let stat = Footprint::of(&call(Kind::Stat, &["/s/key"], 0), scope);
        let sibling = Footprint::of(
            &call(Kind::Open, &["/s/.tmp-2"], libc::O_CREAT as u64),
            scope,
        );
        assert!(create.dependent(&stat));
        assert!(!create.dependent(&sibling));
        // Two creations in one directory both change its listing, and commute: a reader of the
        // listing is ordered against each.
        assert!(create
            .writes
            .contains(&Object::Listing(PathBuf::from("/s"))));
    }

    /// What may alter another held call's footprint: a change of an entry, a directory or a
    /// listing, or anything unknown; a write of content or a lock does not.
    #[test]
    fn only_a_change_of_names_alters_what_names_resolve_to() {
        let creates = Footprint::of(
            &call(Kind::Open, &["/s/k"], libc::O_CREAT as u64),
            Path::new("/s"),
        );
        let makes = Footprint::of(&call(Kind::Mkdir, &["/s/d"], 0), Path::new("/s"));
        let reads = Footprint::of(&call(Kind::Stat, &["/s/k"], 0), Path::new("/s"));
        let writes = footprint(
            &[],
            &[Object::Content((1, 2, None)), Object::Lock((1, 2, None))],
        );
        assert!(creates.changes_names() && makes.changes_names());
        assert!(Footprint::global().changes_names());
        assert!(!reads.changes_names() && !writes.changes_names());
    }

    #[test]
    fn content_is_by_inode_whatever_the_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("key");
        std::fs::write(&file, b"v").expect("write");
        let scope = dir.path();
        let stat = Footprint::of(
            &call(Kind::Stat, &[file.to_str().expect("utf-8")], 0),
            scope,
        );
        let inode = path_inode(&file).expect("inode");
        assert!(stat.reads.contains(&Object::Content(inode)));
        // A reader holding the file open reads its content in every transition: a write
        // through any name orders against it.
        let reader = Footprint::default().holding(&[inode], &[]);
        let writer = footprint(&[], &[Object::Content(inode)]);
        assert!(reader.dependent(&writer));
        // Locks are released by an untraced close: every transition of the owner writes it.
        let owner = Footprint::default().holding(&[], &[inode]);
        let taker = footprint(&[], &[Object::Lock(inode)]);
        assert!(owner.dependent(&taker));
    }

    /// ext4 gives a new file the number a removed one freed, at once: the two are different
    /// objects all the same (where numbers are not reused, they differ anyway). Created a
    /// clock tick apart: a kernel before 6.13 stamps a birth to the tick only (4 ms at
    /// HZ=250), and within one tick the two are one object still (docs/performance.md).
    #[test]
    fn a_file_given_a_freed_inode_number_is_another_object() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (first, second) = (dir.path().join("a"), dir.path().join("b"));
        for _ in 0..20 {
            std::fs::write(&first, b"a").expect("write");
            let removed = path_inode(&first).expect("inode");
            std::fs::remove_file(&first).expect("remove");
            std::thread::sleep(std::time::Duration::from_millis(11));
            std::fs::write(&second, b"b").expect("write");
            let created = path_inode(&second).expect("inode");
            std::fs::remove_file(&second).expect("remove");
            assert_ne!(
                Object::Content(removed),
                Object::Content(created),
                "one object"
            );
        }
    }

    #[test]
    fn a_call_it_cannot_resolve_is_dependent_on_everything() {
        let scope = Path::new("/s");
        assert!(Footprint::of(&call(Kind::Open, &[], 0), scope).global);
        assert!(Footprint::of(&call(Kind::Write, &[], 0), scope).global);
        // A rename whose target it could not read.
        assert!(Footprint::of(&call(Kind::Rename, &["/s/a"], 0), scope).global);
    }

    /// `current -> v2`: a lookup of current/key and a creation of v2/key are one entry.
    #[test]
    fn a_path_through_a_symlink_is_dependent_on_everything() {
        let dir = tempfile::tempdir().expect("temp dir");
        let scope = dir.path();
        std::fs::create_dir(scope.join("v2")).expect("mkdir");
        std::os::unix::fs::symlink("v2", scope.join("current")).expect("symlink");
        let through = scope.join("current/key");
        let stat = Footprint::of(
            &call(Kind::Stat, &[through.to_str().expect("utf-8")], 0),
            scope,
        );
        assert!(stat.global);
        let direct = scope.join("v2/key");
        let create = Footprint::of(
            &call(
                Kind::Open,
                &[direct.to_str().expect("utf-8")],
                libc::O_CREAT as u64,
            ),
            scope,
        );
        assert!(!create.global);
        assert!(stat.dependent(&create));
    }
}
