//! The OpenAI Responses API: `POST /v1/responses` (the chat pipeline, with the client's stored
//! conversation replayed before its input), and the stored responses themselves — `GET` and
//! `DELETE /v1/responses/{id}`, `GET /v1/responses/{id}/input_items`. Errors in OpenAI's shape.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use dialect::responses::{decode_request, previous_response_id, referenced_ids, response_object, Envelope};
use dialect::{ChatRequest, ClientFacingError, Dialect, ErrorKind, ResponseMeta};
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::error_response;
use super::{admit, auth, check_model, echo, render, request_id};
use crate::app::App;
use crate::cache::control::Directive;
use crate::conversations::{ConversationError, Conversations, Stored};
use crate::error::ErrorReply;
use crate::keys::Caller;
use crate::pipeline::{self, ChatBody, Reply};
use crate::routing::filter::Narrowing;
use crate::telemetry::RequestFinished;
use crate::upstream::Forwarded;

const DIALECT: Dialect = Dialect::OpenaiResponses;
const ROUTE: &str = "/v1/responses";

/// Whose stored responses a caller sees: a virtual key its own; the master key (and local use
/// without keys) those made without a virtual key.
fn owner_of(caller: &Caller) -> String {
    caller.key().map(|k| k.id.clone()).unwrap_or_default()
}

pub async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let id = request_id();
    let started = std::time::Instant::now();
    let prepared = match prepare(&app, &headers, body).await {
        Ok(prepared) => prepared,
        Err(e) => {
            RequestFinished::refused(&id, ROUTE, e.error.status.as_u16(), started.elapsed()).emit();
            return error_response(DIALECT, e, &id);
        }
    };
    let Prepared { caller, req, narrowing, envelope } = prepared;
    let response_id = format!("resp_{}", uuid::Uuid::new_v4().simple());
    let store = app.conversations.enabled() && envelope.store != Some(false);
    let mut echo = envelope.echo;
    echo.insert("store".into(), Value::Bool(store));
    let meta = ResponseMeta { include_usage: true, response_id: Some(response_id.clone()), echo, upstream: None };
    let saver = store.then(|| Saver {
        conversations: app.conversations.clone(),
        id: response_id.clone(),
        owner: owner_of(&caller),
        previous_id: envelope.previous_response_id,
        input_items: with_ids(&response_id, envelope.input_items),
    });
    let inbound = pipeline::Inbound {
        request_id: id.clone(),
        endpoint: ROUTE,
        forwarded: Forwarded::from_client(&headers),
        narrowing,
        cache: Directive::from_headers(&headers),
    };
    // Boxed, as in `chat`: the router moves the handler's future, and the pipeline's is large.
    match Box::pin(pipeline::chat(app, req, inbound, &caller)).await {
        Ok(reply) => render_reply(reply, meta, saver),
        Err(e) => error_response(DIALECT, e, &id),
    }
}

struct Prepared {
    caller: Caller,
    req: ChatRequest,
    narrowing: Narrowing,
    envelope: Envelope,
}

async fn prepare(app: &App, headers: &HeaderMap, body: Body) -> Result<Prepared, ErrorReply> {
    let (caller, bytes) = admit(app, headers, body).await?;
    let owner = owner_of(&caller);
    let history = match previous_response_id(&bytes) {
        Some(previous) => {
            app.conversations.history(&owner, &previous).await.map_err(|e| previous_error(e, &previous))?
        }
        None => Vec::new(),
    };
    let mut references = HashMap::new();
    for item_id in referenced_ids(&bytes) {
        let found = app.conversations.item(&owner, &item_id).await.map_err(|e| stored_error(e, "input"))?;
        if let Some(item) = found {
            references.insert(item_id, item);
        }
    }
    let (mut req, envelope) = decode_request(&bytes, &history, &references).map_err(ClientFacingError::from)?;
    check_model(&caller, &req.model)?;
    let narrowing = Narrowing::take(&mut req, headers)?.limited_by_key(caller.key());
    Ok(Prepared { caller, req, narrowing, envelope })
}

fn previous_error(e: ConversationError, previous: &str) -> ErrorReply {
    match e {
        ConversationError::NotFound => ClientFacingError::new(
            ErrorKind::InvalidRequest,
            format!("Previous response with id '{}' not found.", echo(previous)),
        )
        .with_param("previous_response_id")
        .into(),
        ConversationError::Disabled => ClientFacingError::new(
            ErrorKind::InvalidRequest,
            "This gateway does not store responses, so `previous_response_id` cannot be used; send the \
             whole conversation in `input` instead.",
        )
        .with_param("previous_response_id")
        .into(),
        e => stored_error(e, "previous_response_id"),
    }
}

fn stored_error(e: ConversationError, param: &str) -> ErrorReply {
    tracing::warn!(error = %crate::error::chain(&e), "stored responses could not be read");
    ClientFacingError::new(
        ErrorKind::Overloaded,
        "Stored responses are unavailable: the gateway's database does not answer. Retry shortly, or send the \
         whole conversation in `input`.",
    )
    .with_status(StatusCode::SERVICE_UNAVAILABLE)
    .with_param(param)
    .into()
}

/// Stores a response once its object exists.
struct Saver {
    conversations: Arc<Conversations>,
    id: String,
    owner: String,
    previous_id: Option<String>,
    input_items: Vec<Value>,
}

impl Saver {
    /// `response_json`: the response as JSON text, when the caller has it already.
    fn save(self, response: Value, response_json: Option<String>) {
        // Only finished replies are kept: a failed one has nothing a later turn could continue.
        if !matches!(response.get("status").and_then(Value::as_str), Some("completed" | "incomplete")) {
            return;
        }
        let response_json = response_json.unwrap_or_else(|| response.to_string());
        let stored = Stored {
            id: self.id,
            owner: self.owner,
            created_ms: crate::keys::now_ms(),
            previous_id: self.previous_id,
            input_items: self.input_items,
            response,
        };
        self.conversations.save(stored, response_json);
    }
}

/// Gives every input item without one an id that names its response (`msg_<hex>_i0`), so an
/// `item_reference` to it can be found.
fn with_ids(response_id: &str, mut items: Vec<Value>) -> Vec<Value> {
    let hex = response_id.strip_prefix("resp_").unwrap_or(response_id);
    for (i, item) in items.iter_mut().enumerate() {
        let Value::Object(obj) = item else { continue };
        if obj.get("id").and_then(Value::as_str).is_some() {
            continue;
        }
        let prefix = match obj.get("type").and_then(Value::as_str) {
            Some("function_call_output") => "fco",
            Some("message") | None => "msg",
            Some(_) => "item",
        };
        obj.insert("id".into(), Value::String(format!("{prefix}_{hex}_i{i}")));
    }
    items
}

fn render_reply(reply: Reply<ChatBody>, mut meta: ResponseMeta, saver: Option<Saver>) -> Response {
    meta.upstream = reply.upstream;
    match reply.body {
        ChatBody::Whole(resp) => {
            let object = response_object(&resp, &meta);
            let body = object.to_string();
            if let Some(saver) = saver {
                saver.save(object, Some(body.clone()));
            }
            json_response(StatusCode::OK, body.into_bytes(), reply.headers)
        }
        ChatBody::Stream(mut stream) => {
            stream.meta = ResponseMeta { include_usage: true, ..meta };
            if let Some(saver) = saver {
                stream.on_complete = Some(Box::new(move |object| saver.save(object, None)));
            }
            render::chat(
                DIALECT,
                Reply { body: ChatBody::Stream(stream), headers: reply.headers, upstream: reply.upstream },
            )
        }
    }
}

fn json_response(status: StatusCode, body: Vec<u8>, headers: Vec<(HeaderName, HeaderValue)>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().extend(headers);
    resp
}

/// What every stored-response endpoint starts with: a request id, the caller and the response
/// id from the path — or the error to answer with (boxed: a response is large, the rest small).
fn stored_request(
    app: &App,
    headers: &HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<(String, Caller, String), Box<Response>> {
    let id = request_id();
    let fail = |e: ClientFacingError| Box::new(error_response(DIALECT, e.into(), &id));
    let caller = auth::identify(app, headers).map_err(fail)?;
    let Ok(Path(response_id)) = path else {
        return Err(fail(
            ClientFacingError::new(ErrorKind::InvalidRequest, "The response id in the path is not valid UTF-8.")
                .with_param("response_id"),
        ));
    };
    Ok((id, caller, response_id))
}

fn lookup_error(e: ConversationError, response_id: &str, id: &str) -> Response {
    let reply = match e {
        ConversationError::NotFound | ConversationError::Disabled => {
            ClientFacingError::new(ErrorKind::NotFound, format!("Response with id '{}' not found.", echo(response_id)))
                .into()
        }
        e => stored_error(e, "response_id"),
    };
    error_response(DIALECT, reply, id)
}

pub async fn retrieve(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let (id, caller, response_id) = match stored_request(&app, &headers, path) {
        Ok(parts) => parts,
        Err(resp) => return *resp,
    };
    match app.conversations.get(&owner_of(&caller), &response_id).await {
        Ok(stored) => json_response(StatusCode::OK, stored.response.to_string().into_bytes(), request_header(&id)),
        Err(e) => lookup_error(e, &response_id, &id),
    }
}

pub async fn delete(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let (id, caller, response_id) = match stored_request(&app, &headers, path) {
        Ok(parts) => parts,
        Err(resp) => return *resp,
    };
    match app.conversations.delete(&owner_of(&caller), &response_id).await {
        Ok(()) => {
            let body = json!({"id": response_id, "object": "response.deleted", "deleted": true});
            json_response(StatusCode::OK, body.to_string().into_bytes(), request_header(&id))
        }
        Err(e) => lookup_error(e, &response_id, &id),
    }
}

#[derive(Deserialize)]
pub struct ListParams {
    order: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
}

/// A page of a stored response's input items, newest first unless `order=asc`, as OpenAI lists
/// them (`limit` 1–100, default 20; `after` an item id).
pub async fn input_items(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    let (id, caller, response_id) = match stored_request(&app, &headers, path) {
        Ok(parts) => parts,
        Err(resp) => return *resp,
    };
    let Ok(Query(params)) = query else {
        let err = ClientFacingError::new(
            ErrorKind::InvalidRequest,
            "The query string is not valid: `limit` is a number from 1 to 100, `order` is `asc` or `desc`, `after` an item id.",
        );
        return error_response(DIALECT, err.into(), &id);
    };
    let stored = match app.conversations.get(&owner_of(&caller), &response_id).await {
        Ok(stored) => stored,
        Err(e) => return lookup_error(e, &response_id, &id),
    };
    let mut items: Vec<&Value> = stored.input_items.iter().collect();
    match params.order.as_deref() {
        None | Some("desc") => items.reverse(),
        Some("asc") => {}
        Some(_) => {
            let err = ClientFacingError::new(ErrorKind::InvalidRequest, "`order` must be `asc` or `desc`.")
                .with_param("order");
            return error_response(DIALECT, err.into(), &id);
        }
    }
    if let Some(after) = &params.after {
        let position = items.iter().position(|i| i.get("id").and_then(Value::as_str) == Some(after.as_str()));
        items = position.map(|p| items.split_off(p + 1)).unwrap_or_default();
    }
    let limit = params.limit.unwrap_or(20).clamp(1, 100);
    let has_more = items.len() > limit;
    items.truncate(limit);
    let item_id = |i: Option<&&Value>| i.and_then(|v| v.get("id")).cloned().unwrap_or(Value::Null);
    let body = json!({
        "object": "list",
        "data": items,
        "first_id": item_id(items.first()),
        "last_id": item_id(items.last()),
        "has_more": has_more,
    });
    json_response(StatusCode::OK, body.to_string().into_bytes(), request_header(&id))
}

fn request_header(id: &str) -> Vec<(HeaderName, HeaderValue)> {
    HeaderValue::from_str(id).map(|v| vec![(HeaderName::from_static("x-request-id"), v)]).unwrap_or_default()
}
