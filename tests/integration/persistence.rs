//! Issue 12: power-loss verdicts that hold on the file system the user runs. The write log
//! holds what happened (where concurrent appends landed, no failed call), a scenario
//! chooses the persistence profile, and what the log cannot rebuild is judged as a kill.

use crate::support::{self, Sandbox};

/// A scenario named `name` in the sandbox: its `writer` and `replay` argv, `settings`
/// (seed, trials, records, ...: top-level lines) and `tables` (`[faults]`, `[checks]`);
/// durability "fsync" on `wal.log`, expect pass. Returns its path.
fn scenario(
    sb: &Sandbox,
    name: &str,
    (writer, replay): (&[&str], &[&str]),
    settings: &str,
    tables: &str,
) -> String {
    let writers: u32 = settings
        .lines()
        .find_map(|l| l.strip_prefix("writers = "))
        .map_or(1, |n| n.parse().unwrap());
    let text = format!(
        "name = \"{name}\"\n{settings}\ntimeout = \"10s\"\nexpect = \"pass\"\n\n\
         [target]\nwriter = {writer:?}\nreplay = {replay:?}\ndurability = \"fsync\"\n\
         files = [\"wal.log\"]\nmax_writers = {writers}\n\n{tables}\n"
    );
    let path = sb.scenario(&format!("{name}.toml"), &text);
    path.to_str().unwrap().to_owned()
}

/// `harness/targets/example_wal.py` (one `O_APPEND` write and an fsync per record, no
/// lock) under `faults`, with `writers` writers and the given `persistence`.
fn example_scenario(sb: &Sandbox, writers: u32, persistence: &str, faults: &str) -> String {
    let script = support::root().join("harness/targets/example_wal.py");
    let script = script.to_str().unwrap();
    scenario(
        sb,
        &format!("example-{writers}-{persistence}"),
        (
            &["python3", script, "write"],
            &["python3", script, "replay"],
        ),
        &format!(
            "seed = 3\ntrials = 80\nrecords = 12\nwriters = {writers}\ncrash = \"all\"\n\
             payload = {{ min = 0, max = 200 }}"
        ),
        &format!("[faults]\npersistence = \"{persistence}\"\n{faults}"),
    )
}

/// Two writer processes append to one log with `O_APPEND` and no lock: correct on Linux.
/// The power-loss states are rebuilt from where each append landed (known at its
/// return), so no profile finds anything; before, a quarter of the trials reported
/// `lost-ack` with "kept 0 of 0 unsynced writes".
#[test]
fn two_unlocked_o_append_writers_pass_power_loss_under_every_profile() {
    let sb = Sandbox::new().with_real_python3();
    for profile in ["posix", "ext4-ordered"] {
        let scenario = example_scenario(&sb, 2, profile, "power-loss = 1");
        let run = sb.crashtest(&["run", &scenario, "--no-regressions"]);
        assert_eq!(run.code(), 0, "{profile}: {}{}", run.stdout(), run.stderr());
        let summary = run.summary();
        assert_eq!(summary["failed"], 0, "{profile}: {summary}");
        assert_eq!(summary["faults"]["power-loss"], 80, "{profile}: {summary}");
    }
}

/// A log whose file is fsynced but whose folder never is (`no_dir_fsync.py`): under
/// `posix` a power loss can take the file's name, and the finding says what the program
/// relied on and that ext4-ordered keeps it; under `ext4-ordered` the file's fsync commits
/// the journal with its name, and the same trials pass.
#[test]
fn a_file_synced_without_its_folder_fails_under_posix_and_passes_under_ext4_ordered() {
    let sb = Sandbox::new().with_real_python3();
    let shipped =
        std::fs::read_to_string(support::root().join("harness/targets/broken/no_dir_fsync.toml"))
            .unwrap()
            .replace(
                "\"no_dir_fsync.py\"",
                &format!(
                    "{:?}",
                    support::root().join("harness/targets/broken/no_dir_fsync.py")
                ),
            );
    let posix = sb.scenario("posix.toml", &shipped);
    let run = sb.crashtest(&["run", posix.to_str().unwrap(), "--no-regressions"]);
    assert_eq!(
        run.code(),
        0,
        "expect = fail is met: {}{}",
        run.stdout(),
        run.stderr()
    );
    let finding = run
        .findings()
        .into_iter()
        .find(|f| f["judgement"]["violation"]["class"] == "lost-ack")
        .cloned()
        .unwrap_or_else(|| panic!("a lost ack: {}", run.stdout()));
    let power = &finding["damage"];
    assert_eq!(power["profile"], "posix", "{finding}");
    assert!(
        power["relied_on"].to_string().contains(
            "`create wal.log` was never synced: fsync its folder after it; ext4-ordered keeps it"
        ),
        "{finding}"
    );
    assert!(
        run.stdout().contains("power loss (posix)") && run.stdout().contains("relied on: "),
        "{}",
        run.stdout()
    );
    let ext4 = sb.scenario(
        "ext4.toml",
        &shipped
            .replace("expect = \"fail\"", "expect = \"pass\"")
            .replace("[faults]", "[faults]\npersistence = \"ext4-ordered\""),
    );
    let run = sb.crashtest(&["run", ext4.to_str().unwrap(), "--no-regressions"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert_eq!(run.summary()["failed"], 0, "{}", run.summary());
}

/// A profile the model does not have is refused with the choices, at its line.
#[test]
fn an_unknown_persistence_profile_is_refused_at_its_line() {
    let sb = Sandbox::new();
    let scenario = sb.scenario(
        "xfs.toml",
        "name = \"x\"\ntrials = 1\nrecords = 1\npayload = { max = 8 }\n[target]\nbuiltin = \"crc\"\n[faults]\npower-loss = 1\npersistence = \"xfs\"\n",
    );
    let run = sb.crashtest(&["run", scenario.to_str().unwrap()]);
    assert_eq!(run.code(), 2, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stderr().contains("line 9") && run.stderr().contains("ext4-ordered"),
        "{}",
        run.stderr()
    );
}

/// A writer that preallocates its log (`posix_fallocate`, then `ftruncate` to grow it
/// further) and writes records in place: the log models both, so power-loss trials are
/// judged from the log, and pass. The writer is example_wal.py's format with a size
/// header, written by a few lines of Python here.
#[test]
fn a_preallocating_writer_is_judged_right_under_power_loss() {
    let sb = Sandbox::new().with_real_python3();
    let writer = sb.scenario(
        "prealloc.py",
        r#"import os, struct, sys, zlib
H = struct.Struct("<II")
path = os.path.join(os.environ["CRASHTEST_DIR"], "wal.log")
def crc(p): return zlib.crc32(struct.pack("<I", len(p)) + p) ^ 0x5A5A5A5A
if sys.argv[1] == "write":
    fresh = not os.path.exists(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    if fresh:
        d = os.open(os.environ["CRASHTEST_DIR"], os.O_RDONLY); os.fsync(d); os.close(d)
    data = os.pread(fd, os.fstat(fd).st_size, 0)
    off = 0
    while off + 8 <= len(data):
        n, c = H.unpack_from(data, off)
        p = data[off + 8 : off + 8 + n]
        if len(p) < n or crc(p) != c: break
        off += 8 + n
    size = os.fstat(fd).st_size
    for i, line in enumerate(sys.stdin):
        p = bytes.fromhex(line.strip())
        if off + 8 + len(p) > size:
            if i % 2 == 0:
                os.posix_fallocate(fd, 0, off + 4096 + len(p))
            else:
                os.ftruncate(fd, off + 4096 + len(p))
            size = os.fstat(fd).st_size
            os.fsync(fd)
        os.pwrite(fd, H.pack(len(p), crc(p)) + p, off)
        os.fdatasync(fd)
        off += 8 + len(p)
        print(i, flush=True)
else:
    try: data = open(path, "rb").read()
    except FileNotFoundError: sys.exit(0)
    off = 0
    while off + 8 <= len(data):
        n, c = H.unpack_from(data, off)
        p = data[off + 8 : off + 8 + n]
        if len(p) < n or crc(p) != c: break
        print(p.hex()); off += 8 + n
"#,
    );
    let writer = writer.to_str().unwrap();
    let scenario = scenario(
        &sb,
        "prealloc",
        (
            &["python3", writer, "write"],
            &["python3", writer, "replay"],
        ),
        "seed = 5\ntrials = 60\nrecords = 10\npayload = { min = 100, max = 3000 }",
        "[faults]\npower-loss = 1",
    );
    let run = sb.crashtest(&["run", &scenario, "--no-regressions"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert_eq!(run.summary()["failed"], 0, "{}", run.summary());
    assert!(
        !run.stdout().contains("judged as kills"),
        "fallocate and ftruncate are modelled: {}",
        run.stdout()
    );
}

/// A correct log that writes and fsyncs through io_uring (`examples/uring_wal.rs`): the
/// tracer sees none of its writes. Its power-loss trials are judged as the kills they
/// were, said once, never a false alarm.
#[test]
fn an_io_uring_writer_gets_no_false_alarm() {
    let sb = Sandbox::new();
    // Built here: `cargo test --test integration` does not build the examples.
    let built = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["build", "--example", "uring_wal"])
        .current_dir(support::root())
        .output()
        .expect("cargo runs");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let exe = std::env::current_exe().unwrap();
    let wal = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples/uring_wal");
    assert!(wal.exists(), "{}", wal.display());
    let wal = wal.to_str().unwrap();
    let scenario = scenario(
        &sb,
        "uring",
        (&[wal, "write"], &[wal, "replay"]),
        "seed = 1\ntrials = 60\nrecords = 8\npayload = { min = 0, max = 256 }",
        "[checks]\nresume = true\n\n[faults]\nkill = 1\npower-loss = 2",
    );
    let run = sb.crashtest(&["run", &scenario, "--no-regressions"]);
    if run.stderr().contains("io_uring") && run.code() != 0 {
        panic!("io_uring refused here? {}", run.stderr());
    }
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    assert_eq!(run.summary()["failed"], 0, "{}", run.summary());
    assert!(
        run.stdout()
            .contains("power-loss trial(s) were judged as kills, since the write log cannot rebuild the folder: the writer set up io_uring"),
        "{}",
        run.stdout()
    );
}
