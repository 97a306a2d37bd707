//! See issue 13, item 4: a target that its `[limits]` end is the target's problem, and its
//! finding says which limit.
//!
//! A scenario with `address-space = "2MiB"` on a Python target ended in exit 3, "internal
//! tracer error, please report ... SIGSEGV": the kernel could not map python3 within 2 MiB,
//! killed it with SIGSEGV before its first instruction, and the tracer, waiting for the
//! stop that follows a successful exec, took the signal for its own bug. A target that
//! died of MemoryError, or of SIGXFSZ at a file-size limit, was a bare `target-error` that
//! never named the limit. These tests run real targets under real limits.

use std::path::PathBuf;

use crate::support::{Run, Sandbox, root};

/// A scenario of an external target in the sandbox, with `limits` as its `[limits]` table.
fn scenario(sb: &Sandbox, name: &str, head: &str, target: &str, limits: &str) -> PathBuf {
    sb.scenario(
        name,
        &format!("{head}\ntimeout = \"20s\"\n[target]\n{target}\n[limits]\n{limits}\n"),
    )
}

/// The run stopped before its first trial with one error, exit 2, that names `setting`,
/// and not as crashtest's own failure.
fn assert_setup_error_naming(run: &Run, setting: &str) {
    let (stdout, stderr) = (run.stdout(), run.stderr());
    assert_eq!(run.code(), 2, "{stdout}{stderr}");
    assert_eq!(stderr.matches("crashtest: error:").count(), 1, "{stderr}");
    assert!(stderr.contains(setting), "{stderr}");
    assert!(!stderr.contains("please report"), "{stderr}");
    assert!(run.lines.iter().all(|l| l["type"] != "trial"), "{stdout}");
}

// See: issue 13
#[test]
fn r13_an_address_space_too_small_to_start_the_target_names_the_limit() {
    let sb = Sandbox::new().with_real_python3();
    let tiny = "address-space = \"2MiB\"";
    let wal = root().join("harness/targets/example_wal.py");
    let wal = wal.display();
    // python3 dies of SIGSEGV inside execve where its binary is larger than 2 MiB, or
    // exits 127 when the dynamic loader cannot map libpython: either way, the limit.
    let python = scenario(
        &sb,
        "python.toml",
        "trials = 2",
        &format!(
            "writer = [\"python3\", \"{wal}\", \"write\"]\nreplay = [\"python3\", \"{wal}\", \"replay\"]\ndurability = \"fsync\""
        ),
        tiny,
    );
    let run = sb.crashtest(&["run", python.to_str().unwrap()]);
    assert_setup_error_naming(&run, "[limits] address-space = \"2MiB\"");
    // sh fits, and then the dynamic loader cannot map the C library: exit 127, and its
    // stderr says so.
    let shell = scenario(
        &sb,
        "shell.toml",
        "trials = 2",
        "writer = [\"sh\", \"-c\", \"cat > /dev/null\"]\nreplay = [\"true\"]\ndurability = \"none\"",
        tiny,
    );
    let run = sb.crashtest(&["run", shell.to_str().unwrap()]);
    assert_setup_error_naming(&run, "[limits] address-space = \"2MiB\"");
    // The built-in WALs are served by crashtest itself, far larger than 2 MiB.
    let builtin = scenario(&sb, "builtin.toml", "trials = 2", "builtin = \"crc\"", tiny);
    let run = sb.crashtest(&["run", builtin.to_str().unwrap()]);
    assert_setup_error_naming(&run, "[limits] address-space = \"2MiB\"");
    assert!(
        run.stderr().contains("failed to start target.builtin of")
            && run.stderr().contains(
                "it died of SIGSEGV while the kernel loaded it, before its first instruction: the kernel could not map it within [limits] address-space = \"2MiB\""
            ),
        "{}",
        run.stderr()
    );
}

// See: issue 13
#[test]
fn r13_a_writer_out_of_memory_under_its_address_space_is_a_finding_naming_the_limit() {
    let sb = Sandbox::new().with_real_python3();
    std::fs::write(
        sb.dir.path().join("greedy.py"),
        "import os, sys\n\
         log = open(os.path.join(os.environ['CRASHTEST_DIR'], 'wal.log'), 'ab')\n\
         for i, line in enumerate(sys.stdin):\n\
         \x20   log.write(line.encode()); log.flush()\n\
         \x20   if i == 1:\n\
         \x20       grown = bytearray(2 << 30)\n\
         \x20   print(i, flush=True)\n",
    )
    .unwrap();
    let path = scenario(
        &sb,
        "greedy.toml",
        "trials = 2\nrecords = 3",
        "writer = [\"python3\", \"greedy.py\"]\nreplay = [\"true\"]\ndurability = \"none\"",
        "address-space = \"1GiB\"",
    );
    let junit = sb.dir.path().join("junit.xml");
    let run = sb.crashtest(&[
        "run",
        path.to_str().unwrap(),
        "--jobs",
        "1",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    let findings = run.findings();
    assert!(!findings.is_empty(), "{}", run.stdout());
    let hint = r#"the writer exited with status 1 ([limits] address-space = "1GiB" may have ended it: its stderr says "MemoryError"): Traceback"#;
    for finding in &findings {
        let v = &finding["judgement"]["violation"];
        assert_eq!(v["class"], "target-error", "{finding}");
        assert!(v["detail"].as_str().unwrap().starts_with(hint), "{finding}");
    }
    // The same words in the terminal and in the JUnit file.
    assert!(run.stdout().contains(hint), "{}", run.stdout());
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("[limits] address-space = &quot;1GiB&quot; may have ended it"),
        "{xml}"
    );
}

// See: issue 13
#[test]
fn r13_a_file_past_its_file_size_limit_is_a_finding_naming_the_limit() {
    let sb = Sandbox::new().with_real_python3();
    let append = "n=0; while read -r l; do echo $l >> \\\"$CRASHTEST_DIR/wal.log\\\"; echo $n; n=$((n+1)); done";
    // sh's own write past the limit: the kernel sends it SIGXFSZ.
    let path = scenario(
        &sb,
        "shell.toml",
        "trials = 2\nrecords = 20\npayload = { min = 100, max = 128 }",
        &format!(
            "writer = [\"sh\", \"-c\", \"{append}\"]\nreplay = [\"true\"]\ndurability = \"none\""
        ),
        "file-size = \"1KiB\"",
    );
    let run = sb.crashtest(&["run", path.to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    assert_eq!(
        run.summary()["classes"]["target-error"],
        2,
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains(
            r#"the writer died of SIGXFSZ ([limits] file-size = "1KiB" ended it: SIGXFSZ is what a write past it gets)"#
        ) && run.stdout().contains("kill at none (the writer died of SIGXFSZ after "),
        "{}",
        run.stdout()
    );
    // Python ignores SIGXFSZ: its write fails with EFBIG, "File too large".
    std::fs::write(
        sb.dir.path().join("big.py"),
        "import os, sys\n\
         log = open(os.path.join(os.environ['CRASHTEST_DIR'], 'wal.log'), 'ab', buffering=0)\n\
         for i, line in enumerate(sys.stdin):\n\
         \x20   log.write(line.encode())\n\
         \x20   print(i, flush=True)\n",
    )
    .unwrap();
    let path = scenario(
        &sb,
        "python.toml",
        "trials = 2\nrecords = 20\npayload = { min = 100, max = 128 }",
        "writer = [\"python3\", \"big.py\"]\nreplay = [\"true\"]\ndurability = \"none\"",
        "file-size = \"1KiB\"",
    );
    let run = sb.crashtest(&["run", path.to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stdout().contains(
            r#"the writer exited with status 1 ([limits] file-size = "1KiB" may have ended it: its stderr says "File too large")"#
        ),
        "{}",
        run.stdout()
    );
    // A replay that writes past the limit (a copy of the log, say) dies of SIGXFSZ too;
    // on an empty folder (the check before the first trial) it writes nothing.
    let copy = "[ -n \\\"$(ls -A \\\"$CRASHTEST_DIR\\\")\\\" ] || exit 0; printf '%2048s' x > \\\"$CRASHTEST_DIR/copy\\\"";
    let path = scenario(
        &sb,
        "replay.toml",
        "trials = 4\nrecords = 3\npayload = { min = 1, max = 8 }",
        &format!(
            "writer = [\"sh\", \"-c\", \"{append}\"]\nreplay = [\"sh\", \"-c\", \"{copy}\"]\ndurability = \"none\""
        ),
        "file-size = \"1KiB\"",
    );
    let run = sb.crashtest(&["run", path.to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    let replay_failed = run
        .findings()
        .into_iter()
        .filter(|f| f["judgement"]["violation"]["class"] == "replay-failed")
        .map(|f| {
            f["judgement"]["violation"]["detail"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect::<Vec<_>>();
    assert!(!replay_failed.is_empty(), "{}", run.stdout());
    for detail in replay_failed {
        // (A core dump, where the machine allows one, adds its words after the signal.)
        assert!(
            detail.starts_with("replay signal: 25 (SIGXFSZ)")
                && detail.contains(r#"([limits] file-size = "1KiB" ended it"#),
            "{detail}"
        );
    }
}
