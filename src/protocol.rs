//! Target protocol v1, the one contract between crashtest and the program it tests
//! (written out for target authors in `docs/target-protocol.md`): a writer reads records
//! and acks them, a replay prints what it recovered.
//!
//! The protocol's words live here, apart from [`crate::target`] (how a target is started)
//! and [`crate::wal`] (the targets that ship with crashtest), so that both can name them
//! without naming each other.

use std::fmt;

use serde::{Deserialize, Serialize};

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
