//! The replay's output: whether it passed (exited 0 in time), and its records, one hex line
//! each, read as a stream as often as a check needs them.

use std::io::BufRead;

use crate::process::{Captured, Finished};
use crate::protocol;

/// The records a replay printed, if it exited 0 with readable output, in memory: for
/// replays known to be short. The checks themselves read them as a stream.
pub fn replayed(replay: &Finished) -> Result<Vec<Vec<u8>>, String> {
    replay_ok(replay)?;
    records(&replay.stdout).collect()
}

/// `Ok` when a replay exited 0 in time; else why not, in words.
pub(super) fn replay_ok(replay: &Finished) -> Result<(), String> {
    match replay.status {
        None => Err("did not finish within the timeout".to_owned()),
        Some(status) if !status.success() => {
            Err(format!("{status}: {}", replay.stderr.tail(400).trim_end()))
        }
        Some(_) => Ok(()),
    }
}

/// The records of a replay that passed; none for one that did not.
pub(super) fn passed(replay: &Finished) -> impl Iterator<Item = Vec<u8>> + '_ {
    let ok = replay_ok(replay).is_ok();
    records(&replay.stdout)
        .take_while(move |_| ok)
        .map_while(Result::ok)
}

/// How many records a replay printed, every line checked; why not, if they cannot be read.
pub(super) fn replayed_count(replay: &Finished) -> Result<usize, String> {
    replay_ok(replay)?;
    count_records(&replay.stdout)
}

/// Whether two outputs hold the same bytes (read as streams: either may be on disk).
pub(super) fn same_bytes(a: &Captured, b: &Captured) -> bool {
    if a.len() != b.len() || a.overflowed || b.overflowed {
        return false;
    }
    let (mut a, mut b) = (a.reader(), b.reader());
    loop {
        let (x, y) = match (a.fill_buf(), b.fill_buf()) {
            (Ok(x), Ok(y)) => (x, y),
            _ => return false,
        };
        if x.is_empty() || y.is_empty() {
            return x.is_empty() && y.is_empty();
        }
        let n = x.len().min(y.len());
        if x[..n] != y[..n] {
            return false;
        }
        a.consume(n);
        b.consume(n);
    }
}

/// The records of a replay's stdout, one hex line each, in order; a line that is not hex
/// ends the stream with why.
pub(super) fn records(stdout: &Captured) -> impl Iterator<Item = Result<Vec<u8>, String>> + '_ {
    let overflowed = stdout
        .overflowed
        .then(|| format!("replay printed more than {} bytes", stdout.len()));
    let mut lines = stdout.reader();
    let mut line = Vec::new();
    let (mut n, mut done) = (0, false);
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        if let Some(why) = &overflowed {
            done = true;
            return Some(Err(why.clone()));
        }
        line.clear();
        match lines.read_until(b'\n', &mut line) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) => {
                done = true;
                return Some(Err(format!("failed to read the replay's output back: {e}")));
            }
        }
        n += 1;
        Some(protocol::decode_line(&line).map_err(|e| {
            done = true;
            let text = protocol::line_text(&line);
            format!(
                "replay line {n}: '{}' is not a record in hex ({e})",
                String::from_utf8_lossy(&text[..text.len().min(80)])
            )
        }))
    })
}

/// How many records a replay's stdout holds, every line checked.
pub(super) fn count_records(stdout: &Captured) -> Result<usize, String> {
    records(stdout).try_fold(0, |n, r| r.map(|_| n + 1))
}

/// `bytes` in hex for a message: at most the first 16, then `...`.
pub(super) fn short_hex(bytes: &[u8]) -> String {
    if bytes.len() <= 16 {
        protocol::encode(bytes)
    } else {
        format!("{}...", protocol::encode(&bytes[..16]))
    }
}

#[cfg(test)]
mod tests {
    use crate::oracle::testing::{Trial, assert_mentions, assert_pass, counts, violation};
    use crate::oracle::verdict::Class;

    // Empty lines are empty records.

    #[test]
    fn empty_replay_lines_are_empty_records() {
        let sent = vec![b"a".to_vec(), Vec::new(), Vec::new(), b"b".to_vec()];
        let j = Trial::sending(sent)
            .acks(4)
            .replay_stdout("61\n\n\n62\n")
            .judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (4, 4, Some(4)));
    }

    #[test]
    fn a_trailing_empty_line_is_a_trailing_empty_record() {
        let sent = vec![b"a".to_vec(), Vec::new()];
        let j = Trial::sending(sent).acks(2).replay_stdout("61\n\n").judge();
        assert_pass(&j);
        assert_eq!(j.recovered, Some(2));
    }

    #[test]
    fn a_dropped_empty_record_shifts_the_next_one_and_is_caught() {
        let sent = vec![b"a".to_vec(), Vec::new(), b"b".to_vec()];
        let j = Trial::sending(sent).replay_stdout("61\n62\n").judge();
        assert_mentions(violation(&j, Class::NotAPrefix), "record 1 differs");
    }

    // Lines that are not records: the target's fault, not a crash finding.

    #[test]
    fn a_replay_line_that_is_not_hex_is_a_target_error() {
        let j = Trial::sent(3).acks(1).replay_stdout("00\nzz\n").judge();
        let detail = violation(&j, Class::TargetError);
        assert_mentions(detail, "replay line 2: 'zz' is not a record in hex");
        assert_eq!(counts(&j), (1, 1, None));
    }

    #[test]
    fn a_replay_line_of_odd_length_is_a_target_error() {
        let j = Trial::sent(3).replay_stdout("abc\n").judge();
        assert_mentions(violation(&j, Class::TargetError), "replay line 1: 'abc'");
    }
}
