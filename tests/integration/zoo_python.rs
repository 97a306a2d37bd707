//! The Python zoo (`harness/zoo/`): the client a user copies
//! (`harness/zoo/clients/python/crashtest_target.py`) speaks protocol v1, and RocksDB
//! (rocksdict) and LevelDB (plyvel), each with `sync` on and off, get the verdict their
//! own documentation promises, in every fault class and persistence profile, except where
//! the zoo README records a finding in the engine: LevelDB 1.22 cannot open its database
//! after some power losses. A short run of each scenario; the long runs (500 trials each)
//! and the quotes are in the zoo's READMEs.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{self, Sandbox};

/// Fails the test, naming the install script, when the engines' bindings are missing.
fn python_engines() {
    let out = Command::new("python3")
        .args(["-c", "import rocksdict, plyvel"])
        .output()
        .unwrap_or_else(|e| {
            panic!("this test needs python3 on PATH (harness/deps installs it): {e}")
        });
    assert!(
        out.status.success(),
        "the zoo needs rocksdict and plyvel: run harness/zoo/clients/python/deps\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs one zoo scenario for `trials` trials and checks that it met `expect = "pass"`
/// with every fault class of the scenario drawn at least once.
fn zoo_scenario_passes(scenario: &str, trials: &str, faults: &[&str]) {
    let sb = Sandbox::new().with_real_python3();
    python_engines();
    let run = sb.crashtest(&["run", scenario, "--trials", trials, "--jobs", "2"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let summary = run.summary();
    let name = summary["scenario"].as_str().unwrap().to_owned();
    assert!(
        run.stdout()
            .contains(&format!("OK: {name}: no trial failed in {trials} trials")),
        "{}",
        run.stdout()
    );
    assert_eq!(summary["failed"], 0, "{summary}");
    for fault in faults {
        assert!(
            summary["faults"][fault].as_u64().unwrap_or(0) > 0,
            "{scenario}: no trial drew {fault}: {summary}"
        );
    }
    assert!(
        summary["killed"].as_u64().unwrap() * 10 >= trials.parse::<u64>().unwrap() * 8,
        "{summary}"
    );
}

/// Runs one zoo scenario that records a finding (`expect = "fail"`) and checks that the
/// run found it, and only it: every failing trial is a power loss after which replay
/// could not open the database, for one of the reasons in `why`.
fn zoo_scenario_finds(scenario: &str, trials: &str, why: &[&str]) {
    let sb = Sandbox::new().with_real_python3();
    python_engines();
    let run = sb.crashtest(&[
        "run",
        scenario,
        "--trials",
        trials,
        "--jobs",
        "2",
        "--no-shrink",
    ]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let name = run.summary()["scenario"].as_str().unwrap().to_owned();
    assert!(
        run.stdout().contains(&format!("OK: {name}: expected fail")),
        "{}",
        run.stdout()
    );
    let findings = run.findings();
    assert!(!findings.is_empty(), "{}", run.stdout());
    for f in findings {
        assert_eq!(f["judgement"]["violation"]["class"], "replay-failed", "{f}");
        assert_eq!(f["damage"]["kind"], "power-loss", "{f}");
        let detail = f["judgement"]["violation"]["detail"].as_str().unwrap();
        assert!(why.iter().any(|w| detail.contains(w)), "{f}");
    }
}

const FAULTS: [&str; 4] = ["kill", "torn", "truncate", "power-loss"];

#[test]
fn rocksdb_with_sync_writes_loses_no_acked_record() {
    zoo_scenario_passes("harness/zoo/rocksdb/sync.toml", "16", &FAULTS);
}

#[test]
fn rocksdb_without_sync_loses_nothing_to_a_process_crash() {
    zoo_scenario_passes("harness/zoo/rocksdb/nosync.toml", "16", &FAULTS);
}

#[test]
fn rocksdb_survives_power_loss_on_ext4_ordered() {
    zoo_scenario_passes(
        "harness/zoo/rocksdb/sync-ext4-ordered.toml",
        "8",
        &["power-loss"],
    );
    zoo_scenario_passes(
        "harness/zoo/rocksdb/nosync-ext4-ordered.toml",
        "8",
        &["power-loss"],
    );
}

#[test]
fn leveldb_with_sync_writes_loses_no_acked_record_to_a_process_crash() {
    zoo_scenario_passes("harness/zoo/leveldb/sync.toml", "16", &FAULTS[..3]);
}

#[test]
fn leveldb_without_sync_loses_nothing_to_a_process_crash() {
    zoo_scenario_passes("harness/zoo/leveldb/nosync.toml", "16", &FAULTS[..3]);
}

/// See the LevelDB README, "Findings": CURRENT renamed to a new MANIFEST without a sync of
/// the folder, and the first MANIFEST never synced, leave a database that does not open.
#[test]
fn leveldb_cannot_open_its_database_after_some_power_losses() {
    zoo_scenario_finds(
        "harness/zoo/leveldb/sync-power-loss.toml",
        "8",
        &LEVELDB_WHY,
    );
    zoo_scenario_finds(
        "harness/zoo/leveldb/nosync-power-loss.toml",
        "8",
        &LEVELDB_WHY,
    );
}

/// The same finding on ext4 data=ordered: only the first MANIFEST, never synced, is left.
#[test]
fn leveldb_cannot_open_its_database_after_some_power_losses_on_ext4_ordered() {
    zoo_scenario_finds(
        "harness/zoo/leveldb/sync-ext4-ordered.toml",
        "8",
        &LEVELDB_WHY,
    );
    zoo_scenario_finds(
        "harness/zoo/leveldb/nosync-ext4-ordered.toml",
        "8",
        &LEVELDB_WHY,
    );
}

/// Why LevelDB 1.22's open fails after those power losses: CURRENT names a MANIFEST that
/// is empty, or gone.
const LEVELDB_WHY: [&str; 2] = [
    "no meta-nextfile entry in descriptor",
    "CURRENT points to a non-existent file",
];

/// The client itself, without crashtest: acks in order after each append, the empty
/// record, hex out on replay, and an exception in replay is exit 1 with its message.
#[test]
fn the_python_client_speaks_protocol_v1() {
    let sb = Sandbox::new().with_real_python3();
    let client = support::root().join("harness/zoo/clients/python");
    let target = sb.scenario(
        "list_log.py",
        &format!(
            r#"import os, sys
sys.path.insert(0, {client:?})
from crashtest_target import path, serve, writer, writers

def append(payload):
    with open(path("log"), "a") as f:
        f.write(payload.hex() + "\n")
    assert (writer(), writers()) == (0, 1)

def replay():
    if os.path.exists(path("fail")):
        raise RuntimeError("the log is gone")
    assert writer() is None
    return [bytes.fromhex(l) for l in open(path("log")).read().splitlines()]

serve(append, replay)
"#
        ),
    );
    let dir = sb.dir.path().join("trial");
    std::fs::create_dir_all(&dir).unwrap();
    let python = |role: &str| {
        let mut cmd = Command::new("python3");
        cmd.arg(&target)
            .arg(role)
            .env("CRASHTEST_DIR", &dir)
            .env("CRASHTEST_WRITERS", "1");
        if role == "write" {
            cmd.env("CRASHTEST_WRITER", "0");
        }
        cmd
    };
    let mut writer = python("write")
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
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"0\n1\n2\n");
    let out = python("replay").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"00ff\n\n0a0a00\n");
    std::fs::write(dir.join("fail"), "").unwrap();
    let out = python("replay").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "list_log.py: replay: RuntimeError: the log is gone\n"
    );
    let out = python("remove").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("usage:"),
        "{out:?}"
    );
}
