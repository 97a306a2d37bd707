//! The verdict on one trial: what the replay returned against what was sent and acked.
//!
//! Protocol v1's demands, in the order they are checked:
//! 1. the writer spoke the protocol (acks are `0, 1, 2, ...`, one a line) and did not hang;
//! 2. replay exited 0 within the timeout;
//! 3. safety: the recovered records are a byte-exact prefix of the records sent;
//! 4. durability: every acked record that the fault cannot excuse was recovered. A SIGKILL
//!    excuses nothing; a truncation of file F at offset t excuses the records acked while
//!    F was longer than t (their bytes may lie past t). The size of F at the ack comes from
//!    the tracer, which stopped the writer at the write of that ack.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::faults::Damage;
use crate::process::{Captured, Finished};
use crate::target::Durability;
use crate::tracer::{AckMark, WriterEnd};

/// Why a trial failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Replay exited non-zero or died of a signal: the log cannot be recovered.
    ReplayFailed,
    /// Replay did not finish within the timeout.
    ReplayHang,
    /// Replay returned a record that was never sent at that position: corrupted,
    /// reordered, duplicated or invented.
    NotAPrefix,
    /// An acknowledged record that the fault cannot excuse was not recovered.
    LostAck,
    /// The writer did not finish within the timeout.
    Hang,
    /// The target broke protocol v1 (a bad ack, a non-hex replay line, a writer that
    /// failed by itself): a bug in the target or its adapter, not a crash finding.
    TargetError,
}

impl Class {
    /// The class's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::ReplayFailed => "replay-failed",
            Class::ReplayHang => "replay-hang",
            Class::NotAPrefix => "not-a-prefix",
            Class::LostAck => "lost-ack",
            Class::Hang => "hang",
            Class::TargetError => "target-error",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed check: its class and what exactly was seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The class.
    pub class: Class,
    /// What was seen, in words.
    pub detail: String,
}

/// Everything the oracle judges, from one trial.
#[derive(Debug)]
pub struct Evidence<'a> {
    /// The records sent to the writer.
    pub sent: &'a [Vec<u8>],
    /// What the target's acks promise.
    pub durability: Durability,
    /// The writer's stdout (its acks).
    pub stdout: &'a [u8],
    /// The writer's stderr.
    pub stderr: &'a Captured,
    /// The file sizes at each write to stdout, from the tracer.
    pub marks: &'a [AckMark],
    /// How the writer ended.
    pub end: &'a WriterEnd,
    /// What the fault did to the files.
    pub damage: &'a Damage,
    /// The replay's run.
    pub replay: &'a Finished,
}

/// The oracle's findings on one trial.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    /// Records acked before the crash.
    pub acked: u64,
    /// Acked records the fault could not excuse: replay must return at least these.
    pub required: u64,
    /// Records the replay returned (None when its output could not be read).
    pub recovered: Option<u64>,
    /// The failed check, if any.
    pub violation: Option<Violation>,
}

/// Judges one trial.
pub fn judge(ev: &Evidence<'_>) -> Judgement {
    let mut j = Judgement {
        acked: 0,
        required: 0,
        recovered: None,
        violation: None,
    };
    let fail = |class, detail: String| Some(Violation { class, detail });
    let acks = match parse_acks(ev.stdout, ev.sent.len()) {
        Ok(acks) => acks,
        Err(detail) => {
            j.violation = fail(Class::TargetError, detail);
            return j;
        }
    };
    let marks: Vec<Option<&AckMark>> = acks
        .iter()
        .map(|&end| mark_for(ev.marks, end as u64))
        .collect();
    j.acked = acks.len() as u64;
    j.required = required(&marks, ev) as u64;
    match ev.end {
        WriterEnd::TimedOut => {
            j.violation = fail(
                Class::Hang,
                "the writer made no progress within the timeout and was killed".into(),
            );
            return j;
        }
        WriterEnd::Exited { code } if *code != 0 => {
            j.violation = fail(
                Class::TargetError,
                format!(
                    "the writer exited with status {code}: {}",
                    ev.stderr.tail(400).trim_end()
                ),
            );
            return j;
        }
        WriterEnd::Signaled { signal } => {
            j.violation = fail(
                Class::TargetError,
                format!(
                    "the writer died of {signal}: {}",
                    ev.stderr.tail(400).trim_end()
                ),
            );
            return j;
        }
        _ => {}
    }
    let Some(status) = ev.replay.status else {
        j.violation = fail(
            Class::ReplayHang,
            "replay did not finish within the timeout and was killed".into(),
        );
        return j;
    };
    if !status.success() {
        let stderr = ev.replay.stderr.tail(400);
        j.violation = fail(
            Class::ReplayFailed,
            format!("replay {status}: {}", stderr.trim_end()),
        );
        return j;
    }
    let recovered = match parse_records(&ev.replay.stdout) {
        Ok(r) => r,
        Err(detail) => {
            j.violation = fail(Class::TargetError, detail);
            return j;
        }
    };
    j.recovered = Some(recovered.len() as u64);
    for (i, got) in recovered.iter().enumerate() {
        match ev.sent.get(i) {
            None => {
                j.violation = fail(
                    Class::NotAPrefix,
                    format!(
                        "replay returned {} records but only {} were sent",
                        recovered.len(),
                        ev.sent.len()
                    ),
                );
                return j;
            }
            Some(sent) if sent != got => {
                j.violation = fail(
                    Class::NotAPrefix,
                    format!(
                        "record {i} differs: sent {} bytes {}, recovered {} bytes {}",
                        sent.len(),
                        short_hex(sent),
                        got.len(),
                        short_hex(got)
                    ),
                );
                return j;
            }
            Some(_) => {}
        }
    }
    if (recovered.len() as u64) < j.required {
        let i = recovered.len();
        let at = match ev.damage {
            Damage::Truncate { file, .. } => marks[i]
                .map(|m| {
                    format!(
                        " ({file} was {} bytes at its ack)",
                        m.sizes.get(file).copied().unwrap_or(0)
                    )
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        j.violation = fail(
            Class::LostAck,
            format!(
                "record {i} was acked{at} but replay returned only {} of the {} records that must survive",
                recovered.len(),
                j.required
            ),
        );
    }
    j
}

/// The acks in the writer's stdout: for each, the tracer's mark of the write that carried
/// it. A partial last line (the writer died mid-line) is not an ack.
fn parse_acks(stdout: &[u8], sent: usize) -> Result<Vec<usize>, String> {
    let mut ends = Vec::new();
    let mut at = 0;
    for (n, line) in stdout.split_inclusive(|&b| b == b'\n').enumerate() {
        at += line.len();
        let Some(text) = line.strip_suffix(b"\n") else {
            break;
        };
        let text = String::from_utf8_lossy(text);
        let expected = ends.len();
        match text.trim().parse::<usize>() {
            Ok(i) if i == expected && i < sent => ends.push(at),
            Ok(i) if i >= sent => {
                return Err(format!(
                    "ack line {}: '{text}' acks record {i}, but only {sent} were sent",
                    n + 1
                ));
            }
            Ok(_) => {
                return Err(format!(
                    "ack line {}: '{text}' is out of order, expected {expected}",
                    n + 1
                ));
            }
            Err(_) => {
                return Err(format!(
                    "ack line {}: '{text}' is not a record index",
                    n + 1
                ));
            }
        }
    }
    Ok(ends)
}

fn required(marks: &[Option<&AckMark>], ev: &Evidence<'_>) -> usize {
    let excused = |mark: Option<&AckMark>| match ev.damage {
        Damage::Truncate { file, offset, .. } => match mark {
            Some(m) => m.sizes.get(file).copied().unwrap_or(0) > *offset,
            None => true,
        },
        Damage::None | Damage::NoFile => false,
    };
    if ev.durability == Durability::None {
        return 0;
    }
    // Records survive in order: the first excused ack excuses every later one too.
    marks.iter().take_while(|m| !excused(**m)).count()
}

/// The mark of the stdout write that carried the byte just before `end`.
fn mark_for(marks: &[AckMark], end: u64) -> Option<&AckMark> {
    marks.iter().find(|m| m.stream_end >= end)
}

fn parse_records(stdout: &Captured) -> Result<Vec<Vec<u8>>, String> {
    if stdout.overflowed {
        return Err(format!(
            "replay printed more than {} bytes",
            stdout.bytes.len()
        ));
    }
    let mut text = stdout.bytes.as_slice();
    if let Some(t) = text.strip_suffix(b"\n") {
        text = t;
    } else if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(|&b| b == b'\n')
        .enumerate()
        .map(|(n, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            hex::decode(line).map_err(|e| {
                format!(
                    "replay line {}: '{}' is not a record in hex ({e})",
                    n + 1,
                    String::from_utf8_lossy(&line[..line.len().min(80)])
                )
            })
        })
        .collect()
}

fn short_hex(bytes: &[u8]) -> String {
    if bytes.len() <= 16 {
        hex::encode(bytes)
    } else {
        format!("{}...", hex::encode(&bytes[..16]))
    }
}
