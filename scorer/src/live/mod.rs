//! The live view behind the page at `GET /` (served by [`crate::http`]): totals, fraud rate,
//! blocked amount, recent (time, amount, decision) points for the scatter, a running log of
//! REVIEW/BLOCK verdicts with reasons and explanations, outcomes — verdicts judged by their late
//! labels — and the [`review`] queue of REVIEW verdicts waiting for an analyst.
//!
//! It is fed one of two ways, and owns nothing else:
//! - with the default `--live-view own`, the stream's acknowledgement stage records the replica's
//!   own verdicts as the broker acknowledges them: no extra read of the verdict stream (reading it
//!   back halved throughput on the local broker — docs/benchmarks.md);
//! - with `--live-view all`, [`follow`] reads the **verdicts topic** from the moment the replica
//!   started, so every replica's page shows what all replicas decide, and the **outcomes topic**
//!   (`aegis-outcomes`): decisions known right or wrong so far, precision and recall of BLOCK and
//!   of REVIEW-or-BLOCK, money stopped and lost — the closed loop on the page.

mod follow;
pub mod review;

pub use follow::follow;
pub use review::ReviewQueue;

use std::collections::VecDeque;
use std::sync::Mutex;

use aegis_core::card_precision::DailyCardPrecision;
use aegis_core::verdict::Explanation;
use aegis_core::{Decision, Outcome, TxType, Verdict};
use serde::Serialize;
use utoipa::ToSchema;

/// Points kept for the scatter.
const MAX_POINTS: usize = 1_500;
/// REVIEW/BLOCK verdicts kept for the log.
const MAX_LOG: usize = 50;

/// Everything the live page shows, as `GET /api/live` returns it.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct LiveSnapshot {
    /// When the view started counting, ms since the Unix epoch.
    pub since: i64,
    /// What the log's `account` holds: `account` for PaySim, else the spec's key field
    /// (`CUSTOMER_ID` for the card spec).
    pub key: String,
    /// Verdicts seen.
    pub total: u64,
    /// ALLOW verdicts.
    pub allowed: u64,
    /// REVIEW verdicts.
    pub reviewed: u64,
    /// BLOCK verdicts.
    pub blocked: u64,
    /// (REVIEW + BLOCK) / total, in percent.
    pub fraud_rate_pct: f64,
    /// Sum of blocked amounts.
    pub blocked_amount: f64,
    /// Recent verdicts as `[scored_at_ms, amount, decision]`, oldest first.
    pub points: Vec<(i64, f64, Decision)>,
    /// Recent REVIEW and BLOCK verdicts, newest first.
    pub log: Vec<LogEntry>,
    /// Verdicts whose label has arrived (from the outcomes topic), since the view started.
    pub outcomes: OutcomeTally,
}

/// Verdicts judged by their labels: counts, the figures a fraud team watches, and money.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct OutcomeTally {
    /// Outcomes seen (a verdict with its label).
    pub labelled: u64,
    /// Of which labelled fraud.
    pub frauds: u64,
    /// Frauds BLOCKed; frauds REVIEWed.
    pub frauds_blocked: u64,
    pub frauds_reviewed: u64,
    /// Legit transactions BLOCKed; legit transactions REVIEWed.
    pub legit_blocked: u64,
    pub legit_reviewed: u64,
    /// Share of BLOCKs that were fraud, and of frauds that were BLOCKed (absent without data).
    pub block_precision: Option<f64>,
    pub block_recall: Option<f64>,
    /// The same for REVIEW or BLOCK.
    pub flagged_precision: Option<f64>,
    pub flagged_recall: Option<f64>,
    /// Fraud amount BLOCKed; fraud amount ALLOWed; legit amount BLOCKed.
    pub money_stopped: f64,
    pub money_lost: f64,
    pub legit_money_blocked: f64,
    /// Card Precision@100 of the outcomes' keys (cards, or PaySim's accounts), by event-time day:
    /// absent until a day has closed (`aegis_core::card_precision`).
    pub card_precision: Option<CardPrecisionView>,
}

/// Card Precision@k as the live page shows it.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct CardPrecisionView {
    /// Cards an investigation team checks a day.
    pub k: usize,
    /// The last closed day, in days since the Unix epoch (UTC).
    pub last_day: i64,
    /// Its precision.
    pub last_day_precision: f64,
    /// The mean over every day closed since the view started.
    pub mean: f64,
    /// Days closed.
    pub days: u64,
}

/// k of the live page's Card Precision@k: the Fraud Detection Handbook's.
pub const CARD_PRECISION_K: usize = 100;

impl OutcomeTally {
    /// Counts one outcome (the ratios are derived by [`LiveFeed::snapshot`]).
    pub fn record(&mut self, o: &Outcome) {
        self.labelled += 1;
        match (o.is_fraud, o.decision) {
            (true, decision) => {
                self.frauds += 1;
                match decision {
                    Decision::Block => {
                        self.frauds_blocked += 1;
                        self.money_stopped += o.amount;
                    }
                    Decision::Review => self.frauds_reviewed += 1,
                    Decision::Allow => self.money_lost += o.amount,
                }
            }
            (false, Decision::Block) => {
                self.legit_blocked += 1;
                self.legit_money_blocked += o.amount;
            }
            (false, Decision::Review) => self.legit_reviewed += 1,
            (false, Decision::Allow) => {}
        }
    }

    /// Sets the precision and recall fields from the counts (done when a snapshot is taken, not
    /// on every outcome).
    fn derive_ratios(&mut self) {
        let ratio = |num: u64, den: u64| (den > 0).then(|| num as f64 / den as f64);
        let flagged_frauds = self.frauds_blocked + self.frauds_reviewed;
        self.block_precision = ratio(
            self.frauds_blocked,
            self.frauds_blocked + self.legit_blocked,
        );
        self.block_recall = ratio(self.frauds_blocked, self.frauds);
        self.flagged_precision = ratio(
            flagged_frauds,
            flagged_frauds + self.legit_blocked + self.legit_reviewed,
        );
        self.flagged_recall = ratio(flagged_frauds, self.frauds);
    }
}

/// One REVIEW/BLOCK line of the running log.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LogEntry {
    /// When it was scored, ms since the Unix epoch.
    pub scored_at: i64,
    /// The transaction.
    pub tx_id: String,
    /// The origin account.
    pub account: String,
    /// Transaction type.
    #[serde(rename = "type")]
    pub tx_type: TxType,
    /// Amount.
    pub amount: f64,
    /// REVIEW or BLOCK.
    pub decision: Decision,
    /// Fraud probability.
    pub fraud_probability: f64,
    /// Why, in words.
    pub reasons: Vec<String>,
    /// Why, as data: the model's score split into the features' contributions (the page shows
    /// the largest); absent for a verdict written before explanations.
    pub explanation: Option<Explanation>,
}

/// The live view's state.
pub struct LiveFeed {
    state: Mutex<State>,
    review: Mutex<ReviewQueue>,
}

struct State {
    snapshot: LiveSnapshot,
    card_precision: DailyCardPrecision,
    points: VecDeque<(i64, f64, Decision)>,
    log: VecDeque<LogEntry>,
}

impl LiveFeed {
    /// An empty view starting at `now_ms`, its log's ids named `key`.
    pub fn new(now_ms: i64, key: &str) -> Self {
        LiveFeed {
            state: Mutex::new(State {
                snapshot: LiveSnapshot {
                    since: now_ms,
                    key: key.to_owned(),
                    ..LiveSnapshot::default()
                },
                card_precision: DailyCardPrecision::new(CARD_PRECISION_K),
                points: VecDeque::with_capacity(MAX_POINTS),
                log: VecDeque::with_capacity(MAX_LOG),
            }),
            review: Mutex::default(),
        }
    }

    /// The review queue, locked: REVIEW verdicts recorded here wait in it until marked.
    pub fn review(&self) -> std::sync::MutexGuard<'_, ReviewQueue> {
        self.review.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one verdict (a REVIEW also joins the review queue).
    pub fn record(&self, v: &Verdict) {
        if v.decision == Decision::Review {
            self.review().offer(v);
        }
        let mut s = self.lock();
        let totals = &mut s.snapshot;
        totals.total += 1;
        match v.decision {
            Decision::Allow => totals.allowed += 1,
            Decision::Review => totals.reviewed += 1,
            Decision::Block => {
                totals.blocked += 1;
                totals.blocked_amount += v.amount;
            }
        }
        if s.points.len() == MAX_POINTS {
            s.points.pop_front();
        }
        s.points.push_back((v.scored_at, v.amount, v.decision));
        if v.decision != Decision::Allow {
            if s.log.len() == MAX_LOG {
                s.log.pop_back();
            }
            s.log.push_front(LogEntry {
                scored_at: v.scored_at,
                tx_id: v.tx_id.clone(),
                account: v.account.clone(),
                tx_type: v.tx_type,
                amount: v.amount,
                decision: v.decision,
                fraud_probability: v.fraud_probability,
                reasons: v.reasons.clone(),
                explanation: v.explanation.clone(),
            });
        }
    }

    /// Counts one outcome (a verdict joined with its label).
    pub fn record_outcome(&self, o: &Outcome) {
        let mut s = self.lock();
        s.snapshot.outcomes.record(o);
        let closed =
            s.card_precision
                .add(o.event_time, &o.account, o.fraud_probability, o.is_fraud);
        if let (Some(last), Some(mean)) = (closed.last(), s.card_precision.mean()) {
            s.snapshot.outcomes.card_precision = Some(CardPrecisionView {
                k: s.card_precision.k(),
                last_day: last.day,
                last_day_precision: last.precision,
                mean,
                days: s.card_precision.days(),
            });
        }
    }

    /// What the verdicts' `account` holds: `account` for PaySim, else the spec's key field.
    pub fn key(&self) -> String {
        self.lock().snapshot.key.clone()
    }

    /// The current view.
    pub fn snapshot(&self) -> LiveSnapshot {
        let s = self.lock();
        let mut snapshot = s.snapshot.clone();
        let flagged = snapshot.reviewed + snapshot.blocked;
        snapshot.fraud_rate_pct = if snapshot.total == 0 {
            0.0
        } else {
            100.0 * flagged as f64 / snapshot.total as f64
        };
        snapshot.outcomes.derive_ratios();
        snapshot.points = s.points.iter().copied().collect();
        snapshot.log = s.log.iter().cloned().collect();
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(i: i64, decision: Decision, amount: f64) -> Verdict {
        Verdict {
            tx_id: format!("t{i}"),
            account: "C1".into(),
            amount,
            tx_type: TxType::Transfer,
            event_time: i,
            fraud_probability: 0.5,
            decision,
            reasons: vec!["type is TRANSFER (+0.10)".into()],
            model_version: "rf-1".into(),
            scored_at: i,
            rules: Vec::new(),
            features: Vec::new(),
            explanation: None,
        }
    }

    #[test]
    fn totals_rate_points_and_log_are_bounded() {
        let feed = LiveFeed::new(0, "account");
        for i in 0..2_000 {
            let d = match i % 100 {
                0 => Decision::Block,
                1 => Decision::Review,
                _ => Decision::Allow,
            };
            feed.record(&verdict(i, d, 10.0));
        }
        let s = feed.snapshot();
        assert_eq!(
            (s.total, s.blocked, s.reviewed, s.allowed),
            (2_000, 20, 20, 1_960)
        );
        assert!((s.fraud_rate_pct - 2.0).abs() < 1e-9);
        assert!((s.blocked_amount - 200.0).abs() < 1e-9);
        assert_eq!(s.points.len(), MAX_POINTS);
        assert_eq!(s.points.last().map(|p| p.0), Some(1_999));
        assert_eq!(s.log.len(), 40.min(MAX_LOG));
        assert_eq!(s.log[0].tx_id, "t1901", "newest first");
    }

    #[test]
    fn outcomes_give_precision_recall_and_money() {
        let feed = LiveFeed::new(0, "account");
        assert!(feed.snapshot().outcomes.block_precision.is_none());
        // 4 frauds: 2 blocked (100 each), 1 reviewed, 1 allowed (50); 6 legit: 1 blocked (7),
        // 1 reviewed, 4 allowed.
        let cases = [
            (true, Decision::Block, 100.0),
            (true, Decision::Block, 100.0),
            (true, Decision::Review, 1.0),
            (true, Decision::Allow, 50.0),
            (false, Decision::Block, 7.0),
            (false, Decision::Review, 1.0),
            (false, Decision::Allow, 1.0),
            (false, Decision::Allow, 1.0),
            (false, Decision::Allow, 1.0),
            (false, Decision::Allow, 1.0),
        ];
        for (i, (is_fraud, decision, amount)) in cases.into_iter().enumerate() {
            let label = aegis_core::Label {
                tx_id: format!("t{i}"),
                is_fraud,
                labelled_at: 10,
                source: None,
                event_time: None,
            };
            feed.record_outcome(&Outcome::join(
                &verdict(i as i64, decision, amount),
                &label,
                11,
            ));
        }
        let o = feed.snapshot().outcomes;
        assert_eq!((o.labelled, o.frauds), (10, 4));
        assert_eq!(o.block_precision, Some(2.0 / 3.0));
        assert_eq!(o.block_recall, Some(0.5));
        assert_eq!(o.flagged_precision, Some(3.0 / 5.0));
        assert_eq!(o.flagged_recall, Some(0.75));
        assert_eq!(
            (o.money_stopped, o.money_lost, o.legit_money_blocked),
            (200.0, 50.0, 7.0)
        );
        // Card Precision@100: day 0 (every outcome above: one account, with fraud) closes when
        // an outcome two days later arrives; 1 compromised card among the top 100.
        assert!(o.card_precision.is_none(), "no day closed yet");
        let mut later = verdict(2 * 86_400_000, Decision::Allow, 1.0);
        later.account = "C2".into();
        let label = aegis_core::Label {
            tx_id: later.tx_id.clone(),
            is_fraud: false,
            labelled_at: 10,
            source: None,
            event_time: None,
        };
        feed.record_outcome(&Outcome::join(&later, &label, 11));
        let cp = feed.snapshot().outcomes.card_precision.unwrap();
        assert_eq!((cp.k, cp.days, cp.last_day), (100, 1, 0));
        assert_eq!((cp.last_day_precision, cp.mean), (0.01, 0.01));
    }
}
