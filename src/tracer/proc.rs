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

/// What `/proc/TID/fdinfo/FD` says of an open file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdInfo {
    /// The file position.
    pub pos: u64,
    /// The open flags.
    pub flags: u32,
    /// The mount and inode of the file (kernels from 5.14 on), which name it while no
    /// name in the tree changes.
    pub inode: Option<(u64, u64)>,
}

/// The `/proc/TID/fdinfo` folders of the threads seen, held open: reading an fd's info is
/// then one `openat` of a name in it, not a walk from `/proc` (the walk cost more than the
/// read). A folder of a thread that has ended names nothing any more, so a reused thread
/// id finds its folder fails and opened anew.
#[derive(Debug, Default)]
pub struct FdInfoDirs {
    dirs: std::collections::HashMap<Pid, std::fs::File>,
}

impl FdInfoDirs {
    /// Fd `fd` of thread `tid`: one read of its fdinfo, cheaper than resolving its path.
    pub fn get(&mut self, tid: Pid, fd: u64) -> Option<FdInfo> {
        if let Some(dir) = self.dirs.get(&tid)
            && let Some(info) = info_at(dir, fd)
        {
            return Some(info);
        }
        let dir = std::fs::File::open(format!("/proc/{tid}/fdinfo")).ok()?;
        let info = info_at(&dir, fd);
        self.dirs.insert(tid, dir);
        info
    }

    /// Forgets thread `tid` (it ended).
    pub fn forget(&mut self, tid: Pid) {
        self.dirs.remove(&tid);
    }
}

/// The info of fd `fd` in the fdinfo folder `dir`.
fn info_at(dir: &std::fs::File, fd: u64) -> Option<FdInfo> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let name = std::ffi::CString::new(fd.to_string()).ok()?;
    // SAFETY: `dir` is an open folder and `name` a NUL-terminated string, both alive for
    // the call; a returned fd is owned by the File made from it.
    let raw = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return None;
    }
    // SAFETY: `raw` is a fresh fd nobody else owns.
    parse_fd_info(unsafe { std::fs::File::from_raw_fd(raw) })
}

fn parse_fd_info(mut file: std::fs::File) -> Option<FdInfo> {
    use std::io::Read;
    // The lines read here come first; what follows (locks, epoll items) may be long.
    let mut buf = [0u8; 256];
    let n = file.read(&mut buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let (mut pos, mut flags, mut mnt, mut ino) = (None, None, None, None);
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "pos" => pos = value.parse().ok(),
            "flags" => flags = u32::from_str_radix(value, 8).ok(),
            "mnt_id" => mnt = value.parse().ok(),
            "ino" => ino = value.parse().ok(),
            _ => {}
        }
    }
    Some(FdInfo {
        pos: pos?,
        flags: flags?,
        inode: mnt.zip(ino),
    })
}

/// What the threads of process `pid` are doing, from `/proc/PID/task/TID/syscall`: the
/// name of the system call each is in, or `running` for one that is in none (on a CPU),
/// each named once, in thread order. Empty when nothing can be read (the process is gone).
pub fn calls_in(pid: Pid) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut tids: Vec<i32> = tasks
        .flatten()
        .filter_map(|t| t.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    let mut calls: Vec<String> = Vec::new();
    for tid in tids {
        let Ok(line) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall")) else {
            continue;
        };
        // "NR ARGS... SP PC" while in a call, "-1 SP PC" between calls (blocked, e.g. in a
        // page fault), "running" on a CPU.
        let call = match line.split_whitespace().next() {
            Some("running") => "running".to_owned(),
            Some(nr) => match nr.parse::<i64>() {
                Ok(nr) if nr >= 0 => super::syscalls::name(nr),
                _ => continue,
            },
            None => continue,
        };
        if !calls.contains(&call) {
            calls.push(call);
        }
    }
    calls
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
        let mut dirs = FdInfoDirs::default();
        let info = dirs.get(me, f.as_raw_fd() as u64).unwrap();
        assert_eq!(info.pos, 0);
        assert_eq!(info.flags & libc::O_ACCMODE as u32, libc::O_RDWR as u32);
        use std::io::Write;
        (&f).write_all(b"abc").unwrap();
        let info = dirs.get(me, f.as_raw_fd() as u64).unwrap();
        assert_eq!(info.pos, 3, "read again through the held folder");
        use std::os::unix::fs::MetadataExt;
        if let Some((_, ino)) = info.inode {
            assert_eq!(ino, f.metadata().unwrap().ino());
        }
        assert_eq!(dirs.get(me, 1 << 20), None);
    }
}
