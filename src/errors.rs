//! Every error crashtest's library returns.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

// ---- scenario errors ----

/// Why a scenario file could not be turned into a [`crate::scenario::Scenario`].
///
/// Every variant names the file; the ones about its contents also name the line and column,
/// either through toml's own rendering (in the `#[source]` of [`ScenarioError::Parse`]) or in
/// the message itself ([`ScenarioError::Invalid`]).
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("failed to read scenario at {path}", path = .path.display())]
    Read {
        /// The scenario file, as the user gave it.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },

    /// The TOML is malformed, has an unknown key or a value of the wrong type, or a value
    /// fails a check that needs only that value or its table (min > max, trials = 0, ...).
    /// The source renders "TOML parse error at line N, column M" with a caret.
    #[error("failed to parse scenario at {path}", path = .path.display())]
    Parse {
        /// The scenario file, as the user gave it.
        path: PathBuf,
        /// toml's error, which carries the line, the column and the offending text.
        #[source]
        source: toml::de::Error,
    },

    /// A check across tables failed (e.g. `writers` above the target's `max_writers`).
    #[error("{path}:{line}:{column}: {message}", path = .path.display())]
    Invalid {
        /// The scenario file, as the user gave it.
        path: PathBuf,
        /// 1-based line of the offending value.
        line: usize,
        /// 1-based column (in characters) of the offending value.
        column: usize,
        /// What is wrong and what would be right.
        message: String,
    },

    /// The scenario's folder (where external targets run) could not be made absolute.
    #[error("failed to resolve the folder of scenario at {path}", path = .path.display())]
    Folder {
        /// The scenario file, as the user gave it.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}
