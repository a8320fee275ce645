//! The scorer's state features, offline: a PaySim CSV replayed in step order through the same
//! `aegis_core::account_state` the scorer uses online, each row's source offset its position in
//! that order — so a model or a rule sees the same values in both places (checked by
//! `scorer/tests/it/sequences.rs`, which feeds the same rows both ways).

use std::collections::HashMap;

use aegis_core::account_state::{AccountHistory, StateFeatures, StateParams};
use aegis_core::Transaction;

/// Every row's state features, in step order (rows of one step keep their file order), and every
/// account's history at the end.
pub fn replay(
    rows: &[Transaction],
    params: &StateParams,
) -> (Vec<StateFeatures>, HashMap<String, AccountHistory>) {
    let mut order: Vec<&Transaction> = rows.iter().collect();
    order.sort_by_key(|tx| tx.step);
    let mut accounts: HashMap<String, AccountHistory> = HashMap::new();
    let features = order
        .iter()
        .enumerate()
        .map(|(offset, tx)| {
            accounts
                .entry(tx.name_orig.clone())
                .or_default()
                .observe(tx, offset as i64, params)
        })
        .collect();
    (features, accounts)
}
