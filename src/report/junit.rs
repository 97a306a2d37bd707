//! JUnit XML of a [`Report`], for CI systems that show test reports (GitHub, GitLab,
//! Jenkins), written with `quick-junit` (the crate nextest writes its JUnit with).
//!
//! The mapping. JUnit's unit is a test, and a consumer marks a test failed when it has a
//! `<failure>`. crashtest's unit is a scenario and its `expect`, judged by the one rule of
//! [`crate::report::lines`], so:
//! - one `<testsuite>` per scenario, holding one `<testcase>` `crashtest.<scenario>`, with
//!   `<properties>` seed, trials, expect and verdict;
//! - the testcase passes exactly when the scenario's verdict is met, even an `expect =
//!   "fail"` one whose run found the bug it exists to find (its distinct failures are in
//!   `<system-out>`);
//! - otherwise it holds one `<failure>` whose type says why (`failed`: trials failed where
//!   `pass` was expected; `no-bug-found`; `incomplete`: the run did not finish), whose
//!   message is the verdict in words, and whose text lists each distinct failure: what it
//!   is, how many trials, the first one's detail, and the commands that reproduce it, the
//!   shrunk one first.
//!
//! The output is byte-stable: scenarios sorted by name, failures by their first trial, and
//! no time but the input's `elapsed_ms`.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use crate::report::human::one_line;
use crate::report::lines::{Failure, Report, ScenarioReport, Verdict};
use crate::scenario::Expect;

/// A `<failure>`'s message is cut to this many characters (the text keeps everything).
pub const MESSAGE_CHARS: usize = 300;

/// `text` with every character XML 1.0 does not allow (most control characters, the
/// noncharacters U+FFFE and U+FFFF) replaced by U+FFFD: a replay's stderr can hold
/// anything, and a consumer's XML parser rejects the whole file for one such character.
fn xml(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' => c,
            c if c >= '\u{10000}' => c,
            _ => '\u{fffd}',
        })
        .collect()
}

/// JUnit XML of `report`: a `<testsuite>` per scenario, one `<testcase>` each.
pub fn render(report: &Report) -> String {
    let mut junit = quick_junit::Report::new("crashtest");
    junit.set_time(Duration::from_millis(
        report.scenarios.iter().map(|s| s.elapsed_ms).sum(),
    ));
    for s in &report.scenarios {
        junit.add_test_suite(suite(s));
    }
    junit
        .to_string()
        .expect("JUnit of in-memory strings serializes")
}

fn suite(s: &ScenarioReport) -> TestSuite {
    let mut suite = TestSuite::new(xml(&s.name));
    let seeds: Vec<String> = s.seeds.iter().map(|s| s.to_string()).collect();
    suite.add_property(Property::new("seed", seeds.join(",")));
    if let Some(planned) = s.planned {
        suite.add_property(Property::new("trials", planned.to_string()));
    }
    suite.add_property(Property::new("expect", s.expect.to_string()));
    suite.add_property(Property::new("verdict", s.verdict.word()));
    let time = Duration::from_millis(s.elapsed_ms);
    suite.set_time(time);

    let status = match &s.verdict {
        Verdict::Met(_) => TestCaseStatus::success(),
        verdict => {
            let kind = match verdict {
                Verdict::Incomplete(_) => "incomplete",
                _ if s.expect == Expect::Fail => "no-bug-found",
                _ => "failed",
            };
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_type(kind)
                .set_message(xml(&one_line(verdict.why(), MESSAGE_CHARS)))
                .set_description(xml(&failure_text(s)));
            status
        }
    };
    let mut case = TestCase::new(xml(&format!("crashtest.{}", s.name)), status);
    case.set_classname("crashtest")
        .set_time(time)
        .set_system_out(xml(&account(s)));
    suite.add_test_case(case);
    suite
}

/// The `<failure>` text: the verdict, then each distinct failure.
fn failure_text(s: &ScenarioReport) -> String {
    let mut text = format!("{}\n", s.verdict.why());
    for (i, f) in s.failures.iter().enumerate() {
        text.push('\n');
        text.push_str(&failure_entry(i + 1, f));
    }
    text
}

/// One distinct failure: what it is, the first trial's detail and fault, then each repro
/// command alone on a line, the shrunk one first.
fn failure_entry(n: usize, f: &Failure) -> String {
    let first = f.first();
    let mut s = format!(
        "{n}. {}: seen in {} trial(s)\n",
        f.signature,
        f.trials.len()
    );
    let _ = writeln!(s, "first: trial {}", first.label());
    s.push_str(first.detail().trim_end());
    s.push('\n');
    if let Some(finding) = &first.finding {
        let o = &finding.outcome;
        let _ = writeln!(
            s,
            "fault: {}, kill at {}, damage: {}",
            o.fault.name(),
            o.kill_words(),
            o.damage
        );
    }
    if let Some(shrunk) = f.shrunk() {
        let _ = writeln!(s, "repro (shrunk: {}):\n{}", shrunk.words(), shrunk.repro);
    }
    if let Some(repro) = first.repro() {
        let _ = writeln!(s, "repro:\n{repro}");
    }
    if f.trials.len() > 1 {
        let others: Vec<String> = f.trials[1..]
            .iter()
            .map(|t| match &t.case {
                Some(case) => case.clone(),
                None => format!("trial {}", t.trial),
            })
            .collect();
        let _ = writeln!(s, "the other trials:\n{}", others.join("\n"));
    }
    s
}

/// What ran and what was found, for `<system-out>`.
fn account(s: &ScenarioReport) -> String {
    let mut text = format!("{} trials: {} failed", s.ran_words(), s.failed());
    if !s.classes.is_empty() {
        let words: Vec<String> = s.classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
        let _ = write!(text, " ({})", words.join(", "));
    }
    let _ = write!(
        text,
        "\nexpect {}: {}: {}\n",
        s.expect,
        s.verdict.word(),
        s.verdict.why()
    );
    if s.verdict.met() {
        for (i, f) in s.failures.iter().enumerate() {
            text.push('\n');
            text.push_str(&failure_entry(i + 1, f));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::report::lines::fixtures::{finding, judged, run, summary, trial};

    /// Renders, checks the XML parses, and returns it.
    fn rendered(lines: &[Value]) -> String {
        let xml = render(&judged(lines));
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
            summary("good", "pass", 3, 0),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let suites = elements(&doc, "testsuite");
        assert_eq!(suites.len(), 1);
        assert_eq!(suites[0].attribute("name"), Some("good"));
        assert_eq!(suites[0].attribute("failures"), Some("0"));
        assert_eq!(property(suites[0], "seed"), Some("7"));
        assert_eq!(property(suites[0], "trials"), Some("3"));
        assert_eq!(property(suites[0], "expect"), Some("pass"));
        assert_eq!(property(suites[0], "verdict"), Some("met"));
        let cases = elements(&doc, "testcase");
        assert_eq!(cases[0].attribute("name"), Some("crashtest.good"));
        assert!(elements(&doc, "failure").is_empty());
        let out = elements(&doc, "system-out")[0].text().unwrap();
        assert!(out.contains("3 trials: 0 failed"), "{out}");
    }

    #[test]
    fn one_failure_lists_each_distinct_failure_with_its_repro_shrunk_first() {
        let mut shrunk = json!({"type": "shrunk", "scenario": "bad", "seed": 7,
            "case": "scenarios/bad.toml@7/3",
            "shrunk": {"case": "scenarios/bad.toml@7/3/r1/p1/k2",
                       "repro": "crashtest repro scenarios/bad.toml@7/3/r1/p1/k2",
                       "records": 1, "max_payload": 1, "kill": 2, "tear": null}});
        shrunk["seed"] = json!(7);
        let xml = rendered(&[
            run("bad", "pass", 10),
            finding("bad", 5, "lost-ack", "record 3 lost"),
            finding("bad", 3, "lost-ack", "record 1 lost"),
            finding("bad", 4, "replay-failed", "exit status 1"),
            shrunk,
            summary("bad", "pass", 10, 3),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let failures = elements(&doc, "failure");
        assert_eq!(failures.len(), 1, "one testcase, one failure");
        assert_eq!(failures[0].attribute("type"), Some("failed"));
        let message = failures[0].attribute("message").unwrap();
        assert!(
            message.contains("3 trials failed: 2 distinct failures"),
            "{message}"
        );
        let text = failures[0].text().unwrap();
        // By first trial: lost-ack (trial 3) before replay-failed (trial 4).
        let lost = text
            .find("1. lost-ack after kill at write: seen in 2")
            .unwrap();
        let replay = text.find("2. replay-failed after kill at write").unwrap();
        assert!(lost < replay, "{text}");
        assert!(text.contains("first: trial 3\nrecord 1 lost\n"), "{text}");
        let shrunk_at = text
            .find("repro (shrunk: 1 record, payloads up to 1 byte, kill at boundary 2):\ncrashtest repro scenarios/bad.toml@7/3/r1/p1/k2\n")
            .unwrap();
        let trial_at = text
            .find("repro:\ncrashtest repro scenarios/bad.toml@7/3\n")
            .unwrap();
        assert!(shrunk_at < trial_at, "shrunk first: {text}");
        assert!(
            text.contains("the other trials:\nscenarios/bad.toml@7/5\n"),
            "{text}"
        );
    }

    #[test]
    fn expect_fail_that_found_its_bug_passes_and_lists_the_failures() {
        let xml = rendered(&[
            run("seed", "fail", 4),
            finding("seed", 0, "replay-failed", "short record"),
            finding("seed", 2, "replay-failed", "short record"),
            summary("seed", "fail", 4, 2),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert!(elements(&doc, "failure").is_empty());
        let out = elements(&doc, "system-out")[0].text().unwrap();
        assert!(out.contains("expect fail: met"), "{out}");
        assert!(
            out.contains("1. replay-failed after kill at write: seen in 2"),
            "{out}"
        );
    }

    #[test]
    fn expect_fail_with_only_target_errors_is_no_bug_found() {
        let xml = rendered(&[
            run("seed", "fail", 4),
            finding("seed", 0, "target-error", "bad ack"),
            summary("seed", "fail", 4, 1),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let failures = elements(&doc, "failure");
        assert_eq!(failures[0].attribute("type"), Some("no-bug-found"));
        assert!(
            failures[0]
                .attribute("message")
                .unwrap()
                .contains("1 trials failed with target-error"),
        );
    }

    #[test]
    fn a_run_without_its_summary_is_an_incomplete_failure() {
        let xml = rendered(&[
            run("cut", "pass", 10),
            trial("cut", 0, None),
            trial("cut", 5, Some("lost-ack")),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let failures = elements(&doc, "failure");
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].attribute("type"), Some("incomplete"));
        let message = failures[0].attribute("message").unwrap();
        assert!(message.contains("before its summary line"), "{message}");
        assert!(message.contains("after 2 of 10 trials"), "{message}");
        // The trial line without its finding line is still listed, with its repro.
        let text = failures[0].text().unwrap();
        assert!(text.contains("lost-ack after kill: seen in 1"), "{text}");
        assert!(
            text.contains(&format!(
                "repro:\n{} repro scenarios/cut.toml@7/5\n",
                crate::report::repro::program()
            )),
            "{text}"
        );
    }

    #[test]
    fn hostile_detail_survives_as_valid_xml() {
        let detail = "a < b && c > \"d\" 'e' ]]> \u{0}nul \u{1b}[31mred\u{1b}[0m\r\n\ttab \u{ffff}";
        let xml = rendered(&[
            run("<odd & \"name\">", "pass", 1),
            finding("<odd & \"name\">", 0, "replay-failed", detail),
            summary("<odd & \"name\">", "pass", 1, 1),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(
            elements(&doc, "testsuite")[0].attribute("name"),
            Some("<odd & \"name\">")
        );
        let text = elements(&doc, "failure")[0].text().unwrap();
        assert!(text.contains("a < b && c > \"d\" 'e' ]]>"), "{text:?}");
        assert!(text.contains("\u{fffd}nul \u{fffd}[31mred"), "{text:?}");
        assert!(text.contains("tab \u{fffd}"), "{text:?}");
    }

    #[test]
    fn long_messages_are_cut_and_the_text_keeps_everything() {
        let detail = "x".repeat(500);
        let xml = rendered(&[
            run("long", "pass", 1),
            finding("long", 0, "not-a-prefix", &detail),
            summary("long", "pass", 1, 1),
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let failure = elements(&doc, "failure")[0];
        assert!(failure.attribute("message").unwrap().chars().count() <= MESSAGE_CHARS);
        assert!(failure.text().unwrap().contains(&detail));
    }

    #[test]
    fn output_is_the_same_whatever_order_the_trials_ended_in() {
        let a = [
            run("a", "pass", 2),
            finding("a", 1, "lost-ack", "x"),
            finding("a", 0, "lost-ack", "y"),
            summary("a", "pass", 2, 2),
            run("b", "pass", 1),
            summary("b", "pass", 1, 0),
        ];
        let mut b = a.clone();
        b.swap(1, 2);
        assert_eq!(rendered(&a), rendered(&b));
    }
}
