//! The WALs that ship with crashtest. Two are specimens of the seed's design (PILOT-82),
//! before and after its fix, kept so that the harness proves it catches them; one is the
//! WAL that fix should have been; and one is crashtest's own results file, served as a log
//! so that crashtest can crash-test the writer of its results.
//!
//! Each speaks target protocol v1 through [`run_writer`] and [`run_replay`]; the log is
//! the one file [`BuiltinWal::file`] in the trial folder.

mod crc;
mod protocol;
mod results;
mod seed_postfix;
mod seed_prefix;

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::errors::WalError;
use crate::protocol::Durability;

pub use protocol::{run_replay, run_writer};

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
    /// crashtest's own results file ([`crate::results_file::ResultsFile`]): one JSON line per
    /// record, appended whole and fdatasynced before the ack; a torn last line is cut.
    Results,
}

impl BuiltinWal {
    /// All built-in WALs, in the order they are listed to users.
    pub const ALL: [BuiltinWal; 4] = [
        BuiltinWal::SeedPrefix,
        BuiltinWal::SeedPostfix,
        BuiltinWal::Crc,
        BuiltinWal::Results,
    ];

    /// The name used in scenarios and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinWal::SeedPrefix => "seed-prefix",
            BuiltinWal::SeedPostfix => "seed-postfix",
            BuiltinWal::Crc => "crc",
            BuiltinWal::Results => "results",
        }
    }

    /// What this WAL's ack promises. All promise `fsync`: the seed's server acked a
    /// client's write once `Append` returned, as a WAL's caller expects of it; the
    /// specimens never fsync, a hole that SIGKILL alone cannot show and power loss does.
    /// A results line is synced before the run goes on, so a finding outlives a power loss.
    pub fn durability(self) -> Durability {
        Durability::Fsync
    }

    /// The file it keeps in `CRASHTEST_DIR`.
    pub fn file(self) -> &'static str {
        match self {
            BuiltinWal::SeedPrefix | BuiltinWal::SeedPostfix | BuiltinWal::Crc => WAL_LOG,
            BuiltinWal::Results => "results.jsonl",
        }
    }
}

/// The log file of the PILOT-82 WALs (seed-prefix, seed-postfix, crc).
const WAL_LOG: &str = "wal.log";

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

/// The log's path in `dir`, for the WALs that keep [`WAL_LOG`].
fn log_path(dir: &Path) -> PathBuf {
    dir.join(WAL_LOG)
}

/// The whole log; a log that was never created is empty.
fn read_log(path: &Path) -> Result<Vec<u8>, WalError> {
    match std::fs::read(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        read => read.map_err(WalError::io("read log", path)),
    }
}

/// Opens the log for appending (O_APPEND), creating it if needed, as the seed's Go code
/// did: no fsync of the file or of its folder.
fn open_append(path: &Path) -> Result<File, WalError> {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .map_err(WalError::io("open log", path))
}

/// Payloads that break naive framings: empty, NUL, newline, and bytes that look like a
/// header (a length of 3, a length of `u32::MAX`).
#[cfg(test)]
const TRICKY_RECORDS: [&[u8]; 6] = [
    b"",
    b"a\0b",
    b"\n",
    b"",
    &[3, 0, 0, 0, 0xff],
    &[0xff, 0xff, 0xff, 0xff],
];

/// Appends `records` to the `wal` log in `dir` as its writer serves them (target protocol
/// v1), and returns the log's bytes: the tests' way to make a log.
#[cfg(test)]
fn write_log(wal: BuiltinWal, dir: &Path, records: &[&[u8]]) -> Vec<u8> {
    let records: Vec<Vec<u8>> = records.iter().map(|r| r.to_vec()).collect();
    let input = crate::protocol::writer_input(&records);
    protocol::run_writer(wal, dir, &input[..], io::sink()).unwrap();
    std::fs::read(dir.join(wal.file())).unwrap()
}
