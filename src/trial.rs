//! One trial, end to end: workload, dry run, kill, fault, replay, verdict.
//!
//! The two passes follow redb's crash test: the dry run counts the writer's boundaries
//! (N); the trial then draws k from `0..=N` and runs the writer again, killing it at
//! boundary k, or letting it exit when k = N. When k = N the dry run is the trial and is
//! not repeated. Every draw comes from the trial's ChaCha8 stream in a fixed order
//! (workload, fault class, k, fault details), so `(scenario, seed, trial)` reproduces it.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use globset::GlobSet;
use serde::{Deserialize, Serialize};

use crate::errors::{TraceError, TrialError};
use crate::faults::{self, Damage, FaultKind};
use crate::oracle::{self, Class, Evidence, Judgement, Violation, WriterEvidence};
use crate::process::{self, Captured, Finished, feed_on, read_on};
use crate::protocol::Role;
use crate::scenario::Scenario;
use crate::seed::below;
use crate::snapshot::Snapshot;
use crate::spill::Spill;
use crate::states;
use crate::target::TargetKind;
use crate::tracer::{Boundary, KillScope, Trace, TraceOptions, Traced, WriterEnd};
use crate::workload::Workload;

/// What all trials of a run share.
#[derive(Clone, Debug)]
pub struct TrialEnv {
    /// The scenario.
    pub scenario: Scenario,
    /// The crashtest executable, which serves the built-in targets.
    pub exe: PathBuf,
    /// The run folder (canonical); trial folders are made inside it.
    pub work: PathBuf,
    /// The target's `files` globs, compiled.
    pub files: GlobSet,
    /// Where to keep failing trials' folders (`--keep-failures`), if anywhere.
    pub keep: Option<PathBuf>,
}

/// The outcome of one trial: enough to report it and to check a reproduction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialOutcome {
    /// The trial's index in the run.
    pub trial: u64,
    /// The fault class drawn.
    pub fault: FaultKind,
    /// Boundaries the dry run reached (N); the kill was drawn from `0..=N`.
    pub boundaries: u64,
    /// The boundary the writer was killed at; `None` when it exited cleanly.
    pub kill: Option<Boundary>,
    /// For a torn write: the bytes of the kill boundary's write that were let through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tear: Option<u64>,
    /// The damage done after the kill.
    pub damage: Damage,
    /// What this case changes in the trial (shrunk or exhaustive cases).
    #[serde(default, skip_serializing_if = "Overrides::is_empty")]
    pub overrides: Overrides,
    /// Where the trial's folder was kept (`--keep-failures`): `crashed/` as the crash left
    /// it, `damaged/` after the fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<PathBuf>,
    /// With `recovery-crash`: the replay's own boundary it was killed at, and how many
    /// boundaries its dry run had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_kill: Option<(Boundary, u64)>,
    /// Writers that ran at once.
    pub writers: u32,
    /// Records sent, all writers together.
    pub sent: u64,
    /// Threads and processes of the writer that were traced in the crash run.
    pub tracees: u64,
    /// The oracle's findings.
    pub judgement: Judgement,
}

impl TrialOutcome {
    /// The failed check, if the trial failed.
    pub fn violation(&self) -> Option<&Violation> {
        self.judgement.violation.as_ref()
    }

    /// The kill point in words.
    pub fn kill_words(&self) -> String {
        let words = match &self.kill {
            Some(b) if self.writers > 1 => {
                format!(
                    "boundary {}/{}: writer {}: {}",
                    b.index, self.boundaries, b.writer, b.description
                )
            }
            Some(b) => format!(
                "boundary {}/{}: {}",
                b.index, self.boundaries, b.description
            ),
            None => format!("none (clean exit after {} boundaries)", self.boundaries),
        };
        match self.tear {
            Some(keep) => format!("{words}, torn after {keep} bytes"),
            None => words,
        }
    }
}

/// What a reproduction prints beyond the outcome. Nothing here grows in memory with the
/// trial: the records are drawn again from the workload, boundaries and outputs past a
/// few hundred KiB live in unnamed temporary files ([`crate::spill`]).
#[derive(Clone, Debug, Default)]
pub struct TrialDetail {
    /// The records sent, per writer.
    pub sent: Workload,
    /// Every boundary of the crashed run, the kill last.
    pub boundaries: Spill<Boundary>,
    /// Each writer's stdout (acks).
    pub writer_stdout: Vec<Captured>,
    /// Each writer's stderr.
    pub writer_stderr: Vec<String>,
    /// The replay's stdout.
    pub replay_stdout: Captured,
    /// The replay's stderr.
    pub replay_stderr: String,
}

/// One run of the writers: the trace and each writer's output.
#[derive(Clone)]
struct WritersRun {
    trace: Trace,
    stdouts: Vec<Captured>,
    stderrs: Vec<Captured>,
}

/// A trial's case: which trial, and what a shrunk or exhaustive case changes in it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Overrides {
    /// Fewer records per writer than the scenario says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u32>,
    /// Payloads cut to at most this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload: Option<u32>,
    /// The crash state, chosen rather than drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// The fault class, chosen rather than drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultKind>,
}

impl Overrides {
    /// A chosen crash state: a torn write when the plan tears, else a plain kill; no
    /// other damage.
    pub fn at(plan: Plan) -> Overrides {
        let fault = if plan.tear.is_some() {
            FaultKind::Torn
        } else {
            FaultKind::Kill
        };
        Overrides {
            plan: Some(plan),
            fault: Some(fault),
            ..Overrides::default()
        }
    }

    /// True when nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }
}

/// A crash state chosen rather than drawn: kill at boundary `kill_at` of the dry run (its
/// N = the clean exit), tearing the write there after `tear` bytes. Exhaustive runs walk
/// them; `repro --kill-at K --tear J` replays one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Plan {
    /// The boundary to kill at.
    pub kill_at: u64,
    /// For a torn write, the bytes let through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tear: Option<u64>,
}

/// Runs trial `index` of the run.
pub fn run(env: &TrialEnv, index: u64) -> Result<(TrialOutcome, TrialDetail), TrialError> {
    run_case(env, index, Overrides::default())
}

/// The records of trial `index`, with the overrides' caps applied.
fn workload(env: &TrialEnv, index: u64, over: &Overrides) -> Workload {
    let sc = &env.scenario;
    Workload::generate(
        &mut sc.seed.workload_rng(index),
        sc.writers,
        sc.records,
        sc.payload,
    )
    .capped(over.records, over.max_payload)
}

/// One traced run of trial `index`'s workload to its end, with its write log: every crash
/// state of the trial can be cut from it ([`crate::states`]) and only replayed.
pub struct Recording {
    index: u64,
    run: WritersRun,
    /// Per writer, how many boundaries came before each of its acks.
    afters: Vec<Vec<u64>>,
    /// The latest kill state built, the next cut's starting point.
    built: Mutex<Option<Arc<states::Built>>>,
    /// The replays of the states replayed so far.
    replays: Replays,
}

/// The replays of an exhaustive run's states, by the folder they started from. A replay
/// is a function of that folder (the stable check holds it to that), and many states are
/// equal (a kill before a record's write leaves what a kill before the previous record's
/// sync left), so a state equal to one replayed before reuses its replays rather than
/// start the replay again. Their output names the folder they ran in, which is swapped for
/// the reusing case's.
///
/// States are known by a 128-bit hash of the folder (two SipHash keys drawn for the run),
/// and only the last [`Replays::KEEP`] are kept: equal states come close together in the
/// walk, and a run's memory must not grow with its states.
#[derive(Default)]
struct Replays {
    keys: (std::hash::RandomState, std::hash::RandomState),
    seen: Mutex<Kept>,
}

/// The kept replays, and their keys oldest first.
#[derive(Default)]
struct Kept {
    by_key: HashMap<StateKey, Arc<Replayed>>,
    order: VecDeque<StateKey>,
}

/// A state's 128-bit hash.
type StateKey = (u64, u64);

impl Replays {
    /// States whose replays are kept.
    const KEEP: usize = 32;

    fn key(&self, state: &Snapshot) -> StateKey {
        use std::hash::BuildHasher;
        (self.keys.0.hash_one(state), self.keys.1.hash_one(state))
    }

    fn get(&self, key: StateKey) -> Option<Arc<Replayed>> {
        self.seen
            .lock()
            .expect("no panics hold it")
            .by_key
            .get(&key)
            .cloned()
    }

    fn insert(&self, key: StateKey, replayed: Arc<Replayed>) {
        let kept = &mut *self.seen.lock().expect("no panics hold it");
        if kept.by_key.insert(key, replayed).is_none() {
            kept.order.push_back(key);
        }
        while kept.order.len() > Self::KEEP {
            if let Some(old) = kept.order.pop_front() {
                kept.by_key.remove(&old);
            }
        }
    }
}

/// A state's replay and, with the stable check, the replay after it, run in `dir`.
struct Replayed {
    dir: String,
    first: Finished,
    again: Option<Finished>,
}

impl Recording {
    /// Runs trial `index`'s writers once, untouched, recording every file-changing call
    /// with its data. `Ok(Err(why))`: the writer could not be started.
    pub fn make(env: &TrialEnv, index: u64) -> Result<Result<Recording, String>, TrialError> {
        let workload = workload(env, index, &Overrides::default());
        let dir = env.work.join(format!("record{index}"));
        fresh_dir(&dir)?;
        let run = run_writers(env, &dir, &workload, None, true, index);
        std::fs::remove_dir_all(&dir).map_err(|source| TrialError::Io {
            what: "remove trial folder",
            path: dir.clone(),
            source,
        })?;
        Ok(run?.map(|run| Recording {
            index,
            afters: states::ack_afters(&run.trace),
            built: Mutex::new(None),
            run,
            replays: Replays::default(),
        }))
    }

    /// Every crash state of the run: each boundary and the clean exit, and each write cut
    /// at every `sector` boundary inside it.
    pub fn plans(&self, sector: u64) -> Vec<Plan> {
        let boundaries = &self.run.trace.boundaries;
        let mut plans = Vec::new();
        for b in boundaries.iter() {
            plans.push(Plan {
                kill_at: b.index,
                tear: None,
            });
            if let Some(w) = b.write {
                // Cut point 0 is the plain kill just pushed.
                plans.extend(
                    faults::tear_points(w.offset, w.len, sector)
                        .skip(1)
                        .map(|keep| Plan {
                            kill_at: b.index,
                            tear: Some(keep),
                        }),
                );
            }
        }
        plans.push(Plan {
            kill_at: boundaries.len() as u64,
            tear: None,
        });
        plans
    }

    /// Why states cannot be cut from this run, if they cannot: a call the write log
    /// cannot model, or a kill that takes one writer of several.
    pub fn unfit(&self, env: &TrialEnv) -> Option<String> {
        if env.scenario.writers > 1 && env.scenario.crash == KillScope::One {
            return Some("with crash = \"one\" the other writers run on after the kill".to_owned());
        }
        states::modelled(&self.run.trace).err()
    }

    /// The state of `plan` cut from the recording, as a run killed there would have left
    /// it, and the folder it leaves.
    fn cut(&self, plan: Plan, keep_ops: bool) -> (WritersRun, Snapshot) {
        let full: Vec<usize> = self.run.stdouts.iter().map(|c| c.len() as usize).collect();
        // Start from the kill state built last, when it comes before this one: the walk
        // goes forward, so each state applies only the ops since the one before.
        let from = self.built.lock().expect("no panics hold it").clone();
        let (cut, built) = states::cut(
            &self.run.trace,
            &full,
            &self.afters,
            plan,
            from.as_deref(),
            keep_ops,
        );
        *self.built.lock().expect("no panics hold it") = Some(Arc::new(built));
        let killed = plan.kill_at < self.run.trace.boundaries.len() as u64;
        let stdouts = self
            .run
            .stdouts
            .iter()
            .zip(&cut.stdout_len)
            .map(|(c, &len)| {
                let mut bytes = c.bytes();
                bytes.truncate(len);
                Captured::new(bytes, c.overflowed && !killed)
            })
            .collect();
        // What a killed writer wrote to stderr is not traced, so not cut: none of it.
        let stderrs = if killed {
            vec![Captured::default(); self.run.stderrs.len()]
        } else {
            self.run.stderrs.clone()
        };
        let run = WritersRun {
            trace: cut.trace,
            stdouts,
            stderrs,
        };
        (run, cut.state)
    }
}

/// Runs the case `over` (a kill or a torn write at its plan, then its fault; no plan: the
/// clean exit) of the recorded trial from the state cut from the recording: only the
/// replay and the checks run. With `verify`, the writer
/// also runs for real and is killed at the plan, and the folder it leaves must equal the
/// state built from its own write log byte for byte (and, for a deterministic writer,
/// equals the cut state); a difference is a harness error ([`TrialError::StateMismatch`]).
pub fn run_state(
    env: &TrialEnv,
    rec: &Recording,
    over: Overrides,
    verify: bool,
) -> Result<(TrialOutcome, TrialDetail), TrialError> {
    let index = rec.index;
    let plan = over.plan.unwrap_or(Plan {
        kill_at: u64::MAX,
        tear: None,
    });
    let mut case = Case::new(env, index, over);
    let result = (|| -> Result<(), TrialError> {
        let (run, state) = rec.cut(plan, case.fault == FaultKind::PowerLoss);
        let n = rec.run.trace.boundaries.len() as u64;
        let k = plan.kill_at.min(n);
        case.outcome.boundaries = n;
        if verify {
            verify_state(env, &case, plan, k, &state)?;
        }
        fresh_dir(&case.dir)?;
        restore(&state, &case.dir)?;
        case.replays = Some((&rec.replays, state));
        case.judge(run, k)
    })();
    case.end(result)
}

/// Kills the writer for real at `plan` in a folder of its own and compares what it left
/// with the state cut from the recording.
fn verify_state(
    env: &TrialEnv,
    case: &Case<'_>,
    plan: Plan,
    k: u64,
    built: &Snapshot,
) -> Result<(), TrialError> {
    let dir = case.dir.with_extension("real");
    fresh_dir(&dir)?;
    let kill = (k < case.outcome.boundaries).then_some(KillPlan {
        at: k,
        tear: plan.tear,
    });
    let real = (|| {
        let run = run_writers(env, &dir, &case.workload, kill, true, case.index)?;
        check_interrupt()?;
        match run {
            Ok(run) => Ok::<_, TrialError>(Some((snapshot(&dir)?, run.trace.ops))),
            Err(_) => Ok(None),
        }
    })();
    std::fs::remove_dir_all(&dir).map_err(|source| TrialError::Io {
        what: "remove trial folder",
        path: dir.clone(),
        source,
    })?;
    let Some((real, real_ops)) = real? else {
        return Ok(());
    };
    if states::differences(built, &real).is_none() {
        return Ok(());
    }
    // The real run wrote other bytes than the recorded one (a timestamp, a random salt):
    // the writer is not deterministic, and the cut state is still the state of the
    // recorded run. The model is what is checked: the real run's own log must give what
    // the real kill left.
    let own = crate::faults::power::after_kill(&Snapshot::default(), &real_ops);
    match states::differences(&own, &real) {
        None => Ok(()),
        Some(differences) => Err(TrialError::StateMismatch {
            trial: case.index,
            state: plan_words(plan),
            differences,
        }),
    }
}

/// A plan in words: `kill at boundary 4` or `kill at boundary 4 torn after 512 bytes`.
fn plan_words(plan: Plan) -> String {
    match plan.tear {
        Some(keep) => format!("kill at boundary {}, torn after {keep} bytes", plan.kill_at),
        None => format!("kill at boundary {}", plan.kill_at),
    }
}

/// Runs trial `index` as `over` changes it.
pub fn run_case(
    env: &TrialEnv,
    index: u64,
    over: Overrides,
) -> Result<(TrialOutcome, TrialDetail), TrialError> {
    let mut case = Case::new(env, index, over);
    let result = (|| -> Result<(), TrialError> {
        let (env, dir, fault) = (case.env, case.dir.clone(), case.fault);
        let record_ops = fault == FaultKind::PowerLoss;
        fresh_dir(&dir)?;
        let dry = match run_writers(env, &dir, &case.workload, None, record_ops, index)? {
            Ok(run) => run,
            Err(why) => {
                target_error(&mut case.outcome, why);
                return Ok(());
            }
        };
        check_interrupt()?;
        case.outcome.boundaries = dry.trace.boundaries.len() as u64;
        let (k, tear) = match over.plan {
            Some(p) => (
                p.kill_at.min(case.outcome.boundaries),
                p.tear.filter(|_| fault == FaultKind::Torn),
            ),
            None => kill_point(&mut case.rng, fault, &dry.trace, env.scenario.sector),
        };
        let run = if k == case.outcome.boundaries {
            dry
        } else {
            fresh_dir(&dir)?;
            let kill = KillPlan { at: k, tear };
            match run_writers(env, &dir, &case.workload, Some(kill), record_ops, index)? {
                Ok(run) => run,
                Err(why) => {
                    target_error(&mut case.outcome, why);
                    return Ok(());
                }
            }
        };
        check_interrupt()?;
        case.judge(run, k)
    })();
    case.end(result)
}

/// One case of a trial on its way: what was drawn, its folder, and what it found so far.
struct Case<'a> {
    env: &'a TrialEnv,
    index: u64,
    rng: rand_chacha::ChaCha8Rng,
    workload: Workload,
    fault: FaultKind,
    dir: PathBuf,
    outcome: TrialOutcome,
    detail: TrialDetail,
    /// Replays to reuse for states equal to ones replayed before (exhaustive runs), and
    /// the state the case's folder was written from.
    replays: Option<(&'a Replays, Snapshot)>,
}

impl<'a> Case<'a> {
    /// Draws the case's records and fault class (in that order, from the trial's stream)
    /// and names its folder.
    fn new(env: &'a TrialEnv, index: u64, over: Overrides) -> Case<'a> {
        let sc = &env.scenario;
        let mut rng = sc.seed.trial_rng(index);
        let workload = workload(env, index, &over);
        let drawn = FaultKind::choose(&mut rng, &sc.faults);
        let fault = over.fault.unwrap_or(drawn);
        // Cases of one trial may run at once (exhaustive, shrinking): each gets its folder.
        let dir = if over.is_empty() {
            env.work.join(format!("t{index}"))
        } else {
            static CASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            env.work.join(format!(
                "t{index}-case{}",
                CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ))
        };
        let outcome = TrialOutcome {
            trial: index,
            fault,
            boundaries: 0,
            kill: None,
            tear: None,
            damage: Damage::None,
            overrides: over,
            kept: None,
            recovery_kill: None,
            writers: sc.writers,
            sent: workload.sent(),
            tracees: 0,
            judgement: Judgement {
                acked: 0,
                required: 0,
                recovered: None,
                violation: None,
            },
        };
        let detail = TrialDetail {
            sent: workload.clone(),
            ..TrialDetail::default()
        };
        Case {
            env,
            index,
            rng,
            workload,
            fault,
            dir,
            outcome,
            detail,
            replays: None,
        }
    }

    /// Removes the case's folder and hands back its outcome.
    fn end(
        self,
        result: Result<(), TrialError>,
    ) -> Result<(TrialOutcome, TrialDetail), TrialError> {
        let cleanup = std::fs::remove_dir_all(&self.dir).map_err(|source| TrialError::Io {
            what: "remove trial folder",
            path: self.dir.clone(),
            source,
        });
        result?;
        cleanup?;
        Ok((self.outcome, self.detail))
    }

    /// From the folder as the crash `run` (killed at boundary `k`, or not killed when `k`
    /// is its last) left it: the fault, the replay, the verdict and the checks.
    fn judge(&mut self, run: WritersRun, k: u64) -> Result<(), TrialError> {
        let (env, index) = (self.env, self.index);
        let sc = &env.scenario;
        let dir = self.dir.clone();
        let over = self.outcome.overrides;
        let (outcome, rng, workload) = (&mut self.outcome, &mut self.rng, &self.workload);
        outcome.tracees = run.trace.tracees as u64;
        outcome.kill = run
            .trace
            .boundaries
            .get(k as usize)
            .filter(|_| k < outcome.boundaries);
        outcome.tear = run.trace.torn;
        // A target that plants a symlink out of its folder is stopped here: no fault
        // touches the trial folder, and the replay does not run.
        if let Some((name, target)) = faults::escaping_links(&dir).into_iter().next() {
            target_error(
                outcome,
                format!(
                    "the writer planted a symlink out of its folder: {name} -> {}; crashtest follows no symlink",
                    target.display()
                ),
            );
            return Ok(());
        }
        let ctx = faults::Context {
            files: &env.files,
            sector: sc.sector,
            ops: &run.trace.ops,
            initial: &Snapshot::default(),
        };
        let crashed_state = if env.keep.is_some() {
            Some(snapshot(&dir)?)
        } else {
            None
        };
        outcome.damage = faults::apply(self.fault, rng, &dir, &ctx)?;
        let damaged_state = if env.keep.is_some() {
            Some(snapshot(&dir)?)
        } else {
            None
        };
        let crashed = if sc.checks.recovery_crash {
            Some(snapshot(&dir)?)
        } else {
            None
        };
        // A state replayed before (and not to be resumed, which needs the folder its
        // replays leave) reuses those replays.
        let reuse = match &self.replays {
            Some((replays, state)) if !sc.checks.resume => {
                // A kill or a torn write left the folder as it was written; other faults
                // changed it.
                let key = if matches!(self.fault, FaultKind::Kill | FaultKind::Torn) {
                    replays.key(state)
                } else {
                    replays.key(&snapshot(&dir)?)
                };
                Some((*replays, key))
            }
            _ => None,
        };
        let (replay, again) = match &reuse {
            Some((replays, key)) => {
                let replayed = match replays.get(*key) {
                    Some(replayed) => replayed,
                    None => {
                        let first = run_replay(env, &dir, index)?;
                        check_interrupt()?;
                        let again = if sc.checks.stable {
                            Some(run_replay(env, &dir, index)?)
                        } else {
                            None
                        };
                        check_interrupt()?;
                        let replayed = Arc::new(Replayed {
                            dir: dir.display().to_string(),
                            first,
                            again,
                        });
                        replays.insert(*key, replayed.clone());
                        replayed
                    }
                };
                let here = dir.display().to_string();
                (
                    moved(&replayed.first, &replayed.dir, &here),
                    replayed
                        .again
                        .as_ref()
                        .map(|f| moved(f, &replayed.dir, &here)),
                )
            }
            None => {
                let replay = run_replay(env, &dir, index)?;
                check_interrupt()?;
                (replay, None)
            }
        };
        // The oracle's view of the crash run, judged against a replay.
        let judge = |replay: &Finished| {
            let writers = workload
                .streams()
                .iter()
                .enumerate()
                .map(|(w, sent)| WriterEvidence {
                    sent,
                    stdout: &run.stdouts[w],
                    stderr: &run.stderrs[w],
                    marks: &run.trace.acks[w],
                    end: &run.trace.ends[w],
                })
                .collect();
            oracle::judge(&Evidence {
                writers,
                durability: sc.target.durability,
                damage: &outcome.damage,
                replay,
            })
        };
        let mut judgement = judge(&replay);
        let mut last_replay = replay.clone();
        if judgement.violation.is_none() && sc.checks.stable {
            let again = match again {
                Some(again) => again,
                None => run_replay(env, &dir, index)?,
            };
            check_interrupt()?;
            judgement.violation = oracle::judge_stable(&replay, &again);
        }
        if judgement.violation.is_none()
            && let Some(crashed) = &crashed
            && let Some((kill, of, after)) = crash_recovery(env, &dir, crashed, rng, index)?
        {
            let mut again = judge(&after);
            if let Some(v) = again.violation.as_mut() {
                v.detail = format!(
                    "after a crash during recovery at its boundary {}/{of}: {}: {}",
                    kill.index, kill.description, v.detail
                );
            }
            judgement = again;
            outcome.recovery_kill = Some((kill, of));
            last_replay = after;
        }
        if judgement.violation.is_none() && sc.checks.resume {
            let new = Workload::generate(rng, 1, sc.records, sc.payload);
            let new = &new.streams()[0];
            let mut cmd = target_command(env, &dir, Role::Write, 0, index);
            let writer = process::run_reading(&mut cmd, new.input(), sc.timeout, sc.limits)
                .map_err(|source| TrialError::Io {
                    what: "start the resumed writer in",
                    path: dir.clone(),
                    source,
                })?;
            let after = run_replay(env, &dir, index)?;
            check_interrupt()?;
            judgement.violation = oracle::judge_resume(&last_replay, new, &writer, &after);
        }
        outcome.judgement = judgement;
        if let (Some(keep), Some(crashed), Some(damaged)) =
            (&env.keep, &crashed_state, &damaged_state)
            && outcome.judgement.violation.is_some()
        {
            let name = format!(
                "{}-{}-t{index}{}",
                sc.name,
                sc.seed,
                if over.is_empty() {
                    String::new()
                } else {
                    format!("-{}", dir.file_name().unwrap_or_default().to_string_lossy())
                }
            );
            let place = keep.join(name);
            restore(crashed, &place.join("crashed"))?;
            restore(damaged, &place.join("damaged"))?;
            outcome.kept = Some(place);
        }
        // Name the trial folder the same way in every run, so findings compare equal.
        let redact = |text: String| text.replace(&dir.display().to_string(), "$CRASHTEST_DIR");
        if let Some(v) = outcome.judgement.violation.as_mut() {
            v.detail = redact(std::mem::take(&mut v.detail));
        }
        self.detail.boundaries = run.trace.boundaries;
        self.detail.writer_stdout = run.stdouts;
        self.detail.writer_stderr = run.stderrs.iter().map(|c| redact(c.tail(4000))).collect();
        self.detail.replay_stdout = replay.stdout;
        self.detail.replay_stderr = redact(replay.stderr.tail(4000));
        Ok(())
    }
}

/// `replay` as if it had run in folder `to` rather than `from`: the folder's path in its
/// output swapped.
fn moved(replay: &Finished, from: &str, to: &str) -> Finished {
    let swap = |c: &Captured| {
        Captured::new(
            replace(&c.bytes(), from.as_bytes(), to.as_bytes()),
            c.overflowed,
        )
    };
    Finished {
        status: replay.status,
        stdout: swap(&replay.stdout),
        stderr: swap(&replay.stderr),
    }
}

/// `bytes` with every `from` replaced by `to`.
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() || from == to {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Where the crash run is killed: boundary k of the dry run's N (k = N: the clean exit),
/// and for a torn write how many bytes of that write to let through.
fn kill_point(
    rng: &mut impl rand_core::Rng,
    fault: FaultKind,
    dry: &Trace,
    sector: u64,
) -> (u64, Option<u64>) {
    let n = dry.boundaries.len() as u64;
    // A dry run that hung or failed by itself is judged as it is: no kill can help.
    if !dry.ends.iter().all(|e| *e == WriterEnd::Exited { code: 0 }) {
        return (n, None);
    }
    if fault == FaultKind::Torn {
        // Two passes over the boundaries rather than a list of every write.
        let writes = || {
            dry.boundaries
                .iter()
                .filter_map(|b| b.write.filter(|w| w.len > 0).map(|w| (b.index, w)))
        };
        let count = writes().count() as u64;
        if count > 0 {
            let (k, w) = writes()
                .nth(below(rng, count) as usize)
                .expect("drawn below the count");
            return (k, Some(faults::tear_point(rng, w.offset, w.len, sector)));
        }
    }
    (below(rng, n + 1), None)
}

/// The kill of a crash run.
#[derive(Clone, Copy, Debug)]
struct KillPlan {
    at: u64,
    tear: Option<u64>,
}

fn snapshot(dir: &Path) -> Result<Snapshot, TrialError> {
    Snapshot::read(dir).map_err(|source| TrialError::Io {
        what: "snapshot the trial folder",
        path: dir.to_owned(),
        source,
    })
}

fn restore(state: &Snapshot, dir: &Path) -> Result<(), TrialError> {
    state.write_into(dir).map_err(|source| TrialError::Io {
        what: "restore the trial folder",
        path: dir.to_owned(),
        source,
    })
}

/// Crash during recovery: from the folder as the crash left it (`crashed`), a traced dry
/// run of the replay counts its own boundaries M; from the same state again, the replay is
/// killed at one of them; then a last replay runs untraced. Returns the boundary, M and
/// that last replay; `None` when the replay changes no file (nothing to crash in).
fn crash_recovery(
    env: &TrialEnv,
    dir: &Path,
    crashed: &Snapshot,
    rng: &mut impl rand_core::Rng,
    index: u64,
) -> Result<Option<(Boundary, u64, Finished)>, TrialError> {
    let traced_replay = |kill: Option<KillPlan>| -> Result<Option<WritersRun>, TrialError> {
        restore(crashed, dir)?;
        let mut cmd = target_command(env, dir, Role::Replay, 0, index);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Ok(run_traced(
            env,
            dir,
            vec![cmd],
            vec![Box::new(std::io::empty())],
            kill,
            false,
        )?
        .ok())
    };
    let Some(dry) = traced_replay(None)? else {
        return Ok(None);
    };
    check_interrupt()?;
    let m = dry.trace.boundaries.len() as u64;
    if m == 0 {
        return Ok(None);
    }
    let at = below(rng, m);
    let Some(killed) = traced_replay(Some(KillPlan { at, tear: None }))? else {
        return Ok(None);
    };
    check_interrupt()?;
    let Some(kill) = killed.trace.boundaries.get(at as usize) else {
        return Ok(None);
    };
    let after = run_replay(env, dir, index)?;
    Ok(Some((kill, m, after)))
}

fn check_interrupt() -> Result<(), TrialError> {
    if process::interrupted() {
        Err(TrialError::Interrupted)
    } else {
        Ok(())
    }
}

fn target_error(outcome: &mut TrialOutcome, why: String) {
    outcome.judgement.violation = Some(Violation {
        class: Class::TargetError,
        detail: why,
    });
}

fn fresh_dir(dir: &Path) -> Result<(), TrialError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|source| TrialError::Io {
            what: "clear trial folder",
            path: dir.to_owned(),
            source,
        })?;
    }
    std::fs::create_dir(dir).map_err(|source| TrialError::Io {
        what: "create trial folder",
        path: dir.to_owned(),
        source,
    })
}

/// The writer's or replay's command for trial `index` in folder `dir`, with the
/// protocol's environment (not yet contained or traced).
pub fn target_command(env: &TrialEnv, dir: &Path, role: Role, writer: u32, index: u64) -> Command {
    let sc = &env.scenario;
    let mut cmd = match &sc.target.kind {
        TargetKind::Builtin(wal) => {
            let mut cmd = Command::new(&env.exe);
            cmd.args(["target", wal.name(), role.word()]);
            cmd
        }
        TargetKind::Command { writer, replay } => {
            let argv = match role {
                Role::Write => writer,
                Role::Replay => replay,
            };
            let mut cmd = Command::new(&argv[0]);
            cmd.args(&argv[1..]);
            cmd
        }
    };
    cmd.current_dir(&sc.target.cwd)
        .env("CRASHTEST_DIR", dir)
        .env("CRASHTEST_WRITERS", sc.writers.to_string())
        .env("CRASHTEST_SEED", sc.seed.trial_seed(index).to_string());
    match role {
        Role::Write => cmd.env("CRASHTEST_WRITER", writer.to_string()),
        Role::Replay => cmd.env_remove("CRASHTEST_WRITER"),
    };
    cmd
}

/// Runs every writer traced in `dir`, each fed its stream of `workload` as it reads it.
/// `Ok(Err(why))` is a writer that could not be started: the target's fault, reported as
/// a verdict.
fn run_writers(
    env: &TrialEnv,
    dir: &Path,
    workload: &Workload,
    kill: Option<KillPlan>,
    record_ops: bool,
    index: u64,
) -> Result<Result<WritersRun, String>, TrialError> {
    let inputs = workload
        .streams()
        .iter()
        .map(|s| Box::new(s.input()) as Box<dyn Read + Send + '_>)
        .collect();
    let cmds: Vec<Command> = (0..workload.streams().len() as u32)
        .map(|w| {
            let mut cmd = target_command(env, dir, Role::Write, w, index);
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd
        })
        .collect();
    run_traced(env, dir, cmds, inputs, kill, record_ops)
}

/// Runs `cmds` (piped stdio) traced together, feeding each its input.
fn run_traced(
    env: &TrialEnv,
    dir: &Path,
    mut cmds: Vec<Command>,
    inputs: Vec<Box<dyn Read + Send + '_>>,
    kill: Option<KillPlan>,
    record_ops: bool,
) -> Result<Result<WritersRun, String>, TrialError> {
    let mut traced = match Traced::spawn_limited(&mut cmds, env.scenario.limits) {
        Ok(t) => t,
        Err(e @ TraceError::Spawn { .. }) => return Ok(Err(crate::errors::chain(&e))),
        Err(e) => return Err(e.into()),
    };
    let pgid = traced.pgid();
    let pipes: Vec<_> = traced
        .children_mut()
        .iter_mut()
        .map(|c| {
            (
                c.stdin.take().expect("stdin was piped"),
                c.stdout.take().expect("stdout was piped"),
                c.stderr.take().expect("stderr was piped"),
            )
        })
        .collect();
    let opts = TraceOptions {
        dir,
        files: &env.files,
        kill_at: kill.map(|k| k.at),
        kill_scope: env.scenario.crash,
        tear: kill.and_then(|k| k.tear),
        record_ops,
        timeout: env.scenario.timeout,
    };
    std::thread::scope(|scope| {
        let mut readers = Vec::new();
        for ((stdin, stdout, stderr), input) in pipes.into_iter().zip(inputs) {
            feed_on(scope, stdin, input);
            readers.push((
                read_on(scope, stdout, Some(pgid)),
                read_on(scope, stderr, Some(pgid)),
            ));
        }
        let trace = traced.run(&opts)?;
        let io = |source| TrialError::Io {
            what: "read the writer's output",
            path: dir.to_owned(),
            source,
        };
        let (mut stdouts, mut stderrs) = (Vec::new(), Vec::new());
        for (out, err) in readers {
            stdouts.push(out.join().expect("reader thread panicked").map_err(io)?);
            stderrs.push(err.join().expect("reader thread panicked").map_err(io)?);
        }
        Ok(Ok(WritersRun {
            trace,
            stdouts,
            stderrs,
        }))
    })
}

fn run_replay(env: &TrialEnv, dir: &Path, index: u64) -> Result<Finished, TrialError> {
    let mut cmd = target_command(env, dir, Role::Replay, 0, index);
    match process::run(&mut cmd, b"", env.scenario.timeout, env.scenario.limits) {
        Ok(done) => Ok(done),
        // A replay that cannot start is reported like one that failed.
        Err(e) => Ok(Finished {
            status: Some(std::os::unix::process::ExitStatusExt::from_raw(127 << 8)),
            stdout: Captured::default(),
            stderr: Captured::new(
                format!("failed to start replay {:?}: {e}", cmd.get_program()).into_bytes(),
                false,
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replayed(dir: &str, stderr: &str) -> Arc<Replayed> {
        Arc::new(Replayed {
            dir: dir.to_owned(),
            first: Finished {
                status: None,
                stdout: Captured::default(),
                stderr: Captured::new(stderr.as_bytes().to_vec(), false),
            },
            again: None,
        })
    }

    #[test]
    fn equal_states_share_a_key_and_only_the_last_replays_are_kept() {
        let replays = Replays::default();
        let mut a = Snapshot::default();
        a.files.insert("wal.log".into(), b"abc".to_vec());
        let b = a.clone();
        let mut c = a.clone();
        c.files.insert("wal.log".into(), b"abd".to_vec());
        assert_eq!(replays.key(&a), replays.key(&b));
        assert_ne!(replays.key(&a), replays.key(&c));
        for i in 0..Replays::KEEP as u64 + 10 {
            replays.insert((i, i), replayed("/d", ""));
        }
        assert!(replays.get((0, 0)).is_none(), "the oldest is dropped");
        assert!(
            replays
                .get((Replays::KEEP as u64 + 9, Replays::KEEP as u64 + 9))
                .is_some()
        );
        assert_eq!(replays.seen.lock().unwrap().by_key.len(), Replays::KEEP);
    }

    #[test]
    fn a_reused_replay_names_the_reusing_folder() {
        let r = replayed(
            "/run/t0-case1",
            "error in /run/t0-case1/wal.log at /run/t0-case1",
        );
        let here = moved(&r.first, &r.dir, "/run/t0-case7");
        assert_eq!(
            here.stderr.bytes(),
            b"error in /run/t0-case7/wal.log at /run/t0-case7"
        );
        assert_eq!(replace(b"aXbXc", b"X", b"YY"), b"aYYbYYc");
        assert_eq!(replace(b"abc", b"", b"Z"), b"abc");
    }
}
