//! Password rules (GB/T 22239 level 2) and argon2id hashing.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rand::Rng as _;

use crate::error::FieldError;

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 8;

/// Checks a new password: at least 8 characters, three of the four classes (lower case, upper
/// case, digits, other), and not the user name.
///
/// # Errors
/// The broken rule, as a field error on `field`.
pub fn check_rules(field: &str, username: &str, password: &str) -> Result<(), FieldError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(FieldError::new(field, "too_short", format!("密码至少 {MIN_LENGTH} 位")));
    }
    if password.chars().count() > 128 {
        return Err(FieldError::new(field, "too_long", "密码不能超过 128 位"));
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|&&b| b).count() < 3 {
        return Err(FieldError::new(field, "too_simple", "密码须包含大写字母、小写字母、数字、特殊字符中的至少三类"));
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err(FieldError::new(field, "contains_username", "密码不能包含用户名"));
    }
    Ok(())
}

/// Hashes a password with argon2id and a random salt (PHC string).
///
/// # Errors
/// Only if the system random source fails.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the stored PHC string.
#[must_use]
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

/// [`hash`] on a blocking thread (argon2 takes tens of milliseconds: never on the async
/// workers).
///
/// # Errors
/// 500 when hashing or the thread fails.
pub async fn hash_off_thread(password: &str) -> crate::error::ApiResult<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(crate::error::ApiError::internal)?
        .map_err(crate::error::ApiError::internal)
}

/// Whether `password` matches any of `hashes`, checked on a blocking thread.
///
/// # Errors
/// 500 when the thread fails.
pub async fn verify_any_off_thread(password: &str, hashes: Vec<String>) -> crate::error::ApiResult<bool> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hashes.iter().any(|h| verify(&password, h)))
        .await
        .map_err(crate::error::ApiError::internal)
}

/// A random password that satisfies [`check_rules`]: 16 characters from an alphabet without
/// look-alikes (no 0/O, 1/l/I), with every class present.
#[must_use]
pub fn generate() -> String {
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const OTHER: &[u8] = b"-_.@#%+";
    let mut rng = rand::rng();
    let sets = [LOWER, UPPER, DIGIT, OTHER];
    let mut out: Vec<u8> = sets.iter().map(|s| s[rng.random_range(0..s.len())]).collect();
    let all: Vec<u8> = sets.concat();
    while out.len() < 16 {
        out.push(all[rng.random_range(0..all.len())]);
    }
    // Shuffle so the classes are not in a fixed order.
    for i in (1..out.len()).rev() {
        out.swap(i, rng.random_range(0..=i));
    }
    out.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(check_rules("p", "admin", "Ab1").unwrap_err().rule, "too_short");
        assert_eq!(check_rules("p", "admin", "abcdefgh1").unwrap_err().rule, "too_simple");
        assert_eq!(check_rules("p", "zhangsan", "Zhangsan123").unwrap_err().rule, "contains_username");
        check_rules("p", "admin", "Shandong-2026").unwrap();
        check_rules("p", "admin", "shandong-2026").unwrap();
    }

    #[test]
    fn generated_passwords_follow_the_rules() {
        for _ in 0..50 {
            let p = generate();
            check_rules("p", "admin", &p).unwrap();
        }
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("Shandong-2026").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Shandong-2026", &h));
        assert!(!verify("Shandong-2027", &h));
        assert!(!verify("x", "not a hash"));
    }
}
