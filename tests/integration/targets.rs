//! External targets: protocol v1 and its errors, Go, SQLite, Python, broken ones, several writers.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{self, Sandbox};

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

// See: issue 13. A program that loses its execute bit between trials is not "no such
// executable file", and a writer that never started is not said to have exited cleanly.
#[test]
fn r13_a_target_that_stops_being_executable_says_so_and_was_never_started() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    // Appends and acks its records; once it has been sent some, it takes away its own
    // execute bit (not on no records, so the check before the first trial passes).
    let script = "#!/bin/sh\n\
                  n=0\n\
                  while read -r l; do echo \"$l\" >> \"$CRASHTEST_DIR/wal.log\"; echo $n; n=$((n+1)); done\n\
                  [ $n -eq 0 ] || chmod -x \"$0\"\n";
    for name in ["writer.sh", "replay.sh"] {
        let path = sb.dir.path().join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let writer = sb.scenario(
        "writer.toml",
        "trials = 2\nrecords = 2\n[target]\nwriter = [\"./writer.sh\"]\nreplay = [\"true\"]\ndurability = \"none\"\n",
    );
    // Each trial its own writer runs (a trial cut from a recorded run starts none).
    let run = sb.crashtest(&["run", writer.to_str().unwrap(), "--jobs", "1", "--reexec"]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    let wanted = format!(
        "failed to start writer \"./writer.sh\": {} exists but is not executable (no execute permission",
        sb.dir.path().join("writer.sh").display()
    );
    assert!(
        run.findings()
            .iter()
            .any(|f| f["judgement"]["violation"]["detail"]
                .as_str()
                .unwrap()
                .starts_with(&wanted)),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout()
            .contains("kill at none (the writer could not be started)"),
        "{}",
        run.stdout()
    );
    assert!(
        !run.stdout().contains("no such executable"),
        "{}",
        run.stdout()
    );
    // The replay: its first run on a log takes the bit away, and the replays after it
    // (the stable check's, the next trial's) cannot start.
    std::fs::write(
        sb.dir.path().join("replay.sh"),
        "#!/bin/sh\n[ -f \"$CRASHTEST_DIR/wal.log\" ] && chmod -x \"$0\"\nexit 0\n",
    )
    .unwrap();
    let replay = sb.scenario(
        "replay.toml",
        "trials = 3\nrecords = 2\n[target]\nwriter = [\"sh\", \"-c\", \"n=0; while read -r l; do echo $l >> \\\"$CRASHTEST_DIR/wal.log\\\"; echo $n; n=$((n+1)); done\"]\nreplay = [\"./replay.sh\"]\ndurability = \"none\"\n",
    );
    let run = sb.crashtest(&["run", replay.to_str().unwrap(), "--jobs", "1"]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    let wanted = format!(
        "failed to start replay \"./replay.sh\": {} exists but is not executable",
        sb.dir.path().join("replay.sh").display()
    );
    assert!(run.stdout().contains(&wanted), "{}", run.stdout());
}
