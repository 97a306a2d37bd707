//! Joining results files: the shards of one run, or several runs, into one [`Report`]
//! (by the one rule of [`crate::report::lines`]), and writing its JUnit and HTML.

use std::path::{Path, PathBuf};

use crate::report::lines::{Judge, ReadError, Report, Scope};
use crate::report::{html, human, junit};

/// What can go wrong joining results files.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A results file could not be read, or holds a corrupt line.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The files hold no results line at all.
    #[error("no results lines in the files given: {files}")]
    Empty {
        /// The files, as given.
        files: String,
    },
    /// An output could not be written.
    #[error("failed to write {path}", path = .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Reads and judges `files` as whole runs (every shard of a sharded run must be among them).
pub fn read(files: &[PathBuf]) -> Result<Report, MergeError> {
    read_in(files, Scope::Whole)
}

/// Reads and judges `files` in `scope`.
pub fn read_in(files: &[PathBuf], scope: Scope) -> Result<Report, MergeError> {
    let mut judge = Judge::new(scope);
    judge.read_files(files)?;
    let report = judge.finish();
    if report.scenarios.is_empty() {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        return Err(MergeError::Empty {
            files: names.join(", "),
        });
    }
    Ok(report)
}

/// The merged verdict in words: per scenario, its verdict, its numbers, and its distinct
/// failures.
pub fn text(report: &Report) -> String {
    let mut text = String::new();
    for s in &report.scenarios {
        text.push_str(&human::verdict_line(s));
        text.push('\n');
        text.push_str("  ");
        text.push_str(&human::counts_line(s));
        text.push('\n');
        text.push_str(&human::failures_block(s));
    }
    text
}

/// Writes the JUnit XML and the HTML page of `report`, where asked for.
pub fn write_outputs(
    report: &Report,
    junit: Option<&Path>,
    page: Option<&Path>,
) -> Result<(), MergeError> {
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|source| MergeError::Write {
            path: path.to_owned(),
            source,
        })
    };
    if let Some(path) = junit {
        write(path, junit::render(report))?;
    }
    if let Some(path) = page {
        write(path, html::render(report))?;
    }
    Ok(())
}
