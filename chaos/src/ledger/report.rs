//! What a comparison found: the scenario's counts, what the fault did, and every problem with a
//! few examples; printed as one line of counts and indented details.

use std::collections::BTreeMap;
use std::fmt;

use crate::fault::FaultEffect;

/// How many examples of each problem the report names.
const EXAMPLES: usize = 5;

/// A problem kind and how often it occurred, with a few examples.
#[derive(Clone, Debug, Default)]
pub struct Problem {
    /// How many messages have it.
    pub count: u64,
    /// The first few, described.
    pub examples: Vec<String>,
}

/// The comparison's result.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Messages on the input topic.
    pub sent: u64,
    /// Verdict messages.
    pub verdicts: u64,
    /// Inputs without their outcome, plus acknowledged messages missing from the input topic.
    pub lost: u64,
    /// Outcomes beyond the first for one input (verdicts by transaction id, dead letters by
    /// source offset).
    pub duplicates: u64,
    /// Dead-letter messages.
    pub dlq: u64,
    /// Dead letters by `aegis.dlq.reason` (first outcome of each input only).
    pub dlq_reasons: BTreeMap<String, u64>,
    /// Inputs by kind: (messages, with the expected outcome).
    pub kinds: BTreeMap<String, (u64, u64)>,
    /// What the fault did, when a snapshot was given.
    pub fault: Option<FaultEffect>,
    /// Everything that makes the scenario fail, by name.
    pub problems: BTreeMap<&'static str, Problem>,
}

impl Report {
    /// Records one occurrence of problem `name`, with `example` while there are few.
    pub fn problem(&mut self, name: &'static str, example: impl FnOnce() -> String) {
        let problem = self.problems.entry(name).or_default();
        problem.count += 1;
        if problem.examples.len() < EXAMPLES {
            problem.examples.push(example());
        }
    }

    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Report {
    /// The scenario's numbers on one line, then details (indented) and the problems.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "sent {}, verdicts {}, lost {}, duplicates {}, DLQ {}",
            self.sent, self.verdicts, self.lost, self.duplicates, self.dlq
        )?;
        if let Some(effect) = &self.fault {
            writeln!(
                f,
                "    at the fault: {} of {} written were committed; repeated across it: {} of the \
                 {} scored but not yet committed (the in-flight window)",
                effect.committed, effect.written, effect.repeated, effect.window
            )?;
        }
        if !self.dlq_reasons.is_empty() {
            let reasons: Vec<String> = self
                .dlq_reasons
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            writeln!(f, "    DLQ by reason: {}", reasons.join(", "))?;
        }
        if self.kinds.len() > 1 {
            let kinds: Vec<String> = self
                .kinds
                .iter()
                .map(|(k, (n, ok))| {
                    if n == ok {
                        format!("{k} {n}")
                    } else {
                        format!("{k} {ok}/{n}")
                    }
                })
                .collect();
            writeln!(f, "    as expected, by kind: {}", kinds.join(", "))?;
        }
        for (name, problem) in &self.problems {
            writeln!(
                f,
                "    FAIL {name}: {} (e.g. {})",
                problem.count,
                problem.examples.join("; ")
            )?;
        }
        Ok(())
    }
}
