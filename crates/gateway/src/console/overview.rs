//! `GET /ui/api/overview?window=1h|24h|7d|30d`: requests, errors, spend, tokens and latency
//! quantiles over time, and spend by model, provider, key and team (totals and stacked over
//! time). The last hour is read live by the minute; longer windows are made of hourly slices
//! ([`super::hours`]), and for whole days already rolled up, requests, tokens and spend come
//! from the ledger's daily rollups, which keep them after the rows themselves are deleted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::hours::Hours;
use super::stats::{slices, Dim, Slice, DAY_MS, HOUR_MS, MINUTE_MS};
use super::{api_error, db_error, nanos_i64, reply, usd, Db};
use crate::app::App;
use crate::ledger::Store;

/// Groups drawn apart in a stacked chart; the rest are "other".
const STACKED: usize = 6;
/// Rows per breakdown table.
const TABLE_ROWS: usize = 100;

#[derive(serde::Deserialize)]
pub struct Params {
    window: Option<String>,
}

pub async fn overview(State(app): State<Arc<App>>, headers: HeaderMap, Query(p): Query<Params>) -> Response {
    let window = p.window.as_deref().unwrap_or("24h");
    let (step, count) = match window {
        "1h" => (MINUTE_MS, 60),
        "24h" => (HOUR_MS, 24),
        "7d" => (DAY_MS, 7),
        "30d" => (DAY_MS, 30),
        _ => return api_error(StatusCode::BAD_REQUEST, "invalid_window", "`window` must be 1h, 24h, 7d or 30d."),
    };
    let (console, db) = match super::open_charts(&app, &headers).await {
        Ok(opened) => opened,
        Err(r) => return r,
    };
    let now = crate::keys::now_ms();
    let end = (now.div_euclid(step) + 1) * step;
    let start = end - count * step;
    let deadline = Instant::now() + super::hours::READ_BUDGET;
    let built = match window {
        "1h" => slices(&db.read, start, end, step).await.map(|s| (s.into_iter().map(Arc::new).collect(), 0)),
        "24h" => console.hours.span(&db, start, end, now, deadline).await,
        _ => days(&console.hours, &db, start, end, now, deadline).await,
    };
    let (series, pending) = match built {
        Ok(b) => b,
        Err(e) => return db_error(&e),
    };
    let names = key_names(&db.read).await;
    reply(render(window, start, step, &series, pending, &names))
}

/// Daily slices: hours merged (newest first, while the deadline lasts), spend from the
/// rollups for days already rolled up.
async fn days(
    kept: &Hours,
    db: &Db,
    start: i64,
    end: i64,
    now: i64,
    deadline: Instant,
) -> Result<(Vec<Arc<Slice>>, usize), sqlx::Error> {
    let n = usize::try_from((end - start) / DAY_MS).unwrap_or(0);
    let mut out = vec![Slice::default(); n];
    let mut pending = 0;
    for (i, day) in out.iter_mut().enumerate().rev() {
        let from = start + i as i64 * DAY_MS;
        let (hours, p) = kept.span(db, from, from + DAY_MS, now, deadline).await?;
        pending += p;
        for h in &hours {
            day.merge(h);
        }
    }
    let rolled = db.read.rolled_up_until().await?.min(end);
    if rolled > start {
        let mut by_day: HashMap<i64, Vec<crate::ledger::DailyRow>> = HashMap::new();
        for r in db.read.daily_between(start, rolled).await? {
            by_day.entry(r.day_ms).or_default().push(r);
        }
        for (i, day) in out.iter_mut().enumerate() {
            let from = start + i as i64 * DAY_MS;
            if from + DAY_MS <= rolled {
                day.spend_from_rollups(by_day.get(&from).map_or(&[][..], Vec::as_slice));
            }
        }
    }
    Ok((out.into_iter().map(Arc::new).collect(), pending))
}

/// Key ids to names, for the key breakdown.
async fn key_names(store: &Store) -> HashMap<String, String> {
    match crate::keys::KeyStore(store.clone()).all().await {
        Ok(keys) => keys.into_iter().map(|k| (k.id, k.name)).collect(),
        Err(_) => HashMap::new(),
    }
}

fn quantiles(h: &super::stats::Hist) -> Value {
    if h.count() == 0 {
        return Value::Null;
    }
    json!({"p50": h.quantile(0.5), "p95": h.quantile(0.95), "p99": h.quantile(0.99)})
}

fn render(
    window: &str,
    start: i64,
    step: i64,
    series: &[Arc<Slice>],
    pending: usize,
    names: &HashMap<String, String>,
) -> Value {
    let mut total = Slice::default();
    for s in series {
        total.merge(s);
    }
    let points: Vec<Value> = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "t": start + i as i64 * step,
                "requests": s.requests,
                "errors": s.errors,
                "error_rate": s.error_rate(),
                "cost_nanos": nanos_i64(s.cost_nanos),
                "input_tokens": s.input_tokens,
                "output_tokens": s.output_tokens,
                "latency_ms": quantiles(&s.latency),
                "ttft_ms": quantiles(&s.ttft),
            })
        })
        .collect();
    let mut breakdown = serde_json::Map::new();
    let mut stacked = serde_json::Map::new();
    for (d, dim) in Dim::ALL.iter().enumerate() {
        let mut groups: Vec<(&String, &super::stats::Group)> = total.by[d].iter().collect();
        groups.sort_by(|a, b| {
            b.1.cost_nanos.cmp(&a.1.cost_nanos).then(b.1.requests.cmp(&a.1.requests)).then(a.0.cmp(b.0))
        });
        let label = |g: &str| if *dim == Dim::Key { names.get(g).cloned() } else { None };
        let rows: Vec<Value> = groups
            .iter()
            .take(TABLE_ROWS)
            .map(|(g, v)| {
                json!({"group": g, "label": label(g), "requests": v.requests, "tokens": v.tokens,
                       "cost_nanos": nanos_i64(v.cost_nanos), "cost_usd": usd(v.cost_nanos)})
            })
            .collect();
        breakdown.insert(dim.as_str().into(), json!({"rows": rows, "groups": groups.len()}));
        let top: Vec<&String> = groups.iter().take(STACKED).map(|(g, _)| *g).collect();
        let values: Vec<Vec<i64>> = series
            .iter()
            .map(|s| {
                let mut row: Vec<i64> =
                    top.iter().map(|g| s.by[d].get(*g).map_or(0, |v| nanos_i64(v.cost_nanos))).collect();
                let shown: i128 = top.iter().map(|g| s.by[d].get(*g).map_or(0, |v| v.cost_nanos)).sum();
                row.push(nanos_i64(s.cost_nanos - shown));
                row
            })
            .collect();
        let labels: Vec<Value> = top.iter().map(|g| json!(label(g).unwrap_or_else(|| (*g).clone()))).collect();
        stacked.insert(dim.as_str().into(), json!({"groups": labels, "values": values}));
    }
    json!({
        "window": window,
        "start_ms": start,
        "step_ms": step,
        "pending_hours": pending,
        "totals": {
            "requests": total.requests,
            "errors": total.errors,
            "error_rate": total.error_rate(),
            "cost_usd": usd(total.cost_nanos),
            "cost_nanos": nanos_i64(total.cost_nanos),
            "unpriced": total.unpriced,
            "input_tokens": total.input_tokens,
            "output_tokens": total.output_tokens,
            "latency_ms": quantiles(&total.latency),
            "ttft_ms": quantiles(&total.ttft),
        },
        "series": points,
        "breakdown": breakdown,
        "stacked": stacked,
    })
}
