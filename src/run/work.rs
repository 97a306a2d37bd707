//! The run folder: `crashtest-XXXXXX` in `--work-dir` (or the system temp folder), which
//! holds a run's (or a repro's) trial folders and is removed when it ends. A run that is
//! SIGKILLed cannot remove it; the next run in the same parent does.
//!
//! Each run folder holds a lock file, [`LOCK_FILE`], on which its run holds an exclusive
//! `flock(2)` for its whole life. The kernel releases the lock when the run dies, however
//! it dies, so a lock that can be taken means no living crashtest owns the folder; unlike
//! a pid file, a reused pid cannot fool it. The lock file is made under another name,
//! locked, and only then renamed to [`LOCK_FILE`], so a folder being made is never seen
//! with its lock free.
//!
//! A run removes a folder of its parent only when all of these hold:
//! 1. its name starts with `crashtest-`, and it is a directory (a symlink is not followed);
//! 2. it holds [`LOCK_FILE`], a regular file, whose lock this run takes;
//! 3. no process has its working directory in it, holds a file in it open or mapped, or
//!    has a `CRASHTEST_DIR` inside it (a stray of the killed run that escaped its kill).
//!
//! It removes it with the lock held. Folders made by crashtest before the lock file
//! existed have none, and are left alone.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg, OFlag, openat};
use nix::sys::stat::Mode;

use crate::errors::TrialError;

/// The lock file of a run folder, locked by its run for the run's life.
pub const LOCK_FILE: &str = "crashtest.lock";

/// What a run folder's name starts with.
const PREFIX: &str = "crashtest-";

/// A run folder and its lock: the folder is removed on drop, then the lock released.
pub struct RunFolder {
    // Fields drop in order: the folder goes before its lock is released, so no other run
    // removes it at the same time.
    _dir: tempfile::TempDir,
    _lock: Flock<File>,
}

/// Makes the run folder: a fresh temp folder holding its locked [`LOCK_FILE`], removed
/// when the returned guard drops. Removes the stale run folders of killed runs in the same
/// parent first, and says on stderr which.
pub fn make_work(work_dir: Option<&PathBuf>) -> Result<(RunFolder, PathBuf), TrialError> {
    let parent = work_dir.cloned().unwrap_or_else(std::env::temp_dir);
    let io = |what| {
        let parent = parent.clone();
        move |source| TrialError::Io {
            what,
            path: parent,
            source,
        }
    };
    let swept = sweep(&parent);
    swept.say(&parent);
    let tmp = tempfile::Builder::new()
        .prefix(PREFIX)
        .tempdir_in(&parent)
        .map_err(io("create a run folder"))?;
    let lock = lock(tmp.path()).map_err(|source| TrialError::Io {
        what: "lock the run folder",
        path: tmp.path().join(LOCK_FILE),
        source,
    })?;
    let canonical = tmp
        .path()
        .canonicalize()
        .map_err(io("resolve the run folder"))?;
    crate::spill::place_in(&canonical);
    Ok((
        RunFolder {
            _dir: tmp,
            _lock: lock,
        },
        canonical,
    ))
}

/// Makes `dir`'s lock file, locked: under a name of its own, then renamed into place.
fn lock(dir: &Path) -> io::Result<Flock<File>> {
    let making = dir.join(".crashtest.lock.new");
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&making)?;
    // A file just made, that nothing else has open: the lock is free.
    let locked =
        Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| io::Error::from(e))?;
    fs::rename(&making, dir.join(LOCK_FILE))?;
    Ok(locked)
}

/// What a sweep of a parent folder did.
#[derive(Debug, Default)]
pub struct Swept {
    /// The stale run folders removed, by name.
    pub removed: Vec<String>,
    /// Stale run folders left because a process still uses them: name, and a process.
    pub in_use: Vec<(String, String)>,
    /// Stale run folders that could not be removed: name, and why.
    pub failed: Vec<(String, io::Error)>,
}

impl Swept {
    /// One line on stderr for the folders removed, one for each left or failed.
    fn say(&self, parent: &Path) {
        let parent = parent.display();
        if !self.removed.is_empty() {
            let n = self.removed.len();
            eprintln!(
                "crashtest: removed {n} stale run folder{} of killed runs in {parent}: {}",
                if n == 1 { "" } else { "s" },
                self.removed.join(", ")
            );
        }
        for (name, who) in &self.in_use {
            eprintln!(
                "crashtest: left the stale run folder {parent}/{name}: process {who} still uses it"
            );
        }
        for (name, e) in &self.failed {
            eprintln!(
                "crashtest: warning: failed to remove the stale run folder {parent}/{name}: {e}"
            );
        }
    }
}

/// A stale run folder whose lock this run holds.
struct Stale {
    name: String,
    path: PathBuf,
    /// Held until the folder is removed or left.
    _lock: Flock<File>,
}

/// Removes the run folders in `parent` that no living crashtest owns and no process uses
/// (see the module docs). A parent that cannot be read is not swept: making the run
/// folder in it says why.
pub fn sweep(parent: &Path) -> Swept {
    let mut swept = Swept::default();
    let Ok(parent) = parent.canonicalize() else {
        return swept;
    };
    let Ok(entries) = fs::read_dir(&parent) else {
        return swept;
    };
    let mut stale: Vec<Stale> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            // The entry's own type: a symlink is a symlink here, not what it points to.
            if !name.starts_with(PREFIX) || !entry.file_type().ok()?.is_dir() {
                return None;
            }
            let path = parent.join(&name);
            let lock = take_lock(&path)?;
            Some(Stale {
                name,
                path,
                _lock: lock,
            })
        })
        .collect();
    stale.sort_by(|a, b| a.name.cmp(&b.name));
    let paths: Vec<&Path> = stale.iter().map(|s| s.path.as_path()).collect();
    let users = users_of(&paths);
    for (i, s) in stale.iter().enumerate() {
        if let Some(who) = users.get(&i) {
            swept.in_use.push((s.name.clone(), who.clone()));
            continue;
        }
        match fs::remove_dir_all(&s.path) {
            Ok(()) => swept.removed.push(s.name.clone()),
            Err(e) => swept.failed.push((s.name.clone(), e)),
        }
    }
    swept
}

/// The lock of the run folder at `path`, if it is one and no living run holds it.
fn take_lock(path: &Path) -> Option<Flock<File>> {
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let lock = File::from(
        openat(
            &dir,
            LOCK_FILE,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()?,
    );
    if !lock.metadata().ok()?.is_file() {
        return None;
    }
    let locked = Flock::lock(lock, FlockArg::LockExclusiveNonblock).ok()?;
    // The folder locked is still the one at `path` (not swapped for another meanwhile).
    let (held, now) = (dir.metadata().ok()?, fs::symlink_metadata(path).ok()?);
    (held.dev() == now.dev() && held.ino() == now.ino()).then_some(locked)
}

/// For each of `folders` that a process other than this one uses (its working directory,
/// an open or mapped file, or its `CRASHTEST_DIR` inside it), one such process: "pid
/// (name)". Processes whose `/proc` entries cannot be read (another user's: they cannot
/// enter a run folder, which only its owner may) are not seen.
fn users_of(folders: &[&Path]) -> std::collections::BTreeMap<usize, String> {
    let mut users = std::collections::BTreeMap::new();
    if folders.is_empty() {
        return users;
    }
    let Ok(procs) = fs::read_dir("/proc") else {
        return users;
    };
    let me = std::process::id().to_string();
    for entry in procs.flatten() {
        let pid = entry.file_name();
        let Some(pid) = pid.to_str() else { continue };
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let proc = entry.path();
        let used = paths_used(&proc);
        let mut found = BTreeSet::new();
        for (i, folder) in folders.iter().enumerate() {
            if used.iter().any(|p| p.starts_with(folder)) {
                found.insert(i);
            }
        }
        if found.is_empty() {
            continue;
        }
        let name = fs::read_to_string(proc.join("comm")).unwrap_or_default();
        for i in found {
            users
                .entry(i)
                .or_insert_with(|| format!("{pid} ({})", name.trim_end()));
        }
    }
    users
}

/// The paths the process at `proc` (a `/proc/PID` folder) uses: its working directory,
/// its open files, its mapped files, and its `CRASHTEST_DIR`.
fn paths_used(proc: &Path) -> Vec<PathBuf> {
    let mut used: Vec<PathBuf> = Vec::new();
    used.extend(fs::read_link(proc.join("cwd")));
    if let Ok(fds) = fs::read_dir(proc.join("fd")) {
        used.extend(fds.flatten().filter_map(|fd| fs::read_link(fd.path()).ok()));
    }
    if let Ok(maps) = fs::read_to_string(proc.join("maps")) {
        used.extend(
            maps.lines()
                .filter_map(|l| l.find('/').map(|at| PathBuf::from(&l[at..]))),
        );
    }
    if let Ok(environ) = fs::read(proc.join("environ")) {
        used.extend(
            environ
                .split(|&b| b == 0)
                .filter_map(|kv| kv.strip_prefix(b"CRASHTEST_DIR="))
                .map(|dir| PathBuf::from(String::from_utf8_lossy(dir).into_owned())),
        );
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder shaped like a run folder of a run that died: its lock file, unlocked.
    fn stale(parent: &Path, name: &str) -> PathBuf {
        let dir = parent.join(name);
        fs::create_dir_all(dir.join("t0")).unwrap();
        fs::write(dir.join(LOCK_FILE), b"").unwrap();
        fs::write(dir.join("t0/wal.log"), b"x").unwrap();
        dir
    }

    /// A child killed and reaped when dropped, also when an assert fails first.
    struct Reaped(std::process::Child);

    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn a_sweep_removes_only_unlocked_unused_run_folders_with_a_lock_file() {
        let parent = tempfile::tempdir().unwrap();
        let p = parent.path();
        // A live run's folder, locked by this test (made first: making one sweeps).
        let (live, live_path) = make_work(Some(&p.to_path_buf())).unwrap();
        let dead = stale(p, "crashtest-dead");
        // Not crashtest's: no lock file, another name, not a folder, a symlink to a stale
        // folder elsewhere.
        fs::create_dir(p.join("crashtest-foo")).unwrap();
        let other = stale(p, "other-dead");
        fs::write(p.join("crashtest-file"), b"").unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let target = stale(elsewhere.path(), "crashtest-target");
        std::os::unix::fs::symlink(&target, p.join("crashtest-link")).unwrap();
        // A stale folder a process still works in.
        let used = stale(p, "crashtest-used");
        let sleeper = std::process::Command::new("sleep")
            .arg("1000")
            .current_dir(&used)
            .spawn()
            .unwrap();
        let sleeper = Reaped(sleeper);

        let swept = sweep(p);
        assert_eq!(swept.removed, ["crashtest-dead"]);
        assert!(!dead.exists());
        assert!(p.join("crashtest-foo").is_dir());
        assert!(other.join(LOCK_FILE).exists());
        assert!(p.join("crashtest-file").is_file());
        assert!(target.join(LOCK_FILE).exists(), "a symlink is not followed");
        assert!(p.join("crashtest-link").symlink_metadata().is_ok());
        assert!(
            live_path.join(LOCK_FILE).exists(),
            "a live run's folder stays"
        );
        let in_use: Vec<(&str, &str)> = swept
            .in_use
            .iter()
            .map(|(n, w)| (n.as_str(), w.as_str()))
            .collect();
        let sleep = format!("{} (sleep)", sleeper.0.id());
        assert_eq!(in_use, [("crashtest-used", sleep.as_str())]);
        assert!(used.exists());

        drop(sleeper);
        drop(live);
        assert!(!live_path.exists(), "a run's folder goes when its run ends");
        assert_eq!(sweep(p).removed, ["crashtest-used"]);
        assert!(sweep(p).removed.is_empty());
    }
}
