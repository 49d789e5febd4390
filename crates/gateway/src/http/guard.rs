//! What every request passes before its route: browser and DNS-rebinding defences (CORS with
//! an allowlist, a loopback `Host` when the gateway runs without a key, JSON-only bodies, so a
//! web page cannot spend the user's credit with a "simple" cross-site POST), and size checks
//! on the request line and headers whose refusals are written in the route's dialect.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use dialect::{ClientFacingError, ErrorKind};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use super::errors::{dialect_for_path, error_response};
use crate::app::App;
use crate::error::ErrorReply;

/// Longer request targets get a 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// More headers than this, or more bytes of them, get a 431.
pub const MAX_HEADERS: usize = 100;
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Headers a browser page may read from a cross-origin reply it was allowed to make.
const EXPOSED: &str = "x-request-id, x-switchyard-provider, x-switchyard-deployment, x-switchyard-attempts, \
    x-switchyard-cost-usd, retry-after, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, \
    x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens";

pub async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let refuse = |kind: ErrorKind, status: StatusCode, message: String| {
        let err = ClientFacingError::new(kind, message).with_status(status);
        error_response(dialect_for_path(path), ErrorReply::from(err), "")
    };
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return refuse(
            ErrorKind::InvalidRequest,
            StatusCode::URI_TOO_LONG,
            format!("The request target is {uri_len} bytes; at most {MAX_URI_BYTES} are accepted."),
        );
    }
    let headers = req.headers();
    let header_bytes: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return refuse(
            ErrorKind::InvalidRequest,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "The request has {} headers of {header_bytes} bytes; at most {MAX_HEADERS} headers of \
                 {MAX_HEADER_BYTES} bytes are accepted.",
                headers.len()
            ),
        );
    }
    let open = app.config.master_key.is_none() && !app.config.allow_unauthenticated;
    if open && !authority(&req).is_none_or(is_loopback_host) {
        return refuse(
            ErrorKind::PermissionDenied,
            StatusCode::FORBIDDEN,
            "This gateway runs without a key and answers only requests addressed to a loopback host \
             (localhost, 127.0.0.1, [::1]). Set a master key to serve other hosts."
                .into(),
        );
    }
    let origin = match cross_origin(&req, headers) {
        Ok(origin) => origin,
        Err(()) => {
            return refuse(
                ErrorKind::PermissionDenied,
                StatusCode::FORBIDDEN,
                "Cross-origin browser requests are refused; add the page's origin to `cors.allow_origins`.".into(),
            )
        }
    };
    if let Some(origin) = &origin {
        if !app.config.cors.allows(origin.to_str().unwrap_or_default()) {
            return refuse(
                ErrorKind::PermissionDenied,
                StatusCode::FORBIDDEN,
                "Cross-origin browser requests are refused; add the page's origin to `cors.allow_origins`.".into(),
            );
        }
        if req.method() == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
            return preflight(origin.clone(), headers);
        }
    }
    if carries_body(req.method()) && !is_json(headers) {
        return refuse(
            ErrorKind::InvalidRequest,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The request body must be JSON, sent with `Content-Type: application/json`.".into(),
        );
    }
    let mut resp = next.run(req).await;
    if let Some(origin) = origin {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
    resp
}

/// The host the client addressed: HTTP/2's `:authority`, else the `Host` header.
fn authority(req: &Request) -> Option<&str> {
    req.uri().host().or_else(|| req.headers().get(header::HOST).and_then(|h| h.to_str().ok()))
}

/// `localhost`, `*.localhost`, 127.0.0.0/8 or `[::1]`, with or without a port.
pub fn is_loopback_host(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, rest)) if rest.is_empty() || rest.starts_with(':') => host,
            _ => return false,
        },
        None => authority.rsplit_once(':').map_or(authority, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                authority
            }
        }),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The `Origin` of a cross-origin browser request (None for same-origin and non-browser
/// requests); Err for a cross-site browser request that names no usable origin.
fn cross_origin(req: &Request, headers: &HeaderMap) -> Result<Option<HeaderValue>, ()> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Browsers send Origin on every cross-origin POST; a fetch metadata header without
        // one is a cross-site navigation or no-cors request.
        let site = headers.get(HeaderName::from_static("sec-fetch-site")).and_then(|v| v.to_str().ok());
        return if site == Some("cross-site") { Err(()) } else { Ok(None) };
    };
    let text = origin.to_str().map_err(|_| ())?;
    let origin_host = text.strip_prefix("http://").or_else(|| text.strip_prefix("https://")).ok_or(())?;
    if authority(req).is_some_and(|a| a.eq_ignore_ascii_case(origin_host)) {
        return Ok(None);
    }
    Ok(Some(origin.clone()))
}

fn preflight(origin: HeaderValue, headers: &HeaderMap) -> Response {
    let mut resp = Response::new(axum::body::Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, DELETE, OPTIONS"));
    // The origin is trusted; whatever headers its page wants to send may come.
    if let Some(asked) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    h.append(header::VARY, HeaderValue::from_static("origin"));
    resp
}

fn carries_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

/// `application/json` or `application/<anything>+json`, any parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // Compared in place: this runs on every request, and header values are ASCII.
    let mime = ct.split(';').next().unwrap_or_default().trim();
    let ends_with = |suffix: &str| {
        mime.len() >= suffix.len()
            && mime.get(mime.len() - suffix.len()..).is_some_and(|s| s.eq_ignore_ascii_case(suffix))
    };
    let starts_with = |prefix: &str| mime.get(..prefix.len()).is_some_and(|s| s.eq_ignore_ascii_case(prefix));
    mime.eq_ignore_ascii_case("application/json") || (starts_with("application/") && ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:4000",
            "127.0.0.1",
            "127.0.0.1:4000",
            "127.9.9.9:1",
            "[::1]",
            "[::1]:4000",
            "api.localhost:4000",
            "LOCALHOST.",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.com",
            "evil.com:4000",
            "localhost.evil.com",
            "127.0.0.1.nip.io",
            "10.0.0.1:4000",
            "[::2]:4000",
            "0.0.0.0:4000",
            "",
            "[::1",
            "[::1]x",
            "localhost:4000:1",
            "localhost.:abc",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn json_content_types() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap_or(HeaderValue::from_static("x/y")));
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/vnd.api+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!with("multipart/form-data; boundary=x"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
