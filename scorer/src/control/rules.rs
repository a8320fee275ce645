//! Records of the rules topic (key = rule set name, value = the rule set as JSON, docs/rules.md):
//! the latest good record is the rule set in use; a tombstone removes the rules; a bad one is
//! refused with a log line and a metric, and the rule set in use stays.

use aegis_core::error_line::one_line;
use aegis_core::rules::RuleSet;
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;

use crate::replica::ReplicaState;

/// Installs or refuses one record of the rules topic.
pub(super) fn apply(replica: &ReplicaState, message: &BorrowedMessage<'_>) {
    let place = super::place(message);
    let Some(bytes) = message.payload().filter(|b| !b.is_empty()) else {
        replica.rules.install(RuleSet::empty());
        replica.metrics.rules_updated(true);
        tracing::info!(record = %place, "rules removed: the model alone decides");
        return;
    };
    match RuleSet::from_json(bytes) {
        Ok(rules) => {
            tracing::info!(
                record = %place, rules = %rules.name, version = rules.version, count = rules.rules.len(),
                "rule set installed"
            );
            replica.metrics.rules_loaded(&rules);
            replica.rules.install(rules);
            replica.metrics.rules_updated(true);
        }
        Err(e) => {
            tracing::warn!(record = %place, error = %one_line(&e), "refused a rule set; keeping the one in use");
            replica.metrics.rules_updated(false);
        }
    }
}
