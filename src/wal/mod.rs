//! The WALs that ship with crashtest. Two are specimens of the seed's design (PILOT-82),
//! before and after its fix, kept so that the harness proves it catches them; one is the
//! WAL that fix should have been.

use std::fmt;
use std::str::FromStr;

use crate::target::Durability;

/// A built-in WAL, exposed as a target (`crashtest target NAME write|replay`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BuiltinWal {
    /// The seed's design before its fix: length and payload in two `write` calls; replay
    /// fails hard on a short payload.
    SeedPrefix,
    /// The PR's fix: one `write` of `[len][payload]`, a short tail treated as torn; no
    /// checksum, no cut of the torn tail, no fsync.
    SeedPostfix,
    /// Length + CRC32C per record, fdatasync before the ack, recovery cuts the torn tail.
    Crc,
}

impl BuiltinWal {
    /// All built-in WALs, in the order they are listed to users.
    pub const ALL: [BuiltinWal; 3] = [
        BuiltinWal::SeedPrefix,
        BuiltinWal::SeedPostfix,
        BuiltinWal::Crc,
    ];

    /// The name used in scenarios and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinWal::SeedPrefix => "seed-prefix",
            BuiltinWal::SeedPostfix => "seed-postfix",
            BuiltinWal::Crc => "crc",
        }
    }

    /// What this WAL's ack promises.
    pub fn durability(self) -> Durability {
        match self {
            BuiltinWal::SeedPrefix | BuiltinWal::SeedPostfix => Durability::Process,
            BuiltinWal::Crc => Durability::Fsync,
        }
    }

    /// The file it keeps in `CRASHTEST_DIR`.
    pub const FILE: &'static str = "wal.log";
}

impl fmt::Display for BuiltinWal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BuiltinWal {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BuiltinWal::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = BuiltinWal::ALL.iter().map(|w| w.name()).collect();
                format!(
                    "unknown built-in WAL '{s}', expected one of: {}",
                    names.join(", ")
                )
            })
    }
}
