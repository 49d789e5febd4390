//! Fake providers of every kind playing one tool conversation in their own wire protocol: asked
//! with tools, they call `get_weather` and `get_time` for Paris (in parallel, streamed or not);
//! given the tool results, they answer [`FINAL`]; asked without tools, they answer [`HELLO`].
//! What each received is checked by the tests; the SDK scripts check what the client got.

use serde_json::{json, Value};
use testkit::anthropic_wire::{self as anthropic, event as sse_event};
use testkit::bedrock_wire::{self as bedrock, event as frame};
use testkit::openai_wire::{self as openai, chunk, data, DONE};
use testkit::{Received, Reply};

pub const HELLO: &str = "Bonjour.";
pub const FINAL: &str = "It is 21C and 14:00 in Paris.";
const CALLS: [(&str, &str); 2] = [("get_weather", "call_w1"), ("get_time", "call_t2")];
const ARG_PARTS: [&str; 3] = ["{\"ci", "ty\": \"Pa", "ris\"}"];

enum Turn {
    Hello,
    CallTools,
    Final,
}

/// What the conversation calls for, from any dialect's request body.
fn turn(body: &Value) -> Turn {
    let text = body.to_string();
    let has_results = ["\"role\":\"tool\"", "tool_result", "toolResult", "functionResponse", "function_call_output"]
        .iter()
        .any(|k| text.contains(k));
    let has_tools = body.get("tools").is_some_and(|t| !t.is_null()) || body.get("toolConfig").is_some();
    match (has_tools, has_results) {
        (_, true) => Turn::Final,
        (true, false) => Turn::CallTools,
        _ => Turn::Hello,
    }
}

fn wants_stream(req: &Received, body: &Value) -> bool {
    body["stream"] == true
        || ["converse-stream", "streamRawPredict", "streamGenerateContent"].iter().any(|k| req.uri.contains(k))
}

/// OpenAI and Azure: Chat Completions, or the Responses API when the request came to `/responses`.
pub fn openai(req: &Received) -> Reply {
    if req.uri.split('?').next().is_some_and(|path| path.ends_with("/responses")) {
        return openai_responses(req);
    }
    let body = req.json();
    let model = body["model"].as_str().unwrap_or("gpt-4o-2024-11-20").to_owned();
    let stream = wants_stream(req, &body);
    match (turn(&body), stream) {
        (Turn::Hello, false) => Reply::json(openai::completion(&model, HELLO)),
        (Turn::Hello, true) => Reply::sse(openai::text_stream(&model, &["Bon", "jour."])),
        (Turn::Final, false) => Reply::json(openai::completion(&model, FINAL)),
        (Turn::Final, true) => Reply::sse(openai::text_stream(&model, &[FINAL])),
        (Turn::CallTools, false) => {
            let calls: Vec<Value> = CALLS
                .iter()
                .map(|(name, id)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": ARG_PARTS.concat()}}))
                .collect();
            Reply::json(json!({
                "id": "chatcmpl-tools", "object": "chat.completion", "created": 1_763_510_400, "model": model,
                "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null,
                    "message": {"role": "assistant", "content": null, "refusal": null, "tool_calls": calls}}],
                "usage": openai::usage(40, 30)
            }))
        }
        (Turn::CallTools, true) => {
            let mut out = vec![data(&chunk(&model, json!({"role": "assistant", "content": null}), None))];
            for (i, (name, id)) in CALLS.iter().enumerate() {
                let open = json!({"tool_calls": [{"index": i, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]});
                out.push(data(&chunk(&model, open, None)));
                for part in ARG_PARTS {
                    let delta = json!({"tool_calls": [{"index": i, "function": {"arguments": part}}]});
                    out.push(data(&chunk(&model, delta, None)));
                }
            }
            out.push(data(&chunk(&model, json!({}), Some("tool_calls"))));
            out.push(data(&openai::usage_chunk(&model, 40, 30)));
            out.push(DONE.to_owned());
            Reply::sse(out)
        }
    }
}

/// Anthropic's own API and Anthropic models on Vertex (`rawPredict`) speak the same replies.
fn openai_responses(req: &Received) -> Reply {
    use testkit::responses_wire as responses;
    let body = req.json();
    let model = body["model"].as_str().unwrap_or("gpt-4o-2024-11-20").to_owned();
    let stream = wants_stream(req, &body);
    let calls: Vec<(&str, &str, String)> = CALLS.iter().map(|(name, id)| (*id, *name, ARG_PARTS.concat())).collect();
    match (turn(&body), stream) {
        (Turn::Hello, false) => Reply::json(responses::response(&model, HELLO)),
        (Turn::Hello, true) => responses::reply(responses::text_stream(&model, &["Bon", "jour."])),
        (Turn::Final, false) => Reply::json(responses::response(&model, FINAL)),
        (Turn::Final, true) => responses::reply(responses::text_stream(&model, &[FINAL])),
        (Turn::CallTools, false) => {
            let calls: Vec<(&str, &str, &str)> =
                calls.iter().map(|(id, name, args)| (*id, *name, args.as_str())).collect();
            Reply::json(responses::function_calls_response(&model, &calls))
        }
        (Turn::CallTools, true) => {
            let names: Vec<(&str, &str)> = calls.iter().map(|(id, name, _)| (*id, *name)).collect();
            responses::reply(responses::function_calls_stream(&model, &names, &ARG_PARTS))
        }
    }
}

pub fn anthropic(req: &Received) -> Reply {
    let body = req.json();
    let model = body["model"].as_str().unwrap_or("claude-sonnet-4-5-20250929").to_owned();
    let stream = wants_stream(req, &body);
    match (turn(&body), stream) {
        (Turn::Hello, false) => Reply::json(anthropic::message(&model, HELLO)),
        (Turn::Hello, true) => Reply::sse(anthropic::text_stream(&model, &["Bon", "jour."])),
        (Turn::Final, false) => Reply::json(anthropic::message(&model, FINAL)),
        (Turn::Final, true) => Reply::sse(anthropic::text_stream(&model, &[FINAL])),
        (Turn::CallTools, false) => {
            let mut msg = anthropic::message(&model, "");
            msg["content"] = CALLS
                .iter()
                .map(|(name, id)| json!({"type": "tool_use", "id": id, "name": name, "input": {"city": "Paris"}}))
                .collect();
            msg["stop_reason"] = json!("tool_use");
            Reply::json(msg)
        }
        (Turn::CallTools, true) => {
            let mut events = anthropic::text_stream(&model, &[]);
            // Keep message_start; replace the text block with two tool_use blocks.
            let (start, end) = (events.remove(0), events.split_off(events.len() - 2));
            let mut out = vec![start];
            for (i, (name, id)) in CALLS.iter().enumerate() {
                out.push(sse_event(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": i,
                    "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                ));
                for part in ARG_PARTS {
                    out.push(sse_event(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": part}}),
                    ));
                }
                out.push(sse_event("content_block_stop", &json!({"type": "content_block_stop", "index": i})));
            }
            out.push(sse_event(
                "message_delta",
                &json!({"type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 30}}),
            ));
            out.push(end[1].clone());
            Reply::sse(out)
        }
    }
}

pub fn bedrock(req: &Received) -> Reply {
    let body = req.json();
    let stream = wants_stream(req, &body);
    match (turn(&body), stream) {
        (Turn::Hello, false) => Reply::json(bedrock::converse(HELLO)),
        (Turn::Hello, true) => Reply::event_stream(bedrock::text_stream(&["Bon", "jour."])),
        (Turn::Final, false) => Reply::json(bedrock::converse(FINAL)),
        (Turn::Final, true) => Reply::event_stream(bedrock::text_stream(&[FINAL])),
        (Turn::CallTools, false) => {
            let mut reply = bedrock::converse("");
            reply["output"]["message"]["content"] = CALLS
                .iter()
                .map(|(name, id)| json!({"toolUse": {"toolUseId": id, "name": name, "input": {"city": "Paris"}}}))
                .collect();
            reply["stopReason"] = json!("tool_use");
            Reply::json(reply)
        }
        (Turn::CallTools, true) => {
            let mut out = vec![frame("messageStart", json!({"role": "assistant"}))];
            for (i, (name, id)) in CALLS.iter().enumerate() {
                out.push(frame(
                    "contentBlockStart",
                    json!({"contentBlockIndex": i,
                    "start": {"toolUse": {"toolUseId": id, "name": name}}}),
                ));
                for part in ARG_PARTS {
                    out.push(frame(
                        "contentBlockDelta",
                        json!({"contentBlockIndex": i,
                        "delta": {"toolUse": {"input": part}}}),
                    ));
                }
                out.push(frame("contentBlockStop", json!({"contentBlockIndex": i})));
            }
            out.extend(bedrock::end("tool_use", 30));
            Reply::event_stream(out)
        }
    }
}

/// The Gemini API and Gemini models on Vertex AI.
pub fn gemini(req: &Received) -> Reply {
    let body = req.json();
    let reply = |parts: Value, finish: Option<&str>| {
        let mut c = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
        }
        json!({"candidates": [c], "modelVersion": "gemini-2.5-flash", "responseId": "gEm1nIrEsP0nSe",
               "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 8, "totalTokenCount": 28}})
    };
    let calls = || -> Value {
        CALLS.iter().map(|(name, _)| json!({"functionCall": {"name": name, "args": {"city": "Paris"}}})).collect()
    };
    let text = |t: &str| json!([{"text": t}]);
    match (turn(&body), wants_stream(req, &body)) {
        (Turn::Hello, false) => Reply::json(reply(text(HELLO), Some("STOP"))),
        (Turn::Final, false) => Reply::json(reply(text(FINAL), Some("STOP"))),
        (Turn::CallTools, false) => Reply::json(reply(calls(), Some("STOP"))),
        (turn, true) => {
            let events = match turn {
                Turn::Hello => vec![reply(text("Bon"), None), reply(text("jour."), Some("STOP"))],
                Turn::Final => vec![reply(text(FINAL), Some("STOP"))],
                Turn::CallTools => vec![reply(calls(), Some("STOP"))],
            };
            Reply::sse(events.iter().map(|e| format!("data: {e}\r\n\r\n")))
        }
    }
}
