//! Speak crashtest's target protocol v1 from two functions. Copy this file into your
//! project (it needs nothing beyond the standard library) and write:
//!
//! ```no_run
//! use crashtest_target::{serve, Error};
//!
//! fn main() -> std::process::ExitCode {
//!     serve(append, replay)
//! }
//!
//! /// Appends one record; returns once it is as durable as the scenario's
//! /// `durability` says (after the fsync for "fsync").
//! fn append(record: &[u8]) -> Result<(), Error> {
//!     # let _ = record;
//!     todo!()
//! }
//!
//! /// The records recovered from `crashtest_target::dir()`, in log order.
//! fn replay() -> Result<Vec<Vec<u8>>, Error> {
//!     todo!()
//! }
//! ```
//!
//! A scenario then runs your program twice per trial, as `PROGRAM write` and
//! `PROGRAM replay` (arguments after the first are yours). What `serve` does for you:
//!
//! 1. Reads the command from `argv[1]` and checks that `CRASHTEST_DIR` is set; anything
//!    else is a usage error (exit 2).
//! 2. `write`: decodes each stdin line from hex (an empty line is the empty record),
//!    calls `append`, and once it returned prints the record's index in this writer's
//!    stream (0, 1, 2, ...) as one line, in one `write(2)`: the ack. At end of stdin it
//!    drops your state (closing your engine) and exits 0.
//! 3. `replay`: calls `replay` and prints each record as a lowercase hex line, exit 0.
//! 4. An error from your functions is printed on stderr and the exit status is 1: a
//!    replay that fails is a finding crashtest reports with that message.
//!
//! To open an engine once per process, use [`serve_with`]: `open` builds your state,
//! `append` and `replay` borrow it, and it is dropped at end of stdin (after the last
//! ack) or after replay. The trial's folder, writer index and writer count are
//! [`dir`], [`writer`] and [`writers`].

use std::io::{self, BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Any error your functions return; `?` converts most error types into it.
pub type Error = Box<dyn std::error::Error>;

/// Exit statuses of a program that calls [`serve`]:
/// 0 done, 1 your function returned an error, 2 usage or a bad stdin line.
const EXIT_ERROR: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// The trial's folder (`CRASHTEST_DIR`): keep every file of your log in it.
pub fn dir() -> PathBuf {
    std::env::var_os("CRASHTEST_DIR")
        .map(PathBuf::from)
        .expect("serve checks that CRASHTEST_DIR is set")
}

/// This writer's index, 0 .. [`writers`] (`CRASHTEST_WRITER`); `None` in replay.
pub fn writer() -> Option<usize> {
    std::env::var("CRASHTEST_WRITER").ok()?.parse().ok()
}

/// How many writers run at once on [`dir`] in this trial (`CRASHTEST_WRITERS`; 1 if unset).
pub fn writers() -> usize {
    std::env::var("CRASHTEST_WRITERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// Runs the command in `argv[1]` with `append` (for `write`) or `replay` (for
/// `replay`), and returns the exit status for `main` to return.
pub fn serve<A, R>(mut append: A, replay: R) -> ExitCode
where
    A: FnMut(&[u8]) -> Result<(), Error>,
    R: FnOnce() -> Result<Vec<Vec<u8>>, Error>,
{
    serve_with(|| Ok(()), |(), record| append(record), |()| replay())
}

/// Like [`serve`], with state opened once per process by `open` (an engine's handle)
/// and dropped at end of stdin or after replay: `Drop` is the close hook.
pub fn serve_with<S, O, A, R>(open: O, append: A, replay: R) -> ExitCode
where
    O: FnOnce() -> Result<S, Error>,
    A: FnMut(&mut S, &[u8]) -> Result<(), Error>,
    R: FnOnce(&mut S) -> Result<Vec<Vec<u8>>, Error>,
{
    let program = std::env::args().next().unwrap_or_else(|| "target".into());
    let command = std::env::args().nth(1).unwrap_or_default();
    if std::env::var_os("CRASHTEST_DIR").is_none_or(|d| d.is_empty())
        || !matches!(command.as_str(), "write" | "replay")
    {
        eprintln!("usage: CRASHTEST_DIR=DIR {program} write|replay [ARGS...]");
        return ExitCode::from(EXIT_USAGE);
    }
    let result = match command.as_str() {
        "write" => write(open, append),
        _ => open().and_then(|mut state| print_replay(replay(&mut state)?)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our stdout left: nobody to tell anything to.
        Err(e) if is_broken_pipe(&*e) => ExitCode::SUCCESS,
        Err(e) if e.is::<BadLine>() => {
            eprintln!("{program}: {command}: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(e) => {
            eprintln!("{program}: {command}: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// The writer: one `append` and one ack per stdin line, then the state is dropped.
fn write<S>(
    open: impl FnOnce() -> Result<S, Error>,
    mut append: impl FnMut(&mut S, &[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut state = open()?;
    let mut stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    let mut line = Vec::new();
    for index in 0u64.. {
        line.clear();
        if stdin.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let record = from_hex(&line).ok_or(BadLine { index })?;
        append(&mut state, &record)?;
        // The ack in one write(2): stdout is line-buffered, and a whole line written at
        // once goes straight through.
        stdout.write_all(format!("{index}\n").as_bytes())?;
        stdout.flush()?;
    }
    drop(state);
    Ok(())
}

/// Prints the recovered records, one hex line each.
fn print_replay(records: Vec<Vec<u8>>) -> Result<(), Error> {
    let mut out = BufWriter::new(io::stdout().lock());
    for record in records {
        out.write_all(to_hex(&record).as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// A stdin line that is not lowercase or uppercase hex: crashtest never sends one.
#[derive(Debug)]
struct BadLine {
    index: u64,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let index = self.index;
        write!(f, "stdin line {index} is not a hex payload")
    }
}

impl std::error::Error for BadLine {}

fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

fn from_hex(hex: &[u8]) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    if hex.len() % 2 != 0 {
        return None;
    }
    hex.chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        hex.push(DIGITS[usize::from(b >> 4)] as char);
        hex.push(DIGITS[usize::from(b & 15)] as char);
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_every_byte_and_rejects_odd_or_bad_digits() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex(to_hex(&all).as_bytes()), Some(all));
        assert_eq!(from_hex(b""), Some(vec![]));
        assert_eq!(from_hex(b"0a0"), None);
        assert_eq!(from_hex(b"zz"), None);
        assert_eq!(from_hex(b"FF"), Some(vec![255]));
    }
}
