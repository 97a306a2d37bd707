//! Persisted regressions, as proptest keeps them: every failure a run of an `expect =
//! "pass"` scenario finds is saved, as its (shrunk) case id, in `SCENARIO.regressions`
//! beside the scenario, a small text file meant to be committed. `crashtest run` replays
//! those cases before any new trial, so a bug once found is checked on every later run,
//! until it is fixed.
//!
//! ```text
//! # header comment lines
//! cc scenarios/smoke.toml@1/41/r2/k3/fkill # lost-ack: record 1 was acked but ...
//! ```

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

/// Appends `cases` (with their comments) that the file does not hold yet, creating it
/// with its header if needed, and syncs it.
pub fn save(path: &Path, cases: &[(CaseId, String)]) -> Result<usize, TrialError> {
    let (known, _) = load(path);
    let new: Vec<_> = cases.iter().filter(|(c, _)| !known.contains(c)).collect();
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
    for (case, comment) in &new {
        let comment: String = comment.chars().filter(|c| *c != '\n').take(160).collect();
        text.push_str(&format!("cc {case} # {comment}\n"));
    }
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_data())
        .map_err(io)?;
    Ok(new.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_cases_load_back_and_bad_lines_warn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.regressions");
        assert_eq!(load(&path), (Vec::new(), Vec::new()));
        let a: CaseId = "s.toml@1/4/r2/k3/fkill".parse().unwrap();
        let b: CaseId = "s.toml@1/9".parse().unwrap();
        assert_eq!(
            save(&path, &[(a.clone(), "lost-ack: x\ny".into())]).unwrap(),
            1
        );
        assert_eq!(
            save(
                &path,
                &[
                    (a.clone(), "again".into()),
                    (b.clone(), "not-a-prefix".into())
                ]
            )
            .unwrap(),
            1
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Failure cases"));
        assert!(
            text.contains("cc s.toml@1/4/r2/k3/fkill # lost-ack: xy\n"),
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
}
