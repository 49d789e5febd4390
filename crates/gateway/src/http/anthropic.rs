//! Anthropic-dialect endpoints besides `/v1/messages` (see [`super::chat`]):
//! `POST /v1/messages/count_tokens`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialect::{ClientFacingError, Dialect, Ingress};
use http::HeaderMap;
use serde_json::{json, Value};

use super::errors::error_response;
use super::{admit, request_id};
use crate::app::App;
use crate::error::ErrorReply;
use crate::routing::estimate;
use crate::upstream::Forwarded;

const DIALECT: Dialect = Dialect::Anthropic;

fn fail(err: ClientFacingError, request_id: &str) -> Response {
    error_response(DIALECT, ErrorReply::from(err), request_id)
}

/// When the model's first deployment is Anthropic's own API, Anthropic counts exactly; other
/// providers cannot, so they get the gateway's estimate (the one routing and budgets use).
pub async fn count_tokens(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let id = request_id();
    let (caller, bytes) = match admit(&app, &headers, body).await {
        Ok(b) => b,
        Err(e) => return fail(e, &id),
    };
    let _ = caller; // counting costs nothing; any caller may count
                    // A count request has no `max_tokens`; the Messages decoder requires one.
    let mut value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return fail(dialect::DecodeError::Json(e.to_string()).into(), &id),
    };
    if let Some(obj) = value.as_object_mut() {
        obj.entry("max_tokens").or_insert(json!(1));
    }
    let req = match dialect::anthropic::Anthropic.decode_request(value.to_string().as_bytes()) {
        Ok(r) => r,
        Err(e) => return fail(e.into(), &id),
    };
    let candidates = match crate::routing::resolve(&app, &req.model) {
        Ok(r) => r.deployments,
        Err(e) => return fail(e, &id),
    };
    if let Some(d) = candidates.first().filter(|d| d.provider.dialect == Dialect::Anthropic) {
        if let Some(obj) = value.as_object_mut() {
            obj.remove("max_tokens");
            obj.insert("model".into(), json!(&*d.model));
        }
        let url = d.provider.url(&d.model, dialect::Operation::CountTokens);
        let forwarded = Forwarded::from_client(&headers);
        match crate::upstream::send::post_json(
            &app.client,
            &d.provider,
            Dialect::Anthropic,
            url,
            value.to_string().into_bytes(),
            &forwarded,
        )
        .await
        {
            Ok(body) => {
                return ([(http::header::CONTENT_TYPE, "application/json")], body).into_response();
            }
            Err(e) => return error_response(DIALECT, e.into_reply(), &id),
        }
    }
    Json(json!({"input_tokens": estimate::prompt_tokens(&req)})).into_response()
}
