//! The criterion `aegis-trainer promote` applies, over the labelled transactions that both the live
//! and the shadow model scored (joined by `tx_id`): with **k** the number the live model flagged
//! (REVIEW or BLOCK), the shadow's k highest-scored transactions must hold **at least as many
//! frauds** as the live's k highest-scored. That is the shadow's recall at the live's alert rate
//! against the live's own — and, k being the same, its precision too: with the analysts' workload
//! unchanged, the shadow catches no fewer frauds. It compares rankings, so it needs neither model
//! calibrated nor their thresholds alike, and rules (which act on top of either) stay out of it.
//!
//! Ties at the cut count against the model (legit transactions first), so neither gains from them.
//! Below `min_frauds` labelled frauds, or when the live model flagged none of the transactions,
//! there is nothing to judge and [`judge`] says so. Recall's 95 % Wilson intervals and average
//! precision are printed beside the decision, to read; the decision is the count alone.

use std::fmt::Write as _;

use crate::metrics::{average_precision, wilson, Interval, Scored};

/// One labelled transaction, as each model scored it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Paired {
    /// The live model's fraud probability.
    pub live: f64,
    /// Whether the live verdict flagged it (REVIEW or BLOCK).
    pub live_flagged: bool,
    /// The shadow model's fraud probability.
    pub shadow: f64,
    /// The label.
    pub is_fraud: bool,
}

/// One model's figures at the live model's alert count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    /// Frauds among its k highest-scored transactions.
    pub caught: u64,
    /// `caught` / frauds.
    pub recall: f64,
    /// 95 % Wilson interval of `recall`.
    pub recall_interval: Interval,
    /// `caught` / k.
    pub precision: f64,
    /// Average precision over every paired transaction (its whole ranking).
    pub average_precision: f64,
}

/// Both models judged on the same transactions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judgement {
    /// Labelled transactions both models scored.
    pub transactions: u64,
    /// Of which frauds.
    pub frauds: u64,
    /// k: how many of them the live model flagged.
    pub alerts: u64,
    pub live: Figures,
    pub shadow: Figures,
}

/// Why there is nothing to judge.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unjudged {
    /// Too few labelled frauds for the counts to mean anything.
    #[error(
        "only {frauds} labelled frauds among the {transactions} transactions both models scored \
         (--min-frauds {min_frauds}): let more labels arrive, or promote with --force"
    )]
    TooFewFrauds {
        frauds: u64,
        transactions: u64,
        min_frauds: u64,
    },
    /// The live model flagged nothing, so it has no alert rate to compare at.
    #[error(
        "the live model flagged none of the {transactions} labelled transactions both models \
         scored: there is no alert rate to compare at; promote with --force"
    )]
    NoAlerts { transactions: u64 },
}

/// The criterion, stated as `promote` prints it.
pub const STATED: &str = "the shadow's k highest-scored transactions hold at least as many frauds \
                          as the live's, k = the live model's REVIEW + BLOCK count";

/// Judges `rows` (see the module's documentation).
pub fn judge(rows: &[Paired], min_frauds: u64) -> Result<Judgement, Unjudged> {
    let transactions = rows.len() as u64;
    let frauds = rows.iter().filter(|r| r.is_fraud).count() as u64;
    if frauds < min_frauds.max(1) {
        return Err(Unjudged::TooFewFrauds {
            frauds,
            transactions,
            min_frauds,
        });
    }
    let alerts = rows.iter().filter(|r| r.live_flagged).count() as u64;
    if alerts == 0 {
        return Err(Unjudged::NoAlerts { transactions });
    }
    let figures = |probability: fn(&Paired) -> f64| {
        let scored: Vec<Scored> = rows
            .iter()
            .map(|r| Scored {
                probability: probability(r),
                is_fraud: r.is_fraud,
                weight: 1.0,
            })
            .collect();
        let caught = caught_in_top(&scored, alerts);
        let recall = caught as f64 / frauds as f64;
        Figures {
            caught,
            recall,
            recall_interval: wilson(recall, frauds as f64),
            precision: caught as f64 / alerts as f64,
            average_precision: average_precision(&scored),
        }
    };
    Ok(Judgement {
        transactions,
        frauds,
        alerts,
        live: figures(|r| r.live),
        shadow: figures(|r| r.shadow),
    })
}

/// Frauds among the `k` highest-scored rows, ties broken legit first.
fn caught_in_top(rows: &[Scored], k: u64) -> u64 {
    let mut ranked: Vec<&Scored> = rows.iter().collect();
    ranked.sort_by(|a, b| {
        b.probability
            .total_cmp(&a.probability)
            .then(a.is_fraud.cmp(&b.is_fraud))
    });
    ranked
        .iter()
        .take(usize::try_from(k).unwrap_or(usize::MAX))
        .filter(|r| r.is_fraud)
        .count() as u64
}

impl Judgement {
    /// Whether the criterion is met.
    pub fn met(&self) -> bool {
        self.shadow.caught >= self.live.caught
    }

    /// Both models' figures side by side, and the decision, as `promote` prints them.
    pub fn table(&self, live_version: &str, shadow_version: &str) -> String {
        let k = self.alerts;
        let share = 100.0 * k as f64 / self.transactions as f64;
        let mut out = format!(
            "{} labelled transactions scored by both models, {} frauds; the live model flagged \
             k = {k} ({share:.1} %)\n",
            self.transactions, self.frauds
        );
        let row = |out: &mut String, name: &str, live: String, shadow: String| {
            let _ = writeln!(out, "  {name:<28} {live:<26} {shadow}");
        };
        let recall = |f: &Figures| {
            format!(
                "{:.3} [{:.3}, {:.3}]",
                f.recall, f.recall_interval.low, f.recall_interval.high
            )
        };
        let (l, s) = (&self.live, &self.shadow);
        row(&mut out, "", "live".into(), "shadow".into());
        row(
            &mut out,
            "model",
            live_version.into(),
            shadow_version.into(),
        );
        row(
            &mut out,
            &format!("frauds in top k = {k}"),
            l.caught.to_string(),
            s.caught.to_string(),
        );
        row(&mut out, "recall at k (95 %)", recall(l), recall(s));
        row(
            &mut out,
            "precision at k",
            format!("{:.3}", l.precision),
            format!("{:.3}", s.precision),
        );
        row(
            &mut out,
            "average precision",
            format!("{:.3}", l.average_precision),
            format!("{:.3}", s.average_precision),
        );
        let _ = write!(
            out,
            "criterion ({STATED}): {}",
            if self.met() { "met" } else { "not met" }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `frauds` frauds and `legit` legit rows; the live model ranks the first `live_finds` frauds
    /// above every legit row and the rest below, the shadow its first `shadow_finds`; the live
    /// model flags `flagged` rows (its highest).
    fn rows(frauds: usize, legit: usize, live_finds: usize, shadow_finds: usize) -> Vec<Paired> {
        let mut rows = Vec::new();
        for i in 0..frauds {
            rows.push(Paired {
                live: if i < live_finds { 0.9 } else { 0.1 },
                live_flagged: i < live_finds,
                shadow: if i < shadow_finds { 0.8 } else { 0.05 },
                is_fraud: true,
            });
        }
        for i in 0..legit {
            rows.push(Paired {
                live: 0.2,
                live_flagged: i < 5, // five false alarms at 0.2: ties with no fraud above them
                shadow: 0.3,
                is_fraud: false,
            });
        }
        rows
    }

    #[test]
    fn a_shadow_that_catches_more_at_the_same_alert_count_meets_it() {
        let judged = judge(&rows(40, 500, 20, 30), 30).unwrap();
        assert_eq!(
            (judged.transactions, judged.frauds, judged.alerts),
            (540, 40, 25)
        );
        assert_eq!((judged.live.caught, judged.shadow.caught), (20, 25));
        assert!(judged.met());
        assert_eq!(judged.shadow.precision, 1.0);
        assert!(
            judged.shadow.recall_interval.low < 0.625 && 0.625 < judged.shadow.recall_interval.high
        );
        let table = judged.table("rf-live", "rf-shadow");
        assert!(table.ends_with(": met"), "{table}");
        assert!(
            table.contains("rf-live") && table.contains("rf-shadow"),
            "{table}"
        );
    }

    #[test]
    fn a_shadow_that_catches_fewer_does_not_and_equal_is_enough() {
        let judged = judge(&rows(40, 500, 30, 20), 30).unwrap();
        assert_eq!((judged.live.caught, judged.shadow.caught), (30, 20));
        assert!(!judged.met());
        assert!(judged.table("a", "b").ends_with(": not met"));
        assert!(judge(&rows(40, 500, 25, 25), 30).unwrap().met());
    }

    #[test]
    fn ties_at_the_cut_count_legit_first() {
        // Every row scored alike by the shadow: its top k holds frauds only after every legit row.
        let mut tied = rows(30, 10, 30, 0);
        for r in &mut tied {
            r.shadow = 0.5;
        }
        let judged = judge(&tied, 30).unwrap();
        assert_eq!(judged.alerts, 35);
        assert_eq!(
            judged.shadow.caught, 25,
            "10 legit first, then 25 of the 35"
        );
        assert_eq!(judged.live.caught, 30);
    }

    #[test]
    fn too_few_frauds_or_no_alerts_is_refused_in_one_line() {
        let too_few = judge(&rows(12, 300, 6, 6), 30).unwrap_err();
        assert_eq!(
            too_few,
            Unjudged::TooFewFrauds {
                frauds: 12,
                transactions: 312,
                min_frauds: 30
            }
        );
        let line = too_few.to_string();
        assert!(
            !line.contains('\n') && line.contains("--min-frauds 30") && line.contains("--force"),
            "{line}"
        );
        assert!(matches!(
            judge(&[], 0),
            Err(Unjudged::TooFewFrauds { frauds: 0, .. })
        ));
        let mut silent = rows(40, 10, 0, 10);
        for r in &mut silent {
            r.live_flagged = false;
        }
        let none = judge(&silent, 30).unwrap_err();
        assert_eq!(none, Unjudged::NoAlerts { transactions: 50 });
        assert!(!none.to_string().contains('\n'));
    }
}
