//! The replica's Prometheus metrics (prefix `aegis_`, labels from closed sets only: decision, type,
//! reason, partition — never an account or a transaction id). Every label combination of a closed
//! set is created at start, so dashboards show zeros rather than gaps.

use std::time::Duration;

use aegis_core::spec::entities::Evictions;
use aegis_core::{Decision, Model, TxType, Verdict};
use prometheus::core::Metric as _;
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry,
};

use aegis_core::DeadLetterReason;

use crate::models::Role;
use crate::stream::process::Output;
use crate::stream::state::{Eviction, Restored};
use aegis_core::rules::RuleSet;
use aegis_core::signing::{Artifact, Refusal};

/// Event-to-verdict latency buckets, in seconds: 1 ms to 10 s. 1.5 s and 2 s bound what the
/// benchmark measured at 8,000 tx/s (p99 1.48 s) and the latency alert's threshold (2 s), so that
/// `histogram_quantile` reads both without interpolating across a wide bucket.
const LATENCY_BUCKETS: [f64; 17] = [
    0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 5.0,
    10.0,
];
/// Batch scoring time buckets, in seconds: 10 µs to 100 ms.
const SCORING_BUCKETS: [f64; 11] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.1,
];

/// What a rules topic record did: the `outcome` label of `aegis_rule_updates_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleUpdate {
    /// A rule set was installed.
    Installed,
    /// A tombstone removed a set.
    Removed,
    /// Refused: the sets in use stay.
    Refused,
}

impl RuleUpdate {
    /// Every outcome (metrics are pre-registered for each).
    pub const ALL: [RuleUpdate; 3] = [
        RuleUpdate::Installed,
        RuleUpdate::Removed,
        RuleUpdate::Refused,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleUpdate::Installed => "installed",
            RuleUpdate::Removed => "removed",
            RuleUpdate::Refused => "refused",
        }
    }
}

/// Why the HTTP server refused a request or a connection: the `reason` label of
/// `aegis_http_rejected_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpRejection {
    /// `--http-max-connections` connections were open: 503.
    Connections,
    /// `--http-max-in-flight` requests were being read or answered: 503.
    InFlight,
    /// The body was over the limit: 413.
    BodyTooLarge,
    /// The request head or body did not arrive within `--http-read-timeout`: 408, or the
    /// connection closed.
    ReadTimeout,
    /// The client took no byte of its answer within `--http-read-timeout`: the connection
    /// closed.
    WriteTimeout,
    /// No valid bearer token for a protected route: 401.
    Unauthorized,
}

impl HttpRejection {
    /// Every reason (metrics are pre-registered for each).
    pub const ALL: [HttpRejection; 6] = [
        HttpRejection::Connections,
        HttpRejection::InFlight,
        HttpRejection::BodyTooLarge,
        HttpRejection::ReadTimeout,
        HttpRejection::WriteTimeout,
        HttpRejection::Unauthorized,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpRejection::Connections => "connections",
            HttpRejection::InFlight => "in_flight",
            HttpRejection::BodyTooLarge => "body_too_large",
            HttpRejection::ReadTimeout => "read_timeout",
            HttpRejection::WriteTimeout => "write_timeout",
            HttpRejection::Unauthorized => "unauthorized",
        }
    }
}

/// Holds a gauge one higher while it lives.
pub struct GaugeHeld(IntGauge);

impl Drop for GaugeHeld {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The `topic` label of a control topic's metrics.
fn topic_label(kind: Artifact) -> &'static str {
    match kind {
        Artifact::Model => "models",
        Artifact::Rules => "rules",
    }
}

/// All of a replica's metrics and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    received: IntCounter,
    scored: IntCounterVec,
    amount: prometheus::CounterVec,
    dead_letters: IntCounterVec,
    scoring_duration: Histogram,
    batch_size: Histogram,
    event_to_verdict: Histogram,
    pub(crate) consumer_lag: IntGaugeVec,
    pub(crate) assigned_partitions: IntGauge,
    pub(crate) rebalances: IntCounter,
    delivery_failures: IntCounter,
    model_info: GaugeVec,
    model_updates: IntCounterVec,
    shadow_model_info: GaugeVec,
    rule_hits: IntCounterVec,
    rule_updates: IntCounterVec,
    state_accounts: IntGauge,
    state_evictions: IntCounterVec,
    event_time_skewed: IntCounter,
    control_refusals: IntCounterVec,
    legacy_fingerprints: IntCounter,
    state_restores: IntCounter,
    state_restored_accounts: IntCounter,
    state_restore_seconds: Histogram,
    state_changelog_lag: IntGauge,
    shadow_agreement: IntCounterVec,
    shadow_delivery_failures: IntCounter,
    model_installed_at: GaugeVec,
    thresholds: GaugeVec,
    up_since: Gauge,
    /// Labels the card stage handled, by outcome (`forwarded`, `unmatched`).
    pub(crate) entity_labels: IntCounterVec,
    /// Records the entity stage released after later ones (`transaction`, `label`).
    pub(crate) entity_late: IntCounterVec,
    /// Records waiting in the entity stage's event-time merge.
    pub(crate) entity_waiting: IntGauge,
    /// Entities and their transactions the stages keep, by entity field.
    entity_keys: IntGaugeVec,
    entity_events: IntGaugeVec,
    /// Entities the stages' limits forgot, by entity field and limit.
    entity_evictions: IntCounterVec,
    http_rejected: IntCounterVec,
    review_decisions: IntCounterVec,
    review_failures: IntCounter,
    review_queue: IntGauge,
    http_connections: IntGauge,
    http_in_flight: IntGauge,
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    // Names are fixed and unique, so registration cannot fail; a failure would be a bug caught by
    // the metrics test.
    if let Err(e) = registry.register(Box::new(metric.clone())) {
        tracing::error!(error = %e, "metric not registered");
    }
    metric
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    register(r, IntCounter::new(name, help).expect("valid metric name"))
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        r,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn histogram(r: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    register(r, Histogram::with_opts(opts).expect("valid histogram"))
}

impl Metrics {
    /// Creates every metric for a replica scoring with `model`.
    #[allow(clippy::expect_used)] // fixed, valid names: a failure is a bug, and the test catches it
    pub fn new(model: &Model) -> Metrics {
        let r = Registry::new();
        aegis_kafka::build_info::register(&r);
        let m = Metrics {
            received: counter(&r, "aegis_transactions_received_total", "Messages consumed from the input topic."),
            scored: counter_vec(&r, "aegis_transactions_scored_total", "Verdicts written and acknowledged, by decision and transaction type.", &["decision", "type"]),
            amount: register(&r, prometheus::CounterVec::new(Opts::new("aegis_transaction_amount_total", "Sum of scored transaction amounts, by decision (currency units)."), &["decision"]).expect("valid metric")),
            dead_letters: counter_vec(&r, "aegis_dlq_messages_total", "Messages written to the dead-letter topic, by reason.", &["reason"]),
            scoring_duration: histogram(&r, "aegis_scoring_duration_seconds", "Time to decode, score and encode one batch.", &SCORING_BUCKETS),
            batch_size: histogram(&r, "aegis_scoring_batch_size", "Messages per scored batch.", &[1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0]),
            event_to_verdict: histogram(&r, "aegis_event_to_verdict_seconds", "From a transaction's event time to the broker's acknowledgement of its verdict.", &LATENCY_BUCKETS),
            consumer_lag: register(&r, IntGaugeVec::new(Opts::new("aegis_consumer_lag", "Messages behind the end of each assigned input partition (librdkafka statistics)."), &["partition"]).expect("valid metric")),
            assigned_partitions: register(&r, IntGauge::new("aegis_assigned_partitions", "Input partitions this replica holds.").expect("valid metric")),
            rebalances: counter(&r, "aegis_rebalances_total", "Partition assignments and revocations seen."),
            delivery_failures: counter(&r, "aegis_delivery_failures_total", "Verdicts or dead letters the broker failed to acknowledge (the replica stops)."),
            model_info: register(&r, GaugeVec::new(Opts::new("aegis_model_info", "The model in use (value 1), by version."), &["model_version"]).expect("valid metric")),
            model_updates: counter_vec(&r, "aegis_model_updates_total", "Models read from the models topic, by role and outcome: installed, or refused (corrupt or incompatible; the replica keeps the model it had).", &["role", "outcome"]),
            rule_hits: counter_vec(&r, "aegis_rule_hits_total", "Verdicts on which each rule fired (names: the rule set's, a closed set per version).", &["rule"]),
            rule_updates: counter_vec(&r, "aegis_rule_updates_total", "Records read from the rules topic, by outcome: installed, removed (a tombstone), or refused (the sets in use stay).", &["outcome"]),
            state_accounts: register(&r, IntGauge::new("aegis_state_accounts", "Origin accounts whose history this replica holds, over its partitions.").expect("valid metric")),
            state_evictions: counter_vec(&r, "aegis_state_evictions_total", "Account histories dropped, by reason: capacity (--state-max-accounts) or expired (--state-ttl).", &["reason"]),
            legacy_fingerprints: counter(&r, "aegis_legacy_fingerprint_messages_total", "Single-object messages read with the schema fingerprint Aegis wrote before it followed the Avro specification (AVRO-4004): still accepted; when this stops rising, nothing old is left to read."),
            control_refusals: counter_vec(&r, "aegis_control_refusals_total", "Records of the models and rules topics refused for their signature, by topic (models, rules) and reason (unsigned, unknown_signer, bad_signature): the model or rules in use stay.", &["topic", "reason"]),
            event_time_skewed: counter(&r, "aegis_event_time_skewed_total", "Transactions more than --max-clock-skew ahead of their partition's clock and as far from the wall clock: scored with their account's history, but neither remembered nor moving the clock."),
            state_restores: counter(&r, "aegis_state_restores_total", "Partitions whose account states were restored from the changelog (on assignment)."),
            state_restored_accounts: counter(&r, "aegis_state_restored_accounts_total", "Accounts read back from the changelog."),
            state_restore_seconds: histogram(&r, "aegis_state_restore_seconds", "Time to restore one partition's account states from the changelog.", &[0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]),
            state_changelog_lag: register(&r, IntGauge::new("aegis_state_changelog_lag", "Input messages scored whose account changes the changelog has not acknowledged yet (their offsets wait for it): what a crash now would make the next owner read again.").expect("valid metric")),
            shadow_model_info: register(&r, GaugeVec::new(Opts::new("aegis_shadow_model_info", "The shadow model scored beside the live one (value 1), by version; absent without one."), &["model_version"]).expect("valid metric")),
            shadow_agreement: counter_vec(&r, "aegis_shadow_verdicts_total", "Transactions scored by both models, by the live decision and the shadow's: the agreement matrix.", &["live", "shadow"]),
            shadow_delivery_failures: counter(&r, "aegis_shadow_delivery_failures_total", "Shadow verdicts the broker failed to acknowledge (counted, never fatal)."),
            model_installed_at: register(&r, GaugeVec::new(Opts::new("aegis_model_installed_time_seconds", "When the model in each role was installed, Unix seconds."), &["role"]).expect("valid metric")),
            thresholds: register(&r, GaugeVec::new(Opts::new("aegis_decision_threshold_ratio", "Lowest fraud probability that gets each decision."), &["decision"]).expect("valid metric")),
            up_since: register(&r, Gauge::new("aegis_start_time_seconds", "When this replica started, Unix seconds.").expect("valid metric")),
            entity_labels: counter_vec(&r, "aegis_entity_labels_total", "Labels the first stage of a spec's stream handled: forwarded to the entity's stage, or unmatched (their transaction is older than the longest risk span, forgotten past --entity-max-events, or not on this partition).", &["outcome"]),
            entity_late: counter_vec(&r, "aegis_entity_late_total", "Records the entity stage released after later ones had been (their source was idle, or a label came after its delay): their features can differ from the trainer's.", &["kind"]),
            entity_waiting: register(&r, IntGauge::new("aegis_entity_waiting", "Records waiting in the entity stage's event-time merge for every input partition to get to their time.").expect("valid metric name")),
            entity_keys: register(&r, IntGaugeVec::new(Opts::new("aegis_entity_keys", "Entities (cards, terminals) whose recent transactions a spec's stream keeps on this replica, over its partitions, by entity field."), &["entity"]).expect("valid metric")),
            entity_events: register(&r, IntGaugeVec::new(Opts::new("aegis_entity_events", "Transactions a spec's stream keeps for its entities on this replica, over its partitions, by entity field."), &["entity"]).expect("valid metric")),
            entity_evictions: counter_vec(&r, "aegis_entity_evictions_total", "Entities a spec's stream forgot for a limit, by entity field and limit: max_keys (--entity-max-keys), max_events (--entity-max-events; also an entity trimmed to its newest transactions). Their features start again from none: they differ from the trainer's.", &["entity", "reason"]),
            http_rejected: counter_vec(&r, "aegis_http_rejected_total", "HTTP requests and connections refused, by reason: connections (503, --http-max-connections), in_flight (503, --http-max-in-flight), body_too_large (413), read_timeout (408 or closed, --http-read-timeout), write_timeout (closed: the client took nothing of its answer for as long), unauthorized (401, --api-token-file).", &["reason"]),
            review_decisions: counter_vec(&r, "aegis_review_decisions_total", "Analyst decisions on the review queue whose label the labels topic acknowledged, by label (fraud, legit).", &["label"]),
            review_failures: counter(&r, "aegis_review_label_failures_total", "Analyst decisions whose label was not acknowledged in time (answered 503; the transaction stays in the queue)."),
            review_queue: register(&r, IntGauge::new("aegis_review_queue", "REVIEW verdicts waiting in the review queue for an analyst (at most 200; read when scraped).").expect("valid metric")),
            http_connections: register(&r, IntGauge::new("aegis_http_connections", "HTTP connections open (at most --http-max-connections).").expect("valid metric")),
            http_in_flight: register(&r, IntGauge::new("aegis_http_requests_in_flight", "HTTP requests being read or answered, /healthz, /readyz and /metrics aside (at most --http-max-in-flight).").expect("valid metric")),
            registry: r,
        };
        for d in Decision::ALL {
            for t in TxType::ALL {
                m.scored.with_label_values(&[d.as_str(), t.as_str()]);
            }
            m.amount.with_label_values(&[d.as_str()]);
        }
        for topic in ["models", "rules"] {
            for reason in Refusal::ALL {
                m.control_refusals
                    .with_label_values(&[topic, reason.as_str()]);
            }
        }
        for outcome in RuleUpdate::ALL {
            m.rule_updates.with_label_values(&[outcome.as_str()]);
        }
        for reason in Eviction::ALL {
            m.state_evictions.with_label_values(&[reason.as_str()]);
        }
        for live in Decision::ALL {
            for shadow in Decision::ALL {
                m.shadow_agreement
                    .with_label_values(&[live.as_str(), shadow.as_str()]);
            }
        }
        for reason in DeadLetterReason::ALL {
            m.dead_letters.with_label_values(&[reason.as_str()]);
        }
        for reason in HttpRejection::ALL {
            m.http_rejected.with_label_values(&[reason.as_str()]);
        }
        for is_fraud in [true, false] {
            m.review_decisions
                .with_label_values(&[aegis_core::label::class_of(is_fraud)]);
        }
        for role in Role::ALL {
            for outcome in ["installed", "refused"] {
                m.model_updates.with_label_values(&[role.as_str(), outcome]);
            }
        }
        m.show_live_model(model);
        m.model_installed_at
            .with_label_values(&[Role::Live.as_str()])
            .set(aegis_core::clock::now_ms() as f64 / 1000.0);
        m.up_since.set(aegis_core::clock::now_ms() as f64 / 1000.0);
        m
    }

    /// The text exposition format, for `GET /metrics`.
    pub fn render(&self) -> String {
        self.catch_up();
        aegis_kafka::service::render_metrics(&self.registry)
    }

    /// The answer to `GET /metrics`.
    pub fn response(&self) -> warp::reply::Response {
        self.catch_up();
        aegis_kafka::service::metrics_response(&self.registry)
    }

    /// Counters kept outside the registry, brought up to date before they are shown.
    fn catch_up(&self) {
        let reads = aegis_core::avro::legacy_fingerprint_reads();
        let shown = self.legacy_fingerprints.get();
        self.legacy_fingerprints.inc_by(reads.saturating_sub(shown));
    }

    /// Messages consumed.
    pub fn received(&self, n: usize) {
        self.received.inc_by(n as u64);
    }

    /// One batch scored.
    pub fn scored_batch(&self, n: usize, took: Duration) {
        self.scoring_duration.observe(took.as_secs_f64());
        self.batch_size.observe(n as f64);
    }

    /// Outputs the broker acknowledged, at `now_ms`.
    pub fn acknowledged(&self, outputs: &[Output], now_ms: i64) {
        for output in outputs {
            match output {
                Output::Verdict {
                    verdict, shadow, ..
                } => {
                    self.verdict_written(verdict);
                    if let Some(shadow) = shadow {
                        self.shadow_scored(verdict.decision, shadow.verdict.decision);
                    }
                    let latency = (now_ms - verdict.event_time).max(0) as f64 / 1000.0;
                    self.event_to_verdict.observe(latency);
                }
                Output::DeadLetter(letter) => {
                    self.dead_letters
                        .with_label_values(&[letter.reason.as_str()])
                        .inc();
                }
            }
        }
    }

    /// A transaction scored by both models: the live decision and the shadow's, in the agreement
    /// matrix.
    pub fn shadow_scored(&self, live: Decision, shadow: Decision) {
        self.shadow_agreement
            .with_label_values(&[live.as_str(), shadow.as_str()])
            .inc();
    }

    /// A verdict the broker acknowledged: counted by decision and type, its amount, its rules'
    /// hits. (Event-to-verdict latency is the caller's: event time is wall time only for live
    /// traffic.)
    pub fn verdict_written(&self, verdict: &Verdict) {
        let decision = verdict.decision.as_str();
        for rule in &verdict.rules {
            self.rule_hits.with_label_values(&[rule]).inc();
        }
        self.scored
            .with_label_values(&[decision, verdict.tx_type.as_str()])
            .inc();
        self.amount
            .with_label_values(&[decision])
            .inc_by(verdict.amount);
    }

    /// A dead letter the broker acknowledged, counted by reason.
    pub fn dead_letter_written(&self, reason: DeadLetterReason) {
        self.dead_letters
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    /// The live model and its thresholds, as `aegis_model_info` and `aegis_decision_threshold_ratio`.
    fn show_live_model(&self, model: &Model) {
        self.model_info.reset();
        self.model_info
            .with_label_values(&[&model.model_version()])
            .set(1.0);
        self.thresholds
            .with_label_values(&["REVIEW"])
            .set(model.thresholds().review);
        self.thresholds
            .with_label_values(&["BLOCK"])
            .set(model.thresholds().block);
    }

    /// A model from the models topic was installed in `role` at `now_ms`.
    pub fn model_installed(&self, role: Role, model: &Model, now_ms: i64) {
        self.model_updates
            .with_label_values(&[role.as_str(), "installed"])
            .inc();
        self.model_installed_at
            .with_label_values(&[role.as_str()])
            .set(now_ms as f64 / 1000.0);
        match role {
            Role::Live => self.show_live_model(model),
            Role::Shadow => {
                self.shadow_model_info.reset();
                self.shadow_model_info
                    .with_label_values(&[&model.model_version()])
                    .set(1.0);
            }
        }
    }

    /// A rule set is in use: its rules' counters exist from now on, at zero.
    pub fn rules_loaded(&self, rules: &RuleSet) {
        for rule in &rules.rules {
            self.rule_hits.with_label_values(&[&rule.name]);
        }
    }

    /// What a rules topic record did.
    pub fn rules_updated(&self, outcome: RuleUpdate) {
        self.rule_updates
            .with_label_values(&[outcome.as_str()])
            .inc();
    }

    /// Rule sets installed (`true`) or refused so far.
    pub fn rule_updates(&self, installed: bool) -> u64 {
        let outcome = if installed {
            RuleUpdate::Installed
        } else {
            RuleUpdate::Refused
        };
        self.rule_updates_of(outcome)
    }

    /// Rules topic records with this outcome so far.
    pub fn rule_updates_of(&self, outcome: RuleUpdate) -> u64 {
        self.rule_updates
            .with_label_values(&[outcome.as_str()])
            .get()
    }

    /// `n` transactions were too far ahead of their partition's clock ([`crate::stream::state::Observed::skewed`]).
    pub fn event_time_skewed(&self, n: u64) {
        self.event_time_skewed.inc_by(n);
    }

    /// Transactions counted by [`Metrics::event_time_skewed`] so far.
    pub fn event_times_skewed(&self) -> u64 {
        self.event_time_skewed.get()
    }

    /// A record of the models or rules topic was refused for its signature.
    pub fn control_refused(&self, kind: Artifact, refusal: Refusal) {
        self.control_refusals
            .with_label_values(&[topic_label(kind), refusal.as_str()])
            .inc();
    }

    /// Records of `kind`'s topic refused for `refusal` so far.
    pub fn control_refusals(&self, kind: Artifact, refusal: Refusal) -> u64 {
        self.control_refusals
            .with_label_values(&[topic_label(kind), refusal.as_str()])
            .get()
    }

    /// Account histories dropped for `reason` so far.
    pub fn state_evictions(&self, reason: Eviction) -> u64 {
        self.state_evictions
            .with_label_values(&[reason.as_str()])
            .get()
    }

    /// `accounts` accounts' histories were dropped, for `reason`.
    pub fn state_evicted(&self, reason: Eviction, accounts: u32) {
        if accounts > 0 {
            self.state_evictions
                .with_label_values(&[reason.as_str()])
                .inc_by(u64::from(accounts));
        }
    }

    /// A partition was restored from the changelog.
    pub fn state_restored(&self, restored: &Restored) {
        self.state_restores.inc();
        self.state_restored_accounts
            .inc_by(restored.accounts as u64);
        self.state_restore_seconds.observe(restored.seconds);
        tracing::info!(
            partition = restored.partition,
            accounts = restored.accounts,
            seconds = restored.seconds,
            "account states restored"
        );
    }

    /// `messages` more scored messages' account changes were handed to the changelog producer.
    pub fn changelog_written(&self, messages: usize) {
        self.state_changelog_lag.add(messages as i64);
    }

    /// The changelog acknowledged `messages` scored messages' account changes.
    pub fn changelog_acknowledged(&self, messages: usize) {
        self.state_changelog_lag.sub(messages as i64);
    }

    /// Scored messages whose account changes await the changelog's acknowledgement.
    pub fn changelog_lag(&self) -> i64 {
        self.state_changelog_lag.get()
    }

    /// Partitions restored from the changelog so far.
    pub fn state_restores(&self) -> u64 {
        self.state_restores.get()
    }

    /// `entity`'s tables over a stage's partitions keep `keys` entities and `events`
    /// transactions; their limits forgot `evicted` since last said.
    pub fn entity_tables(&self, entity: &str, keys: usize, events: usize, evicted: Evictions) {
        self.entity_keys
            .with_label_values(&[entity])
            .set(keys as i64);
        self.entity_events
            .with_label_values(&[entity])
            .set(events as i64);
        for (reason, n) in [("max_keys", evicted.keys), ("max_events", evicted.events)] {
            // Created at 0 too: a closed set, there from the start.
            self.entity_evictions
                .with_label_values(&[entity, reason])
                .inc_by(n);
        }
    }

    /// `entity`'s entities forgot for `reason` (max_keys, max_events) so far.
    pub fn entity_evictions(&self, entity: &str, reason: &str) -> u64 {
        self.entity_evictions
            .with_label_values(&[entity, reason])
            .get()
    }

    /// Accounts held now.
    pub fn state_accounts(&self, n: usize) {
        self.state_accounts.set(n as i64);
    }

    /// Verdicts on which `rule` fired so far.
    pub fn rule_hits(&self, rule: &str) -> u64 {
        self.rule_hits.with_label_values(&[rule]).get()
    }

    /// The shadow model was retired.
    pub fn shadow_retired(&self) {
        self.shadow_model_info.reset();
    }

    /// A shadow verdict was not acknowledged.
    pub fn shadow_delivery_failed(&self) {
        self.shadow_delivery_failures.inc();
    }

    /// Transactions the live model decided `live` and the shadow `shadow`, so far.
    pub fn shadow_agreement(&self, live: Decision, shadow: Decision) -> u64 {
        self.shadow_agreement
            .with_label_values(&[live.as_str(), shadow.as_str()])
            .get()
    }

    /// A record of the models topic was refused; `None` when its key named no role.
    pub fn model_refused(&self, role: Option<Role>) {
        let role = role.map_or("unknown", Role::as_str);
        self.model_updates
            .with_label_values(&[role, "refused"])
            .inc();
    }

    /// Models installed (`refused` false) or refused in `role` so far.
    pub fn model_updates(&self, role: Role, refused: bool) -> u64 {
        let outcome = if refused { "refused" } else { "installed" };
        self.model_updates
            .with_label_values(&[role.as_str(), outcome])
            .get()
    }

    /// An analyst's label was acknowledged.
    pub fn review_decided(&self, is_fraud: bool) {
        self.review_decisions
            .with_label_values(&[aegis_core::label::class_of(is_fraud)])
            .inc();
    }

    /// Analyst labels acknowledged so far, fraud (`true`) or legit.
    pub fn review_decisions(&self, is_fraud: bool) -> u64 {
        self.review_decisions
            .with_label_values(&[aegis_core::label::class_of(is_fraud)])
            .get()
    }

    /// An analyst's label was not acknowledged.
    pub fn review_failed(&self) {
        self.review_failures.inc();
    }

    /// REVIEW verdicts waiting in the review queue now.
    pub fn review_queue(&self, n: usize) {
        self.review_queue.set(n as i64);
    }

    /// The HTTP server refused a request or a connection.
    pub fn http_rejected(&self, reason: HttpRejection) {
        self.http_rejected
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    /// HTTP requests or connections refused for `reason` so far.
    pub fn http_rejections(&self, reason: HttpRejection) -> u64 {
        self.http_rejected
            .with_label_values(&[reason.as_str()])
            .get()
    }

    /// An HTTP connection opened: counted open until the guard drops.
    pub fn http_connection_opened(&self) -> GaugeHeld {
        self.http_connections.inc();
        GaugeHeld(self.http_connections.clone())
    }

    /// An HTTP request passed the in-flight gate: counted in flight until the guard drops.
    pub fn http_request_started(&self) -> GaugeHeld {
        self.http_in_flight.inc();
        GaugeHeld(self.http_in_flight.clone())
    }

    /// A delivery failed for good.
    pub fn delivery_failed(&self) {
        self.delivery_failures.inc();
    }

    /// Messages consumed so far.
    pub fn received_total(&self) -> u64 {
        self.received.get()
    }

    /// Verdicts with this decision written so far.
    pub fn verdicts(&self, decision: Decision) -> u64 {
        TxType::ALL
            .iter()
            .map(|t| {
                self.scored
                    .with_label_values(&[decision.as_str(), t.as_str()])
                    .get()
            })
            .sum()
    }

    /// Dead letters written so far.
    pub fn dead_letters(&self) -> u64 {
        DeadLetterReason::ALL
            .iter()
            .map(|r| self.dead_letters.with_label_values(&[r.as_str()]).get())
            .sum()
    }

    /// Sum of blocked amounts so far.
    pub fn blocked_amount(&self) -> f64 {
        self.amount
            .with_label_values(&[Decision::Block.as_str()])
            .get()
    }

    /// A quantile of event-to-verdict latency, in seconds, estimated from the histogram buckets
    /// (upper bound of the bucket holding it); `None` before any verdict.
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let metric = self.event_to_verdict.metric();
        let h = metric.get_histogram();
        let buckets: Vec<(f64, f64)> = h
            .get_bucket()
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count() as f64))
            .collect();
        aegis_kafka::service::bucket_quantile(&buckets, h.get_sample_count() as f64, q)
    }

    /// One line for the log at shutdown.
    pub fn summary(&self) -> String {
        let p99 = self
            .latency_quantile(0.99)
            .map_or_else(|| "n/a".to_owned(), |s| format!("<= {:.0} ms", s * 1000.0));
        format!(
            "received {}, verdicts ALLOW {} REVIEW {} BLOCK {} (blocked amount {:.2}), dead letters {}, p99 event-to-verdict {p99}",
            self.received_total(),
            self.verdicts(Decision::Allow),
            self.verdicts(Decision::Review),
            self.verdicts(Decision::Block),
            self.blocked_amount(),
            self.dead_letters(),
        )
    }
}
