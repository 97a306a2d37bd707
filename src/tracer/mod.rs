//! Run a writer under seccomp + ptrace: its boundaries, the SIGKILL, its acks' file sizes;
//! [`run_piped`] starts it with its pipes wired and runs the loop in one call.

pub mod filter;
pub mod oplog;
pub mod proc;
pub mod ptrace;
pub mod run;
pub mod syscalls;

pub use oplog::Op;
pub use ptrace::{
    AckMark, Boundary, Execed, KillScope, Trace, TraceOptions, Traced, WriteAt, WriterEnd,
    file_sizes,
};
pub use run::{Piped, run_piped, run_piped_with};
