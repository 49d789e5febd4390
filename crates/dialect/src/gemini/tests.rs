use serde_json::{json, Value};

use super::*;
use crate::openai::OpenAi;
use crate::{FinishReason, Ingress, Operation, Part, StreamEvent};

fn request(v: Value) -> ChatRequest {
    OpenAi.decode_request(v.to_string().as_bytes()).unwrap()
}

fn encode(v: Value) -> Value {
    serde_json::from_slice(&Gemini.encode_request(&request(v), "gemini-2.5-flash", false).unwrap()).unwrap()
}

#[test]
fn paths_put_the_model_and_the_method_in_the_url() {
    assert_eq!(
        Gemini.path("gemini-2.5-flash", Operation::Chat { stream: false }),
        "/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        Gemini.path("gemini-2.5-flash", Operation::Chat { stream: true }),
        "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        Gemini.path("gemini-embedding-001", Operation::Embeddings),
        "/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(Gemini.path("gemini-2.5-flash", Operation::CountTokens), "/models/gemini-2.5-flash:countTokens");
}

#[test]
fn a_tool_conversation_becomes_contents_with_function_parts() {
    let body = encode(json!({
        "model": "g",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Weather and time in Paris? See:"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"Europe/Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_a", "content": "{\"temp_c\": 21}"},
            {"role": "tool", "tool_call_id": "call_b", "content": "14:00"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}],
        "tool_choice": "required",
        "temperature": 0.2, "top_p": 0.9, "max_tokens": 300, "stop": ["END"], "n": 2, "seed": 7,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    }));
    assert_eq!(body["systemInstruction"], json!({"parts": [{"text": "Be brief."}]}));
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather and time in Paris? See:"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SKIP_SIGNATURE},
                {"functionCall": {"name": "get_time", "args": {"tz": "Europe/Paris"}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": {"temp_c": 21}}}},
                {"functionResponse": {"name": "get_time", "response": {"output": "14:00"}}}]}
        ])
    );
    assert_eq!(
        body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]["properties"]["city"]["type"],
        "string"
    );
    assert_eq!(body["toolConfig"], json!({"functionCallingConfig": {"mode": "ANY"}}));
    assert_eq!(
        body["generationConfig"],
        json!({"temperature": 0.2, "topP": 0.9, "maxOutputTokens": 300, "stopSequences": ["END"], "candidateCount": 2,
               "seed": 7, "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}})
    );
}

#[test]
fn reasoning_effort_becomes_a_thinking_budget() {
    let body = encode(json!({"model": "g", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low"}));
    assert_eq!(body["generationConfig"]["thinkingConfig"], json!({"thinkingBudget": 1024, "includeThoughts": true}));
}

#[test]
fn what_gemini_cannot_take_is_refused_by_name() {
    let refuse = |v: Value| Gemini.encode_request(&request(v), "g", false).unwrap_err().to_string();
    let e = refuse(json!({"model": "g", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat"}}]}]}));
    assert!(e.contains("messages[0].content[0].image_url"), "{e}");
    let e = refuse(
        json!({"model": "g", "messages": [{"role": "user", "content": "x"}], "prediction": {"type": "content"}}),
    );
    assert!(e.contains("`prediction`"), "{e}");
    let e = refuse(json!({"model": "g", "messages": [{"role": "user", "content": "x"},
        {"role": "tool", "tool_call_id": "nope", "content": "r"}]}));
    assert!(e.contains("tool_call_id"), "{e}");
    // An image URL whose type shows goes as fileData.
    let body = encode(json!({"model": "g", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.JPG?x=1"}}]}]}));
    assert_eq!(body["contents"][0]["parts"][0]["fileData"]["mimeType"], "image/jpeg");
}

const REPLY: &str = r#"{
  "candidates": [{
    "content": {"role": "model", "parts": [
      {"text": "**Checking the forecast**", "thought": true},
      {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "CiQB0e2Kb2x5c2lnbmF0dXJl"},
      {"functionCall": {"name": "get_time", "args": {"tz": "Europe/Paris"}}}
    ]},
    "finishReason": "STOP", "index": 0,
    "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
  }],
  "usageMetadata": {"promptTokenCount": 1200, "candidatesTokenCount": 40, "totalTokenCount": 1315,
    "cachedContentTokenCount": 1024, "thoughtsTokenCount": 75,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1200}]},
  "modelVersion": "gemini-2.5-flash",
  "responseId": "mTQOabXyLcWbz7IPk5ypoA8"
}"#;

#[test]
fn a_reply_with_thoughts_and_calls_decodes_with_signatures_ids_and_usage() {
    let resp = Gemini.decode_response(REPLY.as_bytes()).unwrap();
    assert_eq!(resp.id, "mTQOabXyLcWbz7IPk5ypoA8");
    assert_eq!(resp.model, "gemini-2.5-flash");
    let c = &resp.choices[0];
    assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        c.content,
        vec![
            Part::Reasoning { text: "**Checking the forecast**".into(), signature: None, redacted: None },
            Part::Reasoning { text: String::new(), signature: Some("CiQB0e2Kb2x5c2lnbmF0dXJl".into()), redacted: None },
            Part::ToolCall {
                id: "call_mTQOabXyLcWb_0".into(),
                name: "get_weather".into(),
                arguments: "{\"city\":\"Paris\"}".into()
            },
            Part::ToolCall {
                id: "call_mTQOabXyLcWb_1".into(),
                name: "get_time".into(),
                arguments: "{\"tz\":\"Europe/Paris\"}".into()
            },
        ]
    );
    let u = resp.usage.unwrap();
    assert_eq!((u.input_tokens, u.output_tokens), (1200, 115));
    assert_eq!((u.cached_input_tokens, u.reasoning_tokens), (Some(1024), Some(75)));
}

#[test]
fn signatures_go_back_on_the_part_they_came_with() {
    // The decoded reply, sent back as history, restores the signature on its function call.
    let resp = Gemini.decode_response(REPLY.as_bytes()).unwrap();
    let mut req = request(json!({"model": "g", "messages": [{"role": "user", "content": "x"}]}));
    req.messages.push(crate::Message {
        role: crate::Role::Assistant,
        content: resp.choices[0].content.clone(),
        name: None,
        content_was_string: false,
    });
    let body: Value = serde_json::from_slice(&Gemini.encode_request(&req, "g", false).unwrap()).unwrap();
    let parts = &body["contents"][1]["parts"];
    assert_eq!(parts[0], json!({"text": "**Checking the forecast**", "thought": true}));
    assert_eq!(parts[1]["thoughtSignature"], "CiQB0e2Kb2x5c2lnbmF0dXJl");
    assert!(parts[2].get("thoughtSignature").is_none(), "only the first call carries one");
}

#[test]
fn a_blocked_prompt_is_a_content_filter_finish() {
    let resp = Gemini
        .decode_response(br#"{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8}, "modelVersion": "gemini-2.5-pro"}"#)
        .unwrap();
    assert_eq!(resp.choices[0].finish_reason, Some(FinishReason::ContentFilter));
    assert!(resp.choices[0].content.is_empty());
}

fn stream_events(wire: &str, chunk: usize) -> Result<Vec<StreamEvent>, DecodeError> {
    let mut deframer = Framing::Sse.deframer();
    let mut decoder = Gemini.stream_decoder();
    let mut events = Vec::new();
    let mut failure = None;
    for piece in wire.as_bytes().chunks(chunk) {
        deframer.feed_with(piece, |f| match decoder.feed(&f) {
            Ok(e) => events.extend(e),
            Err(e) => failure = Some(e),
        })?;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    events.extend(decoder.finish()?);
    Ok(events)
}

const STREAM: &str = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Bon\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 1,\"totalTokenCount\": 10},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc123\"}\r\n\r\n\
data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"jour.\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 3,\"totalTokenCount\": 12},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc123\"}\r\n\r\n\
data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"get_weather\",\"args\": {\"city\": \"Paris\"}}}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 12,\"totalTokenCount\": 21},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc123\"}\r\n\r\n";

#[test]
fn a_stream_decodes_the_same_however_it_is_cut_and_reports_the_last_usage_once() {
    let events = stream_events(STREAM, STREAM.len()).unwrap();
    for chunk in [1, 5, 33] {
        assert_eq!(stream_events(STREAM, chunk).unwrap(), events);
    }
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "abc123".into(),
                model: "gemini-2.5-flash".into(),
                created: 0,
                system_fingerprint: None
            },
            StreamEvent::TextDelta { choice: 0, text: "Bon".into() },
            StreamEvent::TextDelta { choice: 0, text: "jour.".into() },
            StreamEvent::ToolCallStart { choice: 0, index: 0, id: "call_abc123_0".into(), name: "get_weather".into() },
            StreamEvent::ToolCallDelta { choice: 0, index: 0, arguments: "{\"city\":\"Paris\"}".into() },
            StreamEvent::Finish { choice: 0, reason: FinishReason::ToolCalls, stop_sequence: None },
            StreamEvent::Usage {
                usage: crate::Usage {
                    input_tokens: 9,
                    output_tokens: 12,
                    cached_input_tokens: None,
                    cache_write_tokens: None,
                    reasoning_tokens: None
                }
            },
        ]
    );
}

#[test]
fn a_stream_cut_before_its_finish_reason_is_an_error_and_a_mid_stream_error_is_reported() {
    let cut = STREAM.split("\r\n\r\n").take(2).collect::<Vec<_>>().join("\r\n\r\n") + "\r\n\r\n";
    assert_eq!(stream_events(&cut, 7), Err(DecodeError::Truncated));
    let failing = format!(
        "{}data: {{\"error\": {{\"code\": 503, \"message\": \"The model is overloaded.\", \"status\": \"UNAVAILABLE\"}}}}\n\n",
        STREAM.split("\r\n\r\n").next().unwrap().to_owned() + "\r\n\r\n"
    );
    let events = stream_events(&failing, 9).unwrap();
    let Some(StreamEvent::Error { error }) = events.last() else { panic!("{events:?}") };
    assert_eq!(error.kind, crate::ErrorKind::Overloaded);
    assert_eq!(error.message, "The model is overloaded.");
}

#[test]
fn google_errors_keep_message_and_status() {
    let body = br#"{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}"#;
    let e = Gemini.decode_error(http::StatusCode::TOO_MANY_REQUESTS, body);
    assert_eq!(e.message, "Resource has been exhausted (e.g. check quota).");
    assert_eq!(e.code.as_deref(), Some("RESOURCE_EXHAUSTED"));
    let e = Gemini.decode_error(
        http::StatusCode::BAD_REQUEST,
        br#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT"}}"#,
    );
    assert!(e.message.starts_with("API key not valid"));
    let e = Gemini.decode_error(http::StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
    assert!(e.message.contains("bad gateway"));
}

#[test]
fn embeddings_batch_one_request_per_input() {
    let req = crate::EmbeddingRequest {
        model: "e".into(),
        input: crate::EmbeddingInput::Texts(vec!["a".into(), "b".into()]),
        dimensions: Some(256),
        ..Default::default()
    };
    let body: Value =
        serde_json::from_slice(&Gemini.encode_embedding_request(&req, "gemini-embedding-001").unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 256},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 256}]})
    );
    let resp =
        Gemini.decode_embedding_response(br#"{"embeddings": [{"values": [0.5, -1]}, {"values": [0.25]}]}"#).unwrap();
    assert_eq!(resp.data.len(), 2);
    assert_eq!(resp.data[1].vector, crate::EmbeddingVector::Float(vec![0.25]));
}

/// A reply without candidates (and without a block reason) used to decode into a reply with no
/// choices and zero usage, which the gateway passed on as a 200.
#[test]
fn regression_empty_replies_are_errors() {
    for body in [
        json!({}),
        json!({"candidates": [], "usageMetadata": {"promptTokenCount": 8}, "modelVersion": "gemini-2.5-pro"}),
        json!({"candidates": [{}]}),
        json!({"candidates": [{"content": {"parts": []}, "index": 0}]}),
        json!({"promptFeedback": {}}),
    ] {
        let got = Gemini.decode_response(body.to_string().as_bytes());
        assert!(matches!(got, Err(DecodeError::Invalid { .. })), "{body} gave {got:?}");
    }
}

#[test]
fn regression_filtered_candidates_are_empty_replies_that_say_why() {
    for reason in ["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"] {
        let body = json!({"candidates": [{"finishReason": reason, "index": 0}], "modelVersion": "gemini-2.5-pro"});
        let resp = Gemini.decode_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(resp.choices.len(), 1, "{reason}");
        assert!(resp.choices[0].content.is_empty());
        assert_eq!(resp.choices[0].finish_reason, Some(FinishReason::ContentFilter), "{reason}");
    }
    // A blocked prompt may come with an empty candidate list or an empty candidate.
    for body in [
        json!({"promptFeedback": {"blockReason": "OTHER"}, "candidates": []}),
        json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "candidates": [{}]}),
    ] {
        let resp = Gemini.decode_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(resp.choices.len(), 1);
        assert_eq!(resp.choices[0].finish_reason, Some(FinishReason::ContentFilter));
    }
}

#[test]
fn regression_empty_embedding_replies_are_errors() {
    for body in [json!({}), json!({"embeddings": []}), json!({"embeddings": [{"values": [0.5]}, {}]})] {
        let got = Gemini.decode_embedding_response(body.to_string().as_bytes());
        assert!(matches!(got, Err(DecodeError::Invalid { .. })), "{body} gave {got:?}");
    }
}

#[test]
fn a_stream_without_a_finish_reason_is_an_error() {
    let wire = "data: {\"candidates\": [], \"modelVersion\": \"gemini-2.5-flash\"}\n\n";
    assert!(stream_events(wire, wire.len()).is_err());
    let blocked = "data: {\"promptFeedback\": {\"blockReason\": \"SAFETY\"}}\n\n";
    let events = stream_events(blocked, 5).unwrap();
    assert!(events.iter().any(|e| matches!(e, StreamEvent::Finish { reason: FinishReason::ContentFilter, .. })));
}

/// The model went into the URL unescaped: `gem/../../admin/delete?x=` climbed out of
/// `/models/` and added a query.
#[test]
fn regression_a_model_name_cannot_leave_its_path_segment() {
    let attack = "gem/../../admin/delete?x=";
    for op in [
        Operation::Chat { stream: false },
        Operation::Chat { stream: true },
        Operation::Embeddings,
        Operation::CountTokens,
    ] {
        let path = Gemini.path(attack, op);
        let (path_only, query) = path.split_once('?').unwrap_or((&path, ""));
        assert!(path_only.starts_with("/models/"), "{path}");
        assert_eq!(path_only.matches('/').count(), 2, "{path}");
        assert!(!path.contains("/../") && !path.contains("/.."), "{path}");
        assert!(query.is_empty() || query == "alt=sse", "{path}");
        assert!(!path.contains('#'));
    }
    assert_eq!(
        Gemini.path(attack, Operation::Chat { stream: false }),
        "/models/gem%2F..%2F..%2Fadmin%2Fdelete%3Fx%3D:generateContent"
    );
    // A `:` cannot pick another method either.
    assert_eq!(
        Gemini.path("gem:streamGenerateContent", Operation::Chat { stream: false }),
        "/models/gem%3AstreamGenerateContent:generateContent"
    );
}

/// A candidate `index` sized the per-choice tool-call table: `4294967295` asked for a 16 GiB
/// vector (an abort), `1000000000` for 4 GB of zeroed memory per chunk.
#[test]
fn regression_a_huge_candidate_index_allocates_nothing() {
    let started = std::time::Instant::now();
    for index in [u32::MAX, 1_000_000_000, 7] {
        let wire = format!(
            "data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"functionCall\": {{\"name\": \"f\", \"args\": {{}}}}}}]}}, \"index\": {index}, \"finishReason\": \"STOP\"}}]}}\n\n"
        );
        let events = stream_events(&wire, wire.len()).unwrap();
        assert!(events
            .iter()
            .any(|e| matches!(e, StreamEvent::ToolCallStart { choice, index: 0, .. } if *choice == index)));
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
}

// ---------- Claude Code against Gemini ----------

fn claude_code() -> ChatRequest {
    let body = include_str!("../../fixtures/claude_code/request.json");
    crate::anthropic::Anthropic.decode_request(body.as_bytes()).unwrap()
}

#[test]
fn claude_code_request_encodes_for_gemini() {
    let req = claude_code();
    let sent: Value = serde_json::from_slice(&Gemini.encode_request(&req, "gemini-2.5-pro", true).unwrap()).unwrap();
    let expected = json!({
        "contents": [
            {"role": "user", "parts": [
                {"text": "<system-reminder>As you answer, use the context below.</system-reminder>"},
                {"text": "Why does the parser test fail?"}
            ]},
            {"role": "model", "parts": [
                {"text": "Let me read the parser."},
                {"functionCall": {"name": "Read", "args": {"file_path": "/repo/src/parser.rs"}},
                 "thoughtSignature": SKIP_SIGNATURE}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "Read", "response": {"output": "fn parse() {}"}}}
            ]}
        ],
        // Gemini has no system turn: the later instruction joins the system instruction, in order.
        "systemInstruction": {"parts": [
            {"text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {"text": "You are an interactive CLI tool that helps users with software engineering tasks."},
            {"text": "Plan mode is active: do not edit files yet."}
        ]},
        "tools": [{"functionDeclarations": [
            {"name": "Read", "description": "Reads a file from the local filesystem.",
             "parametersJsonSchema": {"type": "object", "properties": {"file_path": {"type": "string"}},
                 "required": ["file_path"], "additionalProperties": false,
                 "$schema": "http://json-schema.org/draft-07/schema#"}},
            {"name": "Bash", "description": "Executes a bash command.",
             "parametersJsonSchema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}
        ]}],
        // Adaptive thinking: the dynamic budget.
        "generationConfig": {"maxOutputTokens": 32000, "thinkingConfig": {"thinkingBudget": -1, "includeThoughts": true}}
    });
    assert_eq!(sent, expected);
    assert_eq!(Gemini.dropped(&req), ["tools[0].eager_input_streaming", "context_management", "cache_control"]);
}

#[test]
fn effort_levels_above_high_get_the_largest_common_budget() {
    let mut req = claude_code();
    req.reasoning_adaptive = false;
    for (effort, budget) in [("max", 24_576), ("xhigh", 24_576), ("low", 1_024), ("none", 0)] {
        req.reasoning_effort = Some(effort.into());
        let sent: Value =
            serde_json::from_slice(&Gemini.encode_request(&req, "gemini-2.5-pro", false).unwrap()).unwrap();
        assert_eq!(sent["generationConfig"]["thinkingConfig"]["thinkingBudget"], budget, "{effort}");
    }
}
