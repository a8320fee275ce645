//! Signed models and rule sets. Whoever can write to the `models` or `rules` topic changes every
//! replica's decisions; a content hash detects damage, not forgery. So each record published
//! there carries an ed25519 signature, and replicas install only what a key they trust signed.
//!
//! - Keys are files in the formats openssl reads: the private key as PKCS#8 PEM
//!   (`aegis-trainer keygen` writes it readable by its owner only), the public key as SPKI PEM.
//!   A trusted-keys file holds one or more public keys, one PEM block each — several, so that a
//!   new key can be trusted before the old one is retired (rotation).
//! - A key is named by its id: the first 8 bytes of the SHA-256 of its 32 public bytes, in hex.
//! - What is signed binds the record's kind (`model` or `rules`) and its Kafka key (the role, or
//!   the rule set's name) to the SHA-256 of its value, so a shadow model cannot be replayed as the
//!   live one, nor a rule set under another name.
//! - The signature and the signer's id travel as Kafka headers ([`header`]), in hex; the value
//!   is the artifact as it always was.

use std::fmt;
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

/// Header names of a signed record.
pub mod header {
    /// The ed25519 signature, 64 bytes in hex.
    pub const SIGNATURE: &str = "aegis.signature";
    /// The signer's key id, 8 bytes in hex.
    pub const SIGNER: &str = "aegis.signer";
}

/// What kind of record is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Artifact {
    /// A model artifact on the models topic (key = role).
    Model,
    /// A rule set on the rules topic (key = its name).
    Rules,
}

impl Artifact {
    fn as_str(self) -> &'static str {
        match self {
            Artifact::Model => "model",
            Artifact::Rules => "rules",
        }
    }
}

/// Why a record is refused: a closed set, the `reason` label of the refusal metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No signature header.
    #[error("unsigned: no {} header (publish with --key)", header::SIGNATURE)]
    Unsigned,
    /// Signed by a key that is not in the trusted-keys file.
    #[error("signed by a key this replica does not trust")]
    UnknownSigner,
    /// The signature does not match the record (forged, damaged, or signed for another key).
    #[error("bad signature: the record is not what its signer signed")]
    BadSignature,
}

impl Refusal {
    /// Every reason, in a fixed order (metrics are pre-registered for each).
    pub const ALL: [Refusal; 3] = [
        Refusal::Unsigned,
        Refusal::UnknownSigner,
        Refusal::BadSignature,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unsigned => "unsigned",
            Refusal::UnknownSigner => "unknown_signer",
            Refusal::BadSignature => "bad_signature",
        }
    }
}

/// A key file that cannot be used: one line naming the file and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Not a key of the expected kind.
    #[error("{path}: {problem}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// The operating system gave no randomness.
    #[error("cannot generate a key: {0}")]
    Random(String),
}

/// A key's id: the first 8 bytes of the SHA-256 of its public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    fn of(key: &VerifyingKey) -> KeyId {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// The headers of a signed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// [`header::SIGNATURE`]'s value.
    pub signature: String,
    /// [`header::SIGNER`]'s value.
    pub signer: String,
}

/// A private key that signs what is published.
pub struct SigningKeyFile {
    key: SigningKey,
}

impl SigningKeyFile {
    /// A new key from the operating system's randomness.
    pub fn generate() -> Result<SigningKeyFile, KeyError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(SigningKeyFile {
            key: SigningKey::from_bytes(&secret),
        })
    }

    /// Reads a PKCS#8 PEM private key.
    pub fn load(path: &Path) -> Result<SigningKeyFile, KeyError> {
        let text = read(path)?;
        let key = SigningKey::from_pkcs8_pem(&text).map_err(|e| KeyError::Invalid {
            path: path.display().to_string(),
            problem: format!("not an ed25519 private key in PKCS#8 PEM ({e}); make one with `aegis-trainer keygen`"),
        })?;
        Ok(SigningKeyFile { key })
    }

    /// Writes the private key to `private` (PKCS#8 PEM, readable by its owner only) and the public
    /// key to `public` (SPKI PEM: what replicas list in `--trusted-keys`). Refuses to overwrite.
    pub fn write(&self, private: &Path, public: &Path) -> Result<(), KeyError> {
        let invalid = |path: &Path, e: &dyn fmt::Display| KeyError::Invalid {
            path: path.display().to_string(),
            problem: e.to_string(),
        };
        let private_pem = self
            .key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| invalid(private, &e))?;
        let public_pem = self
            .key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| invalid(public, &e))?;
        create(private, private_pem.as_bytes(), 0o600)?;
        create(public, public_pem.as_bytes(), 0o644)
    }

    /// This key's id.
    pub fn id(&self) -> KeyId {
        KeyId::of(&self.key.verifying_key())
    }

    /// This key's public half as a trusted-keys set: what checks the records it signed.
    pub fn trusted(&self) -> TrustedKeys {
        let key = self.key.verifying_key();
        TrustedKeys {
            keys: vec![(KeyId::of(&key), key)],
        }
    }

    /// Signs a record of `kind` with Kafka key `key` and value `value`.
    pub fn sign(&self, kind: Artifact, key: &str, value: &[u8]) -> Signed {
        let signature = self.key.sign(&signed_message(kind, key, value));
        Signed {
            signature: hex(&signature.to_bytes()),
            signer: self.id().to_string(),
        }
    }
}

/// The public keys a replica trusts.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    keys: Vec<(KeyId, VerifyingKey)>,
}

impl TrustedKeys {
    /// Reads one or more SPKI PEM public keys from `path`.
    pub fn load(path: &Path) -> Result<TrustedKeys, KeyError> {
        let text = read(path)?;
        const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
        let mut keys = Vec::new();
        for (i, block) in text.split(BEGIN).skip(1).enumerate() {
            let pem = format!("{BEGIN}{block}");
            let key =
                VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| KeyError::Invalid {
                    path: path.display().to_string(),
                    problem: format!("key {}: not an ed25519 public key in PEM ({e})", i + 1),
                })?;
            keys.push((KeyId::of(&key), key));
        }
        if keys.is_empty() {
            return Err(KeyError::Invalid {
                path: path.display().to_string(),
                problem: format!(
                    "no public key in it (a {BEGIN} block, as `aegis-trainer keygen` writes)"
                ),
            });
        }
        Ok(TrustedKeys { keys })
    }

    /// The ids of the keys trusted, in file order.
    pub fn ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|(id, _)| *id).collect()
    }

    /// Checks a record of `kind` with Kafka key `key`, value `value` and the two signature
    /// headers' values (absent: `None`): the signer's id when a trusted key signed exactly this.
    pub fn verify(
        &self,
        kind: Artifact,
        key: &str,
        value: &[u8],
        signature: Option<&[u8]>,
        signer: Option<&[u8]>,
    ) -> Result<KeyId, Refusal> {
        let signature = signature.ok_or(Refusal::Unsigned)?;
        let signer = signer.ok_or(Refusal::UnknownSigner)?;
        let (id, trusted) = self
            .keys
            .iter()
            .find(|(id, _)| id.to_string().as_bytes() == signer)
            .ok_or(Refusal::UnknownSigner)?;
        let bytes: [u8; 64] = unhex(signature)
            .and_then(|b| b.try_into().ok())
            .ok_or(Refusal::BadSignature)?;
        trusted
            .verify(
                &signed_message(kind, key, value),
                &Signature::from_bytes(&bytes),
            )
            .map_err(|_| Refusal::BadSignature)?;
        Ok(*id)
    }
}

/// What is signed: a domain tag, the kind, the Kafka key, and the value's SHA-256.
fn signed_message(kind: Artifact, key: &str, value: &[u8]) -> Vec<u8> {
    let mut message = format!("aegis-signed-artifact-v1\n{}\n{key}\n", kind.as_str()).into_bytes();
    message.extend_from_slice(&Sha256::digest(value));
    message
}

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Creates `path` with `mode`, refusing to overwrite a file already there.
fn create(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(mode);
    #[cfg(not(unix))]
    let _ = mode;
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(io)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
mod tests {
    use super::*;

    fn keys(dir: &Path, name: &str) -> (SigningKeyFile, std::path::PathBuf) {
        let key = SigningKeyFile::generate().unwrap();
        let (private, public) = (
            dir.join(format!("{name}.key")),
            dir.join(format!("{name}.pub")),
        );
        key.write(&private, &public).unwrap();
        (SigningKeyFile::load(&private).unwrap(), public)
    }

    #[test]
    fn a_trusted_key_s_signature_verifies_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let (old, old_pub) = keys(dir.path(), "old");
        let (new, new_pub) = keys(dir.path(), "new");
        let (stranger, _) = keys(dir.path(), "stranger");
        // Rotation: both keys trusted, from one file.
        let both = dir.path().join("trusted.pem");
        let text = std::fs::read_to_string(&old_pub).unwrap()
            + &std::fs::read_to_string(&new_pub).unwrap();
        std::fs::write(&both, text).unwrap();
        let trusted = TrustedKeys::load(&both).unwrap();
        assert_eq!(trusted.ids(), [old.id(), new.id()]);

        let value = b"a model artifact";
        let verify = |signed: &Signed, kind, key: &str, value: &[u8]| {
            trusted.verify(
                kind,
                key,
                value,
                Some(signed.signature.as_bytes()),
                Some(signed.signer.as_bytes()),
            )
        };
        for key in [&old, &new] {
            let signed = key.sign(Artifact::Model, "live", value);
            assert_eq!(
                verify(&signed, Artifact::Model, "live", value),
                Ok(key.id())
            );
            // Bound to its kind, its Kafka key and every byte of its value.
            assert_eq!(
                verify(&signed, Artifact::Model, "shadow", value),
                Err(Refusal::BadSignature)
            );
            assert_eq!(
                verify(&signed, Artifact::Rules, "live", value),
                Err(Refusal::BadSignature)
            );
            let mut flipped = value.to_vec();
            flipped[3] ^= 1;
            assert_eq!(
                verify(&signed, Artifact::Model, "live", &flipped),
                Err(Refusal::BadSignature)
            );
        }
        let foreign = stranger.sign(Artifact::Model, "live", value);
        assert_eq!(
            verify(&foreign, Artifact::Model, "live", value),
            Err(Refusal::UnknownSigner)
        );
        // A stranger's signature under a trusted key's id.
        let forged = Signed {
            signer: old.id().to_string(),
            ..foreign
        };
        assert_eq!(
            verify(&forged, Artifact::Model, "live", value),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            trusted.verify(Artifact::Model, "live", value, None, None),
            Err(Refusal::Unsigned)
        );
        assert_eq!(
            trusted.verify(
                Artifact::Model,
                "live",
                value,
                Some(b"zz"),
                Some(old.id().to_string().as_bytes())
            ),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn key_files_are_checked_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let (_, public) = keys(dir.path(), "k");
        let err = SigningKeyFile::generate()
            .unwrap()
            .write(&dir.path().join("k.key"), &dir.path().join("other.pub"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("k.key"), "{err}");
        // A public key is not a private key, and an empty file holds no key.
        let err = SigningKeyFile::load(&public).err().unwrap().to_string();
        assert!(err.contains("PKCS#8"), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = TrustedKeys::load(&empty).unwrap_err().to_string();
        assert!(err.contains("no public key"), "{err}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("k.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the private key is its owner's alone");
        }
    }
}
