//! Property tests for every decoder that reads untrusted bytes — client requests, provider
//! replies, error bodies, SSE and AWS event-stream framing, each dialect's stream decoder: on any
//! input they return a value or an error, never panic. Inputs are random bytes, and realistic
//! payloads (the fixtures and sample requests) with random byte edits or with random parts of
//! their JSON replaced, so the decoders' deeper paths are reached too.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::path::Path;

use dialect::framing::Framing;
use dialect::{Dialect, Frame};
use proptest::prelude::*;
use serde_json::{json, Value};

const DIALECTS: [Dialect; 5] =
    [Dialect::OpenaiChat, Dialect::Anthropic, Dialect::AnthropicVertex, Dialect::Bedrock, Dialect::Gemini];

/// Every fixture payload, plus client requests in both ingress dialects.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("upstream")) {
                out.push(std::fs::read(path).unwrap());
            }
        }
    }
    let requests = [
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
            "max_completion_tokens": 10, "reasoning_effort": "low", "logprobs": true, "top_logprobs": 2}),
        json!({"model": "m", "max_tokens": 100, "system": [{"type": "text", "text": "s",
            "cache_control": {"type": "ephemeral"}}], "thinking": {"type": "enabled", "budget_tokens": 2000},
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "t", "signature": "sig"},
                {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "any"},
            "stop_sequences": ["x"], "stream": true}),
        json!({"model": "e", "input": ["a", "b"], "encoding_format": "base64", "dimensions": 8}),
    ];
    out.extend(requests.iter().map(|r| r.to_string().into_bytes()));
    out
}

/// Runs every decoder over `input`; only a panic can fail.
fn decode_everything(input: &[u8], cuts: &[usize]) {
    for d in [Dialect::OpenaiChat, Dialect::Anthropic] {
        let ingress = d.ingress().unwrap();
        let _ = ingress.decode_request(input);
        let _ = ingress.decode_embedding_request(input);
    }
    for d in DIALECTS {
        let egress = d.egress();
        let _ = egress.decode_response(input);
        let _ = egress.decode_embedding_response(input);
        for status in [400u16, 401, 429, 500, 529] {
            let _ = egress.decode_error(http::StatusCode::from_u16(status).unwrap(), input);
        }
    }
    for framing in [Framing::Sse, Framing::EventStream] {
        let mut deframer = framing.deframer();
        let mut decoders: Vec<_> =
            DIALECTS.iter().filter(|d| d.egress().framing() == framing).map(|d| d.egress().stream_decoder()).collect();
        let mut feed = |frame: Frame| {
            for dec in &mut decoders {
                let _ = dec.feed(&frame);
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
        for dec in &mut decoders {
            let _ = dec.finish();
        }
    }
}

/// Replaces nodes of a JSON document, steered by `choices`: each one picks a node and what to
/// put there (null, a wrong-typed scalar, an empty or odd container, a huge number...).
fn mutate_json(value: &mut Value, choices: &[u32]) {
    for &c in choices {
        let mut node = &mut *value;
        let mut steer = c;
        loop {
            let children = match node {
                Value::Object(m) => m.len(),
                Value::Array(a) => a.len(),
                _ => 0,
            };
            if children == 0 || steer % 3 == 0 {
                break;
            }
            let i = (steer as usize / 3) % children;
            steer /= 7;
            node = match node {
                Value::Object(m) => m.values_mut().nth(i).unwrap(),
                Value::Array(a) => &mut a[i],
                _ => unreachable!("has children"),
            };
        }
        *node = match c % 11 {
            0 => Value::Null,
            1 => json!(""),
            2 => json!(-1),
            3 => json!(1e308),
            4 => json!([]),
            5 => json!({}),
            6 => json!(true),
            7 => json!([null, 0, "x"]),
            8 => json!({"type": "unknown_kind"}),
            9 => json!(u64::MAX),
            _ => json!("\u{0}\u{fffd}"),
        };
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(input in proptest::collection::vec(any::<u8>(), 0..1024), cuts in proptest::collection::vec(0usize..64, 0..8)) {
        decode_everything(&input, &cuts);
    }

    #[test]
    fn realistic_payloads_with_byte_edits(
        seed in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        truncate in any::<Option<prop::sample::Index>>(),
        cuts in proptest::collection::vec(0usize..256, 0..8),
    ) {
        let seeds = seeds();
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
    }

    #[test]
    fn realistic_json_with_replaced_parts(seed in any::<prop::sample::Index>(), choices in proptest::collection::vec(any::<u32>(), 1..6)) {
        let seeds = seeds();
        let raw = &seeds[seed.index(seeds.len())];
        // Whole JSON documents, and each `data:` line of an SSE stream.
        let docs: Vec<Value> = match serde_json::from_slice::<Value>(raw) {
            Ok(v) => vec![v],
            Err(_) => String::from_utf8_lossy(raw)
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter_map(|d| serde_json::from_str(d).ok())
                .collect(),
        };
        for mut doc in docs {
            mutate_json(&mut doc, &choices);
            let bytes = doc.to_string().into_bytes();
            decode_everything(&bytes, &[]);
            let sse = format!("event: {}\ndata: {}\n\n", doc["type"].as_str().unwrap_or("message_delta"), doc);
            decode_everything(sse.as_bytes(), &[3, 17]);
        }
    }
}
