//! How fast crashtest is, next to what it replaces, all measured in one run.
//!
//! `cargo bench --bench speed [-- --quick] [--only SECTION] [--reps N] [--writer-dir DIR]`
//! prints the machine, then five sections (`--only` takes a name or a number, and may
//! repeat):
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
//!
//! Every figure is the median of a few repetitions run alternating, and every ratio comes
//! from this run. Nothing asserts on time. Without `strace` on PATH, what needs it is
//! skipped. Temporary folders live under one temp folder (section 2's under one in the
//! writer folder), removed at exit; every child is killed and reaped on every path out.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crashtest::errors::{PipedError, chain};
use crashtest::process::{Limits, catch_interrupts, interrupted, wait_timeout};
use crashtest::protocol::{Role, writer_input};
use crashtest::run::compile_files;
use crashtest::scenario::Scenario;
use crashtest::seed::below;
use crashtest::target::TargetKind;
use crashtest::tracer::{KillScope, TraceOptions, WriterEnd, run_piped_with};
use crashtest::trial::{TrialEnv, target_command};
use crashtest::workload::Workload;
use nix::errno::Errno;
use nix::sys::ptrace::{self, Event};
use nix::sys::signal::{self, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

mod support;
use support::{crashtest_exe, filesystem, machine};

/// The scenarios measured, relative to the package root.
const SMOKE: &str = "scenarios/smoke.toml";
const SEED_PREFIX: &str = "scenarios/seed-prefix.toml";

/// The longest a `crashtest run` or one writer may take before the bench gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);
const WRITER_TIMEOUT: Duration = Duration::from_secs(300);

fn main() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("speed bench: error: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The five parts of the bench, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    Trials,
    Writer,
    StraceLoop,
    Exhaustive,
    FirstFail,
}

impl Section {
    const ALL: [Section; 5] = [
        Section::Trials,
        Section::Writer,
        Section::StraceLoop,
        Section::Exhaustive,
        Section::FirstFail,
    ];

    fn name(self) -> &'static str {
        match self {
            Section::Trials => "trials",
            Section::Writer => "writer",
            Section::StraceLoop => "strace-loop",
            Section::Exhaustive => "exhaustive",
            Section::FirstFail => "first-fail",
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
}

const USAGE: &str = "usage: cargo bench --bench speed -- [--quick] [--reps N] [--only SECTION]... \
                     [--writer-dir DIR] (sections: 1 trials, 2 writer, 3 strace-loop, 4 exhaustive, 5 first-fail)";

fn args() -> Result<Args, String> {
    let mut out = Args {
        quick: false,
        reps: None,
        only: Vec::new(),
        writer_dir: None,
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
            other => return Err(format!("unknown argument '{other}'; {USAGE}")),
        }
    }
    Ok(out)
}

/// How much work each section does.
struct Knobs {
    /// Repetitions of the `crashtest run` figures (sections 1, 3, 4, 5).
    reps: usize,
    /// Repetitions of the writer runs (section 2).
    writer_reps: usize,
    /// Records the writer of section 2 appends.
    appends: u32,
    /// Trials of the hand-written loop, and of the `crashtest run` it is compared with.
    loop_trials: u64,
    /// Section 4 also walks a workload 5x smoke's.
    larger: bool,
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
            }
        } else {
            Knobs {
                reps: 3,
                writer_reps: 5,
                appends: 10_000,
                loop_trials: 100,
                larger: true,
            }
        };
        if let Some(r) = args.reps {
            k.reps = r;
            k.writer_reps = r;
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
        }
        check_interrupt()?;
    }
    b.print_summary();
    Ok(())
}

/// smoke, with kill as its only fault, as a scenario file.
fn kill_only_toml(smoke: &Scenario, target: &str) -> String {
    format!(
        "# {SMOKE} with kill as its only fault, written by the speed bench.\n\
         name = \"smoke-kill\"\n\
         seed = {}\n\
         trials = {}\n\
         records = {}\n\
         payload = {{ min = {}, max = {} }}\n\
         timeout = \"{}\"\n\
         expect = \"pass\"\n\n\
         [target]\n\
         builtin = \"{target}\"\n\n\
         [faults]\n\
         kill = 1\n",
        smoke.seed,
        smoke.trials,
        smoke.records,
        smoke.payload.min,
        smoke.payload.max,
        humantime::format_duration(smoke.timeout),
    )
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
    /// A fresh folder under the bench's temp folder, removed when dropped.
    fn scratch(&self, prefix: &str) -> Result<tempfile::TempDir, String> {
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(self.tmp.path())
            .map_err(|e| format!("failed to make a temporary folder: {e}"))
    }

    /// An environment for [`target_command`]: smoke's target, seed and records.
    fn trial_env(&self, scenario: Scenario) -> TrialEnv {
        TrialEnv {
            files: compile_files(&scenario.target.files),
            scenario,
            exe: self.exe.clone(),
            work: self.tmp.path().to_owned(),
            keep: None,
        }
    }

    fn row(&mut self, section: Section, what: &str, figure: String, goal: &'static str) {
        self.summary.push(Row {
            section,
            what: what.to_owned(),
            figure,
            goal,
        });
    }

    /// Runs `crashtest run SCENARIO --no-regressions EXTRA...` with its results and trial
    /// folders in a fresh temporary folder, reading its stdout as it comes.
    fn crashtest_run(&self, scenario: &Path, extra: &[String]) -> Result<Ran, String> {
        let scratch = self.scratch("run-")?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("run")
            .arg(scenario)
            .arg("--results")
            .arg(scratch.path().join("results"))
            .arg("--work-dir")
            .arg(scratch.path())
            .arg("--no-regressions")
            .args(extra)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = Reaper::spawn(&mut cmd, "crashtest run")?;
        let (stdout, stderr) = child.pipes()?;
        let (waited, out, err) = std::thread::scope(|s| {
            let out = s.spawn(move || {
                let mut text = String::new();
                let mut first_fail = None;
                for line in BufReader::new(stdout).split(b'\n') {
                    let line = String::from_utf8_lossy(&line?).into_owned();
                    if first_fail.is_none() && line.starts_with("FAIL") {
                        first_fail = Some(started.elapsed());
                    }
                    text.push_str(&line);
                    text.push('\n');
                }
                Ok::<_, std::io::Error>((text, first_fail))
            });
            let err = s.spawn(move || read_all(stderr));
            let waited = child
                .wait_until(RUN_TIMEOUT)
                .map(|s| (s, started.elapsed()));
            (waited, joined(out), joined(err))
        });
        let (status, wall) = waited?;
        let (stdout, first_fail) = out?;
        let stderr = String::from_utf8_lossy(&err?).into_owned();
        let code = status.code();
        if code == Some(2) && stderr.contains("--reexec") {
            return Ok(Ran::Rejected);
        }
        if code != Some(0) {
            return Err(format!(
                "`crashtest run {} {}` ended with {status}:\n{}{}",
                scenario.display(),
                extra.join(" "),
                tail(&stdout, 20),
                tail(&stderr, 20)
            ));
        }
        Ok(Ran::Done(RunOutput {
            wall,
            first_fail,
            stdout,
        }))
    }

    /// `crashtest run` that must run: a rejected flag is an error here.
    fn must_run(&self, scenario: &Path, extra: &[String]) -> Result<RunOutput, String> {
        match self.crashtest_run(scenario, extra)? {
            Ran::Done(out) => Ok(out),
            Ran::Rejected => Err(format!("crashtest run rejected {}", extra.join(" "))),
        }
    }

    // 1. --------------------------------------------------------------------------------

    fn trials(&mut self) -> Result<(), String> {
        let smoke = self.root.join(SMOKE);
        let all = self.jobs;
        println!(
            "1. trials/s of `crashtest run {SMOKE}` ({} trials, kill or truncation each), median of {}",
            self.smoke.trials, self.knobs.reps
        );
        // rates[0]: --jobs 1; rates[1]: --jobs ALL.
        let mut rates = [Vec::new(), Vec::new()];
        for rep in 0..self.knobs.reps {
            let mut line = format!("   rep {}:", rep + 1);
            for k in 0..2 {
                let which = (rep + k) % 2;
                let jobs = [1, all][which];
                let run = self.must_run(&smoke, &["--jobs".into(), jobs.to_string()])?;
                let rate = count_after(&run.stdout, " trials in ")? as f64 / secs(run.wall);
                line.push_str(&format!("  --jobs {jobs} {rate:.1}/s"));
                rates[which].push(rate);
            }
            println!("{line}");
        }
        let (one, many) = (median(&rates[0]), median(&rates[1]));
        println!("   --jobs 1        {one:>8.1} trials/s");
        println!(
            "   --jobs {all:<8} {many:>8.1} trials/s   ({:.2}x --jobs 1)",
            many / one
        );
        self.row(
            Section::Trials,
            "smoke trials/s, --jobs 1",
            format!("{one:.1}/s"),
            "",
        );
        self.row(
            Section::Trials,
            &format!("smoke trials/s, --jobs {all}"),
            format!("{many:.1}/s"),
            "",
        );
        Ok(())
    }

    // 2. --------------------------------------------------------------------------------

    fn writer(&mut self) -> Result<(), String> {
        let appends = self.knobs.appends;
        let sc = self.smoke.clone();
        let records = Workload::generate(&mut sc.seed.workload_rng(0), 1, appends, sc.payload)
            .to_vecs()
            .swap_remove(0);
        let input = writer_input(&records);
        let env = self.trial_env(sc);
        let folders = tempfile::Builder::new()
            .prefix("crashtest-speed-")
            .tempdir_in(&self.writer_dir)
            .map_err(|e| {
                format!(
                    "failed to make a folder in {}: {e}",
                    self.writer_dir.display()
                )
            })?;
        let cpus = crashtest::process::allowed_cpus();
        for pinned in [false, true] {
            if pinned {
                // As `crashtest run` runs a single writer: tracer and writer on one CPU.
                let Some(&cpu) = cpus.first() else { break };
                crashtest::process::pin_thread(&[cpu]);
            }
            let result = self.writer_ways(&records, &input, &env, folders.path(), pinned);
            if pinned {
                crashtest::process::pin_thread(&cpus);
            }
            result?;
        }
        Ok(())
    }

    /// Section 2's four ways, once: free, or with every process on the bench thread's CPU.
    fn writer_ways(
        &mut self,
        records: &[Vec<u8>],
        input: &[u8],
        env: &TrialEnv,
        folders: &Path,
        pinned: bool,
    ) -> Result<(), String> {
        let mut ways = vec![Way::Untraced, Way::Crashtest, Way::Bare];
        if self.strace.is_some() {
            ways.push(Way::Strace);
        }
        let appends = records.len();
        if pinned {
            println!();
        }
        let place = if pinned {
            "every process on one CPU, as `crashtest run` runs a single writer"
        } else {
            "free to run on any CPU"
        };
        println!(
            "2{}. one writer (`crashtest target crc write`) appending {appends} records of {}..={} bytes, \
             in a fresh folder each run, {place}; median of {}",
            if pinned { "b" } else { "a" },
            env.scenario.payload.min,
            env.scenario.payload.max,
            self.knobs.writer_reps
        );
        if self.strace.is_none() {
            println!("   strace not found: skipped");
        }
        let tag = if pinned { ", one CPU" } else { ", free" };
        // Untimed: the binary, the page cache and the filter, once each way.
        let warm = writer_input(&records[..records.len().min(100)]);
        for &way in &ways {
            writer_run(folders, env, way, &warm, records.len().min(100))?;
        }
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); ways.len()];
        let mut stops: Vec<u64> = vec![0; ways.len()];
        for rep in 0..self.knobs.writer_reps {
            let mut line = format!("   rep {}:", rep + 1);
            for k in 0..ways.len() {
                let i = (rep + k) % ways.len();
                let (t, n) = writer_run(folders, env, ways[i], input, records.len())?;
                times[i].push(t);
                stops[i] = n.unwrap_or(stops[i]);
                line.push_str(&format!("  {} {t:.3} s", ways[i].short()));
            }
            println!("{line}");
        }
        let med: Vec<f64> = times.iter().map(|t| median(t)).collect();
        // The best runs are the ones least disturbed by the rest of the machine.
        let best: Vec<f64> = times
            .iter()
            .map(|t| t.iter().copied().fold(f64::INFINITY, f64::min))
            .collect();
        let base = med[0];
        let ct_stops = stops[1];
        let bare_stops = stops[2];
        let per_stop = |t: f64, n: u64| (t - base) / n.max(1) as f64 * 1e6;
        println!(
            "   {:<34}{:>9}{:>9}{:>9}{:>13}{:>12}",
            "way", "median", "best", "stops", "cost/stop", "x untraced"
        );
        for (i, way) in ways.iter().enumerate() {
            let (n, cost) = match way {
                Way::Untraced => ("-".to_owned(), "-".to_owned()),
                Way::Crashtest | Way::Bare => (
                    stops[i].to_string(),
                    format!("{:.1} us", per_stop(med[i], stops[i])),
                ),
                Way::Strace => (
                    "-".to_owned(),
                    format!("{:.1} us*", per_stop(med[i], ct_stops)),
                ),
            };
            println!(
                "   {:<34}{:>7.3} s{:>7.3} s{n:>9}{cost:>13}{:>11.2}x",
                way.words(),
                med[i],
                best[i],
                med[i] / base
            );
        }
        println!(
            "   cost/stop and ratios from the medians; stops: crashtest's are its boundaries + ack marks, \
             the bare tracer's its seccomp stops"
        );
        if ways.contains(&Way::Strace) {
            println!(
                "   * strace's cost is per crashtest stop (strace stops at every syscall, on entry and exit)"
            );
        }
        let ct = per_stop(med[1], ct_stops);
        let bare = per_stop(med[2], bare_stops);
        let vs_bare = ratio(ct, bare);
        let over_best = |i: usize| best[i] - best[0];
        println!(
            "   crashtest / bare tracer, cost per stop   {vs_bare}   (goal <= 1.5; from the best runs {})",
            ratio(
                over_best(1) / ct_stops.max(1) as f64,
                over_best(2) / bare_stops.max(1) as f64
            )
        );
        self.row(
            Section::Writer,
            &format!("crashtest / bare tracer, cost per stop{tag}"),
            format!("{vs_bare} ({ct:.1} vs {bare:.1} us)"),
            "<= 1.5x",
        );
        if ways.contains(&Way::Strace) {
            let vs_strace = ratio(med[3] - base, med[1] - base);
            println!(
                "   strace / crashtest, overhead             {vs_strace}   (goal >= 3; from the best runs {})",
                ratio(over_best(3), over_best(1))
            );
            self.row(
                Section::Writer,
                &format!("strace / crashtest, overhead{tag}"),
                vs_strace,
                ">= 3x",
            );
        } else {
            self.row(
                Section::Writer,
                &format!("strace / crashtest, overhead{tag}"),
                "strace not found: skipped".into(),
                ">= 3x",
            );
        }
        Ok(())
    }

    // 3. --------------------------------------------------------------------------------

    fn strace_loop(&mut self) -> Result<(), String> {
        let trials = self.knobs.loop_trials;
        let all = self.jobs;
        println!(
            "3. trials/s: `crashtest run` on smoke with kill only ({} records), against a hand-written \
             strace-inject loop; {trials} trials, median of {}",
            self.smoke.records, self.knobs.reps
        );
        if self.strace.is_none() {
            println!("   strace not found: skipped");
            self.row(
                Section::StraceLoop,
                "crashtest run / strace-inject loop",
                "strace not found: skipped".into(),
                ">= 20x",
            );
            return Ok(());
        }
        let env = self.trial_env(self.smoke.clone());
        let writes = self.clean_write_count(&env)?;
        println!(
            "   the loop: per trial, the trial's records; N uniform in 1..={writes} (the writes of a clean run, \
             counted once); the writer under strace -f -e trace=write -e inject=write:signal=KILL:when=N; \
             one replay; recovered must be a prefix of sent holding every ack"
        );
        let kill_only = self.kill_only.clone();
        let run_args = |jobs: usize| {
            vec![
                "--trials".to_owned(),
                trials.to_string(),
                "--jobs".into(),
                jobs.to_string(),
            ]
        };
        let mut lp = Vec::new();
        let mut one = Vec::new();
        let mut many = Vec::new();
        let mut violations: Vec<String> = Vec::new();
        let mut killed = 0;
        for rep in 0..self.knobs.reps {
            let mut line = format!("   rep {}:", rep + 1);
            for k in 0..3 {
                match (rep + k) % 3 {
                    0 => {
                        let started = Instant::now();
                        let mut v = Vec::new();
                        let mut kills = 0;
                        for i in 0..trials {
                            let t = self.loop_trial(&env, i, writes)?;
                            kills += u64::from(t.killed);
                            v.extend(t.violation.map(|why| format!("loop trial {i}: {why}")));
                        }
                        let rate = trials as f64 / secs(started.elapsed());
                        (violations, killed) = (v, kills);
                        lp.push(rate);
                        line.push_str(&format!("  loop {rate:.1}/s"));
                    }
                    1 => {
                        let run = self.must_run(&kill_only, &run_args(1))?;
                        let rate = count_after(&run.stdout, " trials in ")? as f64 / secs(run.wall);
                        one.push(rate);
                        line.push_str(&format!("  crashtest --jobs 1 {rate:.1}/s"));
                    }
                    _ => {
                        let run = self.must_run(&kill_only, &run_args(all))?;
                        let rate = count_after(&run.stdout, " trials in ")? as f64 / secs(run.wall);
                        many.push(rate);
                        line.push_str(&format!("  crashtest --jobs {all} {rate:.1}/s"));
                    }
                }
            }
            println!("{line}");
        }
        let (lp, one, many) = (median(&lp), median(&one), median(&many));
        self.loop_rate = Some(lp);
        for why in violations.iter().take(3) {
            println!("   {why}");
        }
        println!(
            "   strace-inject loop       {lp:>8.1} trials/s   ({killed} of {trials} writers killed, {} violations)",
            violations.len()
        );
        println!(
            "   crashtest run --jobs 1   {one:>8.1} trials/s   ({:.2}x the loop)",
            one / lp
        );
        println!(
            "   crashtest run --jobs {all:<3} {many:>8.1} trials/s   ({:.2}x the loop)",
            many / lp
        );
        println!(
            "   (a crashtest trial also does a dry run and a second, stable-check replay; the loop neither)"
        );
        self.row(
            Section::StraceLoop,
            "crashtest run --jobs 1 / strace-inject loop",
            format!("{:.2}x ({one:.1} vs {lp:.1}/s)", one / lp),
            ">= 20x",
        );
        self.row(
            Section::StraceLoop,
            &format!("crashtest run --jobs {all} / strace-inject loop"),
            format!("{:.2}x ({many:.1} vs {lp:.1}/s)", many / lp),
            ">= 20x",
        );
        Ok(())
    }

    /// The writes (every `write` call, the acks' included) of a clean run of trial 0's
    /// writer, counted from strace's own log, as a user would count them.
    fn clean_write_count(&self, env: &TrialEnv) -> Result<u64, String> {
        let scratch = self.scratch("count-")?;
        let dir = scratch.path().join("dir");
        std::fs::create_dir(&dir).map_err(|e| format!("failed to create a folder: {e}"))?;
        let log = scratch.path().join("strace.log");
        let records = loop_records(env, 0);
        let cmd = target_command(env, &dir, Role::Write, 0, 0);
        let mut cmd = strace(
            &cmd,
            &["-f", "-o", &log.display().to_string(), "-e", "trace=write"],
        );
        let out = run_plain(&mut cmd, &writer_input(&records), "strace")?;
        if !out.status.success() {
            return Err(format!(
                "a clean strace run of the writer ended with {}",
                out.status
            ));
        }
        let text = std::fs::read_to_string(&log)
            .map_err(|e| format!("failed to read strace's log: {e}"))?;
        // Lines look like `1234  write(1, "0\n", 2) = 2`; a call split by another thread
        // shows as `write(... <unfinished ...>` and then `<... write resumed>`.
        let writes = text
            .lines()
            .filter(|l| {
                l.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ')
                    .starts_with("write(")
            })
            .count() as u64;
        if writes == 0 {
            return Err("a clean strace run of the writer showed no write".into());
        }
        Ok(writes)
    }

    /// One trial of the hand-written loop.
    fn loop_trial(&self, env: &TrialEnv, index: u64, writes: u64) -> Result<LoopTrial, String> {
        check_interrupt()?;
        let sent = loop_records(env, index);
        let n = 1 + below(&mut env.scenario.seed.trial_rng(index), writes);
        let scratch = self.scratch("loop-")?;
        let dir = scratch.path();
        let cmd = target_command(env, dir, Role::Write, 0, index);
        let inject = format!("inject=write:signal=KILL:when={n}");
        let mut cmd = strace(
            &cmd,
            &["-f", "-o", "/dev/null", "-e", "trace=write", "-e", &inject],
        );
        let writer = run_plain(&mut cmd, &writer_input(&sent), "strace")?;
        let acks = String::from_utf8_lossy(&writer.stdout).into_owned();
        let mut acked = 0u64;
        for line in acks.lines() {
            if line.parse::<u64>().ok() != Some(acked) {
                return Ok(LoopTrial::violation(format!(
                    "ack {acked} came as {line:?}"
                )));
            }
            acked += 1;
        }
        let killed = (acked as usize) < sent.len();
        let mut replay = target_command(env, dir, Role::Replay, 0, index);
        let out = run_plain(&mut replay, b"", "the replay")?;
        if !out.status.success() {
            return Ok(LoopTrial::violation(format!(
                "replay ended with {}: {}",
                out.status,
                tail(&String::from_utf8_lossy(&out.stderr), 5)
            )));
        }
        let mut recovered = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            match crashtest::protocol::decode(line.as_bytes()) {
                Ok(r) => recovered.push(r),
                Err(_) => {
                    return Ok(LoopTrial::violation(format!("replay printed {line:?}")));
                }
            }
        }
        let violation = if recovered.len() > sent.len() || recovered[..] != sent[..recovered.len()]
        {
            Some("recovered records are not a prefix of those sent".to_owned())
        } else if (recovered.len() as u64) < acked {
            Some(format!(
                "lost acked records: {} recovered, {acked} acked",
                recovered.len()
            ))
        } else {
            None
        };
        Ok(LoopTrial { killed, violation })
    }

    // 4. --------------------------------------------------------------------------------

    fn exhaustive(&mut self) -> Result<(), String> {
        println!(
            "4. crash states/s of `crashtest run --exhaustive` on smoke with kill only, {} jobs, median of {}",
            self.jobs, self.knobs.reps
        );
        // The states of one workload, at smoke's size (the loop's) and at 5x: re-execution
        // runs the whole writer per state, the write log only replays.
        let mut sizes = vec![self.smoke.records];
        if self.knobs.larger {
            sizes.push(self.smoke.records * 5);
        }
        for records in sizes {
            let scenario = self.tmp.path().join(format!("smoke-kill-{records}.toml"));
            let TargetKind::Builtin(wal) = self.smoke.target.kind else {
                unreachable!("checked at the start");
            };
            let mut sc = self.smoke.clone();
            sc.records = records;
            std::fs::write(&scenario, kill_only_toml(&sc, wal.name()))
                .map_err(|e| format!("failed to write {}: {e}", scenario.display()))?;
            self.exhaustive_at(&scenario, records)?;
        }
        Ok(())
    }

    fn exhaustive_at(&mut self, scenario: &Path, records: u32) -> Result<(), String> {
        println!("   {records} records:");
        let log_args = vec!["--exhaustive".to_owned()];
        let reexec_args = vec!["--exhaustive".to_owned(), "--reexec".to_owned()];
        let mut from_log = Vec::new();
        let mut reexec = Vec::new();
        let mut states = 0;
        let mut has_reexec = true;
        for rep in 0..self.knobs.reps {
            let mut line = format!("   rep {}:", rep + 1);
            let mut order = [false, true];
            if rep % 2 == 1 {
                order.reverse();
            }
            for re in order {
                if re && !has_reexec {
                    continue;
                }
                let args = if re { &reexec_args } else { &log_args };
                match self.crashtest_run(scenario, args)? {
                    Ran::Rejected => {
                        has_reexec = false;
                        line.push_str("  --reexec n/a");
                    }
                    Ran::Done(run) => {
                        states = count_after(&run.stdout, "exhaustive: ")?;
                        let rate = states as f64 / secs(run.wall);
                        let (rates, word) = if re {
                            (&mut reexec, "--reexec")
                        } else {
                            (&mut from_log, "write log")
                        };
                        rates.push(rate);
                        line.push_str(&format!(
                            "  {word} {rate:.1} states/s ({:.2} s)",
                            secs(run.wall)
                        ));
                    }
                }
            }
            println!("{line}");
        }
        let log_rate = median(&from_log);
        println!("   crash states             {states:>8}");
        println!("   from the write log       {log_rate:>8.1} states/s");
        let figure = if has_reexec {
            let re = median(&reexec);
            println!("   by re-execution          {re:>8.1} states/s");
            println!("   write log / re-execution {:>8.2}x", log_rate / re);
            format!("{:.2}x ({log_rate:.1} vs {re:.1} states/s)", log_rate / re)
        } else {
            println!("   by re-execution               n/a (binary has no --reexec)");
            format!("n/a (binary has no --reexec; {log_rate:.1} states/s)")
        };
        self.row(
            Section::Exhaustive,
            &format!("exhaustive, {records} records: write log / re-execution"),
            figure,
            ">= 10x",
        );
        // The loop of section 3 walks kill points of the same writer and records one
        // process run at a time; --exhaustive walks them all from one recorded run.
        if records == self.smoke.records
            && let Some(lp) = self.loop_rate
        {
            println!(
                "   write log / strace-inject loop {:>8.2}x ({log_rate:.1} states/s vs {lp:.1} trials/s)",
                log_rate / lp
            );
            self.row(
                Section::Exhaustive,
                "exhaustive states from the write log / strace-inject loop",
                format!("{:.2}x ({log_rate:.1} vs {lp:.1}/s)", log_rate / lp),
                ">= 20x",
            );
        }
        Ok(())
    }

    // 5. --------------------------------------------------------------------------------

    fn first_fail(&mut self) -> Result<(), String> {
        println!(
            "5. time to the first FAIL line of `crashtest run {SEED_PREFIX}`, {} jobs, median of {}",
            self.jobs, self.knobs.reps
        );
        let scenario = self.root.join(SEED_PREFIX);
        let mut first = Vec::new();
        let mut total = Vec::new();
        let mut trials = 0;
        for rep in 0..self.knobs.reps {
            let run = self.must_run(&scenario, &[])?;
            trials = count_after(&run.stdout, " trials in ")?;
            let Some(at) = run.first_fail else {
                return Err(format!(
                    "`crashtest run {SEED_PREFIX}` printed no FAIL line"
                ));
            };
            println!(
                "   rep {}: first FAIL after {:.3} s, all {trials} trials in {:.3} s",
                rep + 1,
                secs(at),
                secs(run.wall)
            );
            first.push(secs(at));
            total.push(secs(run.wall));
        }
        let (first, total) = (median(&first), median(&total));
        println!("   first FAIL               {first:>8.3} s");
        println!("   whole run ({trials} trials)   {total:>8.3} s");
        self.row(
            Section::FirstFail,
            "seed-prefix: time to first FAIL",
            format!("{first:.3} s (whole run {total:.3} s)"),
            "",
        );
        Ok(())
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

/// One run of the writer `way`, in a fresh folder under `folders`: its time in seconds
/// and, for the two seccomp tracers, its stops.
fn writer_run(
    folders: &Path,
    env: &TrialEnv,
    way: Way,
    input: &[u8],
    records: usize,
) -> Result<(f64, Option<u64>), String> {
    check_interrupt()?;
    let scratch = tempfile::Builder::new()
        .prefix("writer-")
        .tempdir_in(folders)
        .map_err(|e| format!("failed to make a temporary folder: {e}"))?;
    let dir = scratch
        .path()
        .canonicalize()
        .map_err(|e| format!("failed to resolve {}: {e}", scratch.path().display()))?;
    let mut cmd = target_command(env, &dir, Role::Write, 0, 0);
    let (elapsed, acks, stops) = match way {
        Way::Untraced => {
            let out = run_plain(&mut cmd, input, "the writer")?;
            (out.elapsed, out.stdout, None)
        }
        Way::Strace => {
            let mut cmd = strace(&cmd, &["-f", "-o", "/dev/null", "-e", "trace=write"]);
            let out = run_plain(&mut cmd, input, "strace")?;
            (out.elapsed, out.stdout, None)
        }
        Way::Crashtest => {
            let (elapsed, acks, stops) = run_crashtest_traced(env, &dir, cmd, input)?;
            (elapsed, acks, Some(stops))
        }
        Way::Bare => {
            let (elapsed, acks, stops) = run_bare(cmd, input)?;
            (elapsed, acks, Some(stops))
        }
    };
    let acked = acks.iter().filter(|&&b| b == b'\n').count();
    if acked != records {
        return Err(format!(
            "the writer {} acked {acked} of {records} records",
            way.words()
        ));
    }
    Ok((secs(elapsed), stops))
}

/// The records trial `index` of the loop appends: those of the scenario's trial `index`.
fn loop_records(env: &TrialEnv, index: u64) -> Vec<Vec<u8>> {
    let sc = &env.scenario;
    Workload::generate(&mut sc.seed.workload_rng(index), 1, sc.records, sc.payload)
        .to_vecs()
        .swap_remove(0)
}

/// One trial of the hand-written loop: whether the kill landed before the end, and what
/// the check found.
struct LoopTrial {
    killed: bool,
    violation: Option<String>,
}

impl LoopTrial {
    fn violation(why: String) -> LoopTrial {
        LoopTrial {
            killed: true,
            violation: Some(why),
        }
    }
}

/// A finished `crashtest run`: its time to exit, to its first FAIL line, and its stdout.
struct RunOutput {
    wall: Duration,
    first_fail: Option<Duration>,
    stdout: String,
}

enum Ran {
    Done(RunOutput),
    /// It exited 2 with a usage error naming `--reexec`: the binary has no such flag.
    Rejected,
}

/// The four ways section 2 runs the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    Untraced,
    Crashtest,
    Bare,
    Strace,
}

impl Way {
    fn words(self) -> &'static str {
        match self {
            Way::Untraced => "untraced",
            Way::Crashtest => "crashtest's tracer",
            Way::Bare => "bare seccomp tracer (PTRACE_CONT)",
            Way::Strace => "strace -f -e trace=write",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Way::Untraced => "untraced",
            Way::Crashtest => "crashtest",
            Way::Bare => "bare",
            Way::Strace => "strace",
        }
    }
}

/// `cmd` (program, arguments, environment, folder) run under `strace OPTIONS --`.
fn strace(cmd: &Command, options: &[&str]) -> Command {
    let mut out = Command::new("strace");
    out.args(options)
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => out.env(k, v),
            None => out.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        out.current_dir(dir);
    }
    out
}

/// What a plainly started process did.
struct Plain {
    elapsed: Duration,
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs `cmd` with `input` on its stdin, reading its stdout and stderr; times it from the
/// spawn to its exit. An exit before all the input was read is not an error.
fn run_plain(cmd: &mut Command, input: &[u8], what: &str) -> Result<Plain, String> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = Reaper::spawn(cmd, what)?;
    let stdin = child.stdin()?;
    let (stdout, stderr) = child.pipes()?;
    let (waited, out, err) = std::thread::scope(|s| {
        s.spawn(move || feed(stdin, input));
        let out = s.spawn(move || read_all(stdout));
        let err = s.spawn(move || read_all(stderr));
        let waited = child
            .wait_until(WRITER_TIMEOUT)
            .map(|s| (s, started.elapsed()));
        (waited, joined(out), joined(err))
    });
    let (status, elapsed) = waited?;
    Ok(Plain {
        elapsed,
        status,
        stdout: out?,
        stderr: err?,
    })
}

/// Runs the writer `cmd` under crashtest's tracer, with no kill and no write log: its
/// time, its acks, and its stops (boundaries and ack marks).
fn run_crashtest_traced(
    env: &TrialEnv,
    dir: &Path,
    mut cmd: Command,
    input: &[u8],
) -> Result<(Duration, Vec<u8>, u64), String> {
    let opts = TraceOptions {
        dir,
        files: &env.files,
        kill_at: None,
        kill_scope: KillScope::All,
        tear: None,
        record_ops: false,
        timeout: WRITER_TIMEOUT,
    };
    let started = Instant::now();
    let run = run_piped_with(
        std::slice::from_mut(&mut cmd),
        [input],
        Limits::NONE,
        // Timed from the spawn to the loop's end, before the readers are joined.
        |traced| traced.run(&opts).map(|trace| (trace, started.elapsed())),
    )
    .map_err(|e| match e {
        PipedError::Start(e) => format!("failed to start the traced writer: {}", chain(&e)),
        PipedError::Run(e) => format!("the traced writer failed: {}", chain(&e)),
        PipedError::Output(e) => format!("failed to read a child's output: {e}"),
    })?;
    let (trace, elapsed) = run.result;
    let (out, err) = (run.stdouts[0].bytes(), run.stderrs[0].bytes());
    check_interrupt()?;
    if trace.ends.first() != Some(&WriterEnd::Exited { code: 0 }) {
        return Err(format!(
            "the traced writer ended {:?}: {}",
            trace.ends,
            tail(&String::from_utf8_lossy(&err), 5)
        ));
    }
    let stops =
        trace.boundaries.len() as u64 + trace.acks.iter().map(|a| a.len() as u64).sum::<u64>();
    Ok((elapsed, out, stops))
}

/// Runs `cmd` under the least a seccomp tracer can do: started exactly as crashtest starts
/// a writer ([`run_piped_with`]: crashtest's filter installed between fork and exec, the
/// same ptrace options, the same pipes), then a loop that restarts each stop with
/// `PTRACE_CONT` and counts it, instead of crashtest's. Its threads are traced too (the crc
/// writer appends on one). Returns its time, its acks and its seccomp stops.
fn run_bare(mut cmd: Command, input: &[u8]) -> Result<(Duration, Vec<u8>, u64), String> {
    let started = Instant::now();
    // On an error of the loop, run_piped_with kills and reaps the writer before it joins
    // the readers of its pipes.
    let run = run_piped_with(
        std::slice::from_mut(&mut cmd),
        [input],
        Limits::NONE,
        |traced| {
            let pid = traced.pgid();
            std::thread::scope(|s| {
                // The watchdog: SIGKILLs the writer if it outlives its timeout.
                let (done, wake) = mpsc::channel::<()>();
                s.spawn(move || {
                    if wake.recv_timeout(WRITER_TIMEOUT) == Err(mpsc::RecvTimeoutError::Timeout) {
                        // ESRCH (already gone) is fine.
                        let _ = signal::kill(pid, Signal::SIGKILL);
                    }
                });
                let stops = bare_loop(pid);
                let elapsed = started.elapsed();
                drop(done);
                stops.map(|(stops, end)| (stops, end, elapsed))
            })
        },
    )
    .map_err(|e| match e {
        PipedError::Start(e) => format!("failed to start the bare-traced writer: {}", chain(&e)),
        PipedError::Run(e) => e,
        PipedError::Output(e) => format!("failed to read a child's output: {e}"),
    })?;
    let (stops, end, elapsed) = run.result;
    let (out, err) = (run.stdouts[0].bytes(), run.stderrs[0].bytes());
    if end != Some(0) {
        return Err(format!(
            "the bare-traced writer ended with {end:?}: {}",
            tail(&String::from_utf8_lossy(&err), 5)
        ));
    }
    Ok((elapsed, out, stops))
}

/// The bare tracer's loop: every seccomp stop is counted and restarted, every signal
/// passed on (a new tracee's first SIGSTOP swallowed). Ends when no tracee is left;
/// returns the stops and the writer's exit code (128 + signal if one killed it).
fn bare_loop(leader: Pid) -> Result<(u64, Option<i32>), String> {
    let cont = |tid: Pid, sig: Option<Signal>| match ptrace::cont(tid, sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(format!("failed to restart {tid}: {e}")),
    };
    let flags = WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD;
    let mut started: HashSet<Pid> = HashSet::from([leader]);
    let mut stops = 0u64;
    let mut end = None;
    cont(leader, None)?;
    loop {
        match waitpid(Pid::from_raw(-1), Some(flags)) {
            Ok(WaitStatus::PtraceEvent(tid, _, event)) => {
                if event == Event::PTRACE_EVENT_SECCOMP as i32 {
                    stops += 1;
                }
                cont(tid, None)?;
            }
            Ok(WaitStatus::Stopped(tid, sig)) => {
                let first = started.insert(tid);
                cont(tid, (!(first && sig == Signal::SIGSTOP)).then_some(sig))?;
            }
            Ok(WaitStatus::Exited(tid, code)) if tid == leader => end = Some(code),
            Ok(WaitStatus::Signaled(tid, sig, _)) if tid == leader => end = Some(128 + sig as i32),
            Ok(WaitStatus::PtraceSyscall(tid)) => cont(tid, None)?,
            Ok(_) => {}
            Err(Errno::ECHILD) => return Ok((stops, end)),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(format!("failed to wait for the bare-traced writer: {e}")),
        }
    }
}

/// A child that is stopped (SIGTERM, then SIGKILL after a grace period) and reaped when
/// dropped, so that no path out of the bench leaves it running.
struct Reaper(Option<Child>);

impl Reaper {
    fn spawn(cmd: &mut Command, what: &str) -> Result<Reaper, String> {
        cmd.spawn()
            .map(|c| Reaper(Some(c)))
            .map_err(|e| format!("failed to start {what}: {e}"))
    }

    fn child(&mut self) -> &mut Child {
        self.0
            .as_mut()
            .expect("the child is reaped only by wait_until and drop")
    }

    fn stdin(&mut self) -> Result<std::process::ChildStdin, String> {
        self.child()
            .stdin
            .take()
            .ok_or_else(|| "stdin was not piped".to_owned())
    }

    fn pipes(&mut self) -> Result<(std::process::ChildStdout, std::process::ChildStderr), String> {
        let c = self.child();
        match (c.stdout.take(), c.stderr.take()) {
            (Some(out), Some(err)) => Ok((out, err)),
            _ => Err("stdout and stderr were not piped".into()),
        }
    }

    /// Waits for the exit, for at most `timeout`; past it (or on an interrupt) the child
    /// is stopped and reaped, and that is an error.
    fn wait_until(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        match wait_timeout(self.child(), timeout) {
            Ok(true) => {
                let mut child = self.0.take().expect("not reaped yet");
                child
                    .wait()
                    .map_err(|e| format!("failed to reap a child: {e}"))
            }
            Ok(false) => {
                self.stop();
                Err(if interrupted() {
                    "interrupted".into()
                } else {
                    format!("a child ran past {}", humantime::format_duration(timeout))
                })
            }
            Err(e) => {
                self.stop();
                Err(format!("failed to wait for a child: {e}"))
            }
        }
    }

    /// SIGTERM (a `crashtest run` then removes its folders), SIGKILL after 10 s, reap.
    fn stop(&mut self) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        // ESRCH (already exited) is fine: the wait below reaps it.
        let _ = signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        if !wait_timeout(&child, Duration::from_secs(10)).unwrap_or(false) {
            let _ = child.kill();
        }
        if let Err(e) = child.wait() {
            eprintln!("speed bench: warning: failed to reap a child: {e}");
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes `input` to a child's stdin and closes it; a child that died first is fine.
fn feed(mut stdin: impl Write, input: &[u8]) {
    match stdin.write_all(input) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => eprintln!("speed bench: warning: failed to feed a child: {e}"),
    }
}

fn read_all(mut r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.read_to_end(&mut out).map(|_| out)
}

/// A reader thread's result; its panic or its error, as a message.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, std::io::Result<T>>) -> Result<T, String> {
    handle
        .join()
        .map_err(|_| "a reader thread panicked".to_owned())?
        .map_err(|e| format!("failed to read a child's output: {e}"))
}

/// The number that starts the text after `marker` on the first line holding it, e.g.
/// 100 for `100 trials in 1.4s` and marker ` trials in`, or for `exhaustive: 65 crash
/// states` and marker `exhaustive: `.
fn count_after(stdout: &str, marker: &str) -> Result<u64, String> {
    stdout
        .lines()
        .find_map(|l| {
            let at = l.find(marker)?;
            let number = if marker.starts_with(' ') {
                l[..at].split_whitespace().last()?
            } else {
                l[at + marker.len()..].split_whitespace().next()?
            };
            number.parse().ok()
        })
        .ok_or_else(|| {
            format!(
                "no line with {marker:?} and a count in:\n{}",
                tail(stdout, 20)
            )
        })
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let mut out = all[all.len().saturating_sub(lines)..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// An error once SIGINT or SIGTERM arrived: the bench stops, cleaning up on its way out.
fn check_interrupt() -> Result<(), String> {
    if interrupted() {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// `a / b` as `1.23x`; "n/a" when a tracer's overhead `b` did not rise above the noise.
fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "n/a (overhead within noise)".to_owned()
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
