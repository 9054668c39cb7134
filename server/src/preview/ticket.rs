//! Signed passes onto a preview host.
//!
//! minicode's session cookie never reaches a preview host, so the owner is
//! let in by what minicode signs: a *ticket* (valid [`TICKET_TTL`]) put in
//! the redirect from `/preview/<id>/` on minicode's origin, which the
//! preview host exchanges for a *pass* cookie of its own (valid
//! [`PASS_TTL`]). Both name the project, the user and an expiry, and are
//! signed with HMAC-SHA256 under a key kept in the data folder
//! (`preview.key`, created on first start, readable by minicode only). The
//! preview host still checks that the user owns the project on every
//! request, so a deleted project or a changed owner locks the pass out.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// How long a ticket in a redirect stays good: it is used at once.
pub const TICKET_TTL: Duration = Duration::from_secs(60);
/// How long the preview host's cookie lets its owner in.
pub const PASS_TTL: Duration = Duration::from_secs(12 * 3600);

/// What a token is for: a ticket cannot serve as a pass, nor the reverse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ticket,
    Pass,
    /// The same pair for a private published site (`deploy/serve.rs`): a
    /// preview's token never opens a site, nor the reverse.
    SiteTicket,
    SitePass,
    /// Marks a preview request one instance forwards to the instance that
    /// runs the sandbox (`cluster`), so that one serves it, never forwards it again.
    Forward,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Ticket => "t",
            Kind::Pass => "p",
            Kind::SiteTicket => "st",
            Kind::SitePass => "sp",
            Kind::Forward => "f",
        }
    }
}

/// Who a valid token lets in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claims {
    pub project: Uuid,
    pub user: Uuid,
}

/// The signing key.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer([redacted])")
    }
}

impl Signer {
    /// Loads `<data dir>/preview.key`, creating it (mode 0600) on first use.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<Self> {
        let path = data_dir.join("preview.key");
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                return Ok(Self { key });
            }
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} is not a 32-byte key: delete it to make a new one (open previews sign in again)",
                    path.display()
                )));
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        let key: [u8; 32] = rand::random();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode_0600()
            .open(&path)?;
        file.write_all(&key)?;
        Ok(Self { key })
    }

    #[cfg(test)]
    pub fn from_key(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// With several instances every one must sign with the same key: the
    /// first stores its own in the database, and every instance uses the
    /// stored one (PostgreSQL only; SQLite is one instance).
    pub async fn shared(self, db: &crate::db::Db) -> Result<Self, sqlx::Error> {
        if db.backend() != crate::db::Backend::Postgres {
            return Ok(self);
        }
        let mine = URL_SAFE_NO_PAD.encode(self.key);
        sqlx::query(
            "INSERT INTO server_keys (name, key) VALUES ('preview', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&mine)
        .execute(db.writer())
        .await?;
        let stored: String =
            sqlx::query_scalar("SELECT key FROM server_keys WHERE name = 'preview'")
                .fetch_one(db.pool())
                .await?;
        match URL_SAFE_NO_PAD.decode(stored.as_bytes()) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                Ok(Self { key })
            }
            _ => Err(sqlx::Error::Protocol(
                "the stored preview key is not 32 bytes".into(),
            )),
        }
    }

    fn mac(&self, payload: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A token of `kind` for `claims`, good until `now + ttl`.
    pub fn issue(&self, kind: Kind, claims: Claims, now_ms: i64, ttl: Duration) -> String {
        let expires = now_ms + ttl.as_millis() as i64;
        let payload = format!(
            "{}.{}.{}.{expires}",
            kind.tag(),
            claims.project.simple(),
            claims.user.simple()
        );
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(self.mac(&payload)))
    }

    /// The claims of a token of `kind` that is genuine and not expired.
    pub fn verify(&self, kind: Kind, token: &str, now_ms: i64) -> Option<Claims> {
        let (payload, signature) = token.rsplit_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(payload.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&signature).ok()?;
        let mut parts = payload.split('.');
        let (tag, project, user, expires) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || tag != kind.tag() {
            return None;
        }
        if expires.parse::<i64>().ok()? <= now_ms {
            return None;
        }
        Some(Claims {
            project: Uuid::parse_str(project).ok()?,
            user: Uuid::parse_str(user).ok()?,
        })
    }
}

/// `OpenOptions::mode(0o600)` behind a name that reads as intent.
trait PrivateFile {
    fn mode_0600(&mut self) -> &mut Self;
}

impl PrivateFile for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            project: Uuid::new_v4(),
            user: Uuid::new_v4(),
        }
    }

    #[test]
    fn tokens_are_bound_to_their_kind_key_and_time() {
        let signer = Signer::from_key([7; 32]);
        let c = claims();
        let ticket = signer.issue(Kind::Ticket, c, 1_000, TICKET_TTL);
        assert_eq!(signer.verify(Kind::Ticket, &ticket, 1_000), Some(c));
        assert_eq!(signer.verify(Kind::Pass, &ticket, 1_000), None, "kind");
        assert_eq!(
            signer.verify(Kind::Ticket, &ticket, 1_000 + 60_000),
            None,
            "expired"
        );
        assert_eq!(
            Signer::from_key([8; 32]).verify(Kind::Ticket, &ticket, 1_000),
            None,
            "another key"
        );
        // Any change to the payload breaks the signature.
        let other = claims();
        let forged = ticket.replacen(
            &c.project.simple().to_string(),
            &other.project.simple().to_string(),
            1,
        );
        assert_eq!(signer.verify(Kind::Ticket, &forged, 1_000), None);
        let longer = ticket.replacen(".61000.", ".99999999999999.", 1);
        assert_eq!(signer.verify(Kind::Ticket, &longer, 1_000), None);
        for junk in ["", ".", "a.b.c.d.e", "t.x.y.1.zz"] {
            assert_eq!(signer.verify(Kind::Ticket, junk, 0), None, "{junk}");
        }
    }

    #[test]
    fn the_key_is_made_once_and_kept_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = Signer::load_or_create(dir.path()).unwrap();
        let again = Signer::load_or_create(dir.path()).unwrap();
        assert_eq!(first.key, again.key);
        let mode = std::fs::metadata(dir.path().join("preview.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(format!("{first:?}"), "Signer([redacted])");
    }
}
