//! What a crash does to the files after the writer is killed.
//!
//! Every trial kills the writer at a boundary (or lets it exit, when the draw lands on
//! the clean exit). A fault class then damages the trial folder:
//! - `kill`: nothing more. A SIGKILL loses nothing the kernel already has.
//! - `truncate`: one file matching the target's `files` is cut at an offset drawn
//!   uniformly from `0..=size`, as a file system that lost the end of a file would leave it.

use std::fmt;
use std::fs::OpenOptions;
use std::path::Path;

use globset::GlobSet;
use rand_core::Rng;
use serde::{Deserialize, Serialize};

use crate::errors::TrialError;
use crate::scenario::FaultWeights;
use crate::seed::{below, between, weighted};
use crate::tracer::file_sizes;

/// A fault class, as named in a scenario's `[faults]` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// SIGKILL only.
    Kill,
    /// SIGKILL, then truncate one file.
    Truncate,
}

impl FaultKind {
    /// Draws a class by the scenario's weights (at least one weight is non-zero).
    pub fn choose(rng: &mut impl Rng, weights: &FaultWeights) -> FaultKind {
        let classes = [
            (FaultKind::Kill, weights.kill),
            (FaultKind::Truncate, weights.truncate),
        ];
        let w: Vec<u64> = classes.iter().map(|(_, w)| u64::from(*w)).collect();
        classes[weighted(rng, &w).unwrap_or(0)].0
    }
}

/// The damage done to the files, after the kill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Damage {
    /// Nothing beyond the kill.
    None,
    /// `file` (relative to the trial folder) was cut from `size` to `offset` bytes.
    Truncate {
        /// The file.
        file: String,
        /// Its size before.
        size: u64,
        /// Its size after.
        offset: u64,
    },
    /// A truncation was drawn, but no file matched the target's `files`.
    NoFile,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::None => f.write_str("none"),
            Damage::Truncate { file, size, offset } => {
                write!(f, "truncate {file} from {size} to {offset} bytes")
            }
            Damage::NoFile => f.write_str("truncate (no file matched `files`)"),
        }
    }
}

/// Applies `kind` to the trial folder `dir`, drawing what it needs from `rng`.
pub fn apply(
    kind: FaultKind,
    rng: &mut impl Rng,
    dir: &Path,
    files: &GlobSet,
) -> Result<Damage, TrialError> {
    match kind {
        FaultKind::Kill => Ok(Damage::None),
        FaultKind::Truncate => {
            // Sorted by name (a BTreeMap), so the draw does not depend on readdir order.
            let sizes = file_sizes(dir, files);
            if sizes.is_empty() {
                return Ok(Damage::NoFile);
            }
            let (file, &size) = sizes
                .iter()
                .nth(below(rng, sizes.len() as u64) as usize)
                .expect("index < len");
            let offset = between(rng, 0, size);
            let path = dir.join(file);
            let io = |source| TrialError::Io {
                what: "truncate",
                path: path.clone(),
                source,
            };
            OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(offset))
                .map_err(io)?;
            Ok(Damage::Truncate {
                file: file.clone(),
                size,
                offset,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use globset::{Glob, GlobSetBuilder};

    use super::*;
    use crate::seed::Seed;

    #[test]
    fn truncate_cuts_a_matching_file_within_its_size() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("wal.log"), [7u8; 100]).unwrap();
        std::fs::write(dir.path().join("other.txt"), [1u8; 100]).unwrap();
        let files = GlobSetBuilder::new()
            .add(Glob::new("*.log").unwrap())
            .build()
            .unwrap();
        let mut rng = Seed(9).trial_rng(0);
        let mut offsets = Vec::new();
        for _ in 0..20 {
            std::fs::write(dir.path().join("wal.log"), [7u8; 100]).unwrap();
            let Damage::Truncate { file, size, offset } =
                apply(FaultKind::Truncate, &mut rng, dir.path(), &files).unwrap()
            else {
                panic!("expected a truncation")
            };
            assert_eq!((file.as_str(), size), ("wal.log", 100));
            assert_eq!(
                std::fs::metadata(dir.path().join("wal.log")).unwrap().len(),
                offset
            );
            offsets.push(offset);
        }
        assert!(
            offsets.iter().any(|&o| o != offsets[0]),
            "offsets vary: {offsets:?}"
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("other.txt"))
                .unwrap()
                .len(),
            100,
            "non-matching file untouched"
        );
    }

    #[test]
    fn truncate_without_files_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let files = GlobSetBuilder::new()
            .add(Glob::new("*.log").unwrap())
            .build()
            .unwrap();
        assert_eq!(
            apply(
                FaultKind::Truncate,
                &mut Seed(1).trial_rng(0),
                dir.path(),
                &files
            )
            .unwrap(),
            Damage::NoFile
        );
    }

    #[test]
    fn weights_pick_classes() {
        let mut rng = Seed(4).trial_rng(0);
        let only_trunc = FaultWeights {
            kill: 0,
            truncate: 1,
        };
        assert!((0..50).all(|_| FaultKind::choose(&mut rng, &only_trunc) == FaultKind::Truncate));
        let both = FaultWeights {
            kill: 1,
            truncate: 1,
        };
        let picks: Vec<_> = (0..50)
            .map(|_| FaultKind::choose(&mut rng, &both))
            .collect();
        assert!(picks.contains(&FaultKind::Kill) && picks.contains(&FaultKind::Truncate));
    }
}
