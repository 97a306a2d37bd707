//! The command line: `crashtest run`, `crashtest repro`, `crashtest target`.
//!
//! Exit status is part of the interface, so CI can tell a broken log from a broken harness:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the scenario met its `expect` (repro: the trial passed) |
//! | 1 | it did not: a violation where `pass` was expected, or none where `fail` was (repro: the trial failed) |
//! | 2 | usage or scenario error (bad flag, malformed TOML, unknown target) |
//! | 3 | crashtest itself failed (it could not trace, write results, ...) |
//! | 130 | interrupted by SIGINT/SIGTERM |

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::errors::{WalError, chain};
use crate::report;
use crate::runner::{self, RunOptions};
use crate::scenario::Scenario;
use crate::seed::Seed;
use crate::target::Role;
use crate::trial::{self, TrialEnv};
use crate::wal::{self, BuiltinWal};

/// Exit codes (see the module docs).
pub mod exit {
    /// The scenario met its `expect`.
    pub const PASS: u8 = 0;
    /// The scenario did not meet its `expect`.
    pub const EXPECTATION_NOT_MET: u8 = 1;
    /// Bad usage or a bad scenario.
    pub const USAGE_OR_CONFIG: u8 = 2;
    /// crashtest itself failed.
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
    /// Run every trial of a scenario.
    Run {
        /// The scenario file, e.g. scenarios/smoke.toml.
        scenario: PathBuf,
        /// Override the scenario's seed, e.g. --seed 7.
        #[arg(long)]
        seed: Option<Seed>,
        /// Override the scenario's trial count.
        #[arg(long)]
        trials: Option<u64>,
        /// Trials run at once (default: the number of CPUs).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Folder for results files.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Folder in which the run's temporary trial folders are made (default: the system
        /// temp folder). Everything made there is removed at exit.
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Findings printed in full; the rest are counted (all are in the results file).
        #[arg(long, default_value_t = 5)]
        show: usize,
        /// Walk every crash state of one workload (each boundary, each torn length at
        /// `sector` steps) instead of drawing trials: certainty for small WALs.
        #[arg(long)]
        exhaustive: bool,
    },
    /// Rerun one trial and print what happened in it.
    Repro {
        /// The scenario file.
        scenario: PathBuf,
        /// The run's seed, as printed in the repro command.
        #[arg(long)]
        seed: Option<Seed>,
        /// The trial's index, as printed in the repro command.
        #[arg(long)]
        trial: u64,
        /// Kill at this boundary instead of the drawn one, e.g. --kill-at 17 (as printed
        /// by exhaustive runs).
        #[arg(long)]
        kill_at: Option<u64>,
        /// With --kill-at: tear the write there after this many bytes.
        #[arg(long, requires = "kill_at")]
        tear: Option<u64>,
        /// Folder in which the temporary trial folder is made.
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
    /// Serve a built-in WAL as a protocol v1 target (reads CRASHTEST_DIR).
    Target {
        /// The built-in WAL: seed-prefix, seed-postfix or crc.
        wal: BuiltinWal,
        /// Which side of the protocol.
        role: Role,
    },
}

/// Runs the parsed command line; returns the exit code.
pub fn run(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Cmd::Run {
            scenario,
            seed,
            trials,
            jobs,
            results,
            work_dir,
            show,
            exhaustive,
        } => {
            let Some(mut sc) = load(&scenario) else {
                return ExitCode::from(exit::USAGE_OR_CONFIG);
            };
            if let Some(seed) = seed {
                sc.seed = seed;
            }
            if let Some(trials) = trials {
                sc.trials = trials;
            }
            if let Err(e) = crate::process::catch_interrupts() {
                eprintln!("crashtest: warning: failed to catch SIGINT/SIGTERM: {e}");
            }
            let Some(exe) = self_exe() else {
                return ExitCode::from(exit::HARNESS_FAILURE);
            };
            let opts = RunOptions {
                scenario_arg: scenario.display().to_string(),
                jobs: jobs
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
                results_dir: results,
                work_dir,
                exe,
                show,
                exhaustive,
            };
            let expect = sc.expect;
            match runner::run(sc, &opts, &mut io::stdout()) {
                Ok(report) if report.summary.interrupted => {
                    eprintln!(
                        "crashtest: interrupted after {} trials",
                        report.summary.trials
                    );
                    exit::INTERRUPTED
                }
                Ok(report) if report.summary.met => {
                    say(&format!(
                        "OK: expected {expect}, and {}\n",
                        verdict_words(report.summary.failed)
                    ));
                    exit::PASS
                }
                Ok(report) => {
                    say(&format!(
                        "NOT OK: expected {expect}, but {}\n",
                        verdict_words(report.summary.failed)
                    ));
                    exit::EXPECTATION_NOT_MET
                }
                Err(e) => {
                    report_error(&e);
                    exit::HARNESS_FAILURE
                }
            }
        }
        Cmd::Repro {
            scenario,
            seed,
            trial,
            kill_at,
            tear,
            work_dir,
        } => {
            let Some(mut sc) = load(&scenario) else {
                return ExitCode::from(exit::USAGE_OR_CONFIG);
            };
            if let Some(seed) = seed {
                sc.seed = seed;
            }
            if let Err(e) = crate::process::catch_interrupts() {
                eprintln!("crashtest: warning: failed to catch SIGINT/SIGTERM: {e}");
            }
            let Some(exe) = self_exe() else {
                return ExitCode::from(exit::HARNESS_FAILURE);
            };
            let plan = kill_at.map(|kill_at| trial::Plan { kill_at, tear });
            match repro(sc, exe, trial, plan, work_dir) {
                Ok(failed) => {
                    if failed {
                        exit::EXPECTATION_NOT_MET
                    } else {
                        exit::PASS
                    }
                }
                Err(e) => {
                    report_error(&e);
                    exit::HARNESS_FAILURE
                }
            }
        }
        Cmd::Target { wal, role } => serve(wal, role),
    };
    ExitCode::from(code)
}

/// Prints `text` to stdout; a closed stdout (`crashtest run ... | head`) is not an error.
fn say(text: &str) {
    let _ = io::stdout().lock().write_all(text.as_bytes());
}

/// Prints an error once, with its causes as `caused by:` lines.
fn report_error(err: &dyn std::error::Error) {
    let mut text = format!("crashtest: error: {err}\n");
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!("caused by: {cause}\n"));
        source = cause.source();
    }
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

fn verdict_words(failed: u64) -> String {
    match failed {
        0 => "no trial failed".to_owned(),
        1 => "1 trial failed".to_owned(),
        n => format!("{n} trials failed"),
    }
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
    index: u64,
    plan: Option<trial::Plan>,
    work_dir: Option<PathBuf>,
) -> Result<bool, crate::errors::TrialError> {
    let (_guard, work) = runner::make_work(work_dir.as_ref())?;
    let files = runner::compile_files(&sc.target.files);
    let env = TrialEnv {
        scenario: sc,
        exe,
        work,
        files,
    };
    let (outcome, detail) = trial::run_planned(&env, index, plan)?;
    say(&report::account(&env.scenario, &outcome, &detail));
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
