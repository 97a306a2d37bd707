//! results: crashtest's own results file, served as a log so that crashtest can crash-test
//! the code that writes its findings (`scenarios/results-writer.toml`).
//!
//! The writer is [`ResultsFile::open_append`] and [`ResultsFile::append_line`], exactly as a
//! run uses them: a record is the line `{"type":"finding","payload":"<hex>"}`, appended in
//! one `write` and fdatasynced before the ack. Replay is [`read_results`] after the same
//! cut of a torn last line that opening for append makes; a corrupt file (a bad line with
//! more after it) is an error, and so is a whole line that is not such a record.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::BuiltinWal;
use crate::errors::{TrialError, WalError, chain};
use crate::protocol;
use crate::results_file::{ReadStatus, ResultsFile, read_results};

/// A record as a results line.
#[derive(Serialize)]
struct Record {
    #[serde(rename = "type")]
    kind: &'static str,
    payload: String,
}

/// The results file in `dir`.
fn path(dir: &Path) -> PathBuf {
    dir.join(BuiltinWal::Results.file())
}

/// An open results file, its torn tail already cut.
pub(crate) struct Writer {
    file: ResultsFile,
}

impl Writer {
    /// Opens (creating) the results file in `dir`, cutting a torn last line.
    pub(crate) fn open(dir: &Path) -> Result<Writer, WalError> {
        let file = ResultsFile::open_append(&path(dir)).map_err(wal_error)?;
        Ok(Writer { file })
    }

    /// Appends one record as one whole line, synced.
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<(), WalError> {
        self.file
            .append_line(&Record {
                kind: "finding",
                payload: protocol::encode(payload),
            })
            .map_err(wal_error)
    }
}

/// The records of the results file in `dir`, after cutting its torn last line off.
pub(crate) fn replay(dir: &Path) -> Result<Vec<Vec<u8>>, WalError> {
    let path = path(dir);
    if !path.exists() {
        return Ok(Vec::new());
    }
    ResultsFile::open_append(&path).map_err(wal_error)?;
    let (lines, status) = read_results(&path).map_err(WalError::io("read results", &path))?;
    if status != ReadStatus::Complete {
        // open_append just cut the tail (or refused a corrupt file), and nothing else writes.
        return Err(invalid(&path, format!("still {status:?} after the cut")));
    }
    lines
        .iter()
        .enumerate()
        .map(|(n, line)| {
            line.get("payload")
                .and_then(|p| p.as_str())
                .filter(|_| line["type"] == "finding")
                .and_then(|p| protocol::decode(p.as_bytes()).ok())
                .ok_or_else(|| {
                    invalid(
                        &path,
                        format!("line {} is not a finding with a payload in hex", n + 1),
                    )
                })
        })
        .collect()
}

fn invalid(path: &Path, why: String) -> WalError {
    WalError::io("read results", path)(io::Error::new(io::ErrorKind::InvalidData, why))
}

/// A results file's error as the WAL's: the same action, path and cause.
fn wal_error(e: TrialError) -> WalError {
    match e {
        TrialError::Io { what, path, source } => WalError::Io {
            action: what,
            path,
            source,
        },
        other => WalError::Io {
            action: "use results file",
            path: PathBuf::new(),
            source: io::Error::other(chain(&other)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::TRICKY_RECORDS;
    use std::fs;

    fn write(dir: &Path, records: &[&[u8]]) -> Vec<u8> {
        crate::wal::write_log(crate::wal::BuiltinWal::Results, dir, records)
    }

    #[test]
    fn replay_returns_appended_records_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let log = write(dir.path(), &TRICKY_RECORDS);
        assert_eq!(
            replay(dir.path()).unwrap(),
            TRICKY_RECORDS.map(<[u8]>::to_vec)
        );
        assert_eq!(fs::read(path(dir.path())).unwrap(), log, "nothing is cut");
        assert!(log.starts_with(br#"{"type":"finding","payload":""}"#));
    }

    #[test]
    fn a_torn_tail_is_cut_by_replay_and_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let log = write(dir.path(), &[b"one", b"two"]);
        let first = log.iter().position(|&b| b == b'\n').unwrap() + 1;
        // Into the second line, and just before its newline: either way it is torn.
        for end in [first + 1, log.len() - 1] {
            fs::write(path(dir.path()), &log[..end]).unwrap();
            assert_eq!(replay(dir.path()).unwrap(), [b"one"], "cut at {end}");
            assert_eq!(fs::metadata(path(dir.path())).unwrap().len(), first as u64);
            fs::write(path(dir.path()), [&log[..end], &[0; 40]].concat()).unwrap();
            write(dir.path(), &[b"three"]);
            assert_eq!(replay(dir.path()).unwrap(), [&b"one"[..], b"three"]);
            fs::write(path(dir.path()), &log).unwrap();
        }
    }

    #[test]
    fn a_bad_line_with_lines_after_it_fails_replay() {
        let dir = tempfile::tempdir().unwrap();
        let log = write(dir.path(), &[b"one", b"two"]);
        let mut bad = log.clone();
        bad[3] = b'\n';
        fs::write(path(dir.path()), &bad).unwrap();
        let err = replay(dir.path()).unwrap_err();
        assert!(chain(&err).contains("line 1 (offset 0)"), "{}", chain(&err));
        fs::write(
            path(dir.path()),
            [&log[..], b"{\"type\":\"run\"}\n"].concat(),
        )
        .unwrap();
        let err = replay(dir.path()).unwrap_err();
        assert!(
            chain(&err).contains("line 3 is not a finding"),
            "{}",
            chain(&err)
        );
    }
}
