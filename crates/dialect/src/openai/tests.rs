use serde_json::{json, Value};

use super::OpenAi;
use crate::framing::SseParser;
use crate::{
    DecodeError, Dialect, Egress, Frame, ImageSource, Ingress, MaxTokensField, Operation, Part, ResponseFormat,
    ResponseMeta, Role, StreamEvent, ToolChoice,
};

fn fixture(path: &str) -> String {
    crate::test_fixtures::read(&format!("openai/{path}"))
}

fn decode_stream(wire: &[u8]) -> Result<Vec<StreamEvent>, DecodeError> {
    let mut parser = SseParser::new();
    let mut dec = OpenAi.stream_decoder();
    let mut events = Vec::new();
    for ev in parser.feed(wire)?.into_iter().chain(parser.finish()) {
        events.extend(dec.feed(&Frame::Sse(ev))?);
    }
    events.extend(dec.finish()?);
    Ok(events)
}

fn client_frames(wire: &[u8]) -> Vec<Value> {
    let mut parser = SseParser::new();
    parser
        .feed(wire)
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str(&e.data).unwrap_or(Value::String(e.data)))
        .collect()
}

#[test]
fn tool_call_stream_decodes_to_fixture_events() {
    let events = decode_stream(fixture("tool_call_stream/upstream.sse").as_bytes()).unwrap();
    let expected: Value = serde_json::from_str(&fixture("tool_call_stream/events.json")).unwrap();
    assert_eq!(serde_json::to_value(&events).unwrap(), expected);
}

#[test]
fn tool_call_stream_reencodes_to_what_the_sdk_expects() {
    let events = decode_stream(fixture("tool_call_stream/upstream.sse").as_bytes()).unwrap();
    let mut enc = OpenAi.stream_encoder(&ResponseMeta { include_usage: true, ..Default::default() });
    let mut out = Vec::new();
    for e in &events {
        enc.encode(e, &mut out);
    }
    enc.finish(&mut out);
    let expected: Value = serde_json::from_str(&fixture("tool_call_stream/client_with_usage.json")).unwrap();
    assert_eq!(Value::Array(client_frames(&out)), expected);
}

#[test]
fn usage_chunk_is_stripped_when_client_did_not_ask() {
    let events = decode_stream(fixture("tool_call_stream/upstream.sse").as_bytes()).unwrap();
    let mut enc = OpenAi.stream_encoder(&ResponseMeta { include_usage: false, ..Default::default() });
    let mut out = Vec::new();
    for e in &events {
        enc.encode(e, &mut out);
    }
    enc.finish(&mut out);
    let frames = client_frames(&out);
    assert!(frames.iter().all(|f| f.get("usage").is_none()), "{frames:?}");
    assert_eq!(frames.last(), Some(&json!("[DONE]")));
}

#[test]
fn stream_cut_before_finish_is_an_error() {
    let wire = b"data: {\"id\":\"a\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    assert_eq!(decode_stream(wire), Err(DecodeError::Truncated));
}

#[test]
fn mid_stream_error_becomes_an_error_event() {
    let wire = b"data: {\"id\":\"a\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n";
    let events = decode_stream(wire).unwrap();
    assert!(matches!(events.last(), Some(StreamEvent::Error { error }) if error.message == "boom"));
}

#[test]
fn request_decodes_every_documented_field() {
    let body = json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "low"}},
                {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
            {"role": "system", "content": "Late instruction"}
        ],
        "max_tokens": 50, "temperature": 0.2, "top_p": 0.9, "stop": "END", "seed": 7, "n": 2,
        "logprobs": true, "top_logprobs": 3, "stream": true,
        "stream_options": {"include_usage": true, "include_obfuscation": false},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": false,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": true}},
        "reasoning_effort": "low",
        "logit_bias": {"50256": -100}
    });
    let req = OpenAi.decode_request(body.to_string().as_bytes()).unwrap();
    assert!(req.system_is_developer);
    assert_eq!(req.system, vec![Part::text("Be brief.")]);
    assert_eq!(req.messages.len(), 4);
    assert_eq!(req.messages[3].role, Role::System);
    assert!(
        matches!(&req.messages[0].content[1], Part::Image { source: ImageSource::Base64 { media_type, .. }, detail: Some(d), .. } if media_type == "image/png" && d == "low")
    );
    assert!(matches!(&req.messages[0].content[2], Part::Raw { dialect: Dialect::OpenaiChat, .. }));
    assert_eq!((req.max_tokens, req.max_tokens_field), (Some(50), MaxTokensField::MaxTokens));
    assert_eq!(req.stop, ["END"]);
    assert!(req.stream && req.stream_include_usage);
    assert_eq!(req.tool_choice, Some(ToolChoice::Named("f".into())));
    assert!(
        matches!(req.response_format, Some(ResponseFormat::JsonSchema { ref name, strict: Some(true), .. }) if name == "x")
    );
    assert_eq!(req.extra.get("logit_bias"), Some(&json!({"50256": -100})));
    assert_eq!(req.extra.get("stream_options"), Some(&json!({"include_obfuscation": false})));
}

#[test]
fn request_round_trips_to_an_openai_upstream() {
    let body = json!({
        "model": "alias",
        "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
            {"role": "assistant", "content": "calling", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"}
        ],
        "max_completion_tokens": 10,
        "stream": true,
        "logit_bias": {"1": 2},
        "tool_choice": "required",
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true}}]
    });
    let req = OpenAi.decode_request(body.to_string().as_bytes()).unwrap();
    let sent: Value = serde_json::from_slice(&OpenAi.encode_request(&req, "gpt-4o-mini", true).unwrap()).unwrap();
    assert_eq!(
        sent,
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "S"},
                {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
                {"role": "assistant", "content": "calling", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "content": "ok", "tool_call_id": "c1"}
            ],
            "max_completion_tokens": 10,
            "stream": true,
            "stream_options": {"include_usage": true},
            "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true}}],
            "tool_choice": "required",
            "logit_bias": {"1": 2}
        })
    );
}

#[test]
fn null_request_fields_read_as_absent_and_unknown_ones_are_kept() {
    let body = br#"{"temperature": null, "model": "m", "x-vendor": {"deep": [1, "two"]},
        "messages": [{"role": "user", "content": "hi"}], "max_tokens": null, "top_p": 0.5,
        "escaped\u0041key": true, "user": "u"}"#;
    let req = OpenAi.decode_request(body).unwrap();
    assert_eq!(req.model, "m");
    assert_eq!(req.max_tokens, None);
    assert_eq!(req.temperature, None);
    assert_eq!(req.top_p, Some(0.5));
    assert_eq!(req.extra.get("x-vendor"), Some(&json!({"deep": [1, "two"]})));
    assert_eq!(req.extra.get("escapedAkey"), Some(&json!(true)));
    assert!(!req.extra.contains_key("user") && !req.extra.contains_key("model"));
}

#[test]
fn bad_requests_name_the_problem() {
    let cases: &[(&str, &str)] = &[
        ("{\"model\": \"m\", \"messages\": [", "JSON"),
        ("{\"model\": \"m\", \"messages\": []}", "messages"),
        ("{\"model\": \"m\", \"messages\": \"hi\"}", "invalid type"),
        ("{\"model\": 5, \"messages\": [{\"role\":\"user\",\"content\":\"x\"}]}", "invalid type"),
        ("{\"model\": \"m\", \"messages\": [{\"role\":\"wizard\",\"content\":\"x\"}]}", "unknown variant"),
        ("{\"model\": \"m\", \"messages\": [{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]}", "type"),
        (
            "{\"model\": \"m\", \"messages\": [{\"role\":\"user\",\"content\":5}]}",
            "a string or an array of content parts",
        ),
        (
            "{\"model\": \"m\", \"messages\": [{\"role\":\"user\",\"content\":null}]}",
            "a string or an array of content parts",
        ),
        ("{\"model\": \"m\", \"messages\": [{\"role\":\"user\"}]}", "content"),
        (
            "{\"model\": \"m\", \"messages\": [{\"role\":\"user\",\"content\":\"x\"}], \"tool_choice\": \"maybe\"}",
            "tool_choice",
        ),
        ("{\"messages\": [{\"role\":\"user\",\"content\":\"x\"}]}", "model"),
        (
            "{\"model\": \"m\", \"messages\": [{\"role\":\"user\",\"content\":\"x\"}], \"temperature\": \"hot\"}",
            "invalid type",
        ),
        (
            "{\"model\": \"m\", \"messages\": [{\"role\":\"user\",\"content\":\"x\"}], \"model\": 5}",
            "duplicate field `model`",
        ),
        ("[]", "invalid type"),
        ("", "JSON"),
    ];
    for (body, needle) in cases {
        let err = OpenAi.decode_request(body.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(needle), "{body}: {err}");
    }
}

#[test]
fn response_decodes_usage_details_and_reencodes() {
    let upstream = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 5, "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}}]},
            "logprobs": null, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 80}, "completion_tokens_details": {"reasoning_tokens": 12}},
        "system_fingerprint": "fp_1", "timings": {"x": 1}
    });
    let resp = OpenAi.decode_response(upstream.to_string().as_bytes()).unwrap();
    let usage = resp.usage.unwrap();
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens, usage.reasoning_tokens),
        (100, 20, Some(80), Some(12))
    );
    let client: Value = serde_json::from_slice(&OpenAi.encode_response(&resp)).unwrap();
    assert_eq!(
        client,
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 5, "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}}]},
                "logprobs": null, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                "prompt_tokens_details": {"cached_tokens": 80}, "completion_tokens_details": {"reasoning_tokens": 12}},
            "system_fingerprint": "fp_1"
        })
    );
}

#[test]
fn upstream_error_shapes_are_all_read() {
    let s = http::StatusCode::TOO_MANY_REQUESTS;
    let e = OpenAi.decode_error(
        s,
        br#"{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
    );
    assert_eq!(
        (e.message.as_str(), e.error_type.as_deref(), e.code.as_deref()),
        ("slow down", Some("requests"), Some("rate_limit_exceeded"))
    );
    assert_eq!(OpenAi.decode_error(s, br#"{"error":"plain"}"#).message, "plain");
    assert_eq!(OpenAi.decode_error(s, br#"{"detail":"fastapi"}"#).message, "fastapi");
    assert!(OpenAi.decode_error(s, b"<html>oops</html>").message.contains("oops"));
}

#[test]
fn embeddings_reject_empty_input() {
    assert!(OpenAi.decode_embedding_request(br#"{"model":"e","input":""}"#).is_err());
    assert!(OpenAi.decode_embedding_request(br#"{"model":"e","input":[]}"#).is_err());
    assert!(OpenAi.decode_embedding_request(br#"{"model":"e","input":["a",""]}"#).is_err());
    let ok = OpenAi.decode_embedding_request(br#"{"model":"e","input":["a","b"],"dimensions":8}"#).unwrap();
    assert_eq!(ok.input.len(), 2);
}

/// `{}`, `{"choices": []}` and choices with nothing in them used to decode into a reply with no
/// choices (or an empty one) and zero usage, which the gateway passed on as a 200.
#[test]
fn regression_empty_replies_are_errors() {
    for body in [
        json!({}),
        json!({"choices": []}),
        json!({"id": "chatcmpl-1", "model": "m", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 0}}),
        json!({"choices": [{}]}),
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null}, "finish_reason": null}]}),
    ] {
        let got = OpenAi.decode_response(body.to_string().as_bytes());
        assert!(matches!(got, Err(DecodeError::Invalid { .. })), "{body} gave {got:?}");
    }
}

#[test]
fn regression_a_filtered_choice_is_an_empty_reply_that_says_why() {
    let body = json!({"id": "chatcmpl-1", "model": "m", "choices": [{"index": 0,
        "message": {"role": "assistant", "content": null}, "finish_reason": "content_filter"}]});
    let resp = OpenAi.decode_response(body.to_string().as_bytes()).unwrap();
    assert_eq!(resp.choices.len(), 1);
    assert!(resp.choices[0].content.is_empty());
    assert_eq!(resp.choices[0].finish_reason, Some(crate::FinishReason::ContentFilter));
    // An empty answer with a finish reason is still an answer.
    let body = json!({"choices": [{"message": {"content": ""}, "finish_reason": "stop"}]});
    assert!(OpenAi.decode_response(body.to_string().as_bytes()).is_ok());
}

#[test]
fn regression_empty_embedding_replies_are_errors() {
    for body in [
        json!({}),
        json!({"data": []}),
        json!({"object": "list", "data": [{"index": 0, "embedding": []}]}),
        json!({"data": [{"index": 0, "embedding": ""}]}),
    ] {
        let got = OpenAi.decode_embedding_response(body.to_string().as_bytes());
        assert!(matches!(got, Err(DecodeError::Invalid { .. })), "{body} gave {got:?}");
    }
    let ok = json!({"data": [{"index": 0, "embedding": [0.5]}], "model": "e"});
    assert!(OpenAi.decode_embedding_response(ok.to_string().as_bytes()).is_ok());
}

/// A stream of `[DONE]` alone, or of role and usage chunks only, said nothing: an error at
/// finish, so the gateway fails over instead of answering an empty 200.
#[test]
fn regression_a_stream_without_content_or_finish_reason_is_an_error() {
    let role_only = "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n\
        data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":0}}\n\ndata: [DONE]\n\n";
    for wire in ["data: [DONE]\n\n", role_only] {
        assert!(matches!(decode_stream(wire.as_bytes()), Err(DecodeError::Invalid { .. })), "{wire}");
    }
    let finished = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    assert!(decode_stream(finished.as_bytes()).is_ok());
}

#[test]
fn chat_completions_has_no_count_tokens_path() {
    assert_eq!(OpenAi.path("gpt-4o", Operation::Chat { stream: true }), "/chat/completions");
    assert_eq!(OpenAi.path("text-embedding-3-small", Operation::Embeddings), "/embeddings");
    assert_eq!(OpenAi.path("gpt-4o", Operation::CountTokens), "");
}

// ---------- Claude Code against an OpenAI-compatible upstream ----------

fn claude_code() -> crate::ChatRequest {
    let body = include_str!("../../fixtures/claude_code/request.json");
    crate::anthropic::Anthropic.decode_request(body.as_bytes()).unwrap()
}

#[test]
fn claude_code_request_encodes_for_openai_chat() {
    let req = claude_code();
    let sent: Value = serde_json::from_slice(&OpenAi.encode_request(&req, "gpt-5", true).unwrap()).unwrap();
    let read_schema = json!({"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"],
        "additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#"});
    let expected = json!({
        "model": "gpt-5",
        "messages": [
            {"role": "system", "content": "You are Claude Code, Anthropic's official CLI for Claude.\nYou are an interactive CLI tool that helps users with software engineering tasks."},
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>As you answer, use the context below.</system-reminder>"},
                {"type": "text", "text": "Why does the parser test fail?"}
            ]},
            // In place: Chat Completions takes instructions anywhere.
            {"role": "system", "content": "Plan mode is active: do not edit files yet."},
            {"role": "assistant", "content": [{"type": "text", "text": "Let me read the parser."}],
             "tool_calls": [{"id": "toolu_01Read", "type": "function",
                             "function": {"name": "Read", "arguments": "{\"file_path\":\"/repo/src/parser.rs\"}"}}]},
            {"role": "tool", "tool_call_id": "toolu_01Read", "content": "fn parse() {}"}
        ],
        "max_completion_tokens": 32000,
        "stream": true,
        "stream_options": {"include_usage": true},
        "tools": [
            {"type": "function", "function": {"name": "Read", "description": "Reads a file from the local filesystem.",
                                              "parameters": read_schema}},
            {"type": "function", "function": {"name": "Bash", "description": "Executes a bash command.",
                "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}
        ],
        "reasoning_effort": "high",
        "user": "user_2f1c_account_7d9e_session_0b6a"
    });
    assert_eq!(sent, expected);
    // What was left out, for the reply to name: the hints, and the cache markers.
    assert_eq!(OpenAi.dropped(&req), ["tools[0].eager_input_streaming", "context_management", "cache_control"]);
}

#[test]
fn anthropic_effort_levels_map_onto_openai_levels() {
    let mut req = claude_code();
    let effort = |req: &crate::ChatRequest| {
        let sent: Value = serde_json::from_slice(&OpenAi.encode_request(req, "o3", false).unwrap()).unwrap();
        sent.get("reasoning_effort").cloned()
    };
    req.reasoning_effort = Some("max".into());
    assert_eq!(effort(&req), Some(json!("high")));
    // Adaptive thinking alone: the model's default effort.
    req.reasoning_effort = None;
    assert_eq!(effort(&req), None);
    // From an OpenAI client, the level goes as it came.
    let mut own = openai_body_request(
        json!({"model": "m", "reasoning_effort": "xhigh", "messages": [{"role": "user", "content": "a"}]}),
    );
    assert_eq!(effort(&own), Some(json!("xhigh")));
    own.reasoning_effort = None;
    assert_eq!(effort(&own), None);
}

#[test]
fn mid_conversation_developer_instructions_keep_the_developer_role() {
    let req = openai_body_request(json!({"model": "m", "messages": [
        {"role": "developer", "content": "a"}, {"role": "user", "content": "b"}, {"role": "developer", "content": "c"}]}));
    let sent: Value = serde_json::from_slice(&OpenAi.encode_request(&req, "m", false).unwrap()).unwrap();
    let roles: Vec<&Value> = sent["messages"].as_array().unwrap().iter().map(|m| &m["role"]).collect();
    assert_eq!(roles, [&json!("developer"), &json!("user"), &json!("developer")]);
}

#[test]
fn an_openai_clients_cache_markers_still_reach_openai_compatible_servers() {
    let req = openai_body_request(json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}]}]}));
    let sent: Value = serde_json::from_slice(&OpenAi.encode_request(&req, "m", false).unwrap()).unwrap();
    assert_eq!(sent["messages"][0]["content"][0]["cache_control"], json!({"type": "ephemeral"}));
    assert!(OpenAi.dropped(&req).is_empty());
}

fn openai_body_request(body: Value) -> crate::ChatRequest {
    OpenAi.decode_request(body.to_string().as_bytes()).unwrap()
}
