//! The README quotes shipped files; a quote that drifted from its file teaches the wrong
//! thing (issue 13, item 10). Each `toml` block the README introduces with a scenario's
//! path must hold the same values as that file (comments and layout aside).

use crate::support;

/// Every (path, block) where the README says "`scenarios/NAME.toml` is ..." and the next
/// fenced block is TOML.
fn quoted_scenarios(readme: &str) -> Vec<(String, String)> {
    let mut quotes = Vec::new();
    let lines: Vec<&str> = readme.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(path) = line
            .split('`')
            .nth(1)
            .filter(|p| p.starts_with("scenarios/") && p.ends_with(".toml"))
        else {
            continue;
        };
        if !line.trim_end().ends_with(':') || lines.get(i + 2) != Some(&"```toml") {
            continue;
        }
        let block: Vec<&str> = lines[i + 3..]
            .iter()
            .take_while(|l| **l != "```")
            .copied()
            .collect();
        quotes.push((path.to_owned(), block.join("\n")));
    }
    quotes
}

#[test]
fn the_readmes_scenario_quotes_equal_the_files_they_quote() {
    let root = support::root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let quotes = quoted_scenarios(&readme);
    assert!(
        quotes.iter().any(|(p, _)| p == "scenarios/example.toml"),
        "the README's copy of scenarios/example.toml is found: {quotes:?}"
    );
    for (path, block) in quotes {
        let quoted: toml::Value = toml::from_str(&block)
            .unwrap_or_else(|e| panic!("README's copy of {path} is not TOML: {e}"));
        let file: toml::Value =
            toml::from_str(&std::fs::read_to_string(root.join(&path)).unwrap()).unwrap();
        assert_eq!(
            quoted, file,
            "the README's copy of {path} differs from the file"
        );
    }
}

/// The long options `crashtest SUB --help` lists, `--help` aside.
fn options_of(sub: &str) -> Vec<String> {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_crashtest"))
        .args([sub, "--help"])
        .output()
        .unwrap();
    assert!(help.status.success(), "crashtest {sub} --help");
    let mut options: Vec<String> = String::from_utf8(help.stdout)
        .unwrap()
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_alphanumeric())
                .to_owned()
        })
        .filter(|w| w != "--help")
        .collect();
    options.sort();
    options.dedup();
    options
}

/// The README's usage of each command (its bullet under "## Commands") names every
/// option the command takes, so a user reading it sees all there is.
#[test]
fn the_readmes_command_list_names_every_option() {
    let readme = std::fs::read_to_string(support::root().join("README.md")).unwrap();
    let commands = readme
        .split("\n## Commands\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Commands section");
    for sub in ["run", "repro", "merge", "report"] {
        let usage = commands
            .split("\n- ")
            .find(|bullet| bullet.starts_with(&format!("`crashtest {sub} ")))
            .unwrap_or_else(|| panic!("no bullet for crashtest {sub}"));
        let options = options_of(sub);
        assert!(!options.is_empty(), "crashtest {sub} --help lists options");
        for option in options {
            assert!(
                usage.contains(&option),
                "the README's usage of `crashtest {sub}` does not name {option}:\n{usage}"
            );
        }
    }
}
