//! The shared state every request reads: resolved config, alias table, the pooled upstream
//! client and the metrics handle. Built once at start; read-only afterwards, so no locks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use metrics_exporter_prometheus::PrometheusHandle;

use crate::cache::semantic::SemanticIndex;
use crate::cache::{ResponseCache, SharedStore};
use crate::config::Config;
use crate::conversations::{Conversations, ResponseStore};
use crate::keys::{KeyStore, KeyTable, Limiter};
use crate::ledger::{Ledger, Writer};
use crate::routing::affinity::Affinity;
use crate::routing::Alias;
use crate::telemetry;
use crate::upstream::build_client;

pub struct App {
    pub config: Config,
    pub aliases: HashMap<String, Alias>,
    pub client: reqwest::Client,
    pub metrics: Option<&'static PrometheusHandle>,
    /// Which deployment last served each long prompt prefix.
    pub affinity: Affinity,
    /// None only for an app built without [`App::open`] (unit tests).
    pub ledger: Option<Ledger>,
    /// The ledger's database, for spend queries (never on the request path).
    pub store: Option<crate::ledger::Store>,
    /// Virtual keys, in memory.
    pub keys: Arc<KeyTable>,
    pub key_store: Option<KeyStore>,
    pub limiter: Limiter,
    /// Unix seconds at start, shown as `created` in the model list.
    pub started_unix: u64,
    /// Cancelled when shutdown's grace period is over: requests and streams still running end
    /// with an error the client can read, and are recorded as cut by shutdown.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The Responses API's stored responses.
    pub conversations: Arc<Conversations>,
    /// Replies given again without asking a provider, for aliases that opt in.
    pub cache: ResponseCache,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("opening the ledger at {url}")]
    Ledger {
        url: String,
        #[source]
        source: crate::ledger::LedgerError,
    },
    #[error("connecting to Redis")]
    Redis(#[source] redis::RedisError),
    #[error("reading the virtual keys")]
    Keys(#[from] sqlx::Error),
    #[error("building the HTTP client")]
    Client(#[from] reqwest::Error),
}

/// The ledger's database when the config names none: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://switchyard.db";

impl App {
    /// The app with its ledger open; the [`Writer`] flushes it at shutdown.
    pub async fn open(config: Config) -> Result<(App, Writer), StartError> {
        let url = config.database_url.clone().unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        let spill = spill_path(&url);
        let (ledger, writer) =
            Ledger::start(&url, spill).await.map_err(|source| StartError::Ledger { url: url.clone(), source })?;
        let redis_url = config.redis_url.clone();
        let mut app = App::new(config)?;
        app.ledger = Some(ledger);
        app.store = Some(writer.store.clone());
        app.limiter =
            Limiter::new(redis_url.as_deref(), app.config.on_shared_state_error).map_err(StartError::Redis)?;
        let shared = match &redis_url {
            Some(url) => Some(SharedStore::open(url).map_err(StartError::Redis)?),
            None => None,
        };
        let semantic =
            app.config.aliases.values().any(|a| a.policy.cache.as_ref().is_some_and(|c| c.semantic.is_some()));
        // The shared index (its table, the pgvector extension) only where some alias uses it.
        let index = if semantic { SemanticIndex::open(&writer.store).await } else { SemanticIndex::default() };
        app.cache = ResponseCache::new(app.config.cache_memory_bytes, shared).with_semantic(index);
        let key_store = KeyStore(writer.store.clone());
        key_store.migrate().await?;
        let keys = key_store.all().await?;
        let now = crate::keys::now_ms();
        for k in &keys {
            if let (Some(_), Some(period)) = (k.budget_nanos, k.budget_period) {
                let start = period.start_ms(now);
                app.limiter.seed_spend(&k.id, start, key_store.spent_since(&k.id, start).await?);
            }
        }
        app.keys.replace_all(keys);
        crate::keys::spawn_refresher(app.keys.clone(), key_store.clone());
        crate::ledger::spawn_compaction(writer.store.clone(), app.config.ledger_retention);
        let responses = ResponseStore(writer.store.clone());
        responses.migrate().await?;
        app.conversations = Conversations::start(app.config.store_responses, app.config.response_retention, responses);
        app.key_store = Some(key_store);
        Ok((app, writer))
    }

    pub fn new(config: Config) -> Result<App, StartError> {
        let client = build_client(config.timeouts.connect, config.timeouts.read)?;
        let conversations = Arc::new(Conversations::new(config.store_responses, config.response_retention, None));
        let cache = ResponseCache::new(config.cache_memory_bytes, None);
        Ok(App {
            keys: Arc::default(),
            key_store: None,
            limiter: Limiter::local(),
            aliases: config.alias_map(),
            config,
            client,
            metrics: telemetry::prometheus(),
            affinity: Affinity::default(),
            ledger: None,
            store: None,
            conversations,
            cache,
            shutdown: tokio_util::sync::CancellationToken::new(),
            started_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        })
    }
}

impl App {
    /// Hands a row to the ledger (a no-op for an app without one). Never waits.
    pub fn record(&self, entry: crate::ledger::Entry) {
        if let Some(ledger) = &self.ledger {
            ledger.record(entry);
        }
    }
}

/// Rows that cannot reach the database go next to it (or to the working directory).
fn spill_path(url: &str) -> std::path::PathBuf {
    let file = url.strip_prefix("sqlite://").filter(|p| !p.starts_with(':'));
    match file {
        Some(path) => std::path::PathBuf::from(format!("{}.spill.jsonl", path.split('?').next().unwrap_or(path))),
        None => std::path::PathBuf::from("switchyard-ledger.spill.jsonl"),
    }
}
