//! Recognises a SQLite WAL index (`<database>-shm`): the one shared writable mapping of a
//! store file the tracer allows. It is coordination memory, not data: SQLite guards it with
//! `fcntl` locks on the same file (which the tracer sees and orders), and rebuilds it from the
//! `-wal` file after a crash, so no acknowledged byte lives only in it. Crash states leave it
//! out, as a reboot does (SQLite then treats the WAL index as absent and recovers).

use std::io::Read;
use std::path::Path;

/// The WAL index's first field, `iVersion` (SQLite's `WALINDEX_MAX_VERSION`), native-endian.
const WAL_INDEX_VERSION: u32 = 3_007_000;

/// The first 16 bytes of every SQLite database file.
const DATABASE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// The suffix SQLite gives a database's WAL index.
const SUFFIX: &str = "-shm";

/// Whether `path` names a SQLite WAL index: its name ends in `-shm`, the database beside it
/// is a SQLite database (or still empty, as a new one is before its first commit), and the
/// index itself, where written, starts with SQLite's WAL-index version.
pub fn is_wal_index(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let Some(database) = name.strip_suffix(SUFFIX).filter(|d| !d.is_empty()) else {
        return false;
    };
    database_header_fits(&path.with_file_name(database)) && index_header_fits(path)
}

fn database_header_fits(database: &Path) -> bool {
    match first_bytes::<16>(database) {
        Some((head, 16)) => &head == DATABASE_MAGIC,
        Some((_, 0)) => true,
        _ => false,
    }
}

/// An index not yet written (absent, shorter than its first field, or zero there) fits: SQLite
/// sizes the file before it maps it.
fn index_header_fits(index: &Path) -> bool {
    match first_bytes::<4>(index) {
        None => true,
        Some((_, n)) if n < 4 => true,
        Some((head, _)) => {
            let version = u32::from_ne_bytes(head);
            version == 0 || version == WAL_INDEX_VERSION
        }
    }
}

/// Up to `N` bytes from the start of `path` and how many there were; `None` if it cannot be
/// read as a regular file (never following a symlink).
fn first_bytes<const N: usize>(path: &Path) -> Option<([u8; N], usize)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut file = std::fs::File::open(path).ok()?;
    let mut head = [0u8; N];
    let mut filled = 0;
    while filled < N {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some((head, filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, data: &[u8]) {
        std::fs::write(dir.join(name), data).expect("write a test file");
    }

    #[test]
    fn a_sqlite_wal_index_is_recognised_by_name_and_headers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = DATABASE_MAGIC.to_vec();
        db.resize(4096, 0);
        write(dir.path(), "store.db", &db);
        // Not yet written: SQLite extends the file with zero bytes before mapping it.
        write(dir.path(), "store.db-shm", &[0; 32768]);
        assert!(is_wal_index(&dir.path().join("store.db-shm")));
        let mut index = WAL_INDEX_VERSION.to_ne_bytes().to_vec();
        index.resize(32768, 7);
        write(dir.path(), "store.db-shm", &index);
        assert!(is_wal_index(&dir.path().join("store.db-shm")));
        // A new database, before its first commit.
        write(dir.path(), "new.db", &[]);
        assert!(is_wal_index(&dir.path().join("new.db-shm")));
    }

    #[test]
    fn other_shared_files_are_not_a_wal_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = DATABASE_MAGIC.to_vec();
        db.resize(4096, 0);
        write(dir.path(), "store.db", &db);
        // Wrong name.
        write(dir.path(), "store.db-map", &[0; 64]);
        assert!(!is_wal_index(&dir.path().join("store.db-map")));
        // No database beside it.
        write(dir.path(), "other-shm", &[0; 64]);
        assert!(!is_wal_index(&dir.path().join("other-shm")));
        // The database beside it is not SQLite's.
        write(dir.path(), "data.bin", b"not a database, just secrets");
        write(dir.path(), "data.bin-shm", &[0; 64]);
        assert!(!is_wal_index(&dir.path().join("data.bin-shm")));
        // Named like one, but holding something else.
        write(
            dir.path(),
            "store.db-shm",
            b"secret values kept in shared memory",
        );
        assert!(!is_wal_index(&dir.path().join("store.db-shm")));
        // A bare suffix.
        assert!(!is_wal_index(&dir.path().join("-shm")));
    }
}
