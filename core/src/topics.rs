//! The topics of the contract: their names, and the table of partitions and cleanup policies
//! (`deploy/topics.txt`) that the local stack, the tests and compose all create topics from.

/// Topic the producer writes transactions to.
pub const TRANSACTIONS_TOPIC: &str = "transactions";
/// Topic the scorer writes verdicts to.
pub const VERDICTS_TOPIC: &str = "verdicts";
/// Topic the scorer writes undecodable or invalid transactions to, with the reason in headers
/// (see [`crate::dead_letter`]).
pub const DLQ_TOPIC: &str = "transactions.dlq";

/// Topic the scorer writes the shadow model's verdicts to (never acted on; for comparison).
pub const SHADOW_VERDICTS_TOPIC: &str = "verdicts.shadow";
/// Compacted topic of the scorer's per-account state: partition p holds the accounts of input
/// partition p (key = account, value = its history and the source offset it reflects).
pub const STATE_CHANGELOG_TOPIC: &str = "scorer.state";
/// Compacted topic of rule sets (key = rule set name, value = JSON; see [`crate::rules`]), read
/// whole by every scorer replica.
pub const RULES_TOPIC: &str = "rules";
/// Compacted topic of model artifacts, keyed by role (`live` or `shadow`): every scorer replica
/// reads it whole and swaps models without a restart.
pub const MODELS_TOPIC: &str = "models";
/// Topic the producer writes labels to, after a delay (key = the transaction's origin account).
pub const LABELS_TOPIC: &str = "labels";
/// Topic the outcome service writes verdicts joined with their labels to (key = account).
pub const OUTCOMES_TOPIC: &str = "outcomes";

/// `deploy/topics.txt`, embedded: one line per topic, `name partitions cleanup.policy`.
const TABLE: &str = include_str!("../../deploy/topics.txt");

/// One row of the topic table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    /// The topic name.
    pub name: &'static str,
    /// How many partitions it is created with.
    pub partitions: i32,
    /// `delete` or `compact`.
    pub cleanup_policy: &'static str,
}

/// Every topic of the table, in its order.
///
/// # Panics
/// If `deploy/topics.txt` has a malformed line (this module's tests check that it has none).
pub fn table() -> Vec<TopicSpec> {
    TABLE
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(
            |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                [name, partitions, cleanup_policy] => TopicSpec {
                    name,
                    partitions: partitions
                        .parse()
                        .expect("deploy/topics.txt: partitions is a number"),
                    cleanup_policy,
                },
                _ => panic!("deploy/topics.txt: {line:?} is not `name partitions cleanup.policy`"),
            },
        )
        .collect()
}

/// The row of `name`, if the table has one.
pub fn spec(name: &str) -> Option<TopicSpec> {
    table().into_iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_the_contracts_topics_well_formed() {
        for line in TABLE.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 3, "deploy/topics.txt: {line:?}");
            assert!(fields[1].parse::<i32>().is_ok_and(|p| p > 0), "{line:?}");
            assert!(["delete", "compact"].contains(&fields[2]), "{line:?}");
        }
        let names: Vec<&str> = table().iter().map(|t| t.name).collect();
        for topic in [
            TRANSACTIONS_TOPIC,
            VERDICTS_TOPIC,
            DLQ_TOPIC,
            LABELS_TOPIC,
            OUTCOMES_TOPIC,
        ] {
            assert!(
                names.contains(&topic),
                "{topic} is not in deploy/topics.txt"
            );
        }
    }
}

#[cfg(test)]
mod co_partitioning {
    use super::*;

    #[test]
    fn labels_are_co_partitioned_with_verdicts() {
        // The outcome service joins verdicts[p] with labels[p]: both keyed by account, so the
        // counts must match for one account's verdicts and labels to meet on one partition.
        let partitions = |t| spec(t).map(|s| s.partitions);
        assert_eq!(partitions(LABELS_TOPIC), partitions(VERDICTS_TOPIC));
        assert!(partitions(OUTCOMES_TOPIC).is_some());
    }
}
