//! What a trial found: its outcome (the results file's `finding` line holds it whole)
//! and what a reproduction prints beyond it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::faults::{Damage, FaultKind};
use crate::oracle::{Class, Judgement, Violation};
use crate::process::Captured;
use crate::spill::Spill;
use crate::tracer::{Boundary, WriterEnd};
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
    /// How the crash run's writers ended when no kill took them and they did not all exit
    /// 0 (absent for a kill and for a clean exit, and in results written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Ended>,
    /// The oracle's findings.
    pub judgement: Judgement,
}

/// How a crash run that no kill took ended, when not by a clean exit: what the kill point
/// of such a trial says instead of "clean exit".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Ended {
    /// A writer could not be started.
    NotStarted,
    /// A writer was still running at the timeout, and was killed.
    TimedOut,
    /// A writer exited with a status other than 0.
    Exited {
        /// Its exit code.
        code: i32,
    },
    /// A signal crashtest did not send ended a writer.
    Signaled {
        /// The signal.
        signal: String,
    },
}

impl Ended {
    /// How the first writer of `ends` that did not exit 0 ended; `None` when each exited 0
    /// or was killed at a boundary.
    pub fn of(ends: &[WriterEnd]) -> Option<Ended> {
        ends.iter().find_map(|end| match end {
            WriterEnd::Exited { code: 0 } | WriterEnd::Killed { .. } => None,
            WriterEnd::Exited { code } => Some(Ended::Exited { code: *code }),
            WriterEnd::Signaled { signal } => Some(Ended::Signaled {
                signal: signal.clone(),
            }),
            WriterEnd::TimedOut { .. } => Some(Ended::TimedOut),
            // An interrupted trial is dropped, never reported.
            WriterEnd::Interrupted => None,
        })
    }
}

impl TrialOutcome {
    /// The failed check, if the trial failed.
    pub fn violation(&self) -> Option<&Violation> {
        self.judgement.violation.as_ref()
    }

    /// The kill point in words: the boundary, or, when no kill took the writers, how they
    /// ended (`none (clean exit after 12 boundaries)`, `none (the writer could not be
    /// started)`, ...).
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
            None => format!("none ({})", self.end_words()),
        };
        match self.tear {
            Some(keep) => format!("{words}, torn after {keep} bytes"),
            None => words,
        }
    }
}

impl TrialOutcome {
    /// How the writers ended when no kill took them and not all by a clean exit: `ended`,
    /// or, for results written before it, a hang known by its class alone.
    pub fn end(&self) -> Option<Ended> {
        let hang = self.violation().is_some_and(|v| v.class == Class::Hang);
        match &self.ended {
            None if hang => Some(Ended::TimedOut),
            ended => ended.clone(),
        }
    }

    /// How the writers ended when no kill took them, in words.
    pub fn end_words(&self) -> String {
        let n = self.boundaries;
        let who = if self.writers > 1 {
            "a writer"
        } else {
            "the writer"
        };
        match self.end() {
            Some(Ended::NotStarted) => format!("{who} could not be started"),
            Some(Ended::TimedOut) => {
                format!("{who} was still running at the timeout, after {n} boundaries")
            }
            Some(Ended::Exited { code }) => {
                format!("{who} exited with status {code} after {n} boundaries")
            }
            Some(Ended::Signaled { signal }) => {
                format!("{who} died of {signal} after {n} boundaries")
            }
            None => format!("clean exit after {n} boundaries"),
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
