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

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use ring::digest;
use serde::{Deserialize, Serialize};

use crate::fast_map::FastMap;
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
    /// May sign in to the web console (`/ui`), read only.
    #[serde(default)]
    pub viewer: bool,
    /// Its requests' prompts and completions are kept (redacted) for the web console.
    #[serde(default)]
    pub log_bodies: bool,
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
    // Once per request: hex by table, not one formatted string per byte.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = digest::digest(&digest::SHA256, key.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest.as_ref() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The in-memory key table, by hash.
#[derive(Debug, Default)]
pub struct KeyTable {
    by_hash: RwLock<FastMap<String, Arc<KeyRecord>>>,
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

    /// A key by its hash (the console checks a viewer's session against it).
    pub fn by_hash(&self, hash: &str) -> Option<Arc<KeyRecord>> {
        self.by_hash.read().unwrap_or_else(|e| e.into_inner()).get(hash).cloned()
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
        // Keys stored before stay found: the hash is SHA-256 in lower-case hex.
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
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
    fn an_edit_changes_only_what_it_names_and_null_removes_a_limit() {
        let key = KeyRecord {
            rpm: Some(10),
            tpm: Some(1_000),
            budget_nanos: Some(5),
            budget_period: Some(Period::Day),
            ..Default::default()
        };
        let edit = |body: &str| KeyPatch::from_json(body.as_bytes()).and_then(|p| p.apply(&key, 1_000));
        let (k, changes) = edit(r#"{"rpm": null, "budget_usd": "2"}"#).unwrap();
        assert_eq!(
            (k.rpm, k.tpm, k.budget_nanos, k.budget_period),
            (None, Some(1_000), Some(2_000_000_000), Some(Period::Day))
        );
        assert_eq!(changes["rpm"], serde_json::json!({"from": 10, "to": null}));
        assert!(changes.get("tpm").is_none() && changes.get("budget_period").is_none());
        let (k, _) = edit(r#"{"budget_usd": null}"#).unwrap();
        assert_eq!((k.budget_nanos, k.budget_period), (None, None), "no budget, no period");
        let (k, _) = edit(r#"{"budget_period": "week", "expires_in_days": 1}"#).unwrap();
        assert_eq!((k.budget_period, k.expires_ms), (Some(Period::Week), Some(1_000 + 86_400_000)));
        let (k, changes) = edit(r#"{"tpm": 1000}"#).unwrap();
        assert_eq!((k.tpm, changes), (Some(1_000), serde_json::json!({})), "the same value changes nothing");
        for bad in [r#"{"budget_period": null}"#, r#"{"budget_usd": null, "budget_period": "day"}"#, "[10]", "{}"] {
            assert!(edit(bad).is_err(), "{bad}");
        }
        assert!(edit(r#"{"rpm": -1}"#).unwrap_err().starts_with("`rpm`"));
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
    /// May sign in to the web console, read only.
    #[serde(default)]
    pub viewer: bool,
    /// Keep its requests' prompts and completions for the web console.
    #[serde(default)]
    pub log_bodies: bool,
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
        let budget_nanos = self.budget_usd.as_ref().map(budget_nanos).transpose()?;
        let now = now_ms();
        let expires_ms = self.expires_in_days.map(|d| expiry_ms(d, now)).transpose()?;
        check_rpm(self.rpm)?;
        let (id, secret, hash) = generate();
        let record = KeyRecord {
            id,
            hash,
            name: self.name,
            owner: self.owner,
            team: self.team,
            created_ms: now,
            expires_ms,
            revoked: false,
            models: self.models,
            allowed_providers: self.allowed_providers,
            allowed_regions: self.allowed_regions,
            rpm: self.rpm,
            tpm: self.tpm,
            budget_nanos,
            budget_period: budget_nanos.map(|_| self.budget_period.unwrap_or(Period::Month)),
            viewer: self.viewer,
            log_bodies: self.log_bodies,
        };
        Ok((record, secret))
    }
}

/// A budget as written, in nano-dollars; the same check for a new key and an edit.
fn budget_nanos(usd: &UsdText) -> Result<i64, String> {
    usd.nanos()
        .map_err(|e| format!("`budget_usd` must be a non-negative number of dollars, exact to 9 decimal places: {e}"))
}

/// When a key made or edited at `now_ms` stops working, `days` later.
fn expiry_ms(days: f64, now_ms: i64) -> Result<i64, String> {
    if !(days.is_finite() && days > 0.0) {
        return Err("`expires_in_days` must be a positive number".into());
    }
    Ok(now_ms.saturating_add((days * 86_400_000.0) as i64))
}

fn check_rpm(rpm: Option<u32>) -> Result<(), String> {
    if rpm == Some(0) {
        return Err("`rpm` must be at least 1".into());
    }
    Ok(())
}

/// What editing a key asks for (`PATCH /admin/keys/{id}`): each field left out stays as it is;
/// `null` removes the limit (`rpm`, `tpm`, `budget_usd`, `expires_in_days`: no expiry).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    #[serde(default, deserialize_with = "given")]
    pub rpm: Option<Option<u32>>,
    #[serde(default, deserialize_with = "given")]
    pub tpm: Option<Option<u64>>,
    #[serde(default, deserialize_with = "given")]
    pub budget_usd: Option<Option<UsdText>>,
    /// Only with a budget (the key's, or one set in the same edit).
    #[serde(default, deserialize_with = "given")]
    pub budget_period: Option<Option<Period>>,
    /// Model globs; `[]` or `null`: any model.
    #[serde(default, deserialize_with = "given")]
    pub models: Option<Option<Vec<String>>>,
    /// Days from now until the key stops working.
    #[serde(default, deserialize_with = "given")]
    pub expires_in_days: Option<Option<f64>>,
}

/// A field that is present, `null` or not: `Some(None)` for `null`; left out, serde's default
/// (`None`).
fn given<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl KeyPatch {
    /// The edit a JSON body asks for. serde says what was wrong with a value but not where, so
    /// a body that fails is read again field by field to name the field at fault.
    pub fn from_json(body: &[u8]) -> Result<KeyPatch, String> {
        // serde would also take an array, field by field in order.
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{') {
            return Err("the body must be a JSON object".into());
        }
        let whole = match serde_json::from_slice::<KeyPatch>(body) {
            Ok(patch) => return Ok(patch),
            Err(e) => e,
        };
        if let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<serde_json::Value>(body) {
            for (name, value) in fields {
                let alone = serde_json::Value::Object(std::iter::once((name.clone(), value)).collect());
                if let Err(e) = serde_json::from_value::<KeyPatch>(alone) {
                    return Err(format!("`{name}`: {e}"));
                }
            }
        }
        Err(whole.to_string())
    }

    /// `key` with this edit made, checked as a new key's settings are, and what changed (each
    /// field's `from` and `to`; empty when the edit sets what was already there). An edit that
    /// names no field is refused.
    pub fn apply(self, key: &KeyRecord, now_ms: i64) -> Result<(KeyRecord, serde_json::Value), String> {
        let named = self.rpm.is_some()
            || self.tpm.is_some()
            || self.budget_usd.is_some()
            || self.budget_period.is_some()
            || self.models.is_some()
            || self.expires_in_days.is_some();
        if !named {
            return Err("Name at least one of `rpm`, `tpm`, `budget_usd`, `budget_period`, `models`, \
                        `expires_in_days` to change."
                .into());
        }
        let mut next = key.clone();
        if let Some(rpm) = self.rpm {
            check_rpm(rpm)?;
            next.rpm = rpm;
        }
        if let Some(tpm) = self.tpm {
            next.tpm = tpm;
        }
        if let Some(budget) = &self.budget_usd {
            next.budget_nanos = budget.as_ref().map(budget_nanos).transpose()?;
        }
        next.budget_period = match (next.budget_nanos, self.budget_period) {
            (None, Some(Some(_))) => {
                return Err("`budget_period` needs a budget: set `budget_usd` too.".into());
            }
            (None, _) => None,
            (Some(_), Some(Some(period))) => Some(period),
            (Some(_), Some(None)) => {
                return Err("`budget_period` cannot be null while the key has a budget; set `budget_usd` to null \
                            to remove the budget."
                    .into());
            }
            (Some(_), None) => Some(key.budget_period.unwrap_or(Period::Month)),
        };
        if let Some(models) = self.models {
            next.models = models.unwrap_or_default();
        }
        if let Some(days) = self.expires_in_days {
            next.expires_ms = days.map(|d| expiry_ms(d, now_ms)).transpose()?;
        }
        let mut changes = serde_json::Map::new();
        let mut diff = |field: &str, from: serde_json::Value, to: serde_json::Value| {
            if from != to {
                changes.insert(field.to_owned(), serde_json::json!({"from": from, "to": to}));
            }
        };
        diff("rpm", key.rpm.into(), next.rpm.into());
        diff("tpm", key.tpm.into(), next.tpm.into());
        diff("budget_nanos", key.budget_nanos.into(), next.budget_nanos.into());
        let period = |p: Option<Period>| serde_json::to_value(p).unwrap_or_default();
        diff("budget_period", period(key.budget_period), period(next.budget_period));
        diff("models", key.models.clone().into(), next.models.clone().into());
        diff("expires_ms", key.expires_ms.into(), next.expires_ms.into());
        Ok((next, serde_json::Value::Object(changes)))
    }
}
