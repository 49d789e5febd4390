//! Golden vectors, driven by the fixture tree: every `fixtures/golden/<dialect>/<case>/` holds a
//! realistic provider reply — `upstream.json` (a whole response), `upstream.sse` (an SSE stream)
//! or `upstream.eventstream` (AWS binary event stream) — and the checked-in results of decoding
//! it to canonical (`canonical.json`) and re-encoding it for each client dialect
//! (`client_openai.json`, `client_anthropic.json`). `BLESS=1 cargo test -p dialect --test golden`
//! rewrites the expected files after a deliberate change; review the diff.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};

use dialect::framing::SseParser;
use dialect::{Dialect, Egress, Frame, Ingress, ResponseMeta, StreamEvent};
use serde_json::{json, Value};

const CLIENTS: [(Dialect, &str); 2] = [(Dialect::OpenaiChat, "openai"), (Dialect::Anthropic, "anthropic")];

fn golden_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden")
}

fn dialect_named(name: &str) -> Dialect {
    match name {
        "openai" => Dialect::OpenaiChat,
        "anthropic" => Dialect::Anthropic,
        "anthropic_vertex" => Dialect::AnthropicVertex,
        "bedrock" => Dialect::Bedrock,
        "gemini" => Dialect::Gemini,
        other => panic!("fixtures/golden/{other}: unknown dialect directory"),
    }
}

fn check(actual: &Value, path: &Path) {
    if std::env::var_os("BLESS").is_some() {
        let text = match actual {
            Value::Array(items) => {
                let lines: Vec<String> = items.iter().map(|v| format!("  {v}")).collect();
                format!("[\n{}\n]\n", lines.join(",\n"))
            }
            other => serde_json::to_string_pretty(other).unwrap() + "\n",
        };
        std::fs::write(path, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with BLESS=1 to create it)", path.display()));
    let expected: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(actual, &expected, "{}\nactual: {}", path.display(), serde_json::to_string_pretty(actual).unwrap());
}

/// Feeds the wire through the egress's own framing in chunks of `chunk` bytes.
fn decode_stream(egress: &dyn Egress, wire: &[u8], chunk: usize) -> Vec<StreamEvent> {
    let mut deframer = egress.framing().deframer();
    let mut decoder = egress.stream_decoder();
    let mut events = Vec::new();
    let mut failure = None;
    for piece in wire.chunks(chunk) {
        deframer
            .feed_with(piece, |frame: Frame| match decoder.feed(&frame) {
                Ok(ev) => events.extend(ev),
                Err(e) => failure = Some(e),
            })
            .unwrap();
    }
    if let Some(frame) = deframer.finish().unwrap() {
        events.extend(decoder.feed(&frame).unwrap());
    }
    assert!(failure.is_none(), "{failure:?}");
    events.extend(decoder.finish().unwrap());
    events
}

fn client_stream(ingress: &dyn Ingress, events: &[StreamEvent]) -> Value {
    let mut enc = ingress.stream_encoder(&ResponseMeta { include_usage: true, ..Default::default() });
    let mut out = Vec::new();
    for e in events {
        enc.encode(e, &mut out);
    }
    enc.finish(&mut out);
    let mut parser = SseParser::new();
    let mut frames = parser.feed(&out).unwrap();
    frames.extend(parser.finish());
    Value::Array(
        frames
            .into_iter()
            .map(|e| {
                let data = serde_json::from_str(&e.data).unwrap_or(Value::String(e.data));
                match e.event {
                    Some(event) => json!({"event": event, "data": data}),
                    None => data,
                }
            })
            .collect(),
    )
}

#[test]
fn every_golden_case_decodes_and_reencodes_as_checked_in() {
    let mut cases = 0;
    for dir in std::fs::read_dir(golden_root()).unwrap() {
        let dir = dir.unwrap().path();
        let dialect = dialect_named(dir.file_name().unwrap().to_str().unwrap());
        let egress = dialect.egress();
        for case in std::fs::read_dir(&dir).unwrap() {
            let case = case.unwrap().path();
            cases += 1;
            let whole = case.join("upstream.json");
            if whole.exists() {
                let resp = egress.decode_response(&std::fs::read(&whole).unwrap()).unwrap();
                check(&serde_json::to_value(&resp).unwrap(), &case.join("canonical.json"));
                for (client, name) in CLIENTS {
                    let body: Value =
                        serde_json::from_slice(&client.ingress().unwrap().encode_response(&resp)).unwrap();
                    check(&body, &case.join(format!("client_{name}.json")));
                }
                continue;
            }
            let wire = ["upstream.sse", "upstream.eventstream"]
                .iter()
                .map(|f| case.join(f))
                .find(|p| p.exists())
                .unwrap_or_else(|| panic!("{}: no upstream.* file", case.display()));
            let wire = std::fs::read(wire).unwrap();
            let events = decode_stream(egress, &wire, wire.len());
            // However the bytes are cut, the events are the same.
            for chunk in [1, 7, 64] {
                assert_eq!(decode_stream(egress, &wire, chunk), events, "{} in {chunk}-byte chunks", case.display());
            }
            check(&serde_json::to_value(&events).unwrap(), &case.join("canonical.json"));
            for (client, name) in CLIENTS {
                check(&client_stream(client.ingress().unwrap(), &events), &case.join(format!("client_{name}.json")));
            }
        }
    }
    assert!(cases >= 6, "only {cases} golden cases found");
}
