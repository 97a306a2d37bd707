//! After the trials: shrink the first trial of each distinct failure, judge the run by
//! the one rule ([`crate::report::lines`]), write the summary, say what was found, and
//! save one regression per distinct failure.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::case::CaseId;
use crate::errors::TrialError;
use crate::oracle::Class;
use crate::process;
use crate::report::lines::{
    Line, ScenarioReport, ShrinkStop, ShrunkCase, ShrunkLine, Summary, SummaryLine,
};
use crate::report::{human, repro};
use crate::run::jobs::{Envs, Job, Jobs};
use crate::run::pool::Ended;
use crate::run::progress::Progress;
use crate::run::tally::{Sink, Tally};
use crate::run::{RunOptions, SHRINK_AT_MOST, regressions, shrink};
use crate::scenario::Expect;
use crate::trial::TrialOutcome;

/// Shrinks the first trial of each distinct failure (the first [`SHRINK_AT_MOST`] by job
/// order), in parallel, and writes a `shrunk` line for each that shrank. Not after a
/// harness error or an interrupt, and not past the budget, which promised when the run
/// ends: the shrinks stop at `--shrink-budget`, or at the end of `--budget` when that
/// comes first, and each cut short says so. On a terminal a progress line shows them.
pub(super) fn shrink_failures(
    ended: &mut Ended,
    envs: &Envs<'_>,
    opts: &RunOptions,
    started: Instant,
    sink: &mut Sink,
    out: &mut dyn Write,
) -> Result<(), TrialError> {
    if ended.budget_hit && !ended.first_of.is_empty() {
        let _ = writeln!(out, "not shrunk: the budget ran out");
    }
    let mut to_shrink: Vec<(usize, Job, TrialOutcome)> =
        std::mem::take(&mut ended.first_of).into_values().collect();
    to_shrink.sort_by_key(|(pos, ..)| *pos);
    if to_shrink.len() > SHRINK_AT_MOST {
        let _ = writeln!(
            out,
            "shrinking the first {SHRINK_AT_MOST} of {} distinct failures",
            to_shrink.len()
        );
        to_shrink.truncate(SHRINK_AT_MOST);
    }
    if ended.error.is_some() || process::interrupted() || ended.budget_hit || to_shrink.is_empty() {
        return Ok(());
    }
    let given = ShrinkTime::of(opts.budget, opts.shrink_budget, started.elapsed());
    let limits = shrink::Limits {
        deadline: Instant::now() + given.time,
        runs: AtomicUsize::new(0),
    };
    let shrunk = shrink_all(
        &to_shrink,
        envs,
        &limits,
        opts.progress.then_some(given.time),
    );
    if process::interrupted() {
        let _ = writeln!(
            out,
            "shrinking interrupted: a failure not shrunk yet is kept as it was found"
        );
    }
    for ((_, job, first), done) in to_shrink.iter().zip(shrunk) {
        let Some(done) = done else {
            continue;
        };
        if done.stopped == Some(ShrinkStop::Budget) {
            ended.shrink_budget_hit = true;
        }
        let stopped = done.stopped.map(|why| given.words(why, done.runs));
        let Some((over, outcome)) = done.found else {
            if let Some(why) = stopped {
                let _ = writeln!(
                    out,
                    "not shrunk: trial {}: {why} before a smaller case failed the same way",
                    first.trial
                );
            }
            continue;
        };
        let sc = &envs.of(job.seed).scenario;
        let original = job.case(opts);
        let case = CaseId {
            over,
            ..original.clone()
        };
        let _ = writeln!(
            out,
            "SHRUNK trial {} to {} record(s) of at most {} bytes, kill at {}",
            first.trial,
            over.records.unwrap_or(sc.records),
            over.max_payload.unwrap_or(sc.payload.max),
            outcome.kill_words(),
        );
        if let Some(why) = stopped {
            let _ = writeln!(
                out,
                "     stopped early: {why}; a smaller case may fail the same way"
            );
        }
        let _ = writeln!(out, "     repro: {}", repro::repro_command(&case));
        sink.write(Line::Shrunk(ShrunkLine {
            scenario: sc.name.clone(),
            seed: job.seed,
            case: original.to_string(),
            shrunk: ShrunkCase {
                case: case.to_string(),
                repro: repro::repro_command(&case),
                records: over.records.map(u64::from),
                max_payload: over.max_payload.map(u64::from),
                kill: outcome.kill.as_ref().map(|b| b.index),
                tear: over.plan.and_then(|p| p.tear),
                detail: outcome.violation().map(|v| v.detail.clone()),
                stopped: done.stopped,
            },
        }))?;
    }
    Ok(())
}

/// Runs the shrinks of `to_shrink` at once, one thread each, and returns what each did
/// (`None` for one that failed or was interrupted), in order. With `progress` (the time
/// they were given), redraws the progress line while they run.
fn shrink_all(
    to_shrink: &[(usize, Job, TrialOutcome)],
    envs: &Envs<'_>,
    limits: &shrink::Limits,
    progress: Option<Duration>,
) -> Vec<Option<shrink::Shrunk>> {
    let mut line = Progress::new(progress.is_some(), 0, Instant::now());
    let (tx, rx) = mpsc::channel::<()>();
    let shrunk = std::thread::scope(|scope| {
        let handles: Vec<_> = to_shrink
            .iter()
            .map(|(_, job, outcome)| {
                let env = envs.of(job.seed);
                let tx = tx.clone();
                scope.spawn(move || {
                    let done = shrink::shrink(env, job.index, outcome, limits);
                    let _ = tx.send(());
                    done
                })
            })
            .collect();
        drop(tx);
        // Each shrink says when it is done; a panicking one drops its sender unsent.
        let mut done = 0;
        loop {
            let next = if progress.is_some() {
                rx.recv_timeout(Duration::from_millis(250))
            } else {
                rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
            };
            match next {
                Ok(()) => done += 1,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            line.shrinking(
                done,
                to_shrink.len(),
                limits.runs.load(Ordering::Relaxed),
                progress.unwrap_or_default(),
            );
        }
        handles
            .into_iter()
            .map(|h| h.join().ok().and_then(Result::ok))
            .collect()
    });
    line.clear();
    shrunk
}

/// The time the shrinks are given, and where the limit comes from.
struct ShrinkTime {
    time: Duration,
    /// `--budget`'s end comes before `--shrink-budget`'s.
    run_budget: Option<Duration>,
    shrink_budget: Duration,
}

impl ShrinkTime {
    /// `shrink_budget` from now, or what is left of the run's `budget` after `elapsed`
    /// when that is less.
    fn of(budget: Option<Duration>, shrink_budget: Duration, elapsed: Duration) -> ShrinkTime {
        let left = budget
            .map(|b| b.saturating_sub(elapsed))
            .filter(|left| *left < shrink_budget);
        ShrinkTime {
            time: left.unwrap_or(shrink_budget),
            run_budget: left.and(budget),
            shrink_budget,
        }
    }

    /// Why a shrink stopped after `runs` runs, in words.
    fn words(&self, why: ShrinkStop, runs: usize) -> String {
        let runs = if runs == 1 {
            "1 run".to_owned()
        } else {
            format!("{runs} runs")
        };
        match (why, self.run_budget) {
            (ShrinkStop::Runs, _) => format!("the shrink made its most runs ({runs})"),
            (ShrinkStop::Budget, Some(budget)) => format!(
                "the run's budget of {} ran out ({runs})",
                humantime::format_duration(budget)
            ),
            (ShrinkStop::Budget, None) => format!(
                "the shrink budget of {} ran out ({runs})",
                humantime::format_duration(self.shrink_budget)
            ),
        }
    }
}

/// A run whose trials have ended, judged.
pub(super) struct Finished {
    /// Its summary line.
    pub(super) summary: Summary,
    /// Its verdict and distinct failures.
    pub(super) judged: ScenarioReport,
    /// Its results file.
    pub(super) results: PathBuf,
}

/// The summary of a run whose trials have ended, judged: counts from the tally, the
/// verdict from the judge over every line written and the summary itself. Writes the
/// summary line and the summary file.
pub(super) fn judge_and_summarize(
    jobs: &Jobs,
    envs: &Envs<'_>,
    ended: &Ended,
    started: Instant,
    sink: Sink,
) -> Result<Finished, TrialError> {
    let tally = &ended.tally;
    let Sink {
        mut results,
        mut judge,
    } = sink;
    let sc = &envs.main().scenario;
    let all = jobs.list.len() as u64;
    // Interrupted while trials ran, or while their failures were shrunk.
    let interrupted = process::interrupted();
    let mut summary = Summary {
        trials: tally.ran,
        // Counted from the lines by the judge, below.
        failed: 0,
        classes: BTreeMap::new(),
        distinct: 0,
        faults: tally.faults.clone(),
        killed: tally.killed,
        recovery_crashes: tally.recovery_crashes,
        exhaustive: jobs.exhaustive.is_some(),
        expect: sc.expect,
        met: false,
        interrupted,
        budget_exhausted: ended.budget_hit && tally.ran < all,
        shrink_budget_exhausted: ended.shrink_budget_hit,
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    let line = |summary: &Summary| {
        Line::Summary(SummaryLine {
            scenario: sc.name.clone(),
            seed: sc.seed,
            summary: summary.clone(),
        })
    };
    // The verdict by the rule every reader of the file uses, on the lines written so far
    // and the summary about to be.
    judge.add(line(&summary));
    let judged = judge
        .finish()
        .scenarios
        .into_iter()
        .find(|s| s.name == sc.name)
        .expect("the run's own lines name its scenario");
    summary.met = judged.verdict.met();
    summary.failed = judged.failed();
    summary.classes = judged.classes.clone();
    summary.distinct = judged.failures.len() as u64;
    results.append_line(&line(&summary))?;
    // The summary on its own, written atomically: a reader never sees half of it.
    results
        .write_summary_file(&summary)
        .map_err(|source| TrialError::Io {
            what: "write the summary of",
            path: results.path().to_owned(),
            source,
        })?;
    Ok(Finished {
        summary,
        judged,
        results: results.path().to_owned(),
    })
}

/// The run's last words before the verdict: the counts, each distinct failure, where the
/// results are, and a warning when no trial could have killed the writer mid-way.
pub(super) fn say_what_was_found(
    fin: &Finished,
    tally: &Tally,
    jobs: &Jobs,
    opts: &RunOptions,
    started: Instant,
    out: &mut dyn Write,
) {
    let summary = &fin.summary;
    if tally.printed > opts.show {
        let _ = writeln!(
            out,
            "... and {} more distinct failures, all below and in the results file",
            tally.printed - opts.show
        );
    }
    let secs = started.elapsed().as_secs_f64();
    let classes: Vec<String> = summary
        .classes
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "{} {} in {secs:.1}s ({:.1} trials/s): {} failed{}{}{}",
        summary.trials,
        if jobs.exhaustive.is_some() {
            "crash states"
        } else {
            "trials"
        },
        summary.trials as f64 / secs.max(1e-9),
        summary.failed,
        if classes.is_empty() {
            String::new()
        } else {
            format!(" ({})", classes.join(", "))
        },
        if summary.budget_exhausted {
            format!(
                "; the budget ran out, {} not run",
                jobs.list.len() as u64 - summary.trials
            )
        } else {
            String::new()
        },
        if summary.shrink_budget_exhausted {
            "; shrinking stopped early at its budget"
        } else {
            ""
        }
    );
    let _ = write!(out, "{}", human::failures_block(&fin.judged));
    let _ = writeln!(out, "results: {}", fin.results.display());
    if let (n @ 1.., Some(why)) = &tally.not_modelled {
        let _ = writeln!(
            out,
            "note: {n} power-loss trial(s) were judged as kills, since the write log cannot rebuild the folder: {why}"
        );
    }
    if summary.trials > 0 && tally.max_boundaries == 0 {
        let _ = writeln!(
            out,
            "warning: the writer never changed a file inside CRASHTEST_DIR, so no trial could kill it \
             mid-way: does the target keep its files in the folder CRASHTEST_DIR names?"
        );
    }
}

/// A scenario that should pass saves one regression per distinct failure (its shrunk case
/// when it was shrunk), to be replayed first next time. Target errors are the target
/// breaking the protocol, not a crash bug to keep; an interrupted run saves nothing.
pub(super) fn save_regressions(
    fin: &Finished,
    envs: &Envs<'_>,
    opts: &RunOptions,
    out: &mut dyn Write,
) -> Result<(), TrialError> {
    let sc = &envs.main().scenario;
    if !opts.regressions || sc.expect != Expect::Pass || fin.summary.interrupted {
        return Ok(());
    }
    let new: Vec<regressions::Saved> = fin
        .judged
        .failures
        .iter()
        .filter(|f| f.signature.class != Class::TargetError)
        .filter_map(|f| {
            let case = match f.shrunk() {
                Some(shrunk) => shrunk.case.parse().ok()?,
                None => f.first().case.as_deref()?.parse().ok()?,
            };
            Some(regressions::Saved {
                case,
                signature: f.signature.to_string(),
                seen: f.trials.len() as u64,
                of: fin.summary.trials,
                detail: f.first().detail().to_owned(),
            })
        })
        .collect();
    let path = regressions::path_for(&sc.path);
    let added = regressions::save(&path, &new)?;
    if added > 0 {
        let _ = writeln!(
            out,
            "saved {added} new regression(s) to {} (commit it)",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// See issue 13: shrinking gets `--shrink-budget`, or what is left of `--budget` when
    /// that is less, and says which ran out.
    #[test]
    fn shrinks_get_their_budget_or_what_is_left_of_the_runs() {
        let secs = Duration::from_secs;
        let alone = ShrinkTime::of(None, secs(60), secs(500));
        assert_eq!(alone.time, secs(60));
        assert_eq!(
            alone.words(ShrinkStop::Budget, 14),
            "the shrink budget of 1m ran out (14 runs)"
        );
        let early = ShrinkTime::of(Some(secs(600)), secs(60), secs(30));
        assert_eq!(early.time, secs(60));
        assert!(
            early
                .words(ShrinkStop::Budget, 1)
                .starts_with("the shrink budget of 1m")
        );
        let late = ShrinkTime::of(Some(secs(90)), secs(60), secs(80));
        assert_eq!(late.time, secs(10));
        assert_eq!(
            late.words(ShrinkStop::Budget, 1),
            "the run's budget of 1m 30s ran out (1 run)"
        );
        assert_eq!(
            ShrinkTime::of(Some(secs(90)), secs(60), secs(95)).time,
            Duration::ZERO
        );
        assert_eq!(
            alone.words(ShrinkStop::Runs, shrink::MAX_RUNS),
            "the shrink made its most runs (120 runs)"
        );
    }
}
