//! A keyrace-adapter/1 adapter in Rust for the same tiny file store as `adapter.py` and
//! `adapter.mjs`: `store.json` ({"format": 1}) and `secrets/<hex name>`, one JSON record per
//! secret with a SHA-256 of its value, each replaced atomically (temp, fsync, rename, fsync
//! dir). The protocol is `keyrace_protocol::serve`; everything here is the store.
//! Check it: keyrace check --adapter target/release/keyrace-example-adapter

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use keyrace_protocol::{serve, ErrorCode, Failure, Hello, Op, OpName, Success};
use sha2::{Digest, Sha256};

fn sha(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent(path: &Path) -> io::Result<&Path> {
    path.parent()
        .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "a path without a parent"))
}

fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp-{}", path.display(), std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    fsync_dir(parent(path)?)
}

/// The secrets directory of the store at `store`, created if absent.
fn open_store(store: &Path) -> Result<PathBuf, Failure> {
    let (meta, secrets) = (store.join("store.json"), store.join("secrets"));
    let text = match fs::read(&meta) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if fs::read_dir(&secrets).is_ok_and(|mut d| d.next().is_some()) {
                // A racing creator publishes store.json before any secret: look again first.
                if meta.exists() {
                    return open_store(store);
                }
                return Err(Failure::new(
                    ErrorCode::MetadataMissing,
                    format!(
                        "{} is missing; destroy the store to start over",
                        meta.display()
                    ),
                ));
            }
            fs::create_dir_all(&secrets).map_err(io_failure)?;
            let absolute = std::path::absolute(store).map_err(io_failure)?;
            fsync_dir(parent(&absolute).map_err(io_failure)?).map_err(io_failure)?;
            write_atomic(&meta, br#"{"format": 1}"#).map_err(io_failure)?;
            return Ok(secrets);
        }
        Err(e) => return Err(io_failure(e)),
    };
    let format = serde_json::from_slice::<serde_json::Value>(&text)
        .map_err(|e| {
            Failure::new(
                ErrorCode::MetadataCorrupted,
                format!(
                    "{} is corrupted ({e}); destroy the store to start over",
                    meta.display()
                ),
            )
        })?
        .get("format")
        .cloned();
    if format != Some(serde_json::json!(1)) {
        return Err(Failure::new(
            ErrorCode::UnsupportedVersion,
            format!(
                "{} has format {format:?}, this adapter reads 1",
                meta.display()
            ),
        ));
    }
    Ok(secrets)
}

/// Empty the store without opening it (it may be damaged); never a directory not ours.
fn clear_store(store: &Path) -> Result<usize, Failure> {
    let is_dir = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    let names: Vec<String> = match fs::read_dir(store) {
        Ok(entries) if is_dir(store) => entries
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<io::Result<_>>()
            .map_err(io_failure)?,
        _ => Vec::new(),
    };
    let secrets = store.join("secrets");
    let ours = |n: &str| {
        n.split(".tmp-")
            .next()
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let fine = |n: &String| {
        n == "store.json"
            || n.starts_with("store.json.tmp-")
            || (n == "secrets"
                && is_dir(&secrets)
                && fs::read_dir(&secrets)
                    .is_ok_and(|d| d.flatten().all(|e| ours(&e.file_name().to_string_lossy()))))
    };
    if !names.iter().all(fine) {
        return Err(Failure::new(
            ErrorCode::InvalidArgument,
            format!(
                "{} does not look like a store; refusing to delete it",
                store.display()
            ),
        ));
    }
    for name in &names {
        let path = store.join(name);
        if name == "secrets" {
            fs::remove_dir_all(path).map_err(io_failure)?;
        } else {
            fs::remove_file(path).map_err(io_failure)?;
        }
    }
    Ok(names.len())
}

/// An OS error as a keyrace code; the message says which file.
fn io_failure(e: io::Error) -> Failure {
    let code = match e.kind() {
        ErrorKind::PermissionDenied => ErrorCode::PermissionDenied,
        ErrorKind::NotFound => ErrorCode::NotFound,
        _ => ErrorCode::Io,
    };
    Failure::new(code, e.to_string())
}

fn handle(op: &Op) -> Result<Success, Failure> {
    let ok = Success::default();
    match op {
        Op::Destroy { store } | Op::Reset { store } => {
            let cleared = clear_store(store)?;
            if matches!(op, Op::Destroy { .. }) && store.is_dir() {
                fs::remove_dir(store).map_err(io_failure)?;
            } else if cleared > 0 {
                fsync_dir(store).map_err(io_failure)?;
            }
            Ok(ok)
        }
        Op::Consume { store, token } => {
            fs::create_dir_all(store).map_err(io_failure)?;
            let absolute = std::path::absolute(store).map_err(io_failure)?;
            fsync_dir(parent(&absolute).map_err(io_failure)?).map_err(io_failure)?;
            let marker = store.join(sha(token));
            let file = match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&marker)
            {
                Ok(file) => file,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    return Ok(Success {
                        won: Some(false),
                        ..ok
                    })
                }
                Err(e) => return Err(io_failure(e)),
            };
            file.sync_all().map_err(io_failure)?;
            fsync_dir(store).map_err(io_failure)?;
            Ok(Success {
                won: Some(true),
                ..ok
            })
        }
        Op::Open { store } => open_store(store).map(|_| ok),
        Op::Put { store, name, value } => {
            let file = open_store(store)?.join(hex::encode(name));
            let record = serde_json::json!({"name": name, "value": value, "sha256": sha(value)});
            write_atomic(&file, record.to_string().as_bytes()).map_err(io_failure)?;
            Ok(ok)
        }
        Op::Delete { store, name } => {
            let secrets = open_store(store)?;
            match fs::remove_file(secrets.join(hex::encode(name))) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(io_failure(e)),
                _ => {}
            }
            fsync_dir(&secrets).map_err(io_failure)?;
            Ok(ok)
        }
        Op::Get { store, name } => {
            let file = open_store(store)?.join(hex::encode(name));
            let bytes = match fs::read(&file) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Ok(Success {
                        value: Some(None),
                        ..ok
                    })
                }
                Err(e) => return Err(io_failure(e)),
            };
            let record: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
            let value = record.as_ref().and_then(|r| {
                let value = r.get("value")?.as_str()?;
                let intact =
                    r.get("name")?.as_str()? == name && r.get("sha256")?.as_str()? == sha(value);
                intact.then(|| value.to_owned())
            });
            match value {
                Some(value) => Ok(Success {
                    value: Some(Some(value)),
                    ..ok
                }),
                None => Err(Failure::new(
                    ErrorCode::IntegrityMismatch,
                    format!("{} is damaged; put the secret again", file.display()),
                )),
            }
        }
        other => Err(Failure::new(
            ErrorCode::UnsupportedOp,
            format!("no op {}", other.name()),
        )),
    }
}

fn main() {
    let hello = Hello::new("rust example file store", &OpName::ALL);
    if let Err(e) = serve(&hello, io::stdin().lock(), io::stdout().lock(), handle) {
        eprintln!("keyrace-example-adapter: {e}");
        std::process::exit(1);
    }
}
