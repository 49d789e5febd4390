//! Request-body logging, off unless an alias (`log_bodies = true`) or a key (`"log_bodies":
//! true`) turns it on: the prompt and the completion of such a chat request are kept in the
//! `request_bodies` table for the console's request page (admin sessions only), with
//! secret-looking strings redacted ([`redact`]) and each cut at [`CAP`] bytes.
//!
//! The request path only copies: the decoded prompt as JSON, and the reply's bytes as they
//! pass to the client (up to the cap). Extracting the completion's text, redacting and writing
//! happen in one background task per database, fed by a bounded channel that never waits (a
//! full channel drops the bodies, never the request).

use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::response::Response;
use bytes::Bytes;
use futures_util::Stream;
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use crate::app::App;
use crate::keys::Caller;
use crate::ledger::{on_pool, Store};

/// The most bytes of a prompt or a completion kept.
pub const CAP: usize = 32 * 1024;
/// Bodies waiting to be written; past this, new ones are dropped.
const QUEUE: usize = 1_024;

/// One request's bodies, on their way to the table.
#[derive(Debug)]
struct Logged {
    request_id: String,
    at_unix_ms: i64,
    because: &'static str,
    prompt: String,
    /// The reply as sent to the client (JSON or SSE), up to [`CAP`] bytes.
    reply: Vec<u8>,
}

/// The writer's end of the channel, one per database (see [`super::Console`]).
#[derive(Debug, Default)]
pub struct BodyLog {
    tx: OnceLock<mpsc::Sender<Logged>>,
}

/// Why a request's bodies are kept: its alias or its key asked. None: they are not.
pub fn wanted(app: &App, caller: &Caller, model: &str) -> Option<&'static str> {
    if caller.key().is_some_and(|k| k.log_bodies) {
        return Some("key");
    }
    app.aliases.get(model).filter(|a| a.policy.log_bodies).map(|_| "alias")
}

/// A request whose bodies are kept: made before the pipeline runs, with the prompt.
pub struct Pending {
    tx: mpsc::Sender<Logged>,
    logged: Logged,
}

impl Pending {
    /// The prompt: the decoded request's system text, messages and tools, as JSON.
    pub fn new(app: &App, request_id: &str, because: &'static str, req: &dialect::ChatRequest) -> Pending {
        let prompt = serde_json::json!({"system": req.system, "messages": req.messages, "tools": req.tools});
        let mut prompt = prompt.to_string();
        cut(&mut prompt, CAP * 2); // redaction may shorten it; the final cap is the writer's
        let tx = super::console_for(app).bodies.sender(app);
        Pending {
            tx,
            logged: Logged {
                request_id: request_id.to_owned(),
                at_unix_ms: crate::keys::now_ms(),
                because,
                prompt,
                reply: Vec::new(),
            },
        }
    }

    /// The response, passed on unchanged, its bytes copied (up to the cap) as they go.
    pub async fn tap(self, resp: Response) -> Response {
        let (parts, body) = resp.into_parts();
        if body.size_hint().exact().is_some_and(|n| n <= CAP as u64 * 4) {
            // A whole reply is already in memory: read it at once, keep its length header.
            let bytes = match body.collect().await {
                Ok(c) => c.to_bytes(),
                Err(_) => Bytes::new(),
            };
            let mut tap = Tap { inner: None, pending: Some(self) };
            tap.copy(&bytes);
            drop(tap);
            return Response::from_parts(parts, Body::from(bytes));
        }
        let tap = Tap { inner: Some(body.into_data_stream()), pending: Some(self) };
        Response::from_parts(parts, Body::from_stream(tap))
    }
}

/// The reply's body stream, copied as it passes; the copy is sent when it ends or is dropped
/// (a client that went away).
struct Tap {
    inner: Option<axum::body::BodyDataStream>,
    pending: Option<Pending>,
}

impl Tap {
    fn copy(&mut self, bytes: &[u8]) {
        if let Some(p) = &mut self.pending {
            let room = CAP.saturating_sub(p.logged.reply.len());
            p.logged.reply.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }
}

impl Stream for Tap {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        let next = Pin::new(inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(bytes))) = &next {
            let bytes = bytes.clone();
            self.copy(&bytes);
        }
        next
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            if p.tx.try_send(p.logged).is_err() {
                tracing::warn!("console: request bodies dropped; their writer is behind or gone");
            }
        }
    }
}

impl BodyLog {
    /// The channel to this database's writer, started on first use.
    fn sender(&self, app: &App) -> mpsc::Sender<Logged> {
        self.tx
            .get_or_init(|| {
                let (tx, rx) = mpsc::channel(QUEUE);
                if let Some(store) = app.store.clone() {
                    let keep_ms = i64::try_from(app.config.ledger_retention.as_millis()).unwrap_or(i64::MAX);
                    #[expect(
                        clippy::disallowed_methods,
                        reason = "the one body writer per database, for the process's life"
                    )]
                    tokio::spawn(write_loop(store, rx, keep_ms));
                }
                tx
            })
            .clone()
    }
}

/// Writes bodies as they come, one short statement each; rows older than the ledger's
/// retention are deleted once an hour.
async fn write_loop(store: Store, mut rx: mpsc::Receiver<Logged>, keep_ms: i64) {
    let mut last_sweep = 0i64;
    let insert = "INSERT INTO request_bodies (request_id, at_unix_ms, because, prompt, completion) \
                  VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
    while let Some(l) = rx.recv().await {
        let mut prompt = redact(&l.prompt);
        cut(&mut prompt, CAP);
        let mut completion = redact(&completion_text(&l.reply));
        cut(&mut completion, CAP);
        let written = on_pool!(&store, pool => sqlx::query(insert)
            .bind(&l.request_id)
            .bind(l.at_unix_ms)
            .bind(l.because)
            .bind(&prompt)
            .bind(&completion)
            .execute(pool)
            .await
            .map(|_| ()));
        if let Err(e) = written {
            tracing::warn!(error = %e, "console: request bodies not written");
        }
        if l.at_unix_ms - last_sweep > 3_600_000 {
            last_sweep = l.at_unix_ms;
            let sql = "DELETE FROM request_bodies WHERE at_unix_ms < $1";
            let cutoff = l.at_unix_ms.saturating_sub(keep_ms);
            if let Err(e) = on_pool!(&store, pool => sqlx::query(sql).bind(cutoff).execute(pool).await.map(|_| ())) {
                tracing::warn!(error = %e, "console: old request bodies not deleted; will retry");
            }
        }
    }
}

/// A request's kept bodies, if any: (why kept, prompt, completion).
pub async fn read(store: &Store, request_id: &str) -> Option<(String, String, String)> {
    let sql = "SELECT because, prompt, completion FROM request_bodies WHERE request_id = $1";
    // No table: body logging was never on here.
    on_pool!(store, pool => sqlx::query_as(sql).bind(request_id).fetch_optional(pool).await.ok().flatten())
}

/// Cuts `s` to at most `cap` bytes, on a character boundary, saying so.
fn cut(s: &mut String, cap: usize) {
    if s.len() <= cap {
        return;
    }
    let mark = "…[truncated]";
    let mut end = cap.saturating_sub(mark.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push_str(mark);
}

/// The completion's text from the reply as sent: a JSON reply's message text, or a stream's
/// text deltas (OpenAI and Anthropic shapes); the raw reply when it is neither.
fn completion_text(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(reply) {
        let mut out = String::new();
        for choice in v["choices"].as_array().into_iter().flatten() {
            out += choice["message"]["content"].as_str().unwrap_or_default();
            if let Some(calls) = choice["message"].get("tool_calls") {
                out += &calls.to_string();
            }
        }
        for block in v["content"].as_array().into_iter().flatten() {
            out += block["text"].as_str().unwrap_or_default();
        }
        return if out.is_empty() { text.into_owned() } else { out };
    }
    let mut out = String::new();
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data:") else { continue };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) else { continue };
        out += v["choices"][0]["delta"]["content"].as_str().unwrap_or_default();
        out += v["delta"]["text"].as_str().unwrap_or_default();
    }
    if out.is_empty() {
        text.into_owned()
    } else {
        out
    }
}

/// Prefixes of tokens that are secrets whatever follows them.
const SECRET_PREFIXES: &[&str] =
    &["sk-", "sk_live_", "sk_test_", "ghp_", "gho_", "ghs_", "github_pat_", "glpat-", "xoxb-", "xoxp-", "AIza"];
/// Names whose `=` or `:` value is a secret.
const SECRET_NAMES: &[&str] = &["password", "secret", "api_key", "apikey", "access_token", "token"];

fn token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/' | b'+' | b'=')
}

/// `text` with secret-looking strings replaced by `[redacted]`: API keys by their prefixes
/// (`sk-…`, `ghp_…`, `AIza…`), `Bearer <token>`, AWS access key ids (`AKIA…`, `ASIA…`), and the
/// values of `password=`, `secret:`, `api_key=` and the like.
pub fn redact(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let at_word_start = i == 0 || !token_char(b[i - 1]);
        let mut secret: Option<(usize, usize)> = None; // (start of secret, end)
        if at_word_start {
            for p in SECRET_PREFIXES {
                if b[i..].starts_with(p.as_bytes()) {
                    let end = run_end(b, i + p.len());
                    if end - i >= p.len() + 16 {
                        secret = Some((i, end));
                    }
                }
            }
            let rest = &b[i..];
            if (rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA"))
                && rest.len() >= 20
                && rest[4..20].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                secret = Some((i, i + 20));
            }
            if rest.len() > 7 && rest[..7].eq_ignore_ascii_case(b"bearer ") {
                let end = run_end(b, i + 7);
                if end - (i + 7) >= 8 {
                    secret = Some((i + 7, end));
                }
            }
            for name in SECRET_NAMES {
                let n = name.len();
                if rest.len() > n && rest[..n].eq_ignore_ascii_case(name.as_bytes()) {
                    // `name` then optional quote, spaces, `=` or `:`, spaces, optional quote.
                    let mut j = i + n;
                    j += usize::from(b.get(j).is_some_and(|&c| c == b'"' || c == b'\''));
                    while b.get(j) == Some(&b' ') {
                        j += 1;
                    }
                    if matches!(b.get(j), Some(b'=' | b':')) {
                        j += 1;
                        while b.get(j) == Some(&b' ') {
                            j += 1;
                        }
                        j += usize::from(b.get(j).is_some_and(|&c| c == b'"' || c == b'\''));
                        let end = run_end(b, j);
                        if end - j >= 6 {
                            secret = Some((j, end));
                        }
                    }
                }
            }
        }
        match secret {
            Some((start, end)) => {
                out.push_str(&text[copied..start]);
                out.push_str("[redacted]");
                copied = end;
                i = end;
            }
            None => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Where a run of token characters starting at `from` ends.
fn run_end(b: &[u8], from: usize) -> usize {
    let mut end = from;
    while end < b.len() && token_char(b[end]) {
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_text_is_kept() {
        let cases = [
            ("my key is sk-proj-abcdefghijklmnopqrstuvwx ok", "my key is [redacted] ok"),
            ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload", "Authorization: Bearer [redacted]"),
            ("aws AKIAIOSFODNN7EXAMPLE and", "aws [redacted] and"),
            ("password=hunter2hunter2 next", "password=[redacted] next"),
            ("{\"api_key\": \"abcdef123456\"}", "{\"api_key\": \"[redacted]\"}"),
            ("ghp_0123456789abcdefghij0123 done", "[redacted] done"),
            ("sk-short and task-abcdefghijklmnopqrstuv", "sk-short and task-abcdefghijklmnopqrstuv"),
            ("no secrets here, just a token of thanks", "no secrets here, just a token of thanks"),
            ("é sk-ant-api03-ÄÖÜabcdefghijklmnopqr", "é sk-ant-api03-ÄÖÜabcdefghijklmnopqr"),
            ("", ""),
        ];
        for (text, want) in cases {
            assert_eq!(redact(text), want, "{text}");
        }
    }

    #[test]
    fn bodies_are_cut_on_a_character_boundary() {
        let mut s = "ä".repeat(20_000);
        cut(&mut s, CAP);
        assert!(s.len() <= CAP && s.ends_with("…[truncated]"));
        let mut short = "abc".to_owned();
        cut(&mut short, CAP);
        assert_eq!(short, "abc");
    }

    #[test]
    fn the_completion_is_read_from_json_and_streams() {
        let openai = br#"{"choices":[{"message":{"role":"assistant","content":"Hello"}}]}"#;
        assert_eq!(completion_text(openai), "Hello");
        let anthropic = br#"{"content":[{"type":"text","text":"Hi"}]}"#;
        assert_eq!(completion_text(anthropic), "Hi");
        let sse = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\ndata: [DONE]\n\n";
        assert_eq!(completion_text(sse.as_bytes()), "ab");
        let messages = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n";
        assert_eq!(completion_text(messages.as_bytes()), "x");
        assert_eq!(completion_text(b"not json"), "not json");
    }
}
