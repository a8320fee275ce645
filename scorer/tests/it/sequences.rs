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

/// A replica given the partitions restores their accounts as they are assigned (paused until then),
/// not when their first message arrives: the state is there before any new input, and the
/// transfers that follow are scored with the probes a previous owner saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_restored_when_assigned_before_their_messages_are_scored() {
    let pipeline = Pipeline::start().await;
    let changelog = aegis_testkit::unique_topic("state");
    pipeline
        .broker
        .create_topics(&[(&changelog, crate::PARTITIONS)])
        .await;
    let config = || ScorerConfig {
        rules: Some(seed_rules()),
        state_changelog_topic: changelog.clone(),
        ..pipeline.scorer_config("restore-on-assignment")
    };
    let accounts = ["C7101", "C7102", "C7103", "C7104", "C7105", "C7106"];
    let (probes, transfers): (Vec<Transaction>, Vec<Transaction>) = accounts
        .iter()
        .map(|a| {
            let [probe, transfer] = <[Transaction; 2]>::try_from(takeover(a, 0.95, true)).unwrap();
            (probe, transfer)
        })
        .unzip();

    let first = Replica::start(config());
    first.wait_for_partitions().await;
    pipeline.publish_transactions(&probes).await;
    assert_eq!(pipeline.read_verdicts(probes.len()).1.len(), probes.len());
    let metrics = first.replica.metrics.clone();
    first.stop().await;
    assert_eq!(
        metrics.changelog_lag(),
        0,
        "every scored message's account changes were acknowledged by the changelog"
    );

    let second = Replica::start(config());
    second.wait_for_partitions().await;
    let metrics = second.replica.metrics.clone();
    let held = crate::PARTITIONS as u64;
    for _ in 0..300 {
        if metrics.state_restores() == held {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        metrics.state_restores(),
        held,
        "every partition restored on assignment"
    );
    assert!(
        metrics
            .render()
            .contains(&format!("aegis_state_accounts {}", accounts.len())),
        "the accounts are back before any new message"
    );

    pipeline.publish_transactions(&transfers).await;
    let (_, verdicts) = pipeline.read_verdicts(probes.len() + transfers.len());
    for account in accounts {
        let v = &verdicts[&format!("{account}-transfer")];
        assert_eq!(v.rules, ["drain_after_probe"], "{v:?}");
        assert_eq!(v.decision, Decision::Block, "{v:?}");
    }
    assert_eq!(
        metrics.state_restores(),
        held,
        "no partition was restored again on the scoring path"
    );
    second.stop().await;
    assert_eq!(metrics.changelog_lag(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_set_published_while_traffic_flows_changes_decisions_without_a_restart() {
    let pipeline = Pipeline::start().await;
    let rules_topic = aegis_testkit::unique_topic("rules");
    pipeline.broker.create_topics(&[(&rules_topic, 1)]).await;
    let replica = Replica::start(ScorerConfig {
        rules_topic: rules_topic.clone(),
        ..pipeline.scorer_config("rules-live")
    });
    replica.wait_for_partitions().await;
    let publish = |bytes: Vec<u8>| {
        let (pipeline, topic) = (&pipeline, rules_topic.clone());
        async move {
            let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", pipeline.broker.bootstrap())
                .create()
                .unwrap();
            producer
                .send(
                    rdkafka::producer::FutureRecord::to(&topic)
                        .key("default")
                        .payload(&bytes),
                    std::time::Duration::from_secs(10),
                )
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    };

    // No rules yet: the drain after a probe carries none.
    let before = takeover("C7101", 0.95, true);
    pipeline.publish_transactions(&before).await;
    let (_, verdicts) = pipeline.read_verdicts(before.len());
    assert!(verdicts["C7101-transfer"].rules.is_empty());

    publish(std::fs::read(seed_rules()).unwrap()).await;
    let metrics = replica.replica.metrics.clone();
    for _ in 0..100 {
        if metrics.rule_updates(true) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(metrics.rule_updates(true), 1, "the rule set was installed");
    let after = takeover("C7102", 0.95, true);
    pipeline.publish_transactions(&after).await;
    let (_, verdicts) = pipeline.read_verdicts(before.len() + after.len());
    assert_eq!(verdicts["C7102-transfer"].rules, ["drain_after_probe"]);
    assert_eq!(verdicts["C7102-transfer"].decision, Decision::Block);

    // A malformed rule set changes nothing and is counted.
    publish(br#"{"name":"default","version":2,"rules":[{"name":"Bad Name"}]}"#.to_vec()).await;
    for _ in 0..100 {
        if metrics.rule_updates(false) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        metrics.rule_updates(false),
        1,
        "the bad rule set was refused"
    );
    let last = takeover("C7103", 1.0, true);
    pipeline.publish_transactions(&last).await;
    let n = before.len() + after.len() + last.len();
    let (_, verdicts) = pipeline.read_verdicts(n);
    assert_eq!(verdicts["C7103-transfer"].rules, ["drain_after_probe"]);
    replica.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_rows_give_the_same_state_online_and_offline() {
    use std::collections::HashMap;

    use aegis_core::account_state::StateParams;
    use aegis_core::paysim::PaysimReader;
    use aegis_scorer::stream::state::Stored;
    use rdkafka::Message;

    // 300 PaySim rows over 12 steps and 20 accounts, each account paying, transferring and cashing
    // out to a few destinations, in step order.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    let mut text = String::from("step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud\n");
    for i in 0..300 {
        let (step, account, dest) = (1 + i / 25, i % 20, i % 7);
        let kind = ["PAYMENT", "TRANSFER", "CASH_OUT"][i % 3];
        let amount = 10.0 + (i * 37 % 500) as f64;
        text.push_str(&format!(
            "{step},{kind},{amount},C90{account},5000.0,{},C80{dest},0.0,0.0,0,0\n",
            5000.0 - amount
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let rows: Vec<Transaction> = PaysimReader::open(&csv)
        .unwrap()
        .map(|r| r.unwrap().transaction)
        .collect();

    // Offline: the trainer's replay.
    let (_, offline) = aegis_trainer::state::replay(&rows, &StateParams::default());

    // Online: the same rows through the scorer, on one partition so offsets follow the same order.
    let pipeline = Pipeline::start().await;
    let (input, changelog) = (
        aegis_testkit::unique_topic("rows"),
        aegis_testkit::unique_topic("state"),
    );
    pipeline
        .broker
        .create_topics(&[(&input, 1), (&changelog, 1)])
        .await;
    let replica = Replica::start(ScorerConfig {
        input_topic: input.clone(),
        state_changelog_topic: changelog.clone(),
        ..pipeline.scorer_config("state-both-ways")
    });
    replica.wait_for_partitions().await;
    let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", pipeline.broker.bootstrap())
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for tx in &rows {
        let value = aegis_core::avro::AvroCodec::transaction()
            .encode(tx, aegis_core::avro::Framing::SingleObject)
            .unwrap();
        producer
            .send(
                rdkafka::producer::FutureRecord::to(&input)
                    .key(tx.name_orig.as_bytes())
                    .payload(&value),
                std::time::Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    let (_, verdicts) = pipeline.read_verdicts(rows.len());
    assert_eq!(verdicts.len(), rows.len());
    replica.stop().await;

    // The changelog's last record per account is the account's state online.
    let mut online: HashMap<String, Stored> = HashMap::new();
    for m in pipeline.read(&changelog, usize::MAX, std::time::Duration::from_secs(10)) {
        let account = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        let stored: Stored = serde_json::from_slice(m.payload().unwrap()).unwrap();
        online.insert(account, stored);
    }
    assert_eq!(online.len(), 20);
    for (account, history) in &offline {
        assert_eq!(&online[account].history, history, "{account}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_applies_a_published_rule_set() {
    let pipeline = Pipeline::start().await;
    let rules_topic = aegis_testkit::unique_topic("rules");
    pipeline.broker.create_topics(&[(&rules_topic, 1)]).await;
    let config = ScorerConfig {
        rules_topic: rules_topic.clone(),
        ..pipeline.scorer_config("rules-two")
    };
    let (a, b) = (Replica::start(config.clone()), Replica::start(config));
    a.wait_for_partitions().await;
    b.wait_for_partitions().await;
    for _ in 0..100 {
        if a.assignment.partitions().len() + b.assignment.partitions().len() == 4
            && !a.assignment.partitions().is_empty()
            && !b.assignment.partitions().is_empty()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", pipeline.broker.bootstrap())
        .create()
        .unwrap();
    let seed = std::fs::read(seed_rules()).unwrap();
    producer
        .send(
            rdkafka::producer::FutureRecord::to(&rules_topic)
                .key("default")
                .payload(&seed),
            std::time::Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    for replica in [&a, &b] {
        for _ in 0..100 {
            if replica.replica.metrics.rule_updates(true) == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(replica.replica.metrics.rule_updates(true), 1);
    }
    // Enough accounts to land on every partition, so both replicas score some.
    let txs: Vec<Transaction> = (0..16)
        .flat_map(|i| takeover(&format!("C72{i:02}"), 0.95, true))
        .collect();
    pipeline.publish_transactions(&txs).await;
    let (_, verdicts) = pipeline.read_verdicts(txs.len());
    for i in 0..16 {
        let v = &verdicts[&format!("C72{i:02}-transfer")];
        assert_eq!(v.rules, ["drain_after_probe"], "{v:?}");
    }
    let hits = |r: &Replica| r.replica.metrics.rule_hits("drain_after_probe");
    assert!(hits(&a) > 0 && hits(&b) > 0, "both replicas applied it");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstones_and_empty_rules_records_never_drop_the_rules_file_s_rules() {
    use aegis_scorer::metrics::RuleUpdate;

    let pipeline = Pipeline::start().await;
    let rules_topic = aegis_testkit::unique_topic("rules");
    pipeline.broker.create_topics(&[(&rules_topic, 1)]).await;
    let replica = Replica::start(ScorerConfig {
        rules_topic: rules_topic.clone(),
        rules: Some(seed_rules()),
        ..pipeline.scorer_config("rules-file")
    });
    replica.wait_for_partitions().await;
    let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", pipeline.broker.bootstrap())
        .create()
        .unwrap();
    let send = |key: Option<&'static str>, payload: Option<&'static [u8]>| {
        let (producer, topic) = (producer.clone(), rules_topic.clone());
        async move {
            let mut record = rdkafka::producer::FutureRecord::<str, [u8]>::to(&topic);
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(payload) = payload {
                record = record.payload(payload);
            }
            producer
                .send(record, std::time::Duration::from_secs(10))
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    };
    // A tombstone for the file's set (null value), an empty record for it, one for another name,
    // and an empty record without a key.
    send(Some("default"), None).await;
    send(Some("default"), Some(b"")).await;
    send(Some("velocity"), Some(b"")).await;
    send(None, Some(b"")).await;
    // A set of another name, published: it joins the file's.
    let monitor: &'static [u8] = br#"{"name":"monitor","version":1,"rules":[{"name":"big_transfer","action":"ALLOW","reason":"watching big transfers","when":[{"field":"type","op":"==","value":"TRANSFER"},{"field":"amount","op":">=","value":100000}]}]}"#;
    send(Some("monitor"), Some(monitor)).await;
    let metrics = replica.replica.metrics.clone();
    for _ in 0..100 {
        if metrics.rule_updates(true) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        metrics.rule_updates(true),
        1,
        "the monitor set was installed"
    );
    assert_eq!(
        metrics.rule_updates(false),
        1,
        "the keyless empty record was refused"
    );
    assert_eq!(
        metrics.rule_updates_of(RuleUpdate::Removed),
        0,
        "nothing was removed"
    );

    let txs = takeover("C7301", 0.95, true);
    pipeline.publish_transactions(&txs).await;
    let (_, verdicts) = pipeline.read_verdicts(txs.len());
    let transfer = &verdicts["C7301-transfer"];
    assert_eq!(
        transfer.rules,
        ["drain_after_probe", "big_transfer"],
        "{transfer:?}"
    );
    assert_eq!(transfer.decision, Decision::Block);
    let sets: Vec<(String, aegis_scorer::rules::RuleOrigin)> = replica
        .replica
        .rules
        .view()
        .into_iter()
        .map(|s| (s.name, s.origin))
        .collect();
    assert_eq!(
        sets,
        [
            ("default".to_owned(), aegis_scorer::rules::RuleOrigin::File),
            ("monitor".to_owned(), aegis_scorer::rules::RuleOrigin::Topic)
        ]
    );
    replica.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_event_times_on_one_partition_get_an_answer_each_and_leave_its_clock_alone() {
    use aegis_core::avro::{AvroCodec, Framing};
    use aegis_core::DeadLetterReason;
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let pipeline = Pipeline::start().await;
    let replica = Replica::start(ScorerConfig {
        rules: Some(seed_rules()),
        ..pipeline.scorer_config("event-times")
    });
    replica.wait_for_partitions().await;
    let now = aegis_core::clock::now_ms();
    let year: i64 = 365 * 86_400_000;
    let dated = |id: &str, account: &str, time: i64| {
        let mut tx = transaction(id, account, TxType::Payment, 12.0, 1_000.0, 988.0);
        tx.event_time = time;
        tx
    };
    let mut txs = takeover("C7401", 0.95, true);
    let poison = [
        ("future-50y", now + 50 * year, true),
        ("micros", now * 1000, true),
        ("max", i64::MAX, true),
        ("min", i64::MIN, true),
        ("negative", -1, true),
        ("future-1min", now + 60_000, false),
        ("past-2001", 1_000_000_000_000, false),
        ("epoch", 0, false),
    ];
    for (i, (name, time, _)) in poison.iter().enumerate() {
        // 64 of each kind, as in the issue's reproduction, from many accounts.
        for n in 0..64 {
            txs.push(dated(
                &format!("{name}-{n}"),
                &format!("C75{i}{n:02}"),
                *time,
            ));
        }
    }
    txs.extend(takeover("C7402", 0.95, true));
    // Everything on partition 0, in this order.
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", pipeline.broker.bootstrap())
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for tx in &txs {
        let value = AvroCodec::transaction()
            .encode(tx, Framing::SingleObject)
            .unwrap();
        producer
            .send(
                FutureRecord::to(&pipeline.input)
                    .partition(0)
                    .key(tx.name_orig.as_bytes())
                    .payload(&value),
                std::time::Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    let dead_expected: usize = poison.iter().filter(|p| p.2).count() * 64;
    let verdicts_expected = txs.len() - dead_expected;
    let (_, verdicts) = pipeline.read_verdicts(verdicts_expected);
    let dead = pipeline.read(
        &pipeline.dlq,
        dead_expected,
        std::time::Duration::from_secs(60),
    );
    let metrics = replica.replica.metrics.clone();
    replica.stop().await;
    // The clock stayed the wall clock's: the only accounts expired are the 128 whose one
    // transaction is dated 2001 or 1970 (a day's time to live), none of the others.
    assert_eq!(
        metrics.state_evictions(aegis_scorer::stream::state::Eviction::Expired),
        128
    );

    // Exactly one answer each: a verdict, or a dead letter saying why.
    assert_eq!(verdicts.len(), verdicts_expected);
    assert_eq!(dead.len(), dead_expected);
    for m in &dead {
        let letter = aegis_kafka::produce::read_dead_letter(m).expect("the contract's headers");
        assert_eq!(
            letter.reason,
            DeadLetterReason::EventTime,
            "{}",
            letter.error
        );
    }
    for (name, _, is_dead) in poison {
        let answered = (0..64)
            .filter(|n| verdicts.contains_key(&format!("{name}-{n}")))
            .count();
        assert_eq!(answered, if is_dead { 0 } else { 64 }, "{name}");
    }
    // And the sequence rule still blocks a probe-then-drain on that partition, after all of it.
    for account in ["C7401", "C7402"] {
        let transfer = &verdicts[&format!("{account}-transfer")];
        assert_eq!(transfer.rules, ["drain_after_probe"], "{transfer:?}");
        assert_eq!(transfer.decision, Decision::Block);
    }
}
