//! Pipeline replies as HTTP responses in the client's dialect: a JSON body, or an SSE stream
//! that proxies in front of the gateway are told not to buffer.

use axum::body::Body;
use axum::response::Response;
use dialect::{Dialect, EmbeddingResponse};
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::errors::ingress_of;
use crate::pipeline::{ChatBody, ClientStream, Reply};

pub fn chat(dialect: Dialect, reply: Reply<ChatBody>) -> Response {
    let ingress = ingress_of(dialect);
    match reply.body {
        ChatBody::Whole(resp) => json(ingress.encode_response(&resp), reply.headers),
        ChatBody::Stream(stream) => {
            let encoder = ingress.stream_encoder(&stream.meta);
            sse(stream.into_body(encoder), reply.headers)
        }
    }
}

pub fn embeddings(dialect: Dialect, reply: Reply<EmbeddingResponse>) -> Response {
    json(ingress_of(dialect).encode_embedding_response(&reply.body), reply.headers)
}

fn json(body: Vec<u8>, headers: Vec<(HeaderName, HeaderValue)>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::OK;
    *resp.headers_mut() = header_map([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], headers);
    resp
}

fn sse(body: ClientStream, headers: Vec<(HeaderName, HeaderValue)>) -> Response {
    let mut resp = Response::new(Body::from_stream(body));
    let own = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        // Tells nginx-style proxies in front of us not to buffer the stream.
        (HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
    ];
    *resp.headers_mut() = header_map(own, headers);
    resp
}

/// The reply's headers in a map sized for all of them up front: filled one by one into an
/// empty map, it would grow and rehash on the way.
fn header_map<const N: usize>(
    own: [(HeaderName, HeaderValue); N],
    pipeline: Vec<(HeaderName, HeaderValue)>,
) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(N + pipeline.len());
    for (name, value) in own.into_iter().chain(pipeline) {
        map.append(name, value);
    }
    map
}
