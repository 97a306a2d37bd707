//! The failures of a scenario: each distinct failure in a `<details>`, its first trial in
//! full (the shrunk case's command first), and the trials behind it a click away.

use std::fmt::{self, Write};

use super::text::{Esc, plural};
use crate::report::lines::{FailingTrial, Failure, ScenarioReport};

/// At most this many distinct failures of one scenario are shown; the page says how many
/// were left out (all of them are in the results file).
pub const MAX_FAILURES: usize = 50;
/// At most this many trials of one distinct failure are listed.
pub const MAX_TRIALS: usize = 200;

/// A timeline longer than `HEAD + TAIL + 1` entries shows its first `HEAD` and last `TAIL`.
const TIMELINE_HEAD: usize = 5;
const TIMELINE_TAIL: usize = 15;

/// The failures section of scenario `s`, the `n`th on the page.
pub(super) fn write_failures(out: &mut String, n: usize, s: &ScenarioReport) -> fmt::Result {
    writeln!(out, "<h3>Failures</h3>")?;
    let count = s.failures.len();
    if count == 0 {
        return writeln!(out, "<p class=\"note\">No trial failed.</p>");
    }
    writeln!(
        out,
        "<p class=\"note\">{} in {}, by first trial. Two failing trials are the same failure \
         when they share the check that failed, the fault and the kind of call the writer was \
         killed at. Open one for its first trial, the command that reproduces it (shrunk \
         first), and the trials behind it.</p>",
        plural(count as u64, "distinct failure", "distinct failures"),
        plural(s.failed(), "failing trial", "failing trials")
    )?;
    if count > MAX_FAILURES {
        writeln!(
            out,
            "<p class=\"note\">The first {MAX_FAILURES} are shown; {} more left out (every one \
             is in the results file).</p>",
            count - MAX_FAILURES
        )?;
    }
    for (k, f) in s.failures.iter().take(MAX_FAILURES).enumerate() {
        write_failure(out, n, k + 1, f)?;
    }
    Ok(())
}

fn write_failure(out: &mut String, n: usize, k: usize, f: &Failure) -> fmt::Result {
    let first = f.first();
    writeln!(
        out,
        "<details class=\"failure\" id=\"s{n}-f{k}\"{}>\n<summary><span class=\"tag class\">{}</span> \
         {} · {} <span class=\"gist\">{}</span></summary>\n<div class=\"body\">",
        if k == 1 { " open" } else { "" },
        Esc(f.signature.class.name()),
        Esc(&f.signature.to_string()),
        plural(f.trials.len() as u64, "trial", "trials"),
        Esc(first.detail().lines().next().unwrap_or(""))
    )?;
    writeln!(out, "<h4>Reproduce</h4>")?;
    if let Some(shrunk) = f.shrunk() {
        writeln!(
            out,
            "<p class=\"cmd-label\">shrunk ({}), the same failure in a smaller case:</p>\n\
             <pre class=\"cmd\"><code>{}</code></pre>",
            Esc(&shrunk.words()),
            Esc(&shrunk.repro)
        )?;
        writeln!(out, "<p class=\"cmd-label\">its first trial as it ran:</p>")?;
    }
    match first.repro() {
        Some(cmd) => writeln!(out, "<pre class=\"cmd\"><code>{}</code></pre>", Esc(&cmd))?,
        None => writeln!(
            out,
            "<p class=\"note\">No repro command for this trial.</p>"
        )?,
    }
    writeln!(out, "<h4>First trial: {}</h4>", Esc(&first.label()))?;
    write_trial(out, first)?;
    writeln!(
        out,
        "<details class=\"finding\"><summary>{} behind this failure</summary>\n\
         <table class=\"trials\"><thead><tr><th>trial</th><th>what failed</th><th>repro</th></tr></thead><tbody>",
        plural(f.trials.len() as u64, "trial", "trials")
    )?;
    for t in f.trials.iter().take(MAX_TRIALS) {
        writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            Esc(&t.label()),
            Esc(t.detail().lines().next().unwrap_or("")),
            Esc(&t.repro().unwrap_or_default())
        )?;
    }
    writeln!(out, "</tbody></table>")?;
    if f.trials.len() > MAX_TRIALS {
        writeln!(
            out,
            "<p class=\"note\">{} more, all in the results file.</p>",
            f.trials.len() - MAX_TRIALS
        )?;
    }
    writeln!(out, "</details>\n</div>\n</details>")
}

/// One failing trial: its detail, fault, what was acked and recovered, its timeline.
fn write_trial(out: &mut String, t: &FailingTrial) -> fmt::Result {
    writeln!(
        out,
        "<pre class=\"detail\">{}</pre>",
        Esc(t.detail().trim_end())
    )?;
    let Some(finding) = &t.finding else {
        return Ok(());
    };
    let o = &finding.outcome;
    writeln!(out, "<dl class=\"fault\">")?;
    write!(out, "<dt>fault</dt><dd>{}", o.fault.name())?;
    if let Some(tear) = o.tear {
        write!(out, ", torn after {tear} bytes")?;
    }
    writeln!(out, "</dd>")?;
    match &o.kill {
        Some(b) => {
            write!(
                out,
                "<dt>kill</dt><dd>at boundary {}/{}: <code>{}</code>",
                b.index,
                o.boundaries,
                Esc(&b.description)
            )?;
            if o.writers > 1 {
                write!(out, " (writer {})", b.writer)?;
            }
            writeln!(out, "</dd>")?;
        }
        None => writeln!(out, "<dt>kill</dt><dd>none: {}</dd>", Esc(&o.end_words()))?,
    }
    writeln!(
        out,
        "<dt>damage</dt><dd>{}</dd>",
        Esc(&o.damage.to_string())
    )?;
    if let Some(plan) = o.overrides.plan {
        write!(
            out,
            "<dt>crash state</dt><dd>chosen, not drawn: kill at {}",
            plan.kill_at
        )?;
        if let Some(tear) = plan.tear {
            write!(out, ", tear {tear}")?;
        }
        writeln!(out, "</dd>")?;
    }
    if let Some((b, of)) = &o.recovery_kill {
        writeln!(
            out,
            "<dt>replay killed</dt><dd>at its boundary {}/{of}: <code>{}</code></dd>",
            b.index,
            Esc(&b.description)
        )?;
    }
    writeln!(
        out,
        "<dt>run</dt><dd>{}, {}, {}</dd>\n</dl>",
        plural(u64::from(o.writers), "writer", "writers"),
        plural(o.tracees, "tracee", "tracees"),
        plural(o.sent, "record sent", "records sent")
    )?;
    let j = &o.judgement;
    writeln!(
        out,
        "<table class=\"judgement\"><thead><tr><th>acked</th><th>had to survive</th>\
         <th>recovered</th></tr></thead><tbody><tr><td>{}</td><td>{}</td><td>{}</td></tr>\
         </tbody></table>",
        j.acked,
        j.required,
        j.recovered
            .map_or_else(|| "— (no replay output)".to_owned(), |n| n.to_string())
    )?;
    write_timeline(out, &finding.timeline, o.kill.as_ref().map(|b| b.index))?;
    if let Some(case) = &t.case {
        writeln!(out, "<p class=\"case\">case <code>{}</code></p>", Esc(case))?;
    }
    Ok(())
}

fn write_timeline(out: &mut String, timeline: &[String], kill_index: Option<u64>) -> fmt::Result {
    writeln!(out, "<h4>Timeline</h4>")?;
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
            Esc(entry),
            if is_kill {
                " <span class=\"mark\">← killed before this call</span>"
            } else {
                ""
            }
        )?;
    }
    writeln!(out, "</ol>")
}
