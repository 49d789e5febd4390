//! What routing works with: aliases, their deployments (a provider and a model, with weight,
//! limits, capabilities, prices and tier) and each alias's policy. Built by the config at start
//! and for directly addressed models on the request path.
//!
//! Also the integers money is kept in: [`NanosPerMTok`] for prices and [`NanoUsd`] for amounts,
//! read from and shown as exact decimal text ([`nanos_from_decimal`], [`decimal_from_nanos`]).
//! Never `f64`.

use std::sync::Arc;
use std::time::Duration;

use crate::money::NanosPerMTok;

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
    /// Whether the model reasons (takes a reasoning effort or a thinking budget). Some(false):
    /// the gateway leaves reasoning controls out of what it sends there.
    pub reasoning: Option<bool>,
}

/// List prices of one deployment, by kind of token, each in nano-dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prices {
    pub input: NanosPerMTok,
    pub output: NanosPerMTok,
    /// Cache reads; None: billed as input.
    pub cached_input: Option<NanosPerMTok>,
    /// Cache writes; None: billed as input.
    pub cache_write: Option<NanosPerMTok>,
    /// Reasoning tokens; None: billed as output.
    pub reasoning: Option<NanosPerMTok>,
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
    /// Its chat URLs, parsed once (parsing one costs more than the rest of sending it).
    urls: Arc<ChatUrls>,
    /// `provider/model`, made once: headers, ledger rows and affinity read it on every request.
    label: Arc<str>,
}

/// A deployment's chat URLs, each parsed on first use: in its provider's dialect and in the
/// Responses API's, streamed or not.
#[derive(Debug, Default)]
struct ChatUrls([std::sync::OnceLock<Option<http::Uri>>; 4]);

impl Deployment {
    /// A deployment with default settings (and what the catalog knows), and its shared health.
    /// A deployment and its health, shared with every alias that names the same provider and
    /// model. What the config leaves out comes from [`Catalog::complete`].
    pub fn new(
        provider: Arc<Provider>,
        model: &str,
        settings: DeploymentSettings,
        health: &HealthRegistry,
    ) -> Deployment {
        let health = health.get(&provider.name, model);
        let label = format!("{}/{}", provider.name, model).into();
        Deployment { provider, model: model.into(), settings: Arc::new(settings), health, urls: Arc::default(), label }
    }

    /// The URL of a chat request in `dialect` (the provider's own, or the Responses API), parsed
    /// once per deployment. None: the configured base URL does not make a valid URL.
    pub fn chat_url(&self, dialect: dialect::Dialect, stream: bool) -> Option<http::Uri> {
        let slot = usize::from(dialect == dialect::Dialect::OpenaiResponses) * 2 + usize::from(stream);
        self.urls.0[slot]
            .get_or_init(|| {
                let text = self.provider.url_in(dialect, &self.model, dialect::Operation::Chat { stream });
                crate::upstream::send::parse_uri(&text)
            })
            .clone()
    }

    pub fn label(&self) -> &str {
        &self.label
    }
}

/// Where an alias may send requests and how it chooses.
#[derive(Debug, Clone, Default)]
pub struct RoutePolicy {
    /// The alias's response cache; None: off.
    pub cache: Option<Arc<crate::cache::CachePolicy>>,
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
    /// Keep each request's prompt and completion for the web console (`crate::console::bodies`).
    pub log_bodies: bool,
}

#[derive(Debug, Clone)]
pub struct Alias {
    pub name: Arc<str>,
    pub deployments: Vec<Deployment>,
    pub policy: Arc<RoutePolicy>,
}
