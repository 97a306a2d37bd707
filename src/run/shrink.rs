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
//! always shrinks to the same case.

use crate::errors::TrialError;
use crate::oracle::Class;
use crate::report::lines::Signature;
use crate::trial::{self, Overrides, Plan, TrialEnv, TrialOutcome};

/// Most trial runs one shrink may make.
pub const MAX_RUNS: usize = 120;

/// A smaller case of trial `index` that fails as `original` did (its [`Signature`]), if
/// one is found.
pub fn shrink(
    env: &TrialEnv,
    index: u64,
    original: &TrialOutcome,
) -> Result<Option<(Overrides, TrialOutcome)>, TrialError> {
    let Some(signature) = Signature::of(original) else {
        return Ok(None);
    };
    if signature.class == Class::TargetError {
        return Ok(None);
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
        runs: 0,
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
    Ok(shrinker.outcome.map(|o| (shrinker.best, o)))
}

struct Shrinker<'a> {
    env: &'a TrialEnv,
    index: u64,
    signature: Signature,
    runs: usize,
    best: Overrides,
    outcome: Option<TrialOutcome>,
}

impl Shrinker<'_> {
    /// Runs `candidate`; keeps it if it fails the same way. False once out of runs.
    fn try_with(&mut self, candidate: Overrides) -> Result<bool, TrialError> {
        if self.runs >= MAX_RUNS || candidate == self.best {
            return Ok(self.runs >= MAX_RUNS);
        }
        self.runs += 1;
        let (outcome, _) = trial::run_case(self.env, self.index, candidate)?;
        if Signature::of(&outcome).as_ref() == Some(&self.signature) {
            self.best = candidate;
            self.outcome = Some(outcome);
            return Ok(true);
        }
        Ok(false)
    }
}
