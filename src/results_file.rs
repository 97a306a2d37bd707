//! The crash-safe results file: how lines reach the disk, and how they are read back.
//!
//! A run appends to `results/NAME-TIMESTAMP.jsonl`: one `run` line, a `trial` line per
//! trial and a `finding` line per failing trial as soon as it is judged, then one `summary`
//! line (the lines are [`crate::report::lines::Line`]). Each line is written whole, so a
//! run that is interrupted (or crashes) keeps every finding it made before. This module
//! knows lines only as JSON values: what they mean is `report::lines`'s business, so the
//! dogfood target `wal::results` can use the writer without the report.
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

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::errors::TrialError;

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
    /// Creates a new results file `NAME-TIMESTAMP.jsonl` for a run of the scenario `name`
    /// in `dir` (creating `dir` if needed), and fsyncs each folder whose new entry it made,
    /// so the file survives a power loss from its first line on.
    pub fn create(dir: &Path, name: &str) -> Result<ResultsFile, TrialError> {
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
            let path = dir.join(format!("{name}-{stamp}{suffix}.jsonl"));
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

    /// Appends `value` as one line: one `write` of the whole line, then `fdatasync`
    /// (which also makes every line before it durable).
    pub fn append_line(&mut self, value: &impl Serialize) -> Result<(), TrialError> {
        self.write_line(value)?;
        self.sync()
    }

    /// Appends `value` as one line without waiting for it to be synced: it reaches the
    /// file at once (a crash of crashtest cannot lose it), and the disk with the next
    /// synced line, or within a second. For the lines of passing trials, which are many:
    /// an fdatasync each would bound a run at the disk's sync rate.
    pub fn append_unsynced(&mut self, value: &impl Serialize) -> Result<(), TrialError> {
        self.write_line(value)?;
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
        file.append_unsynced(&serde_json::json!({"trial": 0}))
            .unwrap();
        assert!(file.unsynced.is_some(), "waits for the next sync");
        // Another open of the file sees it: a crash of crashtest now loses nothing.
        let (values, _) = read_results(&path).unwrap();
        assert_eq!(values[0]["trial"], 0);
        file.append_line(&serde_json::json!({})).unwrap();
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
        let results = dir.path().join("a/b");
        let mut file = ResultsFile::create(&results, "s").unwrap();
        file.append_line(&serde_json::json!({"type": "run", "scenario": "s"}))
            .unwrap();
        let (values, status) = read_results(file.path()).unwrap();
        assert_eq!(status, ReadStatus::Complete);
        assert_eq!(values[0]["type"], "run");
        assert_eq!(values[0]["scenario"], "s");
        assert!(
            file.path()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("s-")
        );
        let second = ResultsFile::create(&results, "s").unwrap();
        assert_ne!(second.path(), file.path());
    }

    #[test]
    fn write_summary_file_replaces_the_summary_whole_beside_the_results() {
        let (dir, path) = results_file(b"");
        let file = ResultsFile::open_append(&path).unwrap();
        let first = serde_json::json!({"trials": 3});
        let written = file.write_summary_file(&first).unwrap();
        assert_eq!(written, dir.path().join("r.summary.json"));
        let read = |p: &Path| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
        };
        assert_eq!(read(&written)["trials"], 3);
        let second = serde_json::json!({"trials": 7});
        assert_eq!(file.write_summary_file(&second).unwrap(), written);
        assert_eq!(read(&written)["trials"], 7);
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["r.jsonl", "r.summary.json"], "no temp file is left");
    }
}
