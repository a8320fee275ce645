//! The outcome service's metrics (`aegis_outcomes_*`), labels from closed sets only: decision
//! (ALLOW, REVIEW, BLOCK), label (fraud, legit), side (verdict, label), reason (window, capacity),
//! flagged (block, review_or_block). Outcomes are counted when the broker acknowledges them, so
//! after a crash the re-joined ones count again (at least once).

use std::sync::Mutex;

use aegis_core::label::class_of;
use aegis_core::{Decision, Outcome};
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry,
};

use crate::join::{EvictionReason, Side};
use crate::quality::{Confusion, Flagged, QualityWindow};

/// Buckets of the verdict-to-label latency, seconds: a demo's seconds to real chargebacks' weeks.
const LATENCY_BUCKETS: [f64; 12] = [
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    3600.0,
    86_400.0,
    604_800.0,
    2_592_000.0,
];

/// Everything the service counts; serve [`Metrics::registry`] at `/metrics`.
pub struct Metrics {
    /// The registry `/metrics` serves.
    pub registry: Registry,
    received: IntCounterVec,
    undecodable: IntCounterVec,
    duplicates: IntCounterVec,
    evicted: IntCounterVec,
    pending: IntGaugeVec,
    outcomes: IntCounterVec,
    amount: prometheus::CounterVec,
    money_stopped: prometheus::Counter,
    money_lost: prometheus::Counter,
    legit_money_blocked: prometheus::Counter,
    latency: Histogram,
    precision: GaugeVec,
    recall: GaugeVec,
    window_outcomes: Gauge,
    precision_floor: Gauge,
    recall_floor: Gauge,
    /// Rebalances seen (`aegis_outcomes_rebalances_total`).
    pub rebalances: IntCounter,
    quality: Mutex<QualityWindow>,
    totals: Mutex<Confusion>,
}

impl Metrics {
    /// Fresh metrics; precision and recall over the last `quality_window` seconds, with the floors
    /// the alert rules compare them with.
    #[allow(clippy::expect_used)] // fixed, valid, distinct metric names
    pub fn new(quality_window: u64, precision_floor: f64, recall_floor: f64) -> Metrics {
        let registry = Registry::new();
        macro_rules! register {
            ($metric:expr) => {{
                let metric = $metric.expect("valid metric");
                registry
                    .register(Box::new(metric.clone()))
                    .expect("unique metric");
                metric
            }};
        }
        let metrics = Metrics {
            received: register!(IntCounterVec::new(
                Opts::new("aegis_outcomes_received_total", "Verdicts and labels read, by side."),
                &["side"]
            )),
            undecodable: register!(IntCounterVec::new(
                Opts::new(
                    "aegis_outcomes_undecodable_total",
                    "Messages that are not a verdict or label of the schema, skipped, by side."
                ),
                &["side"]
            )),
            duplicates: register!(IntCounterVec::new(
                Opts::new(
                    "aegis_outcomes_duplicates_total",
                    "Verdicts or labels of a tx_id already waiting (replayed upstream), by side."
                ),
                &["side"]
            )),
            evicted: register!(IntCounterVec::new(
                Opts::new(
                    "aegis_outcomes_evicted_total",
                    "Verdicts and labels given up on without their counterpart, by side and reason \
                     (window: waited longer than --join-window; capacity: beyond --max-pending)."
                ),
                &["side", "reason"]
            )),
            pending: register!(IntGaugeVec::new(
                Opts::new(
                    "aegis_outcomes_pending",
                    "Verdicts and labels waiting for their counterpart, by side."
                ),
                &["side"]
            )),
            outcomes: register!(IntCounterVec::new(
                Opts::new(
                    "aegis_outcomes_total",
                    "Outcomes written and acknowledged, by decision and label (fraud or legit)."
                ),
                &["decision", "label"]
            )),
            amount: register!(prometheus::CounterVec::new(
                Opts::new(
                    "aegis_outcomes_amount_total",
                    "Amount of the outcomes' transactions, by decision and label, in the account currency."
                ),
                &["decision", "label"]
            )),
            money_stopped: register!(prometheus::Counter::new(
                "aegis_outcomes_money_stopped_total",
                "Money stopped: the amount of fraud that was blocked, in the account currency."
            )),
            money_lost: register!(prometheus::Counter::new(
                "aegis_outcomes_money_lost_total",
                "Money lost: the amount of fraud that was allowed, in the account currency."
            )),
            legit_money_blocked: register!(prometheus::Counter::new(
                "aegis_outcomes_legit_money_blocked_total",
                "Legitimate money blocked: the amount of legit transactions blocked, in the account currency."
            )),
            latency: register!(Histogram::with_opts(
                HistogramOpts::new(
                    "aegis_outcomes_verdict_to_label_seconds",
                    "Time from a verdict to its transaction's label (0 when the label came first)."
                )
                .buckets(LATENCY_BUCKETS.to_vec())
            )),
            precision: register!(GaugeVec::new(
                Opts::new(
                    "aegis_outcomes_precision",
                    "Of the outcomes flagged (block: BLOCK; review_or_block: REVIEW or BLOCK) in the \
                     last --quality-window seconds, the share that were fraud; NaN when none was flagged."
                ),
                &["flagged"]
            )),
            recall: register!(GaugeVec::new(
                Opts::new(
                    "aegis_outcomes_recall",
                    "Of the frauds among the outcomes of the last --quality-window seconds, the share \
                     flagged (block or review_or_block); NaN when there was no fraud."
                ),
                &["flagged"]
            )),
            window_outcomes: register!(Gauge::new(
                "aegis_outcomes_window_outcomes",
                "Outcomes in the last --quality-window seconds: what the precision and recall gauges rest on."
            )),
            precision_floor: register!(Gauge::new(
                "aegis_outcomes_precision_floor",
                "--precision-floor: the live precision below which AegisOutcomePrecisionLow fires."
            )),
            recall_floor: register!(Gauge::new(
                "aegis_outcomes_recall_floor",
                "--recall-floor: the live recall below which AegisOutcomeRecallLow fires."
            )),
            rebalances: register!(IntCounter::new(
                "aegis_outcomes_rebalances_total",
                "Partition assignments and revocations this instance has seen."
            )),
            quality: Mutex::new(QualityWindow::new(quality_window)),
            totals: Mutex::new(Confusion::default()),
            registry,
        };
        // Every series of the closed sets exists from the start, at zero.
        for side in Side::ALL {
            let s = side.as_str();
            metrics.received.with_label_values(&[s]);
            metrics.undecodable.with_label_values(&[s]);
            metrics.duplicates.with_label_values(&[s]);
            metrics.pending.with_label_values(&[s]);
            for reason in EvictionReason::ALL {
                metrics.evicted.with_label_values(&[s, reason.as_str()]);
            }
        }
        for decision in Decision::ALL {
            for is_fraud in [false, true] {
                let labels = [decision.as_str(), class_of(is_fraud)];
                metrics.outcomes.with_label_values(&labels);
                metrics.amount.with_label_values(&labels);
            }
        }
        metrics.precision_floor.set(precision_floor);
        metrics.recall_floor.set(recall_floor);
        metrics.quality_gauges(aegis_core::clock::now_ms() / 1000);
        metrics
    }

    /// A message was read.
    pub fn received(&self, side: Side) {
        self.received.with_label_values(&[side.as_str()]).inc();
    }

    /// A message was not a verdict or label of the schema.
    pub fn undecodable(&self, side: Side) {
        self.undecodable.with_label_values(&[side.as_str()]).inc();
    }

    /// A message replaced a waiting one of the same tx_id.
    pub fn duplicate(&self, side: Side) {
        self.duplicates.with_label_values(&[side.as_str()]).inc();
    }

    /// A message was given up on.
    pub fn evicted(&self, side: Side, reason: EvictionReason) {
        self.evicted
            .with_label_values(&[side.as_str(), reason.as_str()])
            .inc();
    }

    /// Messages waiting now.
    pub fn set_pending(&self, side: Side, n: usize) {
        self.pending
            .with_label_values(&[side.as_str()])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// An outcome was acknowledged by the broker.
    pub fn acknowledged(&self, outcome: &Outcome, now_ms: i64) {
        let labels = [outcome.decision.as_str(), outcome.class()];
        self.outcomes.with_label_values(&labels).inc();
        let amount = outcome.amount.max(0.0);
        self.amount.with_label_values(&labels).inc_by(amount);
        match (outcome.decision, outcome.is_fraud) {
            (Decision::Block, true) => self.money_stopped.inc_by(amount),
            (Decision::Allow, true) => self.money_lost.inc_by(amount),
            (Decision::Block, false) => self.legit_money_blocked.inc_by(amount),
            _ => {}
        }
        self.latency
            .observe(outcome.verdict_to_label_ms.max(0) as f64 / 1000.0);
        let second = now_ms / 1000;
        lock(&self.quality).add(second, outcome.decision, outcome.is_fraud);
        lock(&self.totals).add(outcome.decision, outcome.is_fraud);
    }

    /// Recomputes the precision and recall gauges for the window ending at `second`.
    pub fn quality_gauges(&self, second: i64) {
        let counts = lock(&self.quality).counts(second);
        for flagged in Flagged::ALL {
            let f = flagged.as_str();
            let p = counts.precision(flagged).unwrap_or(f64::NAN);
            let r = counts.recall(flagged).unwrap_or(f64::NAN);
            self.precision.with_label_values(&[f]).set(p);
            self.recall.with_label_values(&[f]).set(r);
        }
        self.window_outcomes.set(counts.total() as f64);
    }

    /// Outcomes acknowledged since the start, by decision and label.
    pub fn confusion(&self) -> Confusion {
        *lock(&self.totals)
    }

    /// One line for the log at the end.
    pub fn summary(&self) -> String {
        let c = self.confusion();
        let evicted: u64 = Side::ALL
            .iter()
            .flat_map(|s| {
                EvictionReason::ALL.iter().map(|r| {
                    self.evicted
                        .with_label_values(&[s.as_str(), r.as_str()])
                        .get()
                })
            })
            .sum();
        format!(
            "{} outcomes written (BLOCK {}/{} fraud/legit, REVIEW {}/{}, ALLOW {}/{}), {} evicted",
            c.total(),
            c.get(Decision::Block, true),
            c.get(Decision::Block, false),
            c.get(Decision::Review, true),
            c.get(Decision::Review, false),
            c.get(Decision::Allow, true),
            c.get(Decision::Allow, false),
            evicted
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain counters: a panic elsewhere cannot leave them inconsistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
