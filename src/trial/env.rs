//! What every trial of a run shares, and the records of one trial.

use std::path::PathBuf;

use globset::GlobSet;

use crate::errors::TrialError;
use crate::process;
use crate::scenario::Scenario;
use crate::trial::plan::Overrides;
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

/// The records of trial `index`, with the overrides' caps applied; `Err(Interrupted)` on
/// a Ctrl-C while several writers' records are drawn.
pub(crate) fn workload(
    env: &TrialEnv,
    index: u64,
    over: &Overrides,
) -> Result<Workload, TrialError> {
    let sc = &env.scenario;
    Ok(Workload::generate(
        &mut sc.seed.workload_rng(index),
        sc.writers,
        sc.records,
        sc.payload,
    )?
    .capped(over.records, over.max_payload))
}

/// `Err(Interrupted)` once SIGINT or SIGTERM arrived: the trial stops at its next step.
pub(crate) fn check_interrupt() -> Result<(), TrialError> {
    if process::interrupted() {
        Err(TrialError::Interrupted)
    } else {
        Ok(())
    }
}
