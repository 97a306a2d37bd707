//! Section 4, `exhaustive`: crash states/s of `crashtest run --exhaustive` (states built
//! from the write log) against `--exhaustive --reexec` (each state by running the writer
//! again), on smoke's workload and on one 5x larger.

use std::path::Path;

use crashtest::target::TargetKind;

use crate::common::{Ran, count_after, kill_only_toml, median, secs};
use crate::{Bench, Section};

impl Bench {
    pub(crate) fn exhaustive(&mut self) -> Result<(), String> {
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
}
