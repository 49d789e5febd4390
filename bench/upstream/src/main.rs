//! A fast fake OpenAI upstream for benchmarking proxies.
//!
//! `POST /v1/chat/completions`:
//! - with `"stream": true` in the request JSON: `text/event-stream` with
//!   `chat.completion.chunk` events (role, `--deltas N` content deltas (6), finish), a
//!   usage chunk (`choices: []`) and `data: [DONE]`. The first event goes out at
//!   once; with `--chunk-delay-ms N` event k is sent N·k ms after the first.
//! - otherwise: a fixed ~660-byte `chat.completion` JSON with usage, after
//!   `--reply-delay-ms N` (0): a slow provider, without the cost of a real one.
//!
//! `POST /v1/messages`: the same answer in Anthropic's Messages format (a message,
//! or with `"stream": true` the Anthropic SSE event sequence, paced the same way),
//! for measuring cross-dialect translation.
//!
//! Also `GET /health` and `GET /v1/models`; anything else is a 404 in
//! OpenAI's error shape. One thread, `TCP_NODELAY` on accepted sockets.
//!
//! Usage: `fake-upstream [--host 127.0.0.1] [--port 9101] [--chunk-delay-ms 0]
//! [--reply-delay-ms 0] [--deltas 6]`

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;
use tokio::time::Sleep;

const COMPLETION: &str = r#"{"id":"chatcmpl-BENCH0000000000000000000000001","object":"chat.completion","created":1767225600,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"The capital of France is Paris, known for its food and the Eiffel Tower.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":42,"completion_tokens":18,"total_tokens":60,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_0123456789"}"#;

const MODELS: &str =
    r#"{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"}]}"#;

const NOT_FOUND: &str = r#"{"error":{"message":"Unknown request URL. Please check the URL and try again.","type":"invalid_request_error","param":null,"code":"unknown_url"}}"#;

const DELTAS: [&str; 6] = ["The", " capital", " of", " France", " is", " Paris."];

/// `n` content deltas: the six words of the answer, then again, as many as asked.
fn deltas(n: usize) -> impl Iterator<Item = &'static str> {
    DELTAS.iter().copied().cycle().take(n)
}

fn sse_events(n: usize) -> Vec<Bytes> {
    let head = r#"{"id":"chatcmpl-BENCH0000000000000000000000002","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0123456789","choices":"#;
    let mut events = Vec::with_capacity(n + 4);
    let chunk = |choices: &str, tail: &str| Bytes::from(format!("data: {head}{choices}{tail}}}\n\n"));
    events.push(chunk(
        r#"[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]"#,
        r#","usage":null"#,
    ));
    for d in deltas(n) {
        events.push(chunk(
            &format!(r#"[{{"index":0,"delta":{{"content":"{d}"}},"logprobs":null,"finish_reason":null}}]"#),
            r#","usage":null"#,
        ));
    }
    events.push(chunk(r#"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]"#, r#","usage":null"#));
    events.push(chunk(
        "[]",
        r#","usage":{"prompt_tokens":42,"completion_tokens":7,"total_tokens":49,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#,
    ));
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

const MESSAGE: &str = r#"{"id":"msg_01BENCH000000000000000001","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[{"type":"text","text":"The capital of France is Paris, known for its food and the Eiffel Tower."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":42,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":18,"service_tier":"standard"}}"#;

fn anthropic_events(n: usize) -> Vec<Bytes> {
    let event = |name: &str, data: String| Bytes::from(format!("event: {name}\ndata: {data}\n\n"));
    let mut events = vec![event(
        "message_start",
        r#"{"type":"message_start","message":{"id":"msg_01BENCH000000000000000002","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":42,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}"#.into(),
    )];
    events.push(event(
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#.into(),
    ));
    for d in deltas(n) {
        events.push(event(
            "content_block_delta",
            format!(r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{d}"}}}}"#),
        ));
    }
    events.push(event("content_block_stop", r#"{"type":"content_block_stop","index":0}"#.into()));
    events.push(event(
        "message_delta",
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}"#.into(),
    ));
    events.push(event("message_stop", r#"{"type":"message_stop"}"#.into()));
    events
}

/// The SSE body: one frame per event, event k due `k * delay` after the first (due times,
/// not sleeps between events: timer lateness does not add up over a stream, so a stream's
/// length is the same for every run and proxy).
struct SseBody {
    events: Arc<Vec<Bytes>>,
    next: usize,
    delay: Duration,
    started: Option<tokio::time::Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if this.next >= this.events.len() {
            return Poll::Ready(None);
        }
        let started = *this.started.get_or_insert_with(tokio::time::Instant::now);
        if this.next > 0 && !this.delay.is_zero() {
            let due = started + this.delay * this.next as u32;
            let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
        }
        let event = this.events[this.next].clone();
        this.next += 1;
        Poll::Ready(Some(Ok(Frame::data(event))))
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.events.len()
    }
}

enum Reply {
    Full(Full<Bytes>),
    Sse(SseBody),
}

impl Body for Reply {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Reply::Full(b) => Pin::new(b).poll_frame(cx),
            Reply::Sse(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Reply::Full(b) => b.is_end_stream(),
            Reply::Sse(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Reply::Full(b) => b.size_hint(),
            Reply::Sse(b) => b.size_hint(),
        }
    }
}

/// True when the JSON body has `"stream"` set to `true` (a byte scan, not a parse:
/// this is a benchmark peer, and the key `"stream_options"` does not match).
fn wants_stream(body: &[u8]) -> bool {
    let key = b"\"stream\"";
    let mut rest = body;
    while let Some(pos) = rest.windows(key.len()).position(|w| w == key) {
        let after = &rest[pos + key.len()..];
        let after = trim_start(after);
        if let Some(after) = after.strip_prefix(b":") {
            return trim_start(after).starts_with(b"true");
        }
        rest = after;
    }
    false
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

struct State {
    completion: Bytes,
    models: Bytes,
    not_found: Bytes,
    events: Arc<Vec<Bytes>>,
    message: Bytes,
    anthropic_events: Arc<Vec<Bytes>>,
    delay: Duration,
    reply_delay: Duration,
}

fn sse(events: &Arc<Vec<Bytes>>, delay: Duration) -> Response<Reply> {
    let mut resp = Response::new(Reply::Sse(SseBody { events: events.clone(), next: 0, delay, started: None, sleep: None }));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn json(status: StatusCode, body: Bytes) -> Response<Reply> {
    let mut resp = Response::new(Reply::Full(Full::new(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Reply>, Infallible> {
    let (parts, body) = req.into_parts();
    // Read the whole request body, as a real upstream would.
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let post = parts.method == Method::POST;
    if post && !state.reply_delay.is_zero() && !wants_stream(&body) {
        tokio::time::sleep(state.reply_delay).await;
    }
    let resp = match (&parts.method, parts.uri.path()) {
        (&Method::POST, "/v1/chat/completions") => {
            if wants_stream(&body) {
                sse(&state.events, state.delay)
            } else {
                json(StatusCode::OK, state.completion.clone())
            }
        }
        (&Method::POST, "/v1/messages") => {
            if wants_stream(&body) {
                sse(&state.anthropic_events, state.delay)
            } else {
                json(StatusCode::OK, state.message.clone())
            }
        }
        (&Method::GET, "/health") => json(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}")),
        (&Method::GET, "/v1/models") => json(StatusCode::OK, state.models.clone()),
        _ => json(StatusCode::NOT_FOUND, state.not_found.clone()),
    };
    Ok(resp)
}

struct Args {
    host: String,
    port: u16,
    chunk_delay_ms: u64,
    reply_delay_ms: u64,
    deltas: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args =
        Args { host: "127.0.0.1".into(), port: 9101, chunk_delay_ms: 0, reply_delay_ms: 0, deltas: DELTAS.len() };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => args.host = value()?,
            "--port" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--chunk-delay-ms" => {
                args.chunk_delay_ms = value()?.parse().map_err(|e| format!("--chunk-delay-ms: {e}"))?
            }
            "--reply-delay-ms" => {
                args.reply_delay_ms = value()?.parse().map_err(|e| format!("--reply-delay-ms: {e}"))?
            }
            "--deltas" => args.deltas = value()?.parse().map_err(|e| format!("--deltas: {e}"))?,
            "-h" | "--help" => {
                return Err("usage: fake-upstream [--host 127.0.0.1] [--port 9101] [--chunk-delay-ms 0] \
                            [--reply-delay-ms 0] [--deltas 6]"
                    .into())
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fake-upstream: runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(serve(args)) {
        eprintln!("fake-upstream: {e}");
        std::process::exit(1);
    }
}

async fn serve(args: Args) -> std::io::Result<()> {
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("address: {e}")))?;
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(4096)?;

    let state = Arc::new(State {
        completion: Bytes::from_static(COMPLETION.as_bytes()),
        models: Bytes::from_static(MODELS.as_bytes()),
        not_found: Bytes::from_static(NOT_FOUND.as_bytes()),
        events: Arc::new(sse_events(args.deltas)),
        message: Bytes::from_static(MESSAGE.as_bytes()),
        anthropic_events: Arc::new(anthropic_events(args.deltas)),
        delay: Duration::from_millis(args.chunk_delay_ms),
        reply_delay: Duration::from_millis(args.reply_delay_ms),
    });
    println!(
        "fake-upstream listening on http://{} (chunk delay {} ms, {} deltas, reply delay {} ms, completion {} bytes)",
        listener.local_addr()?,
        args.chunk_delay_ms,
        args.deltas,
        args.reply_delay_ms,
        COMPLETION.len()
    );

    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("fake-upstream: accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        // A standalone benchmark peer: the gateway's task-tracking rule (clippy.toml) is not for it.
        #[allow(clippy::disallowed_methods)]
        tokio::task::spawn(async move {
            let svc = service_fn(move |req| handle(state.clone(), req));
            let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}
