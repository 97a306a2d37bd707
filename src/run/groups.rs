//! Sampled trials cut from recorded runs.
//!
//! A group of consecutive trials shares one run of its first trial's workload, traced to
//! its end with its write log ([`Recording`]), instead of a dry run and a kill run for
//! each trial. Each trial of the group draws its fault class and its kill point from its
//! own decision stream, as a trial of its own does, but against the recording's
//! boundaries; its crash state is cut from the recording and only the replay and the
//! checks run ([`trial::run_state`]). It is reported as trial t, and its case is the
//! group's first trial with that plan and fault (`@SEED/FIRST/kK/fFAULT`), so `crashtest
//! repro` of it runs that workload for real and kills the writer there.
//!
//! The first state of each of the first [`STATES_CHECKED`] groups is also checked against
//! a real kill at the same point (one writer only, as exhaustive runs do). When the log
//! cannot tell the state (a call the write log does not model, or a real kill that left
//! another folder than the cut state), trials kill their writers for real from there on,
//! and the run says so once.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::errors::TrialError;
use crate::faults::FaultKind;
use crate::run::STATES_CHECKED;
use crate::run::jobs::{Job, StateFrom};
use crate::tracer::WriterEnd;
use crate::trial::plan::kill_point;
use crate::trial::{self, Overrides, Plan, Recording, TrialDetail, TrialEnv, TrialOutcome};

/// What the groups of a run share: whether states are still cut, and how many were
/// checked against real kills.
#[derive(Default)]
pub(super) struct Cuts {
    /// Why trials kill their writers for real, once they do, and whether that was said.
    off: Mutex<Option<(String, bool)>>,
    /// Groups whose first state was checked against a real kill.
    checked: AtomicUsize,
}

impl Cuts {
    /// Whether trials kill their writers for real from now on.
    fn is_off(&self) -> bool {
        self.off.lock().expect("no panics hold it").is_some()
    }

    /// Trials kill their writers for real from now on, for `why` (the first reason is
    /// kept).
    fn stop(&self, why: String) {
        self.off
            .lock()
            .expect("no panics hold it")
            .get_or_insert((why, false));
    }

    /// Why states are no longer cut, the first time it is asked after they stopped.
    pub(super) fn note(&self) -> Option<String> {
        match &mut *self.off.lock().expect("no panics hold it") {
            Some((why, said @ false)) => {
                *said = true;
                Some(why.clone())
            }
            _ => None,
        }
    }
}

/// A trial's result, with the job it ran as.
pub(super) type Ran = (Job, Result<(TrialOutcome, TrialDetail), TrialError>);

/// Runs trials `first..first + count`, the first at place `pos`, from one recording of
/// trial `first`'s workload, handing each to `send` with its place as it ends. Stops
/// before a trial when `go_on` says so, or when `send` returns false.
pub(super) fn run(
    env: &TrialEnv,
    cuts: &Cuts,
    (pos, first, count): (usize, u64, u64),
    go_on: &dyn Fn() -> bool,
    send: &mut dyn FnMut(usize, Ran) -> bool,
) {
    let sc = &env.scenario;
    let place = |t: u64| pos + (t - first) as usize;
    // Trial t on its own, killing its own writer; false when `send` says to stop.
    let alone = |t: u64, send: &mut dyn FnMut(usize, Ran) -> bool| {
        let result = guarded(t, || trial::run(env, t));
        send(
            place(t),
            (job(env, t, Overrides::default(), StateFrom::Kill), result),
        )
    };
    // Each trial on its own, from trial `from` on.
    let own = |from: u64, send: &mut dyn FnMut(usize, Ran) -> bool| {
        for t in from..first + count {
            if !go_on() || !alone(t, send) {
                return;
            }
        }
    };
    if cuts.is_off() || !go_on() {
        return own(first, send);
    }
    let rec = match guarded(first, || Recording::make(env, first)) {
        Ok(Ok(rec)) => rec,
        // The writer could not be started: each trial says so, as it would on its own.
        Ok(Err(_)) => return own(first, send),
        Err(e) => {
            let job = job(env, first, Overrides::default(), StateFrom::Kill);
            send(pos, (job, Err(e)));
            return;
        }
    };
    if let Some(why) = rec.unfit(env) {
        cuts.stop(format!(
            "trials kill their writers for real from trial {first} on, rather than cut crash states from recorded runs: {why}"
        ));
        return own(first, send);
    }
    // A writer that hung, failed or died by itself is judged as it ended, with no kill:
    // each trial of the group runs its own, as it would alone. (Its end may also be one
    // the log does not model: a write cut short by a file-size limit.)
    if !rec
        .run
        .trace
        .ends
        .iter()
        .all(|e| *e == WriterEnd::Exited { code: 0 })
    {
        return own(first, send);
    }
    let mut drawn = HashSet::new();
    for t in first..first + count {
        if !go_on() {
            return;
        }
        // A state drawn twice would be one case checked twice: such a trial runs its own.
        let Some(over) = draw(env, &rec, t, &mut drawn) else {
            if !alone(t, send) {
                return;
            }
            continue;
        };
        let checked = t == first
            && sc.writers == 1
            && cuts.checked.fetch_add(1, Ordering::SeqCst) < STATES_CHECKED;
        let (state, result) = if cuts.is_off() {
            (
                StateFrom::Kill,
                guarded(first, || trial::run_case(env, first, over)),
            )
        } else {
            match guarded(first, || trial::run_state(env, &rec, over, checked)) {
                Err(TrialError::StateMismatch {
                    trial,
                    state,
                    differences,
                }) => {
                    cuts.stop(format!(
                        "trials kill their writers for real from here on: the state cut from the write log of trial {trial} for {state} differs from the folder a real kill there leaves ({differences}); the writer changes its files in a way the tracer does not see, such as mmap"
                    ));
                    (
                        StateFrom::Kill,
                        guarded(first, || trial::run_case(env, first, over)),
                    )
                }
                result if checked => (StateFrom::LogChecked, result),
                result => (StateFrom::Log, result),
            }
        };
        // The outcome is trial t's: its place in the run, which every output orders
        // trials by; its case names the recording it was cut from.
        let result = result.map(|(mut outcome, detail)| {
            outcome.trial = t;
            (outcome, detail)
        });
        if !send(place(t), (job(env, first, over, state), result)) {
            return;
        }
    }
}

/// Times a trial draws again when it drew a state of its group already drawn.
const REDRAWS: usize = 16;

/// Trial `t`'s crash state in the recording: its fault class and kill point, drawn from
/// its decision stream in the order a trial of its own draws them, against the recorded
/// boundaries; drawn again while it is one of `drawn` (the group's so far), up to
/// [`REDRAWS`] times. `None` when every draw was taken.
fn draw(
    env: &TrialEnv,
    rec: &Recording,
    t: u64,
    drawn: &mut HashSet<Overrides>,
) -> Option<Overrides> {
    let sc = &env.scenario;
    let mut rng = sc.seed.trial_rng(t);
    (0..=REDRAWS).find_map(|_| {
        let fault = FaultKind::choose(&mut rng, &sc.faults);
        let (kill_at, tear) = kill_point(&mut rng, fault, &rec.run.trace, sc.sector);
        let over = Overrides {
            plan: Some(Plan { kill_at, tear }),
            fault: Some(fault),
            ..Overrides::default()
        };
        drawn.insert(over).then_some(over)
    })
}

/// The job of trial `index` as `over` changes it.
fn job(env: &TrialEnv, index: u64, over: Overrides, state: StateFrom) -> Job {
    Job {
        seed: env.scenario.seed,
        index,
        over,
        regression: false,
        state,
    }
}

/// `f`, with a panic in it a harness error of trial `trial` (the writer's group guard has
/// already killed the writer).
pub(super) fn guarded<T>(
    trial: u64,
    f: impl FnOnce() -> Result<T, TrialError>,
) -> Result<T, TrialError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or(Err(TrialError::Panicked { trial }))
}
