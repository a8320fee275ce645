//! The stack's publishing key: what its `aegis-trainer publish` signs with, and what its scorers
//! trust (`--trusted-keys`), as a deployment would have it — made once per stack directory.

use std::path::{Path, PathBuf};

use aegis_core::signing::SigningKeyFile;

use crate::StackError;

/// The key pair's files.
#[derive(Clone, Debug)]
pub struct Keys {
    /// `publisher.key`: for `publish --key`.
    pub private: PathBuf,
    /// `publisher.pub`: for the scorers' `--trusted-keys`.
    pub public: PathBuf,
}

/// The pair in `dir`, made if it is not there yet.
pub fn ensure(dir: &Path) -> Result<Keys, StackError> {
    let keys = Keys {
        private: dir.join("publisher.key"),
        public: dir.join("publisher.pub"),
    };
    if !(keys.private.exists() && keys.public.exists()) {
        for file in [&keys.private, &keys.public] {
            if file.exists() {
                std::fs::remove_file(file).map_err(StackError::file("cannot replace", file))?;
            }
        }
        SigningKeyFile::generate()?.write(&keys.private, &keys.public)?;
    }
    Ok(keys)
}
