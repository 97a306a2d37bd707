//! How one trial's cost and memory grow with its number of records (issue 7, item 5).
//!
//! `cargo bench --bench scale [-- --max N | --quick] [--writers W]` writes, for records =
//! 10^3, 10^4, 10^5 and 10^6 (up to `--max`; `--quick` stops at 10^4), a one-trial
//! scenario (the built-in `crc` WAL, payloads of 0..=64 bytes, SIGKILL only, the `stable`
//! check on; `W` writers of that many records each, 1 by default: see issue 13)
//! into a temporary folder and runs the release `crashtest run` on it as a child process.
//! Per size it prints the wall time, the time per record, two peaks of resident memory
//! and the ratio of each to the previous size: linear cost is 10x time per 10x records,
//! memory that does not grow with the log is a ratio near 1x.
//!
//! - `crashtest` peak: the highest `VmHWM` of the `crashtest run` process itself, read
//!   from `/proc` every few milliseconds while it runs: the harness's own memory.
//! - tree peak: `ru_maxrss` from `wait4`, the largest of crashtest and every process it
//!   waited for (its writers and replays), whose memory is the target's business.
//!
//! Nothing here asserts on time. The run must meet its `expect = "pass"`; a run that does
//! not is reported with its output and fails the bench.

use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{crashtest_exe, filesystem, machine};

/// The record counts measured, in order.
const SIZES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// How often the harness's own peak is read while it runs.
const SAMPLE: Duration = Duration::from_millis(5);

fn main() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("scale bench: error: {why}");
            ExitCode::FAILURE
        }
    }
}

/// Knobs from the command line (cargo passes `--bench`, which is ignored).
struct Args {
    max: u64,
    writers: u64,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        max: u64::MAX,
        writers: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bench" => {}
            "--quick" => out.max = 10_000,
            "--max" => {
                out.max = it
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|&v| v > 0)
                    .ok_or("--max wants a positive integer, e.g. --max 100000")?;
            }
            "--writers" => {
                out.writers = it
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|&v| v > 0)
                    .ok_or("--writers wants a positive integer, e.g. --writers 4")?;
            }
            other => {
                return Err(format!(
                    "unknown argument '{other}' (usage: cargo bench --bench scale -- [--max N] [--quick] [--writers W])"
                ));
            }
        }
    }
    Ok(out)
}

/// One size's measurement.
struct Row {
    records: u64,
    elapsed: Duration,
    /// Peak resident set of `crashtest run` itself, KiB.
    own_kib: u64,
    /// Peak resident set of the largest process of the tree, KiB.
    tree_kib: u64,
}

fn bench() -> Result<(), String> {
    let args = args()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = crashtest_exe(root)?;
    let tmp = tempfile::tempdir().map_err(|e| format!("failed to make a temp folder: {e}"))?;
    println!("{}", machine());
    println!(
        "one trial of the built-in crc WAL, {} writer(s), payloads 0..=64 bytes, kill only, \
         stable check on; folder on {}",
        args.writers,
        filesystem(tmp.path())
    );
    println!(
        "{:>9}  {:>9}  {:>8}  {:>14}  {:>14}  {:>7}  {:>7}  {:>7}",
        "records", "time", "us/rec", "crashtest RSS", "tree RSS", "time x", "RSS x", "tree x"
    );
    let mut rows: Vec<Row> = Vec::new();
    for &records in SIZES.iter().filter(|&&n| n <= args.max) {
        let row = measure(&exe, tmp.path(), records, args.writers)?;
        let ratio = |f: fn(&Row) -> f64| match rows.last() {
            Some(prev) => format!("{:.2}x", f(&row) / f(prev)),
            None => "-".to_owned(),
        };
        println!(
            "{:>9}  {:>8.2}s  {:>8.2}  {:>10.1} MiB  {:>10.1} MiB  {:>7}  {:>7}  {:>7}",
            row.records,
            row.elapsed.as_secs_f64(),
            row.elapsed.as_secs_f64() * 1e6 / row.records as f64,
            row.own_kib as f64 / 1024.0,
            row.tree_kib as f64 / 1024.0,
            ratio(|r| r.elapsed.as_secs_f64()),
            ratio(|r| r.own_kib as f64),
            ratio(|r| r.tree_kib as f64),
        );
        rows.push(row);
    }
    Ok(())
}

/// Runs one trial of `writers` writers of `records` records each under `crashtest run` and
/// measures it.
fn measure(exe: &Path, tmp: &Path, records: u64, writers: u64) -> Result<Row, String> {
    let dir = tmp.join(format!("r{records}"));
    std::fs::create_dir(&dir).map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
    let scenario = dir.join("scale.toml");
    let text = format!(
        r#"name = "scale"
seed = 1
trials = 1
records = {records}
writers = {writers}
payload = {{ min = 0, max = 64 }}
timeout = "2h"
expect = "pass"

[target]
builtin = "crc"

[faults]
kill = 1

[checks]
stable = true
"#
    );
    std::fs::write(&scenario, text)
        .map_err(|e| format!("failed to write {}: {e}", scenario.display()))?;
    let work = dir.join("work");
    std::fs::create_dir(&work).map_err(|e| format!("failed to create {}: {e}", work.display()))?;
    let started = Instant::now();
    let mut child = Command::new(exe)
        .arg("run")
        .arg(&scenario)
        .args(["--jobs", "1", "--no-shrink", "--no-regressions"])
        .arg("--results")
        .arg(dir.join("results"))
        .arg("--work-dir")
        .arg(&work)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("failed to start {}: {e}", exe.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.take().expect("stdout was piped");
    let mut stderr = child.stderr.take().expect("stderr was piped");
    // Read its output on two threads while this one samples its memory and waits.
    let (out, err, waited) = std::thread::scope(|s| {
        let out = s.spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let err = s.spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let waited = wait_sampling(pid);
        (
            out.join().expect("reader panicked"),
            err.join().expect("reader panicked"),
            waited,
        )
    });
    let (status, own_kib, tree_kib) = waited?;
    let elapsed = started.elapsed();
    // The child is reaped through wait4 above; keep std from waiting again.
    std::mem::forget(child);
    if status != 0 {
        return Err(format!(
            "crashtest run with {records} records exited with {status}:\n{out}{err}"
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Row {
        records,
        elapsed,
        own_kib,
        tree_kib,
    })
}

/// Waits for `pid`, reading its `VmHWM` every [`SAMPLE`] until it exits; returns its exit
/// code, its own peak and `wait4`'s `ru_maxrss`, in KiB.
fn wait_sampling(pid: libc::pid_t) -> Result<(i32, u64, u64), String> {
    let mut own = 0;
    loop {
        own = own.max(vm_hwm(pid).unwrap_or(0));
        let mut status = 0;
        // SAFETY: rusage is plain old data, for which all zeroes is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own unreaped child; status and usage are valid to write.
        let got = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if got < 0 {
            return Err(format!(
                "failed to wait for crashtest: {}",
                std::io::Error::last_os_error()
            ));
        }
        if got == pid {
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
            return Ok((code, own, usage.ru_maxrss as u64));
        }
        std::thread::sleep(SAMPLE);
    }
}

/// The peak resident set of `pid` so far, KiB (`None` once it has exited).
fn vm_hwm(pid: libc::pid_t) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
