//! Trials in parallel, findings reported as they come, a summary at the end.
//!
//! `jobs` worker threads take trial indices from a shared counter; each trial runs whole
//! on its worker (ptrace answers only the thread that forked the tracee). The main thread
//! receives outcomes, appends findings to the results file at once, and prints them. An
//! interrupt (SIGINT/SIGTERM) stops new trials and kills the running ones, whose outcomes
//! are dropped; the summary is still written and the run folder removed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::errors::TrialError;
use crate::oracle::Class;
use crate::process;
use crate::report::{self, Finding, ResultsFile, Summary};
use crate::scenario::{Expect, Scenario};
use crate::trial::{self, TrialEnv, TrialOutcome};

/// How a run is carried out, beyond the scenario.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The scenario path as the user typed it (for repro commands).
    pub scenario_arg: String,
    /// Worker threads.
    pub jobs: usize,
    /// Where results files go.
    pub results_dir: PathBuf,
    /// Where the run folder is made (default: the system temp folder).
    pub work_dir: Option<PathBuf>,
    /// The crashtest executable, which serves the built-in targets.
    pub exe: PathBuf,
    /// Findings printed in full before the rest are only counted.
    pub show: usize,
    /// Walk every crash state of trial 0's workload (each boundary, each torn length at
    /// sector steps) instead of drawing `trials` of them.
    pub exhaustive: bool,
}

/// What a run found.
#[derive(Debug)]
pub struct RunReport {
    /// The summary line.
    pub summary: Summary,
    /// The failing trials, sorted by index.
    pub failures: Vec<TrialOutcome>,
    /// The results file.
    pub results: PathBuf,
}

/// Compiles the target's `files` globs (the scenario validated them already).
pub fn compile_files(globs: &[String]) -> GlobSet {
    let mut set = GlobSetBuilder::new();
    for g in globs {
        set.add(Glob::new(g).expect("scenario validated its globs"));
    }
    set.build().expect("scenario validated its globs")
}

/// Makes the run folder: a fresh temp folder, removed when the returned guard drops.
pub fn make_work(work_dir: Option<&PathBuf>) -> Result<(tempfile::TempDir, PathBuf), TrialError> {
    let parent = work_dir.cloned().unwrap_or_else(std::env::temp_dir);
    let io = |what| {
        let parent = parent.clone();
        move |source| TrialError::Io {
            what,
            path: parent,
            source,
        }
    };
    let tmp = tempfile::Builder::new()
        .prefix("crashtest-")
        .tempdir_in(&parent)
        .map_err(io("create a run folder"))?;
    let canonical = tmp
        .path()
        .canonicalize()
        .map_err(io("resolve the run folder"))?;
    Ok((tmp, canonical))
}

/// Runs every trial of `scenario`, printing findings to `out` as they come.
pub fn run(
    scenario: Scenario,
    opts: &RunOptions,
    out: &mut dyn Write,
) -> Result<RunReport, TrialError> {
    let started = Instant::now();
    let (_work_guard, work) = make_work(opts.work_dir.as_ref())?;
    let files = compile_files(&scenario.target.files);
    let mut results = ResultsFile::create(&opts.results_dir, &scenario)?;
    results.append(
        "run",
        &scenario,
        serde_json::json!({
            "path": scenario.path.display().to_string(),
            "trials": scenario.trials,
            "target": report::target_name(&scenario),
            "expect": scenario.expect.to_string(),
        }),
    )?;
    let env = TrialEnv {
        scenario,
        exe: opts.exe.clone(),
        work,
        files,
    };
    let sc = &env.scenario;
    // Exhaustive: the crash states of trial 0, each run as a trial of its own.
    let plans = if opts.exhaustive {
        trial::crash_states(&env, 0)?.ok()
    } else {
        None
    };
    let total = plans.as_ref().map_or(sc.trials, |p| p.len() as u64);
    let what = match &plans {
        Some(p) => {
            let torn = p.iter().filter(|p| p.tear.is_some()).count();
            format!(
                "exhaustive: {total} crash states of trial 0 ({} kill points, {torn} torn writes)",
                p.len() - torn
            )
        }
        None => format!("{total} trials"),
    };
    let _ = writeln!(
        out,
        "crashtest: {}: {what} of target {}, seed {}, {} jobs, expect {}",
        sc.name,
        report::target_name(sc),
        sc.seed,
        opts.jobs,
        sc.expect
    );
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel();
    let mut failures = Vec::new();
    let mut ran = 0u64;
    let mut faults = BTreeMap::new();
    let mut killed = 0u64;
    let mut recovery_crashes = 0u64;
    let mut max_boundaries = 0u64;
    let mut first_error = None;
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            let tx = tx.clone();
            let (env, next, stop, plans) = (&env, &next, &stop, &plans);
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) && !process::interrupted() {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= total {
                        break;
                    }
                    let (index, plan) = match plans {
                        Some(plans) => (0, Some(plans[i as usize])),
                        None => (i, None),
                    };
                    // A panic in a trial is a crashtest bug: report it as a harness failure
                    // (its writer's group guard has already killed the writer).
                    let result = std::panic::catch_unwind(|| trial::run_planned(env, index, plan))
                        .unwrap_or(Err(TrialError::Panicked { trial: index }))
                        .map(|(outcome, _)| outcome);
                    if tx.send(result).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for result in rx {
            match result {
                Ok(outcome) => {
                    ran += 1;
                    *faults.entry(outcome.fault).or_default() += 1;
                    killed += u64::from(outcome.kill.is_some());
                    recovery_crashes += u64::from(outcome.recovery_kill.is_some());
                    max_boundaries = max_boundaries.max(outcome.boundaries);
                    if outcome.violation().is_some() {
                        let repro = report::repro_command(
                            &opts.scenario_arg,
                            sc.seed,
                            outcome.trial,
                            outcome.plan,
                        );
                        if let Err(e) = results.append(
                            "finding",
                            sc,
                            Finding {
                                outcome: &outcome,
                                repro: repro.clone(),
                            },
                        ) {
                            first_error.get_or_insert(e);
                            stop.store(true, Ordering::SeqCst);
                        }
                        if failures.len() < opts.show {
                            let _ = write!(out, "{}", report::finding_lines(&outcome, &repro));
                        }
                        failures.push(outcome);
                    }
                }
                Err(TrialError::Interrupted) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                    stop.store(true, Ordering::SeqCst);
                }
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    failures.sort_by_key(|o| (o.trial, o.plan));
    let mut classes: BTreeMap<Class, u64> = BTreeMap::new();
    for f in &failures {
        *classes
            .entry(f.violation().expect("failures have violations").class)
            .or_default() += 1;
    }
    let findings = failures
        .iter()
        .filter(|f| f.violation().is_some_and(|v| v.class != Class::TargetError))
        .count();
    let met = match sc.expect {
        Expect::Pass => failures.is_empty(),
        Expect::Fail => findings > 0,
    };
    let interrupted = process::interrupted() && ran < total;
    let summary = Summary {
        trials: ran,
        failed: failures.len() as u64,
        classes,
        faults,
        killed,
        recovery_crashes,
        exhaustive: plans.is_some(),
        expect: sc.expect.to_string(),
        met: met && !interrupted,
        interrupted,
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    results.append("summary", sc, &summary)?;
    if failures.len() > opts.show {
        let _ = writeln!(
            out,
            "... and {} more findings, all in the results file",
            failures.len() - opts.show
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
        "{} {} in {secs:.1}s ({:.1} trials/s): {} failed{}",
        summary.trials,
        if plans.is_some() {
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
        }
    );
    let _ = writeln!(out, "results: {}", results.path().display());
    if summary.trials > 0 && max_boundaries == 0 {
        let _ = writeln!(
            out,
            "warning: the writer never changed a file inside CRASHTEST_DIR, so no trial could kill it \
             mid-way: does the target keep its files in the folder CRASHTEST_DIR names?"
        );
    }
    Ok(RunReport {
        summary,
        failures,
        results: results.path().to_owned(),
    })
}
