//! The models a replica scores with: the live one, which decides, and optionally a shadow, which is
//! only measured. Each sits in a slot that is swapped whole, so a batch that took the live model at
//! its start is scored by that model to its end, and the next batch sees the new one — a swap is
//! atomic between batches, and no transaction is scored half by one model and half by another.

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

/// The replica's two slots.
#[derive(Debug)]
pub struct Models {
    live: RwLock<Installed>,
    shadow: RwLock<Option<Installed>>,
}

impl Models {
    /// Slots holding `live` and no shadow.
    pub fn new(live: Installed) -> Models {
        Models {
            live: RwLock::new(live),
            shadow: RwLock::new(None),
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

/// `GET /v1/model`: what each slot holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelsView {
    pub live: SlotView,
    /// Absent until a shadow model is published.
    pub shadow: Option<SlotView>,
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
            rule_sets: Vec::new(),
        }
    }
}
