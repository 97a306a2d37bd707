//! The command line: `crashtest run`, `repro`, `merge`, `report` and `target`, each lowered from its clap arguments in one place and run as a function of its own.
//!
//! Exit status is part of the interface, so CI can tell a broken log from a broken harness:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the scenario met its `expect` (repro: the trial passed) |
//! | 1 | it did not: a violation where `pass` was expected, or none where `fail` was, or the run did not finish (merge: a shard missing, a torn file; repro: the trial failed) |
//! | 2 | usage or scenario error (bad flag, malformed TOML, unknown target, or a target the check before the first trial refused: a missing or non-executable program, a writer or replay that breaks protocol v1 on no records) |
//! | 3 | crashtest itself or its machine failed (it could not trace, write results, ...; ptrace refused, a full file system, no descriptors left) |
//! | 130 | interrupted by SIGINT/SIGTERM |

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::case::CaseId;
use crate::errors::{WalError, chain};
use crate::protocol::Role;
use crate::report::lines::{Report, Scope};
use crate::report::{human, merge};
use crate::run::{self, RunOptions, Shard};
use crate::scenario::Scenario;
use crate::seed::Seed;
use crate::trial::{self, TrialEnv};
use crate::wal::{self, BuiltinWal};

/// Exit codes (see the module docs).
pub mod exit {
    /// The scenario met its `expect`.
    pub const PASS: u8 = 0;
    /// The scenario did not meet its `expect`.
    pub const EXPECTATION_NOT_MET: u8 = 1;
    /// Bad usage or a bad scenario, its target included.
    pub const USAGE_OR_CONFIG: u8 = 2;
    /// crashtest itself, or the machine it runs on, failed.
    pub const HARNESS_FAILURE: u8 = 3;
    /// Interrupted by a signal.
    pub const INTERRUPTED: u8 = 130;
}

/// Crash-consistency fault injection for write-ahead logs.
///
/// crashtest runs a writer for real, SIGKILLs it at a syscall boundary, damages its files
/// the way crashes do, replays the log in a fresh process and checks that what comes back
/// is a correct prefix holding every acknowledged record.
#[derive(Debug, Parser)]
#[command(name = "crashtest", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run every trial of a scenario (its saved regressions first).
    Run(RunArgs),
    /// Rerun one case and print what happened in it: a case id as printed anywhere
    /// (e.g. scenarios/smoke.toml@1/41), or a scenario file with --seed and --trial.
    Repro(ReproArgs),
    /// Join the results files of shards (or of several runs) into one verdict per
    /// scenario, by the rule `run` uses; a run that did not finish is never met.
    Merge(MergeArgs),
    /// Write a self-contained HTML report of results files.
    Report(ReportArgs),
    /// Serve a built-in WAL as a protocol v1 target (reads CRASHTEST_DIR).
    Target {
        /// The built-in WAL: seed-prefix, seed-postfix, crc or results.
        wal: BuiltinWal,
        /// Which side of the protocol.
        role: Role,
    },
}

/// The arguments of `crashtest run`.
#[derive(Debug, Args)]
struct RunArgs {
    /// The scenario file, e.g. scenarios/smoke.toml.
    scenario: PathBuf,
    /// Override the scenario's seed, e.g. --seed 7.
    // A negative value reaches `Seed::from_str`, which says what a seed is, instead of
    // being taken for an unknown flag.
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<Seed>,
    /// Override the scenario's trial count; with --budget, the most trials to run.
    #[arg(long, allow_negative_numbers = true, value_parser = parse_trials)]
    trials: Option<u64>,
    /// Stop starting trials after this long, e.g. --budget 90s (overrides the
    /// scenario's `budget`); the run reports how many ran.
    #[arg(long, value_parser = parse_budget)]
    budget: Option<Duration>,
    /// Run only a share of the trials, e.g. --shard 2/4: trial i runs in shard
    /// (i mod N) + 1, so N shards together are the whole run.
    #[arg(long)]
    shard: Option<Shard>,
    /// Trials run at once (default: the number of CPUs).
    #[arg(long, short, allow_negative_numbers = true, value_parser = parse_jobs)]
    jobs: Option<usize>,
    /// Folder for results files.
    #[arg(long, default_value = "results")]
    results: PathBuf,
    /// Also write JUnit XML here, e.g. --junit junit.xml.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Also write a self-contained HTML report here, e.g. --report report.html.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Folder in which the run's temporary trial folders are made (default: the system
    /// temp folder). Everything made there is removed at exit; what a killed run left
    /// there, by the next run.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Distinct failures printed in full as they come (their first trial); the rest are
    /// counted, and all are listed at the end and in the results file.
    #[arg(long, default_value_t = 5)]
    show: usize,
    /// Walk every crash state of one workload (each boundary, each torn length at
    /// `sector` steps) instead of drawing trials: certainty for small WALs.
    #[arg(long)]
    exhaustive: bool,
    /// Run the writer again for every crash state (dry run, then a real kill) instead of
    /// cutting the states from recorded runs.
    #[arg(long)]
    reexec: bool,
    /// Crash states cut from each recorded run of a sampled run (default 16): trials come
    /// in groups that share one run of a workload, each drawing its own kill point and
    /// fault.
    #[arg(long, value_parser = parse_states_per_run, conflicts_with_all = ["reexec", "exhaustive"])]
    states_per_run: Option<u64>,
    /// Do not shrink failures.
    #[arg(long)]
    no_shrink: bool,
    /// The most time shrinking may take, all failures together, e.g. --shrink-budget 5m
    /// (default 60s); with --budget, shrinking also stops where the run's budget ends.
    #[arg(long, value_parser = parse_shrink_budget)]
    shrink_budget: Option<Duration>,
    /// Keep each failing trial's folder, as the crash left it (`crashed/`) and after
    /// the fault (`damaged/`), under RESULTS/failures/.
    #[arg(long)]
    keep_failures: bool,
    /// Neither replay nor save the scenario's regressions file (SCENARIO.regressions).
    #[arg(long)]
    no_regressions: bool,
}

/// The arguments of `crashtest repro`.
#[derive(Debug, Args)]
struct ReproArgs {
    /// A case id, or a scenario file.
    case: String,
    /// With a scenario file: the run's seed.
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<Seed>,
    /// With a scenario file: the trial's index.
    #[arg(long, allow_negative_numbers = true)]
    trial: Option<u64>,
    /// With a scenario file: kill at this boundary instead of the drawn one.
    #[arg(long, allow_negative_numbers = true)]
    kill_at: Option<u64>,
    /// With --kill-at: tear the write there after this many bytes.
    #[arg(long, requires = "kill_at", allow_negative_numbers = true)]
    tear: Option<u64>,
    /// Folder in which the temporary trial folder is made.
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// The arguments of `crashtest merge`.
#[derive(Debug, Args)]
struct MergeArgs {
    /// Results files, e.g. results/shard-*/*.jsonl.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Also write JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Also write a self-contained HTML report here.
    #[arg(long)]
    report: Option<PathBuf>,
}

/// The arguments of `crashtest report`.
#[derive(Debug, Args)]
struct ReportArgs {
    /// Results files.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Where to write the page.
    #[arg(long, short, default_value = "report.html")]
    output: PathBuf,
}

/// `--budget`: a humantime duration above zero; the error says what one looks like.
fn parse_budget(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err(format!(
            "budget '{text}' runs no trial; give a time above 0, like 90s"
        )),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "budget '{text}' is not a duration ({e}); write it like 90s, 5m or 1h 30m"
        )),
    }
}

/// `--shrink-budget`: a humantime duration above zero (`--no-shrink` shrinks nothing).
fn parse_shrink_budget(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err(format!(
            "shrink budget '{text}' shrinks nothing; give a time above 0, like 60s, or use --no-shrink"
        )),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "shrink budget '{text}' is not a duration ({e}); write it like 60s, 5m or 1h 30m"
        )),
    }
}

/// `--trials`: a count of at least 1, as a scenario's `trials` must be.
fn parse_trials(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("a run needs at least 1 trial".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a trial count (1, 2, ...)")),
    }
}

/// `--jobs`: at least 1 trial at a time.
fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("at least 1 job must run the trials".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a number of jobs (1, 2, ...)")),
    }
}

/// `--states-per-run`: a count of at least 1.
fn parse_states_per_run(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("each recorded run gives at least 1 crash state; use --reexec to run the writer for every state".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a number of crash states (1, 2, ...)")),
    }
}

/// Runs the parsed command line; returns the exit code.
pub fn run(cli: Cli) -> ExitCode {
    ExitCode::from(match cli.command {
        Cmd::Run(args) => run_scenario(args),
        Cmd::Repro(args) => reproduce(args),
        Cmd::Merge(args) => merge_results(args),
        Cmd::Report(args) => report_results(args),
        Cmd::Target { wal, role } => serve(wal, role),
    })
}

impl RunArgs {
    /// The scenario, read once, with the flags that override it applied.
    fn scenario(&self) -> Option<Scenario> {
        if let Some(why) = not_a_folder(&self.results) {
            eprintln!(
                "crashtest: error: --results {}: {why}",
                self.results.display()
            );
            return None;
        }
        let mut sc = load(&self.scenario)?;
        sc.seed = self.seed.unwrap_or(sc.seed);
        sc.trials = self.trials.unwrap_or(sc.trials);
        sc.budget = self.budget.or(sc.budget);
        Some(sc)
    }

    /// How the run is carried out, beyond the scenario.
    fn options(&self, sc: &Scenario, exe: PathBuf) -> RunOptions {
        let quiet = std::env::var_os("CI").is_some() || !io::stderr().is_terminal();
        RunOptions {
            scenario_arg: self.scenario.display().to_string(),
            jobs: self
                .jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            results_dir: self.results.clone(),
            work_dir: self.work_dir.clone(),
            exe,
            show: self.show,
            exhaustive: self.exhaustive,
            reexec: self.reexec,
            cut: (!self.reexec).then(|| self.states_per_run.unwrap_or(run::STATES_PER_RUN)),
            budget: sc.budget,
            shard: self.shard,
            shrink: !self.no_shrink,
            shrink_budget: self.shrink_budget.unwrap_or(run::SHRINK_BUDGET),
            regressions: !self.no_regressions,
            progress: !quiet,
            keep_failures: self.keep_failures.then(|| self.results.join("failures")),
        }
    }

    /// How the run's own results are judged: a shard alone, or a whole run.
    fn scope(&self) -> Scope {
        if self.shard.is_some() {
            Scope::OneShard
        } else {
            Scope::Whole
        }
    }
}

/// `crashtest run`: every trial, then the verdict by the rule every output uses.
fn run_scenario(args: RunArgs) -> u8 {
    // Caught from the start, so that a Ctrl-C in any phase ends the run with exit 130.
    catch_interrupts();
    let Some(sc) = args.scenario() else {
        return exit::USAGE_OR_CONFIG;
    };
    if crate::process::interrupted() {
        eprintln!("crashtest: interrupted before the first trial");
        return exit::INTERRUPTED;
    }
    let Some(exe) = self_exe() else {
        return exit::HARNESS_FAILURE;
    };
    let opts = args.options(&sc, exe);
    let run = match run::run(sc, &opts, &mut io::stdout()) {
        Ok(run) => run,
        Err(crate::errors::TrialError::Interrupted) => {
            eprintln!("crashtest: interrupted before the first trial");
            return exit::INTERRUPTED;
        }
        Err(e) => {
            report_error(&e);
            return trial_error_code(&e);
        }
    };
    // JUnit and HTML from the results file, as `merge` would write them.
    let files = std::slice::from_ref(&run.results);
    if let Err(e) = write_outputs(
        files,
        args.scope(),
        args.junit.as_deref(),
        args.report.as_deref(),
    ) {
        report_error(&e);
        return exit::HARNESS_FAILURE;
    }
    if run.summary.interrupted {
        eprintln!("crashtest: interrupted after {} trials", run.summary.trials);
        return exit::INTERRUPTED;
    }
    say(&format!("{}\n", human::verdict_line(&run.judged)));
    if run.judged.verdict.met() {
        exit::PASS
    } else {
        exit::EXPECTATION_NOT_MET
    }
}

impl ReproArgs {
    /// The case to rerun: a case id names everything; a scenario file takes the rest from
    /// flags, its seed defaulting to the scenario's own. `Err` is the message of a usage
    /// error.
    fn case(&self) -> Result<(String, Option<Seed>, u64, trial::Overrides), String> {
        let ReproArgs {
            case,
            seed,
            trial,
            kill_at,
            tear,
            ..
        } = self;
        match (case.parse::<CaseId>(), trial) {
            (Ok(id), None) if seed.is_none() && kill_at.is_none() => {
                Ok((id.scenario, Some(id.seed), id.trial, id.over))
            }
            (Ok(_), _) => Err(
                "a case id says its seed, trial and kill itself: drop --seed/--trial/--kill-at"
                    .to_owned(),
            ),
            (Err(why), _) if case.contains('@') => Err(why),
            (Err(_), Some(trial)) => {
                let over = kill_at.map_or_else(trial::Overrides::default, |kill_at| {
                    trial::Overrides::at(trial::Plan {
                        kill_at,
                        tear: *tear,
                    })
                });
                Ok((case.clone(), *seed, *trial, over))
            }
            (Err(_), None) => Err(
                "give a case id (e.g. scenarios/smoke.toml@1/41) or a scenario file with --trial N"
                    .to_owned(),
            ),
        }
    }
}

/// `crashtest repro`: one case, rerun, and its account.
fn reproduce(args: ReproArgs) -> u8 {
    let (scenario, case_seed, trial, over) = match args.case() {
        Ok(case) => case,
        Err(why) => {
            eprintln!("crashtest: error: {why}");
            return exit::USAGE_OR_CONFIG;
        }
    };
    catch_interrupts();
    let Some(mut sc) = load(Path::new(&scenario)) else {
        return exit::USAGE_OR_CONFIG;
    };
    let case = CaseId {
        seed: case_seed.unwrap_or(sc.seed),
        scenario,
        trial,
        over,
    };
    sc.seed = case.seed;
    if crate::process::interrupted() {
        return exit::INTERRUPTED;
    }
    let Some(exe) = self_exe() else {
        return exit::HARNESS_FAILURE;
    };
    match repro(sc, exe, &case, args.work_dir) {
        Ok(true) => exit::EXPECTATION_NOT_MET,
        Ok(false) => exit::PASS,
        Err(crate::errors::TrialError::Interrupted) => exit::INTERRUPTED,
        Err(e) => {
            report_error(&e);
            trial_error_code(&e)
        }
    }
}

/// `crashtest merge`: results files joined into one verdict per scenario.
fn merge_results(args: MergeArgs) -> u8 {
    let merged = match merge::read(&args.results) {
        Ok(merged) => merged,
        Err(e) => {
            report_error(&e);
            return exit::USAGE_OR_CONFIG;
        }
    };
    say(&merge::text(&merged));
    if let Err(e) = merge::write_outputs(&merged, args.junit.as_deref(), args.report.as_deref()) {
        report_error(&e);
        return exit::HARNESS_FAILURE;
    }
    if merged.met() {
        exit::PASS
    } else {
        exit::EXPECTATION_NOT_MET
    }
}

/// `crashtest report`: the HTML page of results files.
fn report_results(args: ReportArgs) -> u8 {
    match write_outputs(&args.results, Scope::Whole, None, Some(&args.output)) {
        Ok(()) => {
            say(&format!("report: {}\n", args.output.display()));
            exit::PASS
        }
        Err(e) => {
            report_error(&e);
            exit::USAGE_OR_CONFIG
        }
    }
}

/// The exit code of a run that stopped with `err`: the scenario's target is wrong (the
/// check before the first trial refused it), or crashtest or its machine failed.
fn trial_error_code(err: &crate::errors::TrialError) -> u8 {
    match err {
        crate::errors::TrialError::Setup(_) => exit::USAGE_OR_CONFIG,
        crate::errors::TrialError::Interrupted => exit::INTERRUPTED,
        _ => exit::HARNESS_FAILURE,
    }
}

/// Before running targets: catch SIGINT/SIGTERM, and become the reaper of whatever the
/// targets leave behind.
fn catch_interrupts() {
    if let Err(e) = crate::process::catch_interrupts() {
        eprintln!("crashtest: warning: failed to catch SIGINT/SIGTERM: {e}");
    }
    crate::process::become_subreaper();
}

/// Writes the JUnit XML and the HTML report of `results` files judged in `scope`, where
/// asked for.
fn write_outputs(
    results: &[PathBuf],
    scope: Scope,
    junit: Option<&Path>,
    page: Option<&Path>,
) -> Result<(), merge::MergeError> {
    if junit.is_none() && page.is_none() {
        return Ok(());
    }
    let report: Report = merge::read_in(results, scope)?;
    merge::write_outputs(&report, junit, page)
}

/// Prints `text` to stdout; a closed stdout (`crashtest run ... | head`) is not an error.
fn say(text: &str) {
    let _ = io::stdout().lock().write_all(text.as_bytes());
}

/// Prints an error once, with its causes as `caused by:` lines.
/// Why `path` cannot be a folder to write into: it, or the nearest of its parents that
/// exists, is a file. `None` when it is a folder or can be made one (what the disk then
/// says is the machine's business, exit 3).
fn not_a_folder(path: &std::path::Path) -> Option<String> {
    let mut at = Some(path);
    while let Some(p) = at {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => return None,
            Ok(_) if p == path => return Some("a file, not a folder".to_owned()),
            Ok(_) => return Some(format!("{} is a file, not a folder", p.display())),
            Err(_) => at = p.parent().filter(|p| !p.as_os_str().is_empty()),
        }
    }
    None
}

fn report_error(err: &dyn std::error::Error) {
    let mut text = format!("crashtest: error: {err}\n");
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!("caused by: {cause}\n"));
        source = cause.source();
    }
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

fn load(path: &std::path::Path) -> Option<Scenario> {
    match Scenario::load(path) {
        Ok(sc) => Some(sc),
        Err(e) => {
            report_error(&e);
            None
        }
    }
}

fn self_exe() -> Option<PathBuf> {
    match std::env::current_exe() {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("crashtest: error: failed to find the crashtest executable: {e}");
            None
        }
    }
}

fn repro(
    sc: Scenario,
    exe: PathBuf,
    case: &CaseId,
    work_dir: Option<PathBuf>,
) -> Result<bool, crate::errors::TrialError> {
    crate::run::preflight::jobs_that_fit(&sc, 1)?;
    let (_guard, work) = run::make_work(work_dir.as_ref())?;
    for note in crate::run::preflight::check(&sc, &exe, &work)?.0 {
        println!("note: {note}");
    }
    let files = run::compile_files(&sc.target.files);
    let env = TrialEnv {
        scenario: sc,
        exe,
        work,
        files,
        keep: None,
    };
    let (outcome, detail) = trial::run_case(&env, case.trial, case.over)?;
    say(&format!("case {case}\n"));
    say(&human::account(&env.scenario, &outcome, &detail));
    Ok(outcome.violation().is_some())
}

/// `crashtest target NAME write|replay`: a built-in WAL behind protocol v1.
fn serve(wal: BuiltinWal, role: Role) -> u8 {
    let Some(dir) = std::env::var_os("CRASHTEST_DIR") else {
        eprintln!(
            "crashtest target: error: CRASHTEST_DIR is not set (it names the folder the log lives in)"
        );
        return exit::USAGE_OR_CONFIG;
    };
    let dir = PathBuf::from(dir);
    let result = match role {
        Role::Write => wal::run_writer(wal, &dir, io::stdin().lock(), io::stdout()),
        Role::Replay => wal::run_replay(wal, &dir, io::stdout().lock()),
    };
    match result {
        Ok(()) => 0,
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            let _ = writeln!(io::stderr(), "error: {}", chain(&e));
            match e {
                WalError::BadHex { .. } => exit::USAGE_OR_CONFIG,
                _ => 1,
            }
        }
    }
}

fn is_broken_pipe(e: &WalError) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::BrokenPipe
        {
            return true;
        }
        source = cause.source();
    }
    false
}
