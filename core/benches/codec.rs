//! Avro codec benchmarks: encode and decode one transaction and one verdict (without and with an
//! explanation), single-object framing.

use std::hint::black_box;

use aegis_core::avro::{AvroCodec, Framing};
use aegis_core::verdict::{Contribution, Explanation};
use aegis_core::{Decision, Transaction, TxType, Verdict};
use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    let tx = Transaction {
        tx_id: "ps-1-C1305486145-181.00".into(),
        event_time: 1_767_225_600_000,
        step: 1,
        tx_type: TxType::Transfer,
        amount: 181.0,
        name_orig: "C1305486145".into(),
        old_balance_orig: 181.0,
        new_balance_orig: 0.0,
        name_dest: "C553264065".into(),
        old_balance_dest: 0.0,
        new_balance_dest: 0.0,
        is_fraud: None,
    };
    let verdict = Verdict {
        tx_id: tx.tx_id.clone(),
        account: tx.name_orig.clone(),
        amount: tx.amount,
        tx_type: tx.tx_type,
        event_time: tx.event_time,
        fraud_probability: 0.97,
        decision: Decision::Block,
        reasons: vec![
            "origin account emptied (+0.31)".into(),
            "type is TRANSFER (+0.12)".into(),
        ],
        model_version: "rf-41e6943b8730".into(),
        scored_at: tx.event_time + 3,
        rules: Vec::new(),
        features: Vec::new(),
        explanation: None,
    };
    let txs = AvroCodec::transaction();
    let verdicts = AvroCodec::verdict();
    let encoded = txs.encode(&tx, Framing::SingleObject).expect("encode");
    let mut buf = Vec::with_capacity(256);
    c.bench_function("codec/transaction_decode", |b| {
        b.iter(|| txs.decode(black_box(&encoded)))
    });
    c.bench_function("codec/transaction_encode_into", |b| {
        b.iter(|| {
            buf.clear();
            txs.encode_into(black_box(&tx), Framing::SingleObject, &mut buf)
        })
    });
    c.bench_function("codec/verdict_encode", |b| {
        b.iter(|| verdicts.encode(black_box(&verdict), Framing::SingleObject))
    });
    // The same BLOCK verdict with the explanation the demo model gives the takeover transfer
    // (docs/explanations.md): 12 non-zero contributions.
    let contributions = [
        ("error_balance_orig", 0.0, 0.1269119208003138),
        ("orig_emptied", 1.0, 0.099145393232319),
        ("type_TRANSFER", 1.0, 0.09810454775734996),
        ("old_balance_orig", 181_000.0, 0.05961237730010683),
        ("new_balance_orig", 0.0, 0.03991161111194066),
        ("error_balance_dest", 181_000.0, 0.03340681287952549),
        ("old_balance_dest", 0.0, 0.016212449271309156),
        ("type_PAYMENT", 0.0, 0.01318163256566109),
        ("new_balance_dest", 0.0, 0.012738016334178396),
        ("amount", 181_000.0, -0.007842393227802011),
        ("type_CASH_IN", 0.0, 0.006011356593609695),
        ("type_CASH_OUT", 0.0, 0.0002691766480182667),
    ];
    let explained = Verdict {
        explanation: Some(Explanation {
            base_score: 0.4999452121507275,
            raw_score: 0.9976081134172577,
            contributions: contributions
                .iter()
                .map(|&(feature, value, contribution)| Contribution {
                    feature: feature.into(),
                    value,
                    contribution,
                })
                .collect(),
        }),
        ..verdict
    };
    c.bench_function("codec/explained_verdict_encode", |b| {
        b.iter(|| verdicts.encode(black_box(&explained), Framing::SingleObject))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
