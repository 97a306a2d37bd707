//! The syscalls that change files, and how to read their arguments.
//!
//! This table is the one place that knows which syscalls are boundaries. The seccomp
//! filter is compiled from it ([`super::filter`]) and the tracer describes a stop with it.

/// How a traced syscall names what it changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Writes data to the file open at fd `args[0]`.
    Write {
        /// Where the data lies: a buffer or an iovec array.
        data: Data,
        /// The argument holding an explicit file offset, if the call has one.
        offset: Option<usize>,
    },
    /// Acts on the file open at fd `args[fd]` without data (fsync, ftruncate, ...).
    Fd {
        /// The argument holding the fd.
        fd: usize,
        /// The argument holding a length or size worth printing, if any.
        len: Option<usize>,
    },
    /// Acts on one or two paths, each relative to a directory fd or to the cwd.
    Path {
        /// The main path: (dirfd argument, path argument).
        path: (Option<usize>, usize),
        /// A second path (the target of a rename or link).
        to: Option<(Option<usize>, usize)>,
        /// The argument holding open flags, if any.
        flags: Option<usize>,
    },
    /// Never a boundary, but the write log must know it happened: after `io_uring_setup`
    /// the writer can write and sync files through a ring the tracer does not see.
    Notice,
}

/// Where a write's data lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Data {
    /// `args[1]` is a buffer of `args[2]` bytes.
    Buffer,
    /// `args[1]` is an array of `args[2]` iovecs.
    Iovec,
}

/// One traced syscall.
#[derive(Clone, Copy, Debug)]
pub struct Syscall {
    /// Its number on this architecture.
    pub nr: i64,
    /// Its name, as in the man pages.
    pub name: &'static str,
    /// How its arguments name what it changes.
    pub kind: Kind,
}

const fn write(nr: i64, name: &'static str, data: Data, offset: Option<usize>) -> Syscall {
    Syscall {
        nr,
        name,
        kind: Kind::Write { data, offset },
    }
}

const fn fd(nr: i64, name: &'static str, fd: usize, len: Option<usize>) -> Syscall {
    Syscall {
        nr,
        name,
        kind: Kind::Fd { fd, len },
    }
}

const fn path(nr: i64, name: &'static str, dirfd: Option<usize>, path: usize) -> Syscall {
    Syscall {
        nr,
        name,
        kind: Kind::Path {
            path: (dirfd, path),
            to: None,
            flags: None,
        },
    }
}

const fn open(
    nr: i64,
    name: &'static str,
    dirfd: Option<usize>,
    path: usize,
    flags: Option<usize>,
) -> Syscall {
    Syscall {
        nr,
        name,
        kind: Kind::Path {
            path: (dirfd, path),
            to: None,
            flags,
        },
    }
}

const fn two(
    nr: i64,
    name: &'static str,
    from: (Option<usize>, usize),
    to: (Option<usize>, usize),
) -> Syscall {
    Syscall {
        nr,
        name,
        kind: Kind::Path {
            path: from,
            to: Some(to),
            flags: None,
        },
    }
}

/// The calls that only flush what is already written to the disk: they change nothing a
/// crash state holds (a kill keeps the page cache; a power loss is drawn from the write
/// log's syncs, not from the disk).
pub const SYNCS: &[i64] = &[
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_sync_file_range,
    libc::SYS_syncfs,
];

/// Every syscall the writer is stopped at. `open`-like calls are only stopped when they
/// create or truncate (see [`super::filter`]); writes to fd 2 are never stopped.
pub const TRACED: &[Syscall] = &[
    write(libc::SYS_write, "write", Data::Buffer, None),
    write(libc::SYS_pwrite64, "pwrite64", Data::Buffer, Some(3)),
    write(libc::SYS_writev, "writev", Data::Iovec, None),
    write(libc::SYS_pwritev, "pwritev", Data::Iovec, Some(3)),
    write(libc::SYS_pwritev2, "pwritev2", Data::Iovec, Some(3)),
    fd(libc::SYS_fsync, "fsync", 0, None),
    fd(libc::SYS_fdatasync, "fdatasync", 0, None),
    fd(libc::SYS_sync_file_range, "sync_file_range", 0, Some(2)),
    fd(libc::SYS_syncfs, "syncfs", 0, None),
    fd(libc::SYS_ftruncate, "ftruncate", 0, Some(1)),
    fd(libc::SYS_fallocate, "fallocate", 0, Some(3)),
    fd(libc::SYS_copy_file_range, "copy_file_range", 2, Some(4)),
    fd(libc::SYS_sendfile, "sendfile", 0, Some(3)),
    open(libc::SYS_openat, "openat", Some(0), 1, Some(2)),
    path(libc::SYS_truncate, "truncate", None, 0),
    path(libc::SYS_unlinkat, "unlinkat", Some(0), 1),
    path(libc::SYS_mkdirat, "mkdirat", Some(0), 1),
    path(libc::SYS_symlinkat, "symlinkat", Some(1), 2),
    two(libc::SYS_renameat, "renameat", (Some(0), 1), (Some(2), 3)),
    two(libc::SYS_renameat2, "renameat2", (Some(0), 1), (Some(2), 3)),
    two(libc::SYS_linkat, "linkat", (Some(0), 1), (Some(2), 3)),
    Syscall {
        nr: libc::SYS_io_uring_setup,
        name: "io_uring_setup",
        kind: Kind::Notice,
    },
    #[cfg(target_arch = "x86_64")]
    open(libc::SYS_open, "open", None, 0, Some(1)),
    #[cfg(target_arch = "x86_64")]
    open(libc::SYS_creat, "creat", None, 0, None),
    #[cfg(target_arch = "x86_64")]
    path(libc::SYS_unlink, "unlink", None, 0),
    #[cfg(target_arch = "x86_64")]
    path(libc::SYS_mkdir, "mkdir", None, 0),
    #[cfg(target_arch = "x86_64")]
    path(libc::SYS_rmdir, "rmdir", None, 0),
    #[cfg(target_arch = "x86_64")]
    path(libc::SYS_symlink, "symlink", None, 1),
    #[cfg(target_arch = "x86_64")]
    two(libc::SYS_rename, "rename", (None, 0), (None, 1)),
    #[cfg(target_arch = "x86_64")]
    two(libc::SYS_link, "link", (None, 0), (None, 1)),
];

/// The table entry for syscall number `nr`.
pub fn lookup(nr: i64) -> Option<&'static Syscall> {
    TRACED.iter().find(|s| s.nr == nr)
}

/// Looks a traced syscall up by name (for `--kill-at syscall:NAME#N` and tests).
pub fn by_name(name: &str) -> Option<&'static Syscall> {
    TRACED.iter().find(|s| s.name == name)
}

/// Calls a process is often found waiting in, which are no boundary: what a hung writer
/// was doing at its timeout is named from here or from [`TRACED`].
const WAITS: &[(i64, &str)] = &[
    (libc::SYS_read, "read"),
    (libc::SYS_readv, "readv"),
    (libc::SYS_pread64, "pread64"),
    (libc::SYS_futex, "futex"),
    (libc::SYS_wait4, "wait4"),
    (libc::SYS_waitid, "waitid"),
    (libc::SYS_nanosleep, "nanosleep"),
    (libc::SYS_clock_nanosleep, "clock_nanosleep"),
    (libc::SYS_ppoll, "ppoll"),
    (libc::SYS_pselect6, "pselect6"),
    (libc::SYS_epoll_pwait, "epoll_pwait"),
    (libc::SYS_flock, "flock"),
    (libc::SYS_fcntl, "fcntl"),
    (libc::SYS_accept4, "accept4"),
    (libc::SYS_recvfrom, "recvfrom"),
    (libc::SYS_recvmsg, "recvmsg"),
    (libc::SYS_rt_sigsuspend, "rt_sigsuspend"),
    (libc::SYS_rt_sigtimedwait, "rt_sigtimedwait"),
    (libc::SYS_io_uring_enter, "io_uring_enter"),
    (libc::SYS_sched_yield, "sched_yield"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_poll, "poll"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_select, "select"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_epoll_wait, "epoll_wait"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_pause, "pause"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_accept, "accept"),
];

/// The name of syscall number `nr` (`syscall N` for one crashtest has no name for).
pub fn name(nr: i64) -> String {
    lookup(nr)
        .map(|s| s.name)
        .or_else(|| WAITS.iter().find(|&&(n, _)| n == nr).map(|&(_, name)| name))
        .map_or_else(|| format!("syscall {nr}"), str::to_owned)
}
