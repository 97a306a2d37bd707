//! The run, in named steps: the jobs (saved regressions, then trials or exhaustive
//! states) -> the worker pool -> the tally of what ended -> shrinking, the verdict, the
//! summary and the regressions.
//!
//! 1. `jobs` decides what runs, before any trial starts;
//! 2. `pool` runs the jobs on worker threads, and the main thread writes each trial's
//!    lines the moment it ends (`tally`), so a crash of crashtest loses no finding;
//! 3. `finish` shrinks the first trial of each distinct failure, judges the run by the
//!    rule every output uses ([`crate::report::lines`]), writes the summary and saves one
//!    regression per distinct failure ([`regressions`]).
//!
//! An interrupt (SIGINT/SIGTERM) stops new trials and kills the running ones, whose
//! outcomes are dropped; the summary is still written and the run folder removed. The run
//! folder (`work.rs`) is locked for the run's life, so that the next run can remove it if
//! this one is SIGKILLed.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::errors::TrialError;
use crate::report::human;
pub use crate::report::lines::Shard;
use crate::report::lines::{Judge, Line, RunLine, ScenarioReport, Scope, Summary};
use crate::results_file::ResultsFile;
use crate::scenario::Scenario;
use crate::trial::TrialEnv;

mod finish;
mod groups;
mod jobs;
mod pool;
pub mod preflight;
mod progress;
pub mod regressions;
pub mod shrink;
mod tally;
mod work;

pub use work::{LOCK_FILE, RunFolder, make_work};

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
    /// Cut sampled trials from recorded runs, this many from each: a group of
    /// consecutive trials shares one run of its first trial's workload ([`groups`]).
    /// `None`: every trial runs its writer for real (a dry run and a kill).
    pub cut: Option<u64>,
    /// Stop starting trials once this much time has passed.
    pub budget: Option<Duration>,
    /// Run only this share of the trials.
    pub shard: Option<Shard>,
    /// Shrink the first trial of each distinct failure.
    pub shrink: bool,
    /// The most time all shrinks together may take (and no more than what is left of
    /// `budget`); [`SHRINK_BUDGET`] unless the user says.
    pub shrink_budget: Duration,
    /// Replay the scenario's saved regressions first, and save new failures to them.
    pub regressions: bool,
    /// Redraw a progress line on stderr (a terminal, `CI` unset).
    pub progress: bool,
    /// Keep each failing trial's folder (as the crash left it, and after the fault) here.
    pub keep_failures: Option<PathBuf>,
}

/// What a run found.
#[derive(Debug)]
pub struct RunReport {
    /// The summary line.
    pub summary: Summary,
    /// The run judged by the one rule every output uses: its verdict and its distinct
    /// failures.
    pub judged: ScenarioReport,
    /// The results file.
    pub results: PathBuf,
}

/// Crash states a sampled run cuts from each recorded run, unless `--states-per-run` says.
/// Measured by the speed bench on two Go writers of 200 records (2 CPUs): 1, 4, 8, 16 and
/// 32 states a run gave 4, 13, 20-21, 28-29 and 34 times the strace loop's states/s.
/// At 16 the recording is about a third of a state's cost; 32 would halve the workloads a
/// run tries for 10-20% more states.
pub const STATES_PER_RUN: u64 = 16;

/// At most this many distinct failures are shrunk, the first ones by trial order.
pub const SHRINK_AT_MOST: usize = 8;

/// The time all shrinks of a run may take together, unless `--shrink-budget` says.
/// Measured on 2 CPUs, all of a run's shrinks together took 0.1 to 3.7 s for the failing
/// scenarios of the built-in WALs and the Go WAL, and up to 6 s for the Python targets of
/// `harness/targets/broken`: ten times that is left to slower targets. A shrink whose runs
/// hang costs the scenario's `timeout` a run, up to [`shrink::MAX_RUNS`] of them (one
/// with a 5 s timeout took 646 s); it now stops after a minute.
pub const SHRINK_BUDGET: Duration = Duration::from_secs(60);

/// Compiles the target's `files` globs (the scenario validated them already).
pub fn compile_files(globs: &[String]) -> GlobSet {
    let mut set = GlobSetBuilder::new();
    for g in globs {
        set.add(Glob::new(g).expect("scenario validated its globs"));
    }
    set.build().expect("scenario validated its globs")
}

/// Runs every trial of `scenario` (saved regressions first), printing findings to `out`
/// as they come.
pub fn run(
    scenario: Scenario,
    opts: &RunOptions,
    out: &mut dyn Write,
) -> Result<RunReport, TrialError> {
    let started = Instant::now();
    // Before anything is made: the writers must fit in crashtest's open files.
    let jobs = preflight::jobs_that_fit(&scenario, opts.jobs)?;
    if jobs < opts.jobs {
        let _ = writeln!(
            out,
            "note: {jobs} trial(s) at once, not {}: that is what crashtest's open files hold with {} writers a trial",
            opts.jobs, scenario.writers
        );
    }
    let opts = &RunOptions {
        jobs,
        ..opts.clone()
    };
    let (_work_guard, work) = make_work(opts.work_dir.as_ref())?;
    // The target, once, before any trial or results line: a setup mistake is one error.
    let notes = preflight::check(&scenario, &opts.exe, &work)?;
    let env = TrialEnv {
        files: compile_files(&scenario.target.files),
        scenario,
        exe: opts.exe.clone(),
        work,
        keep: opts.keep_failures.clone(),
    };
    // The live run is judged by the same rule as every reader of its file: the judge
    // takes each line as it is written.
    let mut sink = tally::Sink {
        results: ResultsFile::create(&opts.results_dir, &env.scenario.name)?,
        judge: Judge::new(if opts.shard.is_some() {
            Scope::OneShard
        } else {
            Scope::Whole
        }),
    };
    let jobs = jobs::plan(&env, opts, out)?;
    sink.write(run_line(&env, opts, &jobs))?;
    jobs.announce(&env, opts, out);
    for note in notes.0 {
        let _ = writeln!(out, "note: {note}");
    }
    let envs = jobs::Envs::new(&env, jobs.list.listed());
    let mut ended = pool::run_all(&jobs, &envs, opts, started, &mut sink, out);
    finish::shrink_failures(&mut ended, &envs, opts, started, &mut sink, out)?;
    if let Some(e) = ended.error.take() {
        return Err(e);
    }
    let fin = finish::judge_and_summarize(&jobs, &envs, &ended, started, sink)?;
    finish::say_what_was_found(&fin, &ended.tally, &jobs, opts, started, out);
    finish::save_regressions(&fin, &envs, opts, out)?;
    Ok(RunReport {
        summary: fin.summary,
        judged: fin.judged,
        results: fin.results,
    })
}

/// The run's first line: what it sets out to do.
fn run_line(env: &TrialEnv, opts: &RunOptions, jobs: &jobs::Jobs) -> Line {
    let sc = &env.scenario;
    Line::Run(RunLine {
        scenario: sc.name.clone(),
        seed: sc.seed,
        path: sc.path.display().to_string(),
        trials: match jobs.exhaustive {
            Some(_) => jobs.trials() as u64,
            None => sc.trials,
        },
        target: human::target_name(sc),
        expect: sc.expect,
        shard: opts.shard,
        regressions: jobs.saved as u64,
        states_per_run: jobs.states_per_run(),
    })
}
