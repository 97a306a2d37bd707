//! The check before the first trial: can the scenario's target run here at all? And,
//! when a target fails during a trial, is the machine to blame?
//!
//! Why: a setup mistake fails every trial the same way, and each failure used to be a
//! finding. A writer path with a typo made every trial a `target-error`, each saved as a
//! regression; a missing replay was classed `replay-failed` (a WAL-bug class) and shrunk;
//! a full disk under `--work-dir` made the correct `crc` WAL fail trial after trial. Such a
//! mistake is one error that says what to fix: exit 2 when the scenario's target is wrong
//! ([`SetupError`]), exit 3 when the machine is ([`crate::errors::EnvironmentError`]); see
//! [`crate::cli::exit`].
//!
//! [`jobs_that_fit`] runs first, before anything is made: a trial's writers must fit in
//! crashtest's open files ([`FDS_PER_WRITER`] each, the soft limit raised to the hard one
//! first). `writers = 100000` started about 6,000 writers, a minute's work, before "Too
//! many open files"; it is now refused at once, naming the key and the limit, and
//! `--jobs` is lowered to the trials at once that fit.
//!
//! [`check`] runs before any trial, in a folder of its own inside the run folder, removed
//! afterwards:
//! 1. both programs are resolved the way exec resolves them (against the scenario's folder,
//!    or on `PATH`): one that is missing, or not executable, is named by its scenario key
//!    and path;
//! 2. the run folder's file system must have room left (more than [`crate::trial::machine::FULL_BELOW`] bytes);
//! 3. the writer runs traced, exactly as in a trial, given no records (stdin closed at
//!    once): protocol v1 wants it to print nothing and exit 0. A machine that refuses
//!    ptrace or seccomp shows here;
//! 4. the replay runs on the folder that writer left: it must print no record and exit 0.
//!
//! A writer or replay that runs past the timeout is let through: a hang is a verdict the
//! trials give (`hang`, `replay-hang`), and may be the target's real bug.
//!
//! During trials, [`crate::trial::machine`] keeps the same line: a
//! target that failed on a full file system, or could not be started for want of
//! descriptors, processes or memory, stops the run with an error rather than a finding.
//! Both are conservative: they blame the machine only on evidence of the machine (the
//! file system's own free counts, an errno that only the machine gives), never on what
//! a target printed.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use globset::GlobSet;
use nix::sys::signal::Signal;

use crate::errors::{ExecError, SetupError, TargetSaid, TraceError, TrialError};
use crate::process::{self, Finished};
use crate::protocol::Role;
use crate::scenario::Scenario;
use crate::target::TargetKind;
use crate::tracer::proc::{FDINFO_FILES_PER_WRITER, SIZE_FILES_PER_WRITER};
use crate::tracer::{Execed, WriterEnd};
use crate::trial::machine::{blame_machine, exhausted, full, machine_failed_start};
use crate::trial::{self, TrialEnv};

/// What the check saw that the user should hear once, though nothing failed: a `note:`
/// line each.
#[derive(Debug, Default)]
pub struct Notes(pub Vec<String>);

/// More programs than this, started by a writer given no records, is a wrapper (a version
/// manager's shim runs a dozen or more to find an interpreter); `#!/usr/bin/env python3`
/// runs two, a shell that execs the writer two.
pub const WRAPPER_PROGRAMS: usize = 3;

/// Descriptors crashtest holds for each writer of a running trial: its stdin, stdout and
/// stderr pipes; the spill files of its stdout, stderr and ack marks once they grow long;
/// the fdinfo folder the tracer keeps open for each of its threads (one counted); the
/// fdinfo files of the fds it writes through and the files it appends to, which the tracer
/// keeps open too ([`FDINFO_FILES_PER_WRITER`] and [`SIZE_FILES_PER_WRITER`] at most); and
/// one to spare (a second thread, the pipes of the next writer being started).
pub const FDS_PER_WRITER: u64 = 8 + (FDINFO_FILES_PER_WRITER + SIZE_FILES_PER_WRITER) as u64;

/// Descriptors crashtest holds besides its writers': its stdio, the results file, the
/// trace's and the workload's spill files, a replay's pipes and spill files, and the
/// pidfd and proc files it reads while it waits.
pub const FDS_RESERVED: u64 = 64;

/// How many trials of the scenario's writers may run at once, at most `jobs`, within
/// crashtest's open files (its soft limit raised to the hard one first). Not one:
/// [`SetupError::TooManyWriters`], before anything is started.
pub fn jobs_that_fit(scenario: &Scenario, jobs: usize) -> Result<usize, TrialError> {
    let limit = process::raise_open_files();
    let per_trial = u64::from(scenario.writers) * FDS_PER_WRITER;
    let fit = limit.saturating_sub(FDS_RESERVED) / per_trial;
    if fit == 0 {
        return Err(SetupError::TooManyWriters {
            scenario: scenario.path.clone(),
            writers: scenario.writers,
            per_writer: FDS_PER_WRITER,
            limit,
            most: limit.saturating_sub(FDS_RESERVED) / FDS_PER_WRITER,
        }
        .into());
    }
    Ok(jobs.min(usize::try_from(fit).unwrap_or(usize::MAX)).max(1))
}

/// Runs the scenario's target once, on no records, in a fresh folder of the run folder
/// `work` (see the module docs). `exe` serves the built-in targets.
pub fn check(scenario: &Scenario, exe: &Path, work: &Path) -> Result<Notes, TrialError> {
    let env = TrialEnv {
        scenario: scenario.clone(),
        exe: exe.to_owned(),
        work: work.to_owned(),
        // Sizes are recorded at acks, and a writer given no records makes none.
        files: GlobSet::empty(),
        keep: None,
    };
    let writer = resolve(&env, Role::Write)?;
    let replay = resolve(&env, Role::Replay)?;
    let dir = work.join("preflight");
    if let Some(full) = full(&env, work) {
        return Err(full.into());
    }
    std::fs::create_dir(&dir).map_err(|source| {
        if source.raw_os_error() == Some(libc::ENOSPC) {
            full(&env, work).map_or_else(
                || exhausted("create the preflight folder", work, source),
                TrialError::from,
            )
        } else {
            TrialError::Io {
                what: "create the preflight folder",
                path: dir.clone(),
                source,
            }
        }
    })?;
    let result = run_both(&env, &dir, &writer, &replay);
    let cleanup = std::fs::remove_dir_all(&dir).map_err(|source| TrialError::Io {
        what: "remove the preflight folder",
        path: dir.clone(),
        source,
    });
    let notes = result?;
    cleanup?;
    Ok(notes)
}

/// The note for a writer that started many programs on no records: each trial pays
/// for starting and tracing them all again. Names the program the writer's own process
/// ended up running, when that is not the one `writer` names: the path to put there.
fn wrapper_note(writer: &Program, execs: &[Execed], tracees: usize) -> Option<String> {
    if execs.len() <= WRAPPER_PROGRAMS {
        return None;
    }
    let named = writer
        .path
        .canonicalize()
        .unwrap_or_else(|_| writer.path.clone());
    let last = execs
        .iter()
        .rev()
        .find(|e| e.by_writer)
        .map(|e| &e.program)
        .filter(|p| **p != named);
    let mut note = format!(
        "the writer started {} programs on no records ({tracees} threads and processes traced), \
         and every trial starts and traces them all again",
        execs.len(),
    );
    if let Some(last) = last {
        note.push_str(&format!(
            ": `{key}` runs `{}`, a wrapper that ends up running {}: put that path in `{key}` to skip it",
            writer.path.display(),
            last.display(),
            key = writer.key,
        ));
    }
    Some(note)
}

/// A program of the target: the scenario key that names it and its resolved path.
struct Program {
    key: &'static str,
    path: PathBuf,
}

/// Resolves `role`'s program as exec will (relative to the scenario's folder when it holds
/// a `/`, else the first executable file of that name on `PATH`), refusing one that does
/// not exist or is not executable.
fn resolve(env: &TrialEnv, role: Role) -> Result<Program, TrialError> {
    let sc = &env.scenario;
    let (key, program) = match (&sc.target.kind, role) {
        (TargetKind::Builtin(_), _) => ("target.builtin", env.exe.as_os_str()),
        (TargetKind::Command { writer, .. }, Role::Write) => {
            ("target.writer", OsStr::new(writer[0].as_str()))
        }
        (TargetKind::Command { replay, .. }, Role::Replay) => {
            ("target.replay", OsStr::new(replay[0].as_str()))
        }
    };
    let scenario = sc.path.clone();
    let mut cmd = std::process::Command::new(program);
    cmd.current_dir(&sc.target.cwd);
    let err = match process::find_program(&cmd) {
        Ok(path) => return Ok(Program { key, path }),
        Err(ExecError::NoSuchFile { path }) => SetupError::NoSuchFile {
            key,
            scenario,
            path,
        },
        Err(ExecError::NotOnPath { program }) => SetupError::NotOnPath {
            key,
            scenario,
            program,
        },
        Err(ExecError::NotExecutable { path, what }) => SetupError::NotExecutable {
            key,
            scenario,
            path,
            what,
        },
        Err(other) => SetupError::Unstartable {
            key,
            scenario,
            path: PathBuf::from(program),
            source: io::Error::other(other),
        },
    };
    Err(err.into())
}

/// The writer on no records, then the replay on what it left.
fn run_both(
    env: &TrialEnv,
    dir: &Path,
    writer: &Program,
    replay: &Program,
) -> Result<Notes, TrialError> {
    let sc = &env.scenario;
    let protocol = |program: &Program, what: String, wanted, stderr: &process::Captured| {
        let tail = stderr.tail(400).trim().to_owned();
        TrialError::from(SetupError::Protocol {
            key: program.key,
            scenario: sc.path.clone(),
            path: program.path.clone(),
            what,
            wanted,
            said: (!tail.is_empty()).then_some(TargetSaid { tail }),
        })
    };
    let cmd = trial::target_command(env, dir, Role::Write, 0, 0);
    let run = trial::spawn::run_traced(
        env,
        dir,
        vec![cmd],
        vec![Box::new(io::empty())],
        None,
        false,
    )?;
    let run = match run {
        Ok(run) => run,
        Err(TraceError::Spawn { source, .. }) => {
            return Err(SetupError::Unstartable {
                key: writer.key,
                scenario: sc.path.clone(),
                path: writer.path.clone(),
                source,
            }
            .into());
        }
        Err(other) => return Err(other.into()),
    };
    let notes = Notes(
        wrapper_note(writer, &run.trace.execs, run.trace.tracees)
            .into_iter()
            .collect(),
    );
    let (stdout, stderr) = (&run.stdouts[0], &run.stderrs[0]);
    let ended = match &run.trace.ends[0] {
        WriterEnd::Exited { code: 0 } | WriterEnd::TimedOut { .. } | WriterEnd::Killed { .. } => {
            None
        }
        WriterEnd::Exited { code } => Some((format!("exited with status {code}"), None)),
        WriterEnd::Signaled { signal } => Some((format!("died of {signal}"), Some(signal))),
        WriterEnd::Interrupted => return Err(TrialError::Interrupted),
    };
    if let Some((ended, signal)) = ended {
        return Err(protocol(
            writer,
            format!(
                "{ended}{} on no records (stdin closed at once)",
                limit_hint(sc, signal.map(String::as_str), stderr)
            ),
            "exit 0 at the end of its input",
            stderr,
        ));
    }
    if !stdout.is_empty() {
        return Err(protocol(
            writer,
            format!(
                "printed {} on no records (stdin closed at once)",
                first_line(stdout)
            ),
            "an ack only for a record it was sent",
            stderr,
        ));
    }

    let mut cmd = trial::target_command(env, dir, Role::Replay, 0, 0);
    let done: Finished = match process::run(&mut cmd, b"", sc.timeout, sc.limits) {
        Ok(done) => done,
        Err(e) => {
            if let Some(machine) =
                machine_failed_start(env, "run the replay", cmd.get_program(), dir, &e, false)
            {
                return Err(machine.into());
            }
            return Err(SetupError::Unstartable {
                key: replay.key,
                scenario: sc.path.clone(),
                path: replay.path.clone(),
                source: e,
            }
            .into());
        }
    };
    if process::interrupted() {
        return Err(TrialError::Interrupted);
    }
    match done.status {
        // A hang is the trials' verdict to give.
        None => {}
        Some(status) if !status.success() => {
            blame_machine(env, dir)?;
            let signal = std::os::unix::process::ExitStatusExt::signal(&status)
                .and_then(|s| Signal::try_from(s).ok());
            let ended = match (status.code(), signal) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(signal)) => format!("died of {signal}"),
                (None, None) => format!("ended with {status}"),
            };
            return Err(protocol(
                replay,
                format!(
                    "{ended}{} on an empty log (the folder a writer given no records left)",
                    limit_hint(sc, signal.map(Signal::as_str), &done.stderr)
                ),
                "exit 0 and no record",
                &done.stderr,
            ));
        }
        Some(_) => {}
    }
    if !done.stdout.is_empty() {
        return Err(protocol(
            replay,
            format!(
                "printed {} for an empty log (the folder a writer given no records left)",
                first_line(&done.stdout)
            ),
            "no record for it",
            &done.stderr,
        ));
    }
    Ok(notes)
}

/// ` ([limits] ... may have ended it: ...)` when the scenario's `[limits]` may explain a
/// program that died of `signal` or said `stderr` ([`crate::process::Limits::suspect`]);
/// else nothing.
fn limit_hint(sc: &Scenario, signal: Option<&str>, stderr: &process::Captured) -> String {
    sc.limits
        .suspect(signal, &stderr.tail(400))
        .map(|hint| format!(" ({hint})"))
        .unwrap_or_default()
}

/// The first line of `out`, quoted and cut short, for a message.
fn first_line(out: &process::Captured) -> String {
    let mut line = String::new();
    let _ = io::BufRead::read_line(&mut out.reader(), &mut line);
    let line = line.trim_end_matches('\n');
    let cut: String = line.chars().take(60).collect();
    if cut.len() < line.len() {
        format!("{cut:?}...")
    } else {
        format!("{cut:?}")
    }
}
