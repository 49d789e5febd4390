//! Admin endpoints (master key): `GET /admin/spend?by=model&since=7d`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialect::{ClientFacingError, Dialect, ErrorKind};
use http::HeaderMap;
use serde_json::json;

use super::errors::error_response;
use super::{auth, request_id};
use crate::app::App;
use crate::error::ErrorReply;
use crate::ledger::{parse_since, unix_ms_ago, SpendBy};

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

/// `POST /admin/keys`: the new key is in the reply, and nowhere else, ever.
pub async fn create_key(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    if let Err(e) = operator(&app, &headers) {
        return fail(e);
    }
    let bytes = match super::body::read(&headers, body, 64 * 1024).await {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let spec: crate::keys::NewKey = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => return fail(ClientFacingError::new(ErrorKind::InvalidRequest, format!("invalid key request: {e}"))),
    };
    let (record, secret) = match spec.build() {
        Ok(r) => r,
        Err(e) => return fail(ClientFacingError::new(ErrorKind::InvalidRequest, e)),
    };
    let store = match key_store(&app) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if let Err(e) = store.insert(&record).await {
        return fail(ClientFacingError::new(ErrorKind::Upstream, format!("could not store the key: {e}")));
    }
    let mut reply = serde_json::to_value(&record).unwrap_or_default();
    reply["key"] = json!(secret);
    app.keys.upsert(record);
    (http::StatusCode::CREATED, Json(reply)).into_response()
}

/// `GET /admin/keys`: every key, without secrets or hashes.
pub async fn list_keys(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(e) = operator(&app, &headers) {
        return fail(e);
    }
    let store = match key_store(&app) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match store.all().await {
        Ok(keys) => {
            let data: Vec<_> = keys
                .iter()
                .map(|k| {
                    let mut v = serde_json::to_value(k).unwrap_or_default();
                    v["spent_usd"] = json!(crate::money::NanoUsd(app.limiter.spent(&k.id)).json_number());
                    v
                })
                .collect();
            Json(json!({"data": data})).into_response()
        }
        Err(e) => fail(ClientFacingError::new(ErrorKind::Upstream, format!("could not read keys: {e}"))),
    }
}

/// `DELETE /admin/keys/{id}`: revoked at once on this replica, within seconds on the others.
pub async fn revoke_key(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(e) = operator(&app, &headers) {
        return fail(e);
    }
    let store = match key_store(&app) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match store.revoke(&id).await {
        Ok(true) => {
            if let Ok(all) = store.all().await {
                app.keys.replace_all(all);
            }
            // A deleted key's stored conversations go with it.
            let deleted = match app.conversations.forget_owner(&id).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(key = %id, error = %e, "the revoked key's stored responses could not be deleted");
                    0
                }
            };
            Json(json!({"id": id, "revoked": true, "stored_responses_deleted": deleted})).into_response()
        }
        Ok(false) => fail(ClientFacingError::new(ErrorKind::NotFound, format!("No key `{id}`.")).with_param("id")),
        Err(e) => fail(ClientFacingError::new(ErrorKind::Upstream, format!("could not revoke: {e}"))),
    }
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
    match store.spend(by, unix_ms_ago(window)).await {
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
        Err(e) => fail(ClientFacingError::new(ErrorKind::Upstream, format!("the ledger database failed: {e}"))),
    }
}
