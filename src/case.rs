//! Case ids: one string that names a trial exactly, printed in the terminal, the results
//! file, the JUnit failure and the HTML report, and accepted by `crashtest repro`.
//!
//! `<scenario path>@<seed>/<trial>[/r<records>][/p<max payload>][/k<kill boundary>[t<tear>]][/f<fault>]`,
//! e.g. `scenarios/smoke.toml@1/41` or, shrunk, `scenarios/smoke.toml@1/41/r3/p16/k5/fkill`.

use std::fmt;
use std::str::FromStr;

use crate::faults::FaultKind;
use crate::seed::Seed;
use crate::trial::{Overrides, Plan};

/// A trial of a scenario, with what a shrunk or exhaustive case changes in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CaseId {
    /// The scenario file, as the user named it.
    pub scenario: String,
    /// The run seed.
    pub seed: Seed,
    /// The trial index.
    pub trial: u64,
    /// The overrides.
    pub over: Overrides,
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}/{}", self.scenario, self.seed, self.trial)?;
        if let Some(n) = self.over.records {
            write!(f, "/r{n}")?;
        }
        if let Some(n) = self.over.max_payload {
            write!(f, "/p{n}")?;
        }
        if let Some(plan) = self.over.plan {
            write!(f, "/k{}", plan.kill_at)?;
            if let Some(t) = plan.tear {
                write!(f, "t{t}")?;
            }
        }
        if let Some(fault) = self.over.fault {
            write!(f, "/f{fault}")?;
        }
        Ok(())
    }
}

const FORM: &str = "SCENARIO@SEED/TRIAL[/rRECORDS][/pBYTES][/kBOUNDARY[tBYTES]][/fFAULT], e.g. scenarios/smoke.toml@1/41";

impl FromStr for CaseId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| format!("case id '{s}' {why}: it must look like {FORM}");
        let (scenario, rest) = s.rsplit_once('@').ok_or_else(|| bad("has no '@'"))?;
        if scenario.is_empty() {
            return Err(bad("names no scenario"));
        }
        let mut parts = rest.split('/');
        let seed = parts
            .next()
            .unwrap_or("")
            .parse::<Seed>()
            .map_err(|_| bad("has no decimal seed after '@'"))?;
        let trial = parts
            .next()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| bad("has no trial index after the seed"))?;
        let mut over = Overrides::default();
        let number = |text: &str, what: &str| {
            text.parse::<u64>()
                .map_err(|_| bad(&format!("has a bad {what} '{text}'")))
        };
        // Record counts and payload sizes are u32: a larger number is refused, not wrapped
        // (`r4294967296` once meant 0 records).
        let small = |text: &str, what: &str| {
            text.parse::<u32>()
                .map_err(|_| bad(&format!("has a bad {what} '{text}'")))
        };
        for part in parts {
            match part.split_at_checked(1) {
                Some(("r", n)) if over.records.is_none() => {
                    over.records = Some(small(n, "record count")?)
                }
                Some(("p", n)) if over.max_payload.is_none() => {
                    over.max_payload = Some(small(n, "payload size")?)
                }
                Some(("k", n)) if over.plan.is_none() => {
                    let (kill, tear) = match n.split_once('t') {
                        Some((k, t)) => {
                            (number(k, "kill boundary")?, Some(number(t, "tear length")?))
                        }
                        None => (number(n, "kill boundary")?, None),
                    };
                    over.plan = Some(Plan {
                        kill_at: kill,
                        tear,
                    });
                }
                Some(("f", name)) if over.fault.is_none() => {
                    let fault = FaultKind::ALL.into_iter().find(|k| k.name() == name);
                    over.fault =
                        Some(fault.ok_or_else(|| bad(&format!("has an unknown fault '{name}'")))?);
                }
                _ => return Err(bad(&format!("has an unknown or repeated part '{part}'"))),
            }
        }
        Ok(CaseId {
            scenario: scenario.to_owned(),
            seed,
            trial,
            over,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_round_trip() {
        for text in [
            "scenarios/smoke.toml@1/41",
            "a b/x.toml@0/0/r3",
            "s.toml@7/2/r3/p16/k5",
            "s.toml@7/2/k5t512/ftorn",
            "s.toml@7/2/k5/fpower-loss",
            "weird@name.toml@9223372036854775807/9/p0",
        ] {
            let id: CaseId = text.parse().unwrap();
            assert_eq!(id.to_string(), text);
        }
        let id: CaseId = "s.toml@7/2/r3/k5t512".parse().unwrap();
        assert_eq!(
            id.over,
            Overrides {
                records: Some(3),
                max_payload: None,
                plan: Some(Plan {
                    kill_at: 5,
                    tear: Some(512)
                }),
                fault: None
            }
        );
        assert_eq!(id.scenario, "s.toml");
    }

    #[test]
    fn bad_case_ids_say_the_expected_form() {
        for (text, phrase) in [
            ("scenarios/smoke.toml", "has no '@'"),
            ("@1/2", "names no scenario"),
            ("s.toml@x/2", "no decimal seed"),
            ("s.toml@1", "no trial index"),
            ("s.toml@1/2/q4", "unknown or repeated part 'q4'"),
            ("s.toml@1/2/r1/r2", "unknown or repeated part 'r2'"),
            ("s.toml@1/2/kx", "bad kill boundary 'x'"),
            ("s.toml@1/2/r4294967296", "bad record count '4294967296'"),
            ("s.toml@1/2/p4294967296", "bad payload size '4294967296'"),
            ("s.toml@1/2/fmelt", "unknown fault 'melt'"),
        ] {
            let err = text.parse::<CaseId>().unwrap_err();
            assert!(
                err.contains(phrase) && err.contains("SCENARIO@SEED/TRIAL"),
                "{text}: {err}"
            );
        }
    }
}
