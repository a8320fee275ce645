//! The producer's counters, which are also its Prometheus metrics (`aegis_producer_*`): the
//! summary, the progress bar and `/metrics` read the same numbers, so they never disagree.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus::{Gauge, IntCounter, Registry};

/// What the producer has done. Pass one to [`crate::run`]; serve [`Counters::registry`] to expose
/// it (the binary does with `--metrics-addr`).
pub struct Counters {
    /// Records handed to librdkafka (`aegis_producer_sent_total`).
    pub sent: IntCounter,
    /// Records the broker acknowledged (`aegis_producer_delivered_total`).
    pub delivered: IntCounter,
    /// Records that failed for good (`aegis_producer_failed_total`).
    pub failed: IntCounter,
    /// Labels handed to librdkafka (`aegis_producer_labels_sent_total`).
    pub labels_sent: IntCounter,
    /// Labels the broker acknowledged (`aegis_producer_labels_delivered_total`).
    pub labels_delivered: IntCounter,
    /// Labels that failed for good (`aegis_producer_labels_failed_total`).
    pub labels_failed: IntCounter,
    /// Labels withheld by `--label-share` (`aegis_producer_labels_withheld_total`).
    pub labels_withheld: IntCounter,
    /// The pace asked for with `--rate`, transactions per second
    /// (`aegis_producer_target_transactions_per_second`): registered by [`Counters::paced`], so
    /// the series is absent from an unpaced run. The achieved rate is Prometheus's to compute:
    /// `rate(aegis_producer_sent_total[1m])`.
    target_rate: Gauge,
    /// Second (since the epoch) of the last delivery-failure log line: at most one a second.
    pub(crate) last_error_log: AtomicU64,
    /// The registry `/metrics` serves.
    pub registry: Registry,
}

impl Counters {
    /// Fresh counters in a registry of their own.
    #[allow(clippy::expect_used)] // fixed, valid, distinct metric names
    pub fn new() -> Arc<Self> {
        let registry = Registry::new();
        aegis_kafka::build_info::register(&registry);
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let sent = counter(
            "aegis_producer_sent_total",
            "Transactions handed to the Kafka client.",
        );
        let delivered = counter(
            "aegis_producer_delivered_total",
            "Transactions the broker acknowledged.",
        );
        let failed = counter(
            "aegis_producer_failed_total",
            "Transactions that could not be delivered.",
        );
        let labels_sent = counter(
            "aegis_producer_labels_sent_total",
            "Labels handed to the Kafka client (--label-delay).",
        );
        let labels_delivered = counter(
            "aegis_producer_labels_delivered_total",
            "Labels the broker acknowledged.",
        );
        let labels_failed = counter(
            "aegis_producer_labels_failed_total",
            "Labels that could not be delivered.",
        );
        let labels_withheld = counter(
            "aegis_producer_labels_withheld_total",
            "Labels withheld by --label-share.",
        );
        let target_rate = Gauge::new(
            "aegis_producer_target_transactions_per_second",
            "The send rate asked for with --rate, transactions per second (absent when unpaced); \
             the achieved rate is rate(aegis_producer_sent_total).",
        )
        .expect("valid metric");
        Arc::new(Counters {
            sent,
            delivered,
            failed,
            labels_sent,
            labels_delivered,
            labels_failed,
            labels_withheld,
            target_rate,
            last_error_log: AtomicU64::new(0),
            registry,
        })
    }
}

impl Counters {
    /// The run is paced at `rate` transactions per second (`None`: as fast as the broker takes
    /// them): exposes the target, once, from now on.
    pub fn paced(&self, rate: Option<f64>) {
        if let Some(rate) = rate {
            // A second call re-registers the same gauge: AlreadyReg, and the value is updated.
            let _ = self.registry.register(Box::new(self.target_rate.clone()));
            self.target_rate.set(rate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_holds_build_info_and_process_metrics() {
        let text = aegis_kafka::service::render_metrics(&Counters::new().registry);
        let build = format!(
            "aegis_build_info{{git_sha=\"{}\",version=\"{}\"}} 1",
            aegis_kafka::build_info::GIT_SHA,
            aegis_kafka::build_info::VERSION
        );
        assert!(text.contains(&build), "{build} missing from:\n{text}");
        assert!(text.contains("\nprocess_resident_memory_bytes "), "{text}");
    }

    #[test]
    fn the_target_rate_is_exposed_only_when_paced() {
        let counters = Counters::new();
        let name = "aegis_producer_target_transactions_per_second";
        counters.paced(None);
        let text = aegis_kafka::service::render_metrics(&counters.registry);
        assert!(!text.contains(name), "{text}");
        counters.paced(Some(250.0));
        counters.paced(Some(500.0));
        let text = aegis_kafka::service::render_metrics(&counters.registry);
        assert!(text.contains(&format!("\n{name} 500\n")), "{text}");
        assert_eq!(text.matches(&format!("# TYPE {name} gauge")).count(), 1);
    }
}
