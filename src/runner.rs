//! Trials in parallel, findings reported as they come, a summary at the end.
//!
//! `jobs` worker threads take trial indices from a shared counter; each trial runs whole
//! on its worker (ptrace answers only the thread that forked the tracee). The main thread
//! receives outcomes, appends findings to the results file at once, and prints them. An
//! interrupt (SIGINT/SIGTERM) stops new trials and kills the running ones, whose outcomes
//! are dropped; the summary is still written and the run folder removed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
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
use crate::trial::{self, Overrides, TrialDetail, TrialEnv, TrialOutcome};

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
        }));
    }
    let saved = jobs.len();
    let plans = if opts.exhaustive {
        trial::crash_states(&env, 0)?.ok()
    } else {
        None
    };
    match &plans {
        Some(plans) => jobs.extend(plans.iter().map(|&plan| Job {
            seed: sc.seed,
            index: 0,
            over: Overrides::at(plan),
            regression: false,
        })),
        None => jobs.extend(
            (0..sc.trials)
                .filter(|&i| shard.is_none_or(|s| s.holds(i)))
                .map(|index| Job {
                    seed: sc.seed,
                    index,
                    over: Overrides::default(),
                    regression: false,
                }),
        ),
    }
    results.append(
        "run",
        sc,
        serde_json::json!({
            "path": sc.path.display().to_string(),
            "trials": plans.as_ref().map_or(sc.trials, |p| p.len() as u64),
            "target": report::target_name(sc),
            "expect": sc.expect.to_string(),
            "shard": shard.map(|s| s.to_string()),
            "regressions": saved,
        }),
    )?;
    let what = match &plans {
        Some(p) => {
            let torn = p.iter().filter(|p| p.tear.is_some()).count();
            format!(
                "exhaustive: {} crash states of trial 0 ({} kill points, {torn} torn writes)",
                p.len(),
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
    let shrinking: Mutex<BTreeSet<Class>> = Mutex::new(BTreeSet::new());
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut tally = Tally::default();
    let mut first_error = None;
    let mut progress = Progress::new(opts.progress, jobs.len() as u64, started);
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            let tx = tx.clone();
            let (jobs, next, stop, budget_hit, shrinking, env_for) =
                (&jobs, &next, &stop, &budget_hit, &shrinking, &env_for);
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) && !process::interrupted() {
                    if opts.budget.is_some_and(|b| started.elapsed() >= b) {
                        budget_hit.store(true, Ordering::SeqCst);
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&job) = jobs.get(i) else { break };
                    let env = env_for(job.seed);
                    // A panic in a trial is a crashtest bug: report it as a harness failure
                    // (its writer's group guard has already killed the writer).
                    let result =
                        std::panic::catch_unwind(|| trial::run_case(env, job.index, job.over))
                            .unwrap_or(Err(TrialError::Panicked { trial: job.index }));
                    let to_shrink = match &result {
                        Ok((outcome, _)) if opts.shrink && !job.regression => outcome
                            .violation()
                            .filter(|v| {
                                shrinking.lock().expect("no panics hold it").insert(v.class)
                            })
                            .map(|_| outcome.clone()),
                        _ => None,
                    };
                    if tx
                        .send(Msg::Done {
                            job,
                            result: result.map(|(o, d)| {
                                let timeline = timeline(&o, &d);
                                (o, timeline)
                            }),
                        })
                        .is_err()
                    {
                        break;
                    }
                    // After the finding is on disk: look for a smaller case.
                    if let Some(original) = to_shrink
                        && let Ok(Some((over, smaller))) = shrink::shrink(env, job.index, &original)
                    {
                        let _ = tx.send(Msg::Shrunk {
                            job,
                            over,
                            outcome: smaller,
                        });
                    }
                }
            });
        }
        drop(tx);
        for msg in rx {
            let err = match msg {
                Msg::Done {
                    job,
                    result: Ok((outcome, timeline)),
                } => {
                    let case = case_id(opts, &job);
                    progress.clear();
                    let e = tally
                        .record(&mut results, sc, &case, &outcome, &timeline, out, opts.show)
                        .err();
                    progress.tick(tally.ran, tally.failures.len());
                    e
                }
                Msg::Done {
                    result: Err(TrialError::Interrupted),
                    ..
                } => None,
                Msg::Done { result: Err(e), .. } => Some(e),
                Msg::Shrunk { job, over, outcome } => {
                    let original = case_id(opts, &job);
                    let case = CaseId {
                        over,
                        ..original.clone()
                    };
                    progress.clear();
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
                    results
                        .append(
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
                        )
                        .err()
                }
            };
            if let Some(e) = err {
                first_error.get_or_insert(e);
                stop.store(true, Ordering::SeqCst);
            }
        }
    });
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
        cases,
        shrunk,
    } = tally;
    failures.sort_by_key(|f| (f.trial, f.overrides));
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

enum Msg {
    /// A trial ended (or could not be run).
    Done {
        job: Job,
        result: Result<(TrialOutcome, Vec<String>), TrialError>,
    },
    /// A smaller case of `job` that fails the same way.
    Shrunk {
        job: Job,
        over: Overrides,
        outcome: TrialOutcome,
    },
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
}

impl Tally {
    /// Counts a trial, appends its lines to the results file and prints a finding.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        results: &mut ResultsFile,
        sc: &Scenario,
        case: &CaseId,
        outcome: &TrialOutcome,
        timeline: &[String],
        out: &mut dyn Write,
        show: usize,
    ) -> Result<(), TrialError> {
        self.ran += 1;
        *self.faults.entry(outcome.fault).or_default() += 1;
        self.killed += u64::from(outcome.kill.is_some());
        self.recovery_crashes += u64::from(outcome.recovery_kill.is_some());
        self.max_boundaries = self.max_boundaries.max(outcome.boundaries);
        results.append(
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
            return Ok(());
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
        if self.failures.len() < show {
            let _ = write!(out, "{}", report::finding_lines(outcome, &repro));
        }
        self.cases
            .push((case.clone(), format!("{}: {}", v.class, v.detail)));
        self.failures.push(outcome.clone());
        Ok(())
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
