//! Section 6, `ratios`: crash states/s of the strace-inject loop, of `crashtest run`
//! (sampled: kill only, no stable check; states cut from recorded runs, and with
//! `--reexec` each by a dry run and a real kill) and of `crashtest run --exhaustive`, on the same
//! two Go writers, 200 records of 32..=256 bytes, and the ratios to the loop. These are
//! the figures issue 14 sets goals for (sampled >= 20x the loop, exhaustive >= 30x).
//!
//! The writers are `harness/targets/gowal` under postfix's torn-tail Replay, built here
//! with `go build` (its caches in the bench's temp folder, nothing downloaded): `-split`
//! appends a record in two writes and never syncs; `-fsync` appends it in one write and
//! an fsync. Both are correct under SIGKILL, so every run and loop trial should pass.

use std::path::Path;
use std::process::{Command, Stdio};

use crashtest::errors::chain;
use crashtest::scenario::Scenario;

use crate::common::{count_after, median, run_plain, secs, tail};
use crate::{Bench, Section};

/// The Go module, relative to the package root.
const GOWAL: &str = "harness/targets/gowal";
/// crashtest's sampled runs check this many times the loop's trials.
const SAMPLED_TIMES: u64 = 4;
/// Records per writer run and their payload sizes (both ends included).
const RECORDS: u32 = 200;
const PAYLOAD: (u32, u32) = (32, 256);

/// One Go writer of the section.
struct GoWriter {
    /// Names its scenario file.
    name: &'static str,
    what: &'static str,
    /// gowal's flags besides `-mode=postfix`.
    flag: &'static str,
    durability: &'static str,
}

const WRITERS: [GoWriter; 2] = [
    GoWriter {
        name: "split",
        what: "two writes per record, no fsync",
        flag: "-split",
        durability: "process",
    },
    GoWriter {
        name: "fsync",
        what: "one write + fsync per record",
        flag: "-fsync",
        durability: "fsync",
    },
];

impl Bench {
    pub(crate) fn ratios(&mut self) -> Result<(), String> {
        let trials = self.knobs.loop_trials;
        println!(
            "6. crash states/s on two Go writers ({GOWAL}, {RECORDS} records of {}..={} bytes): the \
             strace-inject loop and `crashtest run` with kill only and no stable check, {trials} trials \
             each, and `crashtest run --exhaustive`; crashtest with {} jobs, median of {}",
            PAYLOAD.0, PAYLOAD.1, self.jobs, self.knobs.reps
        );
        let skip = if self.strace.is_none() {
            Some("strace not found")
        } else if !has_go() {
            Some("go not found")
        } else {
            None
        };
        if let Some(why) = skip {
            println!("   {why}: skipped");
            self.row(
                Section::Ratios,
                "Go writers: sampled and exhaustive / strace-inject loop",
                format!("{why}: skipped"),
                "",
            );
            return Ok(());
        }
        let dir = self.scratch("gowal-")?;
        let built = self.go_build(dir.path())?;
        println!("   built gowal in {built:.1} s");
        for w in &WRITERS {
            let scenario = dir.path().join(format!("{}.toml", w.name));
            std::fs::write(&scenario, go_toml(w, trials))
                .map_err(|e| format!("failed to write {}: {e}", scenario.display()))?;
            self.ratios_of(w, &scenario)?;
        }
        Ok(())
    }

    /// `go build` of gowal into `dir`, with Go's caches under `dir`; how long it took.
    fn go_build(&self, dir: &Path) -> Result<f64, String> {
        let go = dir.join("go");
        let mut cmd = Command::new("go");
        cmd.args(["build", "-o"])
            .arg(dir.join("gowal"))
            .arg(".")
            .current_dir(self.root.join(GOWAL))
            .env("GOCACHE", go.join("cache"))
            .env("GOPATH", go.join("path"))
            .env("GOPROXY", "off")
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "-modcacherw");
        let out = run_plain(&mut cmd, b"", "go build")?;
        if !out.status.success() {
            return Err(format!(
                "go build in {GOWAL} ended with {}:\n{}",
                out.status,
                tail(&String::from_utf8_lossy(&out.stderr), 20)
            ));
        }
        Ok(secs(out.elapsed))
    }

    fn ratios_of(&mut self, w: &GoWriter, scenario: &Path) -> Result<(), String> {
        let sc = Scenario::load(scenario)
            .map_err(|e| format!("failed to load {}: {}", scenario.display(), chain(&e)))?;
        let env = self.trial_env(sc);
        let writes = self.clean_write_count(&env)?;
        println!(
            "   {} (gowal -mode=postfix {}), {writes} writes in a clean run:",
            w.what, w.flag
        );
        let trials = self.knobs.loop_trials;
        // crashtest's runs are longer than the loop's, as a CI gate's are: its start (the
        // check of the target before the first trial) is not a crash state's cost.
        let run_trials = trials * SAMPLED_TIMES;
        let sampled_args = vec![
            "--trials".to_owned(),
            run_trials.to_string(),
            "--jobs".into(),
            self.jobs.to_string(),
        ];
        let real_args = [sampled_args.clone(), vec!["--reexec".to_owned()]].concat();
        let exhaustive_args = vec![
            "--exhaustive".to_owned(),
            "--jobs".into(),
            self.jobs.to_string(),
        ];
        let (mut lp, mut sampled, mut exhaustive) = (Vec::new(), Vec::new(), Vec::new());
        let mut real = Vec::new();
        let mut states = 0;
        let mut said = String::new();
        let mut loop_violations: Vec<String> = Vec::new();
        let mut killed = 0;
        for rep in 0..self.knobs.reps {
            let mut line = format!("   rep {}:", rep + 1);
            for k in 0..4 {
                match (rep + k) % 4 {
                    0 => {
                        let run = self.run_loop(&env, trials, writes)?;
                        (loop_violations, killed) = (run.violations, run.killed);
                        lp.push(run.rate);
                        line.push_str(&format!("  loop {:.1}/s", run.rate));
                    }
                    1 => {
                        let run = self.must_run(scenario, &sampled_args)?;
                        let rate = count_after(&run.stdout, " trials in ")? as f64 / secs(run.wall);
                        sampled.push(rate);
                        line.push_str(&format!("  sampled {rate:.1}/s"));
                    }
                    2 => {
                        let run = self.must_run(scenario, &real_args)?;
                        let rate = count_after(&run.stdout, " trials in ")? as f64 / secs(run.wall);
                        real.push(rate);
                        line.push_str(&format!("  real kills {rate:.1}/s"));
                    }
                    _ => {
                        let run = self.must_run(scenario, &exhaustive_args)?;
                        states = count_after(&run.stdout, "exhaustive: ")?;
                        said = run
                            .stdout
                            .lines()
                            .find(|l| l.contains("exhaustive: "))
                            .unwrap_or_default()
                            .to_owned();
                        let rate = states as f64 / secs(run.wall);
                        exhaustive.push(rate);
                        line.push_str(&format!("  exhaustive {rate:.1}/s"));
                    }
                }
            }
            println!("{line}");
        }
        let (lp, sampled, exhaustive) = (median(&lp), median(&sampled), median(&exhaustive));
        let real = median(&real);
        if !said.is_empty() {
            println!("   {said}");
        }
        for why in loop_violations.iter().take(3) {
            println!("   {why}");
        }
        println!(
            "   strace-inject loop       {lp:>8.1} states/s   ({killed} of {trials} writers killed, {} violations)",
            loop_violations.len()
        );
        println!(
            "   crashtest run, sampled   {sampled:>8.1} states/s   ({:.2}x the loop; {run_trials} trials, {} cut from each recorded run)",
            sampled / lp,
            crashtest::run::STATES_PER_RUN
        );
        println!(
            "   ... with --reexec        {real:>8.1} states/s   ({:.2}x the loop; every trial a dry run and a real kill)",
            real / lp
        );
        println!(
            "   crashtest --exhaustive   {exhaustive:>8.1} states/s   ({:.2}x the loop; {states} states)",
            exhaustive / lp
        );
        self.row(
            Section::Ratios,
            &format!("Go, {}: sampled / strace-inject loop", w.what),
            format!("{:.2}x ({sampled:.1} vs {lp:.1}/s)", sampled / lp),
            ">= 20x",
        );
        self.sweep(w, scenario, &sampled_args, lp)?;
        self.row(
            Section::Ratios,
            &format!("Go, {}: sampled --reexec / strace-inject loop", w.what),
            format!("{:.2}x ({real:.1} vs {lp:.1}/s)", real / lp),
            "",
        );
        self.row(
            Section::Ratios,
            &format!("Go, {}: exhaustive / strace-inject loop", w.what),
            format!("{:.2}x ({exhaustive:.1} vs {lp:.1}/s)", exhaustive / lp),
            ">= 30x",
        );
        Ok(())
    }
}

impl Bench {
    /// Sampled runs at each of [`SWEEP`] states per recorded run, alternating, median of
    /// the reps: what the recording's cost is spread over.
    fn sweep(
        &mut self,
        w: &GoWriter,
        scenario: &Path,
        args: &[String],
        lp: f64,
    ) -> Result<(), String> {
        let mut rates = vec![Vec::new(); SWEEP.len()];
        for rep in 0..self.knobs.reps {
            for k in 0..SWEEP.len() {
                let i = (rep + k) % SWEEP.len();
                let mut args = args.to_vec();
                args.extend(["--states-per-run".to_owned(), SWEEP[i].to_string()]);
                let run = self.must_run(scenario, &args)?;
                rates[i].push(count_after(&run.stdout, " trials in ")? as f64 / secs(run.wall));
            }
        }
        let words: Vec<String> = SWEEP
            .iter()
            .zip(&rates)
            .map(|(n, r)| {
                let rate = median(r);
                format!("{n}: {rate:.1}/s ({:.1}x)", rate / lp)
            })
            .collect();
        println!("   states per recorded run   {}", words.join(", "));
        self.row(
            Section::Ratios,
            &format!("Go, {}: states/s by states per recorded run", w.what),
            words.join(", "),
            "",
        );
        Ok(())
    }
}

/// The states per recorded run the sweep tries.
const SWEEP: [u64; 5] = [1, 4, 8, 16, 32];

/// The scenario of one Go writer: kill only, no stable check, the binary next to it.
fn go_toml(w: &GoWriter, trials: u64) -> String {
    format!(
        "# gowal {flag}: {what}; written by the speed bench, section 6.\n\
         name = \"gowal-{name}\"\n\
         seed = 1\n\
         trials = {trials}\n\
         records = {RECORDS}\n\
         payload = {{ min = {min}, max = {max} }}\n\
         timeout = \"30s\"\n\
         expect = \"pass\"\n\n\
         [target]\n\
         writer = [\"./gowal\", \"-mode=postfix\", \"{flag}\", \"write\"]\n\
         replay = [\"./gowal\", \"-mode=postfix\", \"replay\"]\n\
         durability = \"{durability}\"\n\
         files = [\"wal.log\"]\n\
         max_writers = 1\n\n\
         [faults]\n\
         kill = 1\n\n\
         [checks]\n\
         stable = false\n",
        flag = w.flag,
        what = w.what,
        name = w.name,
        min = PAYLOAD.0,
        max = PAYLOAD.1,
        durability = w.durability,
    )
}

/// Whether `go version` runs.
fn has_go() -> bool {
    Command::new("go")
        .arg("version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
