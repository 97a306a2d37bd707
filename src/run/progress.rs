//! The progress line on a terminal: trials done, rate, findings, time left. Quiet when
//! `CI` is set or stderr is not a terminal.

use std::time::Instant;

/// The progress line.
pub(super) struct Progress {
    on: bool,
    total: u64,
    started: Instant,
    drawn: bool,
}

impl Progress {
    /// A progress line over `total` trials, drawn only when `on`.
    pub(super) fn new(on: bool, total: u64, started: Instant) -> Self {
        Progress {
            on,
            total,
            started,
            drawn: false,
        }
    }

    /// Redraws the line.
    pub(super) fn tick(&mut self, done: u64, findings: u64) {
        if !self.on {
            return;
        }
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let eta = if rate > 0.0 {
            (self.total.saturating_sub(done)) as f64 / rate
        } else {
            0.0
        };
        let width = 30;
        let filled = (done * width / self.total.max(1)) as usize;
        let bar = format!(
            "{}{}",
            "#".repeat(filled),
            "-".repeat(width as usize - filled)
        );
        eprint!(
            "\r[{bar}] {done}/{} {rate:.1} trials/s, {findings} findings, ETA {eta:.0}s ",
            self.total
        );
        self.drawn = true;
    }

    /// Clears the line, before anything else is printed.
    pub(super) fn clear(&mut self) {
        if self.drawn {
            eprint!("\r{:80}\r", "");
            self.drawn = false;
        }
    }
}
