//! Joining results files: the shards of one run (or several runs) into one verdict, and
//! the JUnit and HTML renderings of results.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

/// What can go wrong reading or writing results files.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A results file could not be read.
    #[error("failed to read results at {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not JSON (a file cut short by a crash ends in a partial line, which is
    /// skipped, not this).
    #[error("{}:{line}: not a results line: {why}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: usize,
        /// The parser's words.
        why: String,
    },
    /// The shards given do not make a whole run.
    #[error("{0}")]
    Shards(String),
    /// An output could not be written.
    #[error("failed to write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Every line of `files`, in order, with each `shrunk` line folded into its finding (as
/// the finding's `shrunk` field). A last line without its newline (a run killed while
/// writing it) is skipped.
///
/// Files are read as bytes and each complete line is checked for UTF-8 on its own: a run
/// killed mid-line can cut a character in two (details hold non-ASCII text), and that
/// partial last line must not make the whole file unreadable.
pub fn read_lines(files: &[PathBuf]) -> Result<Vec<Value>, MergeError> {
    let mut lines = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).map_err(|source| MergeError::Read {
            path: path.clone(),
            source,
        })?;
        let complete = bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(&[][..], |end| &bytes[..end]);
        for (n, line) in complete.split(|&b| b == b'\n').enumerate() {
            let line = std::str::from_utf8(line).map_err(|e| MergeError::Parse {
                path: path.clone(),
                line: n + 1,
                why: format!("not UTF-8 text ({e})"),
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(line).map_err(|e| MergeError::Parse {
                path: path.clone(),
                line: n + 1,
                why: e.to_string(),
            })?;
            lines.push(value);
        }
    }
    Ok(collate(lines))
}

fn collate(lines: Vec<Value>) -> Vec<Value> {
    let shrunk: BTreeMap<String, Value> = lines
        .iter()
        .filter(|l| l["type"] == "shrunk")
        .filter_map(|l| Some((l["case"].as_str()?.to_owned(), l["shrunk"].clone())))
        .collect();
    lines
        .into_iter()
        .filter(|l| l["type"] != "shrunk")
        .map(|mut l| {
            if l["type"] == "finding"
                && let Some(s) = l["case"].as_str().and_then(|c| shrunk.get(c))
            {
                l["shrunk"] = s.clone();
            }
            l
        })
        .collect()
}

/// The merged verdict of results files.
#[derive(Debug)]
pub struct Merged {
    /// Whether every scenario met its expectation.
    pub met: bool,
    /// The summary, for the terminal.
    pub text: String,
}

/// Joins results files: per scenario (and seed), the trials, failures and classes of all
/// its files, and whether it met its `expect`. Shards must be whole: for N shards, each
/// of 1..=N exactly once.
pub fn merge(files: &[PathBuf]) -> Result<Merged, MergeError> {
    let lines = read_lines(files)?;
    #[derive(Default)]
    struct Acc {
        expect: String,
        trials: u64,
        failed: u64,
        findings: u64,
        classes: BTreeMap<String, u64>,
        shards: Vec<String>,
        interrupted: bool,
    }
    let mut runs: BTreeMap<(String, u64), Acc> = BTreeMap::new();
    for l in &lines {
        let key = (
            l["scenario"].as_str().unwrap_or("?").to_owned(),
            l["seed"].as_u64().unwrap_or(0),
        );
        let acc = runs.entry(key).or_default();
        match l["type"].as_str() {
            Some("run") => {
                acc.expect = l["expect"].as_str().unwrap_or("pass").to_owned();
                acc.shards
                    .push(l["shard"].as_str().unwrap_or("1/1").to_owned());
            }
            Some("summary") => {
                acc.trials += l["trials"].as_u64().unwrap_or(0);
                acc.failed += l["failed"].as_u64().unwrap_or(0);
                acc.interrupted |= l["interrupted"].as_bool().unwrap_or(false);
                for (class, n) in l["classes"].as_object().into_iter().flatten() {
                    *acc.classes.entry(class.clone()).or_default() += n.as_u64().unwrap_or(0);
                    if class != "target-error" {
                        acc.findings += n.as_u64().unwrap_or(0);
                    }
                }
            }
            _ => {}
        }
    }
    let mut text = String::new();
    let mut met_all = true;
    for ((scenario, seed), acc) in &runs {
        check_shards(scenario, &acc.shards)?;
        let met = !acc.interrupted
            && match acc.expect.as_str() {
                "fail" => acc.findings > 0,
                _ => acc.failed == 0,
            };
        met_all &= met;
        let classes: Vec<String> = acc
            .classes
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        text.push_str(&format!(
            "{} {scenario} (seed {seed}, {} file(s)): {} trials, {} failed{}, expect {}\n",
            if met { "OK" } else { "NOT OK" },
            acc.shards.len(),
            acc.trials,
            acc.failed,
            if classes.is_empty() {
                String::new()
            } else {
                format!(" ({})", classes.join(", "))
            },
            acc.expect
        ));
    }
    if runs.is_empty() {
        return Err(MergeError::Shards("no run in the files given".into()));
    }
    Ok(Merged { met: met_all, text })
}

/// For sharded files, each shard 1..=N of one N exactly once.
fn check_shards(scenario: &str, shards: &[String]) -> Result<(), MergeError> {
    let parsed: Vec<(u64, u64)> = shards
        .iter()
        .filter_map(|s| {
            s.split_once('/')
                .and_then(|(k, n)| Some((k.parse().ok()?, n.parse().ok()?)))
        })
        .collect();
    let ns: BTreeSet<u64> = parsed.iter().map(|&(_, n)| n).collect();
    if ns.len() != 1 || ns.contains(&1) {
        // Unsharded runs (1/1), possibly several: nothing to check.
        return if ns.len() > 1 {
            Err(MergeError::Shards(format!(
                "{scenario}: files of differently sharded runs: {}",
                shards.join(", ")
            )))
        } else {
            Ok(())
        };
    }
    let n = *ns.iter().next().expect("one");
    let ks: Vec<u64> = parsed.iter().map(|&(k, _)| k).collect();
    let missing: Vec<String> = (1..=n)
        .filter(|k| !ks.contains(k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    let twice = ks.len() as u64 != ks.iter().collect::<BTreeSet<_>>().len() as u64;
    if !missing.is_empty() || twice {
        return Err(MergeError::Shards(format!(
            "{scenario}: the shards do not make a whole run: missing {}{}",
            if missing.is_empty() {
                "none".to_owned()
            } else {
                missing.join(", ")
            },
            if twice {
                ", and a shard given twice"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

/// JUnit XML of results lines.
pub fn junit(lines: &[Value]) -> String {
    crate::junit::render(lines)
}

/// The HTML report of results lines.
pub fn html(lines: &[Value]) -> String {
    crate::html::render(lines)
}
