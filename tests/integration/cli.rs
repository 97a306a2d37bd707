//! Around a run: expectations, repro, determinism, shards and merge, budgets, reports, regressions.

use std::path::{Path, PathBuf};

use crate::support::{self, Sandbox};

#[test]
fn a_scenario_that_does_not_meet_its_expectation_exits_1() {
    let sb = Sandbox::new();
    let text = std::fs::read_to_string(support::root().join("scenarios/seed-prefix.toml")).unwrap();
    let wrong = sb.scenario(
        "wrong.toml",
        &text.replace(r#"expect = "fail""#, r#"expect = "pass""#),
    );
    let run = sb.crashtest(&["run", wrong.to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}", run.stdout());
    assert!(run.stdout().contains("NOT OK"), "{}", run.stdout());
}

/// The repro line a run prints is pasted into a shell, in the folder the run was started
/// from, as it is: with crashtest installed on PATH and without.
#[test]
fn printed_repro_lines_paste_into_a_shell_as_they_are() {
    let sb = Sandbox::new();
    let bin = sb.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_crashtest"), bin.join("crashtest")).unwrap();
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    let installed =
        std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(&inherited)))
            .unwrap();
    // Without: a PATH that holds no crashtest at all.
    let bare = std::env::join_paths(
        std::env::split_paths(&inherited).filter(|d| !d.join("crashtest").exists()),
    )
    .unwrap();
    for (path, installed) in [(bare, false), (installed, true)] {
        let run = sb.crashtest_in(
            &sb.work(),
            &[
                "run",
                "scenarios/seed-prefix.toml",
                "--no-shrink",
                "--jobs",
                "1",
            ],
            |cmd| {
                cmd.env("PATH", &path);
            },
        );
        assert_eq!(run.code(), 0, "{}", run.stdout());
        let stdout = run.stdout();
        let line = stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("repro: "))
            .unwrap_or_else(|| panic!("no repro line:\n{stdout}"));
        assert_eq!(
            line.starts_with("crashtest repro "),
            installed,
            "installed: {installed}: {line}"
        );
        let pasted = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{line} --work-dir \"$1\"",))
            .arg("sh")
            .arg(sb.work())
            .current_dir(support::root())
            .env("PATH", &path)
            .output()
            .unwrap();
        assert_eq!(
            pasted.status.code(),
            Some(1),
            "`{line}` (installed: {installed}) reproduces the failing trial:\n{}{}",
            String::from_utf8_lossy(&pasted.stdout),
            String::from_utf8_lossy(&pasted.stderr)
        );
        assert!(
            String::from_utf8_lossy(&pasted.stdout).contains("[replay-failed]"),
            "{}",
            String::from_utf8_lossy(&pasted.stdout)
        );
    }
}

#[test]
fn repro_reproduces_the_boundary_fault_and_verdict() {
    let sb = Sandbox::new();
    let run = sb.crashtest(&["run", "scenarios/seed-prefix.toml", "--seed", "3"]);
    let finding = run.findings()[0].clone();
    let repro = finding["repro"].as_str().unwrap();
    let args: Vec<&str> = repro.split_whitespace().skip(1).collect();
    assert_eq!(args[0], "repro");
    let again = sb.crashtest(&args);
    assert_eq!(
        again.code(),
        1,
        "repro exits 1 when the trial fails:\n{}",
        again.stdout()
    );
    let out = again.stdout();
    let kill = finding["kill"]["description"].as_str().unwrap();
    let class = finding["judgement"]["violation"]["class"].as_str().unwrap();
    let detail = finding["judgement"]["violation"]["detail"]
        .as_str()
        .unwrap();
    assert!(
        out.contains(&format!("{kill}   <- SIGKILL before this call")),
        "{out}"
    );
    assert!(
        out.contains(&format!("verdict: FAIL [{class}] {detail}")),
        "{out}"
    );
    assert!(
        out.contains("replay stderr:") && out.contains("records sent: 20"),
        "{out}"
    );
}

#[test]
fn the_same_seed_gives_the_same_findings() {
    let sb = Sandbox::new();
    let strip = |run: &support::Run| {
        let mut f: Vec<String> = run.findings().iter().map(|v| v.to_string()).collect();
        f.sort();
        f
    };
    let a = sb.crashtest(&["run", "scenarios/seed-prefix.toml", "--jobs", "1"]);
    let b = sb.crashtest(&["run", "scenarios/seed-prefix.toml", "--jobs", "2"]);
    assert!(!a.findings().is_empty());
    assert_eq!(strip(&a), strip(&b));
    assert_eq!(a.summary()["classes"], b.summary()["classes"]);
    assert_eq!(a.summary()["killed"], b.summary()["killed"]);
}

#[test]
fn a_malformed_scenario_is_one_clear_error_with_line_and_column() {
    let sb = Sandbox::new();
    let bad = sb.scenario(
        "bad.toml",
        "name = \"bad\"\ntrials = \"many\"\n[target]\nbuiltin = \"crc\"\n",
    );
    let run = sb.crashtest(&["run", bad.to_str().unwrap()]);
    assert_eq!(run.code(), 2);
    let err = run.stderr();
    assert!(
        err.contains("bad.toml") && err.contains("line 2, column 10"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let unknown = sb.scenario(
        "unknown.toml",
        "trials = 3\ntorn = 1\n[target]\nbuiltin = \"crc\"\n",
    );
    let run = sb.crashtest(&["run", unknown.to_str().unwrap()]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("line 2, column 1") && run.stderr().contains("torn"),
        "{}",
        run.stderr()
    );
    let run = sb.crashtest(&["run", "scenarios/no-such-file.toml"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr()
            .contains("failed to read scenario at scenarios/no-such-file.toml"),
        "{}",
        run.stderr()
    );
}

/// See issue 7: what a run prints does not depend on how many trials run at once.
#[test]
fn the_output_is_the_same_for_any_number_of_jobs() {
    let sb = Sandbox::new();
    let printed = |jobs: &str| -> String {
        let run = sb.crashtest(&[
            "run",
            "scenarios/seed-prefix.toml",
            "--trials",
            "40",
            "--jobs",
            jobs,
        ]);
        assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
        run.stdout()
            .lines()
            .filter(|l| {
                !l.contains(" jobs, ") && !l.contains("trials/s") && !l.starts_with("results:")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let one = printed("1");
    assert!(
        one.contains("FAIL trial") && one.contains("SHRUNK"),
        "{one}"
    );
    assert_eq!(one, printed("3"));
}

/// See issue 5: shards are disjoint and together are the whole run, trial for trial;
/// `merge` joins them and refuses an incomplete set. Trials cut from one recorded run (16
/// of them) stay in one shard: 48 trials are 3 groups, 1 a shard.
#[test]
fn shards_together_equal_the_whole_run_and_merge_joins_them() {
    let sb = Sandbox::new();
    let trials = |run: &support::Run| -> Vec<String> {
        let mut t: Vec<String> = run
            .lines
            .iter()
            .filter(|l| l["type"] == "trial")
            .map(|l| format!("{} {} {} {}", l["trial"], l["fault"], l["kill"], l["class"]))
            .collect();
        t.sort();
        t
    };
    let args = [
        "run",
        "scenarios/seed-prefix.toml",
        "--trials",
        "48",
        "--no-shrink",
    ];
    let whole = sb.crashtest(&args);
    let mut union = Vec::new();
    let mut files = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let mut a = args.to_vec();
        a.extend(["--shard", &shard]);
        let run = sb.crashtest_keep(&a);
        assert_eq!(
            run.code(),
            0,
            "a shard of an expect = fail scenario leaves the verdict to merge"
        );
        let mine = trials(&run);
        assert!(mine.len() == 16, "shard {shard}: {mine:?}");
        union.extend(mine);
        files.push(run.results_file.clone().unwrap());
    }
    union.sort();
    assert_eq!(
        union,
        trials(&whole),
        "the shards' trials are the run's trials"
    );
    let file_args: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let junit = sb.dir.path().join("merged.xml");
    let mut merge = vec!["merge", "--junit", junit.to_str().unwrap()];
    merge.extend(&file_args);
    let merged = sb.crashtest(&merge);
    assert_eq!(merged.code(), 0, "{}{}", merged.stdout(), merged.stderr());
    assert!(
        merged.stdout().contains("OK: seed-prefix: expected fail")
            && merged.stdout().contains(" 48 trials, "),
        "{}",
        merged.stdout()
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert!(doc.descendants().any(|n| n.has_tag_name("testcase")));
    // See issue 11: a missing shard is a run that did not finish: not met (exit 1), with
    // why, in the terminal, JUnit and HTML alike.
    let partial: Vec<&Path> = files[..2].iter().map(PathBuf::as_path).collect();
    sb.merge_not_met(
        &partial,
        &support::NotMet {
            scenario: "seed-prefix",
            incomplete: true,
            junit_type: "incomplete",
            why: "missing shard(s) 3/3 of 3",
        },
    );
    // See issue 14: shard 3/3 of a run that grouped its trials 8 a recording is not the
    // third of this one: merged with the first two, the run is not whole.
    let mut a = args.to_vec();
    a.extend(["--shard", "3/3", "--states-per-run", "8"]);
    let other = sb.crashtest_keep(&a);
    assert_eq!(other.code(), 0, "{}", other.stdout());
    let mixed: Vec<&Path> = vec![
        files[0].as_path(),
        files[1].as_path(),
        other.results_file.as_deref().unwrap(),
    ];
    sb.merge_not_met(
        &mixed,
        &support::NotMet {
            scenario: "seed-prefix",
            incomplete: true,
            junit_type: "incomplete",
            why: "shards of runs that grouped their trials differently (--states-per-run): 3/3 with 8 trial(s) a recorded run; 1/3, 2/3 with 16",
        },
    );
}

/// See issue 5: a budgeted run stops within its budget plus one trial's time and says
/// how many trials ran.
#[test]
fn a_budget_stops_the_run_in_time() {
    let sb = Sandbox::new();
    let slow = sb.scenario(
        "slow.toml",
        "trials = 1000\nrecords = 2\n[target]\nwriter = [\"sh\", \"-c\", \"sleep 0.2; n=0; while read -r l; do echo $n; n=$((n+1)); done\"]\nreplay = [\"true\"]\ndurability = \"none\"\n",
    );
    let started = std::time::Instant::now();
    let run = sb.crashtest(&[
        "run",
        slow.to_str().unwrap(),
        "--budget",
        "2s",
        "--jobs",
        "2",
    ]);
    let took = started.elapsed();
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let summary = run.summary();
    assert_eq!(summary["budget_exhausted"], true, "{summary}");
    let ran = summary["trials"].as_u64().unwrap();
    assert!(ran > 0 && ran < 1000, "{summary}");
    // Each trial is two writer runs of ~0.2 s and a replay: the budget plus one trial.
    assert!(took < std::time::Duration::from_secs(2 + 3), "{took:?}");
    assert!(
        run.stdout().contains("the budget ran out"),
        "{}",
        run.stdout()
    );
}

/// See issue 13: shrinking is bounded by time. A shrink cut short by `--shrink-budget` says
/// so where it is printed, in its results line and in the summary, and shows what it is
/// doing on a terminal; given time, the same failure shrinks further and says none of it.
#[test]
fn r13_a_shrink_stops_at_its_budget_says_so_and_shows_progress_on_a_terminal() {
    use std::io::Read;
    let sb = Sandbox::new();
    // Only a kill before the writer's first call (its mkdir) fails the replay. Every writer
    // run sleeps 0.6 s first, so a shrink candidate (a dry run, then the crash run) takes
    // over 1.2 s: a 1 s budget lets exactly one start.
    let slow = sb.scenario(
        "slow.toml",
        r#"
trials = 2
records = 3
timeout = "20s"
[target]
writer = ["sh", "-c", "sleep 0.6; mkdir $CRASHTEST_DIR/d; n=0; while read -r l; do echo $n; n=$((n+1)); done"]
replay = ["sh", "-c", "test -d $CRASHTEST_DIR/d"]
durability = "none"
"#,
    );
    let args = [
        "run",
        slow.to_str().unwrap(),
        "--seed",
        "1",
        "--no-regressions",
    ];
    let (mut terminal, tty) = pty();
    let screen = std::thread::spawn(move || {
        let mut seen = Vec::new();
        // Ends with EIO once no process holds the terminal side.
        let _ = terminal.read_to_end(&mut seen);
        String::from_utf8_lossy(&seen).into_owned()
    });
    let cut = sb.crashtest_in(
        &sb.work(),
        &[&args[..], &["--shrink-budget", "1s"]].concat(),
        |cmd| {
            cmd.stderr(tty).env_remove("CI");
        },
    );
    let screen = screen.join().unwrap();
    let out = cut.stdout();
    assert_eq!(cut.code(), 1, "{out}");
    assert!(
        out.contains(
            "stopped early: the shrink budget of 1s ran out (1 run); a smaller case may fail the same way"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "shrunk (1 record, kill at boundary 0; stopped early, the shrink budget ran out)"
        ),
        "{out}"
    );
    assert!(
        out.contains("; shrinking stopped early at its budget"),
        "{out}"
    );
    let line = cut
        .lines
        .iter()
        .find(|l| l["type"] == "shrunk")
        .expect("a shrunk line");
    assert_eq!(line["shrunk"]["stopped"], "budget", "{line}");
    assert_eq!(line["shrunk"]["records"], 1, "{line}");
    assert!(line["shrunk"]["max_payload"].is_null(), "{line}");
    assert_eq!(cut.summary()["shrink_budget_exhausted"], true);
    // On the terminal, stderr showed the shrink under way; stdout, a pipe, holds none of it.
    assert!(
        screen.contains("shrinking 1 failure: 0 done, 1 trial run, 0s of 1s "),
        "{screen:?}"
    );
    assert!(!out.contains("shrinking 1 failure"), "{out}");

    // With the default budget the shrink goes on to the payloads and ends by itself.
    let whole = sb.crashtest(&args);
    let out = whole.stdout();
    assert_eq!(whole.code(), 1, "{out}");
    assert!(!out.contains("stopped early"), "{out}");
    let line = whole
        .lines
        .iter()
        .find(|l| l["type"] == "shrunk")
        .expect("a shrunk line");
    assert!(line["shrunk"].get("stopped").is_none(), "{line}");
    assert_eq!(line["shrunk"]["max_payload"], 0, "{line}");
    assert_eq!(whole.summary()["shrink_budget_exhausted"], false);
    assert!(!whole.stderr().contains("shrinking"), "{}", whole.stderr());
}

/// See issue 13: a hang costs its timeout at every shrink run (a 5 s timeout once made a
/// shrink take 646 s, silently). Its shrink stops at the budget and says so.
#[test]
fn r13_a_hang_shrinks_within_its_budget() {
    let sb = Sandbox::new();
    let hang = sb.scenario(
        "hang.toml",
        r#"
trials = 1
records = 5
timeout = "300ms"
[target]
writer = ["sh", "-c", "n=0; while read -r l; do echo x >> $CRASHTEST_DIR/log; echo $n; n=$((n+1)); done; sleep 1000"]
replay = ["true"]
durability = "none"
"#,
    );
    let run = sb.crashtest(&[
        "run",
        hang.to_str().unwrap(),
        "--shrink-budget",
        "1s",
        "--no-regressions",
    ]);
    let out = run.stdout();
    assert_eq!(run.code(), 1, "{out}");
    assert_eq!(run.summary()["classes"]["hang"], 1, "{out}");
    let said = out
        .lines()
        .find_map(|l| l.strip_prefix("not shrunk: trial 0: the shrink budget of 1s ran out ("))
        .unwrap_or_else(|| panic!("no word of the shrink budget: {out}"));
    let runs: u64 = said.split(' ').next().unwrap().parse().unwrap();
    assert!(
        said.ends_with("before a smaller case failed the same way"),
        "{said}"
    );
    // Each run waits out the 300 ms timeout, so at most 4 start within 1 s; the whole
    // shrink would first try each of the 10 kill points before the writer's hang.
    assert!((1..=4).contains(&runs), "{out}");
    assert_eq!(run.summary()["shrink_budget_exhausted"], true);
    assert!(!run.lines.iter().any(|l| l["type"] == "shrunk"));
}

/// A pseudo-terminal: the side to read what was shown, and the terminal to give a child.
fn pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::fs::OpenOptionsExt;
    // SAFETY: posix_openpt takes flags only and returns a new descriptor or -1.
    let fd = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    assert!(fd >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    let reader = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: the descriptor is a pty master, and name is a buffer of the length given.
    unsafe {
        assert_eq!(libc::grantpt(reader.as_raw_fd()), 0);
        assert_eq!(libc::unlockpt(reader.as_raw_fd()), 0);
        assert_eq!(
            libc::ptsname_r(reader.as_raw_fd(), name.as_mut_ptr(), name.len()),
            0
        );
    }
    // SAFETY: ptsname_r wrote a NUL-terminated name into the buffer.
    let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
        .to_str()
        .unwrap()
        .to_owned();
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path)
        .unwrap();
    (reader, tty)
}

/// See issue 5: a failure shrinks to a case with fewer records that still fails the same
/// way, reproducible from its printed command; the JUnit file parses and its repro
/// reproduces; the failure is saved as a regression and replayed first on the next run,
/// failing it until the bug is fixed.
#[test]
fn failures_shrink_reproduce_from_junit_and_are_replayed_as_regressions() {
    let sb = Sandbox::new();
    // seed-prefix, but claiming to pass: its failures are regressions to keep.
    let text = std::fs::read_to_string(support::root().join("scenarios/seed-prefix.toml"))
        .unwrap()
        .replace(r#"expect = "fail""#, r#"expect = "pass""#)
        .replace("trials = 100", "trials = 12");
    let scenario = sb.scenario("prefix.toml", &text);
    let junit = sb.dir.path().join("junit.xml");
    let run = sb.crashtest(&[
        "run",
        scenario.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 1, "{}", run.stdout());
    let shrunk = run
        .lines
        .iter()
        .find(|l| l["type"] == "shrunk")
        .expect("a shrunk case");
    let records = shrunk["shrunk"]["records"].as_u64().unwrap();
    assert!(records < 20, "{shrunk}");
    let repro = shrunk["shrunk"]["repro"].as_str().unwrap();
    let args: Vec<&str> = repro.split_whitespace().skip(1).collect();
    let again = sb.crashtest(&args);
    assert_eq!(
        again.code(),
        1,
        "the shrunk case fails:\n{}",
        again.stdout()
    );
    assert!(
        again
            .stdout()
            .contains(&format!("records sent: {records} ")),
        "{}",
        again.stdout()
    );
    assert!(
        again.stdout().contains("[replay-failed]"),
        "{}",
        again.stdout()
    );
    // JUnit: well-formed, and its first failure's repro command reproduces.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure element");
    let body = failure.text().unwrap();
    let line = body
        .lines()
        .find(|l| l.contains("crashtest repro "))
        .expect("a repro command");
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    assert_eq!(sb.crashtest(&args).code(), 1, "{line}");
    // Saved, and replayed first next time.
    let saved = std::fs::read_to_string(sb.dir.path().join("prefix.regressions")).unwrap();
    assert!(
        saved
            .lines()
            .any(|l| l.starts_with("cc ") && l.contains("/r")),
        "{saved}"
    );
    // One job, so the order trials end in is the order they start in.
    let next = sb.crashtest(&[
        "run",
        scenario.to_str().unwrap(),
        "--trials",
        "1",
        "--no-shrink",
        "--jobs",
        "1",
    ]);
    assert!(
        next.stdout().contains("saved regressions first"),
        "{}",
        next.stdout()
    );
    assert_eq!(
        next.code(),
        1,
        "a saved regression fails the run until the bug is fixed: {}{}",
        next.stdout(),
        next.stderr()
    );
    let first = next.lines.iter().find(|l| l["type"] == "trial").unwrap();
    assert!(
        first["case"].as_str().unwrap().contains("/r"),
        "the regression ran first: {first}"
    );
    // Fixed (here: the scenario now runs the crc WAL), the regression passes.
    std::fs::write(
        &scenario,
        text.replace(r#"builtin = "seed-prefix""#, r#"builtin = "crc""#),
    )
    .unwrap();
    let fixed = sb.crashtest(&["run", scenario.to_str().unwrap(), "--trials", "1"]);
    assert_eq!(fixed.code(), 0, "{}", fixed.stdout());
}

/// See issue 5: `--report` on run and `crashtest report` write one self-contained page
/// with the summary, the kill chart and each failure's repro command.
#[test]
fn the_html_report_holds_the_summary_chart_and_repro_commands() {
    let sb = Sandbox::new();
    let page = sb.dir.path().join("report.html");
    let run = sb.crashtest_keep(&[
        "run",
        "scenarios/seed-prefix.toml",
        "--trials",
        "20",
        "--report",
        page.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<svg"), "a chart");
    let repro = run.findings()[0]["repro"].as_str().unwrap().to_owned();
    assert!(html.contains(&repro), "{repro}");
    for fetch in [
        "<script",
        "<link",
        "src=\"http",
        "href=\"http",
        "url(http",
        "@import",
    ] {
        assert!(!html.contains(fetch), "self-contained, but it has {fetch}");
    }
    let again = sb.dir.path().join("again.html");
    let file = run.results_file.unwrap();
    let out = sb.crashtest(&[
        "report",
        file.to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
    ]);
    assert_eq!(out.code(), 0, "{}", out.stderr());
    assert_eq!(
        std::fs::read_to_string(&again).unwrap(),
        html,
        "the same results make the same page"
    );
}

/// See issue 11: one bug is one regression line, however many trials it failed, and a run
/// that finds it again with another seed adds nothing.
#[test]
fn r11_many_failing_trials_of_one_bug_save_one_regression_line() {
    let sb = Sandbox::new();
    let text = std::fs::read_to_string(support::root().join("scenarios/seed-prefix.toml"))
        .unwrap()
        .replace(r#"expect = "fail""#, r#"expect = "pass""#)
        .replace("trials = 100", "trials = 200");
    let scenario = sb.scenario("prefix.toml", &text);
    let run = sb.crashtest(&["run", scenario.to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}", run.stdout());
    let failed = run.findings().len();
    assert!(failed >= 50, "{failed}");
    let saved = std::fs::read_to_string(sb.dir.path().join("prefix.regressions")).unwrap();
    let cases: Vec<&str> = saved.lines().filter(|l| l.starts_with("cc ")).collect();
    assert_eq!(cases.len(), 1, "{saved}");
    assert!(
        cases[0].contains(&format!(
            "# [replay-failed after kill at write] seen in {failed} of 200 trials: "
        )),
        "{saved}"
    );
    assert!(cases[0].contains("/r"), "the shrunk case: {saved}");
    assert!(run.stdout().contains("saved 1 new regression(s)"));
    // Another seed finds the same bug: the file stays as it is.
    let again = sb.crashtest(&[
        "run",
        scenario.to_str().unwrap(),
        "--seed",
        "8",
        "--trials",
        "40",
    ]);
    assert_eq!(again.code(), 1);
    assert_eq!(
        std::fs::read_to_string(sb.dir.path().join("prefix.regressions")).unwrap(),
        saved
    );
}

/// See issue 11: a sharded `expect = "fail"` run whose only failures are target errors
/// (the target breaking the protocol, not a crash bug) is "not met" in merge, JUnit and
/// HTML alike, and target errors are neither shrunk nor saved as regressions.
#[test]
fn r11_target_errors_never_meet_expect_fail_and_are_never_kept() {
    let sb = Sandbox::new();
    // Acks every record with a word that is no record index.
    let bad_acks = "trials = 6\nrecords = 3\nexpect = \"fail\"\n[target]\nwriter = [\"sh\", \"-c\", \"while read -r l; do echo banana; done\"]\nreplay = [\"true\"]\ndurability = \"none\"\n";
    let scenario = sb.scenario("bad-acks.toml", bad_acks);
    let mut files = Vec::new();
    for k in 1..=2 {
        let shard = format!("{k}/2");
        let run = sb.crashtest_keep(&["run", scenario.to_str().unwrap(), "--shard", &shard]);
        assert!(
            run.findings()
                .iter()
                .all(|f| f["judgement"]["violation"]["class"] == "target-error"),
            "{}",
            run.stdout()
        );
        assert!(
            !run.lines.iter().any(|l| l["type"] == "shrunk"),
            "never shrunk"
        );
        files.push(run.results_file.unwrap());
    }
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    sb.merge_not_met(
        &files,
        &support::NotMet {
            scenario: "bad-acks",
            incomplete: false,
            junit_type: "no-bug-found",
            why: "which is the target breaking the protocol, not a crash finding",
        },
    );

    // The same target with expect = "pass": not met, and nothing saved to commit.
    let pass = sb.scenario(
        "bad-acks-pass.toml",
        &bad_acks.replace("\"fail\"", "\"pass\""),
    );
    let run = sb.crashtest(&["run", pass.to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}", run.stdout());
    assert!(!sb.dir.path().join("bad-acks-pass.regressions").exists());
}
