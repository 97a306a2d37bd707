//! What the main thread keeps as trials end: each trial's lines, written to the results
//! file and handed to the judge at once (so a crash of crashtest loses no finding, and the
//! live verdict is the one any reader of the file reaches), and the counts of the summary.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use crate::case::CaseId;
use crate::errors::TrialError;
use crate::faults::{Damage, FaultKind};
use crate::report::lines::{FindingLine, Judge, Line, Signature, TrialLine};
use crate::report::{human, repro};
use crate::results_file::ResultsFile;
use crate::scenario::Scenario;
use crate::trial::TrialOutcome;

/// Where a run's lines go: the results file, and the judge.
pub(super) struct Sink {
    pub(super) results: ResultsFile,
    pub(super) judge: Judge,
}

impl Sink {
    /// Appends `line`, synced, and judges it.
    pub(super) fn write(&mut self, line: Line) -> Result<(), TrialError> {
        self.results.append_line(&line)?;
        self.judge.add(line);
        Ok(())
    }

    /// Appends `line` without waiting for its sync (the lines of passing trials), and
    /// judges it.
    fn write_unsynced(&mut self, line: Line) -> Result<(), TrialError> {
        self.results.append_unsynced(&line)?;
        self.judge.add(line);
        Ok(())
    }
}

/// What the main thread counts as trials end.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) ran: u64,
    pub(super) failed: u64,
    pub(super) faults: BTreeMap<FaultKind, u64>,
    pub(super) killed: u64,
    pub(super) recovery_crashes: u64,
    pub(super) max_boundaries: u64,
    /// The distinct failures printed so far, in job order.
    shown: BTreeSet<Signature>,
    /// Distinct failures handed to [`Tally::print`] so far.
    pub(super) printed: usize,
    /// Power-loss trials judged as kills, and the first one's reason.
    pub(super) not_modelled: (u64, Option<String>),
}

/// What to print for a trial that ended: a failing trial's signature and its finding in
/// words.
pub(super) type Printout = Option<(Signature, String)>;

impl Tally {
    /// Counts a trial and writes its lines. Returns what to print for it, if anything (a
    /// finding).
    pub(super) fn record(
        &mut self,
        sink: &mut Sink,
        sc: &Scenario,
        case: &CaseId,
        outcome: &TrialOutcome,
        timeline: Vec<String>,
    ) -> Result<Printout, TrialError> {
        self.ran += 1;
        *self.faults.entry(outcome.fault).or_default() += 1;
        self.killed += u64::from(outcome.kill.is_some());
        self.recovery_crashes += u64::from(outcome.recovery_kill.is_some());
        self.max_boundaries = self.max_boundaries.max(outcome.boundaries);
        if let Damage::NotModelled { why } = &outcome.damage {
            self.not_modelled.0 += 1;
            self.not_modelled.1.get_or_insert_with(|| why.clone());
        }
        // Synced with the next finding, or within a second: a finding is synced at once.
        sink.write_unsynced(Line::Trial(TrialLine {
            scenario: sc.name.clone(),
            seed: case.seed,
            trial: outcome.trial,
            case: Some(case.to_string()),
            fault: Some(outcome.fault),
            boundaries: outcome.boundaries,
            kill: outcome.kill.as_ref().map(|b| b.index),
            tear: outcome.tear,
            class: outcome.violation().map(|v| v.class),
        }))?;
        let Some(sig) = Signature::of(outcome) else {
            return Ok(None);
        };
        self.failed += 1;
        let repro = repro::repro_command(case);
        sink.write(Line::Finding(Box::new(FindingLine {
            scenario: sc.name.clone(),
            seed: case.seed,
            outcome: outcome.clone(),
            case: case.to_string(),
            repro: repro.clone(),
            timeline,
        })))?;
        Ok(Some((sig, human::finding_lines(outcome, &repro))))
    }

    /// Prints a trial's finding, in job order, when it is the first of its distinct
    /// failure and fewer than `show` distinct failures have been printed; the others are
    /// counted, and listed by distinct failure at the end.
    pub(super) fn print(&mut self, text: Printout, out: &mut dyn Write, show: usize) {
        if let Some((sig, text)) = text
            && self.shown.insert(sig)
        {
            if self.printed < show {
                let _ = write!(out, "{text}");
            }
            self.printed += 1;
        }
    }
}
