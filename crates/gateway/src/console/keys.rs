//! `/ui/api/keys`: virtual keys a page at a time, with each key's budget use this period (spent
//! and held for requests still running) and its requests and tokens in the last minute, and the
//! teams with theirs; creating, editing and revoking a key. Changes are the admin API's own
//! handlers called with the master key's authority, which an admin session holds: the console
//! checks nothing the admin API does not, and the audit log records the change as the admin
//! API's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::{api_error, db_error, reply, usd};
use crate::app::App;
use crate::http::admin;

/// Keys per page unless asked otherwise, and at most.
const PAGE: usize = 50;
const PAGE_MAX: usize = 200;

#[derive(serde::Deserialize)]
pub struct Params {
    /// Skip this many keys (the list is the operator's own, in memory: a few thousand at most).
    offset: Option<usize>,
    limit: Option<usize>,
    /// Part of a name, id or team.
    q: Option<String>,
    /// `1`: revoked keys too.
    revoked: Option<String>,
}

pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap, Query(p): Query<Params>) -> Response {
    let (session, _, db) = match super::open(&app, &headers).await {
        Ok(opened) => opened,
        Err(r) => return r,
    };
    let store = db.read;
    let mut keys = match crate::keys::KeyStore(store.clone()).all().await {
        Ok(k) => k,
        Err(e) => return db_error(&e),
    };
    let now = crate::keys::now_ms();
    let mut used: HashMap<String, (i64, i64)> = HashMap::new();
    let mut team_used: HashMap<String, (i64, i64)> = HashMap::new();
    match store.use_since(now - 60_000).await {
        Ok(rows) => {
            for (key, team, requests, tokens) in rows {
                if let Some(k) = key {
                    let u = used.entry(k).or_default();
                    *u = (u.0 + requests, u.1 + tokens);
                }
                if let Some(t) = team {
                    let u = team_used.entry(t).or_default();
                    *u = (u.0 + requests, u.1 + tokens);
                }
            }
        }
        Err(e) => return db_error(&e),
    }
    let mut teams: BTreeMap<String, (usize, Option<u32>, Option<u64>)> =
        app.config.teams.iter().map(|(name, t)| (name.clone(), (0, t.rpm, t.tpm))).collect();
    for k in keys.iter().filter(|k| !k.revoked) {
        if let Some(t) = &k.team {
            teams.entry(t.clone()).or_default().0 += 1;
        }
    }
    let needle = p.q.as_deref().map(str::to_lowercase).filter(|q| !q.is_empty());
    let with_revoked = p.revoked.as_deref() == Some("1");
    keys.retain(|k| {
        let matches = |s: &str| needle.as_ref().is_none_or(|n| s.to_lowercase().contains(n));
        (with_revoked || !k.revoked) && (matches(&k.name) || matches(&k.id) || k.team.as_deref().is_some_and(matches))
    });
    keys.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then_with(|| a.id.cmp(&b.id)));
    let total = keys.len();
    let offset = p.offset.unwrap_or(0).min(total);
    let limit = p.limit.unwrap_or(PAGE).clamp(1, PAGE_MAX);
    let mut page = Vec::new();
    for k in keys.iter().skip(offset).take(limit) {
        let mut v = serde_json::to_value(k).unwrap_or_default();
        let budget = match (k.budget_nanos, k.budget_period) {
            (Some(limit), Some(period)) => {
                let (spent, reserved) = app.limiter.budget_use(&k.id, period, now).await;
                json!({"limit_usd": usd(limit.into()), "limit_nanos": limit, "spent_usd": usd(spent.into()),
                       "spent_nanos": spent, "reserved_usd": usd(reserved.into()), "reserved_nanos": reserved,
                       "period": period, "period_start_ms": period.start_ms(now)})
            }
            _ => Value::Null,
        };
        v["budget"] = budget;
        let (requests, tokens) = used.get(&k.id).copied().unwrap_or_default();
        v["last_minute"] = json!({"requests": requests, "tokens": tokens});
        page.push(v);
    }
    let teams: Vec<Value> = teams
        .into_iter()
        .map(|(name, (keys, rpm, tpm))| {
            let (requests, tokens) = team_used.get(&name).copied().unwrap_or_default();
            json!({"name": name, "keys": keys, "rpm": rpm, "tpm": tpm,
                   "last_minute": {"requests": requests, "tokens": tokens}})
        })
        .collect();
    let next = (offset + limit < total).then_some(offset + limit);
    reply(json!({"keys": page, "total": total, "offset": offset, "next_offset": next, "teams": teams,
                 "can_edit": session.role == super::session::Role::Admin}))
}

/// Headers that carry the master key to the admin API's handler, and the body's own type and
/// length. Only for an admin session, which exists only while a master key is configured.
fn as_master(app: &App, headers: &HeaderMap) -> Option<HeaderMap> {
    let master = app.config.master_key.as_ref()?;
    let mut h = HeaderMap::new();
    h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {}", master.expose())).ok()?);
    for name in [header::CONTENT_TYPE, header::CONTENT_LENGTH] {
        if let Some(v) = headers.get(&name) {
            h.insert(name, v.clone());
        }
    }
    Some(h)
}

fn no_master() -> Response {
    api_error(StatusCode::FORBIDDEN, "no_master_key", "Key management needs a master key.")
}

/// `POST /ui/api/keys`: the admin API's `POST /admin/keys` (the secret is in this reply only).
pub async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    if let Err(r) = super::session::admin(&app, &headers).await {
        return r.into_response();
    }
    let Some(h) = as_master(&app, &headers) else { return no_master() };
    no_cache(admin::create_key(State(app), h, body).await)
}

/// `PATCH /ui/api/keys/{id}`: the admin API's `PATCH /admin/keys/{id}`.
pub async fn edit(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>, body: Body) -> Response {
    if let Err(r) = super::session::admin(&app, &headers).await {
        return r.into_response();
    }
    let Some(h) = as_master(&app, &headers) else { return no_master() };
    no_cache(admin::edit_key(State(app), h, Path(id), body).await)
}

/// `DELETE /ui/api/keys/{id}`: the admin API's `DELETE /admin/keys/{id}`.
pub async fn revoke(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = super::session::admin(&app, &headers).await {
        return r.into_response();
    }
    let Some(h) = as_master(&app, &headers) else { return no_master() };
    no_cache(admin::revoke_key(State(app), h, Path(id)).await)
}

fn no_cache(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
