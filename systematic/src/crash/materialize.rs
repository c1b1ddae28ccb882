//! Writes a crash state's tree into a fresh directory for another process to judge, through
//! a directory handle: an adapter that swaps a directory of the state for a symlink cannot
//! make the runner write outside it.

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;

use cap_std::fs::{Dir, OpenOptions, Permissions};

use super::states::{Entry, Tree};

/// Creates `tree` in `dir` (which exists and is empty), with exact modes.
/// Every name is checked before anything is written, so a bad tree leaves `dir` untouched.
pub fn materialize(tree: &Tree, dir: &Dir) -> io::Result<()> {
    let targets = tree
        .entries()
        .map(|(rel, entry)| Ok((checked(rel)?, entry)))
        .collect::<io::Result<Vec<(&str, &Entry)>>>()?;
    // Path order puts every directory before its contents.
    for (path, entry) in &targets {
        match entry {
            Entry::Dir { .. } => dir.create_dir(path)?,
            Entry::File { mode, data } => {
                // create_new: never follow or reuse something already there.
                let mut f = dir.open_with(path, OpenOptions::new().write(true).create_new(true))?;
                f.write_all(data)?;
                // Set explicitly: the mode given at creation is filtered by the umask.
                f.set_permissions(permissions(*mode))?;
            }
        }
    }
    // Directory modes last and deepest first: a read-only directory would refuse its contents.
    for (path, entry) in targets.iter().rev() {
        if let Entry::Dir { mode } = entry {
            dir.set_permissions(path, permissions(*mode))?;
        }
    }
    Ok(())
}

fn permissions(mode: u32) -> Permissions {
    Permissions::from_std(std::fs::Permissions::from_mode(mode & 0o7777))
}

/// `rel`, refusing any name that could point elsewhere.
fn checked(rel: &str) -> io::Result<&str> {
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
    Ok(rel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    fn open(path: &Path) -> Dir {
        Dir::open_ambient_dir(path, cap_std::ambient_authority()).unwrap()
    }

    /// A symlink an adapter plants in the state directory is never followed out of it.
    #[test]
    fn a_planted_symlink_cannot_lead_outside() {
        let tmp = tempfile::tempdir().unwrap();
        let inner = tmp.path().join("inner");
        let outside = tmp.path().join("outside");
        fs::create_dir(&inner).unwrap();
        fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, inner.join("secrets")).unwrap();
        let mut tree = Tree::new();
        tree.insert(
            "secrets/aa",
            Entry::File {
                mode: 0o600,
                data: b"x".to_vec(),
            },
        );
        assert!(materialize(&tree, &open(&inner)).is_err());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }

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
        materialize(&tree, &open(tmp.path())).unwrap();
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
            let err = materialize(&tree, &open(&inner)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
            assert!(!tmp.path().join("x").exists(), "{bad:?}");
            assert_eq!(fs::read_dir(&inner).unwrap().count(), 0, "{bad:?}");
        }
    }
}
