//! The console's files, compiled into the binary: two pages, a stylesheet and two scripts.
//! The sign-in page and what it loads are public; the console page and its script need a
//! session. Every page forbids framing, inline script and other origins (CSP).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::api_error;
use crate::app::App;

const INDEX: &str = include_str!("assets/index.html");
const LOGIN: &str = include_str!("assets/login.html");

/// (name, content type, body, reachable without a session)
const FILES: &[(&str, &str, &str, bool)] = &[
    ("console.css", "text/css; charset=utf-8", include_str!("assets/console.css"), true),
    ("login.js", "text/javascript; charset=utf-8", include_str!("assets/login.js"), true),
    ("app.js", "text/javascript; charset=utf-8", include_str!("assets/app.js"), false),
];

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn page(html: &'static str) -> Response {
    let mut resp =
        ([(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], html).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /ui`: the console, or the sign-in page for a browser without a session.
pub async fn index(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if !super::session::has_session(&app, &headers).await {
        return Redirect::to("/ui/login").into_response();
    }
    page(INDEX)
}

/// `GET /ui/login`.
pub async fn login() -> Response {
    page(LOGIN)
}

/// `GET /ui/assets/{file}`.
pub async fn asset(State(app): State<Arc<App>>, headers: HeaderMap, Path(file): Path<String>) -> Response {
    let Some((_, kind, body, public)) = FILES.iter().find(|(name, ..)| *name == file) else {
        return api_error(StatusCode::NOT_FOUND, "not_found", "No such file.");
    };
    if !public && !super::session::has_session(&app, &headers).await {
        return api_error(StatusCode::UNAUTHORIZED, "not_signed_in", "Sign in at /ui/login.");
    }
    let mut resp = ([(header::CONTENT_TYPE, HeaderValue::from_static(kind))], *body).into_response();
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Small, and the binary that serves them may change under the same name: always fresh.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}
