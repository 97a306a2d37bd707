//! Safety (demand 3): the recovered records are a byte-exact prefix of the records sent,
//! position by position for one writer ([`positional`]), or an interleaving of a prefix of
//! each writer's stream for several ([`interleaved`]).

use std::borrow::Cow;

use super::evidence::{Evidence, Sent};
use super::replay::{records, short_hex};
use super::verdict::{Class, Violation};
use crate::process::Captured;

/// One writer: the recovered records must be the first records sent, position by position.
pub(super) fn positional(
    sent: &dyn Sent,
    replay: &Captured,
    recovered: usize,
) -> Result<Vec<usize>, Violation> {
    let fail = |detail| Violation {
        class: Class::NotAPrefix,
        detail,
    };
    let mut sent_records = sent.records();
    for (i, got) in records(replay).map_while(Result::ok).enumerate() {
        match sent_records.next() {
            None => {
                return Err(fail(format!(
                    "replay returned {recovered} records but only {} were sent",
                    sent.count()
                )));
            }
            Some(sent) if *sent != *got => {
                return Err(fail(format!(
                    "record {i} differs: sent {} bytes {}, recovered {} bytes {}",
                    sent.len(),
                    short_hex(&sent),
                    got.len(),
                    short_hex(&got)
                )));
            }
            Some(_) => {}
        }
    }
    Ok(vec![recovered])
}

/// Several writers: the recovered records must interleave a prefix of each writer's
/// stream, each in its own order, nothing twice, nothing from nowhere. Payloads are unique
/// across a trial's writers, so each record names its writer and index; equal payloads
/// (possible only if the workload could not make them unique) go to the first writer that
/// expects that record next. Each writer's stream is read once, in step with the replay;
/// only a record no writer expects next sends the oracle through every stream to name it.
pub(super) fn interleaved(ev: &Evidence<'_>) -> Result<Vec<usize>, Violation> {
    let fail = |detail| Violation {
        class: Class::NotAPrefix,
        detail,
    };
    let mut streams: Vec<_> = ev.writers.iter().map(|wr| wr.sent.records()).collect();
    let mut expected: Vec<Option<Cow<'_, [u8]>>> = streams.iter_mut().map(Iterator::next).collect();
    let mut next = vec![0usize; ev.writers.len()];
    for (n, got) in records(&ev.replay.stdout).map_while(Result::ok).enumerate() {
        if let Some(w) = expected
            .iter()
            .position(|e| e.as_deref() == Some(got.as_slice()))
        {
            next[w] += 1;
            expected[w] = streams[w].next();
            continue;
        }
        // The first (writer, index) that sent it, as a map of every payload would say.
        let origin = ev
            .writers
            .iter()
            .enumerate()
            .find_map(|(w, wr)| wr.sent.records().position(|r| *r == *got).map(|i| (w, i)));
        let Some((w, i)) = origin else {
            return Err(fail(format!(
                "replay's record {n} ({} bytes {}) was sent by no writer",
                got.len(),
                short_hex(&got)
            )));
        };
        let what = if i < next[w] {
            "again (a duplicate)"
        } else {
            "before the records it follows"
        };
        return Err(fail(format!(
            "replay's record {n} is writer {w}'s record {i}, returned {what}: writer {w}'s next record was {}",
            next[w]
        )));
    }
    Ok(next)
}
