//! Starting, feeding, timing out and killing the processes crashtest runs.
//!
//! Every writer and replay is the leader of its own process group, so one `killpg` reaches
//! its threads, its children and theirs; [`kill_group`] is the only place a signal is sent.
//! Each also gets `PR_SET_PDEATHSIG = SIGKILL`, so it dies with the harness thread that
//! started it even if the harness itself is SIGKILLed.

use std::collections::BTreeSet;
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::errors::ExecError;
use crate::spill::ByteLog;

/// Set by SIGINT/SIGTERM once [`catch_interrupts`] ran: stop starting trials, end the
/// running ones.
static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// How often waits look at the interrupt flag.
pub const POLL: Duration = Duration::from_millis(50);

/// Routes SIGINT and SIGTERM to the interrupt flag instead of killing the process, so a run
/// can kill its writers, remove its folders and write its summary before it exits.
pub fn catch_interrupts() -> io::Result<()> {
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&INTERRUPTED))?;
    }
    Ok(())
}

/// True once SIGINT or SIGTERM arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Most bytes kept of one output stream; the rest is read and dropped, so that a flooding
/// target neither blocks nor exhausts memory.
pub const OUTPUT_LIMIT: usize = 64 << 20;

/// SIGKILLs every process in group `pgid`. A group that is already gone is not an error.
pub fn kill_group(pgid: Pid) {
    // ESRCH (nothing left in the group) is the expected race after a process exits.
    let _ = killpg(pgid, Signal::SIGKILL);
}

/// SIGKILLs one process (the thread group of `pid`). One already gone is not an error.
pub fn kill_process(pid: Pid) {
    // ESRCH (already exited) is the expected race.
    let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
}

/// Resource limits set on every target process (setrlimit, hard and soft), so that a
/// target that allocates gigabytes on a garbage length, writes without end or forks
/// without end is a finding, not a dead machine. `None`: no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// RLIMIT_AS, bytes of address space.
    pub address_space: Option<u64>,
    /// RLIMIT_FSIZE, bytes of the largest file it may write.
    pub file_size: Option<u64>,
    /// RLIMIT_CPU, seconds of CPU time.
    pub cpu_seconds: Option<u64>,
    /// RLIMIT_NOFILE, open files.
    pub open_files: Option<u64>,
    /// RLIMIT_NPROC, processes of the user (not enforced for root).
    pub processes: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            address_space: Some(4 << 30),
            file_size: Some(1 << 30),
            cpu_seconds: Some(300),
            open_files: Some(1024),
            processes: None,
        }
    }
}

impl Limits {
    /// No limits at all.
    pub const NONE: Limits = Limits {
        address_space: None,
        file_size: None,
        cpu_seconds: None,
        open_files: None,
        processes: None,
    };

    /// Sets the limits on the calling process. Runs between fork and exec: setrlimit is
    /// async-signal-safe and nothing here allocates.
    ///
    /// The CPU limit's hard value is a second above its soft one where the machine allows
    /// it: at the soft limit the kernel sends SIGXCPU, at the hard one SIGKILL, so a target
    /// that runs out of CPU time dies of SIGXCPU, which names the limit, rather than of a
    /// SIGKILL that could be anyone's.
    pub fn apply(&self) -> io::Result<()> {
        let set = |resource, value: Option<u64>, headroom: u64| -> io::Result<()> {
            let Some(v) = value else { return Ok(()) };
            let mut lim = libc::rlimit {
                rlim_cur: v as libc::rlim_t,
                rlim_max: v.saturating_add(headroom) as libc::rlim_t,
            };
            // SAFETY: a valid resource and a pointer to a live rlimit.
            if unsafe { libc::setrlimit(resource, &lim) } == 0 {
                return Ok(());
            }
            // Above a hard limit this process may not raise: without the headroom.
            lim.rlim_max = lim.rlim_cur;
            // SAFETY: as above.
            if headroom > 0 && unsafe { libc::setrlimit(resource, &lim) } == 0 {
                return Ok(());
            }
            Err(io::Error::last_os_error())
        };
        // No core file: a target that dies of a signal (SIGXFSZ and SIGXCPU dump core)
        // would leave one in its working folder, the scenario's, outside the trial
        // folders. Lowering a soft limit is always allowed.
        let mut core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid resource and a pointer to a live rlimit.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_CORE, &mut core) == 0 {
                core.rlim_cur = 0;
                libc::setrlimit(libc::RLIMIT_CORE, &core);
            }
        }
        set(libc::RLIMIT_AS, self.address_space, 0)?;
        set(libc::RLIMIT_FSIZE, self.file_size, 0)?;
        set(libc::RLIMIT_CPU, self.cpu_seconds, 1)?;
        set(libc::RLIMIT_NOFILE, self.open_files, 0)?;
        set(libc::RLIMIT_NPROC, self.processes, 0)
    }

    /// One limit as the scenario's `[limits]` table writes it, e.g. `address-space =
    /// "2MiB"`; `None` when it is off ("unlimited").
    pub fn setting(&self, limit: Limit) -> Option<String> {
        let bytes = |v: u64| match v.trailing_zeros() {
            30.. => format!("\"{}GiB\"", v >> 30),
            20.. => format!("\"{}MiB\"", v >> 20),
            10.. => format!("\"{}KiB\"", v >> 10),
            _ => v.to_string(),
        };
        let value = match limit {
            Limit::AddressSpace => bytes(self.address_space?),
            Limit::FileSize => bytes(self.file_size?),
            Limit::Cpu => format!("\"{}s\"", self.cpu_seconds?),
            Limit::OpenFiles => self.open_files?.to_string(),
            Limit::Processes => self.processes?.to_string(),
        };
        Some(format!("{} = {value}", limit.key()))
    }

    /// Which of these limits may have ended a target process that died of `signal` (its
    /// name, e.g. `SIGXFSZ`) or failed saying `said` (the end of its stderr), in words for
    /// its finding: `[limits] file-size = "1MiB" ended it: ...`. `None` when no sign points
    /// at a limit in force.
    ///
    /// Two signals are the kernel's own word for a limit: SIGXFSZ (a write past
    /// RLIMIT_FSIZE) and SIGXCPU (CPU time past RLIMIT_CPU; see [`Limits::apply`]). Past
    /// those, a limit is only suspected from what the target said: the words runtimes
    /// print when an allocation, a write or an open is refused ([`SIGNS`]). A process that
    /// dies of SIGSEGV on a NULL its allocator returned says nothing, and gets no hint.
    pub fn suspect(&self, signal: Option<&str>, said: &str) -> Option<String> {
        let certain = match signal {
            Some("SIGXFSZ") => Some((Limit::FileSize, "SIGXFSZ is what a write past it gets")),
            Some("SIGXCPU") => Some((
                Limit::Cpu,
                "SIGXCPU is what a process gets for using that much CPU time",
            )),
            _ => None,
        };
        if let Some((limit, why)) = certain
            && let Some(setting) = self.setting(limit)
        {
            return Some(format!("[limits] {setting} ended it: {why}"));
        }
        let said = said.to_ascii_lowercase();
        SIGNS.iter().find_map(|&(limit, words)| {
            let setting = self.setting(limit)?;
            said.contains(&words.to_ascii_lowercase()).then(|| {
                format!("[limits] {setting} may have ended it: its stderr says \"{words}\"")
            })
        })
    }
}

/// One limit of [`Limits`], by its key in the scenario's `[limits]` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `address-space`: RLIMIT_AS.
    AddressSpace,
    /// `file-size`: RLIMIT_FSIZE.
    FileSize,
    /// `cpu`: RLIMIT_CPU.
    Cpu,
    /// `open-files`: RLIMIT_NOFILE.
    OpenFiles,
    /// `processes`: RLIMIT_NPROC.
    Processes,
}

impl Limit {
    /// Its key in `[limits]`.
    pub fn key(self) -> &'static str {
        match self {
            Limit::AddressSpace => "address-space",
            Limit::FileSize => "file-size",
            Limit::Cpu => "cpu",
            Limit::OpenFiles => "open-files",
            Limit::Processes => "processes",
        }
    }
}

/// What runtimes print when a limit refuses them (matched in any case): an allocation
/// refused under RLIMIT_AS (Python, Go and Node, glibc's strerror, the dynamic loader,
/// C++, Rust, Java), a write past RLIMIT_FSIZE where SIGXFSZ is ignored (Python ignores
/// it), an open past RLIMIT_NOFILE, a fork past RLIMIT_NPROC.
const SIGNS: &[(Limit, &str)] = &[
    (Limit::AddressSpace, "MemoryError"),
    (Limit::AddressSpace, "out of memory"),
    (Limit::AddressSpace, "Cannot allocate memory"),
    (Limit::AddressSpace, "failed to map segment"),
    (Limit::AddressSpace, "bad_alloc"),
    (Limit::AddressSpace, "memory allocation of"),
    (Limit::FileSize, "File too large"),
    (Limit::OpenFiles, "Too many open files"),
    (Limit::Processes, "Resource temporarily unavailable"),
];

/// Finds the program `cmd` runs, as exec will: relative to its cwd when the name holds a
/// `/`, else the first executable file of that name in a folder of `PATH`. A program that
/// is missing, or there but not executable, is an [`ExecError`] that says which.
pub fn find_program(cmd: &Command) -> Result<PathBuf, ExecError> {
    let program = cmd.get_program();
    if program.as_encoded_bytes().contains(&b'/') {
        let cwd = cmd.get_current_dir().unwrap_or(Path::new(""));
        // Components drop the `.` of `./writer`, so the path reads as the file's.
        let path: PathBuf = cwd.join(program).components().collect();
        return match executable(&path) {
            Ok(()) => Ok(path),
            Err(None) => Err(ExecError::NoSuchFile { path }),
            Err(Some(what)) => Err(ExecError::NotExecutable { path, what }),
        };
    }
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    let mut refused = None;
    for dir in std::env::split_paths(&dirs) {
        let path = dir.join(program);
        match executable(&path) {
            Ok(()) => return Ok(path),
            Err(Some(what)) => {
                refused.get_or_insert(ExecError::NotExecutable { path, what });
            }
            Err(None) => {}
        }
    }
    Err(refused.unwrap_or_else(|| ExecError::NotOnPath {
        program: program.to_string_lossy().into_owned(),
    }))
}

/// `Ok` for a file this process may execute; `Err(None)` when nothing is there,
/// `Err(Some(what))` when something is, but not an executable file.
pub fn executable(path: &Path) -> Result<(), Option<&'static str>> {
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

/// Raises this process's soft limit of open files to its hard limit, and returns the soft
/// limit in force: every writer of a trial holds several descriptors in crashtest. The
/// targets' own limit is set apart (`[limits] open-files`).
pub fn raise_open_files() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid resource and a pointer to a live rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above. Raising the soft limit up to the hard one is always allowed,
        // but Linux refuses a value above fs.nr_open: the soft limit then stays.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    lim.rlim_cur
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain old data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the size given.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0
    {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Keeps the calling thread, and the processes it starts from now on, on `cpus`. Best
/// effort: a failure leaves the thread where it may run.
pub fn pin_thread(cpus: &[usize]) {
    // SAFETY: cpu_set_t is plain old data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: `set` is a valid cpu_set_t; CPU_SET ignores a cpu past CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the size given.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
}

/// A process [`spawn_contained`] started, with the parent's ends of its stdio pipes.
pub struct Contained {
    /// Its pid, which is also its process group's id.
    pub pid: Pid,
    /// Its stdin.
    pub stdin: std::fs::File,
    /// Its stdout.
    pub stdout: std::fs::File,
    /// Its stderr.
    pub stderr: std::fs::File,
}

/// An execve prepared before the child exists: the program resolved as exec will find it
/// ([`find_program`]), argv and envp as C arrays. Between `fork` or `clone` and `execve`
/// the child may not allocate.
pub struct PreparedExec {
    /// The program, resolved.
    pub resolved: PathBuf,
    /// The same, for execve.
    pub path: std::ffi::CString,
    _argv: Vec<std::ffi::CString>,
    /// argv, NULL-terminated.
    pub argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<std::ffi::CString>,
    /// envp, NULL-terminated: crashtest's environment as `cmd` changes it.
    pub envp_ptrs: Vec<*const libc::c_char>,
}

// SAFETY: the raw pointers point into the CStrings owned by the same struct, which are
// never mutated; moving the struct to the child's closure keeps them valid.
unsafe impl Send for PreparedExec {}
unsafe impl Sync for PreparedExec {}

impl PreparedExec {
    /// Prepares the exec of `cmd`. A program that is missing or not executable is an
    /// error of kind `NotFound` or `PermissionDenied` that says which ([`ExecError`]).
    pub fn prepare(cmd: &Command) -> io::Result<PreparedExec> {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let cstr = |s: &std::ffi::OsStr| {
            CString::new(s.as_bytes()).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "argument holds a NUL byte")
            })
        };
        let path = find_program(cmd).map_err(|why| {
            let kind = match why {
                ExecError::NotExecutable { .. } => io::ErrorKind::PermissionDenied,
                _ => io::ErrorKind::NotFound,
            };
            io::Error::new(kind, why)
        })?;
        let argv: Vec<CString> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(cstr)
            .collect::<Result<_, _>>()?;
        let mut env: std::collections::BTreeMap<std::ffi::OsString, std::ffi::OsString> =
            std::env::vars_os().collect();
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => env.insert(k.to_owned(), v.to_owned()),
                None => env.remove(k),
            };
        }
        let envp: Vec<CString> = env
            .iter()
            .map(|(k, v)| {
                let mut kv = k.clone();
                kv.push("=");
                kv.push(v);
                cstr(&kv)
            })
            .collect::<Result<_, _>>()?;
        let ptrs = |v: &[CString]| {
            v.iter()
                .map(|c| c.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        Ok(PreparedExec {
            path: cstr(path.as_os_str())?,
            resolved: path,
            argv_ptrs: ptrs(&argv),
            _argv: argv,
            envp_ptrs: ptrs(&envp),
            _envp: envp,
        })
    }
}

/// What the child of [`spawn_contained`] needs, made before it exists: between `clone`
/// and `execve` it shares crashtest's memory, so it may not allocate, only make syscalls.
struct Exec {
    exec: PreparedExec,
    cwd: Option<std::ffi::CString>,
    /// The child's ends: stdin's read end, stdout's and stderr's write ends.
    stdio: [libc::c_int; 3],
    limits: Limits,
    /// The filter answering the child's flushes at once ([`flushes_answered`]), if this
    /// machine has one.
    flushes: Option<&'static [libc::sock_filter]>,
    /// The parent thread's signal mask, restored once the child has exec'd.
    mask: libc::sigset_t,
    /// Set by the child when it could not exec: the errno.
    errno: libc::c_int,
}

/// The calls that flush files to the disk: what [`flushes_answered`] answers.
const FLUSHES: [libc::c_long; 5] = [
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_syncfs,
    libc::SYS_sync,
    libc::SYS_sync_file_range,
];

/// A seccomp filter that answers every flush ([`FLUSHES`]) with success without running
/// it, as `systemd-nspawn --suppress-sync` does; `None` where it cannot be built. Targets
/// started untraced (replays, the resume check's writer) run under it. None of their flushes
/// can change a verdict: crashtest crashes them only by a kill, which keeps the page
/// cache, and draws power losses from a traced writer's log alone. Each would otherwise
/// wait for the disk (a resumed crc writer of 40 records: 12 ms on ext4).
fn flushes_answered() -> Option<&'static [libc::sock_filter]> {
    static FILTER: LazyLock<Option<Vec<libc::sock_filter>>> = LazyLock::new(|| {
        use seccompiler::{SeccompAction, SeccompFilter, TargetArch};
        let arch = TargetArch::try_from(std::env::consts::ARCH).ok()?;
        let rules = FLUSHES.iter().map(|&nr| (nr, Vec::new())).collect();
        let filter =
            SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(0), arch).ok()?;
        let mut program: seccompiler::BpfProgram = filter.try_into().ok()?;
        // seccompiler kills a process whose call comes from another architecture (an
        // i386 program on x86_64) at its first syscall; here such calls run as they are.
        let kill = program.get_mut(2)?;
        if kill.code != (libc::BPF_RET | libc::BPF_K) as u16
            || kill.k != libc::SECCOMP_RET_KILL_PROCESS
        {
            return None;
        }
        kill.k = libc::SECCOMP_RET_ALLOW;
        Some(
            program
                .iter()
                .map(|f| libc::sock_filter {
                    code: f.code,
                    jt: f.jt,
                    jf: f.jf,
                    k: f.k,
                })
                .collect(),
        )
    });
    FILTER.as_deref()
}

/// Starts `cmd` contained (its own process group, SIGKILLed when the
/// thread that started it dies, within `limits`), its stdin, stdout and stderr pipes.
///
/// std starts such a command with `fork`, since `pre_exec` rules out its vfork path, and
/// a fork copies crashtest's page tables and makes every page it touches afterwards fault:
/// measured at about 40% of crashtest's own CPU for states cut from recordings. This is
/// glibc's `posix_spawn` done by hand: `clone(CLONE_VM | CLONE_VFORK)` runs the child on a
/// stack of its own in crashtest's memory, with every signal blocked, until it has exec'd
/// or failed, and the child makes only syscalls.
pub fn spawn_contained(cmd: &Command, limits: Limits) -> io::Result<Contained> {
    use std::os::unix::ffi::OsStrExt;
    let exec = PreparedExec::prepare(cmd)?;
    let cwd = cmd
        .get_current_dir()
        .map(|d| {
            std::ffi::CString::new(d.as_os_str().as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "folder holds a NUL byte"))
        })
        .transpose()?;
    let pipe = || -> io::Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0; 2];
        // SAFETY: a pointer to two ints, filled on success.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both fds were just made and are owned by nobody else.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    };
    let (in_r, in_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let mut exec = Exec {
        exec,
        cwd,
        stdio: [in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()],
        limits,
        flushes: flushes_answered(),
        // SAFETY: sigset_t is plain old data; it is filled below.
        mask: unsafe { std::mem::zeroed() },
        errno: 0,
    };
    let mut stack = vec![0u8; 64 * 1024];
    // The stack grows down from its end, kept 16-byte aligned.
    let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
    let pid = {
        let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: sigset_t is plain old data; sigfillset fills it.
        let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to sigset_t values owned here.
        unsafe {
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut exec.mask);
        }
        // SAFETY: `child` runs on `stack` (alive until clone returns: CLONE_VFORK holds
        // this thread until the child exec'd or exited) and reads `exec`, which outlives
        // it; it makes only async-signal-safe syscalls.
        let pid = unsafe {
            libc::clone(
                child,
                top as *mut libc::c_void,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&mut exec as *mut Exec).cast(),
            )
        };
        let failed = io::Error::last_os_error();
        // SAFETY: restores this thread's own mask, saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &exec.mask, std::ptr::null_mut()) };
        if pid < 0 {
            return Err(failed);
        }
        started.insert(pid);
        Pid::from_raw(pid)
    };
    drop(stack);
    if exec.errno != 0 {
        let _ = wait_pid(pid);
        reaped(pid.as_raw() as u32);
        return Err(io::Error::from_raw_os_error(exec.errno));
    }
    drop((in_r, out_w, err_w));
    Ok(Contained {
        pid,
        stdin: in_w.into(),
        stdout: out_r.into(),
        stderr: err_r.into(),
    })
}

/// The child of [`spawn_contained`]: makes itself contained and execs, or records why it
/// could not and exits 127.
extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `Exec`, alive and not touched by the parent until this
    // child has exec'd or exited.
    let exec = unsafe { &mut *arg.cast::<Exec>() };
    // SAFETY: every call below is a plain syscall on values made before the clone.
    unsafe {
        let fail = |exec: &mut Exec| -> libc::c_int {
            exec.errno = *libc::__errno_location();
            libc::_exit(127)
        };
        // Signals crashtest catches, and SIGPIPE (ignored by Rust programs), as a fresh
        // program expects them.
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGPIPE] {
            libc::signal(signal, libc::SIG_DFL);
        }
        if libc::setpgid(0, 0) != 0 {
            return fail(exec);
        }
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if exec.limits.apply().is_err() {
            return fail(exec);
        }
        for (fd, to) in exec.stdio.into_iter().zip(0..) {
            // A pipe that got number `to` itself (crashtest's own stdio closed) keeps its
            // close-on-exec flag through dup2: clear it.
            let done = if fd == to {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, to)
            };
            if done < 0 {
                return fail(exec);
            }
        }
        if let Some(cwd) = &exec.cwd
            && libc::chdir(cwd.as_ptr()) != 0
        {
            return fail(exec);
        }
        if let Some(filter) = exec.flushes {
            // Best effort: where seccomp is missing, the flushes reach the disk.
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr().cast_mut(),
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &prog as *const libc::sock_fprog,
                );
            }
        }
        // As std leaves a child: no signal blocked.
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        let run = &exec.exec;
        libc::execve(
            run.path.as_ptr(),
            run.argv_ptrs.as_ptr(),
            run.envp_ptrs.as_ptr(),
        );
        fail(exec)
    }
}

/// The processes crashtest started and has not reaped yet. Any other child of crashtest
/// is an orphan a target left behind (crashtest is their subreaper), which
/// [`kill_orphans`] ends. Spawns hold the lock, so no fresh child looks like an orphan.
static STARTED: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Makes crashtest the reaper of every process its targets leave behind (a daemon that
/// double-forks and calls setsid escapes its process group, not its subreaper).
pub fn become_subreaper() {
    // SAFETY: plain integer arguments; failure only means orphans go to init instead.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0 {
        SUBREAPER.store(true, Ordering::SeqCst);
    }
}

/// Set once this process reaps orphans: only then are its unknown children orphans (a
/// program using the library may have children of its own).
static SUBREAPER: AtomicBool = AtomicBool::new(false);

/// Spawns `cmd` while no orphan sweep can run, and records the child as started.
pub fn spawn_registered(cmd: &mut Command) -> io::Result<Child> {
    let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    let child = cmd.spawn()?;
    started.insert(child.id() as i32);
    Ok(child)
}

/// Forgets a started process once it has been reaped.
pub fn reaped(pid: u32) {
    STARTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&(pid as i32));
}

/// SIGKILLs (and, when nobody traces them, reaps) every child of crashtest that it did not
/// start: processes a target left running after it exited. Returns how many.
pub fn kill_orphans() -> usize {
    if !SUBREAPER.load(Ordering::SeqCst) {
        return 0;
    }
    let started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    let mut killed = 0;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    for task in tasks.flatten() {
        let Ok(children) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        for pid in children
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            if started.contains(&pid) {
                continue;
            }
            let pid = Pid::from_raw(pid);
            kill_process(pid);
            killed += 1;
            // A traced orphan is reaped by its tracer's loop; an untraced one here.
            let traced = std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
                s.lines()
                    .any(|l| l.starts_with("TracerPid:") && l.trim_end() != "TracerPid:\t0")
            });
            if !traced {
                let _ = nix::sys::wait::waitpid(pid, None);
            }
        }
    }
    killed
}

/// One output stream of a child, read to its end: in memory while short, in an unnamed
/// temporary file past [`crate::spill::KEEP`] bytes, so a long stream costs no memory.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    /// The first [`OUTPUT_LIMIT`] bytes.
    log: ByteLog,
    /// True when the stream was longer than [`OUTPUT_LIMIT`].
    pub overflowed: bool,
}

impl Captured {
    /// A stream that held `bytes` (kept in memory).
    pub fn new(bytes: Vec<u8>, overflowed: bool) -> Captured {
        Captured {
            log: ByteLog::from_vec(bytes),
            overflowed,
        }
    }

    /// Appends `bytes` to what was kept (the caller enforces [`OUTPUT_LIMIT`]).
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.log.append(bytes)
    }

    /// Keeps what of `bytes`, just read from the stream, fits under [`OUTPUT_LIMIT`]; the
    /// first time the stream passes it, it is marked overflowed and group `flooding` (the
    /// process writing it) is killed.
    fn take(&mut self, bytes: &[u8], flooding: Option<Pid>) -> io::Result<()> {
        let room = OUTPUT_LIMIT - self.log.len() as usize;
        self.append(&bytes[..bytes.len().min(room)])?;
        if bytes.len() > room && !self.overflowed {
            self.overflowed = true;
            if let Some(pgid) = flooding {
                kill_group(pgid);
            }
        }
        Ok(())
    }

    /// The bytes kept (at most [`OUTPUT_LIMIT`]).
    pub fn len(&self) -> u64 {
        self.log.len()
    }

    /// True when nothing was kept.
    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// Reads the bytes kept, from the first.
    pub fn reader(&self) -> Box<dyn BufRead + '_> {
        self.log.reader()
    }

    /// The bytes kept, in memory: for streams known to be short. A spill file that cannot
    /// be read back is a broken machine: it panics with the cause.
    pub fn bytes(&self) -> Vec<u8> {
        self.log
            .to_vec()
            .unwrap_or_else(|e| panic!("failed to read captured output back: {e}"))
    }

    /// How many newlines it holds (a spill file that cannot be read counts short).
    pub fn newlines(&self) -> usize {
        let mut r = self.reader();
        let mut n = 0;
        while let Ok(buf) = r.fill_buf() {
            if buf.is_empty() {
                break;
            }
            n += buf.iter().filter(|&&b| b == b'\n').count();
            let len = buf.len();
            r.consume(len);
        }
        n
    }

    /// The last `n` bytes as lossy UTF-8, for messages.
    pub fn tail(&self, n: usize) -> String {
        let mut tail = Vec::new();
        let from = self.log.len().saturating_sub(n as u64);
        // A spill file that cannot be read back shows as a shorter tail.
        let _ = self.log.reader_from(from).read_to_end(&mut tail);
        String::from_utf8_lossy(&tail).into_owned()
    }
}

/// Reads `r` to its end on a thread of `scope`. Past [`OUTPUT_LIMIT`] bytes the rest is
/// dropped and, when `flooding` names the writer's process group, the group is killed: a
/// target that floods its output is stopped, not waited for.
pub fn read_on<'s, R: Read + Send + 's>(
    scope: &'s Scope<'s, '_>,
    mut r: R,
    flooding: Option<Pid>,
) -> ScopedJoinHandle<'s, io::Result<Captured>> {
    scope.spawn(move || {
        let mut out = Captured::default();
        // Two of these live per writer: 8 KiB each, not 64 (the stack probe touched all
        // 64, which made a thousand writers cost crashtest 160 MB instead of 49).
        let mut buf = [0u8; 8 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(out),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            out.take(&buf[..n], flooding)?;
        }
    })
}

/// Copies `input` to `stdin` on a thread of `scope` as the child reads it, then closes it:
/// an input produced as it is read (a workload's records) is never whole in memory. A
/// child that exits (or is killed) before reading everything is not an error: that is
/// what crashes do.
pub fn feed_on<'s>(
    scope: &'s Scope<'s, '_>,
    mut stdin: impl Write + Send + 's,
    mut input: impl Read + Send + 's,
) {
    scope.spawn(
        move || match io::copy(&mut input, &mut stdin).and_then(|_| stdin.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            Err(e) => tracing_warn(&format!("failed to feed a child's stdin: {e}")),
        },
    );
}

fn tracing_warn(msg: &str) {
    eprintln!("crashtest: warning: {msg}");
}

/// How a contained, timed process ended.
#[derive(Clone, Debug)]
pub struct Finished {
    /// Its exit status; `None` when it was killed for running past its timeout.
    pub status: Option<ExitStatus>,
    /// Its standard output.
    pub stdout: Captured,
    /// Its standard error.
    pub stderr: Captured,
}

/// Runs `cmd` contained (own group, death signal), with stdin from `input` (or empty),
/// capturing stdout and stderr, and kills its whole group once it exits or `timeout` passes.
pub fn run(
    cmd: &mut Command,
    input: &[u8],
    timeout: Duration,
    limits: Limits,
) -> io::Result<Finished> {
    run_reading(cmd, input, timeout, limits)
}

/// [`run`], its stdin copied from `input` as the process reads it.
///
/// One thread does it all: a `poll` over the child's pidfd and its three pipes feeds
/// stdin as the child drains it and reads stdout and stderr as they fill, until the child
/// exits, `timeout` passes or an interrupt arrives. No thread is started: a replay is a
/// process start and this loop, where it used to be three threads as well.
pub fn run_reading(
    cmd: &mut Command,
    input: impl Read,
    timeout: Duration,
    limits: Limits,
) -> io::Result<Finished> {
    let child = spawn_contained(cmd, limits)?;
    let pgid = child.pid;
    let mut guard = GroupGuard::new(pgid);
    let pidfd = pidfd_open(pgid)?;
    let mut pipes = Pipes::new(child, input)?;
    let deadline = Instant::now() + timeout;
    let exited = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if pipes.poll(&pidfd, left.min(POLL))? {
            break true;
        }
        if left.is_zero() || interrupted() {
            break false;
        }
    };
    // Leftover children of the process would hold its pipes open: end them all, in its
    // group and, for those that left it, as orphans.
    kill_group(pgid);
    let status = wait_pid(pgid)?;
    reaped(pgid.as_raw() as u32);
    guard.disarm();
    kill_orphans();
    let (stdout, stderr) = pipes.drain()?;
    Ok(Finished {
        status: exited.then_some(status),
        stdout,
        stderr,
    })
}

/// A pidfd for process `pid`: readable once it exits.
fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; the returned fd is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by pidfd_open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sets `O_NONBLOCK` on our end of a pipe (the child's end is another open file).
fn set_nonblocking(file: &std::fs::File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on an fd `file` owns, with plain integer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A contained child's three pipes, served from one thread: stdin fed from `input` as the
/// child reads it, stdout and stderr kept as [`Captured`] (past [`OUTPUT_LIMIT`] the rest
/// is read and dropped, and the child's group killed).
struct Pipes<R> {
    pgid: Pid,
    stdin: Option<std::fs::File>,
    input: R,
    /// Bytes of `input` read ahead (allocated at the first read); `pending[at..end]` are
    /// not written yet.
    pending: Vec<u8>,
    at: usize,
    end: usize,
    outputs: [Output; 2],
}

/// One output pipe and what it has given so far; `file` is `None` at its end.
struct Output {
    file: Option<std::fs::File>,
    captured: Captured,
}

/// Bytes of a child's input read ahead: a pipe's default capacity.
const FEED_CHUNK: usize = 64 << 10;

impl<R: Read> Pipes<R> {
    fn new(child: Contained, input: R) -> io::Result<Self> {
        for file in [&child.stdin, &child.stdout, &child.stderr] {
            set_nonblocking(file)?;
        }
        let output = |file| Output {
            file: Some(file),
            captured: Captured::default(),
        };
        Ok(Pipes {
            pgid: child.pid,
            stdin: Some(child.stdin),
            input,
            pending: Vec::new(),
            at: 0,
            end: 0,
            outputs: [output(child.stdout), output(child.stderr)],
        })
    }

    /// Waits up to `wait` for the child's exit or its pipes, and serves the pipes that are
    /// ready. True once the child has exited.
    fn poll(&mut self, pidfd: &OwnedFd, wait: Duration) -> io::Result<bool> {
        let pollfd = |fd: Option<i32>, events| libc::pollfd {
            fd: fd.unwrap_or(-1),
            events,
            revents: 0,
        };
        let raw = |f: &Option<std::fs::File>| f.as_ref().map(|f| f.as_raw_fd());
        let mut fds = [
            pollfd(Some(pidfd.as_raw_fd()), libc::POLLIN),
            pollfd(raw(&self.stdin), libc::POLLOUT),
            pollfd(raw(&self.outputs[0].file), libc::POLLIN),
            pollfd(raw(&self.outputs[1].file), libc::POLLIN),
        ];
        let ms = wait.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `fds` is a valid array of pollfds for the duration of the call; fds of
        // -1 are ignored by poll.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) } < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            };
        }
        if fds[1].revents != 0 {
            self.feed();
        }
        for (k, fd) in fds[2..].iter().enumerate() {
            if fd.revents != 0 {
                self.read(k, false)?;
            }
        }
        Ok(fds[0].revents != 0)
    }

    /// Writes what the child's stdin takes now, reading more of `input` as it goes; closes
    /// stdin at the input's end. A child that stops reading (a closed pipe) is not an
    /// error: that is what crashes do.
    fn feed(&mut self) {
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        loop {
            if self.at == self.end {
                if self.pending.is_empty() {
                    self.pending = vec![0; FEED_CHUNK];
                }
                let n = loop {
                    match self.input.read(&mut self.pending) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        other => break other,
                    }
                };
                (self.at, self.end) = (
                    0,
                    n.unwrap_or_else(|e| {
                        tracing_warn(&format!("failed to feed a child's stdin: {e}"));
                        0
                    }),
                );
                if self.end == 0 {
                    self.stdin = None;
                    return;
                }
            }
            match stdin.write(&self.pending[self.at..self.end]) {
                Ok(n) => self.at += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    if e.kind() != io::ErrorKind::BrokenPipe {
                        tracing_warn(&format!("failed to feed a child's stdin: {e}"));
                    }
                    self.stdin = None;
                    return;
                }
            }
        }
    }

    /// Reads output `k` (0 stdout, 1 stderr) until it would block (`to_end`: until its
    /// end, blocking), keeping up to [`OUTPUT_LIMIT`] bytes.
    fn read(&mut self, k: usize, to_end: bool) -> io::Result<()> {
        let pgid = self.pgid;
        let out = &mut self.outputs[k];
        let Some(file) = out.file.as_mut() else {
            return Ok(());
        };
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => {
                    out.file = None;
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && !to_end => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let mut fd = libc::pollfd {
                        fd: file.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: a valid pollfd for the duration of the call.
                    unsafe { libc::poll(&mut fd, 1, -1) };
                    continue;
                }
                Err(e) => return Err(e),
            };
            out.captured.take(&buf[..n], Some(pgid))?;
        }
    }

    /// Once the child is gone: stdin closed, and stdout and stderr read to their ends.
    fn drain(mut self) -> io::Result<(Captured, Captured)> {
        self.stdin = None;
        self.read(0, true)?;
        self.read(1, true)?;
        let [stdout, stderr] = self.outputs;
        Ok((stdout.captured, stderr.captured))
    }
}

/// Reaps process `pid`, waiting for it to exit.
fn wait_pid(pid: Pid) -> io::Result<ExitStatus> {
    use std::os::unix::process::ExitStatusExt;
    let mut status = 0;
    loop {
        // SAFETY: a pid of our own child and a pointer to a live int.
        if unsafe { libc::waitpid(pid.as_raw(), &mut status, 0) } == pid.as_raw() {
            return Ok(ExitStatus::from_raw(status));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Waits until `child` exits (true) or `timeout` passes or an interrupt arrives (false),
/// without reaping it.
pub fn wait_timeout(child: &Child, timeout: Duration) -> io::Result<bool> {
    wait_pid_timeout(Pid::from_raw(child.id() as i32), timeout)
}

/// [`wait_timeout`] for the child process `pid`.
fn wait_pid_timeout(pid: Pid, timeout: Duration) -> io::Result<bool> {
    let pidfd = pidfd_open(pid)?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.min(POLL).as_millis() as i32;
        // SAFETY: pfd is a valid pollfd for the duration of the call.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            1 => return Ok(true),
            0 if left.is_zero() || interrupted() => return Ok(false),
            0 => {}
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// Kills a process group when dropped: on every path out, including a panic, nothing the
/// group started outlives the code that started it. Disarm it once the group's leader has
/// been reaped, since its id may then be reused.
#[derive(Debug)]
pub struct GroupGuard(Option<Pid>);

impl GroupGuard {
    /// Guards group `pgid`.
    pub fn new(pgid: Pid) -> Self {
        GroupGuard(Some(pgid))
    }

    /// The group is gone and reaped: dropping the guard does nothing.
    pub fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            kill_group(pgid);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_contained_process_gets_its_input_env_folder_group_and_status() {
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().canonicalize().unwrap();
        let mut cmd = std::process::Command::new("sh");
        cmd.args([
            "-c",
            "echo \"$FOO-${HOME:-none}\"; pwd; echo $$ $(cut -d' ' -f5 /proc/$$/stat); echo oops >&2; cat; exit 3",
        ])
        .env("FOO", "bar")
        .env_remove("HOME")
        .current_dir(&folder);
        let done = super::run(
            &mut cmd,
            b"fed\n",
            Duration::from_secs(20),
            super::Limits::NONE,
        )
        .unwrap();
        let out = String::from_utf8(done.stdout.bytes()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "bar-none", "{out}");
        assert_eq!(lines[1], folder.to_str().unwrap(), "{out}");
        let ids: Vec<&str> = lines[2].split(' ').collect();
        assert_eq!(ids[0], ids[1], "it leads its own process group: {out}");
        assert_eq!(lines[3], "fed", "{out}");
        assert_eq!(done.stderr.bytes(), b"oops\n");
        assert_eq!(done.status.and_then(|s| s.code()), Some(3));
    }

    /// The flush filter checks the architecture first, and lets a call of another one
    /// (an i386 program's on x86_64) run instead of killing the process as seccompiler's
    /// filters do.
    #[test]
    fn the_flush_filter_lets_calls_of_another_architecture_run() {
        let filter = super::flushes_answered().expect("this machine builds the filter");
        let ret = (libc::BPF_RET | libc::BPF_K) as u16;
        assert_eq!(
            filter[0].code,
            (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16
        );
        assert_eq!(filter[0].k, 4, "it loads seccomp_data.arch");
        assert_eq!(
            (filter[2].code, filter[2].k),
            (ret, libc::SECCOMP_RET_ALLOW)
        );
        assert!(
            !filter
                .iter()
                .any(|f| f.code == ret && f.k == libc::SECCOMP_RET_KILL_PROCESS),
            "no path kills"
        );
    }

    /// A flush in a contained process returns at once, without running: `sync` of a FIFO
    /// fails with EINVAL when its fsync runs, and succeeds here.
    #[test]
    fn a_contained_process_has_its_flushes_answered_without_running_them() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let plain = std::process::Command::new("sync")
            .arg(&fifo)
            .output()
            .unwrap();
        assert!(!plain.status.success(), "the flush runs outside crashtest");
        let mut cmd = std::process::Command::new("sync");
        cmd.arg(&fifo);
        let done = super::run(
            &mut cmd,
            b"",
            std::time::Duration::from_secs(20),
            super::Limits::NONE,
        )
        .unwrap();
        assert_eq!(
            done.status.and_then(|s| s.code()),
            Some(0),
            "{}",
            String::from_utf8_lossy(&done.stderr.bytes())
        );
    }

    #[test]
    fn a_program_that_cannot_start_is_an_error_of_its_kind() {
        use std::io::ErrorKind;
        let run = |cmd: &mut std::process::Command| {
            super::run(
                cmd,
                b"",
                std::time::Duration::from_secs(5),
                super::Limits::NONE,
            )
            .err()
            .map(|e| e.kind())
        };
        assert_eq!(
            run(&mut std::process::Command::new("/no/such/program")),
            Some(ErrorKind::NotFound)
        );
        assert_eq!(
            run(&mut std::process::Command::new("no-such-program-on-path")),
            Some(ErrorKind::NotFound)
        );
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        assert_eq!(
            run(&mut std::process::Command::new(&plain)),
            Some(ErrorKind::PermissionDenied)
        );
    }

    #[test]
    fn a_pinned_thread_and_the_processes_it_starts_run_on_its_cpu() {
        let cpus = super::allowed_cpus();
        assert!(!cpus.is_empty());
        let last = *cpus.last().unwrap();
        std::thread::spawn(move || {
            super::pin_thread(&[last]);
            assert_eq!(super::allowed_cpus(), vec![last]);
            // A child inherits the mask of the thread that forks it.
            let out = std::process::Command::new("grep")
                .args(["Cpus_allowed_list", "/proc/self/status"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.trim().ends_with(&format!("\t{last}")), "{text}");
        })
        .join()
        .unwrap();
        // Other threads keep theirs.
        assert_eq!(super::allowed_cpus(), cpus);
    }

    use super::*;

    #[test]
    fn run_captures_output_and_status() {
        let done = run(
            Command::new("sh").args(["-c", "cat; echo err >&2; exit 3"]),
            b"abc",
            Duration::from_secs(10),
            Limits::default(),
        )
        .unwrap();
        assert_eq!(done.stdout.bytes(), b"abc");
        assert_eq!(done.stderr.bytes(), b"err\n");
        assert_eq!(done.status.unwrap().code(), Some(3));
    }

    #[test]
    fn run_kills_a_hanging_group_with_its_children() {
        let started = Instant::now();
        let done = run(
            Command::new("sh").args(["-c", "sleep 30 & sleep 30"]),
            b"",
            Duration::from_millis(200),
            Limits::default(),
        )
        .unwrap();
        assert!(done.status.is_none(), "a hang is reported as no status");
        // The backgrounded child held stdout: reading it to EOF proves it died too.
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn a_limit_is_written_as_the_scenario_writes_it() {
        let limits = Limits {
            address_space: Some(2 << 20),
            file_size: Some(1000),
            cpu_seconds: Some(300),
            open_files: Some(64),
            processes: None,
        };
        let setting = |l| limits.setting(l);
        assert_eq!(
            setting(Limit::AddressSpace).as_deref(),
            Some("address-space = \"2MiB\"")
        );
        assert_eq!(
            setting(Limit::FileSize).as_deref(),
            Some("file-size = 1000")
        );
        assert_eq!(setting(Limit::Cpu).as_deref(), Some("cpu = \"300s\""));
        assert_eq!(
            setting(Limit::OpenFiles).as_deref(),
            Some("open-files = 64")
        );
        assert_eq!(setting(Limit::Processes), None);
        assert_eq!(
            Limits::default().setting(Limit::AddressSpace).as_deref(),
            Some("address-space = \"4GiB\"")
        );
    }

    // See issue 13: a target that a limit ended is told so, naming the limit's key.
    #[test]
    fn the_signs_of_a_limit_point_at_its_key() {
        let limits = Limits::default();
        let hint = |signal, said| limits.suspect(signal, said);
        assert_eq!(
            hint(Some("SIGXFSZ"), "").as_deref(),
            Some("[limits] file-size = \"1GiB\" ended it: SIGXFSZ is what a write past it gets")
        );
        assert!(
            hint(Some("SIGXCPU"), "")
                .unwrap()
                .starts_with("[limits] cpu = \"300s\" ended it")
        );
        for said in [
            "MemoryError",
            "fatal error: runtime: out of memory",
            "sh: error while loading shared libraries: libc.so.6: failed to map segment from shared object",
            "memory allocation of 4294967296 bytes failed",
            "std::bad_alloc",
            "write: cannot allocate memory",
        ] {
            assert!(
                hint(None, said).is_some_and(
                    |h| h.starts_with("[limits] address-space = \"4GiB\" may have ended it")
                ),
                "{said}"
            );
        }
        assert!(
            hint(None, "OSError: [Errno 27] File too large")
                .unwrap()
                .contains("file-size")
        );
        assert!(
            hint(None, "open: Too many open files")
                .unwrap()
                .contains("open-files")
        );
        // Nothing points at a limit: a plain segfault, a protocol error.
        assert_eq!(hint(Some("SIGSEGV"), ""), None);
        assert_eq!(hint(None, "error: short record at offset 4"), None);
        // A limit that is off ended nothing; processes is off by default.
        assert_eq!(Limits::NONE.suspect(Some("SIGXFSZ"), "MemoryError"), None);
        assert_eq!(hint(None, "fork: Resource temporarily unavailable"), None);
    }

    #[test]
    fn a_target_may_write_no_core_file() {
        // As a machine that allows core files starts crashtest: the soft limit at the hard
        // one (at most 1 MiB here), for the length of the test.
        let mut mine = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid resource and pointers to live rlimits.
        unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut mine) };
        let raised = libc::rlimit {
            rlim_cur: mine.rlim_max.min(1 << 20),
            ..mine
        };
        // SAFETY: as above; raising a soft limit up to the hard one is always allowed.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &raised) };
        let done = run(
            Command::new("sh").args(["-c", "ulimit -c"]),
            b"",
            Duration::from_secs(20),
            Limits::default(),
        );
        // SAFETY: as above.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &mine) };
        let out = String::from_utf8(done.unwrap().stdout.bytes()).unwrap();
        assert_eq!(out.trim(), "0");
    }

    // See issue 13: with the CPU limit's hard value above its soft one, a target that uses
    // up its CPU time dies of SIGXCPU, which names the limit, not of an anonymous SIGKILL.
    #[test]
    fn a_target_out_of_cpu_time_dies_of_sigxcpu() {
        use std::os::unix::process::ExitStatusExt;
        let limits = Limits {
            cpu_seconds: Some(1),
            ..Limits::NONE
        };
        let done = run(
            Command::new("sh").args(["-c", "while :; do :; done"]),
            b"",
            Duration::from_secs(60),
            limits,
        )
        .unwrap();
        let status = done.status.expect("ended by its limit, not by the timeout");
        assert_eq!(status.signal(), Some(libc::SIGXCPU), "{status}");
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
