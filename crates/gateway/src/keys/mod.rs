//! Virtual keys: created with the master key, shown once, stored only as a SHA-256 hash. Each
//! carries an owner and team, an expiry, a model allowlist (globs), a provider/region policy,
//! RPM and TPM limits and a budget per period.
//!
//! The request path never touches the database: keys live in an in-memory table loaded at
//! start, updated at once by this replica's admin API, and refreshed from the database every
//! [`REFRESH`] so replicas sharing PostgreSQL see each other's changes.

mod caller;
mod limits;
mod store;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use ring::digest;
use serde::{Deserialize, Serialize};

use crate::money::{nanos_from_decimal, DecimalError};

pub use caller::Caller;
pub use limits::{Admission, Limiter, OnSharedStateError, Reservation, Subject};
pub use store::KeyStore;

/// How often the key table is reloaded from the database.
pub const REFRESH: Duration = Duration::from_secs(2);
/// Every virtual key starts with this.
pub const PREFIX: &str = "sk-sy-";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    Month,
    Total,
}

impl Period {
    /// Start of the current period, Unix ms (UTC; months are 30 days from the epoch's grid).
    pub fn start_ms(self, now_ms: i64) -> i64 {
        let span = match self {
            Period::Day => 86_400_000,
            Period::Week => 7 * 86_400_000,
            Period::Month => 30 * 86_400_000,
            Period::Total => return 0,
        };
        now_ms - now_ms.rem_euclid(span)
    }
}

/// A key as stored (without its secret).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct KeyRecord {
    pub id: String,
    #[serde(skip_serializing)]
    pub hash: String,
    pub name: String,
    pub owner: Option<String>,
    pub team: Option<String>,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub revoked: bool,
    /// Globs over model names (aliases or `provider/model`); empty: any.
    pub models: Vec<String>,
    pub allowed_providers: Option<Vec<String>>,
    pub allowed_regions: Option<Vec<String>>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub budget_nanos: Option<i64>,
    pub budget_period: Option<Period>,
}

impl KeyRecord {
    pub fn usable(&self, now_ms: i64) -> Result<(), &'static str> {
        if self.revoked {
            return Err("This API key has been revoked.");
        }
        if self.expires_ms.is_some_and(|e| now_ms >= e) {
            return Err("This API key has expired.");
        }
        Ok(())
    }

    pub fn allows_model(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|g| crate::upstream::provider_kind::glob_match(g, model))
    }
}

/// A new key's secret and its hash. The secret is 32 random bytes; only the hash is kept.
pub fn generate() -> (String, String, String) {
    let id = format!("key_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut secret = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret).unwrap_or_default();
    let key = format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret));
    let hash = hash(&key);
    (id, key, hash)
}

pub fn hash(key: &str) -> String {
    digest::digest(&digest::SHA256, key.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The in-memory key table, by hash.
#[derive(Debug, Default)]
pub struct KeyTable {
    by_hash: RwLock<HashMap<String, Arc<KeyRecord>>>,
}

impl KeyTable {
    pub fn lookup(&self, presented: &str) -> Option<Arc<KeyRecord>> {
        if !presented.starts_with(PREFIX) {
            return None;
        }
        self.by_hash.read().unwrap_or_else(|e| e.into_inner()).get(&hash(presented)).cloned()
    }

    pub fn replace_all(&self, records: Vec<KeyRecord>) {
        let map = records.into_iter().map(|r| (r.hash.clone(), Arc::new(r))).collect();
        *self.by_hash.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    pub fn upsert(&self, record: KeyRecord) {
        self.by_hash.write().unwrap_or_else(|e| e.into_inner()).insert(record.hash.clone(), Arc::new(record));
    }

    pub fn len(&self) -> usize {
        self.by_hash.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reloads the key table from the database every [`REFRESH`], so replicas sharing a database
/// see keys created or revoked elsewhere. Runs for the life of the runtime.
pub fn spawn_refresher(table: Arc<KeyTable>, store: KeyStore) {
    let weak = Arc::downgrade(&table);
    drop(table);
    #[expect(clippy::disallowed_methods, reason = "background refresh; stops when the table is dropped")]
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(REFRESH).await;
            let Some(table) = weak.upgrade() else { break };
            match store.all().await {
                Ok(records) => table.replace_all(records),
                Err(e) => tracing::warn!(error = %e, "could not reload keys; keeping the ones in memory"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_stored_only_as_hashes() {
        let (id, key, h) = generate();
        let (_, other, _) = generate();
        assert!(key.starts_with(PREFIX) && key.len() > 40, "{key}");
        assert_ne!(key, other);
        assert!(id.starts_with("key_"));
        assert_eq!(h, hash(&key));
        assert_eq!(h.len(), 64);
        let table = KeyTable::default();
        table.upsert(KeyRecord { id, hash: h, ..Default::default() });
        assert!(table.lookup(&key).is_some());
        assert!(table.lookup(&other).is_none());
        assert!(table.lookup("sk-master").is_none());
    }

    #[test]
    fn periods_start_on_their_boundary() {
        let t = 1_763_510_400_123; // 2025-11-19T00:00:00.123Z
        assert_eq!(Period::Day.start_ms(t), 1_763_510_400_000);
        assert_eq!(Period::Total.start_ms(t), 0);
        assert!(Period::Week.start_ms(t) <= t && t - Period::Week.start_ms(t) < 7 * 86_400_000);
    }

    #[test]
    fn a_budget_is_read_exactly_from_its_text() {
        let budget = |body: &str| {
            let spec: NewKey = serde_json::from_str(&format!(r#"{{"name": "k", "budget_usd": {body}}}"#))
                .map_err(|e| e.to_string())?;
            spec.build().map(|(k, _)| (k.budget_nanos, k.budget_period))
        };
        let month = |nanos: i64| Ok((Some(nanos), Some(Period::Month)));
        assert_eq!(budget("0.1"), month(100_000_000), "not 0.1000000000000000055…");
        assert_eq!(budget("\"0.1\""), month(100_000_000));
        assert_eq!(budget("5"), month(5_000_000_000));
        assert_eq!(budget("0.021"), month(21_000_000));
        assert_eq!(budget("1.5e2"), month(150_000_000_000));
        assert_eq!(budget("0"), month(0));
        // 17 significant digits: an f64 would round this; the text does not.
        assert_eq!(budget("12345678.123456789"), month(12_345_678_123_456_789));
        assert_eq!(budget("\"12345678.123456789\""), month(12_345_678_123_456_789));
        assert_eq!(budget("null"), Ok((None, None)));
        for bad in ["-5", "\"-0.5\"", "0.0000000001", "\"1,5\"", "\"\"", "1e30"] {
            let err = budget(bad).unwrap_err();
            assert!(err.contains("budget_usd"), "{bad}: {err}");
        }
        assert!(budget("true").is_err() && budget("[1]").is_err());
        let cli = NewKey { name: "k".into(), budget_usd: Some(UsdText("2.5".into())), ..Default::default() };
        assert_eq!(cli.build().map(|(k, _)| k.budget_nanos), Ok(Some(2_500_000_000)));
    }

    #[test]
    fn expiry_revocation_and_model_globs() {
        let mut k = KeyRecord { models: vec!["gpt-*".into(), "fast".into()], ..Default::default() };
        assert!(k.allows_model("gpt-4o") && k.allows_model("fast") && !k.allows_model("claude"));
        assert!(k.usable(10).is_ok());
        k.expires_ms = Some(10);
        assert!(k.usable(10).is_err());
        k.expires_ms = None;
        k.revoked = true;
        assert_eq!(k.usable(0), Err("This API key has been revoked."));
    }
}

/// What creating a key asks for (the admin API's body and the CLI's flags).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    pub owner: Option<String>,
    pub team: Option<String>,
    /// Days from now until the key stops working.
    pub expires_in_days: Option<f64>,
    #[serde(default)]
    pub models: Vec<String>,
    pub allowed_providers: Option<Vec<String>>,
    pub allowed_regions: Option<Vec<String>>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    /// Dollars per period, exactly as written; checked and turned into nano-dollars by
    /// [`NewKey::build`].
    pub budget_usd: Option<UsdText>,
    pub budget_period: Option<Period>,
}

/// An amount of dollars as written: a JSON number (`0.1`) or a decimal string (`"0.1"`).
/// A JSON number keeps its own text (serde_json's raw value), so it is never an `f64`: read
/// with serde_json from text or bytes, as the admin API does; the CLI passes its flag's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsdText(pub String);

impl UsdText {
    /// Whole nano-dollars, exactly: `"0.1"` → 100,000,000. At most nine decimal places.
    pub fn nanos(&self) -> Result<i64, DecimalError> {
        nanos_from_decimal(&self.0)
    }
}

impl<'de> Deserialize<'de> for UsdText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        if text.starts_with('"') {
            let s: String = serde_json::from_str(text).map_err(serde::de::Error::custom)?;
            return Ok(UsdText(s));
        }
        Ok(UsdText(text.to_owned()))
    }
}

impl NewKey {
    /// The record to store and the secret to show once.
    pub fn build(self) -> Result<(KeyRecord, String), String> {
        if self.name.trim().is_empty() {
            return Err("`name` must not be empty".into());
        }
        let budget_nanos = match self.budget_usd.as_ref().map(UsdText::nanos).transpose() {
            Ok(nanos) => nanos,
            Err(e) => {
                return Err(format!(
                    "`budget_usd` must be a non-negative number of dollars, exact to 9 decimal places: {e}"
                ))
            }
        };
        if self.expires_in_days.is_some_and(|d| !(d.is_finite() && d > 0.0)) {
            return Err("`expires_in_days` must be a positive number".into());
        }
        if self.rpm == Some(0) {
            return Err("`rpm` must be at least 1".into());
        }
        let (id, secret, hash) = generate();
        let now = now_ms();
        let record = KeyRecord {
            id,
            hash,
            name: self.name,
            owner: self.owner,
            team: self.team,
            created_ms: now,
            expires_ms: self.expires_in_days.map(|d| now + (d * 86_400_000.0) as i64),
            revoked: false,
            models: self.models,
            allowed_providers: self.allowed_providers,
            allowed_regions: self.allowed_regions,
            rpm: self.rpm,
            tpm: self.tpm,
            budget_nanos,
            budget_period: budget_nanos.map(|_| self.budget_period.unwrap_or(Period::Month)),
        };
        Ok((record, secret))
    }
}
