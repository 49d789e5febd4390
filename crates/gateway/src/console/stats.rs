//! What the console's charts are drawn from: a [`Slice`] of the ledger (counts, tokens, exact
//! cost, latency and time-to-first-token histograms, spend per model, provider, key and team,
//! and per-deployment figures) for any span of time. [`super::hours`] keeps one per hour.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::ledger::{StatRow, Store};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;
/// An hour is final this long after it ends: a row is written when its attempt ends, and a
/// request runs 10 minutes at most unless configured otherwise.
pub const SETTLE_MS: i64 = 15 * MINUTE_MS;
/// Hours kept in memory: the longest chart, 30 days, and a day to spare.
pub const KEEP_HOURS: i64 = 31 * 24;

/// Latencies to 31 ms are counted exactly; above, in buckets 8% wide, up to 10 minutes.
const EXACT: usize = 32;
const BUCKETS: usize = 160;
const GROWTH: f64 = 1.08;

/// A histogram of milliseconds: quantiles within 4% of the truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hist(Vec<u32>);

impl Default for Hist {
    fn default() -> Self {
        Hist(vec![0; BUCKETS])
    }
}

impl Hist {
    fn bucket(ms: i64) -> usize {
        let ms = ms.max(0);
        if ms < EXACT as i64 {
            return ms as usize;
        }
        let steps = ((ms as f64) / EXACT as f64).ln() / GROWTH.ln();
        (EXACT + steps as usize).min(BUCKETS - 1)
    }

    /// A bucket's middle, in ms.
    fn value(bucket: usize) -> f64 {
        if bucket < EXACT {
            return bucket as f64;
        }
        EXACT as f64 * GROWTH.powf((bucket - EXACT) as f64 + 0.5)
    }

    pub fn add(&mut self, ms: i64) {
        if let Some(c) = self.0.get_mut(Self::bucket(ms)) {
            *c = c.saturating_add(1);
        }
    }

    pub fn merge(&mut self, other: &Hist) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a = a.saturating_add(*b);
        }
    }

    /// Whether it has the buckets this build counts in (one read back from the database may not).
    pub fn well_formed(&self) -> bool {
        self.0.len() == BUCKETS
    }

    pub fn count(&self) -> u64 {
        self.0.iter().map(|&c| u64::from(c)).sum()
    }

    /// The `q` quantile (0..1) in ms, to a tenth; None without samples.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0u64;
        for (i, &c) in self.0.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Some((Self::value(i) * 10.0).round() / 10.0);
            }
        }
        None
    }
}

/// The four ways spend is broken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    Model,
    Provider,
    Key,
    Team,
}

impl Dim {
    pub const ALL: [Dim; 4] = [Dim::Model, Dim::Provider, Dim::Key, Dim::Team];

    pub fn as_str(self) -> &'static str {
        match self {
            Dim::Model => "model",
            Dim::Provider => "provider",
            Dim::Key => "key",
            Dim::Team => "team",
        }
    }
}

/// Requests, tokens and spend of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub requests: i64,
    pub tokens: i64,
    pub cost_nanos: i128,
}

impl Group {
    fn add(&mut self, o: &Group) {
        self.requests += o.requests;
        self.tokens = self.tokens.saturating_add(o.tokens);
        self.cost_nanos += o.cost_nanos;
    }
}

/// One deployment's attempts in a slice.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeploymentAgg {
    pub requests: i64,
    pub errors: i64,
    pub latency: Hist,
    pub ttft: Hist,
}

/// The ledger over one span of time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Slice {
    /// Rows: attempts that reached a provider, and cache hits.
    pub requests: i64,
    /// Rows read one by one (errors and latencies are known for these); `requests` may come
    /// from the daily rollups instead.
    pub measured: i64,
    /// Attempts that failed (anything but `ok`, or a client that went away).
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_nanos: i128,
    /// Rows without a price.
    pub unpriced: i64,
    /// Whole requests, of successful attempts.
    pub latency: Hist,
    /// Time to first token, of successful attempts that measured one.
    pub ttft: Hist,
    pub by: [HashMap<String, Group>; 4],
    pub deployments: HashMap<String, DeploymentAgg>,
}

/// The name a row without a key or team is shown under.
pub const NONE: &str = "(none)";

fn failed(outcome: &str) -> bool {
    !matches!(outcome, "ok" | "client_cancelled")
}

impl Slice {
    pub fn add(&mut self, r: StatRow<'_>) {
        let error = failed(r.outcome) || r.status >= 400;
        self.requests += 1;
        self.measured += 1;
        self.errors += i64::from(error);
        self.input_tokens = self.input_tokens.saturating_add(r.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(r.output_tokens);
        self.cost_nanos += i128::from(r.cost_nanos.unwrap_or(0));
        self.unpriced += i64::from(r.cost_nanos.is_none() && r.status < 400);
        if !self.deployments.contains_key(r.deployment) {
            self.deployments.insert(r.deployment.to_owned(), DeploymentAgg::default());
        }
        if let Some(dep) = self.deployments.get_mut(r.deployment) {
            dep.requests += 1;
            dep.errors += i64::from(error);
            if !error {
                dep.latency.add(r.latency_ms);
                if let Some(t) = r.ttft_ms {
                    dep.ttft.add(t);
                }
            }
        }
        if !error {
            self.latency.add(r.latency_ms);
            if let Some(t) = r.ttft_ms {
                self.ttft.add(t);
            }
        }
        let group = Group {
            requests: 1,
            tokens: r.input_tokens.saturating_add(r.output_tokens),
            cost_nanos: i128::from(r.cost_nanos.unwrap_or(0)),
        };
        let names = [Some(r.model), Some(r.provider), r.key_id, r.team];
        for (map, name) in self.by.iter_mut().zip(names) {
            let name = name.unwrap_or(NONE);
            // Looked up by the borrowed name; a copy is made once per group, not per row.
            match map.get_mut(name) {
                Some(g) => g.add(&group),
                None => {
                    map.insert(name.to_owned(), group.clone());
                }
            }
        }
    }

    pub fn merge(&mut self, o: &Slice) {
        self.requests += o.requests;
        self.measured += o.measured;
        self.errors += o.errors;
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.cost_nanos += o.cost_nanos;
        self.unpriced += o.unpriced;
        self.latency.merge(&o.latency);
        self.ttft.merge(&o.ttft);
        for (mine, theirs) in self.by.iter_mut().zip(&o.by) {
            for (name, g) in theirs {
                mine.entry(name.clone()).or_default().add(g);
            }
        }
        for (name, d) in &o.deployments {
            let mine = self.deployments.entry(name.clone()).or_default();
            mine.requests += d.requests;
            mine.errors += d.errors;
            mine.latency.merge(&d.latency);
            mine.ttft.merge(&d.ttft);
        }
    }

    /// Takes requests, tokens and spend (overall and per group) from a day's rollups, which
    /// hold them even after the day's rows are gone; errors and latencies stay as measured.
    pub fn spend_from_rollups(&mut self, rows: &[crate::ledger::DailyRow]) {
        self.requests = 0;
        self.input_tokens = 0;
        self.output_tokens = 0;
        self.cost_nanos = 0;
        self.by = Default::default();
        for r in rows {
            self.requests += r.requests;
            self.input_tokens = self.input_tokens.saturating_add(r.input_tokens);
            self.output_tokens = self.output_tokens.saturating_add(r.output_tokens);
            self.cost_nanos += i128::from(r.cost_nanos);
            let group = Group {
                requests: r.requests,
                tokens: r.input_tokens.saturating_add(r.output_tokens),
                cost_nanos: i128::from(r.cost_nanos),
            };
            let names = [Some(&r.model), Some(&r.provider), r.key_id.as_ref(), r.team.as_ref()];
            for (map, name) in self.by.iter_mut().zip(names) {
                map.entry(name.cloned().unwrap_or_else(|| NONE.into())).or_default().add(&group);
            }
        }
    }

    /// Whether every histogram in it has this build's buckets.
    pub fn well_formed(&self) -> bool {
        self.latency.well_formed()
            && self.ttft.well_formed()
            && self.deployments.values().all(|d| d.latency.well_formed() && d.ttft.well_formed())
    }

    pub fn error_rate(&self) -> Option<f64> {
        (self.measured > 0).then(|| self.errors as f64 / self.measured as f64)
    }
}

/// Slices of `[from_ms, to_ms)`, `step_ms` wide each, read from the ledger in one range query.
pub async fn slices(store: &Store, from_ms: i64, to_ms: i64, step_ms: i64) -> Result<Vec<Slice>, sqlx::Error> {
    let n = usize::try_from((to_ms - from_ms).div_euclid(step_ms.max(1))).unwrap_or(0);
    let mut out = vec![Slice::default(); n];
    store
        .fold_rows(from_ms, to_ms, |r| {
            let i = usize::try_from((r.at_unix_ms - from_ms).div_euclid(step_ms)).unwrap_or(usize::MAX);
            if let Some(s) = out.get_mut(i) {
                s.add(r);
            }
        })
        .await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at: i64, latency: i64, outcome: &str, cost: Option<i64>) -> StatRow<'_> {
        StatRow {
            at_unix_ms: at,
            key_id: Some("k"),
            deployment: "p/m",
            provider: "p",
            model: "m",
            input_tokens: 10,
            output_tokens: 5,
            cost_nanos: cost,
            status: if outcome == "ok" { 200 } else { 500 },
            outcome,
            latency_ms: latency,
            ttft_ms: Some(latency / 2),
            ..Default::default()
        }
    }

    #[test]
    fn quantiles_are_within_the_bucket_width() {
        let mut h = Hist::default();
        for ms in 1..=1000 {
            h.add(ms);
        }
        for (q, want) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let got = h.quantile(q).unwrap_or_default();
            assert!((got - want).abs() / want < 0.05, "p{q}: {got} for {want}");
        }
        assert_eq!(Hist::default().quantile(0.5), None);
        let mut small = Hist::default();
        small.add(7);
        assert_eq!(small.quantile(0.99), Some(7.0), "small values are exact");
        let mut huge = Hist::default();
        huge.add(i64::MAX);
        huge.add(-5);
        assert_eq!(huge.count(), 2, "out-of-range values are clamped, not lost");
    }

    #[test]
    fn a_slice_counts_errors_apart_and_sums_cost_exactly() {
        let mut s = Slice::default();
        s.add(row(0, 100, "ok", Some(i64::MAX)));
        s.add(row(0, 100, "ok", Some(i64::MAX)));
        s.add(row(0, 3, "upstream_error", Some(0)));
        s.add(row(0, 50, "ok", None));
        assert_eq!((s.requests, s.errors, s.unpriced), (4, 1, 1));
        assert_eq!(s.cost_nanos, 2 * i128::from(i64::MAX), "no overflow");
        assert_eq!(s.latency.count(), 3, "failed attempts stay out of latency");
        assert_eq!(s.by[0]["m"].requests, 4);
        assert_eq!(s.by[3][NONE].requests, 4, "rows without a team");
        let mut twice = s.clone();
        twice.merge(&s);
        assert_eq!((twice.requests, twice.deployments["p/m"].errors), (8, 2));
        assert_eq!(s.error_rate(), Some(0.25));
    }
}
