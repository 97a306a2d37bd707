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
//! Several writers may append to the same log at once, each through its own open file.
//! The danger is the cut on open: an opener that scanned while another writer's record was
//! only partly in the file would take that record for a torn tail and cut it, with whatever
//! lands after it. So each writer and each replay takes `flock(LOCK_EX)` on its own open
//! of the log while it scans and cuts, and while it `write`s a record, and nowhere else: a
//! scan then only ever sees whole records, and a record is one `write` that no other
//! writer's bytes can split. The `fdatasync` runs after the lock is released, so writers can share
//! a sync (group commit); each still acks only after its own `fdatasync` returned.
//!
//! A writer that dies or fails in the middle of its `write` leaves a torn record in the
//! file while the others live on. So each writer remembers how far it has seen the log
//! whole, and before each append, under the lock, checks the records other writers added
//! since: a torn one is cut off (ftruncate + fsync) before the new record lands after it.
//! Without that check, live writers would append after the torn record, and the next
//! open would cut their acknowledged records with it (`crashtest run --exhaustive` on
//! `scenarios/crc-writers-one.toml` found this).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::log_path;
use crate::errors::WalError;

/// Bytes before a record's payload: length and CRC.
const HEADER: usize = 8;

/// An open crc log, its bad tail already cut.
pub(crate) struct Writer {
    file: File,
    path: PathBuf,
    /// How far this writer has seen the log made of whole records.
    whole: u64,
}

impl Writer {
    /// Opens the log in `dir`, creating it (and syncing `dir`) if it does not exist, and
    /// cuts any bad tail under the log's lock.
    pub(crate) fn open(dir: &Path) -> Result<Writer, WalError> {
        let path = log_path(dir);
        let mut options = File::options();
        options.read(true).append(true);
        let file = match options.clone().create_new(true).open(&path) {
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
        let whole = {
            let _lock = Lock::take(&file, &path)?;
            recover(&file, &path)?.1
        };
        Ok(Writer { file, path, whole })
    }

    /// Appends one record in one `write` under the log's lock, then `fdatasync`s it
    /// without the lock.
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<(), WalError> {
        let record = encode(payload);
        {
            let _lock = Lock::take(&self.file, &self.path)?;
            self.whole = cut_torn_records(&self.file, &self.path, self.whole)?;
            (&self.file)
                .write_all(&record)
                .map_err(WalError::io("append to log", &self.path))?;
            self.whole += record.len() as u64;
        }
        self.file
            .sync_data()
            .map_err(WalError::io("sync log", &self.path))
    }
}

/// Checks the records other writers appended to `file` (the log at `path`) since a writer
/// last saw it whole up to `whole`, and cuts off a torn one and what follows it. Returns
/// how far the log is whole now. The caller holds the log's [`Lock`].
fn cut_torn_records(file: &File, path: &Path, whole: u64) -> Result<u64, WalError> {
    use std::os::unix::fs::FileExt;
    let size = file
        .metadata()
        .map_err(WalError::io("stat log", path))?
        .len();
    // Cut shorter by someone else: check it all again.
    let from = if size < whole { 0 } else { whole };
    if size == from {
        return Ok(size);
    }
    let mut added = vec![0; (size - from) as usize];
    file.read_exact_at(&mut added, from)
        .map_err(WalError::io("read log", path))?;
    let good = from + scan(&added).1 as u64;
    if good < size {
        file.set_len(good)
            .and_then(|()| file.sync_all())
            .map_err(WalError::io("cut a torn record of log", path))?;
    }
    Ok(good)
}

/// The records of the log in `dir`, after cutting its bad tail off the file.
pub(crate) fn replay(dir: &Path) -> Result<Vec<Vec<u8>>, WalError> {
    let path = log_path(dir);
    match File::options().read(true).write(true).open(&path) {
        Ok(file) => {
            let _lock = Lock::take(&file, &path)?;
            Ok(recover(&file, &path)?.0)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(WalError::io("open log", &path)(e)),
    }
}

/// `flock(LOCK_EX)` held on the log's open file description until dropped.
struct Lock<'a>(&'a File);

impl<'a> Lock<'a> {
    /// Waits for the exclusive lock on `file` (the log at `path`).
    fn take(file: &'a File, path: &Path) -> Result<Lock<'a>, WalError> {
        loop {
            // SAFETY: flock only takes an fd, which `file` keeps open for the call.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Lock(file));
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(WalError::io("lock log", path)(e));
            }
        }
    }
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        // SAFETY: the borrowed file keeps the fd open. Unlocking a lock this open file
        // holds cannot fail, and closing the file would release it anyway.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Reads `file` from the start, cuts it after its last good record and returns the
/// records before the cut, and where it is. The caller holds the log's [`Lock`].
fn recover(mut file: &File, path: &Path) -> Result<(Vec<Vec<u8>>, u64), WalError> {
    let mut log = Vec::new();
    file.read_to_end(&mut log)
        .map_err(WalError::io("read log", path))?;
    let (records, good) = scan(&log);
    if good < log.len() {
        file.set_len(good as u64)
            .and_then(|()| file.sync_all())
            .map_err(WalError::io("cut the torn tail of log", path))?;
    }
    Ok((
        records.into_iter().map(<[u8]>::to_vec).collect(),
        good as u64,
    ))
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

/// A record's bytes: header, then payload.
fn encode(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len())
        .expect("a record fits in u32")
        .to_le_bytes();
    let crc = checksum(len, payload).to_le_bytes();
    [&len[..], &crc, payload].concat()
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
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::thread;
    use std::time::Duration;

    fn write_log(dir: &Path, records: &[&[u8]]) -> Vec<u8> {
        crate::wal::write_log(crate::wal::BuiltinWal::Crc, dir, records)
    }

    /// Appends the first bytes of a record, as a writer that died in its `write` leaves it.
    fn append_torn_record(dir: &Path) {
        let torn = encode(b"never acked");
        File::options()
            .append(true)
            .open(log_path(dir))
            .and_then(|mut f| f.write_all(&torn[..HEADER + 3]))
            .unwrap();
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

    /// Record `seq` of writer `w`: both ids, then filler of a length that varies up to a
    /// few pages, so that a scan racing a `write` can meet a record half in the file.
    fn payload(w: usize, seq: usize) -> Vec<u8> {
        let mut p = vec![w as u8];
        p.extend((seq as u32).to_le_bytes());
        p.resize(5 + (seq * 7919 + w * 1543) % 20_000, (w * 31 + seq) as u8);
        p
    }

    /// Checks that `records` hold, for each of `writers` writers, a prefix of its stream
    /// in order and byte for byte, and nothing else; returns each prefix's length.
    fn streams(records: &[Vec<u8>], writers: usize) -> Vec<usize> {
        let mut next = vec![0; writers];
        for (at, r) in records.iter().enumerate() {
            let w = usize::from(r[0]);
            assert!(w < writers, "record {at} names writer {w}");
            let claims = u32::from_le_bytes(r[1..5].try_into().unwrap());
            assert!(
                *r == payload(w, next[w]),
                "record {at}: expected record {} of writer {w}, found {} bytes claiming to be \
                 its record {claims}",
                next[w],
                r.len(),
            );
            next[w] += 1;
        }
        next
    }

    #[test]
    fn concurrent_writers_and_openers_keep_every_record_once_in_order() {
        const WRITERS: usize = 4;
        const RECORDS: usize = 150;
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let acked: [AtomicUsize; WRITERS] = Default::default();
        let done = AtomicBool::new(false);
        let scans = thread::scope(|s| {
            let writers: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let acked = &acked[w];
                    s.spawn(move || {
                        let mut log = Writer::open(dir).unwrap();
                        for seq in 0..RECORDS {
                            log.append(&payload(w, seq)).unwrap();
                            acked.store(seq + 1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            // Openers and replays scan the log, and would cut, while the writers append.
            let churn = s.spawn(|| {
                let mut scans = 0;
                while !done.load(Ordering::SeqCst) {
                    drop(Writer::open(dir).unwrap());
                    let before: Vec<_> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
                    let seen = streams(&replay(dir).unwrap(), WRITERS);
                    for w in 0..WRITERS {
                        assert!(
                            seen[w] >= before[w],
                            "writer {w}: acked {} but replay saw {}",
                            before[w],
                            seen[w]
                        );
                    }
                    scans += 1;
                }
                scans
            });
            for w in writers {
                w.join().unwrap();
            }
            done.store(true, Ordering::SeqCst);
            churn.join().unwrap()
        });
        assert!(scans > 0);
        assert_eq!(streams(&replay(dir).unwrap(), WRITERS), [RECORDS; WRITERS]);
    }

    #[test]
    fn open_and_replay_wait_for_a_record_being_written() {
        for opener in ["open", "replay"] {
            let dir = tempfile::tempdir().unwrap();
            let dir = dir.path();
            write_log(dir, &[b"one"]);
            let path = log_path(dir);
            let file = File::options().append(true).open(&path).unwrap();
            let record = encode(b"two");
            let (head, tail) = record.split_at(HEADER + 1);
            // A writer holds the lock with half its record in the file (two writes here,
            // so that the half lasts) while the opener starts.
            let lock = Lock::take(&file, &path).unwrap();
            (&file).write_all(head).unwrap();
            let seen = thread::scope(|s| {
                let scan = s.spawn(|| match opener {
                    "open" => Writer::open(dir)
                        .unwrap()
                        .append(b"three")
                        .map(|()| Vec::new()),
                    _ => replay(dir),
                });
                thread::sleep(Duration::from_millis(100));
                (&file).write_all(tail).unwrap();
                drop(lock);
                scan.join().unwrap().unwrap()
            });
            let expected: &[&[u8]] = match opener {
                "open" => &[b"one", b"two", b"three"],
                _ => &[b"one", b"two"],
            };
            if opener == "replay" {
                assert_eq!(seen, expected, "{opener}");
            }
            assert_eq!(replay(dir).unwrap(), expected, "{opener}");
        }
    }

    #[test]
    fn torn_tail_is_cut_by_a_second_opener_and_both_writers_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let mut a = Writer::open(dir).unwrap();
        a.append(b"a0").unwrap();
        let good = file_len(dir);
        // A third writer died in the middle of its record.
        append_torn_record(dir);
        let mut b = Writer::open(dir).unwrap();
        assert_eq!(file_len(dir), good, "the torn tail is cut");
        a.append(b"a1").unwrap();
        b.append(b"b0").unwrap();
        a.append(b"a2").unwrap();
        b.append(b"").unwrap();
        assert_eq!(replay(dir).unwrap(), [&b"a0"[..], b"a1", b"b0", b"a2", b""]);
    }

    #[test]
    fn a_record_torn_by_a_writer_that_died_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let mut a = Writer::open(dir).unwrap();
        let mut b = Writer::open(dir).unwrap();
        a.append(b"a0").unwrap();
        b.append(b"b0").unwrap();
        let good = file_len(dir);
        // A third writer, open all along, died in the middle of its record.
        append_torn_record(dir);
        a.append(b"a1").unwrap();
        assert_eq!(
            file_len(dir),
            good + encode(b"a1").len(),
            "the torn record is cut before a1 lands"
        );
        b.append(b"b1").unwrap();
        assert_eq!(replay(dir).unwrap(), [&b"a0"[..], b"b0", b"a1", b"b1"]);
    }
}
