//! How a writer and a replay are started: a built-in WAL (run as `crashtest target NAME
//! write|replay`, so it speaks target protocol v1 exactly as an external program does) or
//! an external command from the scenario's `[target]` table.

use std::path::PathBuf;

use crate::protocol::Durability;
use crate::wal::BuiltinWal;

/// Which program plays the writer and the replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// A WAL that ships with crashtest.
    Builtin(BuiltinWal),
    /// An external program: two argv lists, run with cwd = the scenario's folder.
    Command {
        /// argv of the writer.
        writer: Vec<String>,
        /// argv of the replay.
        replay: Vec<String>,
    },
}

/// A target as the scenario resolved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetSpec {
    /// Built-in or external.
    pub kind: TargetKind,
    /// What an ack promises.
    pub durability: Durability,
    /// Globs, relative to `CRASHTEST_DIR`, naming the files that file faults may touch.
    pub files: Vec<String>,
    /// How many writers the target supports at once (None: no limit).
    pub max_writers: Option<u32>,
    /// The folder external commands run in (the scenario's folder).
    pub cwd: PathBuf,
}
