//! A trial's folder: made fresh, read into a [`Snapshot`], written back from one.

use std::path::Path;

use crate::errors::TrialError;
use crate::snapshot::Snapshot;

/// Empties `dir` (removing what an earlier case left) and makes it again.
pub(crate) fn fresh_dir(dir: &Path) -> Result<(), TrialError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|source| TrialError::Io {
            what: "clear trial folder",
            path: dir.to_owned(),
            source,
        })?;
    }
    std::fs::create_dir(dir).map_err(|source| TrialError::Io {
        what: "create trial folder",
        path: dir.to_owned(),
        source,
    })
}

/// `dir`'s files, read.
pub(crate) fn snapshot(dir: &Path) -> Result<Snapshot, TrialError> {
    Snapshot::read(dir).map_err(|source| TrialError::Io {
        what: "snapshot the trial folder",
        path: dir.to_owned(),
        source,
    })
}

/// Writes `state` into the empty folder `dir`.
pub(crate) fn restore(state: &Snapshot, dir: &Path) -> Result<(), TrialError> {
    state.write_into(dir).map_err(|source| TrialError::Io {
        what: "restore the trial folder",
        path: dir.to_owned(),
        source,
    })
}
