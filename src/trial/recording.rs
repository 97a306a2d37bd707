//! An exhaustive run's recording: one traced run of a trial's workload to its end, with
//! its write log, from which every crash state is cut ([`crate::trial::states`]) and only
//! replayed; and the replays of states already replayed, reused by equal states.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::errors::TrialError;
use crate::faults;
use crate::process::{Captured, Finished};
use crate::snapshot::Snapshot;
use crate::tracer::KillScope;
use crate::trial::env::{TrialEnv, workload};
use crate::trial::folder::fresh_dir;
use crate::trial::plan::{Overrides, Plan};
use crate::trial::spawn::{WritersRun, run_writers};
use crate::trial::states;
use crate::workload::Workload;

/// One traced run of trial `index`'s workload to its end, with its write log: every crash
/// state of the trial can be cut from it ([`crate::trial::states`]) and only replayed.
pub struct Recording {
    pub(crate) index: u64,
    /// The records the run was sent.
    pub(crate) workload: Workload,
    pub(crate) run: WritersRun,
    /// Per writer, how many boundaries came before each of its acks.
    afters: Vec<Vec<u64>>,
    /// The latest kill state built, the next cut's starting point.
    built: Mutex<Option<Arc<states::Built>>>,
    /// The replays of the states replayed so far.
    pub(crate) replays: Replays,
}

/// The replays of an exhaustive run's states, by the folder they started from. A replay
/// is a function of that folder (the stable check holds it to that), and many states are
/// equal (a kill before a record's write leaves what a kill before the previous record's
/// sync left), so a state equal to one replayed before reuses its replays rather than
/// start the replay again. Their output names the folder they ran in, which is swapped for
/// the reusing case's.
///
/// States are known by a 128-bit hash of the folder (two SipHash keys drawn for the run),
/// and only the last [`Replays::KEEP`] are kept: equal states come close together in the
/// walk, and a run's memory must not grow with its states.
#[derive(Default)]
pub(crate) struct Replays {
    keys: (std::hash::RandomState, std::hash::RandomState),
    seen: Mutex<Kept>,
}

/// The kept replays, and their keys oldest first.
#[derive(Default)]
pub(crate) struct Kept {
    by_key: HashMap<StateKey, Arc<Replayed>>,
    order: VecDeque<StateKey>,
}

/// A state's 128-bit hash.
pub(crate) type StateKey = (u64, u64);

impl Replays {
    /// States whose replays are kept.
    const KEEP: usize = 32;

    pub(crate) fn key(&self, state: &Snapshot) -> StateKey {
        use std::hash::BuildHasher;
        (self.keys.0.hash_one(state), self.keys.1.hash_one(state))
    }

    pub(crate) fn get(&self, key: StateKey) -> Option<Arc<Replayed>> {
        self.seen
            .lock()
            .expect("no panics hold it")
            .by_key
            .get(&key)
            .cloned()
    }

    pub(crate) fn insert(&self, key: StateKey, replayed: Arc<Replayed>) {
        let kept = &mut *self.seen.lock().expect("no panics hold it");
        if kept.by_key.insert(key, replayed).is_none() {
            kept.order.push_back(key);
        }
        while kept.order.len() > Self::KEEP {
            if let Some(old) = kept.order.pop_front() {
                kept.by_key.remove(&old);
            }
        }
    }
}

/// A state's replay and, with the stable check, the replay after it, run in `dir`.
pub(crate) struct Replayed {
    pub(crate) dir: String,
    pub(crate) first: Finished,
    pub(crate) again: Option<Finished>,
}

impl Recording {
    /// Runs trial `index`'s writers once, untouched, recording every file-changing call
    /// with its data. `Ok(Err(why))`: the writer could not be started.
    pub fn make(env: &TrialEnv, index: u64) -> Result<Result<Recording, String>, TrialError> {
        let workload = workload(env, index, &Overrides::default())?;
        let dir = env.work.join(format!("record{index}"));
        fresh_dir(&dir)?;
        let run = run_writers(env, &dir, &workload, None, true, index);
        std::fs::remove_dir_all(&dir).map_err(|source| TrialError::Io {
            what: "remove trial folder",
            path: dir.clone(),
            source,
        })?;
        Ok(run?
            .map(|run| Recording {
                index,
                workload,
                afters: states::ack_afters(&run.trace),
                built: Mutex::new(None),
                run,
                replays: Replays::default(),
            })
            .map_err(|e| crate::errors::chain(&e)))
    }

    /// Every crash state of the run: each boundary and the clean exit, and each write cut
    /// at every `sector` boundary inside it.
    pub fn plans(&self, sector: u64) -> Vec<Plan> {
        let boundaries = &self.run.trace.boundaries;
        let mut plans = Vec::new();
        for b in boundaries.iter() {
            plans.push(Plan {
                kill_at: b.index,
                tear: None,
            });
            if let Some(w) = b.write {
                // Cut point 0 is the plain kill just pushed.
                plans.extend(
                    faults::tear_points(w.offset, w.len, sector)
                        .skip(1)
                        .map(|keep| Plan {
                            kill_at: b.index,
                            tear: Some(keep),
                        }),
                );
            }
        }
        plans.push(Plan {
            kill_at: boundaries.len() as u64,
            tear: None,
        });
        plans
    }

    /// Why states cannot be cut from this run, if they cannot: a call the write log
    /// cannot model, or a kill that takes one writer of several.
    pub fn unfit(&self, env: &TrialEnv) -> Option<String> {
        if env.scenario.writers > 1 && env.scenario.crash == KillScope::One {
            return Some("with crash = \"one\" the other writers run on after the kill".to_owned());
        }
        states::modelled(&self.run.trace).err()
    }

    /// The state of `plan` cut from the recording, as a run killed there would have left
    /// it, and the folder it leaves.
    pub(crate) fn cut(&self, plan: Plan, keep_ops: bool) -> (WritersRun, Snapshot) {
        let full: Vec<usize> = self.run.stdouts.iter().map(|c| c.len() as usize).collect();
        // Start from the kill state built last, when it comes before this one: the walk
        // goes forward, so each state applies only the ops since the one before.
        let from = self.built.lock().expect("no panics hold it").clone();
        let (cut, built) = states::cut(
            &self.run.trace,
            &full,
            &self.afters,
            plan,
            from.as_deref(),
            keep_ops,
        );
        *self.built.lock().expect("no panics hold it") = Some(Arc::new(built));
        let killed = plan.kill_at < self.run.trace.boundaries.len() as u64;
        let stdouts = self
            .run
            .stdouts
            .iter()
            .zip(&cut.stdout_len)
            .map(|(c, &len)| {
                let mut bytes = c.bytes();
                bytes.truncate(len);
                Captured::new(bytes, c.overflowed && !killed)
            })
            .collect();
        // What a killed writer wrote to stderr is not traced, so not cut: none of it.
        let stderrs = if killed {
            vec![Captured::default(); self.run.stderrs.len()]
        } else {
            self.run.stderrs.clone()
        };
        let run = WritersRun {
            trace: cut.trace,
            stdouts,
            stderrs,
        };
        (run, cut.state)
    }
}

/// `replay` as if it had run in folder `to` rather than `from`: the folder's path in its
/// output swapped.
pub(crate) fn moved(replay: &Finished, from: &str, to: &str) -> Finished {
    let swap = |c: &Captured| {
        Captured::new(
            replace(&c.bytes(), from.as_bytes(), to.as_bytes()),
            c.overflowed,
        )
    };
    Finished {
        status: replay.status,
        stdout: swap(&replay.stdout),
        stderr: swap(&replay.stderr),
    }
}

/// `bytes` with every `from` replaced by `to`.
pub(crate) fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() || from == to {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replayed(dir: &str, stderr: &str) -> Arc<Replayed> {
        Arc::new(Replayed {
            dir: dir.to_owned(),
            first: Finished {
                status: None,
                stdout: Captured::default(),
                stderr: Captured::new(stderr.as_bytes().to_vec(), false),
            },
            again: None,
        })
    }

    #[test]
    fn equal_states_share_a_key_and_only_the_last_replays_are_kept() {
        let replays = Replays::default();
        let mut a = Snapshot::default();
        a.files.insert("wal.log".into(), b"abc".to_vec());
        let b = a.clone();
        let mut c = a.clone();
        c.files.insert("wal.log".into(), b"abd".to_vec());
        assert_eq!(replays.key(&a), replays.key(&b));
        assert_ne!(replays.key(&a), replays.key(&c));
        for i in 0..Replays::KEEP as u64 + 10 {
            replays.insert((i, i), replayed("/d", ""));
        }
        assert!(replays.get((0, 0)).is_none(), "the oldest is dropped");
        assert!(
            replays
                .get((Replays::KEEP as u64 + 9, Replays::KEEP as u64 + 9))
                .is_some()
        );
        assert_eq!(replays.seen.lock().unwrap().by_key.len(), Replays::KEEP);
    }

    #[test]
    fn a_reused_replay_names_the_reusing_folder() {
        let r = replayed(
            "/run/t0-case1",
            "error in /run/t0-case1/wal.log at /run/t0-case1",
        );
        let here = moved(&r.first, &r.dir, "/run/t0-case7");
        assert_eq!(
            here.stderr.bytes(),
            b"error in /run/t0-case7/wal.log at /run/t0-case7"
        );
        assert_eq!(replace(b"aXbXc", b"X", b"YY"), b"aYYbYYc");
        assert_eq!(replace(b"abc", b"", b"Z"), b"abc");
    }
}
