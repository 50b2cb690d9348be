//! The audit key: a secret kept outside the database that signs every record's chain hash
//! (HMAC-SHA256). A database writer can delete a record and re-hash the rest, but cannot make
//! the MACs of the re-hashed records without the key.
//!
//! Where the key comes from, in order: `audit_key` (`SUYUAN_AUDIT_KEY`), `audit_key_file`,
//! and in embedded mode (SQLite) with neither set, `suyuan-audit.key` beside the database
//! file, generated once (owner-only permissions). PostgreSQL deployments must set one of the
//! first two, the same on every replica.
//!
//! Each record stores the id of the key that signed it (the first 16 hex digits of a SHA-256
//! of the key), so after a rotation older records still verify when their key is listed in
//! `audit_old_keys`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

use crate::config::{ConfigError, DatabaseKind, Settings};

/// The shortest key accepted, in characters.
pub const MIN_KEY_CHARS: usize = 32;

/// The generated key file's name, beside the SQLite database file.
pub const KEY_FILE_NAME: &str = "suyuan-audit.key";

type HmacSha256 = Hmac<Sha256>;

/// One key, ready to sign (the secret itself is not kept apart from the MAC state).
#[derive(Clone)]
struct Key {
    id: String,
    mac: HmacSha256,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Key").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Key {
    fn new(secret: &[u8]) -> anyhow::Result<Self> {
        let mac = HmacSha256::new_from_slice(secret).map_err(|e| anyhow::anyhow!("audit key: {e}"))?;
        Ok(Self { id: key_id(secret), mac })
    }

    fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }
}

/// The id stored with each record: names the key without revealing it.
#[must_use]
pub fn key_id(secret: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"suyuan-audit-key-id\n");
    h.update(secret);
    hex::encode(h.finalize())[..16].to_owned()
}

/// What checking one record's MAC found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Made with a known key over this hash.
    Valid,
    /// No MAC stored (written before MACs, and not sealed).
    Missing,
    /// Made with a key that is not configured (lost, or an old key not listed).
    UnknownKey(String),
    /// Does not match: written or rewritten by someone without the key.
    Mismatch,
}

/// The active key, which signs new records, and the old keys, which only verify.
#[derive(Debug, Clone)]
pub struct Keyring {
    active: Key,
    old: Vec<Key>,
}

impl Keyring {
    /// A keyring from raw secrets.
    ///
    /// # Errors
    /// A key HMAC refuses (HMAC takes keys of any length: in practice never).
    pub fn new(active: &[u8], old: &[Vec<u8>]) -> anyhow::Result<Self> {
        Ok(Self { active: Key::new(active)?, old: old.iter().map(|s| Key::new(s)).collect::<anyhow::Result<_>>()? })
    }

    /// The active key's id.
    #[must_use]
    pub fn active_id(&self) -> &str {
        &self.active.id
    }

    /// The active key's id and its MAC of `hash` (lower-case hex).
    #[must_use]
    pub fn sign(&self, hash: &str) -> (String, String) {
        let mut m = self.active.mac();
        m.update(hash.as_bytes());
        (self.active.id.clone(), hex::encode(m.finalize().into_bytes()))
    }

    /// Checks a stored MAC of `hash` made by key `key_id` (in constant time).
    #[must_use]
    pub fn check(&self, key_id: Option<&str>, hash: &str, mac: Option<&str>) -> Check {
        let (Some(key_id), Some(mac)) = (key_id, mac) else { return Check::Missing };
        let Some(key) = std::iter::once(&self.active).chain(&self.old).find(|k| k.id == key_id) else {
            return Check::UnknownKey(key_id.to_owned());
        };
        let Ok(bytes) = hex::decode(mac) else { return Check::Mismatch };
        let mut m = key.mac();
        m.update(hash.as_bytes());
        if m.verify_slice(&bytes).is_ok() { Check::Valid } else { Check::Mismatch }
    }
}

static INSTALLED: RwLock<Option<Arc<Keyring>>> = RwLock::new(None);

/// The keyring records are signed and checked with in this process.
#[must_use]
pub fn current() -> Option<Arc<Keyring>> {
    INSTALLED.read().ok().and_then(|k| k.clone())
}

/// Makes `keyring` the process's keyring. A process signs with one key: a second platform in
/// the same process (tests) must use the same active key.
///
/// # Errors
/// When another active key is installed already.
pub fn install(keyring: Keyring) -> anyhow::Result<()> {
    let mut slot = INSTALLED.write().map_err(|_| anyhow::anyhow!("audit keyring lock poisoned"))?;
    if let Some(existing) = slot.as_ref()
        && existing.active_id() != keyring.active_id()
    {
        anyhow::bail!(
            "another audit key ({}) is already in use in this process; one process signs with one key",
            existing.active_id()
        );
    }
    *slot = Some(Arc::new(keyring));
    Ok(())
}

/// The settings' checks of the audit key (no file is read here).
///
/// # Errors
/// A [`ConfigError`] naming the key.
pub fn validate(settings: &Settings) -> Result<(), ConfigError> {
    if settings.audit_key.is_some() && settings.audit_key_file.is_some() {
        return Err(ConfigError::new("audit_key", "set audit_key or audit_key_file, not both"));
    }
    if let Some(k) = &settings.audit_key
        && k.trim().chars().count() < MIN_KEY_CHARS
    {
        return Err(ConfigError::new("audit_key", format!("must be at least {MIN_KEY_CHARS} characters")));
    }
    if settings.audit_key.is_none()
        && settings.audit_key_file.is_none()
        && settings.database_kind()? == DatabaseKind::Postgres
    {
        return Err(ConfigError::new(
            "audit_key",
            "PostgreSQL deployments must set audit_key or audit_key_file (the same on every replica)",
        ));
    }
    for old in old_keys(settings) {
        if old.chars().count() < MIN_KEY_CHARS {
            return Err(ConfigError::new(
                "audit_old_keys",
                format!("every old key must be at least {MIN_KEY_CHARS} characters"),
            ));
        }
    }
    Ok(())
}

fn old_keys(settings: &Settings) -> impl Iterator<Item = &str> {
    settings.audit_old_keys.split([',', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty())
}

/// Where the generated key file of an embedded deployment lives: beside the database file.
#[must_use]
pub fn default_key_file(settings: &Settings) -> Option<PathBuf> {
    let file = crate::db::sqlite_file(&settings.database_url)?;
    if file.as_os_str().is_empty() || file.to_string_lossy().contains(":memory:") {
        return None;
    }
    Some(file.parent().unwrap_or(Path::new(".")).join(KEY_FILE_NAME))
}

/// Reads a key file (surrounding white space ignored).
///
/// # Errors
/// When it cannot be read or is too short.
fn read_key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the audit key file {}: {e}", path.display()))?;
    let key = text.trim();
    anyhow::ensure!(
        key.chars().count() >= MIN_KEY_CHARS,
        "the audit key file {} holds fewer than {MIN_KEY_CHARS} characters",
        path.display()
    );
    Ok(key.as_bytes().to_vec())
}

/// Reads `path`, or creates it with a new random key (64 hex digits, owner read/write only)
/// when it does not exist. Creating is exclusive: two processes starting together agree.
///
/// # Errors
/// File system failures.
pub fn load_or_create_key_file(path: &Path) -> anyhow::Result<(Vec<u8>, bool)> {
    use std::io::Write as _;
    if path.exists() {
        return Ok((read_key_file(path)?, false));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut f) => {
            f.write_all(secret.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            Ok((secret.into_bytes(), true))
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((read_key_file(path)?, false)),
        Err(e) => Err(anyhow::anyhow!("cannot create the audit key file {}: {e}", path.display())),
    }
}

/// The keyring the settings name (creating the embedded key file on first use).
///
/// # Errors
/// A key file that cannot be read or made.
pub fn from_settings(settings: &Settings) -> anyhow::Result<Keyring> {
    let old: Vec<Vec<u8>> = old_keys(settings).map(|k| k.as_bytes().to_vec()).collect();
    let active = if let Some(k) = &settings.audit_key {
        k.trim().as_bytes().to_vec()
    } else if let Some(path) = &settings.audit_key_file {
        read_key_file(path)?
    } else if let Some(path) = default_key_file(settings) {
        let (secret, created) = load_or_create_key_file(&path)?;
        if created {
            tracing::warn!(
                path = %path.display(),
                "audit key generated; back it up apart from the database: without it the audit log cannot be verified"
            );
        }
        secret
    } else {
        // An in-memory database: nothing outlives the process, neither does the key.
        rand::random::<[u8; 32]>().to_vec()
    };
    Keyring::new(&active, &old)
}

/// Loads the settings' keyring and installs it for this process.
///
/// # Errors
/// See [`from_settings`] and [`install`].
pub fn load_and_install(settings: &Settings) -> anyhow::Result<Arc<Keyring>> {
    install(from_settings(settings)?)?;
    current().ok_or_else(|| anyhow::anyhow!("audit keyring not installed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_verify_with_their_key_only_and_old_keys_keep_verifying() {
        let old = Keyring::new(b"an-old-key-that-signed-last-years-records", &[]).unwrap();
        let (old_id, old_mac) = old.sign("abc");
        assert_eq!(old.check(Some(&old_id), "abc", Some(&old_mac)), Check::Valid);
        assert_eq!(old.check(Some(&old_id), "abd", Some(&old_mac)), Check::Mismatch, "another hash");
        assert_eq!(old.check(None, "abc", None), Check::Missing);

        // Rotated: the new key signs, the old one still verifies what it signed.
        let rotated = Keyring::new(
            b"the-new-key-of-this-year-0123456789",
            &[b"an-old-key-that-signed-last-years-records".to_vec()],
        )
        .unwrap();
        assert_ne!(rotated.active_id(), old_id);
        assert_eq!(rotated.check(Some(&old_id), "abc", Some(&old_mac)), Check::Valid);
        let (new_id, new_mac) = rotated.sign("abc");
        assert_eq!(rotated.check(Some(&new_id), "abc", Some(&new_mac)), Check::Valid);

        // Without the old key listed, its records cannot be verified, and say so.
        let forgot = Keyring::new(b"the-new-key-of-this-year-0123456789", &[]).unwrap();
        assert_eq!(forgot.check(Some(&old_id), "abc", Some(&old_mac)), Check::UnknownKey(old_id.clone()));
        // Someone else's key under our key's id is a mismatch.
        let other = Keyring::new(b"an-attackers-guess-at-the-key-000000", &[]).unwrap();
        let (_, forged) = other.sign("abc");
        assert_eq!(old.check(Some(&old_id), "abc", Some(&forged)), Check::Mismatch);
        assert_eq!(old.check(Some(&old_id), "abc", Some("not hex")), Check::Mismatch);
        assert!(!format!("{old:?}").contains("an-old-key"), "Debug never shows the secret");
    }

    #[test]
    fn the_embedded_key_file_is_made_once_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join(KEY_FILE_NAME);
        let (first, created) = load_or_create_key_file(&path).unwrap();
        assert!(created);
        assert_eq!(first.len(), 64);
        let (again, created) = load_or_create_key_file(&path).unwrap();
        assert!(!created);
        assert_eq!(first, again, "the same key at every start");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let settings = Settings {
            database_url: format!("sqlite://{}/data/suyuan.db", dir.path().display()),
            ..Settings::default()
        };
        assert_eq!(default_key_file(&settings), Some(path.clone()));
        assert_eq!(from_settings(&settings).unwrap().active_id(), key_id(&first));
    }

    #[test]
    fn postgresql_needs_a_key_and_short_keys_are_refused() {
        let pg = Settings { database_url: "postgres://db/suyuan".into(), ..Settings::default() };
        assert_eq!(validate(&pg).unwrap_err().key, "audit_key");
        let pg = Settings { audit_key: Some("x".repeat(32)), ..pg };
        validate(&pg).unwrap();
        let short = Settings { audit_key: Some("short".into()), ..Settings::default() };
        assert_eq!(validate(&short).unwrap_err().key, "audit_key");
        let old = Settings { audit_old_keys: "tiny".into(), ..Settings::default() };
        assert_eq!(validate(&old).unwrap_err().key, "audit_old_keys");
        let both =
            Settings { audit_key: Some("x".repeat(32)), audit_key_file: Some("k".into()), ..Settings::default() };
        assert_eq!(validate(&both).unwrap_err().key, "audit_key");
    }
}
