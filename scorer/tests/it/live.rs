//! `--live-view own`: the live page counts exactly the verdicts this replica wrote, without
//! reading the verdicts topic back.

use aegis_core::TxType;
use aegis_scorer::http::routes;
use aegis_scorer::LiveView;

use crate::{live_snapshot, transaction, Pipeline, Replica};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_view_counts_this_replicas_acknowledged_verdicts() {
    let pipeline = Pipeline::start().await;
    let config = aegis_scorer::ScorerConfig {
        live_view: LiveView::Own,
        ..pipeline.scorer_config("live-own")
    };
    let replica = Replica::start(config);
    let mut txs: Vec<_> = (0..30)
        .map(|i| {
            let amount = 20.0 + f64::from(i);
            transaction(
                &format!("o-{i}"),
                &format!("C7{i}"),
                TxType::Payment,
                amount,
                500.0,
                500.0 - amount,
            )
        })
        .collect();
    txs.push(transaction(
        "o-takeover",
        "C98",
        TxType::Transfer,
        90_000.0,
        90_000.0,
        0.0,
    ));
    pipeline.publish_transactions(&txs).await;
    let (_, verdicts) = pipeline.read_verdicts(txs.len());
    assert_eq!(verdicts.len(), txs.len());

    let snapshot = live_snapshot(&replica.replica, 31).await;
    assert_eq!(snapshot["total"], 31, "{snapshot}");
    assert_eq!(snapshot["blocked"], 1, "{snapshot}");
    assert_eq!(snapshot["blocked_amount"], 90_000.0);
    assert_eq!(snapshot["log"][0]["tx_id"], "o-takeover");
    // Nothing counted twice: the replica does not also follow the topic.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let api = routes(replica.replica.clone());
    let response = warp::test::request().path("/api/live").reply(&api).await;
    let again: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(again["total"], 31);
    replica.stop().await;
}
