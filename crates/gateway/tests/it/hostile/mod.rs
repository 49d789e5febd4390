//! The gateway under attack: hostile clients (path injection, cross-site requests, huge and
//! wrong-typed input, idle connections) and hostile upstreams (resets, garbage, HTML, drips,
//! endless streams and lines, huge bodies, absurd usage, empty shapes). Each test drives the
//! real server over HTTP and asserts status, dialect, bounded time and, where it applies,
//! bounded memory.

mod clients;
mod shutdown;
mod upstreams;

use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// Fails the test if `f` takes longer than `limit`; returns its value.
pub async fn within<T>(limit: Duration, what: &str, f: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: still running after {:?}", started.elapsed()),
    }
}

pub fn assert_openai_error(body: &Value, kind: &str) {
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

pub fn assert_anthropic_error(body: &Value, kind: &str) {
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
}
