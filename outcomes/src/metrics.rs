//! The outcome service's metrics (`aegis_outcomes_*`), labels from closed sets only: role (live,
//! shadow), decision (ALLOW, REVIEW, BLOCK), label (fraud, legit), side (verdict, label,
//! shadow_verdict), reason (window, capacity), flagged (block, review_or_block). Live outcomes are
//! counted when the broker acknowledges them, shadow ones when joined (they are only measured, not
//! written), so after a crash the re-joined ones count again (at least once).

use std::sync::Mutex;

use aegis_core::label::{class_of, source_class, LABEL_SOURCES};
use aegis_core::{Decision, Outcome};
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry,
};

use crate::join::{EvictionReason, Role, Side};
use crate::late::LateResult;
use aegis_core::card_precision::DailyCardPrecision;

use crate::quality::{Confusion, Flagged, QualityWindow};
use crate::rules::RuleWindow;

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
    misrouted: IntCounter,
    duplicates: IntCounterVec,
    evicted: IntCounterVec,
    pending: IntGaugeVec,
    late_labels: IntCounterVec,
    late_scanned: IntCounter,
    outcomes: IntCounterVec,
    amount: prometheus::CounterVec,
    money_stopped: prometheus::CounterVec,
    money_lost: prometheus::CounterVec,
    legit_money_blocked: prometheus::CounterVec,
    latency: Histogram,
    precision: GaugeVec,
    recall: GaugeVec,
    window_outcomes: GaugeVec,
    rule_fired: IntCounterVec,
    rule_precision: GaugeVec,
    rule_recall: GaugeVec,
    precision_floor: Gauge,
    recall_floor: Gauge,
    card_precision_day: GaugeVec,
    card_precision_mean: GaugeVec,
    card_precision_days: IntCounterVec,
    /// Rebalances seen (`aegis_outcomes_rebalances_total`).
    pub rebalances: IntCounter,
    /// Per role (live, shadow).
    quality: Mutex<[QualityWindow; 2]>,
    totals: Mutex<[Confusion; 2]>,
    /// Per rule, of the live outcomes.
    rules: Mutex<RuleWindow>,
    /// Card Precision@k per role, by event-time day.
    card_precision: Mutex<[DailyCardPrecision; 2]>,
}

fn slot(role: Role) -> usize {
    match role {
        Role::Live => 0,
        Role::Shadow => 1,
    }
}

impl Metrics {
    /// Fresh metrics; precision and recall over the last `quality_window` seconds, with the floors
    /// the alert rules compare them with. Long: one registration per metric, in the order of
    /// the README's metrics table, so the list reads as the reference does.
    #[allow(clippy::expect_used)] // fixed, valid, distinct metric names
    pub fn new(
        quality_window: u64,
        precision_floor: f64,
        recall_floor: f64,
        card_precision_k: usize,
    ) -> Metrics {
        let registry = Registry::new();
        aegis_kafka::build_info::register(&registry);
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
                Opts::new(
                    "aegis_outcomes_received_total",
                    "Verdicts, labels and shadow verdicts read, by side."
                ),
                &["side"]
            )),
            undecodable: register!(IntCounterVec::new(
                Opts::new(
                    "aegis_outcomes_undecodable_total",
                    "Messages that are not a verdict or label of the schema, skipped, by side \
                     (verdict, label, shadow_verdict)."
                ),
                &["side"]
            )),
            misrouted: register!(IntCounter::new(
                "aegis_outcomes_misrouted_labels_total",
                "Labels on a partition other than the one the Java client's partitioner (murmur2, \
                 Aegis's) gives their key: their verdicts are on another partition, so they can \
                 never join. Their producer must partition with murmur2 (librdkafka: \
                 partitioner=murmur2_random)."
            )),
            duplicates: register!(IntCounterVec::new(
                Opts::new(
                    "aegis_outcomes_duplicates_total",
                    "Verdicts or labels of a tx_id already waiting (replayed upstream), by the role \
                     of the join (live, shadow) and side."
                ),
                &["role", "side"]
            )),
            evicted: register!(IntCounterVec::new(
                Opts::new(
                    "aegis_outcomes_evicted_total",
                    "Verdicts and labels given up on without their counterpart, by the role of the \
                     join (live; shadow: a label no shadow verdict met is evicted there), side and \
                     reason (window: waited longer than --join-window; capacity: beyond --max-pending)."
                ),
                &["role", "side", "reason"]
            )),
            pending: register!(IntGaugeVec::new(
                Opts::new(
                    "aegis_outcomes_pending",
                    "Verdicts and labels waiting for their counterpart, by the role of the join and side."
                ),
                &["role", "side"]
            )),
            late_labels: register!(IntCounterVec::new(
                Opts::new(
                    "aegis_outcomes_late_labels_total",
                    "Labels the live join gave up on (waited out --join-window or --max-pending), \
                     by what the lookup in the verdicts topic did (result: joined; not_found; \
                     scan_limit: --late-label-max-scan read; beyond_horizon: event time older than \
                     --label-horizon, not looked for; no_event_time: not looked for)."
                ),
                &["result"]
            )),
            late_scanned: register!(IntCounter::new(
                "aegis_outcomes_late_label_verdicts_scanned_total",
                "Verdicts read from the verdicts topic by late-label lookups: their cost."
            )),
            outcomes: register!(IntCounterVec::new(
                Opts::new(
                    "aegis_outcomes_total",
                    "Outcomes by role (live: written and acknowledged; shadow: the shadow model's \
                     verdicts joined with the same labels, only measured), decision, label \
                     (fraud or legit) and the label's source (chargeback, analyst, replay, \
                     simulation; other; none when it did not say)."
                ),
                &["role", "decision", "label", "source"]
            )),
            amount: register!(prometheus::CounterVec::new(
                Opts::new(
                    "aegis_outcomes_amount_total",
                    "Amount of the outcomes' transactions, by role, decision and label, in the account currency."
                ),
                &["role", "decision", "label"]
            )),
            money_stopped: register!(prometheus::CounterVec::new(
                Opts::new(
                    "aegis_outcomes_money_stopped_total",
                    "Money stopped: the amount of fraud that was blocked (shadow: would have been), \
                     by role, in the account currency."
                ),
                &["role"]
            )),
            money_lost: register!(prometheus::CounterVec::new(
                Opts::new(
                    "aegis_outcomes_money_lost_total",
                    "Money lost: the amount of fraud that was allowed (shadow: would have been), \
                     by role, in the account currency."
                ),
                &["role"]
            )),
            legit_money_blocked: register!(prometheus::CounterVec::new(
                Opts::new(
                    "aegis_outcomes_legit_money_blocked_total",
                    "Legitimate money blocked: the amount of legit transactions blocked (shadow: \
                     would have been), by role, in the account currency."
                ),
                &["role"]
            )),
            latency: register!(Histogram::with_opts(
                HistogramOpts::new(
                    "aegis_outcomes_verdict_to_label_seconds",
                    "Time from a live verdict to its transaction's label (0 when the label came first)."
                )
                .buckets(LATENCY_BUCKETS.to_vec())
            )),
            precision: register!(GaugeVec::new(
                Opts::new(
                    "aegis_outcomes_precision_ratio",
                    "Of the outcomes flagged (block: BLOCK; review_or_block: REVIEW or BLOCK) in the \
                     last --quality-window seconds, the share that were fraud, by role (live, shadow); \
                     NaN when none was flagged."
                ),
                &["role", "flagged"]
            )),
            recall: register!(GaugeVec::new(
                Opts::new(
                    "aegis_outcomes_recall_ratio",
                    "Of the frauds among the outcomes of the last --quality-window seconds, the share \
                     flagged (block or review_or_block) by the role's model; NaN when there was no fraud."
                ),
                &["role", "flagged"]
            )),
            window_outcomes: register!(GaugeVec::new(
                Opts::new(
                    "aegis_outcomes_window_outcomes",
                    "Outcomes in the last --quality-window seconds, by role: what the precision and \
                     recall gauges rest on."
                ),
                &["role"]
            )),
            rule_fired: register!(IntCounterVec::new(
                Opts::new(
                    "aegis_outcomes_rule_fired_total",
                    "Live outcomes whose verdict a rule fired on (whatever its action: a rule in \
                     monitor mode, action ALLOW, fires without changing the decision), by rule \
                     and label (fraud, legit). Rules beyond the first 100 names count as _other."
                ),
                &["rule", "label"]
            )),
            rule_precision: register!(GaugeVec::new(
                Opts::new(
                    "aegis_outcomes_rule_precision_ratio",
                    "Of the live outcomes of the last --quality-window seconds a rule fired on, \
                     the share that were fraud, by rule; NaN when it did not fire."
                ),
                &["rule"]
            )),
            rule_recall: register!(GaugeVec::new(
                Opts::new(
                    "aegis_outcomes_rule_recall_ratio",
                    "Of the frauds among the live outcomes of the last --quality-window seconds, \
                     the share a rule fired on, by rule; NaN when there was no fraud."
                ),
                &["rule"]
            )),
            precision_floor: register!(Gauge::new(
                "aegis_outcomes_precision_floor_ratio",
                "--precision-floor: the live precision below which AegisOutcomePrecisionLow fires."
            )),
            recall_floor: register!(Gauge::new(
                "aegis_outcomes_recall_floor_ratio",
                "--recall-floor: the live recall below which AegisOutcomeRecallLow fires."
            )),
            card_precision_day: register!(GaugeVec::new(
                Opts::new(
                    "aegis_outcomes_card_precision_day_ratio",
                    format!(
                        "Card Precision@{card_precision_k} of the last closed event-time day, by role: \
                         of the day's {card_precision_k} cards (verdict keys) with the highest score, \
                         the share with a fraud that day (cards found on earlier days left out)."
                    )
                ),
                &["role"]
            )),
            card_precision_mean: register!(GaugeVec::new(
                Opts::new(
                    "aegis_outcomes_card_precision_mean_ratio",
                    format!(
                        "Card Precision@{card_precision_k}, the mean over every day closed since start, by role."
                    )
                ),
                &["role"]
            )),
            card_precision_days: register!(IntCounterVec::new(
                Opts::new(
                    "aegis_outcomes_card_precision_days_total",
                    "Event-time days closed for Card Precision@k (a day closes when an outcome two \
                     days later arrives), by role."
                ),
                &["role"]
            )),
            rebalances: register!(IntCounter::new(
                "aegis_outcomes_rebalances_total",
                "Partition assignments and revocations this instance has seen."
            )),
            quality: Mutex::new([
                QualityWindow::new(quality_window),
                QualityWindow::new(quality_window),
            ]),
            totals: Mutex::new([Confusion::default(); 2]),
            rules: Mutex::new(RuleWindow::new(quality_window)),
            card_precision: Mutex::new([
                DailyCardPrecision::new(card_precision_k),
                DailyCardPrecision::new(card_precision_k),
            ]),
            registry,
        };
        // Every series of the closed sets exists from the start, at zero.
        for result in LateResult::ALL {
            metrics.late_labels.with_label_values(&[result.as_str()]);
        }
        for side in Side::ALL {
            metrics.received.with_label_values(&[side.as_str()]);
            metrics.undecodable.with_label_values(&[side.as_str()]);
        }
        for role in Role::ALL {
            let r = role.as_str();
            for side in Side::joined_by(role) {
                let s = side.as_str();
                metrics.duplicates.with_label_values(&[r, s]);
                metrics.pending.with_label_values(&[r, s]);
                for reason in EvictionReason::ALL {
                    metrics.evicted.with_label_values(&[r, s, reason.as_str()]);
                }
            }
            for decision in Decision::ALL {
                for is_fraud in [false, true] {
                    let labels = [r, decision.as_str(), class_of(is_fraud)];
                    metrics.amount.with_label_values(&labels);
                    for source in LABEL_SOURCES {
                        let [r, d, l] = labels;
                        metrics.outcomes.with_label_values(&[r, d, l, source]);
                    }
                }
            }
            metrics.money_stopped.with_label_values(&[r]);
            metrics.money_lost.with_label_values(&[r]);
            metrics.legit_money_blocked.with_label_values(&[r]);
            metrics.card_precision_days.with_label_values(&[r]);
            metrics
                .card_precision_day
                .with_label_values(&[r])
                .set(f64::NAN);
            metrics
                .card_precision_mean
                .with_label_values(&[r])
                .set(f64::NAN);
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

    /// A label arrived on a partition its key does not hash to (murmur2).
    pub fn misrouted_label(&self) {
        self.misrouted.inc();
    }

    /// Labels on a partition their key does not hash to, so far.
    pub fn misrouted_labels(&self) -> u64 {
        self.misrouted.get()
    }

    /// A message replaced a waiting one of the same tx_id in `role`'s join.
    pub fn duplicate(&self, role: Role, side: Side) {
        self.duplicates
            .with_label_values(&[role.as_str(), side.as_str()])
            .inc();
    }

    /// A message was given up on by `role`'s join.
    pub fn evicted(&self, role: Role, side: Side, reason: EvictionReason) {
        self.evicted
            .with_label_values(&[role.as_str(), side.as_str(), reason.as_str()])
            .inc();
    }

    /// What became of a label the live join gave up on.
    pub fn late_label(&self, result: LateResult) {
        self.late_labels.with_label_values(&[result.as_str()]).inc();
    }

    /// Late labels with `result` so far.
    pub fn late_labels(&self, result: LateResult) -> u64 {
        self.late_labels.with_label_values(&[result.as_str()]).get()
    }

    /// A late-label lookup read `n` verdicts.
    pub fn late_scanned(&self, n: u64) {
        self.late_scanned.inc_by(n);
    }

    /// Messages waiting now in `role`'s join.
    pub fn set_pending(&self, role: Role, side: Side, n: usize) {
        self.pending
            .with_label_values(&[role.as_str(), side.as_str()])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// An outcome of `role`'s model: a live one acknowledged by the broker, a shadow one joined.
    pub fn joined(&self, role: Role, outcome: &Outcome, now_ms: i64) {
        let r = role.as_str();
        let labels = [r, outcome.decision.as_str(), outcome.class()];
        let source = source_class(outcome.label_source.as_deref());
        let [_, d, l] = labels;
        self.outcomes.with_label_values(&[r, d, l, source]).inc();
        let amount = outcome.amount.max(0.0);
        self.amount.with_label_values(&labels).inc_by(amount);
        let money = match (outcome.decision, outcome.is_fraud) {
            (Decision::Block, true) => Some(&self.money_stopped),
            (Decision::Allow, true) => Some(&self.money_lost),
            (Decision::Block, false) => Some(&self.legit_money_blocked),
            _ => None,
        };
        if let Some(money) = money {
            money.with_label_values(&[r]).inc_by(amount);
        }
        let second = now_ms / 1000;
        if role == Role::Live {
            self.latency
                .observe(outcome.verdict_to_label_ms.max(0) as f64 / 1000.0);
            let mut rules = lock(&self.rules);
            let names: Vec<String> = outcome.rules_fired.iter().map(|r| rules.name(r)).collect();
            for name in &names {
                self.rule_fired
                    .with_label_values(&[name.as_str(), outcome.class()])
                    .inc();
            }
            rules.add(second, &names, outcome.is_fraud);
        }
        lock(&self.quality)[slot(role)].add(second, outcome.decision, outcome.is_fraud);
        lock(&self.totals)[slot(role)].add(outcome.decision, outcome.is_fraud);
        let mut card_precision = lock(&self.card_precision);
        let daily = &mut card_precision[slot(role)];
        let closed = daily.add(
            outcome.event_time,
            &outcome.account,
            outcome.fraud_probability,
            outcome.is_fraud,
        );
        if let Some(last) = closed.last() {
            self.card_precision_day
                .with_label_values(&[r])
                .set(last.precision);
            self.card_precision_mean
                .with_label_values(&[r])
                .set(daily.mean().unwrap_or(f64::NAN));
            self.card_precision_days
                .with_label_values(&[r])
                .inc_by(closed.len() as u64);
        }
    }

    /// Recomputes the precision and recall gauges of both roles for the window ending at `second`.
    pub fn quality_gauges(&self, second: i64) {
        let mut quality = lock(&self.quality);
        for role in Role::ALL {
            let r = role.as_str();
            let counts = quality[slot(role)].counts(second);
            for flagged in Flagged::ALL {
                let f = flagged.as_str();
                let p = counts.precision(flagged).unwrap_or(f64::NAN);
                let rc = counts.recall(flagged).unwrap_or(f64::NAN);
                self.precision.with_label_values(&[r, f]).set(p);
                self.recall.with_label_values(&[r, f]).set(rc);
            }
            self.window_outcomes
                .with_label_values(&[r])
                .set(counts.total() as f64);
        }
        drop(quality);
        for rule in lock(&self.rules).quality(second) {
            let name = [rule.rule.as_str()];
            self.rule_precision
                .with_label_values(&name)
                .set(rule.precision.unwrap_or(f64::NAN));
            self.rule_recall
                .with_label_values(&name)
                .set(rule.recall.unwrap_or(f64::NAN));
        }
    }

    /// Outcomes of `role` since the start, by decision and label.
    pub fn confusion(&self, role: Role) -> Confusion {
        lock(&self.totals)[slot(role)]
    }

    /// One line for the log at the end.
    pub fn summary(&self) -> String {
        let evicted: u64 = Role::ALL
            .iter()
            .flat_map(|role| Side::joined_by(*role).map(|side| (*role, side)))
            .flat_map(|(role, side)| {
                EvictionReason::ALL.iter().map(move |r| {
                    self.evicted
                        .with_label_values(&[role.as_str(), side.as_str(), r.as_str()])
                        .get()
                })
            })
            .sum();
        let describe = |c: Confusion| {
            format!(
                "BLOCK {}/{} fraud/legit, REVIEW {}/{}, ALLOW {}/{}",
                c.get(Decision::Block, true),
                c.get(Decision::Block, false),
                c.get(Decision::Review, true),
                c.get(Decision::Review, false),
                c.get(Decision::Allow, true),
                c.get(Decision::Allow, false),
            )
        };
        let (live, shadow) = (self.confusion(Role::Live), self.confusion(Role::Shadow));
        format!(
            "{} outcomes written ({}), {} shadow outcomes measured ({}), {} evicted",
            live.total(),
            describe(live),
            shadow.total(),
            describe(shadow),
            evicted
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain counters: a panic elsewhere cannot leave them inconsistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
mod tests {
    use super::*;
    use aegis_core::TxType;

    fn outcome(day: i64, card: &str, probability: f64, is_fraud: bool) -> Outcome {
        Outcome {
            tx_id: format!("{card}-{day}"),
            account: card.into(),
            decision: Decision::Allow,
            fraud_probability: probability,
            amount: 1.0,
            tx_type: TxType::Payment,
            model_version: "m".into(),
            event_time: 1_522_540_800_000 + day * 86_400_000,
            scored_at: 0,
            is_fraud,
            labelled_at: 0,
            label_source: None,
            verdict_to_label_ms: 0,
            joined_at: 0,
            rules_fired: Vec::new(),
        }
    }

    fn gauge(metrics: &Metrics, name: &str) -> f64 {
        let families = metrics.registry.gather();
        let family = families.iter().find(|f| f.name() == name).unwrap();
        family
            .get_metric()
            .iter()
            .find(|m| m.get_label().iter().any(|l| l.value() == "live"))
            .unwrap()
            .get_gauge()
            .get_value()
    }

    fn series(metrics: &Metrics, name: &str, label: &str) -> f64 {
        let families = metrics.registry.gather();
        let family = families.iter().find(|f| f.name() == name).unwrap();
        let metric = family
            .get_metric()
            .iter()
            .find(|m| m.get_label().iter().any(|l| l.value() == label))
            .unwrap();
        if name.ends_with("_total") {
            metric.get_counter().get_value()
        } else {
            metric.get_gauge().get_value()
        }
    }

    #[test]
    fn a_monitor_rule_is_judged_by_the_live_outcomes_it_fired_on() {
        let metrics = Metrics::new(300, 0.5, 0.5, 100);
        let now_ms = 1_000_000;
        for (rules, is_fraud) in [
            (vec!["monitor_probe"], true),
            (vec!["monitor_probe"], false),
            (vec![], true),
            (vec!["monitor_probe"], true),
        ] {
            let mut o = outcome(0, "a", 0.1, is_fraud);
            o.rules_fired = rules.into_iter().map(str::to_owned).collect();
            metrics.joined(Role::Live, &o, now_ms);
        }
        // A shadow outcome is not a rule's.
        let mut shadow = outcome(0, "a", 0.1, false);
        shadow.rules_fired = vec!["monitor_probe".into()];
        metrics.joined(Role::Shadow, &shadow, now_ms);
        metrics.quality_gauges(now_ms / 1000);
        let p = series(
            &metrics,
            "aegis_outcomes_rule_precision_ratio",
            "monitor_probe",
        );
        let r = series(
            &metrics,
            "aegis_outcomes_rule_recall_ratio",
            "monitor_probe",
        );
        assert_eq!((p, r), (2.0 / 3.0, 2.0 / 3.0));
        let families = metrics.registry.gather();
        let fired = families
            .iter()
            .find(|f| f.name() == "aegis_outcomes_rule_fired_total")
            .unwrap();
        let count = |label: &str| {
            fired
                .get_metric()
                .iter()
                .find(|m| m.get_label().iter().any(|l| l.value() == label))
                .map(|m| m.get_counter().get_value())
        };
        assert_eq!((count("fraud"), count("legit")), (Some(2.0), Some(1.0)));
    }

    #[test]
    fn card_precision_is_published_per_closed_day_from_the_live_outcomes() {
        let metrics = Metrics::new(300, 0.5, 0.5, 1);
        assert!(gauge(&metrics, "aegis_outcomes_card_precision_day_ratio").is_nan());
        // Day 0: the top card is a fraud (1/1); day 1: the top card is legit (0/1).
        for o in [
            outcome(0, "a", 0.9, true),
            outcome(0, "b", 0.1, false),
            outcome(1, "c", 0.8, false),
            outcome(1, "d", 0.2, true),
        ] {
            metrics.joined(Role::Live, &o, 0);
        }
        assert!(
            gauge(&metrics, "aegis_outcomes_card_precision_day_ratio").is_nan(),
            "open"
        );
        metrics.joined(Role::Live, &outcome(2, "e", 0.5, false), 0);
        assert_eq!(
            gauge(&metrics, "aegis_outcomes_card_precision_day_ratio"),
            1.0
        );
        metrics.joined(Role::Live, &outcome(3, "e", 0.5, false), 0);
        assert_eq!(
            gauge(&metrics, "aegis_outcomes_card_precision_day_ratio"),
            0.0
        );
        assert_eq!(
            gauge(&metrics, "aegis_outcomes_card_precision_mean_ratio"),
            0.5
        );
    }
}
