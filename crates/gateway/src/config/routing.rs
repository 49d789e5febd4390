//! The routing half of the config: each deployment's settings and each alias's policy, read
//! from `[models.<alias>]` and its `deployments`.

use std::time::Duration;

use toml::Spanned;

use super::problems::Problems;
use super::raw::{RawAlias, RawDeployment};
use crate::routing::{Capabilities, DeploymentSettings, Prices, RoutePolicy, Strategy, Tier};

pub(super) fn deployment_settings(name: &str, d: &RawDeployment, p: &mut Problems<'_>) -> DeploymentSettings {
    let mut caps = Capabilities { context_window: d.context_window, max_output: d.max_output, ..Default::default() };
    if let Some(supports) = &d.supports {
        let list: Vec<&str> = supports.get_ref().iter().map(String::as_str).collect();
        for s in &list {
            if !matches!(*s, "tools" | "images" | "json_schema") {
                p.at(
                    Some(supports.span()),
                    format!("model `{name}`: unknown capability `{s}` (tools, images, json_schema)"),
                );
            }
        }
        caps.tools = Some(list.contains(&"tools"));
        caps.images = Some(list.contains(&"images"));
        caps.json_schema = Some(list.contains(&"json_schema"));
    }
    let prices = match (d.input_price, d.output_price) {
        (Some(input), Some(output)) => Some(Prices { input, output, ..Prices::default() }),
        (None, None) => None,
        _ => {
            p.at(Some(d.provider.span()), format!("model `{name}`: set both `input_price` and `output_price`"));
            None
        }
    };
    DeploymentSettings {
        weight: d.weight.unwrap_or(1),
        max_concurrency: d.max_concurrency,
        ttft_timeout: d.ttft_timeout_ms.map(Duration::from_millis),
        capabilities: caps,
        prices,
        tier: parse_tier(name, d.tier.as_ref(), p),
    }
}

fn parse_tier(name: &str, tier: Option<&Spanned<String>>, p: &mut Problems<'_>) -> Option<Tier> {
    let t = tier?;
    let parsed = Tier::parse(t.get_ref());
    if parsed.is_none() {
        p.at(Some(t.span()), format!("model `{name}`: tier must be small, standard or frontier"));
    }
    parsed
}

pub(super) fn route_policy(name: &str, a: &RawAlias, p: &mut Problems<'_>) -> RoutePolicy {
    let strategy = match &a.strategy {
        Some(s) => Strategy::parse(s.get_ref()).unwrap_or_else(|| {
            p.at(
                Some(s.span()),
                format!("model `{name}`: strategy must be priority, weighted, latency, cost or least_busy"),
            );
            Strategy::Priority
        }),
        None => Strategy::Priority,
    };
    RoutePolicy {
        strategy,
        retries: a.retries.unwrap_or(0),
        deadline: a.timeout_ms.map(Duration::from_millis),
        ttft_timeout: a.ttft_timeout_ms.map(Duration::from_millis),
        allowed_providers: a.allowed_providers.clone(),
        allowed_regions: a.allowed_regions.clone(),
        zero_data_retention: a.zero_data_retention,
        affinity: a.affinity.unwrap_or(true),
    }
}
