//! One trial, end to end: workload, dry run, kill, fault, replay, verdict.
//!
//! The two passes follow redb's crash test: the dry run counts the writer's boundaries
//! (N); the trial then draws k from `0..=N` and runs the writer again, killing it at
//! boundary k, or letting it exit when k = N. When k = N the dry run is the trial and is
//! not repeated. Every draw comes from the trial's ChaCha8 stream in a fixed order
//! (workload, fault class, k, fault details), so `(scenario, seed, trial)` reproduces it.
//!
//! The parts, in the order a trial uses them: [`env`](mod@env) (what trials share, the records),
//! [`plan`] (what a case changes, where the kill lands), [`spawn`] (the target's
//! processes, traced), [`folder`], [`steps`] (the fault, the replay and the checks, in
//! named steps), [`machine`] (whether a failure is the machine's, not the target's),
//! [`outcome`]; and for exhaustive runs, [`recording`] and [`states`] (crash states cut
//! from one recorded run).

pub mod env;
pub mod folder;
pub mod machine;
pub mod outcome;
pub mod plan;
pub mod recording;
pub mod spawn;
pub mod states;
pub mod steps;

pub use env::TrialEnv;
pub use outcome::{Ended, TrialDetail, TrialOutcome};
pub use plan::{Overrides, Plan};
pub use recording::Recording;
pub use spawn::target_command;

use crate::errors::TrialError;
use crate::faults::FaultKind;
use crate::snapshot::Snapshot;
use env::check_interrupt;
use folder::{fresh_dir, restore, snapshot};
use outcome::target_error;
use plan::{KillPlan, kill_point, plan_words};
use spawn::run_writers;
use steps::Trial;

/// Runs trial `index` of the run.
pub fn run(env: &TrialEnv, index: u64) -> Result<(TrialOutcome, TrialDetail), TrialError> {
    run_case(env, index, Overrides::default())
}

/// Runs trial `index` as `over` changes it.
pub fn run_case(
    env: &TrialEnv,
    index: u64,
    over: Overrides,
) -> Result<(TrialOutcome, TrialDetail), TrialError> {
    let mut case = Trial::new(env, index, over)?;
    let result = (|| -> Result<(), TrialError> {
        let (env, dir, fault) = (case.env, case.dir.clone(), case.fault);
        let record_ops = fault == FaultKind::PowerLoss;
        fresh_dir(&dir)?;
        let dry = match run_writers(env, &dir, &case.workload, None, record_ops, index)? {
            Ok(run) => run,
            Err(why) => {
                not_started(&mut case.outcome, &why);
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
                    not_started(&mut case.outcome, &why);
                    return Ok(());
                }
            }
        };
        check_interrupt()?;
        case.judge(run, k)
    })();
    case.end(result)
}

/// Marks `outcome` a target error: its writers could not be started, for `why`.
fn not_started(outcome: &mut TrialOutcome, why: &crate::errors::TraceError) {
    outcome.ended = Some(outcome::Ended::NotStarted);
    target_error(outcome, crate::errors::chain(why));
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
    // The recording's records are the case's: a cut case changes no record.
    let mut case = if over.records.is_none() && over.max_payload.is_none() {
        Trial::with(env, index, over, rec.workload.clone())
    } else {
        Trial::new(env, index, over)?
    };
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
pub(crate) fn verify_state(
    env: &TrialEnv,
    case: &Trial<'_>,
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
