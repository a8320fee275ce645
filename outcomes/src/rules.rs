//! Rules judged by outcomes: of the transactions a rule fired on — whatever its action; a rule in
//! monitor mode (action ALLOW) fires without changing the decision, and this is how it earns or
//! loses its promotion — the share that were fraud (precision), and of the frauds, the share it
//! fired on (recall), over the same sliding window as the model's precision and recall. Memory:
//! per second of the window, one pair of counts per rule that fired in it; at most
//! [`MAX_RULES`] rule names are told apart, the rest count as [`OTHER`] (a bound on the
//! metrics' cardinality whatever the verdicts say).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Most rule names told apart; a rule set has a handful.
pub const MAX_RULES: usize = 100;
/// The rule label of the names beyond [`MAX_RULES`].
pub const OTHER: &str = "_other";

/// One second's counts: per rule, outcomes it fired on (legit, fraud); and all frauds.
#[derive(Default)]
struct Second {
    fired: BTreeMap<String, [u64; 2]>,
    frauds: u64,
}

/// A rule's quality over the window; `None` when undefined (it did not fire; no fraud).
#[derive(Clone, Debug, PartialEq)]
pub struct RuleQuality {
    /// The rule's name (or [`OTHER`]).
    pub rule: String,
    /// Of the outcomes it fired on, the share that were fraud.
    pub precision: Option<f64>,
    /// Of the frauds, the share it fired on.
    pub recall: Option<f64>,
}

/// Per-rule confusion counts of the last `span` seconds, in one-second buckets.
pub struct RuleWindow {
    span: u64,
    buckets: VecDeque<(i64, Second)>,
    names: BTreeSet<String>,
}

impl RuleWindow {
    /// A window of `span` seconds (at least 1).
    pub fn new(span: u64) -> Self {
        RuleWindow {
            span: span.max(1),
            buckets: VecDeque::new(),
            names: BTreeSet::new(),
        }
    }

    /// The label `rule` is counted under: its name, or [`OTHER`] beyond [`MAX_RULES`] names.
    pub fn name(&mut self, rule: &str) -> String {
        if self.names.contains(rule) {
            return rule.to_owned();
        }
        if self.names.len() < MAX_RULES {
            self.names.insert(rule.to_owned());
            return rule.to_owned();
        }
        OTHER.to_owned()
    }

    /// Counts one outcome at second `now`: the rules that fired (as [`name`](Self::name) gives
    /// them) and its label.
    pub fn add(&mut self, now: i64, rules: &[String], is_fraud: bool) {
        self.expire(now);
        if self.buckets.back().is_none_or(|(s, _)| *s < now) {
            self.buckets.push_back((now, Second::default()));
        }
        let Some((_, second)) = self.buckets.back_mut() else {
            return;
        };
        second.frauds += u64::from(is_fraud);
        for rule in rules {
            second.fired.entry(rule.clone()).or_default()[usize::from(is_fraud)] += 1;
        }
    }

    /// Every rule seen since start, with its precision and recall over `(now − span, now]`.
    pub fn quality(&mut self, now: i64) -> Vec<RuleQuality> {
        self.expire(now);
        let mut fired: BTreeMap<&str, [u64; 2]> = BTreeMap::new();
        let mut frauds = 0;
        for (_, second) in &self.buckets {
            frauds += second.frauds;
            for (rule, counts) in &second.fired {
                let total = fired.entry(rule).or_default();
                total[0] += counts[0];
                total[1] += counts[1];
            }
        }
        let other = fired.contains_key(OTHER).then_some(OTHER);
        self.names
            .iter()
            .map(String::as_str)
            .chain(other)
            .map(|rule| {
                let [legit, fraud] = fired.get(rule).copied().unwrap_or_default();
                RuleQuality {
                    rule: rule.to_owned(),
                    precision: (legit + fraud > 0).then(|| fraud as f64 / (legit + fraud) as f64),
                    recall: (frauds > 0).then(|| fraud as f64 / frauds as f64),
                }
            })
            .collect()
    }

    fn expire(&mut self, now: i64) {
        crate::quality::expire(&mut self.buckets, self.span, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn precision_and_recall_per_rule_over_the_window() {
        let mut w = RuleWindow::new(10);
        for name in ["monitor_probe", "drain"] {
            w.name(name);
        }
        // 4 frauds; monitor_probe fired on 3 of them and on 1 legit; drain on 1 fraud.
        w.add(100, &rules(&["monitor_probe", "drain"]), true);
        w.add(100, &rules(&["monitor_probe"]), true);
        w.add(101, &rules(&["monitor_probe"]), true);
        w.add(101, &rules(&["monitor_probe"]), false);
        w.add(102, &rules(&[]), true);
        w.add(102, &rules(&[]), false);
        let q = w.quality(105);
        assert_eq!(
            q,
            [
                RuleQuality {
                    rule: "drain".into(),
                    precision: Some(1.0),
                    recall: Some(0.25)
                },
                RuleQuality {
                    rule: "monitor_probe".into(),
                    precision: Some(0.75),
                    recall: Some(0.75)
                },
            ]
        );
        // Seconds 100 and 101 have left: only the unflagged fraud of 102 remains.
        let q = w.quality(111);
        assert_eq!((q[1].precision, q[1].recall), (None, Some(0.0)));
        assert_eq!(w.quality(200)[1].recall, None, "no fraud in the window");
    }

    #[test]
    fn names_beyond_the_bound_count_as_other() {
        let mut w = RuleWindow::new(10);
        for i in 0..MAX_RULES {
            assert_eq!(w.name(&format!("r{i}")), format!("r{i}"));
        }
        assert_eq!(w.name("one_too_many"), OTHER);
        assert_eq!(w.name("r7"), "r7", "a known name stays itself");
        w.add(1, &[OTHER.to_owned()], true);
        let q = w.quality(1);
        assert_eq!(q.len(), MAX_RULES + 1);
        assert_eq!(q.last().unwrap().rule, OTHER);
        assert_eq!(q.last().unwrap().precision, Some(1.0));
    }
}
