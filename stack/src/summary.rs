//! `aegis-stack summary`: the scorers' final metrics (the `scorer-N.metrics` files `up` saves
//! before it stops them, Prometheus text format) summed into one summary for `scripts/demo`:
//! verdicts by decision, the blocked amount, dead letters, and p50/p99 event-to-verdict latency.
//! The numbers are those of each scorer's own shutdown line (`aegis_scorer::metrics::Metrics::
//! summary`), over every replica: the same counters, and a quantile is the upper bound of the
//! first latency bucket whose cumulative count reaches it (`aegis_kafka::service::bucket_quantile`,
//! as the scorer's own shutdown line reads it).

use std::collections::BTreeMap;
use std::fmt;

/// The decisions, in the order the summary names them.
const DECISIONS: [&str; 3] = ["ALLOW", "REVIEW", "BLOCK"];

/// The scorers' counters, summed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScorerTotals {
    /// Verdicts by decision (`aegis_transactions_scored_total`, every transaction type).
    pub verdicts: BTreeMap<String, f64>,
    /// Sum of blocked amounts (`aegis_transaction_amount_total{decision="BLOCK"}`).
    pub blocked_amount: f64,
    /// Dead letters (`aegis_dlq_messages_total`, every reason).
    pub dead_letters: f64,
    /// Event-to-verdict latency: cumulative count by bucket upper bound in seconds
    /// (`aegis_event_to_verdict_seconds_bucket`), `+Inf` last.
    pub latency_buckets: Vec<(f64, f64)>,
}

impl ScorerTotals {
    /// Adds one scorer's metrics (Prometheus text format); lines it does not know are skipped.
    pub fn add(&mut self, exposition: &str) {
        for sample in exposition.lines().filter_map(Sample::parse) {
            match sample.name {
                "aegis_transactions_scored_total" => {
                    if let Some(decision) = sample.label("decision") {
                        *self.verdicts.entry(decision.to_owned()).or_default() += sample.value;
                    }
                }
                "aegis_transaction_amount_total" if sample.label("decision") == Some("BLOCK") => {
                    self.blocked_amount += sample.value;
                }
                "aegis_dlq_messages_total" => self.dead_letters += sample.value,
                "aegis_event_to_verdict_seconds_bucket" => {
                    if let Some(bound) = sample.label("le").and_then(parse_bound) {
                        self.add_bucket(bound, sample.value);
                    }
                }
                _ => {}
            }
        }
    }

    fn add_bucket(&mut self, bound: f64, count: f64) {
        match self.latency_buckets.iter_mut().find(|(b, _)| *b == bound) {
            Some((_, total)) => *total += count,
            None => {
                self.latency_buckets.push((bound, count));
                self.latency_buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
        }
    }

    /// Verdicts of every decision.
    pub fn scored(&self) -> f64 {
        self.verdicts.values().sum()
    }

    /// Verdicts with `decision`.
    pub fn verdicts(&self, decision: &str) -> f64 {
        self.verdicts.get(decision).copied().unwrap_or_default()
    }

    /// Quantile `q` of event-to-verdict latency in seconds: the upper bound of the first bucket
    /// whose cumulative count reaches `q` of all (infinite past the last finite bound); `None`
    /// before any verdict.
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let total = self
            .latency_buckets
            .iter()
            .find(|(bound, _)| bound.is_infinite())
            .map_or(0.0, |(_, count)| *count);
        aegis_kafka::service::bucket_quantile(&self.latency_buckets, total, q)
    }
}

impl fmt::Display for ScorerTotals {
    /// The summary `scripts/demo` prints after a run.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let latency = |q| match self.latency_quantile(q) {
            None => "n/a".to_owned(),
            Some(bound) if bound.is_infinite() => "> 10 s".to_owned(),
            Some(bound) => format!("<= {:.0} ms", bound * 1000.0),
        };
        let by_decision: Vec<String> = DECISIONS
            .iter()
            .map(|d| format!("{d} {}", grouped(self.verdicts(d), 0)))
            .collect();
        writeln!(f, "\n  Summary (all scorers)")?;
        writeln!(
            f,
            "    scored        {}  ({})",
            grouped(self.scored(), 0),
            by_decision.join(", ")
        )?;
        writeln!(
            f,
            "    blocked       {} transactions, {} in amount",
            grouped(self.verdicts("BLOCK"), 0),
            grouped(self.blocked_amount, 2)
        )?;
        writeln!(f, "    dead letters  {}", grouped(self.dead_letters, 0))?;
        writeln!(
            f,
            "    event-to-verdict latency  p50 {}, p99 {}",
            latency(0.5),
            latency(0.99)
        )
    }
}

/// One sample line: `name{label="value",…} value`.
struct Sample<'a> {
    name: &'a str,
    labels: &'a str,
    value: f64,
}

impl<'a> Sample<'a> {
    fn parse(line: &'a str) -> Option<Sample<'a>> {
        let line = line.trim();
        if line.starts_with('#') {
            return None;
        }
        let (series, value) = line.rsplit_once(' ')?;
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}')?),
            None => (series, ""),
        };
        Some(Sample {
            name,
            labels,
            value: parse_bound(value)?,
        })
    }

    /// The value of label `name` (Aegis's label values hold no quotes or commas).
    fn label(&self, name: &str) -> Option<&'a str> {
        self.labels.split(',').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key.trim() == name).then(|| value.trim().trim_matches('"'))
        })
    }
}

/// A number as Prometheus writes it, `+Inf` included.
fn parse_bound(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        _ => text.parse().ok(),
    }
}

/// `value` with `decimals` decimals and a comma between thousands, e.g. `12,345.60`.
fn grouped(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    let (sign, text) = text
        .strip_prefix('-')
        .map_or(("", text.as_str()), |rest| ("-", rest));
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let mut out = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    format!("{sign}{out}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCORER: &str = r#"# HELP aegis_transactions_scored_total Verdicts.
# TYPE aegis_transactions_scored_total counter
aegis_transactions_scored_total{decision="ALLOW",type="PAYMENT"} 1200
aegis_transactions_scored_total{decision="ALLOW",type="TRANSFER"} 300
aegis_transactions_scored_total{decision="REVIEW",type="TRANSFER"} 7
aegis_transactions_scored_total{decision="BLOCK",type="TRANSFER"} 3
aegis_transaction_amount_total{decision="ALLOW"} 99.5
aegis_transaction_amount_total{decision="BLOCK"} 1234567.891
aegis_dlq_messages_total{reason="deserialization"} 2
aegis_dlq_messages_total{reason="validation"} 1
aegis_event_to_verdict_seconds_bucket{le="0.005"} 10
aegis_event_to_verdict_seconds_bucket{le="0.01"} 1000
aegis_event_to_verdict_seconds_bucket{le="10"} 1500
aegis_event_to_verdict_seconds_bucket{le="+Inf"} 1510
aegis_event_to_verdict_seconds_sum 12.5
"#;

    #[test]
    fn two_scorers_sum_into_one_summary() {
        let mut totals = ScorerTotals::default();
        totals.add(SCORER);
        totals.add(SCORER);
        assert_eq!(totals.scored(), 3020.0);
        assert_eq!(totals.verdicts("BLOCK"), 6.0);
        assert_eq!(totals.dead_letters, 6.0);
        assert_eq!(totals.latency_quantile(0.5), Some(0.01));
        assert_eq!(totals.latency_quantile(0.99), Some(10.0));
        assert_eq!(totals.latency_quantile(1.0), Some(f64::INFINITY));
        let text = totals.to_string();
        assert!(text.contains("scored        3,020  (ALLOW 3,000, REVIEW 14, BLOCK 6)"));
        assert!(text.contains("blocked       6 transactions, 2,469,135.78 in amount"));
        assert!(text.contains("p50 <= 10 ms, p99 <= 10000 ms"));
    }

    #[test]
    fn no_verdicts_no_latency() {
        let totals = ScorerTotals::default();
        assert_eq!(totals.latency_quantile(0.5), None);
        assert!(totals.to_string().contains("p50 n/a, p99 n/a"));
        assert_eq!(grouped(-1234.5, 1), "-1,234.5");
        assert_eq!(grouped(999.0, 0), "999");
    }
}
