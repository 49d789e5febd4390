//! What a client may ask of the cache: `Cache-Control: no-cache` (do not answer from the
//! cache, but store the new reply), `no-store` (neither), and `x-switchyard-cache-ttl` (seconds,
//! or `30m`, `1h`, `2d`) for a shorter or longer life within the alias's own TTL.

use std::time::Duration;

use http::{HeaderMap, HeaderName};

/// How this request uses the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directive {
    pub lookup: bool,
    pub store: bool,
    /// The client's TTL; None: the alias's.
    pub ttl: Option<Duration>,
}

impl Default for Directive {
    fn default() -> Directive {
        Directive { lookup: true, store: true, ttl: None }
    }
}

impl Directive {
    /// How long a reply stored now lives: the client's TTL, never beyond the alias's.
    pub fn ttl_within(&self, max: Duration) -> Duration {
        self.ttl.map_or(max, |t| t.min(max))
    }

    pub fn from_headers(headers: &HeaderMap) -> Directive {
        let mut d = Directive::default();
        for value in headers.get_all(http::header::CACHE_CONTROL) {
            for token in value.to_str().unwrap_or_default().split(',').map(|t| t.trim().to_ascii_lowercase()) {
                match token.as_str() {
                    "no-cache" => d.lookup = false,
                    "no-store" => (d.lookup, d.store) = (false, false),
                    _ => {}
                }
            }
        }
        d.ttl = headers
            .get(HeaderName::from_static("x-switchyard-cache-ttl"))
            .and_then(|v| v.to_str().ok())
            .and_then(parse_duration);
        d
    }
}

/// `90`, `90s`, `30m`, `1h`, `2d`. None: not a duration.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    let seconds = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3_600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), http::HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn clients_skip_refresh_or_shorten_within_the_alias_ttl() {
        let hour = Duration::from_secs(3600);
        let d = Directive::from_headers(&headers(&[]));
        assert_eq!((d.lookup, d.store, d.ttl_within(hour)), (true, true, hour));
        let d = Directive::from_headers(&headers(&[("cache-control", "no-cache")]));
        assert_eq!((d.lookup, d.store), (false, true));
        let d = Directive::from_headers(&headers(&[("cache-control", "max-age=0, No-Store")]));
        assert_eq!((d.lookup, d.store), (false, false));
        let d = Directive::from_headers(&headers(&[("x-switchyard-cache-ttl", "30m")]));
        assert_eq!(d.ttl_within(hour), Duration::from_secs(1800));
        let d = Directive::from_headers(&headers(&[("x-switchyard-cache-ttl", "7d")]));
        assert_eq!(d.ttl_within(hour), hour, "never beyond the alias's TTL");
        assert_eq!(parse_duration("2x"), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }
}
