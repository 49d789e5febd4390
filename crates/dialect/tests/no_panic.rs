//! Property tests for every decoder that reads untrusted bytes — client requests, provider
//! replies, error bodies, SSE and AWS event-stream framing, each dialect's stream decoder — and
//! for the encoders that write what they decoded: on any input they return a value or an error,
//! never panic, never overflow the stack, never allocate without bound.
//!
//! Inputs are random bytes, and near-valid ones grown from realistic seeds (the fixtures, sample
//! requests and error bodies): byte edits; truncation at each kind of position (structural
//! characters, inside strings, numbers, escapes and multi-byte characters); a wrong-typed value,
//! a huge or odd number, invalid UTF-8, a duplicate key or 10k-deep nesting in place of any one
//! field; SSE re-rendered with mixed CR/LF/CRLF line ends, comments and extra fields and split
//! anywhere; event-stream messages with corrupted lengths, checksums and headers; stream events
//! dropped, repeated, swapped or mutated.
//!
//! Each property runs `PROPTEST_CASES` cases (a default sized for `cargo test` in debug);
//! `scripts/fuzz-long.sh` runs them in release with many more and sums the `fuzz:` lines each
//! property prints when done.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use dialect::framing::eventstream::{encode_event_frame, encode_exception_frame, EventStreamParser};
use dialect::framing::{Framing, SseEvent, SseParser};
use dialect::{Dialect, Frame, Ingress, ResponseMeta, StreamEvent};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};

const DIALECTS: [Dialect; 6] = [
    Dialect::OpenaiChat,
    Dialect::OpenaiResponses,
    Dialect::Anthropic,
    Dialect::AnthropicVertex,
    Dialect::Bedrock,
    Dialect::Gemini,
];
const INGRESSES: [Dialect; 3] = [Dialect::OpenaiChat, Dialect::OpenaiResponses, Dialect::Anthropic];

/// Cases per property when `PROPTEST_CASES` is unset: the whole suite stays near 10 s in a
/// debug build on two cores.
const DEFAULT_CASES: u32 = 600;

/// Cases per property: `PROPTEST_CASES`, or `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Inputs handed to the decoders so far, across all properties.
static INPUTS: AtomicU64 = AtomicU64::new(0);

/// Counts one case of `property`; after the last one, prints how many ran for the fuzz script.
fn tally(property: &str, counter: &AtomicU64, of: u32) {
    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
    if n == u64::from(of) {
        eprintln!("fuzz: {property}: {n} cases (inputs decoded so far: {})", INPUTS.load(Ordering::Relaxed));
    }
}

// ---------- seeds ----------

struct Seeds {
    /// Every seed's bytes: fixtures, requests, error bodies.
    all: Vec<Vec<u8>>,
    /// Whole SSE streams, as events.
    sse: Vec<Vec<SseEvent>>,
    /// Event-stream messages of each Bedrock stream: (event type, payload, is an exception).
    eventstreams: Vec<Vec<(String, Vec<u8>, bool)>>,
}

fn requests() -> Vec<Value> {
    vec![
        json!({"model": "m", "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}}, "stream": true,
            "stream_options": {"include_usage": true}, "response_format": {"type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": true}}, "n": 2, "stop": ["a"],
            "max_completion_tokens": 10, "reasoning_effort": "low", "logprobs": true, "top_logprobs": 2,
            "temperature": 0.5, "top_p": 1, "seed": 7, "user": "u", "presence_penalty": 0, "frequency_penalty": 0}),
        json!({"model": "m", "max_tokens": 100, "system": [{"type": "text", "text": "s",
            "cache_control": {"type": "ephemeral"}}], "thinking": {"type": "enabled", "budget_tokens": 2000},
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "t", "signature": "sig"},
                {"type": "redacted_thinking", "data": "r"},
                {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
                    {"type": "text", "text": "ok"}], "is_error": false},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}, {"type": "web_search_20250305", "name": "w"}],
            "tool_choice": {"type": "any"}, "stop_sequences": ["x"], "stream": true, "top_k": 5,
            "metadata": {"user_id": "u"}, "output_config": {"effort": "low"}}),
        json!({"model": "e", "input": ["a", "b"], "encoding_format": "base64", "dimensions": 8}),
        json!({"model": "e", "input": [[1, 2], [3]]}),
    ]
}

fn error_bodies() -> Vec<Value> {
    vec![
        json!({"error": {"message": "m", "type": "invalid_request_error", "param": "p", "code": "c"}}),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "r"}),
        json!({"error": {"code": 429, "message": "q", "status": "RESOURCE_EXHAUSTED", "details": []}}),
        json!([{"error": {"code": 400, "message": "b", "status": "INVALID_ARGUMENT"}}]),
        json!({"message": "m", "__type": "com.amazon#ValidationException:http://x"}),
        json!({"Message": "m", "code": "ThrottlingException"}),
        json!({"error": "plain", "detail": "d"}),
    ]
}

fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut all = Vec::new();
        let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("upstream")) {
                    all.push(std::fs::read(path).unwrap());
                }
            }
        }
        all.sort();
        all.extend(requests().iter().chain(&error_bodies()).map(|v| v.to_string().into_bytes()));
        let mut sse = Vec::new();
        let mut eventstreams = Vec::new();
        for bytes in &all {
            if serde_json::from_slice::<Value>(bytes).is_ok() {
                continue;
            }
            if let Ok(messages) = EventStreamParser::new().feed(bytes) {
                if !messages.is_empty() {
                    eventstreams.push(
                        messages
                            .into_iter()
                            .map(|m| {
                                let exception = m.message_type.as_deref() == Some("exception");
                                let name = if exception { m.exception_type } else { m.event_type };
                                (name.unwrap_or_default(), m.payload.to_vec(), exception)
                            })
                            .collect(),
                    );
                    continue;
                }
            }
            let mut p = SseParser::new();
            let mut events = p.feed(bytes).unwrap();
            events.extend(p.finish());
            if !events.is_empty() {
                sse.push(events);
            }
        }
        assert!(sse.len() >= 5 && !eventstreams.is_empty(), "seeds went missing");
        Seeds { all, sse, eventstreams }
    })
}

// ---------- running every decoder (and the encoders behind it) ----------

/// Writes `events` through both client stream encoders.
fn reencode(events: &[StreamEvent]) {
    for d in INGRESSES {
        for include_usage in [false, true] {
            let mut enc = d.ingress().unwrap().stream_encoder(&ResponseMeta { include_usage, ..Default::default() });
            let mut out = Vec::new();
            for e in events {
                enc.encode(e, &mut out);
            }
            enc.finish(&mut out);
        }
    }
}

/// Every whole-body decoder over `input`; what decodes is encoded again for every peer.
fn decode_bodies(input: &[u8]) {
    decode_requests(input);
    decode_replies(input);
}

/// Both request decoders over `input`; what decodes is encoded again for every upstream.
fn decode_requests(input: &[u8]) {
    INPUTS.fetch_add(1, Ordering::Relaxed);
    for d in INGRESSES {
        let ingress = d.ingress().unwrap();
        if let Ok(req) = ingress.decode_request(input) {
            for egress in DIALECTS {
                let _ = egress.egress().encode_request(&req, "m", req.stream);
                let _ = egress.egress().path(&req.model, dialect::Operation::Chat { stream: req.stream });
            }
        }
        if let Ok(req) = ingress.decode_embedding_request(input) {
            for egress in DIALECTS {
                let _ = egress.egress().encode_embedding_request(&req, "amazon.titan-embed-text-v2:0");
                let _ = egress.egress().encode_embedding_request(&req, "cohere.embed-v4");
            }
        }
    }
}

/// Every reply and error decoder over `input`; what decodes is written again for every client.
fn decode_replies(input: &[u8]) {
    for d in DIALECTS {
        let egress = d.egress();
        if let Ok(resp) = egress.decode_response(input) {
            for client in INGRESSES {
                let _ = client.ingress().unwrap().encode_response(&resp);
            }
        }
        if let Ok(resp) = egress.decode_embedding_response(input) {
            let _ = dialect::openai::OpenAi.encode_embedding_response(&resp);
        }
        for status in [400u16, 429, 529] {
            let body = egress.decode_error(http::StatusCode::from_u16(status).unwrap(), input);
            let mut err =
                dialect::ClientFacingError::new(dialect::ErrorKind::from_status(body_status(status)), body.message);
            err.upstream_type = body.error_type;
            err.code = body.code;
            err.param = body.param;
            for client in INGRESSES {
                let (_, out) = client.ingress().unwrap().encode_error(&err);
                assert!(out.len() < 8192, "an error body of {} bytes", out.len());
            }
        }
    }
}

fn body_status(status: u16) -> http::StatusCode {
    http::StatusCode::from_u16(status).unwrap()
}

/// Feeds `input` through a framing in the pieces `cuts` gives, to every decoder of that framing.
fn decode_stream(framing: Framing, input: &[u8], cuts: &[usize]) {
    let mut deframer = framing.deframer();
    let mut decoders: Vec<_> = DIALECTS
        .iter()
        .filter(|d| d.egress().framing() == framing)
        .map(|d| (d.egress().stream_decoder(), Vec::new()))
        .collect();
    let mut feed = |frame: Frame| {
        for (dec, events) in &mut decoders {
            if let Ok(ev) = dec.feed(&frame) {
                events.extend(ev);
            }
        }
    };
    let mut rest = input;
    for &cut in cuts {
        let (chunk, tail) = rest.split_at(cut.min(rest.len()));
        if deframer.feed_with(chunk, &mut feed).is_err() {
            break;
        }
        rest = tail;
    }
    let _ = deframer.feed_with(rest, &mut feed);
    if let Ok(Some(frame)) = deframer.finish() {
        feed(frame);
    }
    for (dec, events) in &mut decoders {
        if let Ok(ev) = dec.finish() {
            events.extend(ev);
        }
        reencode(events);
    }
}

/// Runs every decoder over `input`; only a panic (or an abort) can fail.
fn decode_everything(input: &[u8], cuts: &[usize]) {
    decode_bodies(input);
    decode_stream(Framing::Sse, input, cuts);
    decode_stream(Framing::EventStream, input, cuts);
}

/// Decoded SSE events fed straight to every SSE decoder, and what they give re-encoded.
fn decode_sse_events(events: &[SseEvent]) {
    INPUTS.fetch_add(1, Ordering::Relaxed);
    for d in DIALECTS.iter().filter(|d| d.egress().framing() == Framing::Sse) {
        let mut dec = d.egress().stream_decoder();
        let mut out = Vec::new();
        for e in events {
            if let Ok(ev) = dec.feed(&Frame::Sse(e.clone())) {
                out.extend(ev);
            }
        }
        if let Ok(ev) = dec.finish() {
            out.extend(ev);
        }
        reencode(&out);
    }
}

// ---------- near-valid JSON ----------

/// Values that are the wrong type almost anywhere.
fn wrong_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(""),
        json!(-1),
        json!(0),
        json!(1e308),
        json!([]),
        json!({}),
        json!(true),
        json!([null, 0, "x"]),
        json!({"type": "unknown_kind"}),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(u32::MAX),
        json!("\u{0}\u{fffd}"),
        json!([[{"type": "text"}]]),
    ]
}

/// Numbers at and past the edges of every integer and float type a decoder may read.
const NUMBERS: &[&[u8]] = &[
    b"18446744073709551616",
    b"18446744073709551615",
    b"-9223372036854775809",
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"-0",
    b"-1",
    b"0.5",
    b"4294967295",
    b"4294967296",
    b"2147483647",
    b"2147483648",
    b"1000000000",
    b"65536",
    b"9007199254740993",
    b"123456789012345678901234567890",
];

/// Raw JSON texts serde_json will not write itself: invalid UTF-8 and bad escapes inside
/// strings, duplicate keys, broken tokens (and, through [`NUMBERS`], odd numbers).
const RAW: &[&[u8]] = &[
    b"18446744073709551616",
    b"1e400",
    b"-1",
    b"4294967295",
    b"\"\xff\xfe\"",
    b"\"a\xc3(\"",
    b"\"\xed\xa0\x80\"",
    b"\"\xc0\xaf\"",
    b"\"\xf4\x90\x80\x80\"",
    b"\"\\ud800\"",
    b"\"\\udc00x\"",
    b"\"\\u00\"",
    b"\"\\x41\"",
    b"\"a\x00b\"",
    b"{\"type\":\"text\",\"type\":\"image\"}",
    b"{\"a\":1,\"a\":[1,2]}",
    b"[",
    b"{",
    b"\"",
    b"nul",
    b"truex",
    b"01",
    b"1.",
    b".5",
    b"+1",
    b"NaN",
    b"Infinity",
    b"[1,]",
    b"{\"a\":1,}",
    b"{\"a\" 1}",
];

/// `[[[…]]]` or `{"a":{"a":…}}`, `depth` deep.
fn nested(depth: usize, objects: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(depth * 6);
    for _ in 0..depth {
        out.extend_from_slice(if objects { b"{\"a\":" } else { b"[" });
    }
    out.push(b'1');
    for _ in 0..depth {
        out.push(if objects { b'}' } else { b']' });
    }
    out
}

/// How many nodes of `v` (itself included) `pick` selects.
fn count_nodes(v: &Value, pick: fn(&Value) -> bool) -> usize {
    usize::from(pick(v))
        + match v {
            Value::Array(a) => a.iter().map(|c| count_nodes(c, pick)).sum(),
            Value::Object(m) => m.values().map(|c| count_nodes(c, pick)).sum(),
            _ => 0,
        }
}

/// The `n`th node `pick` selects, in preorder.
fn nth_node<'a>(v: &'a mut Value, n: &mut usize, pick: fn(&Value) -> bool) -> Option<&'a mut Value> {
    if pick(v) {
        if *n == 0 {
            return Some(v);
        }
        *n -= 1;
    }
    match v {
        Value::Array(a) => a.iter_mut().find_map(|c| nth_node(c, n, pick)),
        Value::Object(m) => m.values_mut().find_map(|c| nth_node(c, n, pick)),
        _ => None,
    }
}

fn any_node(_: &Value) -> bool {
    true
}

/// One change to a document: a JSON value, or raw bytes spliced where the node was.
#[derive(Debug, Clone)]
enum Edit {
    Value(Value),
    Raw(Vec<u8>),
    /// Raw bytes (an odd number) in place of a number: indices, counts, token limits.
    Number(Vec<u8>),
    /// The node (an object) written with its first key repeated, holding these raw bytes.
    DuplicateKey(Vec<u8>),
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    let values = wrong_values();
    prop_oneof![
        4 => any::<Index>().prop_map(move |i| Edit::Value(values[i.index(values.len())].clone())),
        4 => any::<Index>().prop_map(|i| Edit::Raw(RAW[i.index(RAW.len())].to_vec())),
        1 => (1usize..12_000, any::<bool>()).prop_map(|(d, o)| Edit::Raw(nested(d, o))),
        1 => any::<Index>().prop_map(|i| Edit::DuplicateKey(RAW[i.index(RAW.len())].to_vec())),
        3 => any::<Index>().prop_map(|i| Edit::Number(NUMBERS[i.index(NUMBERS.len())].to_vec())),
    ]
}

/// `doc` with `edits` applied, each at the node whose preorder number is `at` (modulo the
/// node count), written out as bytes.
fn apply_edits(doc: &Value, edits: &[(usize, Edit)]) -> Vec<u8> {
    let mut doc = doc.clone();
    let mut raws: Vec<(String, Vec<u8>)> = Vec::new();
    for (k, (at, edit)) in edits.iter().enumerate() {
        let pick = if matches!(edit, Edit::Number(_)) { Value::is_number } else { any_node };
        let count = count_nodes(&doc, pick);
        if count == 0 {
            continue;
        }
        let Some(node) = nth_node(&mut doc, &mut (at % count), pick) else { continue };
        let marker = format!("\u{1}raw{k}\u{1}");
        match edit {
            Edit::Value(v) => *node = v.clone(),
            Edit::Raw(raw) | Edit::Number(raw) => {
                raws.push((serde_json::to_string(&marker).unwrap(), raw.clone()));
                *node = Value::String(marker);
            }
            Edit::DuplicateKey(raw) => {
                let Some(key) = node.as_object().and_then(|m| m.keys().next().cloned()) else { continue };
                let mut text = node.to_string().into_bytes();
                text.pop();
                text.extend_from_slice(format!(",{}:", serde_json::to_string(&key).unwrap()).as_bytes());
                text.extend_from_slice(raw);
                text.push(b'}');
                raws.push((serde_json::to_string(&marker).unwrap(), text));
                *node = Value::String(marker);
            }
        }
    }
    let mut out = doc.to_string().into_bytes();
    for (marker, raw) in raws {
        if let Some(at) = find(&out, marker.as_bytes()) {
            out.splice(at..at + marker.len(), raw);
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The JSON documents inside a seed: the seed itself, or each event of an SSE or event stream.
fn docs_of(seed: &[u8]) -> Vec<Value> {
    if let Ok(v) = serde_json::from_slice::<Value>(seed) {
        return vec![v];
    }
    let mut p = SseParser::new();
    let mut events = p.feed(seed).unwrap_or_default();
    events.extend(p.finish());
    let mut out: Vec<Value> = events.iter().filter_map(|e| serde_json::from_str(&e.data).ok()).collect();
    out.extend(
        EventStreamParser::new()
            .feed(seed)
            .unwrap_or_default()
            .iter()
            .filter_map(|m| serde_json::from_slice(&m.payload).ok()),
    );
    out
}

/// Where a truncation may land: each class is a kind of position in a JSON text.
fn truncation_points(bytes: &[u8], class: u8) -> Vec<usize> {
    let mut in_string = false;
    let mut escaped = false;
    let mut out = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        let hit = match class % 8 {
            0 => matches!(b, b'{' | b'}' | b'[' | b']'),
            1 => matches!(b, b',' | b':'),
            2 => b == b'"',
            3 => in_string && b.is_ascii_alphanumeric(),
            4 => !in_string && (b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'e' | b'E' | b'+')),
            5 => escaped || b == b'\\',
            6 => b >= 0x80,
            _ => b == b'\n' || b == b'\r',
        };
        if hit {
            out.push(i);
            out.push(i + 1);
        }
        if escaped {
            escaped = false;
        } else if in_string && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            in_string = !in_string;
        }
    }
    out
}

// ---------- SSE ----------

/// Renders events as SSE with the given line end per line (cycled): 0 LF, 1 CR, 2 CRLF; `extras`
/// adds comments, `id`/`retry` lines and a missing space after the colon.
fn render_sse(events: &[SseEvent], ends: &[u8], extras: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line = 0usize;
    let mut push = |out: &mut Vec<u8>, text: &[u8]| {
        let mut end = ends.get(line % ends.len().max(1)).copied().unwrap_or(0) % 3;
        // After a bare CR, an empty line ended by LF would read as one CRLF: end it by CR.
        if text.is_empty() && end == 0 && out.last() == Some(&b'\r') {
            end = 1;
        }
        out.extend_from_slice(text);
        out.extend_from_slice(match end {
            0 => b"\n",
            1 => b"\r",
            _ => b"\r\n",
        });
        line += 1;
    };
    for (i, e) in events.iter().enumerate() {
        let extra = extras.get(i % extras.len().max(1)).copied().unwrap_or(0);
        if extra % 5 == 1 {
            push(&mut out, b": keep-alive");
        }
        if extra % 7 == 2 {
            push(&mut out, b"id: 42");
            push(&mut out, b"retry: 1000");
        }
        if let Some(name) = &e.event {
            push(&mut out, format!("event: {name}").as_bytes());
        }
        for data in e.data.split('\n') {
            let sep = if extra % 3 == 0 { "" } else { " " };
            // Without the space, a value starting with one would lose it: keep it then.
            let sep = if data.starts_with(' ') { " " } else { sep };
            push(&mut out, format!("data:{sep}{data}").as_bytes());
        }
        push(&mut out, b"");
    }
    out
}

fn parse_sse(wire: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    let mut rest = wire;
    for &cut in cuts {
        let (chunk, tail) = rest.split_at(cut.min(rest.len()));
        out.extend(p.feed(chunk).unwrap());
        rest = tail;
    }
    out.extend(p.feed(rest).unwrap());
    out.extend(p.finish());
    out
}

// ---------- event stream ----------

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Rewrites both checksums of a frame so a corruption reaches the parts after them.
fn fix_crcs(frame: &mut [u8]) {
    if frame.len() < 16 {
        return;
    }
    let prelude = crc32(&frame[..8]);
    frame[8..12].copy_from_slice(&prelude.to_be_bytes());
    let n = frame.len();
    let message = crc32(&frame[..n - 4]);
    frame[n - 4..].copy_from_slice(&message.to_be_bytes());
}

/// One corruption of an event-stream frame, steered by `kind` and `value`.
fn corrupt_frame(frame: &mut Vec<u8>, kind: u8, at: Index, value: u32) {
    if frame.len() < 16 {
        return;
    }
    let n = frame.len();
    match kind % 10 {
        0 => frame[0..4].copy_from_slice(&value.to_be_bytes()),
        1 => {
            let total = u32::try_from(n).unwrap().wrapping_add(value % 64).wrapping_sub(32);
            frame[0..4].copy_from_slice(&total.to_be_bytes());
            fix_crcs(frame);
        }
        2 => {
            frame[4..8].copy_from_slice(&(value % 1024).to_be_bytes());
            fix_crcs(frame);
        }
        3 => frame[8 + at.index(4)] ^= 1 << (value % 8),
        4 => frame[n - 4 + at.index(4)] ^= 1 << (value % 8),
        // A header byte (name length, name, type, value length, value), checksums made good.
        5 => {
            let headers = u32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]) as usize;
            if headers > 0 && 12 + headers <= n - 4 {
                frame[12 + at.index(headers)] = value as u8;
                fix_crcs(frame);
            }
        }
        // A payload byte, checksums made good: the decoder sees broken JSON.
        6 => {
            let headers = u32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]) as usize;
            let payload = n.saturating_sub(16 + headers);
            if payload > 0 {
                frame[12 + headers + at.index(payload)] = value as u8;
                fix_crcs(frame);
            }
        }
        7 => frame.truncate(at.index(n)),
        8 => {
            let i = at.index(n + 1);
            frame.splice(i..i, value.to_be_bytes());
        }
        _ => frame[at.index(n)] ^= value as u8 | 1,
    }
}

/// A Bedrock stream's messages as frames, each rebuilt from its type and payload.
fn frames_of(messages: &[(String, Vec<u8>, bool)]) -> Vec<Vec<u8>> {
    messages
        .iter()
        .map(
            |(name, payload, exception)| {
                if *exception {
                    encode_exception_frame(name, payload)
                } else {
                    encode_event_frame(name, payload)
                }
            },
        )
        .collect()
}

// ---------- properties ----------

fn config(default: u32) -> ProptestConfig {
    ProptestConfig { cases: cases(default), ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config(DEFAULT_CASES))]

    #[test]
    fn random_bytes(input in proptest::collection::vec(any::<u8>(), 0..1024), cuts in proptest::collection::vec(0usize..64, 0..8)) {
        static N: AtomicU64 = AtomicU64::new(0);
        decode_everything(&input, &cuts);
        tally("random_bytes", &N, cases(DEFAULT_CASES));
    }

    #[test]
    fn realistic_payloads_with_byte_edits(
        seed in any::<Index>(),
        edits in proptest::collection::vec((any::<Index>(), any::<u8>()), 0..6),
        truncate in any::<Option<Index>>(),
        cuts in proptest::collection::vec(0usize..256, 0..8),
    ) {
        static N: AtomicU64 = AtomicU64::new(0);
        let seeds = &seeds().all;
        let mut input = seeds[seed.index(seeds.len())].clone();
        for (at, byte) in edits {
            if !input.is_empty() {
                let i = at.index(input.len());
                input[i] = byte;
            }
        }
        if let Some(t) = truncate {
            input.truncate(t.index(input.len() + 1));
        }
        decode_everything(&input, &cuts);
        tally("realistic_payloads_with_byte_edits", &N, cases(DEFAULT_CASES));
    }

    /// Each JSON document of a seed (a body, or one event of a stream) with some of its nodes
    /// replaced: wrong types, odd numbers, invalid UTF-8, duplicate keys, deep nesting.
    #[test]
    fn realistic_json_with_replaced_parts(
        seed in any::<Index>(),
        doc in any::<Index>(),
        edits in proptest::collection::vec((any::<usize>(), edit_strategy()), 1..4),
    ) {
        static N: AtomicU64 = AtomicU64::new(0);
        let seeds = &seeds().all;
        let docs = docs_of(&seeds[seed.index(seeds.len())]);
        if !docs.is_empty() {
            let doc = &docs[doc.index(docs.len())];
            let bytes = apply_edits(doc, &edits);
            decode_everything(&bytes, &[]);
            let name = doc.get("type").and_then(Value::as_str).unwrap_or("message_delta");
            let mut sse = format!("event: {name}\ndata: ").into_bytes();
            sse.extend_from_slice(&bytes);
            sse.extend_from_slice(b"\n\n");
            decode_stream(Framing::Sse, &sse, &[3, 17]);
            let frame = encode_event_frame(name, &bytes);
            decode_stream(Framing::EventStream, &frame, &[5]);
        }
        tally("realistic_json_with_replaced_parts", &N, cases(DEFAULT_CASES));
    }

    /// A seed cut short at a position of one kind: a bracket, a comma or colon, a quote, inside
    /// a string, inside a number, at an escape, inside a multi-byte character, at a line end.
    #[test]
    fn truncated_at_every_position_class(seed in any::<Index>(), class in any::<u8>(), which in any::<Index>()) {
        static N: AtomicU64 = AtomicU64::new(0);
        let seeds = &seeds().all;
        let seed = &seeds[seed.index(seeds.len())];
        let points = truncation_points(seed, class);
        if !points.is_empty() {
            let at = points[which.index(points.len())].min(seed.len());
            decode_everything(&seed[..at], &[at / 2]);
        }
        tally("truncated_at_every_position_class", &N, cases(DEFAULT_CASES));
    }

    /// Any seed's SSE events, re-rendered with mixed line ends, comments and extra fields and
    /// cut anywhere, parse back to the same events; every decoder then reads them.
    #[test]
    fn sse_rendered_any_way_and_split_anywhere_parses_the_same(
        stream in any::<Index>(),
        ends in proptest::collection::vec(any::<u8>(), 1..8),
        extras in proptest::collection::vec(any::<u8>(), 1..8),
        cuts in proptest::collection::vec(0usize..300, 0..12),
    ) {
        static N: AtomicU64 = AtomicU64::new(0);
        let streams = &seeds().sse;
        let events = &streams[stream.index(streams.len())];
        let wire = render_sse(events, &ends, &extras);
        prop_assert_eq!(&parse_sse(&wire, &cuts), events);
        decode_stream(Framing::Sse, &wire, &cuts);
        tally("sse_rendered_any_way_and_split_anywhere_parses_the_same", &N, cases(DEFAULT_CASES));
    }

    /// A stream's events dropped, repeated, swapped, renamed or with their JSON mutated, in
    /// every SSE decoder.
    #[test]
    fn stream_events_out_of_order_or_mutated(
        stream in any::<Index>(),
        ops in proptest::collection::vec((0u8..5, any::<Index>(), any::<usize>(), edit_strategy()), 1..6),
    ) {
        static N: AtomicU64 = AtomicU64::new(0);
        let streams = &seeds().sse;
        let mut events = streams[stream.index(streams.len())].clone();
        const NAMES: [&str; 8] = ["message_start", "content_block_start", "content_block_delta",
            "content_block_stop", "message_delta", "message_stop", "error", "ping"];
        for (op, a, b, edit) in ops {
            if events.is_empty() {
                break;
            }
            let i = a.index(events.len());
            let j = b % events.len();
            match op {
                0 => { events.remove(i); }
                1 => { let e = events[i].clone(); events.insert(j, e); }
                2 => events.swap(i, j),
                3 => events[i].event = Some(NAMES[j % NAMES.len()].to_owned()),
                _ => {
                    if let Ok(doc) = serde_json::from_str::<Value>(&events[i].data) {
                        let bytes = apply_edits(&doc, &[(b, edit)]);
                        events[i].data = String::from_utf8_lossy(&bytes).into_owned();
                    }
                }
            }
        }
        decode_sse_events(&events);
        tally("stream_events_out_of_order_or_mutated", &N, cases(DEFAULT_CASES));
    }

    /// Bedrock streams with one frame corrupted (lengths, checksums, headers, payload), cut
    /// anywhere; an uncorrupted one parses the same however it is cut.
    #[test]
    fn eventstream_frames_with_corruptions(
        stream in any::<Index>(),
        frame in any::<Index>(),
        kind in any::<u8>(),
        at in any::<Index>(),
        value in any::<u32>(),
        json_edit in proptest::option::of((any::<usize>(), edit_strategy())),
        cuts in proptest::collection::vec(0usize..200, 0..8),
    ) {
        static N: AtomicU64 = AtomicU64::new(0);
        let streams = &seeds().eventstreams;
        let mut messages = streams[stream.index(streams.len())].clone();
        let i = frame.index(messages.len());
        if let Some((node, edit)) = json_edit {
            if let Ok(doc) = serde_json::from_slice::<Value>(&messages[i].1) {
                messages[i].1 = apply_edits(&doc, &[(node, edit)]);
            }
        }
        let mut frames = frames_of(&messages);
        let clean: Vec<u8> = frames.concat();
        let whole = EventStreamParser::new().feed(&clean).unwrap();
        let mut p = EventStreamParser::new();
        let mut split = Vec::new();
        let mut rest = &clean[..];
        for &cut in &cuts {
            let (chunk, tail) = rest.split_at(cut.min(rest.len()));
            split.extend(p.feed(chunk).unwrap());
            rest = tail;
        }
        split.extend(p.feed(rest).unwrap());
        prop_assert!(p.finish().is_ok());
        prop_assert_eq!(split, whole);
        decode_stream(Framing::EventStream, &clean, &cuts);
        corrupt_frame(&mut frames[i], kind, at, value);
        let wire = frames.concat();
        decode_stream(Framing::EventStream, &wire, &cuts);
        INPUTS.fetch_add(1, Ordering::Relaxed);
        tally("eventstream_frames_with_corruptions", &N, cases(DEFAULT_CASES));
    }
}

// ---------- exhaustive checks on small inputs ----------

/// Every node of every request seed, replaced by every wrong value and raw text in turn, through
/// both request decoders and every encoder behind them.
#[test]
fn every_field_of_every_request_takes_every_wrong_value() {
    let mut edits: Vec<Edit> = wrong_values().into_iter().map(Edit::Value).collect();
    edits.extend(RAW.iter().chain(NUMBERS).map(|r| Edit::Raw(r.to_vec())));
    edits.push(Edit::Raw(nested(10_000, false)));
    edits.push(Edit::DuplicateKey(b"null".to_vec()));
    let mut runs = 0;
    for doc in requests() {
        for node in 0..count_nodes(&doc, any_node) {
            for edit in &edits {
                let bytes = apply_edits(&doc, &[(node, edit.clone())]);
                decode_requests(&bytes);
                runs += 1;
            }
        }
    }
    assert!(runs > 1000, "{runs}");
}

/// 10k-deep arrays and objects, as the body and in the place of each field: an error, not a
/// stack overflow.
#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for objects in [false, true] {
        let deep = nested(10_000, objects);
        for d in INGRESSES {
            assert!(d.ingress().unwrap().decode_request(&deep).is_err());
        }
        for d in DIALECTS {
            assert!(d.egress().decode_response(&deep).is_err());
        }
        decode_everything(&deep, &[]);
        let doc = &requests()[1];
        for node in 1..count_nodes(doc, any_node) {
            let bytes = apply_edits(doc, &[(node, Edit::Raw(deep.clone()))]);
            for d in INGRESSES {
                assert!(d.ingress().unwrap().decode_request(&bytes).is_err(), "node {node}");
            }
        }
        let mut sse = b"data: ".to_vec();
        sse.extend_from_slice(&deep);
        sse.extend_from_slice(b"\n\n");
        decode_stream(Framing::Sse, &sse, &[]);
        decode_stream(Framing::EventStream, &encode_event_frame("contentBlockDelta", &deep), &[]);
    }
}

/// Every prefix of every small seed, through every whole-body decoder.
#[test]
fn every_prefix_of_the_small_seeds() {
    for seed in seeds().all.iter().filter(|s| s.len() <= 600) {
        for at in 0..=seed.len() {
            decode_bodies(&seed[..at]);
        }
    }
}

/// Every number in every event of every seed stream, replaced by each odd number in turn, with
/// the rest of the stream around it: indices and counts past `u32::MAX`, `u32::MAX` itself (a
/// Gemini candidate index once sized a 16 GiB table), negative, fractional, out of range.
#[test]
fn every_number_of_every_stream_event_takes_every_odd_number() {
    let mut runs = 0;
    for stream in &seeds().sse {
        for (i, event) in stream.iter().enumerate() {
            let Ok(doc) = serde_json::from_str::<Value>(&event.data) else { continue };
            for node in 0..count_nodes(&doc, Value::is_number) {
                for number in NUMBERS {
                    let mut events = stream.clone();
                    let bytes = apply_edits(&doc, &[(node, Edit::Number(number.to_vec()))]);
                    events[i].data = String::from_utf8_lossy(&bytes).into_owned();
                    decode_sse_events(&events);
                    runs += 1;
                }
            }
        }
    }
    for stream in &seeds().eventstreams {
        for (i, (_, payload, _)) in stream.iter().enumerate() {
            let Ok(doc) = serde_json::from_slice::<Value>(payload) else { continue };
            for node in 0..count_nodes(&doc, Value::is_number) {
                for number in NUMBERS {
                    let mut messages = stream.clone();
                    messages[i].1 = apply_edits(&doc, &[(node, Edit::Number(number.to_vec()))]);
                    decode_stream(Framing::EventStream, &frames_of(&messages).concat(), &[]);
                    runs += 1;
                }
            }
        }
    }
    assert!(runs > 500, "{runs}");
}
