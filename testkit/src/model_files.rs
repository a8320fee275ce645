//! Damaged and foreign copies of a model file, for tests of how binaries meet them.

use std::path::{Path, PathBuf};

/// A copy of the model file `model` with its JSON body changed by `edit`, written as `name` in
/// `dir` (the header line is kept): for tests of how binaries meet damaged or foreign models.
pub fn edited_model(
    model: &Path,
    dir: &Path,
    name: &str,
    edit: impl Fn(&mut serde_json::Value),
) -> PathBuf {
    let text = std::fs::read_to_string(model).expect("the model file is readable text");
    let (header, body) = text
        .split_once('\n')
        .expect("a model file has a header line");
    let mut json: serde_json::Value = serde_json::from_str(body).expect("a model body is JSON");
    edit(&mut json);
    let path = dir.join(name);
    std::fs::write(&path, format!("{header}\n{json}")).expect("the edited model is written");
    path
}

/// A copy of `model` that needs a feature this build does not compute, consistent otherwise: its
/// recorded version is the one its content hashes to (as the loader reports it), as if a newer
/// trainer had written it.
pub fn model_with_unknown_feature(model: &Path, dir: &Path) -> PathBuf {
    let rename = |json: &mut serde_json::Value| json["features"][12] = "dest_emptied".into();
    let path = edited_model(model, dir, "newer-features.model", rename);
    let error = aegis_core::Model::load(&path)
        .expect_err("a renamed feature changes the content hash")
        .to_string();
    let version = error
        .split("hashes to ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("the loader names the version the content hashes to")
        .to_owned();
    edited_model(model, dir, "newer-features.model", |json| {
        rename(json);
        json["model_version"] = version.clone().into();
    })
}
