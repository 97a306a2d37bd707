//! One self-contained HTML page for the results lines of one or more runs.
//!
//! Why a page and not only the JSONL: a CI job keeps one file as an artifact and a person
//! opens it in a browser, offline, from a mail or an artifact store. So the page pulls in
//! nothing (no scripts, styles, fonts or images from elsewhere: inline CSS and inline SVG),
//! needs no JavaScript (a `<details>` per failure), and is byte-stable: the same lines give
//! the same page, so it can be diffed and snapshot-tested. Nothing in it comes from the
//! clock or from hash order; trials and findings are shown by trial index, not in the order
//! they ended.
//!
//! The input is the lines of `docs/results-format.md`, read as plain JSON values rather than
//! the run's own types: a page must render results written by an older or newer crashtest,
//! so a missing field shows as "—" and an unknown line type is skipped, never an error.
//!
//! Lines are grouped by (scenario, seed). Within a group a `run` and its `summary` are keyed
//! by shard, so the files of a sharded run add up, and a file given twice is counted once;
//! `trial` and `finding` lines are keyed by trial index, the last one of an index winning.

use std::collections::BTreeMap;
use std::fmt::{self, Display, Write};

use serde_json::Value;

/// At most this many failures of one scenario are shown in full; the page says how many
/// were left out (all of them are in the results file).
pub const MAX_FAILURES: usize = 200;

/// Bins of the kill-position chart over `[0, 1)`; clean exits get a bar of their own.
const BINS: usize = 20;
/// A timeline longer than `HEAD + TAIL + 1` entries shows its first `HEAD` and last `TAIL`.
const TIMELINE_HEAD: usize = 5;
const TIMELINE_TAIL: usize = 15;

/// A self-contained HTML page (no external scripts, styles, fonts or images: inline CSS
/// and inline SVG only) for the results lines of one or more runs.
pub fn render(lines: &[Value]) -> String {
    let mut out = String::new();
    write_page(&mut out, lines).expect("formatting into a String does not fail");
    out
}

/// Text escaped for HTML element content and double-quoted attribute values. Control
/// characters other than newline and tab (a replay's stderr can hold anything) are written
/// as `\xNN`, since HTML does not allow them raw and most fonts have no glyph for them.
struct Esc<'a>(&'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                '\n' | '\t' => f.write_char(c)?,
                '\u{0}'..='\u{1f}' | '\u{7f}' => write!(f, "\\x{:02x}", c as u32)?,
                _ => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn u64_field(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

fn bool_field(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// A value in words: strings bare, everything else as compact JSON.
fn words(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_owned(),
        other => other.to_string(),
    }
}

/// Groups sort by scenario name, then by seed (numerically where it is a number).
type GroupKey = (String, u64, String);

/// The lines of one (scenario, seed).
#[derive(Default)]
struct Group<'a> {
    scenario: String,
    seed: String,
    /// `run` lines by shard (`None`: not sharded).
    runs: BTreeMap<Option<String>, &'a Value>,
    /// `summary` lines by the shard of the `run` line before them.
    summaries: BTreeMap<Option<String>, &'a Value>,
    trials: BTreeMap<u64, &'a Value>,
    findings: BTreeMap<u64, &'a Value>,
    /// The shard of the last `run` line seen, which the next `summary` belongs to.
    current_shard: Option<String>,
}

/// What the page knows of a group's counts: the summary lines added up, or, for a run
/// that never wrote one, what its trial and finding lines say.
struct Totals {
    trials: u64,
    /// The scenario's trial count from its `run` line, when larger than `trials`.
    planned: Option<u64>,
    failed: u64,
    classes: BTreeMap<String, u64>,
    faults: BTreeMap<String, u64>,
    elapsed_ms: Option<u64>,
    expect: Option<String>,
    met: Option<bool>,
    /// Summary lines these come from (0: counted from the other lines).
    summaries: usize,
    flags: Vec<&'static str>,
}

/// The lines this page reads; `trial` and `finding` carry their trial index.
enum Kind {
    Run,
    Summary,
    Trial(u64),
    Finding(u64),
}

fn group_lines(lines: &[Value]) -> (BTreeMap<GroupKey, Group<'_>>, usize) {
    let mut groups: BTreeMap<GroupKey, Group<'_>> = BTreeMap::new();
    let mut ignored = 0;
    for line in lines {
        let kind = match (str_field(line, "type"), u64_field(line, "trial")) {
            (Some("run"), _) => Kind::Run,
            (Some("summary"), _) => Kind::Summary,
            (Some("trial"), Some(i)) => Kind::Trial(i),
            (Some("finding"), Some(i)) => Kind::Finding(i),
            _ => {
                ignored += 1;
                continue;
            }
        };
        let (Some(scenario), Some(seed)) = (str_field(line, "scenario"), line.get("seed")) else {
            ignored += 1;
            continue;
        };
        let seed_text = words(seed);
        let key = (
            scenario.to_owned(),
            seed.as_u64().unwrap_or(u64::MAX),
            seed_text.clone(),
        );
        let group = groups.entry(key).or_insert_with(|| Group {
            scenario: scenario.to_owned(),
            seed: seed_text,
            ..Group::default()
        });
        match kind {
            Kind::Run => {
                let shard = str_field(line, "shard").map(str::to_owned);
                group.runs.insert(shard.clone(), line);
                group.current_shard = shard;
            }
            Kind::Summary => {
                group.summaries.insert(group.current_shard.clone(), line);
            }
            Kind::Trial(i) => {
                group.trials.insert(i, line);
            }
            Kind::Finding(i) => {
                group.findings.insert(i, line);
            }
        }
    }
    (groups, ignored)
}

fn add_counts(into: &mut BTreeMap<String, u64>, v: Option<&Value>) {
    if let Some(map) = v.and_then(Value::as_object) {
        for (name, n) in map {
            *into.entry(name.clone()).or_default() += n.as_u64().unwrap_or(0);
        }
    }
}

impl Group<'_> {
    fn first_run(&self) -> Option<&Value> {
        self.runs.values().next().copied()
    }

    fn run_str(&self, key: &str) -> Option<&str> {
        self.runs.values().find_map(|r| str_field(r, key))
    }

    fn totals(&self) -> Totals {
        let expect = self
            .run_str("expect")
            .or_else(|| self.summaries.values().find_map(|s| str_field(s, "expect")))
            .map(str::to_owned);
        let mut t = Totals {
            trials: 0,
            planned: self.first_run().and_then(|r| u64_field(r, "trials")),
            failed: 0,
            classes: BTreeMap::new(),
            faults: BTreeMap::new(),
            elapsed_ms: None,
            expect,
            met: None,
            summaries: self.summaries.len(),
            flags: Vec::new(),
        };
        let any = |key: &str| self.summaries.values().any(|s| bool_field(s, key));
        if self.summaries.is_empty() {
            t.trials = self.trials.len().max(self.findings.len()) as u64;
            t.failed = self.findings.len() as u64;
            for f in self.findings.values() {
                let class = f
                    .pointer("/judgement/violation/class")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown");
                *t.classes.entry(class.to_owned()).or_default() += 1;
            }
            for tr in self.trials.values() {
                if let Some(fault) = str_field(tr, "fault") {
                    *t.faults.entry(fault.to_owned()).or_default() += 1;
                }
            }
            t.flags.push("no summary line: the run did not finish");
        } else {
            for s in self.summaries.values() {
                t.trials += u64_field(s, "trials").unwrap_or(0);
                t.failed += u64_field(s, "failed").unwrap_or(0);
                add_counts(&mut t.classes, s.get("classes"));
                add_counts(&mut t.faults, s.get("faults"));
                if let Some(ms) = u64_field(s, "elapsed_ms") {
                    t.elapsed_ms = Some(t.elapsed_ms.unwrap_or(0) + ms);
                }
            }
            t.met = if self.summaries.len() == 1 {
                self.summaries
                    .values()
                    .next()
                    .and_then(|s| s.get("met"))
                    .and_then(Value::as_bool)
            } else {
                // Shards: each one's `met` only saw its own trials.
                match t.expect.as_deref() {
                    Some("pass") => Some(t.failed == 0),
                    Some("fail") => Some(t.failed > 0),
                    _ => None,
                }
            };
            if any("interrupted") {
                t.flags.push("interrupted");
            }
            if any("budget_exhausted") {
                t.flags.push("time budget exhausted");
            }
            if any("exhaustive") {
                t.flags.push("exhaustive");
            }
        }
        if t.planned.is_some_and(|p| p <= t.trials) {
            t.planned = None;
        }
        t
    }
}

fn write_page(out: &mut String, lines: &[Value]) -> fmt::Result {
    let (groups, ignored) = group_lines(lines);
    let totals: Vec<Totals> = groups.values().map(Group::totals).collect();
    let title = match groups.values().next() {
        Some(g) if groups.len() == 1 => format!("crashtest report: {}", g.scenario),
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

    let trials: u64 = totals.iter().map(|t| t.trials).sum();
    let failed: u64 = totals.iter().map(|t| t.failed).sum();
    let unmet = totals.iter().filter(|t| t.met == Some(false)).count();
    write!(
        out,
        "<p class=\"lede\">{} · {trials} trials · {failed} failed · ",
        plural(groups.len() as u64, "scenario", "scenarios")
    )?;
    if groups.is_empty() {
        writeln!(out, "no results lines</p></header>")?;
    } else if unmet == 0 {
        writeln!(
            out,
            "<span class=\"ok\">every expectation met</span></p></header>"
        )?;
    } else {
        writeln!(
            out,
            "<span class=\"bad\">{} not met</span></p></header>",
            plural(unmet as u64, "expectation", "expectations")
        )?;
    }

    writeln!(out, "<main>\n<section class=\"summary\">\n<h2>Summary</h2>")?;
    write_summary_table(out, &groups, &totals)?;
    writeln!(out, "</section>")?;

    for (n, (group, t)) in groups.values().zip(&totals).enumerate() {
        write_scenario(out, n + 1, group, t)?;
    }

    writeln!(
        out,
        "</main>\n<footer>Made by crashtest {} from {}{}. The results format: \
         <code>docs/results-format.md</code>.</footer>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION"),
        plural(lines.len() as u64, "results line", "results lines"),
        if ignored > 0 {
            format!(" ({ignored} not understood, skipped)")
        } else {
            String::new()
        }
    )
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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

fn write_tags(out: &mut String, counts: &BTreeMap<String, u64>, class: &str) -> fmt::Result {
    if counts.is_empty() {
        return write!(out, "—");
    }
    for (name, n) in counts {
        write!(out, "<span class=\"tag {class}\">{} {n}</span> ", Esc(name))?;
    }
    Ok(())
}

fn write_met(out: &mut String, t: &Totals) -> fmt::Result {
    match t.met {
        Some(true) => write!(out, "<td class=\"met yes\">✓ met</td>"),
        Some(false) => write!(out, "<td class=\"met no\">✗ not met</td>"),
        None => write!(out, "<td class=\"met unknown\">? unknown</td>"),
    }
}

fn write_summary_table(
    out: &mut String,
    groups: &BTreeMap<GroupKey, Group<'_>>,
    totals: &[Totals],
) -> fmt::Result {
    writeln!(
        out,
        "<table class=\"summary-table\">\n<thead><tr><th>scenario</th><th>seed</th>\
         <th>target</th><th>expect</th><th>result</th><th class=\"num\">trials</th>\
         <th class=\"num\">failed</th><th>failures by class</th><th>faults drawn</th>\
         <th class=\"num\">elapsed</th></tr></thead>\n<tbody>"
    )?;
    for (n, (g, t)) in groups.values().zip(totals).enumerate() {
        write!(
            out,
            "<tr><td><a href=\"#s{}\">{}</a></td><td class=\"mono\">{}</td><td>{}</td><td>{}</td>",
            n + 1,
            Esc(&g.scenario),
            Esc(&g.seed),
            Esc(g.run_str("target").unwrap_or("—")),
            Esc(t.expect.as_deref().unwrap_or("—")),
        )?;
        write_met(out, t)?;
        write!(out, "<td class=\"num\">{}", t.trials)?;
        if let Some(p) = t.planned {
            write!(out, " <span class=\"of\">of {p}</span>")?;
        }
        write!(
            out,
            "</td><td class=\"num{}\">{}</td><td>",
            if t.failed > 0 { " failed" } else { "" },
            t.failed
        )?;
        write_tags(out, &t.classes, "class")?;
        write!(out, "</td><td>")?;
        write_tags(out, &t.faults, "fault")?;
        writeln!(
            out,
            "</td><td class=\"num\">{}</td></tr>",
            t.elapsed_ms.map_or_else(|| "—".to_owned(), elapsed)
        )?;
    }
    writeln!(out, "</tbody>\n</table>")
}

fn write_scenario(out: &mut String, n: usize, g: &Group<'_>, t: &Totals) -> fmt::Result {
    writeln!(
        out,
        "<section class=\"scenario\" id=\"s{n}\">\n<h2>{} <span class=\"seed\">seed {}</span></h2>",
        Esc(&g.scenario),
        Esc(&g.seed)
    )?;
    write!(out, "<p class=\"facts\">")?;
    if let Some(path) = g.run_str("path") {
        write!(out, "<code>{}</code> · ", Esc(path))?;
    }
    write!(
        out,
        "target <b>{}</b> · expect <b>{}</b> · ",
        Esc(g.run_str("target").unwrap_or("—")),
        Esc(t.expect.as_deref().unwrap_or("—"))
    )?;
    let killed: Option<u64> = g
        .summaries
        .values()
        .map(|s| u64_field(s, "killed"))
        .sum::<Option<u64>>()
        .filter(|_| !g.summaries.is_empty());
    if let Some(k) = killed {
        write!(
            out,
            "{k} of {} writers killed before their clean exit · ",
            t.trials
        )?;
    }
    let recovery: u64 = g
        .summaries
        .values()
        .filter_map(|s| u64_field(s, "recovery_crashes"))
        .sum();
    if recovery > 0 {
        write!(
            out,
            "{} · ",
            plural(recovery, "replay killed", "replays killed")
        )?;
    }
    let shards: Vec<&str> = g.runs.keys().flatten().map(String::as_str).collect();
    if !shards.is_empty() {
        write!(
            out,
            "shards {} ({} summed) · ",
            Esc(&shards.join(", ")),
            plural(t.summaries as u64, "summary", "summaries")
        )?;
    }
    for flag in &t.flags {
        write!(out, "<span class=\"flag\">{}</span> · ", Esc(flag))?;
    }
    write!(out, "result ")?;
    match t.met {
        Some(true) => write!(out, "<span class=\"ok\">✓ expectation met</span>")?,
        Some(false) => write!(out, "<span class=\"bad\">✗ expectation not met</span>")?,
        None => write!(out, "unknown")?,
    }
    writeln!(out, "</p>")?;
    write_chart(out, n, g)?;
    write_failures(out, n, g, t)?;
    writeln!(out, "</section>")
}

/// Where a trial's writer was killed, as a bin: `Some(BINS)` for a clean exit, `None` when
/// the line does not say. `kill` is a boundary index (`trial` lines) or a boundary object
/// with an `index` (`finding` lines).
fn kill_bin(line: &Value) -> Option<usize> {
    let kill = line.get("kill")?;
    if kill.is_null() {
        return Some(BINS);
    }
    let index = kill.as_u64().or_else(|| u64_field(kill, "index"))?;
    let boundaries = u64_field(line, "boundaries").filter(|&b| b > 0)?;
    let bin = (index as u128 * BINS as u128 / boundaries as u128) as usize;
    Some(bin.min(BINS - 1))
}

fn bin_label(bin: usize) -> String {
    if bin == BINS {
        "clean exit".to_owned()
    } else {
        format!("{}–{}%", bin * 100 / BINS, (bin + 1) * 100 / BINS)
    }
}

/// The smallest of 1, 2, 5, 10, 20, 50, ... at or above `n`.
fn nice_ceiling(n: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= n {
                return step.saturating_mul(m);
            }
        }
        step = step.saturating_mul(10);
    }
}

fn write_chart(out: &mut String, n: usize, g: &Group<'_>) -> fmt::Result {
    // [passed, failed] per bin; the last bin is the clean exits.
    let mut bins = [[0u64; 2]; BINS + 1];
    let mut unplaced = 0u64;
    let from_trials = !g.trials.is_empty();
    if from_trials {
        for line in g.trials.values() {
            let failed = line.get("class").is_some_and(|c| !c.is_null());
            match kill_bin(line) {
                Some(b) => bins[b][usize::from(failed)] += 1,
                None => unplaced += 1,
            }
        }
    } else {
        for line in g.findings.values() {
            match kill_bin(line) {
                Some(b) => bins[b][1] += 1,
                None => unplaced += 1,
            }
        }
    }
    writeln!(out, "<h3>Where the kills landed</h3>")?;
    if from_trials {
        writeln!(
            out,
            "<p class=\"note\">Each trial's kill point as a fraction of its boundaries \
             (the boundary it was killed at ÷ the boundaries of its dry run), in {BINS} bins; \
             writers that ran to their clean exit are the last bar.</p>"
        )?;
    } else if g.findings.is_empty() {
        return writeln!(
            out,
            "<p class=\"note\">No <code>trial</code> lines and no findings in these results: \
             nothing to chart.</p>"
        );
    } else {
        writeln!(
            out,
            "<p class=\"note\">These results have no <code>trial</code> lines (written by an older \
             crashtest), so the chart is drawn from the findings only: it shows where the \
             <b>failures</b> were killed; the passing trials are not counted.</p>"
        )?;
    }

    const W: u32 = 760;
    const H: u32 = 240;
    const LEFT: u32 = 48;
    const RIGHT: u32 = 12;
    const TOP: u32 = 30;
    const BOTTOM: u32 = 46;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    // 20 bin slots, a gap slot, the clean-exit slot.
    let slot = f64::from(plot_w) / (BINS + 2) as f64;
    let slot_x = |b: usize| {
        let s = if b == BINS { BINS + 1 } else { b };
        f64::from(LEFT) + slot * s as f64
    };
    let max = bins.iter().map(|b| b[0] + b[1]).max().unwrap_or(0);
    let ymax = nice_ceiling(max.max(1));
    let y = |count: u64| f64::from(TOP) + f64::from(plot_h) * (1.0 - count as f64 / ymax as f64);

    let passed: u64 = bins.iter().map(|b| b[0]).sum();
    let failed: u64 = bins.iter().map(|b| b[1]).sum();
    let text = bins
        .iter()
        .enumerate()
        .filter(|(_, b)| b[0] + b[1] > 0)
        .map(|(i, b)| {
            if from_trials {
                format!("{}: {} passed, {} failed", bin_label(i), b[0], b[1])
            } else {
                format!("{}: {} failed", bin_label(i), b[1])
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    let desc = if from_trials {
        format!(
            "{} trials charted, {passed} passed and {failed} failed. {text}.",
            passed + failed
        )
    } else {
        format!("{failed} failures charted. {text}.")
    };

    writeln!(
        out,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" \
         aria-labelledby=\"c{n}-title c{n}-desc\" xmlns=\"http://www.w3.org/2000/svg\">"
    )?;
    writeln!(
        out,
        "<title id=\"c{n}-title\">Where the kills landed in {}</title>\n<desc id=\"c{n}-desc\">{}</desc>",
        Esc(&g.scenario),
        Esc(&desc)
    )?;
    // Failed bars are hatched as well as red, so the two series differ without colour.
    writeln!(
        out,
        "<defs><pattern id=\"hatch{n}\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#d9534f\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#8c1c18\" stroke-width=\"2\"/>\
         </pattern></defs>"
    )?;
    // Grid and y axis.
    let mid = ymax.is_multiple_of(2).then_some(ymax / 2);
    for tick in [Some(0), mid, Some(ymax)].into_iter().flatten() {
        let ty = y(tick);
        writeln!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{ty:.1}\" x2=\"{}\" y2=\"{ty:.1}\"/>\
             <text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text>",
            W - RIGHT,
            LEFT - 6,
            ty + 4.0
        )?;
    }
    writeln!(
        out,
        "<text class=\"axis\" x=\"12\" y=\"{}\" transform=\"rotate(-90 12 {})\" \
         text-anchor=\"middle\">trials</text>",
        TOP + plot_h / 2,
        TOP + plot_h / 2
    )?;
    // Bars: one group per bin, with a title for hover and a transparent hit area.
    let bar_w = slot * 0.8;
    for (i, b) in bins.iter().enumerate() {
        let x = slot_x(i) + slot * 0.1;
        let title = if from_trials {
            format!("{}: {} passed, {} failed", bin_label(i), b[0], b[1])
        } else {
            format!("{}: {} failed", bin_label(i), b[1])
        };
        write!(
            out,
            "<g class=\"bin\"><title>{}</title><rect class=\"hit\" x=\"{x:.1}\" y=\"{TOP}\" \
             width=\"{bar_w:.1}\" height=\"{plot_h}\"/>",
            Esc(&title)
        )?;
        if b[0] > 0 {
            let top = y(b[0]);
            write!(
                out,
                "<rect class=\"pass\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{bar_w:.1}\" height=\"{:.1}\"/>",
                y(0) - top
            )?;
        }
        if b[1] > 0 {
            let top = y(b[0] + b[1]);
            write!(
                out,
                "<rect class=\"fail\" fill=\"url(#hatch{n})\" x=\"{x:.1}\" y=\"{top:.1}\" \
                 width=\"{bar_w:.1}\" height=\"{:.1}\"/>",
                y(b[0]) - top
            )?;
        }
        writeln!(out, "</g>")?;
    }
    // X axis.
    let base = TOP + plot_h;
    writeln!(
        out,
        "<line class=\"axisline\" x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>",
        W - RIGHT
    )?;
    for b in (0..=BINS).step_by(BINS / 4) {
        let x = f64::from(LEFT) + slot * b as f64;
        writeln!(
            out,
            "<text class=\"tick\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}%</text>",
            base + 16,
            b * 100 / BINS
        )?;
    }
    writeln!(
        out,
        "<text class=\"tick\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">exit</text>",
        slot_x(BINS) + slot / 2.0,
        base + 16
    )?;
    writeln!(
        out,
        "<text class=\"axis\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">kill point, \
         as a share of the trial's boundaries</text>",
        f64::from(LEFT) + slot * BINS as f64 / 2.0,
        base + 36
    )?;
    // Legend.
    let lx = W - RIGHT - 170;
    if from_trials {
        writeln!(
            out,
            "<rect class=\"pass\" x=\"{lx}\" y=\"8\" width=\"14\" height=\"14\"/>\
             <text class=\"legend\" x=\"{}\" y=\"20\">passed</text>",
            lx + 20
        )?;
    }
    writeln!(
        out,
        "<rect class=\"fail\" fill=\"url(#hatch{n})\" x=\"{}\" y=\"8\" width=\"14\" height=\"14\"/>\
         <text class=\"legend\" x=\"{}\" y=\"20\">failed</text>",
        lx + 85,
        lx + 105
    )?;
    writeln!(out, "</svg>")?;
    write!(
        out,
        "<p class=\"chart-text\"><b>As text:</b> {}",
        Esc(&desc)
    )?;
    if unplaced > 0 {
        write!(
            out,
            " {} without a kill position were left out.",
            plural(unplaced, "trial", "trials")
        )?;
    }
    writeln!(out, "</p>")
}

fn write_failures(out: &mut String, n: usize, g: &Group<'_>, t: &Totals) -> fmt::Result {
    let count = g.findings.len();
    writeln!(out, "<h3>Failures</h3>")?;
    if count == 0 {
        let why = if t.failed > 0 {
            format!(
                "The summary counts {} but these results hold no finding lines.",
                plural(t.failed, "failure", "failures")
            )
        } else {
            "No trial failed.".to_owned()
        };
        return writeln!(out, "<p class=\"note\">{}</p>", Esc(&why));
    }
    if count > MAX_FAILURES {
        writeln!(
            out,
            "<p class=\"note\">The first {MAX_FAILURES} of {count} failures, by trial index; \
             {} more left out (every one is in the results file).</p>",
            count - MAX_FAILURES
        )?;
    } else {
        writeln!(
            out,
            "<p class=\"note\">{}, by trial index. Open one for its timeline and the command \
             that reproduces it.</p>",
            plural(count as u64, "failure", "failures")
        )?;
    }
    for (k, (trial, f)) in g.findings.iter().take(MAX_FAILURES).enumerate() {
        write_failure(out, n, *trial, f, k == 0)?;
    }
    Ok(())
}

fn damage_words(d: &Value) -> String {
    let file = str_field(d, "file").unwrap_or("?");
    let num = |k: &str| u64_field(d, k).map_or_else(|| "?".to_owned(), |v| v.to_string());
    match str_field(d, "kind") {
        None if d.is_null() => "—".to_owned(),
        Some("none") => "none".to_owned(),
        Some("no-file") => "none: no file matched the target's files".to_owned(),
        Some("truncate") => {
            format!("{file} cut from {} to {} bytes", num("size"), num("offset"))
        }
        Some("tail") => format!(
            "{} {} at offset {} of {file} (was {} bytes)",
            num("len"),
            if bool_field(d, "zeros") {
                "zero bytes"
            } else {
                "random bytes"
            },
            num("offset"),
            num("size")
        ),
        Some("corrupt") => match u64_field(d, "bit") {
            Some(bit) => format!("bit {bit} flipped at offset {} of {file}", num("offset")),
            None => format!(
                "{} bytes zeroed at offset {} of {file}",
                num("len"),
                num("offset")
            ),
        },
        Some("power-loss") => {
            let mut s = format!(
                "power loss: {} of {} unsynced writes kept",
                num("kept_writes"),
                num("unsynced_writes")
            );
            if let Some([f, off]) = d.get("torn").and_then(Value::as_array).map(Vec::as_slice) {
                s.push_str(&format!(", {} torn at offset {}", words(f), words(off)));
            }
            if bool_field(d, "reordered") {
                s.push_str(", writes landed out of order");
            }
            for (key, what) in [("reverted_names", "reverted"), ("unmodelled", "unmodelled")] {
                let list: Vec<String> = d
                    .get(key)
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(words).collect())
                    .unwrap_or_default();
                if !list.is_empty() {
                    s.push_str(&format!(", {what}: {}", list.join(", ")));
                }
            }
            s
        }
        _ => {
            // A kind this page does not know: its fields as key=value.
            let mut s = str_field(d, "kind").unwrap_or("?").to_owned();
            if let Some(map) = d.as_object() {
                for (k, v) in map.iter().filter(|(k, _)| k.as_str() != "kind") {
                    s.push_str(&format!(" {k}={}", words(v)));
                }
            }
            s
        }
    }
}

fn write_failure(out: &mut String, n: usize, trial: u64, f: &Value, open: bool) -> fmt::Result {
    let class = f
        .pointer("/judgement/violation/class")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let detail = f
        .pointer("/judgement/violation/detail")
        .and_then(Value::as_str)
        .unwrap_or("");
    let boundaries = u64_field(f, "boundaries");
    let kill = f.get("kill").filter(|k| !k.is_null());
    let kill_index = kill.and_then(|k| k.as_u64().or_else(|| u64_field(k, "index")));
    let kill_words = match (kill_index, boundaries) {
        (Some(i), Some(b)) => format!("at boundary {i}/{b}"),
        (Some(i), None) => format!("at boundary {i}"),
        (None, Some(b)) if f.get("kill").is_some_and(Value::is_null) => {
            format!("after the clean exit ({b} boundaries)")
        }
        _ => "at an unknown point".to_owned(),
    };
    let fault = str_field(f, "fault").unwrap_or("?");
    let first_line = detail.lines().next().unwrap_or("");
    writeln!(
        out,
        "<details class=\"finding\" id=\"s{n}-t{trial}\"{}>\n<summary><span class=\"tag class\">{}</span> \
         <b>trial {trial}</b> · {} {} <span class=\"gist\">{}</span></summary>",
        if open { " open" } else { "" },
        Esc(class),
        Esc(fault),
        Esc(&kill_words),
        Esc(first_line)
    )?;
    writeln!(out, "<div class=\"body\">")?;
    writeln!(
        out,
        "<pre class=\"detail\">{}</pre>",
        Esc(detail.trim_end())
    )?;

    // The fault, in words.
    writeln!(out, "<dl class=\"fault\">")?;
    write!(out, "<dt>fault</dt><dd>{}", Esc(fault))?;
    if let Some(tear) = u64_field(f, "tear") {
        write!(out, ", torn after {tear} bytes")?;
    }
    writeln!(out, "</dd>")?;
    write!(out, "<dt>kill</dt><dd>{}", Esc(&kill_words))?;
    if let Some(desc) = kill.and_then(|k| str_field(k, "description")) {
        write!(out, ": <code>{}</code>", Esc(desc))?;
    }
    if let Some(w) = kill
        .and_then(|k| u64_field(k, "writer"))
        .filter(|_| u64_field(f, "writers").is_some_and(|ws| ws > 1))
    {
        write!(out, " (writer {w})")?;
    }
    writeln!(out, "</dd>")?;
    if let Some(d) = f.get("damage") {
        writeln!(out, "<dt>damage</dt><dd>{}</dd>", Esc(&damage_words(d)))?;
    }
    if let Some(plan) = f.get("plan").filter(|p| !p.is_null()) {
        write!(
            out,
            "<dt>crash state</dt><dd>chosen, not drawn: kill at {}",
            words(plan.get("kill_at").unwrap_or(&Value::Null))
        )?;
        if let Some(tear) = u64_field(plan, "tear") {
            write!(out, ", tear {tear}")?;
        }
        writeln!(out, "</dd>")?;
    }
    if let Some([b, of]) = f
        .get("recovery_kill")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        writeln!(
            out,
            "<dt>replay killed</dt><dd>at its boundary {}/{}: <code>{}</code></dd>",
            Esc(&words(b.get("index").unwrap_or(&Value::Null))),
            Esc(&words(of)),
            Esc(str_field(b, "description").unwrap_or("?"))
        )?;
    }
    let counts: Vec<String> = [
        ("writers", "writer", "writers"),
        ("tracees", "tracee", "tracees"),
        ("sent", "record sent", "records sent"),
    ]
    .iter()
    .filter_map(|(k, one, many)| u64_field(f, k).map(|v| plural(v, one, many)))
    .collect();
    if !counts.is_empty() {
        writeln!(out, "<dt>run</dt><dd>{}</dd>", Esc(&counts.join(", ")))?;
    }
    writeln!(out, "</dl>")?;

    // Expected against recovered.
    let j = |k: &str| {
        f.pointer(&format!("/judgement/{k}"))
            .and_then(Value::as_u64)
    };
    let cell = |v: Option<u64>, none: &str| v.map_or_else(|| none.to_owned(), |v| v.to_string());
    writeln!(
        out,
        "<table class=\"judgement\"><thead><tr><th>acked</th><th>had to survive</th>\
         <th>recovered</th></tr></thead><tbody><tr><td>{}</td><td>{}</td><td>{}</td></tr>\
         </tbody></table>",
        cell(j("acked"), "—"),
        cell(j("required"), "—"),
        Esc(&cell(j("recovered"), "— (no replay output)"))
    )?;

    write_timeline(out, f, kill_index)?;

    // Repro commands, shrunk first.
    writeln!(out, "<h4>Reproduce</h4>")?;
    if let Some(shrunk) = f.get("shrunk").filter(|s| s.is_object()) {
        let parts: Vec<String> = [
            ("records", "records"),
            ("max_payload", "max payload"),
            ("kill", "kill at"),
        ]
        .iter()
        .filter_map(|(k, w)| u64_field(shrunk, k).map(|v| format!("{w} {v}")))
        .collect();
        writeln!(
            out,
            "<p class=\"cmd-label\">shrunk ({}), the same failure in a smaller case:</p>",
            Esc(&parts.join(", "))
        )?;
        if let Some(cmd) = str_field(shrunk, "repro") {
            writeln!(out, "<pre class=\"cmd\"><code>{}</code></pre>", Esc(cmd))?;
        }
        writeln!(out, "<p class=\"cmd-label\">the trial as it ran:</p>")?;
    }
    match str_field(f, "repro") {
        Some(cmd) => writeln!(out, "<pre class=\"cmd\"><code>{}</code></pre>", Esc(cmd))?,
        None => writeln!(out, "<p class=\"note\">No repro command in this line.</p>")?,
    }
    if let Some(case) = str_field(f, "case") {
        writeln!(out, "<p class=\"case\">case <code>{}</code></p>", Esc(case))?;
    }
    writeln!(out, "</div>\n</details>")
}

fn write_timeline(out: &mut String, f: &Value, kill_index: Option<u64>) -> fmt::Result {
    writeln!(out, "<h4>Timeline</h4>")?;
    let Some(timeline) = f.get("timeline").and_then(Value::as_array) else {
        return writeln!(
            out,
            "<p class=\"note\">No timeline in this line (written by an older crashtest); \
             the repro command prints every boundary.</p>"
        );
    };
    if timeline.is_empty() {
        return writeln!(out, "<p class=\"note\">No boundaries before the kill.</p>");
    }
    let len = timeline.len();
    let collapse = len > TIMELINE_HEAD + TIMELINE_TAIL + 1;
    writeln!(out, "<ol class=\"timeline\" start=\"0\">")?;
    for (i, entry) in timeline.iter().enumerate() {
        if collapse && i == TIMELINE_HEAD {
            writeln!(
                out,
                "<li class=\"more\">… {} more</li>",
                len - TIMELINE_HEAD - TIMELINE_TAIL
            )?;
        }
        if collapse && i >= TIMELINE_HEAD && i < len - TIMELINE_TAIL {
            continue;
        }
        let is_kill = i + 1 == len && kill_index.is_some();
        writeln!(
            out,
            "<li value=\"{i}\"{}>{}{}</li>",
            if is_kill { " class=\"kill\"" } else { "" },
            Esc(&words(entry)),
            if is_kill {
                " <span class=\"mark\">← killed before this call</span>"
            } else {
                ""
            }
        )?;
    }
    writeln!(out, "</ol>")
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
.met.yes { color: var(--ok); } .met.no { color: var(--fail); } .met.unknown { color: var(--muted); }
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
.case { font-size: 13px; color: var(--muted); margin: 4px 0; }
footer { margin-top: 40px; padding-bottom: 32px; color: var(--muted); font-size: 13px; border-top: 1px solid var(--line); padding-top: 12px; }
"#;

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn run(scenario: &str, expect: &str, trials: u64) -> Value {
        json!({"type": "run", "scenario": scenario, "seed": 7,
               "path": format!("scenarios/{scenario}.toml"), "target": "seed-prefix",
               "trials": trials, "expect": expect})
    }

    fn trial(
        scenario: &str,
        i: u64,
        boundaries: u64,
        kill: Option<u64>,
        class: Option<&str>,
    ) -> Value {
        json!({"type": "trial", "scenario": scenario, "seed": 7, "trial": i,
               "case": format!("scenarios/{scenario}.toml@7/{i}"), "fault": "kill",
               "boundaries": boundaries, "kill": kill, "tear": null, "class": class,
               "elapsed_ms": 12})
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

    fn summary(scenario: &str, trials: u64, failed: u64, met: bool) -> Value {
        json!({"type": "summary", "scenario": scenario, "seed": 7, "trials": trials,
               "failed": failed, "classes": {"replay-failed": failed}, "faults": {"kill": trials},
               "killed": trials - 1, "recovery_crashes": 0, "exhaustive": false,
               "expect": "fail", "met": met, "interrupted": false, "budget_exhausted": false,
               "elapsed_ms": 1234})
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
        lines.push(summary("sp", 10, 3, true));
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
    fn summary_shows_the_numbers_of_each_scenario() {
        let page = render(&sample());
        assert_well_formed(&page);
        for want in [
            "<a href=\"#s1\">sp</a>",
            "<td class=\"mono\">7</td>",
            "<td>seed-prefix</td>",
            "<td>fail</td>",
            "✓ met",
            "<td class=\"num\">10</td>",
            "<td class=\"num failed\">3</td>",
            "replay-failed 3",
            "kill 10",
            "1.2 s",
            "9 of 10 writers killed",
            "1 scenario · 10 trials · 3 failed",
        ] {
            assert!(page.contains(want), "page lacks {want:?}");
        }
    }

    #[test]
    fn chart_has_a_bar_per_bin_stacked_passed_and_failed() {
        let page = render(&sample());
        assert_eq!(count(&page, "<svg"), 1);
        assert_eq!(count(&page, "<g class=\"bin\">"), BINS + 1);
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
        let page = render(&lines);
        assert_well_formed(&page);
        assert!(page.contains("the chart is drawn from the findings only"));
        assert_eq!(count(&page, "<rect class=\"pass\""), 0);
        assert_eq!(count(&page, "<rect class=\"fail\""), 2 + 1);
        assert!(page.contains("<title>0–5%: 2 failed</title>"));
    }

    #[test]
    fn each_failure_has_its_details_and_repro_commands_shrunk_first() {
        let mut lines = sample();
        let nine = lines
            .iter()
            .position(|l| l["type"] == "finding" && l["trial"] == 9)
            .unwrap();
        lines[nine]["shrunk"] = json!({
            "case": "scenarios/sp.toml@7/9/r2/p16/k3",
            "repro": "crashtest repro scenarios/sp.toml@7/9/r2/p16/k3",
            "records": 2, "max_payload": 16, "kill": 3, "tear": null});
        let page = render(&lines);
        assert_well_formed(&page);
        assert_eq!(count(&page, "<details"), 3);
        assert_eq!(
            count(&page, "<details class=\"finding\" id=\"s1-t0\" open>"),
            1
        );
        for i in [0, 7, 9] {
            assert!(page.contains(&format!(
                "<code>crashtest repro scenarios/sp.toml@7/{i}</code>"
            )));
            assert!(page.contains(&format!("short record, trial {i}")));
        }
        let shrunk = page
            .find("crashtest repro scenarios/sp.toml@7/9/r2/p16/k3")
            .unwrap();
        let original = page
            .find("<code>crashtest repro scenarios/sp.toml@7/9</code>")
            .unwrap();
        assert!(shrunk < original, "the shrunk command comes first");
        assert!(page.contains("shrunk (records 2, max payload 16, kill at 3)"));
        assert!(page.contains("<td>13</td><td>12</td><td>— (no replay output)</td>"));
        assert!(page.contains("kill at boundary 21/40"));
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
        let page = render(&lines);
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
        let page = render(&lines);
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
        let page = render(&[run("sp", "fail", 1), finding("sp", 0, 50, 20, "d")]);
        assert!(!page.contains("more</li>"));
        assert_eq!(count(&page, "<li value="), 21);
    }

    #[test]
    fn same_lines_same_page_whatever_order_the_trials_ended_in() {
        let lines = sample();
        let page = render(&lines);
        assert_eq!(page, render(&lines));
        let mut shuffled = lines.clone();
        shuffled[1..lines.len() - 1].reverse();
        assert_eq!(page, render(&shuffled));
    }

    #[test]
    fn failures_past_the_cap_are_counted_not_shown() {
        let extra = 5;
        let total = (MAX_FAILURES + extra) as u64;
        let mut lines = vec![run("sp", "fail", total)];
        lines.extend((0..total).map(|i| finding("sp", i, 10, 2, "d")));
        lines.push(summary("sp", total, total, true));
        let page = render(&lines);
        assert_well_formed(&page);
        assert_eq!(count(&page, "<details"), MAX_FAILURES);
        assert!(page.contains(&format!("The first {MAX_FAILURES} of {total} failures")));
        assert!(page.contains(&format!("{extra} more left out")));
        assert!(!page.contains(&format!("@7/{}</code>", MAX_FAILURES)));
    }

    #[test]
    fn shards_add_up_and_a_file_given_twice_counts_once() {
        let mut lines = Vec::new();
        for k in 1..=2 {
            let mut r = run("sp", "pass", 10);
            r["shard"] = json!(format!("{k}/2"));
            lines.push(r);
            let mut s = summary("sp", 5, 0, true);
            s["expect"] = json!("pass");
            lines.push(s);
        }
        let twice: Vec<Value> = lines.iter().chain(&lines).cloned().collect();
        let page = render(&twice);
        assert!(page.contains("<td class=\"num\">10</td><td class=\"num\">0</td>"));
        assert!(page.contains("shards 1/2, 2/2 (2 summaries summed)"));
        assert!(page.contains("✓ met"));
        assert!(page.contains("2.4 s"));
    }

    #[test]
    fn a_run_cut_short_is_counted_from_its_lines() {
        let lines: Vec<Value> = sample()
            .into_iter()
            .filter(|l| l["type"] != "summary")
            .collect();
        let page = render(&lines);
        assert!(page.contains("no summary line: the run did not finish"));
        assert!(page.contains("<td class=\"met unknown\">? unknown</td>"));
        assert!(page.contains("<td class=\"num\">10</td><td class=\"num failed\">3</td>"));
    }

    #[test]
    fn lines_it_does_not_understand_are_skipped() {
        let page = render(&[
            json!({"hello": 1}),
            json!("text"),
            json!({"type": "future", "scenario": "sp", "seed": 7}),
        ]);
        assert_well_formed(&page);
        assert!(page.contains("0 scenarios · 0 trials · 0 failed · no results lines"));
        assert!(page.contains("(3 not understood, skipped)"));
        assert_well_formed(&render(&[]));
    }

    #[test]
    fn damage_in_words() {
        let cases = [
            (json!({"kind": "none"}), "none"),
            (
                json!({"kind": "truncate", "file": "wal.log", "size": 900, "offset": 512}),
                "wal.log cut from 900 to 512 bytes",
            ),
            (
                json!({"kind": "tail", "file": "wal.log", "size": 900, "offset": 900, "len": 512, "zeros": true}),
                "512 zero bytes at offset 900 of wal.log (was 900 bytes)",
            ),
            (
                json!({"kind": "corrupt", "file": "wal.log", "offset": 7, "len": 1, "bit": 3}),
                "bit 3 flipped at offset 7 of wal.log",
            ),
            (
                json!({"kind": "power-loss", "unsynced_writes": 4, "kept_writes": 2, "torn": ["wal.log", 812],
                    "reverted_names": [], "reordered": true, "unmodelled": ["x"]}),
                "power loss: 2 of 4 unsynced writes kept, wal.log torn at offset 812, writes landed out of order, unmodelled: x",
            ),
            (json!({"kind": "melt", "depth": 3}), "melt depth=3"),
        ];
        for (damage, want) in cases {
            assert_eq!(damage_words(&damage), want);
        }
    }
}
