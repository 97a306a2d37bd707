//! The check before the first trial: can the scenario's target run here at all? And,
//! when a target fails during a trial, is the machine to blame?
//!
//! Why: a setup mistake fails every trial the same way, and each failure used to be a
//! finding. A writer path with a typo made every trial a `target-error`, each saved as a
//! regression; a missing replay was classed `replay-failed` (a WAL-bug class) and shrunk;
//! a full disk under `--work-dir` made the correct `crc` WAL fail trial after trial. Such a
//! mistake is one error that says what to fix: exit 2 when the scenario's target is wrong
//! ([`SetupError`]), exit 3 when the machine is ([`EnvironmentError`]); see
//! [`crate::cli::exit`].
//!
//! [`check`] runs before any trial, in a folder of its own inside the run folder, removed
//! afterwards:
//! 1. both programs are resolved the way exec resolves them (against the scenario's folder,
//!    or on `PATH`): one that is missing, or not executable, is named by its scenario key
//!    and path;
//! 2. the run folder's file system must have room left (more than [`FULL_BELOW`] bytes);
//! 3. the writer runs traced, exactly as in a trial, given no records (stdin closed at
//!    once): protocol v1 wants it to print nothing and exit 0. A machine that refuses
//!    ptrace or seccomp shows here;
//! 4. the replay runs on the folder that writer left: it must print no record and exit 0.
//!
//! A writer or replay that runs past the timeout is let through: a hang is a verdict the
//! trials give (`hang`, `replay-hang`), and may be the target's real bug.
//!
//! During trials, [`blame_machine`] and [`machine_failed_start`] keep the same line: a
//! target that failed on a full file system, or could not be started for want of
//! descriptors, processes or memory, stops the run with an error rather than a finding.
//! Both are conservative: they blame the machine only on evidence of the machine (the
//! file system's own free counts, an errno that only the machine gives), never on what
//! a target printed.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use globset::GlobSet;
use nix::errno::Errno;

use crate::errors::{EnvironmentError, SetupError, TargetSaid, TraceError, TrialError};
use crate::process::{self, Finished, Limits};
use crate::scenario::Scenario;
use crate::target::{Role, TargetKind};
use crate::tracer::WriterEnd;
use crate::trial::{self, TrialEnv};

/// Below this many free bytes a file system counts as full. A writer that ran into ENOSPC
/// leaves less than a page; no file system a run could use has this little.
pub const FULL_BELOW: u64 = 64 * 1024;

/// Runs the scenario's target once, on no records, in a fresh folder of the run folder
/// `work` (see the module docs). `exe` serves the built-in targets.
pub fn check(scenario: &Scenario, exe: &Path, work: &Path) -> Result<(), TrialError> {
    let env = TrialEnv {
        scenario: scenario.clone(),
        exe: exe.to_owned(),
        work: work.to_owned(),
        // Sizes are recorded at acks, and a writer given no records makes none.
        files: GlobSet::empty(),
        keep: None,
    };
    let writer = resolve(&env, Role::Write)?;
    let replay = resolve(&env, Role::Replay)?;
    let dir = work.join("preflight");
    if let Some(full) = full(&env, work) {
        return Err(full.into());
    }
    std::fs::create_dir(&dir).map_err(|source| {
        if source.raw_os_error() == Some(libc::ENOSPC) {
            full(&env, work).map_or_else(
                || exhausted("create the preflight folder", work, source),
                TrialError::from,
            )
        } else {
            TrialError::Io {
                what: "create the preflight folder",
                path: dir.clone(),
                source,
            }
        }
    })?;
    let result = run_both(&env, &dir, &writer, &replay);
    let cleanup = std::fs::remove_dir_all(&dir).map_err(|source| TrialError::Io {
        what: "remove the preflight folder",
        path: dir.clone(),
        source,
    });
    result?;
    cleanup
}

/// A program of the target: the scenario key that names it and its resolved path.
struct Program {
    key: &'static str,
    path: PathBuf,
}

/// Resolves `role`'s program as exec will (relative to the scenario's folder when it holds
/// a `/`, else the first executable file of that name on `PATH`), refusing one that does
/// not exist or is not executable.
fn resolve(env: &TrialEnv, role: Role) -> Result<Program, TrialError> {
    let sc = &env.scenario;
    let (key, program) = match (&sc.target.kind, role) {
        (TargetKind::Builtin(_), _) => ("target.builtin", env.exe.as_os_str()),
        (TargetKind::Command { writer, .. }, Role::Write) => {
            ("target.writer", OsStr::new(writer[0].as_str()))
        }
        (TargetKind::Command { replay, .. }, Role::Replay) => {
            ("target.replay", OsStr::new(replay[0].as_str()))
        }
    };
    let scenario = sc.path.clone();
    if program.as_encoded_bytes().contains(&b'/') {
        // Components drop the `.` of `./writer`, so the path reads as the file's.
        let path: PathBuf = sc.target.cwd.join(program).components().collect();
        return match executable(&path) {
            Ok(()) => Ok(Program { key, path }),
            Err(None) => Err(SetupError::NoSuchFile {
                key,
                scenario,
                path,
            }
            .into()),
            Err(Some(what)) => Err(SetupError::NotExecutable {
                key,
                scenario,
                path,
                what,
            }
            .into()),
        };
    }
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    let mut refused = None;
    for dir in std::env::split_paths(&dirs) {
        let path = dir.join(program);
        match executable(&path) {
            Ok(()) => return Ok(Program { key, path }),
            Err(Some(what)) => {
                refused.get_or_insert((path, what));
            }
            Err(None) => {}
        }
    }
    Err(match refused {
        Some((path, what)) => SetupError::NotExecutable {
            key,
            scenario,
            path,
            what,
        },
        None => SetupError::NotOnPath {
            key,
            scenario,
            program: program.to_string_lossy().into_owned(),
        },
    }
    .into())
}

/// `Ok` for a file this process may execute; `Err(None)` when nothing is there,
/// `Err(Some(what))` when something is, but not an executable file.
fn executable(path: &Path) -> Result<(), Option<&'static str>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Err(None);
        }
        // Something is there but cannot be looked at (a folder on the way without search
        // permission): exec would fail the same way.
        Err(_) => {
            return Err(Some(
                "it cannot be reached: a folder on the way refuses access",
            ));
        }
    };
    if meta.is_dir() {
        return Err(Some("it is a folder"));
    }
    if !meta.is_file() {
        return Err(Some("it is not a regular file"));
    }
    // access(2) asks with this process's real ids, as exec will check: root needs one
    // execute bit, anyone else the bit that applies to them.
    match nix::unistd::access(path, nix::unistd::AccessFlags::X_OK) {
        Ok(()) => Ok(()),
        Err(_) => Err(Some(
            "no execute permission: chmod +x it, or put its interpreter first in the argv",
        )),
    }
}

/// The writer on no records, then the replay on what it left.
fn run_both(
    env: &TrialEnv,
    dir: &Path,
    writer: &Program,
    replay: &Program,
) -> Result<(), TrialError> {
    let sc = &env.scenario;
    let protocol = |program: &Program, what: String, wanted, stderr: &process::Captured| {
        let tail = stderr.tail(400).trim().to_owned();
        TrialError::from(SetupError::Protocol {
            key: program.key,
            scenario: sc.path.clone(),
            path: program.path.clone(),
            what,
            wanted,
            said: (!tail.is_empty()).then_some(TargetSaid { tail }),
        })
    };
    let mut cmd = trial::target_command(env, dir, Role::Write, 0, 0);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = trial::run_traced(
        env,
        dir,
        vec![cmd],
        vec![Box::new(io::empty())],
        None,
        false,
    )?;
    let run = match run {
        Ok(run) => run,
        Err(TraceError::Spawn { source, .. }) => {
            return Err(SetupError::Unstartable {
                key: writer.key,
                scenario: sc.path.clone(),
                path: writer.path.clone(),
                source,
            }
            .into());
        }
        Err(other) => return Err(other.into()),
    };
    let (stdout, stderr) = (&run.stdouts[0], &run.stderrs[0]);
    let ended = match &run.trace.ends[0] {
        WriterEnd::Exited { code: 0 } | WriterEnd::TimedOut | WriterEnd::Killed { .. } => None,
        WriterEnd::Exited { code } => Some(format!("exited with status {code}")),
        WriterEnd::Signaled { signal } => Some(format!("died of {signal}")),
        WriterEnd::Interrupted => return Err(TrialError::Interrupted),
    };
    if let Some(ended) = ended {
        return Err(protocol(
            writer,
            format!("{ended} on no records (stdin closed at once)"),
            "exit 0 at the end of its input",
            stderr,
        ));
    }
    if !stdout.is_empty() {
        return Err(protocol(
            writer,
            format!(
                "printed {} on no records (stdin closed at once)",
                first_line(stdout)
            ),
            "an ack only for a record it was sent",
            stderr,
        ));
    }

    let mut cmd = trial::target_command(env, dir, Role::Replay, 0, 0);
    let done: Finished = match process::run(&mut cmd, b"", sc.timeout, sc.limits) {
        Ok(done) => done,
        Err(e) => {
            if let Some(machine) =
                machine_failed_start(env, "run the replay", cmd.get_program(), dir, &e, false)
            {
                return Err(machine.into());
            }
            return Err(SetupError::Unstartable {
                key: replay.key,
                scenario: sc.path.clone(),
                path: replay.path.clone(),
                source: e,
            }
            .into());
        }
    };
    if process::interrupted() {
        return Err(TrialError::Interrupted);
    }
    match done.status {
        // A hang is the trials' verdict to give.
        None => {}
        Some(status) if !status.success() => {
            blame_machine(env, dir)?;
            let ended = match (
                status.code(),
                std::os::unix::process::ExitStatusExt::signal(&status),
            ) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(signal)) => format!("died of signal {signal}"),
                (None, None) => format!("ended with {status}"),
            };
            return Err(protocol(
                replay,
                format!("{ended} on an empty log (the folder a writer given no records left)"),
                "exit 0 and no record",
                &done.stderr,
            ));
        }
        Some(_) => {}
    }
    if !done.stdout.is_empty() {
        return Err(protocol(
            replay,
            format!(
                "printed {} for an empty log (the folder a writer given no records left)",
                first_line(&done.stdout)
            ),
            "no record for it",
            &done.stderr,
        ));
    }
    Ok(())
}

/// The first line of `out`, quoted and cut short, for a message.
fn first_line(out: &process::Captured) -> String {
    let mut line = String::new();
    let _ = io::BufRead::read_line(&mut out.reader(), &mut line);
    let line = line.trim_end_matches('\n');
    let cut: String = line.chars().take(60).collect();
    if cut.len() < line.len() {
        format!("{cut:?}...")
    } else {
        format!("{cut:?}")
    }
}

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
fn full(env: &TrialEnv, dir: &Path) -> Option<EnvironmentError> {
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

fn exhausted(what: &'static str, path: &Path, source: io::Error) -> TrialError {
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
fn limit_above_hard(limits: &Limits) -> Option<(&'static str, u64, u64)> {
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
    use super::*;

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

    #[test]
    fn a_missing_a_plain_and_a_folder_program_are_told_apart() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let script = dir.path().join("script");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(executable(&dir.path().join("nothing")), Err(None));
        assert_eq!(executable(&plain.join("below-a-file")), Err(None));
        assert!(
            executable(&plain)
                .unwrap_err()
                .unwrap()
                .contains("chmod +x")
        );
        assert_eq!(executable(dir.path()), Err(Some("it is a folder")));
        assert_eq!(executable(&script), Ok(()));
    }
}
