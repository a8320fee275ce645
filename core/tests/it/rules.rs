//! Rules on any spec: a rule set is read against the spec of its model — conditions bound to the
//! spec's features and fields by name, refused whole with one line otherwise — and fires on a
//! record and its features; `docs/rules.md`'s tables are what `rules::field_table` generates.

use std::path::Path;

use aegis_core::rules::{field_table, RuleSet};
use aegis_core::spec::engine::FeatureEngine;
use aegis_core::spec::record::{Record, RecordReader, Value};
use aegis_core::spec::Spec;
use aegis_core::{Decision, TxType, Verdict};

fn repository(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A spec with a field of every kind rules compare: text, enum, numbers; and a window feature.
const DEVICES: &str = r#"
name = "devices"
[time]
field = "ts"
format = "epoch_millis"
[label]
field = "fraud"
delay = "1d"
[[field]]
name = "ts"
type = "integer"
role = "event_time"
[[field]]
name = "device"
type = "string"
role = "entity"
[[field]]
name = "channel"
type = "enum"
values = ["WEB", "APP"]
[[field]]
name = "amount"
type = "float"
role = "amount"
[[field]]
name = "fraud"
type = "integer"
role = "label"
[[feature]]
name = "amount_now"
value = "amount"
[[feature]]
name = "device_count_1h"
window = { entity = "device", agg = "count", over = "1h" }
"#;

fn devices() -> Spec {
    Spec::from_toml("devices.toml", DEVICES).unwrap()
}

fn set(conditions: &str) -> String {
    format!(
        r#"{{"name":"s","version":1,"rules":[{{"name":"r","action":"REVIEW","reason":"because","when":[{conditions}]}}]}}"#
    )
}

fn refused(spec: &Spec, conditions: &str) -> String {
    RuleSet::from_json_for(set(conditions).as_bytes(), spec)
        .unwrap_err()
        .to_string()
}

/// The record (device, channel, amount) at `ts`, with its features computed by the spec's engine
/// after `before` (device, amount) records a minute apart.
fn scored(device: &str, channel: usize, amount: f64, before: usize) -> (Record, Vec<f64>) {
    let spec = devices();
    let mut engine = FeatureEngine::new(&spec);
    let mut features = Vec::new();
    let record = |ts: i64, amount: f64| Record {
        values: vec![
            Value::Integer(ts),
            Value::Text(device.into()),
            Value::Enum(channel),
            Value::Float(amount),
            Value::Integer(0),
        ],
        event_time_ms: ts,
        label: None,
    };
    for i in 0..before {
        engine.observe(&record(i as i64 * 60_000, 1.0), &mut features);
    }
    let last = record(before as i64 * 60_000, amount);
    engine.observe(&last, &mut features);
    (last, features)
}

fn fires(conditions: &str, record: &Record, features: &[f64], probability: f64) -> bool {
    let rules = RuleSet::from_json_for(set(conditions).as_bytes(), &devices()).unwrap();
    let mut verdict = verdict(probability);
    rules.apply_on_spec(&mut verdict, record, features);
    match verdict.rules.as_slice() {
        [] => false,
        [name] if name == "r" => {
            assert_eq!(verdict.decision, Decision::Review);
            assert_eq!(
                verdict.reasons[0], "rule r: because",
                "the rule's reason comes first"
            );
            true
        }
        other => panic!("unexpected rules {other:?}"),
    }
}

fn verdict(probability: f64) -> Verdict {
    Verdict {
        tx_id: "t".into(),
        account: "d".into(),
        amount: 0.0,
        tx_type: TxType::Payment,
        event_time: 0,
        fraud_probability: probability,
        decision: Decision::Allow,
        reasons: vec!["model reason".into()],
        model_version: "m".into(),
        scored_at: 0,
        rules: Vec::new(),
        features: Vec::new(),
        explanation: None,
    }
}

#[test]
fn a_spec_s_rules_name_its_features_and_fields_and_fire_on_them() {
    // The fourth transaction of a device within the hour, 500 on the app.
    let (record, features) = scored("d1", 1, 500.0, 3);
    assert_eq!(features, [500.0, 4.0]);
    let busy = r#"{"field":"device_count_1h","op":">=","value":4}"#;
    assert!(fires(busy, &record, &features, 0.0));
    assert!(!fires(
        r#"{"field":"device_count_1h","op":">=","value":5}"#,
        &record,
        &features,
        0.0
    ));
    let app = r#"{"field":"channel","op":"==","value":"APP"}"#;
    assert!(fires(&format!("{busy},{app}"), &record, &features, 0.0));
    assert!(!fires(
        r#"{"field":"channel","op":"==","value":"WEB"}"#,
        &record,
        &features,
        0.0
    ));
    assert!(fires(
        r#"{"field":"channel","op":"!=","value":"WEB"}"#,
        &record,
        &features,
        0.0
    ));
    assert!(fires(
        r#"{"field":"device","op":"==","value":"d1"}"#,
        &record,
        &features,
        0.0
    ));
    assert!(!fires(
        r#"{"field":"device","op":"==","value":"d2"}"#,
        &record,
        &features,
        0.0
    ));
    assert!(fires(
        r#"{"field":"amount","op":">","value":499.5}"#,
        &record,
        &features,
        0.0
    ));
    assert!(!fires(
        r#"{"field":"amount","op":">","value":500}"#,
        &record,
        &features,
        0.0
    ));
    let likely = r#"{"field":"fraud_probability","op":">=","value":0.3}"#;
    assert!(fires(likely, &record, &features, 0.3));
    assert!(!fires(likely, &record, &features, 0.29));
    // A feature the engine could not compute (NaN) satisfies no condition, not even `!=`.
    let unknown = [f64::NAN, 4.0];
    assert!(!fires(
        r#"{"field":"amount_now","op":"!=","value":1}"#,
        &record,
        &unknown,
        0.0
    ));
}

#[test]
fn a_model_s_verdict_is_escalated_never_released_by_a_spec_rule() {
    let (record, features) = scored("d1", 0, 5.0, 0);
    let rules = RuleSet::from_json_for(
        br#"{"name":"s","version":1,"rules":[
            {"name":"watch","action":"ALLOW","reason":"monitor","when":[{"field":"amount","op":">","value":1}]},
            {"name":"block","action":"BLOCK","reason":"first on the web","when":[{"field":"device_count_1h","op":"==","value":1},{"field":"channel","op":"==","value":"WEB"}]}]}"#,
        &devices(),
    )
    .unwrap();
    let mut v = verdict(0.95);
    v.decision = Decision::Review;
    rules.apply_on_spec(&mut v, &record, &features);
    assert_eq!(v.decision, Decision::Block);
    assert_eq!(v.rules, ["watch", "block"]);
    assert_eq!(
        v.reasons,
        [
            "rule watch: monitor",
            "rule block: first on the web",
            "model reason"
        ]
    );
}

#[test]
fn a_spec_s_bad_rules_are_refused_in_one_line_naming_what_to_fix() {
    let spec = devices();
    let cases = [
        (
            r#"{"field":"colour","op":"==","value":1}"#,
            "unknown field `colour`",
        ),
        (
            r#"{"field":"fraud","op":"==","value":1}"#,
            "`fraud` is the label",
        ),
        (
            r#"{"field":"channel","op":"<","value":"APP"}"#,
            "compared with == or !=",
        ),
        (
            r#"{"field":"channel","op":"==","value":"POS"}"#,
            "`channel` takes WEB, APP",
        ),
        (
            r#"{"field":"device","op":"==","value":3}"#,
            "compare it with a string",
        ),
        (
            r#"{"field":"device_count_1h","op":">","value":"many"}"#,
            "is a number",
        ),
        (r#"{"field":"amount","op":">","value":true}"#, "is a number"),
        // PaySim's state features are PaySim's: another spec does not have them.
        (
            r#"{"field":"state.count_short","op":">","value":1}"#,
            "unknown field `state.count_short`",
        ),
    ];
    for (condition, expected) in cases {
        let message = refused(&spec, condition);
        assert!(message.contains(expected), "{condition}: {message}");
        assert!(message.contains("spec `devices`"), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
    // And PaySim's rules cannot name what only a spec has.
    let paysim = refused(
        Spec::paysim(),
        r#"{"field":"device_count_1h","op":">","value":1}"#,
    );
    assert!(
        paysim.contains("unknown field `device_count_1h`"),
        "{paysim}"
    );
}

#[test]
fn the_card_seed_rules_bind_to_the_card_spec_and_fire_on_its_engine_s_features() {
    let spec = Spec::load(&repository("specs/cards.toml")).unwrap();
    let json = std::fs::read(repository("deploy/rules/cards.json")).unwrap();
    let rules = RuleSet::from_json_for(&json, &spec).unwrap();
    let docs = std::fs::read_to_string(repository("docs/rules.md")).unwrap();
    assert!(
        docs.contains(std::str::from_utf8(&json).unwrap()),
        "docs/rules.md shows the seed set"
    );
    // Over the card sample, the rule fires on some payments, and on more frauds than not.
    let path = repository("data/cards_every_10th_card_2018-04-01_2018-05-31.csv");
    let mut engine = FeatureEngine::new(&spec);
    let mut features = Vec::new();
    let (mut frauds, mut legit) = (0, 0);
    for record in RecordReader::open(&spec, &path).unwrap() {
        let record = record.unwrap();
        engine.observe(&record, &mut features);
        let mut v = verdict(0.0);
        rules.apply_on_spec(&mut v, &record, &features);
        if !v.rules.is_empty() {
            if record.label == Some(true) {
                frauds += 1;
            } else {
                legit += 1;
            }
        }
    }
    // docs/rules.md quotes these counts.
    assert_eq!(
        (frauds, legit),
        (45, 25),
        "frauds and legitimate payments it fires on"
    );
}

#[test]
fn docs_rules_md_lists_what_each_shipped_spec_s_rules_can_name() {
    let docs = std::fs::read_to_string(repository("docs/rules.md")).unwrap();
    for name in ["paysim", "cards"] {
        let spec = Spec::load(&repository(&format!("specs/{name}.toml"))).unwrap();
        let marker = format!("<!-- rule-fields: {name} -->\n");
        let start = docs.find(&marker).unwrap() + marker.len();
        let end = start + docs[start..].find("<!-- end rule-fields -->").unwrap();
        assert!(
            docs[start..end] == field_table(&spec),
            "docs/rules.md's table for {name} is stale: put there the output of \
             `cargo run -p aegis-trainer -- rule-fields --spec specs/{name}.toml`"
        );
    }
}
