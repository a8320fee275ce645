//! The broker against a real tansu: storage kept across a kill, topics created idempotently from
//! the table.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use aegis_testkit::broker::Broker;
use aegis_testkit::free_port;
use aegis_testkit::topics::{self, Outcome, Topic, TopicError};

const LIMIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_broker_killed_and_started_again_on_its_storage_keeps_the_contract_topics() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut broker = Broker::start_in(dir.path(), port).unwrap();
    broker.create_contract_topics().await;
    broker.kill();

    let broker = Broker::start_in(dir.path(), port).unwrap();
    let again = topics::create(&broker.bootstrap(), &Topic::contract(), LIMIT)
        .await
        .unwrap();
    assert_eq!(again.len(), Topic::contract().len());
    assert!(
        again.iter().all(|(_, o)| *o == Outcome::Existed),
        "{again:?}"
    );

    let other = Topic::new("transactions", 1);
    match topics::create(&broker.bootstrap(), &[other], LIMIT).await {
        Err(TopicError::Partitions {
            found, wanted: 1, ..
        }) => {
            assert_eq!(
                i32::try_from(found).unwrap(),
                Topic::contract()[0].partitions
            )
        }
        other => panic!("a partition count unlike the broker's was accepted: {other:?}"),
    }
}
