//! Safety (demand 3): the recovered records are a byte-exact prefix of the records sent,
//! position by position for one writer ([`positional`]), or an interleaving of a prefix of
//! each writer's stream for several ([`interleaved`]).

use std::borrow::Cow;

use super::evidence::{Evidence, Sent};
use super::replay::{records, short_hex};
use super::verdict::{Class, Violation};
use crate::process::Captured;

/// One writer: the recovered records must be the first records sent, position by position.
pub(super) fn positional(
    sent: &dyn Sent,
    replay: &Captured,
    recovered: usize,
) -> Result<Vec<usize>, Violation> {
    let fail = |detail| Violation {
        class: Class::NotAPrefix,
        detail,
    };
    let mut sent_records = sent.records();
    for (i, got) in records(replay).map_while(Result::ok).enumerate() {
        match sent_records.next() {
            None => {
                return Err(fail(format!(
                    "replay returned {recovered} records but only {} were sent",
                    sent.count()
                )));
            }
            Some(sent) if *sent != *got => {
                return Err(fail(format!(
                    "record {i} differs: sent {} bytes {}, recovered {} bytes {}",
                    sent.len(),
                    short_hex(&sent),
                    got.len(),
                    short_hex(&got)
                )));
            }
            Some(_) => {}
        }
    }
    Ok(vec![recovered])
}

/// Several writers: the recovered records must interleave a prefix of each writer's
/// stream, each in its own order, nothing twice, nothing from nowhere. Payloads are unique
/// across a trial's writers, so each record names its writer and index; equal payloads
/// (possible only if the workload could not make them unique) go to the first writer that
/// expects that record next. Each writer's stream is read once, in step with the replay;
/// only a record no writer expects next sends the oracle through every stream to name it.
pub(super) fn interleaved(ev: &Evidence<'_>) -> Result<Vec<usize>, Violation> {
    let fail = |detail| Violation {
        class: Class::NotAPrefix,
        detail,
    };
    let mut streams: Vec<_> = ev.writers.iter().map(|wr| wr.sent.records()).collect();
    let mut expected: Vec<Option<Cow<'_, [u8]>>> = streams.iter_mut().map(Iterator::next).collect();
    let mut next = vec![0usize; ev.writers.len()];
    for (n, got) in records(&ev.replay.stdout).map_while(Result::ok).enumerate() {
        if let Some(w) = expected
            .iter()
            .position(|e| e.as_deref() == Some(got.as_slice()))
        {
            next[w] += 1;
            expected[w] = streams[w].next();
            continue;
        }
        // The first (writer, index) that sent it, as a map of every payload would say.
        let origin = ev
            .writers
            .iter()
            .enumerate()
            .find_map(|(w, wr)| wr.sent.records().position(|r| *r == *got).map(|i| (w, i)));
        let Some((w, i)) = origin else {
            return Err(fail(format!(
                "replay's record {n} ({} bytes {}) was sent by no writer",
                got.len(),
                short_hex(&got)
            )));
        };
        let what = if i < next[w] {
            "again (a duplicate)"
        } else {
            "before the records it follows"
        };
        return Err(fail(format!(
            "replay's record {n} is writer {w}'s record {i}, returned {what}: writer {w}'s next record was {}",
            next[w]
        )));
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use super::*;
    use crate::faults::Damage;
    use crate::oracle::evidence::WriterEvidence;
    use crate::oracle::judge::judge;
    use crate::oracle::testing::{
        Trial, assert_mentions, assert_pass, captured, counts, rec, two_writers, violation,
    };
    use crate::process::Finished;
    use crate::protocol::{self, Durability};
    use crate::spill::Spill;
    use crate::tracer::WriterEnd;

    // One writer: a prefix of what was sent, byte for byte.

    #[test]
    fn a_record_with_one_byte_changed_is_not_a_prefix() {
        let t = Trial::sent(3).acks(3);
        let mut got = t.sent.clone();
        got[1][3] ^= 0x01;
        let j = t.replays(&got).judge();
        let detail = violation(&j, Class::NotAPrefix);
        assert_mentions(detail, "record 1 differs");
        assert_eq!(counts(&j), (3, 3, Some(3)));
    }

    #[test]
    fn a_torn_record_is_not_a_prefix() {
        let t = Trial::sent(3).acks(1);
        let mut got = t.sent[..2].to_vec();
        got[1].pop();
        let j = t.replays(&got).judge();
        assert_mentions(violation(&j, Class::NotAPrefix), "record 1 differs");
    }

    #[test]
    fn a_record_beyond_those_sent_is_invented() {
        let t = Trial::sent(2).acks(2);
        let mut got = t.sent.clone();
        got.push(b"never sent".to_vec());
        let j = t.replays(&got).judge();
        assert_mentions(
            violation(&j, Class::NotAPrefix),
            "3 records but only 2 were sent",
        );
        assert_eq!(j.recovered, Some(3));
    }

    #[test]
    fn a_duplicated_record_is_not_a_prefix() {
        let j = Trial::sent(3).acks(1).replays(&[rec(0), rec(0)]).judge();
        assert_mentions(violation(&j, Class::NotAPrefix), "record 1 differs");
    }

    #[test]
    fn reordered_records_are_not_a_prefix() {
        let j = Trial::sent(3).replays(&[rec(1), rec(0)]).judge();
        assert_mentions(violation(&j, Class::NotAPrefix), "record 0 differs");
    }

    #[test]
    fn safety_holds_even_when_acks_promise_nothing() {
        let j = Trial::sent(3)
            .durability(Durability::None)
            .replays(&[rec(0), rec(2)])
            .judge();
        assert_mentions(violation(&j, Class::NotAPrefix), "record 1 differs");
    }

    // Several writers: an interleaving of a prefix of each.

    #[test]
    fn writers_may_interleave_in_any_order() {
        let j = two_writers(3, 3, (2, 1), &[(1, 0), (0, 0), (0, 1), (1, 1), (0, 2)]);
        assert_pass(&j);
        assert_eq!(counts(&j), (3, 3, Some(5)));
    }

    #[test]
    fn a_writers_records_out_of_their_order_are_not_a_prefix() {
        let j = two_writers(3, 3, (0, 0), &[(0, 1), (0, 0)]);
        assert_mentions(
            violation(&j, Class::NotAPrefix),
            "writer 0's record 1, returned before the records it follows",
        );
    }

    #[test]
    fn a_record_returned_twice_is_not_a_prefix() {
        let j = two_writers(3, 3, (0, 0), &[(1, 0), (0, 0), (1, 0)]);
        assert_mentions(
            violation(&j, Class::NotAPrefix),
            "writer 1's record 0, returned again (a duplicate)",
        );
    }

    #[test]
    fn a_record_no_writer_sent_is_not_a_prefix() {
        let mut j = two_writers(2, 2, (0, 0), &[(0, 0)]);
        assert_pass(&j);
        let sent = rec(999);
        let replay = Finished {
            status: Some(ExitStatus::from_raw(0)),
            stdout: captured(&(protocol::encode(&sent) + "\n")),
            stderr: Captured::default(),
        };
        let (stderr, end, none): (Captured, WriterEnd, Vec<Vec<u8>>) = (
            Captured::default(),
            WriterEnd::Killed { boundary: 0 },
            vec![rec(1)],
        );
        let (stdout, marks) = (Captured::default(), Spill::new());
        j = judge(&Evidence {
            writers: (0..2)
                .map(|_| WriterEvidence {
                    sent: &none,
                    stdout: &stdout,
                    stderr: &stderr,
                    marks: &marks,
                    end: &end,
                })
                .collect(),
            durability: Durability::Fsync,
            damage: &Damage::None,
            replay: &replay,
            limits: crate::process::Limits::default(),
        });
        assert_mentions(violation(&j, Class::NotAPrefix), "was sent by no writer");
    }
}
