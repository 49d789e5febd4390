//! `/ui/api/requests`: the ledger's rows newest first, filtered by alias, key, team, provider,
//! status and time, a page at a time (keyset on time and row id: a deep page costs what the
//! first does); and one request's attempts in order, with why each one failed over, and its
//! prompt and completion when they were kept ([`super::bodies`]).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::{api_error, db_error, reply, usd};
use crate::app::App;
use crate::ledger::{Entry, LedgerRow, RowFilter, StatusFilter};

const PAGE: usize = 50;
const PAGE_MAX: usize = 200;
/// Rows one page looks at when filtering by something without an index; more matches, if
/// any, are on the next page.
const SCAN_CAP: usize = 20_000;

#[derive(serde::Deserialize, Default)]
pub struct Params {
    alias: Option<String>,
    key: Option<String>,
    team: Option<String>,
    provider: Option<String>,
    /// `ok` (below 400), `error` (400 and up) or one status code.
    status: Option<String>,
    /// A span back from now (`30m`, `24h`, `7d`) or a Unix time in ms; default 7 days.
    since: Option<String>,
    /// A Unix time in ms; default now.
    until: Option<String>,
    /// Where the page starts: `<at_unix_ms>.<id>` from the previous page's `next`.
    cursor: Option<String>,
    limit: Option<usize>,
}

fn bad(param: &str, why: &str) -> Response {
    api_error(StatusCode::BAD_REQUEST, "invalid_filter", format!("`{param}` {why}"))
}

fn time_param(text: &str, now: i64) -> Option<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return (ms >= 0).then_some(ms);
    }
    crate::ledger::parse_since(text).map(|d| now.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
}

fn text(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap, Query(p): Query<Params>) -> Response {
    let (_, _, db) = match super::open(&app, &headers).await {
        Ok(opened) => opened,
        Err(r) => return r,
    };
    let now = crate::keys::now_ms();
    let since_ms = match text(&p.since) {
        None => now - 7 * 86_400_000,
        Some(s) => match time_param(&s, now) {
            Some(ms) => ms,
            None => return bad("since", "must look like 30m, 24h or 7d, or be a Unix time in ms"),
        },
    };
    let until_ms = match text(&p.until) {
        None => now + 60_000,
        Some(s) => match s.parse::<i64>() {
            Ok(ms) if ms >= 0 => ms,
            _ => return bad("until", "must be a Unix time in ms"),
        },
    };
    let status = match text(&p.status).as_deref() {
        None => None,
        Some("ok") => Some(StatusFilter::Ok),
        Some("error") => Some(StatusFilter::Error),
        Some(code) => match code.parse::<i32>() {
            Ok(c) if (100..=999).contains(&c) => Some(StatusFilter::Exact(c)),
            _ => return bad("status", "must be ok, error or a status code"),
        },
    };
    let before = match text(&p.cursor) {
        None => None,
        Some(c) => match c.split_once('.').and_then(|(a, i)| Some((a.parse::<i64>().ok()?, i.parse::<i64>().ok()?))) {
            Some(pair) => Some(pair),
            None => return bad("cursor", "is not one this list gave"),
        },
    };
    let filter = RowFilter {
        since_ms,
        until_ms,
        key_id: text(&p.key),
        alias: text(&p.alias),
        team: text(&p.team),
        provider: text(&p.provider),
        status,
    };
    let store = db.read;
    let limit = p.limit.unwrap_or(PAGE).clamp(1, PAGE_MAX);
    let page = match store.recent_rows(&filter, before, limit, SCAN_CAP).await {
        Ok(p) => p,
        Err(e) => return db_error(&e),
    };
    let rows: Vec<Value> = page.rows.iter().map(row_json).collect();
    reply(json!({
        "rows": rows,
        "next": page.next.map(|(at, id)| format!("{at}.{id}")),
        "scan_capped": page.scan_capped,
        "scan_cap": SCAN_CAP,
    }))
}

/// `GET /ui/api/requests/{request_id}?at=<ms>`: every attempt of one request.
pub async fn detail(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let (session, _, db) = match super::open(&app, &headers).await {
        Ok(opened) => opened,
        Err(r) => return r,
    };
    if id.len() > 200 {
        return bad("id", "is too long");
    }
    let near = q.get("at").and_then(|a| a.parse::<i64>().ok());
    let store = db.read;
    let attempts = match store.attempts(&id, near).await {
        Ok(a) => a,
        Err(e) => return db_error(&e),
    };
    if attempts.is_empty() {
        return api_error(StatusCode::NOT_FOUND, "not_found", "No ledger rows for this request.");
    }
    let total: i128 = attempts.iter().map(|a| i128::from(a.entry.cost_nanos.unwrap_or(0))).sum();
    let rows: Vec<Value> = attempts.iter().map(row_json).collect();
    // Prompts and completions are for admins: a viewer key sees the figures only.
    let bodies = match session.role {
        super::session::Role::Admin => super::bodies::read(&store, &id).await,
        super::session::Role::Viewer => None,
    };
    let bodies = bodies
        .map(|(because, prompt, completion)| json!({"because": because, "prompt": prompt, "completion": completion}));
    reply(json!({"request_id": id, "attempts": rows, "cost_usd": usd(total), "bodies": bodies}))
}

/// What a failed attempt's outcome means for the operator: why the request moved on.
fn why(r: &Entry) -> Option<&'static str> {
    Some(match r.outcome.as_str() {
        "ok" if r.status < 400 => return None,
        "upstream_error" if r.status == 429 => "rate limited by the provider",
        "upstream_error" => "the provider answered with an error",
        "connect_error" => "could not connect to the provider",
        "timeout" => "timed out (first token or whole request)",
        "bad_response" => "the provider's reply could not be read",
        "stream_broken" => "the stream broke after it started",
        "client_cancelled" => "the client went away",
        "shutdown" => "cut at the end of shutdown's grace period",
        _ => "failed",
    })
}

fn row_json(r: &LedgerRow) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["cost_usd"] = r.entry.cost_nanos.map_or(Value::Null, |c| json!(usd(c.into())));
    v["why"] = json!(why(&r.entry));
    v
}
