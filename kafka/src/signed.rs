//! A signed record's headers on Kafka ([`aegis_core::signing`]): written by `aegis-trainer
//! publish --key`, read by the scorers before they install a model or a rule set.

use aegis_core::signing::{header, Signed};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::Message;

/// The headers that carry `signed`.
pub fn headers(signed: &Signed) -> OwnedHeaders {
    OwnedHeaders::new()
        .insert(Header {
            key: header::SIGNATURE,
            value: Some(&signed.signature),
        })
        .insert(Header {
            key: header::SIGNER,
            value: Some(&signed.signer),
        })
}

/// The signature and signer headers of `message`, each absent when it has none.
pub fn signature_of<M: Message>(message: &M) -> (Option<&[u8]>, Option<&[u8]>) {
    let find = |name: &str| {
        message
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == name).and_then(|h| h.value))
    };
    (find(header::SIGNATURE), find(header::SIGNER))
}
