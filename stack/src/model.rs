//! The shared models, live and shadow: each trained from the PaySim sample in `data/` when its
//! file is missing or older than the trainer binary or the data (a rebuilt trainer may write
//! another format), and reused otherwise — so the demo, the checks, the chaos scenarios and CI
//! train them once between them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::commands::{self, Binaries, Training};
use crate::StackError;
use aegis_core::Role;

/// Whether [`ensure`] found the model up to date or trained it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelState {
    /// It was newer than the trainer and the data: reused.
    UpToDate,
    /// It was trained now.
    Trained,
}

/// Makes sure `model`, `role`'s, exists and is up to date, training it if not; the trainer's
/// output goes to `MODEL.train.log`.
pub fn ensure(binaries: &Binaries, model: &Path, role: Role) -> Result<ModelState, StackError> {
    ensure_trained(binaries, model, Training::Paysim(role))
}

/// [`ensure`] for a model trained as `training` says (PaySim's, or a spec's).
pub fn ensure_trained(
    binaries: &Binaries,
    model: &Path,
    training: Training<'_>,
) -> Result<ModelState, StackError> {
    let trainer = binaries.path("aegis-trainer")?;
    if newer_than_all(model, &[&trainer, training.data()]) {
        return Ok(ModelState::UpToDate);
    }
    if let Some(parent) = model.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(StackError::file("cannot create", parent))?;
    }
    let log = train_log(model);
    let output = File::create(&log).map_err(StackError::file("cannot write", &log))?;
    let errors = output
        .try_clone()
        .map_err(StackError::file("cannot write", &log))?;
    let mut command = commands::trainer(binaries, model, training)?;
    let status = command
        .stdout(output)
        .stderr(errors)
        .status()
        .map_err(|source| StackError::Spawn {
            name: "aegis-trainer".to_owned(),
            program: trainer,
            source,
        })?;
    if !status.success() {
        return Err(StackError::Exited {
            name: "aegis-trainer".to_owned(),
            status,
            log,
        });
    }
    Ok(ModelState::Trained)
}

/// Where the trainer's output goes: `MODEL.train.log`.
pub fn train_log(model: &Path) -> PathBuf {
    let mut name = model.as_os_str().to_owned();
    name.push(".train.log");
    PathBuf::from(name)
}

/// Whether `file` exists and was modified no earlier than every one of `inputs`.
fn newer_than_all(file: &Path, inputs: &[&Path]) -> bool {
    let modified = |path: &Path| -> Option<SystemTime> { path.metadata().ok()?.modified().ok() };
    let Some(made) = modified(file) else {
        return false;
    };
    inputs
        .iter()
        .all(|input| modified(input).is_some_and(|input| input <= made))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_is_fresh_only_when_newer_than_every_input() {
        let dir = tempfile::tempdir().unwrap();
        let (input, model) = (dir.path().join("trainer"), dir.path().join("aegis.model"));
        std::fs::write(&input, "v1").unwrap();
        assert!(
            !newer_than_all(&model, &[&input]),
            "a missing model is stale"
        );
        std::fs::write(&model, "model").unwrap();
        assert!(newer_than_all(&model, &[&input]));
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        File::options()
            .write(true)
            .open(&input)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(
            !newer_than_all(&model, &[&input]),
            "a rebuilt trainer makes it stale"
        );
        assert_eq!(train_log(&model), dir.path().join("aegis.model.train.log"));
    }
}
