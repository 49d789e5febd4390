//! Responses API response object ⇄ canonical `ChatResponse`: encoding the `response` object a
//! Responses client gets (also the payload of a stream's first and last events, and what the
//! gateway stores), and decoding the one OpenAI and Azure return. The item shapes here are the
//! ones the stream encoder writes too, so a streamed reply ends with the same object.
//!
//! The object carries every field OpenAI's does, since SDKs parse it strictly: openai-python
//! requires `tools`, `tool_choice` and `parallel_tool_calls`, the Vercel AI SDK requires
//! `usage`, Codex reads `output` items by their `type`.

use serde_json::{json, Map, Value};

use super::reasoning_token;
use super::tools::{self, Kind, ToolSet, ECHO_ADDITIONAL_TOOLS};
use crate::{ChatResponse, Choice, DecodeError, Dialect, FinishReason, Part, ResponseMeta, Usage};

/// Fields of the object that describe the reply itself; a request field of the same name in
/// `meta.echo` never replaces them.
const OWN_FIELDS: [&str; 10] =
    ["id", "object", "created_at", "status", "error", "incomplete_details", "model", "output", "output_text", "usage"];

/// How much of an upstream id that is not hex goes into item ids (hex-encoded).
const MAX_ID_BYTES_IN_ITEM_IDS: usize = 32;

/// A reply as the response object describes it, whole or streamed so far.
pub(super) struct Reply<'a> {
    /// The response id as the client sees it (see [`response_id`]).
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
    pub parts: &'a [Part],
    pub finish: Option<FinishReason>,
    pub usage: Option<&'a Usage>,
}

/// The `response` object of a whole reply.
pub fn response_object(resp: &ChatResponse, meta: &ResponseMeta) -> Value {
    let parts = resp.choices.first().map_or(&[][..], |c| &c.content[..]);
    let id = response_id(&resp.id, meta);
    let reply = Reply {
        id: &id,
        created: resp.created,
        model: &resp.model,
        parts,
        finish: resp.choices.first().and_then(|c| c.finish_reason),
        usage: resp.usage.as_ref(),
    };
    finished_object(&reply, meta)
}

pub fn encode(resp: &ChatResponse, meta: &ResponseMeta) -> Vec<u8> {
    crate::json::to_body(&response_object(resp, meta)).unwrap_or_default()
}

/// The id a client sees: the gateway's own when it gave one, else the upstream's as a `resp_`.
pub(super) fn response_id(upstream_id: &str, meta: &ResponseMeta) -> String {
    match &meta.response_id {
        Some(id) => id.clone(),
        None if upstream_id.starts_with("resp_") => upstream_id.to_owned(),
        None => format!("resp_{upstream_id}"),
    }
}

/// The part of item ids that names their response: the hex of a `resp_<hex>` id, or the hex of
/// (the start of) any other id.
pub(super) fn id_hex(response_id: &str) -> String {
    let rest = response_id.strip_prefix("resp_").unwrap_or(response_id);
    if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return rest.to_owned();
    }
    rest.bytes().take(MAX_ID_BYTES_IN_ITEM_IDS).map(|b| format!("{b:02x}")).collect()
}

pub(super) fn item_id(prefix: &str, hex: &str, output_index: u32) -> String {
    format!("{prefix}{hex}_{output_index}")
}

/// The object of a finished reply: `completed`, or `incomplete` when the model was cut short.
pub(super) fn finished_object(reply: &Reply<'_>, meta: &ResponseMeta) -> Value {
    let (status, incomplete) = match reply.finish {
        Some(FinishReason::Length) => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some(FinishReason::ContentFilter) => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    };
    let mut obj = envelope(reply.id, reply.created, reply.model, status, meta);
    let hex = id_hex(reply.id);
    let items = output_items(reply.parts, &hex, meta);
    obj.insert("incomplete_details".into(), incomplete);
    obj.insert("output_text".into(), Value::String(output_text(&items)));
    obj.insert("output".into(), Value::Array(items));
    obj.insert("usage".into(), usage_json(reply.usage));
    Value::Object(obj)
}

/// The object of a reply that failed after it began: what was written so far, and the error.
pub(super) fn failed_object(reply: &Reply<'_>, meta: &ResponseMeta, code: &str, message: &str) -> Value {
    let mut obj = envelope(reply.id, reply.created, reply.model, "failed", meta);
    let items = output_items(reply.parts, &id_hex(reply.id), meta);
    obj.insert("error".into(), json!({"code": code, "message": message}));
    obj.insert("output_text".into(), Value::String(output_text(&items)));
    obj.insert("output".into(), Value::Array(items));
    obj.insert("usage".into(), reply.usage.map_or(Value::Null, |u| usage_json(Some(u))));
    Value::Object(obj)
}

/// Every field of a response object with no output yet (what `response.created` carries):
/// request fields from `meta.echo`, OpenAI's defaults for those it lacks.
pub(super) fn envelope(id: &str, created: u64, model: &str, status: &str, meta: &ResponseMeta) -> Map<String, Value> {
    let Value::Object(mut obj) = json!({
        "id": id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": null,
        "incomplete_details": null,
        "instructions": null,
        "max_output_tokens": null,
        "model": model,
        "output": [],
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "store": true,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": null,
        "user": null,
        "metadata": {},
    }) else {
        return Map::new();
    };
    for (key, value) in &meta.echo {
        if !OWN_FIELDS.contains(&key.as_str()) && key != ECHO_ADDITIONAL_TOOLS {
            obj.insert(key.clone(), value.clone());
        }
    }
    obj
}

/// `usage` as the Responses API writes it. A reply whose upstream reported none gets zeros:
/// SDKs (the Vercel AI SDK among them) refuse a finished response without usage.
pub(super) fn usage_json(usage: Option<&Usage>) -> Value {
    let u = usage.copied().unwrap_or_default();
    json!({
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_input_tokens.unwrap_or(0)},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens.unwrap_or(0)},
        "total_tokens": u.total(),
    })
}

/// What the SDKs' `output_text` is: every `output_text` of every message, joined.
fn output_text(items: &[Value]) -> String {
    let mut text = String::new();
    for item in items.iter().filter(|i| i["type"] == "message") {
        for c in item["content"].as_array().into_iter().flatten().filter(|c| c["type"] == "output_text") {
            text.push_str(c["text"].as_str().unwrap_or_default());
        }
    }
    text
}

/// The output items of `parts`, numbered from 0. Consecutive text and refusal parts share one
/// `message` item; parts of another dialect are skipped.
fn output_items(parts: &[Part], hex: &str, meta: &ResponseMeta) -> Vec<Value> {
    let tools = ToolSet::from_echo(&meta.echo);
    let mut items = Vec::new();
    let mut rest = parts;
    while let Some(first) = rest.first() {
        let len = match first {
            Part::Text { .. } | Part::Refusal { .. } => {
                rest.iter().take_while(|p| matches!(p, Part::Text { .. } | Part::Refusal { .. })).count()
            }
            _ => 1,
        };
        let (group, tail) = rest.split_at(len);
        rest = tail;
        let index = u32::try_from(items.len()).unwrap_or(u32::MAX);
        if let Some(item) = item_json(group, hex, index, meta.upstream, &tools) {
            items.push(item);
        }
    }
    items
}

/// One output item, complete: a message (`group` is its text and refusal parts) or the one
/// part `group` holds. None for a part a Responses client cannot be shown. A call of a custom
/// tool is a `custom_tool_call`, a call of a namespaced one names its namespace (`tools`).
pub(super) fn item_json(
    group: &[Part],
    hex: &str,
    index: u32,
    upstream: Option<Dialect>,
    tools: &ToolSet,
) -> Option<Value> {
    match group.first()? {
        Part::Text { .. } | Part::Refusal { .. } => Some(json!({
            "id": item_id("msg_", hex, index),
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": message_content(group),
        })),
        Part::ToolCall { id, name, arguments } => {
            let mut item = tools::call_item(tools, id, name, arguments);
            if let Some(obj) = item.as_object_mut() {
                let custom = obj.get("type").and_then(Value::as_str) == Some("custom_tool_call");
                obj.insert("id".into(), json!(item_id(call_prefix(custom), hex, index)));
                obj.insert("status".into(), json!("completed"));
            }
            Some(item)
        }
        Part::Reasoning { text, signature, redacted } => Some(json!({
            "id": item_id("rs_", hex, index),
            "type": "reasoning",
            "summary": summary(text),
            "encrypted_content": reasoning_token(upstream, signature.as_deref(), redacted.as_deref()),
        })),
        Part::Raw { dialect: Dialect::OpenaiResponses, value, .. } => Some(value.clone()),
        Part::Raw { .. } | Part::Image { .. } | Part::ToolResult { .. } => None,
    }
}

/// The id prefix of a call item: OpenAI's `ctc_` for a custom tool's call, `fc_` for a
/// function's.
pub(super) fn call_prefix(custom: bool) -> &'static str {
    if custom {
        "ctc_"
    } else {
        "fc_"
    }
}

/// Whether a canonical call is to a custom tool.
pub(super) fn is_custom(tools: &ToolSet, name: &str) -> bool {
    tools.get(name).is_some_and(|e| e.kind == Kind::Custom)
}

pub(super) fn summary(text: &str) -> Value {
    if text.is_empty() {
        json!([])
    } else {
        json!([{"type": "summary_text", "text": text}])
    }
}

/// A message's content parts; neighbouring parts of one kind are one part.
fn message_content(group: &[Part]) -> Vec<Value> {
    let mut merged: Vec<Part> = Vec::new();
    for part in group {
        match (merged.last_mut(), part) {
            (Some(Part::Text { text: acc, .. }), Part::Text { text, .. })
            | (Some(Part::Refusal { text: acc }), Part::Refusal { text }) => acc.push_str(text),
            _ => merged.push(part.clone()),
        }
    }
    merged.iter().filter_map(content_json).collect()
}

/// A message content part: `output_text` or `refusal`.
pub(super) fn content_json(part: &Part) -> Option<Value> {
    match part {
        Part::Text { text, .. } => {
            Some(json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []}))
        }
        Part::Refusal { text } => Some(json!({"type": "refusal", "refusal": text})),
        _ => None,
    }
}

// ---------- decoding what OpenAI and Azure return ----------

pub fn decode(body: &[u8]) -> Result<ChatResponse, DecodeError> {
    let v: Value = crate::error::parse_json(body)?;
    let Some(obj) = v.as_object() else {
        return Err(DecodeError::invalid("the upstream's reply is not a response object", None));
    };
    let status = obj.get("status").and_then(Value::as_str);
    if let Some(err) = obj.get("error").filter(|e| !e.is_null()) {
        return Err(failure(err));
    }
    if let Some(s @ ("failed" | "cancelled" | "queued" | "in_progress")) = status {
        return Err(DecodeError::invalid(format!("the upstream's response is {s}, not finished"), None));
    }
    let output = obj.get("output").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let content = decode_items(output);
    if status.is_none() && content.is_empty() {
        return Err(DecodeError::invalid("the upstream's reply has neither `output` nor `status`", None));
    }
    let finish = match status {
        Some("incomplete") => incomplete_reason(obj.get("incomplete_details")),
        _ if content.iter().any(|p| matches!(p, Part::ToolCall { .. })) => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    };
    let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(ChatResponse {
        id: text("id").unwrap_or_default(),
        model: text("model").unwrap_or_default(),
        created: obj.get("created_at").map_or(0, count),
        choices: vec![Choice { index: 0, content, finish_reason: Some(finish), stop_sequence: None, logprobs: None }],
        usage: obj.get("usage").filter(|u| u.is_object()).map(decode_usage),
        system_fingerprint: None,
        service_tier: text("service_tier"),
    })
}

/// The finish reason of an `incomplete` response. Any reason but a content filter means the
/// output was cut at a limit.
pub(super) fn incomplete_reason(details: Option<&Value>) -> FinishReason {
    match details.and_then(|d| d.get("reason")).and_then(Value::as_str) {
        Some("content_filter") => FinishReason::ContentFilter,
        _ => FinishReason::Length,
    }
}

/// The error of a response the upstream reports as failed.
fn failure(err: &Value) -> DecodeError {
    let message = err.get("message").and_then(Value::as_str).unwrap_or("no message");
    let code = err.get("code").and_then(Value::as_str).unwrap_or("error");
    DecodeError::invalid(format!("the upstream's response failed ({code}): {message}"), None)
}

/// Output items as canonical parts, in order.
pub(super) fn decode_items(items: &[Value]) -> Vec<Part> {
    let mut parts = Vec::new();
    for item in items {
        decode_item(item, &mut parts);
    }
    parts
}

fn decode_item(item: &Value, parts: &mut Vec<Part>) {
    let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    match item.get("type").and_then(Value::as_str).unwrap_or_default() {
        "message" => {
            for c in item.get("content").and_then(Value::as_array).into_iter().flatten() {
                let field = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
                match c.get("type").and_then(Value::as_str) {
                    Some("output_text") => parts.push(Part::text(field("text").unwrap_or_default())),
                    Some("refusal") => parts.push(Part::Refusal { text: field("refusal").unwrap_or_default() }),
                    _ => {}
                }
            }
        }
        "function_call" => {
            parts.push(Part::ToolCall { id: text("call_id"), name: call_name(item), arguments: text("arguments") })
        }
        "reasoning" => parts.push(Part::Reasoning {
            text: summary_text(item),
            signature: None,
            redacted: item.get("encrypted_content").and_then(Value::as_str).map(str::to_owned),
        }),
        kind => parts.push(Part::Raw { dialect: Dialect::OpenaiResponses, kind: kind.to_owned(), value: item.clone() }),
    }
}

/// The canonical name of a function call OpenAI returned: a namespaced function's is
/// `<namespace>__<name>`, which the reply encoder maps back to both (see [`super::tools`]).
pub(super) fn call_name(item: &Value) -> String {
    let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
    match item.get("namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() => tools::qualified(ns, name),
        _ => name.to_owned(),
    }
}

/// A reasoning item's summary texts, joined by blank lines (see the module map in `mod.rs`).
pub(super) fn summary_text(item: &Value) -> String {
    let texts: Vec<&str> = item
        .get("summary")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("text").and_then(Value::as_str))
        .collect();
    texts.join("\n\n")
}

/// A token count. Azure has been seen sending -1 as a placeholder: negatives count as 0.
fn count(v: &Value) -> u64 {
    v.as_u64().or_else(|| v.as_f64().filter(|f| *f > 0.0).map(|f| f as u64)).unwrap_or(0)
}

pub(super) fn decode_usage(u: &Value) -> Usage {
    let detail =
        |outer: &str, inner: &str| u.get(outer).and_then(|d| d.get(inner)).filter(|v| v.is_number()).map(count);
    Usage {
        input_tokens: u.get("input_tokens").map_or(0, count),
        output_tokens: u.get("output_tokens").map_or(0, count),
        cached_input_tokens: detail("input_tokens_details", "cached_tokens"),
        cache_write_tokens: None,
        reasoning_tokens: detail("output_tokens_details", "reasoning_tokens"),
    }
}
