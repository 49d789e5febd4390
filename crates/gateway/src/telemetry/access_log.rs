//! The request log: one line per finished request, formatted on the request's thread and
//! appended to an in-memory buffer (one of a few, by thread, so threads do not contend); a
//! thread of its own writes the buffers out every 50 ms, so the request path never makes a
//! write call and never wakes another thread, and under load thousands of lines share one
//! write. A buffer that grows past its bound is written by the thread that fills it. Until
//! [`install`] runs (in-process test gateways), lines go through `tracing` instead.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Buffers, so that request threads rarely share one.
const SHARDS: usize = 8;
/// A buffer this large is written at once by the thread that filled it.
const FLUSH_AT_BYTES: usize = 256 * 1024;
/// How often the writer thread writes what is buffered.
const EVERY: Duration = Duration::from_millis(50);

struct AccessLog {
    shards: [Mutex<String>; SHARDS],
    json: bool,
}

static LOG: OnceLock<AccessLog> = OnceLock::new();

impl AccessLog {
    fn shard(&self) -> &Mutex<String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
        }
        &self.shards[SHARD.with(|s| *s)]
    }

    /// Writes every buffer out.
    fn drain(&self) {
        let mut out = std::io::stderr().lock();
        for shard in &self.shards {
            let text = std::mem::take(&mut *shard.lock().unwrap_or_else(|e| e.into_inner()));
            if !text.is_empty() {
                let _ = out.write_all(text.as_bytes());
            }
        }
        let _ = out.flush();
    }
}

/// Starts the writer thread; lines are written to stderr, as text or (`json`) one JSON object a
/// line, like the rest of the log.
pub fn install(json: bool) {
    let log = AccessLog { shards: std::array::from_fn(|_| Mutex::new(String::new())), json };
    if LOG.set(log).is_err() {
        return;
    }
    let _ = std::thread::Builder::new().name("switchyard-log".into()).spawn(|| {
        crate::background::lower_this_thread();
        loop {
            std::thread::sleep(EVERY);
            if let Some(log) = LOG.get() {
                log.drain();
            }
        }
    });
}

/// Writes out every line buffered so far: before the process exits.
pub fn flush() {
    if let Some(log) = LOG.get() {
        log.drain();
    }
}

/// One request's line, by name and value; values are configured names, enums and numbers.
pub(super) struct Line<'a> {
    pub fields: &'a [(&'static str, Value<'a>)],
}

pub(super) enum Value<'a> {
    Str(&'a str),
    Int(u64),
    Bool(bool),
    None,
}

/// Buffers the line; false when the request log is not installed (the caller logs through
/// `tracing`).
pub(super) fn write(line: &Line<'_>) -> bool {
    let Some(log) = LOG.get() else { return false };
    let now = SystemTime::now();
    let full = {
        let mut buffer = log.shard().lock().unwrap_or_else(|e| e.into_inner());
        if log.json {
            json_line(&mut buffer, line, now);
        } else {
            text_line(&mut buffer, line, now);
        }
        (buffer.len() >= FLUSH_AT_BYTES).then(|| std::mem::take(&mut *buffer))
    };
    if let Some(full) = full {
        let _ = std::io::stderr().lock().write_all(full.as_bytes());
    }
    true
}

const MESSAGE: &str = "request finished";
const TARGET: &str = "gateway::telemetry";

/// Appends the line to `s`; numbers by `itoa`, which `write!` is several times slower than.
fn text_line(s: &mut String, line: &Line<'_>, now: SystemTime) {
    timestamp(s, now);
    s.push_str("  INFO ");
    s.push_str(TARGET);
    s.push_str(": ");
    s.push_str(MESSAGE);
    let mut number = itoa::Buffer::new();
    for (name, value) in line.fields {
        let value = match value {
            Value::Str(v) => v,
            Value::Int(n) => number.format(*n),
            Value::Bool(b) => {
                if *b {
                    "true"
                } else {
                    "false"
                }
            }
            Value::None => continue,
        };
        s.push(' ');
        s.push_str(name);
        s.push('=');
        s.push_str(value);
    }
    s.push('\n');
}

fn json_line(s: &mut String, line: &Line<'_>, now: SystemTime) {
    s.push_str("{\"timestamp\":\"");
    timestamp(s, now);
    let _ = write!(s, "\",\"level\":\"INFO\",\"fields\":{{\"message\":\"{MESSAGE}\"");
    for (name, value) in line.fields {
        match value {
            Value::Str(v) => {
                let quoted = serde_json::to_string(v).unwrap_or_else(|_| "\"\"".into());
                let _ = write!(s, ",\"{name}\":{quoted}");
            }
            Value::Int(n) => {
                let _ = write!(s, ",\"{name}\":{n}");
            }
            Value::Bool(b) => {
                let _ = write!(s, ",\"{name}\":{b}");
            }
            Value::None => {}
        }
    }
    let _ = writeln!(s, "}},\"target\":\"{TARGET}\"}}");
}

/// `2026-11-30T17:51:33.123456Z`: RFC 3339 in UTC, as the rest of the log writes it.
fn timestamp(out: &mut String, now: SystemTime) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let mut digits = |n: u64, width: usize, after: char| {
        let mut buffer = itoa::Buffer::new();
        let text = buffer.format(n);
        for _ in text.len()..width {
            out.push('0');
        }
        out.push_str(text);
        out.push(after);
    };
    digits(year.max(0) as u64, 4, '-');
    digits(u64::from(month), 2, '-');
    digits(u64::from(day), 2, 'T');
    digits(rest / 3_600, 2, ':');
    digits(rest % 3_600 / 60, 2, ':');
    digits(rest % 60, 2, '.');
    digits(u64::from(since.subsec_micros()), 6, 'Z');
}

/// The calendar date of a count of days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let mut s = String::new();
        timestamp(&mut s, UNIX_EPOCH + Duration::from_micros(1_764_524_493_123_456));
        assert_eq!(s, "2025-11-30T17:41:33.123456Z");
        s.clear();
        timestamp(&mut s, UNIX_EPOCH + Duration::from_secs(951_782_400)); // a leap day
        assert_eq!(s, "2000-02-29T00:00:00.000000Z");
        s.clear();
        timestamp(&mut s, UNIX_EPOCH);
        assert_eq!(s, "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn lines_in_text_and_json() {
        let fields = [
            ("request_id", Value::Str("req_1")),
            ("alias", Value::Str("fa\"st")),
            ("status", Value::Int(200)),
            ("stream", Value::Bool(false)),
            ("ttft_ms", Value::None),
        ];
        let line = Line { fields: &fields };
        let mut text = String::new();
        text_line(&mut text, &line, SystemTime::now());
        assert!(
            text.ends_with(
                "  INFO gateway::telemetry: request finished request_id=req_1 alias=fa\"st status=200 stream=false\n"
            ),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(
            {
                let mut json = String::new();
                json_line(&mut json, &line, SystemTime::now());
                json
            }
            .trim_end(),
        )
        .unwrap();
        assert_eq!(json["fields"]["alias"], "fa\"st");
        assert_eq!(json["fields"]["status"], 200);
        assert_eq!(json["fields"]["message"], "request finished");
        assert!(json["fields"].get("ttft_ms").is_none());
        assert_eq!(json["level"], "INFO");
    }
}
