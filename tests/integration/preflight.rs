//! See issue 11: setup is checked before trials.
//!
//! A setup mistake used to become a finding in every trial: a writer path with a typo made
//! each trial a `target-error`, saved as a regression; a missing replay was classed
//! `replay-failed`, a WAL-bug class, and shrunk; a full disk under `--work-dir` made the
//! correct `crc` WAL fail trial after trial. Now the target runs once, on no records,
//! before the first trial, and a mistake is one error: exit 2 when the scenario's target
//! is wrong, 3 when the machine is. These tests make each mistake for real (missing and
//! non-executable files, a full file system mounted for the test, ptrace refused by a
//! seccomp filter) and check that no finding is printed and no regression saved.

use std::path::Path;

use crate::support::{Run, Sandbox, SmallFs};

/// An external target's scenario; `writer` and `replay` are TOML arrays.
fn target(sb: &Sandbox, name: &str, writer: &str, replay: &str) -> std::path::PathBuf {
    sb.scenario(
        name,
        &format!(
            "trials = 5\nrecords = 3\ntimeout = \"20s\"\n[target]\nwriter = {writer}\nreplay = {replay}\ndurability = \"none\"\n"
        ),
    )
}

const ACKER: &str = r#"["sh", "-c", "n=0; while read -r l; do echo $n; n=$((n+1)); done"]"#;

/// The run stopped before any trial: exit `code`, one error line on stderr, no finding
/// printed, no results line, no regression saved next to `scenario`.
fn assert_stopped_before_trials(run: &Run, scenario: &Path, code: i32) {
    let (stdout, stderr) = (run.stdout(), run.stderr());
    assert_eq!(run.code(), code, "{stdout}{stderr}");
    assert_eq!(
        stderr.matches("crashtest: error:").count(),
        1,
        "one error: {stderr}"
    );
    assert!(!stdout.contains("FAIL"), "no finding printed: {stdout}");
    assert!(
        run.lines.iter().all(|l| l["type"] != "trial"),
        "no trial ran: {:?}",
        run.lines
    );
    let saved = scenario.with_extension("regressions");
    assert!(
        !saved.exists(),
        "a regression was saved: {}",
        saved.display()
    );
}

// See: issue 11
#[test]
fn r11_a_missing_writer_is_one_error_naming_its_key_and_path() {
    let sb = Sandbox::new();
    let path = target(
        &sb,
        "missing.toml",
        r#"["./no-such-writer"]"#,
        r#"["true"]"#,
    );
    let run = sb.crashtest(&["run", path.to_str().unwrap()]);
    assert_stopped_before_trials(&run, &path, 2);
    let wanted = format!(
        "target.writer in {} names {}: no such file",
        path.display(),
        sb.dir.path().join("no-such-writer").display()
    );
    assert!(run.stderr().contains(&wanted), "{}", run.stderr());
    assert!(run.lines.is_empty(), "no results file: {:?}", run.lines);
    // repro checks the same way.
    let run = sb.crashtest(&["repro", path.to_str().unwrap(), "--trial", "0"]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(run.stderr().contains(&wanted), "{}", run.stderr());
    // A bare name is looked up on PATH.
    let path = target(
        &sb,
        "no-path.toml",
        r#"["no-such-wal-writer"]"#,
        r#"["true"]"#,
    );
    let run = sb.crashtest(&["run", path.to_str().unwrap()]);
    assert_stopped_before_trials(&run, &path, 2);
    assert!(
        run.stderr().contains("target.writer in ")
            && run
                .stderr()
                .contains("names no-such-wal-writer: no such program in any folder of PATH"),
        "{}",
        run.stderr()
    );
}

// See: issue 11
#[test]
fn r11_a_writer_that_is_not_executable_is_told_apart_from_a_missing_one() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let script = sb.dir.path().join("writer.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = target(&sb, "plain.toml", r#"["./writer.sh"]"#, r#"["true"]"#);
    let run = sb.crashtest(&["run", path.to_str().unwrap()]);
    assert_stopped_before_trials(&run, &path, 2);
    let wanted = format!(
        "target.writer in {} names {}: it exists but is not executable",
        path.display(),
        script.display()
    );
    assert!(run.stderr().contains(&wanted), "{}", run.stderr());
    // A folder is not a program either.
    std::fs::create_dir(sb.dir.path().join("wal")).unwrap();
    let path = target(&sb, "folder.toml", ACKER, r#"["./wal"]"#);
    let run = sb.crashtest(&["run", path.to_str().unwrap()]);
    assert_stopped_before_trials(&run, &path, 2);
    assert!(
        run.stderr()
            .contains("it exists but is not executable (it is a folder)"),
        "{}",
        run.stderr()
    );
}

// See: issue 11
#[test]
fn r11_a_missing_replay_is_one_error_not_replay_failed_findings() {
    let sb = Sandbox::new();
    let path = target(&sb, "no-replay.toml", ACKER, r#"["./bin/replay"]"#);
    let run = sb.crashtest(&["run", path.to_str().unwrap()]);
    assert_stopped_before_trials(&run, &path, 2);
    let wanted = format!(
        "target.replay in {} names {}: no such file",
        path.display(),
        sb.dir.path().join("bin/replay").display()
    );
    assert!(run.stderr().contains(&wanted), "{}", run.stderr());
    // A replay whose interpreter starts but whose script is missing fails on the empty
    // log: one error, with what it said.
    let path = target(
        &sb,
        "no-script.toml",
        ACKER,
        r#"["sh", "./no-such-replay.sh"]"#,
    );
    let run = sb.crashtest(&["run", path.to_str().unwrap()]);
    assert_stopped_before_trials(&run, &path, 2);
    assert!(
        run.stderr().contains("target.replay in ")
            && run.stderr().contains("exited with status ")
            && run.stderr().contains("on an empty log")
            && run.stderr().contains("caused by: its stderr ends with: ")
            && run.stderr().contains("no-such-replay.sh"),
        "{}",
        run.stderr()
    );
}

// See: issue 11
#[test]
fn r11_a_target_that_breaks_the_protocol_on_no_records_is_one_error() {
    let sb = Sandbox::new();
    let cases = [
        (
            r#"["sh", "-c", "echo 'no config' >&2; exit 4"]"#,
            r#"["true"]"#,
            "exited with status 4 on no records (stdin closed at once), but protocol v1 wants exit 0 at the end of its input",
        ),
        (
            r#"["sh", "-c", "echo ready; while read -r l; do :; done"]"#,
            r#"["true"]"#,
            "printed \"ready\" on no records (stdin closed at once), but protocol v1 wants an ack only for a record it was sent",
        ),
        (
            ACKER,
            r#"["sh", "-c", "exit 1"]"#,
            "exited with status 1 on an empty log",
        ),
        (
            ACKER,
            r#"["echo", "00ff"]"#,
            "printed \"00ff\" for an empty log (the folder a writer given no records left), but protocol v1 wants no record for it",
        ),
    ];
    for (i, (writer, replay, wanted)) in cases.iter().enumerate() {
        let path = target(&sb, &format!("case{i}.toml"), writer, replay);
        let run = sb.crashtest(&["run", path.to_str().unwrap()]);
        assert_stopped_before_trials(&run, &path, 2);
        assert!(run.stderr().contains(wanted), "case {i}: {}", run.stderr());
    }
    // Its stderr is the cause.
    let path = sb.dir.path().join("case0.toml");
    let run = sb.crashtest(&["run", path.to_str().unwrap()]);
    assert!(
        run.stderr()
            .contains("caused by: its stderr ends with: no config"),
        "{}",
        run.stderr()
    );
}

/// Mounts a 1 MiB file system for a test in `sb`, or says why it cannot.
fn small_fs(sb: &Sandbox) -> Option<SmallFs> {
    match SmallFs::mount(&sb.dir.path().join("small"), 1024) {
        Ok(fs) => Some(fs),
        Err(why) => {
            println!("skipped: no small file system can be mounted here: {why}");
            None
        }
    }
}

// See: issue 11
#[test]
fn r11_a_full_work_folder_is_a_harness_error_before_any_trial() {
    let sb = Sandbox::new();
    let Some(fs) = small_fs(&sb) else { return };
    let work = fs.dir.join("work");
    std::fs::create_dir(&work).unwrap();
    fs.fill(0);
    let path = sb.scenario(
        "smoke.toml",
        &std::fs::read_to_string(crate::support::root().join("scenarios/smoke.toml")).unwrap(),
    );
    let run = sb.crashtest_in(&work, &["run", path.to_str().unwrap()], |_| {});
    assert_stopped_before_trials(&run, &path, 3);
    let wanted = format!(
        "the file system of {} is full",
        work.canonicalize().unwrap().display()
    );
    assert!(run.stderr().contains(&wanted), "{}", run.stderr());
}

// See: issue 11
#[test]
fn r11_a_work_folder_that_fills_up_during_trials_is_a_harness_error_not_findings() {
    let sb = Sandbox::new();
    let Some(fs) = small_fs(&sb) else { return };
    let work = fs.dir.join("work");
    std::fs::create_dir(&work).unwrap();
    // Room for the check before the first trial, not for a trial's log (~1 MB).
    fs.fill(256 * 1024);
    let path = sb.scenario(
        "big.toml",
        "trials = 20\nrecords = 300\npayload = { min = 2000, max = 4000 }\n[target]\nbuiltin = \"crc\"\n[faults]\nkill = 1\n",
    );
    let run = sb.crashtest_in(&work, &["run", path.to_str().unwrap()], |_| {});
    let (stdout, stderr) = (run.stdout(), run.stderr());
    assert_eq!(run.code(), 3, "{stdout}{stderr}");
    assert!(stderr.contains("is full"), "{stderr}");
    assert!(!stdout.contains("FAIL"), "no finding printed: {stdout}");
    assert!(
        !path.with_extension("regressions").exists(),
        "no regression saved"
    );
}

// See: issue 11
#[test]
fn r11_a_refused_ptrace_is_a_harness_error_before_any_trial() {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};
    use std::os::unix::process::CommandExt;
    let sb = Sandbox::new();
    let path = sb.scenario(
        "smoke.toml",
        &std::fs::read_to_string(crate::support::root().join("scenarios/smoke.toml")).unwrap(),
    );
    // crashtest and its children get ptrace(2) refused with EPERM, as a container
    // without CAP_SYS_PTRACE or a strict seccomp profile does.
    let filter = SeccompFilter::new(
        [(libc::SYS_ptrace, vec![])].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        std::env::consts::ARCH.try_into().unwrap(),
    )
    .unwrap();
    let program: BpfProgram = filter.try_into().unwrap();
    let run = sb.crashtest_in(&sb.work(), &["run", path.to_str().unwrap()], |cmd| {
        // SAFETY: prctl and the seccomp syscall in apply_filter touch only `program`,
        // built before the fork; no lock is taken.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                seccompiler::apply_filter(&program)
                    .map_err(|e| std::io::Error::other(e.to_string()))
            });
        }
    });
    assert_stopped_before_trials(&run, &path, 3);
    assert!(
        run.stderr()
            .contains("under ptrace and seccomp: this machine refuses it"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("caused by: Operation not permitted"),
        "{}",
        run.stderr()
    );
}

// See: issue 11
#[test]
fn r11_a_replay_that_fails_on_a_full_file_system_is_a_harness_error_not_replay_failed() {
    let sb = Sandbox::new();
    let Some(fs) = small_fs(&sb) else { return };
    let work = fs.dir.join("work");
    std::fs::create_dir(&work).unwrap();
    // Given a record, the writer first fills the file system (one 2 MiB write), then acks;
    // the replay writes a note, and so fails whenever the crash left the file system full.
    let path = sb.scenario(
        "fill.toml",
        r#"
trials = 10
records = 3
[target]
writer = ["sh", "-c", "read -r l || exit 0; dd if=/dev/zero of=\"$CRASHTEST_DIR/pad\" bs=2M count=1 2>/dev/null; n=0; echo 0; n=1; while read -r l; do echo $n; n=$((n+1)); done"]
replay = ["sh", "-c", "echo repaired > \"$CRASHTEST_DIR/note\""]
durability = "none"
[faults]
kill = 1
"#,
    );
    let run = sb.crashtest_in(
        &work,
        &["run", path.to_str().unwrap(), "--jobs", "1"],
        |_| {},
    );
    let (stdout, stderr) = (run.stdout(), run.stderr());
    assert_eq!(run.code(), 3, "{stdout}{stderr}");
    let wanted = format!(
        "the file system of {} is full",
        work.canonicalize().unwrap().display()
    );
    assert!(stderr.contains(&wanted), "{stderr}");
    assert!(!stdout.contains("FAIL"), "no finding printed: {stdout}");
    assert!(
        !path.with_extension("regressions").exists(),
        "no regression saved"
    );
}

/// Issue 13, item 9: a writer reached through a wrapper (a version manager's shim runs a
/// dozen programs to find the interpreter, in every trial) is named once, with the program
/// it ends up running; a writer named directly gets no such note.
#[test]
fn a_writer_behind_a_wrapper_script_is_named_with_the_program_it_runs() {
    let sb = Sandbox::new();
    // The interpreter as the kernel runs it, through whatever PATH holds.
    let real = std::process::Command::new("python3")
        .args(["-c", "import os; print(os.path.realpath('/proc/self/exe'))"])
        .output()
        .expect("python3 on PATH");
    let real = String::from_utf8(real.stdout).unwrap().trim().to_owned();
    let bin = sb.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let shim = bin.join("python3");
    std::fs::write(
        &shim,
        format!("#!/bin/sh\nfor i in 1 2 3 4 5; do /bin/true; done\nexec {real} \"$@\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let example = crate::support::root().join("harness/targets/example_wal.py");
    let scenario = |name: &str, python: &str| {
        target(
            &sb,
            name,
            &format!(r#"["{python}", "{}", "write"]"#, example.display()),
            &format!(r#"["{python}", "{}", "replay"]"#, example.display()),
        )
    };
    let path = std::env::join_paths(
        std::iter::once(bin.clone())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let wrapped = scenario("wrapped.toml", "python3");
    let run = sb.crashtest_in(&sb.work(), &["run", wrapped.to_str().unwrap()], |cmd| {
        cmd.env("PATH", &path);
    });
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let notes: Vec<String> = run
        .stdout()
        .lines()
        .filter(|l| l.starts_with("note: the writer started"))
        .map(str::to_owned)
        .collect();
    assert_eq!(notes.len(), 1, "said once: {}", run.stdout());
    assert!(
        notes[0].contains(&format!("`{}`", shim.display()))
            && notes[0].contains(&format!("ends up running {real}:")),
        "names the wrapper and the program to use: {}",
        notes[0]
    );

    let direct = scenario("direct.toml", &real);
    let run = sb.crashtest(&["run", direct.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert!(
        !run.stdout().contains("note: the writer started"),
        "{}",
        run.stdout()
    );
}

/// Runs crashtest with `args` under a soft limit of `soft` and a hard limit of `hard` open
/// files.
fn crashtest_with_open_files(sb: &Sandbox, args: &[&str], soft: u64, hard: u64) -> Run {
    use std::os::unix::process::CommandExt;
    sb.crashtest_in(&sb.work(), args, |cmd| {
        // SAFETY: setrlimit is async-signal-safe and touches only a local rlimit.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    })
}

// See: issue 13
#[test]
fn r13_writers_beyond_crashtests_open_files_are_refused_naming_the_key_and_the_limit() {
    use crashtest::run::preflight::{FDS_PER_WRITER, FDS_RESERVED};
    let sb = Sandbox::new();
    // Under a hard limit of 1024 open files, crashtest holds this many writers.
    let most = (1024 - FDS_RESERVED) / FDS_PER_WRITER;
    let path = sb.scenario(
        "many.toml",
        &format!(
            "trials = 2\nrecords = 2\nwriters = {}\n[target]\nbuiltin = \"crc\"\n",
            most + 1
        ),
    );
    let run = crashtest_with_open_files(&sb, &["run", path.to_str().unwrap()], 1024, 1024);
    assert_stopped_before_trials(&run, &path, 2);
    assert!(
        run.stderr().contains(&format!(
            "writers = {} in {} is more than crashtest can run at once: each writer holds up to {FDS_PER_WRITER} open files in crashtest, and its limit of 1024 open files (RLIMIT_NOFILE) holds {most} writers",
            most + 1,
            path.display()
        )),
        "{}",
        run.stderr()
    );
    assert!(run.lines.is_empty(), "no results file: {:?}", run.lines);
}

// See: issue 13
#[test]
fn r13_the_most_writers_crashtest_holds_run_with_the_soft_limit_raised_and_fewer_jobs() {
    use crashtest::run::preflight::{FDS_PER_WRITER, FDS_RESERVED};
    let sb = Sandbox::new();
    let most = (1024 - FDS_RESERVED) / FDS_PER_WRITER;
    let path = sb.scenario(
        "many.toml",
        &format!(
            "trials = 2\nrecords = 2\nwriters = {most}\ntimeout = \"60s\"\n[target]\nbuiltin = \"crc\"\n"
        ),
    );
    // A soft limit of 256 holds the pipes of 85 writers at most: the run passes only
    // because crashtest raised it to the hard limit; and two trials at once do not fit.
    let run = crashtest_with_open_files(
        &sb,
        &["run", path.to_str().unwrap(), "--jobs", "2"],
        256,
        1024,
    );
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stdout().contains(&format!(
            "note: 1 trial(s) at once, not 2: that is what crashtest's open files hold with {most} writers a trial"
        )),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains(", 1 jobs, expect pass"),
        "{}",
        run.stdout()
    );
    assert_eq!(run.summary()["trials"], 2, "{}", run.summary());
}
