//! The shared state every request reads: resolved config, alias table, the pooled upstream
//! client and the metrics handle. Built once at start; read-only afterwards, so no locks.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::{Alias, Config};
use crate::routing::affinity::Affinity;
use crate::telemetry;
use crate::upstream::build_client;

pub struct App {
    pub config: Config,
    pub aliases: HashMap<String, Alias>,
    pub client: reqwest::Client,
    pub metrics: Option<&'static PrometheusHandle>,
    /// Which deployment last served each long prompt prefix.
    pub affinity: Affinity,
    /// Unix seconds at start, shown as `created` in the model list.
    pub started_unix: u64,
}

impl App {
    pub fn new(config: Config) -> anyhow::Result<App> {
        let client = build_client(config.timeouts)?;
        Ok(App {
            aliases: config.alias_map(),
            config,
            client,
            metrics: telemetry::prometheus(),
            affinity: Affinity::default(),
            started_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        })
    }
}
