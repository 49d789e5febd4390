//! Tests for the Bedrock Converse egress: request bodies, replies, ConverseStream event-stream
//! bytes (built with the framing's encoder, so CRCs are real), errors and embeddings. Wire shapes
//! follow protocols.md section 5.

use serde_json::{json, Value};

use super::Bedrock;
use crate::framing::eventstream::{encode_error_frame, encode_event_frame, encode_exception_frame};
use crate::openai::OpenAi;
use crate::{
    ChatRequest, DecodeError, Dialect, Egress, EmbeddingInput, EmbeddingRequest, EncodeError, ErrorKind, Framing,
    ImageSource, Ingress, Message, Operation, Part, ResponseFormat, Role, StreamEvent, Tool, ToolChoice,
};

// ---------- helpers ----------

fn encode(req: &ChatRequest) -> Result<Value, EncodeError> {
    Bedrock
        .encode_request(req, "anthropic.claude-3-5-sonnet-20240620-v1:0", false)
        .map(|b| serde_json::from_slice(&b).unwrap())
}

fn refused_field(req: &ChatRequest) -> String {
    match Bedrock.encode_request(req, "m", false) {
        Err(EncodeError::Unsupported { field, target, .. }) => {
            assert_eq!(target, "Bedrock Converse");
            field
        }
        Ok(body) => panic!("expected a refusal, got {}", String::from_utf8_lossy(&body)),
    }
}

fn user(text: &str) -> Message {
    Message { role: Role::User, content: vec![Part::text(text)], name: None, content_was_string: true }
}

fn msg(role: Role, content: Vec<Part>) -> Message {
    Message { role, content, name: None, content_was_string: false }
}

fn openai_request(body: Value) -> ChatRequest {
    OpenAi.decode_request(body.to_string().as_bytes()).unwrap()
}

/// Deframes `wire` in chunks of `chunk` bytes and decodes it, as the gateway does.
fn decode_stream_in(wire: &[u8], chunk: usize) -> Result<Vec<StreamEvent>, DecodeError> {
    let mut deframer = Framing::EventStream.deframer();
    let mut dec = Bedrock.stream_decoder();
    let mut events = Vec::new();
    for piece in wire.chunks(chunk.max(1)) {
        let mut frames = Vec::new();
        deframer.feed_with(piece, |f| frames.push(f))?;
        for f in frames {
            events.extend(dec.feed(&f)?);
        }
    }
    if let Some(f) = deframer.finish()? {
        events.extend(dec.feed(&f)?);
    }
    events.extend(dec.finish()?);
    Ok(events)
}

fn ev(event_type: &str, payload: Value) -> Vec<u8> {
    encode_event_frame(event_type, payload.to_string().as_bytes())
}

/// A ConverseStream with reasoning, text and a tool call whose input arrives in fragments, with
/// the padding field Bedrock adds.
fn tool_use_stream() -> Vec<u8> {
    let frames = [
        ev("messageStart", json!({"role": "assistant", "p": "abcdefgh"})),
        ev(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "User wants weather."}}}),
        ),
        ev("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig-1"}}})),
        ev("contentBlockStop", json!({"contentBlockIndex": 0})),
        ev("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"text": "Let me "}, "p": "ab"})),
        ev("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"text": "check."}})),
        ev("contentBlockStop", json!({"contentBlockIndex": 1})),
        ev(
            "contentBlockStart",
            json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_abc", "name": "get_weather"}}}),
        ),
        ev("contentBlockDelta", json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"ci"}}})),
        ev("contentBlockDelta", json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "ty\":\"Par"}}})),
        ev("contentBlockDelta", json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "is\"}"}}})),
        ev("contentBlockStop", json!({"contentBlockIndex": 2})),
        ev(
            "contentBlockStart",
            json!({"contentBlockIndex": 3, "start": {"toolUse": {"toolUseId": "tooluse_def", "name": "now"}}}),
        ),
        ev("contentBlockStop", json!({"contentBlockIndex": 3})),
        ev("messageStop", json!({"stopReason": "tool_use"})),
        ev(
            "metadata",
            json!({"usage": {"inputTokens": 30, "outputTokens": 12, "totalTokens": 142, "cacheReadInputTokens": 100,
                             "cacheWriteInputTokens": 0}, "metrics": {"latencyMs": 812}}),
        ),
    ];
    frames.concat()
}

fn expected_tool_use_events() -> Value {
    json!([
        {"event": "start", "id": "", "model": "", "created": 0, "system_fingerprint": null},
        {"event": "reasoning_delta", "choice": 0, "text": "User wants weather."},
        {"event": "reasoning_signature", "choice": 0, "signature": "sig-1"},
        {"event": "text_delta", "choice": 0, "text": "Let me "},
        {"event": "text_delta", "choice": 0, "text": "check."},
        {"event": "tool_call_start", "choice": 0, "index": 0, "id": "tooluse_abc", "name": "get_weather"},
        {"event": "tool_call_delta", "choice": 0, "index": 0, "arguments": "{\"ci"},
        {"event": "tool_call_delta", "choice": 0, "index": 0, "arguments": "ty\":\"Par"},
        {"event": "tool_call_delta", "choice": 0, "index": 0, "arguments": "is\"}"},
        {"event": "tool_call_start", "choice": 0, "index": 1, "id": "tooluse_def", "name": "now"},
        {"event": "tool_call_delta", "choice": 0, "index": 1, "arguments": "{}"},
        {"event": "finish", "choice": 0, "reason": "tool_calls", "stop_sequence": null},
        {"event": "usage", "usage": {"input_tokens": 130, "output_tokens": 12, "cached_input_tokens": 100,
                                     "cache_write_tokens": 0, "reasoning_tokens": null}}
    ])
}

// ---------- dialect and paths ----------

#[test]
fn dialect_is_registered_as_egress_only() {
    assert_eq!(Dialect::Bedrock.as_str(), "bedrock");
    assert_eq!(Dialect::Bedrock.egress().dialect(), Dialect::Bedrock);
    assert_eq!(Dialect::Bedrock.egress().framing(), Framing::EventStream);
    assert!(Dialect::Bedrock.ingress().is_none());
    assert_eq!(serde_json::to_value(Dialect::Bedrock).unwrap(), json!("bedrock"));
}

#[test]
fn model_ids_are_percent_encoded_as_one_path_segment() {
    let profile = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    assert_eq!(
        Bedrock.path(profile, Operation::Chat { stream: false }),
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    );
    assert_eq!(
        Bedrock.path(profile, Operation::Chat { stream: true }),
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream"
    );
    assert_eq!(
        Bedrock.path("amazon.titan-embed-text-v2:0", Operation::Embeddings),
        "/model/amazon.titan-embed-text-v2%3A0/invoke"
    );
    assert_eq!(
        Bedrock.path("anthropic.claude-sonnet-4-5-20250929-v1:0", Operation::CountTokens),
        "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/count-tokens"
    );
    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3";
    assert_eq!(
        Bedrock.path(arn, Operation::Chat { stream: false }),
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fa1b2c3/converse"
    );
}

// ---------- requests ----------

#[test]
fn system_prompt_with_cache_marker_gets_a_cache_point() {
    let req = ChatRequest {
        system: vec![
            Part::Text { text: "You are terse.".into(), cache_control: Some(json!({"type": "ephemeral"})) },
            Part::Text {
                text: "Answer in French.".into(),
                cache_control: Some(json!({"type": "ephemeral", "ttl": "1h"})),
            },
        ],
        messages: vec![user("Hi")],
        max_tokens: Some(1024),
        temperature: Some(0.5),
        top_p: Some(0.9),
        top_k: Some(50),
        stop: vec!["END".into()],
        ..ChatRequest::default()
    };
    assert_eq!(
        encode(&req).unwrap(),
        json!({
            "system": [{"text": "You are terse."}, {"cachePoint": {"type": "default"}},
                       {"text": "Answer in French."}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "inferenceConfig": {"maxTokens": 1024, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
            "additionalModelRequestFields": {"top_k": 50}
        })
    );
}

#[test]
fn openai_tool_conversation_maps_onto_converse() {
    let req = openai_request(json!({
        "model": "claude",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [
                {"type": "text", "text": "Describe"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ]},
            {"role": "user", "content": "and the weather in Paris"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "tooluse_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "tooluse_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "tooluse_1", "content": "22C"},
            {"role": "tool", "tool_call_id": "tooluse_2", "content": "noon"},
            {"role": "user", "content": "Thanks"},
            {"role": "system", "content": "Be brief."}
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "get_time"}}
        ],
        "tool_choice": "auto",
        "max_completion_tokens": 512,
        "temperature": 1.5
    }));
    assert_eq!(
        encode(&req).unwrap(),
        json!({
            "system": [{"text": "You are terse."}, {"text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [
                    {"text": "Describe"},
                    {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                    {"text": "and the weather in Paris"}
                ]},
                {"role": "assistant", "content": [
                    {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
                    {"toolUse": {"toolUseId": "tooluse_2", "name": "get_time", "input": {}}}
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "22C"}], "status": "success"}},
                    {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "noon"}], "status": "success"}},
                    {"text": "Thanks"}
                ]}
            ],
            "inferenceConfig": {"maxTokens": 512, "temperature": 1.0},
            "toolConfig": {
                "tools": [
                    {"toolSpec": {"name": "get_weather", "description": "Weather by city",
                                  "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}},
                    {"toolSpec": {"name": "get_time", "inputSchema": {"json": {"type": "object", "properties": {}}}}}
                ],
                "toolChoice": {"auto": {}}
            }
        })
    );
}

#[test]
fn tool_results_reasoning_and_cache_markers_encode_as_blocks() {
    let req = ChatRequest {
        messages: vec![
            user("Weather?"),
            msg(
                Role::Assistant,
                vec![
                    Part::Reasoning { text: "Need a tool.".into(), signature: Some("sig".into()), redacted: None },
                    Part::Reasoning { text: "unsigned".into(), signature: None, redacted: None },
                    Part::ToolCall {
                        id: "t1".into(),
                        name: "get_weather".into(),
                        arguments: "{\"city\":\"Oslo\"}".into(),
                    },
                ],
            ),
            msg(
                Role::Tool,
                vec![Part::ToolResult {
                    tool_call_id: "t1".into(),
                    content: vec![Part::text("boom")],
                    is_error: true,
                    cache_control: Some(json!({"type": "ephemeral"})),
                }],
            ),
        ],
        tools: vec![Tool {
            name: "get_weather".into(),
            description: None,
            parameters: Some(json!({"type": "object"})),
            strict: None,
            cache_control: Some(json!({"type": "ephemeral"})),
            hints: Default::default(),
        }],
        tool_choice: Some(ToolChoice::Named("get_weather".into())),
        reasoning_budget_tokens: Some(2048),
        ..ChatRequest::default()
    };
    let body = encode(&req).unwrap();
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"text": "Weather?"}]},
            {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "Need a tool.", "signature": "sig"}}},
                {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Oslo"}}}
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "t1", "content": [{"text": "boom"}], "status": "error"}},
                {"cachePoint": {"type": "default"}}
            ]}
        ])
    );
    assert_eq!(
        body["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}},
                         {"cachePoint": {"type": "default"}}],
               "toolChoice": {"tool": {"name": "get_weather"}}})
    );
    assert_eq!(body["additionalModelRequestFields"], json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}));
    assert_eq!(body["inferenceConfig"], json!({"maxTokens": 2048 + crate::claude::DEFAULT_MAX_TOKENS}));
}

#[test]
fn tool_choice_variants_map_to_converse() {
    let tool = |name: &str| Tool {
        name: name.into(),
        description: Some("d".into()),
        parameters: None,
        strict: None,
        cache_control: None,
        hints: Default::default(),
    };
    let base = ChatRequest { messages: vec![user("x")], tools: vec![tool("a"), tool("b")], ..ChatRequest::default() };
    let choice = |c: Option<ToolChoice>| {
        let body = encode(&ChatRequest { tool_choice: c, ..base.clone() }).unwrap();
        body.get("toolConfig").cloned()
    };
    assert_eq!(choice(None).unwrap()["toolChoice"], Value::Null);
    assert_eq!(choice(Some(ToolChoice::Auto)).unwrap()["toolChoice"], json!({"auto": {}}));
    assert_eq!(choice(Some(ToolChoice::Required)).unwrap()["toolChoice"], json!({"any": {}}));
    assert_eq!(choice(Some(ToolChoice::Named("b".into()))).unwrap()["toolChoice"], json!({"tool": {"name": "b"}}));
    let allowed = choice(Some(ToolChoice::Allowed { names: vec!["b".into()], required: true })).unwrap();
    assert_eq!(allowed["toolChoice"], json!({"any": {}}));
    assert_eq!(allowed["tools"].as_array().unwrap().len(), 1);
    assert_eq!(allowed["tools"][0]["toolSpec"]["name"], "b");
    // `none` leaves the tools out: the model cannot call what it is not given.
    assert_eq!(choice(Some(ToolChoice::None)), None);
}

#[test]
fn tool_history_without_declared_tools_gets_stub_specs() {
    let req = ChatRequest {
        messages: vec![
            user("x"),
            msg(
                Role::Assistant,
                vec![Part::ToolCall { id: "t1".into(), name: "lookup".into(), arguments: "{}".into() }],
            ),
            msg(
                Role::Tool,
                vec![Part::ToolResult {
                    tool_call_id: "t1".into(),
                    content: vec![Part::text("ok")],
                    is_error: false,
                    cache_control: None,
                }],
            ),
        ],
        ..ChatRequest::default()
    };
    assert_eq!(
        encode(&req).unwrap()["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object", "properties": {}}}}}]})
    );
    // `none` cannot be honoured once the conversation holds tool calls.
    let none = ChatRequest { tool_choice: Some(ToolChoice::None), ..req };
    assert_eq!(refused_field(&none), "tool_choice");
}

#[test]
fn json_schema_becomes_output_config_with_the_schema_as_a_string() {
    let req = ChatRequest {
        messages: vec![user("x")],
        response_format: Some(ResponseFormat::JsonSchema {
            name: "answer".into(),
            description: None,
            schema: Some(json!({"type": "object"})),
            strict: Some(true),
        }),
        ..ChatRequest::default()
    };
    let sent: Value = serde_json::from_slice(
        &Bedrock.encode_request(&req, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", false).unwrap(),
    )
    .unwrap();
    assert_eq!(
        sent["outputConfig"],
        json!({"textFormat": {"type": "json_schema",
                              "structure": {"jsonSchema": {"schema": "{\"type\":\"object\"}", "name": "answer"}}}})
    );
    assert!(sent.get("toolConfig").is_none(), "{sent}");
}

#[test]
fn fields_converse_cannot_express_are_refused_by_name() {
    let base = ChatRequest { messages: vec![user("x")], ..ChatRequest::default() };
    let cases: Vec<(ChatRequest, &str)> = vec![
        (ChatRequest { n: Some(2), ..base.clone() }, "n"),
        (ChatRequest { seed: Some(7), ..base.clone() }, "seed"),
        (ChatRequest { logprobs: Some(true), ..base.clone() }, "logprobs"),
        (ChatRequest { top_logprobs: Some(3), ..base.clone() }, "top_logprobs"),
        (ChatRequest { presence_penalty: Some(0.5), ..base.clone() }, "presence_penalty"),
        (ChatRequest { frequency_penalty: Some(0.5), ..base.clone() }, "frequency_penalty"),
        (ChatRequest { reasoning_effort: Some("extreme".into()), ..base.clone() }, "reasoning_effort"),
    ];
    for (req, field) in cases {
        assert_eq!(refused_field(&req), field);
    }
    // Neutral values pass.
    let neutral = ChatRequest { n: Some(1), logprobs: Some(false), presence_penalty: Some(0.0), ..base.clone() };
    assert!(encode(&neutral).is_ok());

    let url_image = ChatRequest {
        messages: vec![msg(
            Role::User,
            vec![Part::Image {
                source: ImageSource::Url { url: "https://example.com/cat.png".into() },
                detail: None,
                cache_control: None,
            }],
        )],
        ..ChatRequest::default()
    };
    assert_eq!(refused_field(&url_image), "messages[0].content[0].image_url");

    let bmp = ChatRequest {
        messages: vec![msg(
            Role::User,
            vec![Part::Image {
                source: ImageSource::Base64 { media_type: "image/bmp".into(), data: "Qk0=".into() },
                detail: None,
                cache_control: None,
            }],
        )],
        ..ChatRequest::default()
    };
    assert_eq!(refused_field(&bmp), "messages[0].content[0].image_url");

    let bad_args = ChatRequest {
        messages: vec![msg(
            Role::Assistant,
            vec![Part::ToolCall { id: "t9".into(), name: "f".into(), arguments: "[1]".into() }],
        )],
        ..ChatRequest::default()
    };
    assert_eq!(refused_field(&bad_args), "tool call `t9` arguments");
}

#[test]
fn other_dialects_extras_and_raw_parts_are_refused_by_name() {
    let mut req = openai_request(json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                        "prediction": {"type": "content", "content": "y"}}));
    assert_eq!(refused_field(&req), "prediction");
    req.extra.clear();
    req.messages[0].content.push(Part::Raw {
        dialect: Dialect::OpenaiChat,
        kind: "input_audio".into(),
        value: json!({}),
    });
    assert_eq!(refused_field(&req), "input_audio");
}

#[test]
fn reasoning_effort_becomes_a_thinking_budget_below_max_tokens() {
    let req = ChatRequest {
        messages: vec![user("x")],
        reasoning_effort: Some("high".into()),
        max_tokens: Some(4000),
        ..ChatRequest::default()
    };
    let body = encode(&req).unwrap();
    assert_eq!(body["additionalModelRequestFields"]["thinking"], json!({"type": "enabled", "budget_tokens": 3999}));
    assert_eq!(body["inferenceConfig"]["maxTokens"], 4000);
    let none = ChatRequest { reasoning_effort: Some("none".into()), ..req };
    assert!(encode(&none).unwrap().get("additionalModelRequestFields").is_none());
}

// ---------- responses ----------

#[test]
fn converse_reply_decodes_with_cache_usage() {
    let body = json!({
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": "sig"}}},
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "tooluse_x", "name": "f", "input": {"a": 1}}},
            {"citationsContent": {"citations": []}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 30, "outputTokens": 12, "totalTokens": 342,
                  "cacheReadInputTokens": 200, "cacheWriteInputTokens": 100},
        "metrics": {"latencyMs": 812},
        "serviceTier": {"type": "default"}
    });
    let resp = Bedrock.decode_response(body.to_string().as_bytes()).unwrap();
    let choice = &resp.choices[0];
    assert_eq!(choice.finish_reason, Some(crate::FinishReason::ToolCalls));
    assert_eq!(
        choice.content[..3],
        [
            Part::Reasoning { text: "Hmm.".into(), signature: Some("sig".into()), redacted: None },
            Part::text("Checking."),
            Part::ToolCall { id: "tooluse_x".into(), name: "f".into(), arguments: "{\"a\":1}".into() },
        ]
    );
    assert!(
        matches!(&choice.content[3], Part::Raw { dialect: Dialect::Bedrock, kind, .. } if kind.contains("citationsContent"))
    );
    let usage = resp.usage.unwrap();
    assert_eq!(usage.input_tokens, 330);
    assert_eq!(usage.output_tokens, 12);
    assert_eq!(usage.cached_input_tokens, Some(200));
    assert_eq!(usage.cache_write_tokens, Some(100));
    assert_eq!(resp.service_tier.as_deref(), Some("default"));
}

#[test]
fn stop_reasons_map_to_canonical() {
    use crate::FinishReason as F;
    for (wire, reason) in [
        ("end_turn", F::Stop),
        ("stop_sequence", F::StopSequence),
        ("max_tokens", F::Length),
        ("model_context_window_exceeded", F::Length),
        ("tool_use", F::ToolCalls),
        ("guardrail_intervened", F::ContentFilter),
        ("content_filtered", F::ContentFilter),
        ("malformed_tool_use", F::Error),
    ] {
        let body =
            json!({"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}, "stopReason": wire});
        let resp = Bedrock.decode_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(resp.choices[0].finish_reason, Some(reason), "{wire}");
    }
    assert!(matches!(Bedrock.decode_response(b"{not json"), Err(DecodeError::Json(_))));
}

// ---------- streams ----------

#[test]
fn converse_stream_decodes_to_canonical_events() {
    let events = decode_stream_in(&tool_use_stream(), usize::MAX).unwrap();
    assert_eq!(serde_json::to_value(&events).unwrap(), expected_tool_use_events());
}

#[test]
fn converse_stream_decodes_the_same_split_at_any_boundary() {
    let wire = tool_use_stream();
    let expected = expected_tool_use_events();
    for chunk in [1, 2, 3, 5, 7, 13, 64, 100, 1000] {
        let events = decode_stream_in(&wire, chunk).unwrap();
        assert_eq!(serde_json::to_value(&events).unwrap(), expected, "chunk size {chunk}");
    }
}

#[test]
fn streamed_tool_arguments_reassemble_into_valid_json() {
    let events = decode_stream_in(&tool_use_stream(), 3).unwrap();
    let mut args = vec![String::new(); 2];
    for e in &events {
        if let StreamEvent::ToolCallDelta { index, arguments, .. } = e {
            args[*index as usize].push_str(arguments);
        }
    }
    assert_eq!(serde_json::from_str::<Value>(&args[0]).unwrap(), json!({"city": "Paris"}));
    assert_eq!(serde_json::from_str::<Value>(&args[1]).unwrap(), json!({}));
}

#[test]
fn a_corrupted_crc_is_an_error_not_a_panic() {
    let mut wire = tool_use_stream();
    let n = wire.len();
    // The last byte of the final message's CRC.
    wire[n - 1] ^= 0x5a;
    assert!(matches!(decode_stream_in(&wire, 9), Err(DecodeError::Framing(_))));
    // A flipped payload byte in the first message.
    let mut wire = tool_use_stream();
    wire[20] ^= 0x01;
    assert!(matches!(decode_stream_in(&wire, 9), Err(DecodeError::Framing(_))));
}

#[test]
fn a_stream_cut_mid_message_or_before_metadata_is_an_error() {
    let wire = tool_use_stream();
    assert!(matches!(decode_stream_in(&wire[..wire.len() - 3], 50), Err(DecodeError::Framing(_))));
    let before_metadata = [
        ev("messageStart", json!({"role": "assistant"})),
        ev("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}})),
        ev("contentBlockStop", json!({"contentBlockIndex": 0})),
        ev("messageStop", json!({"stopReason": "end_turn"})),
    ]
    .concat();
    assert_eq!(decode_stream_in(&before_metadata, 10), Err(DecodeError::Truncated));
}

#[test]
fn an_exception_mid_stream_becomes_an_error_event() {
    let cases = [
        ("throttlingException", ErrorKind::RateLimited),
        ("ThrottlingException", ErrorKind::RateLimited),
        ("modelStreamErrorException", ErrorKind::Upstream),
        ("validationException", ErrorKind::InvalidRequest),
        ("internalServerException", ErrorKind::Upstream),
        ("serviceUnavailableException", ErrorKind::Overloaded),
    ];
    for (exception, kind) in cases {
        let wire = [
            ev("messageStart", json!({"role": "assistant"})),
            ev("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}})),
            encode_exception_frame(exception, br#"{"message":"Too many tokens, please wait."}"#),
            // Nothing after an exception is decoded.
            ev("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "lo"}})),
        ]
        .concat();
        let events = decode_stream_in(&wire, 11).unwrap();
        assert_eq!(events.len(), 3, "{exception}");
        assert_eq!(
            events[2],
            StreamEvent::Error {
                error: crate::StreamError { kind, message: format!("{exception}: Too many tokens, please wait.") }
            }
        );
    }
}

#[test]
fn a_frame_that_is_not_an_event_stream_message_is_refused() {
    let mut dec = Bedrock.stream_decoder();
    let frame = crate::Frame::Sse(crate::framing::SseEvent { event: None, data: "{}".into() });
    assert!(matches!(dec.feed(&frame), Err(DecodeError::Framing(_))));
}

// ---------- errors ----------

#[test]
fn error_bodies_are_read_with_their_exception_names() {
    use http::StatusCode as S;
    let cases: [(S, &[u8], &str, &str); 8] = [
        (S::BAD_REQUEST, br#"{"message":"Malformed input request"}"#, "Malformed input request", "ValidationException"),
        (S::FORBIDDEN, br#"{"Message":"User is not authorized"}"#, "User is not authorized", "AccessDeniedException"),
        (S::NOT_FOUND, br#"{"message":"no such model"}"#, "no such model", "ResourceNotFoundException"),
        (S::REQUEST_TIMEOUT, br#"{"message":"slow"}"#, "slow", "ModelTimeoutException"),
        (
            S::FAILED_DEPENDENCY,
            br#"{"message":"model failed","originalStatusCode":500}"#,
            "model failed",
            "ModelErrorException",
        ),
        (
            S::TOO_MANY_REQUESTS,
            br#"{"__type":"com.amazon.bedrock#ServiceQuotaExceededException","message":"quota"}"#,
            "quota",
            "ServiceQuotaExceededException",
        ),
        (S::INTERNAL_SERVER_ERROR, br#"{"message":"oops"}"#, "oops", "InternalServerException"),
        (
            S::SERVICE_UNAVAILABLE,
            br#"{"__type":"ModelNotReadyException:http://internal.amazon.com/coral/","message":"warming"}"#,
            "warming",
            "ModelNotReadyException",
        ),
    ];
    for (status, body, message, error_type) in cases {
        let err = Bedrock.decode_error(status, body);
        assert_eq!(err.message, message, "{status}");
        assert_eq!(err.error_type.as_deref(), Some(error_type), "{status}");
    }
    let err = Bedrock.decode_error(S::BAD_GATEWAY, b"<html>bad gateway</html>");
    assert_eq!(err.message, "upstream answered 502 Bad Gateway: <html>bad gateway</html>");
    assert_eq!(err.error_type, None);
}

#[test]
fn exception_names_map_to_error_kinds() {
    for (name, kind) in [
        ("ValidationException", ErrorKind::InvalidRequest),
        ("AccessDeniedException", ErrorKind::PermissionDenied),
        ("UnrecognizedClientException", ErrorKind::Authentication),
        ("ResourceNotFoundException", ErrorKind::NotFound),
        ("ModelTimeoutException", ErrorKind::Timeout),
        ("ModelErrorException", ErrorKind::Upstream),
        ("ThrottlingException", ErrorKind::RateLimited),
        ("ServiceQuotaExceededException", ErrorKind::RateLimited),
        ("ModelNotReadyException", ErrorKind::RateLimited),
        ("InternalServerException", ErrorKind::Upstream),
        ("ServiceUnavailableException", ErrorKind::Overloaded),
    ] {
        assert_eq!(super::kind_for(name), kind, "{name}");
    }
}

// ---------- embeddings ----------

fn embedding_request(input: EmbeddingInput) -> EmbeddingRequest {
    EmbeddingRequest { model: "e".into(), input, ..EmbeddingRequest::default() }
}

#[test]
fn titan_embeddings_take_one_input() {
    let mut req = embedding_request(EmbeddingInput::Text("hello".into()));
    req.dimensions = Some(256);
    let body = Bedrock.encode_embedding_request(&req, "amazon.titan-embed-text-v2:0").unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({"inputText": "hello", "dimensions": 256}));

    let two = embedding_request(EmbeddingInput::Texts(vec!["a".into(), "b".into()]));
    match Bedrock.encode_embedding_request(&two, "amazon.titan-embed-text-v2:0") {
        Err(EncodeError::Unsupported { field, reason, .. }) => {
            assert_eq!(field, "input");
            assert!(reason.contains("one input per request"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    let resp = Bedrock
        .decode_embedding_response(br#"{"embedding":[0.25,-0.5,1.0],"inputTextTokenCount":3,"embeddingsByType":{}}"#)
        .unwrap();
    assert_eq!(
        serde_json::to_value(&resp).unwrap(),
        json!({"model": "", "data": [{"index": 0, "vector": [0.25, -0.5, 1.0]}],
               "usage": {"input_tokens": 3, "output_tokens": 0, "cached_input_tokens": null,
                         "cache_write_tokens": null, "reasoning_tokens": null}})
    );
}

#[test]
fn cohere_embeddings_take_a_batch() {
    let req = embedding_request(EmbeddingInput::Texts(vec!["a".into(), "b".into()]));
    let body = Bedrock.encode_embedding_request(&req, "cohere.embed-english-v3").unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"texts": ["a", "b"], "input_type": "search_document"})
    );
    for body in [
        json!({"id": "e1", "embeddings": [[0.5, 0.25], [1.0, 0.0]], "texts": ["a", "b"], "response_type": "embeddings_floats"}),
        json!({"id": "e1", "embeddings": {"float": [[0.5, 0.25], [1.0, 0.0]]}, "texts": ["a", "b"],
               "response_type": "embeddings_by_type"}),
    ] {
        let resp = Bedrock.decode_embedding_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            serde_json::to_value(&resp.data).unwrap(),
            json!([{"index": 0, "vector": [0.5, 0.25]}, {"index": 1, "vector": [1.0, 0.0]}])
        );
        assert_eq!(resp.usage, None);
    }
}

#[test]
fn embeddings_refuse_what_the_models_cannot_take() {
    let refused = |req: &EmbeddingRequest, model: &str| match Bedrock.encode_embedding_request(req, model) {
        Err(EncodeError::Unsupported { field, .. }) => field,
        Ok(_) => panic!("expected a refusal for {model}"),
    };
    let text = embedding_request(EmbeddingInput::Text("x".into()));
    assert_eq!(refused(&text, "meta.llama3-8b-instruct-v1:0"), "model");
    assert_eq!(
        refused(&embedding_request(EmbeddingInput::Tokens(vec![1, 2])), "amazon.titan-embed-text-v2:0"),
        "input"
    );
    let dims = EmbeddingRequest { dimensions: Some(256), ..text.clone() };
    assert_eq!(refused(&dims, "cohere.embed-english-v3"), "dimensions");
    let mut extra = text;
    extra.extra.insert("normalize".into(), json!(true));
    extra.extra_dialect = Some(Dialect::OpenaiChat);
    assert_eq!(refused(&extra, "amazon.titan-embed-text-v2:0"), "normalize");
    assert!(matches!(Bedrock.decode_embedding_response(br#"{"data":[]}"#), Err(DecodeError::Invalid { .. })));
}

#[test]
fn a_protocol_error_message_ends_the_stream_with_an_upstream_error() {
    let error_frame = encode_error_frame("InternalFailure", "stream reset");
    let wire = [ev("messageStart", json!({"role": "assistant"})), error_frame].concat();
    let events = decode_stream_in(&wire, 4).unwrap();
    assert_eq!(
        events[1],
        StreamEvent::Error {
            error: crate::StreamError { kind: ErrorKind::Upstream, message: "InternalFailure: stream reset".into() }
        }
    );
}

/// A Converse reply without `output` used to decode into one empty choice with zero usage, which
/// the gateway passed on as a 200.
#[test]
fn regression_empty_replies_are_errors() {
    for body in [
        json!({}),
        json!({"stopReason": "end_turn", "usage": {"inputTokens": 3, "outputTokens": 0}}),
        json!({"output": {}, "stopReason": "end_turn"}),
        json!({"output": {"message": {"role": "assistant"}}, "stopReason": "end_turn"}),
        json!({"output": {"message": {"role": "assistant", "content": []}}}),
    ] {
        let got = Bedrock.decode_response(body.to_string().as_bytes());
        assert!(matches!(got, Err(DecodeError::Invalid { .. })), "{body} gave {got:?}");
    }
}

#[test]
fn regression_filtered_replies_are_empty_replies_that_say_why() {
    for reason in ["guardrail_intervened", "content_filtered"] {
        for body in [
            json!({"stopReason": reason, "usage": {"inputTokens": 3, "outputTokens": 0}}),
            json!({"output": {"message": {"role": "assistant", "content": []}}, "stopReason": reason}),
        ] {
            let resp = Bedrock.decode_response(body.to_string().as_bytes()).unwrap();
            assert_eq!(resp.choices.len(), 1);
            assert!(resp.choices[0].content.is_empty());
            assert_eq!(resp.choices[0].finish_reason, Some(crate::FinishReason::ContentFilter), "{body}");
        }
    }
    let empty_answer = json!({"output": {"message": {"role": "assistant", "content": []}}, "stopReason": "end_turn"});
    assert!(Bedrock.decode_response(empty_answer.to_string().as_bytes()).is_ok());
}

#[test]
fn regression_empty_embedding_replies_are_errors() {
    for body in [
        json!({"embedding": [], "inputTextTokenCount": 3}),
        json!({"embeddings": []}),
        json!({"embeddings": {"float": [[0.5], []]}}),
    ] {
        let got = Bedrock.decode_embedding_response(body.to_string().as_bytes());
        assert!(matches!(got, Err(DecodeError::Invalid { .. })), "{body} gave {got:?}");
    }
}

#[test]
fn regression_a_model_name_cannot_leave_its_path_segment() {
    let attack = "gem/../../admin/delete?x=";
    for op in [
        Operation::Chat { stream: false },
        Operation::Chat { stream: true },
        Operation::Embeddings,
        Operation::CountTokens,
    ] {
        let path = Bedrock.path(attack, op);
        assert!(path.starts_with("/model/gem%2F..%2F..%2Fadmin%2Fdelete%3Fx%3D/"), "{path}");
        assert_eq!(path.matches('/').count(), 3, "{path}");
        assert!(!path.contains('?') && !path.contains("/../"), "{path}");
    }
    assert_eq!(Bedrock.path("..", Operation::Chat { stream: false }), "/model/%2E%2E/converse");
    assert!(crate::check_model_id("..").is_err(), "the gateway refuses what escaping cannot make safe");
}

#[test]
fn json_object_goes_through_a_tool_the_model_must_call_and_comes_back_as_text() {
    let req = openai_request(json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_object"}}));
    let body = encode(&req).unwrap();
    assert_eq!(body["toolConfig"]["tools"][0]["toolSpec"]["name"], "json_output");
    assert_eq!(body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"], json!({"type": "object"}));
    assert_eq!(body["toolConfig"]["toolChoice"], json!({"any": {}}));
    assert!(body.get("outputConfig").is_none(), "{body}");

    let reply = json!({"output": {"message": {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "t1", "name": "json_output", "input": {"answer": 42}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8}});
    let resp = Bedrock.decode_response(reply.to_string().as_bytes()).unwrap();
    let client: Value = serde_json::from_slice(&OpenAi.encode_response(&resp)).unwrap();
    assert_eq!(client["choices"][0]["finish_reason"], "stop", "{client}");
    let text = client["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), json!({"answer": 42}));

    let mut wire = Vec::new();
    wire.extend(ev("messageStart", json!({"role": "assistant"})));
    wire.extend(ev(
        "contentBlockStart",
        json!({"contentBlockIndex": 0,
        "start": {"toolUse": {"toolUseId": "t1", "name": "json_output"}}}),
    ));
    wire.extend(ev(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{\"answer\": "}}}),
    ));
    wire.extend(ev("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": "42}"}}})));
    wire.extend(ev("contentBlockStop", json!({"contentBlockIndex": 0})));
    wire.extend(ev("messageStop", json!({"stopReason": "tool_use"})));
    wire.extend(ev(
        "metadata",
        json!({"usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8}, "metrics": {"latencyMs": 1}}),
    ));
    let events = decode_stream_in(&wire, 7).unwrap();
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({"answer": 42}));
    assert!(!events.iter().any(|e| matches!(e, StreamEvent::ToolCallStart { .. })), "{events:?}");
    assert!(events.iter().any(|e| matches!(e, StreamEvent::Finish { reason: crate::FinishReason::Stop, .. })));
}

// ---------- Claude Code, and JSON output on every Converse model ----------

fn claude_code() -> ChatRequest {
    let body = include_str!("../../fixtures/claude_code/request.json");
    crate::anthropic::Anthropic.decode_request(body.as_bytes()).unwrap()
}

#[test]
fn claude_code_request_encodes_for_converse() {
    let req = claude_code();
    let sent: Value = serde_json::from_slice(
        &Bedrock.encode_request(&req, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", true).unwrap(),
    )
    .unwrap();
    let expected = json!({
        "messages": [
            {"role": "user", "content": [
                {"text": "<system-reminder>As you answer, use the context below.</system-reminder>"},
                {"text": "Why does the parser test fail?"},
                {"cachePoint": {"type": "default"}}
            ]},
            {"role": "assistant", "content": [
                {"text": "Let me read the parser."},
                {"toolUse": {"toolUseId": "toolu_01Read", "name": "Read", "input": {"file_path": "/repo/src/parser.rs"}}}
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "toolu_01Read", "content": [{"text": "fn parse() {}"}], "status": "success"}},
                {"cachePoint": {"type": "default"}}
            ]}
        ],
        // The later instruction joins `system`, after the cached prefix.
        "system": [
            {"text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {"text": "You are an interactive CLI tool that helps users with software engineering tasks."},
            {"cachePoint": {"type": "default"}},
            {"text": "Plan mode is active: do not edit files yet."}
        ],
        "inferenceConfig": {"maxTokens": 32000},
        "toolConfig": {"tools": [
            {"toolSpec": {"name": "Read", "description": "Reads a file from the local filesystem.",
                "inputSchema": {"json": {"type": "object", "properties": {"file_path": {"type": "string"}},
                    "required": ["file_path"], "additionalProperties": false,
                    "$schema": "http://json-schema.org/draft-07/schema#"}}}},
            {"toolSpec": {"name": "Bash", "description": "Executes a bash command.",
                "inputSchema": {"json": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}},
            {"cachePoint": {"type": "default"}}
        ]},
        // Adaptive thinking at `high` effort: that effort's budget, below `maxTokens`.
        "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 16384}}
    });
    assert_eq!(sent, expected);
    assert_eq!(Bedrock.dropped(&req), ["tools[0].eager_input_streaming", "context_management"]);
}

#[test]
fn adaptive_thinking_without_effort_gets_a_budget_that_fits() {
    let mut req = claude_code();
    req.reasoning_effort = None;
    let thinking = |req: &ChatRequest| encode(req).unwrap()["additionalModelRequestFields"]["thinking"].clone();
    assert_eq!(thinking(&req), json!({"type": "enabled", "budget_tokens": 8192}));
    req.max_tokens = Some(3000);
    assert_eq!(thinking(&req), json!({"type": "enabled", "budget_tokens": 2999}));
    req.max_tokens = Some(800);
    assert_eq!(thinking(&req), Value::Null);
    req.reasoning_effort = Some("max".into());
    req.max_tokens = Some(64000);
    assert_eq!(thinking(&req), json!({"type": "enabled", "budget_tokens": 32768}));
}

fn json_schema_request() -> ChatRequest {
    openai_request(json!({"model": "m", "messages": [{"role": "user", "content": "Name a city."}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "city",
            "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}))
}

#[test]
fn json_schema_goes_through_a_forced_tool_on_models_without_native_structured_output() {
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    for (model, forced) in [
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", true),
        ("us.amazon.nova-pro-v1:0", true),
        // Llama's Converse tool use refuses a forced choice: the tool is offered alone.
        ("meta.llama3-3-70b-instruct-v1:0", false),
    ] {
        let body: Value =
            serde_json::from_slice(&Bedrock.encode_request(&json_schema_request(), model, false).unwrap()).unwrap();
        assert!(body.get("outputConfig").is_none(), "{model}: {body}");
        let spec = &body["toolConfig"]["tools"][0]["toolSpec"];
        assert_eq!((&spec["name"], &spec["inputSchema"]["json"]), (&json!("json_output"), &schema), "{model}");
        let choice = body["toolConfig"].get("toolChoice");
        assert_eq!(choice, forced.then_some(&json!({"any": {}})), "{model}");
    }
    let object = openai_request(json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_object"}}));
    let body: Value =
        serde_json::from_slice(&Bedrock.encode_request(&object, "amazon.nova-lite-v1:0", false).unwrap()).unwrap();
    assert_eq!(body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"], json!({"type": "object"}));
    assert_eq!(body["toolConfig"]["toolChoice"], json!({"any": {}}));
}

#[test]
fn a_native_structured_reply_is_the_message_text() {
    let reply = json!({"output": {"message": {"role": "assistant", "content": [{"text": "{\"city\":\"Paris\"}"}]}},
        "stopReason": "end_turn", "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8}});
    let resp = Bedrock.decode_response(reply.to_string().as_bytes()).unwrap();
    assert_eq!(resp.choices[0].content, [Part::text("{\"city\":\"Paris\"}")]);
    assert_eq!(resp.choices[0].finish_reason, Some(crate::FinishReason::Stop));
}
