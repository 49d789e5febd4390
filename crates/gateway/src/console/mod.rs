//! The operator's web console at `/ui`: a sign-in page, then four pages (overview, deployments,
//! keys and teams, requests) drawn by one small script from the JSON routes under `/ui/api/`.
//!
//! Owns the console's routes, its sessions ([`session`]), its embedded assets ([`assets`]), the
//! statistics its charts are drawn from ([`stats`], kept by the hour in [`hours`]) and the JSON
//! each page reads. Key changes go
//! through the admin API's own handlers ([`keys`]), so the console can do nothing the master key
//! could not. Request bodies, for aliases and keys that ask, are kept by [`bodies`]. Charts are inline SVG drawn by the page's own script (a few dozen lines per chart
//! kind): no charting library to vendor, license or keep up to date, nothing fetched at run
//! time, and the whole console stays a few tens of kilobytes inside the binary.
//!
//! The request path never waits on the console: its queries run on the ledger database — for a
//! SQLite file on a read-only pool of its own, so they do not queue behind the ledger's one
//! writer connection. Sessions and settled hours are kept in that database, so every replica
//! on it shares them and a restart keeps them; what a process holds of them lives beside the
//! app, per database, so a config reload keeps it too.

mod assets;
pub mod bodies;
mod deployments;
mod hours;
mod keys;
mod overview;
mod requests;
pub mod session;
pub mod stats;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use tokio::sync::OnceCell;

use crate::app::App;
use crate::ledger::Store;

/// The console's routes, merged into the gateway's router (its guard runs first).
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/ui", get(assets::index))
        .route("/ui/", get(assets::index))
        .route("/ui/login", get(assets::login))
        .route("/ui/assets/{file}", get(assets::asset))
        .route("/ui/api/session", post(session::sign_in).get(session::current).delete(session::sign_out))
        .route("/ui/api/overview", get(overview::overview))
        .route("/ui/api/deployments", get(deployments::deployments))
        .route("/ui/api/keys", get(keys::list).post(keys::create))
        .route("/ui/api/keys/{id}", axum::routing::delete(keys::revoke).patch(keys::edit))
        .route("/ui/api/requests", get(requests::list))
        .route("/ui/api/requests/{id}", get(requests::detail))
}

/// What the console keeps for one ledger database: sessions, hourly statistics and the pool
/// its queries run on. Shared by every app (config generation) serving that database.
pub struct Console {
    pub sessions: session::Sessions,
    /// Request bodies on their way to the database, for aliases and keys that keep them.
    pub bodies: bodies::BodyLog,
    pub hours: Arc<hours::Hours>,
    reader: OnceCell<Store>,
}

/// The console's two ways into the ledger database: `read` for its queries (a read-only pool on
/// a SQLite file), `write` (the ledger's own pool) for what it keeps there.
#[derive(Clone)]
pub struct Db {
    pub read: Store,
    pub write: Store,
}

/// The console of `app`'s database, made on first use.
pub fn console_for(app: &App) -> Arc<Console> {
    static CONSOLES: OnceLock<Mutex<HashMap<String, Arc<Console>>>> = OnceLock::new();
    let url = database_url(app);
    let mut all = CONSOLES.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
    all.entry(url)
        .or_insert_with(|| {
            Arc::new(Console {
                sessions: session::Sessions::default(),
                bodies: bodies::BodyLog::default(),
                hours: Arc::default(),
                reader: OnceCell::new(),
            })
        })
        .clone()
}

fn database_url(app: &App) -> String {
    app.config.database_url.clone().unwrap_or_else(|| crate::app::DEFAULT_DATABASE_URL.into())
}

impl Console {
    /// Where the console's queries run: a read-only pool on a SQLite file (readers never wait
    /// for the writer in WAL mode, and the writer never waits for them), else the ledger's own
    /// pool; and the ledger's pool for writes. None for an app without a ledger.
    pub async fn db(&self, app: &App) -> Option<Db> {
        let write = app.store.clone()?;
        let own = write.clone();
        let Store::Sqlite(_) = &own else { return Some(Db { read: own, write }) };
        let url = database_url(app);
        let store = self
            .reader
            .get_or_init(|| async move {
                match read_only_sqlite(&url).await {
                    Ok(pool) => Store::Sqlite(pool),
                    Err(e) => {
                        tracing::warn!(error = %e, "console: no read-only pool; queries share the ledger's connection");
                        own
                    }
                }
            })
            .await;
        Some(Db { read: store.clone(), write })
    }
}

/// What a console route starts with: the caller's live session, the console of this database
/// and its pools — or the reply that refuses it.
pub async fn open(app: &App, headers: &HeaderMap) -> Result<(session::Session, Arc<Console>, Db), Response> {
    let session = session::signed_in(app, headers).await.map_err(IntoResponse::into_response)?;
    let console = console_for(app);
    let Some(db) = console.db(app).await else {
        return Err(api_error(StatusCode::SERVICE_UNAVAILABLE, "no_ledger", "This gateway has no ledger."));
    };
    Ok((session, console, db))
}

/// [`open`], for a page drawn from hourly slices: the kept hours loaded, those that late rows
/// landed in dropped, and the background fill started.
pub async fn open_charts(app: &App, headers: &HeaderMap) -> Result<(Arc<Console>, Db), Response> {
    let (_, console, db) = open(app, headers).await?;
    let ready = match console.hours.load(&db, crate::keys::now_ms()).await {
        Ok(()) => console.hours.forget_late_rows(&db).await,
        Err(e) => Err(e),
    };
    if let Err(e) = ready {
        return Err(db_error(&e));
    }
    console.hours.warm(db.clone());
    Ok((console, db))
}

async fn read_only_sqlite(url: &str) -> Result<sqlx::SqlitePool, sqlx::Error> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        // Another connection would see another, empty database.
        return Err(sqlx::Error::Configuration("an in-memory database has no second connection".into()));
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(5));
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(2)
        .after_connect(|_, _| Box::pin(async { crate::ledger::lower_sqlite_workers() }))
        .connect_with(options)
        .await
}

/// A refusal or failure of a console route: `{"error": {"message", "code"}}`.
pub fn api_error(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    let body = json!({"error": {"message": message.into(), "code": code}});
    (status, no_store(), Json(body)).into_response()
}

/// The database failed: the page says so; the details go to the log.
pub fn db_error(e: &sqlx::Error) -> Response {
    tracing::warn!(error = %e, "console: a ledger query failed");
    api_error(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", "The ledger database could not be read.")
}

/// The console's JSON is never cached: it changes, and some of it is private.
pub fn no_store() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]
}

/// A JSON reply that is never cached.
pub fn reply(body: serde_json::Value) -> Response {
    (no_store(), Json(body)).into_response()
}

/// Dollars, exactly, for an amount that may have been summed past 64 bits (saturated).
pub fn usd(nanos: i128) -> String {
    let n = i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX });
    crate::money::NanoUsd(n).to_string()
}

/// Nano-dollars for a chart (a JSON number; exact up to 2^53, about $9 million).
pub fn nanos_i64(nanos: i128) -> i64 {
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}
