//! Persisted regressions, as proptest keeps them: each distinct failure a run of an
//! `expect = "pass"` scenario finds ([`crate::report::lines::Signature`]) is saved once, as
//! its shrunk case id (or its first trial's), in `SCENARIO.regressions` beside the
//! scenario, a small text file meant to be committed. `crashtest run` replays those cases
//! before any new trial, so a bug once found is checked on every later run, until it is
//! fixed. One line per distinct failure keeps the file short and stable across seeds: one
//! bug is one line, however many trials it failed (the line says how many).
//!
//! ```text
//! # header comment lines
//! cc scenarios/smoke.toml@1/41/r2/k3/fkill # [lost-ack after kill at fsync] seen in 12 of 100 trials: record 1 was acked but ...
//! ```
//!
//! A failure whose case or `[signature]` the file holds already is not saved again. Files
//! written before signatures (one line per failing trial, `# class: detail`) load as before.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::case::CaseId;
use crate::errors::TrialError;

const HEADER: &str = "\
# Failure cases crashtest found for this scenario, one `cc <case id>` a line, each with
# what it found. `crashtest run` replays them before any new trial; commit this file so a
# bug once found is checked on every later run. Reproduce one: crashtest repro <case id>.
";

/// The regressions file of the scenario at `scenario`: the same path, `.regressions`.
pub fn path_for(scenario: &Path) -> PathBuf {
    scenario.with_extension("regressions")
}

/// A distinct failure to save.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    /// The case that reproduces it (shrunk when it was).
    pub case: CaseId,
    /// What makes it one failure, in words ([`crate::report::lines::Signature`]'s).
    pub signature: String,
    /// Failing trials it stood for.
    pub seen: u64,
    /// Trials of the run.
    pub of: u64,
    /// What failed in its first trial.
    pub detail: String,
}

/// The saved cases, and a warning per line that is not one (`path:line: ...`). A missing
/// file is no cases. Lines are checked for UTF-8 one by one, so that one bad byte costs
/// its line (with a warning), not every saved case.
pub fn load(path: &Path) -> (Vec<CaseId>, Vec<String>) {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Vec::new(), Vec::new()),
        Err(e) => {
            return (
                Vec::new(),
                vec![format!(
                    "{}: failed to read ({e}), ignoring",
                    path.display()
                )],
            );
        }
    };
    let mut cases = Vec::new();
    let mut warnings = Vec::new();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = std::str::from_utf8(line)
            .ok()
            .map(|line| line.split_once('#').map_or(line, |(code, _)| code).trim());
        if line == Some("") {
            continue;
        }
        match line
            .and_then(|line| line.strip_prefix("cc "))
            .map(|id| id.trim().parse::<CaseId>())
        {
            Some(Ok(case)) => cases.push(case),
            _ => warnings.push(format!(
                "{}:{}: unparsable line, ignoring",
                path.display(),
                n + 1
            )),
        }
    }
    (cases, warnings)
}

/// The `[signature]`s of the file's lines.
fn signatures(path: &Path) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|line| {
            let comment = line.split_once("# [")?.1;
            Some(comment.split_once(']')?.0.to_owned())
        })
        .collect()
}

/// Appends the failures of `saved` whose case and signature the file does not hold yet,
/// creating it with its header if needed, and syncs it. Returns how many it added.
pub fn save(path: &Path, saved: &[Saved]) -> Result<usize, TrialError> {
    let (known, _) = load(path);
    let mut signatures = signatures(path);
    let mut new = Vec::new();
    for s in saved {
        if !known.contains(&s.case) && !signatures.contains(&s.signature) {
            signatures.push(s.signature.clone());
            new.push(s);
        }
    }
    if new.is_empty() {
        return Ok(0);
    }
    let io = |source| TrialError::Io {
        what: "save regressions to",
        path: path.to_owned(),
        source,
    };
    let fresh = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    let mut text = String::new();
    if fresh {
        text.push_str(HEADER);
    }
    for s in &new {
        let detail: String = s.detail.chars().filter(|c| *c != '\n').take(160).collect();
        let signature = s.signature.replace(['\n', ']'], " ");
        text.push_str(&format!(
            "cc {} # [{signature}] seen in {} of {} trials: {detail}\n",
            s.case, s.seen, s.of
        ));
    }
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_data())
        .map_err(io)?;
    Ok(new.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(case: &CaseId, signature: &str, detail: &str) -> Saved {
        Saved {
            case: case.clone(),
            signature: signature.to_owned(),
            seen: 47,
            of: 100,
            detail: detail.to_owned(),
        }
    }

    #[test]
    fn saved_cases_load_back_and_bad_lines_warn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.regressions");
        assert_eq!(load(&path), (Vec::new(), Vec::new()));
        let a: CaseId = "s.toml@1/4/r2/k3/fkill".parse().unwrap();
        let b: CaseId = "s.toml@1/9".parse().unwrap();
        let lost = "lost-ack after kill at write";
        assert_eq!(save(&path, &[saved(&a, lost, "x\ny")]).unwrap(), 1);
        assert_eq!(
            save(
                &path,
                &[
                    saved(&a, "other", "again"),
                    saved(&b, "not-a-prefix after kill at write", "z")
                ]
            )
            .unwrap(),
            1
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Failure cases"));
        assert!(
            text.contains(
                "cc s.toml@1/4/r2/k3/fkill # [lost-ack after kill at write] seen in 47 of 100 trials: xy\n"
            ),
            "{text}"
        );
        std::fs::write(&path, format!("{text}cc nonsense\nhello\n")).unwrap();
        let (cases, warnings) = load(&path);
        assert_eq!(cases, [a, b]);
        assert_eq!(warnings.len(), 2);
        assert!(
            warnings[0].ends_with(&format!(
                "{}: unparsable line, ignoring",
                text.lines().count() + 1
            )),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_failure_already_saved_under_another_case_is_not_saved_again() {
        // The same bug found again by a new seed: its signature is in the file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.regressions");
        let first: CaseId = "s.toml@1/4/r1/p1/k2".parse().unwrap();
        let again: CaseId = "s.toml@2/17/r1/p1/k2".parse().unwrap();
        let sig = "replay-failed after kill at write";
        assert_eq!(save(&path, &[saved(&first, sig, "short")]).unwrap(), 1);
        assert_eq!(save(&path, &[saved(&again, sig, "short")]).unwrap(), 0);
        // A file of the old kind, a line per failing trial, loads as before.
        std::fs::write(
            &path,
            "cc s.toml@1/4 # lost-ack: x\ncc s.toml@1/5 # lost-ack: y\n",
        )
        .unwrap();
        assert_eq!(load(&path).0.len(), 2);
    }
}
