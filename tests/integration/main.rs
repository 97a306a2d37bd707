//! End-to-end tests of the `crashtest` binary on real writers, real files, real signals.
//!
//! The story they pin down is PILOT-82: a Go WAL's `Append()` wrote the 4-byte length and
//! the payload in two `write()` calls; a crash between them left a length with no data and
//! `Replay()` failed hard, so the server could not start after recovery. crashtest must
//! find that in the `seed-prefix` specimen every time, pass the PR's fix under SIGKILL
//! alone, and pass the `crc` WAL under kill and truncation. Every run here also checks that
//! no trial folder and no writer or replay process is left behind.

mod fuzz;
mod layout;
mod preflight;
mod support;
mod verdict;

use std::io::Write;
use std::process::{Command, Stdio};

use support::Sandbox;

#[test]
fn seed_prefix_is_caught_for_every_seed() {
    let sb = Sandbox::new();
    for seed in ["1", "2", "3", "4", "5"] {
        let run = sb.crashtest(&["run", "scenarios/seed-prefix.toml", "--seed", seed]);
        assert_eq!(
            run.code(),
            0,
            "expect = fail is met when the bug is found (seed {seed}):\n{}",
            run.stdout()
        );
        let findings = run.findings();
        assert!(!findings.is_empty(), "seed {seed}: no finding");
        // The bug itself: a kill right before the payload's write leaves a bare length,
        // and replay fails hard on it.
        let torn = findings
            .iter()
            .find(|f| f["judgement"]["violation"]["class"] == "replay-failed")
            .expect("a replay failure");
        let kill = torn["kill"]["description"].as_str().unwrap();
        assert!(kill.starts_with("write(wal.log"), "{kill}");
        assert!(
            torn["judgement"]["violation"]["detail"]
                .as_str()
                .unwrap()
                .contains("short record"),
            "{torn}"
        );
        assert!(
            run.stdout().contains(&format!(
                "crashtest repro scenarios/seed-prefix.toml@{seed}/"
            )),
            "{}",
            run.stdout()
        );
    }
}

#[test]
fn crc_passes_hundreds_of_kill_and_truncate_trials() {
    let sb = Sandbox::new();
    let run = sb.crashtest(&["run", "scenarios/smoke.toml", "--trials", "300"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let summary = run.summary();
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["trials"], 300);
    // The run really exercised both faults and real kills.
    assert!(
        summary["faults"]["truncate"].as_u64().unwrap() > 100,
        "{summary}"
    );
    assert!(
        summary["faults"]["kill"].as_u64().unwrap() > 100,
        "{summary}"
    );
    assert!(summary["killed"].as_u64().unwrap() > 250, "{summary}");
}

#[test]
fn seed_postfix_passes_kill_only() {
    let sb = Sandbox::new();
    let run = sb.crashtest(&["run", "scenarios/seed-postfix-kill.toml", "--trials", "200"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert_eq!(run.summary()["failed"], 0);
    assert!(run.summary()["killed"].as_u64().unwrap() > 150);
}

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

#[test]
fn builtin_targets_speak_protocol_v1() {
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_crashtest");
    for wal in ["seed-prefix", "seed-postfix", "crc"] {
        let _ = std::fs::remove_file(dir.path().join("wal.log"));
        let mut writer = Command::new(exe)
            .args(["target", wal, "write"])
            .env("CRASHTEST_DIR", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        writer
            .stdin
            .take()
            .unwrap()
            .write_all(b"00ff\n\n0a0a00\n")
            .unwrap();
        let out = writer.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"0\n1\n2\n", "{wal}");
        let replay = Command::new(exe)
            .args(["target", wal, "replay"])
            .env("CRASHTEST_DIR", dir.path())
            .output()
            .unwrap();
        assert!(replay.status.success());
        assert_eq!(replay.stdout, b"00ff\n\n0a0a00\n", "{wal}");
    }
    let out = Command::new(exe)
        .args(["target", "crc", "write"])
        .env_remove("CRASHTEST_DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CRASHTEST_DIR"));
}

#[test]
fn sigint_stops_the_run_kills_its_writers_and_keeps_its_results() {
    let sb = Sandbox::new();
    let slow = sb.scenario(
        "slow.toml",
        r#"
trials = 1000
records = 2
timeout = "60s"
[target]
writer = ["sh", "-c", "read -r l || exit 0; sleep 30"]
replay = ["true"]
durability = "fsync"
"#,
    );
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
    let results = std::fs::read_dir(sb.results())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .expect("a results file");
    let text = std::fs::read_to_string(results).unwrap();
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["interrupted"], true);
    assert_eq!(
        summary["failed"], 0,
        "killed trials are not findings: {summary}"
    );
}

#[test]
fn a_target_that_never_touches_its_folder_gets_a_warning() {
    let sb = Sandbox::new();
    let elsewhere = sb.scenario(
        "elsewhere.toml",
        r#"
trials = 5
records = 4
[target]
writer = ["sh", "-c", "n=0; while read -r l; do echo $n; n=$((n+1)); done"]
replay = ["true"]
durability = "none"
"#,
    );
    let run = sb.crashtest(&["run", elsewhere.to_str().unwrap()]);
    assert_eq!(
        run.code(),
        0,
        "nothing promised, nothing lost:\n{}{}",
        run.stdout(),
        run.stderr()
    );
    assert!(
        run.stdout()
            .contains("never changed a file inside CRASHTEST_DIR"),
        "{}",
        run.stdout()
    );
    assert_eq!(run.summary()["killed"], 0);
}

/// PILOT-82 in its own language: `harness/targets/gowal` is the seed WAL in Go, built with
/// the real toolchain and run as an external target. The Go runtime runs the writer on
/// several OS threads (sysmon, the log goroutine's, the blocked stdin reader's) and may
/// signal them (SIGURG preemption); the tracer must follow them all, find the torn tail in the pre-fix code
/// and pass the fix under SIGKILL alone.
#[test]
fn go_wal_prefix_is_caught_and_postfix_passes_with_its_runtime_threads_traced() {
    let sb = Sandbox::new();
    sb.go_build("harness/targets/gowal", "gowal");
    // The shipped scenarios run `./gowal` from their own folder: copied next to the
    // binary, they run unchanged.
    let scenario = |name: &str| {
        let text =
            std::fs::read_to_string(support::root().join("harness/targets/gowal").join(name))
                .unwrap();
        sb.scenario(name, &text)
    };
    let prefix = scenario("prefix.toml");
    let run = sb.crashtest(&["run", prefix.to_str().unwrap(), "--trials", "50"]);
    assert_eq!(
        run.code(),
        0,
        "expect = fail is met when the bug is found:\n{}{}",
        run.stdout(),
        run.stderr()
    );
    let findings = run.findings();
    assert!(findings.len() >= 10, "{}", run.stdout());
    for f in findings {
        // Under SIGKILL alone the only bug is the bare length: a kill right before the
        // payload's write, and a replay that fails hard on it.
        assert_eq!(f["judgement"]["violation"]["class"], "replay-failed", "{f}");
        let kill = f["kill"]["description"].as_str().unwrap();
        assert!(kill.starts_with("write(wal.log"), "{f}");
        let tracees = f["tracees"].as_u64().unwrap();
        assert!(tracees > 1, "the Go writer ran on one thread only? {f}");
    }
    let postfix = scenario("postfix.toml");
    let run = sb.crashtest(&["run", postfix.to_str().unwrap(), "--trials", "50"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert_eq!(run.summary()["failed"], 0, "{}", run.summary());
    assert!(
        run.summary()["killed"].as_u64().unwrap() > 40,
        "{}",
        run.summary()
    );
}

/// See issue 3: several writers on one log, each judged on its own stream.
#[test]
fn concurrent_writers_that_interleave_inside_a_record_are_caught() {
    let sb = Sandbox::new();
    let run = sb.crashtest(&["run", "scenarios/seed-prefix-writers.toml"]);
    assert_eq!(
        run.code(),
        0,
        "expect = fail must be met:\n{}{}",
        run.stdout(),
        run.stderr()
    );
    let finding = run.findings()[0];
    assert_eq!(finding["writers"], 4);
    let class = finding["judgement"]["violation"]["class"].as_str().unwrap();
    assert!(
        ["replay-failed", "not-a-prefix"].contains(&class),
        "{finding}"
    );
}

#[test]
fn one_writer_dying_while_three_run_on_loses_nothing_with_single_write_appends() {
    let sb = Sandbox::new();
    let run = sb.crashtest(&["run", "scenarios/seed-postfix-writers.toml"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let summary = run.summary();
    assert_eq!(summary["failed"], 0, "{summary}");
    assert!(summary["killed"].as_u64().unwrap() > 30, "{summary}");
}

/// See issue 3: a target that breaks protocol v1 gets `target-error` with the offending
/// line, never a crash finding and never a panic.
#[test]
fn protocol_errors_are_target_errors_naming_the_offending_line() {
    let sb = Sandbox::new();
    let logger =
        r#"n=0; while read -r l; do echo "$l" >> "$CRASHTEST_DIR/log"; echo $n; n=$((n+1)); done"#;
    let cases = [
        // Each misbehaves only once it is sent a record: on none, each speaks protocol v1,
        // or the check before the first trial would refuse it (see issue 11).
        (
            vec!["sh", "-c", "read l || exit 0; echo banana"],
            vec!["true"],
            "ack line 1: 'banana' is not a record index",
        ),
        (
            vec![
                "sh",
                "-c",
                "read l || exit 0; while read -r l; do :; done; echo 1",
            ],
            vec!["true"],
            "ack line 1: '1' is out of order, expected 0",
        ),
        (
            vec![
                "sh",
                "-c",
                "read l || exit 0; echo 0; echo 1; echo 2; echo 3",
            ],
            vec!["true"],
            "ack line 4: '3' acks record 3, but only 3 were sent",
        ),
        (
            vec!["true"],
            vec!["true"],
            "the writer exited 0 after acking 0 of the 3 records sent",
        ),
        (
            vec!["sh", "-c", "read l || exit 0; exit 4"],
            vec!["true"],
            "the writer exited with status 4",
        ),
        (
            vec!["sh", "-c", logger],
            vec![
                "sh",
                "-c",
                "[ -s \"$CRASHTEST_DIR/log\" ] || exit 0; echo zz",
            ],
            "replay line 1: 'zz' is not a record in hex",
        ),
    ];
    for (i, (writer, replay, expected)) in cases.iter().enumerate() {
        let quote = |argv: &Vec<&str>| {
            argv.iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let text = format!(
            "trials = 1\nrecords = 3\npayload = {{ min = 1, max = 8 }}\n[target]\nwriter = [{}]\nreplay = [{}]\ndurability = \"fsync\"\n",
            quote(writer),
            quote(replay)
        );
        let path = sb.scenario(&format!("case{i}.toml"), &text);
        let run = sb.crashtest(&["run", path.to_str().unwrap()]);
        assert_eq!(run.code(), 1, "case {i}: {}{}", run.stdout(), run.stderr());
        let findings = run.findings();
        let violation = &findings[0]["judgement"]["violation"];
        assert_eq!(violation["class"], "target-error", "case {i}: {violation}");
        assert!(
            violation["detail"].as_str().unwrap().contains(expected),
            "case {i}: {violation}"
        );
        assert!(
            !run.stderr().contains("panicked"),
            "case {i}: {}",
            run.stderr()
        );
    }
}

/// See issue 3: the crc WAL with four writers on one log passes both crash modes.
#[test]
fn crc_with_four_writers_passes_both_crash_modes() {
    let sb = Sandbox::new();
    for scenario in [
        "scenarios/crc-writers.toml",
        "scenarios/crc-writers-one.toml",
    ] {
        let run = sb.crashtest(&["run", scenario]);
        assert_eq!(
            run.code(),
            0,
            "{scenario}:\n{}{}",
            run.stdout(),
            run.stderr()
        );
        let summary = run.summary();
        assert_eq!(summary["failed"], 0, "{scenario}: {summary}");
        assert!(
            summary["killed"].as_u64().unwrap() > 50,
            "{scenario}: {summary}"
        );
    }
}

/// SQLite in WAL mode (`harness/targets/sqlite_wal.py`, Python's sqlite3): one
/// transaction per record, synchronous=FULL, an ack after COMMIT. Killed at any
/// file-changing syscall, and in about half the trials with log.db-wal cut at a random
/// offset, it must return every acked commit whose frames lay before the cut.
#[test]
fn sqlite_in_wal_mode_survives_kill_and_truncation_of_its_wal() {
    let sb = Sandbox::new().with_real_python3();
    let run = sb.crashtest(&["run", "scenarios/sqlite.toml", "--trials", "200"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let summary = run.summary();
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["trials"], 200);
    assert!(
        summary["faults"]["truncate"].as_u64().unwrap() > 70,
        "{summary}"
    );
    assert!(summary["killed"].as_u64().unwrap() > 180, "{summary}");
}

/// The example a user copies (`harness/targets/example_wal.py`) is itself correct.
#[test]
fn the_example_target_passes_kill_and_truncation() {
    let sb = Sandbox::new().with_real_python3();
    let run = sb.crashtest(&["run", "scenarios/example.toml", "--trials", "60"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let summary = run.summary();
    assert_eq!(summary["failed"], 0, "{summary}");
    assert!(
        summary["faults"]["truncate"].as_u64().unwrap() > 15,
        "{summary}"
    );
    assert!(summary["killed"].as_u64().unwrap() > 50, "{summary}");
}

/// Broken on purpose, in Python and in sh: each must be caught, and caught for its bug
/// (every finding of the run in the one class that bug produces), so that a finding of
/// the wrong kind, from the tool or the target, fails the test.
#[test]
fn broken_targets_are_caught_with_the_class_of_their_bug() {
    let sb = Sandbox::new().with_real_python3();
    // The writer acks record i, then appends it: a SIGKILL at that append loses it.
    let run = sb.crashtest(&["run", "harness/targets/broken/acks_before_write.toml"]);
    assert_eq!(
        run.code(),
        0,
        "expect = fail is met when the bug is found:\n{}{}",
        run.stdout(),
        run.stderr()
    );
    let findings = run.findings();
    assert!(findings.len() >= 10, "{}", run.stdout());
    for f in findings {
        assert_eq!(f["judgement"]["violation"]["class"], "lost-ack", "{f}");
        assert_eq!(f["damage"]["kind"], "none", "{f}");
        let kill = f["kill"]["description"].as_str().unwrap();
        assert!(kill.starts_with("write(wal.log"), "{f}");
    }
    // Each line goes out in one write, so only a cut file has a torn last line, and the
    // strict replay exits 1 on it.
    let run = sb.crashtest(&["run", "harness/targets/broken/strict_replay.toml"]);
    assert_eq!(
        run.code(),
        0,
        "expect = fail is met when the bug is found:\n{}{}",
        run.stdout(),
        run.stderr()
    );
    let findings = run.findings();
    assert!(findings.len() >= 10, "{}", run.stdout());
    for f in findings {
        assert_eq!(f["judgement"]["violation"]["class"], "replay-failed", "{f}");
        assert_eq!(f["damage"]["kind"], "truncate", "{f}");
        assert_eq!(f["damage"]["file"], "wal.txt", "{f}");
        let detail = f["judgement"]["violation"]["detail"].as_str().unwrap();
        assert!(detail.contains("torn last line"), "{f}");
    }
}

/// See issue 4: the PR called seed-postfix fixed; three faults SIGKILL cannot produce
/// break it three distinct ways, on every seed.
#[test]
fn seed_postfix_is_broken_three_ways_on_several_seeds() {
    let sb = Sandbox::new();
    for (scenario, class) in [
        ("scenarios/seed-postfix-resume.toml", "broken-resume"),
        ("scenarios/seed-postfix-zero-tail.toml", "not-a-prefix"),
        ("scenarios/seed-postfix-power-loss.toml", "lost-ack"),
    ] {
        for seed in ["1", "2", "3"] {
            let run = sb.crashtest(&["run", scenario, "--seed", seed, "--trials", "40"]);
            assert_eq!(
                run.code(),
                0,
                "{scenario} seed {seed}: expect = fail must be met:\n{}",
                run.stdout()
            );
            let classes = &run.summary()["classes"];
            assert!(
                classes[class].as_u64().unwrap_or(0) > 0,
                "{scenario} seed {seed}: no {class}: {classes}"
            );
        }
    }
}

/// See issue 4: a torn write of the payload is PILOT-82's torn tail too.
#[test]
fn seed_prefix_is_caught_by_torn_writes() {
    let sb = Sandbox::new();
    let run = sb.crashtest(&["run", "scenarios/seed-prefix-torn.toml"]);
    assert_eq!(run.code(), 0, "{}", run.stdout());
    let torn = run
        .findings()
        .into_iter()
        .find(|f| f["tear"].is_u64() && f["judgement"]["violation"]["class"] == "replay-failed")
        .expect("a replay failure after a torn write");
    assert!(
        torn["kill"]["description"]
            .as_str()
            .unwrap()
            .starts_with("write(wal.log"),
        "{torn}"
    );
    assert!(
        torn["tear"].as_u64().unwrap() < torn["kill"]["write"]["len"].as_u64().unwrap(),
        "{torn}"
    );
}

/// See issue 4: the crc WAL passes every fault class and every check.
#[test]
fn crc_passes_every_fault_and_every_check() {
    let sb = Sandbox::new();
    let run = sb.crashtest(&["run", "scenarios/crc-all-faults.toml"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let summary = run.summary();
    assert_eq!(summary["failed"], 0, "{summary}");
    support::assert_faults_and_recovery_crashes(
        summary,
        &[
            "kill",
            "truncate",
            "torn",
            "zero-tail",
            "garbage-tail",
            "power-loss",
            "bit-flip",
        ],
        5,
    );
}

/// See issue 4: acking before fsync survives SIGKILL but not a power loss (seed-postfix,
/// above); syncing the file but not its folder loses a fresh log to a power loss.
#[test]
fn a_log_whose_folder_is_never_synced_loses_acked_records_to_power_loss() {
    let sb = Sandbox::new().with_real_python3();
    let run = sb.crashtest(&["run", "harness/targets/broken/no_dir_fsync.toml"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.summary()["classes"]["lost-ack"].as_u64().unwrap() > 0,
        "{}",
        run.summary()
    );
    let kill_only = sb.scenario(
        "no_dir_fsync_kill.toml",
        &std::fs::read_to_string(support::root().join("harness/targets/broken/no_dir_fsync.toml"))
            .unwrap()
            .replace("power-loss = 1", "kill = 1")
            .replace(r#"expect = "fail""#, r#"expect = "pass""#)
            .replace(
                "\"no_dir_fsync.py\"",
                &format!(
                    "{:?}",
                    support::root().join("harness/targets/broken/no_dir_fsync.py")
                ),
            ),
    );
    let run = sb.crashtest(&["run", kill_only.to_str().unwrap()]);
    assert_eq!(
        run.code(),
        0,
        "it passes SIGKILL:\n{}{}",
        run.stdout(),
        run.stderr()
    );
}

/// Runs `crashtest target WAL write` traced with its write log, feeding `records`, and
/// kills it at boundary `kill_at`. Returns the trace and the folder it left.
fn traced_builtin(
    wal: &str,
    records: &[Vec<u8>],
    kill_at: Option<u64>,
) -> (crashtest::tracer::Trace, crashtest::snapshot::Snapshot) {
    use crashtest::process::Limits;
    use crashtest::tracer::{KillScope, TraceOptions, run_piped};
    let dir = tempfile::tempdir().unwrap();
    let canonical = dir.path().canonicalize().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crashtest"));
    cmd.args(["target", wal, "write"])
        .env("CRASHTEST_DIR", &canonical);
    let input = crashtest::protocol::writer_input(records);
    let files = globset::GlobSetBuilder::new().build().unwrap();
    let opts = TraceOptions {
        dir: &canonical,
        files: &files,
        kill_at,
        kill_scope: KillScope::All,
        tear: None,
        record_ops: true,
        timeout: std::time::Duration::from_secs(20),
    };
    let run = run_piped(
        std::slice::from_mut(&mut cmd),
        [&input[..]],
        Limits::NONE,
        &opts,
    )
    .unwrap();
    (
        run.result,
        crashtest::snapshot::Snapshot::read(&canonical).unwrap(),
    )
}

/// See issue 4: the power-loss model checked against the real thing. When every write was
/// synced (crc: fdatasync after each record, the folder synced after the log's creation),
/// the folder rebuilt from the write log equals, byte for byte, the folder a real SIGKILL
/// at the same boundary left, for every seed; when nothing was synced (seed-postfix) the
/// log still replays to the real folder, and a power loss loses some of it.
#[test]
fn a_power_loss_built_from_the_write_log_equals_the_real_folder_when_all_was_synced() {
    use crashtest::faults::power::{after_kill, after_power_loss};
    use crashtest::snapshot::Snapshot;
    let records: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 100 * i as usize + 3]).collect();
    let (dry, _) = traced_builtin("crc", &records, None);
    let n = dry.boundaries.len() as u64;
    assert_eq!(n, 2 + 2 * records.len() as u64, "{:?}", dry.boundaries);
    // Boundaries 0 and 1 create the log and sync its folder; then each record is a write
    // (even index) and its fdatasync (odd index). Killed before a write, all is synced.
    for k in (2..n).step_by(2).map(Some).chain([None]) {
        let (trace, real) = traced_builtin("crc", &records, k);
        assert_eq!(
            after_kill(&Snapshot::default(), &trace.ops),
            real,
            "kill at {k:?}: the write log replays to the real folder"
        );
        for seed in 0..20 {
            let mut rng = crashtest::seed::Seed(seed).trial_rng(0);
            let (state, report) = after_power_loss(&Snapshot::default(), &trace.ops, 512, &mut rng);
            assert_eq!(state, real, "kill at {k:?}, seed {seed}: {report:?}");
            assert_eq!(report.unsynced_writes, 0);
        }
    }
    let (trace, real) = traced_builtin("seed-postfix", &records, None);
    assert_eq!(after_kill(&Snapshot::default(), &trace.ops), real);
    let lost = (0..20).any(|seed| {
        let mut rng = crashtest::seed::Seed(seed).trial_rng(0);
        after_power_loss(&Snapshot::default(), &trace.ops, 512, &mut rng).0 != real
    });
    assert!(lost, "nothing synced: some power loss must lose something");
}

/// See issue 4: `--exhaustive` walks every crash state of one small workload, and each
/// finding's repro command (with --kill-at/--tear) reproduces its state.
#[test]
fn exhaustive_mode_covers_every_crash_state_and_each_reproduces() {
    let sb = Sandbox::new();
    let small = "records = 4\npayload = { min = 600, max = 1500 }\nsector = 512\n";
    let prefix = sb.scenario(
        "ex-prefix.toml",
        &format!("{small}expect = \"fail\"\n[target]\nbuiltin = \"seed-prefix\"\n"),
    );
    let run = sb.crashtest(&["run", prefix.to_str().unwrap(), "--exhaustive"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let summary = run.summary();
    assert_eq!(summary["exhaustive"], true);
    // 1 open + 2 writes per record, the clean exit, and every torn length at 512-byte
    // steps inside each write.
    let states = summary["trials"].as_u64().unwrap();
    assert!(states > 1 + 2 * 4 + 1, "{summary}");
    assert!(
        run.stdout().contains(&format!("{states} crash states")),
        "{}",
        run.stdout()
    );
    // Every kill before a payload write is the bug: one per record at least.
    let findings = run.findings();
    let kills = findings.iter().filter(|f| f["fault"] == "kill").count();
    assert!(kills >= 4, "{kills} of {}", findings.len());
    let torn = findings
        .iter()
        .find(|f| f["fault"] == "torn")
        .expect("a torn finding");
    let repro = torn["repro"].as_str().unwrap();
    assert!(repro.contains("/k") && repro.contains("/ftorn"), "{repro}");
    let args: Vec<&str> = repro.split_whitespace().skip(1).collect();
    let again = sb.crashtest(&args);
    assert_eq!(again.code(), 1, "{}", again.stdout());
    let detail = torn["judgement"]["violation"]["detail"].as_str().unwrap();
    assert!(
        again.stdout().contains(detail),
        "{}\n---\n{detail}",
        again.stdout()
    );
    let crc = sb.scenario(
        "ex-crc.toml",
        &format!(
            "{small}[target]\nbuiltin = \"crc\"\n[checks]\nresume = true\nrecovery-crash = true\n"
        ),
    );
    let run = sb.crashtest(&["run", crc.to_str().unwrap(), "--exhaustive"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert_eq!(run.summary()["failed"], 0);
    assert!(run.summary()["trials"].as_u64().unwrap() > 10);
}

/// See issue 7: exhaustive mode cuts its crash states from one recorded run and only
/// replays them; every state judges exactly as a real kill there does (`--reexec`).
#[test]
fn states_cut_from_the_write_log_judge_like_real_kills() {
    let sb = Sandbox::new();
    let torn = sb.scenario(
        "ex-prefix.toml",
        "records = 4\npayload = { min = 600, max = 1500 }\nsector = 512\nexpect = \"fail\"\n[target]\nbuiltin = \"seed-prefix\"\n",
    );
    // Power loss: one drawn at every kill point, from the log's prefix there.
    let power = sb.scenario(
        "ex-postfix.toml",
        "records = 5\npayload = { min = 0, max = 64 }\nexpect = \"fail\"\n[target]\nbuiltin = \"seed-postfix\"\n[faults]\nkill = 1\npower-loss = 1\n",
    );
    for (scenario, words) in [(&torn, "torn writes, cut"), (&power, "power losses, cut")] {
        let path = scenario.to_str().unwrap();
        let cut = sb.crashtest(&["run", path, "--exhaustive", "--no-shrink"]);
        let real = sb.crashtest(&["run", path, "--exhaustive", "--reexec", "--no-shrink"]);
        assert_eq!(cut.code(), 0, "{}{}", cut.stdout(), cut.stderr());
        assert_eq!(real.code(), 0, "{}{}", real.stdout(), real.stderr());
        assert!(cut.stdout().contains(words), "{}", cut.stdout());
        assert!(
            real.stdout().contains("each by re-running the writer"),
            "{}",
            real.stdout()
        );
        let verdicts = |run: &support::Run| -> Vec<String> {
            let mut v: Vec<String> = run
                .lines
                .iter()
                .filter(|l| l["type"] == "trial")
                .map(|l| format!("{} {} {}", l["case"], l["class"], l["boundaries"]))
                .collect();
            v.sort();
            v
        };
        assert_eq!(verdicts(&cut), verdicts(&real));
        let details = |run: &support::Run| -> Vec<String> {
            let mut v: Vec<String> = run
                .findings()
                .iter()
                .map(|f| {
                    format!(
                        "{} {} {}",
                        f["case"], f["damage"], f["judgement"]["violation"]["detail"]
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert!(!details(&cut).is_empty(), "{}", cut.stdout());
        assert_eq!(details(&cut), details(&real));
    }
}

/// See issue 7: a writer that stores its records through mmap leaves bytes no write log
/// holds; the states checked against real kills show it, and the run stops with a harness
/// error naming the file rather than judge states that never were. `--reexec` runs it.
#[test]
fn a_log_written_through_mmap_stops_exhaustive_mode_with_a_harness_error() {
    let sb = Sandbox::new();
    let text = std::fs::read_to_string(support::root().join("harness/targets/mmap_wal.toml"))
        .unwrap()
        .replace("records = 4", "records = 2")
        .replace(
            "\"mmap_wal.py\"",
            &format!("{:?}", support::root().join("harness/targets/mmap_wal.py")),
        );
    let scenario = sb.scenario("mmap.toml", &text);
    let path = scenario.to_str().unwrap();
    let cut = sb.crashtest(&["run", path, "--exhaustive"]);
    assert_eq!(cut.code(), 3, "{}{}", cut.stdout(), cut.stderr());
    assert!(
        cut.stderr()
            .contains("differs from the folder a real kill there leaves")
            && cut.stderr().contains("wal.log: differs at byte"),
        "{}",
        cut.stderr()
    );
    let real = sb.crashtest(&["run", path, "--exhaustive", "--reexec"]);
    assert_eq!(real.code(), 0, "{}{}", real.stdout(), real.stderr());
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
/// `merge` joins them and refuses an incomplete set.
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
        "30",
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
        assert!(mine.len() == 10, "shard {shard}: {mine:?}");
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
    let page = sb.dir.path().join("merged.html");
    let mut merge = vec!["merge", "--junit", junit.to_str().unwrap()];
    merge.extend(&file_args);
    let merged = sb.crashtest(&merge);
    assert_eq!(merged.code(), 0, "{}{}", merged.stdout(), merged.stderr());
    assert!(
        merged.stdout().contains("OK: seed-prefix: expected fail")
            && merged.stdout().contains(" 30 trials, "),
        "{}",
        merged.stdout()
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert!(doc.descendants().any(|n| n.has_tag_name("testcase")));
    // See issue 11: a missing shard is a run that did not finish: not met (exit 1), with
    // why, in the terminal, JUnit and HTML alike.
    let mut partial = vec![
        "merge",
        "--junit",
        junit.to_str().unwrap(),
        "--report",
        page.to_str().unwrap(),
    ];
    partial.extend(&file_args[..2]);
    let run = sb.crashtest(&partial);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stdout().contains("NOT OK (incomplete): seed-prefix:")
            && run.stdout().contains("missing shard(s) 3/3 of 3"),
        "{}",
        run.stdout()
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("type=\"incomplete\""), "{xml}");
    assert!(xml.contains("missing shard(s) 3/3 of 3"), "{xml}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("missing shard(s) 3/3 of 3"));
    assert!(html.contains("<td class=\"met incomplete\">"));
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
        .find(|l| l.starts_with("crashtest repro "))
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
    let junit = sb.dir.path().join("killed.xml");
    let page = sb.dir.path().join("killed.html");
    let merged = sb.crashtest(&[
        "merge",
        file.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--report",
        page.to_str().unwrap(),
    ]);
    assert_eq!(merged.code(), 1, "{}{}", merged.stdout(), merged.stderr());
    let out = merged.stdout();
    assert!(
        out.contains("NOT OK (incomplete): seed-prefix:")
            && out.contains("the run stopped before its summary line"),
        "{out}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure");
    assert_eq!(failure.attribute("type"), Some("incomplete"));
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .contains("before its summary line")
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("every expectation met"), "the old headline");
    assert!(html.contains("NOT OK: 1 run that did not finish"));
}

/// Dogfood: crashtest's own results writer (`ResultsFile`), served as the built-in target
/// `results`, keeps every synced line through kills, cut files, torn writes and power
/// loss, and takes new lines after a crash without gluing them onto a torn one.
#[test]
fn the_results_writer_survives_crashtest_itself() {
    let sb = Sandbox::new();
    let run = sb.crashtest(&["run", "scenarios/results-writer.toml"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert!(run.findings().is_empty(), "{}", run.stdout());
    let summary = run.summary();
    assert_eq!(summary["failed"], 0, "{summary}");
    support::assert_faults_and_recovery_crashes(
        summary,
        &["kill", "truncate", "torn", "power-loss"],
        10,
    );
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

/// See issue 11: PILOT-82's bug is one distinct failure, seen in every failing trial, in
/// the terminal, the JUnit file and the HTML page alike.
#[test]
fn r11_seed_prefix_is_one_distinct_failure_in_every_output() {
    let sb = Sandbox::new();
    let junit = sb.dir.path().join("junit.xml");
    let page = sb.dir.path().join("report.html");
    let run = sb.crashtest(&[
        "run",
        "scenarios/seed-prefix.toml",
        "--junit",
        junit.to_str().unwrap(),
        "--report",
        page.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let failed = run.findings().len();
    assert!(failed > 10, "{failed}");
    let out = run.stdout();
    assert_eq!(out.matches("FAIL trial ").count(), 1, "printed once: {out}");
    let one = format!("1 distinct failure in {failed} failing trials:");
    assert!(out.contains(&one), "{out}");
    let seen = format!("1. replay-failed after kill at write: seen in {failed} trial(s)");
    assert!(out.contains(&seen), "{out}");
    assert_eq!(run.summary()["distinct"], 1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(&seen), "{xml}");
    assert!(!xml.contains("2. "), "{xml}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("· 1 distinct failure ·"), "headline");
    assert_eq!(html.matches("<details class=\"failure\"").count(), 1);
    assert!(html.contains(&format!(
        "<summary>{failed} trials behind this failure</summary>"
    )));
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
    let junit = sb.dir.path().join("j.xml");
    let page = sb.dir.path().join("p.html");
    let mut args = vec![
        "merge",
        "--junit",
        junit.to_str().unwrap(),
        "--report",
        page.to_str().unwrap(),
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let merged = sb.crashtest(&args);
    assert_eq!(merged.code(), 1, "{}{}", merged.stdout(), merged.stderr());
    let why = "which is the target breaking the protocol, not a crash finding";
    assert!(
        merged.stdout().contains("NOT OK: bad-acks:"),
        "{}",
        merged.stdout()
    );
    assert!(merged.stdout().contains(why), "{}", merged.stdout());
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("type=\"no-bug-found\""), "{xml}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<td class=\"met no\">✗ not met</td>"));
    assert!(html.contains(why));

    // The same target with expect = "pass": not met, and nothing saved to commit.
    let pass = sb.scenario(
        "bad-acks-pass.toml",
        &bad_acks.replace("\"fail\"", "\"pass\""),
    );
    let run = sb.crashtest(&["run", pass.to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}", run.stdout());
    assert!(!sb.dir.path().join("bad-acks-pass.regressions").exists());
}
