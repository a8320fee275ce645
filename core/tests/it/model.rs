//! A model's version names its content: the only way to change its thresholds gives it a new one.

use std::path::Path;

use aegis_core::{Model, Thresholds};

use crate::small_model;

#[test]
fn a_model_with_other_thresholds_has_another_version_that_names_its_content() {
    let model = small_model("version");
    let same = Thresholds::new(model.thresholds().review, model.thresholds().block).unwrap();
    let moved = model
        .clone()
        .with_thresholds(Thresholds::new(0.3, 0.95).unwrap());
    assert_ne!(moved.model_version(), model.model_version());
    assert_eq!(moved.thresholds(), Thresholds::new(0.3, 0.95).unwrap());
    // The same thresholds again: the same content, the same version.
    assert_eq!(
        model.clone().with_thresholds(same).model_version(),
        model.model_version()
    );
    // The new version is the one a loader computes from the content.
    let loaded = Model::from_bytes(Path::new("moved"), &moved.to_bytes()).unwrap();
    assert_eq!(loaded.model_version(), moved.model_version());
}
