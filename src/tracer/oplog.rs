//! The write log: every file-changing syscall of a run that actually ran, with its data.
//!
//! A power-loss fault rebuilds the trial folder from it: each file as it stood at its
//! last sync, plus some of the later writes. Paths are relative to the trial folder.
//!
//! What the tracer knows at a call's start, and what only at its return ([`OpLog`]):
//! - A write with an explicit offset (`pwrite64`, `pwritev`) lands where it says; a
//!   `write` lands at the fd's position, or, with `O_APPEND`, at the end of the file. With
//!   one thread traced, the end of file at the start is where it lands. While other
//!   threads or processes run, one of them may append first: the tracer then stops the
//!   call again at its return, and takes the offset from the fd's position then, less
//!   the count the call returned, and only the bytes it wrote.
//! - A call that names files (create, mkdir, rename, unlink, truncate) may fail: the
//!   tracer takes its return, and a failed call leaves no op.
//! - Writes and syncs through an fd are taken at their start; one that fails (`ENOSPC`,
//!   `EIO`) is logged as if it had run. The run that sees such a failure is the machine's
//!   (a full disk stops the run: see `trial::machine`).

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
    /// `file` grown to at least `len` bytes, with zeros; never shrunk (fallocate mode 0).
    Extend {
        /// The file.
        file: String,
        /// The length it has at least now.
        len: u64,
    },
    /// `len` bytes of `file` from `offset` read as zeros (fallocate's `PUNCH_HOLE` and
    /// `ZERO_RANGE`); the file grows to `offset + len` unless `keep_size`.
    Zero {
        /// The file.
        file: String,
        /// The first byte zeroed.
        offset: u64,
        /// How many bytes.
        len: u64,
        /// `FALLOC_FL_KEEP_SIZE`: the zeroed range stops at the file's size.
        keep_size: bool,
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
    /// fallocate's collapse and insert ranges, syncfs, link, symlink, io_uring_setup): a
    /// power-loss state built from this log may not match reality for `file`.
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
            | Op::Extend { file, .. }
            | Op::Zero { file, .. }
            | Op::Sync { file }
            | Op::Create { file }
            | Op::Remove { file }
            | Op::Unmodelled { file, .. } => file,
            Op::SyncDir { dir } | Op::Mkdir { dir } => dir,
            Op::Rename { to, .. } => to,
        }
    }
}

/// Why an [`Op::Unmodelled`] call leaves the write log short, in words.
pub fn unmodelled_words(file: &str, syscall: &str) -> String {
    if syscall == "io_uring_setup" {
        "the writer set up io_uring (io_uring_setup): the tracer does not see the writes and syncs it submits".to_owned()
    } else {
        format!("the write log holds {syscall}({file}), whose effect it cannot model")
    }
}

/// The op of `fallocate(fd, mode, offset, len)` on `file`: `None` for a change no reader
/// sees (`KEEP_SIZE` alone preallocates), `Unmodelled` for modes that move data.
pub fn fallocate(file: &str, mode: u64, offset: u64, len: u64) -> Option<Op> {
    let keep_size = mode & libc::FALLOC_FL_KEEP_SIZE as u64 != 0;
    let zeroes = mode & (libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_ZERO_RANGE) as u64 != 0;
    let known = (libc::FALLOC_FL_KEEP_SIZE
        | libc::FALLOC_FL_PUNCH_HOLE
        | libc::FALLOC_FL_ZERO_RANGE) as u64;
    let file = file.to_owned();
    if mode & !known != 0 {
        return Some(Op::Unmodelled {
            file,
            syscall: format!("fallocate mode {mode:#x}"),
        });
    }
    match (zeroes, keep_size) {
        (true, _) => Some(Op::Zero {
            file,
            offset,
            len,
            keep_size,
        }),
        (false, true) => None,
        (false, false) => Some(Op::Extend {
            file,
            len: offset.saturating_add(len),
        }),
    }
}

/// The write log as the tracer builds it. A call's ops take their places when the call
/// starts, so the log keeps the order calls began in (what a kill at a later boundary
/// follows); a call whose result the tracer waits for is then corrected (where an
/// `O_APPEND` write landed, how many bytes it wrote) or dropped (it failed) when it
/// returns. A call that never returns (its thread was killed inside it) keeps the ops its
/// start described.
#[derive(Debug, Default)]
pub struct OpLog {
    slots: Vec<Option<Op>>,
    /// Per boundary: how many slots came before it.
    marks: Vec<usize>,
    /// The slots of calls that may or may not have run when the kill came.
    unsure: Vec<std::ops::Range<usize>>,
}

impl OpLog {
    /// A boundary starts here: its own ops are the ones pushed next.
    pub fn mark(&mut self) {
        self.marks.push(self.slots.len());
    }

    /// Appends a call's ops; the range names their slots.
    pub fn extend(&mut self, ops: impl IntoIterator<Item = Op>) -> std::ops::Range<usize> {
        let start = self.slots.len();
        self.slots.extend(ops.into_iter().map(Some));
        start..self.slots.len()
    }

    /// The op in slot `at`, unless it was dropped.
    pub fn get_mut(&mut self, at: usize) -> Option<&mut Op> {
        self.slots.get_mut(at).and_then(Option::as_mut)
    }

    /// Drops the ops of a call that failed: they never happened.
    pub fn drop(&mut self, slots: std::ops::Range<usize>) {
        for slot in &mut self.slots[slots] {
            *slot = None;
        }
    }

    /// The ops in `slots` may or may not have happened: their call had not returned to
    /// the tracer when the kill came (another thread's, let run a moment before).
    pub fn unsure(&mut self, slots: std::ops::Range<usize>) {
        self.unsure.push(slots);
    }

    /// The ops that happened (and those that may have), in order; per boundary how many
    /// of them came before it; and the ranges of those that may not have happened.
    pub fn finish(self) -> (Vec<Op>, Vec<usize>, Vec<std::ops::Range<usize>>) {
        // kept[i]: how many ops of slots[..i] were kept.
        let mut kept = Vec::with_capacity(self.slots.len() + 1);
        kept.push(0);
        for slot in &self.slots {
            kept.push(kept.last().copied().unwrap_or(0) + usize::from(slot.is_some()));
        }
        let marks = self.marks.iter().map(|&m| kept[m]).collect();
        let mut unsure: Vec<std::ops::Range<usize>> = self
            .unsure
            .iter()
            .map(|r| kept[r.start]..kept[r.end])
            .filter(|r| !r.is_empty())
            .collect();
        unsure.sort_by_key(|r| r.start);
        unsure.dedup();
        (self.slots.into_iter().flatten().collect(), marks, unsure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(file: &str) -> Op {
        Op::Create {
            file: file.to_owned(),
        }
    }

    #[test]
    fn a_dropped_call_leaves_no_op_and_later_marks_count_only_kept_ops() {
        let mut log = OpLog::default();
        log.mark();
        log.extend([create("a")]);
        log.mark();
        let failed = log.extend([create("b"), create("c")]);
        log.mark();
        log.extend([create("d")]);
        log.drop(failed);
        let (ops, marks, _) = log.finish();
        assert_eq!(ops, vec![create("a"), create("d")]);
        assert_eq!(marks, vec![0, 1, 1]);
    }

    #[test]
    fn a_corrected_op_keeps_its_place() {
        let mut log = OpLog::default();
        log.mark();
        let slots = log.extend([Op::Write {
            file: "wal".into(),
            offset: 0,
            data: b"abcd".to_vec(),
        }]);
        log.mark();
        log.extend([create("x")]);
        if let Some(Op::Write { offset, data, .. }) = log.get_mut(slots.start) {
            *offset = 8;
            data.truncate(2);
        }
        let (ops, marks, _) = log.finish();
        assert_eq!(
            ops[0],
            Op::Write {
                file: "wal".into(),
                offset: 8,
                data: b"ab".to_vec()
            }
        );
        assert_eq!(marks, vec![0, 1]);
    }
}
