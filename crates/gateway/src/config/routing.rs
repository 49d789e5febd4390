//! The routing half of the config: each deployment's settings and each alias's policy, read
//! from `[models.<alias>]` and its `deployments`.

use std::time::Duration;

use toml::Spanned;

use super::problems::Problems;
use super::raw::{RawAlias, RawCache, RawDeployment};
use crate::cache::{CachePolicy, Scope, SemanticPolicy};
use crate::money::{NanosPerMTok, PriceText};
use crate::routing::{Capabilities, DeploymentSettings, Prices, RoutePolicy, Strategy, Tier};

pub(super) fn deployment_settings(name: &str, d: &RawDeployment, p: &mut Problems<'_>) -> DeploymentSettings {
    let mut caps = Capabilities { context_window: d.context_window, max_output: d.max_output, ..Default::default() };
    if let Some(supports) = &d.supports {
        let list: Vec<&str> = supports.get_ref().iter().map(String::as_str).collect();
        for s in &list {
            if !matches!(*s, "tools" | "images" | "json_schema" | "reasoning") {
                p.at(
                    Some(supports.span()),
                    format!("model `{name}`: unknown capability `{s}` (tools, images, json_schema, reasoning)"),
                );
            }
        }
        caps.tools = Some(list.contains(&"tools"));
        caps.images = Some(list.contains(&"images"));
        caps.json_schema = Some(list.contains(&"json_schema"));
        caps.reasoning = Some(list.contains(&"reasoning"));
    }
    let mut price = |field: &str, text: Option<&Spanned<PriceText>>| {
        let text = text?;
        NanosPerMTok::parse(&text.get_ref().0)
            .map_err(|e| p.at(Some(text.span()), format!("model `{name}`: `{field}`: {e}")))
            .ok()
    };
    let input = price("input_price", d.input_price.as_ref());
    let output = price("output_price", d.output_price.as_ref());
    let prices = match (&d.input_price, &d.output_price) {
        // A price that does not read is reported above.
        (Some(_), Some(_)) => input.zip(output).map(|(input, output)| Prices { input, output, ..Prices::default() }),
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
        log_bodies: a.log_bodies,
        cache: a.cache.as_ref().and_then(|c| cache_policy(name, c, p)).map(std::sync::Arc::new),
    }
}

fn cache_policy(name: &str, c: &Spanned<RawCache>, p: &mut Problems<'_>) -> Option<CachePolicy> {
    let raw = c.get_ref();
    let mut bad = |what: String| {
        p.at(Some(c.span()), format!("model `{name}`: cache: {what}"));
    };
    let ttl = match raw.ttl.as_deref().map(|t| (t, crate::cache::control::parse_duration(t))) {
        None => Duration::from_secs(3_600),
        Some((_, Some(ttl))) if !ttl.is_zero() => ttl,
        Some((text, _)) => {
            bad(format!("`ttl` `{text}` is not a duration such as `90s`, `30m`, `1h` or `2d`"));
            return None;
        }
    };
    let scope = match raw.scope.as_deref() {
        None => Scope::Key,
        Some(s) => match Scope::parse(s) {
            Some(scope) => scope,
            None => {
                bad(format!("`scope` must be key, team or global, not `{s}`"));
                return None;
            }
        },
    };
    let semantic = match &raw.semantic {
        None => None,
        Some(s) => {
            let threshold = s.threshold.unwrap_or(0.95);
            if !(0.0..=1.0).contains(&threshold) || threshold.is_nan() {
                bad(format!("`semantic.threshold` must be between 0 and 1, not {threshold}"));
                return None;
            }
            Some(SemanticPolicy { embedding_model: s.embedding_model.clone(), threshold })
        }
    };
    Some(CachePolicy { ttl, scope, cache_truncated: raw.cache_truncated, cache_sampled: raw.cache_sampled, semantic })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::money::NanosPerMTok;

    fn config(deployments: &str) -> String {
        format!(
            "[providers.p]\nkind = \"openai_compatible\"\nbase_url = \"http://127.0.0.1:1/v1\"\n[models.m]\ndeployments = [\n{deployments}]\n"
        )
    }

    #[test]
    fn prices_read_exactly_from_floats_integers_and_strings() {
        let toml = config(
            "{ provider = \"p\", model = \"a\", input_price = 2.5, output_price = 10 },\n\
             { provider = \"p\", model = \"b\", input_price = \"0.075\", output_price = 0.3 },\n\
             { provider = \"p\", model = \"c\", input_price = \"0.000000001\", output_price = \"1234567.123456789\" },\n",
        );
        let c = Config::from_toml(&toml, &[("X", "y")]).unwrap_or_else(|e| panic!("{e}"));
        let prices: Vec<_> =
            c.aliases["m"].deployments.iter().map(|d| d.settings.prices.map(|p| (p.input, p.output))).collect();
        assert_eq!(
            prices,
            [
                Some((NanosPerMTok(2_500_000_000), NanosPerMTok(10_000_000_000))),
                Some((NanosPerMTok(75_000_000), NanosPerMTok(300_000_000))),
                Some((NanosPerMTok(1), NanosPerMTok(1_234_567_123_456_789))),
            ]
        );
    }

    #[test]
    fn bad_prices_are_reported_at_their_line_all_at_once() {
        let toml = config(
            "{ provider = \"p\", model = \"a\", input_price = 2.1234567891, output_price = 1 },\n\
             { provider = \"p\", model = \"b\", input_price = 1, output_price = -3 },\n\
             { provider = \"p\", model = \"c\", input_price = \"2,5\", output_price = \"1e400\" },\n\
             { provider = \"p\", model = \"d\", input_price = 1 },\n",
        );
        let err = Config::from_toml(&toml, &[("X", "y")]).unwrap_err().to_string();
        for expected in [
            "line 6, column 46: model `m`: `input_price`: `2.1234567891` has more than 9 decimal places",
            "line 7, column 64: model `m`: `output_price`: `-3` is negative",
            "line 8, column 46: model `m`: `input_price`: `2,5` is not a decimal number",
            "line 8, column 68: model `m`: `output_price`: `1e400` is too large",
            "line 9, column 14: model `m`: set both `input_price` and `output_price`",
        ] {
            assert!(err.contains(expected), "{expected}\n{err}");
        }
    }

    #[test]
    fn bad_cache_settings_are_reported_at_their_line() {
        let toml = "[providers.p]\nkind = \"openai_compatible\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\
            [models.a]\ndeployments = [{ provider = \"p\", model = \"m\" }]\ncache = { ttl = \"2x\" }\n\
            [models.b]\ndeployments = [{ provider = \"p\", model = \"m\" }]\ncache = { scope = \"tenant\" }\n\
            [models.c]\ndeployments = [{ provider = \"p\", model = \"m\" }]\n\
            cache = { semantic = { embedding_model = \"e\", threshold = 1.5 } }\n";
        let err = Config::from_toml(toml, &[("X", "y")]).unwrap_err().to_string();
        for expected in [
            "line 6, column 9: model `a`: cache: `ttl` `2x` is not a duration",
            "line 9, column 9: model `b`: cache: `scope` must be key, team or global, not `tenant`",
            "line 12, column 9: model `c`: cache: `semantic.threshold` must be between 0 and 1, not 1.5",
        ] {
            assert!(err.contains(expected), "{expected}\n{err}");
        }
        let good = toml.replace("\"2x\"", "\"30m\"").replace("tenant", "team").replace("1.5", "0.9");
        let config = Config::from_toml(&good, &[("X", "y")]).unwrap_or_else(|e| panic!("{e}"));
        let cache = config.aliases["a"].policy.cache.clone().unwrap();
        assert_eq!(cache.ttl, std::time::Duration::from_secs(1800));
    }

    #[test]
    fn a_bad_catalog_price_names_its_line() {
        let toml = format!(
            "{}[[catalog]]\nkinds = [\"openai\"]\nmodel = \"x\"\ninput = 0.0000000005\noutput = 1.0\n",
            config("")
        );
        let err = Config::from_toml(&toml, &[("X", "y")]).unwrap_err().to_string();
        assert!(err.starts_with("line 10, column 9: price `0.0000000005` has more than 9 decimal places"), "{err}");
    }
}
