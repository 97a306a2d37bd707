//! Results on disk and on the terminal.
//!
//! A run appends to `results/NAME-TIMESTAMP.jsonl`: one `run` line, one `finding` line per
//! failing trial as soon as it is judged, then one `summary` line. Each line is written
//! whole, flushed and synced, so a run that is interrupted (or crashes) keeps every finding
//! it made before. Every finding carries the command that reproduces it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::case::CaseId;
use crate::errors::TrialError;
use crate::oracle::Class;
use crate::scenario::Scenario;
use crate::seed::Seed;
use crate::trial::{TrialDetail, TrialOutcome};

/// The command that reproduces a case.
pub fn repro_command(case: &CaseId) -> String {
    format!("crashtest repro {}", shell_word(&case.to_string()))
}

fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The append-only results file of one run.
#[derive(Debug)]
pub struct ResultsFile {
    path: PathBuf,
    file: File,
}

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    scenario: &'a str,
    seed: Seed,
    #[serde(flatten)]
    body: T,
}

/// The last line of a run's results.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Trials run.
    pub trials: u64,
    /// Trials that failed.
    pub failed: u64,
    /// Failed trials by class.
    pub classes: BTreeMap<Class, u64>,
    /// Trials by fault class drawn.
    pub faults: BTreeMap<crate::faults::FaultKind, u64>,
    /// Trials whose writer was killed before its clean exit.
    pub killed: u64,
    /// Whether the trials were every crash state of one workload (`--exhaustive`).
    pub exhaustive: bool,
    /// Trials whose replay was also killed, at one of its own boundaries (recovery-crash).
    pub recovery_crashes: u64,
    /// The scenario's `expect`.
    pub expect: String,
    /// Whether the run met it.
    pub met: bool,
    /// Whether the run was interrupted before all trials ran.
    pub interrupted: bool,
    /// Whether the time budget stopped the run before all trials ran.
    pub budget_exhausted: bool,
    /// Wall time, in milliseconds.
    pub elapsed_ms: u64,
}

impl ResultsFile {
    /// Creates a new results file for a run of `scenario` in `dir`.
    pub fn create(dir: &Path, scenario: &Scenario) -> Result<ResultsFile, TrialError> {
        fn io(
            what: &'static str,
            path: &Path,
        ) -> impl FnOnce(std::io::Error) -> TrialError + use<> {
            let path = path.to_owned();
            move |source| TrialError::Io { what, path, source }
        }
        std::fs::create_dir_all(dir).map_err(io("create results folder", dir))?;
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace([':', '-'], "");
        let mut n = 0;
        loop {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            let path = dir.join(format!("{}-{stamp}{suffix}.jsonl", scenario.name));
            match OpenOptions::new().append(true).create_new(true).open(&path) {
                Ok(file) => return Ok(ResultsFile { path, file }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                Err(e) => return Err(io("create results file", &path)(e)),
            }
        }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line and syncs it.
    pub fn append(
        &mut self,
        kind: &str,
        scenario: &Scenario,
        body: impl Serialize,
    ) -> Result<(), TrialError> {
        let line = Line {
            kind,
            scenario: &scenario.name,
            seed: scenario.seed,
            body,
        };
        let mut text = serde_json::to_string(&line).expect("results serialize");
        text.push('\n');
        let io = |source| TrialError::Io {
            what: "append to results file",
            path: self.path.clone(),
            source,
        };
        self.file.write_all(text.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}

/// A finding as written to the results file.
#[derive(Serialize)]
pub struct Finding<'a> {
    /// The trial's outcome.
    #[serde(flatten)]
    pub outcome: &'a TrialOutcome,
    /// Its case id.
    pub case: String,
    /// The command that reproduces it.
    pub repro: String,
    /// The crash run's boundaries in words, the kill last.
    pub timeline: &'a [String],
}

/// A failing trial in a few lines, for the terminal.
pub fn finding_lines(outcome: &TrialOutcome, repro: &str) -> String {
    let v = outcome.violation().expect("a finding has a violation");
    format!(
        "FAIL trial {} [{}] {}\n     fault: {}, kill at {}, damage: {}\n     repro: {repro}\n",
        outcome.trial,
        v.class,
        // A multi-line detail (a replay's stderr) stays inside the finding's block.
        v.detail.trim_end().replace('\n', "\n     | "),
        fault_name(outcome),
        outcome.kill_words(),
        outcome.damage
    )
}

fn fault_name(outcome: &TrialOutcome) -> &'static str {
    outcome.fault.name()
}

/// The readable account of one reproduced trial.
pub fn account(scenario: &Scenario, outcome: &TrialOutcome, detail: &TrialDetail) -> String {
    let mut s = String::new();
    let mut line = |text: String| {
        s.push_str(&text);
        s.push('\n');
    };
    line(format!(
        "trial {} of {} (seed {}), target {}",
        outcome.trial,
        scenario.path.display(),
        scenario.seed,
        target_name(scenario)
    ));
    let several = detail.sent.len() > 1;
    for (w, sent) in detail.sent.iter().enumerate() {
        let sizes: Vec<String> = sent.iter().map(|r| r.len().to_string()).collect();
        let who = if several {
            format!("writer {w}: ")
        } else {
            String::new()
        };
        line(format!(
            "{who}records sent: {} (payload sizes: {})",
            sent.len(),
            sizes.join(" ")
        ));
    }
    line(format!("fault: {}", fault_name(outcome)));
    line(format!(
        "traced: {} writer threads and processes",
        outcome.tracees
    ));
    line(format!(
        "boundaries: {} in the dry run; kill at {}",
        outcome.boundaries,
        outcome.kill_words()
    ));
    for b in &detail.boundaries {
        let mark = if outcome.kill.as_ref().is_some_and(|k| k.index == b.index) {
            "   <- SIGKILL before this call"
        } else {
            ""
        };
        let who = if several {
            format!("w{} ", b.writer)
        } else {
            String::new()
        };
        line(format!("  {:>4}  {who}{}{mark}", b.index, b.description));
    }
    line(format!("damage: {}", outcome.damage));
    let j = &outcome.judgement;
    for (w, stdout) in detail.writer_stdout.iter().enumerate() {
        let acks = stdout.iter().filter(|&&b| b == b'\n').count();
        let who = if several {
            format!("writer {w}: ")
        } else {
            String::new()
        };
        match acks {
            0 => line(format!("{who}acks received: none")),
            n => line(format!("{who}acks received: {n} (records 0..={})", n - 1)),
        }
    }
    line(format!(
        "must survive: {} acked records, of {} acked",
        j.required, j.acked
    ));
    match j.recovered {
        Some(n) => line(format!("replay returned: {n} records")),
        None => line("replay returned: no usable output".to_owned()),
    }
    if !detail.replay_stderr.trim().is_empty() {
        line(format!("replay stderr:\n{}", indent(&detail.replay_stderr)));
    }
    for (w, stderr) in detail.writer_stderr.iter().enumerate() {
        if !stderr.trim().is_empty() {
            let who = if several {
                format!("writer {w} ")
            } else {
                "writer ".to_owned()
            };
            line(format!("{who}stderr:\n{}", indent(stderr)));
        }
    }
    match outcome.violation() {
        Some(v) => line(format!("verdict: FAIL [{}] {}", v.class, v.detail)),
        None => line("verdict: pass".to_owned()),
    }
    s
}

/// The target's name for humans.
pub fn target_name(scenario: &Scenario) -> String {
    match &scenario.target.kind {
        crate::target::TargetKind::Builtin(wal) => wal.name().to_owned(),
        crate::target::TargetKind::Command { writer, .. } => writer.join(" "),
    }
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repro_command_quotes_only_what_needs_it() {
        let case = |text: &str| text.parse::<CaseId>().unwrap();
        assert_eq!(
            repro_command(&case("scenarios/a.toml@7/41")),
            "crashtest repro scenarios/a.toml@7/41"
        );
        assert_eq!(
            repro_command(&case("scenarios/a.toml@2/0/k5t512/ftorn")),
            "crashtest repro scenarios/a.toml@2/0/k5t512/ftorn"
        );
        assert_eq!(
            repro_command(&case("my dir/a.toml@1/0")),
            "crashtest repro 'my dir/a.toml@1/0'"
        );
    }
}
