//! `GET /ui/api/deployments`: each deployment's live health as routing sees it (circuit,
//! back-off, error-rate, latency and time-to-first-token estimates, requests in flight; the
//! same figures as `/health/deployments`), the aliases that use it, and its last 24 hours from
//! the ledger, by the hour.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::HeaderMap;
use serde_json::{json, Value};

use super::stats::HOUR_MS;
use super::{db_error, reply};
use crate::app::App;

pub async fn deployments(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let (console, db) = match super::open_charts(&app, &headers).await {
        Ok(opened) => opened,
        Err(r) => return r,
    };
    let now = crate::keys::now_ms();
    let end = (now.div_euclid(HOUR_MS) + 1) * HOUR_MS;
    let start = end - 24 * HOUR_MS;
    let deadline = std::time::Instant::now() + super::hours::READ_BUDGET;
    let (hours, pending) = match console.hours.span(&db, start, end, now, deadline).await {
        Ok(read) => read,
        Err(e) => return db_error(&e),
    };
    let mut aliases: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for (name, alias) in &app.aliases {
        for d in &alias.deployments {
            aliases.entry(d.label().to_owned()).or_default().insert(name);
        }
    }
    let registry = &app.config.health;
    let clock = registry.now_ms();
    let mut live: BTreeMap<String, Value> = registry
        .snapshot()
        .into_iter()
        .map(|(key, h)| (key, crate::http::deployments::health_json(&h, clock)))
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
    reply(json!({"start_ms": start, "step_ms": HOUR_MS, "pending_hours": pending, "deployments": data}))
}
