//! How a writer and a replay are started: a built-in WAL (run as `crashtest target NAME
//! write|replay`, so it speaks target protocol v1 exactly as an external program does) or
//! an external command from the scenario's `[target]` table.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::wal::BuiltinWal;

/// What a writer's ack promises about the acknowledged record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// The append returned: the record survives the death of the process (it is in the
    /// page cache) but not a power loss.
    Process,
    /// The record was synced (fsync/fdatasync) before the ack: it survives a power loss.
    Fsync,
    /// Nothing is promised: an ack only means the writer saw the record.
    None,
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Durability::Process => "process",
            Durability::Fsync => "fsync",
            Durability::None => "none",
        })
    }
}

/// The two sides of target protocol v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Appends records read from stdin, acks each on stdout.
    Write,
    /// Prints every recovered record as a hex line.
    Replay,
}

impl Role {
    /// The role's word on a built-in target's command line.
    pub fn word(self) -> &'static str {
        match self {
            Role::Write => "write",
            Role::Replay => "replay",
        }
    }
}

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
