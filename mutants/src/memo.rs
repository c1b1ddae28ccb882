//! A store that keeps, per process, what it last wrote under each name and answers a read of
//! that name from memory: right while one process owns the store, and stale as soon as another
//! process puts. The catalogue's races never read back from a writer, so only the `history`
//! scenario's random mix (a get by an actor that wrote the name before another actor did) sees
//! it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use zeroize::Zeroizing;

/// A name's last write by this process: its value, or `None` for a delete.
type Remembered = Option<Zeroizing<Vec<u8>>>;

static WRITTEN: Mutex<Option<HashMap<(PathBuf, String), Remembered>>> = Mutex::new(None);

/// Remembers that this process wrote `value` (`None`: deleted) under `name` in `dir`.
pub fn remember(dir: &Path, name: &str, value: Option<&[u8]>) {
    let mut written = WRITTEN.lock().unwrap_or_else(PoisonError::into_inner);
    written.get_or_insert_with(HashMap::new).insert(
        (dir.to_owned(), name.to_owned()),
        value.map(|v| Zeroizing::new(v.to_vec())),
    );
}

/// What this process last wrote under `name` in `dir`, if it wrote it: the mutant's answer to a
/// get, without reading the store.
pub fn recall(dir: &Path, name: &str) -> Option<Remembered> {
    let written = WRITTEN.lock().unwrap_or_else(PoisonError::into_inner);
    written
        .as_ref()?
        .get(&(dir.to_owned(), name.to_owned()))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_recalled_per_directory_and_name() {
        let dir = Path::new("/memo-test");
        assert!(recall(dir, "a").is_none());
        remember(dir, "a", Some(b"v1"));
        assert_eq!(
            recall(dir, "a").flatten().as_deref().map(Vec::as_slice),
            Some(&b"v1"[..])
        );
        remember(dir, "a", None);
        assert_eq!(recall(dir, "a"), Some(None));
        assert!(recall(Path::new("/other"), "a").is_none());
    }
}
