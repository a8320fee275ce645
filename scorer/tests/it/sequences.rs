//! Sequences: the scorer remembers each account's recent transactions, so the seed rule blocks a
//! transfer of most of the balance *because* a small payment came just before it — also when the
//! transfer leaves 5 % behind, which the model alone lets through.

use std::path::PathBuf;

use aegis_core::{Decision, Transaction, TxType};
use aegis_scorer::ScorerConfig;

use crate::{transaction, Pipeline, Replica};

fn seed_rules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/rules/default.json")
}

/// A small payment from `account` (unless `probe` is false), then a transfer of `share` of its
/// 181,000 balance a minute later.
fn takeover(account: &str, share: f64, probe: bool) -> Vec<Transaction> {
    let start = aegis_core::clock::now_ms();
    let mut txs = Vec::new();
    if probe {
        let mut payment = transaction(
            &format!("{account}-probe"),
            account,
            TxType::Payment,
            9.5,
            181_009.5,
            181_000.0,
        );
        payment.event_time = start;
        payment.name_dest = "M5551".into();
        txs.push(payment);
    }
    let amount = 181_000.0 * share;
    let mut transfer = transaction(
        &format!("{account}-transfer"),
        account,
        TxType::Transfer,
        amount,
        181_000.0,
        181_000.0 - amount,
    );
    transfer.event_time = start + 60_000;
    txs.push(transfer);
    txs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_after_a_probe_is_blocked_by_the_sequence_rule() {
    let pipeline = Pipeline::start().await;
    let replica = Replica::start(ScorerConfig {
        rules: Some(seed_rules()),
        ..pipeline.scorer_config("sequences")
    });
    replica.wait_for_partitions().await;
    let txs: Vec<Transaction> = [
        takeover("C7001", 1.0, true),
        takeover("C7002", 0.95, true),
        takeover("C7003", 0.95, false),
    ]
    .concat();
    pipeline.publish_transactions(&txs).await;
    let (_, verdicts) = pipeline.read_verdicts(txs.len());
    assert_eq!(verdicts.len(), txs.len());

    for account in ["C7001", "C7002"] {
        let v = &verdicts[&format!("{account}-transfer")];
        assert_eq!(v.decision, Decision::Block, "{v:?}");
        assert_eq!(v.rules, ["drain_after_probe"], "{v:?}");
        assert!(
            v.reasons[0].starts_with("rule drain_after_probe: "),
            "{v:?}"
        );
        let probe = &verdicts[&format!("{account}-probe")];
        assert!(probe.rules.is_empty(), "{probe:?}");
    }
    let alone = &verdicts["C7003-transfer"];
    assert!(alone.rules.is_empty(), "no probe, no sequence: {alone:?}");
    assert!(
        !alone.reasons.iter().any(|r| r.starts_with("rule ")),
        "{alone:?}"
    );

    let metrics = &replica.replica.metrics;
    assert_eq!(metrics.rule_hits("drain_after_probe"), 2);
    assert!(metrics.render().contains("aegis_state_accounts 3"));

    // The API keeps no state: the same transfer alone never carries the sequence rule.
    let api = aegis_scorer::http::routes(replica.replica.clone());
    let body = serde_json::json!({
        "type": "TRANSFER", "amount": 171_950.0, "name_orig": "C7002",
        "old_balance_orig": 181_000.0, "new_balance_orig": 9_050.0,
        "name_dest": "C1", "old_balance_dest": 0.0, "new_balance_dest": 0.0
    });
    let response = warp::test::request()
        .method("POST")
        .path("/v1/score")
        .json(&body)
        .reply(&api)
        .await;
    let verdict: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(verdict["rules"], serde_json::json!([]), "{verdict}");
    replica.stop().await;
}
