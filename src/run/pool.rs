//! The worker pool: `jobs` threads take jobs from a shared counter; each trial runs whole
//! on its worker (ptrace answers only the thread that forked the tracee). The main thread
//! receives outcomes as they end, writes their lines at once, and prints them in job
//! order, so what a run prints does not depend on the number of jobs. An interrupt
//! (SIGINT/SIGTERM) or a harness error stops new trials; the running ones are killed and
//! their outcomes dropped. The budget stops new trials once it is spent.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use crate::errors::TrialError;
use crate::oracle::Class;
use crate::process;
use crate::report::lines::Signature;
use crate::run::RunOptions;
use crate::run::groups;
use crate::run::jobs::{Batch, Envs, Job, Jobs, StateFrom};
use crate::run::progress::Progress;
use crate::run::tally::{Printout, Sink, Tally};
use crate::trial::{self, TrialDetail, TrialOutcome};

/// How the trials ended.
pub(super) struct Ended {
    pub(super) tally: Tally,
    /// The first trial of each distinct failure that may be shrunk, by job order, with its
    /// place in the job list.
    pub(super) first_of: BTreeMap<Signature, (usize, Job, TrialOutcome)>,
    /// Whether the budget stopped the run before every job ran.
    pub(super) budget_hit: bool,
    /// Whether the shrink budget stopped a shrink before it was done.
    pub(super) shrink_budget_hit: bool,
    /// The first harness error, which stopped the run.
    pub(super) error: Option<TrialError>,
}

/// A trial's result, sent from its worker.
struct Msg {
    /// The job's place in the run's list.
    pos: usize,
    job: Job,
    result: Result<(TrialOutcome, Vec<String>), TrialError>,
}

/// Runs `jobs` on `opts.jobs` workers, writing each trial's lines to `sink` as it ends and
/// printing findings to `out` in job order.
pub(super) fn run_all(
    jobs: &Jobs,
    envs: &Envs<'_>,
    opts: &RunOptions,
    started: Instant,
    sink: &mut Sink,
    out: &mut dyn Write,
) -> Ended {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let budget_hit = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut ended = Ended {
        tally: Tally::default(),
        first_of: BTreeMap::new(),
        budget_hit: false,
        shrink_budget_hit: false,
        error: None,
    };
    let mut progress = Progress::new(opts.progress, jobs.list.len() as u64, started);
    // Trials end in any order; what is printed, and which trial of each distinct failure
    // is shrunk, follow the order of the jobs.
    let mut printouts: BTreeMap<usize, Printout> = BTreeMap::new();
    let mut printed = 0;
    let cpus = process::allowed_cpus();
    let single_writer = envs.main().scenario.writers == 1;
    std::thread::scope(|scope| {
        for worker in 0..opts.jobs.max(1) {
            let tx = tx.clone();
            let (next, stop, budget_hit, cpus) = (&next, &stop, &budget_hit, &cpus);
            scope.spawn(move || {
                // The tracer and its writer on one CPU: a ptrace stop is then a switch on
                // that CPU, not a wake-up sent to another (3x cheaper on a VM). Not with
                // several writers, whose races need CPUs of their own, nor with more
                // jobs than CPUs, which the scheduler shares out better.
                if single_writer && cpus.len() > 1 && opts.jobs <= cpus.len() {
                    process::pin_thread(&[cpus[worker % cpus.len()]]);
                }
                let go_on = || {
                    if stop.load(Ordering::SeqCst) || process::interrupted() {
                        return false;
                    }
                    if opts.budget.is_some_and(|b| started.elapsed() >= b) {
                        budget_hit.store(true, Ordering::SeqCst);
                        return false;
                    }
                    true
                };
                let mut send = |pos: usize, (job, result): groups::Ran| {
                    let result = result.map(|(outcome, detail)| {
                        let timeline = timeline(&outcome, &detail);
                        (outcome, timeline)
                    });
                    tx.send(Msg { pos, job, result }).is_ok()
                };
                while go_on() {
                    let Some(batch) = jobs.list.batch(next.fetch_add(1, Ordering::SeqCst)) else {
                        break;
                    };
                    match batch {
                        Batch::One(pos, job) => {
                            if !send(pos, (job, run_job(jobs, envs, job))) {
                                break;
                            }
                        }
                        Batch::Group { pos, first, count } => groups::run(
                            envs.main(),
                            &jobs.cuts,
                            (pos, first, count),
                            &go_on,
                            &mut send,
                        ),
                    }
                }
            });
        }
        drop(tx);
        for Msg { pos, job, result } in rx {
            let err = match result {
                Ok((outcome, timeline)) => {
                    ended.note_first(opts, pos, job, &outcome);
                    let env = envs.of(job.seed);
                    let recorded = ended.tally.record(
                        sink,
                        &env.scenario,
                        &job.case(opts),
                        &outcome,
                        timeline,
                    );
                    match recorded {
                        Ok(text) => {
                            printouts.insert(pos, text);
                            None
                        }
                        Err(e) => Some(e),
                    }
                }
                Err(TrialError::Interrupted) => None,
                Err(e) => Some(e),
            };
            progress.clear();
            if let Some(note) = jobs.cuts.note() {
                let _ = writeln!(out, "note: {note}");
            }
            // Print every trial that has no unfinished one before it.
            while let Some(text) = printouts.remove(&printed) {
                ended.tally.print(text, out, opts.show);
                printed += 1;
            }
            progress.tick(ended.tally.ran, ended.tally.failed);
            if let Some(e) = err {
                ended.error.get_or_insert(e);
                stop.store(true, Ordering::SeqCst);
            }
        }
    });
    progress.clear();
    // Trials after a gap (one interrupted, or cut by the budget) print last, in order.
    for (_, text) in printouts {
        ended.tally.print(text, out, opts.show);
    }
    ended.budget_hit = budget_hit.load(Ordering::SeqCst);
    ended
}

/// Runs one job on this worker: a real kill, or a state cut from the exhaustive run's
/// recording.
fn run_job(
    jobs: &Jobs,
    envs: &Envs<'_>,
    job: Job,
) -> Result<(TrialOutcome, TrialDetail), TrialError> {
    let env = envs.of(job.seed);
    groups::guarded(job.index, || match (job.state, jobs.recording()) {
        (StateFrom::Log | StateFrom::LogChecked, Some(rec)) => {
            trial::run_state(env, rec, job.over, job.state == StateFrom::LogChecked)
        }
        _ => trial::run_case(env, job.index, job.over),
    })
}

/// The crash run's boundaries in words, the kill last, for a finding's results line; a
/// passing trial's are never written, so they are not read back from the trace.
fn timeline(outcome: &TrialOutcome, detail: &TrialDetail) -> Vec<String> {
    if outcome.violation().is_none() {
        return Vec::new();
    }
    detail.boundaries.iter().map(|b| b.description).collect()
}

impl Ended {
    /// Keeps `outcome` as its distinct failure's trial to shrink if it comes first in job
    /// order. A target error is the target breaking the protocol, not a crash finding: it
    /// is never shrunk; nor is a replayed regression, which was shrunk when it was saved.
    fn note_first(&mut self, opts: &RunOptions, pos: usize, job: Job, outcome: &TrialOutcome) {
        if let Some(sig) = Signature::of(outcome)
            && sig.class != Class::TargetError
            && opts.shrink
            && !job.regression
            && self.first_of.get(&sig).is_none_or(|(p, ..)| pos < *p)
        {
            self.first_of.insert(sig, (pos, job, outcome.clone()));
        }
    }
}
