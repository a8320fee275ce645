//! Which of a replica's two model slots a model fills — `live`, which decides, or `shadow`, which
//! is scored beside it and only measured — and so the key of its record on the models topic
//! ([`crate::topics::MODELS_TOPIC`]) and the `role` label of every metric that tells them apart.
//! The trainer writes the key, the scorer parses it, the outcome service labels its joins with it:
//! this is the one definition — of the history keys beside them too ([`ModelKey`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A model's slot, and the key of its record on the models topic.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Decides: its verdicts go to the verdicts topic and are acted on.
    #[default]
    Live,
    /// Scored beside the live model and measured, never acted on.
    Shadow,
}

impl Role {
    /// Both roles, live first (the order of metric series).
    pub const ALL: [Role; 2] = [Role::Live, Role::Shadow];

    /// `live` or `shadow`: the record key, the flag value and the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Live => "live",
            Role::Shadow => "shadow",
        }
    }

    /// The models-topic record key of this role's slot.
    pub fn key(self) -> &'static [u8] {
        self.as_str().as_bytes()
    }

    /// The role a models-topic record key names, if any.
    pub fn from_key(key: &[u8]) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.key() == key)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is neither `live` nor `shadow`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a model role: use `live` or `shadow`")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::from_key(s.as_bytes()).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// The key of a models-topic record: a slot, which replicas install, or a history entry — the
/// same artifact kept under `history/<role>/<model_version>`, which replicas list and never
/// install. Compaction keeps the latest record of each key, so the topic holds every version each
/// role has had (the latest time it had it), in the order of their last publication: what
/// `aegis-trainer rollback` reads, and the live page lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelKey {
    /// `live` or `shadow`.
    Slot(Role),
    /// `history/<role>/<model_version>`.
    History {
        /// The slot the model was published to.
        role: Role,
        /// The model's version (its content hash).
        model_version: String,
    },
}

impl ModelKey {
    /// What comes before a history key's role.
    pub const HISTORY_PREFIX: &'static str = "history/";
    /// Header of a history record naming what published it (`aegis-trainer promote by ann`):
    /// shown, not signed — the signer's key id is the part to trust.
    pub const PUBLISHED_BY_HEADER: &'static str = "aegis.published-by";

    /// The history key of `model_version` published as `role`.
    pub fn history(role: Role, model_version: &str) -> ModelKey {
        ModelKey::History {
            role,
            model_version: model_version.to_owned(),
        }
    }

    /// The key a record of the models topic carries, if it is one of these.
    pub fn parse(key: &[u8]) -> Option<ModelKey> {
        if let Some(role) = Role::from_key(key) {
            return Some(ModelKey::Slot(role));
        }
        let rest = std::str::from_utf8(key)
            .ok()?
            .strip_prefix(Self::HISTORY_PREFIX)?;
        let (role, version) = rest.split_once('/')?;
        let role = Role::from_key(role.as_bytes())?;
        (!version.is_empty()).then(|| ModelKey::history(role, version))
    }
}

impl fmt::Display for ModelKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelKey::Slot(role) => role.fmt(f),
            ModelKey::History {
                role,
                model_version,
            } => write!(f, "{}{role}/{model_version}", Self::HISTORY_PREFIX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_key_is_a_slot_or_a_history_entry_and_reads_back() {
        for key in [
            ModelKey::Slot(Role::Live),
            ModelKey::history(Role::Shadow, "rf-0123abcd"),
        ] {
            assert_eq!(ModelKey::parse(key.to_string().as_bytes()), Some(key));
        }
        assert_eq!(
            ModelKey::history(Role::Live, "v1").to_string(),
            "history/live/v1"
        );
        for bad in [
            "canary",
            "history/",
            "history/live",
            "history/live/",
            "history/canary/v1",
        ] {
            assert_eq!(ModelKey::parse(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn a_role_is_its_key_and_nothing_else_is_a_role() {
        for role in Role::ALL {
            assert_eq!(Role::from_key(role.key()), Some(role));
            assert_eq!(role.to_string().parse::<Role>().ok(), Some(role));
            assert_eq!(
                serde_json::to_string(&role).ok(),
                Some(format!("\"{role}\""))
            );
        }
        assert_eq!(Role::from_key(b"Live"), None);
        assert_eq!(Role::from_key(b""), None);
        assert!("canary".parse::<Role>().is_err());
    }
}
