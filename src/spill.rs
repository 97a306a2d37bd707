//! Logs that leave memory once they grow: a trial of a million records must not hold a
//! million boundaries, ack marks or output lines in RAM.
//!
//! A [`ByteLog`] keeps its bytes in a buffer of at most [`KEEP`] bytes; past that, the
//! buffer is written to an unnamed temporary file (in the run's folder once
//! [`place_in`] names it, so under `--work-dir`; else in the system temp folder) and
//! emptied, so a log costs at most [`KEEP`] bytes of memory however long it
//! gets. The file has no name: the kernel removes it when the last handle closes, even if
//! crashtest is SIGKILLed. A [`Spill`] is a [`ByteLog`] of items, one JSON line each,
//! read back in order.
//!
//! Clones share the file (an `Arc`); a clone that appends past the buffer first copies
//! the file, so clones never see each other's later items.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::marker::PhantomData;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where spill files go: the run folder, once a run has one.
static PLACE: std::sync::RwLock<Option<std::path::PathBuf>> = std::sync::RwLock::new(None);

/// Makes later spill files in `dir` (the run folder), so that a run writes nowhere but
/// there.
pub fn place_in(dir: &std::path::Path) {
    *PLACE.write().unwrap_or_else(|e| e.into_inner()) = Some(dir.to_owned());
}

/// A new unnamed file in the run folder, or in the system temp folder when there is no
/// run folder (or it is gone).
pub(crate) fn unnamed() -> io::Result<File> {
    tempfile::tempfile_in(folder())
}

/// The folder spill files go to: the run folder, or the system temp folder when there is
/// no run folder (or it is gone).
pub(crate) fn folder() -> std::path::PathBuf {
    let place = PLACE.read().unwrap_or_else(|e| e.into_inner()).clone();
    match place {
        Some(dir) if dir.is_dir() => dir,
        _ => std::env::temp_dir(),
    }
}

/// Bytes a log keeps in memory before it moves them to its file.
pub const KEEP: usize = 256 << 10;

/// An append-only byte log, in memory while short and in an unnamed file past [`KEEP`].
#[derive(Clone, Debug, Default)]
pub struct ByteLog {
    /// Bytes `0..flushed` of the log, once it spilled.
    file: Option<Arc<File>>,
    flushed: u64,
    /// Bytes `flushed..` of the log.
    buf: Vec<u8>,
}

impl ByteLog {
    /// An empty log.
    pub fn new() -> ByteLog {
        ByteLog::default()
    }

    /// A log holding `bytes` (in memory, however many).
    pub fn from_vec(bytes: Vec<u8>) -> ByteLog {
        ByteLog {
            file: None,
            flushed: 0,
            buf: bytes,
        }
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    /// True when it holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once part of it lives in its file.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Appends `bytes`, moving the buffer to the file once it passes [`KEEP`].
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > KEEP {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let file = match &mut self.file {
            // Shared with a clone: this log goes on in a copy of its own.
            Some(file) if Arc::strong_count(file) > 1 => {
                let copy = unnamed()?;
                io::copy(
                    &mut At {
                        file,
                        pos: 0,
                        end: self.flushed,
                    },
                    &mut &copy,
                )?;
                *file = Arc::new(copy);
                file
            }
            Some(file) => file,
            None => self.file.insert(Arc::new(unnamed()?)),
        };
        file.write_all_at(&self.buf, self.flushed)?;
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Reads the log from `from` to its end.
    pub fn reader_from(&self, from: u64) -> Box<dyn BufRead + Send + '_> {
        let tail =
            &self.buf[from.saturating_sub(self.flushed).min(self.buf.len() as u64) as usize..];
        match &self.file {
            Some(file) if from < self.flushed => Box::new(BufReader::with_capacity(
                64 << 10,
                At {
                    file,
                    pos: from,
                    end: self.flushed,
                }
                .chain(tail),
            )),
            _ => Box::new(tail),
        }
    }

    /// Its first `len` bytes, as a log of its own that shares this one's file (and, once
    /// appended to past its buffer, goes on in a copy).
    pub fn prefix(&self, len: u64) -> ByteLog {
        let mut out = self.clone();
        if len <= self.flushed {
            out.flushed = len;
            out.buf.clear();
        } else {
            out.buf.truncate((len - self.flushed) as usize);
        }
        out
    }

    /// Reads the whole log.
    pub fn reader(&self) -> Box<dyn BufRead + Send + '_> {
        self.reader_from(0)
    }

    /// The whole log in memory: for logs known to be short (tests, messages).
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len() as usize);
        self.reader().read_to_end(&mut out)?;
        Ok(out)
    }
}

/// Reads `file` from `pos` to `end` by `pread`, leaving the file offset alone.
struct At<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for At<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let want = out.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut out[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a spill file is shorter than what was written to it",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// An append-only list of `T` that costs at most [`KEEP`] bytes of memory (plus its last
/// item), read back in order as owned items.
pub struct Spill<T> {
    log: ByteLog,
    len: usize,
    last: Option<T>,
    _items: PhantomData<T>,
}

impl<T: Clone> Clone for Spill<T> {
    fn clone(&self) -> Self {
        Spill {
            log: self.log.clone(),
            len: self.len,
            last: self.last.clone(),
            _items: PhantomData,
        }
    }
}

impl<T> Default for Spill<T> {
    fn default() -> Self {
        Spill {
            log: ByteLog::new(),
            len: 0,
            last: None,
            _items: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Spill<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Spill({} items, {} bytes{})",
            self.len,
            self.log.len(),
            if self.log.spilled() { ", on disk" } else { "" }
        )
    }
}

impl<T: Serialize + DeserializeOwned + Clone> Spill<T> {
    /// An empty list.
    pub fn new() -> Spill<T> {
        Spill::default()
    }

    /// How many items it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `item`.
    pub fn push(&mut self, item: T) -> io::Result<()> {
        let mut line = serde_json::to_vec(&item).map_err(io::Error::other)?;
        line.push(b'\n');
        self.log.append(&line)?;
        self.len += 1;
        self.last = Some(item);
        Ok(())
    }

    /// The last item.
    pub fn last(&self) -> Option<&T> {
        self.last.as_ref()
    }

    /// Item `i` (the last one without reading the log).
    pub fn get(&self, i: usize) -> Option<T> {
        if i + 1 == self.len {
            return self.last.clone();
        }
        self.iter().nth(i)
    }

    /// Every item, in order. A log that cannot be read back (its temporary file failed)
    /// is a crashtest bug or a broken machine: it panics with the cause.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        let mut lines = self.log.reader();
        let mut line = Vec::new();
        (0..self.len).map(move |i| {
            line.clear();
            lines
                .read_until(b'\n', &mut line)
                .and_then(|_| serde_json::from_slice(&line).map_err(io::Error::other))
                .unwrap_or_else(|e| panic!("failed to read item {i} back from a spill file: {e}"))
        })
    }

    /// Its first `n` items (all of them when it has fewer), sharing this list's file: the
    /// lines are counted, not parsed, except the last.
    pub fn prefix(&self, n: usize) -> Spill<T> {
        if n >= self.len {
            return self.clone();
        }
        let mut lines = self.log.reader();
        let mut bytes = 0u64;
        let mut line = Vec::new();
        for i in 0..n {
            line.clear();
            bytes += lines
                .read_until(b'\n', &mut line)
                .unwrap_or_else(|e| panic!("failed to read item {i} back from a spill file: {e}"))
                as u64;
        }
        let last = (n > 0).then(|| {
            serde_json::from_slice(&line).unwrap_or_else(|e| {
                panic!("failed to read item {} back from a spill file: {e}", n - 1)
            })
        });
        Spill {
            log: self.log.prefix(bytes),
            len: n,
            last,
            _items: PhantomData,
        }
    }

    /// Every item in memory: for lists known to be short.
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().collect()
    }
}

impl<T: Serialize + DeserializeOwned + Clone> FromIterator<T> for Spill<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut spill = Spill::new();
        for item in items {
            spill
                .push(item)
                .unwrap_or_else(|e| panic!("failed to spill an item: {e}"));
        }
        spill
    }
}

impl<T: Serialize + DeserializeOwned + Clone> From<Vec<T>> for Spill<T> {
    fn from(items: Vec<T>) -> Self {
        items.into_iter().collect()
    }
}

/// Heap use of the calling thread, for tests that memory does not grow: every allocation
/// of the unit tests goes through a counter of the thread that makes it.
#[cfg(test)]
pub(crate) mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    struct Counting;

    #[global_allocator]
    static COUNTING: Counting = Counting;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn add(bytes: isize) {
        // Const-initialised cells without destructors: always accessible.
        let _ = LIVE.try_with(|live| {
            let now = live.get() + bytes;
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
    }

    // SAFETY: every call is passed to the system allocator unchanged; only counted.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's layout contract, passed on.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                add(layout.size() as isize);
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: ptr came from System.alloc with this layout.
            unsafe { System.dealloc(ptr, layout) };
            add(-(layout.size() as isize));
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: the caller's realloc contract, passed on.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                add(new_size as isize - layout.size() as isize);
            }
            p
        }
    }

    /// Runs `f` and returns, with its result, the most bytes this thread held on the heap
    /// at once during it, above what it held before.
    pub(crate) fn peak<R>(f: impl FnOnce() -> R) -> (usize, R) {
        let base = LIVE.with(Cell::get);
        PEAK.with(|p| p.set(base));
        let r = f();
        let peak = PEAK.with(Cell::get);
        ((peak - base).max(0) as usize, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_log_reads_back_whole_and_keeps_little_in_memory() {
        let mut log = ByteLog::new();
        let chunk: Vec<u8> = (0..=255).collect();
        for _ in 0..(3 * KEEP / 256 + 7) {
            log.append(&chunk).unwrap();
        }
        assert!(log.spilled());
        assert!(log.buf.len() <= KEEP);
        let all = log.to_vec().unwrap();
        assert_eq!(all.len() as u64, log.len());
        assert!(all.chunks(256).all(|c| c == chunk.as_slice()));
        let mut tail = Vec::new();
        log.reader_from(log.len() - 300)
            .read_to_end(&mut tail)
            .unwrap();
        assert_eq!(tail, all[all.len() - 300..]);
    }

    #[test]
    fn clones_do_not_see_each_others_later_items() {
        let mut a: Spill<u64> = (0..100_000).collect();
        let mut b = a.clone();
        for i in 0..100_000 {
            a.push(i).unwrap();
            b.push(7).unwrap();
        }
        assert_eq!(a.len(), 200_000);
        assert!(
            a.iter()
                .zip((0..100_000).chain(0..100_000))
                .all(|(x, y)| x == y)
        );
        assert!(b.iter().skip(100_000).all(|x| x == 7));
        assert_eq!(b.get(5), Some(5));
        assert_eq!(b.get(199_999), Some(7));
        assert_eq!(b.last(), Some(&7));
    }

    #[test]
    fn a_prefix_holds_the_first_items_and_grows_apart() {
        // Long enough to spill, so the prefix ends inside the file.
        let all: Spill<u64> = (0..100_000).collect();
        assert!(all.log.spilled());
        for n in [0, 1, 5, 60_000, 99_999, 100_000, 200_000] {
            let p = all.prefix(n);
            assert_eq!(p.len(), n.min(100_000));
            assert!(p.iter().eq(0..n.min(100_000) as u64), "prefix {n}");
            assert_eq!(
                p.last().copied(),
                n.min(100_000).checked_sub(1).map(|l| l as u64)
            );
        }
        // Appending to a prefix leaves the list it came from alone.
        let mut p = all.prefix(10);
        for i in 0..100_000 {
            p.push(1_000_000 + i).unwrap();
        }
        assert!(p.iter().take(10).eq(0..10));
        assert!(p.iter().skip(10).eq(1_000_000..1_100_000));
        assert!(all.iter().eq(0..100_000));
    }
}
