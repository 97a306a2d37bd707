//! Section 5, `first-fail`: how long `crashtest run scenarios/seed-prefix.toml` takes to
//! print its first FAIL, and to finish.

use crate::common::{count_after, median, secs};
use crate::{Bench, SEED_PREFIX, Section};

impl Bench {
    pub(crate) fn first_fail(&mut self) -> Result<(), String> {
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
}
