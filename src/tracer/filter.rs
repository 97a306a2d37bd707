//! The seccomp-bpf filter installed in the writer before it execs.
//!
//! It returns `SECCOMP_RET_TRACE` for the syscalls in [`super::syscalls::TRACED`] and
//! `ALLOW` for everything else, so the writer runs at full speed between boundaries and
//! the tracer uses `PTRACE_CONT`, never `PTRACE_SYSCALL`. Two refinements keep stops rare:
//! writes to fd 2 (stderr) are allowed outright, and `open`/`openat` stop only when they
//! create or truncate (`O_CREAT` or `O_TRUNC` in the flags).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::syscalls::{Kind, TRACED};
use crate::errors::TraceError;

/// The compiled filter, built once per process (before any fork, since building
/// allocates and a forked child of a threaded parent must not).
pub fn program() -> Result<&'static BpfProgram, TraceError> {
    static PROGRAM: OnceLock<Result<BpfProgram, String>> = OnceLock::new();
    PROGRAM
        .get_or_init(|| build().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|reason| TraceError::Filter {
            reason: reason.clone(),
        })
}

fn build() -> Result<BpfProgram, seccompiler::BackendError> {
    use SeccompCmpArgLen::Dword;
    let arch = TargetArch::try_from(std::env::consts::ARCH)?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for s in TRACED {
        let chain = match s.kind {
            Kind::Write { .. } => {
                vec![SeccompRule::new(vec![SeccompCondition::new(
                    0,
                    Dword,
                    SeccompCmpOp::Ne,
                    2,
                )?])?]
            }
            Kind::Path {
                flags: Some(arg), ..
            } => {
                let arg = arg as u8;
                let creat = libc::O_CREAT as u64;
                let trunc = libc::O_TRUNC as u64;
                vec![
                    SeccompRule::new(vec![SeccompCondition::new(
                        arg,
                        Dword,
                        SeccompCmpOp::MaskedEq(creat),
                        creat,
                    )?])?,
                    SeccompRule::new(vec![SeccompCondition::new(
                        arg,
                        Dword,
                        SeccompCmpOp::MaskedEq(trunc),
                        trunc,
                    )?])?,
                ]
            }
            // An empty chain matches every call of the syscall.
            _ => Vec::new(),
        };
        rules.insert(s.nr, chain);
    }
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Trace(0), arch)?;
    filter.try_into()
}

/// Installs `program` in the calling process. Runs in the forked child before exec: it
/// makes two syscalls and touches no allocator, so it is async-signal-safe.
pub fn install(program: &BpfProgram) -> std::io::Result<()> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers; it lets an unprivileged process
    // install a seccomp filter and cannot fail with these arguments on Linux >= 3.5.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points at `program`, which outlives the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_compiles_for_this_machine() {
        let prog = program().expect("filter builds");
        // Arch check + one jump chain per traced syscall: far below the kernel's 4096 limit.
        assert!(prog.len() > super::TRACED.len(), "{}", prog.len());
        assert!(prog.len() < 4096);
    }
}
