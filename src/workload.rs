//! The records a trial's writers append, drawn from the trial's random stream.
//!
//! Payloads are adversarial on purpose: empty records, all-zero and all-0xff bytes, NUL
//! and newline runs, and bytes that look like a record header of the WALs under test
//! (a little-endian length that fits the rest of the payload), besides plain random bytes.
//! Sizes favour the ends of the scenario's range.
//!
//! Why nothing here grows with the records in memory: a trial may ask for billions of
//! them (see issue 13). One writer's records are never drawn ahead: a [`Stream`] is where
//! they start in the random stream, and they are drawn as they are read. Several writers'
//! payloads must be unique across the trial, which takes drawing them all once, ahead:
//! the payloads seen so far are kept as 16-byte fingerprints, in memory up to
//! [`IN_MEMORY`] of them and in sorted unnamed temporary files beyond ([`Fingerprints`]),
//! and what the draw leaves behind (which records were drawn again) goes to a [`ByteLog`],
//! which moves to a file of its own once long. That draw stops at the first record after
//! a Ctrl-C.

use std::hash::{DefaultHasher, Hasher};
use std::io::{self, BufRead, Read};
use std::os::unix::fs::FileExt;

use rand_chacha::ChaCha8Rng;
use rand_core::Rng;

use crate::errors::TrialError;
use crate::process;
use crate::protocol;
use crate::scenario::SizeRange;
use crate::seed::{below, between};
use crate::spill::ByteLog;

/// The payloads each writer appends, in order, kept as the means to draw them again
/// rather than as bytes: a writer's stream is regenerated from its start in the random
/// stream whenever it is read ([`Stream::iter`], [`Stream::input`]), so a trial of a
/// million records holds none of them.
///
/// The draws are those of the first version, which kept every payload: writer 0's
/// records, then writer 1's, ..., from one stream; with several writers a payload already
/// drawn in the trial is drawn again (at most 1000 times). A stream keeps where it starts
/// and, for each record that had to be drawn again, how many times, so it replays the
/// exact same draws. With one writer nothing is drawn ahead.
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
    /// `(record, extra draws)` for each record drawn more than once, in record order, as
    /// [`REDRAW`]-byte entries (two little-endian `u32`s).
    redraws: ByteLog,
}

/// Bytes of one entry of [`Stream::redraws`].
const REDRAW: usize = 8;

impl Workload {
    /// `records` payloads for each of `writers` writers from `rng`. With several writers
    /// every payload is unique across the trial (a duplicate is drawn again), so that a
    /// recovered record names the writer and the index it came from: they are drawn here,
    /// once, and `rng` is left past every draw. One writer's are drawn only as they are
    /// read, and `rng` is left as it was.
    ///
    /// `Err(Interrupted)` once SIGINT or SIGTERM arrived during the draw; `Err(Io)` when
    /// the fingerprints or the redraws could not be kept in their temporary files.
    pub fn generate(
        rng: &mut ChaCha8Rng,
        writers: u32,
        records: u32,
        sizes: SizeRange,
    ) -> Result<Workload, TrialError> {
        Workload::draw(rng, writers, records, sizes, IN_MEMORY)
    }

    /// [`Workload::generate`], keeping up to `in_memory` fingerprints in memory.
    fn draw(
        rng: &mut ChaCha8Rng,
        writers: u32,
        records: u32,
        sizes: SizeRange,
        in_memory: usize,
    ) -> Result<Workload, TrialError> {
        let stream = |start: ChaCha8Rng, redraws| Stream {
            start,
            sizes,
            records: records as usize,
            max_payload: None,
            redraws,
        };
        if writers == 1 {
            return Ok(Workload {
                streams: vec![stream(rng.clone(), ByteLog::new())],
            });
        }
        let kept = |source| TrialError::Io {
            what: "keep the drawn records' fingerprints in a temporary file",
            path: crate::spill::folder(),
            source,
        };
        let mut seen = Fingerprints::new(in_memory);
        let mut streams = Vec::with_capacity(writers as usize);
        for _ in 0..writers {
            let start = rng.clone();
            let mut redraws = ByteLog::new();
            for i in 0..records {
                let mut p = payload(rng, sizes);
                // Bounded: a range too small for uniqueness (max = 0) keeps duplicates,
                // which the oracle then assigns to whichever writer expects them.
                let mut extra = 0u32;
                for _ in 0..1000 {
                    // Each draw, since a payload may be 16 MiB: one atomic load.
                    if process::interrupted() {
                        return Err(TrialError::Interrupted);
                    }
                    if seen.insert(&p).map_err(kept)? {
                        break;
                    }
                    p = payload(rng, sizes);
                    extra += 1;
                }
                if extra > 0 {
                    let mut entry = [0u8; REDRAW];
                    entry[..4].copy_from_slice(&i.to_le_bytes());
                    entry[4..].copy_from_slice(&extra.to_le_bytes());
                    redraws.append(&entry).map_err(kept)?;
                }
            }
            streams.push(stream(start, redraws));
        }
        Ok(Workload { streams })
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
        let mut redraws = self.redraws.reader();
        let redraw = next_redraw(&mut *redraws);
        Records {
            stream: self,
            rng: self.start.clone(),
            next: 0,
            redraws,
            redraw,
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

/// The next `(record, extra draws)` entry of a stream's redraws. A log that cannot be read
/// back (its temporary file failed) is a broken machine: it panics with the cause, as
/// [`crate::spill::Spill::iter`] does.
fn next_redraw(from: &mut dyn BufRead) -> Option<(u32, u32)> {
    let mut entry = [0u8; REDRAW];
    match from.read_exact(&mut entry) {
        Ok(()) => Some((
            u32::from_le_bytes(entry[..4].try_into().expect("4 bytes")),
            u32::from_le_bytes(entry[4..].try_into().expect("4 bytes")),
        )),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => None,
        Err(e) => panic!("failed to read a stream's redraws back from their spill file: {e}"),
    }
}

/// A stream's payloads, drawn again in order.
pub struct Records<'a> {
    stream: &'a Stream,
    rng: ChaCha8Rng,
    next: usize,
    /// The stream's redraws past `redraw`.
    redraws: Box<dyn BufRead + Send + 'a>,
    /// The next `(record, extra draws)` to apply.
    redraw: Option<(u32, u32)>,
}

impl Iterator for Records<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let s = self.stream;
        if self.next >= s.records {
            return None;
        }
        let mut p = payload(&mut self.rng, s.sizes);
        if let Some((i, extra)) = self.redraw
            && i as usize == self.next
        {
            for _ in 0..extra {
                p = payload(&mut self.rng, s.sizes);
            }
            self.redraw = next_redraw(&mut *self.redraws);
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

/// Fingerprints kept in memory as they are drawn ([`Fingerprints`]); each time there are
/// this many more, they go to a sorted file.
pub const IN_MEMORY: usize = 64 << 10;

/// Bytes of the filter that spares most draws a look into the files, per fingerprint kept
/// in memory: 4 MiB in all, three bits a fingerprint, whose false positives stay under 1%
/// up to two million fingerprints and reach 15% at eight million.
const FILTER_PER_IN_MEMORY: usize = 64;

/// Fingerprints found in a file (payloads drawn again and again: the all-zero and
/// all-0xff ones of each length above all) remembered in memory, so that their next
/// draws read no file; forgotten all at once when there are more.
const HOT: usize = 16 << 10;

/// Bytes of one fingerprint.
const FINGERPRINT: usize = 16;
type Fingerprint = [u8; FINGERPRINT];

/// Fingerprints per page of a sorted file: a look into the file reads one page.
const PAGE: usize = 256;

/// The payloads of a trial seen so far, as a set of 16-byte fingerprints: a payload of up
/// to 14 bytes is its own fingerprint (a tag, its length, its bytes), a longer one is
/// tagged 120 bits of two SipHashes of it. Two payloads are taken for equal when their
/// fingerprints are, which for long ones is wrong with a chance below n^2 / 2^121 for n
/// payloads (2^-55 for ten billion): the set answers as a set of the payloads would, at
/// 16 bytes an entry, wherever they are, instead of their whole bytes in memory.
///
/// Memory stays flat however many there are (a log-structured set): the newest
/// [`IN_MEMORY`] are in a hash set; older ones are in sorted runs in unnamed temporary
/// files, runs of like size merged (so a few dozen at most), each with the first
/// fingerprint of each of its pages in memory (1/16 of a byte per fingerprint). A Bloom
/// filter over the runs ([`FILTER_PER_IN_MEMORY`]) answers "not there" for most new
/// payloads without reading a file; the others read one page of each run.
struct Fingerprints {
    recent: std::collections::HashSet<Fingerprint>,
    runs: Vec<Run>,
    filter: Vec<u64>,
    hot: std::collections::HashSet<Fingerprint>,
    /// Fingerprints kept in memory before they go to a run.
    in_memory: usize,
}

impl Fingerprints {
    fn new(in_memory: usize) -> Fingerprints {
        Fingerprints {
            recent: std::collections::HashSet::new(),
            runs: Vec::new(),
            filter: Vec::new(),
            hot: std::collections::HashSet::new(),
            in_memory,
        }
    }

    /// Adds `payload`; false when an equal one was there already.
    fn insert(&mut self, payload: &[u8]) -> io::Result<bool> {
        let f = fingerprint(payload);
        if self.hot.contains(&f) {
            return Ok(false);
        }
        if self.in_runs(&f)? {
            if self.hot.len() == HOT {
                self.hot.clear();
            }
            self.hot.insert(f);
            return Ok(false);
        }
        if !self.recent.insert(f) {
            return Ok(false);
        }
        if self.recent.len() >= self.in_memory {
            self.flush()?;
        }
        Ok(true)
    }

    /// True when a run holds `f`.
    fn in_runs(&self, f: &Fingerprint) -> io::Result<bool> {
        if self.runs.is_empty() || !filter_bits(f).all(|bit| self.filter_has(bit)) {
            return Ok(false);
        }
        for run in &self.runs {
            if run.contains(f)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn filter_has(&self, bit: u64) -> bool {
        let bit = bit % (self.filter.len() as u64 * 64);
        self.filter[(bit / 64) as usize] & (1 << (bit % 64)) != 0
    }

    /// Moves the fingerprints in memory to a run of their own, then merges the newest runs
    /// while the one before the last is at most twice as long as the last.
    fn flush(&mut self) -> io::Result<()> {
        if self.filter.is_empty() {
            self.filter = vec![0; self.in_memory * FILTER_PER_IN_MEMORY / 8];
        }
        let mut sorted: Vec<Fingerprint> = self.recent.drain().collect();
        sorted.sort_unstable();
        let bits = self.filter.len() as u64 * 64;
        for f in &sorted {
            for bit in filter_bits(f) {
                let bit = bit % bits;
                self.filter[(bit / 64) as usize] |= 1 << (bit % 64);
            }
        }
        self.runs.push(Run::write(sorted.into_iter().map(Ok))?);
        while let [.., older, newer] = self.runs.as_slice()
            && older.len <= 2 * newer.len
        {
            let newer = self.runs.pop().expect("two runs");
            let older = self.runs.pop().expect("two runs");
            self.runs.push(Run::merge(&older, &newer)?);
        }
        Ok(())
    }
}

/// The filter's bits of `f` (three, by double hashing), before they are taken modulo the
/// filter's size.
fn filter_bits(f: &Fingerprint) -> impl Iterator<Item = u64> {
    let mut h = DefaultHasher::new();
    h.write(f);
    let a = h.finish();
    let b = a.rotate_left(32) | 1;
    (0..3u64).map(move |i| a.wrapping_add(i.wrapping_mul(b)))
}

/// Fingerprints in ascending order in an unnamed file, and the first of each page.
struct Run {
    file: std::fs::File,
    len: u64,
    firsts: Vec<Fingerprint>,
}

impl Run {
    /// Writes `sorted` (ascending, no repeats) to a new run.
    fn write(sorted: impl Iterator<Item = io::Result<Fingerprint>>) -> io::Result<Run> {
        let file = crate::spill::unnamed()?;
        let mut out = io::BufWriter::with_capacity(64 << 10, &file);
        let (mut len, mut firsts) = (0u64, Vec::new());
        for f in sorted {
            let f = f?;
            if len % PAGE as u64 == 0 {
                firsts.push(f);
            }
            io::Write::write_all(&mut out, &f)?;
            len += 1;
        }
        io::Write::flush(&mut out)?;
        drop(out);
        Ok(Run { file, len, firsts })
    }

    /// One run of the fingerprints of `a` and `b` (which share none).
    fn merge(a: &Run, b: &Run) -> io::Result<Run> {
        let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
        Run::write(std::iter::from_fn(|| {
            let take_a = match (a.peek(), b.peek()) {
                (Some(Ok(x)), Some(Ok(y))) => x < y,
                (Some(_), None) | (Some(Err(_)), _) => true,
                (None, Some(_)) | (Some(Ok(_)), Some(Err(_))) => false,
                (None, None) => return None,
            };
            if take_a { a.next() } else { b.next() }
        }))
    }

    /// True when the run holds `f`: one page read.
    fn contains(&self, f: &Fingerprint) -> io::Result<bool> {
        let page = match self.firsts.partition_point(|first| first <= f) {
            0 => return Ok(false),
            n => n - 1,
        };
        let from = (page * PAGE) as u64;
        let n = PAGE.min((self.len - from) as usize);
        let mut slots = [[0u8; FINGERPRINT]; PAGE];
        self.file
            .read_exact_at(slots[..n].as_flattened_mut(), from * FINGERPRINT as u64)?;
        Ok(slots[..n].binary_search(f).is_ok())
    }

    /// Its fingerprints in order, a page at a time.
    fn iter(&self) -> impl Iterator<Item = io::Result<Fingerprint>> + '_ {
        let mut page = Vec::new();
        let mut at = 0u64;
        std::iter::from_fn(move || {
            if at >= self.len {
                return None;
            }
            let i = (at % PAGE as u64) as usize;
            if i == 0 {
                page.clear();
                page.resize(PAGE.min((self.len - at) as usize), [0u8; FINGERPRINT]);
                if let Err(e) = self
                    .file
                    .read_exact_at(page.as_flattened_mut(), at * FINGERPRINT as u64)
                {
                    at = self.len;
                    return Some(Err(e));
                }
            }
            at += 1;
            Some(Ok(page[i]))
        })
    }
}

/// A payload's fingerprint: see [`Fingerprints`].
fn fingerprint(payload: &[u8]) -> Fingerprint {
    let mut f = [0u8; FINGERPRINT];
    if payload.len() <= FINGERPRINT - 2 {
        f[0] = 1;
        f[1] = payload.len() as u8;
        f[2..2 + payload.len()].copy_from_slice(payload);
    } else {
        let hash = |salt: u8| {
            let mut h = DefaultHasher::new();
            h.write_u8(salt);
            h.write_usize(payload.len());
            h.write(payload);
            h.finish().to_le_bytes()
        };
        f[0] = 2;
        f[1..9].copy_from_slice(&hash(0));
        f[9..].copy_from_slice(&hash(1)[..7]);
    }
    f
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
    use std::collections::HashSet;

    use super::*;
    use crate::seed::Seed;
    use crate::spill::heap;

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
        let a = Workload::generate(&mut Seed(3).trial_rng(5), 1, 50, sizes)
            .unwrap()
            .to_vecs();
        let b = Workload::generate(&mut Seed(3).trial_rng(5), 1, 50, sizes)
            .unwrap()
            .to_vecs();
        let c = Workload::generate(&mut Seed(3).trial_rng(6), 1, 50, sizes)
            .unwrap()
            .to_vecs();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn streams_draw_what_the_whole_workload_drew_and_leave_the_rng_alike() {
        for (writers, max) in [(1, 64), (3, 4), (4, 0)] {
            let sizes = SizeRange { min: 0, max };
            let (mut a, mut b) = (Seed(9).workload_rng(2), Seed(9).workload_rng(2));
            let streamed = Workload::generate(&mut a, writers, 300, sizes).unwrap();
            assert_eq!(streamed.to_vecs(), drawn_whole(&mut b, writers, 300, sizes));
            if writers == 1 {
                // Nothing was drawn ahead.
                assert_eq!(a.next_u64(), Seed(9).workload_rng(2).next_u64());
            } else {
                assert_eq!(a.next_u64(), b.next_u64(), "the same draws were used up");
            }
            // Read twice, the same again.
            assert_eq!(streamed.to_vecs(), streamed.to_vecs());
        }
    }

    #[test]
    fn caps_cut_streams_and_payloads() {
        let sizes = SizeRange { min: 0, max: 64 };
        let whole = Workload::generate(&mut Seed(1).workload_rng(0), 2, 40, sizes).unwrap();
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
        let w = Workload::generate(&mut Seed(4).workload_rng(1), 1, 200, sizes).unwrap();
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
        let w = Workload::generate(&mut Seed(1).trial_rng(0), 2, 500, sizes)
            .unwrap()
            .to_vecs();
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
        let w = Workload::generate(&mut Seed(5).trial_rng(0), 4, 100, sizes)
            .unwrap()
            .to_vecs();
        let all: Vec<&Vec<u8>> = w.iter().flatten().collect();
        let unique: HashSet<&Vec<u8>> = all.iter().copied().collect();
        assert_eq!(all.len(), 400);
        assert_eq!(
            unique.len(),
            400,
            "every payload names its writer and index"
        );
        let one = Workload::generate(&mut Seed(5).trial_rng(0), 1, 400, sizes)
            .unwrap()
            .to_vecs();
        let distinct: HashSet<&Vec<u8>> = one[0].iter().collect();
        assert!(
            distinct.len() < 400,
            "one writer keeps duplicates (empty records, zero runs)"
        );
    }

    // See issue 13: 4 writers of 2,000,000 records each took crashtest to 1.3 GB.

    #[test]
    fn the_fingerprint_table_answers_as_a_set_of_the_payloads_would() {
        // Short payloads (their own fingerprints) and long ones (hashed), with many
        // repeats, enough to move the table to its file.
        let mut rng = Seed(6).workload_rng(0);
        let mut table = Fingerprints::new(1024);
        let mut set = HashSet::new();
        for i in 0..50_000u32 {
            let p = payload(&mut rng, SizeRange { min: 0, max: 40 });
            // A repeat of an earlier payload, now and then.
            let p = if i % 7 == 0 {
                p[..p.len() / 2].to_vec()
            } else {
                p
            };
            assert_eq!(table.insert(&p).unwrap(), set.insert(p.clone()), "{p:?}");
        }
        assert!(table.runs.len() > 1, "runs were written and merged");
        let on_disk: u64 = table.runs.iter().map(|r| r.len).sum();
        assert_eq!(on_disk + table.recent.len() as u64, set.len() as u64);
        assert!(
            table.runs.len() <= 1 + (set.len() / 1024).ilog2() as usize,
            "{} runs",
            table.runs.len()
        );
        assert!(set.len() > 25_000 && set.len() < 50_000, "{}", set.len());
    }

    #[test]
    fn drawing_several_writers_holds_no_set_of_their_payloads() {
        const N: u32 = 30_000;
        const IN_MEMORY: usize = 4096;
        let sizes = SizeRange { min: 0, max: 64 };
        let (peak, w) = heap::peak(|| {
            Workload::draw(&mut Seed(2).workload_rng(0), 4, N, sizes, IN_MEMORY).unwrap()
        });
        // The payloads alone are 4 * 30,000 * 32 bytes on average, a set of them twice
        // that (10 MB): the draw holds the newest fingerprints (in a hash set, and sorted
        // on their way to a file), the filter, those found again, a run's write buffer,
        // and the redraws' buffers.
        let bound = IN_MEMORY * (3 * 40 + FILTER_PER_IN_MEMORY)
            + HOT * 40
            + (64 << 10)
            + 4 * crate::spill::KEEP
            + (256 << 10);
        assert!(peak < bound, "drawing held {peak} bytes, more than {bound}");
        let whole = drawn_whole(&mut Seed(2).workload_rng(0), 4, N, sizes);
        assert!(
            w.streams()
                .iter()
                .zip(&whole)
                .all(|(s, w)| s.iter().eq(w.iter().cloned())),
            "the same draws as a set of the payloads in memory"
        );
    }
}
