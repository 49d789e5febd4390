//! Read-only queries over the ledger for the operator's console: rows of a time range for
//! statistics, a filtered page of recent rows, one request's attempts, the daily rollups of a
//! range and the last minute's use per key and team. Every query is bounded: by an indexed
//! time range, by an index on the key or the request id, or by a cap on the rows one page may
//! examine. Never called on the request path; writes nothing, so it runs on a read-only pool.

use futures_util::TryStreamExt;
use sqlx::Row;

use super::store::COLUMNS;
use super::{Entry, Store};

/// A value bound to a query built at run time.
#[derive(Debug, Clone)]
enum Bind {
    Int(i64),
    Text(String),
}

macro_rules! bound {
    ($sql:expr, $binds:expr) => {{
        let mut q = sqlx::query($sql);
        for b in $binds {
            q = match b {
                Bind::Int(v) => q.bind(*v),
                Bind::Text(s) => q.bind(s.as_str()),
            };
        }
        q
    }};
}

/// What statistics read of one row, borrowed from the database's row (no copies: a 30-day
/// chart reads millions of rows once).
#[derive(Debug, Clone, Default)]
pub struct StatRow<'a> {
    pub at_unix_ms: i64,
    pub key_id: Option<&'a str>,
    pub team: Option<&'a str>,
    pub deployment: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// None: unpriced.
    pub cost_nanos: Option<i64>,
    pub status: i32,
    pub outcome: &'a str,
    pub latency_ms: i64,
    /// None: no first token (a failure, or not measured).
    pub ttft_ms: Option<i64>,
}

const STAT_COLUMNS: &str = "at_unix_ms, key_id, team, deployment, provider, model, input_tokens, output_tokens, \
    cost_nanos, status, outcome, latency_ms, ttft_ms";

macro_rules! stat_row {
    ($r:expr) => {
        StatRow {
            at_unix_ms: $r.try_get(0)?,
            key_id: $r.try_get(1)?,
            team: $r.try_get(2)?,
            deployment: $r.try_get(3)?,
            provider: $r.try_get(4)?,
            model: $r.try_get(5)?,
            input_tokens: $r.try_get(6)?,
            output_tokens: $r.try_get(7)?,
            cost_nanos: $r.try_get(8)?,
            status: $r.try_get(9)?,
            outcome: $r.try_get(10)?,
            latency_ms: $r.try_get(11)?,
            ttft_ms: $r.try_get(12)?,
        }
    };
}

/// One ledger row as the console shows it: its id (the order rows were written in) and what
/// was written.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LedgerRow {
    pub id: i64,
    #[serde(flatten)]
    pub entry: Entry,
}

/// Reads a row selected as `id, {COLUMNS}`: the id, then [`Entry`]'s columns in the order
/// they are written in.
macro_rules! ledger_row {
    ($r:expr) => {
        LedgerRow {
            id: $r.try_get(0)?,
            entry: Entry {
                request_id: $r.try_get(1)?,
                at_unix_ms: $r.try_get(2)?,
                key_id: $r.try_get(3)?,
                team: $r.try_get(4)?,
                alias: $r.try_get(5)?,
                deployment: $r.try_get(6)?,
                provider: $r.try_get(7)?,
                model: $r.try_get(8)?,
                input_tokens: $r.try_get(9)?,
                output_tokens: $r.try_get(10)?,
                cached_tokens: $r.try_get(11)?,
                cache_write_tokens: $r.try_get(12)?,
                reasoning_tokens: $r.try_get(13)?,
                cost_nanos: $r.try_get(14)?,
                status: $r.try_get(15)?,
                outcome: $r.try_get(16)?,
                latency_ms: $r.try_get(17)?,
                ttft_ms: $r.try_get(18)?,
                stream: $r.try_get(19)?,
                cancelled: $r.try_get(20)?,
                cache: $r.try_get(21)?,
                saved_nanos: $r.try_get(22)?,
                attempt: $r.try_get(23)?,
            },
        }
    };
}

/// One day and group of the daily rollups.
#[derive(Debug, Clone, Default)]
pub struct DailyRow {
    pub day_ms: i64,
    pub key_id: Option<String>,
    pub team: Option<String>,
    pub provider: String,
    pub model: String,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_nanos: i64,
}

/// Which rows a page of recent rows holds. Each field narrows; None: any.
#[derive(Debug, Clone, Default)]
pub struct RowFilter {
    pub since_ms: i64,
    pub until_ms: i64,
    pub key_id: Option<String>,
    pub alias: Option<String>,
    pub team: Option<String>,
    pub provider: Option<String>,
    pub status: Option<StatusFilter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Below 400.
    Ok,
    /// 400 and above.
    Error,
    Exact(i32),
}

/// A page of rows, newest first.
#[derive(Debug, Clone, Default)]
pub struct RowPage {
    pub rows: Vec<LedgerRow>,
    /// Where the next page starts (`at_unix_ms`, `id`, exclusive); None: nothing older.
    pub next: Option<(i64, i64)>,
    /// The page stopped at its scan cap with fewer matches than asked for: older matches may
    /// follow from `next`.
    pub scan_capped: bool,
}

impl Store {
    /// Calls `each` with every row whose time is in `[from_ms, to_ms)`, streamed (the index on
    /// the time bounds it).
    pub async fn fold_rows(
        &self,
        from_ms: i64,
        to_ms: i64,
        mut each: impl FnMut(StatRow<'_>),
    ) -> Result<(), sqlx::Error> {
        let sql = format!("SELECT {STAT_COLUMNS} FROM ledger WHERE at_unix_ms >= $1 AND at_unix_ms < $2");
        on_pool!(self, pool => {
            let mut rows = sqlx::query(&sql).bind(from_ms).bind(to_ms).fetch(pool);
            while let Some(r) = rows.try_next().await? {
                each(stat_row!(r));
            }
        });
        Ok(())
    }

    /// The daily rollups of the days in `[from_day_ms, to_day_ms)`.
    pub async fn daily_between(&self, from_day_ms: i64, to_day_ms: i64) -> Result<Vec<DailyRow>, sqlx::Error> {
        let sql = "SELECT day_ms, key_id, team, provider, model, requests, input_tokens, output_tokens, cost_nanos \
                   FROM ledger_daily WHERE day_ms >= $1 AND day_ms < $2";
        let mut out = Vec::new();
        on_pool!(self, pool => {
            let mut rows = sqlx::query(sql).bind(from_day_ms).bind(to_day_ms).fetch(pool);
            while let Some(r) = rows.try_next().await? {
                out.push(DailyRow {
                    day_ms: r.try_get(0)?,
                    key_id: r.try_get(1)?,
                    team: r.try_get(2)?,
                    provider: r.try_get(3)?,
                    model: r.try_get(4)?,
                    requests: r.try_get(5)?,
                    input_tokens: r.try_get(6)?,
                    output_tokens: r.try_get(7)?,
                    cost_nanos: r.try_get(8)?,
                });
            }
        });
        Ok(out)
    }

    /// Days before this (Unix ms) are in the daily rollups; 0: none yet. Reads only.
    pub async fn rolled_up_until(&self) -> Result<i64, sqlx::Error> {
        let sql = "SELECT rolled_until FROM ledger_rollup WHERE id = 1";
        let v: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(sql).fetch_optional(pool).await?);
        Ok(v.unwrap_or(0))
    }

    /// The time of the oldest row still kept per request (the index's first entry).
    pub async fn oldest_row_ms(&self) -> Result<Option<i64>, sqlx::Error> {
        let sql = "SELECT MIN(at_unix_ms) FROM ledger";
        Ok(on_pool!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await?))
    }

    /// The newest row's id (the primary key's last entry); 0 for an empty ledger.
    pub async fn max_row_id(&self) -> Result<i64, sqlx::Error> {
        let sql = "SELECT MAX(id) FROM ledger";
        let v: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await?);
        Ok(v.unwrap_or(0))
    }

    /// The hours (Unix ms of their start) of rows whose id is in `(after_id, up_to_id]`: where
    /// rows written lately belong, however old they are (a spill file imported after an outage).
    /// Bounded by the primary key's range.
    pub async fn hours_written_between(&self, after_id: i64, up_to_id: i64) -> Result<Vec<i64>, sqlx::Error> {
        let sql = "SELECT DISTINCT at_unix_ms / 3600000 FROM ledger WHERE id > $1 AND id <= $2";
        let hours: Vec<i64> =
            on_pool!(self, pool => sqlx::query_scalar(sql).bind(after_id).bind(up_to_id).fetch_all(pool).await?);
        Ok(hours.into_iter().map(|h| h * 3_600_000).collect())
    }

    /// Rows (requests, tokens) per key and per team since `since_ms`: what the last minute used.
    /// Summed here, not by the database: a GROUP BY on the key would lead SQLite to walk the
    /// whole key index instead of the last minute of the time index.
    pub async fn use_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(Option<String>, Option<String>, i64, i64)>, sqlx::Error> {
        let sql = "SELECT key_id, team, input_tokens + output_tokens FROM ledger WHERE at_unix_ms >= $1";
        let mut sums: std::collections::HashMap<(Option<String>, Option<String>), (i64, i64)> =
            std::collections::HashMap::new();
        on_pool!(self, pool => {
            let mut rows = sqlx::query(sql).bind(since_ms).fetch(pool);
            while let Some(r) = rows.try_next().await? {
                let tokens: i64 = r.try_get(2)?;
                let sum = sums.entry((r.try_get(0)?, r.try_get(1)?)).or_default();
                *sum = (sum.0 + 1, sum.1.saturating_add(tokens));
            }
        });
        Ok(sums.into_iter().map(|((key, team), (requests, tokens))| (key, team, requests, tokens)).collect())
    }

    /// Up to `limit` rows matching `filter`, newest first, older than `before` (`at_unix_ms`,
    /// `id`). A key filter uses its index; the other filters look at no more than `scan_cap`
    /// rows of the time range per page, and say so when they stop there.
    pub async fn recent_rows(
        &self,
        filter: &RowFilter,
        before: Option<(i64, i64)>,
        limit: usize,
        scan_cap: usize,
    ) -> Result<RowPage, sqlx::Error> {
        // The cursor's time is also the range's upper bound, so a deep page starts at its place
        // in the index instead of walking down to it.
        let until = before.map_or(filter.until_ms, |(at, _)| filter.until_ms.min(at.saturating_add(1)));
        let mut binds = vec![Bind::Int(filter.since_ms), Bind::Int(until)];
        let mut inner = String::from("at_unix_ms >= $1 AND at_unix_ms < $2");
        let push = |clause: &str, b: Bind, binds: &mut Vec<Bind>| {
            binds.push(b);
            format!(" AND {}", clause.replace('?', &format!("${}", binds.len())))
        };
        if let Some((at, id)) = before {
            inner += &push("(at_unix_ms < ?", Bind::Int(at), &mut binds);
            inner += &push("id < ?)", Bind::Int(id), &mut binds).replacen(" AND", " OR", 1);
        }
        if let Some(k) = &filter.key_id {
            inner += &push("key_id = ?", Bind::Text(k.clone()), &mut binds);
        }
        let inner_binds = binds.len();
        let mut outer = String::new();
        if let Some(a) = &filter.alias {
            outer += &push("alias = ?", Bind::Text(a.clone()), &mut binds);
        }
        if let Some(t) = &filter.team {
            outer += &push("team = ?", Bind::Text(t.clone()), &mut binds);
        }
        if let Some(p) = &filter.provider {
            outer += &push("provider = ?", Bind::Text(p.clone()), &mut binds);
        }
        match filter.status {
            Some(StatusFilter::Ok) => outer += " AND status < 400",
            Some(StatusFilter::Error) => outer += " AND status >= 400",
            Some(StatusFilter::Exact(code)) => outer += &push("status = ?", Bind::Int(i64::from(code)), &mut binds),
            None => {}
        }
        let order = "ORDER BY at_unix_ms DESC, id DESC";
        let wanted = limit + 1;
        let sql = if outer.is_empty() {
            format!("SELECT id, {COLUMNS} FROM ledger WHERE {inner} {order} LIMIT {wanted}")
        } else {
            format!(
                "SELECT id, {COLUMNS} FROM (SELECT id, {COLUMNS} FROM ledger WHERE {inner} {order} LIMIT {scan_cap}) \
                 AS w WHERE 1 = 1{outer} {order} LIMIT {wanted}"
            )
        };
        let mut rows = Vec::new();
        on_pool!(self, pool => {
            let mut stream = bound!(&sql, &binds).fetch(pool);
            while let Some(r) = stream.try_next().await? {
                rows.push(ledger_row!(r));
            }
        });
        if rows.len() > limit {
            rows.truncate(limit);
            let next = rows.last().map(|r| (r.entry.at_unix_ms, r.id));
            return Ok(RowPage { rows, next, scan_capped: false });
        }
        if outer.is_empty() {
            return Ok(RowPage { rows, next: None, scan_capped: false });
        }
        // Fewer matches than asked for: the next page goes on from the last row examined, if
        // the scan stopped at its cap rather than at the end of the range.
        let last = format!(
            "SELECT at_unix_ms, id FROM ledger WHERE {inner} {order} LIMIT 1 OFFSET {}",
            scan_cap.saturating_sub(1)
        );
        let stop: Option<(i64, i64)> = on_pool!(self, pool => {
            match bound!(&last, &binds[..inner_binds]).fetch_optional(pool).await? {
                Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
                None => None,
            }
        });
        Ok(RowPage { rows, next: stop, scan_capped: stop.is_some() })
    }

    /// Every attempt of one request, in order. Numbered attempts come from the unique index
    /// on (request id, attempt); unnumbered rows (from before attempts were numbered) are
    /// looked for only within `near_ms` ± 15 minutes, so no lookup scans the whole ledger.
    pub async fn attempts(&self, request_id: &str, near_ms: Option<i64>) -> Result<Vec<LedgerRow>, sqlx::Error> {
        let numbered =
            format!("SELECT id, {COLUMNS} FROM ledger WHERE request_id = $1 AND attempt > 0 ORDER BY attempt, id");
        let mut rows = Vec::new();
        on_pool!(self, pool => {
            let mut stream = sqlx::query(&numbered).bind(request_id).fetch(pool);
            while let Some(r) = stream.try_next().await? {
                rows.push(ledger_row!(r));
            }
        });
        if let (true, Some(at)) = (rows.is_empty(), near_ms) {
            let window = 15 * 60_000;
            let legacy = format!(
                "SELECT id, {COLUMNS} FROM ledger WHERE at_unix_ms >= $1 AND at_unix_ms <= $2 AND request_id = $3 \
                 ORDER BY at_unix_ms, id"
            );
            on_pool!(self, pool => {
                let mut stream = sqlx::query(&legacy)
                    .bind(at.saturating_sub(window))
                    .bind(at.saturating_add(window))
                    .bind(request_id)
                    .fetch(pool);
                while let Some(r) = stream.try_next().await? {
                    rows.push(ledger_row!(r));
                }
            });
        }
        Ok(rows)
    }
}
