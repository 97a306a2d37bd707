//! What several sections share: `crashtest run` and its output, plainly started children
//! and their reaping, temporary folders, strace, medians and timing.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crashtest::process::{interrupted, wait_timeout};
use crashtest::run::compile_files;
use crashtest::scenario::Scenario;
use crashtest::trial::TrialEnv;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::{Bench, SMOKE};

/// The longest a `crashtest run` or one writer may take before the bench gives up on it.
pub(crate) const RUN_TIMEOUT: Duration = Duration::from_secs(600);
pub(crate) const WRITER_TIMEOUT: Duration = Duration::from_secs(300);

/// smoke, with kill as its only fault, as a scenario file.
pub(crate) fn kill_only_toml(smoke: &Scenario, target: &str) -> String {
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

impl Bench {
    /// A fresh folder under the bench's temp folder, removed when dropped.
    pub(crate) fn scratch(&self, prefix: &str) -> Result<tempfile::TempDir, String> {
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(self.tmp.path())
            .map_err(|e| format!("failed to make a temporary folder: {e}"))
    }

    /// An environment for [`crashtest::trial::target_command`]: smoke's target, seed and
    /// records.
    pub(crate) fn trial_env(&self, scenario: Scenario) -> TrialEnv {
        TrialEnv {
            files: compile_files(&scenario.target.files),
            scenario,
            exe: self.exe.clone(),
            work: self.tmp.path().to_owned(),
            keep: None,
        }
    }

    /// Runs `crashtest run SCENARIO --no-regressions EXTRA...` with its results and trial
    /// folders in a fresh temporary folder, reading its stdout as it comes.
    pub(crate) fn crashtest_run(&self, scenario: &Path, extra: &[String]) -> Result<Ran, String> {
        self.crashtest_run_within(scenario, extra, RUN_TIMEOUT)
    }

    /// [`Bench::crashtest_run`], stopped (and an error) past `timeout`.
    pub(crate) fn crashtest_run_within(
        &self,
        scenario: &Path,
        extra: &[String],
        timeout: Duration,
    ) -> Result<Ran, String> {
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
            let waited = child.wait_until(timeout).map(|s| (s, started.elapsed()));
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
    pub(crate) fn must_run(&self, scenario: &Path, extra: &[String]) -> Result<RunOutput, String> {
        match self.crashtest_run(scenario, extra)? {
            Ran::Done(out) => Ok(out),
            Ran::Rejected => Err(format!("crashtest run rejected {}", extra.join(" "))),
        }
    }
}

/// A finished `crashtest run`: its time to exit, to its first FAIL line, and its stdout.
pub(crate) struct RunOutput {
    pub(crate) wall: Duration,
    pub(crate) first_fail: Option<Duration>,
    pub(crate) stdout: String,
}

pub(crate) enum Ran {
    Done(RunOutput),
    /// It exited 2 with a usage error naming `--reexec`: the binary has no such flag.
    Rejected,
}

/// `cmd` (program, arguments, environment, folder) run under `strace OPTIONS --`.
pub(crate) fn strace(cmd: &Command, options: &[&str]) -> Command {
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
pub(crate) struct Plain {
    pub(crate) elapsed: Duration,
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

/// Runs `cmd` with `input` on its stdin, reading its stdout and stderr; times it from the
/// spawn to its exit. An exit before all the input was read is not an error.
pub(crate) fn run_plain(cmd: &mut Command, input: &[u8], what: &str) -> Result<Plain, String> {
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
pub(crate) fn count_after(stdout: &str, marker: &str) -> Result<u64, String> {
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
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let mut out = all[all.len().saturating_sub(lines)..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// An error once SIGINT or SIGTERM arrived: the bench stops, cleaning up on its way out.
pub(crate) fn check_interrupt() -> Result<(), String> {
    if interrupted() {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

pub(crate) fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
