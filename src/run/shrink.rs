//! Shrinking: from a failing trial, a smaller case that fails the same way.
//!
//! The case keeps its trial's seed, its fault class and its decisions (they come from
//! a stream of their own, apart from the records, see [`crate::seed`]), and shrinks, in
//! this fixed order, each step keeping the first candidate that still fails the same way:
//! the same distinct failure ([`Signature`]: the class, the fault, the kind of call the
//! writer was killed at), so the shrunk case stands for the failure it was shrunk from:
//! 1. the kill: the earliest boundary, from 0 up to the original one;
//! 2. the records: the fewest, from 1 up;
//! 3. the payloads: the shortest cap, from 0 bytes up by doubling;
//! 4. a torn write: the fewest bytes let through, by sector steps.
//!
//! Every step is a bounded, deterministic sequence of trial runs, so the same failure
//! always shrinks to the same case. Two limits stop it early, and it then says which
//! ([`ShrinkStop`]): [`MAX_RUNS`], which keeps it deterministic, and a deadline, which
//! bounds its time where each run is slow (a hang costs the scenario's `timeout` a run).
//! A run under way at the deadline finishes; none starts after it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::errors::TrialError;
use crate::oracle::Class;
use crate::report::lines::{ShrinkStop, Signature};
use crate::trial::{self, Overrides, Plan, TrialEnv, TrialOutcome};

/// Most trial runs one shrink may make.
pub const MAX_RUNS: usize = 120;

/// What one shrink did.
#[derive(Debug)]
pub struct Shrunk {
    /// The smaller case and its outcome, if one failed the same way.
    pub found: Option<(Overrides, TrialOutcome)>,
    /// The trial runs it made.
    pub runs: usize,
    /// Why it stopped before it had tried every smaller case, if it did.
    pub stopped: Option<ShrinkStop>,
}

/// The limits of the shrinks of one run, shared by all of them.
#[derive(Debug)]
pub struct Limits {
    /// No candidate starts at or after this instant.
    pub deadline: Instant,
    /// Trial runs made by every shrink so far, for the progress line.
    pub runs: AtomicUsize,
}

/// A smaller case of trial `index` that fails as `original` did (its [`Signature`]), if
/// one is found before `limits.deadline`.
pub fn shrink(
    env: &TrialEnv,
    index: u64,
    original: &TrialOutcome,
    limits: &Limits,
) -> Result<Shrunk, TrialError> {
    let nothing = Shrunk {
        found: None,
        runs: 0,
        stopped: None,
    };
    let Some(signature) = Signature::of(original) else {
        return Ok(nothing);
    };
    if signature.class == Class::TargetError {
        return Ok(nothing);
    }
    // Candidates are not findings: their folders are not kept.
    let env = &TrialEnv {
        keep: None,
        ..env.clone()
    };
    let sc = &env.scenario;
    let kill = original
        .kill
        .as_ref()
        .map_or(original.boundaries, |b| b.index);
    let start = Overrides {
        records: original.overrides.records,
        max_payload: original.overrides.max_payload,
        plan: Some(Plan {
            kill_at: kill,
            tear: original.tear,
        }),
        fault: Some(original.fault),
    };
    let mut shrinker = Shrinker {
        env,
        index,
        signature,
        limits,
        runs: 0,
        stopped: None,
        best: start,
        outcome: None,
    };
    // 1. The earliest kill.
    for k in 0..kill {
        if shrinker.try_with(Overrides {
            plan: Some(Plan {
                kill_at: k,
                tear: None,
            }),
            ..shrinker.best
        })? {
            break;
        }
    }
    // 2. The fewest records.
    let records = shrinker.best.records.unwrap_or(sc.records);
    for r in 1..records {
        if shrinker.try_with(Overrides {
            records: Some(r),
            ..shrinker.best
        })? {
            break;
        }
    }
    // 3. The shortest payloads.
    let mut cap = 0u32;
    while cap < shrinker.best.max_payload.unwrap_or(sc.payload.max) {
        if shrinker.try_with(Overrides {
            max_payload: Some(cap),
            ..shrinker.best
        })? {
            break;
        }
        cap = if cap == 0 { 1 } else { cap * 2 };
    }
    // 4. The smallest tear.
    if let Some(Plan {
        kill_at,
        tear: Some(tear),
    }) = shrinker.best.plan
    {
        let mut keep = 0;
        while keep < tear {
            if shrinker.try_with(Overrides {
                plan: Some(Plan {
                    kill_at,
                    tear: Some(keep),
                }),
                ..shrinker.best
            })? {
                break;
            }
            keep += sc.sector;
        }
    }
    Ok(Shrunk {
        found: shrinker.outcome.map(|o| (shrinker.best, o)),
        runs: shrinker.runs,
        stopped: shrinker.stopped,
    })
}

struct Shrinker<'a> {
    env: &'a TrialEnv,
    index: u64,
    signature: Signature,
    limits: &'a Limits,
    runs: usize,
    /// Set when a candidate was refused for a limit: every later one is refused too.
    stopped: Option<ShrinkStop>,
    best: Overrides,
    outcome: Option<TrialOutcome>,
}

impl Shrinker<'_> {
    /// Runs `candidate`; keeps it if it fails the same way. True when kept, and from the
    /// first candidate refused for a limit on: each step then ends.
    fn try_with(&mut self, candidate: Overrides) -> Result<bool, TrialError> {
        if self.stopped.is_some() {
            return Ok(true);
        }
        if candidate == self.best {
            return Ok(false);
        }
        if self.runs >= MAX_RUNS {
            self.stopped = Some(ShrinkStop::Runs);
            return Ok(true);
        }
        if Instant::now() >= self.limits.deadline {
            self.stopped = Some(ShrinkStop::Budget);
            return Ok(true);
        }
        self.runs += 1;
        self.limits.runs.fetch_add(1, Ordering::Relaxed);
        let (outcome, _) = trial::run_case(self.env, self.index, candidate)?;
        if Signature::of(&outcome).as_ref() == Some(&self.signature) {
            self.best = candidate;
            self.outcome = Some(outcome);
            return Ok(true);
        }
        Ok(false)
    }
}
