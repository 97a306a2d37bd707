//! One verdict in every output (issue 11): a results file that a crash cut short merges to
//! "not met", with why, in the terminal, the JUnit file and the HTML page alike.

use crate::support::{NotMet, Sandbox};

/// See issue 11: a finished run whose results file then lost its tail to a crash (a torn
/// last line) is incomplete: `merge` exits 1 and says so in every output, though the run
/// met its expectation before the tear.
#[test]
fn r11_a_torn_results_file_merges_to_not_met_in_every_output() {
    let sb = Sandbox::new();
    let run = sb.crashtest_keep(&["run", "scenarios/seed-prefix.toml", "--trials", "20"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    let file = run.results_file.unwrap();
    let whole = sb.crashtest(&["merge", file.to_str().unwrap()]);
    assert_eq!(whole.code(), 0, "whole, it is met: {}", whole.stdout());
    // A crash while appending one more line leaves it torn.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(br#"{"type":"trial","scenario":"seed-prefix","se"#);
    std::fs::write(&file, &bytes).unwrap();
    let merged = sb.merge_not_met(
        &[&file],
        &NotMet {
            scenario: "seed-prefix",
            incomplete: true,
            junit_type: "incomplete",
            why: "ends in a torn line",
        },
    );
    // The findings before the tear still count.
    assert!(
        merged.stdout().contains("1 distinct failure in"),
        "{}",
        merged.stdout()
    );
}
