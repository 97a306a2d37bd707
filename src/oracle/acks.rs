//! The writer's acks: read from its stdout, checked against protocol v1 (demand 1), and
//! matched to the tracer's marks to count those the fault cannot excuse (demand 4).

use std::io::BufRead;

use super::evidence::{Evidence, WriterEvidence};
use crate::faults::Damage;
use crate::process::Captured;
use crate::protocol::{self, Durability};
use crate::tracer::AckMark;

/// One writer's acks, counted against the tracer's marks.
pub(super) struct Acked {
    pub(super) count: usize,
    pub(super) required: usize,
}

/// Counts a writer's acks and those the fault cannot excuse, matching each ack to the
/// tracer's mark of the write that carried it.
pub(super) fn count_acks(wr: &WriterEvidence<'_>, ev: &Evidence<'_>) -> Result<Acked, String> {
    let nothing_promised = match ev.damage {
        // Safety only: recovery may stop at the corruption.
        Damage::Corrupt { .. } => true,
        // Only a synced ack survives a power loss.
        Damage::PowerLoss(_) => ev.durability != Durability::Fsync,
        _ => ev.durability == Durability::None,
    };
    let excused = |mark: Option<&AckMark>| match ev.damage.cut() {
        Some((file, offset)) => match mark {
            Some(m) => m.sizes.get(file).copied().unwrap_or(0) > offset,
            None => true,
        },
        None => false,
    };
    let mut acked = Acked {
        count: 0,
        required: 0,
    };
    // Records survive in order: the first excused ack excuses every later one too.
    let mut excusing = nothing_promised;
    let mut marks = wr.marks.iter().peekable();
    for end in ack_ends(wr.stdout, wr.sent.count()) {
        let end = end? as u64;
        acked.count += 1;
        if excusing {
            continue;
        }
        while marks.next_if(|m| m.stream_end < end).is_some() {}
        if excused(marks.peek()) {
            excusing = true;
        } else {
            acked.required += 1;
        }
    }
    Ok(acked)
}

/// For each ack of a writer, in order, the tracer's mark of the stdout write that carried
/// the ack's newline (the first mark that ends at or past it).
pub(super) fn marks_of_acks<'a>(
    wr: &'a WriterEvidence<'a>,
) -> impl Iterator<Item = Option<AckMark>> + 'a {
    let mut marks = wr.marks.iter().peekable();
    ack_ends(wr.stdout, wr.sent.count())
        .map_while(Result::ok)
        .map(move |end| {
            while marks.next_if(|m| m.stream_end < end as u64).is_some() {}
            marks.peek().cloned()
        })
}

/// The acks in the writer's stdout, in order: where each one's line ends in the stream.
/// A partial last line (the writer died mid-line) is not an ack; a bad line ends the
/// stream with why.
pub(super) fn ack_ends<'a>(
    stdout: &'a Captured,
    sent: usize,
) -> impl Iterator<Item = Result<usize, String>> + 'a {
    let sent = sent as u64;
    let mut lines = stdout.reader();
    let mut line = Vec::new();
    let (mut at, mut n, mut done) = (0, 0u64, false);
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        line.clear();
        match lines.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => {
                done = true;
                return None;
            }
            Ok(len) => at += len,
        }
        n += 1;
        let Some(text) = line.strip_suffix(b"\n") else {
            done = true;
            return None;
        };
        let text = String::from_utf8_lossy(text);
        let expected = n - 1;
        let result = match protocol::parse_ack(&text) {
            Some(i) if i == expected && i < sent => return Some(Ok(at)),
            Some(i) if i >= sent => {
                format!("ack line {n}: '{text}' acks record {i}, but only {sent} were sent")
            }
            Some(_) => format!("ack line {n}: '{text}' is out of order, expected {expected}"),
            None => format!("ack line {n}: '{text}' is not a record index"),
        };
        done = true;
        Some(Err(result))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testing::{Trial, assert_mentions, assert_pass, counts, violation};
    use crate::oracle::verdict::Class;

    // Durability under SIGKILL: nothing is excused.

    #[test]
    fn an_acked_record_lost_to_a_sigkill_is_a_lost_ack() {
        let j = Trial::sent(4).acks(3).replays_prefix(1).judge();
        let detail = violation(&j, Class::LostAck);
        assert_mentions(detail, "record 1 was acked");
        assert_mentions(detail, "only 1 of the 3");
        assert_eq!(counts(&j), (3, 3, Some(1)));
    }

    #[test]
    fn losing_the_last_acked_record_is_a_lost_ack() {
        let j = Trial::sent(3).acks(3).replays_prefix(2).judge();
        assert_mentions(violation(&j, Class::LostAck), "record 2 was acked");
    }

    #[test]
    fn losing_every_acked_record_names_record_0() {
        let j = Trial::sent(3).acks(2).replay_stdout("").judge();
        assert_mentions(violation(&j, Class::LostAck), "record 0 was acked");
        assert_eq!(counts(&j), (2, 2, Some(0)));
    }

    #[test]
    fn acks_that_promise_nothing_require_nothing() {
        let j = Trial::sent(3)
            .acks(3)
            .durability(Durability::None)
            .replay_stdout("")
            .judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (3, 0, Some(0)));
    }

    #[test]
    fn fsync_acks_lost_to_a_sigkill_are_lost_acks() {
        let j = Trial::sent(3)
            .acks(2)
            .durability(Durability::Fsync)
            .replays_prefix(1)
            .judge();
        assert_mentions(violation(&j, Class::LostAck), "record 1 was acked");
    }

    #[test]
    fn a_truncation_that_found_no_file_excuses_nothing() {
        let j = Trial::sent(3)
            .acks(2)
            .damage(Damage::NoFile)
            .replays_prefix(1)
            .judge();
        assert_mentions(violation(&j, Class::LostAck), "record 1 was acked");
        assert_eq!(j.required, 2);
    }

    #[test]
    fn an_ack_without_a_mark_is_still_required_after_a_sigkill() {
        let j = Trial::sent(2).untraced("0\n1\n").replays_prefix(1).judge();
        assert_mentions(violation(&j, Class::LostAck), "record 1 was acked");
        assert_eq!(counts(&j), (2, 2, Some(1)));
    }

    // Truncation of wal.log at t: acks made while wal.log was <= t bytes are required; the
    // first made while it was longer, and every later one, are excused. `acks(n)` makes
    // wal.log 10, 20, 30, ... bytes at acks 0, 1, 2, ...

    #[test]
    fn an_ack_at_exactly_the_truncation_offset_is_required() {
        let t = Trial::sent(5).acks(4).truncate(20);
        assert_eq!(t.judge().required, 2);
        assert_pass(&t.replays_prefix(2).judge());
        let j = Trial::sent(5)
            .acks(4)
            .truncate(20)
            .replays_prefix(1)
            .judge();
        let detail = violation(&j, Class::LostAck);
        assert_mentions(
            detail,
            "record 1 was acked (wal.log was 20 bytes at its ack)",
        );
        assert_eq!(counts(&j), (4, 2, Some(1)));
    }

    #[test]
    fn an_ack_one_byte_past_the_truncation_offset_is_excused() {
        let j = Trial::sent(5)
            .acks(4)
            .truncate(19)
            .replays_prefix(1)
            .judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (4, 1, Some(1)));
    }

    #[test]
    fn a_truncation_to_zero_excuses_every_ack_that_saw_bytes() {
        let j = Trial::sent(3).acks(3).truncate(0).replay_stdout("").judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (3, 0, Some(0)));
    }

    #[test]
    fn a_truncation_past_every_ack_excuses_nothing() {
        let j = Trial::sent(4)
            .acks(3)
            .truncate(30)
            .replays_prefix(2)
            .judge();
        assert_mentions(violation(&j, Class::LostAck), "record 2 was acked");
        assert_eq!(j.required, 3);
    }

    #[test]
    fn the_first_excused_ack_excuses_every_later_one() {
        // wal.log shrank back below t by ack 2 (say, a repair), yet ack 1 was already
        // excused, and records survive in order.
        let j = Trial::sent(4)
            .write("0\n", 10)
            .write("1\n", 30)
            .write("2\n", 20)
            .truncate(25)
            .replays_prefix(1)
            .judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (3, 1, Some(1)));
    }

    #[test]
    fn two_acks_in_one_write_share_its_mark() {
        // Matched by byte position, both acks of the first write saw wal.log at 10 bytes; a
        // matching by write index would give ack 1 the second write's 20 bytes.
        let trial = || Trial::sent(4).write("0\n1\n", 10).write("2\n", 20);
        let j = trial().truncate(10).replays_prefix(2).judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (3, 2, Some(2)));
        let j = trial().truncate(10).replays_prefix(1).judge();
        assert_mentions(
            violation(&j, Class::LostAck),
            "record 1 was acked (wal.log was 10 bytes at its ack)",
        );
        let j = trial().truncate(9).replay_stdout("").judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (3, 0, Some(0)));
    }

    #[test]
    fn acks_in_their_own_writes_each_get_their_own_mark() {
        let trial = || {
            Trial::sent(4)
                .write("0\n", 10)
                .write("1\n", 20)
                .write("2\n", 30)
        };
        assert_eq!(trial().truncate(9).judge().required, 0);
        assert_eq!(trial().truncate(10).judge().required, 1);
        assert_eq!(trial().truncate(19).judge().required, 1);
        assert_eq!(trial().truncate(20).judge().required, 2);
        assert_eq!(trial().truncate(29).judge().required, 2);
        assert_eq!(trial().truncate(30).judge().required, 3);
    }

    #[test]
    fn an_ack_split_over_two_writes_takes_the_mark_of_its_newline() {
        let trial = || Trial::sent(2).write("0", 10).write("\n", 30);
        assert_eq!(trial().truncate(20).judge().required, 0);
        assert_eq!(trial().truncate(30).judge().required, 1);
    }

    #[test]
    fn a_truncated_file_absent_at_the_ack_excuses_nothing() {
        let j = Trial::sent(3)
            .acks(2)
            .truncate_file("other.log", 0)
            .replays_prefix(1)
            .judge();
        assert_mentions(
            violation(&j, Class::LostAck),
            "record 1 was acked (other.log was 0 bytes at its ack)",
        );
        assert_eq!(j.required, 2);
    }

    #[test]
    fn under_a_truncation_an_ack_without_a_mark_is_excused() {
        let j = Trial::sent(3)
            .write("0\n", 10)
            .untraced("1\n")
            .truncate(50)
            .replays_prefix(1)
            .judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (2, 1, Some(1)));
    }

    #[test]
    fn a_truncation_excuses_nothing_when_acks_promised_nothing_anyway() {
        let j = Trial::sent(3)
            .acks(3)
            .truncate(100)
            .durability(Durability::None)
            .replay_stdout("")
            .judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (3, 0, Some(0)));
    }

    // Bad acks: the target's fault, not a crash finding.

    #[test]
    fn an_ack_that_is_not_a_number_is_a_target_error() {
        let j = Trial::sent(3)
            .write("0\n", 10)
            .write("ok\n", 20)
            .replays_prefix(2)
            .judge();
        assert_mentions(
            violation(&j, Class::TargetError),
            "ack line 2: 'ok' is not a record index",
        );
        assert_eq!(counts(&j), (0, 0, None));
    }

    #[test]
    fn an_empty_ack_line_is_a_target_error() {
        let j = Trial::sent(3).write("0\n\n", 10).judge();
        assert_mentions(violation(&j, Class::TargetError), "ack line 2");
    }

    #[test]
    fn an_ack_out_of_order_is_a_target_error() {
        let j = Trial::sent(3).write("0\n2\n", 10).judge();
        assert_mentions(
            violation(&j, Class::TargetError),
            "ack line 2: '2' is out of order, expected 1",
        );
    }

    #[test]
    fn a_repeated_ack_is_a_target_error() {
        let j = Trial::sent(3).write("0\n1\n1\n", 10).judge();
        assert_mentions(
            violation(&j, Class::TargetError),
            "ack line 3: '1' is out of order, expected 2",
        );
    }

    #[test]
    fn an_ack_of_a_record_never_sent_is_a_target_error() {
        let j = Trial::sent(2).acks(2).write("2\n", 30).judge();
        assert_mentions(
            violation(&j, Class::TargetError),
            "ack line 3: '2' acks record 2, but only 2 were sent",
        );
    }

    #[test]
    fn a_partial_last_ack_line_is_not_an_ack() {
        let j = Trial::sent(3)
            .acks(1)
            .write("1", 20)
            .replays_prefix(1)
            .judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (1, 1, Some(1)));
    }

    #[test]
    fn a_partial_last_line_is_not_checked_as_an_ack() {
        let j = Trial::sent(3)
            .acks(1)
            .write("garb", 20)
            .replays_prefix(1)
            .judge();
        assert_pass(&j);
        assert_eq!(j.acked, 1);
    }
}
