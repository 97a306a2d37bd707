//! The verdict on one trial: what the replay returned against what was sent and acked.
//!
//! Protocol v1's demands, in the order they are checked:
//! 1. the writer spoke the protocol (acks are `0, 1, 2, ...`, one a line; one that exits by
//!    itself exits 0 having acked every record) and did not hang;
//! 2. replay exited 0 within the timeout;
//! 3. safety: the recovered records are a byte-exact prefix of the records sent;
//! 4. durability: every acked record that the fault cannot excuse was recovered. A SIGKILL
//!    excuses nothing; a truncation of file F at offset t excuses the records acked while
//!    F was longer than t (their bytes may lie past t). The size of F at the ack comes from
//!    the tracer, which stopped the writer at the write of that ack.
//!
//! Everything is judged as a stream: the records sent are drawn again from the workload,
//! the acks and the replay's lines are read from their captured output, the tracer's
//! marks from its trace, each in order and each as often as needed; no check holds a
//! list that grows with the number of records.

use crate::tracer::WriterEnd;
use acks::{count_acks, marks_of_acks};
use prefix::{interleaved, positional};
use replay::count_records;

mod acks;
mod evidence;
mod prefix;
mod recovery;
mod replay;
mod verdict;

pub use evidence::{Evidence, Sent, WriterEvidence};
pub use recovery::{judge_resume, judge_stable};
pub use replay::replayed;
pub use verdict::{Class, Judgement, Violation};

/// Judges one trial.
pub fn judge(ev: &Evidence<'_>) -> Judgement {
    let mut j = Judgement {
        acked: 0,
        required: 0,
        recovered: None,
        violation: None,
    };
    match check(ev, &mut j) {
        Ok(()) => {}
        Err(v) => j.violation = Some(v),
    }
    j
}

fn check(ev: &Evidence<'_>, j: &mut Judgement) -> Result<(), Violation> {
    let fail = |class, detail: String| Violation { class, detail };
    let several = ev.writers.len() > 1;
    // "writer 2: " before a writer's message when several writers ran.
    let who = |w: usize| {
        if several {
            format!("writer {w}: ")
        } else {
            String::new()
        }
    };
    // A flood is the first thing to say: what the writer printed was cut short.
    for (w, wr) in ev.writers.iter().enumerate() {
        if wr.stdout.overflowed || wr.stderr.overflowed {
            return Err(fail(
                Class::TargetError,
                format!(
                    "{}the writer flooded its output (more than {} bytes) and was killed",
                    who(w),
                    crate::process::OUTPUT_LIMIT
                ),
            ));
        }
    }
    let mut acked = Vec::with_capacity(ev.writers.len());
    for (w, wr) in ev.writers.iter().enumerate() {
        let a =
            count_acks(wr, ev).map_err(|d| fail(Class::TargetError, format!("{}{d}", who(w))))?;
        j.acked += a.count as u64;
        j.required += a.required as u64;
        acked.push(a);
    }
    for (w, wr) in ev.writers.iter().enumerate() {
        let who = who(w);
        let stderr = || wr.stderr.tail(400).trim_end().to_owned();
        match wr.end {
            WriterEnd::TimedOut => {
                return Err(fail(
                    Class::Hang,
                    format!("{who}the writer made no progress within the timeout and was killed"),
                ));
            }
            WriterEnd::Exited { code } if *code != 0 => {
                return Err(fail(
                    Class::TargetError,
                    format!("{who}the writer exited with status {code}: {}", stderr()),
                ));
            }
            WriterEnd::Exited { .. } if acked[w].count < wr.sent.count() => {
                return Err(fail(
                    Class::TargetError,
                    format!(
                        "{who}the writer exited 0 after acking {} of the {} records sent",
                        acked[w].count,
                        wr.sent.count()
                    ),
                ));
            }
            WriterEnd::Signaled { signal } => {
                return Err(fail(
                    Class::TargetError,
                    format!("{who}the writer died of {signal}: {}", stderr()),
                ));
            }
            _ => {}
        }
    }
    if ev.replay.stdout.overflowed || ev.replay.stderr.overflowed {
        return Err(fail(
            Class::TargetError,
            format!(
                "replay flooded its output (more than {} bytes) and was killed",
                crate::process::OUTPUT_LIMIT
            ),
        ));
    }
    let Some(status) = ev.replay.status else {
        return Err(fail(
            Class::ReplayHang,
            "replay did not finish within the timeout and was killed".into(),
        ));
    };
    if !status.success() {
        let stderr = ev.replay.stderr.tail(400);
        return Err(fail(
            Class::ReplayFailed,
            format!("replay {status}: {}", stderr.trim_end()),
        ));
    }
    // Every line is read once to check it before any is compared, as a whole parse would.
    let recovered = count_records(&ev.replay.stdout).map_err(|d| fail(Class::TargetError, d))?;
    j.recovered = Some(recovered as u64);
    let counts = if several {
        interleaved(ev)?
    } else {
        positional(ev.writers[0].sent, &ev.replay.stdout, recovered)?
    };
    for (w, acked) in acked.iter().enumerate() {
        let (got, need) = (counts[w], acked.required);
        if got >= need {
            continue;
        }
        let at = match ev.damage.cut() {
            Some((file, _)) => marks_of_acks(&ev.writers[w])
                .nth(got)
                .flatten()
                .map(|m| {
                    format!(
                        " ({file} was {} bytes at its ack)",
                        m.sizes.get(file).copied().unwrap_or(0)
                    )
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        return Err(fail(
            Class::LostAck,
            if several {
                format!(
                    "writer {w}'s record {got} was acked{at} but replay returned only {got} of the {need} records of writer {w} that must survive"
                )
            } else {
                format!(
                    "record {got} was acked{at} but replay returned only {got} of the {need} records that must survive"
                )
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Each test builds one trial's evidence by hand and pins what `judge()` says about it.
    //! Records hold NUL, newline and 0xff bytes, as the protocol promises real ones will.

    use std::collections::BTreeMap;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use super::*;
    use crate::faults::Damage;
    use crate::process::{Captured, Finished};
    use crate::protocol::{self, Durability};
    use crate::spill::Spill;
    use crate::tracer::AckMark;

    /// Record `i` of every trial: distinct, and not line- or text-safe.
    fn rec(i: usize) -> Vec<u8> {
        let mut r = vec![0, b'\n', 0xff];
        r.extend(format!("record {i}").bytes());
        r
    }

    fn captured(text: &str) -> Captured {
        Captured::new(text.as_bytes().to_vec(), false)
    }

    /// One trial's evidence, owned, so that a test reads as one scenario of chained calls.
    struct Trial {
        sent: Vec<Vec<u8>>,
        durability: Durability,
        stdout: Vec<u8>,
        stderr: Captured,
        marks: Vec<AckMark>,
        end: WriterEnd,
        damage: Damage,
        replay: Finished,
    }

    impl Trial {
        /// `records` sent, nothing acked, SIGKILLed at a boundary, no damage, and a
        /// replay that exits 0 printing nothing.
        fn sending(records: Vec<Vec<u8>>) -> Trial {
            Trial {
                sent: records,
                durability: Durability::Process,
                stdout: Vec::new(),
                stderr: Captured::default(),
                marks: Vec::new(),
                end: WriterEnd::Killed { boundary: 7 },
                damage: Damage::None,
                replay: Finished {
                    status: Some(ExitStatus::from_raw(0)),
                    stdout: Captured::default(),
                    stderr: Captured::default(),
                },
            }
        }

        /// Records `rec(0) .. rec(n)` sent.
        fn sent(n: usize) -> Trial {
            Trial::sending((0..n).map(rec).collect())
        }

        /// One traced write of `text` to stdout, made while wal.log was `wal_size` bytes.
        fn write(mut self, text: &str, wal_size: u64) -> Trial {
            self.stdout.extend_from_slice(text.as_bytes());
            self.marks.push(AckMark {
                stream_end: self.stdout.len() as u64,
                after: 0,
                sizes: BTreeMap::from([("wal.log".to_owned(), wal_size)]),
            });
            self
        }

        /// Bytes on stdout that the tracer has no mark for.
        fn untraced(mut self, text: &str) -> Trial {
            self.stdout.extend_from_slice(text.as_bytes());
            self
        }

        /// Acks records `0..n`, each in its own write; wal.log is `10 * (i + 1)` bytes at
        /// ack `i`.
        fn acks(mut self, n: usize) -> Trial {
            for i in 0..n {
                self = self.write(&format!("{i}\n"), 10 * (i as u64 + 1));
            }
            self
        }

        /// Replay prints `records`, one hex line each.
        fn replays(mut self, records: &[Vec<u8>]) -> Trial {
            let text: String = records.iter().map(|r| protocol::encode(r) + "\n").collect();
            self.replay.stdout = captured(&text);
            self
        }

        /// Replay prints the first `k` records sent.
        fn replays_prefix(self, k: usize) -> Trial {
            let records = self.sent[..k].to_vec();
            self.replays(&records)
        }

        /// Replay prints exactly `text`.
        fn replay_stdout(mut self, text: &str) -> Trial {
            self.replay.stdout = captured(text);
            self
        }

        fn replay_ends(mut self, status: Option<ExitStatus>, stderr: &str) -> Trial {
            self.replay.status = status;
            self.replay.stderr = captured(stderr);
            self
        }

        /// wal.log was cut to `offset` bytes after the kill.
        fn truncate(self, offset: u64) -> Trial {
            self.truncate_file("wal.log", offset)
        }

        fn truncate_file(mut self, file: &str, offset: u64) -> Trial {
            let size = self
                .marks
                .iter()
                .filter_map(|m| m.sizes.get(file).copied())
                .max()
                .unwrap_or(0)
                .max(offset);
            self.damage = Damage::Truncate {
                file: file.to_owned(),
                size,
                offset,
            };
            self
        }

        fn damage(mut self, damage: Damage) -> Trial {
            self.damage = damage;
            self
        }

        fn durability(mut self, durability: Durability) -> Trial {
            self.durability = durability;
            self
        }

        fn writer_ends(mut self, end: WriterEnd, stderr: &str) -> Trial {
            self.end = end;
            self.stderr = captured(stderr);
            self
        }

        fn judge(&self) -> Judgement {
            judge(&Evidence {
                writers: vec![WriterEvidence {
                    sent: &self.sent,
                    stdout: &Captured::new(self.stdout.clone(), false),
                    stderr: &self.stderr,
                    marks: &Spill::from(self.marks.clone()),
                    end: &self.end,
                }],
                durability: self.durability,
                damage: &self.damage,
                replay: &self.replay,
            })
        }
    }

    fn exit(code: i32) -> Option<ExitStatus> {
        Some(ExitStatus::from_raw(code << 8))
    }

    /// `(acked, required, recovered)`.
    fn counts(j: &Judgement) -> (u64, u64, Option<u64>) {
        (j.acked, j.required, j.recovered)
    }

    fn assert_pass(j: &Judgement) {
        assert_eq!(j.violation, None, "expected a pass: {j:?}");
    }

    /// The violation's detail, after checking its class.
    fn violation(j: &Judgement, class: Class) -> &str {
        let v = j
            .violation
            .as_ref()
            .unwrap_or_else(|| panic!("expected {class}, got a pass: {j:?}"));
        assert_eq!(v.class, class, "detail: {}", v.detail);
        &v.detail
    }

    fn assert_mentions(detail: &str, words: &str) {
        assert!(
            detail.contains(words),
            "expected {words:?} in detail: {detail}"
        );
    }

    // Passing trials.

    #[test]
    fn replay_of_exactly_the_acked_records_passes() {
        let j = Trial::sent(3).acks(3).replays_prefix(3).judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (3, 3, Some(3)));
    }

    #[test]
    fn written_but_unacked_records_may_be_recovered() {
        let j = Trial::sent(5).acks(2).replays_prefix(4).judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (2, 2, Some(4)));
    }

    #[test]
    fn nothing_acked_and_nothing_recovered_passes() {
        let j = Trial::sent(3).replay_stdout("").judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (0, 0, Some(0)));
    }

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

    #[test]
    fn a_writer_that_finished_by_itself_passes() {
        let j = Trial::sent(2)
            .acks(2)
            .writer_ends(WriterEnd::Exited { code: 0 }, "")
            .replays_prefix(2)
            .judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (2, 2, Some(2)));
    }

    // Safety: a prefix of what was sent, byte for byte.

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

    // Protocol errors: the target's fault, not a crash finding.

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

    #[test]
    fn replay_output_that_overflowed_is_a_target_error() {
        let mut t = Trial::sent(2).acks(2).replays_prefix(2);
        t.replay.stdout.overflowed = true;
        let j = t.judge();
        assert_mentions(
            violation(&j, Class::TargetError),
            "replay flooded its output",
        );
        assert_eq!(j.recovered, None);
    }

    // How the writer ended.

    #[test]
    fn a_writer_that_timed_out_hangs() {
        let j = Trial::sent(3)
            .acks(1)
            .writer_ends(WriterEnd::TimedOut, "")
            .replays_prefix(3)
            .judge();
        violation(&j, Class::Hang);
        assert_eq!(counts(&j), (1, 1, None));
    }

    #[test]
    fn a_writer_that_failed_by_itself_is_a_target_error_with_its_stderr() {
        let j = Trial::sent(3)
            .acks(1)
            .writer_ends(
                WriterEnd::Exited { code: 3 },
                "open wal.log: disk on fire\n",
            )
            .replays_prefix(1)
            .judge();
        let detail = violation(&j, Class::TargetError);
        assert_mentions(detail, "status 3");
        assert_mentions(detail, "disk on fire");
        assert_eq!(counts(&j), (1, 1, None));
    }

    #[test]
    fn a_writer_that_finished_without_acking_every_record_is_a_target_error() {
        // Protocol v1: each record is acked once appended, and the writer exits 0 at the
        // end of stdin, so a clean exit with a record unacked broke the protocol (a writer
        // that never acks would otherwise pass every trial, requiring nothing).
        let j = Trial::sent(3)
            .acks(2)
            .writer_ends(WriterEnd::Exited { code: 0 }, "")
            .replays_prefix(3)
            .judge();
        assert_mentions(
            violation(&j, Class::TargetError),
            "the writer exited 0 after acking 2 of the 3 records sent",
        );
        assert_eq!(counts(&j), (2, 2, None));
        let silent = Trial::sent(2)
            .writer_ends(WriterEnd::Exited { code: 0 }, "")
            .judge();
        assert_mentions(violation(&silent, Class::TargetError), "acking 0 of the 2");
    }

    #[test]
    fn a_writer_killed_by_a_signal_nobody_sent_is_a_target_error() {
        let end = WriterEnd::Signaled {
            signal: "SIGSEGV".into(),
        };
        let j = Trial::sent(3)
            .writer_ends(end, "segfault in append\n")
            .judge();
        let detail = violation(&j, Class::TargetError);
        assert_mentions(detail, "SIGSEGV");
        assert_mentions(detail, "segfault in append");
    }

    #[test]
    fn a_writer_killed_by_the_tracer_is_the_normal_case() {
        let j = Trial::sent(3)
            .acks(2)
            .writer_ends(WriterEnd::Killed { boundary: 0 }, "some noise\n")
            .replays_prefix(2)
            .judge();
        assert_pass(&j);
    }

    // The replay's run.

    #[test]
    fn a_replay_that_exits_non_zero_failed() {
        let j = Trial::sent(3)
            .acks(2)
            .replays_prefix(2)
            .replay_ends(exit(2), "bad checksum at offset 4096\n")
            .judge();
        let detail = violation(&j, Class::ReplayFailed);
        assert_mentions(detail, "exit status: 2");
        assert_mentions(detail, "bad checksum at offset 4096");
        assert_eq!(counts(&j), (2, 2, None));
    }

    #[test]
    fn a_replay_killed_by_a_signal_failed() {
        let j = Trial::sent(1)
            .replay_ends(Some(ExitStatus::from_raw(9)), "")
            .judge();
        assert_mentions(violation(&j, Class::ReplayFailed), "signal: 9");
    }

    #[test]
    fn a_replay_that_timed_out_hangs() {
        let j = Trial::sent(3).acks(1).replay_ends(None, "").judge();
        violation(&j, Class::ReplayHang);
        assert_eq!(counts(&j), (1, 1, None));
    }

    // Scale: see issue 7, item 5.

    #[test]
    fn judging_a_long_trial_holds_no_list_of_its_records() {
        use crate::scenario::SizeRange;
        use crate::seed::Seed;
        use crate::spill::heap;
        use crate::workload::Workload;

        const N: u32 = 100_000;
        let (peak, (j, stable)) = heap::peak(|| {
            let sizes = SizeRange { min: 0, max: 64 };
            let workload = Workload::generate(&mut Seed(1).workload_rng(0), 1, N, sizes);
            let stream = &workload.streams()[0];
            let (mut stdout, mut marks) = (Captured::default(), Spill::new());
            for i in 0..N {
                stdout.append(format!("{i}\n").as_bytes()).unwrap();
                let sizes = BTreeMap::from([("wal.log".to_owned(), 40 * u64::from(i))]);
                marks
                    .push(AckMark {
                        stream_end: stdout.len(),
                        after: 2 * u64::from(i),
                        sizes,
                    })
                    .unwrap();
            }
            let mut replay = Finished {
                status: Some(ExitStatus::from_raw(0)),
                stdout: Captured::default(),
                stderr: Captured::default(),
            };
            for r in stream.iter() {
                replay
                    .stdout
                    .append(protocol::encode(&r).as_bytes())
                    .unwrap();
                replay.stdout.append(b"\n").unwrap();
            }
            let (stderr, end) = (Captured::default(), WriterEnd::Killed { boundary: 0 });
            let ev = Evidence {
                writers: vec![WriterEvidence {
                    sent: stream,
                    stdout: &stdout,
                    stderr: &stderr,
                    marks: &marks,
                    end: &end,
                }],
                durability: Durability::Fsync,
                damage: &Damage::None,
                replay: &replay,
            };
            (judge(&ev), judge_stable(&replay, &replay))
        });
        assert_pass(&j);
        assert_eq!(counts(&j), (N.into(), N.into(), Some(N.into())));
        assert_eq!(stable, None);
        // The old oracle held every record at least twice (sent and replayed, ~6 MB each
        // here) and every mark with its map (~40 MB); streaming, each log keeps at most
        // a buffer of a few hundred KiB.
        assert!(
            peak < 4 << 20,
            "judging {N} records held {peak} bytes at once"
        );
    }

    // Several writers: each stream judged on its own, and the interleaving.

    /// Two writers, `a` and `b` records sent, the first `acks.0`/`acks.1` acked, killed;
    /// replay prints `replayed` as (writer, index) pairs.
    fn two_writers(
        a: usize,
        b: usize,
        acks: (usize, usize),
        replayed: &[(usize, usize)],
    ) -> Judgement {
        let sent = [
            (0..a).map(|i| rec(100 + i)).collect::<Vec<_>>(),
            (0..b).map(|i| rec(200 + i)).collect(),
        ];
        let stdouts: Vec<Vec<u8>> = [acks.0, acks.1]
            .iter()
            .map(|&n| {
                (0..n)
                    .map(|i| format!("{i}\n"))
                    .collect::<String>()
                    .into_bytes()
            })
            .collect();
        let marks: Vec<Spill<AckMark>> = stdouts
            .iter()
            .map(|out| {
                Spill::from(vec![AckMark {
                    stream_end: out.len() as u64,
                    after: 0,
                    sizes: BTreeMap::new(),
                }])
            })
            .collect();
        let stdouts: Vec<Captured> = stdouts
            .into_iter()
            .map(|o| Captured::new(o, false))
            .collect();
        let stderr = Captured::default();
        let end = WriterEnd::Killed { boundary: 3 };
        let text: String = replayed
            .iter()
            .map(|&(w, i)| protocol::encode(&sent[w][i]) + "\n")
            .collect();
        let replay = Finished {
            status: Some(ExitStatus::from_raw(0)),
            stdout: captured(&text),
            stderr: Captured::default(),
        };
        judge(&Evidence {
            writers: (0..2)
                .map(|w| WriterEvidence {
                    sent: &sent[w],
                    stdout: &stdouts[w],
                    stderr: &stderr,
                    marks: &marks[w],
                    end: &end,
                })
                .collect(),
            durability: Durability::Fsync,
            damage: &Damage::None,
            replay: &replay,
        })
    }

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
        });
        assert_mentions(violation(&j, Class::NotAPrefix), "was sent by no writer");
    }

    #[test]
    fn each_writers_acks_must_survive_on_their_own() {
        let j = two_writers(3, 3, (1, 2), &[(1, 0), (0, 0), (0, 1), (0, 2)]);
        let detail = violation(&j, Class::LostAck);
        assert_mentions(detail, "writer 1's record 1 was acked");
        assert_mentions(detail, "only 1 of the 2 records of writer 1");
    }
}
