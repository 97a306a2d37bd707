//! What the oracle's unit tests share: each test builds one trial's evidence by hand and
//! pins what `judge()` says about it. Records hold NUL, newline and 0xff bytes, as the
//! protocol promises real ones will.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use super::evidence::{Evidence, WriterEvidence};
use super::judge::judge;
use super::verdict::{Class, Judgement};
use crate::faults::Damage;
use crate::process::{Captured, Finished, Limits};
use crate::protocol::{self, Durability};
use crate::spill::Spill;
use crate::tracer::{AckMark, WriterEnd};

/// Record `i` of every trial: distinct, and not line- or text-safe.
pub(super) fn rec(i: usize) -> Vec<u8> {
    let mut r = vec![0, b'\n', 0xff];
    r.extend(format!("record {i}").bytes());
    r
}

pub(super) fn captured(text: &str) -> Captured {
    Captured::new(text.as_bytes().to_vec(), false)
}

/// One trial's evidence, owned, so that a test reads as one scenario of chained calls.
pub(super) struct Trial {
    pub(super) sent: Vec<Vec<u8>>,
    durability: Durability,
    stdout: Vec<u8>,
    stderr: Captured,
    marks: Vec<AckMark>,
    end: WriterEnd,
    damage: Damage,
    pub(super) replay: Finished,
    limits: Limits,
}

impl Trial {
    /// `records` sent, nothing acked, SIGKILLed at a boundary, no damage, and a
    /// replay that exits 0 printing nothing.
    pub(super) fn sending(records: Vec<Vec<u8>>) -> Trial {
        Trial {
            sent: records,
            durability: Durability::Process,
            stdout: Vec::new(),
            stderr: Captured::default(),
            marks: Vec::new(),
            end: WriterEnd::Killed { boundary: 7 },
            damage: Damage::None,
            replay: Finished {
                status: Some(ExitStatus::from_raw(0)),
                stdout: Captured::default(),
                stderr: Captured::default(),
            },
            limits: Limits::default(),
        }
    }

    /// Records `rec(0) .. rec(n)` sent.
    pub(super) fn sent(n: usize) -> Trial {
        Trial::sending((0..n).map(rec).collect())
    }

    /// One traced write of `text` to stdout, made while wal.log was `wal_size` bytes.
    pub(super) fn write(mut self, text: &str, wal_size: u64) -> Trial {
        self.stdout.extend_from_slice(text.as_bytes());
        self.marks.push(AckMark {
            stream_end: self.stdout.len() as u64,
            after: 0,
            sizes: BTreeMap::from([("wal.log".to_owned(), wal_size)]),
        });
        self
    }

    /// Bytes on stdout that the tracer has no mark for.
    pub(super) fn untraced(mut self, text: &str) -> Trial {
        self.stdout.extend_from_slice(text.as_bytes());
        self
    }

    /// Acks records `0..n`, each in its own write; wal.log is `10 * (i + 1)` bytes at
    /// ack `i`.
    pub(super) fn acks(mut self, n: usize) -> Trial {
        for i in 0..n {
            self = self.write(&format!("{i}\n"), 10 * (i as u64 + 1));
        }
        self
    }

    /// Replay prints `records`, one hex line each.
    pub(super) fn replays(mut self, records: &[Vec<u8>]) -> Trial {
        let text: String = records.iter().map(|r| protocol::encode(r) + "\n").collect();
        self.replay.stdout = captured(&text);
        self
    }

    /// Replay prints the first `k` records sent.
    pub(super) fn replays_prefix(self, k: usize) -> Trial {
        let records = self.sent[..k].to_vec();
        self.replays(&records)
    }

    /// Replay prints exactly `text`.
    pub(super) fn replay_stdout(mut self, text: &str) -> Trial {
        self.replay.stdout = captured(text);
        self
    }

    pub(super) fn replay_ends(mut self, status: Option<ExitStatus>, stderr: &str) -> Trial {
        self.replay.status = status;
        self.replay.stderr = captured(stderr);
        self
    }

    /// wal.log was cut to `offset` bytes after the kill.
    pub(super) fn truncate(self, offset: u64) -> Trial {
        self.truncate_file("wal.log", offset)
    }

    pub(super) fn truncate_file(mut self, file: &str, offset: u64) -> Trial {
        let size = self
            .marks
            .iter()
            .filter_map(|m| m.sizes.get(file).copied())
            .max()
            .unwrap_or(0)
            .max(offset);
        self.damage = Damage::Truncate {
            file: file.to_owned(),
            size,
            offset,
        };
        self
    }

    pub(super) fn damage(mut self, damage: Damage) -> Trial {
        self.damage = damage;
        self
    }

    pub(super) fn durability(mut self, durability: Durability) -> Trial {
        self.durability = durability;
        self
    }

    /// The target ran within `limits` (default: [`Limits::default`]).
    pub(super) fn limits(mut self, limits: Limits) -> Trial {
        self.limits = limits;
        self
    }

    pub(super) fn writer_ends(mut self, end: WriterEnd, stderr: &str) -> Trial {
        self.end = end;
        self.stderr = captured(stderr);
        self
    }

    pub(super) fn judge(&self) -> Judgement {
        judge(&Evidence {
            writers: vec![WriterEvidence {
                sent: &self.sent,
                stdout: &Captured::new(self.stdout.clone(), false),
                stderr: &self.stderr,
                marks: &Spill::from(self.marks.clone()),
                end: &self.end,
            }],
            durability: self.durability,
            damage: &self.damage,
            replay: &self.replay,
            limits: self.limits,
        })
    }
}

pub(super) fn exit(code: i32) -> Option<ExitStatus> {
    Some(ExitStatus::from_raw(code << 8))
}

/// `(acked, required, recovered)`.
pub(super) fn counts(j: &Judgement) -> (u64, u64, Option<u64>) {
    (j.acked, j.required, j.recovered)
}

pub(super) fn assert_pass(j: &Judgement) {
    assert_eq!(j.violation, None, "expected a pass: {j:?}");
}

/// The violation's detail, after checking its class.
pub(super) fn violation(j: &Judgement, class: Class) -> &str {
    let v = j
        .violation
        .as_ref()
        .unwrap_or_else(|| panic!("expected {class}, got a pass: {j:?}"));
    assert_eq!(v.class, class, "detail: {}", v.detail);
    &v.detail
}

pub(super) fn assert_mentions(detail: &str, words: &str) {
    assert!(
        detail.contains(words),
        "expected {words:?} in detail: {detail}"
    );
}

/// Two writers, `a` and `b` records sent, the first `acks.0`/`acks.1` acked, killed;
/// replay prints `replayed` as (writer, index) pairs.
pub(super) fn two_writers(
    a: usize,
    b: usize,
    acks: (usize, usize),
    replayed: &[(usize, usize)],
) -> Judgement {
    let sent = [
        (0..a).map(|i| rec(100 + i)).collect::<Vec<_>>(),
        (0..b).map(|i| rec(200 + i)).collect(),
    ];
    let stdouts: Vec<Vec<u8>> = [acks.0, acks.1]
        .iter()
        .map(|&n| {
            (0..n)
                .map(|i| format!("{i}\n"))
                .collect::<String>()
                .into_bytes()
        })
        .collect();
    let marks: Vec<Spill<AckMark>> = stdouts
        .iter()
        .map(|out| {
            Spill::from(vec![AckMark {
                stream_end: out.len() as u64,
                after: 0,
                sizes: BTreeMap::new(),
            }])
        })
        .collect();
    let stdouts: Vec<Captured> = stdouts
        .into_iter()
        .map(|o| Captured::new(o, false))
        .collect();
    let stderr = Captured::default();
    let end = WriterEnd::Killed { boundary: 3 };
    let text: String = replayed
        .iter()
        .map(|&(w, i)| protocol::encode(&sent[w][i]) + "\n")
        .collect();
    let replay = Finished {
        status: Some(ExitStatus::from_raw(0)),
        stdout: captured(&text),
        stderr: Captured::default(),
    };
    judge(&Evidence {
        writers: (0..2)
            .map(|w| WriterEvidence {
                sent: &sent[w],
                stdout: &stdouts[w],
                stderr: &stderr,
                marks: &marks[w],
                end: &end,
            })
            .collect(),
        durability: Durability::Fsync,
        damage: &Damage::None,
        replay: &replay,
        limits: Limits::default(),
    })
}
