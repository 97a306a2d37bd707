//! Renders results files as one HTML page with `crashtest::html::render`, until the CLI
//! has `crashtest report`: `cargo run --example render_report -- RESULTS... OUT.html`.
//! Used by `harness/ci/check-report.sh`. A line that is not JSON is skipped with a warning.

use std::error::Error;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((out, inputs)) = args.split_last().filter(|(_, inputs)| !inputs.is_empty()) else {
        eprintln!("usage: render_report RESULTS.jsonl... OUT.html");
        return ExitCode::from(2);
    };
    match run(inputs, out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("render_report: error: {e}");
            ExitCode::from(3)
        }
    }
}

fn run(inputs: &[String], out: &str) -> Result<(), Box<dyn Error>> {
    let mut lines = Vec::new();
    for path in inputs {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("failed to read results at {path}: {e}"))?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(value) => lines.push(value),
                Err(_) => eprintln!("{path}:{}: unparsable line, ignoring", n + 1),
            }
        }
    }
    std::fs::write(out, crashtest::html::render(&lines))
        .map_err(|e| format!("failed to write the report at {out}: {e}"))?;
    Ok(())
}
