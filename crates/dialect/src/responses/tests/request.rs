//! Request-side tests: what Responses clients send, decoded; what OpenAI gets, encoded.
//! Client shapes follow Codex CLI (`codex-rs` `ResponsesApiRequest` / `ResponseItem`), the
//! OpenAI Agents SDK (`models/openai_responses.py`) and the Vercel AI SDK (`@ai-sdk/openai`'s
//! responses provider), and the captures in `fixtures/clients/`.

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::responses::{decode_request, referenced_ids, Envelope, Responses};
use crate::{
    ChatRequest, DecodeError, Dialect, Egress, EncodeError, ImageSource, Ingress, Message, Part, ResponseFormat, Role,
    ToolChoice,
};

fn decode_with(body: &Value, history: &[Value], refs: &HashMap<String, Value>) -> (ChatRequest, Envelope) {
    decode_request(&serde_json::to_vec(body).unwrap(), history, refs).unwrap_or_else(|e| panic!("{e:?}"))
}

fn decode(body: &Value) -> (ChatRequest, Envelope) {
    decode_with(body, &[], &HashMap::new())
}

/// The message and param of a refused request.
fn refused(body: &Value) -> (String, Option<String>) {
    match decode_request(&serde_json::to_vec(body).unwrap(), &[], &HashMap::new()) {
        Err(DecodeError::Invalid { message, param }) => (message, param),
        other => panic!("expected a 400, got {other:?}"),
    }
}

fn encode(req: &ChatRequest) -> Value {
    let bytes = Responses.encode_request(req, &req.model, req.stream).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_slice(&bytes).unwrap()
}

/// Decode → encode → decode gives back the same canonical request: nothing the client sent is
/// lost on the way to OpenAI. Returns what OpenAI gets.
fn round_trip(req: &ChatRequest) -> Value {
    let sent = encode(req);
    assert_eq!(sent["store"], json!(false));
    assert!(sent.get("previous_response_id").is_none());
    let (again, _) = decode(&sent);
    assert_eq!(
        without_paths(&again),
        without_paths(req),
        "sent to OpenAI: {}",
        serde_json::to_string_pretty(&sent).unwrap()
    );
    sent
}

/// `req` without its verbatim parts' paths, which are where the client put them and move when
/// instructions leave `input` for `instructions`.
fn without_paths(req: &ChatRequest) -> ChatRequest {
    let mut req = req.clone();
    for part in req.messages.iter_mut().flat_map(|m| m.content.iter_mut()) {
        if let Part::Raw { kind, .. } = part {
            kind.clear();
        }
    }
    req
}

fn client_fixture(name: &str) -> Value {
    crate::test_fixtures::json(&format!("clients/{name}"))
}

fn text(t: &str) -> Part {
    Part::text(t)
}

fn msg(role: Role, content: Vec<Part>) -> Message {
    Message { role, content, name: None, content_was_string: false }
}

fn shell_tool() -> Value {
    json!({
        "type": "function",
        "name": "shell",
        "description": "Runs a shell command and returns its output.",
        "strict": false,
        "parameters": {
            "type": "object",
            "properties": {
                "command": {"type": "array", "items": {"type": "string"}},
                "workdir": {"type": "string"},
                "timeout_ms": {"type": "number"}
            },
            "required": ["command"],
            "additionalProperties": false
        }
    })
}

fn codex_turn(input: Vec<Value>) -> Value {
    json!({
        "model": "gpt-5-codex",
        "instructions": "You are Codex, based on GPT-5. You are running as a coding agent in the Codex CLI.",
        "input": input,
        "tools": [shell_tool()],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": false,
        "stream": true,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0199a8f2-3c4d-7e5f-8a9b-0c1d2e3f4a5b"
    })
}

fn codex_first_items() -> Vec<Value> {
    vec![
        json!({"type": "message", "role": "developer", "content": [
            {"type": "input_text", "text": "<permissions instructions>Filesystem sandboxing: read-only.</permissions instructions>"}]}),
        json!({"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "<environment_context>\n  <cwd>/work</cwd>\n</environment_context>"}]}),
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "List the files"}]}),
    ]
}

#[test]
fn codex_turn_decodes_to_canonical_with_its_hints() {
    let body = codex_turn(codex_first_items());
    let (req, env) = decode(&body);

    assert_eq!(req.model, "gpt-5-codex");
    assert_eq!(
        req.system,
        vec![
            text("You are Codex, based on GPT-5. You are running as a coding agent in the Codex CLI."),
            text("<permissions instructions>Filesystem sandboxing: read-only.</permissions instructions>"),
        ]
    );
    assert!(req.system_is_developer);
    assert_eq!(
        req.messages,
        vec![
            msg(Role::User, vec![text("<environment_context>\n  <cwd>/work</cwd>\n</environment_context>")]),
            msg(Role::User, vec![text("List the files")]),
        ]
    );
    assert_eq!(req.tools.len(), 1);
    assert_eq!(req.tools[0].name, "shell");
    assert_eq!(req.tools[0].strict, Some(false));
    assert_eq!(req.tools[0].parameters, shell_tool().get("parameters").cloned());
    assert_eq!(req.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert_eq!(req.reasoning_effort.as_deref(), Some("medium"));
    assert!(req.stream && req.stream_include_usage);
    assert_eq!(req.extra_dialect, Some(Dialect::OpenaiResponses));
    assert!(req.extra.is_empty(), "{:?}", req.extra);
    assert_eq!(req.hint_paths, ["include", "prompt_cache_key", "reasoning.summary"]);
    assert_eq!(req.hints["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(req.hints["reasoning"], json!({"summary": "auto"}));

    assert_eq!(env.store, Some(false));
    assert_eq!(env.previous_response_id, None);
    assert_eq!(env.input_items, codex_first_items());
    assert_eq!(
        Value::Object(env.echo),
        json!({
            "instructions": body["instructions"], "max_output_tokens": null, "parallel_tool_calls": false,
            "previous_response_id": null, "reasoning": {"effort": "medium", "summary": "auto"}, "store": false,
            "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto",
            "tools": [shell_tool()], "top_p": 1.0, "truncation": "disabled", "user": null, "metadata": {},
            "background": false, "max_tool_calls": null, "top_logprobs": 0,
            "prompt_cache_key": "0199a8f2-3c4d-7e5f-8a9b-0c1d2e3f4a5b", "safety_identifier": null,
        })
    );

    let sent = round_trip(&req);
    assert_eq!(sent["model"], json!("gpt-5-codex"));
    assert_eq!(sent["tools"], json!([shell_tool()]));
    assert_eq!(sent["tool_choice"], json!("auto"));
    assert_eq!(sent["parallel_tool_calls"], json!(false));
    assert_eq!(sent["reasoning"], json!({"effort": "medium", "summary": "auto"}));
    assert_eq!(sent["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(sent["prompt_cache_key"], body["prompt_cache_key"]);
    assert_eq!(sent["stream"], json!(true));
    assert_eq!(sent["input"][3], codex_first_items()[2]);
}

#[test]
fn codex_next_turn_keeps_encrypted_reasoning_calls_and_outputs() {
    let reasoning = json!({"type": "reasoning", "summary": [
            {"type": "summary_text", "text": "**Listing files**"},
            {"type": "summary_text", "text": "I'll run ls in the workspace."}],
        "encrypted_content": "gAAAAABo-opaque-openai-reasoning"});
    let call = json!({"type": "function_call", "name": "shell", "arguments": "{\"command\":[\"ls\"]}",
        "call_id": "call_Qx8v"});
    let output = json!({"type": "function_call_output", "call_id": "call_Qx8v", "output": "Cargo.toml\nsrc\n"});
    let mut items = codex_first_items();
    items.extend([reasoning.clone(), call.clone(), output.clone()]);
    let (req, env) = decode(&codex_turn(items.clone()));

    assert_eq!(req.reasoning_origin, Some(Dialect::OpenaiResponses));
    assert_eq!(
        req.messages[2..],
        [
            msg(
                Role::Assistant,
                vec![
                    Part::Reasoning {
                        text: "**Listing files**\n\nI'll run ls in the workspace.".into(),
                        signature: None,
                        redacted: Some("gAAAAABo-opaque-openai-reasoning".into()),
                    },
                    Part::ToolCall {
                        id: "call_Qx8v".into(),
                        name: "shell".into(),
                        arguments: "{\"command\":[\"ls\"]}".into()
                    },
                ]
            ),
            msg(
                Role::Tool,
                vec![Part::ToolResult {
                    tool_call_id: "call_Qx8v".into(),
                    content: vec![text("Cargo.toml\nsrc\n")],
                    is_error: false,
                    cache_control: None,
                }]
            ),
        ]
    );
    assert_eq!(env.input_items, items);

    let sent = encode(&req);
    let input = sent["input"].as_array().unwrap();
    assert_eq!(input[5], call);
    assert_eq!(input[6], output);
    assert_eq!(input[4]["encrypted_content"], reasoning["encrypted_content"]);
    assert_eq!(input[4]["type"], json!("reasoning"));
}

#[test]
fn reasoning_another_provider_signed_reaches_no_openai_upstream() {
    let token = crate::responses::reasoning_token(Some(Dialect::Anthropic), Some("sig-1"), None).unwrap();
    let body = json!({"model": "m", "input": [
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Thinking."}], "encrypted_content": token},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello", "annotations": []}]},
        {"role": "user", "content": "again"}]});
    let (req, _) = decode(&body);
    assert_eq!(req.reasoning_origin, Some(Dialect::Anthropic));
    assert_eq!(
        req.messages[1].content,
        vec![
            Part::Reasoning { text: "Thinking.".into(), signature: Some("sig-1".into()), redacted: None },
            text("Hello")
        ]
    );
    let sent = encode(&req);
    assert_eq!(sent["input"].as_array().unwrap().len(), 3);
    assert!(sent["input"].as_array().unwrap().iter().all(|i| i["type"] != json!("reasoning")));
}

#[test]
fn agents_sdk_request_decodes_and_round_trips() {
    let body = client_fixture("agents-sdk-2.json");
    let (req, env) = decode(&body);
    assert_eq!(req.system, vec![text("Use the tool.")]);
    assert!(!req.system_is_developer);
    assert_eq!(
        req.messages,
        vec![
            Message {
                role: Role::User,
                content: vec![text("What's the weather in Paris?")],
                name: None,
                content_was_string: true
            },
            msg(
                Role::Assistant,
                vec![Part::ToolCall {
                    id: "call_80cfb573".into(),
                    name: "get_weather".into(),
                    arguments: "{\"city\": \"Paris\"}".into()
                }]
            ),
            msg(
                Role::Tool,
                vec![Part::ToolResult {
                    tool_call_id: "call_80cfb573".into(),
                    content: vec![text("The weather in Paris is sunny-marker-42.")],
                    is_error: false,
                    cache_control: None,
                }]
            ),
        ]
    );
    assert_eq!(req.reasoning_effort.as_deref(), Some("none"));
    assert_eq!(req.tools[0].strict, Some(true));
    assert_eq!(req.hint_paths, ["include", "text.verbosity"]);
    assert_eq!(req.hints["text"], json!({"verbosity": "low"}));
    assert_eq!(env.store, None);
    assert_eq!(env.echo["store"], json!(true));
    assert_eq!(env.echo["text"], json!({"format": {"type": "text"}, "verbosity": "low"}));
    assert_eq!(env.echo["reasoning"], json!({"effort": "none", "summary": null}));
    // The easy-form message is listed as OpenAI lists it; the call keeps the id it was given.
    assert_eq!(
        env.input_items[0],
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What's the weather in Paris?"}]})
    );
    assert_eq!(env.input_items[1], body["input"][1]);

    let sent = round_trip(&req);
    assert_eq!(sent["instructions"], json!("Use the tool."));
    assert_eq!(sent["text"], json!({"verbosity": "low"}));
    assert_eq!(sent["include"], json!([]));
    assert_eq!(sent["input"][0], json!({"type": "message", "role": "user", "content": "What's the weather in Paris?"}));
}

#[test]
fn vercel_ai_sdk_request_decodes_and_round_trips() {
    let body = client_fixture("vercel-ai-2.json");
    let (req, _) = decode(&body);
    assert_eq!(req.tools[0].strict, Some(false));
    assert_eq!(req.tools[0].parameters.as_ref().unwrap()["$schema"], json!("http://json-schema.org/draft-07/schema#"));
    assert_eq!(req.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(req.messages.len(), 3);
    let sent = round_trip(&req);
    assert_eq!(sent["input"][1], body["input"][1]);
    assert_eq!(sent["input"][2], body["input"][2]);
}

#[test]
fn vercel_images_system_message_and_structured_output() {
    let body = json!({
        "model": "gpt-4.1",
        "input": [
            {"role": "system", "content": "Answer in JSON."},
            {"role": "user", "content": [
                {"type": "input_text", "text": "What is in these?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                {"type": "input_image", "image_url": "https://example.com/cat.jpg"},
                {"type": "input_image", "file_id": "file-abc"},
                {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}]},
        ],
        "temperature": 0.2,
        "max_output_tokens": 300,
        "text": {"format": {"type": "json_schema", "strict": true, "name": "response",
            "description": "What the images show", "schema": {"type": "object", "properties": {"items": {"type": "array"}}}}},
        "user": "user-1",
        "service_tier": "flex",
        "metadata": {"trace": "t1"},
    });
    let (req, _) = decode(&body);
    assert_eq!(req.system, vec![text("Answer in JSON.")]);
    let content = &req.messages[0].content;
    assert_eq!(
        content[1],
        Part::Image {
            source: ImageSource::Base64 { media_type: "image/png".into(), data: "iVBORw0KGgo=".into() },
            detail: Some("low".into()),
            cache_control: None
        }
    );
    assert!(
        matches!(&content[2], Part::Image { source: ImageSource::Url { url }, .. } if url == "https://example.com/cat.jpg")
    );
    assert!(matches!(&content[3], Part::Raw { dialect: Dialect::OpenaiResponses, .. }));
    assert!(matches!(&content[4], Part::Raw { kind, .. } if kind == "input[1].content[4]"), "{content:?}");
    assert_eq!(
        req.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            description: Some("What the images show".into()),
            schema: Some(json!({"type": "object", "properties": {"items": {"type": "array"}}})),
            strict: Some(true),
        })
    );
    assert_eq!((req.temperature, req.max_tokens, req.user.as_deref()), (Some(0.2), Some(300), Some("user-1")));
    assert_eq!(req.hint_paths, ["metadata", "service_tier"]);
    let sent = round_trip(&req);
    assert_eq!(sent["input"][0]["content"], body["input"][1]["content"]);
    assert_eq!(sent["text"], body["text"]);
    assert_eq!(sent["service_tier"], json!("flex"));

    // Another egress refuses the raw parts by name.
    let err = crate::openai::OpenAi.encode_request(&req, "gpt-4.1", false).unwrap_err();
    assert!(err.to_string().contains("`input[1].content[3]`"), "{err}");
    assert!(err.to_string().contains("`input_image`"), "the refusal says what the part is: {err}");
}

#[test]
fn hosted_tools_and_unknown_fields_reach_openai_and_are_refused_elsewhere() {
    let body = json!({
        "model": "gpt-5",
        "input": "Search the web for Rust 2024 news",
        "tools": [{"type": "web_search", "search_context_size": "low"}, shell_tool()],
        "tool_choice": {"type": "web_search"},
        "prompt": {"id": "pmpt_1"},
    });
    let (req, env) = decode(&body);
    assert_eq!(req.tools.len(), 1);
    // The whole list, in the client's order: a refusal names the client's own index.
    assert_eq!(req.extra["tools"], body["tools"]);
    assert_eq!(req.extra["tool_choice"], json!({"type": "web_search"}));
    assert_eq!(req.extra["prompt"], json!({"id": "pmpt_1"}));
    assert_eq!(
        req.messages,
        vec![Message { content_was_string: true, ..msg(Role::User, vec![text("Search the web for Rust 2024 news")]) }]
    );
    assert_eq!(
        env.input_items,
        vec![
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Search the web for Rust 2024 news"}]})
        ]
    );
    let sent = encode(&req);
    assert_eq!(sent["tools"], body["tools"], "OpenAI gets the tools as the client sent them");
    assert_eq!(sent["tool_choice"], json!({"type": "web_search"}));
    assert_eq!(sent["prompt"], json!({"id": "pmpt_1"}));
    let err = crate::anthropic::Anthropic.encode_request(&req, "claude", false).unwrap_err();
    assert!(err.to_string().contains("prompt") || err.to_string().contains("tools"), "{err}");
}

#[test]
fn hosted_tool_items_are_raw_in_place() {
    let call = json!({"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "rust"}});
    let shell = json!({"type": "local_shell_call_output", "id": "lsh_1", "output": "ok"});
    let body = json!({"model": "m", "input": [{"role": "user", "content": "q"}, call, shell, {"role": "user", "content": "more"}]});
    let (req, _) = decode(&body);
    assert!(matches!(&req.messages[1].content[0], Part::Raw { kind, .. } if kind == "input[1]"));
    assert_eq!(req.messages[1].role, Role::Assistant);
    assert_eq!(req.messages[2].role, Role::User);
    let sent = round_trip(&req);
    assert_eq!(sent["input"][1], call);
    assert_eq!(sent["input"][2], shell);
    let err = crate::openai::OpenAi.encode_request(&req, "m", false).unwrap_err();
    assert!(err.to_string().contains("`input[1]`") && err.to_string().contains("`web_search_call`"), "{err}");
}

#[test]
fn history_comes_first_and_item_references_resolve() {
    let history = vec![
        json!({"id": "msg_a", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"}]}),
        json!({"id": "fc_b", "type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"}),
    ];
    let refs = HashMap::from([(
        "msg_old".to_owned(),
        json!({"id": "msg_old", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Earlier"}]}),
    )]);
    let body = json!({"model": "m", "previous_response_id": "resp_1", "input": [
        {"type": "function_call_output", "call_id": "call_1", "output": [{"type": "input_text", "text": "sunny"}]},
        {"type": "item_reference", "id": "msg_old"},
        {"type": "item_reference", "id": "fc_b"}]});
    let bytes = serde_json::to_vec(&body).unwrap();
    assert_eq!(referenced_ids(&bytes), ["msg_old", "fc_b"]);
    assert!(referenced_ids(br#"{"model":"m","input":"hi"}"#).is_empty());

    let (req, env) = decode_with(&body, &history, &refs);
    assert_eq!(env.previous_response_id.as_deref(), Some("resp_1"));
    assert_eq!(env.echo["previous_response_id"], json!("resp_1"));
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool, Role::User, Role::Assistant]);
    assert_eq!(env.input_items, vec![body["input"][0].clone(), refs["msg_old"].clone(), history[1].clone()]);
    assert!(req.extra.is_empty() && !req.hints.contains_key("previous_response_id"));
}

#[test]
fn refusals_name_the_offending_path() {
    let user = json!({"role": "user", "content": "hi"});
    let cases = [
        (json!({"model": "m", "input": [user, 5]}), "input[1]", "Invalid type"),
        (json!({"model": "m", "input": [user, {"content": "x"}]}), "input[1]", "type"),
        (
            json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "call_9", "output": "x"}]}),
            "input[0].call_id",
            "no function call with call_id 'call_9' precedes",
        ),
        (
            json!({"model": "m", "input": [user, {"type": "function_call_output", "call_id": "c", "output": "x"},
                {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}]}),
            "input[1].call_id",
            "precedes",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_text", "text": "a"},
                {"type": "input_image", "image_url": "not a url"}]}]}),
            "input[0].content[1].image_url",
            "URL",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "data:image/png,abc"}]}]}),
            "input[0].content[0].image_url",
            "URL",
        ),
        (json!({"model": "m", "input": "x", "temperature": "hot"}), "temperature", "expected a decimal"),
        (json!({"model": "m", "input": "x", "max_output_tokens": -1}), "max_output_tokens", "integer"),
        (json!({"model": "m", "input": "x", "stream": "yes"}), "stream", "boolean"),
        (
            json!({"model": "m", "input": "x", "tools": [shell_tool(), {"type": "function", "name": 7}]}),
            "tools[1].name",
            "string",
        ),
        (json!({"model": "m", "input": "x", "tools": [{"type": "function"}]}), "tools[0].name", "Missing"),
        (
            json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "r"}}}),
            "text.format.schema",
            "Missing",
        ),
        (
            json!({"model": "m", "input": [user, {"type": "item_reference", "id": "msg_gone"}]}),
            "input[1].id",
            "msg_gone",
        ),
        (json!({"model": "m", "input": [{"role": "robot", "content": "x"}]}), "input[0].role", "robot"),
        (
            json!({"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}),
            "input[0].call_id",
            "Missing",
        ),
        (json!({"model": "m", "input": "x", "background": true}), "background", "previous_response_id"),
        (json!({"model": "m", "input": "x", "conversation": "conv_1"}), "conversation", "previous_response_id"),
        (json!({"model": "", "input": "x"}), "model", "model"),
        (json!({"model": "m"}), "input", "input"),
        (json!({"model": "m", "input": 3}), "input", "Invalid type"),
        (json!({"model": "m", "input": "x", "tool_choice": "sometimes"}), "tool_choice", "tool_choice"),
    ];
    for (body, param, needle) in cases {
        let (message, got) = refused(&body);
        assert_eq!(got.as_deref(), Some(param), "{body}: {message}");
        assert!(message.contains(needle), "{body}: {message}");
    }
    assert!(matches!(decode_request(b"{not json", &[], &HashMap::new()), Err(DecodeError::Json(_))));
}

#[test]
fn requests_from_other_dialects_are_encoded_or_refused_by_name() {
    let chat = br#"{"model":"gpt-4o","messages":[
        {"role":"system","content":"Be brief."},
        {"role":"user","content":"hi"},
        {"role":"system","content":"Now in French."},
        {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
        {"role":"tool","tool_call_id":"c1","content":"ok"}],
        "tools":[{"type":"function","function":{"name":"f"}}],
        "tool_choice":{"type":"function","function":{"name":"f"}},
        "response_format":{"type":"json_object"},"max_completion_tokens":50}"#;
    let req = crate::openai::OpenAi.decode_request(chat).unwrap();
    let sent = encode(&req);
    assert_eq!(sent["instructions"], json!("Be brief."));
    assert_eq!(
        sent["input"],
        json!([
            {"type": "message", "role": "user", "content": "hi"},
            {"type": "message", "role": "developer", "content": "Now in French."},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        ])
    );
    // The Responses API makes function tools strict unless told otherwise; Chat's are not.
    assert_eq!(
        sent["tools"],
        json!([{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}, "strict": false}])
    );
    assert_eq!(sent["tool_choice"], json!({"type": "function", "name": "f"}));
    assert_eq!(sent["text"], json!({"format": {"type": "json_object"}}));
    assert_eq!(sent["max_output_tokens"], json!(50));
    assert_eq!(sent["store"], json!(false));

    let refuse = |body: &[u8], field: &str| {
        let req = crate::openai::OpenAi.decode_request(body).unwrap();
        match Responses.encode_request(&req, "m", false) {
            Err(EncodeError::Unsupported { field: f, target, .. }) => {
                assert_eq!((f.as_str(), target), (field, "OpenAI Responses"));
            }
            other => panic!("expected {field} refused, got {other:?}"),
        }
    };
    let base = r#""model":"m","messages":[{"role":"user","content":"hi"}]"#;
    refuse(format!(r#"{{{base},"stop":["END"]}}"#).as_bytes(), "stop");
    refuse(format!(r#"{{{base},"n":2}}"#).as_bytes(), "n");
    refuse(format!(r#"{{{base},"seed":7}}"#).as_bytes(), "seed");
    refuse(format!(r#"{{{base},"presence_penalty":0.5}}"#).as_bytes(), "presence_penalty");
    refuse(format!(r#"{{{base},"modalities":["text"]}}"#).as_bytes(), "modalities");
}

#[test]
fn anthropic_hints_are_dropped_not_sent() {
    let body = br#"{"model":"claude","max_tokens":100,"system":"s","messages":[{"role":"user","content":"hi"}],
        "context_management":{"edits":[]}}"#;
    let req = crate::anthropic::Anthropic.decode_request(body).unwrap();
    if !req.extra.is_empty() {
        return; // Kept as an Anthropic-only field: refused by name, covered above.
    }
    let sent = encode(&req);
    assert!(sent.get("context_management").is_none(), "{sent}");
    assert_eq!(sent["instructions"], json!("s"));
}

/// Every captured request to `/v1/responses` decodes, and reaches OpenAI whole.
#[test]
fn captured_client_requests_decode_and_round_trip() {
    let index = client_fixture("index.json");
    let mut seen = 0;
    for entry in index.as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        if !entry["path"].as_str().unwrap().starts_with("/v1/responses") {
            continue;
        }
        seen += 1;
        let body = client_fixture(file);
        let (req, env) = decode(&body);
        assert!(!req.messages.is_empty(), "{file}");
        assert_eq!(env.input_items.len(), body["input"].as_array().map_or(1, Vec::len), "{file}");
        let sent = round_trip(&req);
        // Hosted tools, Codex's `namespace` tools and its metadata reach OpenAI as sent.
        let sent_tools = sent["tools"].as_array().map_or(0, Vec::len);
        assert_eq!(sent_tools, body["tools"].as_array().map_or(0, Vec::len), "{file}");
        if file.starts_with("codex") {
            assert!(req.system_is_developer, "{file}");
            assert_eq!(sent["client_metadata"], body["client_metadata"], "{file}");
            assert_eq!(sent["include"], json!(["reasoning.encrypted_content"]), "{file}");
        }
    }
    assert!(seen >= 8, "only {seen} captures");
}

#[test]
fn a_huge_input_decodes_in_linear_time() {
    let n = 100_000;
    let mut input = Vec::with_capacity(n);
    for i in 0..n / 2 {
        input.push(json!({"type": "function_call", "call_id": format!("c{i}"), "name": "f", "arguments": "{}"}));
        input.push(json!({"type": "function_call_output", "call_id": format!("c{i}"), "output": "ok"}));
    }
    input.push(json!({"type": "item_reference", "id": "h"}));
    let history = vec![json!({"id": "h", "role": "user", "content": "x"})];
    let started = std::time::Instant::now();
    let (req, env) = decode_with(&json!({"model": "m", "input": input}), &history, &HashMap::new());
    assert_eq!(req.messages.len(), n + 2);
    assert_eq!(env.input_items.len(), n + 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
}

// ---------- never panics ----------

const KEYS: &[&str] = &[
    "type",
    "role",
    "content",
    "text",
    "call_id",
    "name",
    "arguments",
    "output",
    "id",
    "summary",
    "encrypted_content",
    "image_url",
    "file_id",
    "detail",
    "format",
    "schema",
    "effort",
    "verbosity",
    "tools",
    "mode",
    "parameters",
    "strict",
    "refusal",
    "input",
    "namespace",
];
const WORDS: &[&str] = &[
    "message",
    "user",
    "assistant",
    "system",
    "developer",
    "function_call",
    "function_call_output",
    "reasoning",
    "item_reference",
    "input_text",
    "output_text",
    "input_image",
    "input_file",
    "refusal",
    "summary_text",
    "web_search_call",
    "custom_tool_call",
    "custom_tool_call_output",
    "additional_tools",
    "namespace",
    "custom",
    "function",
    "json_schema",
    "allowed_tools",
    "required",
    "auto",
    "c1",
    "https://x.y/z.png",
    "data:image/png;base64,AA==",
    "data:",
    "swy1.e30",
    "",
];

fn json_ish() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(WORDS).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

const TOP: &[&str] = &[
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "text",
    "reasoning",
    "temperature",
    "max_output_tokens",
    "stream",
    "store",
    "include",
    "background",
    "metadata",
    "top_logprobs",
    "user",
    "previous_response_id",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn decode_never_panics(fields in prop::collection::vec((prop::sample::select(TOP), json_ish()), 0..6),
                           items in prop::collection::vec(json_ish(), 0..6)) {
        let mut body = serde_json::Map::new();
        body.insert("model".into(), json!("m"));
        body.insert("input".into(), Value::Array(items.clone()));
        for (k, v) in fields {
            body.insert(k.to_owned(), v);
        }
        let bytes = serde_json::to_vec(&Value::Object(body)).unwrap();
        let _ = referenced_ids(&bytes);
        if let Ok((req, _)) = decode_request(&bytes, &items, &HashMap::new()) {
            let _ = Responses.encode_request(&req, "m", req.stream);
            let _ = crate::openai::OpenAi.encode_request(&req, "m", false);
        }
    }
}

/// Claude Code's requests carry Anthropic-only fields: sent to OpenAI's Responses API they are
/// refused by name, never half-sent.
#[test]
fn claude_code_requests_are_refused_by_name() {
    for file in ["claude-code-1.json", "claude-code-2.json"] {
        let body = serde_json::to_vec(&client_fixture(file)).unwrap();
        let req = crate::anthropic::Anthropic.decode_request(&body).unwrap();
        match Responses.encode_request(&req, "gpt-5", true) {
            Err(EncodeError::Unsupported { field, target: "OpenAI Responses", .. }) => {
                assert_eq!(field, req.first_extra_field(), "{file}");
            }
            other => panic!("{file}: expected a refusal, got {other:?}"),
        }
    }
}

#[test]
fn the_ingress_decodes_without_stored_state() {
    let req = Responses.decode_request(br#"{"model":"gpt-5","input":"hi","stream":true}"#).unwrap();
    assert_eq!(req.messages.len(), 1);
    assert!(req.stream && req.stream_include_usage);
}

#[test]
fn previous_response_id_is_read_before_decoding_and_only_when_there() {
    use crate::responses::previous_response_id;
    let id = |body: &str| previous_response_id(body.as_bytes());
    assert_eq!(id(r#"{"model":"m","input":"hi","previous_response_id":"resp_1"}"#).as_deref(), Some("resp_1"));
    assert_eq!(id(r#"{"model":"m","input":"hi"}"#), None);
    assert_eq!(id(r#"{"model":"m","previous_response_id":""}"#), None, "empty is none");
    assert_eq!(id(r#"{"model":"m","previous_response_id":null}"#), None);
    assert_eq!(id(r#"{"model":"m","previous_response_id":42}"#), None, "the decoder reports the wrong type");
    assert_eq!(id(r#"{"previous_response_id":"resp_1""#), None, "unparsable: the decoder reports it");
    assert_eq!(id(r#"{"model":"m","input":"what is previous_response_id?"}"#), None, "the word in the text");
}
