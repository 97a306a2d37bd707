//! Power loss: what the disk holds when the machine, not just the writer, dies.
//!
//! A SIGKILL loses nothing the page cache holds ([`after_kill`]). A power loss loses what
//! was never made durable, in any order the kernel happened to flush it
//! ([`after_power_loss`]). Both replay the write log of the crash run (the tracer's
//! [`Op`]s, in the order they ran) from an initial folder ([`Snapshot`]; empty for a fresh
//! trial, the recovered folder for a resumed writer). The model, which is the spec:
//!
//! 1. Applied the ops in order against two views: the volatile view (everything applied)
//!    and, per file, the durable content as of the file's last `Sync`. Files and
//!    directories are tracked by an inode-like id, so a rename moves the content and its
//!    sync state with it.
//! 2. A file's writes and truncates after its last `Sync` are pending. At the power loss
//!    its content is its durable content plus a drawn subset of its pending ops (each kept
//!    with probability 1/2), applied in log order, or, with probability 1/4 when two or
//!    more are kept, in a shuffled order ("reordered"). The kept write latest in the log
//!    (at most one per power loss) may be torn: with probability 1/2 only its first `j`
//!    bytes land, `j` in `0..len` drawn among the points where the write crosses a
//!    `sector` boundary of the file offset (`j = 0` when it crosses none).
//! 3. Names: a name change (Create, Mkdir, Rename, Remove) is settled once every directory
//!    it touches (the parent, or both parents for a rename) has had a `SyncDir` after it.
//!    From the initial names, every change is replayed in log order: a settled one always,
//!    an unsettled one with probability 1/2. A dropped change reverts (a created file is
//!    absent, a renamed file keeps its old name, a removed file is back) and a later
//!    change that no longer fits the names (renaming a name that is not there) does
//!    nothing. Whatever a name points to holds that file's content from step 2.
//! 4. So a file created and fsynced whose directory was never fsynced after the `Create`
//!    may vanish: the classic "fsync the file but not the folder" bug.
//! 5. `Unmodelled` ops change nothing; their files are listed in
//!    [`PowerLoss::unmodelled`], as are names the log uses without the model knowing them
//!    (a write to a file never created: the model creates it, unsettled).
//! 6. When every write and truncate is followed by a `Sync` of its file and every name
//!    change by a `SyncDir` of its directories, nothing is left to draw and the result
//!    equals [`after_kill`]. The same seed gives the same result.
//!
//! ## Profiles
//!
//! A scenario's `[faults] persistence` chooses whose promises a power loss keeps. The rules
//! above are `posix`: the weakest reading of POSIX, where only fsync promises anything
//! (POSIX.1-2017 `fsync`: "all data for the open file descriptor ... is to be transferred
//! to the storage device"; nothing is said of the directory entry, so a new name needs an
//! fsync of its folder, as `fsync(2)` on Linux advises).
//!
//! `ext4-ordered` is Linux ext4 mounted `data=ordered` with `auto_da_alloc`, both its
//! defaults (Documentation/admin-guide/ext4.rst). It keeps rules 1, 5 and 6, and replaces
//! rules 2 to 4:
//!
//! - E1. Directory operations reach the disk atomically and in the order they ran. ext4
//!   journals all metadata through jbd2, which commits transactions one after another; a
//!   crash recovers a prefix of the committed transactions (Documentation/filesystems/
//!   ext4/journal.rst). ALICE (Pillai et al., "All File Systems Are Not Created Equal",
//!   OSDI '14, Table 1) measured directory operations atomic and ordered before any later
//!   operation on ext4 in every journaling mode. So the names after a power loss are those
//!   of a prefix of the name changes in log order, drawn uniformly.
//! - E2. An fsync commits the journal: `ext4_sync_file` waits for the commit of the
//!   transaction that last changed the inode (`i_sync_tid`), and with it every earlier
//!   one. So every name change up to the last metadata change of an fsynced file (its
//!   creation, a rename, a change of its size) or folder (an entry added, renamed or
//!   removed) is in the prefix. A program that fsyncs a new file but not its folder keeps
//!   the file's name here; under `posix` it may not. An fsync of a file whose size did not
//!   change (an overwrite in place) is taken to commit nothing more, as `fdatasync` does.
//! - E3. Data is written before the metadata that exposes it ("All data are forced
//!   directly out to the main file system prior to its metadata being committed to the
//!   journal", ext4.rst on `data=ordered`; ALICE Table 1: appends are atomic, never
//!   garbage). With delayed allocation, data is not ordered with other files' operations
//!   (ALICE: append -> any op is not ordered on ext4-ordered). So a file's unsynced
//!   appends and size changes land as a prefix in log order, of any length (drawn
//!   uniformly): the size on disk grows only over pages whose data is on disk, so no
//!   garbage or zeros appear past written data. Overwrites of bytes its last sync made
//!   durable are not journaled and reach the disk in whatever order writeback takes:
//!   each lands or not (1/2), as under `posix`. The last write kept may stop at a
//!   boundary: a `sector` one for an overwrite, a page (4096 bytes, or `sector` if
//!   larger) for an append.
//! - E4. Replace-via-rename is safe: "If auto_da_alloc is enabled, ext4 will detect the
//!   replace-via-rename and replace-via-truncate patterns and force that any delayed
//!   allocation blocks are allocated such that at the next journal commit, in the default
//!   data=ordered mode, the data blocks of the new file are forced to disk before the
//!   rename() operation is committed" (ext4.rst). So when a rename over an existing file
//!   is kept, every data op the renamed file had before it is kept too, whole.
//!   (Replace-via-truncate is not modelled: the log does not see `close`.)
//! - E5. What E1 to E4 draw is the state; as under `posix`, a fully synced log gives
//!   [`after_kill`]'s state.
//!
//! xfs and btrfs are not offered: ALICE found their orderings differ from ext4's in ways
//! (btrfs does not order directory operations; xfs does not make appends before a rename
//! safe) that need their own rules and their own checks, and none is written here yet.
//!
//! Every power-loss report names its profile and, per dropped name change, what the
//! program relied on that the profile does not promise ([`PowerLoss::relied_on`]).
//!
//! Draws under `posix`, in this order: for each file in id order (ids are given in the order files
//! appear: the initial files sorted by path, then as the log creates them) one draw per
//! pending op, then the reorder draw; then the tear (one draw, then `j`); then one draw per
//! unsettled name change, in log order. Under `ext4-ordered`: the name cut (one draw),
//! then per file in id order its prefix length (one draw) and one draw per overwrite in
//! log order, then the tear (one draw, then `j`). Changing the order is a breaking change for saved repro commands.

use std::collections::{BTreeMap, BTreeSet};

use rand_core::Rng;
use serde::{Deserialize, Serialize};

use crate::scenario::Persistence;
use crate::seed::below;
use crate::snapshot::Snapshot;
use crate::tracer::Op;

/// What the model kept and dropped, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerLoss {
    /// Writes made after their file's last sync (truncates are not counted).
    pub unsynced_writes: u64,
    /// How many of those landed, fully or torn.
    pub kept_writes: u64,
    /// The torn write, if any: the file's name in the write, and the file offset at which
    /// the landed part stops.
    pub torn: Option<(String, u64)>,
    /// The name changes that were dropped, in log order, e.g. `rename wal.tmp -> wal.log`.
    pub reverted_names: Vec<String>,
    /// Whether some file's kept writes landed out of order.
    pub reordered: bool,
    /// Files for which the state may be off (unmodelled calls, unknown names), sorted.
    pub unmodelled: Vec<String>,
    /// The persistence profile the power loss followed.
    #[serde(default)]
    pub profile: Persistence,
    /// What the program relied on that the profile does not promise: each dropped name
    /// change, why it could be dropped, and what would keep it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relied_on: Vec<String>,
}

/// The state after a power loss at the end of `ops`, starting from `initial`, on a file
/// system that keeps the promises of `profile`. `sector` (>= 1) is the granularity of a
/// torn write.
pub fn after_power_loss(
    initial: &Snapshot,
    ops: &[Op],
    sector: u64,
    profile: Persistence,
    rng: &mut impl Rng,
) -> (Snapshot, PowerLoss) {
    assert!(sector >= 1, "sector size must be at least 1");
    let applied = Applied::run(initial, ops);
    let report = PowerLoss {
        unmodelled: applied.unmodelled.iter().cloned().collect(),
        profile,
        ..PowerLoss::default()
    };
    match profile {
        Persistence::Posix => posix(&applied, sector, rng, report),
        Persistence::Ext4Ordered => ext4_ordered(&applied, sector, rng, report),
    }
}

/// Rules 1 to 6.
fn posix(
    applied: &Applied,
    sector: u64,
    rng: &mut impl Rng,
    mut report: PowerLoss,
) -> (Snapshot, PowerLoss) {
    // Step 2: which pending ops of each file land, and in which order.
    let mut landed: BTreeMap<FileId, Vec<usize>> = BTreeMap::new();
    for (&id, inode) in &applied.inodes {
        let mut kept = Vec::new();
        for (k, pending) in inode.pending.iter().enumerate() {
            let write = matches!(pending.op, DataOp::Write { .. });
            report.unsynced_writes += u64::from(write);
            if below(rng, 2) == 1 {
                report.kept_writes += u64::from(write);
                kept.push(k);
            }
        }
        if kept.len() >= 2 && below(rng, 4) == 0 {
            shuffle(rng, &mut kept);
            report.reordered = true;
        }
        landed.insert(id, kept);
    }

    // The tear: the kept write latest in the log.
    let last_write = landed
        .iter()
        .flat_map(|(id, kept)| kept.iter().map(move |&k| (*id, k)))
        .filter_map(|(id, k)| {
            let pending = &applied.inodes[&id].pending[k];
            matches!(pending.op, DataOp::Write { .. }).then_some((pending.at, id, k))
        })
        .max();
    let mut tear: Option<(FileId, usize, usize)> = None;
    if let Some((_, id, k)) = last_write
        && below(rng, 2) == 0
    {
        let pending = &applied.inodes[&id].pending[k];
        if let DataOp::Write { offset, data } = &pending.op {
            let j = tear_point(rng, *offset, data.len() as u64, sector);
            report.torn = Some((pending.name.clone(), offset + j));
            tear = Some((id, k, to_usize(j)));
        }
    }

    let mut contents: BTreeMap<FileId, Vec<u8>> = BTreeMap::new();
    for (&id, inode) in &applied.inodes {
        let mut content = inode.durable.clone();
        for &k in &landed[&id] {
            match (&inode.pending[k].op, tear) {
                (DataOp::Write { offset, data }, Some((tid, tk, j))) if (tid, tk) == (id, k) => {
                    write_at(&mut content, *offset, &data[..j]);
                }
                (op, _) => op.apply(&mut content),
            }
        }
        contents.insert(id, content);
    }

    // Step 3: the names.
    let mut names = applied.initial_names.clone();
    for change in &applied.changes {
        let settled = change.touched.iter().all(|dir| {
            applied
                .dir_synced_at
                .get(dir)
                .is_some_and(|&synced| synced > change.at)
        });
        if settled || below(rng, 2) == 1 {
            change.op.apply(&mut names);
        } else {
            report.reverted_names.push(change.op.to_string());
            let ext4 = if applied.committed.is_some_and(|c| c >= change.at) {
                "; ext4-ordered keeps it: a later fsync commits the journal"
            } else {
                ""
            };
            report.relied_on.push(format!(
                "`{}` was never synced: fsync its folder after it{ext4}",
                change.op
            ));
        }
    }

    (snapshot_of(&names, &contents), report)
}

/// Rules E1 to E5.
fn ext4_ordered(
    applied: &Applied,
    sector: u64,
    rng: &mut impl Rng,
    mut report: PowerLoss,
) -> (Snapshot, PowerLoss) {
    // E1, E2: the names are those of a prefix of the name changes in log order, at least
    // up to the last journal commit an fsync forced.
    let committed = applied.committed;
    let open: Vec<&NameChange> = applied
        .changes
        .iter()
        .filter(|c| committed.is_none_or(|at| c.at > at))
        .collect();
    let cut = below(rng, open.len() as u64 + 1) as usize;
    let mut names = applied.initial_names.clone();
    // E4: a file renamed over another keeps the data it had at the rename.
    let mut forced: BTreeMap<FileId, usize> = BTreeMap::new();
    let mut kept_open = 0;
    for change in &applied.changes {
        let settled = committed.is_some_and(|at| change.at <= at);
        if settled || kept_open < cut {
            kept_open += usize::from(!settled);
            change.op.apply(&mut names);
            if let NameOp::Rename {
                entry: Entry::File(id),
                ..
            } = &change.op
                && change.replaces
            {
                let before = applied.inodes[id]
                    .pending
                    .iter()
                    .filter(|p| p.at < change.at)
                    .count();
                let n = forced.entry(*id).or_default();
                *n = (*n).max(before);
            }
        } else {
            report.reverted_names.push(change.op.to_string());
            report.relied_on.push(format!(
                "`{}` came after the last journal commit: fsync the file or its folder after it",
                change.op
            ));
        }
    }

    // E3: a file's unsynced overwrites of what its last sync made durable land each or
    // not; its other data ops (appends, size changes) land as a prefix in log order. The
    // last write kept may stop at a sector (an overwrite) or a page (an append).
    let mut landed: BTreeMap<FileId, Vec<bool>> = BTreeMap::new();
    for (&id, inode) in &applied.inodes {
        let durable = inode.durable.len() as u64;
        let overwrite = |p: &Pending| match &p.op {
            DataOp::Write { offset, data } => offset + data.len() as u64 <= durable,
            _ => false,
        };
        let ordered = inode.pending.iter().filter(|p| !overwrite(p)).count();
        let prefix = below(rng, ordered as u64 + 1) as usize;
        let forced = forced.get(&id).copied().unwrap_or(0);
        let mut seen = 0;
        let mut kept = Vec::with_capacity(inode.pending.len());
        for (k, pending) in inode.pending.iter().enumerate() {
            let keep = if overwrite(pending) {
                below(rng, 2) == 1 || k < forced
            } else {
                seen += 1;
                seen <= prefix || k < forced
            };
            let write = matches!(pending.op, DataOp::Write { .. });
            report.unsynced_writes += u64::from(write);
            report.kept_writes += u64::from(write && keep);
            kept.push(keep);
        }
        landed.insert(id, kept);
    }
    let last_write = landed
        .iter()
        .filter_map(|(&id, kept)| {
            let pending = &applied.inodes[&id].pending;
            let k = (0..kept.len())
                .rev()
                .find(|&k| kept[k] && matches!(pending[k].op, DataOp::Write { .. }))?;
            let unforced = k >= forced.get(&id).copied().unwrap_or(0);
            unforced.then_some((pending[k].at, id, k))
        })
        .max();
    let mut tear: Option<(FileId, usize, usize)> = None;
    if let Some((_, id, k)) = last_write
        && below(rng, 2) == 0
    {
        let inode = &applied.inodes[&id];
        let pending = &inode.pending[k];
        if let DataOp::Write { offset, data } = &pending.op {
            let len = data.len() as u64;
            let grain = if offset + len <= inode.durable.len() as u64 {
                sector
            } else {
                sector.max(PAGE)
            };
            let j = tear_point(rng, *offset, len, grain);
            report.torn = Some((pending.name.clone(), offset + j));
            tear = Some((id, k, to_usize(j)));
        }
    }
    let mut contents: BTreeMap<FileId, Vec<u8>> = BTreeMap::new();
    for (&id, inode) in &applied.inodes {
        let mut content = inode.durable.clone();
        for (k, pending) in inode.pending.iter().enumerate() {
            if !landed[&id][k] {
                continue;
            }
            match (&pending.op, tear) {
                (DataOp::Write { offset, data }, Some((tid, tk, j))) if (tid, tk) == (id, k) => {
                    write_at(&mut content, *offset, &data[..j]);
                }
                (op, _) => op.apply(&mut content),
            }
        }
        contents.insert(id, content);
    }
    (snapshot_of(&names, &contents), report)
}

/// The page size: ext4's data reaches the disk in pages, and its size on disk
/// (`i_disksize`) grows only over pages whose data is written (rule E3).
const PAGE: u64 = 4096;

/// The write log of what happened before a kill that left the folder `real`, from the
/// tracer's `ops`, of which the calls in `unsure` (other threads' calls let run just
/// before the kill) may not have run: the ops less those unsure calls that did not
/// happen, chosen so that the log rebuilds `real` exactly. Or why no power loss can be
/// built from it: a call the model cannot apply, or a file the log does not rebuild
/// (bytes it never saw: stored through `mmap`, written by io_uring, or a write cut short
/// by the kill in another thread).
pub fn what_happened(
    initial: &Snapshot,
    ops: &[Op],
    unsure: &[std::ops::Range<usize>],
    real: &Snapshot,
) -> Result<Vec<Op>, String> {
    if let Some((file, syscall)) = ops.iter().find_map(|op| match op {
        Op::Unmodelled { file, syscall } => Some((file, syscall)),
        _ => None,
    }) {
        return Err(crate::tracer::oplog::unmodelled_words(file, syscall));
    }
    // Each unsure call ran or did not: 2^n logs, n the threads in flight (a handful).
    let unsure = &unsure[..unsure.len().min(10)];
    let mut first_differs = None;
    for ran in (0..1u32 << unsure.len()).rev() {
        let skipped = |i: usize| {
            unsure
                .iter()
                .enumerate()
                .any(|(b, r)| ran & (1 << b) == 0 && r.contains(&i))
        };
        let log: Vec<Op> = (0..ops.len())
            .filter(|&i| !skipped(i))
            .map(|i| ops[i].clone())
            .collect();
        let built = after_kill(initial, &log);
        let files = built.files.keys().chain(real.files.keys());
        match files
            .filter(|f| built.files.get(*f) != real.files.get(*f))
            .min()
        {
            None if built.dirs == real.dirs => return Ok(log),
            differs => {
                first_differs.get_or_insert(differs.cloned());
            }
        }
    }
    let why = if unsure.is_empty() {
        "(written through mmap or io_uring?)"
    } else {
        "(written through mmap or io_uring, or a write in another thread cut short by the kill?)"
    };
    Err(match first_differs.flatten() {
        Some(file) => format!("{file} holds bytes the write log never saw {why}"),
        None => format!("the folders differ from what the write log rebuilds {why}"),
    })
}

/// The state with every op applied (what the page cache holds after SIGKILL).
pub fn after_kill(initial: &Snapshot, ops: &[Op]) -> Snapshot {
    let applied = Applied::run(initial, ops);
    let contents = applied
        .inodes
        .iter()
        .map(|(&id, inode)| (id, inode.volatile.clone()))
        .collect();
    snapshot_of(&applied.names, &contents)
}

/// The point in `0..len` at which a write at `offset` stops when torn: a uniformly drawn
/// offset where it crosses a sector boundary, or 0 when it crosses none.
fn tear_point(rng: &mut impl Rng, offset: u64, len: u64, sector: u64) -> u64 {
    let first = (sector - offset % sector) % sector;
    if first >= len {
        return 0;
    }
    let count = (len - 1 - first) / sector + 1;
    first + below(rng, count) * sector
}

/// Fisher-Yates, with [`below`] so the permutation is pinned.
fn shuffle<T>(rng: &mut impl Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

fn to_usize(x: u64) -> usize {
    usize::try_from(x).expect("a file offset in the write log fits in memory")
}

fn write_at(content: &mut Vec<u8>, offset: u64, data: &[u8]) {
    if data.is_empty() {
        return; // pwrite of nothing does not extend the file
    }
    let start = to_usize(offset);
    let end = start + data.len();
    if content.len() < end {
        content.resize(end, 0);
    }
    content[start..end].copy_from_slice(data);
}

fn snapshot_of(names: &Names, contents: &BTreeMap<FileId, Vec<u8>>) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (path, entry) in names {
        match entry {
            Entry::Dir(_) => {
                snapshot.dirs.insert(path.clone());
            }
            Entry::File(id) => {
                snapshot.files.insert(path.clone(), contents[id].clone());
            }
        }
    }
    snapshot
}

// ---- the write log, applied ----

type FileId = u64;
type DirId = u64;

/// The trial folder itself.
const ROOT: DirId = 0;

/// What a name points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    File(FileId),
    Dir(DirId),
}

/// Every name in the folder (relative path -> entry), the folder itself excluded.
type Names = BTreeMap<String, Entry>;

/// A change to a file's bytes.
#[derive(Clone, Debug)]
enum DataOp {
    Write {
        offset: u64,
        data: Vec<u8>,
    },
    Truncate {
        len: u64,
    },
    Extend {
        len: u64,
    },
    Zero {
        offset: u64,
        len: u64,
        keep_size: bool,
    },
}

impl DataOp {
    fn apply(&self, content: &mut Vec<u8>) {
        match self {
            DataOp::Write { offset, data } => write_at(content, *offset, data),
            DataOp::Truncate { len } => content.resize(to_usize(*len), 0),
            DataOp::Extend { len } => {
                if content.len() < to_usize(*len) {
                    content.resize(to_usize(*len), 0);
                }
            }
            DataOp::Zero {
                offset,
                len,
                keep_size,
            } => {
                let end = to_usize(offset.saturating_add(*len));
                let end = if *keep_size {
                    end.min(content.len())
                } else {
                    end
                };
                if content.len() < end {
                    content.resize(end, 0);
                }
                let start = to_usize(*offset).min(end);
                content[start..end].fill(0);
            }
        }
    }
}

/// A data op made after its file's last sync.
#[derive(Clone, Debug)]
struct Pending {
    op: DataOp,
    /// Its index in the log.
    at: usize,
    /// The file's name in the op.
    name: String,
}

/// One file, by id.
#[derive(Clone, Debug, Default)]
struct Inode {
    volatile: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Pending>,
}

/// A change to the names, with the entry it concerns, so that a replay over other names
/// can tell whether it still fits.
#[derive(Clone, Debug)]
enum NameOp {
    Create {
        path: String,
        id: FileId,
    },
    Mkdir {
        path: String,
        id: DirId,
    },
    Rename {
        from: String,
        to: String,
        entry: Entry,
    },
    Remove {
        path: String,
        entry: Entry,
    },
}

impl std::fmt::Display for NameOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameOp::Create { path, .. } => write!(f, "create {path}"),
            NameOp::Mkdir { path, .. } => write!(f, "mkdir {path}"),
            NameOp::Rename { from, to, .. } => write!(f, "rename {from} -> {to}"),
            NameOp::Remove { path, .. } => write!(f, "remove {path}"),
        }
    }
}

impl NameOp {
    /// Applies the change if it fits `names` (as the syscall would have succeeded);
    /// says whether it did.
    fn apply(&self, names: &mut Names) -> bool {
        match self {
            NameOp::Create { path, id } => insert(names, path, Entry::File(*id)),
            NameOp::Mkdir { path, id } => insert(names, path, Entry::Dir(*id)),
            NameOp::Remove { path, entry } => {
                if names.get(path) != Some(entry) || has_children(names, path) {
                    return false;
                }
                names.remove(path);
                true
            }
            NameOp::Rename { from, to, entry } => {
                let inside = to.starts_with(&format!("{from}/"));
                if names.get(from) != Some(entry)
                    || from == to
                    || inside
                    || dir_of(names, to).is_none()
                {
                    return false;
                }
                match (entry, names.get(to)) {
                    (_, None) | (Entry::File(_), Some(Entry::File(_))) => {}
                    (Entry::Dir(_), Some(Entry::Dir(_))) if !has_children(names, to) => {}
                    _ => return false,
                }
                let prefix = format!("{from}/");
                let moved: Vec<String> = std::iter::once(from.clone())
                    .chain(
                        names
                            .range(prefix.clone()..)
                            .take_while(|(p, _)| p.starts_with(&prefix))
                            .map(|(p, _)| p.clone()),
                    )
                    .collect();
                names.remove(to);
                for old in moved {
                    let entry = names.remove(&old).expect("listed above");
                    names.insert(format!("{to}{}", &old[from.len()..]), entry);
                }
                true
            }
        }
    }
}

fn insert(names: &mut Names, path: &str, entry: Entry) -> bool {
    if names.contains_key(path) || dir_of(names, path).is_none() {
        return false;
    }
    names.insert(path.to_string(), entry);
    true
}

fn has_children(names: &Names, path: &str) -> bool {
    let prefix = format!("{path}/");
    names
        .range(prefix.clone()..)
        .next()
        .is_some_and(|(p, _)| p.starts_with(&prefix))
}

/// The id of the directory holding `path`, if it is there.
fn dir_of(names: &Names, path: &str) -> Option<DirId> {
    match path.rsplit_once('/') {
        None => Some(ROOT),
        Some((parent, _)) => match names.get(parent) {
            Some(Entry::Dir(id)) => Some(*id),
            _ => None,
        },
    }
}

/// `a/./b//c` -> `a/b/c`; the folder itself is `.`.
fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// A name change since the start, with the directories whose sync makes it durable.
#[derive(Clone, Debug)]
struct NameChange {
    op: NameOp,
    /// Its index in the log.
    at: usize,
    touched: Vec<DirId>,
    /// A rename over a name that was there (ext4's replace-via-rename).
    replaces: bool,
}

/// Both views after applying a write log (not the target's replay: the log of its
/// writer's calls), plus what the power loss draws from.
#[derive(Debug, Default)]
struct Applied {
    initial_names: Names,
    names: Names,
    inodes: BTreeMap<FileId, Inode>,
    next_file: FileId,
    next_dir: DirId,
    changes: Vec<NameChange>,
    /// Each directory's last `SyncDir`, as an index in the log.
    dir_synced_at: BTreeMap<DirId, usize>,
    unmodelled: BTreeSet<String>,
    /// Per file, and per directory, the last op that changed its metadata on ext4 (its
    /// size, its name, its entries): what the journal must commit for its fsync (E2).
    file_changed_at: BTreeMap<FileId, usize>,
    dir_changed_at: BTreeMap<DirId, usize>,
    /// The last op an fsync forced into the ext4 journal, if any (E2).
    committed: Option<usize>,
}

impl Applied {
    fn run(initial: &Snapshot, ops: &[Op]) -> Applied {
        let mut applied = Applied {
            next_dir: ROOT + 1,
            ..Applied::default()
        };
        applied.load(initial);
        for (at, op) in ops.iter().enumerate() {
            applied.step(at, op);
        }
        applied
    }

    /// The initial folder: all durable, no change pending.
    fn load(&mut self, initial: &Snapshot) {
        let mut dirs: BTreeSet<String> = BTreeSet::new();
        for path in initial.dirs.iter().chain(initial.files.keys()) {
            let path = normalize(path);
            let mut at = path.as_str();
            while let Some((parent, _)) = at.rsplit_once('/') {
                dirs.insert(parent.to_string());
                at = parent;
            }
        }
        dirs.extend(initial.dirs.iter().map(|d| normalize(d)));
        dirs.remove(".");
        // Sorted, so each parent comes before its children.
        for dir in dirs {
            let id = self.new_dir();
            self.names.insert(dir, Entry::Dir(id));
        }
        for (path, data) in &initial.files {
            let id = self.new_file();
            let inode = self.inodes.get_mut(&id).expect("just made");
            inode.volatile = data.clone();
            inode.durable = data.clone();
            self.names.insert(normalize(path), Entry::File(id));
        }
        self.initial_names = self.names.clone();
    }

    fn new_file(&mut self) -> FileId {
        let id = self.next_file;
        self.next_file += 1;
        self.inodes.insert(id, Inode::default());
        id
    }

    fn new_dir(&mut self) -> DirId {
        let id = self.next_dir;
        self.next_dir += 1;
        id
    }

    fn step(&mut self, at: usize, op: &Op) {
        match op {
            Op::Write { file, offset, data } => self.data(
                at,
                file,
                DataOp::Write {
                    offset: *offset,
                    data: data.clone(),
                },
            ),
            Op::Truncate { file, len } => self.data(at, file, DataOp::Truncate { len: *len }),
            Op::Extend { file, len } => self.data(at, file, DataOp::Extend { len: *len }),
            Op::Zero {
                file,
                offset,
                len,
                keep_size,
            } => self.data(
                at,
                file,
                DataOp::Zero {
                    offset: *offset,
                    len: *len,
                    keep_size: *keep_size,
                },
            ),
            Op::Sync { file } | Op::SyncDir { dir: file } => self.sync(at, file),
            // The trial folder itself is there from the start: `mkdir .` or an `open(".")`
            // that creates changes no name.
            Op::Create { file } | Op::Mkdir { dir: file } if normalize(file) == "." => {}
            Op::Create { file } => {
                let path = normalize(file);
                if !self.names.contains_key(&path) {
                    let id = self.new_file();
                    self.change(at, NameOp::Create { path, id });
                }
            }
            Op::Mkdir { dir } => {
                let path = normalize(dir);
                if !self.names.contains_key(&path) {
                    let id = self.new_dir();
                    self.change(at, NameOp::Mkdir { path, id });
                }
            }
            Op::Rename { from, to } => {
                let (from, to) = (normalize(from), normalize(to));
                if from == to {
                    return; // rename(2) of a name onto itself does nothing
                }
                match self.names.get(&from) {
                    Some(&entry) => {
                        self.change(at, NameOp::Rename { from, to, entry });
                    }
                    None => {
                        self.unmodelled.insert(from);
                    }
                }
            }
            Op::Remove { file } => {
                let path = normalize(file);
                match self.names.get(&path) {
                    Some(&entry) => {
                        self.change(at, NameOp::Remove { path, entry });
                    }
                    None => {
                        self.unmodelled.insert(path);
                    }
                }
            }
            Op::Unmodelled { file, .. } => {
                self.unmodelled.insert(normalize(file));
            }
        }
    }

    /// A write or truncate: applied to the volatile view, pending until the next sync.
    fn data(&mut self, at: usize, file: &str, op: DataOp) {
        let name = normalize(file);
        let id = match self.names.get(&name) {
            Some(Entry::File(id)) => *id,
            Some(Entry::Dir(_)) => {
                self.unmodelled.insert(name);
                return;
            }
            None => {
                // The log missed the create (or the file was opened before the log began):
                // create it, unsettled, and say the state may be off.
                self.unmodelled.insert(name.clone());
                let id = self.new_file();
                let create = NameOp::Create {
                    path: name.clone(),
                    id,
                };
                if !self.change(at, create) {
                    return;
                }
                id
            }
        };
        let inode = self
            .inodes
            .get_mut(&id)
            .expect("every named file has an inode");
        let size = inode.volatile.len();
        op.apply(&mut inode.volatile);
        if inode.volatile.len() != size {
            self.file_changed_at.insert(id, at);
        }
        inode.pending.push(Pending { op, at, name });
    }

    /// A `Sync` or `SyncDir`, of a file or a directory alike (fsync takes either).
    fn sync(&mut self, at: usize, path: &str) {
        let path = normalize(path);
        let entry = if path == "." {
            Some(Entry::Dir(ROOT))
        } else {
            self.names.get(&path).copied()
        };
        match entry {
            Some(Entry::File(id)) => {
                let inode = self
                    .inodes
                    .get_mut(&id)
                    .expect("every named file has an inode");
                inode.durable = inode.volatile.clone();
                inode.pending.clear();
                self.commit(self.file_changed_at.get(&id).copied());
            }
            Some(Entry::Dir(id)) => {
                self.dir_synced_at.insert(id, at);
                self.commit(self.dir_changed_at.get(&id).copied());
            }
            None => {
                self.unmodelled.insert(path);
            }
        }
    }

    /// Applies a name change to the volatile view and records it; a change that does not
    /// fit (the real call would have failed) is only noted as unmodelled.
    fn change(&mut self, at: usize, op: NameOp) -> bool {
        let replaces = matches!(&op, NameOp::Rename { to, .. } if self.names.contains_key(to));
        let touched: Vec<Option<DirId>> = match &op {
            NameOp::Create { path, .. }
            | NameOp::Mkdir { path, .. }
            | NameOp::Remove { path, .. } => vec![dir_of(&self.names, path)],
            NameOp::Rename { from, to, .. } => {
                vec![dir_of(&self.names, from), dir_of(&self.names, to)]
            }
        };
        if !op.apply(&mut self.names) {
            let path = match &op {
                NameOp::Create { path, .. }
                | NameOp::Mkdir { path, .. }
                | NameOp::Remove { path, .. } => path,
                NameOp::Rename { from, .. } => from,
            };
            self.unmodelled.insert(path.clone());
            return false;
        }
        let mut touched: Vec<DirId> = touched.into_iter().flatten().collect();
        touched.dedup();
        for &dir in &touched {
            self.dir_changed_at.insert(dir, at);
        }
        match &op {
            NameOp::Create { id, .. }
            | NameOp::Rename {
                entry: Entry::File(id),
                ..
            } => {
                self.file_changed_at.insert(*id, at);
            }
            NameOp::Mkdir { id, .. }
            | NameOp::Rename {
                entry: Entry::Dir(id),
                ..
            } => {
                self.dir_changed_at.insert(*id, at);
            }
            NameOp::Remove { .. } => {}
        }
        self.changes.push(NameChange {
            op,
            at,
            touched,
            replaces,
        });
        true
    }

    /// An fsync whose file or folder last changed at `changed`: the journal commits up to
    /// there, and so everything before it (E2).
    fn commit(&mut self, changed: Option<usize>) {
        if let Some(at) = changed {
            self.committed = Some(self.committed.map_or(at, |c| c.max(at)));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File, OpenOptions};
    use std::os::unix::fs::FileExt;
    use std::path::Path;

    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::faults::Damage;
    use crate::seed::Seed;

    /// A sector larger than the writes of a test: a torn write then lands nothing, so each
    /// write is either there whole or absent.
    const WHOLE: u64 = 1 << 20;

    fn rng(seed: u64) -> ChaCha8Rng {
        Seed(seed).trial_rng(0)
    }

    fn write(file: &str, offset: u64, data: &[u8]) -> Op {
        Op::Write {
            file: file.into(),
            offset,
            data: data.to_vec(),
        }
    }
    fn truncate(file: &str, len: u64) -> Op {
        Op::Truncate {
            file: file.into(),
            len,
        }
    }
    fn sync(file: &str) -> Op {
        Op::Sync { file: file.into() }
    }
    fn sync_dir(dir: &str) -> Op {
        Op::SyncDir { dir: dir.into() }
    }
    fn create(file: &str) -> Op {
        Op::Create { file: file.into() }
    }
    fn mkdir(dir: &str) -> Op {
        Op::Mkdir { dir: dir.into() }
    }
    fn rename(from: &str, to: &str) -> Op {
        Op::Rename {
            from: from.into(),
            to: to.into(),
        }
    }
    fn remove(file: &str) -> Op {
        Op::Remove { file: file.into() }
    }

    /// A WAL's life, every step made durable: segments in a subfolder, a checkpoint
    /// written to a temp file and renamed over the old one, a truncated segment.
    fn durable_log() -> Vec<Op> {
        vec![
            mkdir("wal"),
            sync_dir("."),
            create("wal/000.log"),
            sync_dir("wal"),
            write("wal/000.log", 0, b"header--"),
            sync("wal/000.log"),
            write("wal/000.log", 8, &[1; 700]),
            write("wal/000.log", 708, &[2; 300]),
            sync("wal/000.log"),
            truncate("wal/000.log", 512),
            sync("wal/000.log"),
            write("wal/000.log", 512, b"tail"),
            sync("wal/000.log"),
            create("ckpt.tmp"),
            write("ckpt.tmp", 0, b"checkpoint 1"),
            sync("ckpt.tmp"),
            rename("ckpt.tmp", "ckpt"),
            sync_dir("."),
            create("wal/001.log"),
            write("wal/001.log", 0, b"second segment"),
            sync("wal/001.log"),
            sync_dir("wal"),
            remove("wal/000.log"),
            sync_dir("wal"),
        ]
    }

    /// Performs `ops` on a real folder with real syscalls.
    fn perform(dir: &Path, ops: &[Op]) {
        let open = |file: &str| OpenOptions::new().write(true).open(dir.join(file)).unwrap();
        for op in ops {
            match op {
                Op::Write { file, offset, data } => open(file).write_all_at(data, *offset).unwrap(),
                Op::Truncate { file, len } => open(file).set_len(*len).unwrap(),
                Op::Sync { file } => open(file).sync_all().unwrap(),
                Op::SyncDir { dir: d } => File::open(dir.join(d)).unwrap().sync_all().unwrap(),
                Op::Create { file } => {
                    OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(dir.join(file))
                        .unwrap();
                }
                Op::Mkdir { dir: d } => fs::create_dir(dir.join(d)).unwrap(),
                Op::Rename { from, to } => fs::rename(dir.join(from), dir.join(to)).unwrap(),
                Op::Remove { file } => fs::remove_file(dir.join(file)).unwrap(),
                Op::Extend { file, len } => fallocate(&open(file), 0, 0, *len),
                Op::Zero {
                    file,
                    offset,
                    len,
                    keep_size,
                } => {
                    let mode = if *keep_size {
                        libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE
                    } else {
                        libc::FALLOC_FL_ZERO_RANGE
                    };
                    fallocate(&open(file), mode, *offset, *len);
                }
                Op::Unmodelled { .. } => {}
            }
        }
    }

    fn fallocate(file: &File, mode: i32, offset: u64, len: u64) {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on an open fd.
        let r = unsafe { libc::fallocate(file.as_raw_fd(), mode, offset as i64, len as i64) };
        assert_eq!(r, 0, "fallocate: {}", std::io::Error::last_os_error());
    }

    /// See issue 12: preallocation (fallocate mode 0, KEEP_SIZE), holes punched, ranges
    /// zeroed and files grown by ftruncate replay to what the kernel made of them.
    #[test]
    fn preallocation_and_zeroed_ranges_match_the_real_syscalls() {
        let dir = tempfile::tempdir().unwrap();
        let mut ops = vec![create("seg"), write("seg", 0, &[9; 10000])];
        ops.extend(crate::tracer::oplog::fallocate("seg", 0, 0, 4096)); // inside: no change
        ops.extend(crate::tracer::oplog::fallocate("seg", 0, 8192, 8192)); // grows to 16384
        let keep = libc::FALLOC_FL_KEEP_SIZE as u64;
        assert_eq!(
            crate::tracer::oplog::fallocate("seg", keep, 0, 1 << 20),
            None
        );
        let punch = (libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE) as u64;
        ops.extend(crate::tracer::oplog::fallocate("seg", punch, 4096, 4096));
        ops.extend(crate::tracer::oplog::fallocate(
            "seg",
            punch,
            12288,
            1 << 20,
        ));
        ops.push(truncate("seg", 20000)); // ftruncate grows it
        ops.push(write("seg", 20000, b"tail"));
        perform(dir.path(), &ops);
        let real = Snapshot::read(dir.path()).unwrap();
        assert_eq!(real, after_kill(&Snapshot::default(), &ops));
        let seg = &real.files["seg"];
        assert_eq!(
            (seg.len(), seg[4095], seg[4096], seg[8192]),
            (20004, 9, 0, 9)
        );
        // ZERO_RANGE, where the file system has it, grows the file.
        let zero = crate::tracer::oplog::fallocate("z", libc::FALLOC_FL_ZERO_RANGE as u64, 10, 90);
        let ops = [create("z"), write("z", 0, &[1; 50])];
        perform(dir.path(), &ops);
        let file = OpenOptions::new()
            .write(true)
            .open(dir.path().join("z"))
            .unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on an open fd.
        let r = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_ZERO_RANGE, 10, 90) };
        if r == 0 {
            let all: Vec<Op> = ops.iter().cloned().chain(zero).collect();
            let real = Snapshot::read(dir.path()).unwrap();
            assert_eq!(
                real.files["z"],
                after_kill(&Snapshot::default(), &all).files["z"]
            );
            assert_eq!(real.files["z"].len(), 100);
        }
    }

    /// Runs the power loss for seeds `0..n`.
    fn outcomes(initial: &Snapshot, ops: &[Op], sector: u64, n: u64) -> Vec<(Snapshot, PowerLoss)> {
        (0..n)
            .map(|s| after_power_loss(initial, ops, sector, Persistence::Posix, &mut rng(s)))
            .collect()
    }

    fn ext4(ops: &[Op], sector: u64, n: u64) -> Vec<(Snapshot, PowerLoss)> {
        (0..n)
            .map(|s| {
                after_power_loss(
                    &Snapshot::default(),
                    ops,
                    sector,
                    Persistence::Ext4Ordered,
                    &mut rng(s),
                )
            })
            .collect()
    }

    /// See issue 12: the fsync of a new file commits ext4's journal, with the file's name.
    /// Under `posix` the name may go, and the report says what the program relied on.
    #[test]
    fn a_file_fsynced_without_its_folder_keeps_its_name_on_ext4_ordered() {
        let ops = [create("wal"), write("wal", 0, b"acked"), sync("wal")];
        for (state, report) in ext4(&ops, WHOLE, 100) {
            assert_eq!(state.files["wal"], b"acked");
            assert_eq!(report.profile, Persistence::Ext4Ordered);
        }
        let lost = outcomes(&Snapshot::default(), &ops, WHOLE, 100)
            .into_iter()
            .find(|(state, _)| !state.files.contains_key("wal"))
            .expect("posix loses the name in some seed");
        assert_eq!(
            lost.1.relied_on,
            [
                "`create wal` was never synced: fsync its folder after it; ext4-ordered keeps it: a later fsync commits the journal"
            ]
        );
        assert!(
            Damage::PowerLoss(lost.1)
                .to_string()
                .starts_with("power loss (posix): ")
        );
    }

    /// E1: without any fsync, ext4 keeps a prefix of the name changes, each prefix in some
    /// seed, never a later change without an earlier one.
    #[test]
    fn ext4_ordered_keeps_a_prefix_of_the_name_changes() {
        let ops = [create("a"), create("b"), mkdir("d"), create("d/c")];
        let mut seen = BTreeSet::new();
        for (state, report) in ext4(&ops, WHOLE, 200) {
            let names: Vec<&str> = ["a", "b", "d", "d/c"]
                .into_iter()
                .filter(|n| state.files.contains_key(*n) || state.dirs.contains(*n))
                .collect();
            assert_eq!(names, ["a", "b", "d", "d/c"][..names.len()], "{names:?}");
            assert_eq!(report.reverted_names.len(), 4 - names.len());
            seen.insert(names.len());
        }
        assert_eq!(seen.len(), 5, "every prefix length occurs: {seen:?}");
    }

    /// E3: unsynced appends land as a prefix of the bytes written, cut at the end of a write
    /// or at a page boundary inside the last one; never a hole, never out of order.
    #[test]
    fn ext4_ordered_keeps_a_prefix_of_unsynced_appends() {
        let data: Vec<u8> = (0..3 * 5000).map(|i| (i % 251) as u8).collect();
        let mut ops = vec![create("wal"), sync_dir(".")];
        for (k, chunk) in data.chunks(5000).enumerate() {
            ops.push(write("wal", k as u64 * 5000, chunk));
        }
        let mut lengths = BTreeSet::new();
        for (state, _) in ext4(&ops, 512, 300) {
            let got = &state.files["wal"];
            assert_eq!(got[..], data[..got.len()], "a prefix of what was written");
            assert!(
                got.len() % 5000 == 0 || got.len() % 4096 == 0,
                "cut at a write's end or a page: {}",
                got.len()
            );
            lengths.insert(got.len());
        }
        assert!(
            lengths.contains(&0) && lengths.contains(&15000) && lengths.len() > 4,
            "{lengths:?}"
        );
    }

    /// E3: overwrites of durable bytes are not ordered: a later one may land while an
    /// earlier one does not (bbolt's page writes, under `NoSync`).
    #[test]
    fn ext4_ordered_overwrites_land_in_any_subset() {
        let ops = [
            create("db"),
            write("db", 0, &[0; 8192]),
            sync("db"),
            sync_dir("."),
            write("db", 0, b"A"),
            write("db", 4096, b"B"),
        ];
        let mut seen = BTreeSet::new();
        for (state, _) in ext4(&ops, 1, 200) {
            let db = &state.files["db"];
            assert_eq!(db.len(), 8192);
            seen.insert((db[0], db[4096]));
        }
        assert_eq!(
            seen.len(),
            4,
            "every subset of the two overwrites: {seen:?}"
        );
    }

    /// E4: a file renamed over another keeps the data it had at the rename, whole, even
    /// though it was never fsynced; the name itself follows E1.
    #[test]
    fn ext4_ordered_replace_via_rename_keeps_the_new_data() {
        let ops = [
            create("ckpt"),
            write("ckpt", 0, b"old"),
            sync("ckpt"),
            sync_dir("."),
            create("ckpt.tmp"),
            write("ckpt.tmp", 0, &[7; 9000]),
            rename("ckpt.tmp", "ckpt"),
        ];
        let mut both = BTreeSet::new();
        for (state, _) in ext4(&ops, 512, 200) {
            let got = &state.files["ckpt"];
            assert!(
                got == b"old" || *got == vec![7; 9000],
                "{} bytes",
                got.len()
            );
            both.insert(got.len());
        }
        assert_eq!(
            both.len(),
            2,
            "the rename is kept in some seeds, not in others"
        );
        // Under posix the renamed file may hold any part of its unsynced data.
        let partial = outcomes(&Snapshot::default(), &ops, 512, 200)
            .into_iter()
            .any(|(s, _)| {
                s.files
                    .get("ckpt")
                    .is_some_and(|d| d.len() != 3 && d.len() != 9000)
            });
        assert!(partial);
    }

    /// E2: a file's fsync commits name changes up to its own last change, not the ones
    /// after it; an fsync of an overwrite in place commits nothing.
    #[test]
    fn ext4_ordered_commits_up_to_the_fsynced_files_last_change() {
        let ops = [
            create("a"),
            write("a", 0, b"1234"),
            create("b"),
            write("a", 0, b"5678"),
            sync("a"),
        ];
        let all = ext4(&ops, WHOLE, 100);
        assert!(all.iter().all(|(s, _)| s.files.contains_key("a")));
        assert!(all.iter().any(|(s, _)| !s.files.contains_key("b")));
        assert!(all.iter().any(|(s, _)| s.files.contains_key("b")));
    }

    /// A call another thread was let run just before the kill may or may not have run:
    /// the log keeps it when the folder shows it, drops it when not, and says why when the
    /// folder matches neither (the write was cut short).
    #[test]
    fn an_unsure_call_is_kept_or_dropped_as_the_folder_shows() {
        let ops = [
            create("wal"),
            write("wal", 0, b"first"),
            write("wal", 5, b"second"),
        ];
        let unsure = vec![std::ops::Range { start: 2, end: 3 }];
        let mut real = after_kill(&Snapshot::default(), &ops);
        assert_eq!(
            what_happened(&Snapshot::default(), &ops, &unsure, &real),
            Ok(ops.to_vec())
        );
        real.files.insert("wal".into(), b"first".to_vec());
        assert_eq!(
            what_happened(&Snapshot::default(), &ops, &unsure, &real),
            Ok(ops[..2].to_vec())
        );
        real.files.insert("wal".into(), b"firstsec".to_vec());
        let why = what_happened(&Snapshot::default(), &ops, &unsure, &real).unwrap_err();
        assert!(
            why.starts_with("wal holds bytes the write log never saw"),
            "{why}"
        );
        assert!(why.contains("cut short by the kill"), "{why}");
        // Without unsure calls, no guess is made.
        assert!(what_happened(&Snapshot::default(), &ops, &[], &real).is_err());
    }

    #[test]
    fn fully_synced_log_equals_after_kill_for_every_seed() {
        let ops = durable_log();
        let killed = after_kill(&Snapshot::default(), &ops);
        assert_eq!(
            killed.files.keys().collect::<Vec<_>>(),
            ["ckpt", "wal/001.log"]
        );
        assert_eq!(killed.dirs, BTreeSet::from(["wal".to_string()]));
        for (seed, (state, report)) in outcomes(&Snapshot::default(), &ops, 512, 200)
            .into_iter()
            .enumerate()
        {
            assert_eq!(state, killed, "seed {seed}");
            assert_eq!(report, PowerLoss::default(), "seed {seed}");
        }
        for (seed, (state, report)) in ext4(&ops, 512, 200).into_iter().enumerate() {
            assert_eq!(state, killed, "ext4-ordered, seed {seed}");
            assert_eq!(
                (report.unsynced_writes, report.reverted_names.len()),
                (0, 0),
                "ext4-ordered, seed {seed}"
            );
        }
    }

    #[test]
    fn after_kill_matches_the_real_syscalls_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let mut ops = durable_log();
        // And some that were never synced, which a kill does not lose.
        ops.extend([
            write("wal/001.log", 14, b" and more"),
            write("wal/001.log", 100, b"past a hole"),
            write("wal/001.log", 500, b""),
            truncate("wal/001.log", 60),
            mkdir("wal/archive"),
            create("wal/archive/old"),
            write("wal/archive/old", 3, b"x"),
            rename("wal/archive", "archive"),
            create("ckpt.tmp"),
            write("ckpt.tmp", 0, b"checkpoint 2, longer"),
            rename("ckpt.tmp", "ckpt"),
        ]);
        perform(dir.path(), &ops);
        let real = Snapshot::read(dir.path()).unwrap();
        assert_eq!(real, after_kill(&Snapshot::default(), &ops));
        assert_eq!(real.files["archive/old"], b"\0\0\0x");
        assert_eq!(real.files["ckpt"], b"checkpoint 2, longer");
    }

    #[test]
    fn an_unsynced_write_is_lost_in_some_seeds_and_kept_in_others() {
        let ops = [
            create("wal"),
            sync_dir("."),
            write("wal", 0, b"acked"),
            sync("wal"),
            write("wal", 5, b" not yet"),
        ];
        let all = outcomes(&Snapshot::default(), &ops, WHOLE, 100);
        let contents: BTreeSet<&[u8]> =
            all.iter().map(|(s, _)| s.files["wal"].as_slice()).collect();
        assert!(contents.contains(b"acked".as_slice()), "{contents:?}");
        assert!(
            contents.contains(b"acked not yet".as_slice()),
            "{contents:?}"
        );
        for (state, report) in &all {
            assert!(
                state.files["wal"].starts_with(b"acked"),
                "a synced write is never lost"
            );
            assert_eq!(report.unsynced_writes, 1);
        }
    }

    #[test]
    fn a_synced_write_is_never_lost() {
        let ops = [
            create("a"),
            create("b"),
            sync_dir("."),
            write("a", 0, b"durable"),
            sync("a"),
            write("b", 0, b"volatile"),
            write("a", 7, b"!"),
        ];
        for (state, _) in outcomes(&Snapshot::default(), &ops, WHOLE, 100) {
            assert!(state.files["a"].starts_with(b"durable"));
        }
    }

    #[test]
    fn a_torn_write_keeps_a_prefix_ending_at_a_sector_boundary() {
        let ops = [
            create("wal"),
            sync_dir("."),
            write("wal", 0, &[1; 100]),
            sync("wal"),
            write("wal", 100, &[2; 2000]),
        ];
        let mut torn = 0;
        for (state, report) in outcomes(&Snapshot::default(), &ops, 512, 200) {
            let len = state.files["wal"].len() as u64;
            match report.torn {
                Some((file, stop)) => {
                    torn += 1;
                    assert_eq!(file, "wal");
                    assert_eq!(stop, len);
                    assert!(stop.is_multiple_of(512), "{stop}");
                    assert!((512..=2048).contains(&stop), "{stop}");
                }
                None => assert!(len == 100 || len == 2100, "{len}"),
            }
            assert!(state.files["wal"][..100].iter().all(|&b| b == 1));
            assert!(state.files["wal"][100..].iter().all(|&b| b == 2));
        }
        assert!(torn > 10, "torn {torn} times");

        // No sector boundary inside the write: a torn write lands nothing.
        let ops = [create("f"), sync_dir("."), write("f", 1, &[9; 10])];
        for (state, report) in outcomes(&Snapshot::default(), &ops, 512, 50) {
            if report.torn.is_some() {
                assert_eq!(report.torn, Some(("f".into(), 1)));
                assert!(state.files["f"].is_empty());
            }
        }
    }

    #[test]
    fn a_file_fsynced_without_its_folder_vanishes_in_some_seeds() {
        let ops = [create("wal"), write("wal", 0, b"acked"), sync("wal")];
        let all = outcomes(&Snapshot::default(), &ops, WHOLE, 100);
        let absent = all
            .iter()
            .filter(|(s, _)| !s.files.contains_key("wal"))
            .count();
        assert!(absent > 0 && absent < 100, "absent in {absent} of 100");
        for (state, report) in &all {
            match state.files.get("wal") {
                Some(data) => assert_eq!(data, b"acked"),
                None => assert_eq!(report.reverted_names, ["create wal"]),
            }
        }
        // With the folder synced, it never vanishes.
        let mut synced = ops.to_vec();
        synced.push(sync_dir("."));
        for (state, _) in outcomes(&Snapshot::default(), &synced, WHOLE, 100) {
            assert_eq!(state.files["wal"], b"acked");
        }
    }

    #[test]
    fn a_rename_without_a_folder_sync_reverts_in_some_seeds() {
        let ops = [
            create("ckpt.tmp"),
            write("ckpt.tmp", 0, b"new"),
            sync("ckpt.tmp"),
            sync_dir("."),
            rename("ckpt.tmp", "ckpt"),
        ];
        let mut names = BTreeSet::new();
        for (state, report) in outcomes(&Snapshot::default(), &ops, WHOLE, 100) {
            assert_eq!(state.files.len(), 1, "one name, never both or none");
            let (name, data) = state.files.iter().next().unwrap();
            assert_eq!(data, b"new");
            if name == "ckpt.tmp" {
                assert_eq!(report.reverted_names, ["rename ckpt.tmp -> ckpt"]);
            }
            names.insert(name.clone());
        }
        assert_eq!(names, BTreeSet::from(["ckpt".into(), "ckpt.tmp".into()]));
    }

    #[test]
    fn a_removed_file_comes_back_with_its_durable_content() {
        let initial = Snapshot {
            files: BTreeMap::from([("old.log".to_string(), b"recovered".to_vec())]),
            dirs: BTreeSet::new(),
        };
        let ops = [write("old.log", 9, b" tail"), remove("old.log")];
        let mut back = 0;
        for (state, _) in outcomes(&initial, &ops, WHOLE, 100) {
            if let Some(data) = state.files.get("old.log") {
                back += 1;
                assert!(
                    data == b"recovered" || data == b"recovered tail",
                    "{data:?}"
                );
            }
        }
        assert!(back > 0 && back < 100, "back in {back} of 100");
        assert!(after_kill(&initial, &ops).files.is_empty());
    }

    #[test]
    fn kept_writes_are_sometimes_reordered() {
        let ops = [
            create("f"),
            sync_dir("."),
            write("f", 0, b"first"),
            write("f", 0, b"secnd"),
        ];
        let all = outcomes(&Snapshot::default(), &ops, WHOLE, 300);
        let reordered: Vec<_> = all.iter().filter(|(_, r)| r.reordered).collect();
        assert!(!reordered.is_empty());
        assert!(
            all.iter()
                .any(|(s, r)| r.kept_writes == 2 && r.torn.is_none() && s.files["f"] == b"first"),
            "a reordered pair can leave the older write on top"
        );
    }

    #[test]
    fn a_folder_created_without_its_parent_synced_takes_its_files_along() {
        let ops = [
            mkdir("wal"),
            create("wal/0.log"),
            write("wal/0.log", 0, b"x"),
            sync("wal/0.log"),
            sync_dir("wal"),
        ];
        for (state, _) in outcomes(&Snapshot::default(), &ops, WHOLE, 100) {
            let has_dir = state.dirs.contains("wal");
            assert_eq!(state.files.contains_key("wal/0.log"), has_dir);
        }
    }

    #[test]
    fn unmodelled_calls_are_listed_and_change_nothing() {
        let ops = [
            create("f"),
            sync_dir("."),
            Op::Unmodelled {
                file: "f".into(),
                syscall: "fallocate".into(),
            },
            write("ghost", 0, b"?"),
        ];
        let (_, report) = after_power_loss(
            &Snapshot::default(),
            &ops,
            WHOLE,
            Persistence::Posix,
            &mut rng(0),
        );
        assert_eq!(report.unmodelled, ["f", "ghost"]);
        assert_eq!(after_kill(&Snapshot::default(), &ops).files["f"], b"");
    }

    #[test]
    fn the_same_seed_gives_the_same_state() {
        let mut ops = durable_log();
        ops.extend([
            write("wal/001.log", 14, &[3; 3000]),
            write("wal/001.log", 1000, &[4; 3000]),
            truncate("wal/001.log", 2000),
            create("wal/002.log"),
            write("wal/002.log", 0, &[5; 600]),
            rename("ckpt", "ckpt.old"),
        ]);
        let all: BTreeSet<Vec<u8>> = (0..50)
            .map(|s| {
                let a = after_power_loss(
                    &Snapshot::default(),
                    &ops,
                    512,
                    Persistence::Posix,
                    &mut rng(s),
                );
                let b = after_power_loss(
                    &Snapshot::default(),
                    &ops,
                    512,
                    Persistence::Posix,
                    &mut rng(s),
                );
                assert_eq!(a, b, "seed {s}");
                serde_json::to_vec(&a.1).unwrap()
            })
            .collect();
        assert!(
            all.len() > 5,
            "seeds differ: {} distinct reports",
            all.len()
        );
    }

    #[test]
    fn a_power_loss_state_written_out_reads_back_the_same() {
        let mut ops = durable_log();
        ops.extend([mkdir("tmp"), create("tmp/t"), write("tmp/t", 0, b"t")]);
        let dir = tempfile::tempdir().unwrap();
        for seed in 0..20 {
            let (state, _) = after_power_loss(
                &Snapshot::default(),
                &ops,
                512,
                Persistence::Posix,
                &mut rng(seed),
            );
            state.write_into(dir.path()).unwrap();
            assert_eq!(Snapshot::read(dir.path()).unwrap(), state, "seed {seed}");
        }
    }

    /// Pinned: if this changes, the draw order changed and saved repro commands break.
    #[test]
    fn the_draw_order_is_pinned() {
        let ops = [
            create("a"),
            write("a", 0, &[1; 1000]),
            write("a", 1000, &[2; 1000]),
            create("b"),
            write("b", 0, &[3; 1000]),
            rename("b", "c"),
        ];
        let (state, report) = after_power_loss(
            &Snapshot::default(),
            &ops,
            512,
            Persistence::Posix,
            &mut rng(8),
        );
        let mut a = vec![0; 1000];
        a.extend([2; 24]);
        assert_eq!(state.files, BTreeMap::from([("a".to_string(), a)]));
        assert_eq!(
            report,
            PowerLoss {
                unsynced_writes: 3,
                kept_writes: 1,
                torn: Some(("a".into(), 1024)),
                reverted_names: vec!["create b".into()],
                reordered: false,
                unmodelled: vec![],
                profile: Persistence::Posix,
                relied_on: vec!["`create b` was never synced: fsync its folder after it".into()],
            }
        );
        let (state, report) = after_power_loss(
            &Snapshot::default(),
            &ops,
            512,
            Persistence::Posix,
            &mut rng(0),
        );
        assert_eq!(state, Snapshot::default());
        assert_eq!((report.kept_writes, report.reordered), (2, true));
        assert_eq!(report.torn, Some(("a".into(), 1024)));
    }

    #[test]
    fn tear_points_are_sector_boundaries_inside_the_write() {
        let mut r = rng(3);
        for _ in 0..200 {
            let j = tear_point(&mut r, 100, 2000, 512);
            assert!(j < 2000 && (100 + j).is_multiple_of(512), "{j}");
            let j = tear_point(&mut r, 1024, 1024, 512);
            assert!(j == 0 || j == 512, "{j}");
        }
        assert_eq!(tear_point(&mut r, 1, 10, 512), 0);
        assert_eq!(tear_point(&mut r, 0, 0, 512), 0);
    }
}
