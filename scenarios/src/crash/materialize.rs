//! Writes a crash state's tree into a fresh directory for another process to judge.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::states::{Entry, Tree};

/// Creates `tree` under `dir` (which exists and is empty), with exact modes.
/// Every name is checked before anything is written, so a bad tree leaves `dir` untouched.
pub fn materialize(tree: &Tree, dir: &Path) -> io::Result<()> {
    let targets = tree
        .entries()
        .map(|(rel, entry)| Ok((inside(dir, rel)?, entry)))
        .collect::<io::Result<Vec<(PathBuf, &Entry)>>>()?;
    // Path order puts every directory before its contents.
    for (path, entry) in &targets {
        match entry {
            Entry::Dir { .. } => fs::create_dir(path)?,
            Entry::File { mode, data } => {
                // create_new: never follow or reuse something already there.
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)?;
                f.write_all(data)?;
                // Set explicitly: the mode given at creation is filtered by the umask.
                f.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
            }
        }
    }
    // Directory modes last and deepest first: a read-only directory would refuse its contents.
    for (path, entry) in targets.iter().rev() {
        if let Entry::Dir { mode } = entry {
            fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777))?;
        }
    }
    Ok(())
}

/// `dir` joined with `rel`, refusing any name that could point elsewhere.
fn inside(dir: &Path, rel: &str) -> io::Result<PathBuf> {
    let bad = rel.is_empty()
        || rel.contains('\0')
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to materialize path {rel:?}"),
        ));
    }
    Ok(dir.join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a directory back into a tree, for comparison.
    fn read_back(root: &Path, rel: &str, tree: &mut Tree) {
        let dir = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(rel)
        };
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                tree.insert(rel.clone(), Entry::Dir { mode });
                read_back(root, &rel, tree);
            } else {
                let data = fs::read(entry.path()).unwrap();
                tree.insert(rel, Entry::File { mode, data });
            }
        }
    }

    fn sample() -> Tree {
        let mut t = Tree::new();
        t.insert("secrets", Entry::Dir { mode: 0o700 });
        t.insert(
            "secrets/aa",
            Entry::File {
                mode: 0o600,
                data: b"new-value".to_vec(),
            },
        );
        t.insert(
            "secrets/empty",
            Entry::File {
                mode: 0o666,
                data: Vec::new(),
            },
        );
        t.insert("secrets/ro", Entry::Dir { mode: 0o555 });
        t.insert(
            "secrets/ro/k",
            Entry::File {
                mode: 0o400,
                data: vec![0, 1, 2],
            },
        );
        t.insert("open", Entry::Dir { mode: 0o777 });
        t.insert(
            "top",
            Entry::File {
                mode: 0o644,
                data: b"x".to_vec(),
            },
        );
        t
    }

    #[test]
    fn writes_exactly_the_tree_with_exact_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = sample();
        materialize(&tree, tmp.path()).unwrap();
        let mut back = Tree::new();
        read_back(tmp.path(), "", &mut back);
        // 0o666/0o777 would read back as 0o644/0o755 had the umask applied.
        assert_eq!(back, tree);
        // Let the temp dir clean up under a non-root user too.
        fs::set_permissions(
            tmp.path().join("secrets/ro"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }

    #[test]
    fn refuses_names_outside_or_malformed() {
        for bad in [
            "../x", "/x", "a/../x", "a/./x", ".", "a//b", "", "a\0b", "a/",
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let inner = tmp.path().join("inner");
            fs::create_dir(&inner).unwrap();
            let mut tree = Tree::new();
            tree.insert(
                "fine",
                Entry::File {
                    mode: 0o600,
                    data: b"1".to_vec(),
                },
            );
            tree.insert(
                bad,
                Entry::File {
                    mode: 0o600,
                    data: b"2".to_vec(),
                },
            );
            let err = materialize(&tree, &inner).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
            assert!(!tmp.path().join("x").exists(), "{bad:?}");
            assert_eq!(fs::read_dir(&inner).unwrap().count(), 0, "{bad:?}");
        }
    }
}
