//! Every parser of user input, fed what users and crashes actually produce.
//!
//! See: issue "every bad input yields one clear error naming what and where, exit 2, no
//! panic". A scenario, a case id, a shard, a seed, a writer's acks, a replay's output, a
//! results file and a regressions file are all typed or cut short by someone else: each
//! must come back as a value or as one error that says what is wrong and where, never as
//! a panic. The properties below check that on generated input; `cli_refuses_*` checks
//! the binary end to end (exit 2, one error, no backtrace); `corpus_*` keeps the inputs
//! that found something (and the classics) in `tests/corpus/`.
//!
//! The runs are deterministic: a fixed case count and a fixed ChaCha seed, so CI sees the
//! same inputs every time. `PROPTEST_CASES=100000` (and `PROPTEST_RNG_SEED=N` for other
//! inputs) make a longer run; proptest applies both over the config below.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use crashtest::case::CaseId;
use crashtest::errors::ScenarioError;
use crashtest::faults::{Damage, FaultKind};
use crashtest::oracle::{self, Evidence, WriterEvidence};
use crashtest::process::{Captured, Finished, Limits};
use crashtest::protocol::Durability;
use crashtest::report::lines::{Judge, ReadError, Report, Scope, Verdict};
use crashtest::run::Shard;
use crashtest::run::regressions;
use crashtest::scenario::Scenario;
use crashtest::seed::Seed;
use crashtest::spill::Spill;
use crashtest::tracer::{AckMark, WriterEnd};
use crashtest::trial::{Overrides, Plan};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

use crate::support::root;

/// Cases per property in a plain `cargo test` (the whole module runs in a few seconds in
/// a debug build); `PROPTEST_CASES` overrides it.
const CASES: u32 = 256;

/// The generator's seed; `PROPTEST_RNG_SEED` overrides it.
const SEED: u64 = 20_240_601;

/// A deterministic config: ChaCha from [`SEED`], no regression files written. proptest
/// lays the `PROPTEST_*` environment variables over it.
fn config() -> Config {
    Config {
        cases: CASES,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(SEED),
        failure_persistence: None,
        ..Config::default()
    }
}

// ---- scenarios ----

/// The name the parsed text pretends to come from; every error must carry it.
const SCENARIO_PATH: &str = "fuzz/under-test.toml";

/// Valid scenarios that mutations start from: every key, both kinds of target.
const VALID: &[&str] = &[
    r#"name = "smoke"
description = "crc WAL under kill and truncation"
seed = 1
trials = 200
records = 20
payload = { min = 0, max = 256 }
writers = 1
timeout = "10s"
expect = "pass"
budget = "90s"
sector = 512
crash = "all"

[target]
builtin = "crc"

[faults]
kill = 1
truncate = 1
"#,
    r#"seed = 3
writers = 2
payload = { max = 16777216 }

[target]
writer = ["python3", "harness/targets/x.py", "write"]
replay = ["python3", "harness/targets/x.py", "replay"]
durability = "none"
files = ["*.wal", "**/*-wal"]
max_writers = 2

[faults]
torn = 1
zero-tail = 2
garbage-tail = 3
power-loss = 4
bit-flip = 5

[checks]
stable = true
resume = true
recovery-crash = false
"#,
    "[target]\nbuiltin = \"seed-prefix\"\n",
];

/// A TOML value of any type, and some that are almost TOML.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        "[0-9]{19,30}",
        "-[0-9]{1,25}",
        any::<f64>().prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        "\"[^\"\\\\\n]{0,12}\"",
        "'[^'\n]{0,12}'",
        "\"[a-z]{0,4}\\\\[a-zA-Z0-9]{0,5}\"",
        "\\[ ?(\"[a-z*]{0,4}\"|[0-9]{1,3})?(, ?(\"[a-z*]{0,4}\"|[0-9]{1,3})){0,3} ?\\]",
        "\\{ ?([a-z-]{1,6} = [0-9]{1,4})?(, [a-z-]{1,6} = [0-9]{1,4}){0,2} ?\\}",
        prop::sample::select(vec![
            "nan",
            "-inf",
            "+inf",
            "1979-05-27T07:32:00Z",
            "1979-05-27",
            "07:32:00",
            "0x7fffffffffffffff",
            "0o777",
            "0b101",
            "1_000",
            "1__0",
            "\"\"\"\nmulti\nline\"\"\"",
            "'''raw'''",
            "\"10 s\"",
            "\"0s\"",
            "\"18446744073709551615y\"",
            "[]",
            "{}",
            "[[]]",
            "[{ max = 1 }]",
            "",
            "=",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z_]{1,8}",
    ]
}

/// One edit of a valid scenario.
#[derive(Clone, Debug)]
enum Edit {
    /// The key of the `at`-th `key = value` line becomes `key`.
    RenameKey { at: Index, key: String },
    /// The value of the `at`-th `key = value` line becomes `value`.
    ReplaceValue { at: Index, value: String },
    /// The `at`-th table (its header and its keys) goes.
    DropTable { at: Index },
    /// The `at`-th line is written twice (a duplicate key or table).
    Duplicate { at: Index },
    /// A line of junk goes before the `at`-th line.
    Insert { at: Index, line: String },
    /// Lines swap places.
    Swap { a: Index, b: Index },
    /// The text ends at the `at`-th byte (at the char boundary before it).
    Truncate { at: Index },
    /// Line endings become CRLF.
    Crlf,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (
            any::<Index>(),
            "[a-z_-]{1,12}|[A-Z]{1,4}|\"[a-z ]{0,6}\"|[a-z]{1,4}\\.[a-z]{1,4}"
        )
            .prop_map(|(at, key)| Edit::RenameKey { at, key }),
        (any::<Index>(), toml_value()).prop_map(|(at, value)| Edit::ReplaceValue { at, value }),
        any::<Index>().prop_map(|at| Edit::DropTable { at }),
        any::<Index>().prop_map(|at| Edit::Duplicate { at }),
        (
            any::<Index>(),
            "\\[[a-z.]{0,8}\\]|\\[\\[[a-z]{1,8}\\]\\]|[a-z-]{1,8} = .{0,8}|.{0,12}"
        )
            .prop_map(|(at, line)| Edit::Insert { at, line }),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Swap { a, b }),
        any::<Index>().prop_map(|at| Edit::Truncate { at }),
        Just(Edit::Crlf),
    ]
}

/// `text` with `edits` applied, in order.
fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut tail = "\n";
    for edit in edits {
        let keys: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].contains('=') && !lines[i].starts_with('['))
            .collect();
        let tables: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].starts_with('['))
            .collect();
        match edit {
            Edit::RenameKey { at, key } if !keys.is_empty() => {
                let i = keys[at.index(keys.len())];
                let value = lines[i].split_once('=').map_or("", |(_, v)| v).to_owned();
                lines[i] = format!("{key} ={value}");
            }
            Edit::ReplaceValue { at, value } if !keys.is_empty() => {
                let i = keys[at.index(keys.len())];
                let key = lines[i].split_once('=').map_or("", |(k, _)| k).to_owned();
                lines[i] = format!("{key}= {value}");
            }
            Edit::DropTable { at } if !tables.is_empty() => {
                let start = tables[at.index(tables.len())];
                let end = tables
                    .iter()
                    .find(|&&t| t > start)
                    .copied()
                    .unwrap_or(lines.len());
                lines.drain(start..end);
            }
            Edit::Duplicate { at } if !lines.is_empty() => {
                let i = at.index(lines.len());
                lines.insert(i, lines[i].clone());
            }
            Edit::Insert { at, line } => {
                let i = at.index(lines.len() + 1);
                lines.insert(i, line.clone());
            }
            Edit::Swap { a, b } if !lines.is_empty() => {
                let n = lines.len();
                lines.swap(a.index(n), b.index(n));
            }
            Edit::Truncate { at } => {
                let text = lines.join("\n");
                let mut end = at.index(text.len() + 1);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                return text[..end].to_owned();
            }
            Edit::Crlf => tail = "\r\n",
            _ => {}
        }
    }
    let mut out = lines.join(tail);
    out.push_str(tail);
    out
}

/// An error as the CLI prints it: the message, then each cause.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str("\ncaused by: ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// `(line, column)` from toml's "at line N, column M".
fn toml_position(rendered: &str) -> Option<(usize, usize)> {
    let rest = &rendered[rendered.find("at line ")? + "at line ".len()..];
    let (line, rest) = rest.split_once(", column ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.parse().ok()?, column.parse().ok()?))
}

/// `(line, column)` from our own "path:N:M: ".
fn own_position(rendered: &str, path: &str) -> Option<(usize, usize)> {
    let rest = rendered.strip_prefix(path)?.strip_prefix(':')?;
    let mut parts = rest.splitn(3, ':');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The property every scenario text must have: it parses, or its error names the file
/// and a line and column that lie inside the text.
fn check_scenario(text: &str, path: &str) -> Result<(), TestCaseError> {
    let err = match Scenario::parse(text, Path::new(path)) {
        Ok(_) => return Ok(()),
        Err(err) => err,
    };
    let rendered = chain(&err);
    prop_assert!(rendered.contains(path), "no file name in:\n{rendered}");
    let (line, column) = match &err {
        ScenarioError::Parse { .. } => toml_position(&rendered),
        ScenarioError::Invalid { .. } => own_position(&rendered, path),
        other => return Err(TestCaseError::fail(format!("not a parse error: {other:?}"))),
    }
    .ok_or_else(|| TestCaseError::fail(format!("no line and column in:\n{rendered}")))?;
    // Lines count '\n's, from 1; an error may point just past the end (a missing value).
    // Columns count characters, except that toml 1.2 counts bytes when the error points
    // at a multi-byte character (`translate_position` decodes only its first byte and
    // falls back): `'🫎'𚿰` is refused "at column 7", not 4. So a column is bounded by
    // the line's length in bytes.
    let lines: Vec<&str> = text.split('\n').collect();
    prop_assert!(
        (1..=lines.len()).contains(&line),
        "line {line} of {}:\n{rendered}",
        lines.len()
    );
    let width = lines[line - 1].len();
    prop_assert!(
        (1..=width + 1).contains(&column),
        "column {column} of {width} bytes:\n{rendered}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_scenario_parse_any_text(text in prop_oneof![
        any::<String>(),
        "([a-z_\\[\\]{}=\"', .0-9#-]|\n){0,200}",
    ]) {
        check_scenario(&text, SCENARIO_PATH)?;
    }

    #[test]
    fn fuzz_scenario_parse_mutated(
        base in prop::sample::select(VALID),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let text = apply(base, &edits);
        check_scenario(&text, SCENARIO_PATH)?;
    }

    #[test]
    fn fuzz_scenario_path_of_any_name(name in "[^\0/]{1,20}") {
        // Whatever the file is called, its name is in the error.
        let path = format!("dir/{name}.toml");
        check_scenario("trials = 0\n[target]\nbuiltin = \"crc\"\n", &path)?;
    }
}

// ---- case ids, shards, seeds ----

/// Text shaped like a case id, most of it slightly wrong.
fn case_like() -> impl Strategy<Value = String> {
    "[a-z./@é ]{0,8}@[0-9+-]{0,21}(/[0-9+]{0,21}(/([rpkfqt][0-9t]{0,11}|f(kill|torn|truncate|power-loss|melt))){0,5})?"
}

fn fault() -> impl Strategy<Value = FaultKind> {
    prop::sample::select(FaultKind::ALL.to_vec())
}

/// Any valid case id, as a value.
fn case_id() -> impl Strategy<Value = CaseId> {
    (
        ".{1,12}",
        0..=Seed::MAX.0,
        any::<u64>(),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of((any::<u64>(), proptest::option::of(any::<u64>()))),
        proptest::option::of(fault()),
    )
        .prop_map(
            |(scenario, seed, trial, records, max_payload, plan, fault)| CaseId {
                scenario,
                seed: Seed(seed),
                trial,
                over: Overrides {
                    records,
                    max_payload,
                    plan: plan.map(|(kill_at, tear)| Plan { kill_at, tear }),
                    fault,
                },
            },
        )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_case_id_from_any_text(text in prop_oneof![any::<String>(), case_like()]) {
        match text.parse::<CaseId>() {
            Ok(id) => prop_assert_eq!(id.to_string().parse::<CaseId>(), Ok(id)),
            Err(why) => prop_assert!(
                why.contains(&format!("'{text}'")) && why.contains("SCENARIO@SEED/TRIAL"),
                "{why}"
            ),
        }
    }

    #[test]
    fn fuzz_case_id_round_trips_as_text(id in case_id()) {
        let text = id.to_string();
        let back: CaseId = text.parse().map_err(TestCaseError::fail)?;
        prop_assert_eq!(back.to_string(), text);
        prop_assert_eq!(back, id);
    }

    #[test]
    fn fuzz_case_id_never_wraps_a_number(
        records in prop_oneof![any::<u64>(), (u32::MAX as u64 - 2)..(u32::MAX as u64 + 3)],
        payload in prop_oneof![any::<u64>(), (u32::MAX as u64 - 2)..(u32::MAX as u64 + 3)],
    ) {
        // An accepted id means what it says: `r4294967296` once parsed as 0 records.
        let text = format!("s.toml@1/2/r{records}/p{payload}");
        match text.parse::<CaseId>() {
            Ok(id) => prop_assert_eq!(id.to_string(), text),
            Err(why) => {
                prop_assert!(records > u32::MAX as u64 || payload > u32::MAX as u64, "{why}");
            }
        }
    }

    #[test]
    fn fuzz_shard_from_any_text(text in prop_oneof![
        any::<String>(),
        "[0-9+-]{0,21}/?[0-9+-]{0,21}",
    ]) {
        match text.parse::<Shard>() {
            Ok(shard) => {
                prop_assert!(1 <= shard.k && shard.k <= shard.n, "{shard:?}");
                prop_assert_eq!(shard.to_string().parse::<Shard>(), Ok(shard));
            }
            Err(why) => prop_assert!(why.contains("K/N"), "{why}"),
        }
    }

    #[test]
    fn fuzz_seed_from_any_text(text in prop_oneof![
        any::<String>(),
        "[+-]?[0-9]{0,22}",
        any::<u64>().prop_map(|n| n.to_string()),
    ]) {
        match text.parse::<Seed>() {
            Ok(seed) => prop_assert_eq!(seed.to_string().parse::<Seed>(), Ok(seed)),
            Err(why) => prop_assert!(why.contains("decimal integer"), "{why}"),
        }
    }
}

// ---- the oracle: a writer's acks and a replay's output ----

/// Bytes a writer or replay might print: anything, or lines that are nearly right.
fn output(right: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        right.prop_map(String::into_bytes),
    ]
}

/// One writer's part of a trial, owned.
#[derive(Debug)]
struct Writer {
    sent: Vec<Vec<u8>>,
    stdout: Captured,
    stderr: Captured,
    marks: Spill<AckMark>,
    end: WriterEnd,
}

fn writer() -> impl Strategy<Value = Writer> {
    (
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..6), 0..6),
        output("(([0-9]{1,2}|-1| 1|x|18446744073709551616)\r?\n){0,8}[0-9]{0,2}"),
        prop::collection::vec(any::<u8>(), 0..32),
        prop::collection::vec((0u64..80, 0u64..100), 0..8),
        prop_oneof![
            any::<i32>().prop_map(|code| WriterEnd::Exited { code }),
            ".{0,8}".prop_map(|signal| WriterEnd::Signaled { signal }),
            any::<u64>().prop_map(|boundary| WriterEnd::Killed { boundary }),
            (
                proptest::option::of(".{0,12}"),
                prop::collection::vec(".{0,8}", 0..3)
            )
                .prop_map(|(last_boundary, in_calls)| WriterEnd::TimedOut {
                    last_boundary,
                    in_calls
                }),
            Just(WriterEnd::Interrupted),
        ],
    )
        .prop_map(|(sent, stdout, stderr, marks, end)| Writer {
            sent,
            stdout: {
                let overflowed = stdout.len() > 100;
                Captured::new(stdout, overflowed)
            },
            stderr: Captured::new(stderr, false),
            marks: marks
                .into_iter()
                .map(|(stream_end, size)| AckMark {
                    stream_end,
                    after: 0,
                    sizes: [("wal.log".to_owned(), size)].into(),
                })
                .collect(),
            end,
        })
}

fn damage() -> impl Strategy<Value = Damage> {
    let file = prop::sample::select(vec!["wal.log", "other.log", ""]).prop_map(str::to_owned);
    prop_oneof![
        Just(Damage::None),
        Just(Damage::NoFile),
        (file.clone(), 0u64..120, 0u64..120).prop_map(|(file, size, offset)| Damage::Truncate {
            file,
            size,
            offset
        }),
        (file.clone(), 0u64..120, 0u64..120, 0u64..64, any::<bool>()).prop_map(
            |(file, size, offset, len, zeros)| Damage::Tail {
                file,
                size,
                offset,
                len,
                zeros
            }
        ),
        (file, 0u64..120, 0u64..64, proptest::option::of(0u8..8)).prop_map(
            |(file, offset, len, bit)| Damage::Corrupt {
                file,
                offset,
                len,
                bit
            }
        ),
    ]
}

fn finished() -> impl Strategy<Value = Finished> {
    (
        proptest::option::of(prop_oneof![
            Just(ExitStatus::from_raw(0)),
            (0i32..256).prop_map(|code| ExitStatus::from_raw(code << 8)),
            (1i32..32).prop_map(ExitStatus::from_raw),
        ]),
        output("([0-9a-fA-F]{0,6}\r?\n|zz\n|\n){0,6}[0-9a-f]{0,3}"),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..32),
    )
        .prop_map(|(status, stdout, overflowed, stderr)| Finished {
            status,
            stdout: Captured::new(stdout, overflowed),
            stderr: Captured::new(stderr, false),
        })
}

fn durability() -> impl Strategy<Value = Durability> {
    prop::sample::select(vec![
        Durability::Process,
        Durability::Fsync,
        Durability::None,
    ])
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_oracle_judges_any_output(
        writers in prop::collection::vec(writer(), 1..4),
        durability in durability(),
        damage in damage(),
        replay in finished(),
        again in finished(),
        limits in prop_oneof![Just(Limits::default()), Just(Limits::NONE)],
    ) {
        let j = oracle::judge(&Evidence {
            writers: writers
                .iter()
                .map(|w| WriterEvidence {
                    sent: &w.sent,
                    stdout: &w.stdout,
                    stderr: &w.stderr,
                    marks: &w.marks,
                    end: &w.end,
                })
                .collect(),
            durability,
            damage: &damage,
            replay: &replay,
            limits,
        });
        prop_assert!(j.required <= j.acked, "{j:?}");
        prop_assert!(j.violation.is_some() || j.recovered.is_some(), "{j:?}");
        // The checks after the first replay read the same kinds of output.
        if oracle::replayed(&replay).is_ok() {
            let _ = oracle::judge_stable(&replay, &again);
            let _ = oracle::judge_resume(&replay, &writers[0].sent, &again, &replay, &limits);
        }
    }
}

// ---- results files ----

/// Real results lines (`docs/results-format.md`), some with non-ASCII text, as a run
/// writes them: a run of an `expect = "fail"` scenario that found its bug.
const RESULTS: &[&str] = &[
    r#"{"type":"run","scenario":"smoke","seed":7,"path":"scenarios/smoke.toml","trials":3,"target":"crc","expect":"fail","shard":null,"regressions":0}"#,
    r#"{"type":"trial","scenario":"smoke","seed":7,"trial":0,"case":"scenarios/smoke.toml@7/0","fault":"kill","boundaries":39,"kill":2,"tear":null,"class":null}"#,
    r#"{"type":"trial","scenario":"smoke","seed":7,"trial":1,"case":"scenarios/smoke.toml@7/1","fault":"kill","boundaries":39,"kill":5,"tear":null,"class":"replay-failed"}"#,
    r#"{"type":"finding","scenario":"smoke","seed":7,"trial":1,"fault":"kill","boundaries":39,"kill":{"index":5,"writer":0,"syscall":"write","description":"write(wal.log, off=4, len=1)","write":{"offset":4,"len":1}},"damage":{"kind":"none"},"writers":1,"sent":20,"tracees":1,"judgement":{"acked":2,"required":2,"recovered":null,"violation":{"class":"replay-failed","detail":"replay exit status: 1: short record \u00e9\u00e9 � ✓ 日本"}},"case":"scenarios/smoke.toml@7/1","repro":"crashtest repro scenarios/smoke.toml@7/1","timeline":["write(wal.log, off=4, len=1)"]}"#,
    r#"{"type":"shrunk","scenario":"smoke","seed":7,"case":"scenarios/smoke.toml@7/1","shrunk":{"case":"scenarios/smoke.toml@7/1/r2","repro":"crashtest repro scenarios/smoke.toml@7/1/r2","records":2}}"#,
    r#"{"type":"trial","scenario":"smoke","seed":7,"trial":2,"case":"scenarios/smoke.toml@7/2","fault":"kill","boundaries":39,"kill":null,"tear":null,"class":null}"#,
    r#"{"type":"summary","scenario":"smoke","seed":7,"trials":3,"failed":1,"classes":{"replay-failed":1},"distinct":1,"faults":{"kill":3},"killed":2,"exhaustive":false,"recovery_crashes":0,"expect":"fail","met":true,"interrupted":false,"budget_exhausted":false,"elapsed_ms":20}"#,
];

/// `lines`, each with its newline, as one file's bytes.
fn results_file(lines: &[&str]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect()
}

fn read_one(bytes: &[u8]) -> (PathBuf, Result<Report, ReadError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shard.jsonl");
    std::fs::write(&path, bytes).unwrap();
    let mut judge = Judge::new(Scope::Whole);
    let read = judge.read_file(&path).map(|()| judge.finish());
    (path, read)
}

#[test]
fn the_whole_results_file_meets_its_expectation() {
    let (_path, read) = read_one(&results_file(RESULTS));
    let report = read.unwrap();
    assert!(report.met(), "{:?}", report.scenarios[0].verdict);
    let s = &report.scenarios[0];
    assert_eq!((s.ran, s.failed(), s.failures.len()), (3, 1, 1));
    assert_eq!(
        s.failures[0].shrunk().map(|c| c.case.as_str()),
        Some("scenarios/smoke.toml@7/1/r2")
    );
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_merge_reads_any_bytes(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        "(\\{[\"a-z:,0-9\\[\\]{}]{0,30}\\}?\n?){0,6}".prop_map(String::into_bytes),
    ]) {
        let (path, read) = read_one(&bytes);
        match read {
            Err(e) => {
                let rendered = chain(&e);
                let file = path.display().to_string();
                prop_assert!(rendered.contains(&file), "{rendered}");
                if let ReadError::Corrupt { line, .. } = e {
                    prop_assert!(rendered.starts_with(&format!("{file}:{line}: ")), "{rendered}");
                }
            }
            // Bytes that are not a run's lines never meet an expectation.
            Ok(report) => prop_assert!(!report.met()),
        }
    }

    #[test]
    fn fuzz_a_results_file_cut_at_any_byte_is_incomplete_and_keeps_its_whole_lines(cut in any::<Index>()) {
        // A run killed at any byte: never met; every whole line still counts.
        let bytes = results_file(RESULTS);
        let cut = &bytes[..cut.index(bytes.len())];
        let complete: Vec<&str> = std::str::from_utf8(
            &cut[..cut.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)],
        )
        .unwrap()
        .lines()
        .collect();
        let (_path, read) = read_one(cut);
        let report = read.map_err(|e| TestCaseError::fail(chain(&e)))?;
        prop_assert!(!report.met());
        if let Some(s) = report.scenarios.first() {
            prop_assert!(matches!(s.verdict, Verdict::Incomplete(_)), "{:?}", s.verdict);
            let failing = complete.iter().any(|l| l.contains(r#""class":"replay-failed""#));
            prop_assert_eq!(s.failed(), u64::from(failing));
        }
    }

    #[test]
    fn fuzz_merge_refuses_garbage_inside(
        at in any::<Index>(),
        garbage in prop_oneof![
            "[a-z{}\\[\\]:\",]{1,20}",
            prop::collection::vec(128u8..=255, 1..4)
                .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ],
        not_utf8 in any::<bool>(),
    ) {
        prop_assume!(serde_json::from_str::<serde_json::Value>(&garbage).is_err());
        let at = at.index(RESULTS.len());
        let mut bytes = results_file(&RESULTS[..at]);
        if not_utf8 {
            bytes.extend_from_slice(b"{\"x\":\"\xff\"}\n");
        } else {
            bytes.extend_from_slice(format!("{garbage}\n").as_bytes());
        }
        bytes.extend(results_file(&RESULTS[at..]));
        let (path, read) = read_one(&bytes);
        match read {
            Err(e @ ReadError::Corrupt { .. }) => {
                let rendered = chain(&e);
                let want = format!("{}:{}: not a results line", path.display(), at + 1);
                prop_assert!(rendered.starts_with(&want), "{rendered}");
            }
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        }
    }
}

// ---- regressions files ----

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_regressions_load_any_text(bytes in prop_oneof![
        any::<String>().prop_map(String::into_bytes),
        "((cc |cc|# |)([a-z./]{1,6}@[0-9]{1,3}/[0-9]{1,3}(/r[0-9])?|[a-z@/ ]{0,10})( # .{0,10})?\r?\n){0,8}"
            .prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..128),
    ]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.regressions");
        std::fs::write(&path, &bytes).unwrap();
        let (cases, warnings) = regressions::load(&path);
        let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        let code_lines = lines
            .iter()
            .filter(|l| match std::str::from_utf8(l) {
                Ok(l) => !l.split_once('#').map_or(l, |(c, _)| c).trim().is_empty(),
                Err(_) => true,
            })
            .count();
        prop_assert_eq!(cases.len() + warnings.len(), code_lines);
        let prefix = format!("{}:", path.display());
        for w in &warnings {
            let n: usize = w
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(": unparsable line, ignoring"))
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| TestCaseError::fail(format!("bad warning: {w}")))?;
            prop_assert!((1..=lines.len()).contains(&n), "{w}");
        }
    }
}

// ---- the binary, end to end ----

/// Runs crashtest with `args` in `dir`; returns (exit code, stderr).
fn crashtest_in(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crashtest"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_refuses_bad_input_with_one_clear_error_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("a-folder.toml")).unwrap();
    std::fs::write(d.join("binary.toml"), b"seed = 1\n\xff\xfe\x00\x89PNG\n").unwrap();
    std::fs::write(d.join("empty.toml"), b"").unwrap();
    std::fs::write(d.join("notes.jsonl"), b"these are my notes\nnot json\n").unwrap();
    // See issue 13: larger than a scenario may be (sparse: no disk is used).
    std::fs::File::create(d.join("big.toml"))
        .unwrap()
        .set_len(2 << 20)
        .unwrap();
    // More writers than any machine's open files hold: 8 descriptors each.
    std::fs::write(
        d.join("writers.toml"),
        "writers = 4294967295\n[target]\nbuiltin = \"crc\"\n",
    )
    .unwrap();
    let smoke = root().join("scenarios/smoke.toml");
    let smoke = smoke.to_str().unwrap();

    // (arguments, words the one error must hold)
    let table: &[(&[&str], &[&str])] = &[
        (&["run", smoke, "--frobnicate"], &["--frobnicate"]),
        (&["frobnicate"], &["frobnicate"]),
        (
            &["run", smoke, "--shard", "0/3"],
            &["--shard", "'0/3'", "K/N"],
        ),
        (&["run", smoke, "--shard", "3"], &["--shard", "'3'", "K/N"]),
        (&["run", smoke, "--shard", "4/3"], &["--shard", "'4/3'"]),
        (
            &["run", smoke, "--seed", "-1"],
            &["--seed", "'-1'", "decimal"],
        ),
        (
            &["run", smoke, "--seed", "9223372036854775808"],
            &["--seed", "0..=9223372036854775807"],
        ),
        (
            &["run", smoke, "--seed", "0x10"],
            &["--seed", "'0x10'", "decimal"],
        ),
        (&["run", smoke, "--trials", "-1"], &["--trials", "'-1'"]),
        (
            &["run", smoke, "--trials", "0"],
            &["--trials", "at least 1 trial"],
        ),
        (
            &["run", smoke, "--results", "empty.toml"],
            &["--results empty.toml", "a file, not a folder"],
        ),
        (
            &["run", smoke, "--results", "empty.toml/x"],
            &["--results empty.toml/x", "empty.toml is a file"],
        ),
        (
            &["run", smoke, "--jobs", "0"],
            &["--jobs", "at least 1 job"],
        ),
        (&["run", smoke, "--jobs", "-2"], &["--jobs", "'-2'"]),
        (
            &["run", smoke, "--budget", "0s"],
            &["--budget", "runs no trial"],
        ),
        (
            &["run", smoke, "--budget", "ten"],
            &["--budget", "'ten'", "90s"],
        ),
        (
            &["run", smoke, "--shrink-budget", "0s"],
            &["--shrink-budget", "shrinks nothing", "--no-shrink"],
        ),
        (
            &["run", smoke, "--shrink-budget", "ten"],
            &["--shrink-budget", "'ten'", "60s"],
        ),
        (&["repro", "s.toml@x/2"], &["case id 's.toml@x/2'", "seed"]),
        (&["repro", "s.toml@1/2/r4294967296"], &["record count"]),
        (&["repro", "s.toml"], &["case id"]),
        (
            &["repro", "missing.toml@1/2"],
            &["missing.toml", "No such file"],
        ),
        (&["repro", "s.toml", "--trial", "-1"], &["--trial", "'-1'"]),
        (&["run", "a-folder.toml"], &["a-folder.toml", "directory"]),
        (&["run", "binary.toml"], &["binary.toml:2:1:", "not UTF-8"]),
        (
            &["run", "empty.toml"],
            &["empty.toml", "line 1, column 1", "target"],
        ),
        (&["run", "missing.toml"], &["missing.toml", "No such file"]),
        (
            &["run", "/dev/zero"],
            &["/dev/zero", "a character device, not a file"],
        ),
        (
            &["run", "big.toml"],
            &["big.toml", "larger than 1048576 bytes"],
        ),
        (
            &["run", "writers.toml"],
            &["writers = 4294967295", "open files (RLIMIT_NOFILE)"],
        ),
        (
            &["repro", "writers.toml", "--trial", "0"],
            &["writers = 4294967295", "open files (RLIMIT_NOFILE)"],
        ),
        (
            &["merge", "notes.jsonl"],
            &["notes.jsonl:1:", "not a results line"],
        ),
        (
            &["merge", "missing.jsonl"],
            &["missing.jsonl", "No such file"],
        ),
        (&["merge"], &["required"]),
        (&["report", "notes.jsonl"], &["notes.jsonl:1:"]),
        (
            &["target", "nope", "write"],
            &["'nope'", "seed-prefix, seed-postfix, crc"],
        ),
        (&["target", "crc", "rewrite"], &["'rewrite'"]),
    ];
    for (args, words) in table {
        let (code, stderr) = crashtest_in(d, args);
        assert_eq!(
            code,
            Some(2),
            "crashtest {args:?} exited {code:?}:\n{stderr}"
        );
        for bad in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
            assert!(!stderr.contains(bad), "crashtest {args:?}:\n{stderr}");
        }
        let errors = stderr.lines().filter(|l| l.contains("error:")).count();
        assert_eq!(errors, 1, "crashtest {args:?}: not one error:\n{stderr}");
        for word in *words {
            assert!(
                stderr.contains(word),
                "crashtest {args:?}: no `{word}` in:\n{stderr}"
            );
        }
    }
    // Nothing was started: no results folder appeared.
    assert!(!d.join("results").exists());
}

/// See issue 13: a scenario path that is a FIFO is refused at once, without waiting for
/// someone to write to it (the open used to block until then). Should crashtest open it
/// to read, a writer's non-blocking open succeeds, which the test notices (and which lets
/// crashtest go on), instead of waiting forever.
#[test]
fn a_scenario_path_that_is_a_fifo_is_refused_without_waiting_for_a_writer() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("scenario.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crashtest"))
        .args(["run", "scenario.toml"])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let writer = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo);
        if writer.is_ok() {
            drop(writer);
            let out = child.wait_with_output().unwrap();
            panic!(
                "crashtest opened the FIFO to read it: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "crashtest: error: scenario at scenario.toml is a FIFO (named pipe), not a file: give the path of a TOML file\n"
    );
    assert!(!dir.path().join("results").exists());
}

// ---- the corpus ----

/// Every `tests/corpus/scenarios/*.toml`: `ok-*` parse, `bad-*` are refused with the file,
/// a line and a column; `refused-*` parse, and `crashtest run` refuses them before it
/// starts anything (exit 2, one error, no results), since they ask the machine for more
/// than it has (see issue 13).
#[test]
fn corpus_scenarios_parse_or_point_at_the_error() {
    let folder = root().join("tests/corpus/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "a small corpus: {files:?}");
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let result = Scenario::load(path);
        if name.starts_with("ok-") {
            if let Err(e) = result {
                panic!("{name} is refused:\n{}", chain(&e));
            }
        } else if name.starts_with("refused-") {
            if let Err(e) = result {
                panic!("{name} is refused by the parser:\n{}", chain(&e));
            }
            refused_before_the_run(path);
        } else {
            assert!(
                name.starts_with("bad-"),
                "{name}: name it ok-*, bad-* or refused-*"
            );
            let err = match result {
                Ok(s) => panic!("{name} is accepted: {s:?}"),
                Err(err) => err,
            };
            let rendered = chain(&err);
            let file = path.display().to_string();
            let at = match err {
                ScenarioError::Parse { .. } => toml_position(&rendered),
                ScenarioError::Invalid { .. } => own_position(&rendered, &file),
                _ => None,
            };
            assert!(
                rendered.contains(&file) && at.is_some(),
                "{name}: no file, line and column in:\n{rendered}"
            );
        }
        // Parsed from memory under any name, the same text behaves the same.
        if let Ok(text) = std::fs::read_to_string(path) {
            check_scenario(&text, SCENARIO_PATH).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

/// `crashtest run SCENARIO` stops before it starts anything: exit 2, one error, no
/// results folder.
fn refused_before_the_run(scenario: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let (code, stderr) = crashtest_in(
        dir.path(),
        &[
            "run",
            scenario.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
        ],
    );
    let name = scenario.display();
    assert_eq!(code, Some(2), "{name}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{name}: one error: {stderr}");
    assert!(stderr.starts_with("crashtest: error: "), "{name}: {stderr}");
    assert!(!results.exists(), "{name}: the run started");
}
