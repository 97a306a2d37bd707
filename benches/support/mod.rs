//! What both benchmarks need: the release `crashtest` binary, and the machine in words.

use std::path::{Path, PathBuf};

/// The `crashtest` binary to run as writer and replay: the one cargo built alongside the
/// bench (cargo builds bin targets for benches and names them in `CARGO_BIN_EXE_<name>`),
/// else `release/crashtest` under `CARGO_TARGET_DIR` or the package's `target`.
pub fn crashtest_exe(root: &Path) -> Result<PathBuf, String> {
    let exe = match option_env!("CARGO_BIN_EXE_crashtest") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|t| if t.is_relative() { root.join(t) } else { t })
            .unwrap_or_else(|| root.join("target"))
            .join("release")
            .join("crashtest"),
    };
    if exe.is_file() {
        Ok(exe)
    } else {
        Err(format!(
            "the crashtest binary is missing at {}: run `cargo build --release` first",
            exe.display()
        ))
    }
}

/// The CPU model, the core counts and the kernel, for reading the figures.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let online = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let usable = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "machine: {model}, {online} logical CPUs ({usable} usable by this process), Linux {}",
        kernel.trim()
    )
}

/// The kind of filesystem `dir` is on: the writer's fdatasync costs what this one makes it.
pub fn filesystem(dir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return "unknown filesystem".to_owned();
    };
    // SAFETY: statfs is plain old data, for which all zeroes is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated and st is a valid statfs to write into.
    if unsafe { libc::statfs(path.as_ptr(), &mut st) } != 0 {
        return "unknown filesystem".to_owned();
    }
    match st.f_type as u64 {
        0x0102_1994 => "tmpfs".to_owned(),
        0xef53 => "ext2/3/4".to_owned(),
        0x5846_5342 => "xfs".to_owned(),
        0x9123_683e => "btrfs".to_owned(),
        0x794c_7630 => "overlayfs".to_owned(),
        0x2fc1_2fc1 => "zfs".to_owned(),
        other => format!("filesystem magic {other:#x}"),
    }
}
