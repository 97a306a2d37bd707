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

/// How many fdinfo files [`FdInfoFiles`] keeps open for each writer of a run.
pub const FDINFO_FILES_PER_WRITER: usize = 4;

/// The fdinfo files of the fds seen at stops, held open and read again at offset 0 each
/// time (one `pread`, where opening the file anew took an `openat` and a `close` around
/// the read, and the kernel a path walk and a buffer each time).
///
/// The kernel looks the fd up by its number at each read of `/proc/TID/fdinfo/FD`, not at
/// the open: after the tracee closes the fd and opens another file on its number (or
/// `dup2`s over it, or execs), the same open file tells of the file there now, its
/// position, flags and inode; a closed fd reads as an error (`ENOENT`), and so does the
/// file of a thread that has ended, whose thread id may be reused: both are dropped and
/// opened anew through the thread's folder. At most `cap` files are held (the oldest goes
/// first), and a thread's go when it ends.
///
/// The `/proc/TID/fdinfo` folders of the threads seen are held open too: opening an fd's
/// file is then one `openat` of a name in it, not a walk from `/proc` (the walk cost more
/// than the read). A folder of a thread that has ended names nothing any more, so a
/// reused thread id finds its folder fails and opened anew.
#[derive(Debug)]
pub struct FdInfoFiles {
    dirs: std::collections::HashMap<Pid, std::fs::File>,
    files: Vec<(Pid, u64, std::fs::File)>,
    cap: usize,
    /// The slot the next file goes into once `files` is full.
    next: usize,
}

impl FdInfoFiles {
    /// Holds at most `cap` fdinfo files open (and at least one).
    pub fn new(cap: usize) -> FdInfoFiles {
        FdInfoFiles {
            dirs: std::collections::HashMap::new(),
            files: Vec::new(),
            cap: cap.max(1),
            next: 0,
        }
    }

    /// Fd `fd` of thread `tid`: one read of its fdinfo, cheaper than resolving its path.
    pub fn get(&mut self, tid: Pid, fd: u64) -> Option<FdInfo> {
        if let Some(i) = self.files.iter().position(|&(t, f, _)| t == tid && f == fd) {
            if let Some(info) = read_info(&self.files[i].2) {
                return Some(info);
            }
            // Closed, or its thread ended: open it anew below.
            self.files.swap_remove(i);
            self.next = self.next.min(self.files.len());
        }
        let file = self.open(tid, fd)?;
        let info = read_info(&file);
        if info.is_some() {
            self.keep(tid, fd, file);
        }
        info
    }

    /// Opens fd `fd`'s fdinfo file in thread `tid`'s folder, opening the folder first when
    /// it is not held or names nothing any more.
    fn open(&mut self, tid: Pid, fd: u64) -> Option<std::fs::File> {
        if let Some(dir) = self.dirs.get(&tid)
            && let Some(file) = open_at(dir, fd)
        {
            return Some(file);
        }
        let dir = std::fs::File::open(format!("/proc/{tid}/fdinfo")).ok()?;
        let file = open_at(&dir, fd);
        self.dirs.insert(tid, dir);
        file
    }

    fn keep(&mut self, tid: Pid, fd: u64, file: std::fs::File) {
        if self.files.len() < self.cap {
            self.files.push((tid, fd, file));
        } else {
            self.files[self.next] = (tid, fd, file);
            self.next = (self.next + 1) % self.cap;
        }
    }

    /// Forgets thread `tid` (it ended): its folder and files are closed.
    pub fn forget(&mut self, tid: Pid) {
        self.dirs.remove(&tid);
        self.files.retain(|&(t, ..)| t != tid);
        self.next = self.next.min(self.files.len());
    }

    /// The fds this holds open: folders and files.
    pub fn open_fds(&self) -> usize {
        self.dirs.len() + self.files.len()
    }
}

/// How many files [`SizeFiles`] keeps open for each writer of a run.
pub const SIZE_FILES_PER_WRITER: usize = 2;

/// `O_PATH` fds of the files the tracees append to, by mount and inode, so that an
/// `O_APPEND` write's offset, the file's size, is one `fstat` rather than a `stat` of its
/// path. An `O_PATH` fd opens nothing for reading or writing (a pipe keeps its readers and
/// writers, a lock is not shared); it only keeps the inode, so its number cannot name
/// another file while it is held. At most `cap` are held, the oldest replaced first.
#[derive(Debug)]
pub struct SizeFiles {
    files: Vec<((u64, u64), std::fs::File)>,
    cap: usize,
    next: usize,
}

impl SizeFiles {
    /// Holds at most `cap` files open (and at least one).
    pub fn new(cap: usize) -> SizeFiles {
        SizeFiles {
            files: Vec::new(),
            cap: cap.max(1),
            next: 0,
        }
    }

    /// The size of the file open at fd `fd` of thread `tid`, whose fdinfo gave mount and
    /// inode `inode`; `None` when it cannot be told (the fd names another file by now).
    pub fn size(&mut self, tid: Pid, fd: u64, inode: (u64, u64)) -> Option<u64> {
        if let Some((_, file)) = self.files.iter().find(|(k, _)| *k == inode) {
            return fstat(file).map(|st| st.st_size as u64);
        }
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(format!("/proc/{tid}/fd/{fd}"))
            .ok()?;
        let st = fstat(&file)?;
        if st.st_ino != inode.1 {
            return None;
        }
        if self.files.len() < self.cap {
            self.files.push((inode, file));
        } else {
            self.files[self.next] = (inode, file);
            self.next = (self.next + 1) % self.cap;
        }
        Some(st.st_size as u64)
    }

    /// The files held open.
    pub fn open_fds(&self) -> usize {
        self.files.len()
    }
}

fn fstat(file: &std::fs::File) -> Option<libc::stat> {
    use std::os::fd::AsRawFd;
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `file` is an open fd and `st` room for one stat, which fstat fills on success.
    (unsafe { libc::fstat(file.as_raw_fd(), st.as_mut_ptr()) } == 0)
        // SAFETY: fstat returned 0: `st` is filled.
        .then(|| unsafe { st.assume_init() })
}

/// Opens the fdinfo file of fd `fd` in the fdinfo folder `dir`.
fn open_at(dir: &std::fs::File, fd: u64) -> Option<std::fs::File> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // The fd's number, NUL-terminated, without allocating.
    let mut name = [0u8; 24];
    let mut at = name.len() - 1;
    let mut n = fd;
    loop {
        at -= 1;
        name[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // SAFETY: `dir` is an open folder and `name[at..]` a NUL-terminated string (its last
    // byte is 0), both alive for the call; a returned fd is owned by the File made from it.
    let raw = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name[at..].as_ptr().cast(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return None;
    }
    // SAFETY: `raw` is a fresh fd nobody else owns.
    Some(unsafe { std::fs::File::from_raw_fd(raw) })
}

/// Reads an fdinfo file from its start.
fn read_info(file: &std::fs::File) -> Option<FdInfo> {
    use std::os::unix::fs::FileExt;
    // The lines read here come first; what follows (locks, epoll items) may be long.
    let mut buf = [0u8; 256];
    let n = file.read_at(&mut buf, 0).ok()?;
    parse_fd_info(&buf[..n])
}

fn parse_fd_info(bytes: &[u8]) -> Option<FdInfo> {
    let text = std::str::from_utf8(bytes).ok()?;
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
        let mut dirs = FdInfoFiles::new(4);
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

    /// The held fdinfo file of an fd number tells of whatever file is open there at the
    /// read: an fd closed and opened again onto another file, or `dup2`ed over, reads as
    /// the new file (its inode, flags and position), and a closed fd reads as nothing.
    #[test]
    fn a_held_fdinfo_file_follows_its_fd_number() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let me = nix::unistd::getpid();
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, bytes: &[u8], append: bool| {
            let f = std::fs::OpenOptions::new()
                .append(append)
                .write(true)
                .create(true)
                .open(dir.path().join(name))
                .unwrap();
            (&f).write_all(bytes).unwrap();
            let ino = f.metadata().unwrap().ino();
            (f, ino)
        };
        // A number far above the ones other tests' threads are given (the lowest free).
        let fd = 900;
        let put = |f: &std::fs::File| {
            // SAFETY: both are plain fd numbers; `fd` is no fd std owns in this process.
            assert_eq!(unsafe { libc::dup2(f.as_raw_fd(), fd) }, fd);
        };
        let (a, a_ino) = file("a", b"0123456789", false);
        put(&a);
        let mut infos = FdInfoFiles::new(2);
        let info = infos.get(me, fd as u64).unwrap();
        assert_eq!((info.pos, info.inode.map(|(_, i)| i)), (10, Some(a_ino)));
        assert_eq!(infos.open_fds(), 2, "the folder and the file are held");
        // SAFETY: `fd` is the dup made above, closed once.
        unsafe { libc::close(fd) };
        assert_eq!(
            infos.get(me, fd as u64),
            None,
            "a closed fd reads as nothing"
        );
        assert_eq!(infos.open_fds(), 1, "its file is dropped");
        // Opened again onto another file.
        let (b, b_ino) = file("b", b"xyz", true);
        put(&b);
        let info = infos.get(me, fd as u64).unwrap();
        assert_eq!((info.pos, info.inode.map(|(_, i)| i)), (3, Some(b_ino)));
        assert_ne!(info.flags & libc::O_APPEND as u32, 0);
        // dup2 over it while its file is held: the held file reads the new one.
        let (c, c_ino) = file("c", b"12345", false);
        put(&c);
        let info = infos.get(me, fd as u64).unwrap();
        assert_eq!((info.pos, info.inode.map(|(_, i)| i)), (5, Some(c_ino)));
        assert_eq!(info.flags & libc::O_APPEND as u32, 0);
        assert_eq!(infos.open_fds(), 2, "read through the held file");
        // SAFETY: as above.
        unsafe { libc::close(fd) };
    }

    /// A held file tells the size of the inode it was opened on, as it grows, and after
    /// the fd it was opened through is closed; at most `cap` are held.
    #[test]
    fn size_files_follow_their_inode() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let me = nix::unistd::getpid();
        let mut sizes = SizeFiles::new(1);
        let f = tempfile::tempfile().unwrap();
        let fd = f.as_raw_fd() as u64;
        let inode = FdInfoFiles::new(1).get(me, fd).unwrap().inode.unwrap();
        assert_eq!(sizes.size(me, fd, inode), Some(0));
        (&f).write_all(b"abcd").unwrap();
        assert_eq!(sizes.size(me, fd, inode), Some(4));
        assert_eq!(sizes.open_fds(), 1);
        // Another inode on the same fd number is told apart.
        assert_eq!(sizes.size(me, fd, (inode.0, inode.1 + 1)), None);
        let g = tempfile::tempfile().unwrap();
        (&g).write_all(b"xy").unwrap();
        let g_fd = g.as_raw_fd() as u64;
        let g_inode = FdInfoFiles::new(1).get(me, g_fd).unwrap().inode.unwrap();
        assert_eq!(sizes.size(me, g_fd, g_inode), Some(2));
        assert_eq!(sizes.open_fds(), 1, "the first file made room");
        (&g).write_all(b"z").unwrap();
        drop(g);
        assert_eq!(
            sizes.size(me, g_fd, g_inode),
            Some(3),
            "read through the held file"
        );
    }

    /// At most `cap` fdinfo files are held, the oldest replaced first, and a thread's
    /// files go when it is forgotten.
    #[test]
    fn fdinfo_files_held_are_bounded() {
        use std::os::fd::AsRawFd;
        let me = nix::unistd::getpid();
        let files: Vec<std::fs::File> = (0..5).map(|_| tempfile::tempfile().unwrap()).collect();
        let mut infos = FdInfoFiles::new(3);
        for f in &files {
            assert_eq!(infos.get(me, f.as_raw_fd() as u64).unwrap().pos, 0);
            assert!(infos.open_fds() <= 1 + 3, "{}", infos.open_fds());
        }
        assert_eq!(infos.open_fds(), 1 + 3);
        for f in &files {
            assert!(infos.get(me, f.as_raw_fd() as u64).is_some());
        }
        assert_eq!(infos.open_fds(), 1 + 3);
        infos.forget(me);
        assert_eq!(infos.open_fds(), 0);
    }
}
