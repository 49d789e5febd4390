//! Limits and budgets shared by every replica through Redis: one Lua script per admission
//! (count the request in the sliding window, hold its estimated cost against the budget) and
//! one per settlement, so each is a single atomic round trip whichever replica asks.
//!
//! A budget's spend lives in a hash per key and period, seeded by the first replica that needs
//! it with what that replica knows (the ledger's sum at its start plus its own spend since), so
//! a replica restart changes nothing and a Redis that lost its data starts from the ledger again.
//! Each hold is also kept in a sorted set with an expiry, so the holds of a replica killed
//! mid-request are released after [`HOLD_TTL`] instead of keeping the budget reserved.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use super::OnSharedStateError;

/// The longest a request waits for Redis before its limits are counted without it.
pub(super) const REDIS_DEADLINE: Duration = Duration::from_millis(250);
/// After a failure, Redis is left alone this long (requests counted locally meanwhile), so an
/// outage costs one deadline now and then, not one per request.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The largest integer Lua's numbers (doubles) hold exactly.
const LARGEST_EXACT: u64 = (1 << 53) - 1;
/// How long a budget hold outlives a replica that never settled it.
pub(super) const HOLD_TTL: Duration = Duration::from_secs(600);

/// Admission: KEYS window, budget, holds. ARGV now_ms, rpm (0: none), tpm (0: none), tokens,
/// budget limit (-1: none), estimate, seed spend, hold member ('' for none), hold expiry ms,
/// budget TTL s (0: none), spend this replica could not report earlier.
/// Returns {verdict (0 admitted, 1 requests, 2 tokens, 3 budget), requests, tokens,
/// oldest second, spent}. Amounts stay strings into HINCRBY so they are exact as integers.
const ADMIT: &str = r"
local now = tonumber(ARGV[1])
local sec = math.floor(now / 1000)
local rpm, tpm, tokens = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local limit = tonumber(ARGV[5])
local spent = 0
if limit >= 0 then
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('HSET', KEYS[2], 'spent', ARGV[7], 'reserved', 0)
    if tonumber(ARGV[10]) > 0 then redis.call('EXPIRE', KEYS[2], ARGV[10]) end
  elseif ARGV[11] ~= '0' then
    redis.call('HINCRBY', KEYS[2], 'spent', ARGV[11])
  end
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
    redis.call('HINCRBY', KEYS[2], 'reserved', '-' .. string.match(m, ':(%d+)$'))
    redis.call('ZREM', KEYS[3], m)
  end
  spent = tonumber(redis.call('HGET', KEYS[2], 'spent'))
end
local requests, used, oldest = 0, 0, sec
if rpm > 0 or tpm > 0 then
  local fields = redis.call('HGETALL', KEYS[1])
  for i = 1, #fields, 2 do
    local s = tonumber(string.sub(fields[i], 3))
    if s < sec - 60 then
      redis.call('HDEL', KEYS[1], fields[i])
    elseif string.sub(fields[i], 1, 1) == 'r' then
      requests = requests + tonumber(fields[i + 1])
      if s < oldest then oldest = s end
    else
      used = used + tonumber(fields[i + 1])
    end
  end
  if rpm > 0 and requests + 1 > rpm then return {1, requests, used, oldest, spent} end
  if tpm > 0 and used + tokens > tpm then return {2, requests, used, oldest, spent} end
end
if limit >= 0 then
  local estimate = tonumber(ARGV[6])
  local reserved = tonumber(redis.call('HGET', KEYS[2], 'reserved'))
  if spent + reserved + estimate > limit then return {3, requests, used, oldest, spent} end
  if ARGV[8] ~= '' then
    redis.call('HINCRBY', KEYS[2], 'reserved', ARGV[6])
    redis.call('ZADD', KEYS[3], ARGV[9], ARGV[8])
    redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[9]) - now)
  end
end
if rpm > 0 or tpm > 0 then
  redis.call('HINCRBY', KEYS[1], 'r:' .. sec, 1)
  if tokens > 0 then redis.call('HINCRBY', KEYS[1], 't:' .. sec, ARGV[4]) end
  redis.call('EXPIRE', KEYS[1], 62)
  requests = requests + 1
  used = used + tokens
end
return {0, requests, used, oldest, spent}
";

/// Settlement: KEYS budget, holds. ARGV hold member ('' for none), estimate, cost, seed spend
/// (this replica's, the cost included), budget TTL s. Returns the spend after it.
const SETTLE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'spent', ARGV[4], 'reserved', 0)
  if tonumber(ARGV[5]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[5]) end
  return tonumber(ARGV[4])
end
if ARGV[1] ~= '' and redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'reserved', '-' .. ARGV[2])
end
return redis.call('HINCRBY', KEYS[1], 'spent', ARGV[3])
";

static ADMIT_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(ADMIT));
static SETTLE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SETTLE));

/// Redis, and whether it is failing now.
pub(super) struct Shared {
    conn: redis::aio::ConnectionManager,
    pub on_error: OnSharedStateError,
    /// Milliseconds (since `clock`) before which Redis is not asked; 0: healthy.
    failing_until_ms: AtomicU64,
    clock: Instant,
}

/// What one admission asks of Redis.
pub(super) struct AdmitCall<'a> {
    pub subject: &'a str,
    pub now_ms: i64,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub tokens: u64,
    /// Limit, period start and budget TTL (0: none) when the subject has a budget.
    pub budget: Option<(i64, i64, u64)>,
    pub estimate: i64,
    pub seed: i64,
    /// The hold's member in the holds set (its estimate after the last `:`); empty for none.
    pub hold: &'a str,
    pub pending: i64,
}

/// What one settlement tells Redis.
pub(super) struct SettleCall<'a> {
    pub subject: &'a str,
    pub period_start_ms: i64,
    pub hold: &'a str,
    pub estimate: i64,
    pub cost: i64,
    /// This replica's spend for the period, the cost included: the seed if Redis lost it.
    pub seed: i64,
    pub ttl: u64,
}

/// Redis's answer to an admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AdmitReply {
    /// 0 admitted, 1 requests full, 2 tokens full, 3 budget used up.
    pub verdict: i64,
    pub requests: u64,
    pub tokens: u64,
    pub oldest_sec: i64,
    pub spent: i64,
}

fn window_key(subject: &str) -> String {
    // The subject in braces: on a Redis Cluster, all of a subject's keys share one slot.
    format!("switchyard:{{{subject}}}:window")
}

pub(super) fn budget_keys(subject: &str, period_start_ms: i64) -> (String, String) {
    (
        format!("switchyard:{{{subject}}}:budget:{period_start_ms}"),
        format!("switchyard:{{{subject}}}:holds:{period_start_ms}"),
    )
}

impl Shared {
    pub fn open(url: &str, on_error: OnSharedStateError) -> Result<Shared, redis::RedisError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_DEADLINE))
            .set_response_timeout(Some(REDIS_DEADLINE))
            .set_number_of_retries(0);
        let conn = redis::aio::ConnectionManager::new_lazy_with_config(redis::Client::open(url)?, config)?;
        Ok(Shared { conn, on_error, failing_until_ms: AtomicU64::new(0), clock: Instant::now() })
    }

    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    pub fn available(&self) -> bool {
        self.failing_until_ms.load(Ordering::Relaxed) <= self.now_ms()
    }

    fn failed(&self, why: &str) {
        let was_healthy = self.failing_until_ms.load(Ordering::Relaxed) == 0;
        let until = self.now_ms() + REDIS_RETRY_AFTER.as_millis() as u64;
        self.failing_until_ms.store(until.max(1), Ordering::Relaxed);
        metrics::counter!("switchyard_shared_state_errors_total").increment(1);
        if was_healthy {
            let mode = match self.on_error {
                OnSharedStateError::Local => "limiting each replica on its own",
                OnSharedStateError::Deny => "refusing requests of limited keys",
            };
            tracing::warn!(
                error = why,
                "Redis cannot be reached for shared limits and budgets; {mode} until it is back"
            );
        }
    }

    fn recovered(&self) {
        if self.failing_until_ms.swap(0, Ordering::Relaxed) != 0 {
            tracing::info!("Redis is back; limits and budgets are shared again");
        }
    }

    /// Runs `call` within the deadline; None (and Redis marked failing) when it did not answer.
    async fn within_deadline<T>(&self, call: impl std::future::Future<Output = redis::RedisResult<T>>) -> Option<T> {
        match tokio::time::timeout(REDIS_DEADLINE, call).await {
            Ok(Ok(v)) => {
                self.recovered();
                Some(v)
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed("no answer within the deadline");
                None
            }
        }
    }

    /// One round trip: count the request and hold its estimate, for every replica at once.
    pub async fn admit(&self, call: &AdmitCall<'_>) -> Option<AdmitReply> {
        let (limit, period_start, ttl) = call.budget.unwrap_or((-1, 0, 0));
        // A client's `max_tokens` can be any u64 and its estimate any i64: past what the script's
        // numbers hold exactly (and what HINCRBY accepts), the script would fail and take this
        // replica off shared state for everyone. Neither bound changes a decision: no TPM is
        // that large, and an estimate past the limit is refused either way.
        let tokens = call.tokens.min(LARGEST_EXACT);
        let estimate = call.estimate.clamp(0, limit.saturating_add(1).max(0));
        let (budget, holds) = budget_keys(call.subject, period_start);
        let mut invocation = ADMIT_SCRIPT.prepare_invoke();
        invocation
            .key(window_key(call.subject))
            .key(budget)
            .key(holds)
            .arg(call.now_ms)
            .arg(call.rpm.unwrap_or(0))
            .arg(call.tpm.unwrap_or(0))
            .arg(tokens)
            .arg(limit)
            .arg(estimate)
            .arg(call.seed)
            .arg(call.hold)
            .arg(call.now_ms.saturating_add(HOLD_TTL.as_millis() as i64))
            .arg(ttl)
            .arg(call.pending);
        let mut conn = self.conn.clone();
        let reply: Vec<i64> = self.within_deadline(invocation.invoke_async(&mut conn)).await?;
        match reply[..] {
            [verdict, requests, tokens, oldest_sec, spent] => Some(AdmitReply {
                verdict,
                requests: requests.max(0) as u64,
                tokens: tokens.max(0) as u64,
                oldest_sec,
                spent,
            }),
            _ => {
                self.failed("unexpected reply to the admission script");
                None
            }
        }
    }

    /// Releases a hold and adds the real cost; the spend after it, or None when Redis failed.
    pub async fn settle(&self, call: &SettleCall<'_>) -> Option<i64> {
        let (budget, holds) = budget_keys(call.subject, call.period_start_ms);
        let mut invocation = SETTLE_SCRIPT.prepare_invoke();
        invocation.key(budget).key(holds).arg(call.hold).arg(call.estimate).arg(call.cost).arg(call.seed).arg(call.ttl);
        let mut conn = self.conn.clone();
        self.within_deadline(invocation.invoke_async(&mut conn)).await
    }

    /// A key's spend and holds in Redis for the period (None: Redis did not answer; zeros
    /// when no replica has used the budget this period).
    pub async fn budget(&self, subject: &str, period_start_ms: i64) -> Option<(i64, i64)> {
        let (budget, _) = budget_keys(subject, period_start_ms);
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(budget).arg("spent").arg("reserved");
        let (spent, reserved): (Option<i64>, Option<i64>) = self.within_deadline(cmd.query_async(&mut conn)).await?;
        Some((spent.unwrap_or(0), reserved.unwrap_or(0)))
    }
}
