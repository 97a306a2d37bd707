//! Run a writer under seccomp + ptrace: its boundaries, the SIGKILL, its acks' file sizes.

pub mod filter;
pub mod oplog;
pub mod proc;
pub mod ptrace;
pub mod syscalls;

pub use oplog::Op;
pub use ptrace::{
    AckMark, Boundary, KillScope, Trace, TraceOptions, Traced, WriteAt, WriterEnd, file_sizes,
};
