//! Whether a target's failure is the machine's, not the target's: a target that failed on
//! a full file system, or could not be started for want of descriptors, processes or
//! memory, stops the run with an error (exit 3) rather than a finding. Conservative: the
//! machine is blamed only on evidence of the machine (the file system's own free counts,
//! an errno that only the machine gives), never on what a target printed. The check
//! before the first trial ([`crate::run::preflight`]) uses the same tests.

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::errors::{EnvironmentError, TrialError};
use crate::process::Limits;
use crate::trial::env::TrialEnv;

/// Below this many free bytes a file system counts as full. A writer that ran into ENOSPC
/// leaves less than a page; no file system a run could use has this little.
pub const FULL_BELOW: u64 = 64 * 1024;

/// After a target failed in `dir` (a folder of the run): an error when the file system
/// there is full, or was found full a moment ago ([`FULL_SEEN`]), so that the failure is
/// not judged as the target's. The work folder named is the run folder's parent, the one
/// the user chose.
pub(crate) fn blame_machine(env: &TrialEnv, dir: &Path) -> Result<(), EnvironmentError> {
    let Some(room) = Room::of(dir) else {
        return Ok(());
    };
    let seen = FULL_SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let full = if room.full() {
        Some(room)
    } else {
        seen.filter(|(r, at)| r.fsid == room.fsid && at.elapsed() < FULL_MEMORY)
            .map(|(r, _)| r)
    };
    drop(seen);
    match full {
        Some(room) => {
            room.remember();
            Err(room.error(env))
        }
        None => Ok(()),
    }
}

/// [`EnvironmentError::Full`] when the file system of `dir` is full now.
pub(crate) fn full(env: &TrialEnv, dir: &Path) -> Option<EnvironmentError> {
    Room::of(dir).filter(Room::full).map(|room| room.error(env))
}

/// The file system last found full in a trial, and when. Trials share the work folder's
/// file system: when two targets run out of room at once, the trial that fails first
/// stops the run and removes its folder, and the room that frees can make the other
/// trial's file system look fine by the time it looks, so that its failure, from the
/// same lack of room, would read as a finding.
static FULL_SEEN: Mutex<Option<(Room, Instant)>> = Mutex::new(None);

/// How long a file system found full stays to blame.
const FULL_MEMORY: Duration = Duration::from_secs(60);

/// The room left on a file system for this user.
#[derive(Clone, Copy, Debug)]
struct Room {
    fsid: u64,
    /// Bytes this user may write.
    available: u64,
    /// Inodes left; `None` for a file system that does not count them (tmpfs with
    /// nr_inodes=0), which never runs out.
    inodes: Option<u64>,
}

impl Room {
    /// The room on the file system of `path`; `None` when it cannot be asked, and so is
    /// never called full.
    fn of(path: &Path) -> Option<Room> {
        let st = nix::sys::statvfs::statvfs(path).ok()?;
        // Root may write into the blocks reserved for it; anyone else may not.
        // SAFETY: geteuid takes nothing and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let (blocks, inodes) = if root {
            (st.blocks_free(), st.files_free())
        } else {
            (st.blocks_available(), st.files_available())
        };
        Some(Room {
            fsid: st.filesystem_id() as u64,
            available: blocks.saturating_mul(st.fragment_size() as u64),
            inodes: (st.files() > 0).then_some(inodes),
        })
    }

    /// Fewer than [`FULL_BELOW`] bytes, or no inode, left.
    fn full(&self) -> bool {
        self.available < FULL_BELOW || self.inodes == Some(0)
    }

    fn remember(self) {
        *FULL_SEEN.lock().unwrap_or_else(|e| e.into_inner()) = Some((self, Instant::now()));
    }

    fn error(&self, env: &TrialEnv) -> EnvironmentError {
        EnvironmentError::Full {
            path: env.work.parent().unwrap_or(&env.work).to_owned(),
            available: self.available,
            inodes: self.inodes,
        }
    }
}

pub(crate) fn exhausted(what: &'static str, path: &Path, source: io::Error) -> TrialError {
    TrialError::Environment(EnvironmentError::Exhausted {
        what,
        path: path.to_owned(),
        source,
    })
}

/// When starting or running a target failed with `err`: the machine's error, if the errno
/// is one only the machine gives (no descriptors, processes, memory or space; a resource
/// limit of the scenario it may not raise; with `traced`, ptrace or seccomp refused);
/// `None` when it may be the target's (no such file, permission denied, exec format
/// error), which trials report as a verdict.
pub(crate) fn machine_failed_start(
    env: &TrialEnv,
    what: &'static str,
    program: &OsStr,
    dir: &Path,
    err: &io::Error,
    traced: bool,
) -> Option<EnvironmentError> {
    let errno = Errno::from_raw(err.raw_os_error()?);
    let source = io::Error::from_raw_os_error(errno as i32);
    match errno {
        Errno::EMFILE
        | Errno::ENFILE
        | Errno::EAGAIN
        | Errno::ENOMEM
        | Errno::ENOSPC
        | Errno::EDQUOT => Some(EnvironmentError::Exhausted {
            what,
            path: dir.to_owned(),
            source,
        }),
        // Between fork and exec only setrlimit and, traced, PTRACE_TRACEME and seccomp
        // fail this way (a failed exec reports through exit status 127 or ENOENT/EACCES).
        Errno::EPERM => match limit_above_hard(&env.scenario.limits) {
            Some((name, wanted, hard)) => Some(EnvironmentError::LimitRefused {
                program: program.to_owned(),
                name,
                wanted,
                hard,
                source,
            }),
            None if traced => Some(EnvironmentError::TraceRefused {
                program: program.to_owned(),
                source,
            }),
            None => None,
        },
        Errno::ENOSYS | Errno::EINVAL if traced => Some(EnvironmentError::TraceRefused {
            program: program.to_owned(),
            source,
        }),
        _ => None,
    }
}

/// The first of `limits` above the hard limit this process runs under (which its children
/// inherit): its `[limits]` key, the scenario's value and the hard limit.
pub(crate) fn limit_above_hard(limits: &Limits) -> Option<(&'static str, u64, u64)> {
    let wanted = [
        ("address-space", libc::RLIMIT_AS, limits.address_space),
        ("file-size", libc::RLIMIT_FSIZE, limits.file_size),
        ("cpu", libc::RLIMIT_CPU, limits.cpu_seconds),
        ("open-files", libc::RLIMIT_NOFILE, limits.open_files),
        ("processes", libc::RLIMIT_NPROC, limits.processes),
    ];
    wanted.into_iter().find_map(|(name, resource, value)| {
        let value = value?;
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid resource and a pointer to a live rlimit.
        if unsafe { libc::getrlimit(resource, &mut lim) } != 0 {
            return None;
        }
        let hard = lim.rlim_max;
        (lim.rlim_max != libc::RLIM_INFINITY && value > hard).then_some((name, value, hard))
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use globset::GlobSet;

    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn only_the_machines_errnos_blame_the_machine() {
        let sc = Scenario::parse("[target]\nbuiltin = \"crc\"\n", Path::new("t.toml")).unwrap();
        let env = TrialEnv {
            scenario: Scenario {
                limits: Limits::NONE,
                ..sc
            },
            exe: PathBuf::from("/bin/crashtest"),
            work: PathBuf::from("/run"),
            files: GlobSet::empty(),
            keep: None,
        };
        let dir = Path::new("/run/t0");
        let p = OsStr::new("w");
        let blame = |errno: i32, traced| {
            let err = io::Error::from_raw_os_error(errno);
            machine_failed_start(&env, "start", p, dir, &err, traced)
        };
        assert!(matches!(
            blame(libc::EMFILE, false),
            Some(EnvironmentError::Exhausted { .. })
        ));
        assert!(matches!(
            blame(libc::ENOSPC, true),
            Some(EnvironmentError::Exhausted { .. })
        ));
        assert!(matches!(
            blame(libc::EPERM, true),
            Some(EnvironmentError::TraceRefused { .. })
        ));
        assert!(blame(libc::EPERM, false).is_none());
        assert!(blame(libc::ENOENT, true).is_none());
        assert!(blame(libc::EACCES, true).is_none());
        assert!(blame(libc::ENOEXEC, false).is_none());
        let other = io::Error::other("execve failed (not an executable?)");
        assert!(machine_failed_start(&env, "start", p, dir, &other, true).is_none());
        // A limit above every hard limit: EPERM is the limit's, not ptrace's.
        let mut env = env;
        env.scenario.limits.open_files = Some(u64::MAX - 1);
        assert!(matches!(
            machine_failed_start(
                &env,
                "start",
                p,
                dir,
                &io::Error::from_raw_os_error(libc::EPERM),
                true
            ),
            Some(EnvironmentError::LimitRefused {
                name: "open-files",
                ..
            })
        ));
    }
}
