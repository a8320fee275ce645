//! Which of a replica's two model slots a model fills — `live`, which decides, or `shadow`, which
//! is scored beside it and only measured — and so the key of its record on the models topic
//! ([`crate::topics::MODELS_TOPIC`]) and the `role` label of every metric that tells them apart.
//! The trainer writes the key, the scorer parses it, the outcome service labels its joins with it:
//! this is the one definition.

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

    /// The models-topic record key of this role.
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

#[cfg(test)]
mod tests {
    use super::*;

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
