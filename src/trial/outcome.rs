//! What a trial found: its outcome (the results file's `finding` line holds it whole)
//! and what a reproduction prints beyond it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::faults::{Damage, FaultKind};
use crate::oracle::{Class, Judgement, Violation};
use crate::process::Captured;
use crate::spill::Spill;
use crate::tracer::Boundary;
use crate::trial::plan::Overrides;
use crate::workload::Workload;

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
            None if self.violation().is_some_and(|v| v.class == Class::Hang) => format!(
                "none (the writer was still running at the timeout, after {} boundaries)",
                self.boundaries
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

/// Marks `outcome` a target error: the target broke the protocol, which says `why`.
pub(crate) fn target_error(outcome: &mut TrialOutcome, why: String) {
    outcome.judgement.violation = Some(Violation {
        class: Class::TargetError,
        detail: why,
    });
}
