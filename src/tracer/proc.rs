//! What the tracer reads about a stopped tracee: its fds and cwd from `/proc`, and strings
//! and buffers from its memory.

use std::ffi::OsStr;
use std::io::{IoSlice, IoSliceMut};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::sys::uio::{RemoteIoVec, process_vm_readv, process_vm_writev};
use nix::unistd::Pid;

/// The path of fd `fd` of thread `tid`, as `/proc/TID/fd/FD` names it.
pub fn fd_path(tid: Pid, fd: u64) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{tid}/fd/{fd}")).ok()
}

/// The file position and open flags of fd `fd` of thread `tid`.
pub fn fd_pos_flags(tid: Pid, fd: u64) -> Option<(u64, u32)> {
    let info = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).ok()?;
    let mut pos = None;
    let mut flags = None;
    for line in info.lines() {
        if let Some(v) = line.strip_prefix("pos:") {
            pos = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("flags:") {
            flags = u32::from_str_radix(v.trim(), 8).ok();
        }
    }
    Some((pos?, flags?))
}

/// The thread group leader and the parent process of `tid`, from `/proc/TID/status`.
pub fn parents(tid: Pid) -> Vec<Pid> {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{tid}/status")) else {
        return Vec::new();
    };
    status
        .lines()
        .filter_map(|l| l.strip_prefix("Tgid:").or_else(|| l.strip_prefix("PPid:")))
        .filter_map(|v| v.trim().parse().ok())
        .map(Pid::from_raw)
        .collect()
}

/// The directory a path argument is relative to: the dirfd's path, or the cwd.
pub fn base_dir(tid: Pid, dirfd: Option<u64>) -> Option<PathBuf> {
    match dirfd {
        Some(fd) if fd as i32 != libc::AT_FDCWD => fd_path(tid, fd),
        _ => std::fs::read_link(format!("/proc/{tid}/cwd")).ok(),
    }
}

/// Reads `len` bytes at `addr` in the memory of `pid`.
pub fn read_mem(pid: Pid, addr: u64, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    if len == 0 {
        return Some(buf);
    }
    let remote = [RemoteIoVec {
        base: addr as usize,
        len,
    }];
    let n = process_vm_readv(pid, &mut [IoSliceMut::new(&mut buf)], &remote).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Reads a NUL-terminated string at `addr` (at most PATH_MAX bytes), page by page so that
/// a string ending just before an unmapped page is still read.
pub fn read_cstr(pid: Pid, addr: u64) -> Option<Vec<u8>> {
    const PAGE: u64 = 4096;
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < libc::PATH_MAX as usize {
        let chunk = (PAGE - at % PAGE) as usize;
        let bytes = read_mem(pid, at, chunk)?;
        if bytes.is_empty() {
            return None;
        }
        if let Some(nul) = bytes.iter().position(|&b| b == 0) {
            out.extend_from_slice(&bytes[..nul]);
            return Some(out);
        }
        out.extend_from_slice(&bytes);
        at += bytes.len() as u64;
    }
    None
}

/// Total length of the `count` iovecs at `addr` in the memory of `pid`.
pub fn iovec_len(pid: Pid, addr: u64, count: u64) -> Option<u64> {
    Some(iovecs(pid, addr, count)?.iter().map(|&(_, len)| len).sum())
}

/// The iovecs at `addr` (`count` of them) as (base, len) pairs.
fn iovecs(pid: Pid, addr: u64, count: u64) -> Option<Vec<(u64, u64)>> {
    let count = usize::try_from(count).ok()?.min(1024);
    let raw = read_mem(pid, addr, count * 16)?;
    Some(
        raw.chunks_exact(16)
            .map(|iov| {
                let base = u64::from_ne_bytes(iov[..8].try_into().unwrap());
                let len = u64::from_ne_bytes(iov[8..].try_into().unwrap());
                (base, len)
            })
            .collect(),
    )
}

/// The bytes a vectored write would write, in order.
pub fn read_iovecs(pid: Pid, addr: u64, count: u64) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (base, len) in iovecs(pid, addr, count)? {
        out.extend(read_mem(pid, base, usize::try_from(len).ok()?)?);
    }
    Some(out)
}

/// Shortens the iovec array at `addr` in the memory of `pid` so that it holds only the
/// first `keep` bytes: the iovec where they end gets a shorter length. Returns the new
/// iovec count.
pub fn shorten_iovecs(pid: Pid, addr: u64, count: u64, keep: u64) -> Option<u64> {
    let mut left = keep;
    for (i, (_, len)) in iovecs(pid, addr, count)?.into_iter().enumerate() {
        if left <= len {
            let at = addr + i as u64 * 16 + 8;
            let bytes = left.to_ne_bytes();
            let local = [IoSlice::new(&bytes)];
            let remote = [RemoteIoVec {
                base: at as usize,
                len: 8,
            }];
            (process_vm_writev(pid, &local, &remote).ok()? == 8).then_some(())?;
            return Some(i as u64 + 1);
        }
        left -= len;
    }
    Some(count)
}

/// `base` joined with `path` (from the tracee's memory), with `.` and `..` resolved
/// lexically. Symlinks are not followed: good enough to tell inside from outside a folder
/// the harness made itself.
pub fn resolve(base: &Path, path: &[u8]) -> PathBuf {
    let mut out = PathBuf::new();
    for c in base.join(OsStr::from_bytes(path)).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_is_lexical() {
        assert_eq!(
            resolve(Path::new("/a/b"), b"../c/./d"),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(resolve(Path::new("/a/b"), b"/x/y"), PathBuf::from("/x/y"));
    }

    #[test]
    fn reads_own_memory_and_fds() {
        let me = nix::unistd::getpid();
        let s = b"hello\0world";
        assert_eq!(read_cstr(me, s.as_ptr() as u64).unwrap(), b"hello");
        let f = tempfile::tempfile().unwrap();
        use std::os::fd::AsRawFd;
        let (pos, flags) = fd_pos_flags(me, f.as_raw_fd() as u64).unwrap();
        assert_eq!(pos, 0);
        assert_eq!(flags & libc::O_ACCMODE as u32, libc::O_RDWR as u32);
    }
}
