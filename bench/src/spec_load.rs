//! A steady load of a spec's transactions (the card spec's): the rows of a CSV in event-time
//! order, over and over, each stamped with the wall clock as it is sent — as `aegis-producer
//! --simulate` stamps PaySim's — so that a downstream latency probe measures event → verdict.
//! (`aegis-producer --spec --replay` keeps each row's own time, years ago.)

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aegis_core::avro::{Framing, SpecCodec};
use aegis_core::clock::now_ms;
use aegis_core::spec::record::{Record, RecordReader, Value};
use aegis_core::spec::Spec;
use aegis_kafka::KafkaFlags;
use aegis_scorer::stream::clients::producer_settings;
use anyhow::{bail, Context, Result};
use clap::Args;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::json;

use crate::kafka::forward;

#[derive(Args)]
pub struct SpecLoadArgs {
    #[arg(long)]
    brokers: String,
    #[arg(long)]
    topic: String,
    /// The spec (e.g. specs/cards.toml).
    #[arg(long)]
    spec: PathBuf,
    /// Its CSV.
    #[arg(long)]
    data: PathBuf,
    /// Transactions per second.
    #[arg(long)]
    rate: f64,
    /// How long to send.
    #[arg(long = "duration", value_name = "DURATION", value_parser = aegis_kafka::duration::secs_f64)]
    seconds: f64,
    /// `-X key=value` on the producer.
    #[command(flatten)]
    kafka: KafkaFlags,
}

pub fn run(args: &SpecLoadArgs) -> Result<String> {
    if args.rate.is_nan() || args.rate <= 0.0 {
        bail!("--rate must be above 0");
    }
    let spec = Spec::load(&args.spec)?;
    let codec = SpecCodec::new(&spec).context("the spec's Avro schema")?;
    let mut records = RecordReader::open(&spec, &args.data)?
        .collect::<Result<Vec<Record>, _>>()
        .context("reading the rows")?;
    if records.is_empty() {
        bail!("{} has no rows", args.data.display());
    }
    records.sort_by_key(|r| r.event_time_ms);
    let time_field = spec.fields.iter().position(|f| f.name == spec.time.field);
    let producer: BaseProducer = producer_settings()
        .client_config(&args.brokers, &args.kafka.properties())
        .create()?;
    let (started, until) = (Instant::now(), Duration::from_secs_f64(args.seconds));
    let mut sent = 0u64;
    let mut value = Vec::with_capacity(256);
    let rows = records.len();
    loop {
        let record = &mut records[sent as usize % rows];
        let due = Duration::from_secs_f64(sent as f64 / args.rate);
        if due >= until {
            break;
        }
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            producer.poll(Duration::ZERO);
            std::thread::sleep(wait);
        }
        let now = now_ms();
        record.event_time_ms = now;
        if let Some(Value::Integer(t)) = time_field.map(|i| &mut record.values[i]) {
            *t = now;
        }
        value.clear();
        codec.encode_into("", record, Framing::SingleObject, &mut value)?;
        let key = codec.key(record);
        forward(
            &producer,
            BaseRecord::to(&args.topic)
                .key(key.as_bytes())
                .payload(value.as_slice()),
        )?;
        sent += 1;
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(json!({"sent": sent, "seconds": started.elapsed().as_secs_f64()}).to_string())
}
