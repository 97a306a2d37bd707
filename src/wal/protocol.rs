//! Target protocol v1 (`docs/target-protocol.md`) for the built-in WALs: their writer and
//! replay loops. The lines themselves are encoded and decoded by [`crate::protocol`], the
//! same code the workload and the oracle use at the other end.
//!
//! Writer: one record a line on the input, its payload in hex; after each append (and
//! for crc, its fdatasync) the record's index in this writer's stream on a line of its
//! own, in one `write`, flushed: the ack. Replay: every recovered record as a lowercase
//! hex line.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{self, SyncSender};
use std::thread;

use super::{BuiltinWal, crc, results, seed_postfix, seed_prefix};
use crate::errors::WalError;
use crate::protocol;

/// How many decoded records the crc writer's reader may queue ahead of its appender.
const QUEUE: usize = 16;

/// Runs the writer side of target protocol v1 for `wal`, logging into `dir`: reads
/// records from `input`, appends each, and acks it on `out`. Returns at the end of
/// `input`, with the log closed.
///
/// The crc writer is threaded like a Go program: this thread reads and decodes `input`
/// and hands each record over a bounded channel to an appender thread, which appends,
/// syncs and acks. The other WALs do everything on this thread.
pub fn run_writer(
    wal: BuiltinWal,
    dir: &Path,
    input: impl BufRead,
    out: impl Write + Send,
) -> Result<(), WalError> {
    match wal {
        BuiltinWal::SeedPrefix => {
            let mut log = seed_prefix::Writer::open(dir)?;
            append_and_ack(records(input), |r| log.append(r), out)
        }
        BuiltinWal::SeedPostfix => {
            let mut log = seed_postfix::Writer::open(dir)?;
            append_and_ack(records(input), |r| log.append(r), out)
        }
        BuiltinWal::Results => {
            let mut log = results::Writer::open(dir)?;
            append_and_ack(records(input), |r| log.append(r), out)
        }
        BuiltinWal::Crc => {
            let mut log = crc::Writer::open(dir)?;
            let (tx, rx) = mpsc::sync_channel(QUEUE);
            thread::scope(|s| {
                let appender =
                    s.spawn(move || append_and_ack(rx.into_iter().map(Ok), |r| log.append(r), out));
                let read = feed(input, tx);
                let appended = appender
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                appended.and(read)
            })
        }
    }
}

/// Runs the replay side of target protocol v1 for `wal`: prints the recovered records of
/// the log in `dir` to `out`, one lowercase hex line each. A log that does not exist
/// holds no records. The crc and results replays cut a bad tail off the log first.
pub fn run_replay(wal: BuiltinWal, dir: &Path, out: impl Write) -> Result<(), WalError> {
    let records = match wal {
        BuiltinWal::SeedPrefix => seed_prefix::replay(dir)?,
        BuiltinWal::SeedPostfix => seed_postfix::replay(dir)?,
        BuiltinWal::Crc => crc::replay(dir)?,
        BuiltinWal::Results => results::replay(dir)?,
    };
    let mut out = BufWriter::new(out);
    let mut line = Vec::new();
    records
        .iter()
        .try_for_each(|r| {
            line.clear();
            protocol::encode_line(r, &mut line);
            out.write_all(&line)
        })
        .and_then(|()| out.flush())
        .map_err(|source| WalError::Print { source })
}

/// The records of `input`, one a line in hex (either case; `\n` or `\r\n` ends a line).
fn records(mut input: impl BufRead) -> impl Iterator<Item = Result<Vec<u8>, WalError>> {
    let mut line = Vec::new();
    let mut number = 0;
    std::iter::from_fn(move || {
        line.clear();
        number += 1;
        match input.read_until(b'\n', &mut line) {
            Ok(0) => None,
            Ok(_) => Some(
                protocol::decode_line(&line).map_err(|source| WalError::BadHex {
                    line: number,
                    source,
                }),
            ),
            Err(source) => Some(Err(WalError::Input {
                line: number,
                source,
            })),
        }
    })
}

/// Appends each record and acks it, stopping at the first error.
fn append_and_ack(
    records: impl Iterator<Item = Result<Vec<u8>, WalError>>,
    mut append: impl FnMut(&[u8]) -> Result<(), WalError>,
    mut out: impl Write,
) -> Result<(), WalError> {
    for (index, record) in (0u64..).zip(records) {
        append(&record?)?;
        // One `write_all` of the whole line: one write(2), even on a line-buffered stdout.
        let ack = protocol::ack_line(index);
        out.write_all(ack.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|source| WalError::Ack { index, source })?;
    }
    Ok(())
}

/// Sends the records of `input` to the appender until the end of `input`, a bad line,
/// or the appender stopping (then its error is the one reported). Dropping `tx` on
/// return ends the appender's loop.
fn feed(input: impl BufRead, tx: SyncSender<Vec<u8>>) -> Result<(), WalError> {
    for record in records(input) {
        if tx.send(record?).is_err() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    /// Records every `write` call it gets, to check that an ack is one call.
    struct Calls<'a>(&'a mut Vec<String>);

    impl Write for Calls<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.push(String::from_utf8(buf.to_vec()).unwrap());
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn write(wal: BuiltinWal, dir: &Path, input: &str) -> (Result<(), WalError>, Vec<String>) {
        let mut calls = Vec::new();
        let result = run_writer(wal, dir, input.as_bytes(), Calls(&mut calls));
        (result, calls)
    }

    fn replay(wal: BuiltinWal, dir: &Path) -> String {
        let mut out = Vec::new();
        run_replay(wal, dir, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writer_acks_each_record_in_one_write_and_replay_prints_it() {
        for wal in BuiltinWal::ALL {
            let dir = tempfile::tempdir().unwrap();
            let (result, acks) = write(wal, dir.path(), "00ff0a\n\nDEADbeef\r\n0000000000\n");
            result.unwrap();
            assert_eq!(acks, ["0\n", "1\n", "2\n", "3\n"], "{wal}");
            assert_eq!(
                replay(wal, dir.path()),
                "00ff0a\n\ndeadbeef\n0000000000\n",
                "{wal}"
            );
        }
    }

    #[test]
    fn a_second_writer_acks_from_zero_and_appends_after_the_first() {
        for wal in BuiltinWal::ALL {
            let dir = tempfile::tempdir().unwrap();
            write(wal, dir.path(), "01\n02").0.unwrap();
            let (result, acks) = write(wal, dir.path(), "03\n");
            result.unwrap();
            assert_eq!(acks, ["0\n"], "{wal}");
            assert_eq!(replay(wal, dir.path()), "01\n02\n03\n", "{wal}");
        }
    }

    #[test]
    fn bad_hex_names_its_line_after_acking_the_lines_before() {
        for wal in BuiltinWal::ALL {
            let dir = tempfile::tempdir().unwrap();
            let (result, acks) = write(wal, dir.path(), "00\nabc\n11\n");
            let err = result.unwrap_err();
            assert!(
                matches!(err, WalError::BadHex { line: 2, .. }),
                "{wal}: {err:?}"
            );
            assert_eq!(err.to_string(), "input line 2 is not a record in hex");
            assert_eq!(acks, ["0\n"], "{wal}");
            assert_eq!(replay(wal, dir.path()), "00\n", "{wal}");
        }
    }

    #[test]
    fn replay_of_a_missing_log_prints_nothing() {
        for wal in BuiltinWal::ALL {
            let dir = tempfile::tempdir().unwrap();
            assert_eq!(replay(wal, dir.path()), "", "{wal}");
        }
    }
}
