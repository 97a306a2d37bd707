//! Section 3, `strace-loop`: trials/s of `crashtest run` on smoke with kill as its only
//! fault, against the loop a user would write by hand (the writer under strace's
//! `inject=write:signal=KILL`, a replay, a prefix check, one trial after the other).

use std::time::Instant;

use crashtest::protocol::{Role, writer_input};
use crashtest::seed::below;
use crashtest::trial::{TrialEnv, target_command};
use crashtest::workload::Workload;

use crate::common::{check_interrupt, count_after, median, run_plain, secs, strace, tail};
use crate::{Bench, Section};

impl Bench {
    pub(crate) fn strace_loop(&mut self) -> Result<(), String> {
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
                        let run = self.run_loop(&env, trials, writes)?;
                        (violations, killed) = (run.violations, run.killed);
                        lp.push(run.rate);
                        line.push_str(&format!("  loop {:.1}/s", run.rate));
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

    /// `trials` trials of the hand-written loop, one after the other, each killing the
    /// writer at a write drawn from `1..=writes`.
    pub(crate) fn run_loop(
        &self,
        env: &TrialEnv,
        trials: u64,
        writes: u64,
    ) -> Result<LoopRun, String> {
        let started = Instant::now();
        let mut violations = Vec::new();
        let mut killed = 0;
        for i in 0..trials {
            let t = self.loop_trial(env, i, writes)?;
            killed += u64::from(t.killed);
            violations.extend(t.violation.map(|why| format!("loop trial {i}: {why}")));
        }
        Ok(LoopRun {
            rate: trials as f64 / secs(started.elapsed()),
            killed,
            violations,
        })
    }

    /// The writes (every `write` call, the acks' included) of a clean run of trial 0's
    /// writer, counted from strace's own log, as a user would count them.
    pub(crate) fn clean_write_count(&self, env: &TrialEnv) -> Result<u64, String> {
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
}

/// The records trial `index` of the loop appends: those of the scenario's trial `index`.
fn loop_records(env: &TrialEnv, index: u64) -> Vec<Vec<u8>> {
    let sc = &env.scenario;
    Workload::generate(&mut sc.seed.workload_rng(index), 1, sc.records, sc.payload)
        .expect("one writer's records are drawn as they are read")
        .to_vecs()
        .swap_remove(0)
}

/// Trials of the hand-written loop: their rate, how many writers the kill reached before
/// their end, and what the checks found.
pub(crate) struct LoopRun {
    pub(crate) rate: f64,
    pub(crate) killed: u64,
    pub(crate) violations: Vec<String>,
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
