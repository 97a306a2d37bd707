//! seed-postfix: the PILOT-82 fix as merged, gaps included on purpose.
//!
//! A record is `[u32 length LE][payload]`, appended in one `write`; replay treats a short
//! header or payload as a torn tail and stops there. Still no checksum, no cut of the torn
//! tail and no fsync: a zero-filled tail replays as invented empty records, and garbage
//! that parses replays as records. The harness must catch both.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{log_path, open_append, read_log};
use crate::errors::WalError;

/// An open seed-postfix log.
pub(crate) struct Writer {
    file: File,
    path: PathBuf,
}

impl Writer {
    /// Opens (creating) the log in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Writer, WalError> {
        let path = log_path(dir);
        Ok(Writer {
            file: open_append(&path)?,
            path,
        })
    }

    /// Appends one record in one `write` call.
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<(), WalError> {
        let len = u32::try_from(payload.len()).expect("a record fits in u32");
        let record = [&len.to_le_bytes()[..], payload].concat();
        self.file
            .write_all(&record)
            .map_err(WalError::io("append to log", &self.path))
    }
}

/// The records of the log in `dir` up to the first record cut short.
pub(crate) fn replay(dir: &Path) -> Result<Vec<Vec<u8>>, WalError> {
    let log = read_log(&log_path(dir))?;
    let mut records = Vec::new();
    let mut rest = &log[..];
    while let Some((len, after_len)) = rest.split_first_chunk::<4>() {
        let len = u32::from_le_bytes(*len) as usize;
        let Some(payload) = after_len.get(..len) else {
            break;
        };
        records.push(payload.to_vec());
        rest = &after_len[len..];
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::TRICKY_RECORDS;
    use std::fs;

    fn write_log(dir: &Path, records: &[&[u8]]) -> Vec<u8> {
        crate::wal::write_log(crate::wal::BuiltinWal::SeedPostfix, dir, records)
    }

    #[test]
    fn replay_returns_appended_records_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), &TRICKY_RECORDS);
        assert_eq!(
            replay(dir.path()).unwrap(),
            TRICKY_RECORDS.map(<[u8]>::to_vec)
        );
    }

    #[test]
    fn torn_tail_stops_replay_and_stays_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = write_log(dir.path(), &[b"ok", b"payload"]);
        let second = 4 + 2;
        for end in [second + 2, second + 4, second + 9] {
            fs::write(log_path(dir.path()), &log[..end]).unwrap();
            assert_eq!(replay(dir.path()).unwrap(), [b"ok"], "log cut at {end}");
            assert_eq!(
                fs::metadata(log_path(dir.path())).unwrap().len(),
                end as u64
            );
        }
        fs::write(log_path(dir.path()), [&log[..second], &[0xff; 5]].concat()).unwrap();
        assert_eq!(replay(dir.path()).unwrap(), [b"ok"], "garbage length");
    }

    /// The hole the PR left: without a checksum, a zero-filled tail (what a power loss
    /// leaves after an extended but unwritten file) parses as empty records that were
    /// never appended.
    #[test]
    fn zero_filled_tail_replays_as_invented_empty_records() {
        let dir = tempfile::tempdir().unwrap();
        let log = write_log(dir.path(), &[b"ok"]);
        fs::write(log_path(dir.path()), [&log[..], &[0; 8]].concat()).unwrap();
        assert_eq!(replay(dir.path()).unwrap(), [&b"ok"[..], b"", b""]);
    }
}
