//! The shared state every request reads: resolved config, alias table, the pooled upstream
//! client and the metrics handle, beside the long-lived state behind them (ledger, keys,
//! limits, cache, stored responses, affinity, shutdown and draining). Read-only once built, so
//! no locks: a reload builds a new `App` for the new config around the same long-lived state
//! ([`App::next`]), and the server swaps it in for the requests that follow.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use metrics_exporter_prometheus::PrometheusHandle;

use crate::cache::semantic::SemanticIndex;
use crate::cache::{ResponseCache, SharedStore};
use crate::config::Config;
use crate::conversations::{Conversations, ResponseStore};
use crate::fast_map::FastMap;
use crate::keys::{KeyStore, KeyTable, Limiter};
use crate::ledger::{Ledger, Writer};
use crate::routing::affinity::Affinity;
use crate::routing::Alias;
use crate::telemetry;
use crate::upstream::UpstreamClient;

pub struct App {
    pub config: Config,
    pub aliases: FastMap<String, Alias>,
    pub client: UpstreamClient,
    pub metrics: Option<&'static PrometheusHandle>,
    /// Which deployment last served each long prompt prefix.
    pub affinity: Arc<Affinity>,
    /// None only for an app built without [`App::open`] (unit tests).
    pub ledger: Option<Ledger>,
    /// The ledger's database, for spend queries (never on the request path).
    pub store: Option<crate::ledger::Store>,
    /// Virtual keys, in memory.
    pub keys: Arc<KeyTable>,
    pub key_store: Option<KeyStore>,
    pub limiter: Arc<Limiter>,
    /// Unix seconds at start, shown as `created` in the model list.
    pub started_unix: u64,
    /// Cancelled when shutdown's grace period is over: requests and streams still running end
    /// with an error the client can read, and are recorded as cut by shutdown.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The Responses API's stored responses.
    pub conversations: Arc<Conversations>,
    /// Replies given again without asking a provider, for aliases that opt in.
    pub cache: Arc<ResponseCache>,
    /// Whether the process is shutting down (`/health` answers 503 from then on).
    pub lifecycle: Arc<Lifecycle>,
    /// A short hash of the config this app runs (of the file's bytes, when there is one).
    pub config_version: Arc<str>,
    /// Who changed what (keys, config), written off the request path.
    pub audit: crate::audit::Audit,
}

/// Where the process is in its life, shared by every app a reload builds.
#[derive(Debug, Default)]
pub struct Lifecycle {
    draining: AtomicBool,
}

impl Lifecycle {
    /// Shutdown has begun: load balancers should stop sending here.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
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
    Client(#[from] crate::upstream::client::BuildError),
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
            Arc::new(Limiter::new(redis_url.as_deref(), app.config.on_shared_state_error).map_err(StartError::Redis)?);
        let shared = match &redis_url {
            Some(url) => Some(SharedStore::open(url).map_err(StartError::Redis)?),
            None => None,
        };
        let semantic =
            app.config.aliases.values().any(|a| a.policy.cache.as_ref().is_some_and(|c| c.semantic.is_some()));
        // The shared index (its table, the pgvector extension) only where some alias uses it.
        let index = if semantic { SemanticIndex::open(&writer.store).await } else { SemanticIndex::default() };
        app.cache = Arc::new(ResponseCache::new(app.config.cache_memory_bytes, shared).with_semantic(index));
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
        app.audit = crate::audit::Audit::start(writer.store.clone());
        Ok((app, writer))
    }

    pub fn new(config: Config) -> Result<App, StartError> {
        let client = UpstreamClient::new(config.timeouts.connect, config.timeouts.read)?;
        let conversations = Arc::new(Conversations::new(config.store_responses, config.response_retention, None));
        let cache = Arc::new(ResponseCache::new(config.cache_memory_bytes, None));
        Ok(App {
            keys: Arc::default(),
            key_store: None,
            limiter: Arc::new(Limiter::local()),
            config_version: crate::config::file::version_of_config(&config).into(),
            aliases: config.alias_map(),
            config,
            client,
            metrics: telemetry::prometheus(),
            affinity: Arc::default(),
            ledger: None,
            store: None,
            conversations,
            cache,
            audit: crate::audit::Audit::default(),
            shutdown: tokio_util::sync::CancellationToken::new(),
            lifecycle: Arc::default(),
            started_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        })
    }
}

impl App {
    /// The app for `config`, which replaces this one's in a running process: it shares this
    /// app's long-lived state, so keys, limits, budgets, the cache, stored responses and
    /// affinity go on as they were. Settings that only take effect at start keep their current
    /// values; the names of those `config` would have changed are returned, for a warning.
    pub fn next(&self, mut config: Config, version: &str) -> Result<(App, Vec<&'static str>), StartError> {
        let old = &self.config;
        let mut kept = Vec::new();
        let mut keep = |changed: bool, name: &'static str| {
            if changed {
                kept.push(name);
            }
        };
        keep(config.listen != old.listen, "listen");
        config.listen = old.listen;
        keep(config.database_url != old.database_url, "database_url");
        config.database_url.clone_from(&old.database_url);
        keep(config.redis_url != old.redis_url, "redis_url");
        config.redis_url.clone_from(&old.redis_url);
        keep(config.metrics_listen != old.metrics_listen, "metrics_listen");
        config.metrics_listen = old.metrics_listen;
        // The tracer is set up once per process.
        keep(config.otlp_endpoint != old.otlp_endpoint, "telemetry.otlp_endpoint");
        config.otlp_endpoint.clone_from(&old.otlp_endpoint);
        // The limiter, cache, stored responses and ledger upkeep were built with these.
        keep(config.on_shared_state_error != old.on_shared_state_error, "on_shared_state_error");
        config.on_shared_state_error = old.on_shared_state_error;
        keep(config.cache_memory_bytes != old.cache_memory_bytes, "cache.memory_mb");
        config.cache_memory_bytes = old.cache_memory_bytes;
        keep(config.store_responses != old.store_responses, "responses.store");
        config.store_responses = old.store_responses;
        keep(config.response_retention != old.response_retention, "responses.retention_days");
        config.response_retention = old.response_retention;
        keep(config.ledger_retention != old.ledger_retention, "ledger_retention_days");
        config.ledger_retention = old.ledger_retention;
        // The listener speaks HTTPS or HTTP from start to end; only the certificate can change.
        if config.tls.is_some() != old.tls.is_some() {
            kept.push("tls");
            config.tls.clone_from(&old.tls);
        }
        let uses_semantic =
            |c: &Config| c.aliases.values().any(|a| a.policy.cache.as_ref().is_some_and(|c| c.semantic.is_some()));
        if uses_semantic(&config)
            && !uses_semantic(old)
            && matches!(self.store, Some(crate::ledger::Store::Postgres(_)))
        {
            // The shared index is opened at start only when some alias needs it.
            kept.push("the semantic cache's shared index (kept in memory until then)");
        }
        let same_client = config.timeouts.connect == old.timeouts.connect && config.timeouts.read == old.timeouts.read;
        let client = if same_client {
            self.client.clone()
        } else {
            UpstreamClient::new(config.timeouts.connect, config.timeouts.read)?
        };
        let app = App {
            aliases: config.alias_map(),
            config,
            client,
            metrics: self.metrics,
            affinity: self.affinity.clone(),
            ledger: self.ledger.clone(),
            store: self.store.clone(),
            keys: self.keys.clone(),
            key_store: self.key_store.clone(),
            limiter: self.limiter.clone(),
            started_unix: self.started_unix,
            shutdown: self.shutdown.clone(),
            conversations: self.conversations.clone(),
            cache: self.cache.clone(),
            lifecycle: self.lifecycle.clone(),
            config_version: version.into(),
            audit: self.audit.clone(),
        };
        Ok((app, kept))
    }

    /// Called once this app has replaced the one built from `previous_version`. `actor` says
    /// who asked: "signal" (SIGHUP) or "watch" (`watch_config` saw the file change). Writes the
    /// reload's log line; the audit record of a config reload ("config.reload") belongs here.
    pub fn on_reload(&self, actor: &str, previous_version: &str) {
        tracing::info!(
            actor,
            version = &*self.config_version,
            previous = previous_version,
            models = self.aliases.len(),
            "config reloaded"
        );
        self.audit.config_reloaded(actor, &self.config_version, previous_version);
    }

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
