//! Section 2, `writer`: one run of the crc writer, untraced, under crashtest's tracer,
//! under a bare seccomp tracer written here and under strace; each tracer's cost per stop,
//! and their ratios.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crashtest::errors::{PipedError, chain};
use crashtest::process::Limits;
use crashtest::protocol::{Role, writer_input};
use crashtest::tracer::{KillScope, TraceOptions, WriterEnd, run_piped_with};
use crashtest::trial::{TrialEnv, target_command};
use crashtest::workload::Workload;
use nix::errno::Errno;
use nix::sys::ptrace::{self, Event};
use nix::sys::signal::{self, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::common::{WRITER_TIMEOUT, check_interrupt, median, run_plain, secs, strace, tail};
use crate::{Bench, Section};

impl Bench {
    pub(crate) fn writer(&mut self) -> Result<(), String> {
        let appends = self.knobs.appends;
        let sc = self.smoke.clone();
        let records = Workload::generate(&mut sc.seed.workload_rng(0), 1, appends, sc.payload)
            .map_err(|e| format!("failed to draw the records: {e}"))?
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
        sector: 512,
        record_ops: false,
        skip_syncs: false,
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

/// `a / b` as `1.23x`; "n/a" when a tracer's overhead `b` did not rise above the noise.
fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "n/a (overhead within noise)".to_owned()
    }
}
