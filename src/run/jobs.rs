//! What a run will do, decided before any trial starts: the saved regressions (first
//! shard only), then either the scenario's trials (this shard's share) or, with
//! `--exhaustive`, every crash state of trial 0's workload, cut from one recorded run
//! where the recording can be trusted.

use std::collections::BTreeMap;
use std::io::Write;

use crate::case::CaseId;
use crate::errors::TrialError;
use crate::faults::FaultKind;
use crate::report::human;
use crate::run::{RunOptions, STATES_CHECKED, Shard, groups, regressions};
use crate::seed::Seed;
use crate::tracer::KillScope;
use crate::trial::states;
use crate::trial::{self, Overrides, Plan, Recording, TrialEnv};

/// One trial to run: its seed, index and overrides; `regression` when it came from the
/// scenario's saved regressions.
#[derive(Clone, Copy, Debug)]
pub(super) struct Job {
    pub(super) seed: Seed,
    pub(super) index: u64,
    pub(super) over: Overrides,
    pub(super) regression: bool,
    /// How the case's crash state is made.
    pub(super) state: StateFrom,
}

impl Job {
    /// The job's case id.
    pub(super) fn case(&self, opts: &RunOptions) -> CaseId {
        CaseId {
            scenario: opts.scenario_arg.clone(),
            seed: self.seed,
            trial: self.index,
            over: self.over,
        }
    }
}

/// Where a job's crash state comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StateFrom {
    /// A real kill in a run of its own (after a dry run).
    Kill,
    /// Cut from the run's recording, only replayed.
    Log,
    /// Cut from the recording, and checked against a real kill at the same point.
    LogChecked,
}

/// The jobs of a run, in the order they start.
pub(super) struct Jobs {
    pub(super) list: JobList,
    /// How many of them are saved regressions (they come first).
    pub(super) saved: usize,
    /// With `--exhaustive`: the crash states of trial 0.
    pub(super) exhaustive: Option<Exhaustive>,
    /// What the groups of trials cut from recordings share.
    pub(super) cuts: groups::Cuts,
}

/// An exhaustive run's states.
pub(super) struct Exhaustive {
    /// Every kill point and torn length of the recorded run.
    pub(super) plans: Vec<Plan>,
    /// The recording the states are cut from; `None` when every state re-runs the writer.
    pub(super) recording: Option<Recording>,
    /// How the states are made, in words for the first line.
    how: &'static str,
}

/// The jobs of a run by their place: those listed (saved regressions, exhaustive states),
/// then the scenario's trials of this shard, made when asked for, so that `trials =
/// 1000000000` with a budget costs no list of a billion jobs (see issue 13).
///
/// The scenario's trials come in groups of `per_run` consecutive trials (trials `g *
/// per_run ..`), and a shard holds whole groups: group g is in shard K/N when g mod N =
/// K - 1. When trials are cut from recordings, a group shares one recorded run
/// ([`super::groups`]); otherwise groups are of one trial and this is the plain filter
/// `index mod N = K - 1`.
pub(super) struct JobList {
    listed: Vec<Job>,
    /// The scenario's trials that follow the listed jobs: this many, of this seed, of
    /// this shard.
    trials: u64,
    seed: Seed,
    shard: Option<Shard>,
    /// Trials a group; 1 unless they are cut from recordings.
    per_run: u64,
    /// Whether a group's trials are cut from one recorded run.
    cut: bool,
}

/// What a worker takes at once: a listed job or a trial of its own, or a group of trials
/// cut from one recording.
#[derive(Clone, Debug)]
pub(super) enum Batch {
    /// One job at its place.
    One(usize, Job),
    /// Trials `first..first + count`, cut from a recording of trial `first`'s workload;
    /// the first is at place `pos`, the others follow.
    Group { pos: usize, first: u64, count: u64 },
}

impl JobList {
    /// How many jobs there are.
    pub(super) fn len(&self) -> usize {
        self.listed.len() + usize::try_from(self.trials).unwrap_or(usize::MAX)
    }

    /// The job at `pos`, if there is one.
    pub(super) fn get(&self, pos: usize) -> Option<Job> {
        if let Some(&job) = self.listed.get(pos) {
            return Some(job);
        }
        let nth = (pos - self.listed.len()) as u64;
        if nth >= self.trials {
            return None;
        }
        let index = self.group(nth / self.per_run) * self.per_run + nth % self.per_run;
        Some(Job {
            seed: self.seed,
            index,
            over: Overrides::default(),
            regression: false,
            state: StateFrom::Kill,
        })
    }

    /// The shard's `nth` group: group g is in shard K/N when g mod N = K - 1, so the
    /// shard's nth is nth * N + K - 1.
    fn group(&self, nth: u64) -> u64 {
        match self.shard {
            Some(s) => nth * s.n + s.k - 1,
            None => nth,
        }
    }

    /// The `nth` batch a worker takes, if there is one: the listed jobs one by one, then
    /// the trials, one by one or a group at a time.
    pub(super) fn batch(&self, nth: usize) -> Option<Batch> {
        if nth < self.listed.len() || !self.cut {
            return self.get(nth).map(|job| Batch::One(nth, job));
        }
        let group = (nth - self.listed.len()) as u64;
        let done = group.checked_mul(self.per_run)?;
        if done >= self.trials {
            return None;
        }
        Some(Batch::Group {
            pos: self.listed.len() + done as usize,
            first: self.group(group) * self.per_run,
            count: self.per_run.min(self.trials - done),
        })
    }

    /// The jobs that are listed (not the scenario's trials).
    pub(super) fn listed(&self) -> &[Job] {
        &self.listed
    }
}

/// The most write log a recording of a sampled run may be expected to hold, in bytes: it
/// is kept in memory while its states are cut, and a run's memory must not grow with its
/// records (trials of their own stream their records and log nothing).
const RECORDING_HOLDS: u64 = 8 << 20;

/// About how many bytes the write log of one of `sc`'s trials takes in memory: every
/// record at the largest payload, plus 160 bytes for its ops (a write and a sync, each
/// with its file's name) and header.
fn log_estimate(sc: &crate::scenario::Scenario) -> u64 {
    u64::from(sc.writers) * u64::from(sc.records) * (u64::from(sc.payload.max) + 160)
}

/// How many of trials `0..trials`, in groups of `per_run`, belong to `shard`.
fn in_shard(trials: u64, per_run: u64, shard: Option<Shard>) -> u64 {
    let Some(s) = shard else {
        return trials;
    };
    let groups = trials.div_ceil(per_run);
    if groups < s.k {
        return 0;
    }
    let mine = (groups - s.k) / s.n + 1;
    let last = s.k - 1 + (mine - 1) * s.n;
    // Every group is whole but the run's last, which may be short.
    let short = if last == groups - 1 {
        groups * per_run - trials
    } else {
        0
    };
    mine * per_run - short
}

impl Jobs {
    /// Trials planned, not counting saved regressions.
    pub(super) fn trials(&self) -> usize {
        self.list.len() - self.saved
    }

    /// Trials cut from each recorded run, when the scenario's trials are.
    pub(super) fn states_per_run(&self) -> Option<u64> {
        self.list.cut.then_some(self.list.per_run)
    }

    /// The recording trials are cut from, if any.
    pub(super) fn recording(&self) -> Option<&Recording> {
        self.exhaustive.as_ref()?.recording.as_ref()
    }

    /// The run's first line: what runs, of which target, how.
    pub(super) fn announce(&self, env: &TrialEnv, opts: &RunOptions, out: &mut dyn Write) {
        let sc = &env.scenario;
        let what = match &self.exhaustive {
            Some(ex) => {
                let torn = ex.plans.iter().filter(|p| p.tear.is_some()).count();
                let power = self.list.listed()[self.saved..]
                    .iter()
                    .filter(|j| j.over.fault == Some(FaultKind::PowerLoss))
                    .count();
                let power = if power > 0 {
                    format!(", {power} power losses")
                } else {
                    String::new()
                };
                format!(
                    "exhaustive: {} crash states of trial 0 ({} kill points, {torn} torn writes{power}{})",
                    self.trials(),
                    ex.plans.len() - torn,
                    ex.how
                )
            }
            None if self.list.cut => format!(
                "{} trials cut from {} recorded runs",
                self.trials(),
                (self.trials() as u64).div_ceil(self.list.per_run)
            ),
            None => format!("{} trials", self.trials()),
        };
        let mut extras = Vec::new();
        if self.saved > 0 {
            extras.push(format!("{} saved regressions first", self.saved));
        }
        if let Some(s) = opts.shard {
            extras.push(format!("shard {s}"));
        }
        if let Some(b) = opts.budget {
            extras.push(format!("budget {}", humantime::format_duration(b)));
        }
        let extras = if extras.is_empty() {
            String::new()
        } else {
            format!(" ({})", extras.join(", "))
        };
        let _ = writeln!(
            out,
            "crashtest: {}: {what}{extras} of target {}, seed {}, {} jobs, expect {}",
            sc.name,
            human::target_name(sc),
            sc.seed,
            opts.jobs,
            sc.expect
        );
    }
}

/// Decides the jobs of a run: saved regressions first (in the first shard only), then the
/// trials or the exhaustive states. Notes about how states are made go to `out`.
pub(super) fn plan(
    env: &TrialEnv,
    opts: &RunOptions,
    out: &mut dyn Write,
) -> Result<Jobs, TrialError> {
    let sc = &env.scenario;
    let mut list = saved_regressions(env, opts, out);
    let saved = list.len();
    let exhaustive = if opts.exhaustive {
        exhaustive(env, opts, out)?
    } else {
        None
    };
    // Trials cut from recordings, this many a recording; or each killing its own writer.
    let cut = match (&exhaustive, opts.cut) {
        (Some(_), _) | (None, None) => None,
        (None, Some(_)) if sc.writers > 1 && sc.crash == KillScope::One => {
            let _ = writeln!(
                out,
                "note: every trial kills its writers for real: with crash = \"one\" the other writers run on after the kill, which a recorded run does not show"
            );
            None
        }
        (None, Some(_)) if log_estimate(sc) > RECORDING_HOLDS => {
            let _ = writeln!(
                out,
                "note: every trial kills its writers for real: a recorded run of {} writer(s) x {} records of up to {} bytes would hold a write log of about {} MiB in memory, more than the {} MiB a recording may hold",
                sc.writers,
                sc.records,
                sc.payload.max,
                log_estimate(sc).div_ceil(1 << 20),
                RECORDING_HOLDS >> 20
            );
            None
        }
        (None, Some(n)) => {
            if sc.writers > 1 {
                let _ = writeln!(
                    out,
                    "note: the states of {} writers are cut from the interleaving each recorded run happened to have, and not checked against real kills",
                    sc.writers
                );
            }
            Some(n.max(1))
        }
    };
    let per_run = cut.unwrap_or(1);
    let trials = match &exhaustive {
        Some(ex) => {
            list.extend(exhaustive_jobs(env, ex, out));
            0
        }
        None => in_shard(sc.trials, per_run, opts.shard),
    };
    Ok(Jobs {
        list: JobList {
            listed: list,
            trials,
            seed: sc.seed,
            shard: opts.shard,
            per_run,
            cut: cut.is_some(),
        },
        saved,
        exhaustive,
        cuts: groups::Cuts::default(),
    })
}

/// The scenario's saved regressions, as jobs, when this run replays them.
fn saved_regressions(env: &TrialEnv, opts: &RunOptions, out: &mut dyn Write) -> Vec<Job> {
    if !opts.regressions || opts.shard.is_some_and(|s| s.k != 1) {
        return Vec::new();
    }
    let (cases, warnings) = regressions::load(&regressions::path_for(&env.scenario.path));
    for w in warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    cases
        .into_iter()
        .map(|c| Job {
            seed: c.seed,
            index: c.trial,
            over: c.over,
            regression: true,
            state: StateFrom::Kill,
        })
        .collect()
}

/// One recorded run of trial 0, and every crash state of it; `None` when the recording
/// itself failed (the trials then show why).
fn exhaustive(
    env: &TrialEnv,
    opts: &RunOptions,
    out: &mut dyn Write,
) -> Result<Option<Exhaustive>, TrialError> {
    let Ok(rec) = trial::Recording::make(env, 0)? else {
        return Ok(None);
    };
    let plans = rec.plans(env.scenario.sector);
    let unfit = rec.unfit(env);
    if let Some(why) = &unfit {
        let _ = writeln!(out, "note: every state runs the writer again: {why}");
    }
    Ok(Some(if opts.reexec || unfit.is_some() {
        Exhaustive {
            plans,
            recording: None,
            how: ", each by re-running the writer",
        }
    } else {
        Exhaustive {
            plans,
            recording: Some(rec),
            how: ", cut from one recorded run",
        }
    }))
}

/// The jobs of an exhaustive run: a sample of states checked against real kills first (a
/// log that cannot be trusted stops the run early), then the other states, then, with
/// power loss among the faults, the power loss drawn at every kill point.
fn exhaustive_jobs(env: &TrialEnv, ex: &Exhaustive, out: &mut dyn Write) -> Vec<Job> {
    let sc = &env.scenario;
    let plans = &ex.plans;
    // A kill can land while another writer's call is in flight, so a real kill of several
    // writers leaves one of several states: only one writer's states are checked byte for
    // byte.
    let checked = if sc.writers == 1 {
        states::sample(plans.len(), STATES_CHECKED)
    } else {
        if ex.recording.is_some() {
            let _ = writeln!(
                out,
                "note: the states of {} writers are cut from the interleaving of the recorded run and not checked against real kills",
                sc.writers
            );
        }
        Vec::new()
    };
    let job = |i: usize, over: Overrides| Job {
        seed: sc.seed,
        index: 0,
        over,
        regression: false,
        state: match (&ex.recording, checked.contains(&i)) {
            (None, _) => StateFrom::Kill,
            (Some(_), false) => StateFrom::Log,
            (Some(_), true) => StateFrom::LogChecked,
        },
    };
    let mut jobs: Vec<Job> = checked
        .iter()
        .map(|&i| job(i, Overrides::at(plans[i])))
        .collect();
    jobs.extend(
        (0..plans.len())
            .filter(|i| !checked.contains(i))
            .map(|i| job(i, Overrides::at(plans[i]))),
    );
    // Which unsynced writes and names land, which tear: drawn at each kill point.
    if FaultKind::PowerLoss.weight(&sc.faults) > 0 {
        jobs.extend(plans.iter().filter(|p| p.tear.is_none()).map(|&plan| {
            job(
                usize::MAX,
                Overrides {
                    fault: Some(FaultKind::PowerLoss),
                    ..Overrides::at(plan)
                },
            )
        }));
    }
    jobs
}

/// One trial environment per seed: saved regressions may come from runs with other seeds.
pub(super) struct Envs<'a> {
    main: &'a TrialEnv,
    others: BTreeMap<Seed, TrialEnv>,
}

impl<'a> Envs<'a> {
    /// The environments `jobs` need, `main`'s for its own seed.
    pub(super) fn new(main: &'a TrialEnv, jobs: &[Job]) -> Envs<'a> {
        let mut others = BTreeMap::new();
        for job in jobs {
            if job.seed != main.scenario.seed && !others.contains_key(&job.seed) {
                let mut scenario = main.scenario.clone();
                scenario.seed = job.seed;
                others.insert(
                    job.seed,
                    TrialEnv {
                        scenario,
                        ..main.clone()
                    },
                );
            }
        }
        Envs { main, others }
    }

    /// The run's own environment (its scenario's seed).
    pub(super) fn main(&self) -> &TrialEnv {
        self.main
    }

    /// The environment of a job of `seed`.
    pub(super) fn of(&self, seed: Seed) -> &TrialEnv {
        if seed == self.main.scenario.seed {
            self.main
        } else {
            &self.others[&seed]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trials_of_a_shard_are_made_in_order_as_a_filter_would_pick_them() {
        for trials in [0, 1, 2, 3, 7, 100] {
            for shard in [None, Some((1, 1)), Some((1, 3)), Some((2, 3)), Some((3, 3))] {
                let shard = shard.map(|(k, n)| Shard { k, n });
                let list = JobList {
                    listed: Vec::new(),
                    trials: in_shard(trials, 1, shard),
                    seed: Seed(4),
                    shard,
                    per_run: 1,
                    cut: false,
                };
                let made: Vec<u64> = (0..list.len())
                    .map(|pos| list.get(pos).unwrap().index)
                    .collect();
                let picked: Vec<u64> = (0..trials)
                    .filter(|&i| shard.is_none_or(|s| s.holds(i)))
                    .collect();
                assert_eq!(made, picked, "{trials} trials, shard {shard:?}");
                assert!(list.get(list.len()).is_none());
            }
        }
        // A billion trials are a count, not a list.
        let list = JobList {
            listed: Vec::new(),
            trials: in_shard(1_000_000_000, 1, None),
            seed: Seed(4),
            shard: None,
            per_run: 1,
            cut: false,
        };
        assert_eq!(list.len(), 1_000_000_000);
        assert_eq!(list.get(999_999_999).unwrap().index, 999_999_999);
    }

    /// The trials each batch of `list` holds, in batch order.
    fn batches(list: &JobList) -> Vec<Vec<u64>> {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some(batch) = list.batch(out.len()) {
            out.push(match batch {
                Batch::One(p, job) => {
                    assert_eq!(p, pos);
                    vec![job.index]
                }
                Batch::Group {
                    pos: p,
                    first,
                    count,
                } => {
                    assert_eq!(p, pos, "groups follow each other in place");
                    (first..first + count).collect()
                }
            });
            pos += out.last().unwrap().len();
        }
        assert_eq!(pos, list.len());
        out
    }

    #[test]
    fn shards_of_grouped_trials_hold_whole_groups_and_together_every_trial_once() {
        for trials in [0, 1, 7, 8, 9, 17, 100] {
            for per_run in [1, 3, 8] {
                for n in 1..=4 {
                    let mut seen = Vec::new();
                    for k in 1..=n {
                        let shard = Some(Shard { k, n });
                        let list = JobList {
                            listed: Vec::new(),
                            trials: in_shard(trials, per_run, shard),
                            seed: Seed(4),
                            shard,
                            per_run,
                            cut: true,
                        };
                        for group in batches(&list) {
                            let g = group[0] / per_run;
                            assert_eq!(g % n, k - 1, "group {g} belongs to shard {k}/{n}");
                            assert_eq!(group[0], g * per_run, "a group starts at its first trial");
                            assert!(group.len() as u64 <= per_run);
                            seen.extend(group);
                        }
                        // Places and trials agree with `get`.
                        let made: Vec<u64> = (0..list.len())
                            .map(|p| list.get(p).unwrap().index)
                            .collect();
                        let grouped: Vec<u64> = batches(&list).concat();
                        assert_eq!(
                            made, grouped,
                            "{trials} trials, {per_run} a group, shard {k}/{n}"
                        );
                    }
                    seen.sort_unstable();
                    assert_eq!(
                        seen,
                        (0..trials).collect::<Vec<_>>(),
                        "{trials} trials in {n} shards"
                    );
                }
            }
        }
    }
}
