//! The results file's lines as types, and the one rule that turns them into a verdict.
//!
//! Every reader of results goes through this module: the live run's last words, `crashtest
//! merge`, `crashtest report`, the JUnit file and the HTML page. Each used to group the
//! lines and decide "met" on its own, over untyped JSON, and they disagreed; one of them
//! called a run that never finished green. Now a [`Judge`] takes the lines (typed:
//! [`Line`]), groups them into runs and scenarios, groups failing trials into distinct
//! [`Failure`]s, and decides each scenario's [`Verdict`] by the rule below; the outputs only
//! put the result into words.
//!
//! # The rule
//!
//! 1. A **run** is a `run` line and the lines after it in the same file, up to the next
//!    `run` line. It is **finished** when it has a `summary` line that says it was not
//!    interrupted, every line of it could be read, and its file does not end in a torn line.
//! 2. The runs of one scenario and seed that are shards (`shard = "K/N"`) are one run
//!    together: each of `1/N ..= N/N` must be there exactly once. Unsharded runs stand
//!    alone. (A live `crashtest run --shard K/N` judges its own shard with
//!    [`Scope::OneShard`], where the other shards are not missing.)
//! 3. A scenario with any run that is not finished, a missing or doubled shard, or lines
//!    that belong to no run is **incomplete**: never met, whatever its trials found.
//! 4. A complete scenario with `expect = "pass"` is met when no trial failed, in any class.
//!    One with `expect = "fail"` is met when a trial failed in a class other than
//!    `target-error` (a target that breaks the protocol has not shown the crash bug the
//!    scenario exists for). A lone shard of an `expect = "fail"` scenario that found nothing
//!    is met with [`Scope::OneShard`]: its share cannot tell, `merge` decides.
//!
//! The failing trials are the `finding` lines, and the `trial` lines with a class whose
//! `finding` line is missing (a run killed between the two writes).
//!
//! # Distinct failures
//!
//! Two failing trials are the same failure when they share a [`Signature`]: the class (the
//! oracle's check that failed), the fault drawn, and the kind of call the writer was killed
//! at (`write`, `fsync`, ..., or its clean exit). These survive a new seed; offsets, lengths
//! and record counts do not. A run of PILOT-82's bug is then "1 distinct failure, seen in 47
//! trials", not 47 findings, and saves one regression.
//!
//! # Reading files
//!
//! [`Judge::read_file`] reads a file the way [`crate::results_file::read_results`] does: a
//! torn last line is a run cut short (incomplete, not an error), a bad line followed by more
//! lines is an error naming the file and line ([`ReadError::Corrupt`]). A line of a type
//! this build does not know is skipped; a line of a known type that does not fit its type
//! makes its run incomplete, since the finding it may hold would otherwise be lost.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::faults::FaultKind;
use crate::oracle::Class;
use crate::results_file::{ReadStatus, read_results};
use crate::scenario::Expect;
use crate::seed::Seed;
use crate::trial::{Ended, TrialOutcome};

/// One line of a results file. Every line carries its scenario's name and its run's seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Line {
    /// The first line of a run.
    Run(RunLine),
    /// One per trial that ran, passing or not.
    Trial(TrialLine),
    /// One per failing trial, after its `trial` line.
    Finding(Box<FindingLine>),
    /// A smaller case that fails the same way as a finding.
    Shrunk(ShrunkLine),
    /// The last line of a finished run.
    Summary(SummaryLine),
}

/// The line types [`Line`] knows; a line of another type is skipped, not an error.
const KNOWN_TYPES: [&str; 5] = ["run", "trial", "finding", "shrunk", "summary"];

impl Line {
    /// The scenario's name.
    pub fn scenario(&self) -> &str {
        match self {
            Line::Run(l) => &l.scenario,
            Line::Trial(l) => &l.scenario,
            Line::Finding(l) => &l.scenario,
            Line::Shrunk(l) => &l.scenario,
            Line::Summary(l) => &l.scenario,
        }
    }

    /// The run's seed.
    pub fn seed(&self) -> Seed {
        match self {
            Line::Run(l) => l.seed,
            Line::Trial(l) => l.seed,
            Line::Finding(l) => l.seed,
            Line::Shrunk(l) => l.seed,
            Line::Summary(l) => l.seed,
        }
    }
}

/// The `run` line: what the run set out to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunLine {
    /// The scenario's name.
    pub scenario: String,
    /// The run seed.
    pub seed: Seed,
    /// The scenario file, as the user named it.
    #[serde(default)]
    pub path: String,
    /// Trials planned: the scenario's count (all shards together), or the crash states of
    /// an exhaustive run.
    #[serde(default)]
    pub trials: u64,
    /// The target, for humans.
    #[serde(default)]
    pub target: String,
    /// The scenario's `expect`.
    #[serde(default)]
    pub expect: Expect,
    /// This run's shard, when sharded.
    #[serde(default)]
    pub shard: Option<Shard>,
    /// Saved regressions replayed before the trials.
    #[serde(default)]
    pub regressions: u64,
    /// Trials cut from each recorded run, when they were: how the trials were grouped,
    /// which decides what a shard holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states_per_run: Option<u64>,
}

/// The `trial` line: one trial, in brief.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialLine {
    /// The scenario's name.
    pub scenario: String,
    /// The run seed.
    pub seed: Seed,
    /// The trial index.
    pub trial: u64,
    /// Its case id.
    #[serde(default)]
    pub case: Option<String>,
    /// The fault drawn.
    #[serde(default)]
    pub fault: Option<FaultKind>,
    /// Boundaries of the dry run.
    #[serde(default)]
    pub boundaries: u64,
    /// The boundary the writer was killed at (`None`: it exited cleanly).
    #[serde(default)]
    pub kill: Option<u64>,
    /// The bytes of a torn write let through.
    #[serde(default)]
    pub tear: Option<u64>,
    /// The failure class, `None` for a pass.
    #[serde(default)]
    pub class: Option<Class>,
}

/// The `finding` line: a failing trial's whole outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingLine {
    /// The scenario's name.
    pub scenario: String,
    /// The run seed.
    pub seed: Seed,
    /// The trial's outcome.
    #[serde(flatten)]
    pub outcome: TrialOutcome,
    /// Its case id.
    pub case: String,
    /// The command that reproduces it.
    pub repro: String,
    /// The crash run's boundaries in words, the kill last.
    #[serde(default)]
    pub timeline: Vec<String>,
}

/// The `shrunk` line: the smaller case a finding shrank to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShrunkLine {
    /// The scenario's name.
    pub scenario: String,
    /// The run seed.
    pub seed: Seed,
    /// The case that was shrunk.
    pub case: String,
    /// What it shrank to.
    pub shrunk: ShrunkCase,
}

/// A shrunk case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShrunkCase {
    /// Its case id.
    pub case: String,
    /// The command that reproduces it.
    pub repro: String,
    /// Records per writer.
    #[serde(default)]
    pub records: Option<u64>,
    /// The largest payload.
    #[serde(default)]
    pub max_payload: Option<u64>,
    /// The boundary the shrunk case kills at (`None`: its writer runs to the clean exit).
    #[serde(default)]
    pub kill: Option<u64>,
    /// The bytes of a torn write let through.
    #[serde(default)]
    pub tear: Option<u64>,
    /// What the shrunk case's failure says.
    #[serde(default)]
    pub detail: Option<String>,
    /// Why the shrink stopped before it had tried every smaller case, if it did: a
    /// smaller case may still fail the same way. Absent in files written before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<ShrinkStop>,
}

/// Why a shrink stopped before it had tried every smaller case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShrinkStop {
    /// The time it was given ran out (`--shrink-budget`, or what was left of `--budget`).
    Budget,
    /// It made the most trial runs a shrink may make.
    Runs,
}

impl fmt::Display for ShrinkStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShrinkStop::Budget => "the shrink budget ran out",
            ShrinkStop::Runs => "the shrink made its most runs",
        })
    }
}

impl ShrunkCase {
    /// What it shrank to, in words: "2 records, payloads up to 1 byte, kill at boundary 3".
    pub fn words(&self) -> String {
        let mut what = Vec::new();
        let s = |n: u64| if n == 1 { "" } else { "s" };
        if let Some(n) = self.records {
            what.push(format!("{n} record{}", s(n)));
        }
        if let Some(n) = self.max_payload {
            what.push(format!("payloads up to {n} byte{}", s(n)));
        }
        if let Some(n) = self.kill {
            what.push(format!("kill at boundary {n}"));
        }
        if let Some(n) = self.tear {
            what.push(format!("torn after {n} bytes"));
        }
        let what = what.join(", ");
        match self.stopped {
            Some(why) => format!("{what}; stopped early, {why}"),
            None => what,
        }
    }
}

/// The `summary` line: what a finished run counted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryLine {
    /// The scenario's name.
    pub scenario: String,
    /// The run seed.
    pub seed: Seed,
    /// The counts.
    #[serde(flatten)]
    pub summary: Summary,
}

/// The counts of a run, as its `summary` line and its `.summary.json` file hold them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// Trials run.
    pub trials: u64,
    /// Trials that failed.
    pub failed: u64,
    /// Failed trials by class.
    pub classes: BTreeMap<Class, u64>,
    /// Distinct failures among them ([`Signature`]).
    pub distinct: u64,
    /// Trials by fault class drawn.
    pub faults: BTreeMap<FaultKind, u64>,
    /// Trials whose writer was killed before its clean exit.
    pub killed: u64,
    /// Whether the trials were every crash state of one workload (`--exhaustive`).
    pub exhaustive: bool,
    /// Trials whose replay was also killed, at one of its own boundaries (recovery-crash).
    pub recovery_crashes: u64,
    /// The scenario's `expect`.
    pub expect: Expect,
    /// Whether the run met it, by [`Judge`]'s rule.
    pub met: bool,
    /// Whether the run was interrupted before all trials ran.
    pub interrupted: bool,
    /// Whether the time budget stopped the run before all trials ran.
    pub budget_exhausted: bool,
    /// Whether the shrink budget ran out before every failure was shrunk as far as it
    /// goes (false in files written before it was).
    pub shrink_budget_exhausted: bool,
    /// Wall time, in milliseconds.
    pub elapsed_ms: u64,
}

/// A share of a run's trials: trial `i` belongs to shard `i mod n + 1`. Shards are
/// disjoint and together hold every trial, so N machines can split one run. Written
/// `K/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
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

impl From<Shard> for String {
    fn from(s: Shard) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Shard {
    type Error = String;

    fn try_from(s: String) -> Result<Shard, String> {
        s.parse()
    }
}

// ---- distinct failures ----

/// What makes two failing trials the same failure, in terms that survive a new seed: the
/// oracle's check that failed, the fault, and the kind of call the writer was killed at.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signature {
    /// The failure class.
    pub class: Class,
    /// The fault drawn (`None`: not known, from a `trial` line of an old file).
    pub fault: Option<FaultKind>,
    /// The syscall the writer was killed before; when no kill took it, `exit` for its
    /// clean exit, `timeout` for a writer still running at the timeout, `start` for one
    /// that could not be started, `end` for one that exited non-zero or died of a signal
    /// crashtest did not send; `?` when only a `trial` line tells of the trial.
    pub call: String,
}

impl Signature {
    /// The signature of a failing trial's outcome (`None` for a pass).
    pub fn of(outcome: &TrialOutcome) -> Option<Signature> {
        let v = outcome.violation()?;
        Some(Signature {
            class: v.class,
            fault: Some(outcome.fault),
            call: match &outcome.kill {
                Some(b) => b.syscall.clone(),
                None => Signature::no_kill(outcome).to_owned(),
            },
        })
    }

    /// The call of a trial no kill took: how its writers ended (`exit` for a clean exit).
    fn no_kill(outcome: &TrialOutcome) -> &'static str {
        match outcome.end() {
            Some(Ended::TimedOut) => "timeout",
            Some(Ended::NotStarted) => "start",
            Some(Ended::Exited { .. } | Ended::Signaled { .. }) => "end",
            None => "exit",
        }
    }
}

impl fmt::Display for Signature {
    /// `replay-failed after kill at write`, `lost-ack after power-loss at exit`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fault = self.fault.map_or("a fault", FaultKind::name);
        match self.call.as_str() {
            "exit" => write!(f, "{} after {fault} at the clean exit", self.class),
            // No kill, so no fault either: the writer's own end is the failure's.
            "timeout" => write!(
                f,
                "{} with no kill: the writer was still running at the timeout",
                self.class
            ),
            "start" => write!(
                f,
                "{} with no kill: the writer could not be started",
                self.class
            ),
            "end" => write!(
                f,
                "{} with no kill: the writer ended on its own",
                self.class
            ),
            "?" => write!(f, "{} after {fault}", self.class),
            call => write!(f, "{} after {fault} at {call}", self.class),
        }
    }
}

/// A failing trial, as the lines tell of it.
#[derive(Clone, Debug, PartialEq)]
pub struct FailingTrial {
    /// The run seed.
    pub seed: Seed,
    /// The trial index.
    pub trial: u64,
    /// Its case id, when the lines give it.
    pub case: Option<String>,
    /// The failure class.
    pub class: Class,
    /// Its `finding` line; `None` when only its `trial` line was written (a run killed
    /// between the two).
    pub finding: Option<Box<FindingLine>>,
    /// What the trial shrank to, if it was shrunk.
    pub shrunk: Option<ShrunkCase>,
    /// The fault, from the `trial` line, when there is no finding line.
    fault: Option<FaultKind>,
}

impl FailingTrial {
    /// The trial as outputs name it: its index, and what its case changes when the case
    /// is of this trial and changes anything (`41`; `0/k6t512/ftorn` for a state of an
    /// exhaustive run, all of trial 0). A sampled trial cut from another trial's recorded
    /// run is its own index (its case names the recording).
    pub fn label(&self) -> String {
        let case = self
            .case
            .as_deref()
            .and_then(|c| c.rsplit_once('@'))
            .and_then(|(_, rest)| rest.split_once('/'))
            .and_then(|(_, rest)| rest.split_once('/'));
        match case {
            Some((trial, over)) if trial == self.trial.to_string() => {
                format!("{}/{over}", self.trial)
            }
            _ => self.trial.to_string(),
        }
    }

    /// What failed, in words (the oracle's detail).
    pub fn detail(&self) -> &str {
        match &self.finding {
            Some(f) => f.outcome.violation().map_or("", |v| v.detail.as_str()),
            None => "no finding line for this trial: the run stopped before writing it",
        }
    }

    /// The command that reproduces the trial.
    pub fn repro(&self) -> Option<String> {
        match (&self.finding, &self.case) {
            (Some(f), _) => Some(f.repro.clone()),
            (None, Some(case)) => Some(match case.parse::<crate::case::CaseId>() {
                Ok(id) => crate::report::repro::repro_command(&id),
                Err(_) => format!("{} repro {case}", crate::report::repro::program()),
            }),
            (None, None) => None,
        }
    }

    /// Its signature.
    pub fn signature(&self) -> Signature {
        match &self.finding {
            Some(f) => Signature::of(&f.outcome).expect("a finding has a violation"),
            None => Signature {
                class: self.class,
                fault: self.fault,
                call: "?".to_owned(),
            },
        }
    }

    /// How trials are ordered everywhere: by seed, index, then case id.
    fn key(&self) -> (Seed, u64, Option<&str>) {
        (self.seed, self.trial, self.case.as_deref())
    }
}

/// One distinct failure of a scenario: the failing trials that share a [`Signature`], in
/// trial order.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// What they share.
    pub signature: Signature,
    /// The trials, first first.
    pub trials: Vec<FailingTrial>,
}

impl Failure {
    /// The first trial (by seed and index): the one shown in full.
    pub fn first(&self) -> &FailingTrial {
        &self.trials[0]
    }

    /// The shrunk case of the first of its trials that was shrunk.
    pub fn shrunk(&self) -> Option<&ShrunkCase> {
        self.trials.iter().find_map(|t| t.shrunk.as_ref())
    }
}

// ---- where the kills landed ----

/// Bins of [`Kills`] over `[0, 1)`; clean exits get a bin of their own after them.
pub const KILL_BINS: usize = 20;

/// Where the trials' writers were killed, as a share of their boundaries (the boundary
/// killed at ÷ the dry run's boundaries), counted passed and failed: a chart's data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kills {
    /// `[passed, failed]` per bin; the last bin (`KILL_BINS`) is the clean exits.
    pub bins: [[u64; 2]; KILL_BINS + 1],
    /// Trials that did not say where they were killed.
    pub unplaced: u64,
    /// Whether the counts come from `trial` lines (every trial) or, for files without
    /// them, from the findings only (failed trials).
    pub from_trials: bool,
}

impl Kills {
    fn add(&mut self, kill: Option<u64>, boundaries: u64, failed: bool) {
        let bin = match kill {
            None => KILL_BINS,
            Some(_) if boundaries == 0 => {
                self.unplaced += 1;
                return;
            }
            Some(i) => {
                ((i as u128 * KILL_BINS as u128 / boundaries as u128) as usize).min(KILL_BINS - 1)
            }
        };
        self.bins[bin][usize::from(failed)] += 1;
    }

    fn merge(&mut self, other: &Kills) {
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            a[0] += b[0];
            a[1] += b[1];
        }
        self.unplaced += other.unplaced;
    }

    /// Whether no trial is counted.
    pub fn is_empty(&self) -> bool {
        self.unplaced == 0 && self.bins.iter().all(|b| b[0] + b[1] == 0)
    }
}

// ---- the verdict ----

/// A scenario's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every run finished and the scenario met its `expect`; why, in words.
    Met(String),
    /// Every run finished and the scenario did not meet its `expect`; why.
    NotMet(String),
    /// A run did not finish (killed, interrupted, torn, a shard missing): never met; why.
    Incomplete(String),
}

impl Verdict {
    /// Whether the scenario met its `expect`.
    pub fn met(&self) -> bool {
        matches!(self, Verdict::Met(_))
    }

    /// Why, in words.
    pub fn why(&self) -> &str {
        match self {
            Verdict::Met(why) | Verdict::NotMet(why) | Verdict::Incomplete(why) => why,
        }
    }

    /// `met`, `not met` or `incomplete`.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Met(_) => "met",
            Verdict::NotMet(_) => "not met",
            Verdict::Incomplete(_) => "incomplete",
        }
    }
}

/// One scenario, judged.
#[derive(Clone, Debug)]
pub struct ScenarioReport {
    /// Its name.
    pub name: String,
    /// Its `expect`.
    pub expect: Expect,
    /// The scenario file, as the runs named it.
    pub path: Option<String>,
    /// The target, for humans.
    pub target: Option<String>,
    /// The seeds of its runs.
    pub seeds: BTreeSet<Seed>,
    /// Runs (each shard a run) read.
    pub runs: usize,
    /// Trials planned, when every run says.
    pub planned: Option<u64>,
    /// Trials that ran.
    pub ran: u64,
    /// Failing trials by class.
    pub classes: BTreeMap<Class, u64>,
    /// Trials by fault drawn, from the summaries.
    pub faults: BTreeMap<FaultKind, u64>,
    /// Wall time of its runs, added up.
    pub elapsed_ms: u64,
    /// Whether a run's time budget ran out before all its trials ran.
    pub budget_exhausted: bool,
    /// Whether a run's shrink budget ran out before its failures were shrunk as far as
    /// they go.
    pub shrink_budget_exhausted: bool,
    /// Whether its trials were the crash states of one workload.
    pub exhaustive: bool,
    /// Its distinct failures, ordered by their first trial.
    pub failures: Vec<Failure>,
    /// Where the kills landed.
    pub kills: Kills,
    /// Trials whose writer was killed before its clean exit, from the summaries.
    pub killed: u64,
    /// Trials whose replay was killed too, from the summaries.
    pub recovery_crashes: u64,
    /// The shards read, when sharded.
    pub shards: Vec<Shard>,
    /// The verdict.
    pub verdict: Verdict,
}

impl ScenarioReport {
    /// Failing trials, all classes.
    pub fn failed(&self) -> u64 {
        self.failures.iter().map(|f| f.trials.len() as u64).sum()
    }

    /// Failing trials that are crash findings (not `target-error`).
    pub fn findings(&self) -> u64 {
        self.failures
            .iter()
            .filter(|f| f.signature.class != Class::TargetError)
            .map(|f| f.trials.len() as u64)
            .sum()
    }

    /// The trials that ran, "of" the planned count when it is larger.
    pub fn ran_words(&self) -> String {
        match self.planned {
            Some(n) if n > self.ran => format!("{} of {n}", self.ran),
            _ => self.ran.to_string(),
        }
    }
}

/// Every scenario the lines tell of, judged, sorted by name.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The scenarios.
    pub scenarios: Vec<ScenarioReport>,
}

impl Report {
    /// Whether there is a scenario and every one met its `expect`.
    pub fn met(&self) -> bool {
        !self.scenarios.is_empty() && self.scenarios.iter().all(|s| s.verdict.met())
    }
}

/// Which runs the lines are meant to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Whole runs: every shard of a sharded run must be there (`merge`, `report`).
    Whole,
    /// One shard of a run, judged alone (the live `crashtest run --shard K/N`): the other
    /// shards are not missing, and an `expect = "fail"` shard that found nothing is left
    /// for `merge` to decide.
    OneShard,
}

/// What can go wrong reading results files.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A results file could not be read.
    #[error("failed to read results at {path}", path = .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not JSON and more lines follow it: not a crash's work (a file cut short
    /// by a crash ends in a torn line, which makes its run incomplete, not this).
    #[error("{path}:{line}: not a results line (not JSON at byte {offset}, and more lines follow it)", path = .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// Where the line starts.
        offset: u64,
    },
}

/// The lines of one run, as they are read.
#[derive(Debug, Default)]
struct RunLines {
    scenario: String,
    seed: Seed,
    run: Option<RunLine>,
    summary: Option<Summary>,
    /// Why the run is not whole, beyond a missing summary: a torn file, an unreadable line.
    broken: Vec<String>,
    /// `trial` lines seen (the count when no summary tells it).
    trial_lines: u64,
    /// Failing trials by (trial, case).
    failing: BTreeMap<(u64, Option<String>), FailingTrial>,
    /// `shrunk` lines by the case they shrink.
    shrunk: BTreeMap<String, ShrunkCase>,
    /// Where the `trial` lines' kills landed.
    kills: Kills,
    /// Where the `finding` lines' kills landed (for files without `trial` lines).
    finding_kills: Kills,
}

impl RunLines {
    fn add(&mut self, line: Line) {
        match line {
            Line::Run(_) => unreachable!("a run line starts a new run"),
            Line::Trial(t) => {
                self.trial_lines += 1;
                self.kills.add(t.kill, t.boundaries, t.class.is_some());
                if let Some(class) = t.class {
                    self.failing
                        .entry((t.trial, t.case.clone()))
                        .or_insert(FailingTrial {
                            seed: t.seed,
                            trial: t.trial,
                            case: t.case,
                            class,
                            finding: None,
                            shrunk: None,
                            fault: t.fault,
                        });
                }
            }
            Line::Finding(f) => {
                let Some(v) = f.outcome.violation() else {
                    return;
                };
                let key = (f.outcome.trial, Some(f.case.clone()));
                let kill = f.outcome.kill.as_ref().map(|b| b.index);
                self.finding_kills.add(kill, f.outcome.boundaries, true);
                // A finding line stands for its trial line too: a file that lost the
                // trial line (or an older one that never wrote it) keeps its finding.
                let t = FailingTrial {
                    seed: f.seed,
                    trial: f.outcome.trial,
                    case: Some(f.case.clone()),
                    class: v.class,
                    fault: Some(f.outcome.fault),
                    shrunk: None,
                    finding: Some(f),
                };
                self.failing.insert(key, t);
            }
            Line::Shrunk(s) => {
                self.shrunk.insert(s.case, s.shrunk);
            }
            Line::Summary(s) => self.summary = Some(s.summary),
        }
    }

    /// Why this run did not finish, if it did not.
    fn unfinished(&self, file: &str) -> Option<String> {
        if let Some(why) = self.broken.first() {
            return Some(why.clone());
        }
        let planned = self.run.as_ref().map(|r| r.trials);
        let of = |n: u64| match planned {
            Some(p) if p > n => format!("{n} of {p}"),
            _ => n.to_string(),
        };
        if self.run.is_none() {
            return Some(format!(
                "{file}has lines of {} with no run line before them: not a whole results file",
                self.scenario
            ));
        }
        match &self.summary {
            None => Some(format!(
                "{file}the run stopped before its summary line (killed, or crashed?) after {} trials",
                of(self.trial_lines)
            )),
            Some(s) if s.interrupted => Some(format!(
                "{file}the run was interrupted after {} trials",
                of(s.trials)
            )),
            Some(_) => None,
        }
    }
}

/// Reads results lines and judges them: feed it files ([`Judge::read_file`]) or lines
/// ([`Judge::add`]), then [`Judge::finish`].
#[derive(Debug)]
pub struct Judge {
    scope: Scope,
    runs: Vec<(Option<PathBuf>, RunLines)>,
    files: BTreeSet<PathBuf>,
}

impl Judge {
    /// A judge of runs in `scope`.
    pub fn new(scope: Scope) -> Judge {
        Judge {
            scope,
            runs: Vec::new(),
            files: BTreeSet::new(),
        }
    }

    /// Reads the results file at `path`. The same file given twice is read once.
    pub fn read_file(&mut self, path: &Path) -> Result<(), ReadError> {
        let read_error = |source| ReadError::Read {
            path: path.to_owned(),
            source,
        };
        let canonical = path.canonicalize().map_err(read_error)?;
        if !self.files.insert(canonical) {
            return Ok(());
        }
        let (values, status) = read_results(path).map_err(read_error)?;
        let first = self.runs.len();
        for (n, value) in values.into_iter().enumerate() {
            match line_of(value) {
                Ok(Some(line)) => self.add_from(Some(path), line),
                Ok(None) => {}
                Err((scenario, why)) => {
                    let run = self.current(Some(path), scenario);
                    run.broken.push(format!(
                        "{}: whole line {} is not a results line this crashtest can read: {why}",
                        path.display(),
                        n + 1
                    ));
                }
            }
        }
        match status {
            ReadStatus::Complete => {}
            ReadStatus::CutShort { last_good } => {
                let why = format!(
                    "{} ends in a torn line at byte {last_good}: the run was cut short while writing it",
                    path.display()
                );
                match self.runs[first..].last_mut() {
                    Some((_, run)) => run.broken.push(why),
                    None => {
                        // Not one whole line: nothing says which scenario it was.
                        let mut run = RunLines {
                            scenario: "?".to_owned(),
                            ..RunLines::default()
                        };
                        run.broken.push(why);
                        self.runs.push((Some(path.to_owned()), run));
                    }
                }
            }
            ReadStatus::Corrupt { offset, line } => {
                return Err(ReadError::Corrupt {
                    path: path.to_owned(),
                    line,
                    offset,
                });
            }
        }
        Ok(())
    }

    /// Reads every file of `paths`.
    pub fn read_files(&mut self, paths: &[PathBuf]) -> Result<(), ReadError> {
        paths.iter().try_for_each(|p| self.read_file(p))
    }

    /// Adds a line of the live run (lines outside any file).
    pub fn add(&mut self, line: Line) {
        self.add_from(None, line);
    }

    fn add_from(&mut self, file: Option<&Path>, line: Line) {
        match line {
            Line::Run(run) => {
                self.runs.push((
                    file.map(Path::to_owned),
                    RunLines {
                        scenario: run.scenario.clone(),
                        seed: run.seed,
                        run: Some(run),
                        ..RunLines::default()
                    },
                ));
            }
            other => {
                let run = self.current(file, other.scenario().to_owned());
                if run.run.is_none() {
                    run.seed = other.seed();
                }
                run.add(other);
            }
        }
    }

    /// The run that lines of `scenario` from `file` belong to: the last one started in the
    /// same file for that scenario, or a new one without a run line.
    fn current(&mut self, file: Option<&Path>, scenario: String) -> &mut RunLines {
        let at = self
            .runs
            .iter()
            .rposition(|(f, r)| f.as_deref() == file && r.scenario == scenario);
        let at = match at {
            Some(at) => at,
            None => {
                self.runs.push((
                    file.map(Path::to_owned),
                    RunLines {
                        scenario,
                        ..RunLines::default()
                    },
                ));
                self.runs.len() - 1
            }
        };
        &mut self.runs[at].1
    }

    /// Judges every scenario read.
    pub fn finish(self) -> Report {
        let scope = self.scope;
        let mut by_name: BTreeMap<String, Vec<(Option<PathBuf>, RunLines)>> = BTreeMap::new();
        for (file, run) in self.runs {
            by_name
                .entry(run.scenario.clone())
                .or_default()
                .push((file, run));
        }
        Report {
            scenarios: by_name
                .into_iter()
                .map(|(name, runs)| judge_scenario(scope, name, runs))
                .collect(),
        }
    }
}

/// A JSON value as a [`Line`]: `Ok(None)` for a type this build does not know, `Err` with
/// the scenario's name (if any) and why for a known type that does not fit.
fn line_of(value: serde_json::Value) -> Result<Option<Line>, (String, String)> {
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("")
        .to_owned();
    if !KNOWN_TYPES.contains(&kind.as_str()) {
        return Ok(None);
    }
    let scenario = value
        .get("scenario")
        .and_then(|s| s.as_str())
        .unwrap_or("?")
        .to_owned();
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| (scenario, format!("a {kind} line: {e}")))
}

/// The rule, for one scenario's runs.
fn judge_scenario(
    scope: Scope,
    name: String,
    runs: Vec<(Option<PathBuf>, RunLines)>,
) -> ScenarioReport {
    let expect = runs
        .iter()
        .find_map(|(_, r)| r.run.as_ref().map(|l| l.expect))
        .or_else(|| {
            runs.iter()
                .find_map(|(_, r)| Some(r.summary.as_ref()?.expect))
        })
        .unwrap_or_default();
    let mut report = ScenarioReport {
        name,
        expect,
        path: runs
            .iter()
            .find_map(|(_, r)| Some(r.run.as_ref()?.path.clone())),
        target: runs
            .iter()
            .find_map(|(_, r)| Some(r.run.as_ref()?.target.clone())),
        seeds: runs.iter().map(|(_, r)| r.seed).collect(),
        runs: runs.len(),
        planned: None,
        ran: 0,
        classes: BTreeMap::new(),
        faults: BTreeMap::new(),
        elapsed_ms: 0,
        budget_exhausted: false,
        shrink_budget_exhausted: false,
        exhaustive: false,
        failures: Vec::new(),
        kills: Kills::default(),
        killed: 0,
        recovery_crashes: 0,
        shards: runs
            .iter()
            .filter_map(|(_, r)| r.run.as_ref()?.shard)
            .collect(),
        verdict: Verdict::Met(String::new()),
    };
    report.shards.sort();

    let mut incomplete: Vec<String> = Vec::new();
    for (file, run) in &runs {
        let file = file
            .as_ref()
            .map(|f| format!("{}: ", f.display()))
            .unwrap_or_default();
        if let Some(why) = run.unfinished(&file) {
            incomplete.push(why);
        }
    }
    incomplete.extend(shard_gaps(scope, &report.name, &runs));
    let sharded = runs
        .iter()
        .any(|(_, r)| r.run.as_ref().is_some_and(|l| l.shard.is_some()));
    report.planned = planned(&runs);

    let mut failing: Vec<FailingTrial> = Vec::new();
    let mut finding_kills = Kills::default();
    for (_, mut run) in runs {
        report.kills.merge(&run.kills);
        finding_kills.merge(&run.finding_kills);
        report.ran += run
            .summary
            .as_ref()
            .map_or(run.trial_lines, |s| s.trials.max(run.failing.len() as u64));
        if let Some(s) = &run.summary {
            report.elapsed_ms += s.elapsed_ms;
            report.budget_exhausted |= s.budget_exhausted;
            report.shrink_budget_exhausted |= s.shrink_budget_exhausted;
            report.exhaustive |= s.exhaustive;
            report.killed += s.killed;
            report.recovery_crashes += s.recovery_crashes;
            for (&fault, &n) in &s.faults {
                *report.faults.entry(fault).or_default() += n;
            }
        }
        for (_, mut t) in std::mem::take(&mut run.failing) {
            if let Some(case) = &t.case {
                t.shrunk = run.shrunk.get(case).cloned();
            }
            failing.push(t);
        }
    }
    report.kills.from_trials = !report.kills.is_empty();
    if !report.kills.from_trials {
        report.kills = finding_kills;
    }
    failing.sort_by(|a, b| a.key().cmp(&b.key()));
    for t in &failing {
        *report.classes.entry(t.class).or_default() += 1;
    }
    let mut groups: BTreeMap<Signature, Vec<FailingTrial>> = BTreeMap::new();
    for t in failing {
        groups.entry(t.signature()).or_default().push(t);
    }
    report.failures = groups
        .into_iter()
        .map(|(signature, trials)| Failure { signature, trials })
        .collect();
    report
        .failures
        .sort_by(|a, b| a.first().key().cmp(&b.first().key()));

    report.verdict = decide(scope, &report, incomplete, sharded);
    report
}

/// Missing, doubled or mixed shards of the sharded runs among `runs`.
fn shard_gaps(scope: Scope, name: &str, runs: &[(Option<PathBuf>, RunLines)]) -> Vec<String> {
    let mut by_seed: BTreeMap<Seed, Vec<Shard>> = BTreeMap::new();
    // Trials a group, per shard: shards hold whole groups, so shards of runs that grouped
    // their trials differently do not split one run between them.
    let mut grouped: BTreeMap<Seed, BTreeMap<u64, Vec<Shard>>> = BTreeMap::new();
    for (_, r) in runs {
        if let Some(line) = r.run.as_ref()
            && let Some(shard) = line.shard
        {
            by_seed.entry(r.seed).or_default().push(shard);
            grouped
                .entry(r.seed)
                .or_default()
                .entry(line.states_per_run.unwrap_or(1))
                .or_default()
                .push(shard);
        }
    }
    let mut gaps = Vec::new();
    for (seed, groups) in &grouped {
        if groups.len() > 1 {
            let all: Vec<String> = groups
                .iter()
                .map(|(per, shards)| {
                    let shards: Vec<String> = shards.iter().map(Shard::to_string).collect();
                    format!("{} with {per} trial(s) a recorded run", shards.join(", "))
                })
                .collect();
            gaps.push(format!(
                "{name} (seed {seed}): shards of runs that grouped their trials differently (--states-per-run): {}",
                all.join("; ")
            ));
        }
    }
    for (seed, shards) in by_seed {
        let ns: BTreeSet<u64> = shards.iter().map(|s| s.n).collect();
        if ns.len() > 1 {
            let all: Vec<String> = shards.iter().map(Shard::to_string).collect();
            gaps.push(format!(
                "{name} (seed {seed}): shards of differently sharded runs: {}",
                all.join(", ")
            ));
            continue;
        }
        let n = *ns.first().expect("a shard");
        let ks: Vec<u64> = shards.iter().map(|s| s.k).collect();
        let twice: BTreeSet<u64> = ks
            .iter()
            .copied()
            .filter(|k| ks.iter().filter(|x| *x == k).count() > 1)
            .collect();
        for k in twice {
            gaps.push(format!(
                "{name} (seed {seed}): shard {k}/{n} is given twice"
            ));
        }
        if scope == Scope::Whole {
            let missing: Vec<String> = (1..=n)
                .filter(|k| !ks.contains(k))
                .map(|k| format!("{k}/{n}"))
                .collect();
            if !missing.is_empty() {
                gaps.push(format!(
                    "{name} (seed {seed}): missing shard(s) {} of {n}",
                    missing.join(", ")
                ));
            }
        }
    }
    gaps
}

/// Trials planned: per seed, the largest `trials` of its run lines (shards share it),
/// added up over seeds and unsharded runs. `None` when a run has no run line.
fn planned(runs: &[(Option<PathBuf>, RunLines)]) -> Option<u64> {
    let mut sharded: BTreeMap<Seed, u64> = BTreeMap::new();
    let mut total = 0;
    for (_, r) in runs {
        let run = r.run.as_ref()?;
        if run.shard.is_some() {
            let p = sharded.entry(r.seed).or_default();
            *p = (*p).max(run.trials);
        } else {
            total += run.trials;
        }
    }
    Some(total + sharded.values().sum::<u64>())
}

/// Rules 3 and 4.
fn decide(scope: Scope, r: &ScenarioReport, incomplete: Vec<String>, sharded: bool) -> Verdict {
    if !incomplete.is_empty() {
        return Verdict::Incomplete(incomplete.join("; "));
    }
    let distinct = r.failures.len();
    let failures = |n: usize| {
        if n == 1 {
            "1 distinct failure".to_owned()
        } else {
            format!("{n} distinct failures")
        }
    };
    let budget = if r.budget_exhausted {
        " (the time budget ran out first)"
    } else {
        ""
    };
    match r.expect {
        Expect::Pass if distinct == 0 => Verdict::Met(format!(
            "no trial failed in {} trials{budget}",
            r.ran_words()
        )),
        Expect::Pass => Verdict::NotMet(format!(
            "expected pass, but {} trials failed: {}",
            r.failed(),
            failures(distinct)
        )),
        Expect::Fail => {
            let real = r
                .failures
                .iter()
                .filter(|f| f.signature.class != Class::TargetError)
                .count();
            let target_errors = r.failed() - r.findings();
            let errors = if target_errors > 0 {
                format!(
                    " ({target_errors} trials failed with target-error, which is the target breaking the protocol, not a crash finding)"
                )
            } else {
                String::new()
            };
            if real > 0 {
                Verdict::Met(format!(
                    "expected fail, and {} trials found it: {}",
                    r.findings(),
                    failures(real)
                ))
            } else if scope == Scope::OneShard && sharded {
                Verdict::Met(format!(
                    "this shard found no bug in {} trials{errors}; a shard's share cannot tell, merge decides",
                    r.ran_words()
                ))
            } else {
                Verdict::NotMet(format!(
                    "expected fail, but no trial found a bug in {} trials{budget}{errors}",
                    r.ran_words()
                ))
            }
        }
    }
}

/// Results lines for tests, as a run writes them.
#[cfg(test)]
pub mod fixtures {
    use serde_json::{Value, json};

    use super::{Judge, Line, Report, Scope};

    /// A `run` line of seed 7.
    pub fn run(scenario: &str, expect: &str, trials: u64) -> Value {
        json!({"type": "run", "scenario": scenario, "seed": 7, "expect": expect,
               "path": format!("scenarios/{scenario}.toml"), "target": scenario,
               "trials": trials, "shard": null, "regressions": 0})
    }

    /// A `trial` line, killed at boundary 2 of 39.
    pub fn trial(scenario: &str, index: u64, class: Option<&str>) -> Value {
        json!({"type": "trial", "scenario": scenario, "seed": 7, "trial": index,
               "case": format!("scenarios/{scenario}.toml@7/{index}"), "fault": "kill",
               "boundaries": 39, "kill": 2, "tear": null, "class": class})
    }

    /// A `finding` line, killed at boundary 25 of 37, a `write`.
    pub fn finding(scenario: &str, index: u64, class: &str, detail: &str) -> Value {
        let case = format!("scenarios/{scenario}.toml@7/{index}");
        json!({"type": "finding", "scenario": scenario, "seed": 7, "trial": index,
               "fault": "kill", "boundaries": 37,
               "kill": {"index": 25, "writer": 0, "syscall": "write",
                        "description": "write(wal.log, off=868, len=29)",
                        "write": {"offset": 868, "len": 29}},
               "damage": {"kind": "none"}, "writers": 1, "sent": 20, "tracees": 1,
               "judgement": {"acked": 13, "required": 13, "recovered": null,
                             "violation": {"class": class, "detail": detail}},
               "case": case, "repro": format!("crashtest repro {case}"),
               "timeline": ["openat(wal.log, O_WRONLY|O_CREAT|O_APPEND)",
                            "write(wal.log, off=868, len=29)"]})
    }

    /// A `summary` line of a finished run.
    pub fn summary(scenario: &str, expect: &str, trials: u64, failed: u64) -> Value {
        json!({"type": "summary", "scenario": scenario, "seed": 7, "trials": trials,
               "failed": failed, "classes": {}, "faults": {"kill": trials}, "killed": trials,
               "recovery_crashes": 0, "exhaustive": false, "expect": expect, "met": false,
               "interrupted": false, "budget_exhausted": false, "elapsed_ms": 580})
    }

    /// `lines` judged as whole runs, as if read from one file.
    pub fn judged(lines: &[Value]) -> Report {
        let mut judge = Judge::new(Scope::Whole);
        for l in lines {
            judge.add(serde_json::from_value::<Line>(l.clone()).expect("a results line"));
        }
        judge.finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::fixtures::{finding, judged, run, summary, trial};
    use super::*;

    fn file(dir: &Path, name: &str, lines: &[Value], tail: &str) -> PathBuf {
        let path = dir.join(name);
        let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        text.push_str(tail);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_failing_trial_is_named_by_its_index_and_what_its_case_changes() {
        let at = |trial, case: Option<&str>| FailingTrial {
            seed: Seed(7),
            trial,
            case: case.map(str::to_owned),
            class: Class::LostAck,
            finding: None,
            shrunk: None,
            fault: None,
        };
        assert_eq!(at(41, Some("s.toml@7/41")).label(), "41");
        assert_eq!(at(41, None).label(), "41");
        assert_eq!(
            at(0, Some("dir@x/s.toml@7/0/k6t512/ftorn")).label(),
            "0/k6t512/ftorn"
        );
        assert_eq!(at(3, Some("s.toml@7/0/k6/fkill")).label(), "3");
    }

    fn read(paths: &[PathBuf], scope: Scope) -> Result<Report, ReadError> {
        let mut judge = Judge::new(scope);
        judge.read_files(paths)?;
        Ok(judge.finish())
    }

    fn shard(mut line: Value, shard: &str) -> Value {
        line["shard"] = json!(shard);
        line
    }

    /// A trial no kill took is one failure by how its writer ended, never "at the clean
    /// exit" unless it exited 0; old lines of a hang (no `ended`) read the same.
    #[test]
    fn a_failure_without_a_kill_is_named_by_how_the_writer_ended() {
        let words = |class: &str, ended: Option<Value>| {
            let mut line = finding("s", 1, class, "d");
            line["kill"] = Value::Null;
            if let Some(ended) = ended {
                line["ended"] = ended;
            }
            let line: FindingLine = serde_json::from_value(line).unwrap();
            Signature::of(&line.outcome).unwrap().to_string()
        };
        assert_eq!(
            words("lost-ack", None),
            "lost-ack after kill at the clean exit"
        );
        let hang = "hang with no kill: the writer was still running at the timeout";
        assert_eq!(words("hang", Some(json!({"kind": "timed-out"}))), hang);
        assert_eq!(words("hang", None), hang);
        assert_eq!(
            words("target-error", Some(json!({"kind": "not-started"}))),
            "target-error with no kill: the writer could not be started"
        );
        assert_eq!(
            words("target-error", Some(json!({"kind": "exited", "code": 1}))),
            "target-error with no kill: the writer ended on its own"
        );
        assert_eq!(
            words(
                "target-error",
                Some(json!({"kind": "signaled", "signal": "SIGXFSZ"}))
            ),
            "target-error with no kill: the writer ended on its own"
        );
    }

    #[test]
    fn every_line_type_reads_back_as_written() {
        let lines = [
            run("s", "pass", 2),
            trial("s", 0, None),
            trial("s", 1, Some("lost-ack")),
            finding("s", 1, "lost-ack", "gone"),
            json!({"type": "shrunk", "scenario": "s", "seed": 7, "case": "c",
                   "shrunk": {"case": "c/r1", "repro": "crashtest repro c/r1", "records": 1}}),
            summary("s", "pass", 2, 1),
        ];
        for l in &lines {
            let typed: Line = serde_json::from_value(l.clone()).unwrap();
            let again: Line =
                serde_json::from_value(serde_json::to_value(&typed).unwrap()).unwrap();
            assert_eq!(typed, again, "{l}");
        }
    }

    /// See issue 13: a shrink cut short by its budget says so in its line and its words,
    /// and the summary's flag reaches the judged scenario; lines written before either
    /// existed read as a whole shrink, and a whole shrink's line is written as before.
    #[test]
    fn a_shrink_stopped_early_says_so_and_old_lines_read_as_whole() {
        let old = json!({"type": "shrunk", "scenario": "s", "seed": 7, "case": "s.toml@7/1",
                         "shrunk": {"case": "s.toml@7/1/r1", "repro": "crashtest repro s.toml@7/1/r1",
                                    "records": 1, "kill": 2}});
        let Line::Shrunk(read) = serde_json::from_value(old.clone()).unwrap() else {
            panic!("a shrunk line");
        };
        assert_eq!(read.shrunk.stopped, None);
        assert_eq!(read.shrunk.words(), "1 record, kill at boundary 2");
        let written = serde_json::to_value(Line::Shrunk(read.clone())).unwrap();
        assert!(written["shrunk"].get("stopped").is_none(), "{written}");

        let mut cut = old;
        cut["shrunk"]["stopped"] = json!("budget");
        let Line::Shrunk(read) = serde_json::from_value(cut.clone()).unwrap() else {
            panic!("a shrunk line");
        };
        assert_eq!(read.shrunk.stopped, Some(ShrinkStop::Budget));
        assert_eq!(
            read.shrunk.words(),
            "1 record, kill at boundary 2; stopped early, the shrink budget ran out"
        );

        let mut finding = finding("s", 1, "lost-ack", "gone");
        finding["case"] = json!("s.toml@7/1");
        let mut summary_line = summary("s", "pass", 2, 1);
        let r = judged(&[
            run("s", "pass", 2),
            trial("s", 0, None),
            finding.clone(),
            cut.clone(),
            summary_line.clone(),
        ]);
        let s = &r.scenarios[0];
        assert!(!s.shrink_budget_exhausted, "an old summary has no flag");
        assert_eq!(
            s.failures[0].shrunk().unwrap().stopped,
            Some(ShrinkStop::Budget)
        );
        summary_line["shrink_budget_exhausted"] = json!(true);
        let r = judged(&[run("s", "pass", 2), finding, cut, summary_line]);
        assert!(r.scenarios[0].shrink_budget_exhausted);
    }

    #[test]
    fn a_finished_passing_run_is_met_and_says_why() {
        let r = judged(&[
            run("s", "pass", 2),
            trial("s", 0, None),
            trial("s", 1, None),
            summary("s", "pass", 2, 0),
        ]);
        assert!(r.met());
        assert_eq!(
            r.scenarios[0].verdict,
            Verdict::Met("no trial failed in 2 trials".into())
        );
    }

    #[test]
    fn a_run_without_a_summary_is_never_met() {
        // Even an expect = "fail" run that found its bug: it did not finish.
        let r = judged(&[
            run("s", "fail", 100),
            trial("s", 0, Some("replay-failed")),
            finding("s", 0, "replay-failed", "short record"),
        ]);
        let v = &r.scenarios[0].verdict;
        assert!(matches!(v, Verdict::Incomplete(_)), "{v:?}");
        assert!(v.why().contains("after 1 of 100 trials"), "{}", v.why());
        assert!(!r.met());
    }

    #[test]
    fn an_interrupted_run_is_incomplete() {
        let mut s = summary("s", "pass", 3, 0);
        s["interrupted"] = json!(true);
        let r = judged(&[run("s", "pass", 10), s]);
        assert!(
            r.scenarios[0]
                .verdict
                .why()
                .contains("interrupted after 3 of 10 trials")
        );
        assert!(!r.met());
    }

    #[test]
    fn a_torn_file_is_incomplete_and_its_findings_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(
            dir.path(),
            "r.jsonl",
            &[
                run("s", "pass", 5),
                trial("s", 0, Some("lost-ack")),
                finding("s", 0, "lost-ack", "gone"),
                summary("s", "pass", 5, 1),
            ],
            "{\"type\":\"trial\",\"scen",
        );
        let r = read(&[path], Scope::Whole).unwrap();
        let s = &r.scenarios[0];
        assert!(
            matches!(s.verdict, Verdict::Incomplete(_)),
            "{:?}",
            s.verdict
        );
        assert!(
            s.verdict.why().contains("ends in a torn line"),
            "{}",
            s.verdict.why()
        );
        assert_eq!(s.failed(), 1);
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), "r.jsonl", &[run("s", "pass", 5)], "bad\n{}\n");
        let err = read(&[path], Scope::Whole).unwrap_err();
        assert!(
            err.to_string().contains("r.jsonl:2: not a results line"),
            "{err}"
        );
    }

    #[test]
    fn shards_must_all_be_there_once_for_a_whole_run() {
        let dir = tempfile::tempdir().unwrap();
        let part = |k: u64, n: u64| {
            let s = format!("{k}/{n}");
            file(
                dir.path(),
                &format!("s{k}of{n}.jsonl"),
                &[shard(run("s", "pass", 10), &s), summary("s", "pass", 5, 0)],
                "",
            )
        };
        let (one, two) = (part(1, 2), part(2, 2));
        let both = read(&[one.clone(), two.clone()], Scope::Whole).unwrap();
        assert!(both.met(), "{:?}", both.scenarios[0].verdict);
        assert_eq!(both.scenarios[0].ran, 10);
        assert_eq!(both.scenarios[0].planned, Some(10));

        let missing = read(std::slice::from_ref(&one), Scope::Whole).unwrap();
        let why = missing.scenarios[0].verdict.why().to_owned();
        assert!(why.contains("missing shard(s) 2/2 of 2"), "{why}");
        assert!(!missing.met());
        // The live shard run judges its own share alone.
        assert!(
            read(std::slice::from_ref(&one), Scope::OneShard)
                .unwrap()
                .met()
        );

        // The same file twice is read once; another file of the same shard is a double.
        let again = read(&[one.clone(), one.clone(), two.clone()], Scope::Whole).unwrap();
        assert!(again.met());
        let copy = dir.path().join("copy.jsonl");
        std::fs::copy(&one, &copy).unwrap();
        let doubled = read(&[one, copy, two], Scope::Whole).unwrap();
        assert!(
            doubled.scenarios[0]
                .verdict
                .why()
                .contains("shard 1/2 is given twice")
        );
    }

    #[test]
    fn an_expect_fail_shard_that_found_nothing_leaves_it_to_merge() {
        let lines = [
            shard(run("s", "fail", 10), "1/2"),
            summary("s", "fail", 5, 0),
        ];
        let mut judge = Judge::new(Scope::OneShard);
        for l in &lines {
            judge.add(serde_json::from_value(l.clone()).unwrap());
        }
        let r = judge.finish();
        assert!(r.met());
        assert!(r.scenarios[0].verdict.why().contains("merge decides"));
    }

    #[test]
    fn target_errors_do_not_meet_expect_fail_anywhere() {
        // Sharded, every shard there, and the only failures are target errors.
        let r = judged(&[
            shard(run("s", "fail", 4), "1/2"),
            finding("s", 0, "target-error", "bad ack"),
            summary("s", "fail", 2, 1),
            shard(run("s", "fail", 4), "2/2"),
            finding("s", 1, "target-error", "bad ack"),
            summary("s", "fail", 2, 1),
        ]);
        let v = &r.scenarios[0].verdict;
        assert!(matches!(v, Verdict::NotMet(_)), "{v:?}");
        assert!(
            v.why().contains("2 trials failed with target-error"),
            "{}",
            v.why()
        );
    }

    #[test]
    fn runs_of_one_seed_add_up() {
        // Three runs of one seed, each whole: 3 x 2 trials, every failure counted once per
        // run it happened in.
        let mut lines = Vec::new();
        for _ in 0..3 {
            lines.extend([
                run("s", "fail", 2),
                finding("s", 0, "lost-ack", "gone"),
                summary("s", "fail", 2, 1),
            ]);
        }
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..3)
            .map(|i| {
                file(
                    dir.path(),
                    &format!("{i}.jsonl"),
                    &lines[i * 3..i * 3 + 3],
                    "",
                )
            })
            .collect();
        let r = read(&paths, Scope::Whole).unwrap();
        let s = &r.scenarios[0];
        assert_eq!((s.ran, s.planned, s.runs), (6, Some(6), 3));
        assert_eq!(s.failed(), 3);
        assert_eq!(s.failures.len(), 1);
    }

    #[test]
    fn failing_trials_group_into_distinct_failures() {
        let mut fsync = finding("s", 10, "lost-ack", "record 4 lost");
        fsync["kill"]["syscall"] = json!("fsync");
        let mut lines = vec![run("s", "pass", 100)];
        lines.extend((0..5).map(|i| finding("s", i * 2 + 1, "lost-ack", "record lost")));
        lines.push(fsync);
        lines.push(finding("s", 4, "replay-failed", "exit 1"));
        lines.push(summary("s", "pass", 100, 7));
        let r = judged(&lines);
        let s = &r.scenarios[0];
        let names: Vec<(String, usize, u64)> = s
            .failures
            .iter()
            .map(|f| (f.signature.to_string(), f.trials.len(), f.first().trial))
            .collect();
        assert_eq!(
            names,
            [
                ("lost-ack after kill at write".to_owned(), 5, 1),
                ("replay-failed after kill at write".to_owned(), 1, 4),
                ("lost-ack after kill at fsync".to_owned(), 1, 10),
            ]
        );
        assert!(
            s.verdict
                .why()
                .contains("7 trials failed: 3 distinct failures")
        );
    }

    #[test]
    fn unknown_line_types_are_skipped_and_misshapen_known_ones_make_the_run_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        let future = json!({"type": "progress", "scenario": "s", "seed": 7});
        let good = file(
            dir.path(),
            "a.jsonl",
            &[run("s", "pass", 1), future, summary("s", "pass", 1, 0)],
            "",
        );
        assert!(read(&[good], Scope::Whole).unwrap().met());
        let odd = json!({"type": "finding", "scenario": "t", "seed": 7, "trial": "x"});
        let bad = file(
            dir.path(),
            "b.jsonl",
            &[run("t", "pass", 1), odd, summary("t", "pass", 1, 0)],
            "",
        );
        let r = read(&[bad], Scope::Whole).unwrap();
        assert!(
            r.scenarios[0].verdict.why().contains("whole line 2"),
            "{:?}",
            r.scenarios[0].verdict
        );
        assert!(!r.met());
    }
}
