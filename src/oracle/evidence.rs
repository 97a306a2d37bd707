//! What the oracle is handed: one trial's [`Evidence`], with each writer's part
//! ([`WriterEvidence`]) and the records sent to it ([`Sent`]), read again as often as a
//! check needs them.

use std::borrow::Cow;
use std::fmt;

use crate::faults::Damage;
use crate::process::{Captured, Finished, Limits};
use crate::protocol::Durability;
use crate::spill::Spill;
use crate::tracer::{AckMark, WriterEnd};
use crate::workload::Stream;

/// The records sent to one writer, read in order as often as the oracle needs: a
/// workload's [`Stream`] (drawn again each time) or a list in memory.
pub trait Sent: fmt::Debug + Sync {
    /// How many records were sent.
    fn count(&self) -> usize;
    /// The records, in order.
    fn records(&self) -> Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_>;
}

impl Sent for Vec<Vec<u8>> {
    fn count(&self) -> usize {
        self.len()
    }

    fn records(&self) -> Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_> {
        Box::new(self.iter().map(|r| Cow::Borrowed(r.as_slice())))
    }
}

impl Sent for Stream {
    fn count(&self) -> usize {
        self.len()
    }

    fn records(&self) -> Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_> {
        Box::new(self.iter().map(Cow::Owned))
    }
}

/// Everything the oracle judges, from one trial.
#[derive(Debug)]
pub struct Evidence<'a> {
    /// What each writer sent, did and said.
    pub writers: Vec<WriterEvidence<'a>>,
    /// What the target's acks promise.
    pub durability: Durability,
    /// What the fault did to the files.
    pub damage: &'a Damage,
    /// The replay's run.
    pub replay: &'a Finished,
    /// The resource limits the target ran within: a failure one of them may explain says
    /// so.
    pub limits: Limits,
}

/// One writer's part of the evidence.
#[derive(Debug)]
pub struct WriterEvidence<'a> {
    /// The records sent to it.
    pub sent: &'a dyn Sent,
    /// Its stdout (its acks), and whether it went past the output limit (and the writer
    /// was killed for it).
    pub stdout: &'a Captured,
    /// Its stderr.
    pub stderr: &'a Captured,
    /// The file extents at each write into its stdout, from the tracer, in order.
    pub marks: &'a Spill<AckMark>,
    /// How it ended.
    pub end: &'a WriterEnd,
}
