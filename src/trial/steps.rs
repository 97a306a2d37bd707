//! One case of a trial on its way, from its draws to its verdict: what was drawn, its
//! folder, and, once the crash left the folder, the fault, the replay and the checks, each
//! a named step.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::errors::TrialError;
use crate::faults::{self, Damage, FaultKind};
use crate::oracle::{self, Evidence, Judgement, WriterEvidence};
use crate::process::{self, Finished};
use crate::protocol::Role;
use crate::seed::below;
use crate::snapshot::Snapshot;
use crate::tracer::{Boundary, WriterEnd};
use crate::trial::env::{TrialEnv, check_interrupt, workload};
use crate::trial::folder::{restore, snapshot};
use crate::trial::machine;
use crate::trial::outcome::{Ended, TrialDetail, TrialOutcome, target_error};
use crate::trial::plan::{KillPlan, Overrides};
use crate::trial::recording::{Replayed, Replays, moved};
use crate::trial::spawn::{WritersRun, run_replay, run_traced, target_command};
use crate::workload::Workload;

/// One case of a trial on its way: what was drawn, its folder, and what it found so far.
pub(crate) struct Trial<'a> {
    pub(crate) env: &'a TrialEnv,
    pub(crate) index: u64,
    pub(crate) rng: rand_chacha::ChaCha8Rng,
    pub(crate) workload: Workload,
    pub(crate) fault: FaultKind,
    pub(crate) dir: PathBuf,
    pub(crate) outcome: TrialOutcome,
    pub(crate) detail: TrialDetail,
    /// Replays to reuse for states equal to ones replayed before (exhaustive runs), and
    /// the state the case's folder was written from.
    pub(crate) replays: Option<(&'a Replays, Snapshot)>,
}

impl<'a> Trial<'a> {
    /// Draws the case's records and fault class (in that order, from the trial's stream)
    /// and names its folder. `Err(Interrupted)` on a Ctrl-C while the records are drawn.
    pub(crate) fn new(
        env: &'a TrialEnv,
        index: u64,
        over: Overrides,
    ) -> Result<Trial<'a>, TrialError> {
        let workload = workload(env, index, &over)?;
        Ok(Trial::with(env, index, over, workload))
    }

    /// [`Trial::new`] with its records already drawn (a recording's, for a state cut from
    /// it): the same draws follow.
    pub(crate) fn with(
        env: &'a TrialEnv,
        index: u64,
        over: Overrides,
        workload: Workload,
    ) -> Trial<'a> {
        let sc = &env.scenario;
        let mut rng = sc.seed.trial_rng(index);
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
            ended: None,
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
        Trial {
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
    pub(crate) fn end(
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
    /// is its last) left it: the fault, the replay, the verdict and the checks, each a
    /// step below, in this order.
    pub(crate) fn judge(&mut self, run: WritersRun, k: u64) -> Result<(), TrialError> {
        self.note_kill(&run, k);
        if self.refuse_escaping_links() {
            return Ok(());
        }
        let states = self.apply_fault(&run)?;
        // The recovery-crash check needs the replay's own boundaries: the first replay,
        // traced, counts them.
        let count = states
            .damaged
            .as_ref()
            .filter(|_| self.env.scenario.checks.recovery_crash);
        let (replay, again, counted) = self.replay(count)?;
        let mut judgement = self.judge_replay(&run, &replay);
        if judgement.violation.is_none() && self.env.scenario.checks.stable {
            judgement.violation = self.check_stable(&replay, again)?;
        }
        let mut last_replay = replay.clone();
        if judgement.violation.is_none()
            && self.env.scenario.checks.recovery_crash
            && let Some(damaged) = &states.damaged
            && let Some((after, again)) = self.check_recovery_crash(&run, damaged, counted)?
        {
            judgement = again;
            last_replay = after;
        }
        if judgement.violation.is_none() && self.env.scenario.checks.resume {
            judgement.violation = self.check_resume(&last_replay)?;
        }
        self.outcome.judgement = judgement;
        if self.outcome.judgement.violation.is_some() {
            self.keep_folders(&states)?;
        }
        self.fill_detail(run, replay);
        Ok(())
    }

    /// The kill point and what the trace says of the crash run.
    fn note_kill(&mut self, run: &WritersRun, k: u64) {
        let outcome = &mut self.outcome;
        outcome.tracees = run.trace.tracees as u64;
        outcome.kill = run
            .trace
            .boundaries
            .get(k as usize)
            .filter(|_| k < outcome.boundaries);
        outcome.ended = Ended::of(&run.trace.ends);
        outcome.tear = run.trace.torn;
    }

    /// A target that plants a symlink out of its folder is stopped here: no fault touches
    /// the trial folder, and the replay does not run. True when it did.
    fn refuse_escaping_links(&mut self) -> bool {
        let Some((name, target)) = faults::escaping_links(&self.dir).into_iter().next() else {
            return false;
        };
        target_error(
            &mut self.outcome,
            format!(
                "the writer planted a symlink out of its folder: {name} -> {}; crashtest follows no symlink",
                target.display()
            ),
        );
        true
    }

    /// Damages the folder by the case's fault, keeping the states the later steps need.
    fn apply_fault(&mut self, run: &WritersRun) -> Result<FolderStates, TrialError> {
        let (env, dir) = (self.env, &self.dir);
        let sc = &env.scenario;
        let keep = env.keep.is_some();
        let ctx = faults::Context {
            files: &env.files,
            sector: sc.sector,
            ops: &run.trace.ops,
            initial: &Snapshot::default(),
            persistence: sc.faults.persistence,
            unsure: &run.trace.unsure,
        };
        let crashed = if keep { Some(snapshot(dir)?) } else { None };
        self.outcome.damage = faults::apply(self.fault, &mut self.rng, dir, &ctx)?;
        let damaged = if keep || sc.checks.recovery_crash {
            Some(snapshot(dir)?)
        } else {
            None
        };
        Ok(FolderStates { crashed, damaged })
    }

    /// The replay of the damaged folder and, with the stable check, the replay after it
    /// when it came with a reused state. A state replayed before (and not to be resumed,
    /// which needs the folder its replays leave) reuses those replays. With `count` (the
    /// damaged folder), a replay run here runs traced, and its boundaries are counted (the
    /// third value).
    fn replay(
        &self,
        count: Option<&Snapshot>,
    ) -> Result<(Finished, Option<Finished>, Option<u64>), TrialError> {
        let (env, dir, index) = (self.env, &self.dir, self.index);
        let sc = &env.scenario;
        let reuse = match &self.replays {
            Some((replays, state)) if !sc.checks.resume => {
                // A kill or a torn write left the folder as it was written; other faults
                // changed it.
                let key = if matches!(self.fault, FaultKind::Kill | FaultKind::Torn) {
                    replays.key(state)
                } else {
                    replays.key(&snapshot(dir)?)
                };
                Some((*replays, key))
            }
            _ => None,
        };
        let Some((replays, key)) = reuse else {
            let counted = match count {
                Some(damaged) => counted_replay(env, dir, damaged, index)?,
                None => None,
            };
            let (replay, m) = match counted {
                Some((replay, m)) => (replay, Some(m)),
                None => (run_replay(env, dir, index)?, None),
            };
            check_interrupt()?;
            return Ok((replay, None, m));
        };
        let replayed = match replays.get(key) {
            Some(replayed) => replayed,
            None => {
                let first = run_replay(env, dir, index)?;
                check_interrupt()?;
                let again = if sc.checks.stable {
                    Some(run_replay(env, dir, index)?)
                } else {
                    None
                };
                check_interrupt()?;
                let replayed = Arc::new(Replayed {
                    dir: dir.display().to_string(),
                    first,
                    again,
                });
                replays.insert(key, replayed.clone());
                replayed
            }
        };
        let here = dir.display().to_string();
        Ok((
            moved(&replayed.first, &replayed.dir, &here),
            replayed
                .again
                .as_ref()
                .map(|f| moved(f, &replayed.dir, &here)),
            None,
        ))
    }

    /// The oracle's verdict on the crash run, against `replay`.
    fn judge_replay(&self, run: &WritersRun, replay: &Finished) -> Judgement {
        let writers = self
            .workload
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
            durability: self.env.scenario.target.durability,
            damage: &self.outcome.damage,
            replay,
            limits: self.env.scenario.limits,
        })
    }

    /// Recovery is stable: a second replay (`again`, or one run now) returns the same.
    fn check_stable(
        &self,
        replay: &Finished,
        again: Option<Finished>,
    ) -> Result<Option<oracle::Violation>, TrialError> {
        let again = match again {
            Some(again) => again,
            None => run_replay(self.env, &self.dir, self.index)?,
        };
        check_interrupt()?;
        Ok(oracle::judge_stable(replay, &again))
    }

    /// A crash during recovery ([`crash_recovery`]) from the `damaged` folder, judged: the
    /// last replay and its verdict, whose detail names the replay's boundary it was killed
    /// at. `None` when the replay changes no file. `counted`: the replay's boundaries, when
    /// the first replay counted them.
    fn check_recovery_crash(
        &mut self,
        run: &WritersRun,
        damaged: &Snapshot,
        counted: Option<u64>,
    ) -> Result<Option<(Finished, Judgement)>, TrialError> {
        let Some((kill, of, after)) = crash_recovery(
            self.env,
            &self.dir,
            damaged,
            &mut self.rng,
            self.index,
            counted,
        )?
        else {
            return Ok(None);
        };
        let mut again = self.judge_replay(run, &after);
        if let Some(v) = again.violation.as_mut() {
            v.detail = format!(
                "after a crash during recovery at its boundary {}/{of}: {}: {}",
                kill.index, kill.description, v.detail
            );
        }
        self.outcome.recovery_kill = Some((kill, of));
        Ok(Some((after, again)))
    }

    /// Resume: a writer started on the recovered folder appends new records, and the next
    /// replay returns `last_replay`'s records followed by every new acked one.
    fn check_resume(
        &mut self,
        last_replay: &Finished,
    ) -> Result<Option<oracle::Violation>, TrialError> {
        let (env, dir, index) = (self.env, &self.dir, self.index);
        let sc = &env.scenario;
        let new = Workload::generate(&mut self.rng, 1, sc.records, sc.payload)?;
        let new = &new.streams()[0];
        let mut cmd = target_command(env, dir, Role::Write, 0, index);
        let writer = process::run_reading(&mut cmd, new.input(), sc.timeout, sc.limits).map_err(
            |source| TrialError::Io {
                what: "start the resumed writer in",
                path: dir.clone(),
                source,
            },
        )?;
        if writer.status.is_some_and(|s| !s.success()) {
            machine::blame_machine(env, dir)?;
        }
        let after = run_replay(env, dir, index)?;
        check_interrupt()?;
        Ok(oracle::judge_resume(
            last_replay,
            new,
            &writer,
            &after,
            &sc.limits,
        ))
    }

    /// `--keep-failures`: the folder as the crash left it and after the fault, under the
    /// keep folder.
    fn keep_folders(&mut self, states: &FolderStates) -> Result<(), TrialError> {
        let (env, dir, index) = (self.env, &self.dir, self.index);
        let (Some(keep), Some(crashed), Some(damaged)) =
            (&env.keep, &states.crashed, &states.damaged)
        else {
            return Ok(());
        };
        let sc = &env.scenario;
        let name = format!(
            "{}-{}-t{index}{}",
            sc.name,
            sc.seed,
            if self.outcome.overrides.is_empty() {
                String::new()
            } else {
                format!("-{}", dir.file_name().unwrap_or_default().to_string_lossy())
            }
        );
        let place = keep.join(name);
        restore(crashed, &place.join("crashed"))?;
        restore(damaged, &place.join("damaged"))?;
        self.outcome.kept = Some(place);
        Ok(())
    }

    /// What a reproduction prints, with the trial folder named the same way in every run
    /// (`$CRASHTEST_DIR`), so findings compare equal.
    fn fill_detail(&mut self, run: WritersRun, replay: Finished) {
        let here = self.dir.display().to_string();
        let redact = |text: String| text.replace(&here, "$CRASHTEST_DIR");
        if let Some(v) = self.outcome.judgement.violation.as_mut() {
            v.detail = redact(std::mem::take(&mut v.detail));
        }
        self.detail.boundaries = run.trace.boundaries;
        self.detail.writer_stdout = run.stdouts;
        self.detail.writer_stderr = run.stderrs.iter().map(|c| redact(c.tail(4000))).collect();
        self.detail.replay_stdout = replay.stdout;
        self.detail.replay_stderr = redact(replay.stderr.tail(4000));
    }
}

/// The folder's states a case keeps: as the crash left it (for `--keep-failures`) and
/// after the fault (for `--keep-failures`, and the recovery-crash check, which crashes the
/// replay from there).
struct FolderStates {
    crashed: Option<Snapshot>,
    damaged: Option<Snapshot>,
}

/// Crash during recovery: from the folder as the crash left it (`crashed`), a traced dry
/// run of the replay counts its own boundaries M (or `counted` gives them: the first
/// replay, traced, counted them from the same state); from the same state again, the
/// replay is killed at one of them; then a last replay runs untraced. Returns the
/// boundary, M and that last replay; `None` when the replay changes no file (nothing to
/// crash in).
pub(crate) fn crash_recovery(
    env: &TrialEnv,
    dir: &Path,
    crashed: &Snapshot,
    rng: &mut impl rand_core::Rng,
    index: u64,
    counted: Option<u64>,
) -> Result<Option<(Boundary, u64, Finished)>, TrialError> {
    let traced_replay = |kill: Option<KillPlan>| -> Result<Option<WritersRun>, TrialError> {
        restore(crashed, dir)?;
        run_replay_traced(env, dir, index, kill)
    };
    let m = match counted {
        Some(m) => m,
        None => {
            let Some(dry) = traced_replay(None)? else {
                return Ok(None);
            };
            check_interrupt()?;
            dry.trace.boundaries.len() as u64
        }
    };
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

/// The replay of `dir` (holding `damaged`) run traced, as [`run_replay`] would have run
/// it, and the number of its own boundaries; `None`, with `dir` as it was, when it cannot
/// start traced or ended in a way a replay's status cannot say ([`run_replay`] then runs).
fn counted_replay(
    env: &TrialEnv,
    dir: &Path,
    damaged: &Snapshot,
    index: u64,
) -> Result<Option<(Finished, u64)>, TrialError> {
    use std::os::unix::process::ExitStatusExt;
    let Some(mut run) = run_replay_traced(env, dir, index, None)? else {
        return Ok(None);
    };
    let status = match run.trace.ends.first() {
        Some(WriterEnd::Exited { code }) => Some(std::process::ExitStatus::from_raw(code << 8)),
        Some(WriterEnd::Signaled { signal }) => match signal.parse::<nix::sys::signal::Signal>() {
            Ok(signal) => Some(std::process::ExitStatus::from_raw(signal as i32)),
            Err(_) => {
                restore(damaged, dir)?;
                return Ok(None);
            }
        },
        Some(WriterEnd::TimedOut { .. }) => None,
        // Not killed by a plan: it ended one of the ways above.
        _ => {
            restore(damaged, dir)?;
            return Ok(None);
        }
    };
    let m = run.trace.boundaries.len() as u64;
    let replay = Finished {
        status,
        stdout: run.stdouts.swap_remove(0),
        stderr: run.stderrs.swap_remove(0),
    };
    Ok(Some((replay, m)))
}

/// The replay of `dir` run traced (killed at `kill`, if any); `None` when it cannot start
/// traced.
fn run_replay_traced(
    env: &TrialEnv,
    dir: &Path,
    index: u64,
    kill: Option<KillPlan>,
) -> Result<Option<WritersRun>, TrialError> {
    let cmd = target_command(env, dir, Role::Replay, 0, index);
    Ok(run_traced(
        env,
        dir,
        vec![cmd],
        vec![Box::new(std::io::empty())],
        kill,
        false,
    )?
    .ok())
}
