//! The entity limits from the command line to both stages' engines, and their evictions to the
//! metrics.

use std::path::Path;

use aegis_core::spec::entities::Evictions;
use aegis_core::spec::record::{RecordReader, Value};
use aegis_core::spec::Spec;
use clap::Parser;

use super::{entity_names, meter, Plan};
use crate::metrics::Metrics;

#[derive(Parser)]
struct Scorer {
    #[command(flatten)]
    config: crate::config::ScorerConfig,
}

fn repository(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn limits_of(args: &[&str]) -> aegis_core::spec::entities::EntityLimits {
    let args = ["aegis-scorer", "--brokers=b"].iter().chain(args);
    Scorer::try_parse_from(args)
        .unwrap_or_else(|e| panic!("{e}"))
        .config
        .entities
        .limits()
}

#[test]
fn entity_limits_reach_both_stages_and_their_evictions_are_counted_once() {
    let defaults = limits_of(&[]);
    assert_eq!(
        (defaults.max_keys as u64, defaults.max_events as u64),
        (super::DEFAULT_MAX_KEYS, super::DEFAULT_MAX_EVENTS)
    );
    let limits = limits_of(&["--entity-max-keys=50", "--entity-max-events=400"]);
    let spec = Spec::load(&repository("specs/cards.toml")).unwrap_or_else(|e| panic!("{e}"));
    let plan = Plan::new(&spec, "cards", limits).unwrap_or_else(|e| panic!("{e}"));
    let data = repository("data/cards_every_10th_card_2018-04-01_2018-05-31.csv");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let metrics = Metrics::new(&super::scoring::tests::cards_model(&data, dir.path()));
    // Each stage's engine, on one partition each, as the stages build them.
    let mut stages = [
        (
            plan.key_engine(),
            Vec::new(),
            entity_names(&plan.key_engine()),
        ),
        (
            plan.other_engine(),
            Vec::new(),
            entity_names(&plan.other_engine()),
        ),
    ];
    assert_eq!(stages[0].2, ["CUSTOMER_ID"]);
    assert_eq!(stages[1].2, ["TERMINAL_ID"]);
    let mut features = Vec::new();
    for (n, record) in RecordReader::open(&spec, &data)
        .unwrap_or_else(|e| panic!("{e}"))
        .take(20_000)
        .enumerate()
    {
        let record = record.unwrap_or_else(|e| panic!("{e}"));
        for (engine, counted, entities) in &mut stages {
            engine.observe(&record, &mut features);
            if n % 1_000 == 0 {
                // As after a batch: counted since the last time only.
                meter(
                    &metrics,
                    entities,
                    std::iter::once((&*engine, &mut *counted)),
                );
            }
        }
    }
    let text = metrics.render();
    for (engine, counted, entities) in &mut stages {
        meter(
            &metrics,
            entities,
            std::iter::once((&*engine, &mut *counted)),
        );
        let table = engine.tables().next().unwrap_or_else(|| panic!("a table"));
        assert!(table.keys <= 50 && table.events <= 400, "{table:?}");
        let entity = table.entity;
        let evicted = Evictions {
            keys: metrics.entity_evictions(entity, "max_keys"),
            events: metrics.entity_evictions(entity, "max_events"),
        };
        assert_eq!(evicted, table.evictions, "{entity}: each counted once");
        assert!(evicted.keys + evicted.events > 0, "{entity}: {evicted:?}");
        let kept = format!("aegis_entity_keys{{entity=\"{entity}\"}} {}", table.keys);
        let events = format!(
            "aegis_entity_events{{entity=\"{entity}\"}} {}",
            table.events
        );
        let text = metrics.render();
        assert!(text.contains(&kept) && text.contains(&events), "{text}");
    }
    assert!(
        text.contains("aegis_entity_evictions_total{entity=\"TERMINAL_ID\",reason=\"max_keys\"}")
    );
}

#[test]
fn the_first_stage_remembers_at_most_entity_max_events_transactions_for_their_labels() {
    let mut remembered = super::key_stage::Remembered::new(3);
    let day = 86_400_000;
    for (id, time) in [("a", 0), ("b", 1), ("c", 2), ("d", 3)] {
        remembered.remember(id.into(), Value::Integer(7), time, 30 * day);
    }
    assert!(
        remembered.get("a").is_none(),
        "the oldest goes past the limit"
    );
    assert_eq!(remembered.get("d"), Some(&(Value::Integer(7), 3)));
    remembered.remember("e".into(), Value::Integer(8), 31 * day, 30 * day);
    assert!(
        remembered.get("b").is_none() && remembered.get("d").is_none(),
        "past the span"
    );
    assert!(remembered.get("e").is_some());
}
