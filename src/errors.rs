//! Every error crashtest's library returns.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

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
        source: hex::FromHexError,
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
