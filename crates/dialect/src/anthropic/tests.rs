//! Tests for the Anthropic dialect: golden fixtures (upstream wire → canonical → both client
//! dialects), request round trips, cross-dialect mapping and bad input.
//!
//! Fixtures live in `fixtures/anthropic/<case>/`. Running with `BLESS=1` rewrites the expected
//! files from the current output; review the diff before committing it.

use serde_json::{json, Value};

use super::Anthropic;
use crate::framing::SseParser;
use crate::openai::OpenAi;
use crate::{
    ChatRequest, ClientFacingError, DecodeError, Dialect, Egress, EncodeError, ErrorKind, Frame, ImageSource, Ingress,
    Operation, Part, ResponseFormat, ResponseMeta, Role, StreamEvent, ToolChoice,
};

// ---------- helpers ----------

use crate::test_fixtures::{assert_matches as assert_matches_fixture, read as fixture};

fn decode_with(egress: &dyn Egress, chunks: &[&[u8]]) -> Result<Vec<StreamEvent>, DecodeError> {
    let mut parser = SseParser::new();
    let mut dec = egress.stream_decoder();
    let mut events = Vec::new();
    for chunk in chunks {
        for ev in parser.feed(chunk)? {
            events.extend(dec.feed(&Frame::Sse(ev))?);
        }
    }
    if let Some(ev) = parser.finish() {
        events.extend(dec.feed(&Frame::Sse(ev))?);
    }
    events.extend(dec.finish()?);
    Ok(events)
}

fn decode_stream(wire: &[u8]) -> Result<Vec<StreamEvent>, DecodeError> {
    decode_with(&Anthropic, &[wire])
}

fn encode_stream(ingress: &dyn Ingress, events: &[StreamEvent], include_usage: bool) -> Vec<u8> {
    let mut enc = ingress.stream_encoder(&ResponseMeta { include_usage, ..Default::default() });
    let mut out = Vec::new();
    for e in events {
        enc.encode(e, &mut out);
    }
    enc.finish(&mut out);
    out
}

/// Client SSE as `[{"event": ..., "data": ...}]`, data parsed as JSON where it is JSON.
fn sse_frames(wire: &[u8]) -> Vec<Value> {
    let mut parser = SseParser::new();
    let mut events = parser.feed(wire).unwrap();
    events.extend(parser.finish());
    events
        .into_iter()
        .map(|e| {
            let data = serde_json::from_str(&e.data).unwrap_or(Value::String(e.data));
            match e.event {
                Some(event) => json!({"event": event, "data": data}),
                None => data,
            }
        })
        .collect()
}

/// Checks what the Anthropic SDK's accumulator relies on: `message_start` first, blocks strictly
/// sequential from index 0 and never interleaved, deltas matching their block's type, and the
/// stream ending in `message_delta` + `message_stop` (or in an `error` event).
fn assert_well_formed_anthropic_stream(frames: &[Value]) {
    let names: Vec<&str> = frames.iter().map(|f| f["event"].as_str().unwrap()).collect();
    for (f, name) in frames.iter().zip(&names) {
        assert_eq!(f["data"]["type"], json!(name), "event line and data type differ: {f}");
    }
    if names.first() == Some(&"error") {
        assert_eq!(names.len(), 1, "{names:?}");
        return;
    }
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    let mut next_index = 0;
    let mut open: Option<(u64, String)> = None;
    let mut saw_message_delta = false;
    for f in &frames[1..] {
        let data = &f["data"];
        match f["event"].as_str().unwrap() {
            "content_block_start" => {
                assert!(open.is_none(), "block started while another is open: {f}");
                assert_eq!(data["index"], json!(next_index), "{f}");
                let kind = data["content_block"]["type"].as_str().unwrap().to_owned();
                open = Some((next_index, kind));
                next_index += 1;
            }
            "content_block_delta" => {
                let (index, kind) = open.as_ref().expect("delta outside a block");
                assert_eq!(data["index"], json!(index), "{f}");
                let allowed: &[&str] = match kind.as_str() {
                    "text" => &["text_delta"],
                    "thinking" => &["thinking_delta", "signature_delta"],
                    "tool_use" => &["input_json_delta"],
                    other => panic!("unexpected block type {other}"),
                };
                assert!(allowed.contains(&data["delta"]["type"].as_str().unwrap()), "{f}");
            }
            "content_block_stop" => {
                let (index, _) = open.take().expect("stop outside a block");
                assert_eq!(data["index"], json!(index), "{f}");
            }
            "message_delta" => {
                assert!(open.is_none() && !saw_message_delta, "{f}");
                saw_message_delta = true;
            }
            "message_stop" => assert!(saw_message_delta),
            "error" => return,
            other => panic!("unexpected event {other}"),
        }
    }
    assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
}

const STREAM_CASES: &[&str] = &["text_stream", "tool_use_stream", "thinking_stream", "error_stream"];

// ---------- golden stream fixtures ----------

#[test]
fn stream_fixtures_decode_to_canonical_events() {
    for case in STREAM_CASES {
        let events = decode_stream(fixture(&format!("anthropic/{case}/upstream.sse")).as_bytes()).unwrap();
        assert_matches_fixture(&serde_json::to_value(&events).unwrap(), &format!("anthropic/{case}/events.json"));
    }
}

#[test]
fn stream_fixtures_decode_the_same_when_split_at_every_byte() {
    for case in STREAM_CASES {
        let wire = fixture(&format!("anthropic/{case}/upstream.sse"));
        let bytes: Vec<&[u8]> = wire.as_bytes().chunks(1).collect();
        assert_eq!(decode_with(&Anthropic, &bytes).unwrap(), decode_stream(wire.as_bytes()).unwrap(), "{case}");
    }
}

#[test]
fn stream_fixtures_reencode_for_openai_clients() {
    for case in STREAM_CASES {
        let events = decode_stream(fixture(&format!("anthropic/{case}/upstream.sse")).as_bytes()).unwrap();
        let frames = sse_frames(&encode_stream(&OpenAi, &events, true));
        assert_matches_fixture(&Value::Array(frames), &format!("anthropic/{case}/client_openai.json"));
    }
}

#[test]
fn stream_fixtures_reencode_for_anthropic_clients() {
    for case in STREAM_CASES {
        let events = decode_stream(fixture(&format!("anthropic/{case}/upstream.sse")).as_bytes()).unwrap();
        let frames = sse_frames(&encode_stream(&Anthropic, &events, false));
        assert_well_formed_anthropic_stream(&frames);
        assert_matches_fixture(&Value::Array(frames), &format!("anthropic/{case}/client_anthropic.json"));
    }
}

#[test]
fn interleaved_openai_tool_calls_become_sequential_anthropic_blocks() {
    // OpenAI's fixture interleaves fragments of two parallel tool calls.
    let events = decode_with(&OpenAi, &[fixture("openai/tool_call_stream/upstream.sse").as_bytes()]).unwrap();
    let frames = sse_frames(&encode_stream(&Anthropic, &events, false));
    assert_well_formed_anthropic_stream(&frames);
    assert_matches_fixture(&Value::Array(frames.clone()), "anthropic/openai_tool_call_stream/client_anthropic.json");
    // Each tool block's fragments reassemble into that call's arguments.
    let mut inputs: Vec<String> = Vec::new();
    for f in &frames {
        match (f["event"].as_str(), f["data"]["delta"]["partial_json"].as_str()) {
            (Some("content_block_start"), _) if f["data"]["content_block"]["type"] == "tool_use" => {
                inputs.push(String::new())
            }
            (Some("content_block_delta"), Some(part)) => inputs.last_mut().unwrap().push_str(part),
            _ => {}
        }
    }
    let inputs: Vec<Value> = inputs.iter().map(|s| serde_json::from_str(s).unwrap()).collect();
    assert_eq!(inputs, [json!({"city": "Paris"}), json!({"tz": "CET"})]);
}

#[test]
fn streamed_tool_call_fragments_reassemble_into_valid_json() {
    let events = decode_stream(fixture("anthropic/tool_use_stream/upstream.sse").as_bytes()).unwrap();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for e in &events {
        match e {
            StreamEvent::ToolCallStart { index, id, name, .. } => {
                assert_eq!(*index as usize, calls.len(), "tool-call index is the ordinal of tool_use blocks");
                calls.push((id.clone(), name.clone(), String::new()));
            }
            StreamEvent::ToolCallDelta { index, arguments, .. } => calls[*index as usize].2.push_str(arguments),
            _ => {}
        }
    }
    let parsed: Vec<(&str, &str, Value)> = calls
        .iter()
        .map(|(id, name, args)| (id.as_str(), name.as_str(), serde_json::from_str(args).unwrap()))
        .collect();
    assert_eq!(
        parsed,
        [
            ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", json!({"location": "Paris, France", "unit": "celsius"})),
            // No input streamed: the input is `{}`.
            ("toolu_01CQwpbyv1nDsg9jHXSF8Mrr", "get_time", json!({})),
        ]
    );
}

#[test]
fn stream_cut_before_message_stop_is_truncated() {
    let wire = fixture("anthropic/text_stream/upstream.sse");
    let cut = &wire[..wire.find("event: message_delta").unwrap()];
    assert_eq!(decode_stream(cut.as_bytes()), Err(DecodeError::Truncated));
    // An error event ends the stream properly, so it is not truncated.
    let events = decode_stream(fixture("anthropic/error_stream/upstream.sse").as_bytes()).unwrap();
    assert!(
        matches!(events.last(), Some(StreamEvent::Error { error }) if error.kind == ErrorKind::Overloaded && error.message == "Overloaded")
    );
}

#[test]
fn stream_usage_combines_message_start_and_message_delta() {
    let events = decode_stream(fixture("anthropic/tool_use_stream/upstream.sse").as_bytes()).unwrap();
    let usages: Vec<&crate::Usage> =
        events.iter().filter_map(|e| if let StreamEvent::Usage { usage } = e { Some(usage) } else { None }).collect();
    let [usage] = usages.as_slice() else { panic!("one usage event expected: {usages:?}") };
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens, usage.cache_write_tokens),
        (472 + 1024, 89, Some(0), Some(1024))
    );
    assert!(matches!(events.last(), Some(StreamEvent::Usage { .. })));
}

#[test]
fn stream_encoder_writes_well_formed_streams_for_unusual_orders() {
    let start = StreamEvent::Start { id: "x".into(), model: "m".into(), created: 0, system_fingerprint: None };
    let text = |t: &str| StreamEvent::TextDelta { choice: 0, text: t.into() };
    let tool = |i: u32| StreamEvent::ToolCallStart { choice: 0, index: i, id: format!("c{i}"), name: "f".into() };
    let args = |i: u32, a: &str| StreamEvent::ToolCallDelta { choice: 0, index: i, arguments: a.into() };
    let sequences: Vec<Vec<StreamEvent>> = vec![
        // Nothing but a start, no finish reason: an empty message.
        vec![start.clone()],
        // No Start at all.
        vec![text("hi")],
        // Reasoning from an upstream that does not sign it, then text, then tools after text.
        vec![
            start.clone(),
            StreamEvent::ReasoningDelta { choice: 0, text: "hmm".into() },
            text("a"),
            tool(0),
            args(0, "{}"),
            text("b"),
            tool(1),
        ],
        // Two signed thinking blocks in a row, then a second choice that Anthropic cannot show.
        vec![
            start.clone(),
            StreamEvent::ReasoningDelta { choice: 0, text: "one".into() },
            StreamEvent::ReasoningSignature { choice: 0, signature: "s1".into() },
            StreamEvent::ReasoningDelta { choice: 0, text: "two".into() },
            StreamEvent::ReasoningSignature { choice: 0, signature: "s2".into() },
            StreamEvent::TextDelta { choice: 1, text: "other choice".into() },
        ],
        // Error before anything else.
        vec![StreamEvent::Error {
            error: crate::StreamError { kind: ErrorKind::RateLimited, message: "slow down".into() },
        }],
    ];
    for seq in sequences {
        let frames = sse_frames(&encode_stream(&Anthropic, &seq, false));
        assert_well_formed_anthropic_stream(&frames);
        let text = serde_json::to_string(&frames).unwrap();
        assert!(!text.contains("other choice"), "{text}");
    }
    // Tools without a finish reason end as `tool_use`; a stop string makes `stop_sequence`.
    let frames = sse_frames(&encode_stream(&Anthropic, &[start.clone(), tool(0)], false));
    assert_eq!(frames[frames.len() - 2]["data"]["delta"]["stop_reason"], "tool_use");
    let finish =
        StreamEvent::Finish { choice: 0, reason: crate::FinishReason::Stop, stop_sequence: Some("END".into()) };
    let frames = sse_frames(&encode_stream(&Anthropic, &[start, text("a"), finish], false));
    assert_eq!(
        frames[frames.len() - 2]["data"]["delta"],
        json!({"stop_reason": "stop_sequence", "stop_sequence": "END"})
    );
}

// ---------- golden message fixture ----------

#[test]
fn message_fixture_decodes_and_reencodes_for_both_clients() {
    let resp =
        Anthropic.decode_response(fixture("anthropic/thinking_tool_use_message/upstream.json").as_bytes()).unwrap();
    assert_matches_fixture(&serde_json::to_value(&resp).unwrap(), "anthropic/thinking_tool_use_message/response.json");
    let openai: Value = serde_json::from_slice(&OpenAi.encode_response(&resp)).unwrap();
    assert_matches_fixture(&openai, "anthropic/thinking_tool_use_message/client_openai.json");
    let anthropic: Value = serde_json::from_slice(&Anthropic.encode_response(&resp)).unwrap();
    assert_matches_fixture(&anthropic, "anthropic/thinking_tool_use_message/client_anthropic.json");
}

#[test]
fn openai_reply_encodes_as_an_anthropic_message() {
    let upstream = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 5, "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Checking.", "refusal": null,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}},
                {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{\"x\":"}}
            ]},
            "logprobs": null, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 80}},
        "service_tier": "default"
    });
    let resp = OpenAi.decode_response(upstream.to_string().as_bytes()).unwrap();
    let client: Value = serde_json::from_slice(&Anthropic.encode_response(&resp)).unwrap();
    assert_eq!(
        client,
        json!({
            "id": "msg_chatcmpl-1", "type": "message", "role": "assistant", "model": "gpt-4o-2024-08-06",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "f", "input": {"x": 1}},
                // Broken arguments from the model cannot be an object.
                {"type": "tool_use", "id": "call_2", "name": "g", "input": {}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 20, "cache_read_input_tokens": 80, "output_tokens": 20}
        })
    );
}

#[test]
fn server_tool_blocks_reach_anthropic_clients_only() {
    let search =
        json!({"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {"query": "rust"}});
    let results = json!({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01", "content": []});
    let upstream = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [search, results, {"type": "text", "text": "Rust is a language."}],
        "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 5, "output_tokens": 7}});
    let resp = Anthropic.decode_response(upstream.to_string().as_bytes()).unwrap();
    assert!(matches!(&resp.choices[0].content[0], Part::Raw { kind, .. } if kind == "content block `server_tool_use`"));
    let anthropic: Value = serde_json::from_slice(&Anthropic.encode_response(&resp)).unwrap();
    assert_eq!(anthropic["content"], upstream["content"]);
    let openai: Value = serde_json::from_slice(&OpenAi.encode_response(&resp)).unwrap();
    assert_eq!(openai["choices"][0]["message"]["content"], "Rust is a language.");
    assert_eq!(openai["choices"][0]["message"].get("tool_calls"), None);
}

// ---------- requests ----------

/// A Claude Code-like request using every field the dialect maps, in the order and shape the
/// encoder writes, so that decoding and re-encoding must give it back unchanged.
fn rich_anthropic_request() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this image, and what's the weather?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}, "title": "A"}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I need the weather.", "signature": "EqQBCgIYAhIM1gbc"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3p"},
                {"type": "text", "text": "A cat. Checking the weather."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris", "unit": "c"}},
                {"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "22C"},
                {"type": "tool_result", "tool_use_id": "toolu_01B", "content": [
                    {"type": "text", "text": "error: no clock"},
                    {"type": "text", "text": "retry later", "cache_control": {"type": "ephemeral"}}
                ], "is_error": true, "cache_control": {"type": "ephemeral", "ttl": "5m"}},
                {"type": "text", "text": "Thanks!", "cache_control": {"type": "ephemeral"}}
            ]},
            {"role": "assistant", "content": "Anything else?"},
            {"role": "user", "content": "Yes: the time."},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_01C", "name": "get_time", "input": {}, "cache_control": {"type": "ephemeral"}}
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01C", "content": "12:00"}]}
        ],
        "system": [
            {"type": "text", "text": "You are Claude Code."},
            {"type": "text", "text": "Project context...", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        ],
        "stop_sequences": ["\n\nHuman:"],
        "temperature": 1.0,
        "top_k": 40,
        "top_p": 0.95,
        "stream": true,
        "tools": [
            {"name": "get_weather", "description": "Weather for a city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"name": "get_time", "input_schema": {"type": "object", "properties": {}}, "strict": true,
             "cache_control": {"type": "ephemeral"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "metadata": {"user_id": "user_7f3a"},
        "output_config": {"effort": "medium", "format": {"type": "json_schema", "schema": {"type": "object"}}},
        "service_tier": "auto",
        "container": "container_011CQ",
        "mcp_servers": [{"type": "url", "url": "https://mcp.example.com/sse", "name": "example"}]
    })
}

#[test]
fn anthropic_request_decodes_to_canonical() {
    let req = Anthropic.decode_request(rich_anthropic_request().to_string().as_bytes()).unwrap();
    assert_eq!(req.extra_dialect, Some(Dialect::Anthropic));
    assert_eq!(req.max_tokens, Some(32000));
    assert!(req.stream && req.stream_include_usage);
    assert_eq!(
        req.system,
        [
            Part::text("You are Claude Code."),
            Part::Text {
                text: "Project context...".into(),
                cache_control: Some(json!({"type": "ephemeral", "ttl": "1h"}))
            }
        ]
    );
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    // The tool results of the third message become a tool message; its text stays a user message.
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::Tool, Role::User, Role::Assistant, Role::User, Role::Assistant, Role::Tool]
    );
    assert!(
        matches!(&req.messages[0].content[1], Part::Image { source: ImageSource::Base64 { media_type, .. }, .. } if media_type == "image/png")
    );
    assert!(
        matches!(&req.messages[0].content[3], Part::Raw { dialect: Dialect::Anthropic, kind, .. } if kind == "messages[0].content[3]")
    );
    assert_eq!(
        req.messages[1].content[..2],
        [
            Part::Reasoning {
                text: "I need the weather.".into(),
                signature: Some("EqQBCgIYAhIM1gbc".into()),
                redacted: None
            },
            Part::Reasoning { text: String::new(), signature: None, redacted: Some("EmwKAhgBEgy3va3p".into()) },
        ]
    );
    assert!(
        matches!(&req.messages[1].content[3], Part::ToolCall { id, arguments, .. } if id == "toolu_01A" && serde_json::from_str::<Value>(arguments).unwrap() == json!({"city": "Paris", "unit": "c"}))
    );
    assert!(
        matches!(&req.messages[2].content[1], Part::ToolResult { tool_call_id, is_error: true, cache_control: Some(_), content, .. } if tool_call_id == "toolu_01B" && content.len() == 2)
    );
    assert!(
        matches!(&req.messages[6].content[0], Part::Raw { kind, .. } if kind == "messages[5].content[0].cache_control")
    );
    assert!(req.messages[4].content_was_string);
    assert_eq!(req.tools.len(), 2);
    assert_eq!(req.tools[1].cache_control, Some(json!({"type": "ephemeral"})));
    assert_eq!((req.tool_choice.clone(), req.parallel_tool_calls), (Some(ToolChoice::Auto), Some(false)));
    assert_eq!((req.reasoning_budget_tokens, req.reasoning_effort.as_deref()), (Some(10000), Some("medium")));
    assert_eq!(req.user.as_deref(), Some("user_7f3a"));
    assert!(matches!(req.response_format, Some(ResponseFormat::JsonSchema { schema: Some(_), .. })));
    assert_eq!((req.top_k, req.stop.as_slice()), (Some(40), ["\n\nHuman:".to_owned()].as_slice()));
    let extra: Vec<&str> = req.extra.keys().map(String::as_str).collect();
    assert_eq!(extra, ["container", "mcp_servers", "tools"]);
    // A server tool keeps the whole list, in order, for an Anthropic upstream.
    assert_eq!(req.extra["tools"], rich_anthropic_request()["tools"]);
    // `service_tier` is a hint; the effort is canonical, its hint only marks where it came from.
    assert_eq!(req.hint_paths, ["service_tier", "cache_control"]);
    assert_eq!(req.hints["output_config"], json!({"effort": "medium"}));
    assert_eq!(req.first_extra_field(), "container");
}

#[test]
fn anthropic_request_round_trips_unchanged() {
    let body = rich_anthropic_request();
    let req = Anthropic.decode_request(body.to_string().as_bytes()).unwrap();
    let sent: Value =
        serde_json::from_slice(&Anthropic.encode_request(&req, "claude-sonnet-4-5", true).unwrap()).unwrap();
    assert_eq!(sent, body);
    // Not streaming upstream: no `stream` field.
    let sent: Value = serde_json::from_slice(&Anthropic.encode_request(&req, "claude-x", false).unwrap()).unwrap();
    assert_eq!((sent.get("stream"), &sent["model"]), (None, &json!("claude-x")));
}

#[test]
fn anthropic_request_with_plain_string_content_round_trips() {
    let body = json!({
        "model": "claude-haiku-4-5", "max_tokens": 1024, "system": "Be terse.",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "system", "content": "From now on, answer in French."},
            {"role": "assistant", "content": "The answer is ("}
        ],
        "thinking": {"type": "adaptive", "display": "summarized"},
        "tool_choice": {"type": "none"},
        "tools": [{"name": "f", "input_schema": {"type": "object"}, "defer_loading": true}],
        "cache_control": {"type": "ephemeral"}
    });
    let req = Anthropic.decode_request(body.to_string().as_bytes()).unwrap();
    // Fields canonical cannot hold are kept for an Anthropic upstream.
    assert_eq!((req.reasoning_effort.as_deref(), req.tools.len()), (None, 0));
    let sent: Value =
        serde_json::from_slice(&Anthropic.encode_request(&req, "claude-haiku-4-5", false).unwrap()).unwrap();
    assert_eq!(sent, body);
}

#[test]
fn openai_request_maps_onto_anthropic() {
    let body = json!({
        "model": "claude",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools.", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [
                {"type": "text", "text": "Weather here?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/sky.png"}}
            ]},
            {"role": "assistant", "content": null, "reasoning_content": "unsigned thoughts", "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "call_a", "content": "22C"},
            {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
            {"role": "user", "content": "And tomorrow?"},
            {"role": "system", "content": "Answer in French."}
        ],
        "temperature": 1.5,
        "top_p": 0.9,
        "stop": ["END"],
        "seed": 42,
        "n": 1,
        "user": "u-1",
        "stream": true,
        "stream_options": {"include_usage": true},
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}},
            {"type": "function", "function": {"name": "get_time"}}
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": false,
        "response_format": {"type": "json_schema", "json_schema": {"name": "weather", "strict": true,
            "schema": {"type": "object", "properties": {"temp": {"type": "number"}}, "required": ["temp"], "additionalProperties": false}}}
    });
    let req = OpenAi.decode_request(body.to_string().as_bytes()).unwrap();
    let sent: Value =
        serde_json::from_slice(&Anthropic.encode_request(&req, "claude-sonnet-4-5", true).unwrap()).unwrap();
    assert_eq!(
        sent,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Weather here?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/sky.png"}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_a", "content": "22C"},
                    {"type": "tool_result", "tool_use_id": "call_b", "content": "12:00"},
                    {"type": "text", "text": "And tomorrow?"}
                ]}
            ],
            // A late system message joins the top-level instructions.
            "system": [
                {"type": "text", "text": "Be brief."},
                {"type": "text", "text": "Use tools.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Answer in French."}
            ],
            "stop_sequences": ["END"],
            "temperature": 1.0,
            "top_p": 0.9,
            "stream": true,
            "tools": [
                {"name": "get_weather", "description": "Weather",
                 "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true},
                {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
            ],
            "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true},
            "metadata": {"user_id": "u-1"},
            "output_config": {"format": {"type": "json_schema",
                "schema": {"type": "object", "properties": {"temp": {"type": "number"}}, "required": ["temp"], "additionalProperties": false}}}
        })
    );
}

#[test]
fn tool_choice_variants_map_to_anthropic() {
    let base = |extra: Value| {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "b"}}]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let req = OpenAi.decode_request(body.to_string().as_bytes()).unwrap();
        let sent: Value = serde_json::from_slice(&Anthropic.encode_request(&req, "m", false).unwrap()).unwrap();
        (sent["tool_choice"].clone(), sent["tools"].as_array().unwrap().len())
    };
    assert_eq!(base(json!({"tool_choice": "auto"})), (json!({"type": "auto"}), 2));
    assert_eq!(base(json!({"tool_choice": "required"})), (json!({"type": "any"}), 2));
    assert_eq!(base(json!({"tool_choice": "none"})), (json!({"type": "none"}), 2));
    assert_eq!(
        base(json!({"parallel_tool_calls": false})),
        (json!({"type": "auto", "disable_parallel_tool_use": true}), 2)
    );
    assert_eq!(base(json!({})), (Value::Null, 2));
    let allowed = json!({"tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "required",
        "tools": [{"type": "function", "function": {"name": "b"}}]}}});
    assert_eq!(base(allowed), (json!({"type": "any"}), 1));
}

#[test]
fn reasoning_effort_becomes_a_thinking_budget() {
    let send = |extra: Value| {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let req = OpenAi.decode_request(body.to_string().as_bytes()).unwrap();
        Anthropic.encode_request(&req, "m", false).map(|b| {
            let v: Value = serde_json::from_slice(&b).unwrap();
            (v["max_tokens"].clone(), v["thinking"].clone())
        })
    };
    let enabled = |n: u64| json!({"type": "enabled", "budget_tokens": n});
    // No cap: the budget plus the default answer allowance.
    assert_eq!(send(json!({"reasoning_effort": "medium"})), Ok((json!(8192 + 4096), enabled(8192))));
    // A cap covers reasoning and answer alike; the budget stays below it.
    assert_eq!(
        send(json!({"reasoning_effort": "high", "max_completion_tokens": 5000})),
        Ok((json!(5000), enabled(4999)))
    );
    assert_eq!(send(json!({"reasoning_effort": "low", "max_tokens": 20000})), Ok((json!(20000), enabled(2048))));
    assert_eq!(send(json!({"reasoning_effort": "none"})), Ok((json!(4096), Value::Null)));
    let too_small = send(json!({"reasoning_effort": "low", "max_tokens": 1000})).unwrap_err();
    assert!(
        matches!(too_small, EncodeError::Unsupported { ref field, .. } if field == "reasoning_effort"),
        "{too_small}"
    );
    let unknown = send(json!({"reasoning_effort": "extreme"})).unwrap_err();
    assert!(matches!(unknown, EncodeError::Unsupported { ref field, .. } if field == "reasoning_effort"));
}

#[test]
fn fields_anthropic_cannot_express_are_refused_by_name() {
    let cases: &[(Value, &str)] = &[
        (json!({"n": 2}), "n"),
        (json!({"logprobs": true}), "logprobs"),
        (json!({"top_logprobs": 3}), "top_logprobs"),
        (json!({"presence_penalty": 0.5}), "presence_penalty"),
        (json!({"frequency_penalty": -1.0}), "frequency_penalty"),
        (json!({"logit_bias": {"1": 2}}), "logit_bias"),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}]}]}),
            "content part `input_audio`",
        ),
        (
            json!({"messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":"}}]}]}),
            "tool call `c1` arguments",
        ),
    ];
    for (extra, field) in cases {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let req = OpenAi.decode_request(body.to_string().as_bytes()).unwrap();
        let err = Anthropic.encode_request(&req, "m", false).unwrap_err();
        let EncodeError::Unsupported { field: named, target, .. } = &err;
        assert_eq!((named.as_str(), *target), (*field, "Anthropic"), "{err}");
    }
    // Neutral values and `seed` (a best-effort hint) are accepted; `seed` is not sent.
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 1, "logprobs": false,
        "presence_penalty": 0.0, "seed": 7});
    let req = OpenAi.decode_request(body.to_string().as_bytes()).unwrap();
    let sent: Value = serde_json::from_slice(&Anthropic.encode_request(&req, "m", false).unwrap()).unwrap();
    assert_eq!(sent, json!({"model": "m", "max_tokens": 4096, "messages": [{"role": "user", "content": "x"}]}));
}

#[test]
fn anthropic_only_content_is_refused_by_the_openai_egress() {
    let send = |body: Value| {
        let req = Anthropic.decode_request(body.to_string().as_bytes()).unwrap();
        OpenAi.encode_request(&req, "gpt-4o", false)
    };
    let user =
        |content: Value| json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": content}]});
    let named = |r: Result<Vec<u8>, EncodeError>| match r {
        Err(EncodeError::Unsupported { field, .. }) => field,
        Ok(_) => "accepted".into(),
    };
    let mut with_container = user(json!("hi"));
    with_container["container"] = json!("container_1");
    assert_eq!(named(send(with_container)), "container");
    let doc = json!([{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}]);
    assert_eq!(named(send(user(doc))), "messages[0].content[0]");
    let mut server_tool = user(json!("hi"));
    server_tool["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
    assert_eq!(named(send(server_tool)), "tools[0].type");

    // What canonical holds crosses over: system blocks, metadata.user_id, a thinking budget.
    let body = json!({"model": "m", "max_tokens": 8000,
        "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"user_id": "u"}, "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "any"}});
    let sent: Value = serde_json::from_slice(&send(body).unwrap()).unwrap();
    assert_eq!(
        (&sent["reasoning_effort"], &sent["user"], &sent["tool_choice"], &sent["max_completion_tokens"]),
        (&json!("low"), &json!("u"), &json!("required"), &json!(8000))
    );
}

#[test]
fn bad_requests_name_the_problem() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("{\"model\": \"m\", \"max_tokens\": 1, \"messages\": [", "JSON", None),
        ("", "JSON", None),
        ("[]", "invalid type", None),
        ("{\"model\": \"m\", \"messages\": [{\"role\":\"user\",\"content\":\"x\"}]}", "max_tokens", Some("max_tokens")),
        ("{\"max_tokens\": 1, \"messages\": [{\"role\":\"user\",\"content\":\"x\"}]}", "model", None),
        ("{\"model\": \"\", \"max_tokens\": 1, \"messages\": [{\"role\":\"user\",\"content\":\"x\"}]}", "model", Some("model")),
        ("{\"model\": \"m\", \"max_tokens\": 1, \"messages\": []}", "messages", Some("messages")),
        ("{\"model\": \"m\", \"max_tokens\": -1, \"messages\": []}", "invalid value", None),
        (
            "{\"model\": \"m\", \"max_tokens\": 1, \"messages\": [{\"role\":\"wizard\",\"content\":\"x\"}]}",
            "wizard",
            Some("messages[0].role"),
        ),
        (
            "{\"model\": \"m\", \"max_tokens\": 1, \"messages\": [{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]}",
            "type",
            Some("messages[0].content[0]"),
        ),
        (
            "{\"model\": \"m\", \"max_tokens\": 1, \"messages\": [{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"name\":\"f\",\"input\":{}}]}]}",
            "tool_use",
            Some("messages[0].content[0]"),
        ),
        (
            "{\"model\": \"m\", \"max_tokens\": 1, \"messages\": [{\"role\":\"user\",\"content\":\"x\"}], \"tool_choice\": \"auto\"}",
            "tool_choice",
            Some("tool_choice"),
        ),
        (
            "{\"model\": \"m\", \"max_tokens\": 1, \"messages\": [{\"role\":\"user\",\"content\":\"x\"}], \"thinking\": {\"budget_tokens\": 2000}}",
            "thinking",
            Some("thinking.type"),
        ),
    ];
    for (body, needle, param) in cases {
        let err = Anthropic.decode_request(body.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(needle), "{body}: {err}");
        if let Some(param) = param {
            assert!(matches!(&err, DecodeError::Invalid { param: Some(p), .. } if p == param), "{body}: {err:?}");
        }
        // Every decode failure is shown to the client as a 400 invalid_request_error.
        let (status, body) = Anthropic.encode_error(&ClientFacingError::from(err));
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!((status.as_u16(), &body["error"]["type"]), (400, &json!("invalid_request_error")));
    }
}

// ---------- errors ----------

#[test]
fn errors_use_anthropic_types_and_statuses() {
    let cases = [
        (ErrorKind::InvalidRequest, 400, "invalid_request_error"),
        (ErrorKind::Authentication, 401, "authentication_error"),
        (ErrorKind::PermissionDenied, 403, "permission_error"),
        (ErrorKind::NotFound, 404, "not_found_error"),
        (ErrorKind::RequestTooLarge, 413, "request_too_large"),
        (ErrorKind::RateLimited, 429, "rate_limit_error"),
        (ErrorKind::Timeout, 504, "timeout_error"),
        (ErrorKind::Overloaded, 529, "overloaded_error"),
        (ErrorKind::Upstream, 502, "api_error"),
        (ErrorKind::Internal, 500, "api_error"),
    ];
    for (kind, status, error_type) in cases {
        let (s, body) = Anthropic.encode_error(&ClientFacingError::new(kind, "boom"));
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(s.as_u16(), status, "{kind:?}");
        assert_eq!(body, json!({"type": "error", "error": {"type": error_type, "message": "boom"}}));
    }
    // An Anthropic upstream's own error passes through with its type and status.
    let mut err = ClientFacingError::new(ErrorKind::PermissionDenied, "Your credit balance is too low")
        .with_status(http::StatusCode::PAYMENT_REQUIRED);
    err.upstream_type = Some("billing_error".into());
    let (s, body) = Anthropic.encode_error(&err);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((s.as_u16(), &body["error"]["type"]), (402, &json!("billing_error")));
}

#[test]
fn upstream_error_bodies_are_read() {
    let s = http::StatusCode::from_u16(529).unwrap();
    let e = Anthropic.decode_error(
        s,
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CSHoE"}"#,
    );
    assert_eq!((e.message.as_str(), e.error_type.as_deref()), ("Overloaded", Some("overloaded_error")));
    // Vertex reports platform failures in Google's shape; its `status` is not an Anthropic type.
    let e = Anthropic.decode_error(
        http::StatusCode::FORBIDDEN,
        br#"{"error":{"code":403,"message":"Permission denied on resource","status":"PERMISSION_DENIED"}}"#,
    );
    assert_eq!((e.message.as_str(), e.error_type), ("Permission denied on resource", None));
    let e = Anthropic.decode_error(http::StatusCode::PAYLOAD_TOO_LARGE, b"<html>413 Request Entity Too Large</html>");
    assert!(e.message.contains("413 Request Entity Too Large"), "{}", e.message);
}

#[test]
fn embeddings_are_refused_both_ways() {
    assert!(Anthropic.decode_embedding_request(br#"{"model":"e","input":"a"}"#).is_err());
    assert!(Anthropic.encode_embedding_response(&crate::EmbeddingResponse::default()).is_empty());
    let req = crate::EmbeddingRequest { model: "e".into(), ..Default::default() };
    assert!(
        matches!(Anthropic.encode_embedding_request(&req, "e"), Err(EncodeError::Unsupported { ref field, .. }) if field == "embeddings")
    );
    assert!(Anthropic.decode_embedding_response(b"{}").is_err());
}

#[test]
fn dialect_is_registered() {
    assert_eq!(Dialect::Anthropic.as_str(), "anthropic");
    assert_eq!(Dialect::Anthropic.egress().dialect(), Dialect::Anthropic);
    assert!(Dialect::Anthropic.ingress().is_some());
    assert_eq!(serde_json::to_value(Dialect::Anthropic).unwrap(), json!("anthropic"));
    assert_eq!(ChatRequest::default().reasoning_budget_tokens, None);
}

/// A reply without `content` (or with neither content nor a stop reason) used to decode into an
/// empty success.
#[test]
fn regression_empty_replies_are_errors() {
    for body in [
        json!({}),
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 0}}),
        json!({"id": "msg_1", "type": "message", "content": [], "stop_reason": null}),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ] {
        let got = Anthropic.decode_response(body.to_string().as_bytes());
        assert!(matches!(got, Err(DecodeError::Invalid { .. })), "{body} gave {got:?}");
    }
}

#[test]
fn regression_empty_answers_and_refusals_stay_replies() {
    let empty = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [],
        "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 0}});
    let resp = Anthropic.decode_response(empty.to_string().as_bytes()).unwrap();
    assert_eq!(resp.choices.len(), 1);
    assert!(resp.choices[0].content.is_empty());
    assert_eq!(resp.choices[0].finish_reason, Some(crate::FinishReason::Stop));
    for refusal in [
        json!({"id": "msg_2", "type": "message", "content": [], "stop_reason": "refusal"}),
        json!({"id": "msg_2", "type": "message", "stop_reason": "refusal"}),
    ] {
        let resp = Anthropic.decode_response(refusal.to_string().as_bytes()).unwrap();
        assert_eq!(resp.choices.len(), 1);
        assert!(resp.choices[0].content.is_empty());
        assert_eq!(resp.choices[0].finish_reason, Some(crate::FinishReason::ContentFilter));
    }
}

/// `message_start` then `message_stop` with nothing between said nothing.
#[test]
fn regression_a_stream_without_content_or_stop_reason_is_an_error() {
    let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":3}}}\n\n";
    let stop = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let empty = format!("{start}{stop}");
    assert!(matches!(decode_stream(empty.as_bytes()), Err(DecodeError::Invalid { .. })));
    let delta = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":0}}\n\n";
    let answered = format!("{start}{delta}{stop}");
    assert!(decode_stream(answered.as_bytes()).is_ok());
}

#[test]
fn paths_name_messages_and_count_tokens() {
    let m = "claude-sonnet-4-5";
    assert_eq!(Anthropic.path(m, Operation::Chat { stream: false }), "/v1/messages");
    assert_eq!(Anthropic.path(m, Operation::Chat { stream: true }), "/v1/messages");
    assert_eq!(Anthropic.path(m, Operation::CountTokens), "/v1/messages/count_tokens");
}

// ---------- JSON output through a forced tool ----------

#[test]
fn json_object_is_asked_for_through_a_forced_tool() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}});
    let req = OpenAi.decode_request(body.to_string().as_bytes()).unwrap();
    let sent: Value = serde_json::from_slice(&Anthropic.encode_request(&req, "claude", false).unwrap()).unwrap();
    assert_eq!(
        sent["tools"],
        json!([{"name": "json_output", "description": "Give your whole answer as one JSON object.",
        "input_schema": {"type": "object"}}])
    );
    assert_eq!(sent["tool_choice"], json!({"type": "tool", "name": "json_output"}));
    assert!(sent.get("output_config").is_none(), "{sent}");

    // With a client's own tools the model may still call them; with thinking it cannot be forced.
    let with_tools = json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]});
    let req = OpenAi.decode_request(with_tools.to_string().as_bytes()).unwrap();
    let sent: Value = serde_json::from_slice(&Anthropic.encode_request(&req, "claude", false).unwrap()).unwrap();
    assert_eq!(sent["tools"].as_array().unwrap().len(), 2);
    assert!(sent.get("tool_choice").is_none(), "{sent}");

    let clash = json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"},
        "tools": [{"type": "function", "function": {"name": "json_output", "parameters": {"type": "object"}}}]});
    let req = OpenAi.decode_request(clash.to_string().as_bytes()).unwrap();
    let EncodeError::Unsupported { field, .. } = Anthropic.encode_request(&req, "claude", false).unwrap_err();
    assert_eq!(field, "tools");
}

#[test]
fn the_forced_tool_comes_back_as_the_message_text() {
    let reply = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "json_output", "input": {"city": "Oslo", "temp": 3}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 10, "output_tokens": 5}});
    let resp = Anthropic.decode_response(reply.to_string().as_bytes()).unwrap();
    let client: Value = serde_json::from_slice(&OpenAi.encode_response(&resp)).unwrap();
    assert_eq!(client["choices"][0]["finish_reason"], "stop");
    assert!(client["choices"][0]["message"].get("tool_calls").is_none(), "{client}");
    let text = client["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), json!({"city": "Oslo", "temp": 3}));
}

#[test]
fn the_forced_tool_streams_as_text_deltas() {
    let wire = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"json_output\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Oslo\\\"}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":7}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let events = decode_stream(wire.as_bytes()).unwrap();
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({"city": "Oslo"}));
    assert!(!events.iter().any(|e| matches!(e, StreamEvent::ToolCallStart { .. })), "{events:?}");
    assert!(
        events.iter().any(|e| matches!(e, StreamEvent::Finish { reason: crate::FinishReason::Stop, .. })),
        "{events:?}"
    );
}

// ---------- Claude Code, and JSON output ----------

/// Claude Code's request as it sends it with a model name that is not Claude's: hints
/// (`context_management`, `eager_input_streaming`), effort, adaptive thinking, cache markers and
/// a mid-conversation system message.
pub(crate) fn claude_code_request() -> Value {
    serde_json::from_str(include_str!("../../fixtures/claude_code/request.json")).unwrap()
}

pub(crate) fn claude_code() -> ChatRequest {
    Anthropic.decode_request(claude_code_request().to_string().as_bytes()).unwrap()
}

#[test]
fn claude_code_request_decodes_its_hints_effort_and_adaptive_thinking() {
    let req = claude_code();
    assert!(req.extra.is_empty(), "{:?}", req.extra);
    assert_eq!(req.hint_paths, ["tools[0].eager_input_streaming", "context_management", "cache_control"]);
    assert_eq!(req.tools[0].hints, json!({"eager_input_streaming": true}).as_object().cloned().unwrap());
    assert_eq!((req.reasoning_effort.as_deref(), req.reasoning_adaptive), (Some("high"), true));
    assert_eq!(req.reasoning_budget_tokens, None);
    assert_eq!(req.messages[1].role, Role::System);
    // Every other egress drops the hints and names them; Anthropic's own family takes them.
    for dialect in [Dialect::OpenaiChat, Dialect::Gemini] {
        assert_eq!(
            dialect.egress().dropped(&req),
            ["tools[0].eager_input_streaming", "context_management", "cache_control"]
        );
    }
    // Converse keeps the cache markers, as cache points.
    assert_eq!(Dialect::Bedrock.egress().dropped(&req), ["tools[0].eager_input_streaming", "context_management"]);
    assert!(Anthropic.dropped(&req).is_empty());
    assert!(super::AnthropicVertex.dropped(&req).is_empty());
}

#[test]
fn claude_code_request_round_trips_to_anthropic_unchanged() {
    let sent: Value =
        serde_json::from_slice(&Anthropic.encode_request(&claude_code(), "gpt-5", true).unwrap()).unwrap();
    assert_eq!(sent, claude_code_request());
}

#[test]
fn a_cleared_effort_is_not_sent_back() {
    // The gateway clears reasoning controls for a model that does not reason.
    let mut req = claude_code();
    (req.reasoning_effort, req.reasoning_adaptive) = (None, false);
    let sent: Value =
        serde_json::from_slice(&Anthropic.encode_request(&req, "claude-3-5-haiku", false).unwrap()).unwrap();
    assert!(sent.get("output_config").is_none() && sent.get("thinking").is_none(), "{sent}");
}

#[test]
fn thinking_display_and_metadata_tags_are_hints() {
    let body = json!({"model": "claude-opus-4-6", "max_tokens": 4000, "messages": [{"role": "user", "content": "hi"}],
        "thinking": {"type": "enabled", "budget_tokens": 2000, "display": "omitted"},
        "metadata": {"user_id": "u", "trace": "t-1"}, "service_tier": "standard_only",
        "cache_control": {"type": "ephemeral"}});
    let req = Anthropic.decode_request(body.to_string().as_bytes()).unwrap();
    assert_eq!(req.hint_paths, ["thinking.display", "cache_control", "service_tier", "metadata.trace"]);
    assert_eq!((req.reasoning_budget_tokens, req.user.as_deref()), (Some(2000), Some("u")));
    let sent: Value =
        serde_json::from_slice(&Anthropic.encode_request(&req, "claude-opus-4-6", false).unwrap()).unwrap();
    assert_eq!(sent, body);
    let openai: Value = serde_json::from_slice(&OpenAi.encode_request(&req, "gpt-5", false).unwrap()).unwrap();
    assert_eq!((&openai["reasoning_effort"], &openai["user"]), (&json!("low"), &json!("u")));
    assert!(openai.get("metadata").is_none() && openai.get("service_tier").is_none(), "{openai}");
}

#[test]
fn on_vertex_mid_conversation_system_messages_join_the_system_prompt() {
    let sent: Value = serde_json::from_slice(
        &super::AnthropicVertex.encode_request(&claude_code(), "claude-sonnet-4-5", true).unwrap(),
    )
    .unwrap();
    let roles: Vec<&Value> = sent["messages"].as_array().unwrap().iter().map(|m| &m["role"]).collect();
    assert_eq!(roles, [&json!("user"), &json!("assistant"), &json!("user")]);
    assert_eq!(sent["system"][2], json!({"type": "text", "text": "Plan mode is active: do not edit files yet."}));
    // Hints are Anthropic's: Vertex takes them.
    assert_eq!(sent["context_management"], claude_code_request()["context_management"]);
    assert_eq!(sent["tools"][0]["eager_input_streaming"], true);
    // From another dialect, system messages are folded on Anthropic's own API too.
    let openai = OpenAi
        .decode_request(
            json!({"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let sent: Value = serde_json::from_slice(&Anthropic.encode_request(&openai, "m", false).unwrap()).unwrap();
    assert_eq!((&sent["system"], sent["messages"].as_array().map(Vec::len)), (&json!("b"), Some(1)));
}

#[test]
fn effort_levels_and_adaptive_thinking_from_other_clients_become_budgets() {
    let openai = |effort: &str| {
        let body = json!({"model": "m", "max_completion_tokens": 20000, "reasoning_effort": effort,
            "messages": [{"role": "user", "content": "a"}]});
        OpenAi.decode_request(body.to_string().as_bytes()).unwrap()
    };
    let thinking = |req: &ChatRequest| {
        let sent: Value =
            serde_json::from_slice(&Anthropic.encode_request(req, "claude-opus-4-1", false).unwrap()).unwrap();
        sent["thinking"].clone()
    };
    assert_eq!(thinking(&openai("high")), json!({"type": "enabled", "budget_tokens": 16384}));
    // Above the cap, the budget stays below it.
    assert_eq!(thinking(&openai("xhigh")), json!({"type": "enabled", "budget_tokens": 19999}));
    let mut adaptive = openai("medium");
    (adaptive.reasoning_effort, adaptive.reasoning_adaptive) = (None, true);
    assert_eq!(thinking(&adaptive), json!({"type": "enabled", "budget_tokens": 8192}));
    adaptive.max_tokens = Some(1000);
    assert_eq!(thinking(&adaptive), Value::Null, "no budget fits: adaptive thinking may not think");
}

#[test]
fn unknown_output_config_and_custom_tool_fields_are_refused_with_their_paths() {
    let body = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
        "output_config": {"effort": "low", "task_budget": 5}});
    let req = Anthropic.decode_request(body.to_string().as_bytes()).unwrap();
    let Err(EncodeError::Unsupported { field, .. }) = OpenAi.encode_request(&req, "gpt-5", false) else {
        unreachable!()
    };
    assert_eq!(field, "output_config.task_budget");
    let body = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": "a", "input_schema": {"type": "object"}, "eager_input_streaming": true},
                  {"name": "b", "input_schema": {"type": "object"}, "defer_loading": true}]});
    let req = Anthropic.decode_request(body.to_string().as_bytes()).unwrap();
    for egress in [Dialect::OpenaiChat, Dialect::Gemini, Dialect::Bedrock] {
        let Err(err) = egress.egress().encode_request(&req, "m", false) else { unreachable!("{egress:?}") };
        let EncodeError::Unsupported { field, .. } = &err;
        assert_eq!(field, "tools[1].defer_loading", "{egress:?}");
        let client = ClientFacingError::from(err);
        assert_eq!(client.param.as_deref(), Some("tools[1].defer_loading"));
        assert!(client.message.starts_with("`tools[1].defer_loading` is not supported by "), "{}", client.message);
    }
    // The Anthropic upstream gets the list as sent, in order.
    let sent: Value = serde_json::from_slice(&Anthropic.encode_request(&req, "m", false).unwrap()).unwrap();
    assert_eq!(sent["tools"], body["tools"]);
}

fn json_schema_request() -> ChatRequest {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "Name a city."}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "city", "strict": true,
            "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}});
    OpenAi.decode_request(body.to_string().as_bytes()).unwrap()
}

#[test]
fn json_schema_is_native_where_the_model_takes_it_and_a_forced_tool_elsewhere() {
    let req = json_schema_request();
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    let native: Value =
        serde_json::from_slice(&Anthropic.encode_request(&req, "claude-sonnet-4-5-20250929", false).unwrap()).unwrap();
    assert_eq!(native["output_config"], json!({"format": {"type": "json_schema", "schema": schema}}));
    assert!(native.get("tools").is_none());
    for (egress, model) in
        [(Dialect::Anthropic, "claude-3-5-haiku-20241022"), (Dialect::AnthropicVertex, "claude-sonnet-4-5@20250929")]
    {
        let sent: Value = serde_json::from_slice(&egress.egress().encode_request(&req, model, false).unwrap()).unwrap();
        assert!(sent.get("output_config").is_none(), "{egress:?}: {sent}");
        assert_eq!(sent["tools"][0]["input_schema"], schema, "{egress:?}");
        assert_eq!(sent["tool_choice"], json!({"type": "tool", "name": "json_output"}), "{egress:?}");
    }
}

#[test]
fn the_forced_schema_tool_comes_back_as_text_whole_and_streamed_on_vertex() {
    let reply = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "json_output", "input": {"city": "Paris"}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 5, "output_tokens": 7}});
    let got = super::AnthropicVertex.decode_response(reply.to_string().as_bytes()).unwrap();
    assert_eq!(got.choices[0].content, [Part::text(r#"{"city":"Paris"}"#)]);
    assert_eq!(got.choices[0].finish_reason, Some(crate::FinishReason::Stop));
    let wire = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"json_output\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":7}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let events = decode_with(&super::AnthropicVertex, &[wire.as_bytes()]).unwrap();
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, r#"{"city": "Paris"}"#);
    assert!(events.iter().any(|e| matches!(e, StreamEvent::Finish { reason: crate::FinishReason::Stop, .. })));
    assert!(!events.iter().any(|e| matches!(e, StreamEvent::ToolCallStart { .. })));
}
