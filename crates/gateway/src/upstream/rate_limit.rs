//! What a provider's headers say about its rate limits: how long `Retry-After` asks to wait,
//! and whether a successful reply says the quota is spent.

use std::time::Duration;

/// A rate limit without Retry-After still keeps the deployment out this long.
pub const DEFAULT_RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(1);

/// `retry-after-ms`, else `retry-after` in seconds (an HTTP date counts as one second).
pub fn retry_after(headers: &[(http::HeaderName, http::HeaderValue)]) -> Option<Duration> {
    let get = |name: &str| headers.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.to_str().ok());
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    let v = get("retry-after")?.trim();
    Some(v.parse::<f64>().map_or(Duration::from_secs(1), |s| Duration::from_secs_f64(s.clamp(0.0, 3600.0))))
}

/// Rate-limit headers on a successful reply: with nothing left, how long until the reset.
/// OpenAI-style resets look like `1s`, `6m0s`, `20ms`, `1.5s`.
pub fn exhausted_for(headers: &http::HeaderMap) -> Option<Duration> {
    // Names, not strings: looked up on every reply, a string name is parsed again each time.
    const PAIRS: [(http::HeaderName, http::HeaderName); 2] = [
        (
            http::HeaderName::from_static("x-ratelimit-remaining-requests"),
            http::HeaderName::from_static("x-ratelimit-reset-requests"),
        ),
        (
            http::HeaderName::from_static("x-ratelimit-remaining-tokens"),
            http::HeaderName::from_static("x-ratelimit-reset-tokens"),
        ),
    ];
    let zero = |name| headers.get(name).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "0");
    let reset = |name| headers.get(name).and_then(|v| v.to_str().ok()).and_then(parse_go_duration);
    PAIRS
        .iter()
        .filter(|(remaining, _)| zero(remaining))
        .map(|(_, r)| reset(r).unwrap_or(DEFAULT_RATE_LIMIT_BACKOFF))
        .max()
}

fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = 0.0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_secs_f64(total.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_durations_parse_as_openai_writes_them() {
        assert_eq!(parse_go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("soon"), None);
        let mut h = http::HeaderMap::new();
        h.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
        h.insert("x-ratelimit-reset-requests", "2s".parse().unwrap());
        h.insert("x-ratelimit-remaining-tokens", "1000".parse().unwrap());
        assert_eq!(exhausted_for(&h), Some(Duration::from_secs(2)));
    }

    #[test]
    fn retry_after_prefers_milliseconds() {
        let h = |k: &'static str, v: &str| vec![(http::HeaderName::from_static(k), v.parse().unwrap())];
        assert_eq!(retry_after(&h("retry-after", "7")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&h("retry-after-ms", "150")), Some(Duration::from_millis(150)));
        assert_eq!(retry_after(&h("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")), Some(Duration::from_secs(1)));
        assert_eq!(retry_after(&[]), None);
    }
}
