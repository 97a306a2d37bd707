//! Target protocol v1, the one contract between crashtest and the program it tests
//! (written out for target authors in `docs/target-protocol.md`): a writer reads one
//! record a line, its payload in hex, and acks each record with its index on a line of its
//! own; a replay prints every record it recovered as a hex line.
//!
//! Both ends of every line are here, so they cannot drift apart: the workload encodes what
//! a writer reads ([`encode_line`], [`writer_input`]), the built-in WALs decode it and
//! print their acks and replay lines ([`decode_line`], [`ack_line`], [`encode_line`]), and
//! the oracle reads the acks and the replay's lines back ([`parse_ack`], [`decode_line`]).
//! Records are arbitrary bytes (NUL, newline, bytes shaped like a header), which is why
//! they travel in hex. Encoding and decoding are SIMD (`faster_hex`): the oracle decodes
//! every line of every replay, once the bulk of a long log's judging.
//!
//! The protocol's types live here too, apart from [`crate::target`] (how a target is
//! started) and [`crate::wal`] (the targets that ship with crashtest), so that both can
//! name them without naming each other.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::errors::HexError;

/// What a writer's ack promises about the acknowledged record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// The append returned: the record survives the death of the process (it is in the
    /// page cache) but not a power loss.
    Process,
    /// The record was synced (fsync/fdatasync) before the ack: it survives a power loss.
    Fsync,
    /// Nothing is promised: an ack only means the writer saw the record.
    None,
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Durability::Process => "process",
            Durability::Fsync => "fsync",
            Durability::None => "none",
        })
    }
}

/// The two sides of target protocol v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Appends records read from stdin, acks each on stdout.
    Write,
    /// Prints every recovered record as a hex line.
    Replay,
}

impl Role {
    /// The role's word on a built-in target's command line.
    pub fn word(self) -> &'static str {
        match self {
            Role::Write => "write",
            Role::Replay => "replay",
        }
    }
}

// ---- records ----

/// `record` in lowercase hex, two digits a byte.
pub fn encode(record: &[u8]) -> String {
    let mut text = Vec::with_capacity(record.len() * 2);
    push_hex(record, &mut text);
    String::from_utf8(text).expect("hex digits are ASCII")
}

/// Appends `record`'s line to `out`: its lowercase hex, then `\n` (an empty record is an
/// empty line). What a writer reads for each record, and what a replay prints.
pub fn encode_line(record: &[u8], out: &mut Vec<u8>) {
    push_hex(record, out);
    out.push(b'\n');
}

fn push_hex(record: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + record.len() * 2, 0);
    faster_hex::hex_encode(record, &mut out[start..]).expect("the output holds two digits a byte");
}

/// A writer's whole input under protocol v1: each record's line, in order.
pub fn writer_input(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.iter().map(|r| r.len() * 2 + 1).sum());
    for r in records {
        encode_line(r, &mut out);
    }
    out
}

/// The record a line holds: its [`line_text`] decoded from hex.
pub fn decode_line(line: &[u8]) -> Result<Vec<u8>, HexError> {
    decode(line_text(line))
}

/// `line` without its `\n` and then its `\r` (either may be missing).
pub fn line_text(line: &[u8]) -> &[u8] {
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    text.strip_suffix(b"\r").unwrap_or(text)
}

/// `text` decoded from hex, in either case (SIMD, by `faster_hex`): the oracle decodes
/// every line of every replay. The error names the first bad digit and its position.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, HexError> {
    if !text.len().is_multiple_of(2) {
        return Err(HexError::OddLength);
    }
    let mut out = vec![0; text.len() / 2];
    match faster_hex::hex_decode(text, &mut out) {
        Ok(_) => Ok(out),
        Err(faster_hex::Error::InvalidChar { index, byte, .. }) => {
            Err(HexError::InvalidCharacter {
                c: char::from(byte),
                index,
            })
        }
        Err(other) => unreachable!("an even-length input fits its output: {other}"),
    }
}

// ---- acks ----

/// The ack of record `index` of a writer's stream, as a writer prints it: the index in
/// decimal on a line of its own.
pub fn ack_line(index: u64) -> String {
    format!("{index}\n")
}

/// The record index an ack line names (`text` is the line without its `\n`; blanks around
/// the number are allowed), or `None` when it names none.
pub fn parse_ack(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_hex_lines_with_empty_records_as_empty_lines() {
        assert_eq!(
            writer_input(&[vec![0, 0xab], vec![], vec![b'\n']]),
            b"00ab\n\n0a\n"
        );
    }

    #[test]
    fn every_byte_round_trips_and_either_case_decodes() {
        let all: Vec<u8> = (0..=255).collect();
        let mut line = Vec::new();
        encode_line(&all, &mut line);
        assert_eq!(line.len(), 513);
        assert_eq!(line, format!("{}\n", encode(&all)).into_bytes());
        assert_eq!(decode_line(&line).unwrap(), all);
        assert_eq!(decode(encode(&all).to_uppercase().as_bytes()).unwrap(), all);
        assert_eq!(decode_line(b"0A0b\r\n").unwrap(), [10, 11]);
        assert_eq!(decode_line(b"").unwrap(), b"");
    }

    /// The words a writer's and the oracle's messages have carried since the `hex` crate.
    #[test]
    fn a_bad_line_names_its_first_bad_digit() {
        let words = |text: &[u8]| decode(text).unwrap_err().to_string();
        assert_eq!(words(b"0a0"), "Odd number of digits");
        assert_eq!(words(b"zz0"), "Odd number of digits");
        assert_eq!(words(b"zz"), "Invalid character 'z' at position 0");
        assert_eq!(words(b"0g"), "Invalid character 'g' at position 1");
        assert_eq!(words(b"00 1"), "Invalid character ' ' at position 2");
        assert_eq!(words(b"ab\n0"), "Invalid character '\\n' at position 2");
        assert_eq!(words(b"\xe90"), "Invalid character '\u{e9}' at position 0");
        assert_eq!(words(b"ok\r"), "Odd number of digits");
    }

    /// Lines long enough for the vector loops: a bad digit anywhere in them, either case
    /// around it, is named at its own position.
    #[test]
    fn a_long_line_names_its_bad_digit_wherever_it_is() {
        let record: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 256) as u8).collect();
        let text = encode(&record);
        let mixed: String = text
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 3 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        assert_eq!(decode(mixed.as_bytes()).unwrap(), record);
        for at in [0, 31, 32, 63, 64, 65, 127, 1000, 1999] {
            let mut bad = mixed.clone().into_bytes();
            bad[at] = b'x';
            assert_eq!(
                decode(&bad).unwrap_err().to_string(),
                format!("Invalid character 'x' at position {at}")
            );
        }
    }

    #[test]
    fn an_ack_is_its_index_on_a_line() {
        assert_eq!(ack_line(0), "0\n");
        assert_eq!(ack_line(41), "41\n");
        assert_eq!(parse_ack("41"), Some(41));
        assert_eq!(parse_ack(" 7\r"), Some(7));
        assert_eq!(parse_ack(""), None);
        assert_eq!(parse_ack("ok"), None);
        assert_eq!(parse_ack("-1"), None);
    }
}
