//! Specs read and computed: the PaySim spec gives today's 13 features bit for bit; the card spec's
//! windows, history and label-delayed risk on a hand-made card history.

use std::path::Path;

use aegis_core::features;
use aegis_core::paysim::PaysimReader;
use aegis_core::spec::engine::FeatureEngine;
use aegis_core::spec::entities::{EntityLimits, Evictions};
use aegis_core::spec::record::RecordReader;
use aegis_core::spec::Spec;

fn repository(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

#[test]
fn the_paysim_spec_computes_todays_features_bit_for_bit() {
    let spec = Spec::load(&repository("specs/paysim.toml")).unwrap();
    let mut engine = FeatureEngine::new(&spec);
    let mut out = Vec::new();
    for file in [
        "data/paysim_mixed_steps_1-119.csv",
        "data/paysim_fraud_enriched_steps_1-400.csv",
    ] {
        let path = repository(file);
        let records = RecordReader::open(&spec, &path).unwrap();
        let rows = PaysimReader::open(&path).unwrap();
        let mut n = 0;
        for (record, row) in records.zip(rows) {
            let (record, row) = (record.unwrap(), row.unwrap());
            engine.observe(&record, &mut out);
            let expected = features::extract(&row.transaction);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&out), bits(&expected), "{file} row {n}");
            assert_eq!(record.label, row.transaction.is_fraud);
            assert_eq!(record.event_time_ms, row.transaction.event_time);
            n += 1;
        }
        assert!(n > 10_000, "{file}: {n} rows");
    }
    assert_eq!(engine.entities(), 0, "PaySim's features keep no history");
}

/// A card spec's features for rows of (seconds since the start, card, terminal, amount, fraud).
fn card_features(rows: &[(i64, i64, i64, f64, u8)]) -> Vec<Vec<(String, f64)>> {
    let spec = Spec::load(&repository("specs/cards.toml")).unwrap();
    let mut csv =
        String::from("TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD\n");
    let start = 1_522_540_800; // 2018-04-01 00:00:00 UTC, a Sunday
    for (i, (seconds, card, terminal, amount, fraud)) in rows.iter().enumerate() {
        let t = start + seconds;
        let (days, rest) = (t.div_euclid(86_400), t.rem_euclid(86_400));
        // 2018-04-01 is day 17,622 since the epoch; April has 30 days, the rows stay in it.
        let day = days - 17_622 + 1;
        csv.push_str(&format!(
            "{i},2018-04-{day:02} {:02}:{:02}:{:02},{card},{terminal},{amount},{fraud}\n",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        ));
    }
    let names = spec.feature_names();
    let mut engine = FeatureEngine::new(&spec);
    let mut out = Vec::new();
    RecordReader::from_reader(&spec, "cards.csv".into(), csv.as_bytes())
        .unwrap()
        .map(|record| {
            engine.observe(&record.unwrap(), &mut out);
            names.iter().cloned().zip(out.iter().copied()).collect()
        })
        .collect()
}

fn get(features: &[(String, f64)], name: &str) -> f64 {
    features
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no feature {name}"))
}

#[test]
fn card_windows_history_and_delayed_terminal_risk_follow_the_handbook() {
    const DAY: i64 = 86_400;
    let rows = [
        // card 1 at terminal 7, a fraud, on day 0 at 01:00 (night, a Sunday)
        (3_600, 1, 7, 10.0, 1),
        // card 1 again 2 hours later, at terminal 8
        (3 * 3_600, 1, 8, 30.0, 0),
        // card 2 at terminal 7 on day 3: the fraud there is not known yet (7-day delay)
        (3 * DAY, 2, 7, 20.0, 0),
        // card 1 on day 9 at noon, spending 10 times its habit, at terminal 7 again
        (9 * DAY + 12 * 3_600, 1, 7, 200.0, 0),
    ];
    let f = card_features(&rows);
    // Row 0: the Handbook's windows include the transaction itself.
    assert_eq!(get(&f[0], "card_count_1d"), 1.0);
    assert_eq!(get(&f[0], "card_mean_amount_1d"), 10.0);
    assert_eq!((get(&f[0], "night"), get(&f[0], "weekend")), (1.0, 1.0));
    assert_eq!(get(&f[0], "amount_to_card_mean_30d"), 1.0, "no habit yet");
    assert_eq!(get(&f[0], "card_new_terminal"), 1.0);
    // Row 1: two transactions in the day, mean 20; 7,200 s since the first; a new terminal.
    assert_eq!(get(&f[1], "card_count_1d"), 2.0);
    assert_eq!(get(&f[1], "card_mean_amount_1d"), 20.0);
    assert_eq!(get(&f[1], "card_seconds_since_previous"), 7_200.0);
    assert_eq!(get(&f[1], "amount_to_card_mean_30d"), 3.0);
    assert_eq!(get(&f[1], "card_std_amount_30d"), 0.0, "one earlier amount");
    // Row 2: terminal 7's fraud happened 3 days before: its label is not known yet.
    assert_eq!(get(&f[2], "terminal_count_7d"), 0.0);
    assert_eq!(get(&f[2], "terminal_risk_7d"), 0.0);
    // Row 3, day 9: the day-0 fraud at terminal 7 is 9 days old — known (7-day delay), and inside
    // the window ending at day 2 (the 7 days before day 2 reach back past day 0); day 3's is not.
    assert_eq!(get(&f[3], "terminal_count_7d"), 1.0);
    assert_eq!(get(&f[3], "terminal_risk_7d"), 1.0);
    assert_eq!(get(&f[3], "terminal_count_30d"), 1.0);
    assert_eq!(get(&f[3], "terminal_frauds_30d"), 1.0);
    // Its only known fraud, at day 0 01:00, is 9 days 11 hours old: the first and the latest.
    let age = (9 * DAY + 11 * 3_600) as f64;
    assert_eq!(get(&f[3], "terminal_first_fraud_age_30d"), age);
    assert_eq!(get(&f[3], "terminal_last_fraud_age_30d"), age);
    // With none known, the window's whole reach: 30 days plus the 7-day delay.
    assert_eq!(
        get(&f[2], "terminal_first_fraud_age_30d"),
        (37 * DAY) as f64
    );
    assert_eq!(get(&f[2], "terminal_last_fraud_age_30d"), (37 * DAY) as f64);
    assert_eq!(
        get(&f[3], "terminal_count_1d"),
        0.0,
        "day 1.5 to 2.5 holds nothing"
    );
    // The card's 30-day habit is (10 + 30) / 2 = 20: this is 10 times it; its 1-day window holds
    // only itself; terminal 7 was seen by this card within 30 days.
    assert_eq!(get(&f[3], "amount_to_card_mean_30d"), 10.0);
    assert_eq!(get(&f[3], "card_count_1d"), 1.0);
    assert_eq!(get(&f[3], "card_count_30d"), 3.0);
    assert_eq!(get(&f[3], "card_new_terminal"), 0.0);
    assert_eq!(get(&f[3], "card_std_amount_30d"), 10.0);
    assert_eq!(
        (get(&f[3], "night"), get(&f[3], "weekend")),
        (0.0, 0.0),
        "a Tuesday noon"
    );
}

#[test]
fn a_csv_missing_a_spec_field_or_with_a_bad_value_is_one_line_naming_it() {
    let spec = Spec::load(&repository("specs/cards.toml")).unwrap();
    let missing = "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TX_AMOUNT,TX_FRAUD\n";
    let error = RecordReader::from_reader(&spec, "c.csv".into(), missing.as_bytes())
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("no column `TERMINAL_ID`"), "{error}");
    let bad = "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD\n\
               0,2018-04-01 00:00:31,596,3156,57.16,0\n\
               1,2018-04-31 00:02:10,4961,3412,81.51,0\n\
               2,2018-04-01 00:03:00,4961,3412,NaN,0\n\
               3,2018-04-01 00:04:00,4961,3412,1.0,2\n";
    let errors: Vec<String> = RecordReader::from_reader(&spec, "c.csv".into(), bad.as_bytes())
        .unwrap()
        .filter_map(Result::err)
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].starts_with("c.csv:3: field TX_DATETIME: \"2018-04-31 00:02:10\""),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("c.csv:4: field TX_AMOUNT") && errors[1].contains("finite"),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].contains("field TX_FRAUD") && errors[2].contains("0 (legit) or 1 (fraud)"),
        "{}",
        errors[2]
    );
}

#[test]
fn records_written_as_csv_read_back_the_same_for_both_shipped_specs() {
    for (spec, data) in [
        (
            "specs/cards.toml",
            "data/cards_every_10th_card_2018-04-01_2018-05-31.csv",
        ),
        ("specs/paysim.toml", "data/paysim_mixed_steps_1-119.csv"),
    ] {
        let spec = Spec::load(&repository(spec)).unwrap();
        let records: Vec<_> = RecordReader::open(&spec, &repository(data))
            .unwrap()
            .take(2_000)
            .map(Result::unwrap)
            .collect();
        let mut csv = Vec::new();
        aegis_core::spec::record::write_csv(&spec, &records, &mut csv).unwrap();
        let back: Vec<_> = RecordReader::from_reader(&spec, "written".into(), csv.as_slice())
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, records, "{}", spec.name);
    }
}

/// Every row's features from `engine` over the card sample, as bits, and the most entities and
/// transactions each entity table held after a row.
fn card_sample_through(
    mut engine: FeatureEngine,
) -> (Vec<Vec<u64>>, Vec<(usize, usize)>, FeatureEngine) {
    let spec = Spec::load(&repository("specs/cards.toml")).unwrap();
    let path = repository("data/cards_every_10th_card_2018-04-01_2018-05-31.csv");
    let mut out = Vec::new();
    let mut peaks = vec![(0, 0); engine.tables().count()];
    let rows = RecordReader::open(&spec, &path)
        .unwrap()
        .map(|record| {
            engine.observe(&record.unwrap(), &mut out);
            for (peak, table) in peaks.iter_mut().zip(engine.tables()) {
                *peak = (peak.0.max(table.keys), peak.1.max(table.events));
            }
            out.iter().map(|x| x.to_bits()).collect()
        })
        .collect();
    (rows, peaks, engine)
}

#[test]
fn entity_limits_never_reached_change_no_feature_and_reached_ones_evict() {
    let spec = Spec::load(&repository("specs/cards.toml")).unwrap();
    let (unlimited, peaks, _) = card_sample_through(FeatureEngine::new(&spec));
    assert_eq!(peaks.len(), 2, "a card table and a terminal table");
    eprintln!("entities and transactions kept at most, per table: {peaks:?}");
    // Limits exactly at what the tables reached: never exceeded, so bit for bit the same.
    let at_peaks = |divide: usize| {
        let limits = EntityLimits {
            max_keys: peaks.iter().map(|p| p.0).max().unwrap() / divide,
            max_events: peaks.iter().map(|p| p.1).max().unwrap(),
        };
        FeatureEngine::new(&spec).limited(limits)
    };
    let (limited, _, engine) = card_sample_through(at_peaks(1));
    assert!(engine.tables().all(|t| t.evictions == Evictions::default()));
    assert_eq!(limited.len(), unlimited.len());
    for (n, (a, b)) in limited.iter().zip(&unlimited).enumerate() {
        assert_eq!(a, b, "row {n}");
    }
    // A quarter of the entities: it evicts, and some features differ. (One fewer evicts
    // entities silent past their span, not swept yet: no feature changes.)
    let (short, _, engine) = card_sample_through(at_peaks(4));
    let evicted: u64 = engine.tables().map(|t| t.evictions.keys).sum();
    assert!(evicted > 0, "evictions counted");
    assert!(short.iter().zip(&unlimited).any(|(a, b)| a != b));
}
