//! The progress line on a terminal: trials done, rate, findings, time left; then, while
//! failures are shrunk, shrinks done, trial runs made and the time spent of the time
//! given. Quiet when `CI` is set or stderr is not a terminal.

use std::time::{Duration, Instant};

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

    /// Redraws the line while failures are shrunk: `done` of `of` shrinks ended, `runs`
    /// trial runs made by all of them, the time spent of the time `given`.
    pub(super) fn shrinking(&mut self, done: usize, of: usize, runs: usize, given: Duration) {
        if !self.on {
            return;
        }
        eprint!(
            "\r{}",
            shrinking_words(done, of, runs, self.started.elapsed(), given)
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

/// The shrinking line's words: "shrinking 3 failures: 1 done, 42 trial runs, 12s of 1m".
fn shrinking_words(
    done: usize,
    of: usize,
    runs: usize,
    spent: Duration,
    given: Duration,
) -> String {
    let whole = |d: Duration| humantime::format_duration(Duration::from_secs(d.as_secs()));
    let s = |n: usize| if n == 1 { "" } else { "s" };
    format!(
        "shrinking {of} failure{}: {done} done, {runs} trial run{}, {} of {} ",
        s(of),
        s(runs),
        whole(spent),
        whole(given)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shrinking_line_says_what_is_done_and_the_time_spent_of_the_time_given() {
        assert_eq!(
            shrinking_words(
                1,
                3,
                42,
                Duration::from_millis(12_700),
                Duration::from_secs(60)
            ),
            "shrinking 3 failures: 1 done, 42 trial runs, 12s of 1m "
        );
        assert_eq!(
            shrinking_words(0, 1, 1, Duration::ZERO, Duration::from_secs(90)),
            "shrinking 1 failure: 0 done, 1 trial run, 0s of 1m 30s "
        );
    }
}
