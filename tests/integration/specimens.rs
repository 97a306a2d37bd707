//! The built-in WALs: seed-prefix caught every time; seed-postfix, crc, results pass their faults.

use crate::support::{self, Sandbox};

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
