//! The records a trial's writers append, drawn from the trial's random stream.
//!
//! Payloads are adversarial on purpose: empty records, all-zero and all-0xff bytes, NUL
//! and newline runs, and bytes that look like a record header of the WALs under test
//! (a little-endian length that fits the rest of the payload), besides plain random bytes.
//! Sizes favour the ends of the scenario's range.

use std::collections::HashSet;

use rand_core::Rng;

use crate::scenario::SizeRange;
use crate::seed::{below, between};

/// The payloads each writer appends, in order: `writers[w][i]` is record `i` of writer `w`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// One stream of payloads per writer.
    pub writers: Vec<Vec<Vec<u8>>>,
}

impl Workload {
    /// Draws `records` payloads for each of `writers` writers. With several writers every
    /// payload is unique across the trial (a duplicate is drawn again), so that a recovered
    /// record names the writer and the index it came from.
    pub fn generate(rng: &mut impl Rng, writers: u32, records: u32, sizes: SizeRange) -> Workload {
        let unique = writers > 1;
        let mut seen = HashSet::new();
        let mut streams = Vec::with_capacity(writers as usize);
        for _ in 0..writers {
            let mut stream = Vec::with_capacity(records as usize);
            for _ in 0..records {
                let mut p = payload(rng, sizes);
                // Bounded: a range too small for uniqueness (max = 0) keeps duplicates,
                // which the oracle then assigns to whichever writer expects them.
                for _ in 0..1000 {
                    if !unique || seen.insert(p.clone()) {
                        break;
                    }
                    p = payload(rng, sizes);
                }
                stream.push(p);
            }
            streams.push(stream);
        }
        Workload { writers: streams }
    }
}

/// The writer's stdin under target protocol v1: one lowercase hex line per record.
pub fn protocol_input(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.iter().map(|r| r.len() * 2 + 1).sum());
    for r in records {
        out.extend_from_slice(hex::encode(r).as_bytes());
        out.push(b'\n');
    }
    out
}

fn payload(rng: &mut impl Rng, sizes: SizeRange) -> Vec<u8> {
    let (min, max) = (u64::from(sizes.min), u64::from(sizes.max));
    let len = match below(rng, 8) {
        0 => min,
        1 => max,
        _ => between(rng, min, max),
    } as usize;
    let mut bytes = vec![0u8; len];
    match below(rng, 6) {
        0 => {}
        1 => bytes.fill(0xff),
        2 => bytes
            .iter_mut()
            .for_each(|b| *b = if below(rng, 2) == 0 { b'\n' } else { 0 }),
        3 if len >= 4 => {
            // A header-shaped prefix: a length that exactly covers the rest.
            bytes[..4].copy_from_slice(&((len - 4) as u32).to_le_bytes());
            rng.fill_bytes(&mut bytes[4..]);
        }
        _ => rng.fill_bytes(&mut bytes),
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Seed;

    #[test]
    fn same_stream_same_workload() {
        let sizes = SizeRange { min: 0, max: 64 };
        let a = Workload::generate(&mut Seed(3).trial_rng(5), 1, 50, sizes);
        let b = Workload::generate(&mut Seed(3).trial_rng(5), 1, 50, sizes);
        let c = Workload::generate(&mut Seed(3).trial_rng(6), 1, 50, sizes);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn sizes_stay_in_range_and_hit_both_ends() {
        let sizes = SizeRange { min: 3, max: 40 };
        let w = Workload::generate(&mut Seed(1).trial_rng(0), 2, 500, sizes);
        let lens: Vec<usize> = w.writers.iter().flatten().map(Vec::len).collect();
        assert!(lens.iter().all(|&l| (3..=40).contains(&l)));
        assert!(lens.contains(&3) && lens.contains(&40));
        assert!(
            w.writers
                .iter()
                .flatten()
                .any(|r| r.contains(&b'\n') && r.contains(&0))
        );
    }

    #[test]
    fn several_writers_get_unique_payloads() {
        let sizes = SizeRange { min: 0, max: 8 };
        let w = Workload::generate(&mut Seed(5).trial_rng(0), 4, 100, sizes);
        let all: Vec<&Vec<u8>> = w.writers.iter().flatten().collect();
        let unique: HashSet<&Vec<u8>> = all.iter().copied().collect();
        assert_eq!(all.len(), 400);
        assert_eq!(
            unique.len(),
            400,
            "every payload names its writer and index"
        );
        let one = Workload::generate(&mut Seed(5).trial_rng(0), 1, 400, sizes);
        let distinct: HashSet<&Vec<u8>> = one.writers[0].iter().collect();
        assert!(
            distinct.len() < 400,
            "one writer keeps duplicates (empty records, zero runs)"
        );
    }

    #[test]
    fn input_is_hex_lines_with_empty_records_as_empty_lines() {
        assert_eq!(
            protocol_input(&[vec![0, 0xab], vec![], vec![b'\n']]),
            b"00ab\n\n0a\n"
        );
    }
}
