//! Passive health of each deployment, from the traffic it serves: latency estimates (moving
//! averages of time to first token and of whole requests), an error-rate estimate, requests in
//! flight, a circuit breaker (closed → open after consecutive failures → half-open probes →
//! closed), and the window a provider asked us to back off for (429 Retry-After, rate-limit
//! headers). Lock-free: every field is an atomic, so reading and updating on the request path
//! costs a few nanoseconds and never waits.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::fast_map::FastMap;

/// Consecutive failures that open the circuit.
pub const FAILURE_THRESHOLD: u32 = 3;
/// How long an open circuit keeps a deployment out before a probe.
pub const COOLDOWN: Duration = Duration::from_secs(30);
/// Weight of a new sample in the moving averages, as 1/N.
const EWMA_DIVISOR: u64 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    Closed,
    /// Failing: kept out until the cooldown ends.
    Open,
    /// Cooled down: one probe at a time may go through.
    HalfOpen,
}

impl Circuit {
    pub fn as_str(self) -> &'static str {
        match self {
            Circuit::Closed => "closed",
            Circuit::Open => "open",
            Circuit::HalfOpen => "half_open",
        }
    }
}

/// The clock every health decision reads, as milliseconds since the registry was made; a
/// simulation drives its own.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    pub fn ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.0).as_millis() as u64
    }
}

#[derive(Debug, Default)]
pub struct Health {
    in_flight: AtomicU32,
    consecutive_failures: AtomicU32,
    circuit: AtomicU8,
    /// While open: when the cooldown ends (clock ms). While half-open: 1 when a probe is out.
    open_until_ms: AtomicU64,
    probe_out: AtomicU8,
    /// The provider asked us not to send before this (clock ms).
    backoff_until_ms: AtomicU64,
    /// Moving averages in microseconds; 0 = no sample yet.
    ttft_us: AtomicU64,
    latency_us: AtomicU64,
    /// Moving average of failures, in parts per million.
    error_ppm: AtomicU64,
    requests: AtomicU64,
    failures: AtomicU64,
}

/// What one attempt taught us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served; the time to first token (streams) or to the whole reply.
    Success { ttft: Duration, total: Duration },
    /// The deployment failed (5xx, 529, connect error, timeout, broken stream).
    Failure,
    /// The provider is rate limiting; back off for this long (not a health failure).
    RateLimited { retry_after: Duration },
    /// The request itself was refused (4xx): says nothing about the deployment.
    Neutral,
}

impl Health {
    pub fn circuit(&self, now_ms: u64) -> Circuit {
        match self.circuit.load(Relaxed) {
            1 if now_ms >= self.open_until_ms.load(Relaxed) => Circuit::HalfOpen,
            1 => Circuit::Open,
            2 => Circuit::HalfOpen,
            _ => Circuit::Closed,
        }
    }

    /// Whether a new request may be sent now: the circuit lets it through (a half-open
    /// deployment takes one probe at a time) and no back-off window is running.
    pub fn admits(&self, now_ms: u64) -> bool {
        if now_ms < self.backoff_until_ms.load(Relaxed) {
            return false;
        }
        match self.circuit(now_ms) {
            Circuit::Closed => true,
            Circuit::Open => false,
            Circuit::HalfOpen => self.probe_out.load(Relaxed) == 0,
        }
    }

    /// Called when an attempt is sent; a half-open deployment's probe is now out.
    pub fn start(&self, now_ms: u64) {
        self.in_flight.fetch_add(1, Relaxed);
        if self.circuit(now_ms) == Circuit::HalfOpen {
            self.probe_out.store(1, Relaxed);
        }
    }

    /// The request counted by [`Health::start`] is no longer in flight.
    pub fn end(&self) {
        let _ = self.in_flight.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
    }

    /// Records what an attempt taught us (in-flight counting is [`Health::end`]'s).
    pub fn finish(&self, outcome: Outcome, now_ms: u64) {
        self.requests.fetch_add(1, Relaxed);
        let half_open = self.circuit(now_ms) == Circuit::HalfOpen;
        match outcome {
            Outcome::Success { ttft, total } => {
                ewma(&self.ttft_us, ttft.as_micros() as u64);
                ewma(&self.latency_us, total.as_micros() as u64);
                ewma(&self.error_ppm, 0);
                self.consecutive_failures.store(0, Relaxed);
                if half_open || self.circuit.load(Relaxed) != 0 {
                    self.circuit.store(0, Relaxed); // recovered
                }
                self.probe_out.store(0, Relaxed);
            }
            Outcome::Failure => {
                self.failures.fetch_add(1, Relaxed);
                ewma(&self.error_ppm, 1_000_000);
                let n = self.consecutive_failures.fetch_add(1, Relaxed) + 1;
                if half_open || n >= FAILURE_THRESHOLD {
                    self.open_until_ms.store(now_ms + COOLDOWN.as_millis() as u64, Relaxed);
                    self.circuit.store(1, Relaxed);
                }
                self.probe_out.store(0, Relaxed);
            }
            Outcome::RateLimited { retry_after } => {
                let until = now_ms + retry_after.as_millis() as u64;
                self.backoff_until_ms.fetch_max(until, Relaxed);
                self.probe_out.store(0, Relaxed);
            }
            Outcome::Neutral => self.probe_out.store(0, Relaxed),
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    /// The moving average of time to first token, if any request has been served.
    pub fn ttft(&self) -> Option<Duration> {
        Some(self.ttft_us.load(Relaxed)).filter(|&u| u > 0).map(Duration::from_micros)
    }

    pub fn latency(&self) -> Option<Duration> {
        Some(self.latency_us.load(Relaxed)).filter(|&u| u > 0).map(Duration::from_micros)
    }

    pub fn error_rate(&self) -> f64 {
        self.error_ppm.load(Relaxed) as f64 / 1e6
    }

    pub fn counts(&self) -> (u64, u64) {
        (self.requests.load(Relaxed), self.failures.load(Relaxed))
    }

    /// Milliseconds left in a provider-requested back-off.
    pub fn backoff_left_ms(&self, now_ms: u64) -> u64 {
        self.backoff_until_ms.load(Relaxed).saturating_sub(now_ms)
    }
}

fn ewma(cell: &AtomicU64, sample: u64) {
    let _ = cell.fetch_update(Relaxed, Relaxed, |old| {
        Some(if old == 0 && sample != 0 {
            sample
        } else {
            let (old, new) = (old as i128, sample as i128);
            (old + (new - old) / EWMA_DIVISOR as i128).max(0) as u64
        })
    });
}

/// Most deployments whose health is remembered (configured ones are registered first).
pub const MAX_TRACKED: usize = 1_024;

/// Every deployment's health, shared by all aliases that name the same provider and model.
/// Written only when a deployment is first seen.
#[derive(Debug)]
pub struct HealthRegistry {
    clock: Clock,
    by_key: RwLock<FastMap<String, Arc<Health>>>,
}

impl Default for HealthRegistry {
    fn default() -> Self {
        HealthRegistry { clock: Clock(Instant::now()), by_key: RwLock::default() }
    }
}

impl HealthRegistry {
    pub fn now_ms(&self) -> u64 {
        self.clock.ms(Instant::now())
    }

    pub fn get(&self, provider: &str, model: &str) -> Arc<Health> {
        let key = format!("{provider}/{model}");
        if let Some(h) = self.by_key.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return h.clone();
        }
        let mut map = self.by_key.write().unwrap_or_else(|e| e.into_inner());
        // Model names addressed directly are the clients' to choose: past the cap they are
        // served with health of their own that nobody else shares, so memory stays bounded.
        if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
            return Arc::default();
        }
        map.entry(key).or_default().clone()
    }

    /// A registry for a new config that goes on from this one: the same clock (open circuits
    /// and back-off windows are kept in its milliseconds) and the very same health, shared, of
    /// each deployment `keep(provider, model)` accepts — so what was learnt, and the requests
    /// still in flight on the old config, count under the new one.
    pub fn carried_over(&self, keep: impl Fn(&str, &str) -> bool) -> HealthRegistry {
        let map = self.by_key.read().unwrap_or_else(|e| e.into_inner());
        let kept = map
            .iter()
            .filter(|(key, _)| key.split_once('/').is_some_and(|(provider, model)| keep(provider, model)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        HealthRegistry { clock: self.clock, by_key: RwLock::new(kept) }
    }

    /// Forgets the deployments `keep(provider, model)` rejects (those no longer configured).
    pub fn retain(&self, keep: impl Fn(&str, &str) -> bool) {
        let mut map = self.by_key.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|key, _| key.split_once('/').is_some_and(|(provider, model)| keep(provider, model)));
    }

    /// Every deployment seen, sorted by key.
    pub fn snapshot(&self) -> Vec<(String, Arc<Health>)> {
        let map = self.by_key.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// Counts a request in flight on a deployment until dropped — at the end of a stream, not at
/// its first byte, so `least_busy` and concurrency caps see long streams.
pub struct InFlight(Arc<Health>);

impl InFlight {
    pub fn start(d: &super::Deployment, now_ms: u64) -> InFlight {
        d.health.start(now_ms);
        InFlight(d.health.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Outcome = Outcome::Success { ttft: Duration::from_millis(100), total: Duration::from_millis(400) };

    #[test]
    fn consecutive_failures_open_the_circuit_and_a_good_probe_closes_it() {
        let h = Health::default();
        for _ in 0..FAILURE_THRESHOLD - 1 {
            h.start(0);
            h.finish(Outcome::Failure, 0);
        }
        assert_eq!(h.circuit(0), Circuit::Closed);
        h.start(0);
        h.finish(Outcome::Failure, 0);
        assert_eq!(h.circuit(1), Circuit::Open);
        assert!(!h.admits(1));
        let later = COOLDOWN.as_millis() as u64 + 1;
        assert_eq!(h.circuit(later), Circuit::HalfOpen);
        assert!(h.admits(later));
        h.start(later);
        assert!(!h.admits(later), "one probe at a time");
        h.finish(OK, later);
        assert_eq!(h.circuit(later), Circuit::Closed);
        assert!(h.admits(later));
    }

    #[test]
    fn a_failed_probe_reopens_for_another_cooldown() {
        let h = Health::default();
        for _ in 0..FAILURE_THRESHOLD {
            h.start(0);
            h.finish(Outcome::Failure, 0);
        }
        let probe_at = COOLDOWN.as_millis() as u64 + 5;
        h.start(probe_at);
        h.finish(Outcome::Failure, probe_at);
        assert_eq!(h.circuit(probe_at + 1), Circuit::Open);
        assert_eq!(h.circuit(probe_at + COOLDOWN.as_millis() as u64), Circuit::HalfOpen);
    }

    #[test]
    fn rate_limits_back_off_without_counting_as_failures() {
        let h = Health::default();
        h.start(1_000);
        h.finish(Outcome::RateLimited { retry_after: Duration::from_secs(2) }, 1_000);
        assert!(!h.admits(2_999));
        assert!(h.admits(3_000));
        assert_eq!(h.circuit(3_000), Circuit::Closed);
        assert_eq!(h.error_rate(), 0.0);
    }

    #[test]
    fn a_registry_carried_over_shares_the_health_it_keeps_and_its_clock() {
        let old = HealthRegistry::default();
        let kept = old.get("a", "m");
        kept.start(0);
        old.get("b", "m").start(0);
        let new = old.carried_over(|provider, _| provider == "a");
        assert!(Arc::ptr_eq(&new.get("a", "m"), &kept));
        assert_eq!(new.get("a", "m").in_flight(), 1);
        assert_eq!(new.get("b", "m").in_flight(), 0, "not carried over");
        let (before, after) = (old.now_ms(), new.now_ms());
        assert!(after >= before && after - before < 1_000, "one clock");
        new.retain(|_, model| model != "m");
        assert!(new.snapshot().is_empty());
    }

    #[test]
    fn moving_averages_follow_the_samples() {
        let h = Health::default();
        h.start(0);
        h.finish(OK, 0);
        assert_eq!(h.ttft(), Some(Duration::from_millis(100)));
        for _ in 0..50 {
            h.start(0);
            h.finish(Outcome::Success { ttft: Duration::from_millis(20), total: Duration::from_millis(50) }, 0);
        }
        let ttft = h.ttft().unwrap().as_millis();
        assert!((20..=22).contains(&ttft), "{ttft}");
        assert_eq!(h.in_flight(), 51);
        h.end();
        assert_eq!(h.in_flight(), 50);
    }
}
