//! The design of docs/streaming-features.md, without Kafka: card features computed per card
//! partition, terminal features per terminal partition after an event-time merge of every card
//! partition's records and of the labels (each counted from its delay on), give every row the
//! features the trainer computes offline, bit for bit, whatever the interleaving on the way.

use std::collections::HashMap;
use std::path::Path;

use aegis_core::spec::engine::FeatureEngine;
use aegis_core::spec::merge::EventTimeMerge;
use aegis_core::spec::record::{Record, RecordReader, Value};
use aegis_core::spec::{FeatureSpec, Spec};

const ROWS: usize = usize::MAX;
const CARD_PARTITIONS: u64 = 3;
const TERMINAL_PARTITIONS: u64 = 2;

fn repository(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn integer(value: &Value) -> u64 {
    match value {
        Value::Integer(n) => *n as u64,
        other => panic!("not an integer: {other:?}"),
    }
}

/// What a card partition forwards to a terminal partition, in its own event-time order.
enum Forwarded {
    /// A transaction, with the card partition's share of its features.
    Transaction(Box<Record>, Vec<f64>),
    /// A transaction's label, due its delay after it.
    Label(Box<Record>),
}

/// A small deterministic generator, for the interleaving.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[test]
fn card_and_terminal_stages_give_the_offline_features_bit_for_bit() {
    let spec = Spec::load(&repository("specs/cards.toml")).unwrap();
    let records: Vec<Record> = RecordReader::open(
        &spec,
        &repository("data/cards_every_10th_card_2018-04-01_2018-05-31.csv"),
    )
    .unwrap()
    .take(ROWS)
    .map(Result::unwrap)
    .collect();
    let (id, card, terminal) = (0, 2, 3);
    let delay = spec.label_delay().millis();

    // Offline, as the trainer computes them.
    let mut offline = FeatureEngine::new(&spec);
    let mut expected = HashMap::new();
    for r in &records {
        let mut out = Vec::new();
        offline.observe(r, &mut out);
        expected.insert(integer(&r.values[id]), out);
    }

    // Stage 1, per card partition: everything but the terminal's features. Each partition's
    // stream is its transactions and, at their delay, their labels, in event-time order (a
    // label before the transactions of its time: it counts for them).
    let is_terminal = |f: &FeatureSpec| f.entity() == Some("TERMINAL_ID");
    let mut streams: Vec<Vec<(i64, Forwarded)>> =
        (0..CARD_PARTITIONS).map(|_| Vec::new()).collect();
    for p in 0..CARD_PARTITIONS {
        let mut engine = FeatureEngine::with_features(&spec, |f| !is_terminal(f)).labels_applied();
        let mut events: Vec<(i64, u8, &Record)> = Vec::new();
        for r in records
            .iter()
            .filter(|r| integer(&r.values[card]) % CARD_PARTITIONS == p)
        {
            events.push((r.event_time_ms, 1, r));
            if r.label.is_some() {
                events.push((r.event_time_ms + delay, 0, r));
            }
        }
        events.sort_by_key(|(time, kind, _)| (*time, *kind));
        for (time, kind, r) in events {
            let item = if kind == 0 {
                Forwarded::Label(Box::new(r.clone()))
            } else {
                let mut unlabelled = r.clone();
                unlabelled.label = None;
                let mut out = Vec::new();
                engine.observe(&unlabelled, &mut out);
                Forwarded::Transaction(Box::new(unlabelled), out)
            };
            streams[p as usize].push((time, item));
        }
    }
    let card_engine = FeatureEngine::with_features(&spec, |f| !is_terminal(f));

    // The repartition: each card partition's records go to their terminal's partition, the card
    // partitions interleaved at random, each sending its watermark as it goes.
    let mut merges: Vec<EventTimeMerge<(u8, u64), Forwarded>> = (0..TERMINAL_PARTITIONS)
        .map(|_| EventTimeMerge::new(CARD_PARTITIONS as usize))
        .collect();
    let mut stages: Vec<FeatureEngine> = (0..TERMINAL_PARTITIONS)
        .map(|_| FeatureEngine::with_features(&spec, is_terminal).labels_applied())
        .collect();
    let terminal_field = spec
        .fields
        .iter()
        .position(|f| f.name == "TERMINAL_ID")
        .unwrap();
    let mut online: HashMap<u64, Vec<f64>> = HashMap::new();
    let mut cursors = vec![0usize; CARD_PARTITIONS as usize];
    let mut random = SplitMix(7);
    let mut drain = |merges: &mut Vec<EventTimeMerge<(u8, u64), Forwarded>>,
                     online: &mut HashMap<u64, Vec<f64>>| {
        for (t, merge) in merges.iter_mut().enumerate() {
            while let Some(item) = merge.pop() {
                let stage = &mut stages[t];
                match item {
                    Forwarded::Label(r) => {
                        let id = stage.id_of(&r);
                        stage.apply_label(
                            terminal_field,
                            &r.values[terminal],
                            r.event_time_ms,
                            id,
                            r.label == Some(true),
                        );
                    }
                    Forwarded::Transaction(r, card_part) => {
                        let mut terminal_part = Vec::new();
                        stage.observe(&r, &mut terminal_part);
                        let mut whole = vec![f64::NAN; offline.width()];
                        for (v, &at) in card_part.iter().zip(card_engine.positions()) {
                            whole[at] = *v;
                        }
                        for (v, &at) in terminal_part.iter().zip(stage.positions()) {
                            whole[at] = *v;
                        }
                        online.insert(integer(&r.values[id]), whole);
                    }
                }
            }
        }
    };
    while cursors.iter().zip(&streams).any(|(c, s)| *c < s.len()) {
        let p = (random.next() % CARD_PARTITIONS) as usize;
        let burst = 1 + (random.next() % 50) as usize;
        for _ in 0..burst {
            let Some((time, _)) = streams[p].get(cursors[p]) else {
                break;
            };
            let time = *time;
            let (_, item) = std::mem::replace(
                &mut streams[p][cursors[p]],
                (time, Forwarded::Label(Box::new(records[0].clone()))),
            );
            cursors[p] += 1;
            let r = match &item {
                Forwarded::Transaction(r, _) | Forwarded::Label(r) => r,
            };
            let key = match &item {
                Forwarded::Label(_) => (0, integer(&r.values[id])),
                Forwarded::Transaction(..) => (1, integer(&r.values[id])),
            };
            let t = integer(&r.values[terminal]) % TERMINAL_PARTITIONS;
            merges[t as usize].push(time, key, item);
            // Every record of this partition at or before time - 1 ms has been sent: tell every
            // terminal partition (more of `time` itself may follow).
            let finished = cursors[p] == streams[p].len();
            for merge in merges.iter_mut() {
                merge.advance(p, if finished { i64::MAX } else { time - 1 });
            }
        }
        drain(&mut merges, &mut online);
    }
    drain(&mut merges, &mut online);

    assert_eq!(
        online.len(),
        records.len(),
        "every transaction through both stages"
    );
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let names = spec.feature_names();
    for (id, want) in &expected {
        let got = &online[id];
        for (i, name) in names.iter().enumerate() {
            assert_eq!(
                got[i].to_bits(),
                want[i].to_bits(),
                "transaction {id}, {name}: {} online, {} offline",
                got[i],
                want[i]
            );
        }
        assert_eq!(bits(got), bits(want));
    }
    // Terminal risk really was exercised: some rows had a known fraud at their terminal.
    let frauds = names
        .iter()
        .position(|n| n == "terminal_frauds_30d")
        .unwrap();
    let exercised = expected.values().filter(|v| v[frauds] > 0.0).count();
    assert!(
        exercised > 100,
        "{exercised} rows with a known terminal fraud"
    );
}
