//! The fake upstreams' side of one tool round trip with a real client, in OpenAI Chat
//! Completions and Bedrock Converse: asked with the wanted tool among its tools and no tool
//! result yet, the upstream calls it; given the result, it answers [`answer`] quoting the result
//! whole; anything else gets [`PLAIN`]. Streamed or not, as asked.

use serde_json::{json, Value};
use testkit::bedrock_wire::{self as bedrock, event as frame};
use testkit::openai_wire::{self as openai, chunk, data, DONE};
use testkit::{Received, Reply};

pub const PLAIN: &str = "Hello from the fake upstream.";
/// The id every fake tool call carries, so tests can match the result to it.
pub const CALL_ID: &str = "call_fake_0001";

/// The text the upstream answers once it has the tool's result.
pub fn answer(result: &str) -> String {
    format!("The tool returned: {}", result.trim())
}

/// The tool call the upstream makes: a function tool with JSON arguments, or a custom
/// (freeform) tool with raw text input.
#[derive(Clone)]
pub enum Call {
    Function { name: &'static str, args: Value },
    Custom { name: &'static str, input: &'static str },
}

impl Call {
    fn name(&self) -> &'static str {
        match self {
            Call::Function { name, .. } | Call::Custom { name, .. } => name,
        }
    }
}

/// Text of a tool result's content: a string, or the text of its parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str().map(str::to_owned).or_else(|| p.get("json").map(Value::to_string)))
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

/// The last tool result in a Chat Completions request: (tool_call_id, content text).
pub fn chat_tool_result(body: &Value) -> Option<(String, String)> {
    let messages = body["messages"].as_array()?;
    let m = messages.iter().rev().find(|m| m["role"] == "tool")?;
    Some((m["tool_call_id"].as_str().unwrap_or_default().to_owned(), text_of(&m["content"])))
}

/// The last tool result in a Bedrock Converse request: (toolUseId, content text).
pub fn bedrock_tool_result(body: &Value) -> Option<(String, String)> {
    let messages = body["messages"].as_array()?;
    messages.iter().rev().flat_map(|m| m["content"].as_array().into_iter().flatten().rev()).find_map(|c| {
        let r = c.get("toolResult")?;
        Some((r["toolUseId"].as_str().unwrap_or_default().to_owned(), text_of(&r["content"])))
    })
}

/// How the Chat request offers the wanted tool: `Some(None)` as a custom tool, `Some(Some(p))`
/// as a function (`p`: its first string parameter, where a custom call's input goes), `None`
/// when it does not.
fn offered(body: &Value, wanted: &str) -> Option<Option<String>> {
    body["tools"].as_array()?.iter().find_map(|t| {
        if t["custom"]["name"] == wanted {
            return Some(None);
        }
        if t["function"]["name"] != wanted {
            return None;
        }
        let props = t["function"]["parameters"]["properties"].as_object();
        let first = props.and_then(|p| p.iter().find(|(_, v)| v["type"] == "string").map(|(k, _)| k.clone()));
        Some(Some(first.unwrap_or_else(|| "input".to_owned())))
    })
}

/// An OpenAI-compatible upstream playing the round trip with `call`.
pub fn chat(call: Call) -> impl Fn(&Received) -> Reply + Send + Sync + 'static {
    move |req| {
        let body = req.json();
        let model = body["model"].as_str().unwrap_or("gpt-4o-mini-2024-07-18").to_owned();
        let stream = body["stream"] == true;
        let text = match chat_tool_result(&body) {
            Some((_, result)) => answer(&result),
            None => match offered(&body, call.name()) {
                Some(shape) => return chat_call(&model, stream, &call, shape),
                None => PLAIN.to_owned(),
            },
        };
        if stream {
            let (a, b) = halves(&text);
            Reply::sse(openai::text_stream(&model, &[a, b]))
        } else {
            Reply::json(openai::completion(&model, &text))
        }
    }
}

fn chat_call(model: &str, stream: bool, call: &Call, shape: Option<String>) -> Reply {
    let name = call.name();
    let (kind, payload) = match (call, shape) {
        (Call::Custom { input, .. }, None) => ("custom", json!({"name": name, "input": input})),
        (Call::Custom { input, .. }, Some(param)) => {
            ("function", json!({"name": name, "arguments": json!({param: input}).to_string()}))
        }
        (Call::Function { args, .. }, _) => ("function", json!({"name": name, "arguments": args.to_string()})),
    };
    let tool_call = json!({"id": CALL_ID, "type": kind, kind: payload});
    if !stream {
        return Reply::json(json!({
            "id": "chatcmpl-tool", "object": "chat.completion", "created": 1_763_510_400, "model": model,
            "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null,
                "message": {"role": "assistant", "content": null, "refusal": null, "tool_calls": [tool_call]}}],
            "usage": openai::usage(40, 12)
        }));
    }
    // The call's name first, then its arguments in two fragments, as OpenAI streams them.
    let mut opening = tool_call.clone();
    let whole = if kind == "custom" { "input" } else { "arguments" };
    let full = payload[whole].as_str().unwrap_or_default().to_owned();
    opening[kind][whole] = json!("");
    let (a, b) = halves(&full);
    let mut out = vec![data(&chunk(model, json!({"role": "assistant", "content": null}), None))];
    out.push(data(&chunk(model, json!({"tool_calls": [merge(json!({"index": 0}), opening)]}), None)));
    for part in [a, b] {
        out.push(data(&chunk(model, json!({"tool_calls": [{"index": 0, kind: {whole: part}}]}), None)));
    }
    out.push(data(&chunk(model, json!({}), Some("tool_calls"))));
    out.push(data(&openai::usage_chunk(model, 40, 12)));
    out.push(DONE.to_owned());
    Reply::sse(out)
}

/// `s` in two pieces, cut on a character boundary.
fn halves(s: &str) -> (&str, &str) {
    let cut = s.char_indices().nth(s.chars().count() / 2).map_or(s.len(), |(i, _)| i);
    s.split_at(cut)
}

fn merge(mut into: Value, from: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
    into
}

/// A Bedrock upstream (Converse and ConverseStream) playing the round trip with a function call.
pub fn bedrock(name: &'static str, args: Value) -> impl Fn(&Received) -> Reply + Send + Sync + 'static {
    move |req| {
        let body = req.json();
        let stream = req.uri.contains("converse-stream");
        let offered = body["toolConfig"]["tools"]
            .as_array()
            .is_some_and(|tools| tools.iter().any(|t| t["toolSpec"]["name"] == name));
        let text = match bedrock_tool_result(&body) {
            Some((_, result)) => answer(&result),
            None if offered => return bedrock_call(stream, name, &args),
            None => PLAIN.to_owned(),
        };
        if stream {
            let (a, b) = halves(&text);
            Reply::event_stream(bedrock::text_stream(&[a, b]))
        } else {
            Reply::json(bedrock::converse(&text))
        }
    }
}

fn bedrock_call(stream: bool, name: &str, args: &Value) -> Reply {
    if !stream {
        let mut reply = bedrock::converse("");
        reply["output"]["message"]["content"] =
            json!([{"toolUse": {"toolUseId": CALL_ID, "name": name, "input": args}}]);
        reply["stopReason"] = json!("tool_use");
        return Reply::json(reply);
    }
    let input = args.to_string();
    let (a, b) = halves(&input);
    let mut out = vec![
        frame("messageStart", json!({"role": "assistant"})),
        frame(
            "contentBlockStart",
            json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": CALL_ID, "name": name}}}),
        ),
    ];
    for part in [a, b] {
        out.push(frame("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": part}}})));
    }
    out.push(frame("contentBlockStop", json!({"contentBlockIndex": 0})));
    out.extend(bedrock::end("tool_use", 12));
    Reply::event_stream(out)
}
