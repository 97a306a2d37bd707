//! The fault classes: what a crash does to the files.
//!
//! Every trial kills the writer at a boundary (or lets it exit, when the draw lands on the
//! clean exit). The fault class drawn for the trial decides how:
//! - `kill`: SIGKILL before the call runs; nothing more. A SIGKILL loses nothing the kernel
//!   already has.
//! - `torn`: the kill lands on a write, and only its first bytes happen (up to a `sector`
//!   boundary of the file), as a crash in the middle of a large write leaves it.
//! - `truncate`: afterwards one file matching the target's `files` is cut at an offset
//!   drawn uniformly from `0..=size`: a file system that lost the end of a file.
//! - `zero-tail` / `garbage-tail`: afterwards zeros or random bytes are appended to such a
//!   file, or written over its last bytes: its size reached the disk, its data did not.
//! - `power-loss`: afterwards the folder is rebuilt from the write log as a power loss at
//!   the kill leaves it (see [`super::power`]).
//! - `bit-flip`: afterwards one bit is flipped, or one sector zeroed, inside such a file.

use std::fmt;

use rand_core::Rng;
use serde::{Deserialize, Serialize};

use crate::scenario::FaultWeights;
use crate::seed::weighted;

/// A fault class, as named in a scenario's `[faults]` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL only.
    Kill,
    /// SIGKILL, then truncate one file.
    Truncate,
    /// A write cut short, then SIGKILL.
    Torn,
    /// SIGKILL, then zeros at the end of a file.
    ZeroTail,
    /// SIGKILL, then random bytes at the end of a file.
    GarbageTail,
    /// SIGKILL, then the folder as a power loss leaves it.
    PowerLoss,
    /// SIGKILL, then a flipped bit or a zeroed sector in a file.
    BitFlip,
}

impl FaultKind {
    /// Every class, in the order the weights are drawn.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Kill,
        FaultKind::Truncate,
        FaultKind::Torn,
        FaultKind::ZeroTail,
        FaultKind::GarbageTail,
        FaultKind::PowerLoss,
        FaultKind::BitFlip,
    ];

    /// The class's name in scenarios and reports.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Truncate => "truncate",
            FaultKind::Torn => "torn",
            FaultKind::ZeroTail => "zero-tail",
            FaultKind::GarbageTail => "garbage-tail",
            FaultKind::PowerLoss => "power-loss",
            FaultKind::BitFlip => "bit-flip",
        }
    }

    /// The class's weight in `w`.
    pub fn weight(self, w: &FaultWeights) -> u32 {
        match self {
            FaultKind::Kill => w.kill,
            FaultKind::Truncate => w.truncate,
            FaultKind::Torn => w.torn,
            FaultKind::ZeroTail => w.zero_tail,
            FaultKind::GarbageTail => w.garbage_tail,
            FaultKind::PowerLoss => w.power_loss,
            FaultKind::BitFlip => w.bit_flip,
        }
    }

    /// Draws a class by the scenario's weights (at least one weight is non-zero).
    pub fn choose(rng: &mut impl Rng, weights: &FaultWeights) -> FaultKind {
        let w: Vec<u64> = FaultKind::ALL
            .iter()
            .map(|k| u64::from(k.weight(weights)))
            .collect();
        FaultKind::ALL[weighted(rng, &w).unwrap_or(0)]
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Seed;

    #[test]
    fn weights_pick_classes() {
        let mut rng = Seed(4).trial_rng(0);
        let only_torn = FaultWeights {
            torn: 1,
            ..FaultWeights::default()
        };
        assert!((0..50).all(|_| FaultKind::choose(&mut rng, &only_torn) == FaultKind::Torn));
        let all = FaultWeights {
            kill: 1,
            truncate: 1,
            torn: 1,
            zero_tail: 1,
            garbage_tail: 1,
            power_loss: 1,
            bit_flip: 1,
            persistence: crate::scenario::Persistence::Posix,
        };
        let picks: std::collections::BTreeSet<_> = (0..300)
            .map(|_| FaultKind::choose(&mut rng, &all))
            .collect();
        assert_eq!(picks.len(), 7);
    }
}
