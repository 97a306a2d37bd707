//! JUnit XML from results lines, for CI systems that show test reports (GitHub, GitLab,
//! Jenkins).
//!
//! Why a separate rendering, and why from the results lines rather than from the runner's
//! structs: `crashtest merge` must produce the same report from shard files on disk as
//! `crashtest run` does live, so both feed this module the lines of
//! `docs/results-format.md`, parsed as `serde_json::Value`. Reading loosely typed values
//! also lets an older or interrupted results file render: a missing field costs its words,
//! never the report.
//!
//! The mapping. JUnit's unit is a test, and a consumer marks a test failed when it holds
//! any `<failure>`. crashtest's unit is a scenario and its `expect`, so:
//! - one `<testsuite>` per scenario name, holding one `<testcase>` `crashtest.<scenario>`;
//! - a scenario that met its `expect` passes, even an `expect = "fail"` one whose run found
//!   the bug it exists to find (its findings are counted in `<system-out>`);
//! - an `expect = "pass"` scenario that did not gets one `<failure>` per failing trial, with
//!   the class, the detail, the fault and the command that reproduces it;
//! - any other unmet scenario (no bug found, run interrupted or unfinished) gets one
//!   `<failure>` saying why.
//!
//! The output is byte-stable: scenarios sorted by name, failures by trial index, and no
//! time but the input's `elapsed_ms`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::faults::Damage;

/// JUnit XML for the results lines of one or more runs (each a results file's lines,
/// parsed as serde_json::Value). One `<testsuite>` per scenario name, one `<testcase>` per
/// scenario (`crashtest.<scenario>`), a `<failure>` per failing trial carrying its class,
/// detail and repro command; `<properties>` with seed, trials, expect.
///
/// Lines without a `scenario` or with an unknown `type` are ignored. A scenario's
/// verdict is its `summary` line's `met` when it has exactly one; with several (shard
/// files not merged), or none, it is computed the way the runner does: `expect = "pass"`
/// is met by no failing trial, `expect = "fail"` by at least one finding that is not a
/// `target-error`, and neither by a run that was interrupted or left no summary.
pub fn render(lines: &[Value]) -> String {
    let mut scenarios: BTreeMap<&str, Lines<'_>> = BTreeMap::new();
    for line in lines {
        let (Some(scenario), Some(kind)) = (str_field(line, "scenario"), str_field(line, "type"))
        else {
            continue;
        };
        let entry = scenarios.entry(scenario).or_default();
        match kind {
            "run" => entry.runs.push(line),
            "trial" => entry.trials.push(line),
            "finding" => entry.findings.push(line),
            "summary" => entry.summaries.push(line),
            _ => {}
        }
    }
    let cases: Vec<Case> = scenarios
        .into_iter()
        .map(|(name, lines)| Case::judge(name, &lines))
        .collect();

    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let failed = cases.iter().filter(|c| !c.passed()).count();
    let total_ms: u64 = cases.iter().map(|c| c.elapsed_ms).sum();
    let _ = writeln!(
        xml,
        "<testsuites name=\"crashtest\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" time=\"{}\">",
        cases.len(),
        seconds(total_ms)
    );
    for case in &cases {
        case.write(&mut xml);
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// One scenario's lines, by type, in input order.
#[derive(Default)]
struct Lines<'a> {
    runs: Vec<&'a Value>,
    trials: Vec<&'a Value>,
    findings: Vec<&'a Value>,
    summaries: Vec<&'a Value>,
}

/// One scenario, judged: what its `<testsuite>` says.
struct Case<'a> {
    name: &'a str,
    expect: &'a str,
    /// The run seeds, distinct and sorted.
    seeds: BTreeSet<String>,
    /// Trials planned: each seed's `trials`, summed over seeds (shards share theirs).
    planned: Option<u64>,
    /// Trials that ran.
    ran: u64,
    elapsed_ms: u64,
    /// Failing trials, sorted by trial index.
    failing: Vec<Failing<'a>>,
    verdict: Verdict,
}

enum Verdict {
    /// The scenario met its `expect`.
    Met,
    /// `expect = "pass"`, and trials failed: one `<failure>` each.
    TrialsFailed,
    /// Not met, for a reason that is not a failing trial: one `<failure>` of this type
    /// and message.
    Unmet { kind: &'static str, message: String },
}

/// A failing trial, from its `finding` line, or from its `trial` line when the finding
/// line is missing (a run killed between the two).
struct Failing<'a> {
    trial: u64,
    case: Option<&'a str>,
    class: &'a str,
    detail: String,
    /// Fault, kill point and damage in words.
    fault: Option<String>,
    /// The shrunk case's repro, and what it shrank to.
    shrunk: Option<(String, String)>,
    repro: Option<String>,
}

impl<'a> Case<'a> {
    fn judge(name: &'a str, lines: &Lines<'a>) -> Case<'a> {
        let expect = lines
            .summaries
            .iter()
            .chain(&lines.runs)
            .find_map(|l| str_field(l, "expect"))
            .unwrap_or("pass");

        let mut seeds = BTreeSet::new();
        let mut per_seed: BTreeMap<String, u64> = BTreeMap::new();
        for run in &lines.runs {
            let seed = run.get("seed").map(scalar).unwrap_or_default();
            if let Some(n) = u64_field(run, "trials") {
                let planned = per_seed.entry(seed.clone()).or_default();
                *planned = (*planned).max(n);
            }
            seeds.insert(seed);
        }
        if seeds.is_empty() {
            // No run line (a hand-joined file): the other lines carry the seed too.
            for l in lines.summaries.iter().chain(&lines.findings) {
                if let Some(seed) = l.get("seed") {
                    seeds.insert(scalar(seed));
                }
            }
        }
        let planned = (!per_seed.is_empty()).then(|| per_seed.values().sum());

        let mut failing: Vec<Failing<'a>> = lines.findings.iter().map(|f| finding(f)).collect();
        let reported: BTreeSet<(u64, Option<&str>)> =
            failing.iter().map(|f| (f.trial, f.case)).collect();
        for t in &lines.trials {
            let Some(class) = str_field(t, "class") else {
                continue;
            };
            let trial = u64_field(t, "trial").unwrap_or(0);
            let case = str_field(t, "case");
            let known = reported.contains(&(trial, case))
                || (case.is_none() && reported.iter().any(|&(n, _)| n == trial));
            if !known {
                failing.push(Failing {
                    trial,
                    case,
                    class,
                    detail: "no finding line for this trial: the run stopped before writing it"
                        .to_owned(),
                    fault: fault_words(t),
                    shrunk: None,
                    repro: case.map(|c| format!("crashtest repro {c}")),
                });
            }
        }
        failing.sort_by(|a, b| (a.trial, a.case).cmp(&(b.trial, b.case)));

        let ran = if lines.summaries.is_empty() {
            let mut seen: BTreeSet<(u64, Option<&str>)> =
                failing.iter().map(|f| (f.trial, f.case)).collect();
            for t in &lines.trials {
                seen.insert((u64_field(t, "trial").unwrap_or(0), str_field(t, "case")));
            }
            seen.len() as u64
        } else {
            lines
                .summaries
                .iter()
                .filter_map(|s| u64_field(s, "trials"))
                .sum()
        };
        let elapsed_ms = lines
            .summaries
            .iter()
            .filter_map(|s| u64_field(s, "elapsed_ms"))
            .sum();

        let findings = failing.iter().filter(|f| f.class != "target-error").count();
        let interrupted = lines
            .summaries
            .iter()
            .any(|s| bool_field(s, "interrupted") == Some(true));
        let unfinished = lines.summaries.is_empty();
        let met = match (lines.summaries.as_slice(), expect) {
            ([one], _) if bool_field(one, "met").is_some() => bool_field(one, "met") == Some(true),
            (_, "fail") => findings > 0 && !interrupted && !unfinished,
            (all, _) => {
                failing.is_empty()
                    && !interrupted
                    && !unfinished
                    && all.iter().all(|s| bool_field(s, "met") != Some(false))
            }
        };

        let of_planned = match planned {
            Some(n) => format!("{ran} of {n}"),
            None => ran.to_string(),
        };
        let verdict = if met {
            Verdict::Met
        } else if expect != "fail" && !failing.is_empty() {
            Verdict::TrialsFailed
        } else if unfinished {
            Verdict::Unmet {
                kind: "unfinished",
                message: format!(
                    "the run left no summary line (killed or crashed?) after {of_planned} trials"
                ),
            }
        } else if interrupted {
            Verdict::Unmet {
                kind: "interrupted",
                message: format!("the run was interrupted after {of_planned} trials"),
            }
        } else if expect == "fail" {
            let mut message =
                format!("no bug found: expected fail, but none of {ran} trials found one");
            let target_errors = failing.len() - findings;
            if target_errors > 0 {
                let _ = write!(
                    message,
                    " ({target_errors} failed with target-error, which is not a crash finding)"
                );
            }
            Verdict::Unmet {
                kind: "no-bug-found",
                message,
            }
        } else {
            Verdict::Unmet {
                kind: "unmet",
                message: format!("expected {expect}, and the run did not meet it"),
            }
        };

        Case {
            name,
            expect,
            seeds,
            planned,
            ran,
            elapsed_ms,
            failing,
            verdict,
        }
    }

    fn passed(&self) -> bool {
        matches!(self.verdict, Verdict::Met)
    }

    fn write(&self, xml: &mut String) {
        let name = attr(self.name);
        let time = seconds(self.elapsed_ms);
        let failures = u8::from(!self.passed());
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{name}\" tests=\"1\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time}\">"
        );
        xml.push_str("    <properties>\n");
        let seeds: Vec<&str> = self.seeds.iter().map(String::as_str).collect();
        property(xml, "seed", &seeds.join(","));
        if let Some(planned) = self.planned {
            property(xml, "trials", &planned.to_string());
        }
        property(xml, "expect", self.expect);
        xml.push_str("    </properties>\n");
        let _ = writeln!(
            xml,
            "    <testcase name=\"crashtest.{name}\" classname=\"crashtest\" time=\"{time}\">"
        );
        match &self.verdict {
            Verdict::Met => {}
            Verdict::TrialsFailed => {
                for f in &self.failing {
                    failure(
                        xml,
                        f.class,
                        &format!("{}: {}", f.class, f.detail),
                        &f.body(),
                    );
                }
            }
            Verdict::Unmet { kind, message } => failure(xml, kind, message, message),
        }
        let _ = writeln!(
            xml,
            "      <system-out>{}</system-out>",
            text(&self.account())
        );
        xml.push_str("    </testcase>\n  </testsuite>\n");
    }

    /// What ran and what was found, for `<system-out>`.
    fn account(&self) -> String {
        let mut classes: BTreeMap<&str, u64> = BTreeMap::new();
        for f in &self.failing {
            *classes.entry(f.class).or_default() += 1;
        }
        let mut s = format!("{} trials: {} failed", self.ran, self.failing.len());
        if !classes.is_empty() {
            let words: Vec<String> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
            let _ = write!(s, " ({})", words.join(", "));
        }
        let findings = self
            .failing
            .iter()
            .filter(|f| f.class != "target-error")
            .count();
        let _ = write!(s, "\nexpect {}: ", self.expect);
        match (&self.verdict, self.expect) {
            (Verdict::Met, "fail") => {
                let _ = write!(s, "met, {findings} findings");
                let first = self.failing.iter().find(|f| f.class != "target-error");
                if let Some(first) = first
                    && let Some(repro) = first
                        .shrunk
                        .as_ref()
                        .map(|(r, _)| r)
                        .or(first.repro.as_ref())
                {
                    let _ = write!(s, "\nfirst finding: trial {}:\n{repro}", first.trial);
                }
            }
            (Verdict::Met, _) => s.push_str("met"),
            _ => s.push_str("NOT met"),
        }
        s.push('\n');
        s
    }
}

impl Failing<'_> {
    /// The `<failure>` text: detail, fault words, then each repro command alone on a line,
    /// the shrunk one first.
    fn body(&self) -> String {
        let mut s = self.detail.trim_end().to_owned();
        s.push_str("\n\n");
        let _ = writeln!(s, "trial {}", self.trial);
        if let Some(fault) = &self.fault {
            let _ = writeln!(s, "fault: {fault}");
        }
        if let Some((repro, what)) = &self.shrunk {
            let _ = writeln!(s, "repro (shrunk{what}):\n{repro}");
        }
        if let Some(repro) = &self.repro {
            let _ = writeln!(s, "repro:\n{repro}");
        }
        s
    }
}

/// A failing trial from its `finding` line.
fn finding(f: &Value) -> Failing<'_> {
    let violation = f.get("judgement").and_then(|j| j.get("violation"));
    let class = violation
        .and_then(|v| str_field(v, "class"))
        .unwrap_or("unknown");
    let detail = violation
        .and_then(|v| str_field(v, "detail"))
        .unwrap_or("")
        .to_owned();
    let case = str_field(f, "case");
    let repro = str_field(f, "repro")
        .map(str::to_owned)
        .or_else(|| case.map(|c| format!("crashtest repro {c}")));
    let shrunk = f.get("shrunk").filter(|s| s.is_object()).and_then(|s| {
        let repro = str_field(s, "repro")
            .map(str::to_owned)
            .or_else(|| str_field(s, "case").map(|c| format!("crashtest repro {c}")))?;
        let mut what = Vec::new();
        if let Some(n) = u64_field(s, "records") {
            what.push(format!("{n} records"));
        }
        if let Some(n) = u64_field(s, "max_payload") {
            what.push(format!("payloads up to {n} bytes"));
        }
        if let Some(n) = u64_field(s, "kill") {
            what.push(format!("kill at boundary {n}"));
        }
        if let Some(n) = u64_field(s, "tear") {
            what.push(format!("torn after {n} bytes"));
        }
        let what = if what.is_empty() {
            String::new()
        } else {
            format!(": {}", what.join(", "))
        };
        Some((repro, what))
    });
    Failing {
        trial: u64_field(f, "trial").unwrap_or(0),
        case,
        class,
        detail,
        fault: fault_words(f),
        shrunk,
        repro,
    }
}

/// "kill, kill at boundary 25/37: write(...), damage: none", as the terminal prints it,
/// from a `finding` line (`kill` a boundary object) or a `trial` line (`kill` an index).
fn fault_words(f: &Value) -> Option<String> {
    let fault = str_field(f, "fault")?;
    let boundaries = u64_field(f, "boundaries");
    let of = |index: String| match boundaries {
        Some(n) => format!("{index}/{n}"),
        None => index,
    };
    let mut kill = match f.get("kill") {
        Some(b) if b.is_object() => {
            let index = b.get("index").map(scalar).unwrap_or_default();
            let writer = match (u64_field(f, "writers"), b.get("writer")) {
                (Some(w), Some(n)) if w > 1 => format!("writer {}: ", scalar(n)),
                _ => String::new(),
            };
            let description = str_field(b, "description").unwrap_or("?");
            format!("boundary {}: {writer}{description}", of(index))
        }
        Some(Value::Number(n)) => format!("boundary {}", of(n.to_string())),
        _ => match boundaries {
            Some(n) => format!("none (clean exit after {n} boundaries)"),
            None => "none".to_owned(),
        },
    };
    if let Some(tear) = u64_field(f, "tear") {
        let _ = write!(kill, ", torn after {tear} bytes");
    }
    let mut s = format!("{fault}, kill at {kill}");
    if let Some(damage) = f.get("damage") {
        let words = match serde_json::from_value::<Damage>(damage.clone()) {
            Ok(d) => d.to_string(),
            // A damage kind this build does not know: its name will do.
            Err(_) => str_field(damage, "kind").unwrap_or("?").to_owned(),
        };
        let _ = write!(s, ", damage: {words}");
    }
    if let Some(Value::Array(rk)) = f.get("recovery_kill")
        && let [b, n] = rk.as_slice()
    {
        let index = b.get("index").map(scalar).unwrap_or_default();
        let description = str_field(b, "description").unwrap_or("?");
        let _ = write!(
            s,
            ", recovery killed at boundary {index}/{}: {description}",
            scalar(n)
        );
    }
    Some(s)
}

fn property(xml: &mut String, name: &str, value: &str) {
    let _ = writeln!(
        xml,
        "      <property name=\"{}\" value=\"{}\"/>",
        attr(name),
        attr(value)
    );
}

fn failure(xml: &mut String, kind: &str, message: &str, body: &str) {
    let _ = writeln!(
        xml,
        "      <failure message=\"{}\" type=\"{}\">{}</failure>",
        attr(&one_line(message, MESSAGE_CHARS)),
        attr(kind),
        text(body)
    );
}

/// How much of `class: detail` a `<failure message>` carries; the body has all of it.
const MESSAGE_CHARS: usize = 200;

/// `text` on one line (whitespace runs become one space), cut to `max` chars with "…".
fn one_line(text: &str, max: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() <= max {
        joined
    } else {
        let mut cut: String = joined.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// `text` as an XML 1.0 attribute value (quoted with `"`). Characters XML 1.0 forbids
/// (most C0 controls, U+FFFE, U+FFFF: a replay's stderr can hold anything) become U+FFFD.
/// Tab, newline and carriage return are written as references, which survive
/// attribute-value normalisation.
fn attr(text: &str) -> String {
    escape(text, true)
}

/// `text` as XML 1.0 element content: as [`attr`], but newlines and tabs stay as they
/// are, so a failure's body reads as lines. Carriage returns are still references, which
/// keeps a parser's CRLF folding from eating them.
fn text(text: &str) -> String {
    escape(text, false)
}

fn escape(text: &str, attribute: bool) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&apos;"),
            '\r' => s.push_str("&#13;"),
            '\n' if attribute => s.push_str("&#10;"),
            '\t' if attribute => s.push_str("&#9;"),
            '\n' | '\t' => s.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => s.push('\u{fffd}'),
            c => s.push(c),
        }
    }
    s
}

/// Milliseconds as JUnit's seconds, with exactly three decimals.
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

fn u64_field(v: &Value, key: &str) -> Option<u64> {
    v.get(key)?.as_u64()
}

fn bool_field(v: &Value, key: &str) -> Option<bool> {
    v.get(key)?.as_bool()
}

/// A JSON scalar as text: strings bare, numbers as written.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(scenario: &str, expect: &str, trials: u64) -> Value {
        json!({"type": "run", "scenario": scenario, "seed": 7, "expect": expect,
               "path": format!("scenarios/{scenario}.toml"), "target": scenario,
               "trials": trials})
    }

    fn trial(scenario: &str, index: u64, class: Option<&str>) -> Value {
        json!({"type": "trial", "scenario": scenario, "seed": 7, "trial": index,
               "case": format!("scenarios/{scenario}.toml@7/{index}"), "fault": "kill",
               "boundaries": 39, "kill": 2, "tear": null, "class": class, "elapsed_ms": 12})
    }

    fn finding(scenario: &str, index: u64, class: &str, detail: &str) -> Value {
        let case = format!("scenarios/{scenario}.toml@7/{index}");
        json!({"type": "finding", "scenario": scenario, "seed": 7, "trial": index,
               "fault": "kill", "boundaries": 37,
               "kill": {"index": 25, "writer": 0, "syscall": "write",
                        "description": "write(wal.log, off=868, len=29)",
                        "write": {"offset": 868, "len": 29}},
               "damage": {"kind": "none"}, "writers": 1, "sent": 20, "tracees": 1,
               "judgement": {"acked": 13, "required": 13, "recovered": null,
                             "violation": {"class": class, "detail": detail}},
               "case": case, "repro": format!("crashtest repro {case}"),
               "timeline": ["openat(wal.log, O_WRONLY|O_CREAT|O_APPEND)",
                            "write(wal.log, off=868, len=29)"]})
    }

    fn summary(scenario: &str, expect: &str, trials: u64, failed: u64, met: bool) -> Value {
        json!({"type": "summary", "scenario": scenario, "seed": 7, "trials": trials,
               "failed": failed, "classes": {}, "faults": {"kill": trials}, "killed": trials,
               "recovery_crashes": 0, "exhaustive": false, "expect": expect, "met": met,
               "interrupted": false, "budget_exhausted": false, "elapsed_ms": 580})
    }

    /// Renders, checks the XML parses, and returns it.
    fn rendered(lines: &[Value]) -> String {
        let xml = render(lines);
        roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
        xml
    }

    fn elements<'a, 'i>(
        doc: &'a roxmltree::Document<'i>,
        tag: &str,
    ) -> Vec<roxmltree::Node<'a, 'i>> {
        doc.descendants().filter(|n| n.has_tag_name(tag)).collect()
    }

    fn property<'a>(suite: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
        suite
            .descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some(name))
            .and_then(|n| n.attribute("value"))
    }

    #[test]
    fn passing_scenario_is_one_passing_testcase_with_its_properties() {
        let xml = rendered(&[
            run("good", "pass", 3),
            trial("good", 1, None),
            trial("good", 0, None),
            trial("good", 2, None),
            summary("good", "pass", 3, 0, true),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        for (attr, want) in [
            ("tests", "1"),
            ("failures", "0"),
            ("errors", "0"),
            ("time", "0.580"),
        ] {
            assert_eq!(root.attribute(attr), Some(want), "{attr}");
        }
        let suites = elements(&doc, "testsuite");
        assert_eq!(suites.len(), 1);
        let suite = suites[0];
        assert_eq!(suite.attribute("name"), Some("good"));
        assert_eq!(suite.attribute("tests"), Some("1"));
        assert_eq!(suite.attribute("failures"), Some("0"));
        assert_eq!(suite.attribute("time"), Some("0.580"));
        assert_eq!(property(suite, "seed"), Some("7"));
        assert_eq!(property(suite, "trials"), Some("3"));
        assert_eq!(property(suite, "expect"), Some("pass"));
        let cases = elements(&doc, "testcase");
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].attribute("name"), Some("crashtest.good"));
        assert!(elements(&doc, "failure").is_empty());
    }

    #[test]
    fn each_failing_trial_is_a_failure_with_its_repro_shrunk_first() {
        let mut shrunk = finding("bad", 41, "lost-ack", "record 3 was acked and is missing");
        shrunk["shrunk"] = json!({"case": "scenarios/bad.toml@7/41/r2/p16/k3",
                                  "repro": "crashtest repro scenarios/bad.toml@7/41/r2/p16/k3",
                                  "records": 2, "max_payload": 16, "kill": 3, "tear": null});
        // In the order trials ended, not by index.
        let xml = rendered(&[
            run("bad", "pass", 100),
            trial("bad", 41, Some("lost-ack")),
            shrunk,
            trial("bad", 9, Some("replay-failed")),
            finding("bad", 9, "replay-failed", "replay exit status: 1"),
            summary("bad", "pass", 100, 2, false),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("tests"), Some("1"));
        assert_eq!(root.attribute("failures"), Some("1"));
        assert_eq!(
            elements(&doc, "testsuite")[0].attribute("failures"),
            Some("1")
        );
        let failures = elements(&doc, "failure");
        assert_eq!(failures.len(), 2);

        let first = failures[0];
        assert_eq!(first.attribute("type"), Some("replay-failed"));
        assert_eq!(
            first.attribute("message"),
            Some("replay-failed: replay exit status: 1")
        );
        let body = first.text().unwrap();
        assert!(body.starts_with("replay exit status: 1\n"), "{body}");
        assert!(body.contains(
            "fault: kill, kill at boundary 25/37: write(wal.log, off=868, len=29), damage: none"
        ));
        assert!(
            body.contains("\ncrashtest repro scenarios/bad.toml@7/9\n"),
            "{body}"
        );

        let second = failures[1];
        assert_eq!(second.attribute("type"), Some("lost-ack"));
        let body = second.text().unwrap();
        let shrunk_at = body
            .find("\ncrashtest repro scenarios/bad.toml@7/41/r2/p16/k3\n")
            .expect("shrunk repro on its own line");
        let original_at = body
            .find("\ncrashtest repro scenarios/bad.toml@7/41\n")
            .expect("original repro on its own line");
        assert!(shrunk_at < original_at, "{body}");
        assert!(body.contains("2 records, payloads up to 16 bytes, kill at boundary 3"));
    }

    #[test]
    fn expect_fail_that_found_its_bug_passes_and_counts_the_findings() {
        let xml = rendered(&[
            run("seed-prefix", "fail", 100),
            finding("seed-prefix", 1, "replay-failed", "short record"),
            finding("seed-prefix", 3, "replay-failed", "short record"),
            summary("seed-prefix", "fail", 100, 2, true),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(doc.root_element().attribute("failures"), Some("0"));
        assert!(elements(&doc, "failure").is_empty());
        let out = elements(&doc, "system-out")[0].text().unwrap();
        assert!(out.contains("met, 2 findings"), "{out}");
        assert!(
            out.contains("crashtest repro scenarios/seed-prefix.toml@7/1"),
            "{out}"
        );
        assert_eq!(
            property(elements(&doc, "testsuite")[0], "expect"),
            Some("fail")
        );
    }

    #[test]
    fn expect_fail_without_a_finding_is_one_failure() {
        let xml = rendered(&[
            run("seed-prefix", "fail", 2),
            trial("seed-prefix", 0, None),
            trial("seed-prefix", 1, None),
            summary("seed-prefix", "fail", 2, 0, false),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(doc.root_element().attribute("failures"), Some("1"));
        let failures = elements(&doc, "failure");
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].attribute("type"), Some("no-bug-found"));
        assert!(
            failures[0]
                .attribute("message")
                .unwrap()
                .contains("no bug found")
        );
    }

    #[test]
    fn met_is_computed_when_there_is_no_single_summary() {
        // Two shard files of an expect=fail scenario: only the second found the bug, so
        // its own summary says met and the first's says not; together they met it.
        let mut s1 = summary("sharded", "fail", 50, 0, false);
        s1["elapsed_ms"] = json!(1000);
        let xml = rendered(&[
            run("sharded", "fail", 100),
            s1,
            run("sharded", "fail", 100),
            finding("sharded", 51, "lost-ack", "gone"),
            summary("sharded", "fail", 50, 1, true),
            // No summary: the run was killed. Not a pass, even with no failing trial.
            run("killed", "pass", 10),
            trial("killed", 0, None),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("tests"), Some("2"));
        assert_eq!(root.attribute("failures"), Some("1"));
        assert_eq!(root.attribute("time"), Some("1.580"));
        let suites = elements(&doc, "testsuite");
        let names: Vec<_> = suites
            .iter()
            .map(|s| s.attribute("name").unwrap())
            .collect();
        assert_eq!(names, ["killed", "sharded"]);
        assert_eq!(property(suites[1], "trials"), Some("100"));
        assert_eq!(suites[1].attribute("failures"), Some("0"));
        let failures = elements(&doc, "failure");
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].attribute("type"), Some("unfinished"));
        assert!(
            failures[0]
                .attribute("message")
                .unwrap()
                .contains("after 1 of 10 trials")
        );
    }

    #[test]
    fn a_failing_trial_line_without_its_finding_line_still_fails() {
        // The run was killed between trial 5's `trial` line and its `finding` line.
        let xml = rendered(&[
            run("cut", "pass", 10),
            trial("cut", 5, Some("lost-ack")),
            summary("cut", "pass", 10, 1, false),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let failures = elements(&doc, "failure");
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].attribute("type"), Some("lost-ack"));
        let body = failures[0].text().unwrap();
        assert!(
            body.contains("fault: kill, kill at boundary 2/39\n"),
            "{body}"
        );
        assert!(
            body.contains("\ncrashtest repro scenarios/cut.toml@7/5\n"),
            "{body}"
        );
    }

    #[test]
    fn hostile_detail_survives_as_valid_xml() {
        let detail = "a < b && c > \"d\" 'e' ]]> \u{0}nul \u{1b}[31mred\u{1b}[0m\r\n\ttab \u{ffff}";
        let xml = rendered(&[
            run("<odd & \"name\">", "pass", 1),
            finding("<odd & \"name\">", 0, "replay-failed", detail),
            summary("<odd & \"name\">", "pass", 1, 1, false),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(
            elements(&doc, "testsuite")[0].attribute("name"),
            Some("<odd & \"name\">")
        );
        let failure = elements(&doc, "failure")[0];
        let want =
            "a < b && c > \"d\" 'e' ]]> \u{fffd}nul \u{fffd}[31mred\u{fffd}[0m\r\n\ttab \u{fffd}";
        assert!(
            failure.text().unwrap().starts_with(want),
            "{:?}",
            failure.text()
        );
        assert_eq!(
            failure.attribute("message"),
            Some(
                "replay-failed: a < b && c > \"d\" 'e' ]]> \u{fffd}nul \u{fffd}[31mred\u{fffd}[0m tab \u{fffd}"
            )
        );
    }

    #[test]
    fn long_messages_are_cut_and_the_body_keeps_everything() {
        let detail = "x".repeat(500);
        let xml = rendered(&[
            run("long", "pass", 1),
            finding("long", 0, "not-a-prefix", &detail),
            summary("long", "pass", 1, 1, false),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let failure = elements(&doc, "failure")[0];
        let message = failure.attribute("message").unwrap();
        assert_eq!(message.chars().count(), MESSAGE_CHARS);
        assert!(message.ends_with('…'));
        assert!(failure.text().unwrap().contains(&detail));
    }

    #[test]
    fn output_is_deterministic_and_ignores_input_order() {
        let a = [
            run("b", "pass", 1),
            summary("b", "pass", 1, 0, true),
            run("a", "pass", 2),
            finding("a", 1, "lost-ack", "x"),
            finding("a", 0, "lost-ack", "y"),
            summary("a", "pass", 2, 2, false),
        ];
        let mut b = a.clone();
        b.reverse();
        assert_eq!(rendered(&a), rendered(&b));
        assert_eq!(rendered(&a), rendered(&a));
    }
}
