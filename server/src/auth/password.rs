//! Password hashing with argon2id (OWASP's recommended parameters: 19 MiB, 2 passes).

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

use crate::error::{AppError, AppResult};

/// Hashes off the async runtime: one hash takes tens of milliseconds of CPU.
pub async fn hash(password: String) -> AppResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        let hashed = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::internal(format!("argon2 hash failed: {e}")));
        // Argon2's 19 MiB working memory would otherwise stay resident.
        crate::memory::give_back();
        hashed
    })
    .await
    .map_err(|e| AppError::internal(format!("hash task failed: {e}")))?
}

/// True when `password` matches the stored PHC string.
pub async fn verify(password: String, stored: String) -> AppResult<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| AppError::internal(format!("stored password hash unreadable: {e}")))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        crate::memory::give_back();
        Ok(matches)
    })
    .await
    .map_err(|e| AppError::internal(format!("verify task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse".into(), h.clone()).await.unwrap());
        assert!(!verify("wrong".into(), h).await.unwrap());
    }
}
