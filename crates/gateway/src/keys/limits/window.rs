//! Requests and tokens per minute counted in one-second buckets over a sliding window, so a
//! limit holds over *any* 60 seconds — no double burst at a minute's boundary, as fixed windows
//! allow. The window spans the current second and the 60 before it: a request counts for between
//! 60 and 61 seconds, a second's worth of caution at most. Redis keeps the same buckets (see
//! `shared.rs`) when replicas share limits.

use std::collections::VecDeque;

/// Seconds before the current one that still count.
pub(super) const SPAN_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    sec: i64,
    requests: u64,
    tokens: u64,
}

/// One subject's buckets, oldest first (at most 61).
#[derive(Debug, Default)]
pub(super) struct Window {
    buckets: VecDeque<Bucket>,
}

/// What the window held when a request was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counted {
    /// Requests in the window, this one included when it was admitted.
    pub requests: u64,
    /// Tokens in the window, this request's included when it was admitted.
    pub tokens: u64,
    /// The oldest second with a request still counted: the window frees a request when it
    /// leaves, [`SPAN_SECS`] + 1 seconds later.
    pub oldest_sec: i64,
}

/// Why a window refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Full {
    Requests,
    Tokens,
}

impl Window {
    /// Counts one request of `tokens` unless it would take the window past `rpm` requests or
    /// `tpm` tokens (None: no such limit), in which case nothing is counted.
    pub fn admit(&mut self, now_ms: i64, tokens: u64, rpm: Option<u32>, tpm: Option<u64>) -> (Counted, Option<Full>) {
        let sec = now_ms.div_euclid(1000);
        while self.buckets.front().is_some_and(|b| b.sec < sec - SPAN_SECS) {
            self.buckets.pop_front();
        }
        let requests: u64 = self.buckets.iter().map(|b| b.requests).sum();
        let used: u64 = self.buckets.iter().fold(0u64, |sum, b| sum.saturating_add(b.tokens));
        let oldest_sec = self.buckets.iter().find(|b| b.requests > 0).map_or(sec, |b| b.sec);
        let counted = Counted { requests, tokens: used, oldest_sec };
        if rpm.is_some_and(|rpm| requests + 1 > u64::from(rpm)) {
            return (counted, Some(Full::Requests));
        }
        if tpm.is_some_and(|tpm| used.saturating_add(tokens) > tpm) {
            return (counted, Some(Full::Tokens));
        }
        match self.buckets.back_mut() {
            Some(b) if b.sec == sec => {
                b.requests += 1;
                b.tokens = b.tokens.saturating_add(tokens);
            }
            _ => self.buckets.push_back(Bucket { sec, requests: 1, tokens }),
        }
        (Counted { requests: requests + 1, tokens: used.saturating_add(tokens), oldest_sec }, None)
    }

    /// Takes back a request counted at `now_ms` (refused afterwards for another reason).
    pub fn uncount(&mut self, now_ms: i64, tokens: u64) {
        let sec = now_ms.div_euclid(1000);
        if let Some(b) = self.buckets.iter_mut().rev().find(|b| b.sec == sec) {
            b.requests = b.requests.saturating_sub(1);
            b.tokens = b.tokens.saturating_sub(tokens);
        }
    }

    /// True when nothing in it counts any more at `now_ms` (the subject can be forgotten).
    pub fn is_idle(&self, now_ms: i64) -> bool {
        self.buckets.back().is_none_or(|b| b.sec < now_ms.div_euclid(1000) - SPAN_SECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_holds_over_any_sixty_seconds_not_per_calendar_minute() {
        let mut w = Window::default();
        // 60 requests late in one minute…
        for i in 0..60 {
            assert_eq!(w.admit(59_500 + i, 0, Some(60), None).1, None, "request {i}");
        }
        assert_eq!(w.admit(59_900, 0, Some(60), None).1, Some(Full::Requests));
        // …are still counted just after the minute turns (a fixed window would admit 60 more).
        assert_eq!(w.admit(60_100, 0, Some(60), None).1, Some(Full::Requests));
        assert_eq!(w.admit(119_900, 0, Some(60), None).1, Some(Full::Requests));
        // 61 seconds after their second began, they have left the window.
        let (counted, full) = w.admit(120_000, 0, Some(60), None);
        assert_eq!(full, None);
        assert_eq!(counted.requests, 1);
    }

    #[test]
    fn tokens_refuse_without_counting_and_report_the_oldest_second() {
        let mut w = Window::default();
        assert_eq!(w.admit(1_000, 600, None, Some(1_000)).1, None);
        assert_eq!(w.admit(5_000, 300, None, Some(1_000)).1, None);
        let (counted, full) = w.admit(6_000, 200, None, Some(1_000));
        assert_eq!(full, Some(Full::Tokens));
        assert_eq!((counted.requests, counted.tokens, counted.oldest_sec), (2, 900, 1));
        // The refusal counted nothing: 100 tokens still fit.
        assert_eq!(w.admit(6_000, 100, None, Some(1_000)).1, None);
        assert!(!w.is_idle(61_999));
        assert!(w.is_idle(67_000));
    }
}
