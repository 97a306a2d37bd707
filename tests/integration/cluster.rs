//! The cluster examples in `harness/ci/` run the commands they show (issue 14, item 5).
//!
//! A Kubernetes Indexed Job numbers its pods `JOB_COMPLETION_INDEX` = 0..N-1 and a Slurm
//! array numbers its tasks as `--array` says (0-3 or 1-4), while `--shard K/N` is 1-based:
//! an example that passes the index straight through loses shard N and asks for a shard 0
//! that does not exist. These tests run the examples' own shell, as the cluster would, for
//! every index of a small N, against the built binary (first on PATH as `crashtest`), and
//! check that every shard 1..=N ran exactly once and that the shards' results merge into
//! the verdict of the unsharded run.
//!
//! The Kubernetes file is YAML, and no YAML crate is a dependency: the shell the pods run
//! sits between a `# crashtest-example: NAME` line and a `# crashtest-example: end` line
//! (comments to the shell), which [`marked_block`] cuts out. The Slurm script is run whole,
//! with the environment Slurm gives an array task.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{self, Sandbox};

/// Fast and shipped, and expect = "fail": its shards' findings must add up to the verdict.
const SCENARIO: &str = "scenarios/seed-prefix.toml";
/// The shard count the tests use (the examples ship 4).
const N: usize = 3;

/// The lines between `# crashtest-example: {name}` and `# crashtest-example: end`, with the
/// marker's indentation removed.
fn marked_block(text: &str, file: &str, name: &str) -> String {
    let start = format!("# crashtest-example: {name}");
    let mut lines = text.lines();
    let indent = lines
        .by_ref()
        .find(|l| l.trim() == start)
        .map(|l| l.len() - l.trim_start().len())
        .unwrap_or_else(|| panic!("{file} has no line `{start}`"));
    let mut block = String::new();
    for line in lines {
        if line.trim() == "# crashtest-example: end" {
            return block;
        }
        block.push_str(line.get(indent..).unwrap_or(line.trim_start()));
        block.push('\n');
    }
    panic!("{file}: `{start}` has no `# crashtest-example: end` after it");
}

/// A folder with a `crashtest` that is the binary under test, results and trial folders.
struct Cluster {
    sb: Sandbox,
    path: std::ffi::OsString,
}

impl Cluster {
    fn new() -> Cluster {
        let sb = Sandbox::new();
        let bin = sb.dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_crashtest"), bin.join("crashtest")).unwrap();
        let mut dirs = vec![bin];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let path = std::env::join_paths(dirs).unwrap();
        Cluster { sb, path }
    }

    fn results(&self) -> PathBuf {
        self.sb.results()
    }

    /// Runs `sh ARGS` in the crate root with `env`, trial folders in the sandbox, and
    /// checks that no trial folder and no writer or replay is left behind.
    fn sh(&self, args: &[&str], env: &[(&str, String)]) -> Output {
        let work = self.sb.work();
        let mut cmd = Command::new("sh");
        cmd.args(args)
            .current_dir(support::root())
            .env("PATH", &self.path)
            .env("TMPDIR", &work)
            .env_remove("CI");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let left: Vec<_> = std::fs::read_dir(&work).unwrap().collect();
        assert!(left.is_empty(), "trial folders left behind: {left:?}");
        let strays = support::processes_in(&work);
        assert!(strays.is_empty(), "processes left running: {strays:?}");
        out
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The line that says whether the run met its expectation (`OK: ...` / `NOT OK...`).
fn verdict(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("OK: ") || l.starts_with("NOT OK"))
        .unwrap_or_else(|| panic!("no verdict line:\n{}", text(out)))
        .to_owned()
}

/// `crashtest run SCENARIO` unsharded: its exit code and verdict line.
fn unsharded(cluster: &Cluster) -> (Option<i32>, String) {
    let results = cluster.sb.dir.path().join("unsharded");
    let out = cluster.sh(
        &[
            "-c",
            "crashtest run \"$SCENARIO\" --results \"$OUT\"",
            "unsharded",
        ],
        &[
            ("SCENARIO", SCENARIO.into()),
            ("OUT", results.display().to_string()),
        ],
    );
    (out.status.code(), verdict(&out))
}

/// The `--shard` each results file under `dir` (one folder deep) says it ran, by folder.
fn shards_in(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let folder = entry.unwrap().path();
        if !folder.is_dir() {
            continue;
        }
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        let mut shards = Vec::new();
        for file in std::fs::read_dir(&folder).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "jsonl") {
                let text = std::fs::read_to_string(&file).unwrap();
                let run: serde_json::Value =
                    serde_json::from_str(text.lines().next().unwrap()).unwrap();
                shards.push(run["shard"].as_str().unwrap_or("none").to_owned());
            }
        }
        found.insert(name, shards);
    }
    found
}

/// Folder `shard-K` holds exactly one results file, of shard K/N, for each K in 1..=N.
fn assert_each_shard_once(dir: &Path) {
    let want: BTreeMap<String, Vec<String>> = (1..=N)
        .map(|k| (format!("shard-{k}"), vec![format!("{k}/{N}")]))
        .collect();
    assert_eq!(shards_in(dir), want, "the shards under {}", dir.display());
}

/// The number after `key:` on the first line that starts with it (after indentation).
fn yaml_number(text: &str, key: &str) -> usize {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
        .and_then(|v| v.split('#').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{key}: NUMBER` in the Kubernetes example"))
}

#[test]
fn kubernetes_indexed_job_runs_each_shard_once_and_merges_to_the_unsharded_verdict() {
    let file = "harness/ci/kubernetes-indexed-job.yaml";
    let yaml = std::fs::read_to_string(support::root().join(file)).unwrap();

    // The shard count is written four times; they must agree.
    let completions = yaml_number(&yaml, "completions");
    assert_eq!(yaml_number(&yaml, "parallelism"), completions, "{file}");
    let shards: Vec<Option<usize>> = yaml
        .lines()
        .zip(yaml.lines().skip(1))
        .filter(|(name, _)| name.trim() == "- name: SHARDS")
        .map(|(_, value)| {
            let value = value.trim().strip_prefix("value: \"")?;
            value.split('"').next()?.parse().ok()
        })
        .collect();
    assert_eq!(
        shards,
        [Some(completions); 2],
        "{file}: SHARDS in the shard Job and the merge Job equals completions"
    );
    assert!(
        yaml.contains("completionMode: Indexed"),
        "{file}: JOB_COMPLETION_INDEX is set only in an Indexed Job"
    );

    let shard = marked_block(&yaml, file, "shard");
    let merge = marked_block(&yaml, file, "merge");
    let cluster = Cluster::new();
    let results = cluster.results();
    let env = |index: usize| {
        vec![
            ("JOB_COMPLETION_INDEX", index.to_string()),
            ("SHARDS", N.to_string()),
            ("SCENARIO", SCENARIO.into()),
            ("BUDGET", "120s".into()),
            ("RESULTS", results.display().to_string()),
        ]
    };
    // Every pod's index, 0-based as Kubernetes numbers them.
    for index in 0..N {
        let out = cluster.sh(&["-c", &shard, "shard"], &env(index));
        assert_eq!(out.status.code(), Some(0), "pod {index}: {}", text(&out));
    }
    assert_each_shard_once(&results);

    let merged = cluster.sh(&["-c", &merge, "merge"], &env(0));
    let (code, whole) = unsharded(&cluster);
    assert_eq!(merged.status.code(), code, "{}", text(&merged));
    assert_eq!(
        verdict(&merged),
        whole,
        "merged shards against the whole run"
    );
    for report in ["junit.xml", "report.html"] {
        assert!(
            results.join(report).is_file(),
            "the merge writes {report} beside the shards"
        );
    }

    // An index past the last (the arithmetic without its +1 would ask for 0/N and lose
    // N/N): crashtest refuses the shard, and the pod fails with the usage exit code.
    let out = cluster.sh(&["-c", &shard, "shard"], &env(N));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("'{}/{N}'", N + 1)),
        "{}",
        text(&out)
    );

    // A pod whose crashtest failed (here: a scenario that is not there, exit 2) fails,
    // and so does the merge, naming the shard; so does a shard that never ended.
    let mut broken = env(0);
    for (name, value) in &mut broken {
        if *name == "SCENARIO" {
            *value = "scenarios/no-such.toml".into();
        }
    }
    let out = cluster.sh(&["-c", &shard, "shard"], &broken);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = cluster.sh(&["-c", &merge, "merge"], &env(0));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("shard 1 of {N} failed: crashtest exited 2")),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(results.join("shard-1")).unwrap();
    let out = cluster.sh(&["-c", &merge, "merge"], &env(0));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("shard 1 of {N} did not finish")),
        "{}",
        text(&out)
    );
}

#[test]
fn slurm_array_runs_each_shard_once_from_0_or_1_based_arrays_and_merges_to_the_unsharded_verdict() {
    let script = "harness/ci/slurm-array.sh";
    let text_of_script = std::fs::read_to_string(support::root().join(script)).unwrap();
    let array = text_of_script
        .lines()
        .find_map(|l| l.strip_prefix("#SBATCH --array="))
        .unwrap_or_else(|| panic!("{script} has no #SBATCH --array line"));
    let (lo, hi) = array
        .split_once('-')
        .and_then(|(lo, hi)| Some((lo.parse::<usize>().ok()?, hi.parse::<usize>().ok()?)))
        .unwrap_or_else(|| panic!("{script}: --array={array} is not a range LO-HI"));
    assert!(
        lo <= 1 && hi >= lo,
        "{script}: --array={array} starts at 0 or 1"
    );

    let cluster = Cluster::new();
    let syntax = cluster.sh(&["-n", script], &[]);
    assert_eq!(syntax.status.code(), Some(0), "{}", text(&syntax));
    let results = cluster.results();
    let (code, whole) = unsharded(&cluster);
    let env = |job: &str, ids: (usize, usize), id: usize| {
        vec![
            ("SLURM_ARRAY_JOB_ID", job.to_owned()),
            ("SLURM_ARRAY_TASK_ID", id.to_string()),
            ("SLURM_ARRAY_TASK_MIN", ids.0.to_string()),
            ("SLURM_ARRAY_TASK_MAX", ids.1.to_string()),
            ("SLURM_ARRAY_TASK_COUNT", N.to_string()),
            ("CRASHTEST_RESULTS", results.display().to_string()),
            ("SCENARIO", SCENARIO.into()),
            ("BUDGET", "120s".into()),
        ]
    };
    // `--array=0-2` and `--array=1-3`: the same three shards either way.
    for (job, first) in [("100", 0), ("101", 1)] {
        let ids = (first, first + N - 1);
        for id in ids.0..=ids.1 {
            let out = cluster.sh(&[script], &env(job, ids, id));
            assert_eq!(
                out.status.code(),
                Some(0),
                "task {job}_{id}: {}",
                text(&out)
            );
        }
        let shards = results.join(job);
        assert_each_shard_once(&shards);

        let merged = cluster.sh(
            &[script, "merge", job],
            &[("CRASHTEST_RESULTS", results.display().to_string())],
        );
        assert_eq!(merged.status.code(), code, "merge {job}: {}", text(&merged));
        assert_eq!(verdict(&merged), whole, "merged shards of job {job}");
        assert!(shards.join("junit.xml").is_file() && shards.join("report.html").is_file());
    }

    // A stepped array (`--array=0-4:2`: tasks 0, 2, 4 of 3) is not contiguous: the last
    // task's shard would be 5/3, which crashtest refuses.
    let out = cluster.sh(&[script], &env("102", (0, 4), 4));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("'5/3'"), "{}", text(&out));

    // A task that never ended (killed at the time limit, say) fails the merge, naming it.
    std::fs::remove_dir_all(results.join("100").join("shard-2")).unwrap();
    let out = cluster.sh(
        &[script, "merge", "100"],
        &[("CRASHTEST_RESULTS", results.display().to_string())],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("shard 2 of {N} did not finish")),
        "{}",
        text(&out)
    );

    // The merge of an array none of whose tasks started says so.
    let out = cluster.sh(
        &[script, "merge", "999"],
        &[("CRASHTEST_RESULTS", results.display().to_string())],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no shard of job 999"), "{}", text(&out));
}
