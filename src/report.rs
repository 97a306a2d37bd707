//! Results on disk and on the terminal.
//!
//! A run appends to `results/NAME-TIMESTAMP.jsonl`: one `run` line, one `finding` line per
//! failing trial as soon as it is judged, then one `summary` line. Each line is written
//! whole, flushed and synced, so a run that is interrupted (or crashes) keeps every finding
//! it made before. Every finding carries the command that reproduces it.
//!
//! Why the file survives a crash at any byte (crashtest checks this of itself: the
//! built-in target `results` and `scenarios/results-writer.toml`):
//! 1. each append is one `write` of a whole line ending in `\n`, then `fdatasync`, so a
//!    crash leaves at most one torn line, and only at the end;
//! 2. [`read_results`] names what it found ([`ReadStatus`]): a last line without its `\n`,
//!    or one that does not parse, is a cut-short tail, not an error;
//! 3. [`ResultsFile::open_append`] cuts such a tail off (ftruncate + fsync) before its first
//!    append, so a new line never glues onto a torn one;
//! 4. creating the file (and any folder on the way) fsyncs the folder that names it, so a
//!    power loss cannot take the whole file;
//! 5. the summary file is written whole or not at all: temp file, fsync, rename, fsync of
//!    the folder.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
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
    /// When the oldest line written but not yet synced was written.
    unsynced: Option<std::time::Instant>,
}

/// How long a line of a passing trial may stay unsynced (it is in the page cache, so only
/// a power loss, not a crash of crashtest, can lose it).
const SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

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

/// What [`read_results`] found at the end of a results file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStatus {
    /// Every line is whole: it ends in `\n` and parses as JSON.
    Complete,
    /// The last line is torn: it has no `\n`, or it does not parse. A crash while
    /// appending leaves this; the whole lines before it are good.
    CutShort {
        /// The byte offset just after the last whole line: where the file should be cut.
        last_good: u64,
    },
    /// A line that does not parse is followed by more lines: not a crash's work.
    Corrupt {
        /// Where the bad line starts.
        offset: u64,
        /// Its line number, from 1.
        line: usize,
    },
}

/// The whole lines of the results file at `path`, and how the file ended. Blank lines are
/// skipped. Stops at a torn last line ([`ReadStatus::CutShort`]) or at a bad line that
/// more lines follow ([`ReadStatus::Corrupt`]); the lines before either are returned.
pub fn read_results(path: &Path) -> io::Result<(Vec<serde_json::Value>, ReadStatus)> {
    Ok(scan_lines(&std::fs::read(path)?))
}

/// [`read_results`] on the file's bytes.
fn scan_lines(bytes: &[u8]) -> (Vec<serde_json::Value>, ReadStatus) {
    let mut values = Vec::new();
    let (mut at, mut line) = (0, 0);
    let status = loop {
        line += 1;
        let rest = &bytes[at..];
        if rest.is_empty() {
            break ReadStatus::Complete;
        }
        let Some(len) = rest.iter().position(|&b| b == b'\n') else {
            break cut_short(at);
        };
        let text = &rest[..len];
        let next = at + len + 1;
        if !text.iter().all(u8::is_ascii_whitespace) {
            match serde_json::from_slice(text) {
                Ok(value) => values.push(value),
                Err(_) if next == bytes.len() => break cut_short(at),
                Err(_) => {
                    let offset = at as u64;
                    break ReadStatus::Corrupt { offset, line };
                }
            }
        }
        at = next;
    };
    (values, status)
}

fn cut_short(at: usize) -> ReadStatus {
    ReadStatus::CutShort {
        last_good: at as u64,
    }
}

/// fsyncs the folder `dir`, so that the names in it are durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The folder that holds `path` (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> TrialError + use<> {
    let path = path.to_owned();
    move |source| TrialError::Io { what, path, source }
}

impl ResultsFile {
    /// Creates a new results file for a run of `scenario` in `dir` (creating `dir` if
    /// needed), and fsyncs each folder whose new entry it made, so the file survives a
    /// power loss from its first line on.
    pub fn create(dir: &Path, scenario: &Scenario) -> Result<ResultsFile, TrialError> {
        create_dir_durably(dir).map_err(io_error("create results folder", dir))?;
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
                Ok(file) => {
                    sync_dir(dir).map_err(io_error("sync results folder", dir))?;
                    return Ok(ResultsFile {
                        path,
                        file,
                        unsynced: None,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                Err(e) => return Err(io_error("create results file", &path)(e)),
            }
        }
    }

    /// Opens the results file at `path` to append to it, creating it if needed. A torn
    /// last line (a crash while appending, [`ReadStatus::CutShort`]) is cut off first
    /// (ftruncate + fsync), so the next line starts on a line of its own; a corrupt file
    /// ([`ReadStatus::Corrupt`]) is refused. The folder is fsynced whether or not this call
    /// created the file: whoever did may not have synced it yet.
    pub fn open_append(path: &Path) -> Result<ResultsFile, TrialError> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_error("open results file", path))?;
        let dir = parent(path);
        sync_dir(dir).map_err(io_error("sync results folder", dir))?;
        let mut bytes = Vec::new();
        (&file)
            .read_to_end(&mut bytes)
            .map_err(io_error("read results file", path))?;
        match scan_lines(&bytes).1 {
            ReadStatus::Complete => {}
            ReadStatus::CutShort { last_good } => file
                .set_len(last_good)
                .and_then(|()| file.sync_all())
                .map_err(io_error("cut the torn tail of results file", path))?,
            ReadStatus::Corrupt { offset, line } => {
                return Err(io_error("append to results file", path)(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("line {line} (offset {offset}) is not JSON and more lines follow it"),
                )));
            }
        }
        Ok(ResultsFile {
            path: path.to_owned(),
            file,
            unsynced: None,
        })
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
        self.append_line(&Line {
            kind,
            scenario: &scenario.name,
            seed: scenario.seed,
            body,
        })
    }

    /// Appends `value` as one line: one `write` of the whole line, then `fdatasync`
    /// (which also makes every line before it durable).
    pub fn append_line(&mut self, value: &impl Serialize) -> Result<(), TrialError> {
        self.write_line(value)?;
        self.sync()
    }

    /// Appends one line like [`ResultsFile::append`], without waiting for it to be synced:
    /// it reaches the file at once (a crash of crashtest cannot lose it), and the disk with
    /// the next synced line, or within a second. For the lines of passing trials,
    /// which are many: an fdatasync each would bound a run at the disk's sync rate.
    pub fn append_unsynced(
        &mut self,
        kind: &str,
        scenario: &Scenario,
        body: impl Serialize,
    ) -> Result<(), TrialError> {
        self.write_line(&Line {
            kind,
            scenario: &scenario.name,
            seed: scenario.seed,
            body,
        })?;
        let now = std::time::Instant::now();
        match self.unsynced {
            Some(since) if now.duration_since(since) >= SYNC_EVERY => self.sync(),
            Some(_) => Ok(()),
            None => {
                self.unsynced = Some(now);
                Ok(())
            }
        }
    }

    /// Makes every line written so far durable.
    pub fn sync(&mut self) -> Result<(), TrialError> {
        self.file
            .sync_data()
            .map_err(io_error("sync results file", &self.path))?;
        self.unsynced = None;
        Ok(())
    }

    /// One `write` of `value`'s line.
    fn write_line(&mut self, value: &impl Serialize) -> Result<(), TrialError> {
        let mut text = serde_json::to_string(value).expect("results serialize");
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .map_err(io_error("append to results file", &self.path))
    }

    /// Where [`ResultsFile::write_summary_file`] writes: `<stem>.summary.json` beside the
    /// results file.
    pub fn summary_path(&self) -> PathBuf {
        let stem = self.path.file_stem().unwrap_or_default().to_string_lossy();
        self.path.with_file_name(format!("{stem}.summary.json"))
    }

    /// Writes `summary` to [`ResultsFile::summary_path`] atomically: a temp file in the same
    /// folder, written and fsynced, renamed over the target, then the folder fsynced. A
    /// crash leaves the old file or the new one, never a part of either.
    pub fn write_summary_file(&self, summary: &impl Serialize) -> io::Result<PathBuf> {
        let path = self.summary_path();
        let dir = parent(&path);
        let mut text = serde_json::to_string_pretty(summary).map_err(io::Error::other)?;
        text.push('\n');
        let mut temp = tempfile::Builder::new()
            .prefix(".summary-")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        temp.write_all(text.as_bytes())?;
        temp.as_file().sync_all()?;
        temp.persist(&path).map_err(|e| e.error)?;
        sync_dir(dir)?;
        Ok(path)
    }
}

/// `create_dir_all(dir)`, then an fsync of the parent of each folder it made, so that
/// they outlive a power loss.
fn create_dir_durably(dir: &Path) -> io::Result<()> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
        .collect();
    std::fs::create_dir_all(dir)?;
    missing.iter().try_for_each(|made| sync_dir(parent(made)))
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
    let kept = outcome
        .kept
        .as_ref()
        .map(|p| format!("     kept: {}\n", p.display()))
        .unwrap_or_default();
    format!(
        "FAIL trial {} [{}] {}\n     fault: {}, kill at {}, damage: {}\n     repro: {repro}\n{kept}",
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
    let several = detail.sent.streams().len() > 1;
    for (w, sent) in detail.sent.streams().iter().enumerate() {
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
    for b in detail.boundaries.iter() {
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
        let acks = stdout.newlines();
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

    fn results_file(lines: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, lines).unwrap();
        (dir, path)
    }

    fn read(lines: &[u8]) -> (Vec<serde_json::Value>, ReadStatus) {
        let (_dir, path) = results_file(lines);
        read_results(&path).unwrap()
    }

    #[test]
    fn read_results_names_each_way_a_file_can_end() {
        let whole = b"{\"a\":1}\n\n{\"a\":2}\n";
        let (values, status) = read(whole);
        assert_eq!(
            values,
            [serde_json::json!({"a": 1}), serde_json::json!({"a": 2})]
        );
        assert_eq!(status, ReadStatus::Complete);
        assert_eq!(read(b""), (vec![], ReadStatus::Complete));

        let cut = ReadStatus::CutShort { last_good: 17 };
        // Torn inside the last line, or just before its newline: valid JSON is not enough.
        assert_eq!(read(&[&whole[..], b"{\"a\":"].concat()).1, cut);
        assert_eq!(read(&[&whole[..], b"{\"a\":3}"].concat()).1, cut);
        // A zero-filled tail, with or without a newline after it.
        assert_eq!(read(&[&whole[..], &[0; 12]].concat()).1, cut);
        let (values, status) = read(&[&whole[..], &[0; 12], b"\n"].concat());
        assert_eq!((values.len(), status), (2, cut));

        let (values, status) = read(b"{\"a\":1}\n{\"a\n{\"a\":3}\n");
        assert_eq!(values, [serde_json::json!({"a": 1})]);
        assert_eq!(status, ReadStatus::Corrupt { offset: 8, line: 2 });
    }

    #[test]
    fn an_unsynced_line_is_in_the_file_at_once() {
        let (_dir, path) = results_file(b"");
        let mut file = ResultsFile::open_append(&path).unwrap();
        let scenario: Scenario = crate::scenario::Scenario::parse(
            "name = \"x\"\n[target]\nbuiltin = \"crc\"\n",
            Path::new("x.toml"),
        )
        .unwrap();
        file.append_unsynced("trial", &scenario, serde_json::json!({"trial": 0}))
            .unwrap();
        assert!(file.unsynced.is_some(), "waits for the next sync");
        // Another open of the file sees it: a crash of crashtest now loses nothing.
        let (values, _) = read_results(&path).unwrap();
        assert_eq!(values[0]["trial"], 0);
        file.append("finding", &scenario, serde_json::json!({}))
            .unwrap();
        assert!(
            file.unsynced.is_none(),
            "a synced line syncs the ones before it"
        );
    }

    #[test]
    fn open_append_cuts_a_torn_tail_before_appending() {
        let (_dir, path) = results_file(b"{\"a\":1}\n{\"type\":\"fin");
        let mut file = ResultsFile::open_append(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n", "cut at once");
        file.append_line(&serde_json::json!({"a": 2})).unwrap();
        drop(file);
        let (values, status) = read_results(&path).unwrap();
        assert_eq!(status, ReadStatus::Complete);
        assert_eq!(
            values,
            [serde_json::json!({"a": 1}), serde_json::json!({"a": 2})]
        );

        let missing = path.with_file_name("new.jsonl");
        ResultsFile::open_append(&missing).unwrap();
        assert_eq!(std::fs::read(&missing).unwrap(), b"", "created empty");
    }

    #[test]
    fn open_append_refuses_a_corrupt_file_and_leaves_it_alone() {
        let corrupt = b"{\"a\":1}\nnot json\n{\"a\":3}\n";
        let (_dir, path) = results_file(corrupt);
        let err = ResultsFile::open_append(&path).unwrap_err();
        let words = crate::errors::chain(&err);
        assert!(words.contains("line 2 (offset 8)"), "{words}");
        assert_eq!(std::fs::read(&path).unwrap(), corrupt);
    }

    #[test]
    fn create_makes_missing_folders_and_a_fresh_file() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = Scenario::parse(
            "name = \"s\"\n[target]\nbuiltin = \"crc\"\n",
            Path::new("s.toml"),
        )
        .unwrap();
        let results = dir.path().join("a/b");
        let mut file = ResultsFile::create(&results, &scenario).unwrap();
        file.append("run", &scenario, serde_json::json!({"trials": 1}))
            .unwrap();
        let (values, status) = read_results(file.path()).unwrap();
        assert_eq!(status, ReadStatus::Complete);
        assert_eq!(values[0]["type"], "run");
        assert_eq!(values[0]["scenario"], "s");
        let second = ResultsFile::create(&results, &scenario).unwrap();
        assert_ne!(second.path(), file.path());
    }

    #[test]
    fn write_summary_file_replaces_the_summary_whole_beside_the_results() {
        let (dir, path) = results_file(b"");
        let file = ResultsFile::open_append(&path).unwrap();
        let first = Summary {
            trials: 3,
            ..Summary::default()
        };
        let written = file.write_summary_file(&first).unwrap();
        assert_eq!(written, dir.path().join("r.summary.json"));
        let read = |p: &Path| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
        };
        assert_eq!(read(&written)["trials"], 3);
        let second = Summary {
            trials: 7,
            ..Summary::default()
        };
        assert_eq!(file.write_summary_file(&second).unwrap(), written);
        assert_eq!(read(&written)["trials"], 7);
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["r.jsonl", "r.summary.json"], "no temp file is left");
    }

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
