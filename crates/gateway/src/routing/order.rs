//! Orders eligible deployments: those whose health admits a request now, by the alias's
//! strategy, then those held back (open circuit, a provider's back-off) as a last resort,
//! soonest-available first. A deployment at its concurrency cap is left out: the cap is hard.

use std::cell::Cell;

use super::filter::Needs;
use crate::routing::Deployment;
use crate::routing::Strategy;

pub fn by_strategy(strategy: Strategy, deployments: Vec<Deployment>, now_ms: u64, needs: &Needs) -> Vec<Deployment> {
    let (mut ready, mut held): (Vec<_>, Vec<_>) =
        deployments.into_iter().filter(under_cap).partition(|d| d.health.admits(now_ms));
    match strategy {
        Strategy::Priority => {}
        Strategy::Weighted => weighted_shuffle(&mut ready),
        Strategy::Latency => power_of_two_by_latency(&mut ready),
        Strategy::Cost => ready.sort_by_key(|d| expected_cost(d, needs)),
        Strategy::LeastBusy => {
            rotate_random(&mut ready); // ties go to a random one, not always the first
            ready.sort_by_key(|d| d.health.in_flight());
        }
    }
    held.sort_by_key(|d| d.health.backoff_left_ms(now_ms));
    ready.extend(held);
    ready
}

fn under_cap(d: &Deployment) -> bool {
    d.settings.max_concurrency.is_none_or(|cap| d.health.in_flight() < cap)
}

/// The request's cost on this deployment at list price, in millionths of a nano-dollar;
/// unknown prices sort last.
fn expected_cost(d: &Deployment, needs: &Needs) -> i128 {
    match d.settings.prices {
        Some(p) => {
            let output = needs.max_output.max(256);
            (i128::from(needs.prompt_tokens) * i128::from(p.input.0))
                .saturating_add(i128::from(output) * i128::from(p.output.0))
        }
        None => i128::MAX,
    }
}

/// Weighted random order without replacement (Efraimidis–Spirakis keys).
fn weighted_shuffle(ds: &mut [Deployment]) {
    let mut keyed: Vec<(f64, usize)> = ds
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let w = f64::from(d.settings.weight.max(1));
            (random_unit().powf(1.0 / w), i)
        })
        .collect();
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
    let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    apply_order(ds, &order);
}

/// Two random candidates; the one with the lower time-to-first-token estimate goes first (a
/// deployment with no estimate yet wins, so it gets measured). The rest follow by estimate.
fn power_of_two_by_latency(ds: &mut [Deployment]) {
    let estimate = |d: &Deployment| d.health.ttft().map_or(0, |t| t.as_micros());
    if ds.len() < 2 {
        return;
    }
    let a = random_below(ds.len());
    let mut b = random_below(ds.len() - 1);
    if b >= a {
        b += 1;
    }
    let first = if estimate(&ds[a]) <= estimate(&ds[b]) { a } else { b };
    ds.swap(0, first);
    ds[1..].sort_by_key(estimate);
}

fn rotate_random(ds: &mut [Deployment]) {
    if !ds.is_empty() {
        let n = random_below(ds.len());
        ds.rotate_left(n);
    }
}

/// Moves the named providers to the front, in the request's order.
pub fn prefer_providers(ds: &mut [Deployment], order: &[String]) {
    ds.sort_by_key(|d| order.iter().position(|p| **p == *d.provider.name).unwrap_or(usize::MAX));
}

fn apply_order(ds: &mut [Deployment], order: &[usize]) {
    let sorted: Vec<Deployment> = order.iter().map(|&i| ds[i].clone()).collect();
    for (slot, d) in ds.iter_mut().zip(sorted) {
        *slot = d;
    }
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let local = 0u8;
    (t ^ (&local as *const u8 as u64).rotate_left(32)) | 1
}

/// xorshift64*: routing needs speed and spread, not cryptographic strength.
fn next_random() -> u64 {
    RNG.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

fn random_unit() -> f64 {
    (next_random() >> 11) as f64 / (1u64 << 53) as f64
}

pub fn random_below(n: usize) -> usize {
    (next_random() % n.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_numbers_spread() {
        let mut counts = [0u32; 4];
        for _ in 0..4000 {
            counts[random_below(4)] += 1;
        }
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
        let u = random_unit();
        assert!((0.0..1.0).contains(&u));
    }
}
