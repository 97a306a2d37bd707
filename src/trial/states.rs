//! Crash states without re-running the writer.
//!
//! One traced run of a trial's workload to its end records the write log: every
//! file-changing call with its data ([`Trace::ops`]), where each boundary's calls start
//! ([`Trace::op_marks`]), and how many boundaries came before each ack
//! ([`crate::tracer::AckMark::after`]). The crash state at boundary k is then a pure
//! function of that recording ([`cut`]):
//!
//! 1. the folder: the ops before boundary k applied to an empty folder
//!    ([`power::after_kill`]), plus, for a torn write, the first `tear` bytes of
//!    boundary k's write;
//! 2. what the writers said: each writer's stdout up to its last ack made before boundary
//!    k, its ack marks up to there, and its end: killed at k (or the recorded end when k
//!    is the clean exit).
//!
//! Only the replay runs per state. This is the approach of ALICE and its successors; it
//! holds when the log sees every change the writer makes, so [`modelled`] refuses a log
//! with calls it cannot model, and the runner checks a sample of states against a real
//! SIGKILL at the same boundary, byte for byte ([`differences`]).
//!
//! A state is cut from the recorded run: with several writers, from the interleaving that
//! run happened to have. A kill that takes one writer while the others go on
//! (`crash = "one"`) is not a state of that run, and is left to re-execution.

use crate::faults::power;
use crate::snapshot::Snapshot;
use crate::spill::Spill;
use crate::tracer::{Op, Trace, WriterEnd};
use crate::trial::plan::Plan;

/// The crash state at one plan, cut from a recorded run.
#[derive(Clone, Debug)]
pub struct Cut {
    /// The recorded trace as a run killed at the plan would have left it: boundaries up
    /// to the kill, the acks made before it, every writer killed there, the ops that ran.
    pub trace: Trace,
    /// Per writer: how many bytes of the recorded stdout had been written by then.
    pub stdout_len: Vec<usize>,
    /// The trial folder as the kill left it.
    pub state: Snapshot,
}

/// Refuses a recording whose log holds a call the model cannot apply: states built from
/// it could differ from what a real kill leaves. The error names the first such call.
pub fn modelled(trace: &Trace) -> Result<(), String> {
    match trace.ops.iter().find_map(|op| match op {
        Op::Unmodelled { file, syscall } => Some((file, syscall)),
        _ => None,
    }) {
        Some((file, syscall)) => Err(crate::tracer::oplog::unmodelled_words(file, syscall)),
        None => Ok(()),
    }
}

/// Per writer, the [`crate::tracer::AckMark::after`] of each of its marks, in order: what
/// [`cut`] needs to know which acks a state keeps.
pub fn ack_afters(trace: &Trace) -> Vec<Vec<u64>> {
    trace
        .acks
        .iter()
        .map(|marks| marks.iter().map(|m| m.after).collect())
        .collect()
}

/// The folder as a kill at boundary `at` (no tear) leaves it: where the next [`cut`] at a
/// later boundary can start from, rather than apply the log from its start.
#[derive(Clone, Debug)]
pub struct Built {
    /// The boundary.
    pub at: u64,
    /// The folder.
    pub state: Snapshot,
}

/// The crash state of `plan` in the recorded `trace` (a run that was not killed, recorded
/// with its ops), whose writers wrote `stdouts` bytes and made marks after `afters`
/// boundaries ([`ack_afters`]). `plan.kill_at` beyond the last boundary is the clean exit.
///
/// The folder is built from `from` when it is a kill at or before the plan's boundary
/// (applying the ops between), else from an empty folder; the kill state at the plan's
/// boundary is returned too, for the next cut. The cut trace holds the ops that ran only
/// with `keep_ops` (a power loss is drawn from them).
pub fn cut(
    trace: &Trace,
    stdouts: &[usize],
    afters: &[Vec<u64>],
    plan: Plan,
    from: Option<&Built>,
    keep_ops: bool,
) -> (Cut, Built) {
    let n = trace.boundaries.len() as u64;
    let k = plan.kill_at.min(n);
    let ops_at = |b: u64| -> usize {
        trace
            .op_marks
            .get(b as usize)
            .copied()
            .unwrap_or(trace.ops.len())
    };
    let built = match from {
        Some(b) if b.at <= k => power::after_kill(&b.state, &trace.ops[ops_at(b.at)..ops_at(k)]),
        _ => power::after_kill(&Snapshot::default(), &trace.ops[..ops_at(k)]),
    };
    let mut ops: Vec<Op> = if keep_ops {
        trace.ops[..ops_at(k)].to_vec()
    } else {
        Vec::new()
    };
    let mut torn_ops = Vec::new();
    let mut torn = None;
    if k < n
        && let Some(keep) = plan.tear
        && let Some(w) = trace.boundaries.get(k as usize).and_then(|b| b.write)
        && keep < w.len
    {
        // As the tracer does for a torn write: only the bytes let through land.
        torn_ops.extend(
            trace.ops[ops_at(k)..ops_at(k + 1)]
                .iter()
                .map(|op| op.clone().torn(keep)),
        );
        torn = Some(keep);
    }
    let state = if torn_ops.is_empty() {
        built.clone()
    } else {
        power::after_kill(&built, &torn_ops)
    };
    if keep_ops {
        ops.extend(torn_ops);
    }
    let killed = k < n;
    // Marks are in the order they were made, so those made before boundary k are a
    // prefix: counted on `afters`, and cut without reading the marks back.
    let acks: Vec<Spill<_>> = trace
        .acks
        .iter()
        .zip(afters)
        .map(|(marks, afters)| {
            if killed {
                marks.prefix(afters.partition_point(|&a| a <= k))
            } else {
                marks.clone()
            }
        })
        .collect();
    let stdout_len = acks
        .iter()
        .zip(stdouts)
        .map(|(marks, &full)| {
            if killed {
                marks
                    .last()
                    .map_or(0, |m| (m.stream_end as usize).min(full))
            } else {
                full
            }
        })
        .collect();
    let ends = if killed {
        vec![WriterEnd::Killed { boundary: k }; trace.ends.len()]
    } else {
        trace.ends.clone()
    };
    let op_marks = trace.op_marks[..(k as usize).min(trace.op_marks.len())].to_vec();
    let boundaries = trace.boundaries.prefix(k as usize + usize::from(killed));
    let cut = Cut {
        trace: Trace {
            boundaries,
            acks,
            ends,
            ops,
            op_marks,
            torn,
            tracees: trace.tracees,
            execs: trace.execs.clone(),
            unsure: Vec::new(),
        },
        stdout_len,
        state,
    };
    (
        cut,
        Built {
            at: k,
            state: built,
        },
    )
}

/// Which of `count` states the runner checks against a real kill: the first, the last,
/// and evenly spaced ones between, `want` in all (fewer when there are fewer states).
pub fn sample(count: usize, want: usize) -> Vec<usize> {
    if count == 0 || want == 0 {
        return Vec::new();
    }
    if want >= count {
        return (0..count).collect();
    }
    let mut picks: Vec<usize> = (0..want)
        .map(|i| i * (count - 1) / (want - 1).max(1))
        .collect();
    picks.dedup();
    picks
}

/// How `built` differs from `real`, in words (at most a few lines); `None` when they
/// are equal byte for byte.
pub fn differences(built: &Snapshot, real: &Snapshot) -> Option<String> {
    let mut out = Vec::new();
    for d in real.dirs.symmetric_difference(&built.dirs) {
        let side = if real.dirs.contains(d) {
            "only after the real kill"
        } else {
            "only in the built state"
        };
        out.push(format!("folder {d}: {side}"));
    }
    let names: std::collections::BTreeSet<&String> =
        real.files.keys().chain(built.files.keys()).collect();
    for name in names {
        match (built.files.get(name), real.files.get(name)) {
            (Some(b), Some(r)) if b != r => {
                let at = b.iter().zip(r).position(|(x, y)| x != y);
                out.push(match at {
                    Some(at) => format!(
                        "{name}: differs at byte {at} (built {} bytes, real {} bytes)",
                        b.len(),
                        r.len()
                    ),
                    None => format!(
                        "{name}: built {} bytes, real {} bytes (same up to the shorter)",
                        b.len(),
                        r.len()
                    ),
                });
            }
            (Some(_), None) => out.push(format!("{name}: only in the built state")),
            (None, Some(_)) => out.push(format!("{name}: only after the real kill")),
            _ => {}
        }
    }
    if out.is_empty() {
        return None;
    }
    let more = out.len().saturating_sub(5);
    out.truncate(5);
    if more > 0 {
        out.push(format!("... and {more} more"));
    }
    Some(out.join("; "))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::tracer::{AckMark, Boundary, WriteAt};

    fn write(file: &str, offset: u64, data: &[u8]) -> Op {
        Op::Write {
            file: file.into(),
            offset,
            data: data.to_vec(),
        }
    }

    fn boundary(index: u64, write: Option<WriteAt>) -> Boundary {
        Boundary {
            index,
            writer: 0,
            syscall: if write.is_some() { "write" } else { "fsync" }.into(),
            description: String::new(),
            write,
        }
    }

    fn mark(stream_end: u64, after: u64) -> AckMark {
        AckMark {
            stream_end,
            after,
            sizes: BTreeMap::new(),
        }
    }

    /// open(O_CREAT) wal, write "abcd", fsync, ack "ok 0\n", write "efgh", fsync, ack,
    /// exit 0.
    fn recording() -> (Trace, Vec<usize>) {
        let trace = Trace {
            boundaries: vec![
                boundary(0, None),
                boundary(1, Some(WriteAt { offset: 0, len: 4 })),
                boundary(2, None),
                boundary(3, Some(WriteAt { offset: 4, len: 4 })),
                boundary(4, None),
            ]
            .into(),
            acks: vec![vec![mark(5, 3), mark(10, 5)].into()],
            ends: vec![WriterEnd::Exited { code: 0 }],
            ops: vec![
                Op::Create { file: "wal".into() },
                write("wal", 0, b"abcd"),
                Op::Sync { file: "wal".into() },
                write("wal", 4, b"efgh"),
                Op::Sync { file: "wal".into() },
            ],
            op_marks: vec![0, 1, 2, 3, 4],
            torn: None,
            unsure: Vec::new(),
            tracees: 1,
            execs: Vec::new(),
        };
        (trace, vec![10])
    }

    fn wal(cut: &Cut) -> Option<&[u8]> {
        cut.state.files.get("wal").map(Vec::as_slice)
    }

    #[test]
    fn a_kill_keeps_the_ops_and_acks_before_its_boundary() {
        let (trace, out) = recording();
        let afters = ack_afters(&trace);
        let at = |kill_at, tear| cut(&trace, &out, &afters, Plan { kill_at, tear }, None, true).0;
        assert_eq!(wal(&at(0, None)), None);
        assert_eq!(wal(&at(1, None)), Some(&b""[..]));
        assert_eq!(wal(&at(3, None)), Some(&b"abcd"[..]));
        // The first ack came after boundary 2 and before 3.
        assert_eq!(at(2, None).stdout_len, vec![0]);
        assert_eq!(at(3, None).stdout_len, vec![5]);
        assert_eq!(at(3, None).trace.acks[0].len(), 1);
        let c = at(3, None);
        assert_eq!(c.trace.ends, vec![WriterEnd::Killed { boundary: 3 }]);
        assert_eq!(
            c.trace.boundaries.len(),
            4,
            "the kill boundary is the last one"
        );
    }

    #[test]
    fn the_clean_exit_is_the_whole_recording() {
        let (trace, out) = recording();
        let c = cut(
            &trace,
            &out,
            &ack_afters(&trace),
            Plan {
                kill_at: 5,
                tear: None,
            },
            None,
            true,
        )
        .0;
        assert_eq!(wal(&c), Some(&b"abcdefgh"[..]));
        assert_eq!(c.stdout_len, vec![10]);
        assert_eq!(c.trace.ends, vec![WriterEnd::Exited { code: 0 }]);
        assert_eq!(c.trace.boundaries.len(), 5);
    }

    #[test]
    fn a_torn_write_lands_its_first_bytes() {
        let (trace, out) = recording();
        let afters = ack_afters(&trace);
        let c = cut(
            &trace,
            &out,
            &afters,
            Plan {
                kill_at: 3,
                tear: Some(2),
            },
            None,
            true,
        )
        .0;
        assert_eq!(wal(&c), Some(&b"abcdef"[..]));
        assert_eq!(c.trace.torn, Some(2));
        // A tear at a boundary that is no write is a plain kill.
        let c = cut(
            &trace,
            &out,
            &afters,
            Plan {
                kill_at: 2,
                tear: Some(1),
            },
            None,
            true,
        )
        .0;
        assert_eq!(wal(&c), Some(&b"abcd"[..]));
        assert_eq!(c.trace.torn, None);
    }

    #[test]
    fn a_cut_from_an_earlier_state_equals_one_from_the_start() {
        let (trace, out) = recording();
        let afters = ack_afters(&trace);
        let plans: Vec<Plan> = (0..=5)
            .flat_map(|kill_at| {
                [None, Some(1), Some(3)]
                    .into_iter()
                    .map(move |tear| Plan { kill_at, tear })
            })
            .collect();
        for &plan in &plans {
            let (whole, _) = cut(&trace, &out, &afters, plan, None, true);
            for base in 0..=plan.kill_at {
                let (_, from) = cut(
                    &trace,
                    &out,
                    &afters,
                    Plan {
                        kill_at: base,
                        tear: None,
                    },
                    None,
                    false,
                );
                let (step, built) = cut(&trace, &out, &afters, plan, Some(&from), false);
                assert_eq!(step.state, whole.state, "{plan:?} from {base}");
                assert_eq!(built.at, plan.kill_at.min(5));
                assert!(step.trace.ops.is_empty(), "no ops kept unless asked");
            }
            // A base past the plan is not used.
            let (_, late) = cut(
                &trace,
                &out,
                &afters,
                Plan {
                    kill_at: 5,
                    tear: None,
                },
                None,
                false,
            );
            assert_eq!(
                cut(&trace, &out, &afters, plan, Some(&late), true).0.state,
                whole.state
            );
        }
    }

    #[test]
    fn unmodelled_calls_are_refused_by_name() {
        let (mut trace, _) = recording();
        assert_eq!(modelled(&trace), Ok(()));
        trace.ops.push(Op::Unmodelled {
            file: "wal".into(),
            syscall: "fallocate".into(),
        });
        let why = modelled(&trace).unwrap_err();
        assert!(why.contains("fallocate(wal)"), "{why}");
    }

    #[test]
    fn the_sample_takes_both_ends_and_spreads_between() {
        assert_eq!(sample(0, 8), Vec::<usize>::new());
        assert_eq!(sample(3, 8), vec![0, 1, 2]);
        assert_eq!(sample(100, 5), vec![0, 24, 49, 74, 99]);
        assert_eq!(sample(10, 1), vec![0]);
    }

    #[test]
    fn differences_name_the_file_and_byte() {
        let mut a = Snapshot::default();
        a.files.insert("wal".into(), b"abcd".to_vec());
        let mut b = a.clone();
        assert_eq!(differences(&a, &b), None);
        b.files.insert("wal".into(), b"abXd".to_vec());
        b.files.insert("extra".into(), Vec::new());
        let words = differences(&a, &b).unwrap();
        assert!(words.contains("wal: differs at byte 2"), "{words}");
        assert!(words.contains("extra: only after the real kill"), "{words}");
    }
}
