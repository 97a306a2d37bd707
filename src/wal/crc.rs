//! crc: the WAL the PILOT-82 fix should have been.
//!
//! A record is `[u32 len LE][u32 crc32c(len bytes ++ payload) LE][payload]`. Opening the
//! log, to write or to replay, keeps the longest prefix of whole records whose CRCs match
//! and cuts the rest off (ftruncate + fsync), so a torn tail, a zero-filled tail (even a
//! zero-length record has a non-zero CRC) or a flipped bit never reaches a reader and the
//! next append lands right after the last good record. An append is one `write` of the
//! whole record (O_APPEND), then `fdatasync`, then the ack. Creating the log also syncs
//! its folder, so the file itself survives a power loss.
//!
//! One writer at a time: the cut on open could cut a record that another live writer is
//! still writing.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::log_path;
use crate::errors::WalError;

/// Bytes before a record's payload: length and CRC.
const HEADER: usize = 8;

/// An open crc log, its bad tail already cut.
pub(crate) struct Writer {
    file: File,
    path: PathBuf,
}

impl Writer {
    /// Opens the log in `dir`, creating it (and syncing `dir`) if it does not exist, and
    /// cuts any bad tail.
    pub(crate) fn open(dir: &Path) -> Result<Writer, WalError> {
        let path = log_path(dir);
        let mut options = File::options();
        options.read(true).append(true);
        let mut file = match options.clone().create_new(true).open(&path) {
            Ok(file) => {
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(WalError::io("sync folder", dir))?;
                file
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => options
                .open(&path)
                .map_err(WalError::io("open log", &path))?,
            Err(e) => return Err(WalError::io("create log", &path)(e)),
        };
        recover(&mut file, &path)?;
        Ok(Writer { file, path })
    }

    /// Appends one record in one `write`, then `fdatasync`s it.
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<(), WalError> {
        let len = u32::try_from(payload.len())
            .expect("a record fits in u32")
            .to_le_bytes();
        let crc = checksum(len, payload).to_le_bytes();
        let record = [&len[..], &crc, payload].concat();
        self.file
            .write_all(&record)
            .map_err(WalError::io("append to log", &self.path))?;
        self.file
            .sync_data()
            .map_err(WalError::io("sync log", &self.path))
    }
}

/// The records of the log in `dir`, after cutting its bad tail off the file.
pub(crate) fn replay(dir: &Path) -> Result<Vec<Vec<u8>>, WalError> {
    let path = log_path(dir);
    match File::options().read(true).write(true).open(&path) {
        Ok(mut file) => recover(&mut file, &path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(WalError::io("open log", &path)(e)),
    }
}

/// Reads `file` from the start, cuts it after its last good record and returns the
/// records before the cut.
fn recover(file: &mut File, path: &Path) -> Result<Vec<Vec<u8>>, WalError> {
    let mut log = Vec::new();
    file.read_to_end(&mut log)
        .map_err(WalError::io("read log", path))?;
    let (records, good) = scan(&log);
    if good < log.len() {
        file.set_len(good as u64)
            .and_then(|()| file.sync_all())
            .map_err(WalError::io("cut the torn tail of log", path))?;
    }
    Ok(records.into_iter().map(<[u8]>::to_vec).collect())
}

/// The longest prefix of `log` made of good records: their payloads, and its length.
/// Lengths are checked against what remains before any slicing, so a garbage length
/// allocates nothing.
fn scan(log: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut records = Vec::new();
    let mut good = 0;
    while let Some((len, rest)) = log[good..].split_first_chunk::<4>() {
        let Some((crc, rest)) = rest.split_first_chunk::<4>() else {
            break;
        };
        let Some(payload) = rest.get(..u32::from_le_bytes(*len) as usize) else {
            break;
        };
        if checksum(*len, payload) != u32::from_le_bytes(*crc) {
            break;
        }
        records.push(payload);
        good += HEADER + payload.len();
    }
    (records, good)
}

/// The CRC of a record: CRC32C over its length bytes, then its payload.
fn checksum(len: [u8; 4], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len), payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::TRICKY_RECORDS;
    use std::fs;

    fn write_log(dir: &Path, records: &[&[u8]]) -> Vec<u8> {
        let mut w = Writer::open(dir).unwrap();
        for r in records {
            w.append(r).unwrap();
        }
        fs::read(log_path(dir)).unwrap()
    }

    fn file_len(dir: &Path) -> usize {
        fs::metadata(log_path(dir)).unwrap().len() as usize
    }

    #[test]
    fn replay_returns_appended_records_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let log = write_log(dir.path(), &TRICKY_RECORDS);
        assert_eq!(
            replay(dir.path()).unwrap(),
            TRICKY_RECORDS.map(<[u8]>::to_vec)
        );
        assert_eq!(
            fs::read(log_path(dir.path())).unwrap(),
            log,
            "a good log is not cut"
        );
    }

    #[test]
    fn torn_tail_is_cut_on_open_and_appends_resume() {
        let dir = tempfile::tempdir().unwrap();
        let log = write_log(dir.path(), &[b"one", b"two"]);
        let first = HEADER + 3;
        for end in [first + 2, first + HEADER, first + HEADER + 1] {
            fs::write(log_path(dir.path()), &log[..end]).unwrap();
            write_log(dir.path(), &[b"three", b""]);
            assert_eq!(
                replay(dir.path()).unwrap(),
                [&b"one"[..], b"three", b""],
                "cut at {end}"
            );
        }
    }

    #[test]
    fn huge_length_is_cut_without_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let log = write_log(dir.path(), &[b"one"]);
        let garbage = [&log[..], &[0xff; 4], &[0; 4], b"tail"].concat();
        fs::write(log_path(dir.path()), garbage).unwrap();
        assert_eq!(replay(dir.path()).unwrap(), [b"one"]);
        assert_eq!(file_len(dir.path()), log.len());
    }

    #[test]
    fn zero_filled_tail_is_rejected_and_cut() {
        assert_ne!(
            crc32c::crc32c(&[0; 4]),
            0,
            "an empty record's CRC must not be 0"
        );
        let dir = tempfile::tempdir().unwrap();
        let log = write_log(dir.path(), &[b"", b"one"]);
        fs::write(log_path(dir.path()), [&log[..], &[0; 64]].concat()).unwrap();
        assert_eq!(replay(dir.path()).unwrap(), [&b""[..], b"one"]);
        assert_eq!(file_len(dir.path()), log.len());
    }

    #[test]
    fn flipped_bit_stops_replay_before_that_record_and_cuts_there() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = write_log(dir.path(), &[b"one", b"two", b"six"]);
        let second = HEADER + 3;
        log[second + HEADER + 1] ^= 0x10;
        fs::write(log_path(dir.path()), &log).unwrap();
        assert_eq!(replay(dir.path()).unwrap(), [b"one"]);
        assert_eq!(file_len(dir.path()), second);
        assert_eq!(replay(dir.path()).unwrap(), [b"one"], "recovery is stable");
    }

    #[test]
    fn replay_of_a_missing_log_is_empty_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(replay(dir.path()).unwrap().is_empty());
        assert!(!log_path(dir.path()).exists());
    }
}
