//! `GET /health/deployments` (master key): every deployment's circuit, latency estimates,
//! error rate and load, as routing sees them.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialect::Dialect;
use http::HeaderMap;
use serde_json::{json, Value};

use super::errors::error_response;
use super::{auth, request_id};
use crate::app::App;
use crate::error::ErrorReply;

pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(e) = auth::check(app.config.master_key.as_ref(), &headers) {
        return error_response(Dialect::OpenaiChat, ErrorReply::from(e), &request_id());
    }
    let registry = &app.config.health;
    let now = registry.now_ms();
    let deployments: Vec<Value> = registry
        .snapshot()
        .into_iter()
        .map(|(key, h)| {
            let mut v = health_json(&h, now);
            if let Value::Object(m) = &mut v {
                m.insert("deployment".into(), Value::String(key));
            }
            v
        })
        .collect();
    Json(json!({"deployments": deployments})).into_response()
}

/// One deployment's live figures as routing sees them at `now_ms` (the registry's clock):
/// circuit, admission, load, latency and time-to-first-token estimates (ms, to a tenth),
/// error rate, counts and back-off left.
pub fn health_json(h: &crate::routing::health::Health, now_ms: u64) -> Value {
    let ms = |d: Option<std::time::Duration>| d.map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0);
    let (requests, failures) = h.counts();
    json!({
        "circuit": h.circuit(now_ms).as_str(),
        "admits": h.admits(now_ms),
        "in_flight": h.in_flight(),
        "ttft_ms": ms(h.ttft()),
        "latency_ms": ms(h.latency()),
        "error_rate": (h.error_rate() * 1000.0).round() / 1000.0,
        "requests": requests,
        "failures": failures,
        "backoff_ms": h.backoff_left_ms(now_ms),
    })
}
