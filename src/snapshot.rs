//! A folder's contents as a value ([`Snapshot`]): what the power-loss model starts from and
//! returns, what a trial folder held before a crash run, what an exhaustive run's crash
//! states are compared as. Reading one walks the folder; writing one makes the folder hold
//! exactly it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::Path;

/// A folder's contents: relative path -> file bytes, plus the set of relative directory
/// paths (the folder itself is not in it). Paths use `/` and never start with `./`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Snapshot {
    /// Regular files and their bytes.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Directories, empty or not.
    pub dirs: BTreeSet<String>,
}

impl Snapshot {
    /// Walks a real folder: its regular files and directories, at any depth. Symlinks and
    /// other special files are skipped; a name that is not UTF-8 is an error.
    pub fn read(dir: &Path) -> io::Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        read_tree(dir, "", &mut snapshot)?;
        Ok(snapshot)
    }

    /// Makes `dir` hold exactly this snapshot: removes what is not in it (including
    /// symlinks and special files), creates the directories, writes the files.
    pub fn write_into(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)?;
        let mut keep = self.dirs.clone();
        for path in self.files.keys().chain(&self.dirs) {
            let mut at = path.as_str();
            while let Some((parent, _)) = at.rsplit_once('/') {
                keep.insert(parent.to_string());
                at = parent;
            }
        }
        prune_tree(dir, "", &keep, &self.files)?;
        for d in &keep {
            fs::create_dir_all(dir.join(d))?;
        }
        for (file, data) in &self.files {
            fs::write(dir.join(file), data)?;
        }
        Ok(())
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

fn entry_name(entry: &fs::DirEntry) -> io::Result<String> {
    entry.file_name().into_string().map_err(|name| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("file name {name:?} is not UTF-8"),
        )
    })
}

fn read_tree(dir: &Path, prefix: &str, snapshot: &mut Snapshot) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let rel = join(prefix, &entry_name(&entry)?);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            read_tree(&entry.path(), &rel, snapshot)?;
            snapshot.dirs.insert(rel);
        } else if kind.is_file() {
            snapshot.files.insert(rel, fs::read(entry.path())?);
        }
    }
    Ok(())
}

fn prune_tree(
    dir: &Path,
    prefix: &str,
    keep: &BTreeSet<String>,
    files: &BTreeMap<String, Vec<u8>>,
) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let rel = join(prefix, &entry_name(&entry)?);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if keep.contains(&rel) {
                prune_tree(&entry.path(), &rel, keep, files)?;
            } else {
                fs::remove_dir_all(entry.path())?;
            }
        } else if !(kind.is_file() && files.contains_key(&rel)) {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_round_trip_through_a_real_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b/c")).unwrap();
        fs::create_dir_all(root.join("stale/deep")).unwrap();
        fs::write(root.join("stale/deep/x"), b"x").unwrap();
        fs::write(root.join("a/b/gone"), b"gone").unwrap();
        fs::write(root.join("a/keep"), b"old").unwrap();
        std::os::unix::fs::symlink("a/keep", root.join("link")).unwrap();

        let want = Snapshot {
            files: BTreeMap::from([
                ("a/keep".to_string(), b"new".to_vec()),
                ("a/b/c/leaf".to_string(), vec![0, 1, 2]),
                ("top".to_string(), Vec::new()),
                ("implied/file".to_string(), b"parent not listed".to_vec()),
            ]),
            dirs: BTreeSet::from(["a", "a/b", "a/b/c", "empty"].map(String::from)),
        };
        want.write_into(root).unwrap();
        let got = Snapshot::read(root).unwrap();
        let mut expected = want.clone();
        expected.dirs.insert("implied".into());
        assert_eq!(got, expected);
        assert!(!root.join("link").exists() && !root.join("stale").exists());

        // Writing it again changes nothing; an empty snapshot empties the folder.
        expected.write_into(root).unwrap();
        assert_eq!(Snapshot::read(root).unwrap(), expected);
        Snapshot::default().write_into(root).unwrap();
        assert_eq!(Snapshot::read(root).unwrap(), Snapshot::default());
    }
}
