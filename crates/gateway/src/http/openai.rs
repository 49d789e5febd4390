//! OpenAI-dialect endpoints besides chat: embeddings and model listing.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialect::{ClientFacingError, Dialect, ErrorKind, Ingress};
use http::HeaderMap;
use serde_json::json;

use super::errors::error_response;
use super::{admit, auth, check_model, request_id};
use crate::app::App;
use crate::error::ErrorReply;
use crate::pipeline;
use crate::routing::filter::Narrowing;

const DIALECT: Dialect = Dialect::OpenaiChat;

fn fail(err: ClientFacingError, request_id: &str) -> Response {
    error_response(DIALECT, ErrorReply::from(err), request_id)
}

pub async fn embeddings(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let id = request_id();
    let result = async {
        let (caller, bytes) = admit(&app, &headers, body).await?;
        let req = dialect::openai::OpenAi.decode_embedding_request(&bytes).map_err(ClientFacingError::from)?;
        check_model(&caller, &req.model)?;
        let narrowing = Narrowing::default().limited_by_key(caller.key());
        let forwarded = crate::upstream::Forwarded::from_client(&headers);
        pipeline::embeddings(app.clone(), req, narrowing, &caller, id.clone(), "/v1/embeddings", forwarded).await
    };
    match result.await {
        Ok(reply) => super::render::embeddings(DIALECT, reply),
        Err(e) => error_response(DIALECT, e, &id),
    }
}

fn model_object(app: &App, id: &str) -> Option<serde_json::Value> {
    let alias = app.aliases.get(id)?;
    let owned_by = alias.deployments.first().map_or("switchyard", |d| &*d.provider.name);
    Some(json!({"id": id, "object": "model", "created": app.started_unix, "owned_by": owned_by}))
}

pub async fn list_models(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let caller = match auth::identify(&app, &headers) {
        Ok(c) => c,
        Err(e) => return fail(e, &request_id()),
    };
    let mut names: Vec<&String> =
        app.aliases.keys().filter(|n| caller.key().is_none_or(|k| k.allows_model(n))).collect();
    names.sort_unstable();
    let data: Vec<_> = names.into_iter().filter_map(|n| model_object(&app, n)).collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

pub async fn get_model(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let caller = match auth::identify(&app, &headers) {
        Ok(c) => c,
        Err(e) => return fail(e, &request_id()),
    };
    let Ok(Path(id)) = id else {
        return fail(
            ClientFacingError::new(ErrorKind::InvalidRequest, "The model id in the path is not valid UTF-8.")
                .with_param("model"),
            &request_id(),
        );
    };
    let allowed = caller.key().is_none_or(|k| k.allows_model(&id));
    match model_object(&app, &id).filter(|_| allowed) {
        Some(m) => Json(m).into_response(),
        None => fail(
            ClientFacingError::new(ErrorKind::NotFound, format!("The model `{}` does not exist.", super::echo(&id)))
                .with_code("model_not_found"),
            &request_id(),
        ),
    }
}
