//! The scenario file: what to run, how often, and which faults to inject.
//!
//! A scenario is TOML. It is read in two steps, as ripgrep turns `LowArgs` into `HiArgs`:
//! serde fills private raw structs that mirror the file, and [`Scenario::parse`] turns them
//! into the validated [`Scenario`] that the rest of crashtest uses.
//!
//! Why most checks run *inside* deserialization (`#[serde(try_from = ...)]`, small custom
//! `Deserialize`s): an error raised while toml deserializes a value gets that value's span,
//! so toml itself renders "TOML parse error at line N, column M" with a caret under the
//! offending text. Only checks that span tables (`writers` against the target's
//! `max_writers`) run afterwards; they keep the value's span through [`toml::Spanned`] and
//! report `path:line:column` themselves ([`ScenarioError::Invalid`]).
//!
//! A complete scenario:
//!
//! ```toml
//! name = "smoke"
//! description = "crc WAL under kill and truncation"
//! seed = 1
//! trials = 200
//! records = 20
//! payload = { min = 0, max = 256 }
//! writers = 1
//! timeout = "10s"
//! expect = "pass"
//!
//! [target]
//! builtin = "crc"
//!
//! [faults]
//! kill = 1
//! truncate = 1
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::errors::ScenarioError;
use crate::process::Limits;
use crate::protocol::Durability;
use crate::seed::Seed;
use crate::target::{TargetKind, TargetSpec};
use crate::tracer::KillScope;
use crate::wal::BuiltinWal;

/// The largest payload a scenario may ask for: 16 MiB.
pub const MAX_PAYLOAD: u32 = 16 * 1024 * 1024;

/// The largest scenario file read: 1 MiB, hundreds of times the longest one shipped. A
/// path to something endless (`/dev/zero`) or huge is refused rather than read.
pub const MAX_SCENARIO_BYTES: u64 = 1 << 20;

/// A validated scenario: the plan one `crashtest run` carries out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The scenario file, as the user gave it.
    pub path: PathBuf,
    /// `name = "smoke"`: optional; default: the file's stem (`smoke` for `smoke.toml`).
    pub name: String,
    /// `description = "crc WAL under kill and truncation"`: optional, free text.
    pub description: Option<String>,
    /// `seed = 1`: the run seed, an integer in `0..=9223372036854775807` (TOML integers are
    /// signed 64-bit); default 0. Every trial's randomness derives from it.
    pub seed: Seed,
    /// `trials = 200`: how many trials to run, at least 1; default 100.
    pub trials: u64,
    /// `records = 20`: records each writer appends per trial, 0 allowed; default 20.
    pub records: u32,
    /// `payload = { min = 0, max = 256 }`: payload sizes in bytes, both ends included;
    /// `min` defaults to 0, `max` is required in the table, `min <= max <= 16 MiB`
    /// (16777216). Default `{ min = 0, max = 128 }`.
    pub payload: SizeRange,
    /// `writers = 1`: writers appending at once to the same folder, at least 1 and at most the
    /// target's `max_writers`; default 1.
    pub writers: u32,
    /// `timeout = "10s"`: time limit of each writer and replay run in a trial, in humantime
    /// syntax (`"500ms"`, `"1m 30s"`), more than zero; default `"10s"`.
    pub timeout: Duration,
    /// `crash = "all"`: with several writers, whom a kill takes: `"all"` (every writer at
    /// one boundary: the machine died) or `"one"` (the writer that reached the boundary;
    /// the others run to their end: a process died). Default `"all"`.
    pub crash: KillScope,
    /// `expect = "pass"`: `"pass"` or `"fail"`; default `"pass"`. A shipped scenario that
    /// holds a known bug says `"fail"`: crashtest must find a violation.
    pub expect: Expect,
    /// The `[target]` table (required): either `builtin = "NAME"` or an external program
    /// (`writer`, `replay`, `durability`, optional `files` and `max_writers`); see
    /// `target-protocol.md`. Resolved here: a built-in's durability, files and writer limit
    /// are filled in, and `cwd` is the scenario file's folder, made absolute.
    pub target: TargetSpec,
    /// The `[limits]` table: resource limits of every target process. `address-space`
    /// (default "4GiB"), `file-size` ("1GiB"), `cpu` ("300s"), `open-files` (1024),
    /// `processes` ("unlimited"); each may be "unlimited".
    pub limits: Limits,
    /// `budget = "90s"`: stop starting trials after this long (`--budget` overrides it);
    /// default none.
    pub budget: Option<Duration>,
    /// The `[checks]` table: stable recovery (default on), resume, crash during recovery.
    pub checks: Checks,
    /// `sector = 512`: the granularity of torn writes, of a power loss's torn write and of a
    /// zeroed sector: a power of two, 1 for any byte; default 512.
    pub sector: u64,
    /// The `[faults]` table: how often each fault kind is chosen.
    pub faults: FaultWeights,
}

/// A range of sizes in bytes, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSizeRange")]
pub struct SizeRange {
    /// `min = 0`: the smallest size; optional, default 0.
    pub min: u32,
    /// `max = 256`: the largest size, at least `min` and at most 16 MiB.
    pub max: u32,
}

impl Default for SizeRange {
    fn default() -> Self {
        SizeRange { min: 0, max: 128 }
    }
}

/// What a scenario says crashtest should conclude.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// No trial may find a violation (the target is believed correct).
    #[default]
    Pass,
    /// Some trial must find a violation (the target holds a known bug).
    Fail,
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expect::Pass => "pass",
            Expect::Fail => "fail",
        })
    }
}

/// The `[faults]` table: the weight of each fault kind, non-negative integers of which at
/// least one is above 0. A kind left out of the table weighs 0; without a `[faults]` table,
/// `kill = 1` and nothing else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawFaults")]
pub struct FaultWeights {
    /// `kill = 1`: SIGKILL the writer at a syscall boundary; the files stay as the kernel
    /// has them.
    pub kill: u32,
    /// `truncate = 1`: after the kill, truncate one file matching the target's `files` at a
    /// random offset.
    pub truncate: u32,
    /// `torn = 1`: at a write boundary, let only the first bytes of the write happen (up to
    /// a `sector` boundary of the file), let it return, then SIGKILL.
    pub torn: u32,
    /// `zero-tail = 1`: after the kill, append zeros to a file or overwrite its last bytes
    /// with zeros: a size that reached the disk before its data.
    pub zero_tail: u32,
    /// `garbage-tail = 1`: the same with random bytes.
    pub garbage_tail: u32,
    /// `power-loss = 1`: rebuild the folder as a power loss at the kill would leave it:
    /// each file as of its last sync plus some later writes, names as of their folder's
    /// last sync plus some later changes.
    pub power_loss: u32,
    /// `bit-flip = 1`: flip one bit, or zero one `sector`, inside a file. Judged for safety
    /// only: recovery may stop there but must not return a corrupted record.
    pub bit_flip: u32,
    /// `persistence = "ext4-ordered"`: the file system whose promises a power loss keeps;
    /// default `"posix"`.
    pub persistence: Persistence,
}

/// Which file system's promises a power loss follows: `[faults] persistence`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Persistence {
    /// The weakest reading of POSIX: only what was fsynced survives, names only through an
    /// fsync of their folder (`faults::power`, rules 1 to 6).
    #[default]
    Posix,
    /// Linux ext4 mounted `data=ordered` (its default), with `auto_da_alloc` (also the
    /// default): `faults::power`, rules E1 to E5.
    Ext4Ordered,
}

impl std::fmt::Display for Persistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Persistence::Posix => "posix",
            Persistence::Ext4Ordered => "ext4-ordered",
        })
    }
}

/// The `[checks]` table: the oracle's checks beyond one replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Checks {
    /// `stable = true`: replay twice; the second must return the same records. Default on.
    pub stable: bool,
    /// `resume = true`: after recovery, start a writer with new records on the same
    /// folder, then replay: the recovered prefix followed by every new acked record must
    /// come back. Default off.
    pub resume: bool,
    /// `recovery-crash = true`: trace the replay, kill it at one of its own boundaries,
    /// then replay again: the result must still hold everything the crash could not
    /// excuse. Default off.
    pub recovery_crash: bool,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            stable: true,
            resume: false,
            recovery_crash: false,
        }
    }
}

impl Scenario {
    /// Reads and validates the scenario at `path`. A file that is not UTF-8 is refused
    /// with the line and column of its first bad byte, like any other bad input. Only a
    /// regular file of at most [`MAX_SCENARIO_BYTES`] is read: a FIFO, a device or a
    /// folder is refused before any read (a FIFO without a writer would block the open,
    /// `/dev/zero` never ends), and so is a larger file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let bytes = read_bounded(path)?;
        match std::str::from_utf8(&bytes) {
            Ok(text) => Scenario::parse(text, path),
            Err(e) => {
                let good = &bytes[..e.valid_up_to()];
                let (line, column) =
                    line_column(std::str::from_utf8(good).unwrap_or_default(), good.len());
                Err(ScenarioError::Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message: format!(
                        "byte 0x{:02x} is not UTF-8: a scenario is a UTF-8 text file (TOML)",
                        bytes[e.valid_up_to()]
                    ),
                })
            }
        }
    }

    /// Validates scenario `text`, which was read from `path` (used in errors, for the default
    /// name and for the target's working folder; it is not read).
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let raw: RawScenario = toml::from_str(text).map_err(|source| ScenarioError::Parse {
            path: path.to_path_buf(),
            source,
        })?;

        // The one check across tables: `writers` against the target's limit. The default
        // (1) never exceeds a limit (>= 1), so only a written `writers` can fail, and its
        // span says where.
        let writers = raw.writers.as_ref().map_or(1, |w| *w.get_ref());
        if let (Some(spanned), Some(max)) = (&raw.writers, raw.target.max_writers)
            && writers > max
        {
            let (line, column) = line_column(text, spanned.span().start);
            return Err(ScenarioError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message: format!(
                    "writers = {writers} is more than the target allows: [target] max_writers = {max}"
                ),
            });
        }

        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let cwd = std::path::absolute(folder).map_err(|source| ScenarioError::Folder {
            path: path.to_path_buf(),
            source,
        })?;

        let name = raw.name.unwrap_or_else(|| match path.file_stem() {
            Some(stem) => stem.to_string_lossy().into_owned(),
            None => "scenario".to_owned(),
        });

        Ok(Scenario {
            path: path.to_path_buf(),
            name,
            description: raw.description,
            seed: raw.seed.unwrap_or(Seed(0)),
            trials: raw.trials,
            records: raw.records,
            payload: raw.payload,
            writers,
            timeout: raw.timeout,
            expect: raw.expect,
            crash: raw.crash,
            target: TargetSpec {
                kind: raw.target.kind,
                durability: raw.target.durability,
                files: raw.target.files,
                max_writers: raw.target.max_writers,
                cwd,
            },
            faults: raw.faults,
            checks: raw.checks,
            sector: raw.sector,
            budget: raw.budget,
            limits: raw.limits.resolve(),
        })
    }
}

/// The bytes of the regular file at `path`, at most [`MAX_SCENARIO_BYTES`] of them.
fn read_bounded(path: &Path) -> Result<Vec<u8>, ScenarioError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let failed = |source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    };
    // O_NONBLOCK: opening a FIFO no one writes to returns at once instead of waiting; it is
    // then refused as not a file. It changes nothing for a regular file.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(failed)?;
    let kind = file.metadata().map_err(failed)?.file_type();
    let what = if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    };
    if let Some(what) = what {
        return Err(ScenarioError::NotAFile {
            path: path.to_path_buf(),
            what,
        });
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(&file, MAX_SCENARIO_BYTES + 1),
        &mut bytes,
    )
    .map_err(failed)?;
    if bytes.len() as u64 > MAX_SCENARIO_BYTES {
        return Err(ScenarioError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_SCENARIO_BYTES,
        });
    }
    Ok(bytes)
}

/// 1-based line and column (in characters) of byte `offset` in `text`, counted the way
/// toml counts them in its own messages.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

// ---- raw input: the file as written, checked value by value ----

/// The top level of the file, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default, deserialize_with = "name")]
    name: Option<String>,
    description: Option<String>,
    seed: Option<Seed>,
    #[serde(default = "default_trials", deserialize_with = "trials")]
    trials: u64,
    #[serde(default = "default_records")]
    records: u32,
    #[serde(default, deserialize_with = "table")]
    payload: SizeRange,
    #[serde(default, deserialize_with = "writers")]
    writers: Option<Spanned<u32>>,
    #[serde(default = "default_timeout", deserialize_with = "timeout")]
    timeout: Duration,
    #[serde(default)]
    expect: Expect,
    #[serde(default)]
    crash: KillScope,
    #[serde(deserialize_with = "table")]
    target: TargetTable,
    #[serde(default = "default_faults", deserialize_with = "table")]
    faults: FaultWeights,
    #[serde(default, deserialize_with = "table")]
    checks: Checks,
    #[serde(default = "default_sector", deserialize_with = "sector")]
    sector: u64,
    #[serde(default, deserialize_with = "budget")]
    budget: Option<Duration>,
    #[serde(default)]
    limits: RawLimits,
}

/// The `[limits]` table, as written: each a number, a size or duration string, or
/// "unlimited"; a key left out keeps its default.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLimits {
    #[serde(default, deserialize_with = "limit_bytes")]
    address_space: Option<Option<u64>>,
    #[serde(default, deserialize_with = "limit_bytes")]
    file_size: Option<Option<u64>>,
    #[serde(default, deserialize_with = "limit_seconds")]
    cpu: Option<Option<u64>>,
    #[serde(default, deserialize_with = "limit_count")]
    open_files: Option<Option<u64>>,
    #[serde(default, deserialize_with = "limit_count")]
    processes: Option<Option<u64>>,
}

impl RawLimits {
    fn resolve(self) -> Limits {
        let d = Limits::default();
        Limits {
            address_space: self.address_space.unwrap_or(d.address_space),
            file_size: self.file_size.unwrap_or(d.file_size),
            cpu_seconds: self.cpu.unwrap_or(d.cpu_seconds),
            open_files: self.open_files.unwrap_or(d.open_files),
            processes: self.processes.unwrap_or(d.processes),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(i64),
    Text(String),
}

/// A limit: `Some(None)` is "unlimited".
fn limit_with<'de, D: Deserializer<'de>>(
    d: D,
    what: &str,
    text: impl Fn(&str) -> Option<u64>,
) -> Result<Option<Option<u64>>, D::Error> {
    match NumberOrText::deserialize(d)? {
        NumberOrText::Number(n) if n > 0 => Ok(Some(Some(n as u64))),
        NumberOrText::Number(n) => Err(de::Error::custom(format!(
            "{what} = {n}: a limit is above 0, or \"unlimited\""
        ))),
        NumberOrText::Text(t) if t == "unlimited" => Ok(Some(None)),
        NumberOrText::Text(t) => text(&t)
            .filter(|&n| n > 0)
            .map(|n| Some(Some(n)))
            .ok_or_else(|| {
                de::Error::custom(format!(
                    "{what} '{t}' is not a limit: write e.g. {}, or \"unlimited\"",
                    match what {
                        "cpu" => "\"60s\"",
                        "open-files" | "processes" => "1024",
                        _ => "\"4GiB\" or \"512MiB\"",
                    }
                ))
            }),
    }
}

fn limit_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    limit_with(d, "size", parse_size)
}

fn limit_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    limit_with(d, "cpu", |t| {
        humantime::parse_duration(t)
            .ok()
            .map(|d| d.as_secs().max(1))
    })
}

fn limit_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    limit_with(d, "open-files", |t| t.parse().ok())
}

/// "4GiB", "512MiB", "64KiB", "1000" (bytes); K/M/G/T are powers of 1024.
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..digits].parse().ok()?;
    let shift = match t[digits..].trim() {
        "" | "B" => 0,
        "K" | "KB" | "KiB" => 10,
        "M" | "MB" | "MiB" => 20,
        "G" | "GB" | "GiB" => 30,
        "T" | "TB" | "TiB" => 40,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

/// A struct read from a table only. serde's derived structs also take an array, by
/// position, so without this `payload = [0, 256]` or `faults = [1, 2]` were accepted
/// and `[[target]]` was refused with "invalid type: map, expected a string".
fn table<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    struct TableVisitor<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for TableVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table (`[name]` or `{ key = value, ... }`), not an array")
        }

        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }

    d.deserialize_map(TableVisitor(std::marker::PhantomData))
}

fn budget<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    match humantime::parse_duration(&text) {
        Ok(b) if b.is_zero() => Err(de::Error::custom(format!(
            "budget '{text}' runs no trial; give a time above 0, like \"90s\""
        ))),
        Ok(b) => Ok(Some(b)),
        Err(e) => Err(de::Error::custom(format!(
            "budget '{text}' is not a duration ({e}); write it like \"90s\" or \"5m\""
        ))),
    }
}

/// `name`: it names the results files, so it is a file name: not empty, no `/`, no NUL,
/// not `.` or `..`.
fn name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let name = String::deserialize(d)?;
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(de::Error::custom(format!(
            "name {name:?} names the results files, so it must be a file name: no '/', not empty, '.' or '..'"
        )));
    }
    Ok(Some(name))
}

fn default_faults() -> FaultWeights {
    FaultWeights {
        kill: 1,
        ..FaultWeights::default()
    }
}

fn default_sector() -> u64 {
    512
}

fn sector<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if !n.is_power_of_two() || n > 1 << 16 {
        return Err(de::Error::custom(format!(
            "sector = {n}: a sector is a power of two from 1 (any byte) to 65536, e.g. 512 or 4096"
        )));
    }
    Ok(n)
}

fn default_trials() -> u64 {
    100
}

fn default_records() -> u32 {
    20
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn trials<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if n == 0 {
        return Err(de::Error::custom("trials must be at least 1"));
    }
    Ok(n)
}

fn writers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Spanned<u32>>, D::Error> {
    let n = Spanned::<u32>::deserialize(d)?;
    if *n.get_ref() == 0 {
        return Err(de::Error::custom("writers must be at least 1"));
    }
    Ok(Some(n))
}

fn timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct TimeoutVisitor;

    impl Visitor<'_> for TimeoutVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(r#"a duration in a string, such as "10s", "500ms" or "1m 30s""#)
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
            let d = humantime::parse_duration(s).map_err(|e| {
                E::custom(format!(
                    r#"timeout '{s}' is not a duration ({e}); write it like "10s", "500ms" or "1m 30s""#
                ))
            })?;
            if d.is_zero() {
                return Err(E::custom(format!("timeout '{s}' must be more than zero")));
            }
            Ok(d)
        }
    }

    d.deserialize_str(TimeoutVisitor)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSizeRange {
    #[serde(default)]
    min: u32,
    max: u32,
}

impl TryFrom<RawSizeRange> for SizeRange {
    type Error = String;

    fn try_from(raw: RawSizeRange) -> Result<Self, String> {
        let RawSizeRange { min, max } = raw;
        if min > max {
            return Err(format!("payload min = {min} is more than max = {max}"));
        }
        if max > MAX_PAYLOAD {
            return Err(format!(
                "payload max = {max} is more than 16 MiB ({MAX_PAYLOAD} bytes)"
            ));
        }
        Ok(SizeRange { min, max })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFaults {
    #[serde(default)]
    kill: u32,
    #[serde(default)]
    truncate: u32,
    #[serde(default)]
    torn: u32,
    #[serde(default)]
    zero_tail: u32,
    #[serde(default)]
    garbage_tail: u32,
    #[serde(default)]
    power_loss: u32,
    #[serde(default)]
    bit_flip: u32,
    #[serde(default)]
    persistence: Persistence,
}

impl TryFrom<RawFaults> for FaultWeights {
    type Error = &'static str;

    fn try_from(raw: RawFaults) -> Result<Self, Self::Error> {
        let RawFaults {
            kill,
            truncate,
            torn,
            zero_tail,
            garbage_tail,
            power_loss,
            bit_flip,
            persistence,
        } = raw;
        let w = FaultWeights {
            kill,
            truncate,
            torn,
            zero_tail,
            garbage_tail,
            power_loss,
            bit_flip,
            persistence,
        };
        if w == (FaultWeights {
            persistence,
            ..FaultWeights::default()
        }) {
            return Err(
                "every fault weight is 0: give at least one of kill, truncate, torn, zero-tail, \
                        garbage-tail, power-loss, bit-flip a weight above 0",
            );
        }
        Ok(w)
    }
}

/// The `[target]` table, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    #[serde(default, deserialize_with = "builtin")]
    builtin: Option<BuiltinWal>,
    writer: Option<Argv>,
    replay: Option<Argv>,
    durability: Option<Durability>,
    files: Option<Vec<FileGlob>>,
    #[serde(default, deserialize_with = "max_writers")]
    max_writers: Option<u32>,
}

/// The `[target]` table once its keys agree with each other; `cwd` is added by
/// [`Scenario::parse`], which knows the file's path.
#[derive(Deserialize)]
#[serde(try_from = "RawTarget")]
struct TargetTable {
    kind: TargetKind,
    durability: Durability,
    files: Vec<String>,
    max_writers: Option<u32>,
}

fn builtin<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BuiltinWal>, D::Error> {
    let name = String::deserialize(d)?;
    name.parse().map(Some).map_err(de::Error::custom)
}

fn max_writers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let n = u32::deserialize(d)?;
    if n == 0 {
        return Err(de::Error::custom("max_writers must be at least 1"));
    }
    Ok(Some(n))
}

impl TryFrom<RawTarget> for TargetTable {
    type Error = String;

    fn try_from(raw: RawTarget) -> Result<Self, String> {
        match raw {
            RawTarget {
                builtin: Some(wal),
                writer,
                replay,
                durability,
                files,
                max_writers,
            } => {
                if writer.is_some() || replay.is_some() {
                    return Err(format!(
                        "[target] has both builtin = \"{wal}\" and writer/replay: give either a built-in WAL or an external writer + replay, not both"
                    ));
                }
                let own = wal.durability();
                if durability.is_some() {
                    return Err(format!(
                        "[target] durability cannot be set for the built-in WAL {wal}: it promises {own}"
                    ));
                }
                if files.is_some() {
                    return Err(format!(
                        "[target] files cannot be set for the built-in WAL {wal}: it keeps its log in {}",
                        wal.file()
                    ));
                }
                if max_writers.is_some() {
                    return Err(format!(
                        "[target] max_writers cannot be set for the built-in WAL {wal}: it knows its own limit"
                    ));
                }
                Ok(TargetTable {
                    kind: TargetKind::Builtin(wal),
                    durability: own,
                    files: vec![wal.file().to_owned()],
                    // Every built-in takes any number of writers: crc serialises its appends
                    // and its cut-on-open with a lock, and the specimens' concurrent appends
                    // are what gets caught.
                    max_writers: None,
                })
            }
            RawTarget {
                builtin: None,
                writer: Some(Argv(writer)),
                replay: Some(Argv(replay)),
                durability,
                files,
                max_writers,
            } => {
                let durability = durability.ok_or(
                    "[target] durability is required for an external target: \"process\", \"fsync\" or \"none\"",
                )?;
                let files = match files {
                    Some(globs) => globs.into_iter().map(|FileGlob(g)| g).collect(),
                    None => vec!["**".to_owned()],
                };
                Ok(TargetTable {
                    kind: TargetKind::Command { writer, replay },
                    durability,
                    files,
                    max_writers,
                })
            }
            RawTarget {
                builtin: None,
                writer: Some(_),
                replay: None,
                ..
            } => Err("[target] has writer but no replay: an external target needs both".into()),
            RawTarget {
                builtin: None,
                writer: None,
                replay: Some(_),
                ..
            } => Err("[target] has replay but no writer: an external target needs both".into()),
            RawTarget {
                builtin: None,
                writer: None,
                replay: None,
                ..
            } => Err(format!(
                "[target] needs either builtin = \"NAME\" (one of: {}) or writer = [...] and replay = [...]",
                builtin_names()
            )),
        }
    }
}

fn builtin_names() -> String {
    let names: Vec<_> = BuiltinWal::ALL.iter().map(|w| w.name()).collect();
    names.join(", ")
}

/// A command line: a non-empty list of strings whose program is not empty.
#[derive(Deserialize)]
#[serde(try_from = "Vec<String>")]
struct Argv(Vec<String>);

impl TryFrom<Vec<String>> for Argv {
    type Error = &'static str;

    fn try_from(argv: Vec<String>) -> Result<Self, Self::Error> {
        match argv.first() {
            None => Err(
                r#"a command must not be empty: give the program and its arguments, e.g. ["python3", "target.py", "write"]"#,
            ),
            Some(program) if program.is_empty() => {
                Err("a command's program (its first element) must not be empty")
            }
            Some(_) => Ok(Argv(argv)),
        }
    }
}

/// A glob that `globset` compiles. Checked in a visitor rather than with `try_from`, so
/// that the error is raised while toml is inside the array element and points at it.
struct FileGlob(String);

impl<'de> Deserialize<'de> for FileGlob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct GlobVisitor;

        impl Visitor<'_> for GlobVisitor {
            type Value = FileGlob;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a glob relative to CRASHTEST_DIR, such as "*.wal""#)
            }

            fn visit_str<E: de::Error>(self, glob: &str) -> Result<FileGlob, E> {
                match globset::Glob::new(glob) {
                    Ok(_) => Ok(FileGlob(glob.to_owned())),
                    Err(e) => Err(E::custom(format!(
                        "files: '{glob}' is not a valid glob: {}",
                        e.kind()
                    ))),
                }
            }
        }

        d.deserialize_str(GlobVisitor)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use indoc::indoc;

    use super::*;

    /// Where the snippets pretend to come from.
    const PATH: &str = "scenarios/bad.toml";

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new(PATH))
    }

    /// The error as a user sees it: its message, then each cause.
    fn chain(err: &ScenarioError) -> String {
        let mut out = err.to_string();
        let mut source = err.source();
        while let Some(e) = source {
            out.push_str("\ncaused by: ");
            out.push_str(&e.to_string());
            source = e.source();
        }
        out
    }

    /// Asserts that `text` is refused, that the rendered error names the file, the line and
    /// the column of the offending text, and that it says `phrase`.
    #[track_caller]
    fn assert_refused(text: &str, line: usize, column: usize, phrase: &str) {
        let err = match parse(text) {
            Ok(s) => panic!("accepted a bad scenario: {s:?}"),
            Err(err) => err,
        };
        let rendered = chain(&err);
        let at = match &err {
            ScenarioError::Parse { .. } => {
                format!("TOML parse error at line {line}, column {column}")
            }
            ScenarioError::Invalid { .. } => format!("{PATH}:{line}:{column}: "),
            other => panic!("unexpected error kind: {other:?}"),
        };
        assert!(rendered.contains(PATH), "no path in:\n{rendered}");
        assert!(rendered.contains(&at), "no `{at}` in:\n{rendered}");
        assert!(rendered.contains(phrase), "no `{phrase}` in:\n{rendered}");
    }

    /// A valid scenario with `[target]` last, so snippets can prepend top-level keys.
    const CRC: &str = "[target]\nbuiltin = \"crc\"\n";

    #[test]
    fn full_builtin_scenario_resolves_the_builtin() {
        let text = indoc! {r#"
            name = "smoke"
            description = "crc WAL under kill and truncation"
            seed = 7
            trials = 200
            records = 0
            payload = { min = 0, max = 256 }
            writers = 1
            timeout = "1m 30s"
            expect = "fail"

            [target]
            builtin = "crc"

            [faults]
            kill = 2
            truncate = 1
        "#};
        let s = Scenario::parse(text, Path::new("scenarios/smoke.toml")).unwrap();
        assert_eq!(s.path, Path::new("scenarios/smoke.toml"));
        assert_eq!(s.name, "smoke");
        assert_eq!(
            s.description.as_deref(),
            Some("crc WAL under kill and truncation")
        );
        assert_eq!(s.seed, Seed(7));
        assert_eq!(s.trials, 200);
        assert_eq!(s.records, 0);
        assert_eq!(s.payload, SizeRange { min: 0, max: 256 });
        assert_eq!(s.writers, 1);
        assert_eq!(s.timeout, Duration::from_secs(90));
        assert_eq!(s.expect, Expect::Fail);
        assert_eq!(
            s.faults,
            FaultWeights {
                kill: 2,
                truncate: 1,
                ..FaultWeights::default()
            }
        );
        assert_eq!(s.target.kind, TargetKind::Builtin(BuiltinWal::Crc));
        assert_eq!(s.target.durability, Durability::Fsync);
        assert_eq!(s.target.files, vec!["wal.log".to_owned()]);
        assert_eq!(s.target.max_writers, None);
        assert!(s.target.cwd.is_absolute(), "{:?}", s.target.cwd);
        assert!(s.target.cwd.ends_with("scenarios"), "{:?}", s.target.cwd);
    }

    #[test]
    fn minimal_builtin_scenario_takes_every_default() {
        let text = indoc! {r#"
            [target]
            builtin = "seed-prefix"
        "#};
        let s = Scenario::parse(text, Path::new("torn-tail.toml")).unwrap();
        assert_eq!(s.name, "torn-tail");
        assert_eq!(s.description, None);
        assert_eq!(s.seed, Seed(0));
        assert_eq!(s.trials, 100);
        assert_eq!(s.records, 20);
        assert_eq!(s.payload, SizeRange { min: 0, max: 128 });
        assert_eq!(s.writers, 1);
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert_eq!(s.expect, Expect::Pass);
        assert_eq!(
            s.faults,
            FaultWeights {
                kill: 1,
                truncate: 0,
                ..FaultWeights::default()
            }
        );
        assert_eq!(s.target.kind, TargetKind::Builtin(BuiltinWal::SeedPrefix));
        assert_eq!(
            s.target.durability,
            Durability::Fsync,
            "the seed WALs promise what a WAL promises"
        );
        assert_eq!(
            s.target.files,
            vec![BuiltinWal::SeedPrefix.file().to_owned()]
        );
        assert_eq!(
            s.target.max_writers, None,
            "the specimens take any number of writers"
        );
        assert_eq!(s.crash, KillScope::All);
        // A bare file name runs in the current folder.
        assert_eq!(s.target.cwd, std::path::absolute(".").unwrap());
    }

    #[test]
    fn full_external_scenario_resolves() {
        let text = indoc! {r#"
            seed = 3
            writers = 1
            payload = { max = 16777216 }

            [target]
            writer = ["python3", "harness/targets/x.py", "write"]
            replay = ["python3", "harness/targets/x.py", "replay"]
            durability = "none"
            files = ["*.wal", "**/*-wal"]
            max_writers = 2

            [faults]
            truncate = 5
        "#};
        let s = Scenario::parse(text, Path::new("harness/x.toml")).unwrap();
        assert_eq!(s.name, "x");
        assert_eq!(s.writers, 1);
        assert_eq!(
            s.payload,
            SizeRange {
                min: 0,
                max: MAX_PAYLOAD
            }
        );
        assert_eq!(
            s.target.kind,
            TargetKind::Command {
                writer: vec![
                    "python3".into(),
                    "harness/targets/x.py".into(),
                    "write".into()
                ],
                replay: vec![
                    "python3".into(),
                    "harness/targets/x.py".into(),
                    "replay".into()
                ],
            }
        );
        assert_eq!(s.target.durability, Durability::None);
        assert_eq!(
            s.target.files,
            vec!["*.wal".to_owned(), "**/*-wal".to_owned()]
        );
        assert_eq!(s.target.max_writers, Some(2));
        assert!(s.target.cwd.ends_with("harness"), "{:?}", s.target.cwd);
        // A kind left out of [faults] weighs 0.
        assert_eq!(
            s.faults,
            FaultWeights {
                kill: 0,
                truncate: 5,
                ..FaultWeights::default()
            }
        );
    }

    #[test]
    fn external_target_defaults_to_every_file_and_no_writer_limit() {
        let text = indoc! {r#"
            [target]
            writer = ["./w"]
            replay = ["./r"]
            durability = "process"
        "#};
        let s = parse(text).unwrap();
        assert_eq!(s.target.files, vec!["**".to_owned()]);
        assert_eq!(s.target.max_writers, None);
        assert_eq!(s.target.durability, Durability::Process);
    }

    #[test]
    fn load_reads_the_file_and_names_it_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.toml");
        std::fs::write(&path, CRC).unwrap();
        let s = Scenario::load(&path).unwrap();
        assert_eq!(s.name, "disk");
        assert_eq!(s.target.cwd, dir.path());

        let missing = dir.path().join("missing.toml");
        let err = Scenario::load(&missing).unwrap_err();
        assert!(matches!(err, ScenarioError::Read { .. }), "{err:?}");
        let rendered = chain(&err);
        assert!(
            rendered.starts_with(&format!("failed to read scenario at {}", missing.display())),
            "{rendered}"
        );
        assert!(rendered.contains("caused by: "), "{rendered}");
    }

    #[test]
    fn load_refuses_a_file_that_is_not_utf8_with_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin.toml");
        std::fs::write(&path, b"seed = 1\nname = \"a\xffb\"\n").unwrap();
        let err = Scenario::load(&path).unwrap_err();
        let rendered = chain(&err);
        assert!(
            rendered.starts_with(&format!("{}:2:10: byte 0xff is not UTF-8", path.display())),
            "{rendered}"
        );
    }

    // See issue 13: `crashtest run /dev/zero` grew without bound, and a FIFO blocked the
    // open until something wrote to it.
    #[test]
    fn load_reads_only_a_regular_file_of_bounded_size() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        for (path, what) in [
            (fifo.as_path(), "a FIFO (named pipe)"),
            (Path::new("/dev/zero"), "a character device"),
            (dir.path(), "a directory"),
        ] {
            let err = Scenario::load(path).unwrap_err();
            assert!(
                matches!(err, ScenarioError::NotAFile { what: w, .. } if w == what),
                "{path:?}: {err:?}"
            );
            assert_eq!(
                chain(&err),
                format!(
                    "scenario at {} is {what}, not a file: give the path of a TOML file",
                    path.display()
                )
            );
        }
        // A file of exactly the limit is read (and parsed: spaces and a comment); one more
        // byte is refused, sparse or not, before it is parsed.
        let big = dir.path().join("big.toml");
        let mut text = CRC.to_owned();
        text.push('#');
        text.push_str(&" ".repeat(MAX_SCENARIO_BYTES as usize - text.len()));
        std::fs::write(&big, &text).unwrap();
        assert!(Scenario::load(&big).is_ok());
        std::fs::OpenOptions::new()
            .append(true)
            .open(&big)
            .unwrap()
            .set_len(MAX_SCENARIO_BYTES + 1)
            .unwrap();
        let err = Scenario::load(&big).unwrap_err();
        assert!(matches!(err, ScenarioError::TooLarge { .. }), "{err:?}");
        assert!(chain(&err).contains("larger than 1048576 bytes"), "{err}");
    }

    #[test]
    fn expect_displays_as_written() {
        assert_eq!(Expect::Pass.to_string(), "pass");
        assert_eq!(Expect::Fail.to_string(), "fail");
    }

    #[test]
    fn line_column_counts_like_toml() {
        let text = "a = 1\nné = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_column(text, text.find('=').unwrap()), (1, 3));
        assert_eq!(line_column(text, text.rfind('=').unwrap()), (2, 4));
    }

    // ---- refused scenarios: each names the file, the line and the column ----

    #[test]
    fn refuses_a_syntax_error() {
        assert_refused(&format!("trials = \n{CRC}"), 1, 10, "expected");
    }

    #[test]
    fn refuses_an_unknown_top_level_key() {
        assert_refused(
            &format!("seed = 1\ntrails = 5\n{CRC}"),
            2,
            1,
            "unknown field `trails`",
        );
    }

    #[test]
    fn refuses_an_unknown_fault_kind_and_lists_the_known_ones() {
        let text = format!("{CRC}[faults]\nkill = 1\ntear = 1\n");
        assert_refused(
            &text,
            5,
            1,
            "unknown field `tear`, expected one of `kill`, `truncate`, `torn`",
        );
    }

    #[test]
    fn every_fault_kind_checks_and_sector_parse() {
        let text = format!(
            "sector = 4096\n{CRC}[faults]\ntorn = 1\nzero-tail = 2\ngarbage-tail = 3\npower-loss = 4\nbit-flip = 5\npersistence = \"ext4-ordered\"\n[checks]\nresume = true\nrecovery-crash = true\n"
        );
        let s = parse(&text).unwrap();
        assert_eq!(s.sector, 4096);
        assert_eq!(
            s.faults,
            FaultWeights {
                kill: 0,
                truncate: 0,
                torn: 1,
                zero_tail: 2,
                garbage_tail: 3,
                power_loss: 4,
                bit_flip: 5,
                persistence: Persistence::Ext4Ordered,
            }
        );
        assert_eq!(
            s.checks,
            Checks {
                stable: true,
                resume: true,
                recovery_crash: true
            }
        );
        assert_refused(
            &format!("sector = 500\n{CRC}"),
            1,
            10,
            "a sector is a power of two",
        );
        assert_refused(
            &format!("{CRC}[checks]\nstable = 1\n"),
            4,
            10,
            "invalid type",
        );
    }

    #[test]
    fn limits_take_sizes_durations_counts_and_unlimited() {
        let s = parse(&format!("{CRC}[limits]\naddress-space = \"512MiB\"\nfile-size = 4096\ncpu = \"2m\"\nopen-files = \"unlimited\"\n")).unwrap();
        assert_eq!(
            s.limits,
            Limits {
                address_space: Some(512 << 20),
                file_size: Some(4096),
                cpu_seconds: Some(120),
                open_files: None,
                processes: None
            }
        );
        assert_eq!(parse(CRC).unwrap().limits, Limits::default());
        assert_refused(
            &format!("{CRC}[limits]\naddress-space = \"lots\"\n"),
            4,
            17,
            "is not a limit",
        );
        assert_refused(&format!("{CRC}[limits]\ncpu = 0\n"), 4, 7, "above 0");
        assert_refused(
            &format!("{CRC}[limits]\nmemory = 1\n"),
            4,
            1,
            "unknown field `memory`",
        );
    }

    #[test]
    fn refuses_an_unknown_target_key() {
        assert_refused(
            &format!("{CRC}durabilty = \"fsync\"\n"),
            3,
            1,
            "unknown field `durabilty`",
        );
    }

    #[test]
    fn refuses_a_value_of_the_wrong_type() {
        assert_refused(
            &format!("trials = \"many\"\n{CRC}"),
            1,
            10,
            "invalid type: string",
        );
    }

    /// See issue 13: a budget of nothing runs nothing, and a name that is not a file name
    /// would put results outside the results folder.
    #[test]
    fn refuses_a_zero_budget_and_a_name_that_is_not_a_file_name() {
        assert_refused(&format!("budget = \"0s\"\n{CRC}"), 1, 10, "runs no trial");
        for bad in ["../x", "a/b", "..", ".", ""] {
            let text = format!("name = {bad:?}\n{CRC}");
            assert_refused(&text, 1, 8, "must be a file name");
        }
        assert_eq!(
            parse(&format!("name = \"x..y\"\n{CRC}")).unwrap().name,
            "x..y"
        );
    }

    #[test]
    fn refuses_payload_min_above_max() {
        let text = format!("seed = 1\npayload = {{ min = 10, max = 5 }}\n{CRC}");
        assert_refused(&text, 2, 11, "min = 10 is more than max = 5");
    }

    #[test]
    fn refuses_payload_above_16_mib() {
        let text = format!("payload = {{ max = 16777217 }}\n{CRC}");
        assert_refused(&text, 1, 11, "more than 16 MiB");
    }

    #[test]
    fn refuses_zero_trials() {
        assert_refused(
            &format!("\ntrials = 0\n{CRC}"),
            2,
            10,
            "trials must be at least 1",
        );
    }

    #[test]
    fn refuses_zero_writers() {
        assert_refused(
            &format!("writers = 0\n{CRC}"),
            1,
            11,
            "writers must be at least 1",
        );
    }

    #[test]
    fn refuses_more_writers_than_an_external_target_takes() {
        let text = indoc! {r#"
            writers  =  3
            [target]
            writer = ["w"]
            replay = ["r"]
            durability = "fsync"
            max_writers = 2
        "#};
        assert_refused(
            text,
            1,
            13,
            "writers = 3 is more than the target allows: [target] max_writers = 2",
        );
    }

    #[test]
    fn refuses_builtin_together_with_writer() {
        let text = indoc! {r#"
            seed = 1
            [target]
            builtin = "crc"
            writer = ["w"]
            replay = ["r"]
        "#};
        assert_refused(text, 2, 1, "not both");
    }

    #[test]
    fn refuses_a_target_with_neither_builtin_nor_writer() {
        let text = "seed = 1\n\n[target]\ndurability = \"fsync\"\n";
        assert_refused(text, 3, 1, "one of: seed-prefix, seed-postfix, crc");
    }

    #[test]
    fn refuses_a_writer_without_replay() {
        let text = "[target]\nwriter = [\"w\"]\ndurability = \"fsync\"\n";
        assert_refused(text, 1, 1, "writer but no replay");
    }

    #[test]
    fn refuses_a_bad_durability() {
        let text = "[target]\nwriter = [\"w\"]\nreplay = [\"r\"]\ndurability = \"sync\"\n";
        assert_refused(
            text,
            4,
            14,
            "unknown variant `sync`, expected one of `process`, `fsync`, `none`",
        );
    }

    #[test]
    fn refuses_an_external_target_without_durability() {
        let text = "[target]\nwriter = [\"w\"]\nreplay = [\"r\"]\n";
        assert_refused(text, 1, 1, "durability is required");
    }

    #[test]
    fn refuses_durability_with_a_builtin() {
        let text = format!("{CRC}durability = \"none\"\n");
        assert_refused(
            &text,
            1,
            1,
            "durability cannot be set for the built-in WAL crc: it promises fsync",
        );
    }

    #[test]
    fn refuses_files_with_a_builtin() {
        let text = format!("{CRC}files = [\"*.wal\"]\n");
        assert_refused(&text, 1, 1, "files cannot be set for the built-in WAL crc");
    }

    #[test]
    fn refuses_max_writers_with_a_builtin() {
        let text = format!("{CRC}max_writers = 4\n");
        assert_refused(
            &text,
            1,
            1,
            "max_writers cannot be set for the built-in WAL crc",
        );
    }

    #[test]
    fn crash_scope_defaults_to_all_and_takes_one() {
        let all = Scenario::parse(
            "writers = 3\n[target]\nbuiltin = \"seed-prefix\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        assert_eq!((all.writers, all.crash), (3, KillScope::All));
        let one = Scenario::parse(
            "writers = 2\ncrash = \"one\"\n[target]\nbuiltin = \"seed-prefix\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        assert_eq!(one.crash, KillScope::One);
        assert_refused(
            "crash = \"some\"\n[target]\nbuiltin = \"crc\"\n",
            1,
            9,
            "unknown variant `some`",
        );
    }

    #[test]
    fn refuses_zero_max_writers() {
        let text = "[target]\nwriter = [\"w\"]\nreplay = [\"r\"]\ndurability = \"fsync\"\nmax_writers = 0\n";
        assert_refused(text, 5, 15, "max_writers must be at least 1");
    }

    #[test]
    fn refuses_an_empty_argv() {
        let text = "[target]\nwriter = [\"w\"]\nreplay = []\ndurability = \"fsync\"\n";
        assert_refused(text, 3, 10, "a command must not be empty");
    }

    #[test]
    fn refuses_an_empty_program() {
        let text = "[target]\nwriter = [\"\", \"x\"]\nreplay = [\"r\"]\ndurability = \"fsync\"\n";
        assert_refused(text, 2, 10, "program (its first element) must not be empty");
    }

    #[test]
    fn refuses_a_glob_that_does_not_compile_and_points_at_it() {
        let text = indoc! {r#"
            [target]
            writer = ["w"]
            replay = ["r"]
            durability = "fsync"
            files = ["*.wal", "log[0-9"]
        "#};
        assert_refused(
            text,
            5,
            19,
            "'log[0-9' is not a valid glob: unclosed character class",
        );
    }

    #[test]
    fn refuses_all_fault_weights_zero() {
        let text = format!("{CRC}\n[faults]\nkill = 0\ntruncate = 0\n");
        assert_refused(&text, 4, 1, "every fault weight is 0");
    }

    #[test]
    fn refuses_a_negative_fault_weight() {
        let text = format!("{CRC}[faults]\nkill = -1\n");
        assert_refused(&text, 4, 8, "invalid value: integer `-1`");
    }

    #[test]
    fn refuses_a_zero_timeout() {
        assert_refused(
            &format!("timeout = \"0s\"\n{CRC}"),
            1,
            11,
            "timeout '0s' must be more than zero",
        );
    }

    #[test]
    fn refuses_a_timeout_in_words() {
        let text = format!("seed = 1\ntimeout = \"ten seconds\"\n{CRC}");
        assert_refused(&text, 2, 11, r#"timeout 'ten seconds' is not a duration"#);
    }

    #[test]
    fn refuses_a_timeout_without_unit_quotes() {
        assert_refused(&format!("timeout = 10\n{CRC}"), 1, 11, r#"such as "10s""#);
    }

    #[test]
    fn refuses_an_unknown_builtin_and_lists_the_known_ones() {
        let text = "seed = 1\n[target]\nbuiltin = \"rocksdb\"\n";
        assert_refused(
            text,
            3,
            11,
            "unknown built-in WAL 'rocksdb', expected one of: seed-prefix, seed-postfix, crc",
        );
    }

    #[test]
    fn refuses_an_unknown_expectation() {
        assert_refused(
            &format!("expect = \"maybe\"\n{CRC}"),
            1,
            10,
            "expected `pass` or `fail`",
        );
    }

    #[test]
    fn refuses_an_array_where_a_table_is_expected() {
        assert_refused(
            &format!("payload = [0, 256]\n{CRC}"),
            1,
            11,
            "invalid type: sequence, expected a table",
        );
        assert_refused(
            &format!("faults = [1, 2]\n{CRC}"),
            1,
            10,
            "expected a table",
        );
        assert_refused("[[target]]\nbuiltin = \"crc\"\n", 1, 1, "expected a table");
    }

    #[test]
    fn refuses_a_scenario_without_target() {
        assert_refused("seed = 1\n", 1, 1, "missing field `target`");
    }
}
