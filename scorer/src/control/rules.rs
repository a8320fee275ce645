//! Records of the rules topic (key = rule set name, value = the rule set as JSON, docs/rules.md):
//! the latest good record of each name is that set in use; a tombstone removes only the set of
//! its key (the `--rules` file's set then applies again, if it has that name); a bad record is
//! refused with a log line and a metric, and the sets in use stay ([`crate::rules`]).

use aegis_core::error_line::one_line;
use aegis_core::rules::RuleSet;
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;

use crate::metrics::RuleUpdate;
use crate::replica::ReplicaState;
use crate::rules::Removal;

/// Installs or refuses one record of the rules topic.
pub(super) fn apply(replica: &ReplicaState, message: &BorrowedMessage<'_>) {
    let place = super::place(message);
    let key = message
        .key()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let Some(bytes) = message.payload().filter(|b| !b.is_empty()) else {
        remove(replica, &place, &key);
        return;
    };
    let set = match RuleSet::from_json_for(bytes, replica.models.live().spec()) {
        Ok(set) if set.name == key => set,
        Ok(set) => {
            tracing::warn!(record = %place, key = %key, rules = %set.name, "refused a rule set published under another name's key; keeping the sets in use");
            replica.metrics.rules_updated(RuleUpdate::Refused);
            return;
        }
        Err(e) => {
            tracing::warn!(record = %place, error = %one_line(&e), "refused a rule set; keeping the sets in use");
            replica.metrics.rules_updated(RuleUpdate::Refused);
            return;
        }
    };
    let (name, version, count) = (set.name.clone(), set.version, set.rules.len());
    replica.metrics.rules_loaded(&set);
    match replica.rules.publish(set) {
        Ok(()) => {
            tracing::info!(record = %place, rules = %name, version, count, "rule set installed");
            replica.metrics.rules_updated(RuleUpdate::Installed);
        }
        Err(problem) => {
            tracing::warn!(record = %place, rules = %name, error = %problem, "refused a rule set; keeping the sets in use");
            replica.metrics.rules_updated(RuleUpdate::Refused);
        }
    }
}

/// A tombstone: removes the set of its key, and only that.
fn remove(replica: &ReplicaState, place: &str, key: &str) {
    if key.is_empty() {
        tracing::warn!(record = %place, "refused an empty rules record without a key: a tombstone names the set it removes");
        replica.metrics.rules_updated(RuleUpdate::Refused);
        return;
    }
    match replica.rules.remove(key) {
        Removal::Removed => {
            tracing::info!(record = %place, rules = %key, "rule set removed");
            replica.metrics.rules_updated(RuleUpdate::Removed);
        }
        Removal::BackToFile => {
            tracing::info!(record = %place, rules = %key, "published rule set removed: the --rules file's set of that name applies again");
            replica.metrics.rules_updated(RuleUpdate::Removed);
        }
        Removal::Unknown => {
            tracing::info!(record = %place, rules = %key, "tombstone for a rule set not in use: nothing changed");
        }
    }
}
