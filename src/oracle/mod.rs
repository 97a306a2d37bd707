//! The verdict on one trial: what the replay returned against what was sent and acked.
//!
//! Protocol v1's demands, in the order they are checked:
//! 1. the writer spoke the protocol (acks are `0, 1, 2, ...`, one a line; one that exits by
//!    itself exits 0 having acked every record) and did not hang;
//! 2. replay exited 0 within the timeout;
//! 3. safety: the recovered records are a byte-exact prefix of the records sent;
//! 4. durability: every acked record that the fault cannot excuse was recovered. A SIGKILL
//!    excuses nothing; a truncation of file F at offset t excuses the records acked while
//!    F was longer than t (their bytes may lie past t). The size of F at the ack comes from
//!    the tracer, which stopped the writer at the write of that ack.
//!
//! Everything is judged as a stream: the records sent are drawn again from the workload,
//! the acks and the replay's lines are read from their captured output, the tracer's
//! marks from its trace, each in order and each as often as needed; no check holds a
//! list that grows with the number of records.
//!
//! The files, as a trial meets them: `evidence` is what the oracle is handed and `verdict`
//! what it hands back; `acks` reads each writer's acks and counts those the fault cannot
//! excuse (demands 1 and 4); `replay` reads the replay's output (demand 2, and the records
//! every later check reads); `prefix` holds the safety check (demand 3); `judge` runs the
//! checks in the order above ([`judge()`]). `recovery` holds the checks made once a replay
//! passed: a second replay returns the same records ([`judge_stable`]), and a writer
//! started on the recovered folder can append ([`judge_resume`]).

mod acks;
mod evidence;
mod judge;
mod prefix;
mod recovery;
mod replay;
#[cfg(test)]
mod testing;
mod verdict;

pub use evidence::{Evidence, Sent, WriterEvidence};
pub use judge::judge;
pub use recovery::{judge_resume, judge_stable};
pub use replay::replayed;
pub use verdict::{Class, Judgement, Violation};
