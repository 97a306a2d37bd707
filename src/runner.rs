//! Trials in parallel, findings reported as they come, a summary at the end.
//!
//! `jobs` worker threads take trial indices from a shared counter; each trial runs whole
//! on its worker (ptrace answers only the thread that forked the tracee). The main thread
//! receives outcomes, appends findings to the results file at once, and prints them. An
//! interrupt (SIGINT/SIGTERM) stops new trials and kills the running ones, whose outcomes
//! are dropped; the summary is still written and the run folder removed.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use globset::{Glob, GlobSet, GlobSetBuilder};

use serde::Serialize;

use crate::case::CaseId;
use crate::errors::TrialError;
use crate::faults::FaultKind;
use crate::oracle::Class;
use crate::process;
use crate::regressions;
use crate::report::{self, Finding, ResultsFile, Summary};
use crate::scenario::{Expect, Scenario};
use crate::seed::Seed;
use crate::shrink;
use crate::states;
use crate::trial::{self, Overrides, TrialDetail, TrialEnv, TrialOutcome};

/// How many states of an exhaustive run cut from the write log are checked against a real
/// kill at the same point.
pub const STATES_CHECKED: usize = 8;

/// How a run is carried out, beyond the scenario.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The scenario path as the user typed it (for case ids and repro commands).
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
    /// With `exhaustive`: run the writer again for every state (a dry run and a real
    /// kill) instead of cutting every state from one recorded run.
    pub reexec: bool,
    /// Stop starting trials once this much time has passed.
    pub budget: Option<Duration>,
    /// Run only this share of the trials.
    pub shard: Option<Shard>,
    /// Shrink the first failure of each class.
    pub shrink: bool,
    /// Replay the scenario's saved regressions first, and save new failures to them.
    pub regressions: bool,
    /// Redraw a progress line on stderr (a terminal, `CI` unset).
    pub progress: bool,
    /// Keep each failing trial's folder (as the crash left it, and after the fault) here.
    pub keep_failures: Option<PathBuf>,
}

/// A share of a run's trials: trial `i` belongs to shard `i mod n + 1`. Shards are
/// disjoint and together hold every trial, so N machines can split one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Shard {
    /// This shard, 1..=n.
    pub k: u64,
    /// How many shards.
    pub n: u64,
}

impl Shard {
    /// Whether trial `index` belongs to this shard.
    pub fn holds(self, index: u64) -> bool {
        index % self.n == self.k - 1
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("shard '{s}' must look like K/N with 1 <= K <= N, e.g. 2/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u64, u64) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

/// What a run found.
#[derive(Debug)]
pub struct RunReport {
    /// The summary line.
    pub summary: Summary,
    /// The failing trials, sorted by case.
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
    crate::spill::place_in(&canonical);
    Ok((tmp, canonical))
}

/// Runs every trial of `scenario` (saved regressions first), printing findings to `out`
/// as they come.
pub fn run(
    scenario: Scenario,
    opts: &RunOptions,
    out: &mut dyn Write,
) -> Result<RunReport, TrialError> {
    let started = Instant::now();
    let (_work_guard, work) = make_work(opts.work_dir.as_ref())?;
    crate::preflight::check(&scenario, &opts.exe, &work)?;
    let files = compile_files(&scenario.target.files);
    let mut results = ResultsFile::create(&opts.results_dir, &scenario)?;
    let env = TrialEnv {
        scenario,
        exe: opts.exe.clone(),
        work,
        files,
        keep: opts.keep_failures.clone(),
    };
    let sc = &env.scenario;
    let shard = opts.shard;

    // The jobs: saved regressions (in the first shard only), then the trials.
    let mut jobs: Vec<Job> = Vec::new();
    let regressions_path = regressions::path_for(&sc.path);
    if opts.regressions && shard.is_none_or(|s| s.k == 1) {
        let (cases, warnings) = regressions::load(&regressions_path);
        for w in warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        jobs.extend(cases.into_iter().map(|c| Job {
            seed: c.seed,
            index: c.trial,
            over: c.over,
            regression: true,
            state: StateFrom::Kill,
        }));
    }
    let saved = jobs.len();
    // Exhaustive: one recorded run of trial 0, and every crash state of it.
    let mut recording = None;
    let mut how = "";
    let plans = if opts.exhaustive {
        match trial::Recording::make(&env, 0)? {
            Ok(rec) => {
                let plans = rec.plans(sc.sector);
                let unfit = rec.unfit(&env);
                if let Some(why) = &unfit {
                    let _ = writeln!(out, "note: every state runs the writer again: {why}");
                }
                if opts.reexec || unfit.is_some() {
                    how = ", each by re-running the writer";
                } else {
                    how = ", cut from one recorded run";
                    recording = Some(rec);
                }
                Some(plans)
            }
            Err(_) => None,
        }
    } else {
        None
    };
    match &plans {
        Some(plans) => {
            // A kill can land while another writer's call is in flight, so a real kill
            // of several writers leaves one of several states: only one writer's states
            // are checked byte for byte.
            let checked = if sc.writers == 1 {
                states::sample(plans.len(), STATES_CHECKED)
            } else {
                if recording.is_some() {
                    let _ = writeln!(
                        out,
                        "note: the states of {} writers are cut from the interleaving of the recorded run and not checked against real kills",
                        sc.writers
                    );
                }
                Vec::new()
            };
            let job = |i: usize, over: Overrides| Job {
                seed: sc.seed,
                index: 0,
                over,
                regression: false,
                state: match (&recording, checked.contains(&i)) {
                    (None, _) => StateFrom::Kill,
                    (Some(_), false) => StateFrom::Log,
                    (Some(_), true) => StateFrom::LogChecked,
                },
            };
            // The checked states first: a log that cannot be trusted stops the run early.
            jobs.extend(checked.iter().map(|&i| job(i, Overrides::at(plans[i]))));
            jobs.extend(
                (0..plans.len())
                    .filter(|i| !checked.contains(i))
                    .map(|i| job(i, Overrides::at(plans[i]))),
            );
            // With power loss among the faults: at every kill point, the power loss
            // drawn there (which unsynced writes and names land, which tears).
            if FaultKind::PowerLoss.weight(&sc.faults) > 0 {
                jobs.extend(plans.iter().filter(|p| p.tear.is_none()).map(|&plan| {
                    job(
                        usize::MAX,
                        Overrides {
                            fault: Some(FaultKind::PowerLoss),
                            ..Overrides::at(plan)
                        },
                    )
                }));
            }
        }
        None => jobs.extend(
            (0..sc.trials)
                .filter(|&i| shard.is_none_or(|s| s.holds(i)))
                .map(|index| Job {
                    seed: sc.seed,
                    index,
                    over: Overrides::default(),
                    regression: false,
                    state: StateFrom::Kill,
                }),
        ),
    }
    results.append(
        "run",
        sc,
        serde_json::json!({
            "path": sc.path.display().to_string(),
            "trials": plans.as_ref().map_or(sc.trials, |_| (jobs.len() - saved) as u64),
            "target": report::target_name(sc),
            "expect": sc.expect.to_string(),
            "shard": shard.map(|s| s.to_string()),
            "regressions": saved,
        }),
    )?;
    let what = match &plans {
        Some(p) => {
            let torn = p.iter().filter(|p| p.tear.is_some()).count();
            let power = jobs[saved..]
                .iter()
                .filter(|j| j.over.fault == Some(FaultKind::PowerLoss))
                .count();
            let power = if power > 0 {
                format!(", {power} power losses")
            } else {
                String::new()
            };
            format!(
                "exhaustive: {} crash states of trial 0 ({} kill points, {torn} torn writes{power}{how})",
                jobs.len() - saved,
                p.len() - torn
            )
        }
        None => format!("{} trials", jobs.len() - saved),
    };
    let mut extras = Vec::new();
    if saved > 0 {
        extras.push(format!("{saved} saved regressions first"));
    }
    if let Some(s) = shard {
        extras.push(format!("shard {s}"));
    }
    if let Some(b) = opts.budget {
        extras.push(format!("budget {}", humantime::format_duration(b)));
    }
    let extras = if extras.is_empty() {
        String::new()
    } else {
        format!(" ({})", extras.join(", "))
    };
    let _ = writeln!(
        out,
        "crashtest: {}: {what}{extras} of target {}, seed {}, {} jobs, expect {}",
        sc.name,
        report::target_name(sc),
        sc.seed,
        opts.jobs,
        sc.expect
    );

    // One environment per seed: saved regressions may come from runs with other seeds.
    let mut envs: BTreeMap<Seed, TrialEnv> = BTreeMap::new();
    for job in &jobs {
        if job.seed != sc.seed && !envs.contains_key(&job.seed) {
            let mut other = env.scenario.clone();
            other.seed = job.seed;
            envs.insert(
                job.seed,
                TrialEnv {
                    scenario: other,
                    exe: env.exe.clone(),
                    work: env.work.clone(),
                    files: env.files.clone(),
                    keep: env.keep.clone(),
                },
            );
        }
    }
    let env_for = |seed: Seed| if seed == sc.seed { &env } else { &envs[&seed] };

    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let budget_hit = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut tally = Tally::default();
    let mut first_error = None;
    let mut progress = Progress::new(opts.progress, jobs.len() as u64, started);
    // Trials end in any order; what is printed, and which failure of each class is
    // shrunk, follow the order of the jobs, so that the output is the same whatever the
    // number of jobs. The results file takes each trial as it ends, so a crash of
    // crashtest loses no finding.
    let mut printouts: BTreeMap<usize, Option<String>> = BTreeMap::new();
    let mut printed = 0;
    let mut first_of_class: BTreeMap<Class, (usize, Job, TrialOutcome)> = BTreeMap::new();
    let cpus = process::allowed_cpus();
    std::thread::scope(|scope| {
        for worker in 0..opts.jobs.max(1) {
            let tx = tx.clone();
            let (jobs, next, stop, budget_hit, env_for, recording, cpus) = (
                &jobs,
                &next,
                &stop,
                &budget_hit,
                &env_for,
                &recording,
                &cpus,
            );
            scope.spawn(move || {
                // The tracer and its writer on one CPU: a ptrace stop is then a switch on
                // that CPU, not a wake-up sent to another (3x cheaper on a VM). Not with
                // several writers, whose races need CPUs of their own, nor with more
                // jobs than CPUs, which the scheduler shares out better.
                if sc.writers == 1 && cpus.len() > 1 && opts.jobs <= cpus.len() {
                    process::pin_thread(&[cpus[worker % cpus.len()]]);
                }
                while !stop.load(Ordering::SeqCst) && !process::interrupted() {
                    if opts.budget.is_some_and(|b| started.elapsed() >= b) {
                        budget_hit.store(true, Ordering::SeqCst);
                        break;
                    }
                    let pos = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&job) = jobs.get(pos) else { break };
                    let env = env_for(job.seed);
                    // A panic in a trial is a crashtest bug: report it as a harness failure
                    // (its writer's group guard has already killed the writer).
                    let result = std::panic::catch_unwind(|| match (job.state, recording) {
                        (StateFrom::Log | StateFrom::LogChecked, Some(rec)) => {
                            trial::run_state(env, rec, job.over, job.state == StateFrom::LogChecked)
                        }
                        _ => trial::run_case(env, job.index, job.over),
                    })
                    .unwrap_or(Err(TrialError::Panicked { trial: job.index }));
                    let msg = Msg {
                        pos,
                        job,
                        result: result.map(|(o, d)| {
                            let timeline = timeline(&o, &d);
                            (o, timeline)
                        }),
                    };
                    if tx.send(msg).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for Msg { pos, job, result } in rx {
            let err = match result {
                Ok((outcome, timeline)) => {
                    let case = case_id(opts, &job);
                    let recorded = tally.record(&mut results, sc, &case, &outcome, &timeline);
                    if let Some(v) = outcome.violation()
                        && opts.shrink
                        && !job.regression
                        && first_of_class.get(&v.class).is_none_or(|(p, ..)| pos < *p)
                    {
                        first_of_class.insert(v.class, (pos, job, outcome.clone()));
                    }
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
            // Print every trial that has no unfinished one before it.
            while let Some(text) = printouts.remove(&printed) {
                tally.print(text, out, opts.show);
                printed += 1;
            }
            progress.tick(tally.ran, tally.failures.len());
            if let Some(e) = err {
                first_error.get_or_insert(e);
                stop.store(true, Ordering::SeqCst);
            }
        }
    });
    progress.clear();
    // Trials after a gap (one interrupted, or cut by the budget) print last, in order.
    for (_, text) in std::mem::take(&mut printouts) {
        tally.print(text, out, opts.show);
    }
    // The first failure of each class, by job order, shrunk once every trial has ended;
    // not past the budget, which promised when the run ends.
    let out_of_budget = budget_hit.load(Ordering::SeqCst);
    if out_of_budget && !first_of_class.is_empty() {
        let _ = writeln!(out, "not shrunk: the budget ran out");
    }
    if first_error.is_none() && !process::interrupted() && !out_of_budget {
        let mut shrunk: Vec<(Class, Option<(Overrides, TrialOutcome)>)> = Vec::new();
        std::thread::scope(|scope| {
            let handles: Vec<_> = first_of_class
                .iter()
                .map(|(&class, (_, job, outcome))| {
                    let env = env_for(job.seed);
                    (
                        class,
                        scope.spawn(move || shrink::shrink(env, job.index, outcome)),
                    )
                })
                .collect();
            for (class, handle) in handles {
                let found = handle.join().ok().and_then(Result::ok).flatten();
                shrunk.push((class, found));
            }
        });
        for (class, found) in shrunk {
            let Some((over, outcome)) = found else {
                continue;
            };
            let job = first_of_class[&class].1;
            let original = case_id(opts, &job);
            let case = CaseId {
                over,
                ..original.clone()
            };
            let _ = writeln!(
                out,
                "SHRUNK trial {} to {} record(s) of at most {} bytes, kill at {}\n     repro: {}",
                job.index,
                over.records.unwrap_or(sc.records),
                over.max_payload.unwrap_or(sc.payload.max),
                outcome.kill_words(),
                report::repro_command(&case)
            );
            tally.shrunk.insert(original.clone(), case.clone());
            results.append(
                "shrunk",
                sc,
                serde_json::json!({
                    "case": original.to_string(),
                    "shrunk": {
                        "case": case.to_string(),
                        "repro": report::repro_command(&case),
                        "records": over.records,
                        "max_payload": over.max_payload,
                        "kill": over.plan.map(|p| p.kill_at),
                        "tear": over.plan.and_then(|p| p.tear),
                        "detail": outcome.violation().map(|v| v.detail.clone()),
                    }
                }),
            )?;
        }
    }
    progress.clear();
    if let Some(e) = first_error {
        return Err(e);
    }
    let Tally {
        ran,
        mut failures,
        faults,
        killed,
        recovery_crashes,
        max_boundaries,
        mut cases,
        shrunk,
        ..
    } = tally;
    // Trials end in any order: what is kept of them is sorted, so it is the same for any
    // number of jobs.
    failures.sort_by_key(|f| (f.trial, f.overrides));
    cases.sort();
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
        // One shard's share cannot tell that the scenario's bug is never found: `merge`,
        // which sees every shard, decides.
        Expect::Fail => findings > 0 || shard.is_some(),
    };
    let interrupted = process::interrupted() && ran < jobs.len() as u64;
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
        budget_exhausted: budget_hit.load(Ordering::SeqCst) && ran < jobs.len() as u64,
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    results.append("summary", sc, &summary)?;
    // The summary on its own, written atomically: a reader never sees half of it.
    results
        .write_summary_file(&summary)
        .map_err(|source| TrialError::Io {
            what: "write the summary of",
            path: results.path().to_owned(),
            source,
        })?;
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
        "{} {} in {secs:.1}s ({:.1} trials/s): {} failed{}{}",
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
        },
        if summary.budget_exhausted {
            format!("; the budget ran out, {} not run", jobs.len() as u64 - ran)
        } else {
            String::new()
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
    // Failures of a scenario that should pass are saved, shrunk if they were, to be
    // replayed first next time.
    if opts.regressions && sc.expect == Expect::Pass && !failures.is_empty() {
        let new: Vec<(CaseId, String)> = cases
            .iter()
            .map(|(case, what)| {
                (
                    shrunk.get(case).cloned().unwrap_or_else(|| case.clone()),
                    what.clone(),
                )
            })
            .collect();
        let added = regressions::save(&regressions_path, &new)?;
        if added > 0 {
            let _ = writeln!(
                out,
                "saved {added} new regression(s) to {} (commit it)",
                regressions_path.display()
            );
        }
    }
    Ok(RunReport {
        summary,
        failures,
        results: results.path().to_owned(),
    })
}

/// One trial to run: its seed, index and overrides; `regression` when it came from the
/// scenario's saved regressions.
#[derive(Clone, Copy, Debug)]
struct Job {
    seed: Seed,
    index: u64,
    over: Overrides,
    regression: bool,
    /// How the case's crash state is made.
    state: StateFrom,
}

/// Where a job's crash state comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StateFrom {
    /// A real kill in a run of its own (after a dry run).
    Kill,
    /// Cut from the run's recording, only replayed.
    Log,
    /// Cut from the recording, and checked against a real kill at the same point.
    LogChecked,
}

fn case_id(opts: &RunOptions, job: &Job) -> CaseId {
    CaseId {
        scenario: opts.scenario_arg.clone(),
        seed: job.seed,
        trial: job.index,
        over: job.over,
    }
}

/// The crash run's boundaries in words, the kill last.
/// The crash run's boundaries in words, for a finding's results line; a passing trial's
/// are never written, so they are not read back from the trace.
fn timeline(outcome: &TrialOutcome, detail: &TrialDetail) -> Vec<String> {
    if outcome.violation().is_none() {
        return Vec::new();
    }
    detail.boundaries.iter().map(|b| b.description).collect()
}

struct Msg {
    /// The job's place in the run's list.
    pos: usize,
    job: Job,
    result: Result<(TrialOutcome, Vec<String>), TrialError>,
}

/// What the main thread counts as trials end.
#[derive(Default)]
struct Tally {
    ran: u64,
    failures: Vec<TrialOutcome>,
    faults: BTreeMap<FaultKind, u64>,
    killed: u64,
    recovery_crashes: u64,
    max_boundaries: u64,
    /// Each failing case, with its class and detail, for the regressions file.
    cases: Vec<(CaseId, String)>,
    shrunk: BTreeMap<CaseId, CaseId>,
    /// Findings handed to [`Tally::print`] so far.
    printed: usize,
}

impl Tally {
    /// Counts a trial and appends its lines to the results file. Returns what to print
    /// for it, if anything (a finding).
    fn record(
        &mut self,
        results: &mut ResultsFile,
        sc: &Scenario,
        case: &CaseId,
        outcome: &TrialOutcome,
        timeline: &[String],
    ) -> Result<Option<String>, TrialError> {
        self.ran += 1;
        *self.faults.entry(outcome.fault).or_default() += 1;
        self.killed += u64::from(outcome.kill.is_some());
        self.recovery_crashes += u64::from(outcome.recovery_kill.is_some());
        self.max_boundaries = self.max_boundaries.max(outcome.boundaries);
        // Synced with the next finding, or within a second: a finding is synced at once.
        results.append_unsynced(
            "trial",
            sc,
            serde_json::json!({
                "trial": outcome.trial,
                "case": case.to_string(),
                "fault": outcome.fault,
                "boundaries": outcome.boundaries,
                "kill": outcome.kill.as_ref().map(|b| b.index),
                "tear": outcome.tear,
                "class": outcome.violation().map(|v| v.class),
            }),
        )?;
        let Some(v) = outcome.violation() else {
            return Ok(None);
        };
        let repro = report::repro_command(case);
        results.append(
            "finding",
            sc,
            Finding {
                outcome,
                case: case.to_string(),
                repro: repro.clone(),
                timeline,
            },
        )?;
        self.cases
            .push((case.clone(), format!("{}: {}", v.class, v.detail)));
        self.failures.push(outcome.clone());
        Ok(Some(report::finding_lines(outcome, &repro)))
    }

    /// Prints a trial's finding, in job order, while fewer than `show` have been printed.
    fn print(&mut self, text: Option<String>, out: &mut dyn Write, show: usize) {
        if let Some(text) = text {
            if self.printed < show {
                let _ = write!(out, "{text}");
            }
            self.printed += 1;
        }
    }
}

/// The progress line on a terminal: trials done, rate, findings, time left.
struct Progress {
    on: bool,
    total: u64,
    started: Instant,
    drawn: bool,
}

impl Progress {
    fn new(on: bool, total: u64, started: Instant) -> Self {
        Progress {
            on,
            total,
            started,
            drawn: false,
        }
    }

    fn tick(&mut self, done: u64, findings: usize) {
        if !self.on {
            return;
        }
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let eta = if rate > 0.0 {
            (self.total.saturating_sub(done)) as f64 / rate
        } else {
            0.0
        };
        let width = 30;
        let filled = (done * width / self.total.max(1)) as usize;
        let bar = format!(
            "{}{}",
            "#".repeat(filled),
            "-".repeat(width as usize - filled)
        );
        eprint!(
            "\r[{bar}] {done}/{} {rate:.1} trials/s, {findings} findings, ETA {eta:.0}s ",
            self.total
        );
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r{:80}\r", "");
            self.drawn = false;
        }
    }
}
