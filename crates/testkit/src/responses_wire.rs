//! OpenAI Responses API bodies and event streams as OpenAI writes them, for fake replies, and
//! readers for the streams the gateway writes to Responses clients.
//!
//! Streams are one `Bytes` per SSE event (`event: <type>` + `data: {..., "sequence_number"}`),
//! numbered from 0, ending with `response.completed` and no `[DONE]`; serve them with
//! [`reply`].

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::upstream::{Reply, StreamEnd};

pub const RESPONSE_ID: &str = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b";
const MESSAGE_ID: &str = "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b";
const CALL_ITEM_ID: &str = "fc_67ccd3acc8d48190a77525dc6de64b550bb6a6b452d3795b";
const CREATED_AT: u64 = 1_741_476_542;

pub fn usage(input: u64, output: u64) -> Value {
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output
    })
}

/// A response object with `status` and `output`, every other field as OpenAI fills it for a
/// request that set nothing but `model` and `input`.
pub fn response_object(model: &str, status: &str, output: Value, usage: Value) -> Value {
    json!({
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": CREATED_AT,
        "status": status,
        "background": false,
        "error": null,
        "incomplete_details": null,
        "instructions": null,
        "max_output_tokens": null,
        "model": model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "service_tier": "default",
        "store": true,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": null,
        "metadata": {}
    })
}

fn message_item(text: &str, status: &str) -> Value {
    let content = if status == "completed" {
        json!([{"type": "output_text", "annotations": [], "logprobs": [], "text": text}])
    } else {
        json!([])
    };
    json!({"id": MESSAGE_ID, "type": "message", "status": status, "content": content, "role": "assistant"})
}

fn call_item(call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    call_item_at(CALL_ITEM_ID, call_id, name, arguments, status)
}

fn call_item_at(item_id: &str, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name
    })
}

/// A whole reply with one message.
pub fn response(model: &str, text: &str) -> Value {
    response_object(model, "completed", json!([message_item(text, "completed")]), usage(12, 5))
}

/// A whole reply with one function call.
pub fn function_call_response(model: &str, call_id: &str, name: &str, arguments: &str) -> Value {
    response_object(model, "completed", json!([call_item(call_id, name, arguments, "completed")]), usage(40, 18))
}

/// One SSE event: `payload` (with its `type`) gets `sequence_number`.
pub fn event(sequence_number: usize, payload: &Value) -> Bytes {
    let mut payload = payload.clone();
    payload["sequence_number"] = json!(sequence_number);
    let kind = payload["type"].as_str().unwrap_or_default().to_owned();
    Bytes::from(format!("event: {kind}\ndata: {payload}\n\n"))
}

/// Numbers `payloads` from 0 and writes each as one event.
pub fn events(payloads: &[Value]) -> Vec<Bytes> {
    payloads.iter().enumerate().map(|(n, p)| event(n, p)).collect()
}

fn opening(model: &str) -> Vec<Value> {
    let pending = response_object(model, "in_progress", json!([]), Value::Null);
    vec![
        json!({"type": "response.created", "response": pending}),
        json!({"type": "response.in_progress", "response": pending}),
    ]
}

/// A whole text stream: created, in progress, the message item with one delta per chunk, its
/// `.done` events, completed with usage.
pub fn text_stream(model: &str, chunks: &[&str]) -> Vec<Bytes> {
    let text = chunks.concat();
    let at = |extra: Value| {
        let mut v = json!({"item_id": MESSAGE_ID, "output_index": 0, "content_index": 0});
        for (k, x) in extra.as_object().into_iter().flatten() {
            v[k] = x.clone();
        }
        v
    };
    let empty_part = json!({"type": "output_text", "annotations": [], "logprobs": [], "text": ""});
    let full_part = json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text});
    let mut out = opening(model);
    out.push(json!({"type": "response.output_item.added", "output_index": 0, "item": message_item("", "in_progress")}));
    out.push(at(json!({"type": "response.content_part.added", "part": empty_part})));
    for chunk in chunks {
        out.push(at(json!({"type": "response.output_text.delta", "delta": chunk, "logprobs": []})));
    }
    out.push(at(json!({"type": "response.output_text.done", "text": text, "logprobs": []})));
    out.push(at(json!({"type": "response.content_part.done", "part": full_part})));
    let done = message_item(&text, "completed");
    out.push(json!({"type": "response.output_item.done", "output_index": 0, "item": done}));
    let last = response_object(model, "completed", json!([done]), usage(12, chunks.len() as u64));
    out.push(json!({"type": "response.completed", "response": last}));
    events(&out)
}

/// A whole function-call stream: the call item, one arguments delta per chunk, its `.done`
/// events, completed with usage.
pub fn function_call_stream(model: &str, call_id: &str, name: &str, argument_chunks: &[&str]) -> Vec<Bytes> {
    let arguments = argument_chunks.concat();
    let mut out = opening(model);
    let added = call_item(call_id, name, "", "in_progress");
    out.push(json!({"type": "response.output_item.added", "output_index": 0, "item": added}));
    for chunk in argument_chunks {
        out.push(json!({"type": "response.function_call_arguments.delta", "item_id": CALL_ITEM_ID, "output_index": 0, "delta": chunk}));
    }
    out.push(json!({
        "type": "response.function_call_arguments.done",
        "item_id": CALL_ITEM_ID,
        "output_index": 0,
        "arguments": arguments,
        "name": name
    }));
    let done = call_item(call_id, name, &arguments, "completed");
    out.push(json!({"type": "response.output_item.done", "output_index": 0, "item": done}));
    let last = response_object(model, "completed", json!([done]), usage(40, 18));
    out.push(json!({"type": "response.completed", "response": last}));
    events(&out)
}

/// A whole reply calling several functions at once: `(call_id, name, arguments)` each.
pub fn function_calls_response(model: &str, calls: &[(&str, &str, &str)]) -> Value {
    let items: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (call_id, name, args))| call_item_at(&format!("{CALL_ITEM_ID}{i}"), call_id, name, args, "completed"))
        .collect();
    response_object(model, "completed", Value::Array(items), usage(40, 30))
}

/// A stream calling several functions at once, one after another, each call's arguments sent
/// in `argument_chunks`.
pub fn function_calls_stream(model: &str, calls: &[(&str, &str)], argument_chunks: &[&str]) -> Vec<Bytes> {
    let arguments = argument_chunks.concat();
    let mut out = opening(model);
    let mut done_items = Vec::new();
    for (i, (call_id, name)) in calls.iter().enumerate() {
        let item_id = format!("{CALL_ITEM_ID}{i}");
        let added = call_item_at(&item_id, call_id, name, "", "in_progress");
        out.push(json!({"type": "response.output_item.added", "output_index": i, "item": added}));
        for chunk in argument_chunks {
            out.push(json!({"type": "response.function_call_arguments.delta", "item_id": item_id, "output_index": i, "delta": chunk}));
        }
        out.push(json!({
            "type": "response.function_call_arguments.done",
            "item_id": item_id,
            "output_index": i,
            "arguments": arguments,
            "name": name
        }));
        let done = call_item_at(&item_id, call_id, name, &arguments, "completed");
        out.push(json!({"type": "response.output_item.done", "output_index": i, "item": done}));
        done_items.push(done);
    }
    let last = response_object(model, "completed", Value::Array(done_items), usage(40, 30));
    out.push(json!({"type": "response.completed", "response": last}));
    events(&out)
}

/// The `response.failed` event OpenAI ends a stream with when the model fails mid-reply.
pub fn failed(model: &str, code: &str, message: &str) -> Value {
    let mut response = response_object(model, "failed", json!([]), Value::Null);
    response["error"] = json!({"code": code, "message": message});
    json!({"type": "response.failed", "response": response})
}

/// Serves `events` as an SSE stream, back to back.
pub fn reply(events: Vec<Bytes>) -> Reply {
    Reply::Stream {
        status: 200,
        content_type: "text/event-stream".into(),
        events: events.into_iter().map(|e| (Duration::ZERO, e)).collect(),
        end: StreamEnd::Close,
    }
}

/// A Responses stream the gateway wrote, as `(event line, data)` pairs.
pub fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let kind = block.lines().find_map(|l| l.strip_prefix("event:")).map(|k| k.trim().to_owned());
            let data: Vec<&str> = block.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
            if data.is_empty() {
                return None;
            }
            let data = data.join("\n");
            let value = serde_json::from_str(&data).unwrap_or_else(|e| panic!("bad SSE JSON ({e}): {data}"));
            Some((kind.unwrap_or_default(), value))
        })
        .collect()
}

/// The text a Responses client reassembles from a stream's `response.output_text.delta`s.
pub fn streamed_text(body: &str) -> String {
    sse_events(body)
        .iter()
        .filter(|(_, v)| v["type"] == "response.output_text.delta")
        .filter_map(|(_, v)| v["delta"].as_str().map(str::to_owned))
        .collect()
}

/// The response object of a stream's terminal event (`response.completed`, `.incomplete` or
/// `.failed`).
pub fn final_response(body: &str) -> Option<Value> {
    sse_events(body).into_iter().rev().find_map(|(kind, v)| {
        matches!(kind.as_str(), "response.completed" | "response.incomplete" | "response.failed")
            .then(|| v["response"].clone())
    })
}

#[cfg(test)]
mod tests {
    use dialect::framing::SseParser;
    use dialect::{Dialect, Frame, StreamEvent};

    use super::*;

    /// The fakes are what the gateway's own decoder reads as a whole reply.
    #[test]
    fn the_fakes_decode_as_whole_replies() {
        let egress = Dialect::OpenaiResponses.egress();
        let whole = egress.decode_response(response("gpt-4.1", "Hi").to_string().as_bytes()).unwrap();
        assert_eq!(whole.choices[0].content, [dialect::Part::text("Hi")]);
        let call = function_call_response("gpt-4.1", "call_1", "f", "{}").to_string();
        assert!(egress.decode_response(call.as_bytes()).is_ok());
        for stream in
            [text_stream("gpt-4.1", &["Hel", "lo"]), function_call_stream("gpt-4.1", "call_1", "f", &["{", "}"])]
        {
            let mut parser = SseParser::new();
            let mut decoder = egress.stream_decoder();
            let mut events = Vec::new();
            for chunk in &stream {
                for ev in parser.feed(chunk).unwrap() {
                    events.extend(decoder.feed(&Frame::Sse(ev)).unwrap());
                }
            }
            events.extend(decoder.finish().unwrap());
            assert!(matches!(events.first(), Some(StreamEvent::Start { .. })), "{events:?}");
            assert!(events.iter().any(|e| matches!(e, StreamEvent::Finish { .. })), "{events:?}");
        }
        let body: String =
            text_stream("m", &["a", "b"]).iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
        assert_eq!(streamed_text(&body), "ab");
        assert_eq!(final_response(&body).unwrap()["output"][0]["content"][0]["text"], "ab");
    }
}
