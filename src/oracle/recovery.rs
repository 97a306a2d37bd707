//! The checks made once a replay passed the four demands, which the protocol document
//! numbers items 4 and 5: recovery is stable ([`judge_stable`]), and a writer started on
//! the recovered folder appends after what was recovered ([`judge_resume`]).

use std::borrow::Cow;
use std::os::unix::process::ExitStatusExt;

use nix::sys::signal::Signal;

use super::acks::ack_ends;
use super::evidence::Sent;
use super::judge::ended;
use super::replay::{passed, records, replay_ok, replayed_count, same_bytes, short_hex};
use super::verdict::{Class, Violation};
use crate::process::{Finished, Limits};

/// Protocol item 4: a second replay returns what the first one did. `first` passed the
/// oracle (it exited 0 with readable output).
pub fn judge_stable(first: &Finished, second: &Finished) -> Option<Violation> {
    let fail = |detail| {
        Some(Violation {
            class: Class::UnstableRecovery,
            detail,
        })
    };
    // The common case, without decoding a record: the same bytes are the same records.
    if replay_ok(first).is_ok()
        && replay_ok(second).is_ok()
        && same_bytes(&first.stdout, &second.stdout)
    {
        return None;
    }
    let first_len = replayed_count(first).unwrap_or(0);
    match replayed_count(second) {
        Err(why) => fail(format!(
            "the first replay returned {first_len} records, a second one failed: {why}"
        )),
        Ok(again) => {
            let expected = passed(first);
            let got = records(&second.stdout).map_while(Result::ok);
            match first_difference(expected, got, first_len == again) {
                Some(difference) => fail(format!(
                    "the first replay returned {first_len} records, a second one {again}{difference}"
                )),
                None => None,
            }
        }
    }
}

/// Protocol item 5: after recovery, a writer appends `new` records, acks them all, and the
/// next replay returns the records `recovered` returned followed by the new ones.
/// `recovered` passed the oracle (it exited 0 with readable output). The writer ran
/// within `limits`.
pub fn judge_resume(
    recovered: &Finished,
    new: &dyn Sent,
    writer: &Finished,
    replay: &Finished,
    limits: &Limits,
) -> Option<Violation> {
    let fail = |detail| {
        Some(Violation {
            class: Class::BrokenResume,
            detail,
        })
    };
    match writer.status {
        None => {
            return fail(
                "a writer started on the recovered folder was still running at the timeout".into(),
            );
        }
        Some(status) if !status.success() => {
            let signal = status.signal().and_then(|s| Signal::try_from(s).ok());
            return fail(ended(
                limits,
                format!("a writer started on the recovered folder failed ({status})"),
                signal.map(Signal::as_str),
                writer.stderr.tail(400).trim_end(),
            ));
        }
        Some(_) => {}
    }
    let new_len = new.count();
    match ack_ends(&writer.stdout, new_len).try_fold(0, |n, end| end.map(|_| n + 1)) {
        Err(why) => return fail(format!("the writer started on the recovered folder: {why}")),
        Ok(acks) if acks < new_len => {
            return fail(format!(
                "the writer started on the recovered folder acked {acks} of its {new_len} records",
            ));
        }
        Ok(_) => {}
    }
    let old = replayed_count(recovered).unwrap_or(0);
    match replayed_count(replay) {
        Err(why) => fail(format!(
            "after {new_len} records were appended to the recovered folder, replay failed: {why}"
        )),
        Ok(got) => {
            let expected = passed(recovered).chain(new.records().map(Cow::into_owned));
            let returned = records(&replay.stdout).map_while(Result::ok);
            match first_difference(expected, returned, got == old + new_len) {
                Some(difference) => fail(format!(
                    "after {new_len} records were appended to the {old} recovered, replay returned {got} records instead of {}{difference}",
                    old + new_len
                )),
                None => None,
            }
        }
    }
}

/// `None` when `expected` and `got` hold the same records (`same_len`: they are as long);
/// else the words after a count mismatch: ` (record i differs: ...)` at the first record
/// that differs, or nothing when one is a prefix of the other.
fn first_difference(
    expected: impl Iterator<Item = Vec<u8>>,
    got: impl Iterator<Item = Vec<u8>>,
    same_len: bool,
) -> Option<String> {
    for (i, (e, g)) in expected.zip(got).enumerate() {
        if e != g {
            return Some(format!(
                " (record {i} differs: {} bytes {} instead of {} bytes {})",
                g.len(),
                short_hex(&g),
                e.len(),
                short_hex(&e)
            ));
        }
    }
    (!same_len).then(String::new)
}
