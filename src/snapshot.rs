//! A folder's contents, and the one way crashtest walks a folder.
//!
//! [`Snapshot`] is a folder's contents as a value: what the power-loss model starts from
//! and returns, what a trial folder held before a crash run, what an exhaustive run's
//! crash states are compared as. Reading one walks the folder; writing one makes the
//! folder hold exactly it.
//!
//! [`walk`] is the only walk of a folder's tree, so that every look into a trial folder
//! obeys the same rules. A trial folder belongs to the target, which may plant a symlink
//! out of it or into a loop, so a walk never follows one: it reports the link and goes on.
//! Names are relative to the folder walked, as the target's `files` globs and the reports
//! name them. A folder or an entry that cannot be read is an error item of the walk, not
//! its end, so each caller decides: a snapshot must be exact and stops at the first; the
//! tracer's listing of the files and the check for escaping links skip what they cannot
//! read, as the writer may be changing the folder while they look.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

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
        read_tree(dir, &mut snapshot)?;
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
        prune_tree(dir, &keep, &self.files)?;
        for d in &keep {
            fs::create_dir_all(dir.join(d))?;
        }
        for (file, data) in &self.files {
            fs::write(dir.join(file), data)?;
        }
        Ok(())
    }
}

/// `entry`'s relative name as text; a name that is not UTF-8 is an error. Its folders'
/// names were checked before the walk went into them, so only its own name can fail.
fn entry_name(entry: &Entry) -> io::Result<String> {
    match entry.rel().to_str() {
        Some(rel) => Ok(rel.to_string()),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("file name {:?} is not UTF-8", entry.file_name()),
        )),
    }
}

fn read_tree(dir: &Path, snapshot: &mut Snapshot) -> io::Result<()> {
    for entry in walk(dir) {
        let entry = entry?;
        let rel = entry_name(&entry)?;
        let kind = entry.file_type();
        if kind.is_dir() {
            snapshot.dirs.insert(rel);
        } else if kind.is_file() {
            snapshot.files.insert(rel, fs::read(entry.path())?);
        }
    }
    Ok(())
}

/// Removes from `dir` every file not in `files` and every folder not in `keep` (with all
/// it holds), and anything that is neither a regular file nor a folder.
fn prune_tree(
    dir: &Path,
    keep: &BTreeSet<String>,
    files: &BTreeMap<String, Vec<u8>>,
) -> io::Result<()> {
    let mut walk = walk(dir);
    while let Some(entry) = walk.next() {
        let entry = entry?;
        let rel = entry_name(&entry)?;
        let kind = entry.file_type();
        if kind.is_dir() {
            if !keep.contains(&rel) {
                walk.skip_dir();
                fs::remove_dir_all(entry.path())?;
            }
        } else if !(kind.is_file() && files.contains_key(&rel)) {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

// ---- the walk ----

/// Walks the tree under `dir` (not `dir` itself), depth first: each entry of a folder in
/// `read_dir` order, and right after a folder's entry, the entries inside it. Symlinks are
/// never followed. A folder that cannot be listed, or an entry that cannot be read, comes
/// as an `Err` item and the walk goes on with the rest (the walk of an unreadable `dir`
/// is that one error).
pub fn walk(dir: &Path) -> Walk {
    Walk {
        stack: Vec::new(),
        next_dir: Some((dir.to_path_buf(), PathBuf::new())),
    }
}

/// The iterator [`walk`] returns.
#[derive(Debug)]
pub struct Walk {
    /// The folders being listed, outermost first, each with its relative name.
    stack: Vec<(fs::ReadDir, PathBuf)>,
    /// The folder to go into before the next entry: (path, relative name).
    next_dir: Option<(PathBuf, PathBuf)>,
}

impl Walk {
    /// Does not go into the folder the walk just returned (it is being removed, say).
    pub fn skip_dir(&mut self) {
        self.next_dir = None;
    }
}

impl Iterator for Walk {
    type Item = io::Result<Entry>;

    fn next(&mut self) -> Option<io::Result<Entry>> {
        if let Some((path, rel)) = self.next_dir.take() {
            match fs::read_dir(path) {
                Ok(entries) => self.stack.push((entries, rel)),
                Err(e) => return Some(Err(e)),
            }
        }
        loop {
            let (entries, parent) = self.stack.last_mut()?;
            let entry = match entries.next() {
                None => {
                    self.stack.pop();
                    continue;
                }
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(entry)) => entry,
            };
            let rel = parent.join(entry.file_name());
            // The entry's own type (lstat's, or readdir's d_type): a symlink is a symlink.
            let kind = match entry.file_type() {
                Ok(kind) => kind,
                Err(e) => return Some(Err(e)),
            };
            if kind.is_dir() {
                self.next_dir = Some((entry.path(), rel.clone()));
            }
            return Some(Ok(Entry { entry, rel, kind }));
        }
    }
}

/// One entry of a [`walk`].
#[derive(Debug)]
pub struct Entry {
    entry: fs::DirEntry,
    rel: PathBuf,
    kind: fs::FileType,
}

impl Entry {
    /// Its path: the walked folder's path joined with [`Entry::rel`].
    pub fn path(&self) -> PathBuf {
        self.entry.path()
    }

    /// Its name relative to the walked folder (`a/b`, never `./a/b`).
    pub fn rel(&self) -> &Path {
        &self.rel
    }

    /// Its own name, the last part of [`Entry::rel`].
    pub fn file_name(&self) -> std::ffi::OsString {
        self.entry.file_name()
    }

    /// Its type, the symlink's own for a symlink.
    pub fn file_type(&self) -> fs::FileType {
        self.kind
    }

    /// Its metadata, the symlink's own for a symlink (lstat).
    pub fn metadata(&self) -> io::Result<fs::Metadata> {
        self.entry.metadata()
    }
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

    /// Every entry of a walk, by relative name, with what it is.
    fn listing(dir: &Path) -> Vec<(String, &'static str)> {
        let mut all: Vec<_> = walk(dir)
            .map(|e| {
                let e = e.unwrap();
                let t = e.file_type();
                let what = if t.is_dir() {
                    "dir"
                } else if t.is_symlink() {
                    "link"
                } else {
                    "file"
                };
                (e.rel().display().to_string(), what)
            })
            .collect();
        all.sort();
        all
    }

    #[test]
    fn a_walk_names_entries_relative_and_never_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/f"), b"f").unwrap();
        fs::write(root.join("top"), b"").unwrap();
        std::os::unix::fs::symlink("a", root.join("to-a")).unwrap();
        std::os::unix::fs::symlink(".", root.join("a/loop")).unwrap();
        std::os::unix::fs::symlink("/", root.join("a/b/out")).unwrap();
        assert_eq!(
            listing(root),
            [
                ("a", "dir"),
                ("a/b", "dir"),
                ("a/b/f", "file"),
                ("a/b/out", "link"),
                ("a/loop", "link"),
                ("to-a", "link"),
                ("top", "file"),
            ]
            .map(|(name, what)| (name.to_string(), what))
        );
        let inner: Vec<PathBuf> = walk(&root.join("a")).map(|e| e.unwrap().path()).collect();
        assert_eq!(inner.len(), 4);
        assert!(
            inner.iter().all(|p| p.starts_with(root.join("a"))),
            "{inner:?}"
        );
    }

    #[test]
    fn a_folder_that_cannot_be_listed_is_an_error_and_the_walk_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let missing = walk(&dir.path().join("missing")).collect::<Vec<_>>();
        assert!(matches!(&missing[..], [Err(e)] if e.kind() == io::ErrorKind::NotFound));

        for d in ["x", "y"] {
            fs::create_dir(dir.path().join(d)).unwrap();
            fs::write(dir.path().join(d).join("f"), b"").unwrap();
        }
        // The first folder met vanishes before the walk goes into it.
        let mut walk = walk(dir.path());
        let first = walk.next().unwrap().unwrap();
        fs::remove_dir_all(first.path()).unwrap();
        let rest: Vec<_> = walk.collect();
        assert!(matches!(&rest[0], Err(e) if e.kind() == io::ErrorKind::NotFound));
        let names: Vec<String> = rest[1..]
            .iter()
            .map(|e| e.as_ref().unwrap().rel().display().to_string())
            .collect();
        let other = if first.rel() == Path::new("x") {
            "y"
        } else {
            "x"
        };
        assert_eq!(names, [other.to_string(), format!("{other}/f")]);
    }

    #[test]
    fn a_skipped_folder_is_not_gone_into() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("skip/deep")).unwrap();
        let mut walk = walk(dir.path());
        let first = walk.next().unwrap().unwrap();
        assert_eq!(first.rel(), Path::new("skip"));
        walk.skip_dir();
        assert!(walk.next().is_none());
    }
}
