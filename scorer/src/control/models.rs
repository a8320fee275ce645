//! Records of the models topic (key = [`Role`], value = the artifact's bytes). Each is checked
//! exactly as the `--model` file is at start-up ([`Model::from_bytes`]). A good one is installed in
//! its slot, and the next batch is scored with it ([`crate::models`]); a corrupt or incompatible
//! one is refused with a log line and `aegis_model_updates_total{outcome="refused"}`, and the
//! replica keeps the model it had. An empty value (a tombstone) retires the shadow model; the live
//! slot is never emptied. A history record (key `history/<role>/<version>`, [`ModelKey`]) is
//! listed in the replica's history and never installed; its tombstone takes it off the list.

use std::path::Path;
use std::sync::Arc;

use aegis_core::clock::now_ms;
use aegis_core::error_line::one_line;
use aegis_core::{Model, ModelKey, Role};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::Message;

use crate::models::{HistoryEntry, Installed, Origin};
use crate::replica::ReplicaState;

/// Installs or refuses one record of the models topic. A shadow model is refused while
/// `shadow_topic`, where its verdicts go, does not exist (`shadow_topic_exists` asks the broker):
/// writing to a missing topic would stall the stream's acknowledgements.
pub(super) fn apply(
    replica: &ReplicaState,
    shadow_topic: &str,
    shadow_topic_exists: impl FnOnce() -> bool,
    message: &BorrowedMessage<'_>,
) {
    let place = super::place(message);
    let role = match message.key().and_then(ModelKey::parse) {
        Some(ModelKey::Slot(role)) => role,
        Some(ModelKey::History {
            role,
            model_version,
        }) => return list(replica, role, model_version, message),
        None => {
            tracing::warn!(
                record = %place,
                "refused a models record: its key must be `live`, `shadow` or `history/<role>/<version>`"
            );
            replica.metrics.model_refused(None);
            return;
        }
    };
    let Some(bytes) = message.payload().filter(|b| !b.is_empty()) else {
        retire(replica, role, &place);
        return;
    };
    if role == Role::Shadow && !shadow_topic_exists() {
        tracing::warn!(
            record = %place, shadow_topic,
            "refused a shadow model: its verdicts' topic does not exist (create it, then publish again)"
        );
        replica.metrics.model_refused(Some(role));
        return;
    }
    let read = Model::from_bytes(Path::new(&place), bytes).and_then(|m| {
        // A model of the spec the replica runs: its stream computes that spec's features.
        m.expect_spec(Path::new(&place), replica.models.live().spec())
            .map(|()| m)
    });
    let model = match read {
        Ok(model) => Arc::new(model),
        Err(e) => {
            tracing::warn!(
                record = %place, role = role.as_str(), error = %one_line(&e),
                "refused a model; keeping the one in use"
            );
            replica.metrics.model_refused(Some(role));
            return;
        }
    };
    let now = now_ms();
    let before = match role {
        Role::Live => Some(replica.models.live().model_version().to_owned()),
        Role::Shadow => replica
            .models
            .shadow()
            .map(|m| m.model_version().to_owned()),
    };
    let origin = Origin::Topic {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
    };
    replica.models.install(
        role,
        Installed {
            model: model.clone(),
            arrived_at: now,
            origin,
        },
    );
    replica.metrics.model_installed(role, &model, now);
    tracing::info!(
        record = %place, role = role.as_str(), model = %model.model_version(),
        previous = before.as_deref().unwrap_or("none"),
        "model installed"
    );
}

/// A tombstone: retires the shadow model; refused for the live one.
fn retire(replica: &ReplicaState, role: Role, place: &str) {
    match role {
        Role::Shadow => {
            replica.models.retire_shadow();
            replica.metrics.shadow_retired();
            tracing::info!(record = %place, "shadow model retired");
        }
        Role::Live => {
            tracing::warn!(record = %place, "refused an empty live model: the live slot is never emptied");
            replica.metrics.model_refused(Some(role));
        }
    }
}

/// A history record: listed (its artifact is not read), or taken off the list by a tombstone.
fn list(replica: &ReplicaState, role: Role, model_version: String, message: &BorrowedMessage<'_>) {
    let history = &replica.models.history;
    if message.payload().is_none_or(<[u8]>::is_empty) {
        history.forget(role, &model_version);
        return;
    }
    let header = |name: &str| {
        message.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
    };
    history.record(HistoryEntry {
        model_version,
        role,
        published_at: message.timestamp().to_millis(),
        published_by: header(ModelKey::PUBLISHED_BY_HEADER),
        signer: header(aegis_core::signing::header::SIGNER),
        offset: message.offset(),
    });
}
