//! What the `http-abuse` scenario measured around the abuse, the rules it must meet
//! ([`Findings::judge`], as problems of the scenario's [`Report`]), and how it is printed.

use std::collections::BTreeMap;
use std::fmt;

use super::{Answer, Caps, Kind, Memory, Plan, Tally, REJECTED_REASONS};
use crate::ledger::Report;

const MIB: f64 = (1 << 20) as f64;

/// Everything the scenario measured around the abuse.
#[derive(Clone, Debug)]
pub struct Findings {
    /// The caps the scorer ran with.
    pub caps: Caps,
    /// The clients and how long.
    pub plan: Plan,
    /// The answer to one [`Kind::FullBody`] request before the abuse: 400 (read whole, not JSON).
    pub warm_up: Answer,
    /// What the abusive connections were answered.
    pub tally: Tally,
    /// The scorer's memory just before the abuse (the stream already flowing) and after it.
    pub before: Memory,
    /// See `before`; its `peak` is the peak over the whole abuse.
    pub after: Memory,
    /// Transactions written to the input topic while the abuse went on.
    pub written_during: i64,
    /// Verdicts written while the abuse went on.
    pub scored_during: i64,
    /// `aegis_http_rejected_total` by reason after the abuse.
    pub rejected: BTreeMap<String, u64>,
}

impl Findings {
    /// How much the peak RSS rose above the RSS before the abuse.
    pub fn growth(&self) -> u64 {
        self.after.peak.saturating_sub(self.before.rss)
    }

    /// Records in `report` (the check of every transaction) every rule the abuse broke, including
    /// a repeated verdict: with no fault injected, every transaction must have exactly one. Long:
    /// one rule after another, each with the problem it reports.
    pub fn judge(&self, report: &mut Report) {
        if report.duplicates > 0 {
            let duplicates = report.duplicates;
            report.problem("transactions with more than one verdict", || {
                format!(
                    "{duplicates} repeated; with no fault only a rebalance repeats work (look for \
                     SESSTMOUT or `partitions revoked` in the scorer's log)"
                )
            });
        }
        if self.warm_up
            != (Answer::Status {
                code: 400,
                retry_after: false,
            })
        {
            report.problem("a body of exactly the limit not read whole (400)", || {
                self.warm_up.to_string()
            });
        }
        let bound = self.caps.memory_bound();
        if self.growth() > bound {
            report.problem("peak RSS over the bound the HTTP caps allow", || {
                format!(
                    "grew by {:.0} MiB, bound {:.0} MiB",
                    self.growth() as f64 / MIB,
                    bound as f64 / MIB
                )
            });
        }
        for (&(kind, answer), &n) in &self.tally.answers {
            if !answer.is_refusal() {
                report.problem("abusive requests not refused", || {
                    format!("{n} × {kind:?} {answer}")
                });
            }
            // A head never ended must not be answered as a request: hyper closes it.
            if kind == Kind::SlowHead
                && matches!(
                    answer,
                    Answer::Status {
                        code: 400..=499,
                        ..
                    }
                )
            {
                report.problem("a head never sent was answered", || {
                    format!("{n} × {answer}")
                });
            }
        }
        let status = |code| Answer::Status {
            code,
            retry_after: false,
        };
        let full = Answer::Status {
            code: 503,
            retry_after: true,
        };
        let mechanisms = [
            (Kind::DeclaredHuge, status(413)),
            (Kind::ChunkedHuge, status(413)),
            (Kind::SlowBody, status(408)),
            (Kind::FullBody, status(400)),
        ];
        for (kind, answer) in mechanisms {
            if self.tally.count(kind, answer) == 0 {
                report.problem("refusals never seen", || format!("{kind:?} {answer}"));
            }
        }
        if Kind::ALL
            .iter()
            .all(|&kind| self.tally.count(kind, full) == 0)
        {
            report.problem("refusals never seen", || {
                format!("503 ({} clients never filled the caps)", self.plan.clients)
            });
        }
        for reason in REJECTED_REASONS {
            if self.rejected.get(reason).copied().unwrap_or(0) == 0 {
                report.problem("refusals the scorer did not count", || {
                    format!("aegis_http_rejected_total{{reason=\"{reason}\"}}")
                });
            }
        }
        if self.written_during == 0 {
            report.problem("no transaction written during the abuse", || {
                "the producer had ended".to_owned()
            });
        }
        if self.scored_during == 0 {
            report.problem("the stream stalled during the abuse", || {
                format!("{} written, no verdict", self.written_during)
            });
        }
    }
}

impl fmt::Display for Findings {
    /// Indented lines: the clients and their answers, memory against the bound, the stream.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "    HTTP abuse: {} clients for {:?}, {} connections; answers by kind:",
            self.plan.clients,
            self.plan.duration,
            self.tally.connections()
        )?;
        for kind in Kind::ALL {
            let answers: Vec<String> = self
                .tally
                .answers
                .iter()
                .filter(|((k, _), _)| *k == kind)
                .map(|((_, answer), n)| format!("{answer} {n}"))
                .collect();
            writeln!(f, "      {kind:?}: {}", answers.join(", "))?;
        }
        writeln!(
            f,
            "    scorer RSS {:.0} MiB before, {:.0} MiB after; peak (VmHWM) {:.0} MiB, {:.0} MiB \
             over the RSS before, bound {:.0} MiB (--http-max-in-flight {}, \
             --http-max-connections {})",
            self.before.rss as f64 / MIB,
            self.after.rss as f64 / MIB,
            self.after.peak as f64 / MIB,
            self.growth() as f64 / MIB,
            self.caps.memory_bound() as f64 / MIB,
            self.caps.max_in_flight,
            self.caps.max_connections
        )?;
        let rejected: Vec<String> = self
            .rejected
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect();
        writeln!(
            f,
            "    during the abuse: {} transactions written, {} verdicts; refusals counted by the \
             scorer: {}",
            self.written_during,
            self.scored_during,
            rejected.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const fn status(code: u16, retry_after: bool) -> Answer {
        Answer::Status { code, retry_after }
    }

    /// What a run that meets every rule found: each mechanism seen and counted, memory well
    /// within the bound, the stream scoring.
    fn passing() -> Findings {
        let answers = [
            ((Kind::SlowHead, Answer::Closed), 1100),
            ((Kind::SlowHead, status(503, true)), 583),
            ((Kind::DeclaredHuge, status(413, false)), 75),
            ((Kind::ChunkedHuge, status(413, false)), 62),
            ((Kind::SlowBody, status(408, false)), 48),
            ((Kind::FullBody, status(400, false)), 45),
            ((Kind::FullBody, Answer::StillOpen), 94),
        ];
        Findings {
            caps: Caps::LOAD_TEST,
            plan: Plan {
                clients: 2_000,
                duration: Duration::from_secs(10),
            },
            warm_up: status(400, false),
            tally: Tally {
                answers: answers.into_iter().collect(),
            },
            before: Memory {
                rss: 25 << 20,
                peak: 30 << 20,
            },
            after: Memory {
                rss: 183 << 20,
                peak: 208 << 20,
            },
            written_during: 5_394,
            scored_during: 5_369,
            rejected: REJECTED_REASONS.map(|r| (r.to_owned(), 1)).into(),
        }
    }

    fn problems(findings: &Findings) -> Vec<&'static str> {
        let mut report = Report::default();
        findings.judge(&mut report);
        report.problems.keys().copied().collect()
    }

    #[test]
    fn a_run_within_every_rule_passes() {
        assert_eq!(problems(&passing()), Vec::<&str>::new());
        let printed = passing().to_string();
        assert!(
            printed.contains("183 MiB over the RSS before, bound 320 MiB"),
            "{printed}"
        );
    }

    #[test]
    fn memory_over_the_bound_fails() {
        let mut findings = passing();
        findings.after.peak = findings.before.rss + findings.caps.memory_bound() + 1;
        assert_eq!(
            problems(&findings),
            ["peak RSS over the bound the HTTP caps allow"]
        );
        findings.after.peak -= 1;
        assert!(problems(&findings).is_empty());
    }

    #[test]
    fn answers_other_than_refusals_fail() {
        for answer in [status(200, false), status(500, false), status(503, false)] {
            let mut findings = passing();
            findings.tally.answers.insert((Kind::FullBody, answer), 1);
            assert_eq!(
                problems(&findings),
                ["abusive requests not refused"],
                "{answer}"
            );
        }
        let mut findings = passing();
        findings
            .tally
            .answers
            .insert((Kind::SlowHead, status(408, false)), 1);
        assert_eq!(problems(&findings), ["a head never sent was answered"]);
    }

    #[test]
    fn a_mechanism_never_seen_or_counted_fails() {
        let mut findings = passing();
        findings
            .tally
            .answers
            .remove(&(Kind::SlowBody, status(408, false)));
        findings.rejected.insert("read_timeout".to_owned(), 0);
        assert_eq!(
            problems(&findings),
            ["refusals never seen", "refusals the scorer did not count"]
        );
        let mut findings = passing();
        findings
            .tally
            .answers
            .remove(&(Kind::SlowHead, status(503, true)));
        assert_eq!(problems(&findings), ["refusals never seen"]);
    }

    #[test]
    fn a_repeated_verdict_fails() {
        let mut report = Report {
            duplicates: 1,
            ..Report::default()
        };
        passing().judge(&mut report);
        assert_eq!(
            report.problems.keys().copied().collect::<Vec<_>>(),
            ["transactions with more than one verdict"]
        );
    }

    #[test]
    fn a_stalled_stream_or_an_unread_full_body_fails() {
        let mut findings = passing();
        findings.scored_during = 0;
        findings.warm_up = status(413, false);
        assert_eq!(
            problems(&findings),
            [
                "a body of exactly the limit not read whole (400)",
                "the stream stalled during the abuse"
            ]
        );
    }
}
