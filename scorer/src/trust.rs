//! Which records of the models and rules topics a replica installs: those signed by a key it
//! trusts (`--trusted-keys FILE`; [`aegis_core::signing`]). An unsigned record, one signed by an
//! unknown key, and one whose signature does not match — tombstones included — are refused: one
//! log line, `aegis_control_refusals_total{topic, reason}`, and the model or rule set in use stays.
//! `--allow-unsigned` (local development only; the replica warns at start) also takes unsigned
//! records. The `--model` and `--rules` files are the operator's own and are not checked.

use aegis_core::signing::{Artifact, KeyId, Refusal, TrustedKeys};
use anyhow::{Context, Result};
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;

use crate::config::ScorerConfig;

/// What the replica trusts.
#[derive(Clone, Debug)]
pub struct Trust {
    /// The keys whose signatures it accepts (none: nothing signed is checked, see below).
    keys: Option<TrustedKeys>,
    /// `--allow-unsigned`.
    allow_unsigned: bool,
}

impl Trust {
    /// From `--trusted-keys` and `--allow-unsigned`. Fails with one line when control topics are
    /// read but nothing says what to trust.
    pub fn from_config(config: &ScorerConfig) -> Result<Trust> {
        let keys = config
            .trusted_keys
            .as_deref()
            .map(TrustedKeys::load)
            .transpose()
            .context("--trusted-keys")?;
        let reads_control = !config.models_topic.is_empty() || !config.rules_topic.is_empty();
        anyhow::ensure!(
            keys.is_some() || config.allow_unsigned || !reads_control,
            "the models and rules topics need --trusted-keys FILE (public keys of `aegis-trainer keygen`), \
             or --allow-unsigned for local development, or --models-topic \"\" --rules-topic \"\" to run without them"
        );
        if config.allow_unsigned && reads_control {
            tracing::warn!(
                "--allow-unsigned: unsigned models and rule sets on the topics are installed; anyone who can write there decides (local development only)"
            );
        }
        if let Some(keys) = &keys {
            let ids: Vec<String> = keys.ids().iter().map(KeyId::to_string).collect();
            tracing::info!(keys = %ids.join(","), "trusting these keys for models and rule sets");
        }
        Ok(Trust {
            keys,
            allow_unsigned: config.allow_unsigned,
        })
    }

    /// Trusts any record: for tests and tools that build a replica by hand.
    pub fn unchecked() -> Trust {
        Trust {
            keys: None,
            allow_unsigned: true,
        }
    }

    /// Whether `message` (of the topic holding `kind`) may be installed.
    pub fn check(&self, kind: Artifact, message: &BorrowedMessage<'_>) -> Result<(), Refusal> {
        let (signature, signer) = aegis_kafka::signed::signature_of(message);
        if signature.is_none() && self.allow_unsigned {
            return Ok(());
        }
        let Some(keys) = &self.keys else {
            // No keys: only --allow-unsigned gets here, and a signature cannot be checked.
            return if self.allow_unsigned {
                Ok(())
            } else {
                Err(Refusal::UnknownSigner)
            };
        };
        let key = message
            .key()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let value = message.payload().unwrap_or_default();
        keys.verify(kind, &key, value, signature, signer)
            .map(|_| ())
    }
}
