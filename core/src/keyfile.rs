//! The persisted key file: race-free creation (seeds 003 and 000).
//!
//! Every process that races [`load_or_create`] on one directory ends with the same complete
//! key. The key is written to a private temp file, fsynced, and published with a no-replace
//! link; a loser gets `AlreadyExists` and reads the winner's file, which was complete before it
//! had its name. Only `NotFound` means "create": any other read error propagates, and a file
//! that is not exactly a key is `KEY_CORRUPTED` and is never overwritten.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fs::{create_dir_all, sync_parent, FileKind, Fs, FsFile, Metadata};
use crate::key::Key;
use crate::layout::{DIR_MODE, KEY_FILE};
use crate::publish::link_noclobber;

/// Largest key file read; a valid one is 65 bytes.
const MAX_KEY_FILE: u64 = 128;

/// The key and whether this call created it.
#[derive(Debug)]
pub struct LoadedKey {
    pub key: Key,
    pub path: PathBuf,
    pub created: bool,
}

/// How [`load_or_create`] failed, for key-source resolution: only "no key file exists and
/// none can be made here" lets resolution go on to another source.
#[derive(Debug)]
pub(crate) enum KeyFileFailure {
    /// No key file was found and none could be published (unwritable or missing directory).
    CannotCreate(Error),
    /// A key file exists but cannot be used, or a key was published but could not be made
    /// durable, or there is no randomness: its key may protect secrets, so stop and report.
    Fatal(Error),
}

impl KeyFileFailure {
    fn into_error(self) -> Error {
        match self {
            KeyFileFailure::CannotCreate(e) | KeyFileFailure::Fatal(e) => e,
        }
    }
}

/// Load the key file in `dir`, creating the directory (0700) and the key (0600) if absent.
pub fn load_or_create<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<LoadedKey> {
    load_or_create_staged(fs, dir).map_err(KeyFileFailure::into_error)
}

pub(crate) fn load_or_create_staged<F: Fs + ?Sized>(
    fs: &F,
    dir: &Path,
) -> std::result::Result<LoadedKey, KeyFileFailure> {
    use KeyFileFailure::{CannotCreate, Fatal};
    let path = dir.join(KEY_FILE);
    match read_key_file(fs, &path) {
        Ok(key) => return durable(fs, dir, path, key, false).map_err(Fatal),
        Err(Error::Fs { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Fatal(e)),
    }
    create_dir_all(fs, dir, DIR_MODE)
        .map_err(Error::fs("create the key file's directory"))
        .map_err(CannotCreate)?;
    let key = Key::generate().map_err(Fatal)?;
    // No directory fsync here: `durable` fsyncs the directory and its parent on every path,
    // and a failure there must not read as "cannot be created" once the key has its name.
    match link_noclobber(fs, &path, key_file_bytes(&key).as_bytes()) {
        Ok(()) => {
            // Read it back as every later load will: a filesystem that ignores modes or owners
            // (FAT, some network mounts) must fail now, before anything is encrypted under a
            // key that the next load would refuse.
            if let Err(e) = read_key_file(fs, &path) {
                // Nothing is encrypted under it yet, and every reader fails the same check:
                // take it back so each run reports this, not "who changed your key file".
                let _ = fs.remove_file(&path);
                return Err(Fatal(created_but_untrusted(e)));
            }
            durable(fs, dir, path, key, true).map_err(Fatal)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Another process published first; its file was complete before it had a name.
            drop(key);
            let winner = read_key_file(fs, &path).map_err(Fatal)?;
            durable(fs, dir, path, winner, false).map_err(Fatal)
        }
        Err(e) => Err(CannotCreate(Error::Fs {
            what: "create the key file",
            source: e,
        })),
    }
}

/// The read-back of a key this process just created failed the trust check: a filesystem
/// problem that chmod cannot fix.
fn created_but_untrusted(error: Error) -> Error {
    match error {
        Error::KeyFileExposed { path, detail } => Error::KeyFileUnprotectable { path, detail },
        other => other,
    }
}

/// A key read from disk may have been published by a process that has not yet fsynced the
/// directory; fsync it ourselves before anything is encrypted under that key. The directory
/// may itself be new (made by us or by a racing creator), and its name lives in its parent:
/// fsync that too, or a crash loses the directory with the key in it (found by the harness's
/// crash-keygen model).
fn durable<F: Fs + ?Sized>(
    fs: &F,
    dir: &Path,
    path: PathBuf,
    key: Key,
    created: bool,
) -> Result<LoadedKey> {
    fs.sync_dir(dir)
        .map_err(Error::fs("fsync the key file's directory"))?;
    sync_parent(fs, dir).map_err(Error::fs("fsync the key file's parent directory"))?;
    Ok(LoadedKey { key, path, created })
}

/// The on-disk form: 64 lower-case hex characters and a newline.
pub fn key_file_bytes(key: &Key) -> Zeroizing<String> {
    // Sized up front: growing the string would free the hex key without zeroizing it.
    let mut text = Zeroizing::new(String::with_capacity(65));
    text.push_str(&key.to_hex());
    text.push('\n');
    text
}

/// Parse key file contents: exactly 64 hex characters, optionally followed by one newline.
pub fn parse_key_file(bytes: &[u8]) -> std::result::Result<Key, String> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.len() != 64 {
        return Err(format!(
            "{} bytes, a key file is 64 hex characters and a newline",
            bytes.len()
        ));
    }
    let mut raw = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(body, raw.as_mut())
        .map_err(|_| "it holds characters that are not hex".to_owned())?;
    Ok(Key::from_bytes(*raw))
}

/// Read and parse the key file at `path`. `NotFound` comes back as `Error::Fs` with that kind.
///
/// The file is trusted only if `lstat` shows a regular file (a symlink could point anywhere, a
/// FIFO would block the open) owned by this process's user and accessible to no one else
/// (`mode & 0o077 == 0`, as ssh demands of private keys). Anything else is refused, never
/// rewritten. The check runs twice: on `lstat` before the open (a FIFO must not be opened),
/// and on `fstat` of the opened handle, so a file swapped in between is checked too.
pub fn read_key_file<F: Fs + ?Sized>(fs: &F, path: &Path) -> Result<Key> {
    let uid = fs.process_uid();
    let meta = fs
        .symlink_metadata(path)
        .map_err(Error::fs("look up the key file"))?;
    trust_key_file(path, &meta, uid)?;
    let mut file = fs.open_read(path).map_err(Error::fs("open the key file"))?;
    let opened = file
        .metadata()
        .map_err(Error::fs("look at the open key file"))?;
    trust_key_file(path, &opened, uid)?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(65));
    file.by_ref()
        .take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(Error::fs("read the key file"))?;
    drop(file);
    parse_key_file(&bytes).map_err(|detail| Error::KeyCorrupted {
        path: path.to_owned(),
        detail,
    })
}

/// Refuse a key file that is not a regular file of `uid`'s that only its owner can access.
fn trust_key_file(path: &Path, meta: &Metadata, uid: Option<u32>) -> Result<()> {
    if meta.kind != FileKind::File {
        return Err(Error::KeyCorrupted {
            path: path.to_owned(),
            detail: format!("it is {}, not a regular file", meta.kind.description()),
        });
    }
    if let (Some(me), Some(owner)) = (uid, meta.uid) {
        if owner != me {
            return Err(Error::KeyFileExposed {
                path: path.to_owned(),
                detail: format!("is owned by uid {owner}, not by this process's uid {me}"),
            });
        }
    }
    if let Some(mode) = meta.mode.filter(|mode| mode & 0o077 != 0) {
        return Err(Error::KeyFileExposed {
            path: path.to_owned(),
            detail: format!(
                "has mode {:04o}: its group or other users can access it",
                mode & 0o7777
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_form_round_trips() {
        let key = Key::generate().expect("OS randomness");
        let text = key_file_bytes(&key);
        assert_eq!(text.len(), 65);
        assert_eq!(parse_key_file(text.as_bytes()), Ok(key.clone()));
        assert_eq!(parse_key_file(&text.as_bytes()[..64]), Ok(key));
    }

    fn meta(kind: FileKind, mode: Option<u32>, uid: Option<u32>) -> Metadata {
        Metadata {
            kind,
            len: 65,
            mode,
            uid,
        }
    }

    #[test]
    fn only_a_private_regular_file_of_this_user_is_trusted() {
        let path = Path::new("/store/key");
        let code = |m: Metadata, uid| trust_key_file(path, &m, uid).map_err(|e| e.code());
        use crate::ErrorCode::{KeyCorrupted, PermissionDenied};
        assert_eq!(
            code(meta(FileKind::File, Some(0o600), Some(7)), Some(7)),
            Ok(())
        );
        assert_eq!(
            code(meta(FileKind::File, Some(0o400), Some(7)), Some(7)),
            Ok(())
        );
        // No uids or modes on this platform: nothing to check.
        assert_eq!(code(meta(FileKind::File, None, None), None), Ok(()));
        for kind in [FileKind::Symlink, FileKind::Dir, FileKind::Other] {
            assert_eq!(
                code(meta(kind, Some(0o600), Some(7)), Some(7)),
                Err(KeyCorrupted)
            );
        }
        assert_eq!(
            code(meta(FileKind::File, Some(0o600), Some(8)), Some(7)),
            Err(PermissionDenied)
        );
        for mode in [0o640, 0o604, 0o610, 0o601, 0o644, 0o666] {
            assert_eq!(
                code(meta(FileKind::File, Some(mode), Some(7)), Some(7)),
                Err(PermissionDenied),
                "{mode:o}"
            );
        }
    }

    #[test]
    fn anything_but_a_key_is_rejected() {
        assert!(parse_key_file(b"").is_err());
        assert!(parse_key_file(&[b'a'; 63]).is_err());
        assert!(parse_key_file(&[b'a'; 65]).is_err());
        assert!(parse_key_file(&[b'g'; 64]).is_err());
        let mut two_newlines = vec![b'a'; 64];
        two_newlines.extend_from_slice(b"\n\n");
        assert!(parse_key_file(&two_newlines).is_err());
    }
}
