//! `GET /ui/api/deployments`: each deployment's live health as routing sees it (circuit,
//! back-off, error-rate, latency and time-to-first-token estimates, requests in flight; the
//! same figures as `/health/deployments`), the aliases that use it, and its last 24 hours from
//! the ledger, by the hour.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::stats::{Slice, HOUR_MS};
use super::{api_error, console_for, db_error, reply};
use crate::app::App;

pub async fn deployments(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(r) = super::session::signed_in(&app, &headers) {
        return r.into_response();
    }
    let console = console_for(&app);
    let Some(store) = console.reader(&app).await else {
        return api_error(StatusCode::SERVICE_UNAVAILABLE, "no_ledger", "This gateway has no ledger.");
    };
    if let Err(e) = console.stats.forget_late_rows(&store).await {
        return db_error(&e);
    }
    console.stats.warm(store.clone());
    let now = crate::keys::now_ms();
    let end = (now.div_euclid(HOUR_MS) + 1) * HOUR_MS;
    let start = end - 24 * HOUR_MS;
    let mut hours: Vec<Arc<Slice>> = Vec::with_capacity(24);
    let mut h = start;
    while h < end {
        match console.stats.hour(&store, h, now).await {
            Ok(s) => hours.push(s),
            Err(e) => return db_error(&e),
        }
        h += HOUR_MS;
    }
    let mut aliases: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for (name, alias) in &app.aliases {
        for d in &alias.deployments {
            aliases.entry(d.label().to_owned()).or_default().insert(name);
        }
    }
    let registry = &app.config.health;
    let clock = registry.now_ms();
    let ms = |d: Option<std::time::Duration>| d.map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0);
    let mut live: BTreeMap<String, Value> = registry
        .snapshot()
        .into_iter()
        .map(|(key, h)| {
            let (requests, failures) = h.counts();
            let value = json!({
                "circuit": h.circuit(clock).as_str(),
                "admits": h.admits(clock),
                "in_flight": h.in_flight(),
                "ttft_ms": ms(h.ttft()),
                "latency_ms": ms(h.latency()),
                "error_rate": (h.error_rate() * 1000.0).round() / 1000.0,
                "requests": requests,
                "failures": failures,
                "backoff_ms": h.backoff_left_ms(clock),
            });
            (key, value)
        })
        .collect();
    // Deployments the ledger saw in the last day but routing no longer tracks are listed too.
    let mut names: BTreeSet<String> = live.keys().cloned().collect();
    for s in &hours {
        names.extend(s.deployments.keys().cloned());
    }
    let data: Vec<Value> = names
        .into_iter()
        .map(|name| {
            let history: Vec<Value> = hours
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let d = s.deployments.get(&name);
                    json!({
                        "t": start + i as i64 * HOUR_MS,
                        "requests": d.map_or(0, |d| d.requests),
                        "errors": d.map_or(0, |d| d.errors),
                        "latency_p95_ms": d.and_then(|d| d.latency.quantile(0.95)),
                        "ttft_p95_ms": d.and_then(|d| d.ttft.quantile(0.95)),
                    })
                })
                .collect();
            let used_by: Vec<&str> = aliases.get(&name).map(|s| s.iter().copied().collect()).unwrap_or_default();
            json!({"deployment": name, "live": live.remove(&name), "aliases": used_by, "history": history})
        })
        .collect();
    reply(json!({"start_ms": start, "step_ms": HOUR_MS, "deployments": data}))
}
