//! How fast crashtest is, next to what it replaces, all measured in one run.
//!
//! `cargo bench --bench speed [-- --quick] [--only SECTION] [--reps N] [--writer-dir DIR]
//! [--torture-budget DUR]` prints the machine, then seven sections (`--only` takes a name
//! or a number, and may repeat):
//!
//! 1. `trials`: trials/s of `crashtest run scenarios/smoke.toml`, with `--jobs 1` and with
//!    one job per core.
//! 2. `writer`: one run of the crc writer appending 10,000 records (an fdatasync each),
//!    untraced, under crashtest's tracer, under a bare seccomp tracer written here (the
//!    same filter, and nothing but `PTRACE_CONT` at each stop) and under
//!    `strace -f -e trace=write`; each tracer's cost per stop, and their ratios. The logs
//!    go on a tmpfs when there is one (`--writer-dir` moves them), so that the disk's
//!    fdatasync latency does not drown the tracers' cost.
//! 3. `strace-loop`: trials/s of `crashtest run` on smoke with kill as its only fault,
//!    against the loop a user would write by hand: the writer under
//!    `strace -e inject=write:signal=KILL:when=N`, a replay, a prefix check, one trial
//!    after the other.
//! 4. `exhaustive`: crash states/s of `crashtest run --exhaustive` (states built from the
//!    write log) against `--exhaustive --reexec` (each state by running the writer again),
//!    on smoke's workload and on one 5x larger; "n/a" when the binary has no `--reexec`.
//!    The states of smoke's workload are kill points of the writer the loop of section 3
//!    kills: their rate is also set against the loop's.
//! 5. `first-fail`: how long `crashtest run scenarios/seed-prefix.toml` takes to print its
//!    first FAIL, and to finish.
//! 6. `ratios`: crash states/s on two Go writers (`harness/targets/gowal`, built here; 200
//!    records of 32..=256 bytes), one with two writes per record and no fsync, one with a
//!    write and an fsync per record: the strace-inject loop of section 3, `crashtest run`
//!    sampled (kill only, no stable check) and `crashtest run --exhaustive`, and the
//!    ratios of the last two to the loop (issue 14's goals: 20x and 30x). Skipped without
//!    `go` or `strace`.
//! 7. `torture-budget`: how many crash states `crashtest run scenarios/torture.toml
//!    --budget 90s` checks, its 5,000 trials lifted so that the budget ends the run
//!    (10s with `--quick`; `--torture-budget DUR` sets it), and
//!    their rate: one run, it is long.
//!
//! Every figure is the median of a few repetitions run alternating, and every ratio comes
//! from this run. Nothing asserts on time. Without `strace` on PATH, what needs it is
//! skipped. Temporary folders live under one temp folder (section 2's under one in the
//! writer folder), removed at exit; every child is killed and reaped on every path out.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use crashtest::errors::chain;
use crashtest::process::catch_interrupts;
use crashtest::scenario::Scenario;
use crashtest::target::TargetKind;

#[path = "../support/mod.rs"]
mod support;
use support::{crashtest_exe, filesystem, machine};

mod common;
mod exhaustive;
mod first_fail;
mod ratios;
mod strace_loop;
mod torture_budget;
mod trials;
mod writer;

use common::{check_interrupt, kill_only_toml};
use torture_budget::parse_budget;

/// The scenarios measured, relative to the package root.
const SMOKE: &str = "scenarios/smoke.toml";
const SEED_PREFIX: &str = "scenarios/seed-prefix.toml";
const TORTURE: &str = "scenarios/torture.toml";

fn main() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("speed bench: error: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The seven parts of the bench, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    Trials,
    Writer,
    StraceLoop,
    Exhaustive,
    FirstFail,
    Ratios,
    TortureBudget,
}

impl Section {
    const ALL: [Section; 7] = [
        Section::Trials,
        Section::Writer,
        Section::StraceLoop,
        Section::Exhaustive,
        Section::FirstFail,
        Section::Ratios,
        Section::TortureBudget,
    ];

    fn name(self) -> &'static str {
        match self {
            Section::Trials => "trials",
            Section::Writer => "writer",
            Section::StraceLoop => "strace-loop",
            Section::Exhaustive => "exhaustive",
            Section::FirstFail => "first-fail",
            Section::Ratios => "ratios",
            Section::TortureBudget => "torture-budget",
        }
    }

    fn number(self) -> usize {
        Section::ALL.iter().position(|&s| s == self).unwrap_or(0) + 1
    }

    fn parse(word: &str) -> Option<Section> {
        Section::ALL
            .into_iter()
            .find(|s| s.name() == word || s.number().to_string() == word)
    }
}

/// Knobs from the command line (cargo passes `--bench`, which is ignored).
struct Args {
    quick: bool,
    reps: Option<usize>,
    only: Vec<Section>,
    writer_dir: Option<PathBuf>,
    torture_budget: Option<(Duration, String)>,
}

const USAGE: &str = "usage: cargo bench --bench speed -- [--quick] [--reps N] [--only SECTION]... \
                     [--writer-dir DIR] [--torture-budget DUR] (sections: 1 trials, 2 writer, \
                     3 strace-loop, 4 exhaustive, 5 first-fail, 6 ratios, 7 torture-budget)";

fn args() -> Result<Args, String> {
    let mut out = Args {
        quick: false,
        reps: None,
        only: Vec::new(),
        writer_dir: None,
        torture_budget: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bench" => {}
            "--quick" => out.quick = true,
            "--reps" => {
                let n = it
                    .next()
                    .and_then(|v| v.parse::<usize>().ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| {
                        format!("--reps wants a positive integer, e.g. --reps 3; {USAGE}")
                    })?;
                out.reps = Some(n);
            }
            "--only" => {
                let word = it.next().unwrap_or_default();
                let section = Section::parse(&word)
                    .ok_or_else(|| format!("--only '{word}' names no section; {USAGE}"))?;
                out.only.push(section);
            }
            "--writer-dir" => {
                let dir = it
                    .next()
                    .map(PathBuf::from)
                    .filter(|d| d.is_dir())
                    .ok_or_else(|| format!("--writer-dir wants an existing folder; {USAGE}"))?;
                out.writer_dir = Some(dir);
            }
            "--torture-budget" => {
                let budget = it.next().as_deref().and_then(parse_budget).ok_or_else(|| {
                    format!("--torture-budget wants a duration, e.g. --torture-budget 90s; {USAGE}")
                })?;
                out.torture_budget = Some(budget);
            }
            other => return Err(format!("unknown argument '{other}'; {USAGE}")),
        }
    }
    Ok(out)
}

/// How much work each section does.
struct Knobs {
    /// Repetitions of the `crashtest run` figures (sections 1, 3, 4, 5, 6).
    reps: usize,
    /// Repetitions of the writer runs (section 2).
    writer_reps: usize,
    /// Records the writer of section 2 appends.
    appends: u32,
    /// Trials of the hand-written loop, and of the `crashtest run` it is compared with
    /// (sections 3 and 6).
    loop_trials: u64,
    /// Section 4 also walks a workload 5x smoke's.
    larger: bool,
    /// Section 7's budget, as a duration and as given.
    torture_budget: (Duration, String),
}

impl Knobs {
    fn new(args: &Args) -> Knobs {
        let mut k = if args.quick {
            Knobs {
                reps: 1,
                writer_reps: 1,
                appends: 1_000,
                loop_trials: 10,
                larger: false,
                torture_budget: (Duration::from_secs(10), "10s".into()),
            }
        } else {
            Knobs {
                reps: 3,
                writer_reps: 5,
                appends: 10_000,
                loop_trials: 100,
                larger: true,
                torture_budget: (Duration::from_secs(90), "90s".into()),
            }
        };
        if let Some(r) = args.reps {
            k.reps = r;
            k.writer_reps = r;
        }
        if let Some(b) = &args.torture_budget {
            k.torture_budget = b.clone();
        }
        k
    }
}

/// One line of the closing summary.
struct Row {
    section: Section,
    what: String,
    figure: String,
    goal: &'static str,
}

/// What every section shares.
struct Bench {
    root: PathBuf,
    exe: PathBuf,
    /// Parent of every temporary folder; removed when dropped.
    tmp: tempfile::TempDir,
    /// Where section 2 makes the writers' folders.
    writer_dir: PathBuf,
    smoke: Scenario,
    /// smoke with kill as its only fault (sections 3 and 4).
    kill_only: PathBuf,
    /// One job per usable core.
    jobs: usize,
    /// `strace -V`'s first line; `None` when there is no strace.
    strace: Option<String>,
    knobs: Knobs,
    summary: Vec<Row>,
    /// Section 3's strace-inject loop, trials/s, once measured.
    loop_rate: Option<f64>,
}

fn bench() -> Result<(), String> {
    let args = args()?;
    if let Err(e) = catch_interrupts() {
        eprintln!("speed bench: warning: failed to catch SIGINT/SIGTERM: {e}");
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let exe = crashtest_exe(&root)?;
    let smoke = Scenario::load(&root.join(SMOKE))
        .map_err(|e| format!("failed to load {SMOKE}: {}", chain(&e)))?;
    let TargetKind::Builtin(wal) = smoke.target.kind else {
        return Err(format!("{SMOKE} must name a built-in target"));
    };
    let tmp = tempfile::Builder::new()
        .prefix("crashtest-speed-")
        .tempdir()
        .map_err(|e| format!("failed to make a temporary folder: {e}"))?;
    let kill_only = tmp.path().join("smoke-kill.toml");
    std::fs::write(&kill_only, kill_only_toml(&smoke, wal.name()))
        .map_err(|e| format!("failed to write {}: {e}", kill_only.display()))?;
    let mut b = Bench {
        root,
        exe,
        smoke,
        kill_only,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        strace: strace_version(),
        knobs: Knobs::new(&args),
        summary: Vec::new(),
        loop_rate: None,
        writer_dir: args.writer_dir.clone().unwrap_or_else(default_writer_dir),
        tmp,
    };

    println!("{}", machine());
    println!(
        "temporary folders on {} (TMPDIR moves them), section 2's writer folders on {} \
         (--writer-dir moves them); the crc writer fdatasyncs every record",
        filesystem(b.tmp.path()),
        filesystem(&b.writer_dir)
    );
    println!(
        "{}; {} job(s) = one per usable core; {} mode",
        b.strace
            .as_deref()
            .unwrap_or("strace not found: skipped where needed"),
        b.jobs,
        if args.quick { "--quick" } else { "full" }
    );
    let sections: Vec<Section> = Section::ALL
        .into_iter()
        .filter(|s| args.only.is_empty() || args.only.contains(s))
        .collect();
    for s in sections {
        println!();
        match s {
            Section::Trials => b.trials()?,
            Section::Writer => b.writer()?,
            Section::StraceLoop => b.strace_loop()?,
            Section::Exhaustive => b.exhaustive()?,
            Section::FirstFail => b.first_fail()?,
            Section::Ratios => b.ratios()?,
            Section::TortureBudget => b.torture_budget()?,
        }
        check_interrupt()?;
    }
    b.print_summary();
    Ok(())
}

/// Where section 2's writers keep their logs unless `--writer-dir` says: a tmpfs if there
/// is one, where an fdatasync costs next to nothing, so that a disk's sync latency (which
/// varies far more than a tracer stop costs) does not drown the tracers' cost; else the
/// temp folder.
fn default_writer_dir() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() && filesystem(&shm) == "tmpfs" {
        shm
    } else {
        std::env::temp_dir()
    }
}

/// The first line of `strace -V`, or `None` when strace cannot be started.
fn strace_version() -> Option<String> {
    let out = Command::new("strace")
        .arg("-V")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("strace").trim().to_owned();
    out.status.success().then_some(line)
}

impl Bench {
    fn row(&mut self, section: Section, what: &str, figure: String, goal: &'static str) {
        self.summary.push(Row {
            section,
            what: what.to_owned(),
            figure,
            goal,
        });
    }

    fn print_summary(&self) {
        println!();
        println!("summary (ratios from this run)");
        let width = self.summary.iter().map(|r| r.what.len()).max().unwrap_or(0) + 2;
        for r in &self.summary {
            let goal = if r.goal.is_empty() {
                String::new()
            } else {
                format!("   goal {}", r.goal)
            };
            println!(
                "   {}  {:<width$}{}{goal}",
                r.section.number(),
                r.what,
                r.figure
            );
        }
    }
}
