//! Section 1, `trials`: trials/s of `crashtest run scenarios/smoke.toml`, with `--jobs 1`
//! and with one job per core.

use crate::common::{count_after, median, secs};
use crate::{Bench, SMOKE, Section};

impl Bench {
    pub(crate) fn trials(&mut self) -> Result<(), String> {
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
}
