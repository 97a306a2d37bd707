//! The records a trial's writers append, drawn from the trial's random stream.
//!
//! Payloads are adversarial on purpose: empty records, all-zero and all-0xff bytes, NUL
//! and newline runs, and bytes that look like a record header of the WALs under test
//! (a little-endian length that fits the rest of the payload), besides plain random bytes.
//! Sizes favour the ends of the scenario's range.

use std::collections::HashSet;
use std::io::{self, Read};

use rand_chacha::ChaCha8Rng;
use rand_core::Rng;

use crate::protocol;
use crate::scenario::SizeRange;
use crate::seed::{below, between};

/// The payloads each writer appends, in order, kept as the means to draw them again
/// rather than as bytes: a writer's stream is regenerated from its start in the random
/// stream whenever it is read ([`Stream::iter`], [`Stream::input`]), so a trial of a
/// million records holds none of them.
///
/// The draws are those of the first version, which kept every payload: writer 0's
/// records, then writer 1's, ..., from one stream; with several writers a payload already
/// drawn in the trial is drawn again (at most 1000 times). A stream keeps where it starts
/// and, for each record that had to be drawn again, how many times, so it replays the
/// exact same draws. Generating a workload of several writers holds the set of payloads
/// seen so far until it returns: uniqueness across writers costs memory that grows with
/// the trial while the workload is drawn, and nothing afterwards but the redraw counts.
#[derive(Clone, Debug, Default)]
pub struct Workload {
    streams: Vec<Stream>,
}

/// One writer's records: where they start in the random stream and how to redraw them.
#[derive(Clone, Debug)]
pub struct Stream {
    start: ChaCha8Rng,
    sizes: SizeRange,
    /// Records in the stream (after any cap).
    records: usize,
    /// Payloads cut to at most this many bytes.
    max_payload: Option<u32>,
    /// `(record, extra draws)` for each record drawn more than once, in record order.
    redraws: Vec<(u32, u32)>,
}

impl Workload {
    /// Draws `records` payloads for each of `writers` writers from `rng`, leaving `rng`
    /// past every draw. With several writers every payload is unique across the trial (a
    /// duplicate is drawn again), so that a recovered record names the writer and the
    /// index it came from.
    pub fn generate(
        rng: &mut ChaCha8Rng,
        writers: u32,
        records: u32,
        sizes: SizeRange,
    ) -> Workload {
        let unique = writers > 1;
        let mut seen = HashSet::new();
        let mut streams = Vec::with_capacity(writers as usize);
        for _ in 0..writers {
            let start = rng.clone();
            let mut redraws = Vec::new();
            for i in 0..records {
                let mut p = payload(rng, sizes);
                // Bounded: a range too small for uniqueness (max = 0) keeps duplicates,
                // which the oracle then assigns to whichever writer expects them.
                let mut extra = 0;
                for _ in 0..1000 {
                    if !unique || seen.insert(p.clone()) {
                        break;
                    }
                    p = payload(rng, sizes);
                    extra += 1;
                }
                if extra > 0 {
                    redraws.push((i, extra));
                }
            }
            streams.push(Stream {
                start,
                sizes,
                records: records as usize,
                max_payload: None,
                redraws,
            });
        }
        Workload { streams }
    }

    /// The same workload with each stream cut to its first `records` records and each
    /// payload to its first `max_payload` bytes (a shrunk case).
    pub fn capped(mut self, records: Option<u32>, max_payload: Option<u32>) -> Workload {
        for s in &mut self.streams {
            if let Some(n) = records {
                s.records = s.records.min(n as usize);
            }
            if max_payload.is_some() {
                s.max_payload = max_payload;
            }
        }
        self
    }

    /// Each writer's stream, in writer order.
    pub fn streams(&self) -> &[Stream] {
        &self.streams
    }

    /// Records sent, all writers together.
    pub fn sent(&self) -> u64 {
        self.streams.iter().map(|s| s.records as u64).sum()
    }

    /// Every payload in memory, `[w][i]` record `i` of writer `w`: for small workloads
    /// (a repro's account, tests).
    pub fn to_vecs(&self) -> Vec<Vec<Vec<u8>>> {
        self.streams.iter().map(|s| s.iter().collect()).collect()
    }
}

impl Stream {
    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.records
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Its payloads, in order, drawn again.
    pub fn iter(&self) -> Records<'_> {
        Records {
            stream: self,
            rng: self.start.clone(),
            next: 0,
            redraw: 0,
        }
    }

    /// The writer's stdin under target protocol v1, produced as it is read: one lowercase
    /// hex line per record.
    pub fn input(&self) -> Input<'_> {
        Input {
            records: self.iter(),
            line: Vec::new(),
            at: 0,
        }
    }
}

/// A stream's payloads, drawn again in order.
pub struct Records<'a> {
    stream: &'a Stream,
    rng: ChaCha8Rng,
    next: usize,
    /// The next entry of `stream.redraws` to apply.
    redraw: usize,
}

impl Iterator for Records<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let s = self.stream;
        if self.next >= s.records {
            return None;
        }
        let mut p = payload(&mut self.rng, s.sizes);
        if let Some(&(i, extra)) = s.redraws.get(self.redraw)
            && i as usize == self.next
        {
            for _ in 0..extra {
                p = payload(&mut self.rng, s.sizes);
            }
            self.redraw += 1;
        }
        if let Some(max) = s.max_payload {
            p.truncate(max as usize);
        }
        self.next += 1;
        Some(p)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.stream.records - self.next;
        (left, Some(left))
    }
}

/// A stream's protocol input, one hex line per record, encoded as it is read.
pub struct Input<'a> {
    records: Records<'a>,
    line: Vec<u8>,
    at: usize,
}

impl Read for Input<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.line.len() {
            let Some(record) = self.records.next() else {
                return Ok(0);
            };
            self.line.clear();
            protocol::encode_line(&record, &mut self.line);
            self.at = 0;
        }
        let n = out.len().min(self.line.len() - self.at);
        out[..n].copy_from_slice(&self.line[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
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

    /// The workload as the first version drew it, every payload kept: the streams must
    /// reproduce it record for record.
    fn drawn_whole(
        rng: &mut impl Rng,
        writers: u32,
        records: u32,
        sizes: SizeRange,
    ) -> Vec<Vec<Vec<u8>>> {
        let unique = writers > 1;
        let mut seen = HashSet::new();
        (0..writers)
            .map(|_| {
                (0..records)
                    .map(|_| {
                        let mut p = payload(rng, sizes);
                        for _ in 0..1000 {
                            if !unique || seen.insert(p.clone()) {
                                break;
                            }
                            p = payload(rng, sizes);
                        }
                        p
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn same_stream_same_workload() {
        let sizes = SizeRange { min: 0, max: 64 };
        let a = Workload::generate(&mut Seed(3).trial_rng(5), 1, 50, sizes).to_vecs();
        let b = Workload::generate(&mut Seed(3).trial_rng(5), 1, 50, sizes).to_vecs();
        let c = Workload::generate(&mut Seed(3).trial_rng(6), 1, 50, sizes).to_vecs();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn streams_draw_what_the_whole_workload_drew_and_leave_the_rng_alike() {
        for (writers, max) in [(1, 64), (3, 4), (4, 0)] {
            let sizes = SizeRange { min: 0, max };
            let (mut a, mut b) = (Seed(9).workload_rng(2), Seed(9).workload_rng(2));
            let streamed = Workload::generate(&mut a, writers, 300, sizes);
            assert_eq!(streamed.to_vecs(), drawn_whole(&mut b, writers, 300, sizes));
            assert_eq!(a.next_u64(), b.next_u64(), "the same draws were used up");
            // Read twice, the same again.
            assert_eq!(streamed.to_vecs(), streamed.to_vecs());
        }
    }

    #[test]
    fn caps_cut_streams_and_payloads() {
        let sizes = SizeRange { min: 0, max: 64 };
        let whole = Workload::generate(&mut Seed(1).workload_rng(0), 2, 40, sizes);
        let capped = whole.clone().capped(Some(10), Some(3)).to_vecs();
        for (w, stream) in whole.to_vecs().into_iter().enumerate() {
            let cut: Vec<Vec<u8>> = stream[..10]
                .iter()
                .map(|r| r[..r.len().min(3)].to_vec())
                .collect();
            assert_eq!(capped[w], cut);
        }
    }

    #[test]
    fn input_streams_the_protocol_text() {
        let sizes = SizeRange { min: 0, max: 64 };
        let w = Workload::generate(&mut Seed(4).workload_rng(1), 1, 200, sizes);
        let mut text = Vec::new();
        // Small reads, to cross line ends.
        let mut input = w.streams()[0].input();
        let mut buf = [0u8; 7];
        loop {
            let n = input.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
        }
        assert_eq!(text, protocol::writer_input(&w.to_vecs()[0]));
    }

    #[test]
    fn sizes_stay_in_range_and_hit_both_ends() {
        let sizes = SizeRange { min: 3, max: 40 };
        let w = Workload::generate(&mut Seed(1).trial_rng(0), 2, 500, sizes).to_vecs();
        let lens: Vec<usize> = w.iter().flatten().map(Vec::len).collect();
        assert!(lens.iter().all(|&l| (3..=40).contains(&l)));
        assert!(lens.contains(&3) && lens.contains(&40));
        assert!(
            w.iter()
                .flatten()
                .any(|r| r.contains(&b'\n') && r.contains(&0))
        );
    }

    #[test]
    fn several_writers_get_unique_payloads() {
        let sizes = SizeRange { min: 0, max: 8 };
        let w = Workload::generate(&mut Seed(5).trial_rng(0), 4, 100, sizes).to_vecs();
        let all: Vec<&Vec<u8>> = w.iter().flatten().collect();
        let unique: HashSet<&Vec<u8>> = all.iter().copied().collect();
        assert_eq!(all.len(), 400);
        assert_eq!(
            unique.len(),
            400,
            "every payload names its writer and index"
        );
        let one = Workload::generate(&mut Seed(5).trial_rng(0), 1, 400, sizes).to_vecs();
        let distinct: HashSet<&Vec<u8>> = one[0].iter().collect();
        assert!(
            distinct.len() < 400,
            "one writer keeps duplicates (empty records, zero runs)"
        );
    }
}
