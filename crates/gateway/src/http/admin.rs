//! Admin endpoints (master key): `GET /admin/spend?by=model&since=7d`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
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
                    json!({"group": r.group, "requests": r.requests, "input_tokens": r.input_tokens,
                           "output_tokens": r.output_tokens, "cost_usd": r.cost_nanos as f64 / 1e9, "unpriced": r.unpriced})
                })
                .collect();
            Json(json!({"by": by_text, "since": since_text, "data": data})).into_response()
        }
        Err(e) => fail(ClientFacingError::new(ErrorKind::Upstream, format!("the ledger database failed: {e}"))),
    }
}
