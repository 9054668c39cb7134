//! Secrets stored in the database (users' git credentials), encrypted at
//! rest with ChaCha20-Poly1305 under one server key, so a leaked database
//! or backup does not leak them.
//!
//! The key is `MINICODE_SECRET_KEY` (32 bytes as hex or base64) or, unset,
//! `<data dir>/secret.key`, made on first use with mode 0600. Losing the
//! key loses the stored secrets (users enter them again); nothing else.
//! Each value gets a random 96-bit nonce, stored before its ciphertext; the
//! value's purpose and owner are bound in as associated data, so a sealed
//! value copied onto another row does not open.
//!
//! A leaf: it knows the configuration's `Secret`, nothing of the server.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::config::secret::Secret;

/// What went wrong with the key or a sealed value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("MINICODE_SECRET_KEY must be 32 bytes as hex (64 digits) or base64")]
    BadConfiguredKey,
    #[error("{0} is not a 32-byte key")]
    BadKeyFile(String),
    #[error("the secret key file: {0}")]
    Io(#[from] std::io::Error),
    #[error("a stored secret does not open with this server's key")]
    Unreadable,
}

/// The key that seals and opens stored secrets.
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// The configured key, else `<data dir>/secret.key` (made if missing).
    pub fn load(configured: Option<&Secret>, data_dir: &Path) -> Result<Sealer, SecretError> {
        let key = match configured.filter(|k| !k.is_empty()) {
            Some(k) => parse_key(k.expose().trim()).ok_or(SecretError::BadConfiguredKey)?,
            None => key_file(&data_dir.join("secret.key"))?,
        };
        Ok(Sealer::from_key(key))
    }

    pub fn from_key(key: [u8; 32]) -> Sealer {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &key).expect("a 32-byte key");
        Sealer {
            key: LessSafeKey::new(unbound),
        }
    }

    /// `plain` sealed for `context` (who and what it is for), as base64 text.
    pub fn seal(&self, context: &str, plain: &[u8]) -> String {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut sealed = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .expect("a value shorter than 256 GiB");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    /// The value [`Sealer::seal`] sealed for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, SecretError> {
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| SecretError::Unreadable)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::Unreadable);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Unreadable)?;
        let mut rest = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut rest)
            .map_err(|_| SecretError::Unreadable)?;
        Ok(plain.to_vec())
    }
}

/// 32 bytes from 64 hex digits or base64.
fn parse_key(text: &str) -> Option<[u8; 32]> {
    let bytes = if text.len() == 64 {
        hex::decode(text).ok()?
    } else {
        STANDARD.decode(text).ok()?
    };
    bytes.try_into().ok()
}

/// Reads the key file, or makes it (mode 0600); two first uses at once both
/// end up with the one that was written.
fn key_file(path: &Path) -> Result<[u8; 32], SecretError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read(path) {
        Ok(bytes) => {
            return bytes
                .try_into()
                .map_err(|_| SecretError::BadKeyFile(path.display().to_string()));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        Err(_) => {}
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let key: [u8; 32] = rand::random();
    // Written beside and linked into place, so no reader sees half a key.
    let staged = path.with_extension(format!("new-{}", uuid::Uuid::new_v4()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&staged)?;
    file.write_all(&key)?;
    file.sync_all()?;
    let linked = std::fs::hard_link(&staged, path);
    std::fs::remove_file(&staged)?;
    match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => key_file(path),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_context() {
        let sealer = Sealer::from_key([7; 32]);
        let a = sealer.seal("git:user-1", b"token");
        let b = sealer.seal("git:user-1", b"token");
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(!a.contains("token"));
        assert_eq!(sealer.open("git:user-1", &a).unwrap(), b"token");
        assert!(sealer.open("git:user-2", &a).is_err());
        assert!(Sealer::from_key([8; 32]).open("git:user-1", &a).is_err());
        assert!(sealer.open("git:user-1", "AAAA").is_err());
    }

    #[test]
    fn keys_come_from_configuration_or_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let hex_key = Secret::new("11".repeat(32));
        let sealed = Sealer::load(Some(&hex_key), dir.path())
            .unwrap()
            .seal("c", b"x");
        let b64 = Secret::new(STANDARD.encode([0x11u8; 32]));
        assert_eq!(
            Sealer::load(Some(&b64), dir.path())
                .unwrap()
                .open("c", &sealed)
                .unwrap(),
            b"x"
        );
        assert!(Sealer::load(Some(&Secret::new("short")), dir.path()).is_err());
        assert!(!dir.path().join("secret.key").exists());

        let first = Sealer::load(None, dir.path()).unwrap().seal("c", b"y");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Sealer::load(None, dir.path()).unwrap();
        assert_eq!(again.open("c", &first).unwrap(), b"y");
    }
}
