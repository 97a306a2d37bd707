//! One self-contained HTML page of a [`Report`].
//!
//! Why a page and not only the JSONL: a CI job keeps one file as an artifact and a person
//! opens it in a browser, offline, from a mail or an artifact store. So the page pulls in
//! nothing (no scripts, styles, fonts or images from elsewhere: inline CSS and inline SVG),
//! needs no JavaScript (a `<details>` per failure), and is byte-stable: the same lines give
//! the same page, so it can be diffed and snapshot-tested. Nothing in it comes from the
//! clock or from hash order; failures are shown by their first trial, not in the order
//! trials ended.
//!
//! What the page says a scenario's result is comes from [`crate::report::lines`], the one
//! rule every output uses: the headline, the table and each scenario's section say "met",
//! "not met" or "incomplete" (a run that did not finish), with the rule's reason in words.
//! Failures are shown as distinct failures ([`crate::report::lines::Failure`]): what they
//! share and how many trials, the first trial in full with the shrunk case first, and the
//! trials behind it a click away.
//!
//! This file is the page and its summary; `chart` draws where the kills landed,
//! `failure` the failures, and `text` escapes what the page quotes.

mod chart;
mod failure;
mod text;

use std::collections::BTreeMap;
use std::fmt::{self, Display, Write};

pub use failure::{MAX_FAILURES, MAX_TRIALS};
use text::{Esc, plural};

use crate::report::lines::{Report, ScenarioReport, Verdict};

/// A self-contained HTML page (no external scripts, styles, fonts or images: inline CSS
/// and inline SVG only) of `report`.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    write_page(&mut out, report).expect("formatting into a String does not fail");
    out
}

fn write_page(out: &mut String, report: &Report) -> fmt::Result {
    let title = match report.scenarios.as_slice() {
        [one] => format!("crashtest report: {}", one.name),
        _ => "crashtest report".to_owned(),
    };
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">")?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(
        out,
        "<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>",
        Esc(&title)
    )?;
    writeln!(out, "<header><h1>{}</h1>", Esc(&title))?;

    let trials: u64 = report.scenarios.iter().map(|s| s.ran).sum();
    let failed: u64 = report.scenarios.iter().map(ScenarioReport::failed).sum();
    let distinct: usize = report.scenarios.iter().map(|s| s.failures.len()).sum();
    let count = |pick: fn(&Verdict) -> bool| {
        report.scenarios.iter().filter(|s| pick(&s.verdict)).count() as u64
    };
    let not_met = count(|v| matches!(v, Verdict::NotMet(_)));
    let incomplete = count(|v| matches!(v, Verdict::Incomplete(_)));
    write!(
        out,
        "<p class=\"lede\">{} · {trials} trials · {failed} failed · {} · ",
        plural(report.scenarios.len() as u64, "scenario", "scenarios"),
        plural(distinct as u64, "distinct failure", "distinct failures")
    )?;
    if report.scenarios.is_empty() {
        writeln!(out, "no results lines</p></header>")?;
    } else if report.met() {
        writeln!(
            out,
            "<span class=\"ok\">every expectation met</span></p></header>"
        )?;
    } else {
        let mut parts = Vec::new();
        if not_met > 0 {
            parts.push(plural(
                not_met,
                "expectation not met",
                "expectations not met",
            ));
        }
        if incomplete > 0 {
            parts.push(format!(
                "{} that did not finish",
                plural(incomplete, "run", "runs")
            ));
        }
        writeln!(
            out,
            "<span class=\"bad\">NOT OK: {}</span></p></header>",
            Esc(&parts.join(", "))
        )?;
    }

    writeln!(out, "<main>\n<section class=\"summary\">\n<h2>Summary</h2>")?;
    write_summary_table(out, report)?;
    writeln!(out, "</section>")?;

    for (n, s) in report.scenarios.iter().enumerate() {
        write_scenario(out, n + 1, s)?;
    }

    writeln!(
        out,
        "</main>\n<footer>Made by crashtest {}. The results format and the verdict rule: \
         <code>docs/results-format.md</code>.</footer>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION"),
    )
}

fn elapsed(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{}.{} s", ms / 1000, ms % 1000 / 100)
    } else {
        let s = ms / 1000;
        format!("{} min {} s", s / 60, s % 60)
    }
}

fn write_tags<K: Display>(out: &mut String, counts: &BTreeMap<K, u64>, class: &str) -> fmt::Result {
    if counts.is_empty() {
        return write!(out, "—");
    }
    for (name, n) in counts {
        write!(
            out,
            "<span class=\"tag {class}\">{} {n}</span> ",
            Esc(&name.to_string())
        )?;
    }
    Ok(())
}

fn write_met(out: &mut String, v: &Verdict) -> fmt::Result {
    match v {
        Verdict::Met(_) => write!(out, "<td class=\"met yes\">✓ met</td>"),
        Verdict::NotMet(_) => write!(out, "<td class=\"met no\">✗ not met</td>"),
        Verdict::Incomplete(_) => write!(out, "<td class=\"met incomplete\">✗ incomplete</td>"),
    }
}

fn seeds(s: &ScenarioReport) -> String {
    let seeds: Vec<String> = s.seeds.iter().map(|s| s.to_string()).collect();
    seeds.join(", ")
}

fn write_summary_table(out: &mut String, report: &Report) -> fmt::Result {
    writeln!(
        out,
        "<table class=\"summary-table\">\n<thead><tr><th>scenario</th><th>seed</th>\
         <th>target</th><th>expect</th><th>result</th><th class=\"num\">trials</th>\
         <th class=\"num\">failed</th><th class=\"num\">distinct</th><th>failures by class</th>\
         <th>faults drawn</th><th class=\"num\">elapsed</th></tr></thead>\n<tbody>"
    )?;
    for (n, s) in report.scenarios.iter().enumerate() {
        write!(
            out,
            "<tr><td><a href=\"#s{}\">{}</a></td><td class=\"mono\">{}</td><td>{}</td><td>{}</td>",
            n + 1,
            Esc(&s.name),
            Esc(&seeds(s)),
            Esc(s.target.as_deref().unwrap_or("—")),
            s.expect,
        )?;
        write_met(out, &s.verdict)?;
        write!(out, "<td class=\"num\">{}", s.ran)?;
        if let Some(p) = s.planned.filter(|&p| p > s.ran) {
            write!(out, " <span class=\"of\">of {p}</span>")?;
        }
        let failed = s.failed();
        write!(
            out,
            "</td><td class=\"num{}\">{failed}</td><td class=\"num\">{}</td><td>",
            if failed > 0 { " failed" } else { "" },
            s.failures.len()
        )?;
        write_tags(out, &s.classes, "class")?;
        write!(out, "</td><td>")?;
        write_tags(out, &s.faults, "fault")?;
        writeln!(
            out,
            "</td><td class=\"num\">{}</td></tr>",
            if s.elapsed_ms > 0 {
                elapsed(s.elapsed_ms)
            } else {
                "—".to_owned()
            }
        )?;
    }
    writeln!(out, "</tbody>\n</table>")
}

fn write_scenario(out: &mut String, n: usize, s: &ScenarioReport) -> fmt::Result {
    writeln!(
        out,
        "<section class=\"scenario\" id=\"s{n}\">\n<h2>{} <span class=\"seed\">seed {}</span></h2>",
        Esc(&s.name),
        Esc(&seeds(s))
    )?;
    let (class, words) = match &s.verdict {
        Verdict::Met(_) => ("ok", "✓ expectation met"),
        Verdict::NotMet(_) => ("bad", "✗ expectation not met"),
        Verdict::Incomplete(_) => ("incomplete", "✗ incomplete: the run did not finish"),
    };
    writeln!(
        out,
        "<p class=\"verdict\"><span class=\"{class}\">{words}</span>: {}</p>",
        Esc(s.verdict.why())
    )?;
    write!(out, "<p class=\"facts\">")?;
    if let Some(path) = &s.path {
        write!(out, "<code>{}</code> · ", Esc(path))?;
    }
    write!(
        out,
        "target <b>{}</b> · expect <b>{}</b> · ",
        Esc(s.target.as_deref().unwrap_or("—")),
        s.expect
    )?;
    write!(
        out,
        "{} of {} writers killed before their clean exit",
        s.killed, s.ran
    )?;
    if s.recovery_crashes > 0 {
        write!(
            out,
            " · {}",
            plural(s.recovery_crashes, "replay killed", "replays killed")
        )?;
    }
    if !s.shards.is_empty() {
        let shards: Vec<String> = s.shards.iter().map(|s| s.to_string()).collect();
        write!(out, " · shards {}", Esc(&shards.join(", ")))?;
    }
    for (on, flag) in [
        (s.budget_exhausted, "time budget exhausted"),
        (s.shrink_budget_exhausted, "shrink budget exhausted"),
        (s.exhaustive, "exhaustive"),
    ] {
        if on {
            write!(out, " · <span class=\"flag\">{flag}</span>")?;
        }
    }
    writeln!(out, "</p>")?;
    chart::write_chart(out, n, s)?;
    failure::write_failures(out, n, s)?;
    writeln!(out, "</section>")
}

const CSS: &str = r#"
:root { color-scheme: light; --fg: #1d232b; --muted: #5c6773; --line: #d8dee4; --bg-soft: #f5f7f9;
  --pass: #4a7fb5; --fail: #c0392b; --ok: #1e7d3a; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: var(--fg); background: #fff; }
header, main, footer { max-width: 1120px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 6px; }
h4 { font-size: 13px; margin: 14px 0 4px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.lede { margin: 0; color: var(--muted); font-size: 16px; }
.ok { color: var(--ok); font-weight: 600; }
.bad { color: var(--fail); font-weight: 600; }
.seed { font-weight: 400; color: var(--muted); font-size: 15px; }
.facts, .note, .chart-text { color: var(--muted); margin: 4px 0; }
.chart-text { font-size: 13px; }
.flag { color: #9a5b00; font-weight: 600; }
code, pre, .mono, .timeline { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 13px; }
table { border-collapse: collapse; }
.summary-table { width: 100%; font-size: 14px; }
.summary-table th, .summary-table td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
.summary-table thead th { background: var(--bg-soft); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.summary-table .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.summary-table td.failed { color: var(--fail); font-weight: 600; }
.of { color: var(--muted); font-weight: 400; }
.met { font-weight: 600; white-space: nowrap; }
.met.yes { color: var(--ok); } .met.no { color: var(--fail); } .met.incomplete { color: #9a5b00; }
.tag { display: inline-block; padding: 0 6px; margin: 1px 2px 1px 0; border-radius: 4px; font-size: 12px;
  background: var(--bg-soft); border: 1px solid var(--line); white-space: nowrap; }
.tag.class { background: #fdecea; border-color: #f1b8b1; color: #8c1c18; }
svg.chart { display: block; width: 100%; max-width: 900px; height: auto; margin: 8px 0 0; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axisline { stroke: var(--muted); stroke-width: 1; }
svg .tick, svg .legend { font: 12px system-ui, "DejaVu Sans", sans-serif; fill: var(--muted); }
svg .legend { fill: var(--fg); }
svg .axis { font: 12px system-ui, "DejaVu Sans", sans-serif; fill: var(--muted); }
svg .pass { fill: var(--pass); }
svg .hit { fill: transparent; }
svg .bin:hover .hit { fill: rgba(0, 0, 0, .05); }
details.finding { border: 1px solid var(--line); border-radius: 6px; margin: 8px 0; background: #fff; }
details.finding > summary { cursor: pointer; padding: 8px 12px; background: var(--bg-soft); border-radius: 6px;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
details.finding[open] > summary { border-bottom: 1px solid var(--line); border-radius: 6px 6px 0 0; }
.gist { color: var(--muted); font-size: 13px; }
.body { padding: 4px 14px 12px; }
pre { margin: 6px 0; padding: 8px 10px; background: var(--bg-soft); border-radius: 4px; white-space: pre-wrap; overflow-wrap: anywhere; }
pre.detail { border-left: 3px solid var(--fail); }
pre.cmd { background: #1f2630; color: #e8edf2; }
pre.cmd code { user-select: all; }
.cmd-label { margin: 6px 0 0; font-size: 13px; color: var(--muted); }
dl.fault { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0; font-size: 14px; }
dl.fault dt { color: var(--muted); }
dl.fault dd { margin: 0; }
.judgement { font-size: 14px; margin: 8px 0; }
.judgement th, .judgement td { border: 1px solid var(--line); padding: 4px 14px; text-align: center; font-variant-numeric: tabular-nums; }
.judgement th { background: var(--bg-soft); font-weight: 600; font-size: 12px; color: var(--muted); }
ol.timeline { margin: 4px 0; padding-left: 48px; }
ol.timeline li { padding: 1px 0; }
ol.timeline li::marker { color: var(--muted); }
ol.timeline li.more { list-style: none; color: var(--muted); font-style: italic; }
ol.timeline li.kill { color: var(--fail); font-weight: 600; }
.mark { font-family: system-ui, "DejaVu Sans", sans-serif; font-size: 12px; }
details.failure { border: 1px solid var(--line); border-radius: 6px; margin: 12px 0; }
details.failure > summary { cursor: pointer; padding: 8px 12px; font-weight: 600; }
details.failure > .body { padding: 4px 14px 12px; }
.verdict { margin: 6px 0; font-size: 15px; }
.incomplete { color: #9a5b00; font-weight: 600; }
table.trials { font-size: 13px; margin: 6px 0; }
table.trials td, table.trials th { text-align: left; padding: 2px 10px 2px 0; vertical-align: top; }
.case { font-size: 13px; color: var(--muted); margin: 4px 0; }
footer { margin-top: 40px; padding-bottom: 32px; color: var(--muted); font-size: 13px; border-top: 1px solid var(--line); padding-top: 12px; }
"#;

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::report::lines::KILL_BINS;
    use crate::report::lines::fixtures::{judged, run};

    fn trial(
        scenario: &str,
        i: u64,
        boundaries: u64,
        kill: Option<u64>,
        class: Option<&str>,
    ) -> Value {
        json!({"type": "trial", "scenario": scenario, "seed": 7, "trial": i,
               "case": format!("scenarios/{scenario}.toml@7/{i}"), "fault": "kill",
               "boundaries": boundaries, "kill": kill, "tear": null, "class": class})
    }

    fn finding(scenario: &str, i: u64, boundaries: u64, kill: u64, detail: &str) -> Value {
        let timeline: Vec<String> = (0..=kill)
            .map(|b| format!("write(wal.log, call={b})"))
            .collect();
        json!({"type": "finding", "scenario": scenario, "seed": 7, "trial": i, "fault": "kill",
               "boundaries": boundaries,
               "kill": {"index": kill, "writer": 0, "syscall": "write",
                        "description": format!("write(wal.log, call={kill})")},
               "damage": {"kind": "none"}, "writers": 1, "sent": 20, "tracees": 1,
               "judgement": {"acked": 13, "required": 12, "recovered": null,
                             "violation": {"class": "replay-failed", "detail": detail}},
               "case": format!("scenarios/{scenario}.toml@7/{i}"),
               "repro": format!("crashtest repro scenarios/{scenario}.toml@7/{i}"),
               "timeline": timeline})
    }

    fn summary(scenario: &str, trials: u64, failed: u64) -> Value {
        json!({"type": "summary", "scenario": scenario, "seed": 7, "trials": trials,
               "failed": failed, "classes": {"replay-failed": failed}, "faults": {"kill": trials},
               "killed": trials - 1, "recovery_crashes": 0, "exhaustive": false,
               "expect": "fail", "met": true, "interrupted": false, "budget_exhausted": false,
               "elapsed_ms": 1234})
    }

    fn page(lines: &[Value]) -> String {
        render(&judged(lines))
    }

    /// 10 trials of "sp": 3 fail (kills in bins 0, 0 and 10), 6 pass (bins 0, 5, 5, 10, 19)
    /// plus one clean exit.
    fn sample() -> Vec<Value> {
        let mut lines = vec![run("sp", "fail", 10)];
        let passing = [
            (1, Some(1)),
            (2, Some(10)),
            (3, Some(11)),
            (4, Some(20)),
            (5, Some(39)),
            (6, None),
        ];
        for (i, kill) in passing {
            lines.push(trial("sp", i, 40, kill, None));
        }
        for (i, kill) in [(0, 0), (7, 1), (9, 21)] {
            lines.push(trial("sp", i, 40, Some(kill), Some("replay-failed")));
            lines.push(finding(
                "sp",
                i,
                40,
                kill,
                &format!("short record, trial {i}"),
            ));
        }
        lines.push(trial("sp", 8, 40, Some(30), None));
        lines.push(summary("sp", 10, 3));
        lines
    }

    fn count(page: &str, needle: &str) -> usize {
        page.matches(needle).count()
    }

    /// Every element that is opened is closed, in order: the page nests the way it should.
    /// Text is escaped, so every `<` starts a tag, a comment-free page's only `<!`.
    fn assert_well_formed(page: &str) {
        const VOID: &[&str] = &["meta"];
        let mut stack: Vec<&str> = Vec::new();
        let mut rest = page;
        while let Some(at) = rest.find('<') {
            rest = &rest[at + 1..];
            let end = rest.find('>').expect("a tag is closed with >");
            let tag = &rest[..end];
            rest = &rest[end + 1..];
            if tag.starts_with('!') {
                continue;
            }
            let name_end = |t: &str| t.find([' ', '/', '\n']).unwrap_or(t.len());
            if let Some(closing) = tag.strip_prefix('/') {
                let open = stack
                    .pop()
                    .unwrap_or_else(|| panic!("</{closing}> closes nothing"));
                assert_eq!(open, closing, "<{open}> closed by </{closing}>");
            } else if !tag.ends_with('/') && !VOID.contains(&&tag[..name_end(tag)]) {
                stack.push(&tag[..name_end(tag)]);
            }
        }
        assert!(stack.is_empty(), "left open: {stack:?}");
    }

    #[test]
    fn summary_shows_the_numbers_and_the_verdict_of_each_scenario() {
        let page = page(&sample());
        assert_well_formed(&page);
        for want in [
            "<a href=\"#s1\">sp</a>",
            "<td class=\"mono\">7</td>",
            "<td>sp</td>",
            "<td>fail</td>",
            "✓ met",
            "<td class=\"num\">10</td>",
            "<td class=\"num failed\">3</td><td class=\"num\">1</td>",
            "replay-failed 3",
            "kill 10",
            "1.2 s",
            "9 of 10 writers killed",
            "1 scenario · 10 trials · 3 failed · 1 distinct failure · <span class=\"ok\">every expectation met",
            "expected fail, and 3 trials found it: 1 distinct failure",
        ] {
            assert!(page.contains(want), "page lacks {want:?}");
        }
    }

    #[test]
    fn a_run_that_did_not_finish_is_not_ok_in_the_headline_and_the_table() {
        // The bug this page had: a headline of "every expectation met" over a table that
        // said the run did not finish.
        let lines: Vec<Value> = sample()
            .into_iter()
            .filter(|l| l["type"] != "summary")
            .collect();
        let page = page(&lines);
        assert_well_formed(&page);
        assert!(!page.contains("every expectation met"));
        assert!(page.contains("NOT OK: 1 run that did not finish"));
        assert!(page.contains("<td class=\"met incomplete\">✗ incomplete</td>"));
        assert!(page.contains("the run stopped before its summary line"));
        // Counted from its lines.
        assert!(page.contains("<td class=\"num\">10</td><td class=\"num failed\">3</td>"));
    }

    #[test]
    fn chart_has_a_bar_per_bin_stacked_passed_and_failed() {
        let page = page(&sample());
        assert_eq!(count(&page, "<svg"), 1);
        assert_eq!(count(&page, "<g class=\"bin\">"), KILL_BINS + 1);
        // Passing trials sit in bins 0, 5, 10, 15, 19 and the clean exit; failures in 0 and
        // 10. One more of each for the legend.
        assert_eq!(count(&page, "<rect class=\"pass\""), 6 + 1);
        assert_eq!(count(&page, "<rect class=\"fail\""), 2 + 1);
        assert!(page.contains("<title>0–5%: 1 passed, 2 failed</title>"));
        assert!(page.contains("<title>50–55%: 1 passed, 1 failed</title>"));
        assert!(page.contains("<title>clean exit: 1 passed, 0 failed</title>"));
        assert!(page.contains("10 trials charted, 7 passed and 3 failed."));
        assert!(!page.contains("findings only"));
    }

    #[test]
    fn without_trial_lines_the_chart_is_drawn_from_the_findings_and_says_so() {
        let lines: Vec<Value> = sample()
            .into_iter()
            .filter(|l| l["type"] != "trial")
            .collect();
        let page = page(&lines);
        assert_well_formed(&page);
        assert!(page.contains("the chart is drawn from the findings only"));
        assert_eq!(count(&page, "<rect class=\"pass\""), 0);
        assert_eq!(count(&page, "<rect class=\"fail\""), 2 + 1);
        assert!(page.contains("<title>0–5%: 2 failed</title>"));
    }

    #[test]
    fn a_distinct_failure_shows_its_shrunk_case_first_and_its_trials_a_click_away() {
        let mut lines = sample();
        let at = lines.len() - 1;
        lines.insert(
            at,
            json!({"type": "shrunk", "scenario": "sp", "seed": 7,
                   "case": "scenarios/sp.toml@7/0",
                   "shrunk": {"case": "scenarios/sp.toml@7/0/r2/p16/k3",
                              "repro": "crashtest repro scenarios/sp.toml@7/0/r2/p16/k3",
                              "records": 2, "max_payload": 16, "kill": 3, "tear": null}}),
        );
        let page = page(&lines);
        assert_well_formed(&page);
        // One distinct failure (open), and its list of trials.
        assert_eq!(count(&page, "<details class=\"failure\""), 1);
        assert_eq!(
            count(&page, "<details class=\"failure\" id=\"s1-f1\" open>"),
            1
        );
        assert!(page.contains("replay-failed after kill at write · 3 trials"));
        assert!(page.contains("<summary>3 trials behind this failure</summary>"));
        for i in [0, 7, 9] {
            assert!(page.contains(&format!(
                "<code>crashtest repro scenarios/sp.toml@7/{i}</code>"
            )));
            assert!(page.contains(&format!("short record, trial {i}")));
        }
        let shrunk = page
            .find("crashtest repro scenarios/sp.toml@7/0/r2/p16/k3")
            .unwrap();
        let original = page
            .find("<code>crashtest repro scenarios/sp.toml@7/0</code>")
            .unwrap();
        assert!(shrunk < original, "the shrunk command comes first");
        assert!(page.contains("shrunk (2 records, payloads up to 16 bytes, kill at boundary 3)"));
        assert!(page.contains("<td>13</td><td>12</td><td>— (no replay output)</td>"));
        assert!(page.contains("at boundary 0/40"));
    }

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let evil = "<script>alert('x')</script> & \"q\" \u{1}\u{7}";
        let mut lines = vec![
            run("<b>sp</b>", "fail", 1),
            finding("<b>sp</b>", 0, 4, 1, evil),
        ];
        lines[1]["timeline"] = json!(["<img src=x onerror=alert(1)>", "write(</pre>)"]);
        lines[1]["repro"] = json!("crashtest repro '<x>'");
        let page = page(&lines);
        assert_well_formed(&page);
        assert!(!page.contains("<script"));
        assert!(!page.contains("<img"));
        assert!(!page.contains("<b>sp"));
        assert!(page.contains(
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot; \\x01\\x07"
        ));
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(page.contains("crashtest repro &#39;&lt;x&gt;&#39;"));
        assert!(page.contains("&lt;b&gt;sp&lt;/b&gt;"));
    }

    #[test]
    fn long_timelines_collapse_to_the_first_5_and_the_last_15() {
        let lines = vec![run("sp", "fail", 1), finding("sp", 0, 50, 39, "d")];
        let page = page(&lines);
        assert_well_formed(&page);
        assert!(page.contains("<li class=\"more\">… 20 more</li>"));
        for b in (0..5).chain(25..39) {
            assert!(page.contains(&format!("<li value=\"{b}\">write(wal.log, call={b})</li>")));
        }
        for b in 5..25 {
            assert!(
                !page.contains(&format!("call={b})</li>")),
                "boundary {b} is collapsed"
            );
        }
        assert!(page.contains(
            "<li value=\"39\" class=\"kill\">write(wal.log, call=39) \
             <span class=\"mark\">← killed before this call</span></li>"
        ));
        assert_eq!(count(&page, "class=\"kill\""), 1);

        // 21 entries fit: nothing collapsed.
        let page = super::tests::page(&[run("sp", "fail", 1), finding("sp", 0, 50, 20, "d")]);
        assert!(!page.contains("more</li>"));
        assert_eq!(count(&page, "<li value="), 21);
    }

    #[test]
    fn same_lines_same_page_whatever_order_the_trials_ended_in() {
        let lines = sample();
        let first = page(&lines);
        assert_eq!(first, page(&lines));
        let mut shuffled = lines.clone();
        shuffled[1..lines.len() - 1].reverse();
        assert_eq!(first, page(&shuffled));
    }

    #[test]
    fn failures_past_the_cap_are_counted_not_shown() {
        let extra = 5;
        let total = (MAX_FAILURES + extra) as u64;
        let mut lines = vec![run("sp", "fail", total)];
        for i in 0..total {
            let mut f = finding("sp", i, 10, 2, "d");
            f["kill"]["syscall"] = json!(format!("call{i}"));
            lines.push(f);
        }
        lines.push(summary("sp", total, total));
        let page = page(&lines);
        assert_well_formed(&page);
        assert_eq!(count(&page, "<details class=\"failure\""), MAX_FAILURES);
        assert!(page.contains(&format!(
            "The first {MAX_FAILURES} are shown; {extra} more left out"
        )));
    }

    #[test]
    fn an_empty_report_is_a_page_too() {
        let page = render(&Report::default());
        assert_well_formed(&page);
        assert!(page.contains(
            "0 scenarios · 0 trials · 0 failed · 0 distinct failures · no results lines"
        ));
    }
}
