//! Results in words, for the terminal: a finding, a reproduced trial's account, a
//! scenario's verdict.

use std::fmt::Write as _;

use crate::report::lines::{FailingTrial, Failure, ScenarioReport, Verdict};
use crate::scenario::Scenario;
use crate::trial::{TrialDetail, TrialOutcome};

/// A failing trial in a few lines, for the terminal.
pub fn finding_lines(outcome: &TrialOutcome, repro: &str) -> String {
    let v = outcome.violation().expect("a finding has a violation");
    let kept = outcome
        .kept
        .as_ref()
        .map(|p| format!("     kept: {}\n", p.display()))
        .unwrap_or_default();
    format!(
        "FAIL trial {} [{}] {}\n     fault: {}, kill at {}, damage: {}\n     repro: {repro}\n{kept}",
        outcome.trial,
        v.class,
        // A multi-line detail (a replay's stderr) stays inside the finding's block.
        v.detail.trim_end().replace('\n', "\n     | "),
        fault_name(outcome),
        outcome.kill_words(),
        outcome.damage
    )
}

fn fault_name(outcome: &TrialOutcome) -> &'static str {
    outcome.fault.name()
}

/// The readable account of one reproduced trial.
pub fn account(scenario: &Scenario, outcome: &TrialOutcome, detail: &TrialDetail) -> String {
    let mut s = String::new();
    let mut line = |text: String| {
        s.push_str(&text);
        s.push('\n');
    };
    line(format!(
        "trial {} of {} (seed {}), target {}",
        outcome.trial,
        scenario.path.display(),
        scenario.seed,
        target_name(scenario)
    ));
    let several = detail.sent.streams().len() > 1;
    for (w, sent) in detail.sent.streams().iter().enumerate() {
        let sizes: Vec<String> = sent.iter().map(|r| r.len().to_string()).collect();
        let who = if several {
            format!("writer {w}: ")
        } else {
            String::new()
        };
        line(format!(
            "{who}records sent: {} (payload sizes: {})",
            sent.len(),
            sizes.join(" ")
        ));
    }
    line(format!("fault: {}", fault_name(outcome)));
    line(format!(
        "traced: {} writer threads and processes",
        outcome.tracees
    ));
    line(format!(
        "boundaries: {} in the dry run; kill at {}",
        outcome.boundaries,
        outcome.kill_words()
    ));
    for b in detail.boundaries.iter() {
        let mark = if outcome.kill.as_ref().is_some_and(|k| k.index == b.index) {
            "   <- SIGKILL before this call"
        } else {
            ""
        };
        let who = if several {
            format!("w{} ", b.writer)
        } else {
            String::new()
        };
        line(format!("  {:>4}  {who}{}{mark}", b.index, b.description));
    }
    line(format!("damage: {}", outcome.damage));
    let j = &outcome.judgement;
    for (w, stdout) in detail.writer_stdout.iter().enumerate() {
        let acks = stdout.newlines();
        let who = if several {
            format!("writer {w}: ")
        } else {
            String::new()
        };
        match acks {
            0 => line(format!("{who}acks received: none")),
            n => line(format!("{who}acks received: {n} (records 0..={})", n - 1)),
        }
    }
    line(format!(
        "must survive: {} acked records, of {} acked",
        j.required, j.acked
    ));
    match j.recovered {
        Some(n) => line(format!("replay returned: {n} records")),
        None => line("replay returned: no usable output".to_owned()),
    }
    if !detail.replay_stderr.trim().is_empty() {
        line(format!("replay stderr:\n{}", indent(&detail.replay_stderr)));
    }
    for (w, stderr) in detail.writer_stderr.iter().enumerate() {
        if !stderr.trim().is_empty() {
            let who = if several {
                format!("writer {w} ")
            } else {
                "writer ".to_owned()
            };
            line(format!("{who}stderr:\n{}", indent(stderr)));
        }
    }
    match outcome.violation() {
        Some(v) => line(format!("verdict: FAIL [{}] {}", v.class, v.detail)),
        None => line("verdict: pass".to_owned()),
    }
    s
}

/// The target's name for humans.
pub fn target_name(scenario: &Scenario) -> String {
    match &scenario.target.kind {
        crate::target::TargetKind::Builtin(wal) => wal.name().to_owned(),
        crate::target::TargetKind::Command { writer, .. } => writer.join(" "),
    }
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A scenario's verdict in a line: `OK seed-prefix: met: expected fail, and ...`.
pub fn verdict_line(s: &ScenarioReport) -> String {
    let head = match s.verdict {
        Verdict::Met(_) => "OK",
        Verdict::NotMet(_) => "NOT OK",
        Verdict::Incomplete(_) => "NOT OK (incomplete)",
    };
    format!("{head}: {}: {}", s.name, s.verdict.why())
}

/// A scenario's numbers in a line, as `merge` prints them: runs, trials, failures by
/// class, expect.
pub fn counts_line(s: &ScenarioReport) -> String {
    let seeds: Vec<String> = s.seeds.iter().map(|s| s.to_string()).collect();
    let classes: Vec<String> = s.classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
    format!(
        "{} (seed {}, {} run(s)): {} trials, {} failed{}, {} distinct, expect {}",
        s.name,
        seeds.join(","),
        s.runs,
        s.ran_words(),
        s.failed(),
        if classes.is_empty() {
            String::new()
        } else {
            format!(" ({})", classes.join(", "))
        },
        s.failures.len(),
        s.expect
    )
}

/// The distinct failures of a scenario, a few lines each: what they share, how many trials,
/// the first trial's detail, and the commands that reproduce them, the shrunk one first.
pub fn failures_block(s: &ScenarioReport) -> String {
    let mut out = String::new();
    let n = s.failures.len();
    if n == 0 {
        return out;
    }
    let _ = writeln!(
        out,
        "{} in {} failing trials:",
        if n == 1 {
            "1 distinct failure".to_owned()
        } else {
            format!("{n} distinct failures")
        },
        s.failed()
    );
    for (i, f) in s.failures.iter().enumerate() {
        out.push_str(&failure_lines(i + 1, f));
    }
    out
}

/// One distinct failure, numbered `n`.
pub fn failure_lines(n: usize, f: &Failure) -> String {
    let first = f.first();
    let trials: Vec<String> = f.trials.iter().take(12).map(FailingTrial::label).collect();
    let more = if f.trials.len() > 12 { ", ..." } else { "" };
    let mut s = format!(
        "  {n}. {}: seen in {} trial(s) ({}{more})\n     first: trial {}: {}\n",
        f.signature,
        f.trials.len(),
        trials.join(", "),
        first.label(),
        one_line(first.detail(), 200)
    );
    if let Some(shrunk) = f.shrunk() {
        let _ = writeln!(s, "     shrunk ({}): {}", shrunk.words(), shrunk.repro);
    }
    if let Some(repro) = first.repro() {
        let _ = writeln!(s, "     repro: {repro}");
    }
    s
}

/// `text` on one line, cut to `max` characters with an ellipsis.
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
