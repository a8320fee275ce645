//! Any bytes as a model file load to a model that scores, or to an error — never a panic, a hang
//! or a forest that walks out of its nodes.
#![no_main]

use std::path::Path;

use aegis_core::{Model, Transaction, TxType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::from_bytes(Path::new("fuzz.model"), data) else {
        return;
    };
    if !model.is_paysim() {
        // A model of another spec scores rows of its spec's features.
        let p = model.probability(&vec![0.0; model.features().len()]);
        assert!((0.0..=1.0).contains(&p), "{p}");
        return;
    }
    let tx = Transaction {
        tx_id: "t".into(),
        event_time: 0,
        step: 1,
        tx_type: TxType::Transfer,
        amount: 181.0,
        name_orig: "C1".into(),
        old_balance_orig: 181.0,
        new_balance_orig: 0.0,
        name_dest: "C2".into(),
        old_balance_dest: 0.0,
        new_balance_dest: 0.0,
        is_fraud: None,
    };
    let score = model.score(&tx);
    assert!(
        (0.0..=1.0).contains(&score.fraud_probability),
        "{}",
        score.fraud_probability
    );
});
