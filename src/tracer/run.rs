//! A traced run with its pipes, in one call: start the commands traced, feed each its
//! input, read each one's stdout and stderr, run the loop, join the readers.
//!
//! Why one place: [`Traced`] leaves the pipes to its caller, and the plumbing around it has
//! an order that is easy to get wrong, so it lives here rather than in a copy per caller
//! (the trials, the tracer's tests, the integration tests, the speed bench):
//! 1. every command's stdin, stdout and stderr are pipes, set here;
//! 2. each input is fed on a thread as the writer reads it: a workload is produced as it is
//!    read, never whole in memory, and a writer that dies before reading it all only breaks
//!    the pipe ([`process::feed_on`]);
//! 3. each stdout and stderr is read on a thread while the loop runs: a writer blocked on a
//!    full pipe would never reach its next stop, and the loop would wait for it forever.
//!    Past [`process::OUTPUT_LIMIT`] bytes a stream is cut and the writers' group killed
//!    ([`process::read_on`]);
//! 4. the readers are joined only once the loop has returned. A reader ends when no process
//!    holds the other end of its pipe any more, so on a failed loop the writers are first
//!    killed (dropping [`Traced`] kills their group) and reaped, and the orphans they left
//!    ended; joining before that could wait forever.
//!
//! A command that could not be started ([`PipedError::Start`], for [`TraceError::Spawn`]
//! maybe the target's fault: a verdict or a setup error for the caller) stays apart from a
//! loop that failed ([`PipedError::Run`], crashtest's failure).
//!
//! [`TraceError::Spawn`]: crate::errors::TraceError::Spawn

use std::io::Read;
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use super::ptrace::{Trace, TraceOptions, Traced};
use crate::errors::PipedError;
use crate::process::{self, Captured, Limits, feed_on, read_on};

/// What a traced run gave, with each command's output, in the order of the commands.
#[derive(Clone, Debug)]
pub struct Piped<T> {
    /// What the loop returned: the [`Trace`] for [`run_piped`].
    pub result: T,
    /// Each command's stdout (its first [`process::OUTPUT_LIMIT`] bytes).
    pub stdouts: Vec<Captured>,
    /// Each command's stderr (its first [`process::OUTPUT_LIMIT`] bytes).
    pub stderrs: Vec<Captured>,
}

/// Starts `cmds` traced together within `limits` (their stdio made pipes here; set up
/// their cwd and environment before), feeds command i `inputs[i]` as it reads it, runs
/// the tracer's loop with `opts`, and returns the trace with every command's output.
///
/// Panics unless there is exactly one input per command.
pub fn run_piped<R: Read + Send>(
    cmds: &mut [Command],
    inputs: impl IntoIterator<Item = R>,
    limits: Limits,
    opts: &TraceOptions<'_>,
) -> Result<Piped<Trace>, PipedError> {
    run_piped_with(cmds, inputs, limits, |traced| traced.run(opts))
}

/// [`run_piped`] with a loop of the caller's: `then` gets the started writers, each
/// stopped before its first instruction, and must run them to their end, reaping them (as
/// [`Traced::run`] does), or fail. On its failure the writers are killed and reaped here
/// before the readers are joined.
pub fn run_piped_with<R: Read + Send, T, E>(
    cmds: &mut [Command],
    inputs: impl IntoIterator<Item = R>,
    limits: Limits,
    then: impl FnOnce(Traced) -> Result<T, E>,
) -> Result<Piped<T>, PipedError<E>> {
    let inputs: Vec<R> = inputs.into_iter().collect();
    assert_eq!(inputs.len(), cmds.len(), "one input per command");
    for cmd in cmds.iter_mut() {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    }
    // On an error, the writers already started are killed before this returns.
    let mut traced = Traced::spawn_limited(cmds, limits).map_err(PipedError::Start)?;
    let pgid = traced.pgid();
    let pipes: Vec<_> = traced
        .children_mut()
        .iter_mut()
        .map(|c| {
            (
                c.stdin.take().expect("stdin was piped"),
                c.stdout.take().expect("stdout was piped"),
                c.stderr.take().expect("stderr was piped"),
            )
        })
        .collect();
    std::thread::scope(|scope| {
        let mut readers = Vec::with_capacity(pipes.len());
        for ((stdin, stdout, stderr), input) in pipes.into_iter().zip(inputs) {
            feed_on(scope, stdin, input);
            readers.push((
                read_on(scope, stdout, Some(pgid)),
                read_on(scope, stderr, Some(pgid)),
            ));
        }
        // `then` owns the writers: on its failure, dropping them killed their group.
        let result = then(traced).map_err(|e| {
            end_group(pgid);
            PipedError::Run(e)
        })?;
        let (mut stdouts, mut stderrs) = (Vec::new(), Vec::new());
        for (out, err) in readers {
            stdouts.push(
                out.join()
                    .expect("reader thread panicked")
                    .map_err(PipedError::Output)?,
            );
            stderrs.push(
                err.join()
                    .expect("reader thread panicked")
                    .map_err(PipedError::Output)?,
            );
        }
        Ok(Piped {
            result,
            stdouts,
            stderrs,
        })
    })
}

/// After a failed loop: SIGKILLs group `pgid` (again, should `then` have kept the writers
/// alive), reaps what is left of it among this thread's children and tracees, then ends
/// the orphans the writers left outside it ([`process::kill_orphans`]), so that nothing
/// still holds their pipes.
fn end_group(pgid: Pid) {
    process::kill_group(pgid);
    // Every member was SIGKILLed, so each wait returns soon; ECHILD: none left.
    let flags = WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD;
    let group = Pid::from_raw(-pgid.as_raw());
    while let Ok(_) | Err(Errno::EINTR) = waitpid(group, Some(flags)) {}
    process::kill_orphans();
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use globset::GlobSetBuilder;

    use super::*;
    use crate::errors::TraceError;
    use crate::tracer::{KillScope, WriterEnd};

    #[test]
    fn each_command_gets_its_input_and_keeps_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let files = GlobSetBuilder::new().build().unwrap();
        let mut cmds: Vec<Command> = (0..2)
            .map(|w| {
                let mut cmd = Command::new("sh");
                cmd.args(["-c", &format!("cat; echo err{w} >&2; exit {w}")]);
                cmd
            })
            .collect();
        let opts = TraceOptions {
            dir: dir.path(),
            files: &files,
            kill_at: None,
            kill_scope: KillScope::All,
            tear: None,
            sector: 512,
            record_ops: false,
            skip_syncs: false,
            timeout: Duration::from_secs(20),
        };
        let run = run_piped(
            &mut cmds,
            [&b"zero\n"[..], &b"one\n"[..]],
            Limits::NONE,
            &opts,
        )
        .unwrap();
        let text = |c: &[Captured]| {
            c.iter()
                .map(|c| String::from_utf8(c.bytes()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(text(&run.stdouts), ["zero\n", "one\n"]);
        assert_eq!(text(&run.stderrs), ["err0\n", "err1\n"]);
        assert_eq!(
            run.result.ends,
            [WriterEnd::Exited { code: 0 }, WriterEnd::Exited { code: 1 }]
        );
    }

    #[test]
    fn a_failed_loop_kills_and_reaps_the_writers_before_the_readers_are_joined() {
        let started = Instant::now();
        let mut leader = 0;
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30"]);
        let err = run_piped_with(
            std::slice::from_mut(&mut cmd),
            [std::io::empty()],
            Limits::NONE,
            |mut traced| {
                leader = traced.children_mut()[0].id();
                Err::<(), _>("no loop")
            },
        )
        .unwrap_err();
        assert!(matches!(err, PipedError::Run("no loop")), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(20));
        assert!(
            !Path::new(&format!("/proc/{leader}")).exists(),
            "the writer was reaped"
        );
    }

    #[test]
    fn a_command_that_cannot_start_is_told_apart() {
        let mut cmd = Command::new("/nonexistent/writer");
        let err = run_piped_with(
            std::slice::from_mut(&mut cmd),
            [std::io::empty()],
            Limits::NONE,
            |_| Ok::<_, TraceError>(()),
        )
        .unwrap_err();
        assert!(
            matches!(err, PipedError::Start(TraceError::Spawn { .. })),
            "{err:?}"
        );
    }
}
