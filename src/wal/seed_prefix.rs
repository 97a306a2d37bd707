//! seed-prefix: the seed's WAL before the PILOT-82 fix, kept as a specimen.
//!
//! A record is `[u32 length LE][payload]`. `append` writes the length and the payload in
//! two `write` calls and never syncs, so a crash between them leaves a length with no
//! payload; replay then fails hard on that torn tail instead of recovering.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{log_path, open_append, read_log};
use crate::errors::WalError;

/// An open seed-prefix log.
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

    /// Appends one record: the length, then the payload, in two `write` calls (the bug).
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<(), WalError> {
        let len = u32::try_from(payload.len()).expect("a record fits in u32");
        self.file
            .write_all(&len.to_le_bytes())
            .and_then(|()| self.file.write_all(payload))
            .map_err(WalError::io("append to log", &self.path))
    }
}

/// The records of the log in `dir`, or [`WalError::ShortRecord`] at the first record cut
/// short (a partial length, a payload shorter than its length).
pub(crate) fn replay(dir: &Path) -> Result<Vec<Vec<u8>>, WalError> {
    let path = log_path(dir);
    let log = read_log(&path)?;
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < log.len() {
        let rest = &log[offset..];
        let short = |expected: usize| WalError::ShortRecord {
            path: path.clone(),
            offset: offset as u64,
            expected: expected as u64,
            found: rest.len() as u64,
        };
        let (len, rest_after_len) = rest.split_first_chunk::<4>().ok_or_else(|| short(4))?;
        let len = u32::from_le_bytes(*len) as usize;
        // Checked against what remains before anything is copied: a garbage length
        // allocates nothing.
        let payload = rest_after_len.get(..len).ok_or_else(|| short(4 + len))?;
        records.push(payload.to_vec());
        offset += 4 + len;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::TRICKY_RECORDS;
    use std::fs;

    fn write_log(dir: &Path, records: &[&[u8]]) -> Vec<u8> {
        crate::wal::write_log(crate::wal::BuiltinWal::SeedPrefix, dir, records)
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
    fn torn_tail_is_a_hard_error() {
        let dir = tempfile::tempdir().unwrap();
        let log = write_log(dir.path(), &[b"ok", b"payload"]);
        let second = 4 + 2;
        // (file ends at, expected, found): mid-length, right after the length, mid-payload.
        for (end, expected, found) in [(second + 2, 4, 2), (second + 4, 11, 4), (second + 9, 11, 9)]
        {
            fs::write(log_path(dir.path()), &log[..end]).unwrap();
            match replay(dir.path()) {
                Err(WalError::ShortRecord {
                    offset: 6,
                    expected: e,
                    found: f,
                    ..
                }) => {
                    assert_eq!((e, f), (expected, found), "log cut at {end}")
                }
                other => panic!("log cut at {end}: {other:?}"),
            }
        }
    }

    #[test]
    fn garbage_length_is_a_hard_error_not_an_allocation() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(log_path(dir.path()), [0xff, 0xff, 0xff, 0xff, 1]).unwrap();
        let err = replay(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "short record at offset 0 in {}: needs 4294967299 bytes, 5 remain",
                log_path(dir.path()).display()
            )
        );
    }
}
