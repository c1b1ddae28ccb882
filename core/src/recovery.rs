//! Recovery without a successful open (seed 000): [`destroy_at_path`] and [`reset_at_path`].
//!
//! Both refuse a directory that does not look like a keyrace store, so a wrong path never
//! deletes a user's files; both treat a missing directory as done. Deletion retries transient
//! errors a bounded number of times with exponential backoff: `BUSY` (a Windows sharing
//! violation while another process still closes its handles), and on Windows the two errors
//! a delete-pending file gives while its last handle closes ([`transient_on_removal`]).

use std::io;
use std::path::Path;
use std::time::Duration;

use crate::code::ErrorCode;
use crate::error::{Error, Result};
use crate::fs::{sync_parent, try_symlink_metadata, FileKind, Fs};
use crate::layout::{secret_name_of, KEY_FILE, META_FILE, SECRETS_DIR, TEMP_PREFIX};

/// How often and how patiently to retry an operation that failed with `BUSY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included; at least 1.
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Up to 8 attempts over about 1.3 s: 10, 20, 40, ... ms, capped at 500 ms.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(500),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` (after `attempt` failures, 1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }

    /// Run `op` until it succeeds, fails with something other than `BUSY`, or the attempts
    /// are used up; `sleep` is called between attempts (tests pass a recorder).
    pub fn run<T>(
        &self,
        sleep: &mut dyn FnMut(Duration),
        op: impl FnMut() -> io::Result<T>,
    ) -> io::Result<T> {
        self.run_while(sleep, |e| ErrorCode::from_io(e) == ErrorCode::Busy, op)
    }

    /// [`RetryPolicy::run`], retrying the errors `transient` accepts.
    pub fn run_while<T>(
        &self,
        sleep: &mut dyn FnMut(Duration),
        transient: impl Fn(&io::Error) -> bool,
        mut op: impl FnMut() -> io::Result<T>,
    ) -> io::Result<T> {
        let mut attempt = 1;
        loop {
            match op() {
                Err(e) if transient(&e) && attempt < self.max_attempts => {
                    sleep(self.delay_after(attempt));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// `ERROR_ACCESS_DENIED`: what Windows returns for a file whose delete is pending.
const WINDOWS_ERROR_ACCESS_DENIED: i32 = 5;
/// `ERROR_DIR_NOT_EMPTY`: a directory whose deleted files still have open handles.
const WINDOWS_ERROR_DIR_NOT_EMPTY: i32 = 145;

/// Whether a failed removal may succeed if retried: `BUSY` everywhere; on Windows (`windows`)
/// also "access denied" and "directory not empty", which a file deleted while another process
/// still holds it open gives until that handle closes. A real permission problem then surfaces
/// as `PERMISSION_DENIED` after the retries.
pub fn transient_on_removal(error: &io::Error, windows: bool) -> bool {
    ErrorCode::from_io(error) == ErrorCode::Busy
        || (windows
            && matches!(
                error.raw_os_error(),
                Some(WINDOWS_ERROR_ACCESS_DENIED | WINDOWS_ERROR_DIR_NOT_EMPTY)
            ))
}

/// What a recovery call removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Removed {
    pub files: usize,
    pub dirs: usize,
}

/// Delete the store at `path` and the directory itself, without opening it.
pub fn destroy_at_path<F: Fs + ?Sized>(fs: &F, path: &Path) -> Result<Removed> {
    destroy_at_path_with(fs, path, &RetryPolicy::default(), &mut std::thread::sleep)
}

/// Delete the store's contents so the next open creates a fresh store; with `preserve_dir`
/// the directory itself (its owner, mode, a mount point) stays.
pub fn reset_at_path<F: Fs + ?Sized>(fs: &F, path: &Path, preserve_dir: bool) -> Result<Removed> {
    reset_at_path_with(
        fs,
        path,
        preserve_dir,
        &RetryPolicy::default(),
        &mut std::thread::sleep,
    )
}

/// [`destroy_at_path`] with an explicit retry policy and sleeper.
pub fn destroy_at_path_with<F: Fs + ?Sized>(
    fs: &F,
    path: &Path,
    policy: &RetryPolicy,
    sleep: &mut dyn FnMut(Duration),
) -> Result<Removed> {
    reset_at_path_with(fs, path, false, policy, sleep)
}

/// [`reset_at_path`] with an explicit retry policy and sleeper.
pub fn reset_at_path_with<F: Fs + ?Sized>(
    fs: &F,
    path: &Path,
    preserve_dir: bool,
    policy: &RetryPolicy,
    sleep: &mut dyn FnMut(Duration),
) -> Result<Removed> {
    let plan = match plan_removal(fs, path)? {
        Some(plan) => plan,
        None => return Ok(Removed::default()),
    };
    let mut removed = Removed::default();
    let mut remove = |target: &Path, is_dir: bool| -> Result<()> {
        let transient = |e: &io::Error| transient_on_removal(e, cfg!(windows));
        let result = policy.run_while(sleep, transient, || {
            if is_dir {
                fs.remove_dir(target)
            } else {
                fs.remove_file(target)
            }
        });
        match result {
            Ok(()) if is_dir => removed.dirs += 1,
            Ok(()) => removed.files += 1,
            // A concurrent destroy got there first: the goal is reached either way.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Fs {
                    what: "delete a store file",
                    source,
                })
            }
        }
        Ok(())
    };
    // meta.json goes first: an interrupted destroy leaves a store that fails loud
    // (METADATA_MISSING) rather than one that looks intact with secrets missing.
    for file in plan.files.iter().chain(&plan.links) {
        remove(file, false)?;
    }
    for dir in &plan.dirs {
        remove(dir, true)?;
    }
    if !preserve_dir {
        // Through a symlink (the store was opened through it too) the link goes, and the
        // directory it names stays, empty: it may be a mount point or the user's layout.
        remove(path, !plan.through_link)?;
    }
    let synced = if preserve_dir {
        fs.sync_dir(path)
    } else {
        sync_parent(fs, path)
    };
    synced.map_err(Error::fs("fsync after deleting the store"))?;
    Ok(removed)
}

struct RemovalPlan {
    /// In deletion order.
    files: Vec<std::path::PathBuf>,
    /// Symlinked directories (a `secrets/` link), unlinked once their files are gone.
    links: Vec<std::path::PathBuf>,
    dirs: Vec<std::path::PathBuf>,
    /// `path` is a symlink to the store directory.
    through_link: bool,
}

/// Check that `path` is a keyrace store (or missing, or empty) and list what to delete.
fn plan_removal<F: Fs + ?Sized>(fs: &F, path: &Path) -> Result<Option<RemovalPlan>> {
    let not_a_store = |entry: &str| Error::NotAStore {
        path: path.to_owned(),
        entry: entry.to_owned(),
    };
    let through_link =
        match try_symlink_metadata(fs, path).map_err(Error::fs("inspect the store path"))? {
            None => return Ok(None),
            Some(meta) if meta.kind == FileKind::Dir => false,
            // Stores are created and opened through a symlinked directory, so they can be reset
            // and destroyed through it; the shape checks below apply to what it points at.
            Some(meta) if meta.kind == FileKind::Symlink => true,
            Some(_) => return Err(not_a_store("(not a directory)")),
        };
    let is_temp = |name: &str| name.starts_with(TEMP_PREFIX);
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    let mut meta_kind = None;
    let mut secrets: Option<(std::path::PathBuf, bool)> = None;
    // A symlink, FIFO or empty directory where meta.json or the key belongs: what the open
    // reported as corrupted, which reset must be able to clear (unlinking never follows).
    let mut odd_dirs = Vec::new();
    let listed = match fs.read_dir(path) {
        // A symlink to something that is not a directory.
        Err(e) if through_link && e.kind() == io::ErrorKind::NotADirectory => {
            return Err(not_a_store(
                "(a symlink to something that is not a directory)",
            ))
        }
        // A dangling symlink: nothing to delete behind it; the link itself is not ours.
        Err(e) if through_link && e.kind() == io::ErrorKind::NotFound => {
            return Err(not_a_store("(a symlink to nothing)"))
        }
        other => other.map_err(Error::fs("list the store directory"))?,
    };
    for entry in listed {
        // Matched on the exact name: a name that is not UTF-8 is not one of ours.
        match (entry.name.to_str(), entry.kind) {
            (Some(META_FILE), kind) => meta_kind = Some(kind),
            (Some(KEY_FILE), FileKind::Dir) => odd_dirs.push(path.join(KEY_FILE)),
            (Some(KEY_FILE), _) => files.push(path.join(KEY_FILE)),
            (Some(SECRETS_DIR), FileKind::Dir) => secrets = Some((path.join(SECRETS_DIR), false)),
            // Followed for the listing, as the store follows it; the link itself is removed.
            (Some(SECRETS_DIR), FileKind::Symlink) => {
                secrets = Some((path.join(SECRETS_DIR), true));
            }
            (Some(name), FileKind::File) if is_temp(name) => files.push(path.join(name)),
            _ => return Err(not_a_store(&entry.name.to_string_lossy())),
        }
    }
    match meta_kind {
        Some(FileKind::Dir) => odd_dirs.push(path.join(META_FILE)),
        Some(_) => files.insert(0, path.join(META_FILE)),
        None => {}
    }
    for odd in &odd_dirs {
        let entries = fs
            .read_dir(odd)
            .map_err(Error::fs("list the store directory"))?;
        if !entries.is_empty() {
            let name = odd.file_name().unwrap_or_default().to_string_lossy();
            return Err(not_a_store(&format!("{name}/ (a directory holding files)")));
        }
    }
    let has_meta = meta_kind.is_some();
    let mut links = Vec::new();
    if let Some((secrets, is_link)) = &secrets {
        if *is_link {
            links.push(secrets.clone());
        } else {
            dirs.push(secrets.clone());
        }
        let entries = match fs.read_dir(secrets) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(Error::Fs {
                    what: "list the store's secrets",
                    source,
                })
            }
        };
        for entry in entries {
            let known = entry
                .name
                .to_str()
                .is_some_and(|name| is_temp(name) || secret_name_of(name).is_some());
            if entry.kind != FileKind::File || !known {
                let name = entry.name.to_string_lossy();
                return Err(not_a_store(&format!("{SECRETS_DIR}/{name}")));
            }
            files.push(secrets.join(&entry.name));
        }
    }
    // A key file (or temp files) alone is not a store: it may be a master key that protects
    // stores elsewhere, or another program's `key`. Only meta.json or secrets/ make it ours.
    if !has_meta && secrets.is_none() {
        if let Some(file) = files.first().or(odd_dirs.first()) {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(not_a_store(&name));
        }
    }
    dirs.extend(odd_dirs);
    Ok(Some(RemovalPlan {
        files,
        links,
        dirs,
        through_link,
    }))
}
