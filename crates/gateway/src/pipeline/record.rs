//! Ledger rows for attempts, with their cost at list price.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dialect::Usage;

use crate::config::routing::Prices;
use crate::config::Deployment;
use crate::ledger::Entry;

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
}

impl Attempt<'_> {
    pub fn entry(&self) -> Entry {
        let u = self.usage.unwrap_or_default();
        let cost = self.usage.and_then(|u| cost_nanos(self.deployment.settings.prices, &u));
        if self.usage.is_some() && cost.is_none() {
            metrics::counter!("switchyard_unpriced_requests_total", "deployment" => self.deployment.label())
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
            deployment: self.deployment.label(),
            provider: self.deployment.provider.name.to_string(),
            model: self.deployment.model.to_string(),
            input_tokens: int(u.input_tokens),
            output_tokens: int(u.output_tokens),
            cached_tokens: int(u.cached_input_tokens.unwrap_or(0)),
            cache_write_tokens: int(u.cache_write_tokens.unwrap_or(0)),
            reasoning_tokens: int(u.reasoning_tokens.unwrap_or(0)),
            cost_nanos: cost,
            status: i32::from(self.status),
            outcome: self.outcome.to_owned(),
            latency_ms: self.latency.as_millis() as i64,
            ttft_ms: self.ttft.map(|t| t.as_millis() as i64),
            stream: self.stream,
            cancelled: self.cancelled,
        }
    }
}

/// Cost in nano-dollars: prices are USD per million tokens, so one token at price p costs
/// p × 1,000 nano-dollars. None when the deployment has no price.
pub fn cost_nanos(prices: Option<Prices>, usage: &Usage) -> Option<i64> {
    let p = prices?;
    let nanos = usage.input_tokens as f64 * p.input * 1_000.0 + usage.output_tokens as f64 * p.output * 1_000.0;
    Some(nanos.round().min(i64::MAX as f64) as i64)
}

/// Dollars for a header, e.g. `0.000123`.
pub fn usd(nanos: i64) -> String {
    format!("{:.9}", nanos as f64 / 1e9).trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn warn_unpriced_once(d: &Deployment) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let label = d.label();
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if !warned.contains(&label) {
        tracing::warn!(deployment = %label, "no price for this model: its requests are recorded as unpriced, not $0");
        warned.push(label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_tokens_times_list_price() {
        let usage = Usage { input_tokens: 1_200, output_tokens: 300, ..Default::default() };
        // $2.50 / M input, $10 / M output: 1200 × 2.5e-6 + 300 × 10e-6 = $0.006
        assert_eq!(cost_nanos(Some(Prices { input: 2.5, output: 10.0 }), &usage), Some(6_000_000));
        assert_eq!(usd(6_000_000), "0.006");
        assert_eq!(cost_nanos(None, &usage), None);
    }
}
