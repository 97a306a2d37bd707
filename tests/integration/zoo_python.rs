//! The Python zoo (`harness/zoo/`): the client a user copies
//! (`harness/zoo/clients/python/crashtest_target.py`) speaks protocol v1, and RocksDB
//! (rocksdict) and LevelDB (plyvel), each with `sync` on and off, get the verdict their
//! own documentation promises: a short run of each scenario, every fault class in it.
//! The long runs (500 trials and more each) and the quotes are in the zoo's READMEs.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{self, Sandbox};

/// Fails the test, naming the install script, when the engines' bindings are missing.
fn python_engines() {
    let out = Command::new("python3")
        .args(["-c", "import rocksdict, plyvel"])
        .output()
        .unwrap_or_else(|e| panic!("this test needs python3 on PATH (harness/deps installs it): {e}"));
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
fn leveldb_with_sync_writes_loses_no_acked_record() {
    zoo_scenario_passes("harness/zoo/leveldb/sync.toml", "16", &FAULTS);
}

#[test]
fn leveldb_without_sync_loses_nothing_to_a_process_crash() {
    zoo_scenario_passes("harness/zoo/leveldb/nosync.toml", "16", &FAULTS);
}

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
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("usage:"), "{out:?}");
}
