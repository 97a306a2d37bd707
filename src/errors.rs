//! Every error crashtest's library returns.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::unistd::Pid;

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

// ---- trial errors ----

/// What stops a trial from being run (as opposed to a finding, which is a verdict).
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// The tracer failed.
    #[error("failed to trace the writer")]
    Trace(#[from] TraceError),
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
