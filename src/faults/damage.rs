//! The damage done to the trial folder after the kill: a file cut, a dirty tail, a flipped
//! bit or a zeroed sector, or the whole folder as a power loss leaves it ([`super::power`]).
//!
//! The file to damage is drawn among those matching the target's `files`, sorted by name,
//! so the draw does not depend on `readdir` order. Faults never follow a symlink (they open
//! with `O_NOFOLLOW`), and [`escaping_links`] finds a link the target planted out of its
//! folder: a crash harness must not damage a file outside its trial folder.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use globset::GlobSet;
use rand_core::Rng;
use serde::{Deserialize, Serialize};

use super::FaultKind;
use super::power::{self, PowerLoss};
use crate::errors::TrialError;
use crate::scenario::Persistence;
use crate::seed::{below, between};
use crate::snapshot::Snapshot;
use crate::tracer::{Op, file_sizes};

/// The damage done to the files, after the kill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Damage {
    /// Nothing beyond the kill.
    None,
    /// `file` (relative to the trial folder) was cut from `size` to `offset` bytes.
    Truncate {
        /// The file.
        file: String,
        /// Its size before.
        size: u64,
        /// Its size after.
        offset: u64,
    },
    /// `len` zero or random bytes were written at `offset` of `file` (appended when
    /// `offset` is its old size, over its tail otherwise).
    Tail {
        /// The file.
        file: String,
        /// Its size before.
        size: u64,
        /// Where the bytes went.
        offset: u64,
        /// How many.
        len: u64,
        /// Zeros (`true`) or random bytes.
        zeros: bool,
    },
    /// One bit flipped, or one sector zeroed, in `file` at `offset`.
    Corrupt {
        /// The file.
        file: String,
        /// The first damaged byte.
        offset: u64,
        /// Bytes damaged (1 for a bit flip).
        len: u64,
        /// The bit flipped, for a bit flip.
        bit: Option<u8>,
    },
    /// The folder as a power loss left it.
    PowerLoss(PowerLoss),
    /// A fault was drawn that needs a file, but no file matched the target's `files`.
    NoFile,
    /// A power loss was drawn, but the write log cannot rebuild the folder (a call it
    /// cannot model, or bytes it never saw): the trial is judged as the kill it was.
    NotModelled {
        /// Why, naming the call or the file.
        why: String,
    },
}

impl Damage {
    /// Where `file`'s data is intact only below some offset: (file, offset). Records
    /// acked while the file held data past that offset are excused.
    pub fn cut(&self) -> Option<(&str, u64)> {
        match self {
            Damage::Truncate { file, offset, .. } => Some((file, *offset)),
            Damage::Tail {
                file, offset, size, ..
            } if offset < size => Some((file, *offset)),
            _ => None,
        }
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::None => f.write_str("none"),
            Damage::Truncate { file, size, offset } => {
                write!(f, "truncate {file} from {size} to {offset} bytes")
            }
            Damage::Tail {
                file,
                size,
                offset,
                len,
                zeros,
            } => {
                let what = if *zeros { "zeros" } else { "random bytes" };
                if offset == size {
                    write!(f, "append {len} {what} to {file} ({size} bytes)")
                } else {
                    write!(
                        f,
                        "overwrite {file} with {len} {what} at {offset} (of {size} bytes)"
                    )
                }
            }
            Damage::Corrupt {
                file,
                offset,
                bit: Some(bit),
                ..
            } => {
                write!(f, "flip bit {bit} of byte {offset} of {file}")
            }
            Damage::Corrupt {
                file,
                offset,
                len,
                bit: None,
            } => {
                write!(f, "zero {len} bytes of {file} at {offset}")
            }
            Damage::PowerLoss(p) => {
                write!(
                    f,
                    "power loss ({}): kept {} of {} unsynced writes",
                    p.profile, p.kept_writes, p.unsynced_writes
                )?;
                if let Some((file, keep)) = &p.torn {
                    write!(f, ", the last torn to {keep} bytes in {file}")?;
                }
                if p.reordered {
                    f.write_str(", out of order")?;
                }
                if !p.reverted_names.is_empty() {
                    write!(f, ", reverted {}", p.reverted_names.join(", "))?;
                }
                if !p.unmodelled.is_empty() {
                    write!(f, " (not modelled: {})", p.unmodelled.join(", "))?;
                }
                if !p.relied_on.is_empty() {
                    write!(f, "; relied on: {}", p.relied_on.join("; "))?;
                }
                Ok(())
            }
            Damage::NoFile => f.write_str("none (no file matched `files`)"),
            Damage::NotModelled { why } => {
                write!(f, "none: no power loss, judged as a kill: {why}")
            }
        }
    }
}

/// Symlinks in `dir` (at any depth) that point out of it, as (name, target). Faults never
/// follow a symlink (they open with O_NOFOLLOW), and a target that plants one is
/// reported: a crash harness must not damage a file outside its trial folder.
pub fn escaping_links(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut found = Vec::new();
    for entry in crate::snapshot::walk(dir).flatten() {
        let path = entry.path();
        if entry.file_type().is_symlink()
            && let Ok(target) = std::fs::read_link(&path)
        {
            let at = path.parent().unwrap_or(dir);
            let resolved = crate::tracer::proc::resolve(at, target.as_os_str().as_encoded_bytes());
            let real = resolved.canonicalize().unwrap_or(resolved);
            if !real.starts_with(dir) {
                found.push((entry.rel().display().to_string(), target));
            }
        }
    }
    found.sort();
    found
}

/// What a fault needs besides the folder.
#[derive(Debug)]
pub struct Context<'a> {
    /// The target's `files` globs.
    pub files: &'a GlobSet,
    /// The scenario's sector size.
    pub sector: u64,
    /// The crash run's write log (for a power loss).
    pub ops: &'a [Op],
    /// The folder before the crash run (for a power loss).
    pub initial: &'a Snapshot,
    /// Whose promises a power loss keeps.
    pub persistence: Persistence,
    /// Ranges of `ops` whose calls may not have run (see [`crate::tracer::Trace::unsure`]).
    pub unsure: &'a [std::ops::Range<usize>],
}

/// Applies the damage of `kind` (which happens after the kill) to the trial folder `dir`,
/// drawing what it needs from `rng`.
pub fn apply(
    kind: FaultKind,
    rng: &mut impl Rng,
    dir: &Path,
    ctx: &Context<'_>,
) -> Result<Damage, TrialError> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| TrialError::Io { what, path, source }
    };
    if kind == FaultKind::PowerLoss {
        let real = Snapshot::read(dir).map_err(io("read the crashed folder", dir))?;
        let ops = match power::what_happened(ctx.initial, ctx.ops, ctx.unsure, &real) {
            Ok(ops) => ops,
            Err(why) => return Ok(Damage::NotModelled { why }),
        };
        let (state, report) =
            power::after_power_loss(ctx.initial, &ops, ctx.sector, ctx.persistence, rng);
        state
            .write_into(dir)
            .map_err(io("rebuild after a power loss", dir))?;
        return Ok(Damage::PowerLoss(report));
    }
    if matches!(kind, FaultKind::Kill | FaultKind::Torn) {
        return Ok(Damage::None);
    }
    // Sorted by name (a BTreeMap), so the draw does not depend on readdir order.
    let sizes = file_sizes(dir, ctx.files);
    if sizes.is_empty() {
        return Ok(Damage::NoFile);
    }
    let (file, &size) = sizes
        .iter()
        .nth(below(rng, sizes.len() as u64) as usize)
        .expect("index < len");
    let file = file.clone();
    let path = dir.join(&file);
    let open = || {
        OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
    };
    match kind {
        FaultKind::Truncate => {
            let offset = between(rng, 0, size);
            open()
                .and_then(|f| f.set_len(offset))
                .map_err(io("truncate", &path))?;
            Ok(Damage::Truncate { file, size, offset })
        }
        FaultKind::ZeroTail | FaultKind::GarbageTail => {
            let zeros = kind == FaultKind::ZeroTail;
            let len = between(rng, 1, ctx.sector.max(8) * 2);
            // Half the time over the tail (what was written but never reached the disk),
            // half the time past the end (a size extended before its data landed).
            let offset = if below(rng, 2) == 0 {
                size.saturating_sub(len)
            } else {
                size
            };
            let mut bytes = vec![0u8; len as usize];
            if !zeros {
                rng.fill_bytes(&mut bytes);
            }
            let mut f = open().map_err(io("open", &path))?;
            f.seek(SeekFrom::Start(offset))
                .and_then(|_| f.write_all(&bytes))
                .map_err(io("damage the tail of", &path))?;
            Ok(Damage::Tail {
                file,
                size,
                offset,
                len,
                zeros,
            })
        }
        FaultKind::BitFlip => {
            if size == 0 {
                return Ok(Damage::NoFile);
            }
            let mut data = Vec::new();
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut data))
                .map_err(io("read", &path))?;
            let damage = if below(rng, 2) == 0 {
                let offset = below(rng, size);
                let bit = below(rng, 8) as u8;
                data[offset as usize] ^= 1 << bit;
                Damage::Corrupt {
                    file,
                    offset,
                    len: 1,
                    bit: Some(bit),
                }
            } else {
                let sectors = size.div_ceil(ctx.sector);
                let offset = below(rng, sectors) * ctx.sector;
                let len = ctx.sector.min(size - offset);
                data[offset as usize..(offset + len) as usize].fill(0);
                Damage::Corrupt {
                    file,
                    offset,
                    len,
                    bit: None,
                }
            };
            open()
                .and_then(|mut f| f.write_all(&data))
                .map_err(io("corrupt", &path))?;
            Ok(damage)
        }
        FaultKind::Kill | FaultKind::Torn | FaultKind::PowerLoss => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use globset::{Glob, GlobSetBuilder};

    use super::*;
    use crate::seed::Seed;

    fn ctx(files: &GlobSet) -> Context<'_> {
        static EMPTY: std::sync::OnceLock<Snapshot> = std::sync::OnceLock::new();
        Context {
            files,
            sector: 512,
            ops: &[],
            initial: EMPTY.get_or_init(Snapshot::default),
            persistence: Persistence::Posix,
            unsure: &[],
        }
    }

    fn logs() -> GlobSet {
        GlobSetBuilder::new()
            .add(Glob::new("*.log").unwrap())
            .build()
            .unwrap()
    }

    #[test]
    fn truncate_cuts_a_matching_file_within_its_size() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("other.txt"), [1u8; 100]).unwrap();
        let files = logs();
        let mut rng = Seed(9).trial_rng(0);
        let mut offsets = Vec::new();
        for _ in 0..20 {
            std::fs::write(dir.path().join("wal.log"), [7u8; 100]).unwrap();
            let Damage::Truncate { file, size, offset } =
                apply(FaultKind::Truncate, &mut rng, dir.path(), &ctx(&files)).unwrap()
            else {
                panic!("expected a truncation")
            };
            assert_eq!((file.as_str(), size), ("wal.log", 100));
            assert_eq!(
                std::fs::metadata(dir.path().join("wal.log")).unwrap().len(),
                offset
            );
            offsets.push(offset);
        }
        assert!(
            offsets.iter().any(|&o| o != offsets[0]),
            "offsets vary: {offsets:?}"
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("other.txt"))
                .unwrap()
                .len(),
            100,
            "non-matching file untouched"
        );
    }

    #[test]
    fn a_fault_without_files_says_so() {
        let dir = tempfile::tempdir().unwrap();
        for kind in [FaultKind::Truncate, FaultKind::ZeroTail, FaultKind::BitFlip] {
            assert_eq!(
                apply(kind, &mut Seed(1).trial_rng(0), dir.path(), &ctx(&logs())).unwrap(),
                Damage::NoFile
            );
        }
    }

    #[test]
    fn tails_append_or_overwrite_with_zeros_or_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.log");
        let mut rng = Seed(3).trial_rng(0);
        let (mut appended, mut overwritten) = (false, false);
        for kind in [FaultKind::ZeroTail, FaultKind::GarbageTail].repeat(20) {
            std::fs::write(&path, [7u8; 3000]).unwrap();
            let Damage::Tail {
                size,
                offset,
                len,
                zeros,
                ..
            } = apply(kind, &mut rng, dir.path(), &ctx(&logs())).unwrap()
            else {
                panic!("expected a tail")
            };
            let data = std::fs::read(&path).unwrap();
            assert_eq!(size, 3000);
            assert_eq!(data.len() as u64, size.max(offset + len));
            assert!(
                data[..offset as usize].iter().all(|&b| b == 7),
                "nothing before the tail changes"
            );
            let tail = &data[offset as usize..(offset + len) as usize];
            assert_eq!(zeros, kind == FaultKind::ZeroTail);
            if zeros {
                assert!(tail.iter().all(|&b| b == 0));
            } else {
                assert!(tail.iter().any(|&b| b != 0 && b != 7) || len < 4);
            }
            appended |= offset == size;
            overwritten |= offset < size;
        }
        assert!(appended && overwritten);
    }

    #[test]
    fn bit_flips_change_one_bit_or_zero_one_sector() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.log");
        let mut rng = Seed(4).trial_rng(0);
        let (mut flips, mut sectors) = (0, 0);
        for _ in 0..30 {
            std::fs::write(&path, [0xaau8; 2000]).unwrap();
            let damage = apply(FaultKind::BitFlip, &mut rng, dir.path(), &ctx(&logs())).unwrap();
            let data = std::fs::read(&path).unwrap();
            let changed: Vec<usize> = (0..data.len()).filter(|&i| data[i] != 0xaa).collect();
            match damage {
                Damage::Corrupt {
                    offset,
                    len: 1,
                    bit: Some(bit),
                    ..
                } => {
                    assert_eq!(changed, [offset as usize]);
                    assert_eq!(data[offset as usize], 0xaa ^ (1 << bit));
                    flips += 1;
                }
                Damage::Corrupt {
                    offset,
                    len,
                    bit: None,
                    ..
                } => {
                    assert_eq!(offset % 512, 0);
                    assert_eq!(
                        changed,
                        (offset as usize..(offset + len) as usize).collect::<Vec<_>>()
                    );
                    sectors += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(flips > 0 && sectors > 0);
    }
}
