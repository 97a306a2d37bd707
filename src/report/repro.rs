//! The command that reproduces a case, as a user pastes it into a shell.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::OnceLock;

use crate::case::CaseId;

/// The command that reproduces a case, as the user can paste it (see [`program`]).
pub fn repro_command(case: &CaseId) -> String {
    command_line(program(), case)
}

fn command_line(program: &str, case: &CaseId) -> String {
    format!("{program} repro {}", shell_word(&case.to_string()))
}

/// How to type this crashtest in the folder it runs in: `crashtest` when that name on
/// `PATH` is this very binary, else its path (relative when it lies below the current
/// folder, as `target/release/crashtest` does after `cargo run`). A printed repro line is
/// then one a user can paste as it is, installed or not.
pub fn program() -> &'static str {
    static PROGRAM: OnceLock<String> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let (Ok(exe), Ok(cwd)) = (std::env::current_exe(), std::env::current_dir()) else {
            return "crashtest".to_owned();
        };
        program_in(&exe, &cwd, std::env::var_os("PATH").as_deref())
    })
}

fn program_in(exe: &Path, cwd: &Path, path: Option<&OsStr>) -> String {
    let exe = exe.canonicalize().unwrap_or_else(|_| exe.to_owned());
    // The first `crashtest` on PATH is the one a shell would run.
    let on_path = path
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("crashtest"))
        .find(|p| crate::process::executable(p).is_ok());
    if on_path.and_then(|p| p.canonicalize().ok()).as_deref() == Some(exe.as_path()) {
        return "crashtest".to_owned();
    }
    let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_owned());
    let shown = match exe.strip_prefix(&cwd) {
        Ok(below) if below.parent().is_some_and(|p| !p.as_os_str().is_empty()) => below.to_owned(),
        Ok(below) => Path::new(".").join(below),
        Err(_) => exe,
    };
    shell_word(&shown.to_string_lossy())
}

fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repro_command_quotes_only_what_needs_it() {
        let case = |text: &str| text.parse::<CaseId>().unwrap();
        assert_eq!(
            command_line("crashtest", &case("scenarios/a.toml@7/41")),
            "crashtest repro scenarios/a.toml@7/41"
        );
        assert_eq!(
            command_line("crashtest", &case("scenarios/a.toml@2/0/k5t512/ftorn")),
            "crashtest repro scenarios/a.toml@2/0/k5t512/ftorn"
        );
        assert_eq!(
            command_line("crashtest", &case("my dir/a.toml@1/0")),
            "crashtest repro 'my dir/a.toml@1/0'"
        );
    }

    /// Real files: a folder holding `crashtest` (a symlink to a binary, or another file)
    /// put on PATH or not.
    #[test]
    fn the_program_is_named_as_a_shell_in_the_current_folder_would_run_it() {
        let top = tempfile::tempdir().unwrap();
        let top = top.path().canonicalize().unwrap();
        let build = top.join("target/release");
        std::fs::create_dir_all(&build).unwrap();
        let exe = build.join("crashtest");
        std::fs::copy("/bin/true", &exe).unwrap();
        let bin = top.join("bin");
        std::fs::create_dir(&bin).unwrap();
        let other = top.join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::copy("/bin/true", other.join("crashtest")).unwrap();
        std::os::unix::fs::symlink(&exe, bin.join("crashtest")).unwrap();
        let path = |dirs: &[&Path]| std::env::join_paths(dirs).unwrap();

        // Installed: the first crashtest on PATH is this binary (through a symlink).
        let on = path(&[Path::new("/nonexistent"), &bin, &other]);
        assert_eq!(program_in(&exe, &top, Some(&on)), "crashtest");
        // Another crashtest comes first, or none is on PATH: the path, from the folder.
        let shadowed = path(&[&other, &bin]);
        assert_eq!(
            program_in(&exe, &top, Some(&shadowed)),
            "target/release/crashtest"
        );
        assert_eq!(program_in(&exe, &top, None), "target/release/crashtest");
        assert_eq!(program_in(&exe, &build, None), "./crashtest");
        assert_eq!(
            program_in(&exe, &other, None),
            exe.to_str().unwrap(),
            "outside the current folder, the whole path"
        );
        // A name that needs quoting in a shell is quoted.
        let spaced = top.join("my build");
        std::fs::create_dir(&spaced).unwrap();
        std::fs::copy("/bin/true", spaced.join("crashtest")).unwrap();
        assert_eq!(
            program_in(&spaced.join("crashtest"), &top, None),
            "'my build/crashtest'"
        );
    }
}
