//! The chart of where the kills landed: a bar per share of the trials' boundaries,
//! stacked passed and failed, as inline SVG with the same figures as text beside it.

use std::fmt::{self, Write};

use super::text::{Esc, plural};
use crate::report::lines::{KILL_BINS, ScenarioReport};

/// The chart of scenario `s`, the `n`th on the page.
pub(super) fn write_chart(out: &mut String, n: usize, s: &ScenarioReport) -> fmt::Result {
    let kills = &s.kills;
    let bins = &kills.bins;
    let unplaced = kills.unplaced;
    let from_trials = kills.from_trials;
    writeln!(out, "<h3>Where the kills landed</h3>")?;
    if from_trials {
        writeln!(
            out,
            "<p class=\"note\">Each trial's kill point as a fraction of its boundaries \
             (the boundary it was killed at ÷ the boundaries of its dry run), in {KILL_BINS} bins; \
             writers that ran to their clean exit are the last bar.</p>"
        )?;
    } else if kills.is_empty() {
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
    let slot = f64::from(plot_w) / (KILL_BINS + 2) as f64;
    let slot_x = |b: usize| {
        let s = if b == KILL_BINS { KILL_BINS + 1 } else { b };
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
        Esc(&s.name),
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
    for b in (0..=KILL_BINS).step_by(KILL_BINS / 4) {
        let x = f64::from(LEFT) + slot * b as f64;
        writeln!(
            out,
            "<text class=\"tick\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}%</text>",
            base + 16,
            b * 100 / KILL_BINS
        )?;
    }
    writeln!(
        out,
        "<text class=\"tick\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">exit</text>",
        slot_x(KILL_BINS) + slot / 2.0,
        base + 16
    )?;
    writeln!(
        out,
        "<text class=\"axis\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">kill point, \
         as a share of the trial's boundaries</text>",
        f64::from(LEFT) + slot * KILL_BINS as f64 / 2.0,
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

/// Where a trial's kill bin is labelled: a share of its boundaries, or the clean exit.
fn bin_label(bin: usize) -> String {
    if bin == KILL_BINS {
        "clean exit".to_owned()
    } else {
        format!("{}–{}%", bin * 100 / KILL_BINS, (bin + 1) * 100 / KILL_BINS)
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
