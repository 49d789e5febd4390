//! Console sessions: sign-in with the master key (full access) or a virtual key flagged
//! `viewer` (read only), a random token in an HttpOnly, SameSite=Strict cookie (`Secure` when
//! the gateway terminates TLS or a proxy says the page came over HTTPS), kept in memory for
//! [`LIFETIME`] as a hash, and a per-session CSRF token that every state-changing call must send
//! in `x-csrf-token`. A session is checked again on every call: the master key it was opened
//! with must still be the master key, and a viewer's key must still be usable and a viewer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::{api_error, console_for, no_store};
use crate::app::App;

/// How long a session lasts from sign-in.
pub const LIFETIME_MS: i64 = 12 * 3_600_000;
/// The session cookie.
pub const COOKIE: &str = "sy_console";
/// The header a state-changing call carries its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions kept at most; the oldest go first.
const MAX_SESSIONS: usize = 10_000;
/// Failed sign-ins allowed per minute, for every client together: a guessed master key
/// costs a minute per this many tries.
const MAX_FAILURES_PER_MINUTE: u32 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Signed in with the master key: may change keys.
    Admin,
    /// Signed in with a viewer key: may look.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub role: Role,
    /// The viewer key's id, for display.
    pub key_id: Option<String>,
    /// The viewer key's hash, to check it on each call.
    key_hash: Option<String>,
    /// A hash of the master key it signed in with (admins).
    master_hash: Option<String>,
    pub csrf: String,
    pub expires_ms: i64,
}

#[derive(Debug, Default)]
pub struct Sessions {
    /// By the SHA-256 of the cookie's token: the tokens themselves are kept nowhere.
    by_token_hash: Mutex<HashMap<String, Session>>,
    /// (minute, failed sign-ins in it).
    failures: Mutex<(i64, u32)>,
}

impl Sessions {
    fn insert(&self, token_hash: String, session: Session, now_ms: i64) {
        let mut map = self.by_token_hash.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.expires_ms > now_ms);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.expires_ms).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
        map.insert(token_hash, session);
    }

    fn get(&self, token_hash: &str, now_ms: i64) -> Option<Session> {
        let mut map = self.by_token_hash.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(token_hash) {
            Some(s) if s.expires_ms > now_ms => Some(s.clone()),
            Some(_) => {
                map.remove(token_hash);
                None
            }
            None => None,
        }
    }

    fn remove(&self, token_hash: &str) {
        self.by_token_hash.lock().unwrap_or_else(|e| e.into_inner()).remove(token_hash);
    }

    /// Counts a failed sign-in; false once this minute has had too many.
    fn failed(&self, now_ms: i64) -> bool {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let minute = now_ms.div_euclid(60_000);
        if f.0 != minute {
            *f = (minute, 0);
        }
        f.1 += 1;
        f.1 <= MAX_FAILURES_PER_MINUTE
    }

    fn throttled(&self, now_ms: i64) -> bool {
        let f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.0 == now_ms.div_euclid(60_000) && f.1 >= MAX_FAILURES_PER_MINUTE
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // A failure of the system's random source leaves zeros, which no sign-in accepts: see
    // `sign_in`, which refuses an all-zero token.
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap_or_default();
    if bytes.iter().all(|&b| b == 0) {
        return String::new();
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `POST /ui/api/session` `{"key": "..."}`: opens a session, or 401.
pub async fn sign_in(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let console = console_for(&app);
    let now = crate::keys::now_ms();
    if console.sessions.throttled(now) {
        return api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "Too many failed sign-ins; try again in a minute.",
        );
    }
    let bytes = match crate::http::body::read(&headers, body, 4 * 1024).await {
        Ok(b) => b,
        Err(e) => return api_error(e.status, "invalid_request", e.message),
    };
    #[derive(serde::Deserialize)]
    struct SignIn {
        key: String,
    }
    let Ok(SignIn { key }) = serde_json::from_slice::<SignIn>(&bytes) else {
        return api_error(StatusCode::BAD_REQUEST, "invalid_request", "Send {\"key\": \"...\"}.");
    };
    let key = key.trim();
    let master = app.config.master_key.as_ref().filter(|m| bool::from(key.as_bytes().ct_eq(m.expose().as_bytes())));
    let (role, key_id, key_hash, master_hash) = if let Some(m) = master {
        (Role::Admin, None, None, Some(crate::keys::hash(m.expose())))
    } else {
        match app.keys.lookup(key) {
            Some(k) if k.viewer && k.usable(now).is_ok() => {
                (Role::Viewer, Some(k.id.clone()), Some(k.hash.clone()), None)
            }
            _ => {
                console.sessions.failed(now);
                return api_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_key",
                    "Sign in with the master key, or a key made with \"viewer\": true.",
                );
            }
        }
    };
    let (token, csrf) = (random_token(), random_token());
    if token.is_empty() || csrf.is_empty() {
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, "no_randomness", "No random source for a session.");
    }
    let session = Session { role, key_id, key_hash, master_hash, csrf: csrf.clone(), expires_ms: now + LIFETIME_MS };
    console.sessions.insert(crate::keys::hash(&token), session.clone(), now);
    let cookie = format!(
        "{COOKIE}={token}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{}",
        LIFETIME_MS / 1000,
        if secure(&app, &headers) { "; Secure" } else { "" }
    );
    let mut resp = (no_store(), axum::Json(describe(&session))).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /ui/api/session`: who is signed in, and the CSRF token the page sends back.
pub async fn current(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match signed_in(&app, &headers) {
        Ok(s) => (no_store(), axum::Json(describe(&s))).into_response(),
        Err(d) => d.into_response(),
    }
}

/// `DELETE /ui/api/session`: signs out (CSRF token required).
pub async fn sign_out(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(d) = changing(&app, &headers) {
        return d.into_response();
    }
    if let Some(token) = cookie_token(&headers) {
        console_for(&app).sessions.remove(&crate::keys::hash(token));
    }
    let gone = format!(
        "{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure(&app, &headers) { "; Secure" } else { "" }
    );
    let mut resp = (StatusCode::NO_CONTENT, no_store()).into_response();
    if let Ok(v) = HeaderValue::from_str(&gone) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

fn describe(s: &Session) -> serde_json::Value {
    json!({"role": s.role.as_str(), "csrf": s.csrf, "key_id": s.key_id, "expires_ms": s.expires_ms})
}

/// The cookie may only travel over HTTPS when the page came over HTTPS: the gateway's own TLS,
/// or a proxy in front that says so.
fn secure(app: &App, headers: &HeaderMap) -> bool {
    let forwarded = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok());
    app.config.tls.is_some() || forwarded.is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .filter(|t| !t.is_empty())
}

/// Why a console call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No session, or one that expired or whose key no longer signs in: 401.
    NotSignedIn,
    /// A state-changing call without its session's CSRF token: 403.
    Csrf,
    /// A viewer session asked to change something: 403.
    ReadOnly,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::NotSignedIn => api_error(StatusCode::UNAUTHORIZED, "not_signed_in", "Sign in at /ui/login."),
            Denied::Csrf => api_error(StatusCode::FORBIDDEN, "csrf", "Missing or wrong x-csrf-token."),
            Denied::ReadOnly => {
                api_error(StatusCode::FORBIDDEN, "read_only", "A viewer session cannot change anything.")
            }
        }
    }
}

/// The caller's session, still valid: any role. For reading.
pub fn signed_in(app: &App, headers: &HeaderMap) -> Result<Session, Denied> {
    let refuse = || Denied::NotSignedIn;
    let token = cookie_token(headers).ok_or_else(refuse)?;
    let now = crate::keys::now_ms();
    let console = console_for(app);
    let token_hash = crate::keys::hash(token);
    let session = console.sessions.get(&token_hash, now).ok_or_else(refuse)?;
    let still_valid = match session.role {
        Role::Admin => {
            let current = app.config.master_key.as_ref().map(|m| crate::keys::hash(m.expose()));
            current.is_some() && current == session.master_hash
        }
        Role::Viewer => session
            .key_hash
            .as_deref()
            .and_then(|h| app.keys.by_hash(h))
            .is_some_and(|k| k.viewer && k.usable(now).is_ok()),
    };
    if !still_valid {
        console.sessions.remove(&token_hash);
        return Err(refuse());
    }
    Ok(session)
}

/// For a call that changes something: a session whose CSRF token the call carries.
pub fn changing(app: &App, headers: &HeaderMap) -> Result<Session, Denied> {
    let session = signed_in(app, headers)?;
    let sent = headers.get(CSRF_HEADER).map(HeaderValue::as_bytes).unwrap_or_default();
    if sent.is_empty() || !bool::from(sent.ct_eq(session.csrf.as_bytes())) {
        return Err(Denied::Csrf);
    }
    Ok(session)
}

/// For a call that changes keys: an admin session with its CSRF token.
pub fn admin(app: &App, headers: &HeaderMap) -> Result<Session, Denied> {
    let session = changing(app, headers)?;
    if session.role != Role::Admin {
        return Err(Denied::ReadOnly);
    }
    Ok(session)
}

/// Whether `headers` carry a live session (the pages' own check).
pub fn has_session(app: &App, headers: &HeaderMap) -> bool {
    signed_in(app, headers).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; sy_console=tok; b=2"));
        assert_eq!(cookie_token(&h), Some("tok"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("sy_consolex=no; sy_console="));
        assert_eq!(cookie_token(&h), None);
        assert_eq!(cookie_token(&HeaderMap::new()), None);
    }

    #[test]
    fn sessions_expire_and_failures_throttle() {
        let s = Sessions::default();
        let session = Session {
            role: Role::Admin,
            key_id: None,
            key_hash: None,
            master_hash: None,
            csrf: "c".into(),
            expires_ms: 100,
        };
        s.insert("h".into(), session, 0);
        assert!(s.get("h", 99).is_some());
        assert!(s.get("h", 100).is_none());
        assert!(s.get("h", 0).is_none(), "an expired session is forgotten");
        for _ in 0..MAX_FAILURES_PER_MINUTE {
            assert!(s.failed(1_000));
        }
        assert!(s.throttled(1_000));
        assert!(!s.throttled(61_000), "a new minute starts afresh");
    }

    #[test]
    fn tokens_are_random() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }
}
