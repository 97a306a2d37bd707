//! The writer's acks: read from its stdout, checked against protocol v1 (demand 1), and
//! matched to the tracer's marks to count those the fault cannot excuse (demand 4).

use std::io::BufRead;

use super::evidence::{Evidence, WriterEvidence};
use crate::faults::Damage;
use crate::process::Captured;
use crate::protocol::{self, Durability};
use crate::tracer::AckMark;

/// One writer's acks, counted against the tracer's marks.
pub(super) struct Acked {
    pub(super) count: usize,
    pub(super) required: usize,
}

/// Counts a writer's acks and those the fault cannot excuse, matching each ack to the
/// tracer's mark of the write that carried it.
pub(super) fn count_acks(wr: &WriterEvidence<'_>, ev: &Evidence<'_>) -> Result<Acked, String> {
    let nothing_promised = match ev.damage {
        // Safety only: recovery may stop at the corruption.
        Damage::Corrupt { .. } => true,
        // Only a synced ack survives a power loss.
        Damage::PowerLoss(_) => ev.durability != Durability::Fsync,
        _ => ev.durability == Durability::None,
    };
    let excused = |mark: Option<&AckMark>| match ev.damage.cut() {
        Some((file, offset)) => match mark {
            Some(m) => m.sizes.get(file).copied().unwrap_or(0) > offset,
            None => true,
        },
        None => false,
    };
    let mut acked = Acked {
        count: 0,
        required: 0,
    };
    // Records survive in order: the first excused ack excuses every later one too.
    let mut excusing = nothing_promised;
    let mut marks = wr.marks.iter().peekable();
    for end in ack_ends(wr.stdout, wr.sent.count()) {
        let end = end? as u64;
        acked.count += 1;
        if excusing {
            continue;
        }
        while marks.next_if(|m| m.stream_end < end).is_some() {}
        if excused(marks.peek()) {
            excusing = true;
        } else {
            acked.required += 1;
        }
    }
    Ok(acked)
}

/// For each ack of a writer, in order, the tracer's mark of the stdout write that carried
/// the ack's newline (the first mark that ends at or past it).
pub(super) fn marks_of_acks<'a>(
    wr: &'a WriterEvidence<'a>,
) -> impl Iterator<Item = Option<AckMark>> + 'a {
    let mut marks = wr.marks.iter().peekable();
    ack_ends(wr.stdout, wr.sent.count())
        .map_while(Result::ok)
        .map(move |end| {
            while marks.next_if(|m| m.stream_end < end as u64).is_some() {}
            marks.peek().cloned()
        })
}

/// The acks in the writer's stdout, in order: where each one's line ends in the stream.
/// A partial last line (the writer died mid-line) is not an ack; a bad line ends the
/// stream with why.
pub(super) fn ack_ends<'a>(
    stdout: &'a Captured,
    sent: usize,
) -> impl Iterator<Item = Result<usize, String>> + 'a {
    let sent = sent as u64;
    let mut lines = stdout.reader();
    let mut line = Vec::new();
    let (mut at, mut n, mut done) = (0, 0u64, false);
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        line.clear();
        match lines.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => {
                done = true;
                return None;
            }
            Ok(len) => at += len,
        }
        n += 1;
        let Some(text) = line.strip_suffix(b"\n") else {
            done = true;
            return None;
        };
        let text = String::from_utf8_lossy(text);
        let expected = n - 1;
        let result = match protocol::parse_ack(&text) {
            Some(i) if i == expected && i < sent => return Some(Ok(at)),
            Some(i) if i >= sent => {
                format!("ack line {n}: '{text}' acks record {i}, but only {sent} were sent")
            }
            Some(_) => format!("ack line {n}: '{text}' is out of order, expected {expected}"),
            None => format!("ack line {n}: '{text}' is not a record index"),
        };
        done = true;
        Some(Err(result))
    })
}
