//! Console sessions: sign-in with the master key (full access) or a virtual key flagged
//! `viewer` (read only), a random token in an HttpOnly, SameSite=Strict cookie (`Secure` when
//! the gateway terminates TLS or a proxy says the page came over HTTPS), and a per-session CSRF
//! token that every state-changing call must send in `x-csrf-token`. Sessions live for
//! [`LIFETIME_MS`] in the ledger database's `console_sessions` table, by the hash of their token
//! (the tokens themselves are kept nowhere), so every replica behind a load balancer knows
//! them, a restart keeps them and a sign-out ends them everywhere. A session is checked again on
//! every call: the master key it was opened with must still be the master key, and a viewer's
//! key must still be usable and a viewer.

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
use crate::ledger::{on_pool, Store};

/// How long a session lasts from sign-in.
pub const LIFETIME_MS: i64 = 12 * 3_600_000;
/// The session cookie.
pub const COOKIE: &str = "sy_console";
/// The header a state-changing call carries its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
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

/// Reads and writes the `console_sessions` table (made with the ledger's tables), and counts
/// this process's failed sign-ins.
#[derive(Debug, Default)]
pub struct Sessions {
    /// (minute, failed sign-ins in it).
    failures: Mutex<(i64, u32)>,
}

impl Sessions {
    /// Keeps a new session; sessions that expired go at the same time.
    async fn insert(&self, store: &Store, token_hash: &str, s: &Session, now_ms: i64) -> Result<(), sqlx::Error> {
        on_pool!(store, pool => sqlx::query("DELETE FROM console_sessions WHERE expires_ms <= $1").bind(now_ms).execute(pool).await.map(|_| ())?);
        let sql = "INSERT INTO console_sessions (token_hash, role, key_id, key_hash, master_hash, csrf, expires_ms) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_pool!(store, pool => sqlx::query(sql)
            .bind(token_hash)
            .bind(s.role.as_str())
            .bind(&s.key_id)
            .bind(&s.key_hash)
            .bind(&s.master_hash)
            .bind(&s.csrf)
            .bind(s.expires_ms)
            .execute(pool)
            .await
            .map(|_| ()))
    }

    /// The session of a token's hash, unless it expired.
    async fn get(&self, store: &Store, token_hash: &str, now_ms: i64) -> Result<Option<Session>, sqlx::Error> {
        let sql = "SELECT role, key_id, key_hash, master_hash, csrf, expires_ms FROM console_sessions \
                   WHERE token_hash = $1 AND expires_ms > $2";
        type Row = (String, Option<String>, Option<String>, Option<String>, String, i64);
        let row: Option<Row> =
            on_pool!(store, pool => sqlx::query_as(sql).bind(token_hash).bind(now_ms).fetch_optional(pool).await?);
        Ok(row.and_then(|(role, key_id, key_hash, master_hash, csrf, expires_ms)| {
            let role = match role.as_str() {
                "admin" => Role::Admin,
                "viewer" => Role::Viewer,
                _ => return None,
            };
            Some(Session { role, key_id, key_hash, master_hash, csrf, expires_ms })
        }))
    }

    async fn remove(&self, store: &Store, token_hash: &str) -> Result<(), sqlx::Error> {
        let sql = "DELETE FROM console_sessions WHERE token_hash = $1";
        on_pool!(store, pool => sqlx::query(sql).bind(token_hash).execute(pool).await.map(|_| ()))
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
    let Some(store) = app.store.clone() else { return Denied::Unavailable.into_response() };
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
    if let Err(e) = console.sessions.insert(&store, &crate::keys::hash(&token), &session, now).await {
        return super::db_error(&e);
    }
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
    match signed_in(&app, &headers).await {
        Ok(s) => (no_store(), axum::Json(describe(&s))).into_response(),
        Err(d) => d.into_response(),
    }
}

/// `DELETE /ui/api/session`: signs out (CSRF token required).
pub async fn sign_out(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(d) = changing(&app, &headers).await {
        return d.into_response();
    }
    if let (Some(token), Some(store)) = (cookie_token(&headers), &app.store) {
        if let Err(e) = console_for(&app).sessions.remove(store, &crate::keys::hash(token)).await {
            return super::db_error(&e);
        }
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
    /// Sessions cannot be looked up: no database, or it failed: 503.
    Unavailable,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::NotSignedIn => api_error(StatusCode::UNAUTHORIZED, "not_signed_in", "Sign in at /ui/login."),
            Denied::Csrf => api_error(StatusCode::FORBIDDEN, "csrf", "Missing or wrong x-csrf-token."),
            Denied::ReadOnly => {
                api_error(StatusCode::FORBIDDEN, "read_only", "A viewer session cannot change anything.")
            }
            Denied::Unavailable => api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "Console sessions are kept in the ledger database, which could not be reached.",
            ),
        }
    }
}

/// The caller's session, still valid: any role. For reading.
pub async fn signed_in(app: &App, headers: &HeaderMap) -> Result<Session, Denied> {
    let refuse = || Denied::NotSignedIn;
    let token = cookie_token(headers).ok_or_else(refuse)?;
    let console = console_for(app);
    let db = console.db(app).await.ok_or(Denied::Unavailable)?;
    let store = &db.write;
    let now = crate::keys::now_ms();
    let token_hash = crate::keys::hash(token);
    let found = console.sessions.get(&db.read, &token_hash, now).await.map_err(|e| {
        tracing::warn!(error = %e, "console: sessions could not be read");
        Denied::Unavailable
    })?;
    let session = found.ok_or_else(refuse)?;
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
        // Gone for good: the key changed. Removing it is tidiness; failing to is harmless.
        let _ = console.sessions.remove(store, &token_hash).await;
        return Err(refuse());
    }
    Ok(session)
}

/// For a call that changes something: a session whose CSRF token the call carries.
pub async fn changing(app: &App, headers: &HeaderMap) -> Result<Session, Denied> {
    let session = signed_in(app, headers).await?;
    let sent = headers.get(CSRF_HEADER).map(HeaderValue::as_bytes).unwrap_or_default();
    if sent.is_empty() || !bool::from(sent.ct_eq(session.csrf.as_bytes())) {
        return Err(Denied::Csrf);
    }
    Ok(session)
}

/// For a call that changes keys: an admin session with its CSRF token.
pub async fn admin(app: &App, headers: &HeaderMap) -> Result<Session, Denied> {
    let session = changing(app, headers).await?;
    if session.role != Role::Admin {
        return Err(Denied::ReadOnly);
    }
    Ok(session)
}

/// Whether `headers` carry a live session (the pages' own check).
pub async fn has_session(app: &App, headers: &HeaderMap) -> bool {
    signed_in(app, headers).await.is_ok()
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
    fn failures_throttle_for_the_rest_of_the_minute() {
        let s = Sessions::default();
        for _ in 0..MAX_FAILURES_PER_MINUTE {
            assert!(s.failed(1_000));
        }
        assert!(s.throttled(1_000));
        assert!(!s.failed(2_000), "one more in the same minute is one too many");
        assert!(!s.throttled(61_000), "a new minute starts afresh");
    }

    #[tokio::test]
    async fn sessions_are_kept_in_the_database_until_they_expire() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let s = Sessions::default();
        let session = Session {
            role: Role::Viewer,
            key_id: Some("key_1".into()),
            key_hash: Some("kh".into()),
            master_hash: None,
            csrf: "c".into(),
            expires_ms: 100,
        };
        s.insert(&store, "h", &session, 0).await.unwrap();
        let back = s.get(&store, "h", 99).await.unwrap().unwrap();
        assert_eq!((back.role, back.key_id.as_deref(), back.csrf.as_str()), (Role::Viewer, Some("key_1"), "c"));
        assert!(s.get(&store, "h", 100).await.unwrap().is_none(), "expired");
        assert!(s.get(&store, "other", 0).await.unwrap().is_none());
        // Another process on the same database sees it; a sign-out there ends it here.
        let elsewhere = Sessions::default();
        assert!(elsewhere.get(&store, "h", 50).await.unwrap().is_some());
        elsewhere.remove(&store, "h").await.unwrap();
        assert!(s.get(&store, "h", 50).await.unwrap().is_none());
        // Expired sessions are deleted when a new one is kept.
        s.insert(&store, "h2", &Session { expires_ms: 300, ..session.clone() }, 0).await.unwrap();
        s.insert(&store, "h3", &Session { expires_ms: 900, ..session }, 400).await.unwrap();
        let left: i64 = on_pool!(&store, pool => sqlx::query_scalar("SELECT COUNT(*) FROM console_sessions").fetch_one(pool).await.unwrap());
        assert_eq!(left, 1);
    }

    #[test]
    fn tokens_are_random() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }
}
