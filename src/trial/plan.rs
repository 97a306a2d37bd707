//! What a case changes in its trial (shrunk and exhaustive cases), and where a crash
//! run is killed.

use serde::{Deserialize, Serialize};

use crate::faults::{self, FaultKind};
use crate::seed::below;
use crate::tracer::{Trace, WriterEnd};

/// A trial's case: which trial, and what a shrunk or exhaustive case changes in it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Overrides {
    /// Fewer records per writer than the scenario says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u32>,
    /// Payloads cut to at most this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload: Option<u32>,
    /// The crash state, chosen rather than drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// The fault class, chosen rather than drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultKind>,
}

impl Overrides {
    /// A chosen crash state: a torn write when the plan tears, else a plain kill; no
    /// other damage.
    pub fn at(plan: Plan) -> Overrides {
        let fault = if plan.tear.is_some() {
            FaultKind::Torn
        } else {
            FaultKind::Kill
        };
        Overrides {
            plan: Some(plan),
            fault: Some(fault),
            ..Overrides::default()
        }
    }

    /// True when nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }
}

/// A crash state chosen rather than drawn: kill at boundary `kill_at` of the dry run (its
/// N = the clean exit), tearing the write there after `tear` bytes. Exhaustive runs walk
/// them; `repro --kill-at K --tear J` replays one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Plan {
    /// The boundary to kill at.
    pub kill_at: u64,
    /// For a torn write, the bytes let through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tear: Option<u64>,
}

/// A plan in words: `kill at boundary 4` or `kill at boundary 4 torn after 512 bytes`.
pub(crate) fn plan_words(plan: Plan) -> String {
    match plan.tear {
        Some(keep) => format!("kill at boundary {}, torn after {keep} bytes", plan.kill_at),
        None => format!("kill at boundary {}", plan.kill_at),
    }
}

/// Where the crash run is killed: boundary k of the dry run's N (k = N: the clean exit),
/// and for a torn write how many bytes of that write to let through.
pub(crate) fn kill_point(
    rng: &mut impl rand_core::Rng,
    fault: FaultKind,
    dry: &Trace,
    sector: u64,
) -> (u64, Option<u64>) {
    let n = dry.boundaries.len() as u64;
    // A dry run that hung or failed by itself is judged as it is: no kill can help.
    if !dry.ends.iter().all(|e| *e == WriterEnd::Exited { code: 0 }) {
        return (n, None);
    }
    if fault == FaultKind::Torn {
        // Two passes over the boundaries rather than a list of every write.
        let writes = || {
            dry.boundaries
                .iter()
                .filter_map(|b| b.write.filter(|w| w.len > 0).map(|w| (b.index, w)))
        };
        let count = writes().count() as u64;
        if count > 0 {
            let (k, w) = writes()
                .nth(below(rng, count) as usize)
                .expect("drawn below the count");
            return (k, Some(faults::tear_point(rng, w.offset, w.len, sector)));
        }
    }
    (below(rng, n + 1), None)
}

/// The kill of a crash run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KillPlan {
    pub(crate) at: u64,
    pub(crate) tear: Option<u64>,
}
