//! [`judge`]: the four demands, checked on one trial in the order the module lists them.
//! The first that fails is the verdict; the counts reached before it are kept.

use std::os::unix::process::ExitStatusExt;

use nix::sys::signal::Signal;

use super::acks::{count_acks, marks_of_acks};
use super::evidence::Evidence;
use super::prefix::{interleaved, positional};
use super::replay::count_records;
use super::verdict::{Class, Judgement, Violation};
use crate::process::Limits;
use crate::tracer::WriterEnd;

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
            WriterEnd::TimedOut {
                last_boundary,
                in_calls,
            } => {
                return Err(fail(
                    Class::Hang,
                    format!(
                        "{who}the writer was still running at the timeout, after acking {} of the {} records sent, and was killed; {}",
                        acked[w].count,
                        wr.sent.count(),
                        doing(last_boundary.as_deref(), in_calls)
                    ),
                ));
            }
            WriterEnd::Exited { code } if *code != 0 => {
                return Err(fail(
                    Class::TargetError,
                    ended(
                        &ev.limits,
                        format!("{who}the writer exited with status {code}"),
                        None,
                        &stderr(),
                    ),
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
                    ended(
                        &ev.limits,
                        format!("{who}the writer died of {signal}"),
                        Some(signal),
                        &stderr(),
                    ),
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
        let signal = status.signal().and_then(|s| Signal::try_from(s).ok());
        return Err(fail(
            Class::ReplayFailed,
            ended(
                &ev.limits,
                format!("replay {status}"),
                signal.map(Signal::as_str),
                stderr.trim_end(),
            ),
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

/// How a target process ended (`how`), the `[limits]` key that may have ended it when
/// its `signal` or what it `said` points at one, then what it said (if anything): `the
/// writer died of SIGXFSZ ([limits] file-size = "1MiB" ended it: ...): <stderr>`. The
/// hint comes before the stderr, which may run over many lines.
pub(crate) fn ended(limits: &Limits, how: String, signal: Option<&str>, said: &str) -> String {
    let hint = limits
        .suspect(signal, said)
        .map(|hint| format!(" ({hint})"))
        .unwrap_or_default();
    if said.is_empty() {
        format!("{how}{hint}")
    } else {
        format!("{how}{hint}: {said}")
    }
}

/// What a writer killed at its timeout was doing: its last boundary and the calls its
/// threads were in (see [`WriterEnd::TimedOut`]).
fn doing(last_boundary: Option<&str>, in_calls: &[String]) -> String {
    let last = match last_boundary {
        Some(call) => format!("its last boundary was {call}"),
        None => "it had reached no boundary".to_owned(),
    };
    let state = |call: &String| {
        if call == "running" {
            "running (in no system call)".to_owned()
        } else {
            format!("in {call}")
        }
    };
    match in_calls {
        [] => last,
        [only] => format!("{last}; at the timeout it was {}", state(only)),
        many => format!(
            "{last}; at the timeout its threads were: {}",
            many.iter().map(state).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use super::*;
    use crate::faults::Damage;
    use crate::oracle::evidence::WriterEvidence;
    use crate::oracle::recovery::judge_stable;
    use crate::oracle::testing::{
        Trial, assert_mentions, assert_pass, counts, exit, two_writers, violation,
    };
    use crate::process::{Captured, Finished};
    use crate::protocol::{self, Durability};
    use crate::spill::Spill;
    use crate::tracer::AckMark;

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
    fn a_writer_that_finished_by_itself_passes() {
        let j = Trial::sent(2)
            .acks(2)
            .writer_ends(WriterEnd::Exited { code: 0 }, "")
            .replays_prefix(2)
            .judge();
        assert_pass(&j);
        assert_eq!(counts(&j), (2, 2, Some(2)));
    }

    // How the writer ended.

    #[test]
    fn a_writer_that_timed_out_hangs() {
        let end = WriterEnd::TimedOut {
            last_boundary: Some("fsync(wal.log)".into()),
            in_calls: vec!["read".into()],
        };
        let j = Trial::sent(3)
            .acks(1)
            .writer_ends(end, "")
            .replays_prefix(3)
            .judge();
        violation(&j, Class::Hang);
        assert_eq!(counts(&j), (1, 1, None));
        // See issue 13: what happened, not "no progress", and what it was doing.
        let detail = &j.violation.as_ref().unwrap().detail;
        assert!(
            detail.contains("still running at the timeout, after acking 1 of the 3 records")
                && detail.ends_with(
                    "its last boundary was fsync(wal.log); at the timeout it was in read"
                ),
            "{detail}"
        );
        let end = WriterEnd::TimedOut {
            last_boundary: None,
            in_calls: vec!["running".into(), "futex".into()],
        };
        let j = Trial::sent(3).writer_ends(end, "").judge();
        assert_mentions(
            violation(&j, Class::Hang),
            "it had reached no boundary; at the timeout its threads were: running (in no system call), in futex",
        );
    }

    // See issue 13: a failure a [limits] key explains says so, before the stderr.
    #[test]
    fn a_failure_a_limit_explains_names_the_limit() {
        let small = Limits {
            file_size: Some(1 << 20),
            address_space: Some(512 << 20),
            ..Limits::default()
        };
        let died = WriterEnd::Signaled {
            signal: "SIGXFSZ".into(),
        };
        let j = Trial::sent(3).limits(small).writer_ends(died, "").judge();
        assert_eq!(
            violation(&j, Class::TargetError),
            "the writer died of SIGXFSZ ([limits] file-size = \"1MiB\" ended it: SIGXFSZ is what a write past it gets)"
        );
        let j = Trial::sent(3)
            .limits(small)
            .writer_ends(
                WriterEnd::Exited { code: 1 },
                "OSError: [Errno 27] File too large",
            )
            .judge();
        assert_mentions(
            violation(&j, Class::TargetError),
            "the writer exited with status 1 ([limits] file-size = \"1MiB\" may have ended it: its stderr says \"File too large\"): OSError",
        );
        let mut trial = Trial::sent(3).limits(small).replays_prefix(3);
        trial.replay.status = exit(1);
        trial.replay.stderr = Captured::new(b"Traceback ...\nMemoryError\n".to_vec(), false);
        assert_mentions(
            violation(&trial.judge(), Class::ReplayFailed),
            "replay exit status: 1 ([limits] address-space = \"512MiB\" may have ended it: its stderr says \"MemoryError\"): Traceback",
        );
        // Without the limit in force, nothing is said of it.
        let j = trial.limits(Limits::NONE).judge();
        let detail = violation(&j, Class::ReplayFailed);
        assert!(!detail.contains("[limits]"), "{detail}");
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

    // Several writers: each writer's acks judged on their own.

    #[test]
    fn each_writers_acks_must_survive_on_their_own() {
        let j = two_writers(3, 3, (1, 2), &[(1, 0), (0, 0), (0, 1), (0, 2)]);
        let detail = violation(&j, Class::LostAck);
        assert_mentions(detail, "writer 1's record 1 was acked");
        assert_mentions(detail, "only 1 of the 2 records of writer 1");
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
            let workload = Workload::generate(&mut Seed(1).workload_rng(0), 1, N, sizes).unwrap();
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
                limits: crate::process::Limits::default(),
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
}
