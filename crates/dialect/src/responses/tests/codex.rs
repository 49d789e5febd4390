//! Codex CLI's requests (the captures in `fixtures/clients/codex-*.json`) on every provider:
//! its `namespace` and freeform `custom` tools and its `additional_tools` input item become
//! canonical function tools for OpenAI Chat, Anthropic and Bedrock, a call of them is written
//! back as Codex expects it (`custom_tool_call`, a `function_call` with its `namespace`), whole
//! and streamed; and OpenAI's own Responses API still gets the request as Codex sent it.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::super::response::{decode, response_object};
use super::super::stream::{EventDecoder, EventEncoder};
use crate::framing::SseParser;
use crate::responses::{decode_request, Envelope, Responses};
use crate::{
    ChatRequest, ChatResponse, Choice, Egress, EncodeError, FinishReason, Frame, Part, ResponseMeta, Role,
    StreamDecoder, StreamEncoder, StreamEvent,
};

fn fixture(name: &str) -> Value {
    crate::test_fixtures::json(&format!("clients/{name}"))
}

fn decode_body(body: &Value) -> (ChatRequest, Envelope) {
    decode_request(&serde_json::to_vec(body).unwrap(), &[], &HashMap::new()).unwrap_or_else(|e| panic!("{e:?}"))
}

fn encoded(egress: &dyn Egress, req: &ChatRequest, model: &str) -> Value {
    let bytes = egress.encode_request(req, model, true).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_slice(&bytes).unwrap()
}

fn names(tools: &Value, pointer: &str) -> Vec<String> {
    tools.as_array().into_iter().flatten().filter_map(|t| t.pointer(pointer)?.as_str().map(str::to_owned)).collect()
}

/// `codex-exec-1.json` as Codex sends it with web search turned off (no `web_search` tool).
fn without_web_search(mut body: Value) -> Value {
    body["tools"].as_array_mut().unwrap().retain(|t| t["type"] != "web_search");
    body
}

const NAMESPACED: [&str; 5] = ["close_agent", "resume_agent", "send_input", "spawn_agent", "wait_agent"];

#[test]
fn namespace_tools_are_flattened_and_web_search_is_refused_at_the_clients_index() {
    let body = fixture("codex-exec-1.json");
    let (req, _) = decode_body(&body);
    let canonical: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
    for name in NAMESPACED.iter().chain(&["exec_command", "get_goal", "update_goal"]) {
        assert!(canonical.contains(name), "{name} in {canonical:?}");
    }
    assert_eq!(req.tools.len(), 12, "7 functions and the namespace's 5, not the namespace itself");

    // Hosted web search runs only on OpenAI: refused by its index in the client's list.
    assert_eq!(body["tools"][8]["type"], "web_search");
    for egress in [&crate::openai::OpenAi as &dyn Egress, &crate::anthropic::Anthropic, &crate::bedrock::Bedrock] {
        match egress.encode_request(&req, "m", true) {
            Err(EncodeError::Unsupported { field, reason, .. }) => {
                assert_eq!(field, "tools[8].type");
                assert!(reason.contains("`web_search`") && reason.contains("OpenAI"), "{reason}");
            }
            other => panic!("expected web_search refused, got {other:?}"),
        }
    }

    // Without it, every provider gets the flattened tools.
    let (req, _) = decode_body(&without_web_search(body));
    assert!(req.extra.is_empty(), "{:?}", req.extra.keys());
    let chat = encoded(&crate::openai::OpenAi, &req, "gpt-4o");
    let anthropic = encoded(&crate::anthropic::Anthropic, &req, "claude-sonnet-4-5");
    let bedrock = encoded(&crate::bedrock::Bedrock, &req, "anthropic.claude-sonnet-4-5");
    for sent in [
        names(&chat["tools"], "/function/name"),
        names(&anthropic["tools"], "/name"),
        names(&bedrock["toolConfig"]["tools"], "/toolSpec/name"),
    ] {
        assert_eq!(sent.len(), 12, "{sent:?}");
        assert!(NAMESPACED.iter().all(|n| sent.iter().any(|s| s == n)), "{sent:?}");
    }
}

#[test]
fn a_namespaced_call_round_trips_with_its_namespace() {
    let (req, env) = decode_body(&without_web_search(fixture("codex-exec-1.json")));
    let meta = ResponseMeta { response_id: Some("resp_ab12".into()), echo: env.echo, ..ResponseMeta::default() };
    let call =
        Part::ToolCall { id: "call_1".into(), name: "spawn_agent".into(), arguments: r#"{"task_name":"t"}"#.into() };
    let resp = reply(vec![call]);
    let item = &response_object(&resp, &meta)["output"][0];
    assert_eq!(item["type"], "function_call");
    assert_eq!(item["name"], "spawn_agent");
    assert_eq!(item["namespace"], "multi_agent_v1", "{item}");
    assert!(meta.echo.contains_key("tools"));

    // Codex sends the call back with its namespace: canonical again, and OpenAI gets it whole.
    let mut body = without_web_search(fixture("codex-exec-1.json"));
    let output = json!({"type": "function_call_output", "call_id": "call_1", "output": "spawned"});
    body["input"].as_array_mut().unwrap().extend([item.clone(), output]);
    let (next, _) = decode_body(&body);
    let last = &next.messages[next.messages.len() - 2];
    assert!(matches!(&last.content[0], Part::ToolCall { name, .. } if name == "spawn_agent"), "{last:?}");
    let sent = encoded(&Responses, &next, "gpt-5-codex");
    let input = sent["input"].as_array().unwrap();
    assert_eq!(input[input.len() - 2]["namespace"], "multi_agent_v1");
    assert_eq!(req.tools.len(), next.tools.len());
}

#[test]
fn additional_tools_and_reasoning_context_reach_every_provider() {
    let body = fixture("codex-exec-default-model-1.json");
    let (req, env) = decode_body(&body);
    assert!(req.extra.is_empty(), "{:?}", req.extra.keys());
    assert!(req.hint_paths.contains(&"reasoning.context".to_owned()), "{:?}", req.hint_paths);
    assert_eq!(req.reasoning_effort.as_deref(), Some("low"));
    let exec = req.tools.iter().find(|t| t.name == "exec").expect("exec is canonical");
    assert_eq!(exec.parameters.as_ref().unwrap()["required"], json!(["input"]));
    assert!(exec.description.as_deref().unwrap().contains("lark grammar"), "{:?}", exec.description);
    assert!(req.tools.iter().any(|t| t.name == "sleep") && req.tools.iter().any(|t| t.name == "spawn_agent"));
    assert!(!env.echo.contains_key("additional_tools"));

    let chat = encoded(&crate::openai::OpenAi, &req, "gpt-4o");
    assert!(names(&chat["tools"], "/function/name").contains(&"exec".to_owned()));
    assert!(chat.get("reasoning").is_none() && chat.to_string().contains("Say hello"));
    assert_eq!(crate::openai::OpenAi.dropped(&req), req.hint_paths, "reasoning.context is reported dropped");
    let anthropic = encoded(&crate::anthropic::Anthropic, &req, "claude-sonnet-4-5");
    assert!(names(&anthropic["tools"], "/name").contains(&"exec".to_owned()));
    assert!(!anthropic.to_string().contains("additional_tools"));
    let bedrock = encoded(&crate::bedrock::Bedrock, &req, "anthropic.claude-sonnet-4-5");
    assert!(names(&bedrock["toolConfig"]["tools"], "/toolSpec/name").contains(&"exec".to_owned()));

    // OpenAI gets the request as Codex sent it: the item in its place, no top-level tools.
    let sent = encoded(&Responses, &req, "gpt-6.2-sol");
    assert_eq!(sent["input"][0], body["input"][0]);
    assert!(sent.get("tools").is_none(), "{:?}", sent.get("tools"));
    assert_eq!(sent["reasoning"], json!({"effort": "low", "context": "all_turns"}));
    assert_eq!(sent["store"], false);
}

#[test]
fn a_custom_tool_call_and_its_array_output_round_trip_on_chat_anthropic_and_openai() {
    let body = fixture("codex-exec-default-model-tool-2.json");
    let (req, _) = decode_body(&body);
    let n = req.messages.len();
    assert_eq!(req.messages[n - 2].role, Role::Assistant);
    let Part::ToolCall { id, name, arguments } = &req.messages[n - 2].content[0] else { panic!("{req:?}") };
    assert_eq!((id.as_str(), name.as_str()), ("call_3d301ef7", "exec"));
    assert_eq!(serde_json::from_str::<Value>(arguments).unwrap(), json!({"input": "text(\"codex-marker-\" + (6*7))"}));
    let Part::ToolResult { tool_call_id, content, .. } = &req.messages[n - 1].content[0] else { panic!("{req:?}") };
    assert_eq!(tool_call_id, "call_3d301ef7");
    assert_eq!(content.len(), 2);

    let chat = encoded(&crate::openai::OpenAi, &req, "gpt-4o");
    let messages = chat["messages"].as_array().unwrap();
    let call = &messages[messages.len() - 2]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "exec");
    assert_eq!(call["function"]["arguments"], json!(arguments));
    assert_eq!(messages[messages.len() - 1]["tool_call_id"], "call_3d301ef7");
    assert!(messages[messages.len() - 1].to_string().contains("codex-marker-42"));
    let anthropic = encoded(&crate::anthropic::Anthropic, &req, "claude-sonnet-4-5");
    assert!(anthropic.to_string().contains("\"tool_use\"") && anthropic.to_string().contains("codex-marker-42"));

    let sent = encoded(&Responses, &req, "gpt-6.2-sol");
    let input = sent["input"].as_array().unwrap();
    let (call, output) = (&input[input.len() - 2], &input[input.len() - 1]);
    assert_eq!(call["type"], "custom_tool_call");
    assert_eq!(call["input"], body["input"][7]["input"]);
    assert_eq!(call["namespace"], "functions");
    assert_eq!(output["type"], "custom_tool_call_output");
    assert_eq!(output["output"], body["input"][8]["output"]);
}

fn reply(parts: Vec<Part>) -> ChatResponse {
    ChatResponse {
        id: "chatcmpl-1".into(),
        model: "gpt-4o".into(),
        created: 1_700_000_000,
        choices: vec![Choice {
            index: 0,
            content: parts,
            finish_reason: Some(FinishReason::ToolCalls),
            ..Choice::default()
        }],
        ..ChatResponse::default()
    }
}

fn default_model_meta() -> ResponseMeta {
    let (_, env) = decode_body(&fixture("codex-exec-default-model-tool-1.json"));
    ResponseMeta { response_id: Some("resp_0a0b".into()), echo: env.echo, ..ResponseMeta::default() }
}

const INPUT: &str = "text(\"codex-marker-\" + (6*7))";

#[test]
fn a_call_of_the_custom_tool_is_written_as_a_custom_tool_call_whole_and_streamed() {
    let meta = default_model_meta();
    let arguments = json!({"input": INPUT}).to_string();
    let whole = response_object(
        &reply(vec![Part::ToolCall { id: "call_x".into(), name: "exec".into(), arguments: arguments.clone() }]),
        &meta,
    );
    let item = &whole["output"][0];
    assert_eq!(
        item,
        &json!({"id": "ctc_0a0b_0", "type": "custom_tool_call", "status": "completed", "call_id": "call_x",
            "name": "exec", "namespace": "functions", "input": INPUT})
    );
    assert!(whole.get("switchyard_additional_tools").is_none(), "the gateway's own echo stays out");

    let (a, b) = arguments.split_at(arguments.len() / 2);
    let events = [
        StreamEvent::Start {
            id: "chatcmpl-1".into(),
            model: "gpt-4o".into(),
            created: 1_700_000_000,
            system_fingerprint: None,
        },
        StreamEvent::ToolCallStart { choice: 0, index: 0, id: "call_x".into(), name: "exec".into() },
        StreamEvent::ToolCallDelta { choice: 0, index: 0, arguments: a.into() },
        StreamEvent::ToolCallDelta { choice: 0, index: 0, arguments: b.into() },
        StreamEvent::Finish { choice: 0, reason: FinishReason::ToolCalls, stop_sequence: None },
    ];
    let (frames, stored) = stream(&events, &meta);
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.custom_tool_call_input.delta",
            "response.custom_tool_call_input.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(frames[2]["item"]["type"], "custom_tool_call");
    assert_eq!(frames[2]["item"]["input"], "");
    assert_eq!(frames[3]["delta"], INPUT);
    assert_eq!(frames[4]["input"], INPUT);
    assert_eq!(frames[5]["item"], *item);
    assert_eq!(stored.unwrap()["output"], whole["output"]);
}

#[test]
fn a_namespaced_function_call_streams_with_its_namespace() {
    let meta = default_model_meta();
    let events = [
        StreamEvent::ToolCallStart { choice: 0, index: 0, id: "call_s".into(), name: "sleep".into() },
        StreamEvent::ToolCallDelta { choice: 0, index: 0, arguments: r#"{"duration_ms":5}"#.into() },
    ];
    let (frames, _) = stream(&events, &meta);
    let done = frames.iter().find(|f| f["type"] == "response.output_item.done").unwrap();
    assert_eq!(done["item"]["type"], "function_call");
    assert_eq!(done["item"]["namespace"], "clock");
    assert!(frames.iter().any(|f| f["type"] == "response.function_call_arguments.delta"));
}

/// OpenAI itself answers Codex with namespaced calls: they reach Codex as OpenAI wrote them.
#[test]
fn an_openai_namespaced_call_keeps_its_namespace_through_the_gateway() {
    let meta = default_model_meta();
    let upstream = json!({"id": "resp_up", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-6.2-sol",
        "output": [{"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_w",
            "name": "spawn_agent", "namespace": "collaboration", "arguments": "{}"}]});
    let resp = decode(&serde_json::to_vec(&upstream).unwrap()).unwrap();
    let item = &response_object(&resp, &meta)["output"][0];
    assert_eq!((item["name"].as_str(), item["namespace"].as_str()), (Some("spawn_agent"), Some("collaboration")));

    let mut decoder = EventDecoder::default();
    let added = json!({"type": "response.output_item.added", "output_index": 0, "item": upstream["output"][0]});
    let mut events = Vec::new();
    for frame in [added] {
        let sse = format!("event: {}\ndata: {}\n\n", frame["type"].as_str().unwrap(), frame);
        for f in SseParser::new().feed(sse.as_bytes()).unwrap() {
            events.extend(decoder.feed(&Frame::Sse(f)).unwrap());
        }
    }
    let (frames, _) = stream(&events, &meta);
    let done = frames.iter().find(|f| f["type"] == "response.output_item.done").unwrap();
    assert_eq!(done["item"]["namespace"], "collaboration", "{done}");
}

fn stream(events: &[StreamEvent], meta: &ResponseMeta) -> (Vec<Value>, Option<Value>) {
    let mut enc = EventEncoder::new(meta);
    let mut wire = Vec::new();
    for e in events {
        enc.encode(e, &mut wire);
    }
    enc.finish(&mut wire);
    let frames = SseParser::new().feed(&wire).unwrap();
    let frames = frames.into_iter().map(|f| serde_json::from_str::<Value>(&f.data).unwrap()).collect();
    (frames, enc.completed())
}

#[test]
fn choosing_the_custom_tool_forces_the_function_elsewhere_and_reaches_openai_as_sent() {
    let mut body = fixture("codex-exec-default-model-1.json");
    body["tool_choice"] = json!({"type": "custom", "name": "exec"});
    let (req, _) = decode_body(&body);
    assert_eq!(req.tool_choice, Some(crate::ToolChoice::Named("exec".into())));
    let chat = encoded(&crate::openai::OpenAi, &req, "gpt-4o");
    assert_eq!(chat["tool_choice"], json!({"type": "function", "function": {"name": "exec"}}));
    assert_eq!(encoded(&Responses, &req, "gpt-6.2-sol")["tool_choice"], body["tool_choice"]);
}
