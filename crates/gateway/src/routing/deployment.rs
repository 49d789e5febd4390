//! What routing works with: aliases, their deployments (a provider and a model, with weight,
//! limits, capabilities, prices and tier) and each alias's policy. Built by the config at start
//! and for directly addressed models on the request path.

use std::sync::Arc;
use std::time::Duration;

use super::catalog::Catalog;
use super::health::{Health, HealthRegistry};
use crate::upstream::Provider;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// In the configured order; the next one only when the one before fails.
    #[default]
    Priority,
    /// At random in proportion to `weight`.
    Weighted,
    /// The lowest moving-average time to first token, two random candidates compared
    /// (power of two choices) so load still spreads.
    Latency,
    /// The cheapest by price per token.
    Cost,
    /// The fewest requests in flight.
    LeastBusy,
}

impl Strategy {
    pub fn parse(s: &str) -> Option<Strategy> {
        Some(match s {
            "priority" | "fallback" => Strategy::Priority,
            "weighted" => Strategy::Weighted,
            "latency" | "lowest_latency" => Strategy::Latency,
            "cost" | "lowest_cost" => Strategy::Cost,
            "least_busy" => Strategy::LeastBusy,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Priority => "priority",
            Strategy::Weighted => "weighted",
            Strategy::Latency => "latency",
            Strategy::Cost => "cost",
            Strategy::LeastBusy => "least_busy",
        }
    }
}

/// Quality tiers for `model: "auto"`, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Small,
    Standard,
    Frontier,
}

impl Tier {
    pub fn parse(s: &str) -> Option<Tier> {
        Some(match s {
            "small" => Tier::Small,
            "standard" => Tier::Standard,
            "frontier" => Tier::Frontier,
            _ => return None,
        })
    }
}

/// What a deployment can serve. Unknown (None) means "assume it can".
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    pub context_window: Option<u64>,
    pub max_output: Option<u64>,
    pub tools: Option<bool>,
    pub images: Option<bool>,
    pub json_schema: Option<bool>,
}

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Prices {
    pub input: f64,
    pub output: f64,
    /// Cache reads; None: billed as input.
    pub cached_input: Option<f64>,
    /// Cache writes; None: billed as input.
    pub cache_write: Option<f64>,
    /// Reasoning tokens; None: billed as output.
    pub reasoning: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct DeploymentSettings {
    pub weight: u32,
    pub max_concurrency: Option<u32>,
    pub ttft_timeout: Option<Duration>,
    pub capabilities: Capabilities,
    pub prices: Option<Prices>,
    pub tier: Option<Tier>,
}

impl Default for DeploymentSettings {
    fn default() -> Self {
        DeploymentSettings {
            weight: 1,
            max_concurrency: None,
            ttft_timeout: None,
            capabilities: Capabilities::default(),
            prices: None,
            tier: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub provider: Arc<Provider>,
    /// The upstream's own model id.
    pub model: Arc<str>,
    pub settings: Arc<DeploymentSettings>,
    pub health: Arc<Health>,
}

impl Deployment {
    /// A deployment with default settings (and what the catalog knows), and its shared health.
    pub fn new(provider: Arc<Provider>, model: &str, health: &HealthRegistry, catalog: &Catalog) -> Deployment {
        Deployment::with_settings(provider, model, DeploymentSettings::default(), health, catalog)
    }

    /// What the config leaves out — prices, context window, features, tier — comes from the
    /// catalog entry for this provider kind and model, if there is one.
    pub fn with_settings(
        provider: Arc<Provider>,
        model: &str,
        mut settings: DeploymentSettings,
        health: &HealthRegistry,
        catalog: &Catalog,
    ) -> Deployment {
        if let Some(entry) = catalog.lookup(provider.kind.name(), model) {
            settings.prices = settings.prices.or(Some(entry.prices()));
            let known = entry.capabilities();
            let caps = &mut settings.capabilities;
            caps.context_window = caps.context_window.or(known.context_window);
            caps.max_output = caps.max_output.or(known.max_output);
            caps.tools = caps.tools.or(known.tools);
            caps.images = caps.images.or(known.images);
            caps.json_schema = caps.json_schema.or(known.json_schema);
            settings.tier = settings.tier.or(entry.tier());
        }
        let health = health.get(&provider.name, model);
        Deployment { provider, model: model.into(), settings: Arc::new(settings), health }
    }

    pub fn label(&self) -> String {
        format!("{}/{}", self.provider.name, self.model)
    }
}

/// Where an alias may send requests and how it chooses.
#[derive(Debug, Clone, Default)]
pub struct RoutePolicy {
    pub strategy: Strategy,
    /// Extra attempts beyond one per deployment, each after a backoff.
    pub retries: u32,
    /// The whole request, all attempts included.
    pub deadline: Option<Duration>,
    /// Time to the first token (or the whole reply, unstreamed) before moving on.
    pub ttft_timeout: Option<Duration>,
    /// Globs over provider names; None: any.
    pub allowed_providers: Option<Vec<String>>,
    /// Globs over provider regions; None: any. A provider without a region never matches.
    pub allowed_regions: Option<Vec<String>>,
    /// Only providers marked `zero_data_retention`.
    pub zero_data_retention: bool,
    /// Prefer the deployment that last served a long shared prompt prefix.
    pub affinity: bool,
}

#[derive(Debug, Clone)]
pub struct Alias {
    pub name: Arc<str>,
    pub deployments: Vec<Deployment>,
    pub policy: Arc<RoutePolicy>,
}
