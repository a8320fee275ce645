#![allow(clippy::unwrap_used)]

use super::*;

const PAYSIM: &str = include_str!("../../../specs/paysim.toml");
const CARDS: &str = include_str!("../../../specs/cards.toml");

#[test]
fn the_shipped_specs_are_valid_and_paysim_names_todays_features() {
    let paysim = Spec::from_toml("specs/paysim.toml", PAYSIM).unwrap();
    assert_eq!(paysim.feature_names(), crate::features::FEATURE_NAMES);
    let cards = Spec::from_toml("specs/cards.toml", CARDS).unwrap();
    assert_eq!(cards.feature_names().len(), 22);
    assert!(paysim.is_paysim() && !cards.is_paysim());
    assert_eq!(
        Spec::paysim(),
        &paysim,
        "the built-in PaySim spec is specs/paysim.toml"
    );
    let evaluation = cards.evaluation.as_ref().unwrap();
    assert_eq!(
        (evaluation.entity.as_str(), evaluation.k),
        ("CUSTOMER_ID", 100)
    );
    assert_eq!(cards.training.as_ref().unwrap().fraud_weight, Some(1.0));
    assert_eq!(
        cards.label.as_ref().map(|l| l.delay),
        Some(Duration::days(7))
    );
    assert_ne!(paysim.hash(), cards.hash());
    // Comments and layout do not change what a spec is.
    let reformatted = CARDS.replace("# The Handbook's features.\n", "");
    assert_eq!(
        Spec::from_toml("x", &reformatted).unwrap().hash(),
        cards.hash()
    );
}

/// The cards spec with `from` replaced by `to`, checked: the error's one line.
fn refused(from: &str, to: &str) -> String {
    assert!(CARDS.contains(from), "{from}");
    let text = CARDS.replacen(from, to, 1);
    let error = Spec::from_toml("cards.toml", &text)
        .unwrap_err()
        .to_string();
    assert!(!error.contains('\n'), "{error}");
    error
}

#[test]
fn a_bad_spec_is_refused_whole_with_one_line_naming_the_field() {
    let cases = [
        (
            "over = \"7d\" }",
            "over = \"40d\" }",
            "feature `card_count_7d` window.over: 40d is not between 1h and 30d",
        ),
        (
            "entity = \"CUSTOMER_ID\", agg = \"count\", over = \"1d\"",
            "entity = \"TX_AMOUNT\", agg = \"count\", over = \"1d\"",
            "feature `card_count_1d` window.entity: `TX_AMOUNT` is not an entity",
        ),
        (
            "value = \"TX_AMOUNT\"",
            "value = \"TX_FRAUD\"",
            "feature `amount` value: `TX_FRAUD` is the label: never a feature",
        ),
        (
            "value = \"TX_AMOUNT\"",
            "value = \"TX_AMOUNTS\"",
            "feature `amount` value: no field `TX_AMOUNTS`",
        ),
        (
            "agg = \"mean\", field = \"TX_AMOUNT\", over = \"1d\"",
            "agg = \"mean\", over = \"1d\"",
            "feature `card_mean_amount_1d` window.field: Mean needs a numeric field",
        ),
        (
            "name = \"night\"",
            "name = \"weekend\"",
            "feature `weekend`: two features have this name",
        ),
        (
            "format = \"naive\"",
            "format = \"epoch_millis\"",
            "time.field `TX_DATETIME`: format EpochMillis reads a field of type integer",
        ),
        ("delay = \"7d\"", "delay = \"7 days\"", "is not a duration"),
        (
            "role = \"entity\"",
            "role = \"entity\"\ncolour = \"red\"",
            "unknown field `colour`",
        ),
        (
            "time = \"weekend\"",
            "time = \"weekend\"\nvalue = \"TX_AMOUNT\"",
            "feature `weekend`: give exactly one of",
        ),
        (
            "entity = \"CUSTOMER_ID\"\nk = 100",
            "entity = \"TX_AMOUNT\"\nk = 100",
            "evaluation.entity: `TX_AMOUNT` is not an entity",
        ),
        ("k = 100", "k = 0", "evaluation.k: at least 1"),
        ("trees = 300", "trees = 0", "training.trees: 1 to 2000"),
        (
            "max_depth = 20",
            "max_depth = 31",
            "training.max_depth: 1 to 30",
        ),
        (
            "fraud_weight = 1.0",
            "fraud_weight = -1.0",
            "training.fraud_weight: a positive number",
        ),
        (
            "fraud_weight = 1.0",
            "fraud_weight = 1.0\nfeatures_per_split = 23",
            "training.features_per_split: 1 to 22",
        ),
    ];
    for (from, to, expected) in cases {
        let error = refused(from, to);
        assert!(error.starts_with("spec cards.toml: "), "{error}");
        assert!(error.contains(expected), "{error}\n  expected: {expected}");
    }
    let unlabelled = CARDS
        .replace("[label]\nfield = \"TX_FRAUD\"\ndelay = \"7d\"\n", "")
        .replace("role = \"label\"", "role = \"plain\"");
    let error = Spec::from_toml("cards.toml", &unlabelled)
        .unwrap_err()
        .to_string();
    assert!(error.contains("risk needs labels"), "{error}");
}
