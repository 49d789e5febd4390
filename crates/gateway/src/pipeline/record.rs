//! Ledger rows for attempts, with their cost at list price.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dialect::Usage;

use crate::ledger::Entry;
use crate::money::NanosPerMTok;
use crate::routing::Deployment;
use crate::routing::Prices;

/// What one attempt was, for its ledger row.
pub struct Attempt<'a> {
    pub request_id: &'a str,
    pub key_id: Option<&'a str>,
    pub team: Option<&'a str>,
    pub alias: &'a str,
    pub deployment: &'a Deployment,
    pub usage: Option<Usage>,
    pub status: u16,
    pub outcome: &'static str,
    pub latency: Duration,
    pub ttft: Option<Duration>,
    pub stream: bool,
    pub cancelled: bool,
    /// 1 for the request's first upstream attempt, 2 for the next, and so on.
    pub attempt: u32,
}

/// No request uses this many tokens of any kind: a reply that claims more is wrong, and is
/// recorded at this count with the outcome [`IMPLAUSIBLE`], so one bad reply cannot poison
/// spend totals.
pub const MAX_PLAUSIBLE_TOKENS: u64 = 100_000_000;
/// The most one row may cost ($100,000), whatever its prices.
pub const MAX_ROW_COST_NANOS: i64 = 100_000 * 1_000_000_000;
/// The outcome of a row whose usage was clamped.
pub const IMPLAUSIBLE: &str = "implausible_usage";

/// Clamps every count to [`MAX_PLAUSIBLE_TOKENS`]; true when any was at or past it.
pub fn clamp_usage(u: &mut Usage) -> bool {
    let mut clamped = false;
    let mut cap = |n: &mut u64| {
        if *n >= MAX_PLAUSIBLE_TOKENS {
            *n = MAX_PLAUSIBLE_TOKENS;
            clamped = true;
        }
    };
    cap(&mut u.input_tokens);
    cap(&mut u.output_tokens);
    for n in [&mut u.cached_input_tokens, &mut u.cache_write_tokens, &mut u.reasoning_tokens].into_iter().flatten() {
        cap(n);
    }
    clamped
}

impl Attempt<'_> {
    pub fn entry(&self) -> Entry {
        let mut usage = self.usage;
        let implausible = usage.as_mut().is_some_and(clamp_usage);
        let u = usage.unwrap_or_default();
        let cost = usage.and_then(|u| cost_nanos(self.deployment.settings.prices, &u));
        if self.usage.is_some() && cost.is_none() {
            // Labelled by configured names only: a direct model name is the client's to choose.
            metrics::counter!("switchyard_unpriced_requests_total", "alias" => self.alias.to_owned(), "provider" => self.deployment.provider.name.to_string())
                .increment(1);
            warn_unpriced_once(self.deployment);
        }
        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Entry {
            request_id: self.request_id.to_owned(),
            at_unix_ms: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64),
            key_id: self.key_id.map(str::to_owned),
            team: self.team.map(str::to_owned),
            alias: self.alias.to_owned(),
            deployment: self.deployment.label().to_owned(),
            provider: self.deployment.provider.name.to_string(),
            model: self.deployment.model.to_string(),
            input_tokens: int(u.input_tokens),
            output_tokens: int(u.output_tokens),
            cached_tokens: int(u.cached_input_tokens.unwrap_or(0)),
            cache_write_tokens: int(u.cache_write_tokens.unwrap_or(0)),
            reasoning_tokens: int(u.reasoning_tokens.unwrap_or(0)),
            cost_nanos: cost,
            status: i32::from(self.status),
            outcome: if implausible { IMPLAUSIBLE } else { self.outcome }.to_owned(),
            latency_ms: self.latency.as_millis() as i64,
            ttft_ms: self.ttft.map(|t| t.as_millis() as i64),
            stream: self.stream,
            cancelled: self.cancelled,
            cache: None,
            saved_nanos: None,
            attempt: i32::try_from(self.attempt).unwrap_or(i32::MAX),
        }
    }
}

/// Cost in nano-dollars from the provider's own usage, in integer arithmetic: each kind of
/// token times its price (nano-dollars per million tokens) in `i128`, the products summed, and
/// the sum divided by 1,000,000 once, rounding half up (a half nano-dollar or more counts as a
/// whole one), so parts that are each a fraction of a nano-dollar are not rounded separately.
/// The result is clamped to `0..=`[`MAX_ROW_COST_NANOS`]. Input includes cached and
/// cache-written tokens, billed at their own prices; output includes reasoning tokens. None
/// when the deployment has no price.
pub fn cost_nanos(prices: Option<Prices>, usage: &Usage) -> Option<i64> {
    let p = prices?;
    let cached = usage.cached_input_tokens.unwrap_or(0);
    let written = usage.cache_write_tokens.unwrap_or(0);
    let fresh = usage.input_tokens.saturating_sub(cached).saturating_sub(written);
    let reasoning =
        if p.reasoning.is_some() { usage.reasoning_tokens.unwrap_or(0).min(usage.output_tokens) } else { 0 };
    // u64 × i64 always fits in i128; only the sum can overflow, and it saturates.
    let part = |tokens: u64, price: NanosPerMTok| i128::from(tokens) * i128::from(price.0);
    let per_million = [
        part(fresh, p.input),
        part(cached, p.cached_input.unwrap_or(p.input)),
        part(written, p.cache_write.unwrap_or(p.input)),
        part(usage.output_tokens - reasoning, p.output),
        part(reasoning, p.reasoning.unwrap_or(p.output)),
    ]
    .into_iter()
    .fold(0i128, i128::saturating_add);
    let nanos = per_million.saturating_add(500_000).div_euclid(1_000_000);
    let capped = nanos.clamp(0, i128::from(MAX_ROW_COST_NANOS));
    Some(i64::try_from(capped).unwrap_or(MAX_ROW_COST_NANOS))
}

/// Dollars for a header or a table, e.g. `0.000123`: the exact decimal of the nano-dollars,
/// without trailing zeros, built from the integer.
pub fn usd(nanos: i64) -> String {
    crate::money::decimal_from_nanos(nanos)
}

fn warn_unpriced_once(d: &Deployment) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let label = d.label();
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if !warned.iter().any(|w| w == label) {
        tracing::warn!(deployment = %label, "no price for this model: its requests are recorded as unpriced, not $0");
        warned.push(label.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dollars per million tokens, from decimal text.
    fn per_m(dollars: &str) -> NanosPerMTok {
        NanosPerMTok::parse(dollars).unwrap_or_else(|e| panic!("{e}"))
    }

    fn priced(input: &str, output: &str) -> Prices {
        Prices { input: per_m(input), output: per_m(output), ..Prices::default() }
    }

    #[test]
    fn cost_is_tokens_times_list_price() {
        let usage = Usage { input_tokens: 1_200, output_tokens: 300, ..Default::default() };
        // $2.50 / M input, $10 / M output: 1200 × 2.5e-6 + 300 × 10e-6 = $0.006
        assert_eq!(cost_nanos(Some(priced("2.5", "10")), &usage), Some(6_000_000));
        assert_eq!(usd(6_000_000), "0.006");
        assert_eq!(cost_nanos(None, &usage), None);
    }

    fn catalog_cost(kind: &str, model: &str, usage: Usage) -> i64 {
        let catalog = crate::routing::catalog::Catalog::embedded();
        let prices = catalog.lookup(kind, model).map(|e| e.prices());
        cost_nanos(prices, &usage).unwrap_or_else(|| panic!("{kind}/{model} has no price"))
    }

    #[test]
    fn each_providers_usage_shape_costs_what_its_price_list_says() {
        // OpenAI: 2,000 prompt tokens of which 1,536 cached; 300 out.
        // 464 × $2.50 + 1,536 × $1.25 + 300 × $10 per million = $0.00608
        let openai =
            Usage { input_tokens: 2_000, output_tokens: 300, cached_input_tokens: Some(1_536), ..Default::default() };
        assert_eq!(catalog_cost("openai", "gpt-4o-2024-11-20", openai), 6_080_000);

        // Anthropic: 12 fresh + 2,048 written + 10,240 read; 23 out.
        // 12 × $3 + 2,048 × $3.75 + 10,240 × $0.30 + 23 × $15 = $0.011133
        let anthropic = Usage {
            input_tokens: 12_300,
            output_tokens: 23,
            cached_input_tokens: Some(10_240),
            cache_write_tokens: Some(2_048),
            reasoning_tokens: None,
        };
        assert_eq!(catalog_cost("anthropic", "claude-sonnet-4-5-20250929", anthropic), 11_133_000);

        // A reasoning model bills reasoning as output: 25 × $1.10 + 530 × $4.40 = $0.0023595
        let reasoning =
            Usage { input_tokens: 25, output_tokens: 530, reasoning_tokens: Some(512), ..Default::default() };
        assert_eq!(catalog_cost("openai", "o4-mini", reasoning), 2_359_500);

        // Gemini: 1,200 prompt (1,024 cached), 40 candidates + 75 thoughts.
        // 176 × $0.30 + 1,024 × $0.03 + 115 × $2.50 = $0.00037102
        let gemini = Usage {
            input_tokens: 1_200,
            output_tokens: 115,
            cached_input_tokens: Some(1_024),
            reasoning_tokens: Some(75),
            ..Default::default()
        };
        assert_eq!(catalog_cost("gemini", "gemini-2.5-flash", gemini), 371_020);

        // Bedrock, cross-region profile: 412 fresh + 2,048 cache reads; 76 out.
        // 412 × $3 + 2,048 × $0.30 + 76 × $15 = $0.0029904
        let bedrock =
            Usage { input_tokens: 2_460, output_tokens: 76, cached_input_tokens: Some(2_048), ..Default::default() };
        assert_eq!(catalog_cost("bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", bedrock), 2_990_400);

        // A separate reasoning price applies to reasoning tokens only.
        let p = Prices { reasoning: Some(per_m("20")), ..priced("1", "10") };
        let u = Usage { input_tokens: 0, output_tokens: 100, reasoning_tokens: Some(40), ..Default::default() };
        assert_eq!(cost_nanos(Some(p), &u), Some(60 * 10_000 + 40 * 20_000));
        // Absurd counts saturate at the most a row may cost instead of wrapping.
        let huge = Usage { input_tokens: u64::MAX, output_tokens: u64::MAX, ..Default::default() };
        assert_eq!(cost_nanos(Some(p), &huge), Some(MAX_ROW_COST_NANOS));
        let mut clamped = huge;
        assert!(clamp_usage(&mut clamped));
        assert_eq!((clamped.input_tokens, clamped.output_tokens), (MAX_PLAUSIBLE_TOKENS, MAX_PLAUSIBLE_TOKENS));
        let mut normal = u;
        assert!(!clamp_usage(&mut normal));
        assert_eq!(normal, u);
    }

    #[test]
    fn cost_rounds_half_up_once_for_the_whole_row() {
        let one = |input: u64, output: u64| Usage { input_tokens: input, output_tokens: output, ..Default::default() };
        // One token at $0.0375 per million is 37.5 nano-dollars: half rounds up.
        assert_eq!(cost_nanos(Some(priced("0.0375", "0")), &one(1, 0)), Some(38));
        assert_eq!(cost_nanos(Some(priced("0.037499999", "0")), &one(1, 0)), Some(37));
        assert_eq!(cost_nanos(Some(priced("0.000499999", "0")), &one(1, 0)), Some(0));
        assert_eq!(cost_nanos(Some(priced("0.0005", "0")), &one(1, 0)), Some(1));
        // Parts are summed before rounding: 0.4 + 0.4 nano-dollars is 1, not 0 + 0;
        // 0.5 + 0.5 is 1, not 1 + 1.
        assert_eq!(cost_nanos(Some(priced("0.0004", "0.0004")), &one(1, 1)), Some(1));
        assert_eq!(cost_nanos(Some(priced("0.0005", "0.0005")), &one(1, 1)), Some(1));
        // Prices that do not divide evenly: (7 × 1,234 + 1,000,003 × 333,333,300) / 10⁶ =
        // 333,334,300.008538 nano-dollars.
        assert_eq!(cost_nanos(Some(priced("0.000001234", "0.3333333")), &one(7, 1_000_003)), Some(333_334_300));
        assert_eq!(
            cost_nanos(Some(priced("3.999999999", "0")), &one(99_999_999, 0)),
            Some(399_999_995_900),
            "99,999,999 × 3,999,999,999 / 10⁶ = 399,999,995,900.000001"
        );
        // Free is $0, not unpriced; a negative price (never read from a file) costs nothing.
        assert_eq!(cost_nanos(Some(priced("0", "0")), &one(1_000, 1_000)), Some(0));
        let negative = Prices { input: NanosPerMTok(-1_000_000_000), ..priced("0", "0") };
        assert_eq!(cost_nanos(Some(negative), &one(1_000, 0)), Some(0));
        // At $1,000 per million, 100M tokens cost exactly the cap; one token less is just under
        // it, one more is held at it.
        let dear = priced("1000", "0");
        assert_eq!(cost_nanos(Some(dear), &one(100_000_000, 0)), Some(MAX_ROW_COST_NANOS));
        assert_eq!(cost_nanos(Some(dear), &one(99_999_999, 0)), Some(MAX_ROW_COST_NANOS - 1_000_000));
        assert_eq!(cost_nanos(Some(dear), &one(100_000_001, 0)), Some(MAX_ROW_COST_NANOS));
        let max = Prices { input: NanosPerMTok(i64::MAX), ..priced("0", "0") };
        assert_eq!(cost_nanos(Some(max), &one(u64::MAX, 0)), Some(MAX_ROW_COST_NANOS));
    }

    #[test]
    fn usd_is_the_exact_decimal_of_the_integer() {
        assert_eq!(usd(0), "0");
        assert_eq!(usd(1), "0.000000001");
        assert_eq!(usd(80_000), "0.00008");
        assert_eq!(usd(1_500_000_000), "1.5");
        assert_eq!(usd(MAX_ROW_COST_NANOS), "100000");
        assert_eq!(usd(MAX_ROW_COST_NANOS - 1), "99999.999999999");
        assert_eq!(usd(i64::MAX), "9223372036.854775807");
        assert_eq!(usd(-5), "-0.000000005");
        assert_eq!(usd(i64::MIN), "-9223372036.854775808");
    }
}
