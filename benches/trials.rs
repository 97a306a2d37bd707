//! How much a traced trial costs, next to the two plain process starts it is built on.
//!
//! `cargo bench --bench trials [-- --trials N --reps R]` runs, in one process and on one
//! thread (so every figure is per core), trials `0..N` of `scenarios/smoke.toml` R times
//! in two ways, alternating:
//!
//! 1. traced: the real [`crashtest::trial::run`], with the release `crashtest` binary as
//!    the writer and replay (dry run, kill, fault, replay, verdict);
//! 2. baseline: for the same trials, the same writer (`crashtest target crc write`, the
//!    same `CRASHTEST_*` environment, the same hex input, acks read back) and then the
//!    replay (`crashtest target crc replay`), started with plain `std::process::Command`:
//!    no seccomp, no ptrace, no kill, no fault.
//!
//! A traced trial whose kill lands before the writer's end runs the writer twice (dry run,
//! then the crash run), so the writer runs per trial are counted too, and the cost is also
//! given per process start. Nothing here asserts on time; the baseline only checks that
//! its writer acked and its replay returned every record, so that it did the full work.

use std::io::Write;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use crashtest::protocol::{Role, writer_input};
use crashtest::run::{compile_files, make_work};
use crashtest::scenario::Scenario;
use crashtest::target::TargetKind;
use crashtest::trial::{self, TrialEnv};
use crashtest::workload::Workload;

mod support;
use support::{crashtest_exe, filesystem, machine};

/// The scenario measured, relative to the package root.
const SCENARIO: &str = "scenarios/smoke.toml";

/// Trials run untimed, each way, before the first repetition (page cache, binary, dentries).
const WARMUP: u64 = 5;

fn main() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("trials bench: error: {why}");
            ExitCode::FAILURE
        }
    }
}

/// Knobs from the command line (cargo passes `--bench`, which is ignored).
struct Args {
    trials: u64,
    reps: usize,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        trials: 100,
        reps: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|&v| v > 0)
                .ok_or_else(|| format!("{name} wants a positive integer, e.g. {name} 100"))
        };
        match arg.as_str() {
            "--bench" => {}
            "--trials" => out.trials = value("--trials")?,
            "--reps" => out.reps = value("--reps")? as usize,
            other => {
                return Err(format!(
                    "unknown argument '{other}' (usage: cargo bench --bench trials -- [--trials N] [--reps R])"
                ));
            }
        }
    }
    Ok(out)
}

fn bench() -> Result<(), String> {
    let args = args()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = crashtest_exe(root)?;
    let mut scenario = Scenario::load(&root.join(SCENARIO))
        .map_err(|e| format!("failed to load {SCENARIO}: {e}"))?;
    // The baseline replays once; so does the traced trial here (no second, stable-check
    // replay), so that the ratio measures tracing and the dry run, not the extra check.
    scenario.checks.stable = false;
    let TargetKind::Builtin(wal) = scenario.target.kind else {
        return Err(format!("{SCENARIO} must name a built-in target"));
    };
    let (_work_guard, work) = make_work(None).map_err(|e| e.to_string())?;
    let files = compile_files(&scenario.target.files);
    let env = TrialEnv {
        scenario,
        exe,
        work,
        files,
        keep: None,
    };
    let baseline = Baseline { env: &env };

    println!("{}", machine());
    println!(
        "scenario {SCENARIO}: {} records of {}..={} bytes, seed {}, target {}",
        env.scenario.records,
        env.scenario.payload.min,
        env.scenario.payload.max,
        env.scenario.seed,
        wal.name()
    );
    println!(
        "work folder: {} ({}; TMPDIR moves it); the crc writer fdatasyncs every record",
        env.work.display(),
        filesystem(&env.work)
    );
    println!(
        "{} reps x {} trials each way, sequential on one thread, after {WARMUP} warm-up trials each",
        args.reps, args.trials
    );

    for i in 0..WARMUP {
        traced_trial(&env, i)?;
        baseline.trial(i)?;
    }
    let mut traced = Vec::new();
    let mut plain = Vec::new();
    for rep in 0..args.reps {
        let t = traced_rep(&env, args.trials)?;
        let b = baseline.rep(args.trials)?;
        println!(
            "rep {}: traced {:6.1} trials/s, baseline {:6.1} trials/s",
            rep + 1,
            args.trials as f64 / t.elapsed.as_secs_f64(),
            args.trials as f64 / b.elapsed.as_secs_f64()
        );
        traced.push(t);
        plain.push(b);
    }
    report(args.trials, &traced, &plain);
    Ok(())
}

/// One repetition of the traced trials.
struct TracedRep {
    elapsed: Duration,
    boundaries: u64,
    /// Writer runs: 2 for a trial killed before its end, else 1.
    writer_runs: u64,
    violations: u64,
}

fn traced_rep(env: &TrialEnv, trials: u64) -> Result<TracedRep, String> {
    let mut rep = TracedRep {
        elapsed: Duration::ZERO,
        boundaries: 0,
        writer_runs: 0,
        violations: 0,
    };
    let started = Instant::now();
    for i in 0..trials {
        let outcome = traced_trial(env, i)?;
        rep.boundaries += outcome.boundaries;
        rep.writer_runs += if outcome.kill.is_some() { 2 } else { 1 };
        rep.violations += u64::from(outcome.violation().is_some());
    }
    rep.elapsed = started.elapsed();
    Ok(rep)
}

fn traced_trial(env: &TrialEnv, index: u64) -> Result<trial::TrialOutcome, String> {
    trial::run(env, index)
        .map(|(outcome, _)| outcome)
        .map_err(|e| {
            format!(
                "traced trial {index} failed: {}",
                crashtest::errors::chain(&e)
            )
        })
}

/// One repetition of the baseline, with the writer's and the replay's share kept apart.
struct BaselineRep {
    elapsed: Duration,
    writer: Duration,
    replay: Duration,
}

/// The untraced twin of a trial: what `trial::run` starts, without the tracer.
struct Baseline<'a> {
    env: &'a TrialEnv,
}

impl Baseline<'_> {
    fn rep(&self, trials: u64) -> Result<BaselineRep, String> {
        let mut rep = BaselineRep {
            elapsed: Duration::ZERO,
            writer: Duration::ZERO,
            replay: Duration::ZERO,
        };
        let started = Instant::now();
        for i in 0..trials {
            let (writer, replay) = self.trial(i)?;
            rep.writer += writer;
            rep.replay += replay;
        }
        rep.elapsed = started.elapsed();
        Ok(rep)
    }

    /// Runs trial `index`'s writer to its end and then its replay; returns their times.
    fn trial(&self, index: u64) -> Result<(Duration, Duration), String> {
        let sc = &self.env.scenario;
        let workload = Workload::generate(
            &mut sc.seed.workload_rng(index),
            sc.writers,
            sc.records,
            sc.payload,
        )
        .map_err(|e| format!("failed to draw the records: {e}"))?;
        let sent = &workload.to_vecs()[0];
        let input = writer_input(sent);
        let dir = self.env.work.join(format!("b{index}"));
        std::fs::create_dir(&dir)
            .map_err(|e| format!("failed to create {}: {e}", dir.display()))?;

        let started = Instant::now();
        let mut cmd = trial::target_command(self.env, &dir, Role::Write, 0, index);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("failed to start the writer: {e}"))?;
        let mut stdin = child.stdin.take().expect("stdin was piped");
        let (out, fed) = std::thread::scope(|s| {
            let feeder = s.spawn(move || stdin.write_all(&input));
            let out = child.wait_with_output();
            (out, feeder.join().expect("feeder thread panicked"))
        });
        let out = out.map_err(|e| format!("failed to run the writer: {e}"))?;
        fed.map_err(|e| format!("failed to feed the writer: {e}"))?;
        let writer = started.elapsed();
        check(&out, "writer", sent.len())?;

        let started = Instant::now();
        let out = trial::target_command(self.env, &dir, Role::Replay, 0, index)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("failed to run the replay: {e}"))?;
        let replay = started.elapsed();
        check(&out, "replay", sent.len())?;

        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("failed to remove {}: {e}", dir.display()))?;
        Ok((writer, replay))
    }
}

/// A baseline process must exit 0 with one line per record (an ack, or a recovered record).
fn check(out: &std::process::Output, who: &str, records: usize) -> Result<(), String> {
    let lines = out.stdout.iter().filter(|&&b| b == b'\n').count();
    if out.status.success() && lines == records {
        Ok(())
    } else {
        Err(format!(
            "baseline {who} gave {lines} lines for {records} records and {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn report(trials: u64, traced: &[TracedRep], plain: &[BaselineRep]) {
    let n = trials as f64;
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / n;
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let best = |xs: &[f64]| xs.iter().copied().fold(f64::INFINITY, f64::min);

    // Per-trial costs in ms, one per repetition.
    let t: Vec<f64> = traced.iter().map(|r| ms(r.elapsed)).collect();
    let b: Vec<f64> = plain.iter().map(|r| ms(r.elapsed)).collect();
    let bw: Vec<f64> = plain.iter().map(|r| ms(r.writer)).collect();
    let br: Vec<f64> = plain.iter().map(|r| ms(r.replay)).collect();
    // The trials are the same in every repetition, so these counts are too.
    let first = &traced[0];
    let runs = first.writer_runs as f64 / n;
    let bounds = first.boundaries as f64 / n;

    println!();
    println!("                              mean       best");
    let row = |what: &str, xs: &[f64]| {
        println!(
            "{what:<24}{:>8.1}/s {:>8.1}/s   ({:.2} / {:.2} ms per trial)",
            1e3 / mean(xs),
            1e3 / best(xs),
            mean(xs),
            best(xs)
        );
    };
    row("traced trials", &t);
    row("baseline trials", &b);
    println!(
        "baseline split            writer {:.2} ms + replay {:.2} ms per trial (mean)",
        mean(&bw),
        mean(&br)
    );
    println!();
    println!(
        "traced / baseline cost per trial        {:.2}x mean, {:.2}x best",
        mean(&t) / mean(&b),
        best(&t) / best(&b)
    );
    println!("boundaries per trial                    {bounds:.1} (of the dry run)");
    println!(
        "writer runs per trial                   {runs:.2} ({} of {trials} trials killed before the end)",
        first.writer_runs - trials
    );
    // A traced trial starts `runs` writers and one replay; the baseline one of each.
    println!(
        "traced / baseline cost per process      {:.2}x mean ({:.2} ms vs {:.2} ms per start)",
        (mean(&t) / (runs + 1.0)) / (mean(&b) / 2.0),
        mean(&t) / (runs + 1.0),
        mean(&b) / 2.0
    );
    // Take the replay's baseline cost out of the traced trial; what is left is its writers.
    let traced_writer = (mean(&t) - mean(&br)) / runs;
    println!(
        "traced / baseline cost per writer run   {:.2}x mean ({traced_writer:.2} ms vs {:.2} ms, replay cost taken as the baseline's)",
        traced_writer / mean(&bw),
        mean(&bw)
    );
    let violations: u64 = traced.iter().map(|r| r.violations).sum();
    if violations > 0 {
        println!("note: {violations} traced trials reported a violation; smoke expects none");
    }
}
