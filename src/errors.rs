//! Every error crashtest's library returns.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::Pid;
use thiserror::Error;

// ---- scenario errors ----

/// Why a scenario file could not be turned into a [`crate::scenario::Scenario`].
///
/// Every variant names the file; the ones about its contents also name the line and column,
/// either through toml's own rendering (in the `#[source]` of [`ScenarioError::Parse`]) or in
/// the message itself ([`ScenarioError::Invalid`]).
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("failed to read scenario at {path}", path = .path.display())]
    Read {
        /// The scenario file, as the user gave it.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },

    /// The TOML is malformed, has an unknown key or a value of the wrong type, or a value
    /// fails a check that needs only that value or its table (min > max, trials = 0, ...).
    /// The source renders "TOML parse error at line N, column M" with a caret.
    #[error("failed to parse scenario at {path}", path = .path.display())]
    Parse {
        /// The scenario file, as the user gave it.
        path: PathBuf,
        /// toml's error, which carries the line, the column and the offending text.
        #[source]
        source: toml::de::Error,
    },

    /// A check across tables failed (e.g. `writers` above the target's `max_writers`).
    #[error("{path}:{line}:{column}: {message}", path = .path.display())]
    Invalid {
        /// The scenario file, as the user gave it.
        path: PathBuf,
        /// 1-based line of the offending value.
        line: usize,
        /// 1-based column (in characters) of the offending value.
        column: usize,
        /// What is wrong and what would be right.
        message: String,
    },

    /// The path names something other than a regular file: a folder, a FIFO, a device
    /// (`/dev/zero`), a socket. Refused before it is read.
    #[error("scenario at {path} is {what}, not a file: give the path of a TOML file", path = .path.display())]
    NotAFile {
        /// The scenario path, as the user gave it.
        path: PathBuf,
        /// What it is instead, e.g. `a FIFO (named pipe)`.
        what: &'static str,
    },

    /// The file is larger than a scenario may be.
    #[error(
        "scenario at {path} is larger than {limit} bytes, the most a scenario file may hold (a scenario is a short TOML file)",
        path = .path.display()
    )]
    TooLarge {
        /// The scenario file, as the user gave it.
        path: PathBuf,
        /// [`crate::scenario::MAX_SCENARIO_BYTES`].
        limit: u64,
    },

    /// The scenario's folder (where external targets run) could not be made absolute.
    #[error("failed to resolve the folder of scenario at {path}", path = .path.display())]
    Folder {
        /// The scenario file, as the user gave it.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

// ---- protocol errors ----

/// Why a protocol line is not a record in hex (see [`crate::protocol::decode`]). The words
/// are those of the `hex` crate crashtest decoded with before, which a writer's and the
/// oracle's messages carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum HexError {
    /// An odd number of digits, checked before any digit.
    #[error("Odd number of digits")]
    OddLength,
    /// The first byte that is not a hex digit.
    #[error("Invalid character {c:?} at position {index}")]
    InvalidCharacter {
        /// The byte, read as a `char` (Latin-1).
        c: char,
        /// Its 0-based position in the line.
        index: usize,
    },
}

// ---- WAL errors ----

/// An error of a built-in WAL, writer or replay side (see [`crate::wal`]).
#[derive(Debug, Error)]
pub enum WalError {
    /// A system call on the log or its folder failed.
    #[error("failed to {action} at {path}")]
    Io {
        /// What was being done, e.g. "append to log".
        action: &'static str,
        /// The log file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading the writer's input (stdin) failed.
    #[error("failed to read input line {line}")]
    Input {
        /// 1-based line number.
        line: u64,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// An input line is not a payload in hex; the writer exits 2 on this.
    #[error("input line {line} is not a record in hex")]
    BadHex {
        /// 1-based line number.
        line: u64,
        /// The cause.
        #[source]
        source: HexError,
    },
    /// Writing an ack failed (`BrokenPipe` when the harness went away).
    #[error("failed to write the ack of record {index}")]
    Ack {
        /// The record's index in this writer's stream.
        index: u64,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Printing the recovered records failed.
    #[error("failed to print the recovered records")]
    Print {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// seed-prefix replay met a record cut short: the specimen's hard error (PILOT-82),
    /// on which its replay exits 1.
    #[error("short record at offset {offset} in {path}: needs {expected} bytes, {found} remain")]
    ShortRecord {
        /// The log file.
        path: PathBuf,
        /// Where the record starts.
        offset: u64,
        /// Bytes the record needs: 4 for its header, or header + the length it claims.
        expected: u64,
        /// Bytes left in the file from `offset`.
        found: u64,
    },
}

impl WalError {
    /// Wraps an `io::Error` from `action` on `path`, for `map_err`.
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WalError {
        move |source| WalError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

// ---- tracer errors ----

/// What can go wrong while tracing a writer. A tracee that vanished under a ptrace call
/// ([`TraceError::WriterGone`]) is the normal aftermath of a SIGKILL, not a failure.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The seccomp filter could not be compiled for this machine.
    #[error("failed to build the seccomp filter: {reason}")]
    Filter {
        /// The compiler's words.
        reason: String,
    },
    /// The writer could not be started.
    #[error("failed to start writer {program:?}")]
    Spawn {
        /// argv\[0\].
        program: OsString,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A ptrace or wait call failed because the tracee no longer exists (ESRCH).
    #[error("writer thread {pid} is gone")]
    WriterGone {
        /// The thread.
        pid: Pid,
    },
    /// A ptrace or wait call failed for another reason.
    #[error("failed to {op} writer thread {pid}")]
    Ptrace {
        /// What was asked of ptrace.
        op: &'static str,
        /// The thread.
        pid: Pid,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// A boundary or an ack mark could not be kept in the temp folder (a full disk).
    #[error("failed to keep the trace in a temporary file")]
    Spill {
        /// Why.
        #[source]
        source: io::Error,
    },
    /// SIGINT or SIGTERM arrived while the writers were being started: those already
    /// started were killed.
    #[error("interrupted while the writers were started")]
    Interrupted,
    /// A state the tracer does not expect: a bug in crashtest.
    #[error("internal tracer error, please report: {what}")]
    Internal {
        /// What happened.
        what: String,
    },
}

impl TraceError {
    /// Maps a failed ptrace call on `pid`: ESRCH becomes [`TraceError::WriterGone`].
    pub fn ptrace(op: &'static str, pid: Pid, errno: Errno) -> Self {
        match errno {
            Errno::ESRCH => TraceError::WriterGone { pid },
            source => TraceError::Ptrace { op, pid, source },
        }
    }
}

/// Why a target's program never ran its first instruction: the cause of a
/// [`TraceError::Spawn`] (or of a replay that could not start) that is the target's
/// doing, so a trial reports it as its verdict and the check before the first trial as a
/// setup error, never as crashtest's failure.
#[derive(Debug, Error)]
pub enum ExecError {
    /// Nothing is there.
    #[error("{path} does not exist", path = .path.display())]
    NoSuchFile {
        /// The program, resolved against the cwd it runs in.
        path: PathBuf,
    },
    /// A bare name that no folder of `PATH` holds as an executable file.
    #[error("{program} is not a program in any folder of PATH")]
    NotOnPath {
        /// argv\[0\].
        program: String,
    },
    /// Something is there, but exec may not run it.
    #[error("{path} exists but is not executable ({what})", path = .path.display())]
    NotExecutable {
        /// The program, resolved.
        path: PathBuf,
        /// What it is instead, and what would fix it.
        what: &'static str,
    },
    /// exec said ENOENT for a program that is there: what it names to run it is not.
    #[error(
        "{path} exists, but the interpreter it names does not (its #! line, or the dynamic loader it was linked for)",
        path = .path.display()
    )]
    NoInterpreter {
        /// The program, resolved.
        path: PathBuf,
    },
    /// exec refused for want of memory, within the scenario's `[limits] address-space`.
    #[error("exec found no room to load it within [limits] {setting}")]
    NoRoom {
        /// The limit as the scenario writes it, e.g. `address-space = "2MiB"`.
        setting: String,
        /// exec's errno (ENOMEM).
        #[source]
        source: io::Error,
    },
    /// The kernel gave up loading the program past the point where exec can still fail,
    /// and the process died of `signal` (SIGSEGV) before its first instruction: what a
    /// program too large for its address space gets.
    #[error("it died of {signal} while the kernel loaded it, before its first instruction{why}")]
    DiedLoading {
        /// The signal's name.
        signal: String,
        /// `: the kernel could not map it within [limits] address-space = "2MiB"`, or the
        /// words for no limit.
        why: String,
    },
}

/// Why a traced run with its pipes ([`crate::tracer::run_piped`]) failed. `E` is what
/// its loop fails with: a [`TraceError`] for the tracer's own.
#[derive(Debug, Error)]
pub enum PipedError<E = TraceError> {
    /// The commands could not be started traced. [`TraceError::Spawn`] may be the
    /// target's fault (no such program, not executable); anything else is crashtest's.
    #[error(transparent)]
    Start(TraceError),
    /// The loop failed; the writers were killed and reaped.
    #[error(transparent)]
    Run(E),
    /// A writer's stdout or stderr could not be read, or kept in its spill file.
    #[error("failed to read a traced writer's output")]
    Output(#[source] io::Error),
}

// ---- setup and environment errors ----

/// What the check before the first trial ([`crate::run::preflight`]) found wrong with the
/// scenario's target, or with what the scenario asks of this machine: a mistake that would
/// fail every trial the same way. Exit 2.
///
/// `key` is the scenario key that names the program (`target.writer`, `target.replay`, or
/// `target.builtin` for a built-in WAL, which the crashtest executable serves).
#[derive(Debug, Error)]
pub enum SetupError {
    /// The program's path leads nowhere.
    #[error("{key} in {scenario} names {path}: no such file", scenario = .scenario.display(), path = .path.display())]
    NoSuchFile {
        /// The scenario key.
        key: &'static str,
        /// The scenario file.
        scenario: PathBuf,
        /// The program, resolved against the scenario's folder.
        path: PathBuf,
    },
    /// A bare program name that no folder of `PATH` holds as an executable file.
    #[error("{key} in {scenario} names {program}: no such program in any folder of PATH", scenario = .scenario.display())]
    NotOnPath {
        /// The scenario key.
        key: &'static str,
        /// The scenario file.
        scenario: PathBuf,
        /// argv\[0\] as the scenario gives it.
        program: String,
    },
    /// The path leads to a file without an execute bit, or to a folder.
    #[error(
        "{key} in {scenario} names {path}: it exists but is not executable ({what})",
        scenario = .scenario.display(),
        path = .path.display()
    )]
    NotExecutable {
        /// The scenario key.
        key: &'static str,
        /// The scenario file.
        scenario: PathBuf,
        /// The program, resolved.
        path: PathBuf,
        /// What it is instead, and what would fix it.
        what: &'static str,
    },
    /// The program exists but could not be run (a bad `#!` line, a binary for another
    /// machine).
    #[error("failed to start {key} of {scenario} at {path}", scenario = .scenario.display(), path = .path.display())]
    Unstartable {
        /// The scenario key.
        key: &'static str,
        /// The scenario file.
        scenario: PathBuf,
        /// The program, resolved.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `writers` asks for more writers at once than crashtest's open files hold: each
    /// writer of a trial holds descriptors in crashtest.
    #[error(
        "writers = {writers} in {scenario} is more than crashtest can run at once: each writer holds up to {per_writer} open files in crashtest, and its limit of {limit} open files (RLIMIT_NOFILE) holds {most} writers; lower writers, or raise the hard limit (ulimit -Hn)",
        scenario = .scenario.display()
    )]
    TooManyWriters {
        /// The scenario file.
        scenario: PathBuf,
        /// The scenario's `writers`.
        writers: u32,
        /// Descriptors crashtest holds per writer.
        per_writer: u64,
        /// crashtest's limit of open files, raised to the hard limit.
        limit: u64,
        /// The most writers that limit holds.
        most: u64,
    },
    /// The program ran but does not speak protocol v1: given no records (stdin closed at
    /// once) and an empty folder, a writer must print nothing and exit 0, and a replay
    /// must print no record and exit 0.
    #[error(
        "{key} in {scenario} ({path}) {what}, but protocol v1 wants {wanted}",
        scenario = .scenario.display(),
        path = .path.display()
    )]
    Protocol {
        /// The scenario key.
        key: &'static str,
        /// The scenario file.
        scenario: PathBuf,
        /// The program, resolved.
        path: PathBuf,
        /// What it did, e.g. `exited with status 4 on no records (stdin closed at once)`.
        what: String,
        /// What the protocol asks for instead.
        wanted: &'static str,
        /// What it said on stderr, if anything.
        #[source]
        said: Option<TargetSaid>,
    },
}

/// The end of a target's stderr, as the cause of its failure.
#[derive(Debug, Error)]
#[error("its stderr ends with: {tail}")]
pub struct TargetSaid {
    /// The last few hundred bytes, trimmed.
    pub tail: String,
}

/// The machine, not the target, stopped the run: no trial's verdict can be trusted on it,
/// so this is an error (exit 3), never a finding.
#[derive(Debug, Error)]
pub enum EnvironmentError {
    /// The file system the trials write to has no room left.
    #[error(
        "the file system of {path} is full ({room}): free some space, or give --work-dir a folder on another file system",
        path = .path.display(),
        room = room(*.available, *.inodes)
    )]
    Full {
        /// The work folder (the parent of the run folder).
        path: PathBuf,
        /// Bytes this user may still write there.
        available: u64,
        /// Inodes left (`None` when the file system does not count them).
        inodes: Option<u64>,
    },
    /// Starting a target under ptrace and seccomp was refused.
    #[error(
        "failed to start {program:?} under ptrace and seccomp: this machine refuses it (in a container, allow ptrace: --cap-add SYS_PTRACE --security-opt seccomp=unconfined; see also kernel.yama.ptrace_scope)",
        program = .program
    )]
    TraceRefused {
        /// argv\[0\].
        program: OsString,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// A resource limit of the scenario's `[limits]` is above the hard limit crashtest
    /// runs under, and the machine does not let it raise that.
    #[error(
        "failed to start {program:?} with the scenario's [limits] {name} = {wanted}: it is above the hard limit {hard} crashtest runs under, which this machine does not let it raise (lower it in [limits], \"unlimited\" keeps the machine's, or raise the hard limit: ulimit -H)"
    )]
    LimitRefused {
        /// argv\[0\].
        program: OsString,
        /// The key in `[limits]`, e.g. `open-files`.
        name: &'static str,
        /// The scenario's value.
        wanted: u64,
        /// The hard limit in force.
        hard: u64,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// The machine ran out of something crashtest needs to run a target: file
    /// descriptors, processes, memory or disk space.
    #[error("failed to {what} in {path}: out of a resource of this machine", path = .path.display())]
    Exhausted {
        /// What crashtest was doing.
        what: &'static str,
        /// The trial folder.
        path: PathBuf,
        /// The errno (EMFILE, ENFILE, EAGAIN, ENOMEM, ENOSPC).
        #[source]
        source: io::Error,
    },
}

/// The room left on a file system, in words.
fn room(available: u64, inodes: Option<u64>) -> String {
    match inodes {
        Some(0) => format!("{available} bytes and no inode left"),
        _ => format!("{available} bytes left"),
    }
}

// ---- trial errors ----

/// What stops a trial from being run (as opposed to a finding, which is a verdict).
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// The trial panicked: a bug in crashtest.
    #[error("trial {trial} panicked (a bug in crashtest, please report it with the repro command)")]
    Panicked {
        /// The trial.
        trial: u64,
    },
    /// SIGINT/SIGTERM arrived during the trial: its outcome is not a verdict.
    #[error("interrupted")]
    Interrupted,
    /// The tracer failed.
    #[error("failed to trace the writer")]
    Trace(#[source] TraceError),
    /// The check before the first trial found the scenario's target wrong (exit 2).
    /// Boxed: it is large, and every trial's `Result` carries the enum.
    #[error(transparent)]
    Setup(Box<SetupError>),
    /// The machine failed the run: a full disk, no descriptors left, ptrace refused (exit 3).
    #[error(transparent)]
    Environment(#[from] EnvironmentError),
    /// A crash state built from the write log differs from the folder a real kill at the
    /// same point leaves: the log missed a change (mmap, an unmodelled call), so states
    /// built from it cannot be trusted.
    #[error(
        "trial {trial}: the state built from the write log for {state} differs from the folder a real kill there leaves: {differences} (a write the tracer does not see, such as mmap; run with --reexec)"
    )]
    StateMismatch {
        /// The trial.
        trial: u64,
        /// The crash state, in words.
        state: String,
        /// How the two folders differ.
        differences: String,
    },
    /// An I/O operation of the harness failed.
    #[error("failed to {what} at {}", path.display())]
    Io {
        /// What the harness was doing.
        what: &'static str,
        /// On which file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl From<TraceError> for TrialError {
    /// A tracer interrupted is a trial interrupted, not a tracer that failed.
    fn from(e: TraceError) -> Self {
        match e {
            TraceError::Interrupted => TrialError::Interrupted,
            e => TrialError::Trace(e),
        }
    }
}

impl From<SetupError> for TrialError {
    fn from(e: SetupError) -> Self {
        TrialError::Setup(Box::new(e))
    }
}

/// `err` and its chain of causes, as `err: cause: cause`.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}
