//! crashtest: crash-consistency fault injection for write-ahead logs.
//!
//! One trial, in order:
//! 1. [`scenario`] parses the TOML into a validated [`scenario::Scenario`]; [`seed`] derives
//!    the trial's ChaCha8 stream from (run seed, trial index).
//! 2. [`workload`] draws the records each writer appends; [`protocol`] (target protocol
//!    v1) turns them into the lines the writer reads.
//! 3. [`tracer`] starts the writer under seccomp + ptrace, counts its boundaries in a dry
//!    run, then runs it again and SIGKILLs it at the chosen boundary.
//! 4. [`faults`] damages the trial folder the way a crash does (torn writes, truncation,
//!    dirty tails, bit flips, and power loss, which [`faults::power`] rebuilds from the
//!    write log and the folder's [`snapshot`]).
//! 5. [`oracle`] replays the log in a fresh process and judges what came back (the acks and
//!    the replay's lines read through [`protocol`]); the run appends the verdict, with the
//!    command that reproduces it, to `results/` ([`results_file`]), and [`report`] decides
//!    the run's verdict from those lines, by one rule for every output (terminal, `merge`,
//!    JUnit, HTML).
//!
//! [`run::preflight`] runs the target once before the first trial, so that a setup mistake is
//! one error rather than a finding in every trial.
//! [`run`] runs trials in parallel (budget, shards, saved regressions first, shrinking
//! the first trial of each distinct failure); [`trial`] is one trial; [`case`] names one exactly;
//! [`trial::states`] cuts an exhaustive run's crash states from one recorded run;
//! [`target`] says how a writer and a replay are started, [`process`] contains them
//! ([`spill`] keeps what grows with the log on disk);
//! [`wal`] holds the WALs that ship with crashtest.
#![warn(missing_docs)]

pub mod case;
pub mod cli;
pub mod errors;
pub mod faults;
pub mod oracle;
pub mod process;
pub mod protocol;
pub mod report;
pub mod results_file;
pub mod run;
pub mod scenario;
pub mod seed;
pub mod snapshot;
pub mod spill;
pub mod target;
pub mod tracer;
pub mod trial;
pub mod wal;
pub mod workload;
