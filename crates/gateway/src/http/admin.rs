//! Admin endpoints (master key): keys (`POST`, `GET /admin/keys`, `PATCH`, `DELETE
//! /admin/keys/{id}`), spend (`GET /admin/spend?by=model&since=7d`) and the audit log
//! (`GET /admin/audit?limit=50&since=7d`). Every database call is bounded by [`DB_TIMEOUT`]:
//! with the database down the answer is a 503 saying so, not a hang. Key changes are recorded
//! in the audit log.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialect::{ClientFacingError, Dialect, ErrorKind};
use http::{HeaderMap, StatusCode};
use serde_json::json;

use super::errors::error_response;
use super::{auth, request_id};
use crate::app::App;
use crate::audit::{actor, Event};
use crate::error::ErrorReply;
use crate::keys::KeyRecord;
use crate::ledger::{parse_since, unix_ms_ago, SpendBy};

/// The longest an admin call waits for the database.
const DB_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a listing of the audit log waits for events just recorded to be written.
const AUDIT_SETTLE: Duration = Duration::from_millis(500);
/// The most audit events one listing returns, and how many without `limit`.
const AUDIT_LIMIT_MAX: i64 = 1_000;
const AUDIT_LIMIT_DEFAULT: i64 = 100;

fn fail(e: ClientFacingError) -> Response {
    error_response(Dialect::OpenaiChat, ErrorReply::from(e), &request_id())
}

/// Key management needs the operator's key: without one configured, it is off.
fn operator(app: &App, headers: &HeaderMap) -> Result<(), ClientFacingError> {
    if app.config.master_key.is_none() {
        return Err(ClientFacingError::new(
            ErrorKind::PermissionDenied,
            "Key management needs a master key: set SWITCHYARD_MASTER_KEY.",
        ));
    }
    auth::check(app.config.master_key.as_ref(), headers)
}

fn key_store(app: &App) -> Result<&crate::keys::KeyStore, ClientFacingError> {
    app.key_store.as_ref().ok_or_else(|| ClientFacingError::new(ErrorKind::Internal, "this gateway has no key store"))
}

/// `work` on the database, bounded by [`DB_TIMEOUT`]; a failure or time-out is a 503 that says
/// the database is unavailable and what did not happen (`not_done`).
async fn db<T>(not_done: &str, work: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, ClientFacingError> {
    let why = match tokio::time::timeout(DB_TIMEOUT, work).await {
        Ok(Ok(v)) => return Ok(v),
        Ok(Err(e)) => crate::error::chain(&e),
        Err(_) => format!("no answer within {} s", DB_TIMEOUT.as_secs()),
    };
    Err(ClientFacingError::new(
        ErrorKind::Overloaded,
        format!("The gateway's database is unavailable ({why}); {not_done}. Retry shortly."),
    )
    .with_status(StatusCode::SERVICE_UNAVAILABLE))
}

/// A key as the admin API shows it: its settings (never its secret or hash) and what it has
/// spent this budget period.
fn key_json(app: &App, k: &KeyRecord) -> serde_json::Value {
    let mut v = serde_json::to_value(k).unwrap_or_default();
    v["spent_usd"] = json!(crate::money::NanoUsd(app.limiter.spent(&k.id)).json_number());
    v
}

/// `POST /admin/keys`: the new key is in the reply, and nowhere else, ever.
pub async fn create_key(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    match create(&app, &headers, body).await {
        Ok(r) => r,
        Err(e) => fail(e),
    }
}

async fn create(app: &App, headers: &HeaderMap, body: Body) -> Result<Response, ClientFacingError> {
    operator(app, headers)?;
    let bytes = super::body::read(headers, body, 64 * 1024).await?;
    let spec: crate::keys::NewKey = serde_json::from_slice(&bytes)
        .map_err(|e| ClientFacingError::new(ErrorKind::InvalidRequest, format!("invalid key request: {e}")))?;
    let (record, secret) = spec.build().map_err(|e| ClientFacingError::new(ErrorKind::InvalidRequest, e))?;
    let store = key_store(app)?;
    db("the key was not created", store.insert(&record)).await?;
    let mut reply = serde_json::to_value(&record).unwrap_or_default();
    reply["key"] = json!(secret);
    app.audit.record(Event::key_created(actor::MASTER, &record));
    app.keys.upsert(record);
    Ok((StatusCode::CREATED, Json(reply)).into_response())
}

/// `GET /admin/keys`: every key, without secrets or hashes.
pub async fn list_keys(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let listed = async {
        operator(&app, &headers)?;
        let keys = db("the keys cannot be listed", key_store(&app)?.all()).await?;
        let data: Vec<_> = keys.iter().map(|k| key_json(&app, k)).collect();
        Ok::<_, ClientFacingError>(Json(json!({"data": data})).into_response())
    };
    listed.await.unwrap_or_else(fail)
}

/// `PATCH /admin/keys/{id}`: edits a key's RPM, TPM, budget and period, models or expiry (see
/// [`crate::keys::KeyPatch`]), checked as at creation. The database first, then this replica's
/// key table at once (its next request is limited by the new settings), the others within
/// seconds.
pub async fn edit_key(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>, body: Body) -> Response {
    match edit(&app, &headers, &id, body).await {
        Ok(r) => r,
        Err(e) => fail(e),
    }
}

async fn edit(app: &App, headers: &HeaderMap, id: &str, body: Body) -> Result<Response, ClientFacingError> {
    operator(app, headers)?;
    let bytes = super::body::read(headers, body, 64 * 1024).await?;
    let patch = crate::keys::KeyPatch::from_json(&bytes)
        .map_err(|e| ClientFacingError::new(ErrorKind::InvalidRequest, format!("invalid key edit: {e}")))?;
    let store = key_store(app)?;
    let not_found =
        || ClientFacingError::new(ErrorKind::NotFound, format!("No key `{}`.", super::echo(id))).with_param("id");
    let Some(current) = db("the key was not changed", store.one(id)).await? else { return Err(not_found()) };
    if current.revoked {
        return Err(ClientFacingError::new(
            ErrorKind::InvalidRequest,
            format!("Key `{}` is revoked; a revoked key cannot be edited.", super::echo(id)),
        )
        .with_param("id"));
    }
    let now = crate::keys::now_ms();
    let (next, changes) =
        patch.apply(&current, now).map_err(|e| ClientFacingError::new(ErrorKind::InvalidRequest, e))?;
    if changes.as_object().is_some_and(|c| !c.is_empty()) {
        if !db("the key was not changed", store.update_limits(&next)).await? {
            return Err(not_found());
        }
        seed_budget(app, store, &current, &next, now).await;
        app.keys.upsert(next.clone());
        app.audit.record(Event::key_updated(actor::MASTER, id, changes));
    }
    Ok(Json(key_json(app, &next)).into_response())
}

/// A budget the key did not have (or a new period) starts from what the ledger shows the key
/// spent in the period so far, not from zero.
async fn seed_budget(app: &App, store: &crate::keys::KeyStore, before: &KeyRecord, after: &KeyRecord, now: i64) {
    let Some(period) = after.budget_period else { return };
    if before.budget_nanos.is_some() && before.budget_period == after.budget_period {
        return;
    }
    let start = period.start_ms(now);
    match db("", store.spent_since(&after.id, start)).await {
        Ok(spent) => app.limiter.seed_spend(&after.id, start, spent),
        Err(e) => {
            tracing::warn!(key = %after.id, error = %e.message, "a new budget starts without this period's spend")
        }
    }
}

/// `DELETE /admin/keys/{id}`: revoked at once on this replica, within seconds on the others.
pub async fn revoke_key(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match revoke(&app, &headers, &id).await {
        Ok(r) => r,
        Err(e) => fail(e),
    }
}

async fn revoke(app: &App, headers: &HeaderMap, id: &str) -> Result<Response, ClientFacingError> {
    operator(app, headers)?;
    let store = key_store(app)?;
    if !db("the key was not revoked", store.revoke(id)).await? {
        return Err(
            ClientFacingError::new(ErrorKind::NotFound, format!("No key `{}`.", super::echo(id))).with_param("id")
        );
    }
    if let Ok(all) = db("", store.all()).await {
        app.keys.replace_all(all);
    }
    // A deleted key's stored conversations go with it.
    let deleted = match app.conversations.forget_owner(id).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(key = %id, error = %crate::error::chain(&e), "the revoked key's stored responses could not be deleted");
            0
        }
    };
    app.audit.record(Event::key_revoked(actor::MASTER, id, deleted));
    Ok(Json(json!({"id": id, "revoked": true, "stored_responses_deleted": deleted})).into_response())
}

/// `GET /admin/audit?limit=N&since=…`: the audit log, newest first. `since` is a span back
/// from now (`30m`, `12h`, `7d`) or a Unix time in milliseconds; `limit` is 1 to 1000
/// (default 100).
pub async fn audit(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let listed = async {
        operator(&app, &headers)?;
        let limit = match q.get("limit") {
            None => AUDIT_LIMIT_DEFAULT,
            Some(text) => text.parse::<i64>().ok().filter(|n| (1..=AUDIT_LIMIT_MAX).contains(n)).ok_or_else(|| {
                ClientFacingError::new(
                    ErrorKind::InvalidRequest,
                    format!("`limit` must be a whole number from 1 to {AUDIT_LIMIT_MAX}"),
                )
                .with_param("limit")
            })?,
        };
        let since = match q.get("since") {
            None => 0,
            Some(text) => match text.parse::<i64>() {
                Ok(ms) if ms >= 0 => ms,
                _ => parse_since(text).map(unix_ms_ago).ok_or_else(|| {
                    ClientFacingError::new(
                        ErrorKind::InvalidRequest,
                        "`since` must look like 30m, 12h or 7d, or be a Unix time in milliseconds",
                    )
                    .with_param("since")
                })?,
            },
        };
        let Some(store) = &app.store else {
            return Err(ClientFacingError::new(ErrorKind::Internal, "this gateway has no database"));
        };
        // Changes this replica just made are written before they are listed.
        app.audit.settled(AUDIT_SETTLE).await;
        let events = db("the audit log cannot be read", crate::audit::list(store, since, limit)).await?;
        Ok(Json(json!({"data": events})).into_response())
    };
    listed.await.unwrap_or_else(fail)
}

pub async fn spend(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(e) = auth::check(app.config.master_key.as_ref(), &headers) {
        return fail(e);
    }
    let by_text = q.get("by").map_or("model", String::as_str);
    let Some(by) = SpendBy::parse(by_text) else {
        return fail(
            ClientFacingError::new(ErrorKind::InvalidRequest, "`by` must be key, team, model, provider or alias")
                .with_param("by"),
        );
    };
    let since_text = q.get("since").map_or("7d", String::as_str);
    let Some(window) = parse_since(since_text) else {
        return fail(
            ClientFacingError::new(ErrorKind::InvalidRequest, "`since` must look like 30m, 12h or 7d")
                .with_param("since"),
        );
    };
    let Some(store) = &app.store else {
        return fail(ClientFacingError::new(ErrorKind::Internal, "this gateway has no ledger"));
    };
    match db("spend cannot be read", store.spend(by, unix_ms_ago(window))).await {
        Ok(rows) => {
            let data: Vec<_> = rows
                .iter()
                .map(|r| {
                    let cost_usd = crate::money::NanoUsd(r.cost_nanos).json_number();
                    let saved_usd = crate::money::NanoUsd(r.saved_nanos).json_number();
                    json!({"group": r.group, "requests": r.requests, "input_tokens": r.input_tokens,
                           "output_tokens": r.output_tokens, "cost_usd": cost_usd, "cost_nanos": r.cost_nanos,
                           "unpriced": r.unpriced, "saved_usd": saved_usd, "saved_nanos": r.saved_nanos})
                })
                .collect();
            Json(json!({"by": by_text, "since": since_text, "data": data})).into_response()
        }
        Err(e) => fail(e),
    }
}
