//! Containment: hangs, hostile targets and a killed harness leave nothing behind and lose nothing.

use std::process::{Command, Stdio};

use crate::support::{self, Sandbox};

#[test]
fn hanging_targets_are_verdicts_and_leave_nothing_behind() {
    let sb = Sandbox::new();
    let hang = sb.scenario(
        "hang.toml",
        r#"
trials = 2
records = 3
timeout = "300ms"
[target]
writer = ["sh", "-c", "sleep 1000 & sleep 1000"]
replay = ["true"]
durability = "fsync"
"#,
    );
    let run = sb.crashtest(&["run", hang.to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    assert_eq!(run.summary()["classes"]["hang"], 2, "{}", run.summary());
    // See issue 13: a writer that hung is not said to have exited cleanly.
    assert!(
        run.stdout()
            .contains("none (the writer was still running at the timeout, after")
            && run
                .stdout()
                .contains("after acking 0 of the 3 records sent"),
        "{}",
        run.stdout()
    );
    // ... and what it was doing: no boundary yet, and asleep in a call (sh waiting for its
    // sleep, or the sleep itself), not running.
    assert!(
        run.stdout()
            .contains("and was killed; it had reached no boundary; at the timeout it was in "),
        "{}",
        run.stdout()
    );
    let replay_hang = sb.scenario(
        "replay-hang.toml",
        r#"
trials = 2
records = 3
timeout = "300ms"
[target]
writer = ["sh", "-c", "n=0; while read -r l; do echo $n; n=$((n+1)); done"]
replay = ["sh", "-c", "sleep 1000 & sleep 1000"]
durability = "none"
"#,
    );
    let run = sb.crashtest(&["run", replay_hang.to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    assert_eq!(
        run.summary()["classes"]["replay-hang"],
        2,
        "{}",
        run.summary()
    );
}

/// A thousand trials whose writer sleeps half a minute on its first record: a run that is
/// still going whenever a test looks.
const SLOW: &str = r#"
trials = 1000
records = 2
timeout = "60s"
[target]
writer = ["sh", "-c", "read -r l || exit 0; sleep 30"]
replay = ["true"]
durability = "fsync"
"#;

#[test]
fn sigint_stops_the_run_kills_its_writers_and_keeps_its_results() {
    let sb = Sandbox::new();
    let slow = sb.scenario("slow.toml", SLOW);
    let work = sb.work();
    let child = Command::new(env!("CARGO_BIN_EXE_crashtest"))
        .args(["run", slow.to_str().unwrap(), "--jobs", "2", "--results"])
        .arg(sb.results())
        .arg("--work-dir")
        .arg(&work)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until both workers have a writer running, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while support::processes_in(&work).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "writers never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let started = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "a 30s writer must not delay the exit"
    );
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(support::processes_in(&work).is_empty());
    assert_eq!(
        std::fs::read_dir(&work).unwrap().count(),
        0,
        "run folder removed"
    );
    let summary = last_summary(&sb.results());
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["interrupted"], true);
    assert_eq!(
        summary["failed"], 0,
        "killed trials are not findings: {summary}"
    );
}

/// A scenario in the sandbox whose writer appends every record to `log` (no fsync) and
/// acks it.
fn acker_scenario(
    sb: &Sandbox,
    name: &str,
    writer_prefix: &str,
    replay: &str,
    extra: &str,
) -> std::path::PathBuf {
    let writer = format!(
        r#"{writer_prefix}n=0; while read -r l; do echo "$l" >> "$CRASHTEST_DIR/log"; echo $n; n=$((n+1)); done"#
    );
    sb.scenario(
        name,
        &format!(
            "trials = 4\nrecords = 3\ntimeout = \"60s\"\n{extra}\n[target]\nwriter = [\"sh\", \"-c\", {writer:?}]\nreplay = {replay}\ndurability = \"none\"\n"
        ),
    )
}

/// See issue 6: hostile targets are contained, each with its verdict, and nothing of
/// them is left running.
#[test]
fn hostile_targets_are_contained() {
    let sb = Sandbox::new();
    let started = std::time::Instant::now();
    // A replay that floods stdout, and a writer that floods it, are stopped at the limit.
    // (Both only once records came: on none they speak protocol v1, or the check before
    // the first trial would refuse them.)
    let flood = acker_scenario(
        &sb,
        "flood.toml",
        "",
        r#"["sh", "-c", "[ -s \"$CRASHTEST_DIR/log\" ] || exit 0; exec yes"]"#,
        "",
    );
    let run = sb.crashtest(&["run", flood.to_str().unwrap()]);
    let v = &run.findings()[0]["judgement"]["violation"];
    assert_eq!(v["class"], "target-error", "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("replay flooded its output"),
        "{v}"
    );
    let writer_flood = sb.scenario(
        "writer-flood.toml",
        "trials = 2\nrecords = 3\ntimeout = \"60s\"\n[target]\nwriter = [\"sh\", \"-c\", \"read l || exit 0; echo 0; exec yes\"]\nreplay = [\"true\"]\ndurability = \"none\"\n",
    );
    let run = sb.crashtest(&["run", writer_flood.to_str().unwrap()]);
    let v = &run.findings()[0]["judgement"]["violation"];
    assert!(
        v["detail"].as_str().unwrap().contains("flooded its output"),
        "{v}"
    );
    // Daemons that leave their process group (setsid) die with their trial, in the
    // writer and in the replay, instead of holding its pipes open for ever.
    let daemons = acker_scenario(
        &sb,
        "daemon.toml",
        "(setsid sleep 300 &); ",
        r#"["sh", "-c", "(setsid sleep 300 &); true"]"#,
        "",
    );
    let run = sb.crashtest(&["run", daemons.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(50),
        "a flood or a daemon held a trial to its timeout"
    );
    // A replay that allocates 4 GiB (a garbage length) hits the address-space limit: a
    // finding, not a machine out of memory.
    let alloc = acker_scenario(
        &sb,
        "alloc.toml",
        "",
        r#"["sh", "-c", "[ -s \"$CRASHTEST_DIR/log\" ] || exit 0; exec python3 -c 'bytearray(4 << 30)'"]"#,
        "",
    );
    let run = sb.crashtest(&["run", alloc.to_str().unwrap()]);
    let v = &run.findings()[0]["judgement"]["violation"];
    assert_eq!(v["class"], "replay-failed", "{v}");
    assert!(v["detail"].as_str().unwrap().contains("MemoryError"), "{v}");
    // A writer that plants a symlink to a file outside its folder: the file is not
    // truncated, and the target is reported.
    let victim = sb.dir.path().join("victim.txt");
    std::fs::write(&victim, b"precious bytes").unwrap();
    let link = acker_scenario(
        &sb,
        "link.toml",
        &format!("ln -s {} \"$CRASHTEST_DIR/wal.log\"; ", victim.display()),
        r#"["true"]"#,
        "[faults]\ntruncate = 1\n",
    );
    let text = std::fs::read_to_string(&link).unwrap().replace(
        "durability = \"none\"",
        "durability = \"none\"\nfiles = [\"wal.log\"]",
    );
    std::fs::write(&link, text).unwrap();
    let run = sb.crashtest(&["run", link.to_str().unwrap(), "--trials", "6"]);
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"precious bytes",
        "a file outside the trial folder was damaged"
    );
    let reported = run.findings().iter().any(|f| {
        f["judgement"]["violation"]["class"] == "target-error"
            && f["judgement"]["violation"]["detail"]
                .as_str()
                .unwrap()
                .contains("planted a symlink out of its folder")
    });
    assert!(reported, "{}", run.stdout());
}

/// See issue 6: SIGKILL the harness mid-run: none of its writers or replays survive, and
/// its results file holds every finding it printed before it died. See issue 11: merged,
/// that file is a run that did not finish, "not met" in the terminal, JUnit and HTML alike
/// (merge used to call it green).
#[test]
fn r11_a_sigkilled_harness_leaves_no_process_loses_no_printed_finding_and_merges_to_not_met() {
    use std::io::BufRead;
    let sb = Sandbox::new();
    let work = sb.work();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crashtest"))
        .args([
            "run",
            "scenarios/seed-prefix.toml",
            "--trials",
            "100000",
            "--show",
            "1000000",
            "--no-shrink",
            "--results",
        ])
        .arg(sb.results())
        .arg("--work-dir")
        .arg(&work)
        .current_dir(support::root())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A distinct failure is printed once: wait for the first, then for more trials.
    let mut printed = Vec::new();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    while printed.is_empty() {
        let line = lines.next().expect("crashtest ended early").unwrap();
        if let Some(rest) = line.strip_prefix("FAIL trial ") {
            printed.push(
                rest.split_whitespace()
                    .next()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            );
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    // Its writers die with it (PTRACE_O_EXITKILL), its replays too (PR_SET_PDEATHSIG).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !support::processes_in(&work).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "strays: {:?}",
            support::processes_in(&work)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let file = std::fs::read_dir(sb.results())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .expect("a results file");
    let text = std::fs::read_to_string(&file).unwrap();
    let on_disk: Vec<u64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["type"] == "finding")
        .map(|l| l["trial"].as_u64().unwrap())
        .collect();
    for trial in printed {
        assert!(
            on_disk.contains(&trial),
            "trial {trial} was printed but is not on disk"
        );
    }
    assert!(on_disk.len() > 1, "more findings than the one printed");

    // A SIGKILLed run cannot remove its run folder (issue 13 cleans such leftovers).
    std::fs::remove_dir_all(&work).unwrap();
    // Merged, the file of a run that never finished is "not met", everywhere, with why,
    // although an expect = "fail" scenario's bug is in it.
    let merged = sb.merge_not_met(
        &[&file],
        &support::NotMet {
            scenario: "seed-prefix",
            incomplete: true,
            junit_type: "incomplete",
            why: "the run stopped before its summary line",
        },
    );
    assert!(merged.stdout().contains("1 distinct failure in"));
}

/// See issue 6: `--keep-failures` keeps a failing trial's folder as the crash left it and
/// after its fault, and says where; the run folder itself is gone; the summary is also
/// written on its own, whole.
#[test]
fn keep_failures_keeps_the_crashed_and_damaged_folders() {
    let sb = Sandbox::new();
    let kept_root = sb.results();
    let run = sb.crashtest_keep(&[
        "run",
        "scenarios/seed-prefix-torn.toml",
        "--trials",
        "8",
        "--keep-failures",
        "--no-shrink",
    ]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    // The terminal prints the first failing trial by index (the results file has them in
    // the order they ended).
    let finding = (*run
        .findings()
        .iter()
        .min_by_key(|f| f["trial"].as_u64())
        .expect("a finding"))
    .clone();
    let kept = std::path::PathBuf::from(
        finding["kept"]
            .as_str()
            .expect("the finding says where it was kept"),
    );
    assert!(kept.starts_with(&kept_root), "{kept:?}");
    assert!(
        run.stdout().contains(&format!("kept: {}", kept.display())),
        "{}",
        run.stdout()
    );
    let crashed = std::fs::read(kept.join("crashed/wal.log")).unwrap();
    let damaged = std::fs::read(kept.join("damaged/wal.log")).unwrap();
    // A torn write leaves the same bytes before and after (no damage after the kill).
    assert_eq!(crashed, damaged);
    assert!(!crashed.is_empty());
    let results = run.results_file.unwrap();
    let summary_file = results.with_extension("summary.json");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(summary_file).unwrap()).unwrap();
    assert_eq!(summary["trials"], 8);
}

/// See issue 6: a long run with several writers keeps the harness's memory flat and its
/// file descriptors constant.
#[test]
fn a_long_run_keeps_memory_flat_and_descriptors_constant() {
    let sb = Sandbox::new();
    let scenario = sb.scenario(
        "load.toml",
        "trials = 400\nrecords = 8\nwriters = 3\npayload = { min = 0, max = 64 }\n[target]\nbuiltin = \"crc\"\n[faults]\nkill = 1\ntruncate = 1\n",
    );
    let work = sb.work();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crashtest"))
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--jobs",
            "2",
            "--results",
        ])
        .arg(sb.results())
        .arg("--work-dir")
        .arg(&work)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proc_dir = format!("/proc/{}", child.id());
    let mut samples: Vec<(u64, usize)> = Vec::new();
    while child.try_wait().unwrap().is_none() {
        let rss = std::fs::read_to_string(format!("{proc_dir}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            });
        let fds = std::fs::read_dir(format!("{proc_dir}/fd"))
            .map(|d| d.count())
            .ok();
        if let (Some(rss), Some(fds)) = (rss, fds) {
            samples.push((rss, fds));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(child.wait().unwrap().success());
    assert!(
        samples.len() > 20,
        "the run was too short to judge: {} samples",
        samples.len()
    );
    let (early, late) = samples.split_at(samples.len() / 2);
    let max = |s: &[(u64, usize)]| {
        (
            s.iter().map(|x| x.0).max().unwrap(),
            s.iter().map(|x| x.1).max().unwrap(),
        )
    };
    let ((rss_early, fds_early), (rss_late, fds_late)) = (max(early), max(late));
    assert!(
        rss_late <= rss_early * 3 / 2 + 4096,
        "memory grew: {rss_early} kB early, {rss_late} kB late"
    );
    assert!(
        fds_late <= fds_early + 8,
        "descriptors leaked: {fds_early} early, {fds_late} late"
    );
}

/// See issue 13: Ctrl-C while the failures are shrunk stops the shrink, says so, and the
/// run ends interrupted (exit 130, `"interrupted": true`), not as a finished run.
#[test]
fn sigint_while_shrinking_ends_the_run_interrupted() {
    let sb = Sandbox::new();
    // Every trial fails (the replay does once a record was written), and every shrink
    // candidate runs a writer that takes a fifth of a second a record: the shrink is under
    // way when the first FAIL line is out.
    let failing = sb.scenario(
        "failing.toml",
        r#"
trials = 1
records = 6
timeout = "20s"
[target]
writer = ["sh", "-c", "cd $CRASHTEST_DIR; n=0; while read -r l; do sleep 0.2; echo x >> log; echo $n; n=$((n+1)); done"]
replay = ["sh", "-c", "if [ -s $CRASHTEST_DIR/log ]; then exit 1; fi"]
durability = "fsync"
"#,
    );
    let work = sb.work();
    let (mut run, mut stdout) = start_run(&sb, &failing);
    let mut seen = String::new();
    loop {
        let line = stdout
            .next()
            .unwrap_or_else(|| panic!("no FAIL line: {seen}"))
            .unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("FAIL trial 0") {
            break;
        }
    }
    // The trial's processes are gone when its FAIL line is out; a writer in the work
    // folder now is a shrink candidate's.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while support::processes_in(&work).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "shrinking never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let sent = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.0.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let rest: String = stdout.map(|l| l.unwrap() + "\n").collect();
    let status = run.0.wait().unwrap();
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(rest.contains("shrinking interrupted"), "{seen}{rest}");
    // A shrink candidate in flight is a writer run of about a second: the exit comes
    // within a few of them, not after the whole shrink (dozens of candidates).
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
    let summary = last_summary(&sb.results());
    assert_eq!(summary["interrupted"], true, "{summary}");
    assert_eq!(summary["failed"], 1, "the finding is kept: {summary}");
    assert!(support::processes_in(&work).is_empty());
}

/// The last line of the one results file in `results`: the run's summary.
fn last_summary(results: &std::path::Path) -> serde_json::Value {
    let file = std::fs::read_dir(results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .expect("a results file");
    let text = std::fs::read_to_string(file).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

/// See issue 13: a SIGKILLed run leaves its run folder, and the next run in the same work
/// folder removes it, and nothing else: not a folder that is not crashtest's, not the
/// folder of a run still going, and not the stale folder while a process still works in
/// it.
#[test]
fn r13_the_next_run_removes_a_killed_runs_folder_and_nothing_else() {
    let sb = Sandbox::new();
    let slow = sb.scenario("slow.toml", SLOW);
    let work = sb.work();
    let folders = || -> std::collections::BTreeSet<String> {
        std::fs::read_dir(&work)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    };
    let slow_run = || {
        Command::new(env!("CARGO_BIN_EXE_crashtest"))
            .args(["run", slow.to_str().unwrap(), "--jobs", "1", "--no-shrink"])
            .arg("--results")
            .arg(sb.results())
            .arg("--work-dir")
            .arg(&work)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Running)
            .unwrap()
    };
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    // A run SIGKILLed while its writer runs: its writers die with it, its folder stays.
    let mut killed = slow_run();
    wait_for("the writer never started", &|| {
        !support::processes_in(&work).is_empty()
    });
    let stale: Vec<String> = folders().into_iter().collect();
    assert_eq!(stale.len(), 1, "{stale:?}");
    let stale = &stale[0];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(killed.0.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    killed.0.wait().unwrap();
    wait_for("the killed run's writer lives on", &|| {
        support::processes_in(&work).is_empty()
    });
    assert!(
        work.join(stale).is_dir(),
        "a SIGKILLed run cannot remove its folder"
    );
    // A process that still works there keeps it (from the live run below, too).
    let mut sleeper = Command::new("sleep")
        .arg("1000")
        .current_dir(work.join(stale))
        .spawn()
        .map(Running)
        .unwrap();
    // A run still going, and a folder that only looks like crashtest's.
    let mut live = slow_run();
    wait_for("the live run's writer never started", &|| {
        !support::processes_in(&work).is_empty()
    });
    let live_folder: Vec<String> = folders().into_iter().filter(|f| f != stale).collect();
    assert_eq!(live_folder.len(), 1, "{live_folder:?}");
    let live_folder = &live_folder[0];
    std::fs::create_dir(work.join("crashtest-foo")).unwrap();
    std::fs::write(work.join("crashtest-foo/data"), b"mine").unwrap();
    let next = || {
        let out = Command::new(env!("CARGO_BIN_EXE_crashtest"))
            .args([
                "run",
                "scenarios/smoke.toml",
                "--trials",
                "2",
                "--no-regressions",
            ])
            .arg("--results")
            .arg(sb.results())
            .arg("--work-dir")
            .arg(&work)
            .current_dir(support::root())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // While a process still works in the stale folder, it stays.
    let said = next();
    assert!(
        said.contains(&format!(
            "left the stale run folder {}/{stale}: process {} (sleep) still uses it",
            work.display(),
            sleeper.0.id()
        )),
        "{said}"
    );
    assert!(work.join(stale).is_dir());
    sleeper.0.kill().unwrap();
    sleeper.0.wait().unwrap();
    // Then the next run removes it, says so in one line, and leaves the rest.
    let said = next();
    assert_eq!(
        said.lines()
            .filter(|l| l.contains("stale run folder"))
            .collect::<Vec<_>>(),
        [format!(
            "crashtest: removed 1 stale run folder of killed runs in {}: {stale}",
            work.display()
        )],
        "{said}"
    );
    let left = folders();
    assert!(!left.contains(stale), "{left:?}");
    assert!(
        left.contains(live_folder),
        "a live run's folder stays: {left:?}"
    );
    assert_eq!(
        std::fs::read(work.join("crashtest-foo/data")).unwrap(),
        b"mine"
    );
    // The live run goes on to end by itself, and removes its own folder.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(live.0.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_eq!(live.0.wait().unwrap().code(), Some(130));
    assert!(support::processes_in(&work).is_empty());
    assert_eq!(folders().into_iter().collect::<Vec<_>>(), ["crashtest-foo"]);
}

/// A running crashtest, SIGKILLed and reaped if a test fails before it ends (its writers
/// die with it).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().is_ok_and(|s| s.is_none()) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A `crashtest run` of `scenario` with one job, its stdout piped, its trial folders in
/// the sandbox's work folder.
fn start_run(sb: &Sandbox, scenario: &std::path::Path) -> (Running, Lines) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crashtest"))
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--jobs",
            "1",
            "--results",
        ])
        .arg(sb.results())
        .arg("--work-dir")
        .arg(sb.work())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    (Running(child), stdout)
}

type Lines = std::io::Lines<std::io::BufReader<std::process::ChildStdout>>;

/// Reads `stdout` up to the run's first line (printed once the target's check before the
/// trials passed): the trials start next.
fn wait_for_the_run_line(stdout: &mut Lines, name: &str) {
    let start = format!("crashtest: {name}: ");
    for line in stdout.by_ref() {
        if line.unwrap().starts_with(&start) {
            return;
        }
    }
    panic!("crashtest ended before its run line");
}

/// Polls `reached` until it holds (a minute at most, should the phase never come).
fn wait_until(what: &str, mut reached: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !reached() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Sends SIGINT to `run` and returns its exit code with the time it took to end, which
/// must be less than `within` (else the test fails, and the run is killed).
fn interrupt(
    mut run: Running,
    within: std::time::Duration,
) -> (Option<i32>, std::time::Duration, String) {
    let sent = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.0.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = loop {
        if let Some(status) = run.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < within,
            "still running {within:?} after SIGINT"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let took = sent.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut run.0.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), took, stderr)
}

/// Nothing of the run is left: no process, no folder in `work`.
fn assert_nothing_left(work: &std::path::Path) {
    assert!(support::processes_in(work).is_empty());
    let left: Vec<_> = std::fs::read_dir(work).unwrap().collect();
    assert!(left.is_empty(), "left in the work folder: {left:?}");
}

/// How long this machine takes to draw 2 x 10,000 records of the default payloads, by
/// the same code as the run (`writers` = 2), and to read 10,000 of one writer's
/// (`writers` = 1): the pace of the phases the tests below interrupt.
fn pace_of_drawing(writers: u32) -> std::time::Duration {
    use crashtest::scenario::SizeRange;
    use crashtest::seed::Seed;
    use crashtest::workload::Workload;
    let started = std::time::Instant::now();
    let w = Workload::generate(
        &mut Seed(0).workload_rng(0),
        writers,
        10_000,
        SizeRange::default(),
    )
    .unwrap();
    if writers == 1 {
        assert_eq!(w.streams()[0].iter().count(), 10_000);
    }
    started.elapsed()
}

/// See issue 13: Ctrl-C while several writers' records are drawn, before any writer
/// starts, ends the run with exit 130. Drawing 2 x 4,294,967,295 records takes 430,000
/// times as long as drawing 2 x 10,000; the draw ignored SIGINT until its end.
#[test]
fn r13_sigint_while_records_are_drawn_ends_the_run_interrupted() {
    let sb = Sandbox::new();
    let scenario = sb.scenario(
        "draw.toml",
        "trials = 1\nrecords = 4294967295\nwriters = 2\n[target]\nbuiltin = \"crc\"\n",
    );
    let pace = pace_of_drawing(2);
    let work = sb.work();
    let (run, mut stdout) = start_run(&sb, &scenario);
    wait_for_the_run_line(&mut stdout, "draw");
    // The draw is under way once it keeps fingerprints in an unnamed file of the run
    // folder (after the first 65,536 records).
    let fds = format!("/proc/{}/fd", run.0.id());
    let work_path = work.canonicalize().unwrap().display().to_string();
    wait_until("the draw never kept fingerprints in a file", || {
        std::fs::read_dir(&fds).unwrap().flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|to| {
                let to = to.display().to_string();
                to.starts_with(&work_path) && to.ends_with("(deleted)")
            })
        })
    });
    // Drawing 2 x 10,000 records takes `pace`: the run ends within four of those.
    let (code, took, stderr) = interrupt(run, 4 * pace);
    assert_eq!(code, Some(130), "{stderr} (after {took:?})");
    assert_nothing_left(&work);
    let summary = last_summary(&sb.results());
    assert_eq!(summary["interrupted"], true, "{summary}");
}

/// See issue 13: one writer's records are not drawn before it starts (records =
/// 1,000,000,000 spent four minutes drawing before the writer started): it starts as soon
/// as the trial does, and Ctrl-C then ends the run.
#[test]
fn r13_one_writers_records_are_not_drawn_before_it_starts() {
    let sb = Sandbox::new();
    let scenario = sb.scenario(
        "one.toml",
        "trials = 1\nrecords = 4294967295\ntimeout = \"600s\"\n[target]\nbuiltin = \"crc\"\n",
    );
    let pace = pace_of_drawing(1);
    let work = sb.work();
    let (run, mut stdout) = start_run(&sb, &scenario);
    wait_for_the_run_line(&mut stdout, "one");
    let trial = std::time::Instant::now();
    wait_until("the writer never started", || {
        !support::processes_in(&work).is_empty()
    });
    let to_start = trial.elapsed();
    assert!(
        to_start < 4 * pace,
        "the writer started {to_start:?} after the trial; reading 10,000 of its 4,294,967,295 records takes {pace:?}"
    );
    let (code, _, stderr) = interrupt(run, std::time::Duration::from_secs(60));
    assert_eq!(code, Some(130), "{stderr}");
    assert_nothing_left(&work);
}

/// See issue 13: Ctrl-C while the writers of a trial start ends the run with exit 130
/// and starts no more of them (6,000 writers took a minute to start and ignored SIGINT
/// meanwhile). Started writers wait, stopped at their first instruction, until the last
/// has started, so counting crashtest's children follows the start.
#[test]
fn r13_sigint_while_writers_start_ends_the_run_interrupted() {
    use crashtest::run::preflight::{FDS_PER_WRITER, FDS_RESERVED};
    // As many writers as crashtest's open files hold (its soft limit is raised to the
    // hard one), a thousand at most.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid resource and a pointer to a live rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let hard = lim.rlim_max;
    let writers = (hard.saturating_sub(FDS_RESERVED) / FDS_PER_WRITER).min(1000);
    assert!(
        writers >= 100,
        "open files: a hard limit of {hard} is too low"
    );
    let sb = Sandbox::new();
    let scenario = sb.scenario(
        "start.toml",
        &format!(
            "trials = 1\nrecords = 1\nwriters = {writers}\ntimeout = \"600s\"\n[target]\nbuiltin = \"crc\"\n"
        ),
    );
    let work = sb.work();
    let (mut run, mut stdout) = start_run(&sb, &scenario);
    wait_for_the_run_line(&mut stdout, "start");
    let tasks = format!("/proc/{}/task", run.0.id());
    let children = || -> u64 {
        std::fs::read_dir(&tasks)
            .map(|tasks| {
                tasks
                    .flatten()
                    .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
                    .map(|c| c.split_whitespace().count() as u64)
                    .sum()
            })
            .unwrap_or(0)
    };
    let begun = std::time::Instant::now();
    let mut started = 0;
    wait_until("the writers never started", || {
        started = children();
        started >= writers / 10
    });
    // A tenth of the writers started in `so_far`: all would take ten times as long, and
    // the run must end within four.
    let so_far = begun.elapsed();
    let sent = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.0.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    // Until it ends: the most writers it had at once after the signal.
    let mut most = started;
    let status = loop {
        if let Some(status) = run.0.try_wait().unwrap() {
            break status;
        }
        most = most.max(children());
        assert!(
            most < writers && sent.elapsed() < 4 * so_far,
            "{most} of {writers} writers started {:?} after SIGINT ({started} had in {so_far:?})",
            sent.elapsed()
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    assert_eq!(status.code(), Some(130), "after {:?}", sent.elapsed());
    // The writer being started when the signal came (and one just before, read too
    // late), no other.
    assert!(
        most <= started + 2,
        "{started} writers when SIGINT came, {most} after: the start went on"
    );
    assert_nothing_left(&work);
}

/// See issue 13: a run's trial count costs it no memory. `trials = 10000000` under a
/// budget made a list of ten million jobs before the first trial (700 MB; a billion would
/// not fit): its peak is now that of a run of ten trials.
#[test]
fn r13_a_trial_count_under_a_budget_costs_no_memory() {
    let sb = Sandbox::new();
    let peak_of = |trials: u64| -> u64 {
        let scenario = sb.scenario(
            &format!("t{trials}.toml"),
            &format!("trials = {trials}\nrecords = 2\n[target]\nbuiltin = \"crc\"\n"),
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_crashtest"))
            .args(["run", scenario.to_str().unwrap(), "--jobs", "1"])
            .args(["--budget", "1s", "--no-shrink", "--results"])
            .arg(sb.results())
            .arg("--work-dir")
            .arg(sb.work())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let status = format!("/proc/{}/status", child.id());
        let mut peak = 0;
        while child.try_wait().unwrap().is_none() {
            if let Some(hwm) = std::fs::read_to_string(&status).ok().and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            }) {
                peak = peak.max(hwm);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(child.wait().unwrap().success());
        let _ = std::fs::remove_dir_all(sb.results());
        peak
    };
    let (few, many) = (peak_of(10), peak_of(10_000_000));
    assert!(
        many <= few * 3 / 2 + 4096,
        "10 trials: {few} KiB at most; 10,000,000 trials: {many} KiB"
    );
    assert_nothing_left(&sb.work());
}
