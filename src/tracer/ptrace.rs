//! The ptrace loop: start a writer under the seccomp filter, stop at each boundary,
//! SIGKILL at the chosen one.
//!
//! The writer calls `PTRACE_TRACEME` and installs the filter between fork and exec, so it
//! is traced before its first instruction and no `SECCOMP_RET_TRACE` can fire without a
//! tracer (which would fail the syscall with ENOSYS). Its threads and children are traced
//! too (`PTRACE_O_TRACECLONE|FORK|VFORK`), and all die if crashtest dies
//! (`PTRACE_O_EXITKILL`). The loop waits on the writer's process group only
//! (`waitpid(-pgid, __WALL)`), so trials running on other threads never see its events.
//!
//! ptrace answers only the thread that forked the tracee: [`Traced`] is neither `Send` nor
//! `Sync`, so the compiler keeps spawn and loop on one thread.

use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use globset::GlobSet;
use nix::errno::Errno;
use nix::sys::ptrace::{self, Event, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::filter;
use super::oplog::{self, Op, OpLog};
use super::proc;
use super::syscalls::{self, Data, Kind};
use crate::errors::{ExecError, TraceError};
use crate::process::{
    self, GroupGuard, Limit, Limits, POLL, interrupted, kill_group, kill_process,
};
use crate::snapshot;
use crate::spill::Spill;

/// What the tracer is asked to do with one run of a writer.
#[derive(Clone, Debug)]
pub struct TraceOptions<'a> {
    /// The trial folder, canonical. Only syscalls that touch something inside it are
    /// boundaries; the rest (a runtime's caches, a pipe) are let through uncounted.
    pub dir: &'a Path,
    /// Files (relative to `dir`) whose sizes are recorded at each ack.
    pub files: &'a GlobSet,
    /// SIGKILL at this boundary, before the syscall runs.
    pub kill_at: Option<u64>,
    /// Whom the kill takes: every writer, or only the one that reached the boundary.
    pub kill_scope: KillScope,
    /// Tear the write at the kill boundary: let only its first `tear` bytes happen, let
    /// the call return, then kill. Ignored when the kill boundary is not a write.
    pub tear: Option<u64>,
    /// The granularity of a tear: the bytes let through end on a `sector` boundary of the
    /// file (or are none). A writer that does not make the same calls every run (a
    /// background thread) may meet the kill boundary at another write than the one the
    /// tear was drawn for: the cut is moved back to a boundary of the write it meets.
    pub sector: u64,
    /// Record every file-changing call that ran, with its data ([`Trace::ops`]).
    pub record_ops: bool,
    /// Answer the writer's syncs of files in `dir` with success without flushing anything
    /// (the call becomes `sched_yield`): for a run read only for its write log, which a
    /// flush does not change. Still boundaries, still in the log. On x86_64 only;
    /// elsewhere the syncs run.
    pub skip_syncs: bool,
    /// Kill the writer if it has not ended by then.
    pub timeout: Duration,
}

/// Whom a kill at a boundary takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KillScope {
    /// Every writer at once: the machine died.
    #[default]
    All,
    /// Only the writer that reached the boundary; the others run to their end: one
    /// process died.
    One,
}

/// One stop before a file-changing syscall, inside the trial folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boundary {
    /// Its index among the run's boundaries, from 0.
    pub index: u64,
    /// The writer (0 .. writers-1) whose thread or process made the call.
    pub writer: u32,
    /// The syscall's name.
    pub syscall: String,
    /// The call in words, e.g. `write(wal.log, off=4096, len=108)`.
    pub description: String,
    /// For a write: where it lands and how many bytes it asks to write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<WriteAt>,
}

/// Where a write lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteAt {
    /// The file offset.
    pub offset: u64,
    /// The bytes asked for.
    pub len: u64,
}

/// The state of the trial's files when the writer wrote to its stdout (an ack).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckMark {
    /// Bytes written to stdout up to and including this write.
    pub stream_end: u64,
    /// Boundaries the run had reached when the writer made this write: a kill at
    /// boundary k comes after every ack with `after <= k`.
    #[serde(default)]
    pub after: u64,
    /// For each file matching `files` at that moment: how far into it data can lie. That
    /// is its size, or less when every byte of it came through traced writes that ended
    /// earlier (a preallocated segment). Data written through `mmap` is not seen: a file
    /// written both ways can look shorter than its data.
    pub sizes: BTreeMap<String, u64>,
}

/// How the traced writer ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum WriterEnd {
    /// It exited by itself.
    Exited {
        /// Its exit code.
        code: i32,
    },
    /// A signal the tracer did not send killed it.
    Signaled {
        /// The signal.
        signal: String,
    },
    /// The tracer SIGKILLed it at a boundary.
    Killed {
        /// The boundary.
        boundary: u64,
    },
    /// It ran past its timeout and was killed.
    TimedOut {
        /// Its last boundary, in words (`fsync(wal.log)`); `None` when it made none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_boundary: Option<String>,
        /// The system calls its threads were in at the timeout, each named once (`running`
        /// for a thread in none), read from `/proc` just before the kill; empty when they
        /// could not be read.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        in_calls: Vec<String>,
    },
    /// crashtest was interrupted (SIGINT/SIGTERM) and killed it.
    Interrupted,
}

const NOT_STOPPED: u8 = 0;
const STOPPED_BY_TIMEOUT: u8 = 1;
const STOPPED_BY_INTERRUPT: u8 = 2;

/// Everything one traced run of a writer showed.
///
/// Boundaries and ack marks come one per record or more, so they are kept in [`Spill`]s:
/// in memory while few, on disk past a few hundred KiB, read back in order with
/// [`Spill::iter`] (the last one, the kill, with [`Spill::last`] at no cost).
#[derive(Clone, Debug)]
pub struct Trace {
    /// Every boundary reached, in order (the last one is the kill, if there was one).
    pub boundaries: Spill<Boundary>,
    /// Per writer: one mark per write into its stdout, in order.
    pub acks: Vec<Spill<AckMark>>,
    /// Per writer: how it ended.
    pub ends: Vec<WriterEnd>,
    /// Every file-changing call that ran, in order, with its data (when asked for).
    pub ops: Vec<Op>,
    /// Per boundary: how many of [`Trace::ops`] ran before it (when asked for). Boundary
    /// k's own ops are `ops[op_marks[k]..op_marks[k + 1]]` (the last one's run to the end).
    pub op_marks: Vec<usize>,
    /// Bytes of the kill boundary's write that were let through (a torn write).
    pub torn: Option<u64>,
    /// Ranges of [`Trace::ops`] whose calls may not have run: other threads' calls let go
    /// just before the kill, whose return the tracer never saw.
    pub unsure: Vec<std::ops::Range<usize>>,
    /// How many threads and processes were traced, all writers together.
    pub tracees: usize,
    /// Every program a traced process started (`execve`), in order.
    pub execs: Vec<Execed>,
}

/// One `execve` a traced process made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execed {
    /// The writer whose tree made it.
    pub writer: usize,
    /// Whether the writer's own process made it (a wrapper that execs down to the real
    /// program does), rather than a child it started.
    pub by_writer: bool,
    /// The program now running, as `/proc/PID/exe` names it.
    pub program: PathBuf,
}

/// Writers started under the tracer, each stopped before its first instruction. They
/// share one process group (the first writer's), so one `waitpid(-pgid)` sees them all and
/// one `killpg` takes them all.
pub struct Traced {
    children: Vec<Child>,
    pgid: Pid,
    guard: GroupGuard,
    /// ptrace is per-thread: keep this on the thread that forked the writers.
    _same_thread: PhantomData<*const ()>,
}

impl Traced {
    /// Starts every command of `cmds` traced, in one new process group, dying with the
    /// harness. Set up their stdio, cwd and environment before calling this.
    ///
    /// Each child execs by itself at the end of `pre_exec`: std's own exec path reports a
    /// failure by writing to a pipe, a write the filter would stop with nobody yet waiting
    /// for it. Here a failed exec exits with its errno as the status, which the first wait
    /// tells apart from the stop after a successful exec.
    pub fn spawn(cmds: &mut [Command]) -> Result<Traced, TraceError> {
        Traced::spawn_limited(cmds, Limits::NONE)
    }

    /// [`Traced::spawn`], each process within `limits`.
    pub fn spawn_limited(cmds: &mut [Command], limits: Limits) -> Result<Traced, TraceError> {
        let filter = filter::program()?;
        let mut started: Option<Traced> = None;
        for cmd in cmds.iter_mut() {
            // Thousands of writers take seconds to start: a Ctrl-C ends the start (dropping
            // `started` kills the writers already started).
            if process::interrupted() {
                return Err(TraceError::Interrupted);
            }
            let exec = process::PreparedExec::prepare(cmd).map_err(|source| TraceError::Spawn {
                program: cmd.get_program().to_owned(),
                source,
            })?;
            let path = exec.resolved.clone();
            cmd.process_group(started.as_ref().map_or(0, |t| t.pgid.as_raw()));
            // SAFETY: the closure runs in the forked child and makes only raw syscalls
            // (prctl, ptrace, seccomp, execve, write, _exit) on memory prepared before the
            // fork: no allocation, no locks.
            unsafe {
                cmd.pre_exec(move || {
                    let exec = &exec; // capture the whole struct, not its raw-pointer fields
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                    limits.apply()?;
                    if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    filter::install(filter)?;
                    libc::execve(
                        exec.path.as_ptr(),
                        exec.argv_ptrs.as_ptr(),
                        exec.envp_ptrs.as_ptr(),
                    );
                    // Reading errno allocates nothing; it is 1..=133, a valid status.
                    let errno = std::io::Error::last_os_error().raw_os_error();
                    libc::_exit(errno.unwrap_or(libc::EINVAL));
                });
            }
            let program = cmd.get_program().to_owned();
            let spawn_error = |source| TraceError::Spawn {
                program: program.clone(),
                source,
            };
            // On any error below, dropping `started` kills the writers already started.
            let child = process::spawn_registered(cmd).map_err(spawn_error)?;
            let pid = Pid::from_raw(child.id() as i32);
            let traced = started.get_or_insert_with(|| Traced {
                children: Vec::new(),
                pgid: pid,
                guard: GroupGuard::new(pid),
                _same_thread: PhantomData,
            });
            traced.children.push(child);
            // After a successful execve a PTRACE_TRACEME child stops with SIGTRAP. Before
            // it, the child can only exit with a failed execve's errno, or die while the
            // kernel loads the program.
            let failed = match waitpid(pid, Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Stopped(_, Signal::SIGTRAP)) => None,
                Ok(WaitStatus::Exited(_, errno)) => Some(exec_failed(path, errno, &limits)),
                Ok(WaitStatus::Signaled(_, signal, _)) => Some(died_loading(signal, &limits)),
                Ok(WaitStatus::Stopped(_, signal)) => {
                    // The signal that ends a failed load, reported to its tracer first.
                    kill_process(pid);
                    let flags = Some(WaitPidFlag::__WALL);
                    while let Ok(WaitStatus::Stopped(..)) | Err(Errno::EINTR) = waitpid(pid, flags)
                    {
                    }
                    Some(died_loading(signal, &limits))
                }
                other => {
                    return Err(TraceError::Internal {
                        what: format!("writer {pid} did not stop at exec: {other:?}"),
                    });
                }
            };
            if let Some(why) = failed {
                process::reaped(pid.as_raw() as u32);
                return Err(spawn_error(why));
            }
            let options = Options::PTRACE_O_EXITKILL
                | Options::PTRACE_O_TRACESYSGOOD
                | Options::PTRACE_O_TRACESECCOMP
                | Options::PTRACE_O_TRACECLONE
                | Options::PTRACE_O_TRACEFORK
                | Options::PTRACE_O_TRACEVFORK
                | Options::PTRACE_O_TRACEEXEC;
            ptrace::setoptions(pid, options)
                .map_err(|e| TraceError::ptrace("set options on", pid, e))?;
        }
        started.ok_or_else(|| TraceError::Internal {
            what: "no writer to start".into(),
        })
    }

    /// The writers' process handles, in order, to take their stdio pipes.
    pub fn children_mut(&mut self) -> &mut [Child] {
        &mut self.children
    }

    /// The writers' process group.
    pub fn pgid(&self) -> Pid {
        self.pgid
    }

    /// Runs the writer to its end (or to the kill), reaping every thread and process.
    pub fn run(mut self, opts: &TraceOptions<'_>) -> Result<Trace, TraceError> {
        let (done, wake) = mpsc::channel::<()>();
        let stopped = AtomicU8::new(NOT_STOPPED);
        let pgid = self.pgid;
        let deadline = Instant::now() + opts.timeout;
        let stopped = &stopped;
        let leaders: Vec<Pid> = self
            .children
            .iter()
            .map(|c| Pid::from_raw(c.id() as i32))
            .collect();
        // Per writer, the calls its threads were in at the timeout.
        let calls_at_timeout = std::sync::Mutex::new(vec![Vec::new(); leaders.len()]);
        let in_calls = &calls_at_timeout;
        let watched = &leaders;
        let result = std::thread::scope(|scope| {
            // The watchdog: kills the group at the deadline or on an interrupt.
            scope.spawn(move || {
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match wake.recv_timeout(left.min(POLL)) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    let why = if interrupted() {
                        STOPPED_BY_INTERRUPT
                    } else if Instant::now() >= deadline {
                        // What each writer was doing, read while it still is.
                        let calls = watched.iter().map(|&l| proc::calls_in(l)).collect();
                        *in_calls.lock().unwrap_or_else(|e| e.into_inner()) = calls;
                        STOPPED_BY_TIMEOUT
                    } else {
                        continue;
                    };
                    stopped.store(why, Ordering::SeqCst);
                    kill_group(pgid);
                    return;
                }
            });
            let result = Loop::new(leaders.clone(), opts).run();
            drop(done);
            result
        });
        // Every tracee is reaped (or the loop failed and the guard kills the group).
        for child in &self.children {
            process::reaped(child.id());
        }
        if result.is_ok() {
            self.guard.disarm();
        }
        // Anything the writers left behind outside their group ends now.
        process::kill_orphans();
        let mut trace = result?;
        let stopped = stopped.load(Ordering::SeqCst);
        if stopped == NOT_STOPPED {
            return Ok(trace);
        }
        let mut in_calls = calls_at_timeout
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        let several = trace.ends.len() > 1;
        for (w, end) in trace.ends.iter_mut().enumerate() {
            // Writers that had finished by themselves keep their end.
            if matches!(end, WriterEnd::Exited { .. }) {
                continue;
            }
            *end = if stopped == STOPPED_BY_INTERRUPT {
                WriterEnd::Interrupted
            } else {
                let last_boundary = if several {
                    trace
                        .boundaries
                        .iter()
                        .filter(|b| b.writer as usize == w)
                        .last()
                } else {
                    trace.boundaries.last().cloned()
                };
                WriterEnd::TimedOut {
                    last_boundary: last_boundary.map(|b| b.description),
                    in_calls: in_calls.get_mut(w).map(std::mem::take).unwrap_or_default(),
                }
            };
        }
        Ok(trace)
    }
}

/// Why exec of the program at `path` failed with `errno`, in the target's words where the
/// errno can be explained: permission denied for a file that passed the check before the
/// fork, a missing interpreter, no room within `[limits] address-space`. Any other errno is
/// passed on as it is, for the caller to judge (a machine out of memory, for one).
fn exec_failed(path: PathBuf, errno: i32, limits: &Limits) -> std::io::Error {
    use std::io::{Error, ErrorKind};
    let source = Error::from_raw_os_error(errno);
    match errno {
        libc::EACCES => Error::new(
            ErrorKind::PermissionDenied,
            ExecError::NotExecutable {
                path,
                what: "exec refused it: a file system mounted noexec, or an interpreter it names that may not be run",
            },
        ),
        libc::ENOENT => Error::new(ErrorKind::NotFound, ExecError::NoInterpreter { path }),
        libc::ENOMEM => match limits.setting(Limit::AddressSpace) {
            Some(setting) => Error::other(ExecError::NoRoom { setting, source }),
            None => source,
        },
        _ => source,
    }
}

/// A program that died of `signal` before its first instruction: the kernel failed to
/// map it, which under `[limits] address-space` is the limit's doing.
fn died_loading(signal: Signal, limits: &Limits) -> std::io::Error {
    let why = match limits.setting(Limit::AddressSpace) {
        Some(setting) => format!(": the kernel could not map it within [limits] {setting}"),
        None => " (the kernel could not map it: out of memory?)".to_owned(),
    };
    std::io::Error::other(ExecError::DiedLoading {
        signal: signal.as_str().to_owned(),
        why,
    })
}

/// What the loop knows of one traced thread or process.
#[derive(Clone, Copy, Debug)]
struct Tracee {
    /// The writer it belongs to.
    writer: usize,
    /// Whether its initial SIGSTOP has been seen (and swallowed).
    started: bool,
}

/// An open file as a stop names it: its path, and that path relative to the trial folder
/// (`None` outside it), worked out once per file.
#[derive(Debug)]
struct Named {
    path: PathBuf,
    rel: Option<String>,
}

struct Loop<'a> {
    leaders: Vec<Pid>,
    opts: &'a TraceOptions<'a>,
    tracees: BTreeMap<Pid, Tracee>,
    seen: usize,
    boundaries: Spill<Boundary>,
    /// Per writer: its ack marks and the bytes written into its stdout so far.
    acks: Vec<Spill<AckMark>>,
    /// The first failure to keep a boundary or a mark (the disk of the temp folder).
    spill_error: Option<std::io::Error>,
    stdout_bytes: Vec<u64>,
    /// Per writer: what its fd 1 was at the start (`pipe:[N]`); writes into it are acks.
    ack_channels: Vec<Option<PathBuf>>,
    /// The files matching `files` (with their sizes then), listed at the first ack after
    /// the last call that could have changed the set; `None`: list again.
    listed: Option<BTreeMap<String, u64>>,
    /// Per file (relative to the trial folder), the end of the furthest byte written by a
    /// traced write: where an acked record's bytes can lie at most. Smaller than the
    /// size for a file that was preallocated or extended by ftruncate.
    extents: BTreeMap<String, u64>,
    /// The path of each open file seen at a stop, by its mount and inode (from fdinfo): a
    /// stop then reads one fdinfo file rather than resolve the fd's path too. Emptied at
    /// every call that may change a name (create, rename, unlink, ...).
    names: HashMap<(u64, u64), Rc<Named>>,
    /// The tracees' fdinfo folders, and the fdinfo files of the fds last seen, held open.
    fdinfo: proc::FdInfoFiles,
    /// The files appended to, held open for their sizes.
    sizes: proc::SizeFiles,
    /// The boundary killed at, and the writers the kill took.
    killed: Option<(u64, Vec<usize>)>,
    execs: Vec<Execed>,
    ends: Vec<Option<WriterEnd>>,
    /// The write log, and the ops of the stop being decided.
    log: OpLog,
    stop_ops: Vec<Op>,
    stop_write: Option<WriteAt>,
    /// What the stop being decided must wait for the call's return to know.
    stop_wait: Option<Wait>,
    /// The calls let run whose return the tracer waits for, by thread.
    in_flight: HashMap<Pid, InFlight>,
    /// Per thread, the log slots of the last call it was let run with ops: until its next
    /// stop, that call may still be under way.
    last_slots: HashMap<Pid, std::ops::Range<usize>>,
    /// A torn write in flight: the thread, its writer, the bytes let through.
    tearing: Option<(Pid, usize, u64)>,
    torn: Option<u64>,
}

/// What the write log learns only when a call returns.
#[derive(Clone, Debug)]
enum Wait {
    /// A write to an `O_APPEND` file while other threads or processes run: any of them may
    /// append first, so where it landed is known only at its return (the file position
    /// then, less the count it returns).
    Append { fd: u64 },
    /// A call that may well fail (fallocate: `EOPNOTSUPP` on some file systems, where the
    /// C library writes zeros instead): a failed one changed nothing.
    Fails,
    /// A call that names files (create, mkdir, rename, unlink, truncate): it may fail
    /// (`EEXIST`, `ENOENT`), and then it changed nothing.
    Path {
        name: &'static str,
        from: Option<String>,
        to: Option<String>,
        flags: Option<u64>,
        args: [u64; 6],
    },
}

/// A call let run whose return the tracer waits for: what to learn, and its ops' slots
/// in the log.
#[derive(Clone, Debug)]
struct InFlight {
    wait: Wait,
    slots: std::ops::Range<usize>,
}

enum Decision {
    Continue,
    /// Let the call run and stop it again at its return.
    Wait,
    Kill {
        writer: usize,
    },
    Tear {
        writer: usize,
        keep: u64,
        call: &'static syscalls::Syscall,
        args: [u64; 6],
    },
}

impl<'a> Loop<'a> {
    fn new(leaders: Vec<Pid>, opts: &'a TraceOptions<'a>) -> Self {
        let n = leaders.len();
        Loop {
            tracees: leaders
                .iter()
                .enumerate()
                .map(|(w, &pid)| {
                    (
                        pid,
                        Tracee {
                            writer: w,
                            started: true,
                        },
                    )
                })
                .collect(),
            seen: n,
            opts,
            boundaries: Spill::new(),
            acks: vec![Spill::new(); n],
            spill_error: None,
            stdout_bytes: vec![0; n],
            ack_channels: leaders.iter().map(|&pid| proc::fd_path(pid, 1)).collect(),
            listed: None,
            extents: BTreeMap::new(),
            names: HashMap::new(),
            fdinfo: proc::FdInfoFiles::new(proc::FDINFO_FILES_PER_WRITER * n),
            sizes: proc::SizeFiles::new(proc::SIZE_FILES_PER_WRITER * n),
            killed: None,
            execs: Vec::new(),
            ends: vec![None; n],
            log: OpLog::default(),
            stop_ops: Vec::new(),
            stop_write: None,
            stop_wait: None,
            in_flight: HashMap::new(),
            last_slots: HashMap::new(),
            tearing: None,
            torn: None,
            leaders,
        }
    }

    fn run(mut self) -> Result<Trace, TraceError> {
        for &leader in &self.leaders {
            restart(leader, None)?;
        }
        // This thread's own tracees and children only (__WNOTHREAD): the writers, their
        // threads and children, wherever their process group or session went. Other
        // trials' threads wait for theirs.
        let flags = WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD;
        let mut swept = false;
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(flags)) {
                Ok(status) => status,
                Err(Errno::ECHILD) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(TraceError::ptrace("wait for", self.leaders[0], e)),
            };
            self.on_status(status)?;
            // Every writer has ended: what they left running (a daemon, a background
            // job) dies now rather than outlive its trial.
            if !swept && self.ends.iter().all(Option::is_some) && !self.tracees.is_empty() {
                swept = true;
                for &tid in self.tracees.keys() {
                    kill_process(tid);
                }
            }
        }
        if let Some(source) = self.spill_error {
            return Err(TraceError::Spill { source });
        }
        let mut ends = Vec::with_capacity(self.ends.len());
        for (w, end) in self.ends.into_iter().enumerate() {
            let end = match (&self.killed, end) {
                (Some((boundary, took)), _) if took.contains(&w) => WriterEnd::Killed {
                    boundary: *boundary,
                },
                (_, Some(end)) => end,
                (_, None) => {
                    return Err(TraceError::Internal {
                        what: format!("writer {w}'s group emptied without its exit"),
                    });
                }
            };
            ends.push(end);
        }
        let (ops, op_marks, unsure) = self.log.finish();
        Ok(Trace {
            boundaries: self.boundaries,
            acks: self.acks,
            ends,
            tracees: self.seen,
            ops,
            op_marks,
            torn: self.torn,
            unsure,
            execs: self.execs,
        })
    }

    /// The writer a thread or process belongs to; a tracee whose first stop comes before
    /// its parent's clone event is placed by its parent's or thread group's entry.
    fn writer_of(&self, tid: Pid) -> usize {
        if let Some(t) = self.tracees.get(&tid) {
            return t.writer;
        }
        proc::parents(tid)
            .into_iter()
            .find_map(|p| self.tracees.get(&p).map(|t| t.writer))
            .unwrap_or(0)
    }

    fn on_status(&mut self, status: WaitStatus) -> Result<(), TraceError> {
        match status {
            WaitStatus::Exited(pid, code) => {
                self.tracees.remove(&pid);
                self.in_flight.remove(&pid);
                self.last_slots.remove(&pid);
                self.fdinfo.forget(pid);
                if let Some(w) = self.leaders.iter().position(|&l| l == pid) {
                    self.ends[w] = Some(WriterEnd::Exited { code });
                }
            }
            WaitStatus::Signaled(pid, signal, _) => {
                self.tracees.remove(&pid);
                self.in_flight.remove(&pid);
                self.last_slots.remove(&pid);
                self.fdinfo.forget(pid);
                if let Some(w) = self.leaders.iter().position(|&l| l == pid) {
                    self.ends[w] = Some(WriterEnd::Signaled {
                        signal: signal.as_str().to_owned(),
                    });
                }
            }
            WaitStatus::PtraceEvent(pid, _, event)
                if event == Event::PTRACE_EVENT_SECCOMP as i32 =>
            {
                match self.on_boundary(pid) {
                    Decision::Continue => restart(pid, None)?,
                    Decision::Wait => {
                        if ptrace::syscall(pid, None).is_err() {
                            // Gone (a timeout's kill): nothing to wait for.
                            self.in_flight.remove(&pid);
                        }
                    }
                    Decision::Kill { writer } => self.kill(writer, pid),
                    Decision::Tear {
                        writer,
                        keep,
                        call,
                        args,
                    } => {
                        if set_write_len(pid, call, &args, keep).is_ok()
                            && ptrace::syscall(pid, None).is_ok()
                        {
                            // The shortened write runs; the kill comes at its exit stop.
                            self.tearing = Some((pid, writer, keep));
                        } else {
                            self.kill(writer, pid);
                        }
                    }
                }
            }
            WaitStatus::PtraceSyscall(pid) if self.tearing.is_some_and(|(t, ..)| t == pid) => {
                let (_, writer, keep) = self.tearing.take().expect("checked above");
                self.torn = Some(keep);
                self.kill(writer, pid);
            }
            WaitStatus::PtraceSyscall(pid) if self.in_flight.contains_key(&pid) => {
                let call = self.in_flight.remove(&pid).expect("checked above");
                self.last_slots.remove(&pid);
                self.returned(pid, call);
                restart(pid, None)?;
            }
            WaitStatus::PtraceEvent(pid, _, event) => {
                let new_tracee = [
                    Event::PTRACE_EVENT_CLONE,
                    Event::PTRACE_EVENT_FORK,
                    Event::PTRACE_EVENT_VFORK,
                ]
                .iter()
                .any(|e| *e as i32 == event);
                if event == Event::PTRACE_EVENT_EXEC as i32 {
                    // Rare (once per program started) and cheap: one readlink.
                    if let Ok(program) = std::fs::read_link(format!("/proc/{pid}/exe")) {
                        let writer = self.writer_of(pid);
                        self.execs.push(Execed {
                            writer,
                            by_writer: self.leaders.get(writer) == Some(&pid),
                            program,
                        });
                    }
                }
                if new_tracee && let Ok(new) = ptrace::getevent(pid) {
                    let writer = self.writer_of(pid);
                    let new = Pid::from_raw(new as i32);
                    match self.tracees.entry(new) {
                        std::collections::btree_map::Entry::Vacant(e) => {
                            e.insert(Tracee {
                                writer,
                                started: false,
                            });
                            self.seen += 1;
                        }
                        std::collections::btree_map::Entry::Occupied(mut e) => {
                            e.get_mut().writer = writer
                        }
                    }
                }
                self.resume(pid, None)?;
            }
            WaitStatus::Stopped(pid, signal) => {
                // A new tracee starts with a SIGSTOP that is ours to swallow; it may be
                // reported before or after its parent's clone/fork event.
                let initial = match self.tracees.get(&pid) {
                    None => {
                        self.seen += 1;
                        true
                    }
                    Some(t) => !t.started,
                };
                if signal == Signal::SIGSTOP && initial {
                    let writer = self.writer_of(pid);
                    self.tracees.insert(
                        pid,
                        Tracee {
                            writer,
                            started: true,
                        },
                    );
                    restart(pid, None)?;
                } else {
                    self.resume(pid, Some(signal))?;
                }
            }
            WaitStatus::PtraceSyscall(pid) | WaitStatus::Continued(pid) => {
                self.resume(pid, None)?
            }
            WaitStatus::StillAlive => {}
        }
        Ok(())
    }

    /// SIGKILLs the writers the scope says, after thread `at` stopped at the last
    /// boundary. The calls other threads of theirs were let run since their last stop may
    /// or may not have happened: the log marks them unsure.
    fn kill(&mut self, writer: usize, at: Pid) {
        for (tid, slots) in &self.last_slots {
            let taken = match self.opts.kill_scope {
                KillScope::All => true,
                KillScope::One => self.tracees.get(tid).is_some_and(|t| t.writer == writer),
            };
            if *tid != at && taken {
                self.log.unsure(slots.clone());
            }
        }
        let took = match self.opts.kill_scope {
            KillScope::All => {
                kill_group(self.leaders[0]);
                (0..self.leaders.len()).collect()
            }
            KillScope::One => {
                for (&tid, t) in &self.tracees {
                    if t.writer == writer {
                        kill_process(tid);
                    }
                }
                vec![writer]
            }
        };
        let boundary = self.boundaries.len() as u64 - 1;
        self.killed = Some((boundary, took));
    }

    /// A seccomp stop: decide whether it is a boundary, an ack, or neither.
    fn on_boundary(&mut self, tid: Pid) -> Decision {
        let Ok(info) = ptrace::syscall_info(tid) else {
            // The tracee is gone (killed by a timeout): nothing to decide.
            return Decision::Continue;
        };
        if info.op != libc::PTRACE_SYSCALL_INFO_SECCOMP {
            return Decision::Continue;
        }
        // SAFETY: op == PTRACE_SYSCALL_INFO_SECCOMP says the `seccomp` member is the one set.
        let seccomp = unsafe { info.u.seccomp };
        let Some(call) = syscalls::lookup(seccomp.nr as i64) else {
            return Decision::Continue;
        };
        let args = seccomp.args;
        // A call still waited for here never returned to the tracer: keep what its start said.
        self.in_flight.remove(&tid);
        // Its last call has returned.
        self.last_slots.remove(&tid);
        self.stop_ops.clear();
        self.stop_write = None;
        self.stop_wait = None;
        let Some(description) = self.describe(tid, call, &args) else {
            return Decision::Continue;
        };
        let index = self.boundaries.len() as u64;
        let writer = self.writer_of(tid);
        let write = self.stop_write;
        if self.opts.record_ops {
            self.log.mark();
        }
        let kept = self.boundaries.push(Boundary {
            index,
            writer: writer as u32,
            syscall: call.name.to_owned(),
            description,
            write,
        });
        self.keep(kept);
        if self.opts.kill_at != Some(index) {
            if self.opts.skip_syncs && syscalls::SYNCS.contains(&call.nr) {
                // A thread gone meanwhile (a timeout's kill) has no call left to change.
                let _ = set_syscall(tid, libc::SYS_sched_yield);
            }
            let slots = self.log.extend(self.stop_ops.drain(..));
            if !slots.is_empty() {
                self.last_slots.insert(tid, slots.clone());
            }
            return match self.stop_wait.take() {
                Some(wait) => {
                    self.in_flight.insert(tid, InFlight { wait, slots });
                    Decision::Wait
                }
                None => Decision::Continue,
            };
        }
        match (self.opts.tear, write) {
            (Some(keep), Some(w)) if keep < w.len => {
                let keep = sector_cut(w.offset, keep, self.opts.sector);
                // Only the bytes let through reach the file.
                let torn = self.stop_ops.drain(..).map(|op| op.torn(keep));
                self.log.extend(torn);
                Decision::Tear {
                    writer,
                    keep,
                    call,
                    args,
                }
            }
            _ => Decision::Kill { writer },
        }
    }

    /// The call in words if it is a boundary (touches the trial folder); records an ack
    /// mark and returns `None` for a write to stdout.
    fn describe(&mut self, tid: Pid, call: &syscalls::Syscall, args: &[u64; 6]) -> Option<String> {
        let dir = self.opts.dir;
        let rel = |p: &Path| rel_to(dir, p);
        let name = call.name;
        match call.kind {
            Kind::Notice => {
                if self.opts.record_ops {
                    self.log.extend([Op::Unmodelled {
                        file: ".".to_owned(),
                        syscall: name.to_owned(),
                    }]);
                }
                None
            }
            Kind::Write { data, offset } => {
                let len = match data {
                    Data::Buffer => args[2],
                    Data::Iovec => proc::iovec_len(tid, args[1], args[2]).unwrap_or(0),
                };
                let (named, info) = self.fd_file(tid, args[0])?;
                let path = &named.path;
                let Some(file) = named.rel.clone() else {
                    // A write into the writer's stdout pipe (through any fd, in any of its
                    // processes) is (part of) an ack: note the files' extents at this moment.
                    if let Some(w) = self
                        .ack_channels
                        .iter()
                        .position(|c| c.as_ref() == Some(path))
                    {
                        self.stdout_bytes[w] += len;
                        let sizes = self.extents_now();
                        let kept = self.acks[w].push(AckMark {
                            stream_end: self.stdout_bytes[w],
                            after: self.boundaries.len() as u64,
                            sizes,
                        });
                        self.keep(kept);
                    }
                    return None;
                };
                let off = match offset {
                    Some(arg) => args[arg],
                    None => match info {
                        Some(i) if i.flags & libc::O_APPEND as u32 != 0 => {
                            if self.opts.record_ops && self.tracees.len() > 1 {
                                self.stop_wait = Some(Wait::Append { fd: args[0] });
                            }
                            i.inode
                                .and_then(|k| self.sizes.size(tid, args[0], k))
                                .or_else(|| std::fs::metadata(path).map(|m| m.len()).ok())
                                .unwrap_or(0)
                        }
                        Some(i) => i.pos,
                        None => 0,
                    },
                };
                let end = off.saturating_add(len);
                match self.extents.get_mut(&file) {
                    Some(e) => *e = (*e).max(end),
                    None => {
                        self.extents.insert(file.clone(), end);
                    }
                }
                self.stop_write = Some(WriteAt { offset: off, len });
                if self.opts.record_ops {
                    let bytes = match data {
                        Data::Buffer => proc::read_mem(tid, args[1], len as usize),
                        Data::Iovec => proc::read_iovecs(tid, args[1], args[2]),
                    };
                    self.stop_ops.push(match bytes {
                        Some(data) => Op::Write {
                            file: file.clone(),
                            offset: off,
                            data,
                        },
                        None => Op::Unmodelled {
                            file: file.clone(),
                            syscall: name.to_owned(),
                        },
                    });
                }
                Some(format!("{name}({file}, off={off}, len={len})"))
            }
            Kind::Fd { fd, len } => {
                let (named, _) = self.fd_file(tid, args[fd])?;
                let path = &named.path;
                let file = named.rel.clone()?;
                if self.opts.record_ops {
                    let op = match name {
                        "fsync" | "fdatasync" if path.is_dir() => {
                            Some(Op::SyncDir { dir: file.clone() })
                        }
                        "fsync" | "fdatasync" => Some(Op::Sync { file: file.clone() }),
                        "ftruncate" => Some(Op::Truncate {
                            file: file.clone(),
                            len: args[1],
                        }),
                        // Starts writeback and promises nothing (sync_file_range(2): "there
                        // are no guarantees that the data will be available after a crash"):
                        // the data stays unsynced.
                        "sync_file_range" => None,
                        "fallocate" => {
                            let op = oplog::fallocate(&file, args[1], args[2], args[3]);
                            if op.is_some() {
                                // It may fail (EOPNOTSUPP, ENOSPC): known at its return.
                                self.stop_wait = Some(Wait::Fails);
                            }
                            op
                        }
                        _ => Some(Op::Unmodelled {
                            file: file.clone(),
                            syscall: name.to_owned(),
                        }),
                    };
                    self.stop_ops.extend(op);
                }
                match name {
                    "ftruncate" => {
                        self.extents
                            .entry(file.clone())
                            .and_modify(|e| *e = (*e).min(args[1]));
                    }
                    // Data that arrives without a write we can measure (or moves, for
                    // fallocate's collapse/insert range): fall back to the file's size.
                    "copy_file_range" | "sendfile" | "fallocate" => {
                        self.extents.remove(&file);
                    }
                    _ => {}
                }
                Some(match len {
                    Some(arg) => format!("{name}({file}, len={})", args[arg]),
                    None => format!("{name}({file})"),
                })
            }
            Kind::Path { path, to, flags } => {
                // A name may change: inodes no longer name files.
                self.names.clear();
                let resolve = |(dirfd, arg): (Option<usize>, usize)| {
                    let base = proc::base_dir(tid, dirfd.map(|a| args[a]))?;
                    Some(proc::resolve(&base, &proc::read_cstr(tid, args[arg])?))
                };
                let from = resolve(path)?;
                let to = to.and_then(resolve);
                let inside = |p: &Option<std::path::PathBuf>| {
                    p.as_deref().is_some_and(|p| p.starts_with(dir))
                };
                if !inside(&Some(from.clone())) && !inside(&to) {
                    return None;
                }
                // The set of files may have changed: list them again at the next ack.
                self.listed = None;
                let (from_rel, to_rel) = (rel(&from), to.as_deref().and_then(rel));
                let flag_bits = flags.map(|a| args[a]);
                if self.opts.record_ops {
                    let ops = path_ops(name, from_rel.clone(), to_rel.clone(), flag_bits, args);
                    self.stop_ops.extend(ops);
                }
                if self.stop_ops.is_empty() {
                    self.track_path_call(name, from_rel, to_rel, flag_bits, args);
                } else {
                    // Whether it happened is known at its return.
                    self.stop_wait = Some(Wait::Path {
                        name,
                        from: from_rel,
                        to: to_rel,
                        flags: flag_bits,
                        args: *args,
                    });
                }
                let show = |p: &Path| rel(p).unwrap_or_else(|| p.display().to_string());
                let mut words = show(&from);
                if let Some(to) = &to {
                    words = format!("{words} -> {}", show(to));
                }
                if let Some(arg) = flags {
                    words = format!("{words}, {}", open_flags(args[arg]));
                }
                Some(format!("{name}({words})"))
            }
        }
    }
}

impl Loop<'_> {
    /// Restarts a stopped tracee; one whose call is waited for stops again at its return.
    fn resume(&self, pid: Pid, signal: Option<Signal>) -> Result<(), TraceError> {
        if self.in_flight.contains_key(&pid) {
            gone_is_fine(pid, ptrace::syscall(pid, signal))
        } else {
            restart(pid, signal)
        }
    }

    /// A waited-for call returned: the write log drops it if it failed, or learns where an
    /// `O_APPEND` write landed and how much of it was written.
    fn returned(&mut self, tid: Pid, call: InFlight) {
        let Ok(info) = ptrace::syscall_info(tid) else {
            return;
        };
        if info.op != libc::PTRACE_SYSCALL_INFO_EXIT {
            return;
        }
        // SAFETY: op == PTRACE_SYSCALL_INFO_EXIT says the `exit` member is the one set.
        let exit = unsafe { info.u.exit };
        if exit.is_error != 0 {
            self.log.drop(call.slots);
            return;
        }
        match call.wait {
            Wait::Append { fd } => {
                let count = u64::try_from(exit.sval).unwrap_or(0);
                let pos = self.fdinfo.get(tid, fd).map(|i| i.pos);
                let Some(Op::Write { file, offset, data }) = self.log.get_mut(call.slots.start)
                else {
                    return;
                };
                if let Some(pos) = pos {
                    *offset = pos.saturating_sub(count);
                }
                data.truncate(usize::try_from(count).unwrap_or(usize::MAX));
                let end = *offset + count;
                self.extents
                    .entry(file.clone())
                    .and_modify(|e| *e = (*e).max(end))
                    .or_insert(end);
            }
            Wait::Fails => {}
            Wait::Path {
                name,
                from,
                to,
                flags,
                args,
            } => self.track_path_call(name, from, to, flags, &args),
        }
    }

    /// The file open at fd `fd` of thread `tid` and what its fdinfo says: the file from
    /// [`Loop::names`] when it was seen since the last name change, else resolved.
    fn fd_file(&mut self, tid: Pid, fd: u64) -> Option<(Rc<Named>, Option<proc::FdInfo>)> {
        let info = self.fdinfo.get(tid, fd);
        let inode = info.and_then(|i| i.inode);
        if let Some(named) = inode.and_then(|k| self.names.get(&k)) {
            return Some((named.clone(), info));
        }
        let path = proc::fd_path(tid, fd)?;
        let named = Rc::new(Named {
            rel: rel_to(self.opts.dir, &path),
            path,
        });
        if let Some(k) = inode {
            self.names.insert(k, named.clone());
        }
        Some((named, info))
    }

    /// Notes the first failure to keep a boundary or an ack mark; the run ends with it.
    fn keep(&mut self, kept: std::io::Result<()>) {
        if let Err(e) = kept {
            self.spill_error.get_or_insert(e);
        }
    }

    /// How far into each file matching `files` data can lie, right now. The folder is
    /// listed again only after a call that creates, renames or removes something; a file
    /// whose every byte came through traced writes needs no syscall at all.
    fn extents_now(&mut self) -> BTreeMap<String, u64> {
        let dir = self.opts.dir;
        let fresh = self.listed.is_none();
        let listed = self
            .listed
            .get_or_insert_with(|| file_sizes(dir, self.opts.files));
        listed
            .iter()
            .filter_map(|(file, &size_at_listing)| {
                let extent = match self.extents.get(file) {
                    Some(&written) => written,
                    None if fresh => size_at_listing,
                    None => std::fs::metadata(dir.join(file)).ok()?.len(),
                };
                Some((file.clone(), extent))
            })
            .collect()
    }

    /// Keeps [`Loop::extents`] right across calls that name files by path.
    fn track_path_call(
        &mut self,
        name: &str,
        from: Option<String>,
        to: Option<String>,
        flags: Option<u64>,
        args: &[u64; 6],
    ) {
        let Some(from) = from else {
            if let Some(to) = to {
                self.extents.remove(&to);
            }
            return;
        };
        let truncates = name == "creat" || flags.is_some_and(|f| f as i32 & libc::O_TRUNC != 0);
        match name {
            _ if truncates => {
                self.extents.insert(from, 0);
            }
            "truncate" => {
                self.extents
                    .entry(from)
                    .and_modify(|e| *e = (*e).min(args[1]));
            }
            "rename" | "renameat" | "renameat2" => {
                let moved = self.extents.remove(&from);
                if let Some(to) = to {
                    match moved {
                        Some(extent) => self.extents.insert(to, extent),
                        None => self.extents.remove(&to),
                    };
                }
            }
            "unlink" | "unlinkat" | "rmdir" => {
                self.extents.remove(&from);
            }
            _ => {}
        }
    }
}

/// `path` relative to the trial folder `dir` (`.` for the folder itself); `None` outside it.
fn rel_to(dir: &Path, path: &Path) -> Option<String> {
    let r = path.strip_prefix(dir).ok()?;
    Some(if r.as_os_str().is_empty() {
        ".".to_owned()
    } else {
        r.display().to_string()
    })
}

/// The write-log ops of a call that names files by path (`from`/`to` relative to the
/// trial folder, `None` when outside it).
fn path_ops(
    name: &str,
    from: Option<String>,
    to: Option<String>,
    flags: Option<u64>,
    args: &[u64; 6],
) -> Vec<Op> {
    let unmodelled = |file: &Option<String>| {
        file.clone()
            .map(|file| Op::Unmodelled {
                file,
                syscall: name.to_owned(),
            })
            .into_iter()
            .collect()
    };
    let Some(from) = from else {
        return unmodelled(&to);
    };
    let flags = flags.map_or(0, |f| f as i32);
    match name {
        "creat" => vec![
            Op::Create { file: from.clone() },
            Op::Truncate { file: from, len: 0 },
        ],
        "open" | "openat" => {
            let mut ops = Vec::new();
            if flags & libc::O_CREAT != 0 {
                ops.push(Op::Create { file: from.clone() });
            }
            if flags & libc::O_TRUNC != 0 {
                ops.push(Op::Truncate { file: from, len: 0 });
            }
            ops
        }
        "truncate" => vec![Op::Truncate {
            file: from,
            len: args[1],
        }],
        "mkdir" | "mkdirat" => vec![Op::Mkdir { dir: from }],
        "unlink" | "unlinkat" | "rmdir" => vec![Op::Remove { file: from }],
        "rename" | "renameat" | "renameat2" => match to {
            Some(to) => vec![Op::Rename { from, to }],
            None => vec![Op::Remove { file: from }],
        },
        _ => unmodelled(&to.or(Some(from))),
    }
}

/// The most bytes, at most `keep`, that a write at file offset `offset` can let through
/// and end on a `sector` boundary of the file: 0 when no boundary comes first.
fn sector_cut(offset: u64, keep: u64, sector: u64) -> u64 {
    let sector = sector.max(1);
    let end = (offset + keep) / sector * sector;
    end.saturating_sub(offset)
}

/// Shortens the write `call` stopped at (arguments `args`) to its first `keep` bytes, by
/// rewriting its length register (and, for a vectored write, its iovec array).
fn set_write_len(
    tid: Pid,
    call: &syscalls::Syscall,
    args: &[u64; 6],
    keep: u64,
) -> Result<(), TraceError> {
    let Kind::Write { data, .. } = call.kind else {
        return Err(TraceError::Internal {
            what: format!("{} is not a write", call.name),
        });
    };
    let count = match data {
        Data::Buffer => keep,
        Data::Iovec => proc::shorten_iovecs(tid, args[1], args[2], keep).ok_or_else(|| {
            TraceError::Internal {
                what: "failed to shorten an iovec array".into(),
            }
        })?,
    };
    set_arg(tid, 2, count)
}

/// Makes a thread stopped at syscall entry make call `nr` instead, with the same
/// arguments.
#[cfg(target_arch = "x86_64")]
fn set_syscall(tid: Pid, nr: i64) -> Result<(), TraceError> {
    let mut regs =
        ptrace::getregs(tid).map_err(|e| TraceError::ptrace("read registers of", tid, e))?;
    regs.orig_rax = nr as u64;
    ptrace::setregs(tid, regs).map_err(|e| TraceError::ptrace("write registers of", tid, e))
}

/// Elsewhere the call runs as it is.
#[cfg(not(target_arch = "x86_64"))]
fn set_syscall(_tid: Pid, _nr: i64) -> Result<(), TraceError> {
    Ok(())
}

/// Sets syscall argument `index` of a thread stopped at syscall entry.
#[cfg(target_arch = "x86_64")]
fn set_arg(tid: Pid, index: usize, value: u64) -> Result<(), TraceError> {
    let mut regs =
        ptrace::getregs(tid).map_err(|e| TraceError::ptrace("read registers of", tid, e))?;
    match index {
        0 => regs.rdi = value,
        1 => regs.rsi = value,
        2 => regs.rdx = value,
        3 => regs.r10 = value,
        4 => regs.r8 = value,
        _ => regs.r9 = value,
    }
    ptrace::setregs(tid, regs).map_err(|e| TraceError::ptrace("write registers of", tid, e))
}

/// Sets syscall argument `index` of a thread stopped at syscall entry.
#[cfg(target_arch = "aarch64")]
fn set_arg(tid: Pid, index: usize, value: u64) -> Result<(), TraceError> {
    use nix::sys::ptrace::regset::NT_PRSTATUS;
    let mut regs = ptrace::getregset::<NT_PRSTATUS>(tid)
        .map_err(|e| TraceError::ptrace("read registers of", tid, e))?;
    regs.regs[index] = value;
    ptrace::setregset::<NT_PRSTATUS>(tid, regs)
        .map_err(|e| TraceError::ptrace("write registers of", tid, e))
}

/// Restarts a stopped tracee, delivering `signal`. A tracee that vanished meanwhile (it
/// was SIGKILLed) is fine: its exit is reaped by the loop.
fn restart(pid: Pid, signal: Option<Signal>) -> Result<(), TraceError> {
    gone_is_fine(pid, ptrace::cont(pid, signal))
}

/// The result of restarting `pid`, where a tracee gone meanwhile is no error.
fn gone_is_fine(pid: Pid, restarted: nix::Result<()>) -> Result<(), TraceError> {
    match restarted.map_err(|e| TraceError::ptrace("restart", pid, e)) {
        Err(TraceError::WriterGone { .. }) => Ok(()),
        other => other,
    }
}

/// Sizes of the regular files under `dir` that match `files`, by path relative to `dir`.
/// What cannot be read is left out: the writer may be changing the folder.
pub fn file_sizes(dir: &Path, files: &GlobSet) -> BTreeMap<String, u64> {
    snapshot::walk(dir)
        .flatten()
        .filter(|entry| entry.file_type().is_file() && files.is_match(entry.rel()))
        .filter_map(|entry| {
            let meta = entry.metadata().ok().filter(|m| m.is_file())?;
            Some((entry.rel().display().to_string(), meta.len()))
        })
        .collect()
}

fn open_flags(flags: u64) -> String {
    let flags = flags as i32;
    let mut words = vec![match flags & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        _ => "O_RDWR",
    }];
    for (bit, word) in [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_SYNC, "O_SYNC"),
        (libc::O_DSYNC, "O_DSYNC"),
    ] {
        if flags & bit != 0 {
            words.push(word);
        }
    }
    words.join("|")
}

#[cfg(test)]
mod tests {
    use std::process::Stdio;

    use globset::{Glob, GlobSetBuilder};

    use super::*;
    use crate::tracer::run_piped;

    fn run_traced(argv: &[&str], kill_at: Option<u64>) -> (Trace, tempfile::TempDir, String) {
        run_traced_with(argv, kill_at, false)
    }

    fn run_traced_with(
        argv: &[&str],
        kill_at: Option<u64>,
        record_ops: bool,
    ) -> (Trace, tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let canonical = dir.path().canonicalize().unwrap();
        let mut files = GlobSetBuilder::new();
        files.add(Glob::new("*.log").unwrap());
        let files = files.build().unwrap();
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]).current_dir(&canonical);
        let opts = TraceOptions {
            dir: &canonical,
            files: &files,
            kill_at,
            kill_scope: KillScope::All,
            tear: None,
            sector: 512,
            record_ops,
            skip_syncs: false,
            timeout: Duration::from_secs(20),
        };
        let run = run_piped(
            std::slice::from_mut(&mut cmd),
            [std::io::empty()],
            Limits::NONE,
            &opts,
        )
        .unwrap();
        let stdout = String::from_utf8(run.stdouts[0].bytes()).unwrap();
        (run.result, dir, stdout)
    }

    const SCRIPT: &str =
        "printf ab > w.log; echo 0; printf cde >> w.log; echo 1; mkdir d; mv w.log d/x.log; echo 2";

    #[test]
    fn dry_run_sees_every_boundary_in_words() {
        let (trace, dir, out) = run_traced(&["sh", "-c", SCRIPT], None);
        assert_eq!(out, "0\n1\n2\n");
        assert_eq!(trace.ends[0], WriterEnd::Exited { code: 0 });
        let words: Vec<_> = trace.boundaries.iter().map(|b| b.description).collect();
        let words: Vec<_> = words.iter().map(String::as_str).collect();
        assert!(
            words.contains(&"openat(w.log, O_WRONLY|O_CREAT|O_TRUNC)"),
            "{words:?}"
        );
        assert!(words.contains(&"write(w.log, off=0, len=2)"), "{words:?}");
        assert!(words.contains(&"write(w.log, off=2, len=3)"), "{words:?}");
        assert!(
            words.contains(&"mkdir(d)") || words.contains(&"mkdirat(d)"),
            "{words:?}"
        );
        assert!(
            words
                .iter()
                .any(|w| w.starts_with("rename") && w.contains("w.log -> d/x.log")),
            "{words:?}"
        );
        // Three acks, each with the log's size at that moment.
        let sizes: Vec<_> = trace.acks[0]
            .iter()
            .map(|a| a.sizes.get("w.log").copied())
            .collect();
        assert_eq!(sizes, [Some(2), Some(5), None]);
        assert_eq!(trace.acks[0].last().unwrap().sizes.get("d/x.log"), Some(&5));
        assert_eq!(std::fs::read(dir.path().join("d/x.log")).unwrap(), b"abcde");
    }

    #[test]
    fn kill_at_a_boundary_stops_before_the_syscall() {
        let (dry, _dir, _) = run_traced(&["sh", "-c", SCRIPT], None);
        let second_write = dry
            .boundaries
            .iter()
            .find(|b| b.description.starts_with("write(w.log, off=2"))
            .unwrap();
        let (trace, dir, out) = run_traced(&["sh", "-c", SCRIPT], Some(second_write.index));
        assert_eq!(
            trace.ends[0],
            WriterEnd::Killed {
                boundary: second_write.index
            }
        );
        assert_eq!(out, "0\n", "only the first ack got out");
        assert_eq!(
            std::fs::read(dir.path().join("w.log")).unwrap(),
            b"ab",
            "the killed write never ran"
        );
        assert_eq!(trace.boundaries.len() as u64, second_write.index + 1);
    }

    #[test]
    fn threads_and_child_processes_are_traced() {
        let py = concat!(
            "import threading\n",
            "def w():\n",
            "    with open('t.log', 'ab') as f: f.write(b'xyz')\n",
            "t = threading.Thread(target=w); t.start(); t.join()\n",
            "print(0, flush=True)\n",
        );
        let (trace, _dir, out) = run_traced(&["python3", "-c", py], None);
        assert_eq!(out, "0\n");
        assert!(
            trace.tracees >= 2,
            "the thread was traced: {}",
            trace.tracees
        );
        assert!(
            trace
                .boundaries
                .iter()
                .any(|b| b.description == "write(t.log, off=0, len=3)"),
            "{:?}",
            trace.boundaries
        );
        let (second, _dir, _) = run_traced(&["sh", "-c", "sh -c 'printf q > c.log'; echo 0"], None);
        assert!(second.tracees >= 2);
        assert!(
            second
                .boundaries
                .iter()
                .any(|b| b.description == "write(c.log, off=0, len=1)"),
            "{:?}",
            second.boundaries
        );
    }

    #[test]
    fn ack_marks_measure_written_data_not_preallocated_size() {
        let script = "truncate -s 4096 p.log; printf ab | dd of=p.log conv=notrunc status=none; echo 0; \
                      printf cd >> p.log; echo 1; mv p.log q.log; echo 2; : > q.log; echo 3";
        let (trace, _dir, out) = run_traced(&["sh", "-c", script], None);
        assert_eq!(out, "0\n1\n2\n3\n");
        let at = |i: usize, f: &str| trace.acks[0].get(i).unwrap().sizes.get(f).copied();
        assert_eq!(
            at(0, "p.log"),
            Some(2),
            "preallocated to 4096, written to 2"
        );
        assert_eq!(at(1, "p.log"), Some(4098), "an append after the 4096 bytes");
        assert_eq!(
            (at(2, "p.log"), at(2, "q.log")),
            (None, Some(4098)),
            "the extent follows a rename"
        );
        assert_eq!(at(3, "q.log"), Some(0), "O_TRUNC empties it");
    }

    /// See issue 12: a tear drawn for one write and met at another (a writer whose
    /// background thread adds a call) still ends on a sector boundary of the file.
    #[test]
    fn a_tear_is_moved_back_to_a_sector_boundary_of_the_write_it_meets() {
        assert_eq!(sector_cut(0, 1000, 512), 512);
        assert_eq!(sector_cut(1000, 24, 512), 24, "1024 is a boundary");
        assert_eq!(sector_cut(1000, 23, 512), 0, "no boundary before 1023");
        assert_eq!(sector_cut(700, 2000, 512), 2560 - 700);
        assert_eq!(sector_cut(5, 7, 1), 7, "any byte");
    }

    /// See issue 12: only effects that happened enter the write log. A `mkdir` of a folder
    /// that exists, a `rename` or `unlink` of a name that is not there, an exclusive
    /// create of a name that is: each fails and leaves no op.
    #[test]
    fn calls_that_fail_leave_nothing_in_the_write_log() {
        let script = [
            "import os",
            "os.mkdir('d')",
            "for call in (lambda: os.mkdir('d'), lambda: os.mkdir('.'),",
            "             lambda: os.rename('nope', 'x'), lambda: os.unlink('nope'),",
            "             lambda: os.open('d', os.O_CREAT | os.O_EXCL | os.O_WRONLY)):",
            "    try: call()",
            "    except OSError: pass",
            "os.close(os.open('a.log', os.O_CREAT | os.O_WRONLY))",
        ]
        .join("\n");
        let script = script.as_str();
        let (trace, _dir, _) = run_traced_with(&["python3", "-c", script], None, true);
        assert_eq!(
            trace.boundaries.len(),
            7,
            "every call is a boundary, failed or not"
        );
        assert_eq!(
            trace.ops,
            vec![
                Op::Mkdir { dir: "d".into() },
                Op::Create {
                    file: "a.log".into()
                }
            ]
        );
        assert_eq!(trace.op_marks, vec![0, 1, 1, 1, 1, 1, 1]);
    }

    /// See issue 12: two processes appending to one file with `O_APPEND` and no lock. Where
    /// each write landed is known only at its return; the write log must rebuild the very
    /// file they wrote.
    #[test]
    fn concurrent_o_append_writes_are_logged_where_they_landed() {
        let script = [
            "import os",
            "pid = os.fork()",
            "tag = b'c' if pid == 0 else b'p'",
            "fd = os.open('w.log', os.O_CREAT | os.O_WRONLY | os.O_APPEND)",
            "for i in range(300):",
            "    os.write(fd, tag + b'%04d|' % i)",
            "if pid == 0: os._exit(0)",
            "os.waitpid(pid, 0)",
        ]
        .join("\n");
        let script = script.as_str();
        let (trace, dir, _) = run_traced_with(&["python3", "-c", script], None, true);
        let real = std::fs::read(dir.path().join("w.log")).unwrap();
        let mut rebuilt = Vec::new();
        for op in &trace.ops {
            if let Op::Write { offset, data, .. } = op {
                let end = *offset as usize + data.len();
                if rebuilt.len() < end {
                    rebuilt.resize(end, 0);
                }
                rebuilt[*offset as usize..end].copy_from_slice(data);
            }
        }
        assert_eq!(real.len(), 3600);
        assert!(rebuilt == real, "the write log rebuilt another file");
    }

    /// The tracer keeps each fd's fdinfo file open between stops: an fd closed and opened
    /// again onto another file, or `dup2`ed over, by calls it never stops at, must still
    /// be seen as the file open there now, at its own position.
    #[test]
    fn an_fd_number_reused_for_another_file_is_seen_as_that_file() {
        let script = [
            "import os",
            "for name, size in (('a.log', 0), ('b.log', 10), ('c.log', 20)):",
            "    fd = os.open(name, os.O_CREAT | os.O_WRONLY, 0o644)",
            "    os.write(fd, b'-' * size)",
            "    os.close(fd)",
            // No stop from here to the writes: opens without O_CREAT, lseek, close, dup2.
            "fd = os.open('a.log', os.O_WRONLY)",
            "os.write(fd, b'xx')",
            "os.lseek(fd, 5, os.SEEK_SET)",
            "os.write(fd, b'y')",
            "os.close(fd)",
            "again = os.open('b.log', os.O_WRONLY | os.O_APPEND)",
            "assert again == fd",
            "os.write(fd, b'zzz')",
            "c = os.open('c.log', os.O_WRONLY)",
            "os.lseek(c, 7, os.SEEK_SET)",
            "os.dup2(c, fd)",
            "os.write(fd, b'w')",
            "os.close(fd)",
            "os.write(c, b'v')",
        ]
        .join("\n");
        let (trace, dir, _) = run_traced_with(&["python3", "-c", &script], None, true);
        assert_eq!(trace.ends[0], WriterEnd::Exited { code: 0 });
        let words: Vec<String> = trace
            .boundaries
            .iter()
            .map(|b| b.description)
            .filter(|w| w.starts_with("write("))
            .collect();
        let tail: Vec<&str> = words
            .iter()
            .rev()
            .take(5)
            .rev()
            .map(String::as_str)
            .collect();
        assert_eq!(
            tail,
            [
                "write(a.log, off=0, len=2)",
                "write(a.log, off=5, len=1)",
                "write(b.log, off=10, len=3)",
                "write(c.log, off=7, len=1)",
                "write(c.log, off=8, len=1)",
            ],
            "{words:?}"
        );
        // The write log rebuilds each file as it is.
        for name in ["a.log", "b.log", "c.log"] {
            let mut rebuilt: Vec<u8> = Vec::new();
            for op in &trace.ops {
                match op {
                    Op::Write { file, offset, data } if file == name => {
                        let end = *offset as usize + data.len();
                        if rebuilt.len() < end {
                            rebuilt.resize(end, 0);
                        }
                        rebuilt[*offset as usize..end].copy_from_slice(data);
                    }
                    Op::Truncate { file, len } if file == name => rebuilt.truncate(*len as usize),
                    _ => {}
                }
            }
            let real = std::fs::read(dir.path().join(name)).unwrap();
            assert_eq!(rebuilt, real, "{name}");
        }
    }

    /// Runs `argv` traced, killing it at boundary `kill_at` with the write there torn
    /// after `tear` bytes, recording the write log.
    fn run_torn(argv: &[&str], kill_at: u64, tear: u64) -> (Trace, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let canonical = dir.path().canonicalize().unwrap();
        let files = GlobSetBuilder::new().build().unwrap();
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..])
            .current_dir(&canonical)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let traced = Traced::spawn(std::slice::from_mut(&mut cmd)).unwrap();
        let opts = TraceOptions {
            dir: &canonical,
            files: &files,
            kill_at: Some(kill_at),
            kill_scope: KillScope::All,
            tear: Some(tear),
            sector: 1,
            record_ops: true,
            skip_syncs: false,
            timeout: Duration::from_secs(20),
        };
        (traced.run(&opts).unwrap(), dir)
    }

    #[test]
    fn a_torn_write_lets_exactly_its_first_bytes_through_then_kills() {
        // Boundary 0 creates the file, boundary 1 is the write.
        let (trace, dir) = run_torn(
            &["sh", "-c", "printf abcdefghij > t.log; echo done > d.log"],
            1,
            4,
        );
        assert_eq!(trace.ends[0], WriterEnd::Killed { boundary: 1 });
        assert_eq!(trace.torn, Some(4));
        assert_eq!(std::fs::read(dir.path().join("t.log")).unwrap(), b"abcd");
        assert!(
            !dir.path().join("d.log").exists(),
            "killed right after the torn write"
        );
        assert_eq!(
            trace.ops.last(),
            Some(&Op::Write {
                file: "t.log".into(),
                offset: 0,
                data: b"abcd".to_vec()
            }),
            "the write log holds only what landed"
        );
    }

    #[test]
    fn a_torn_vectored_write_is_cut_inside_its_iovecs() {
        let py = concat!(
            "import os\n",
            "fd = os.open('v.log', os.O_WRONLY | os.O_CREAT, 0o644)\n",
            "os.writev(fd, [b'aaaa', b'bbbb', b'cccc'])\n",
            "open('after.log', 'w').close()\n",
        );
        let (trace, dir) = run_torn(&["python3", "-c", py], 1, 6);
        assert_eq!(trace.torn, Some(6));
        assert_eq!(std::fs::read(dir.path().join("v.log")).unwrap(), b"aaaabb");
        assert!(!dir.path().join("after.log").exists());
        assert!(
            trace
                .boundaries
                .get(1)
                .unwrap()
                .description
                .starts_with("writev(v.log, off=0, len=12)"),
            "{:?}",
            trace.boundaries
        );
    }

    #[test]
    fn a_hanging_writer_is_killed_at_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let files = GlobSetBuilder::new().build().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & sleep 30"])
            .stdout(Stdio::null());
        let traced = Traced::spawn(std::slice::from_mut(&mut cmd)).unwrap();
        let opts = TraceOptions {
            dir: dir.path(),
            files: &files,
            kill_at: None,
            kill_scope: KillScope::All,
            tear: None,
            sector: 512,
            record_ops: false,
            skip_syncs: false,
            timeout: Duration::from_millis(300),
        };
        let trace = traced.run(&opts).unwrap();
        assert!(
            matches!(trace.ends[0], WriterEnd::TimedOut { .. }),
            "{:?}",
            trace.ends
        );
    }

    /// The end of a writer run by `sh -c script` and killed at a timeout of 300 ms.
    fn timed_out(script: &str) -> WriterEnd {
        let dir = tempfile::tempdir().unwrap();
        let files = GlobSetBuilder::new().build().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script])
            .env("DIR", dir.path())
            .stdout(Stdio::null());
        let traced = Traced::spawn(std::slice::from_mut(&mut cmd)).unwrap();
        let opts = TraceOptions {
            dir: &dir.path().canonicalize().unwrap(),
            files: &files,
            kill_at: None,
            kill_scope: KillScope::All,
            tear: None,
            sector: 512,
            record_ops: false,
            skip_syncs: false,
            timeout: Duration::from_millis(300),
        };
        traced.run(&opts).unwrap().ends.remove(0)
    }

    // See issue 13: a hang says its last boundary and what it was doing at the timeout.
    #[test]
    fn a_timed_out_writer_says_its_last_boundary_and_the_call_it_was_in() {
        // sh waits for the sleep it forked (the command after it keeps sh from exec'ing).
        let end = timed_out("echo x > \"$DIR/wal\"; sleep 30; true");
        assert_eq!(
            end,
            WriterEnd::TimedOut {
                last_boundary: Some("write(wal, off=0, len=2)".into()),
                in_calls: vec!["wait4".into()],
            }
        );
        // A loop that makes no call is running at the timeout, and made no boundary.
        let end = timed_out("while :; do :; done");
        assert_eq!(
            end,
            WriterEnd::TimedOut {
                last_boundary: None,
                in_calls: vec!["running".into()],
            }
        );
    }

    #[test]
    fn a_writer_that_cannot_start_is_an_error() {
        let mut cmd = Command::new("/nonexistent/writer");
        let err = Traced::spawn(std::slice::from_mut(&mut cmd)).err().unwrap();
        assert!(matches!(err, TraceError::Spawn { .. }), "{err}");
    }

    /// The words of a writer that could not be started (`cmd` within `limits`).
    fn start_error(cmd: &mut Command, limits: Limits) -> String {
        let err = Traced::spawn_limited(std::slice::from_mut(cmd), limits)
            .err()
            .expect("the writer must not start");
        assert!(matches!(err, TraceError::Spawn { .. }), "{err}");
        crate::errors::chain(&err)
    }

    // See issue 13: a file that is there but not executable is not "no such file".
    #[test]
    fn a_writer_that_is_not_executable_or_lacks_its_interpreter_says_so() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.sh");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let words = start_error(&mut Command::new(&plain), Limits::NONE);
        assert!(
            words.contains(&format!("{} exists but is not executable", plain.display())),
            "{words}"
        );
        let orphan = dir.path().join("orphan.sh");
        std::fs::write(&orphan, "#!/nonexistent/interpreter\n").unwrap();
        std::fs::set_permissions(&orphan, std::fs::Permissions::from_mode(0o755)).unwrap();
        let words = start_error(&mut Command::new(&orphan), Limits::NONE);
        assert!(
            words.contains("exists, but the interpreter it names does not"),
            "{words}"
        );
        let words = start_error(&mut Command::new(dir.path().join("none")), Limits::NONE);
        assert!(words.ends_with("none does not exist"), "{words}");
    }

    // See issue 13: a program its address-space limit cannot hold dies while the kernel
    // loads it; that is the target's limit, not an internal error of the tracer.
    #[test]
    fn a_writer_too_large_for_its_address_space_names_the_limit() {
        // This test binary is far larger than 2 MiB: its segments cannot be mapped.
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let limits = Limits {
            address_space: Some(2 << 20),
            ..Limits::NONE
        };
        let words = start_error(&mut cmd, limits);
        assert!(
            words.contains("before its first instruction")
                && words.contains("[limits] address-space = \"2MiB\""),
            "{words}"
        );
        assert!(!words.contains("please report"), "{words}");
    }
}
