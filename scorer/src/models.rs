//! The models a replica scores with: the live one, which decides, and optionally a shadow, which is
//! only measured. Each sits in a slot that is swapped whole, so a batch that took the live model at
//! its start is scored by that model to its end, and the next batch sees the new one — a swap is
//! atomic between batches, and no transaction is scored half by one model and half by another.
//! Beside the slots, the models topic's version history ([`HistoryEntry`]): listed, never
//! installed.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use aegis_core::Model;
pub use aegis_core::Role;
use serde::Serialize;
use utoipa::ToSchema;

/// Where an installed model came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Origin {
    /// The `--model` file, at start-up.
    File { path: String },
    /// A record of the models topic.
    Topic {
        topic: String,
        partition: i32,
        offset: i64,
    },
}

/// A model in a slot, with when and whence it arrived.
#[derive(Clone, Debug)]
pub struct Installed {
    pub model: Arc<Model>,
    /// When it was installed, milliseconds since the Unix epoch.
    pub arrived_at: i64,
    pub origin: Origin,
}

impl Installed {
    /// The `--model` file's `model` (from [`crate::load_model`]), installed now.
    pub fn file(config: &crate::ScorerConfig, model: Model) -> Installed {
        let path = config.model.as_deref().unwrap_or(std::path::Path::new(""));
        Installed {
            model: Arc::new(model),
            arrived_at: aegis_core::clock::now_ms(),
            origin: Origin::File {
                path: path.display().to_string(),
            },
        }
    }
}

/// History entries a replica keeps (the latest): the live page lists them.
pub const MAX_HISTORY: usize = 100;

/// One record of the models topic's history (key `history/<role>/<model_version>`): a version
/// published to a slot, the latest time it was. The record holds the artifact too, for
/// `aegis-trainer rollback`; a replica keeps only this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// The model's version (its content hash).
    pub model_version: String,
    /// The slot it was published to.
    pub role: Role,
    /// When it was published, milliseconds since the Unix epoch (the record's timestamp).
    pub published_at: Option<i64>,
    /// What published it (`aegis-trainer promote by ann`), as its publisher said: unsigned.
    pub published_by: Option<String>,
    /// The id of the key that signed it, if signed (checked when the replica runs with
    /// `--trusted-keys`).
    pub signer: Option<String>,
    /// Its offset on the models topic: later entries were published later.
    pub offset: i64,
}

/// The replica's two slots, and the models topic's history.
#[derive(Debug)]
pub struct Models {
    live: RwLock<Installed>,
    shadow: RwLock<Option<Installed>>,
    /// The models topic's version history.
    pub history: History,
}

/// The models topic's version history as a replica saw it: oldest first, at most
/// [`MAX_HISTORY`], one entry per role and version.
#[derive(Debug, Default)]
pub struct History {
    entries: RwLock<VecDeque<HistoryEntry>>,
}

impl Models {
    /// Slots holding `live` and no shadow.
    pub fn new(live: Installed) -> Models {
        Models {
            live: RwLock::new(live),
            shadow: RwLock::new(None),
            history: History::default(),
        }
    }

    /// The live model now; a batch takes it once and keeps it.
    pub fn live(&self) -> Arc<Model> {
        self.live_installed().model
    }

    /// The shadow model now, if one is published.
    pub fn shadow(&self) -> Option<Arc<Model>> {
        self.shadow_installed().map(|i| i.model)
    }

    pub fn live_installed(&self) -> Installed {
        // A poisoned lock means a panic while swapping an Arc: the value is still whole.
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn shadow_installed(&self) -> Option<Installed> {
        self.shadow
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Puts `installed` in `role`'s slot, replacing what was there.
    pub fn install(&self, role: Role, installed: Installed) {
        match role {
            Role::Live => *self.live.write().unwrap_or_else(|e| e.into_inner()) = installed,
            Role::Shadow => {
                *self.shadow.write().unwrap_or_else(|e| e.into_inner()) = Some(installed);
            }
        }
    }

    /// Empties the shadow slot (a tombstone on the models topic); the live slot is never empty.
    pub fn retire_shadow(&self) {
        *self.shadow.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl History {
    /// Adds `entry` as the newest, replacing an older one of the same role and version (as
    /// compaction will), and forgets the oldest beyond [`MAX_HISTORY`].
    pub fn record(&self, entry: HistoryEntry) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|e| (e.role, &e.model_version) != (entry.role, &entry.model_version));
        if entries.len() == MAX_HISTORY {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// Forgets the entry of `role` and `model_version` (a tombstone on its key).
    pub fn forget(&self, role: Role, model_version: &str) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|e| (e.role, e.model_version.as_str()) != (role, model_version));
    }

    /// The entries, newest first.
    pub fn newest_first(&self) -> Vec<HistoryEntry> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.iter().rev().cloned().collect()
    }
}

/// `GET /v1/model`: what each slot holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelsView {
    pub live: SlotView,
    /// Absent until a shadow model is published.
    pub shadow: Option<SlotView>,
    /// The models topic's version history, newest first: each version published to each slot,
    /// the latest time it was (at most the latest 100).
    pub history: Vec<HistoryEntry>,
    /// The rule sets in use beside the live model, in name order (filled by the HTTP handler).
    pub rule_sets: Vec<crate::rules::RuleSetView>,
}

/// One slot as `GET /v1/model` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotView {
    pub model_version: String,
    /// When this replica installed it, milliseconds since the Unix epoch.
    pub arrived_at: i64,
    pub origin: Origin,
    /// REVIEW and BLOCK thresholds (calibrated probabilities).
    pub review_threshold: f64,
    pub block_threshold: f64,
    /// Whether its probabilities are calibrated.
    pub calibrated: bool,
    /// When it was trained, milliseconds since the Unix epoch.
    pub trained_at: i64,
}

impl SlotView {
    fn of(installed: &Installed) -> SlotView {
        let m = &installed.model;
        SlotView {
            model_version: m.model_version().to_owned(),
            arrived_at: installed.arrived_at,
            origin: installed.origin.clone(),
            review_threshold: m.thresholds().review,
            block_threshold: m.thresholds().block,
            calibrated: m.is_calibrated(),
            trained_at: m.training().trained_at,
        }
    }
}

impl Models {
    pub fn view(&self) -> ModelsView {
        ModelsView {
            live: SlotView::of(&self.live_installed()),
            shadow: self.shadow_installed().as_ref().map(SlotView::of),
            history: self.history.newest_first(),
            rule_sets: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(role: Role, version: &str, offset: i64) -> HistoryEntry {
        HistoryEntry {
            model_version: version.to_owned(),
            role,
            published_at: Some(offset),
            published_by: None,
            signer: None,
            offset,
        }
    }

    #[test]
    fn history_is_newest_first_one_per_role_and_version_and_bounded() {
        let history = History::default();
        history.record(entry(Role::Live, "a", 0));
        history.record(entry(Role::Shadow, "b", 1));
        history.record(entry(Role::Live, "b", 2));
        history.record(entry(Role::Live, "a", 3));
        let seen: Vec<(Role, String)> = history
            .newest_first()
            .into_iter()
            .map(|e| (e.role, e.model_version))
            .collect();
        assert_eq!(
            seen,
            [
                (Role::Live, "a".to_owned()),
                (Role::Live, "b".to_owned()),
                (Role::Shadow, "b".to_owned())
            ]
        );
        history.forget(Role::Shadow, "b");
        assert_eq!(history.newest_first().len(), 2);
        for i in 0..(MAX_HISTORY as i64 + 10) {
            history.record(entry(Role::Shadow, &format!("v{i}"), 10 + i));
        }
        let newest = history.newest_first();
        assert_eq!(newest.len(), MAX_HISTORY);
        assert_eq!(newest[0].model_version, format!("v{}", MAX_HISTORY + 9));
    }
}
