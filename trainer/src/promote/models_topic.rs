//! The models topic read to its end, as `promote` and `rollback` need it: the last record of each
//! slot, and the last two live versions of its history (the previous live model is one of them).
//! The topic has one partition (`deploy/topics.txt`), so offsets give the order of publication.

use std::time::Instant;

use aegis_core::{Model, ModelKey, Role};
use anyhow::{Context, Result};
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;

use crate::publish::ModelsTopicArgs;

/// One record of the models topic, copied.
pub struct Record {
    /// Its Kafka key (what its signature covers).
    pub key: String,
    /// The artifact.
    pub bytes: Vec<u8>,
    /// Its signature and signer headers.
    pub signature: Option<Vec<u8>>,
    pub signer: Option<Vec<u8>>,
    /// `topic[partition]@offset`, for messages.
    pub place: String,
}

impl Record {
    fn of(message: &BorrowedMessage<'_>, key: String, bytes: &[u8]) -> Record {
        let (signature, signer) = aegis_kafka::signed::signature_of(message);
        Record {
            key,
            bytes: bytes.to_vec(),
            signature: signature.map(<[u8]>::to_vec),
            signer: signer.map(<[u8]>::to_vec),
            place: format!(
                "{}[{}]@{}",
                message.topic(),
                message.partition(),
                message.offset()
            ),
        }
    }

    /// The model it holds (checked as `Model::from_bytes` checks one: its version is its hash).
    pub fn model(&self) -> Result<Model> {
        Ok(Model::from_bytes(
            std::path::Path::new(&self.place),
            &self.bytes,
        )?)
    }
}

/// What `promote` and `rollback` read from the models topic.
#[derive(Default)]
pub struct ModelsTopic {
    /// The last record of each slot (a tombstone empties it).
    pub live: Option<Record>,
    pub shadow: Option<Record>,
    /// The history's live versions, the two published last (each at its last publication),
    /// oldest first.
    recent_live: Vec<(String, Record)>,
}

impl ModelsTopic {
    /// Reads `topic` to its end (blocking).
    pub fn read(args: &ModelsTopicArgs, topic: &str) -> Result<ModelsTopic> {
        let consumer: BaseConsumer = aegis_kafka::Settings::reader("aegis-trainer-promote")
            .client_config(&args.brokers, &args.kafka.properties())
            .create()
            .context("cannot create the Kafka consumer (check --brokers and the -X / --kafka-config properties)")?;
        let mut held = ModelsTopic::default();
        let deadline = Instant::now() + args.timeout();
        aegis_kafka::read_topic_to_end(&consumer, topic, deadline, |m| held.add(m))
            .with_context(|| {
                format!("--models-topic {topic}: cannot read it to its end within --timeout")
            })?
            .with_context(|| format!("--models-topic {topic}: no such topic"))?;
        Ok(held)
    }

    fn add(&mut self, message: &BorrowedMessage<'_>) {
        let Some(key) = message.key().and_then(ModelKey::parse) else {
            return;
        };
        let bytes = message.payload().filter(|b| !b.is_empty());
        let record = |bytes| Record::of(message, key.to_string(), bytes);
        match &key {
            ModelKey::Slot(Role::Live) => self.live = bytes.map(record),
            ModelKey::Slot(Role::Shadow) => self.shadow = bytes.map(record),
            ModelKey::History {
                role: Role::Live,
                model_version,
            } => {
                self.recent_live.retain(|(v, _)| v != model_version);
                if let Some(bytes) = bytes {
                    self.recent_live
                        .push((model_version.clone(), record(bytes)));
                }
                if self.recent_live.len() > 2 {
                    self.recent_live.remove(0);
                }
            }
            ModelKey::History { .. } => {}
        }
    }

    /// The live model before `current` (the one live now): the history's latest live version
    /// other than it.
    pub fn previous_live(&self, current: Option<&str>) -> Option<&Record> {
        self.recent_live
            .iter()
            .rev()
            .find(|(version, _)| Some(version.as_str()) != current)
            .map(|(_, record)| record)
    }
}
