//! What the oracle hands back: why a trial failed ([`Class`]), what exactly was seen
//! ([`Violation`]), and its findings on the trial with their counts ([`Judgement`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a trial failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Replay exited non-zero or died of a signal: the log cannot be recovered.
    ReplayFailed,
    /// Replay did not finish within the timeout.
    ReplayHang,
    /// Replay returned a record that was never sent at that position: corrupted,
    /// reordered, duplicated or invented.
    NotAPrefix,
    /// An acknowledged record that the fault cannot excuse was not recovered.
    LostAck,
    /// The writer did not finish within the timeout.
    Hang,
    /// A second replay returned other records than the first: recovery is not stable.
    UnstableRecovery,
    /// After recovery, a writer started on the same folder could not append, or the next
    /// replay did not return the recovered records followed by every new acked record.
    BrokenResume,
    /// The target broke protocol v1 (a bad ack, a non-hex replay line, a writer that
    /// failed by itself): a bug in the target or its adapter, not a crash finding.
    TargetError,
}

impl Class {
    /// The class's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::ReplayFailed => "replay-failed",
            Class::ReplayHang => "replay-hang",
            Class::NotAPrefix => "not-a-prefix",
            Class::LostAck => "lost-ack",
            Class::Hang => "hang",
            Class::UnstableRecovery => "unstable-recovery",
            Class::BrokenResume => "broken-resume",
            Class::TargetError => "target-error",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed check: its class and what exactly was seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The class.
    pub class: Class,
    /// What was seen, in words.
    pub detail: String,
}

/// The oracle's findings on one trial.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    /// Records acked before the crash.
    pub acked: u64,
    /// Acked records the fault could not excuse: replay must return at least these.
    pub required: u64,
    /// Records the replay returned (None when its output could not be read).
    pub recovered: Option<u64>,
    /// The failed check, if any.
    pub violation: Option<Violation>,
}
