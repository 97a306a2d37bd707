//! Section 7, `torture-budget`: how many crash states (trials) `crashtest run
//! scenarios/torture.toml --budget 90s` checks, and at what rate. The gate of
//! `harness/ci/` runs exactly this, so its count is what a merge request gets checked
//! with. The scenario's own 5,000 trials now fit in 90 s, so the bench lifts them
//! (`--trials`) and the budget alone ends the run.

use std::time::Duration;

use crate::common::{RUN_TIMEOUT, Ran, count_after, secs};
use crate::{Bench, Section, TORTURE};

/// Trials enough that the budget, not their count, ends the run (trials are made as they
/// start, so a large count costs nothing).
const LIFTED: u64 = 10_000_000;

impl Bench {
    pub(crate) fn torture_budget(&mut self) -> Result<(), String> {
        let (budget, words) = self.knobs.torture_budget.clone();
        println!(
            "7. crash states `crashtest run {TORTURE} --budget {words} --trials {LIFTED}` checks, {} jobs, one run",
            self.jobs
        );
        let scenario = self.root.join(TORTURE);
        let extra = vec![
            "--budget".to_owned(),
            words.clone(),
            "--trials".to_owned(),
            LIFTED.to_string(),
        ];
        // The budget stops new trials; those under way, and shrinking, still finish.
        let run = match self.crashtest_run_within(&scenario, &extra, budget + RUN_TIMEOUT)? {
            Ran::Done(run) => run,
            Ran::Rejected => return Err(format!("crashtest run rejected --budget {words}")),
        };
        let trials = count_after(&run.stdout, " trials in ")?;
        let rate = trials as f64 / secs(run.wall);
        if let Some(said) = run.stdout.lines().find(|l| l.contains(" trials in ")) {
            println!("   crashtest: {said}");
        }
        println!(
            "   {trials} crash states in {:.1} s = {rate:.1} states/s",
            secs(run.wall)
        );
        self.row(
            Section::TortureBudget,
            &format!("torture, --budget {words}: crash states checked"),
            format!("{trials} ({rate:.1}/s)"),
            "",
        );
        Ok(())
    }
}

/// The budget of section 7 as given (`90s`) and as a duration.
pub(crate) fn parse_budget(words: &str) -> Option<(Duration, String)> {
    humantime::parse_duration(words)
        .ok()
        .filter(|d| !d.is_zero())
        .map(|d| (d, words.to_owned()))
}
