//! Helpers shared by the integration tests: run the real `crashtest` binary in a sandbox
//! folder, read its results, and check that it left nothing behind.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The crate's root, where `scenarios/` lives.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A folder for one test's results and trial folders.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    /// PATH for crashtest's runs, when a test set one (`with_real_python3`).
    path: Option<OsString>,
    /// Results files kept so far.
    kept: std::sync::atomic::AtomicU64,
}

/// One finished `crashtest` invocation.
pub struct Run {
    pub output: Output,
    pub lines: Vec<Value>,
    /// With `crashtest_keep`: where the results file was kept.
    pub results_file: Option<PathBuf>,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output
            .status
            .code()
            .expect("crashtest exited normally")
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn findings(&self) -> Vec<&Value> {
        self.lines
            .iter()
            .filter(|l| l["type"] == "finding")
            .collect()
    }
    pub fn summary(&self) -> &Value {
        self.lines
            .iter()
            .find(|l| l["type"] == "summary")
            .expect("a summary line")
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
            path: None,
            kept: Default::default(),
        }
    }

    /// Runs crashtest with the folder of the real `python3` interpreter first on PATH.
    /// A version manager's `python3` can be a shell script (pyenv's shim runs dozens of
    /// processes before the interpreter): traced and run three times per trial, it would
    /// make the Python targets' trials several times slower without testing anything.
    /// Panics, failing the test, when `python3` is missing (`harness/deps` installs it).
    pub fn with_real_python3(mut self) -> Sandbox {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .unwrap_or_else(|e| {
                panic!("this test needs python3 on PATH (harness/deps installs it): {e}")
            });
        assert!(out.status.success(), "python3 failed: {out:?}");
        let exe = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end());
        let mut dirs = vec![exe.parent().expect("an absolute path").to_path_buf()];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        self.path = Some(std::env::join_paths(dirs).unwrap());
        self
    }

    pub fn results(&self) -> PathBuf {
        self.dir.path().join("results")
    }

    pub fn work(&self) -> PathBuf {
        let w = self.dir.path().join("work");
        std::fs::create_dir_all(&w).unwrap();
        w
    }

    /// Writes a scenario file into the sandbox and returns its path.
    pub fn scenario(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Builds the Go module in `module` (relative to the crate root) into the sandbox as
    /// `name` and returns the binary's path. The Go build cache goes into the sandbox, and
    /// nothing is fetched: the targets use the standard library only. Panics, failing the
    /// test, when `go` is not on PATH (`.ci/run` installs it).
    pub fn go_build(&self, module: &str, name: &str) -> PathBuf {
        let out = self.dir.path().join(name);
        let go = self.dir.path().join("go");
        let built = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg(".")
            .current_dir(root().join(module))
            .env("GOCACHE", go.join("cache"))
            .env("GOPATH", go.join("path"))
            .env("GOPROXY", "off")
            .env("GOTOOLCHAIN", "local")
            .output()
            .unwrap_or_else(|e| {
                panic!("this test needs the Go toolchain: `go` on PATH (.ci/run installs golang-go): {e}")
            });
        assert!(
            built.status.success(),
            "go build in {module} failed:\n{}",
            String::from_utf8_lossy(&built.stderr)
        );
        out
    }

    /// Runs `crashtest ARGS` from the crate root with results and trial folders in the
    /// sandbox; afterwards checks that no trial folder and no process of it is left.
    pub fn crashtest(&self, args: &[&str]) -> Run {
        self.run_crashtest(args, false)
    }

    /// Like [`Sandbox::crashtest`], but keeps the results file (in a folder of its own)
    /// and says where it is.
    pub fn crashtest_keep(&self, args: &[&str]) -> Run {
        self.run_crashtest(args, true)
    }

    /// Like [`Sandbox::crashtest`], with trial folders in `work` instead of the sandbox's,
    /// and `adjust` applied to the command before it starts.
    pub fn crashtest_in(
        &self,
        work: &Path,
        args: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> Run {
        self.run_crashtest_in(work, args, false, adjust)
    }

    fn run_crashtest(&self, args: &[&str], keep: bool) -> Run {
        self.run_crashtest_in(&self.work(), args, keep, |_| {})
    }

    fn run_crashtest_in(
        &self,
        work: &Path,
        args: &[&str],
        keep: bool,
        adjust: impl FnOnce(&mut Command),
    ) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_crashtest"));
        cmd.args(args).current_dir(root());
        if let Some(path) = &self.path {
            cmd.env("PATH", path);
        }
        if matches!(args.first(), Some(&"run")) {
            cmd.arg("--results").arg(self.results());
        }
        if matches!(args.first(), Some(&"run") | Some(&"repro")) {
            cmd.arg("--work-dir").arg(work);
        }
        adjust(&mut cmd);
        let output = cmd.output().unwrap();
        self.assert_clean(work);
        let file = std::fs::read_dir(self.results()).ok().and_then(|entries| {
            let mut files: Vec<PathBuf> = entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                .collect();
            files.sort();
            files.pop()
        });
        let lines = file
            .as_ref()
            .map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        // Each run gets its own results file: move it away (or remove it) so that the next
        // run's is the only one.
        let results_file = match (&file, keep) {
            (Some(f), true) => {
                let kept = self.dir.path().join(format!(
                    "kept-{}",
                    self.kept.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                ));
                std::fs::create_dir_all(&kept).unwrap();
                let to = kept.join(f.file_name().unwrap());
                std::fs::rename(f, &to).unwrap();
                let summary = f.with_extension("summary.json");
                if summary.exists() {
                    std::fs::rename(&summary, to.with_extension("summary.json")).unwrap();
                }
                Some(to)
            }
            _ => None,
        };
        if !keep {
            let _ = std::fs::remove_dir_all(self.results());
        }
        Run {
            output,
            lines,
            results_file,
        }
    }

    fn assert_clean(&self, work: &Path) {
        let left: Vec<_> = std::fs::read_dir(work)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "trial folders left behind: {left:?}");
        // Processes die asynchronously after SIGKILL; give the kernel a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let strays = processes_in(work);
            if strays.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "processes left running: {strays:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Processes whose CRASHTEST_DIR lies under `work` (writers and replays of this sandbox).
pub fn processes_in(work: &Path) -> Vec<String> {
    let needle = format!("CRASHTEST_DIR={}", work.canonicalize().unwrap().display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|&b| b == 0)
            .any(|kv| kv.starts_with(needle.as_bytes()))
        {
            let state = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // A zombie is dead already; only a live process is a stray.
            if !state.contains(") Z ") {
                found.push(format!("{pid}: {state}"));
            }
        }
    }
    found
}

/// Asserts that a run's summary drew each of `faults` at least `min` times and crashed
/// recovery itself (recovery-crash) more than 10 times: the checks really ran.
pub fn assert_faults_and_recovery_crashes(summary: &Value, faults: &[&str], min: u64) {
    for fault in faults {
        assert!(
            summary["faults"][fault].as_u64().unwrap_or(0) >= min,
            "{fault} ran too rarely: {summary}"
        );
    }
    assert!(
        summary["recovery_crashes"].as_u64().unwrap() > 10,
        "recovery was crashed too rarely: {summary}"
    );
}

/// A small file system of its own, mounted for one test and unmounted when dropped: a tmpfs,
/// or else a loop-mounted ext4 image. `None`, with the reason, where this machine lets
/// neither be mounted (mounting needs root).
pub struct SmallFs {
    pub dir: PathBuf,
    image: Option<PathBuf>,
}

impl SmallFs {
    pub fn mount(at: &Path, kib: u64) -> Result<SmallFs, String> {
        std::fs::create_dir_all(at).unwrap();
        let tmpfs = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(at)
            .output();
        let why_tmpfs = match tmpfs {
            Ok(out) if out.status.success() => {
                return Ok(SmallFs {
                    dir: at.to_owned(),
                    image: None,
                });
            }
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            Err(e) => e.to_string(),
        };
        let image = at.with_extension("img");
        let made = std::fs::File::create(&image)
            .and_then(|f| f.set_len(kib.max(1024) * 1024))
            .and_then(|()| {
                Command::new("mkfs.ext4")
                    .args(["-q", "-F", "-m", "0"])
                    .arg(&image)
                    .output()
            })
            .and_then(|_| {
                Command::new("mount")
                    .args(["-o", "loop"])
                    .arg(&image)
                    .arg(at)
                    .output()
            });
        match made {
            Ok(out) if out.status.success() => Ok(SmallFs {
                dir: at.to_owned(),
                image: Some(image),
            }),
            Ok(out) => Err(format!(
                "mount -t tmpfs: {why_tmpfs}; mount -o loop (ext4 image): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Err(format!("mount -t tmpfs: {why_tmpfs}; ext4 image: {e}")),
        }
    }

    /// Writes a file of zeroes until at most `leave` bytes of the file system are free.
    pub fn fill(&self, leave: u64) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.dir.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        loop {
            let st = nix::sys::statvfs::statvfs(&self.dir).unwrap();
            let free = st.blocks_free() as u64 * st.fragment_size() as u64;
            if free <= leave {
                break;
            }
            let n = chunk.len().min((free - leave) as usize);
            match f.write_all(&chunk[..n]) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", self.dir.display()),
            }
            f.sync_all().unwrap();
        }
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // Lazy: a process still holding a file there does not keep the mount.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        if let Some(image) = &self.image {
            let _ = std::fs::remove_file(image);
        }
    }
}

/// How a merge that is not met must say it, in every output (issue 11: one verdict).
pub struct NotMet<'a> {
    /// The scenario's name.
    pub scenario: &'a str,
    /// Whether the run did not finish (`NOT OK (incomplete)`), rather than finished and
    /// failed its expectation (`NOT OK`).
    pub incomplete: bool,
    /// The JUnit `<failure type=...>`: `incomplete`, `failed` or `no-bug-found`.
    pub junit_type: &'a str,
    /// Words of the reason, which every output must show.
    pub why: &'a str,
}

impl Sandbox {
    /// `crashtest merge FILES --junit --report`, checked to say "not met" the same way in
    /// the terminal, the JUnit file and the HTML page, with `not_met.why` in each and exit
    /// 1. Returns the merge's run.
    pub fn merge_not_met(&self, files: &[&Path], not_met: &NotMet<'_>) -> Run {
        let junit = self.dir.path().join("merged.xml");
        let page = self.dir.path().join("merged.html");
        let mut args = vec![
            "merge",
            "--junit",
            junit.to_str().unwrap(),
            "--report",
            page.to_str().unwrap(),
        ];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        let merged = self.crashtest(&args);
        let (out, why) = (merged.stdout(), not_met.why);
        assert_eq!(merged.code(), 1, "{out}{}", merged.stderr());
        let head = if not_met.incomplete {
            "NOT OK (incomplete)"
        } else {
            "NOT OK"
        };
        assert!(
            out.contains(&format!("{head}: {}:", not_met.scenario)) && out.contains(why),
            "{out}"
        );
        let xml = std::fs::read_to_string(&junit).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap_or_else(|| panic!("a failure: {xml}"));
        assert_eq!(failure.attribute("type"), Some(not_met.junit_type), "{xml}");
        assert!(failure.attribute("message").unwrap().contains(why), "{xml}");
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(
            !html.contains("every expectation met"),
            "the page's headline"
        );
        let cell = if not_met.incomplete {
            "<td class=\"met incomplete\">"
        } else {
            "<td class=\"met no\">"
        };
        assert!(
            html.contains(cell) && html.contains(why),
            "the page's table"
        );
        merged
    }
}
