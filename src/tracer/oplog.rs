//! The write log: every file-changing syscall of a run that actually ran, with its data.
//!
//! A power-loss fault rebuilds the trial folder from it: each file as it stood at its
//! last sync, plus some of the later writes. Paths are relative to the trial folder;
//! a write to a file opened with `O_APPEND` carries the offset it landed at (the file's
//! size when the tracer stopped the call), which is exact for one writer and a best guess
//! when several writers race.

use serde::{Deserialize, Serialize};

/// One change to the trial folder, in the order the writer made them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "op")]
pub enum Op {
    /// `data` written at `offset` of `file` (write, pwrite64, writev, pwritev).
    Write {
        /// The file.
        file: String,
        /// Where the data went.
        offset: u64,
        /// The bytes (only the first j of them for a torn write).
        data: Vec<u8>,
    },
    /// `file` cut or extended to `len` bytes (ftruncate, truncate, open with O_TRUNC).
    Truncate {
        /// The file.
        file: String,
        /// Its new length.
        len: u64,
    },
    /// `file` was synced (fsync, fdatasync): its data is durable up to here.
    Sync {
        /// The file.
        file: String,
    },
    /// Directory `dir` was fsynced ("." is the trial folder): its entries are durable.
    SyncDir {
        /// The directory.
        dir: String,
    },
    /// `file` was created, empty, if it did not exist (open/openat with O_CREAT, creat).
    Create {
        /// The file.
        file: String,
    },
    /// Directory `dir` was created.
    Mkdir {
        /// The directory.
        dir: String,
    },
    /// `from` was renamed to `to`, replacing it.
    Rename {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// `file` was unlinked (or an empty directory removed).
    Remove {
        /// The name.
        file: String,
    },
    /// A call whose effect on data the log cannot model (copy_file_range, sendfile,
    /// fallocate, sync_file_range, syncfs, link, symlink): a power-loss state built from
    /// this log may not match reality for `file`.
    Unmodelled {
        /// The file or directory.
        file: String,
        /// The syscall.
        syscall: String,
    },
}

impl Op {
    /// The op as a write torn after `keep` bytes leaves it: a write keeps its first `keep`
    /// bytes; any other op is unchanged.
    pub fn torn(self, keep: u64) -> Op {
        match self {
            Op::Write {
                file,
                offset,
                mut data,
            } => {
                data.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
                Op::Write { file, offset, data }
            }
            other => other,
        }
    }

    /// The file or directory the op changes (the new name, for a rename).
    pub fn file(&self) -> &str {
        match self {
            Op::Write { file, .. }
            | Op::Truncate { file, .. }
            | Op::Sync { file }
            | Op::Create { file }
            | Op::Remove { file }
            | Op::Unmodelled { file, .. } => file,
            Op::SyncDir { dir } | Op::Mkdir { dir } => dir,
            Op::Rename { to, .. } => to,
        }
    }
}
