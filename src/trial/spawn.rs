//! Starting a target for a trial: its command with the protocol's environment, the
//! writers traced together with their pipes wired, and the replay contained.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use crate::errors::{PipedError, TraceError, TrialError};
use crate::process::{self, Captured, Finished};
use crate::protocol::Role;
use crate::target::TargetKind;
use crate::tracer::{Trace, TraceOptions, WriterEnd, run_piped};
use crate::trial::env::TrialEnv;
use crate::trial::machine;
use crate::trial::plan::KillPlan;
use crate::workload::Workload;

/// One run of the writers: the trace and each writer's output.
#[derive(Clone)]
pub(crate) struct WritersRun {
    pub(crate) trace: Trace,
    pub(crate) stdouts: Vec<Captured>,
    pub(crate) stderrs: Vec<Captured>,
}

/// The writer's or replay's command for trial `index` in folder `dir`, with the
/// protocol's environment (not yet contained or traced).
pub fn target_command(env: &TrialEnv, dir: &Path, role: Role, writer: u32, index: u64) -> Command {
    let sc = &env.scenario;
    let mut cmd = match &sc.target.kind {
        TargetKind::Builtin(wal) => {
            let mut cmd = Command::new(&env.exe);
            cmd.args(["target", wal.name(), role.word()]);
            cmd
        }
        TargetKind::Command { writer, replay } => {
            let argv = match role {
                Role::Write => writer,
                Role::Replay => replay,
            };
            let mut cmd = Command::new(&argv[0]);
            cmd.args(&argv[1..]);
            cmd
        }
    };
    cmd.current_dir(&sc.target.cwd)
        .env("CRASHTEST_DIR", dir)
        .env("CRASHTEST_WRITERS", sc.writers.to_string())
        .env("CRASHTEST_SEED", sc.seed.trial_seed(index).to_string());
    match role {
        Role::Write => cmd.env("CRASHTEST_WRITER", writer.to_string()),
        Role::Replay => cmd.env_remove("CRASHTEST_WRITER"),
    };
    cmd
}

/// Runs every writer traced in `dir`, each fed its stream of `workload` as it reads it.
/// `Ok(Err(why))` is a writer that could not be started: the target's fault, reported as
/// a verdict.
pub(crate) fn run_writers(
    env: &TrialEnv,
    dir: &Path,
    workload: &Workload,
    kill: Option<KillPlan>,
    record_ops: bool,
    index: u64,
) -> Result<Result<WritersRun, TraceError>, TrialError> {
    let inputs = workload
        .streams()
        .iter()
        .map(|s| Box::new(s.input()) as Box<dyn Read + Send + '_>)
        .collect();
    let cmds: Vec<Command> = (0..workload.streams().len() as u32)
        .map(|w| target_command(env, dir, Role::Write, w, index))
        .collect();
    run_traced(env, dir, cmds, inputs, kill, record_ops)
}

/// Runs `cmds` traced together, feeding each its input ([`run_piped`]). `Ok(Err(_))` is a
/// [`TraceError::Spawn`] of the target's making (no such program, not executable); one
/// the machine caused, and a failure on a full file system, are errors
/// ([`machine::machine_failed_start`], [`machine::blame_machine`]).
pub(crate) fn run_traced(
    env: &TrialEnv,
    dir: &Path,
    mut cmds: Vec<Command>,
    inputs: Vec<Box<dyn Read + Send + '_>>,
    kill: Option<KillPlan>,
    record_ops: bool,
) -> Result<Result<WritersRun, TraceError>, TrialError> {
    let opts = TraceOptions {
        dir,
        files: &env.files,
        kill_at: kill.map(|k| k.at),
        kill_scope: env.scenario.crash,
        tear: kill.and_then(|k| k.tear),
        sector: env.scenario.sector,
        record_ops,
        // No traced run's flushes change a crash state: a kill keeps the page cache, and
        // a power loss is drawn from the syncs in the write log, which keeps them as
        // boundaries and ops. Each would cost a disk's latency.
        skip_syncs: true,
        timeout: env.scenario.timeout,
    };
    let run = match run_piped(&mut cmds, inputs, env.scenario.limits, &opts) {
        Ok(run) => run,
        Err(PipedError::Start(TraceError::Spawn { program, source })) => {
            if let Some(machine) = machine::machine_failed_start(
                env,
                "start the target under the tracer",
                &program,
                dir,
                &source,
                true,
            ) {
                return Err(machine.into());
            }
            return Ok(Err(TraceError::Spawn { program, source }));
        }
        Err(PipedError::Start(e) | PipedError::Run(e)) => return Err(e.into()),
        Err(PipedError::Output(source)) => {
            return Err(TrialError::Io {
                what: "read the writer's output",
                path: dir.to_owned(),
                source,
            });
        }
    };
    let failed = |end: &WriterEnd| {
        matches!(end, WriterEnd::Signaled { .. })
            || matches!(end, WriterEnd::Exited { code } if *code != 0)
    };
    if run.result.ends.iter().any(failed) {
        machine::blame_machine(env, dir)?;
    }
    Ok(Ok(WritersRun {
        trace: run.result,
        stdouts: run.stdouts,
        stderrs: run.stderrs,
    }))
}

/// Runs the replay in `dir`. One that failed on a full file system, or could not run for
/// want of the machine's resources, is an error, not a verdict.
pub(crate) fn run_replay(env: &TrialEnv, dir: &Path, index: u64) -> Result<Finished, TrialError> {
    let mut cmd = target_command(env, dir, Role::Replay, 0, index);
    match process::run(&mut cmd, b"", env.scenario.timeout, env.scenario.limits) {
        Ok(done) => {
            if done.status.is_some_and(|s| !s.success()) {
                machine::blame_machine(env, dir)?;
            }
            Ok(done)
        }
        Err(e) => {
            if let Some(machine) = machine::machine_failed_start(
                env,
                "run the replay",
                cmd.get_program(),
                dir,
                &e,
                false,
            ) {
                return Err(machine.into());
            }
            // A replay that cannot start is reported like one that failed, saying why in
            // the target's words when its program is missing or not executable.
            let why =
                process::find_program(&cmd).map_or_else(|why| why.to_string(), |_| e.to_string());
            Ok(Finished {
                status: Some(std::os::unix::process::ExitStatusExt::from_raw(127 << 8)),
                stdout: Captured::default(),
                stderr: Captured::new(
                    format!("failed to start replay {:?}: {why}", cmd.get_program()).into_bytes(),
                    false,
                ),
            })
        }
    }
}
