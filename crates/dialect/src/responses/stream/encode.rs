//! Canonical stream events → the Responses API's typed SSE, in OpenAI's order: `response.created`,
//! `response.in_progress`, then per output item `response.output_item.added`, its content
//! events, `response.output_item.done`, and last `response.completed` (or `.incomplete`, or
//! `.failed`). Items never interleave; each event is written as soon as its canonical event
//! arrives. The reply is kept as canonical parts, so the last event carries exactly the object
//! [`response_object`](super::super::response_object) writes for the same reply.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::super::response::{
    call_prefix, content_json, envelope, failed_object, finished_object, id_hex, is_custom, item_id, item_json,
    response_id, Reply,
};
use super::super::tools::{self, ToolSet};
use crate::error::{truncate_for_json, MAX_ERROR_MESSAGE_BYTES};
use crate::framing::sse::write_json_event;
use crate::{Dialect, ErrorKind, FinishReason, Part, ResponseMeta, StreamEncoder, StreamEvent, Usage};

/// The output item being written. `part` indexes its (last) part in `EventEncoder::parts`.
#[derive(Debug, Clone, Copy)]
enum Open {
    /// A message; `start` is its first part, `content` the index of its open content part.
    Message {
        output: u32,
        start: usize,
        content: u32,
    },
    Call {
        output: u32,
        call: u32,
        part: usize,
    },
    /// `summary_open`: a summary part has been announced. `sealed`: its signature or encrypted
    /// reasoning has come, so more reasoning is a new item.
    Reasoning {
        output: u32,
        part: usize,
        summary_open: bool,
        sealed: bool,
    },
}

/// A tool call that began while another was being written, held back and written whole once
/// the open one closes (items cannot interleave).
struct PendingCall {
    call: u32,
    id: String,
    name: String,
    arguments: String,
}

/// Writes canonical events as Responses API SSE. Only choice 0 is written.
pub struct EventEncoder {
    meta: ResponseMeta,
    /// The request's client-run tools: how each call is written (see [`super::super::tools`]).
    tools: ToolSet,
    id: String,
    /// `id`'s hex, for item ids.
    hex: String,
    model: String,
    created: u64,
    sequence: u64,
    started: bool,
    /// A terminal event has been written; nothing more may follow.
    ended: bool,
    /// The reply so far, as the parts of choice 0.
    parts: Vec<Part>,
    open: Option<Open>,
    next_output: u32,
    pending: Vec<PendingCall>,
    /// Canonical tool-call indices opened (written or pending).
    calls_seen: BTreeSet<u32>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    /// The terminal event's response object, for [`StreamEncoder::completed`].
    last: Option<Value>,
}

impl EventEncoder {
    pub fn new(meta: &ResponseMeta) -> Self {
        EventEncoder {
            meta: meta.clone(),
            tools: ToolSet::from_echo(&meta.echo),
            id: String::new(),
            hex: String::new(),
            model: String::new(),
            created: 0,
            sequence: 0,
            started: false,
            ended: false,
            parts: Vec::new(),
            open: None,
            next_output: 0,
            pending: Vec::new(),
            calls_seen: BTreeSet::new(),
            finish: None,
            usage: None,
            last: None,
        }
    }

    /// Writes one event: `body` (an object) gets its `type` and `sequence_number`.
    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, mut body: Value) {
        if let Value::Object(obj) = &mut body {
            obj.insert("type".into(), kind.into());
            obj.insert("sequence_number".into(), self.sequence.into());
        }
        self.sequence += 1;
        write_json_event(out, Some(kind), &body);
    }

    fn start(&mut self, upstream_id: &str, model: &str, created: u64, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = response_id(upstream_id, &self.meta);
        self.hex = id_hex(&self.id);
        model.clone_into(&mut self.model);
        self.created = created;
        for (kind, status) in [("response.created", "in_progress"), ("response.in_progress", "in_progress")] {
            let response = Value::Object(envelope(&self.id, self.created, &self.model, status, &self.meta));
            self.emit(out, kind, json!({"response": response}));
        }
    }

    fn reply(&self) -> Reply<'_> {
        Reply {
            id: &self.id,
            created: self.created,
            model: &self.model,
            parts: &self.parts,
            finish: self.finish,
            usage: self.usage.as_ref(),
        }
    }

    /// Opens a new output item: its part is pushed and `output_item.added` written.
    fn add_item(&mut self, out: &mut Vec<u8>, part: Part, item: Value) -> (u32, usize) {
        let output = self.next_output;
        self.next_output += 1;
        self.parts.push(part);
        self.emit(out, "response.output_item.added", json!({"output_index": output, "item": item}));
        (output, self.parts.len() - 1)
    }

    fn item_done(&mut self, out: &mut Vec<u8>, output: u32, start: usize) {
        let item = item_json(&self.parts[start..], &self.hex, output, self.meta.upstream, &self.tools);
        self.emit(out, "response.output_item.done", json!({"output_index": output, "item": item}));
    }

    /// Closes the open item, then writes the tool calls held back behind it.
    fn close(&mut self, out: &mut Vec<u8>) {
        self.close_open(out);
        for call in std::mem::take(&mut self.pending) {
            self.open_call(out, call.call, &call.id, &call.name);
            self.call_delta(out, call.call, &call.arguments);
            self.close_open(out);
        }
    }

    fn close_open(&mut self, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else { return };
        match open {
            Open::Message { output, start, content } => {
                self.close_content(out, output, content);
                self.item_done(out, output, start);
            }
            Open::Call { output, part, .. } => {
                let Some(Part::ToolCall { name, arguments, .. }) = self.parts.get(part) else { return };
                if is_custom(&self.tools, name) {
                    // The input is the `input` of the JSON arguments: written once they are whole.
                    let input = tools::custom_input(arguments);
                    let at = json!({"item_id": item_id("ctc_", &self.hex, output), "output_index": output});
                    if !input.is_empty() {
                        self.emit(
                            out,
                            "response.custom_tool_call_input.delta",
                            with(&at, "delta", input.clone().into()),
                        );
                    }
                    self.emit(out, "response.custom_tool_call_input.done", with(&at, "input", input.into()));
                } else {
                    let wire_name = self.tools.get(name).map_or(name.as_str(), |e| e.name.as_str());
                    let body = json!({
                        "item_id": item_id("fc_", &self.hex, output),
                        "output_index": output,
                        "arguments": arguments,
                        "name": wire_name,
                    });
                    self.emit(out, "response.function_call_arguments.done", body);
                }
                self.item_done(out, output, part);
            }
            Open::Reasoning { output, part, summary_open, .. } => {
                if summary_open {
                    let text = match self.parts.get(part) {
                        Some(Part::Reasoning { text, .. }) => text.clone(),
                        _ => String::new(),
                    };
                    let item = item_id("rs_", &self.hex, output);
                    let at = json!({"item_id": item, "output_index": output, "summary_index": 0});
                    self.emit(out, "response.reasoning_summary_text.done", with(&at, "text", text.clone().into()));
                    let part_json = json!({"type": "summary_text", "text": text});
                    self.emit(out, "response.reasoning_summary_part.done", with(&at, "part", part_json));
                }
                self.item_done(out, output, part);
            }
        }
    }

    /// Writes the `.done` events of the message's open content part (the last part).
    fn close_content(&mut self, out: &mut Vec<u8>, output: u32, content: u32) {
        let Some(part) = self.parts.last() else { return };
        let at =
            json!({"item_id": item_id("msg_", &self.hex, output), "output_index": output, "content_index": content});
        let (kind, done) = match part {
            Part::Text { text, .. } => {
                ("response.output_text.done", with(&with(&at, "text", text.as_str().into()), "logprobs", json!([])))
            }
            Part::Refusal { text } => ("response.refusal.done", with(&at, "refusal", text.as_str().into())),
            _ => return,
        };
        let part_json = content_json(part).unwrap_or_default();
        self.emit(out, kind, done);
        self.emit(out, "response.content_part.done", with(&at, "part", part_json));
    }

    /// Text or refusal: appended to the open content part of that kind, or to a new one.
    fn message_delta(&mut self, out: &mut Vec<u8>, text: &str, refusal: bool) {
        let (output, start, mut content) = match self.open {
            Some(Open::Message { output, start, content }) => (output, start, content),
            _ => {
                self.close(out);
                let output = self.next_output;
                let item = json!({
                    "id": item_id("msg_", &self.hex, output),
                    "type": "message",
                    "status": "in_progress",
                    "role": "assistant",
                    "content": [],
                });
                self.next_output += 1;
                self.emit(out, "response.output_item.added", json!({"output_index": output, "item": item}));
                // No content part yet: the first one gets index 0 below.
                (output, self.parts.len(), u32::MAX)
            }
        };
        let same_kind = match self.parts.last_mut() {
            Some(Part::Text { text: acc, .. }) if !refusal && content != u32::MAX => Some(acc),
            Some(Part::Refusal { text: acc }) if refusal && content != u32::MAX => Some(acc),
            _ => None,
        };
        if let Some(acc) = same_kind {
            acc.push_str(text);
        } else {
            if content != u32::MAX {
                self.close_content(out, output, content);
            }
            content = content.wrapping_add(1);
            let part = if refusal { Part::Refusal { text: text.to_owned() } } else { Part::text(text) };
            let empty = if refusal { Part::Refusal { text: String::new() } } else { Part::text("") };
            self.parts.push(part);
            let body = json!({
                "item_id": item_id("msg_", &self.hex, output),
                "output_index": output,
                "content_index": content,
                "part": content_json(&empty),
            });
            self.emit(out, "response.content_part.added", body);
        }
        self.open = Some(Open::Message { output, start, content });
        let at =
            json!({"item_id": item_id("msg_", &self.hex, output), "output_index": output, "content_index": content});
        if refusal {
            self.emit(out, "response.refusal.delta", with(&at, "delta", text.into()));
        } else {
            self.emit(out, "response.output_text.delta", with(&with(&at, "delta", text.into()), "logprobs", json!([])));
        }
    }

    fn open_call(&mut self, out: &mut Vec<u8>, call: u32, id: &str, name: &str) {
        self.close_open(out);
        let mut item = tools::call_item(&self.tools, id, name, "");
        if let Some(obj) = item.as_object_mut() {
            let prefix = call_prefix(is_custom(&self.tools, name));
            obj.insert("id".into(), json!(item_id(prefix, &self.hex, self.next_output)));
            obj.insert("status".into(), json!("in_progress"));
        }
        let tool_call = Part::ToolCall { id: id.to_owned(), name: name.to_owned(), arguments: String::new() };
        let (output, part) = self.add_item(out, tool_call, item);
        self.open = Some(Open::Call { output, call, part });
    }

    /// Arguments of a tool call: written when it is the open item, kept when it is held back,
    /// dropped when it was closed already (nothing can be added to a finished item).
    fn call_delta(&mut self, out: &mut Vec<u8>, call: u32, delta: &str) {
        if delta.is_empty() {
            return;
        }
        if let Some(Open::Call { output, call: open, part }) = self.open {
            if open == call {
                let Some(Part::ToolCall { name, arguments, .. }) = self.parts.get_mut(part) else { return };
                arguments.push_str(delta);
                if is_custom(&self.tools, name) {
                    return;
                }
                let body =
                    json!({"item_id": item_id("fc_", &self.hex, output), "output_index": output, "delta": delta});
                self.emit(out, "response.function_call_arguments.delta", body);
                return;
            }
        }
        if let Some(p) = self.pending.iter_mut().find(|p| p.call == call) {
            p.arguments.push_str(delta);
        }
    }

    /// The open reasoning item, or a new one when none is open or the open one is sealed.
    fn reasoning_item(&mut self, out: &mut Vec<u8>) -> (u32, usize, bool) {
        if let Some(Open::Reasoning { output, part, summary_open, sealed: false }) = self.open {
            return (output, part, summary_open);
        }
        self.close(out);
        let item = json!({"id": item_id("rs_", &self.hex, self.next_output), "type": "reasoning", "summary": []});
        let reasoning = Part::Reasoning { text: String::new(), signature: None, redacted: None };
        let (output, part) = self.add_item(out, reasoning, item);
        self.open = Some(Open::Reasoning { output, part, summary_open: false, sealed: false });
        (output, part, false)
    }

    fn reasoning_delta(&mut self, out: &mut Vec<u8>, text: &str) {
        let (output, part, summary_open) = self.reasoning_item(out);
        let at = json!({"item_id": item_id("rs_", &self.hex, output), "output_index": output, "summary_index": 0});
        if !summary_open {
            let empty = json!({"type": "summary_text", "text": ""});
            self.emit(out, "response.reasoning_summary_part.added", with(&at, "part", empty));
        }
        if let Some(Part::Reasoning { text: acc, .. }) = self.parts.get_mut(part) {
            acc.push_str(text);
        }
        self.open = Some(Open::Reasoning { output, part, summary_open: true, sealed: false });
        self.emit(out, "response.reasoning_summary_text.delta", with(&at, "delta", text.into()));
    }

    /// A signature or encrypted reasoning: it belongs to the open reasoning item unless that one
    /// already has one of its kind or is signed (a signature ends a thinking block; Anthropic's
    /// redacted thinking after it is a block of its own). Either way it ends that item's text.
    fn reasoning_token(&mut self, out: &mut Vec<u8>, value: &str, signature: bool) {
        let current = match self.open {
            Some(Open::Reasoning { output, part, summary_open, .. }) => match self.parts.get(part) {
                Some(Part::Reasoning { signature: s, redacted: r, .. })
                    if (if signature { s.is_none() } else { s.is_none() && r.is_none() }) =>
                {
                    Some((output, part, summary_open))
                }
                _ => None,
            },
            _ => None,
        };
        let (output, part, summary_open) = match current {
            Some(open) => open,
            None => {
                self.close(out);
                self.reasoning_item(out)
            }
        };
        if let Some(Part::Reasoning { signature: s, redacted: r, .. }) = self.parts.get_mut(part) {
            *(if signature { s } else { r }) = Some(value.to_owned());
        }
        self.open = Some(Open::Reasoning { output, part, summary_open, sealed: true });
    }

    fn raw_item(&mut self, out: &mut Vec<u8>, value: &Value) {
        self.close(out);
        let kind = value.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
        let part = Part::Raw { dialect: Dialect::OpenaiResponses, kind, value: value.clone() };
        let (output, _) = self.add_item(out, part, value.clone());
        self.emit(out, "response.output_item.done", json!({"output_index": output, "item": value}));
    }

    fn fail(&mut self, out: &mut Vec<u8>, kind: ErrorKind, message: &str) {
        self.ended = true;
        let message = truncate_for_json(message, MAX_ERROR_MESSAGE_BYTES);
        let response = failed_object(&self.reply(), &self.meta, error_code(kind), &message);
        self.emit(out, "response.failed", json!({"response": response}));
        self.last = Some(response);
    }
}

/// `template` (an object) with one more field.
fn with(template: &Value, key: &str, value: Value) -> Value {
    let mut v = template.clone();
    if let Value::Object(obj) = &mut v {
        obj.insert(key.into(), value);
    }
    v
}

/// The `error.code` OpenAI uses in a failed response for each kind of failure.
fn error_code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RateLimited => "rate_limit_exceeded",
        ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge => "invalid_prompt",
        ErrorKind::Authentication
        | ErrorKind::PermissionDenied
        | ErrorKind::NotFound
        | ErrorKind::Timeout
        | ErrorKind::Overloaded
        | ErrorKind::Upstream
        | ErrorKind::Internal => "server_error",
    }
}

impl StreamEncoder for EventEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        if let StreamEvent::Start { id, model, created, .. } = event {
            self.start(id, model, *created, out);
            return;
        }
        self.start("", "", 0, out);
        match event {
            StreamEvent::TextDelta { choice: 0, text } if !text.is_empty() => self.message_delta(out, text, false),
            StreamEvent::RefusalDelta { choice: 0, text } if !text.is_empty() => self.message_delta(out, text, true),
            StreamEvent::ReasoningDelta { choice: 0, text } if !text.is_empty() => self.reasoning_delta(out, text),
            StreamEvent::ReasoningSignature { choice: 0, signature } => self.reasoning_token(out, signature, true),
            StreamEvent::ReasoningRedacted { choice: 0, data } => self.reasoning_token(out, data, false),
            StreamEvent::ToolCallStart { choice: 0, index, id, name } => {
                if !self.calls_seen.insert(*index) {
                    return;
                }
                if matches!(self.open, Some(Open::Call { .. })) {
                    let call =
                        PendingCall { call: *index, id: id.clone(), name: name.clone(), arguments: String::new() };
                    self.pending.push(call);
                } else {
                    self.close(out);
                    self.open_call(out, *index, id, name);
                }
            }
            StreamEvent::ToolCallDelta { choice: 0, index, arguments } => self.call_delta(out, *index, arguments),
            StreamEvent::RawItem { choice: 0, dialect: Dialect::OpenaiResponses, value } => self.raw_item(out, value),
            StreamEvent::Finish { choice: 0, reason, .. } => self.finish = Some(*reason),
            StreamEvent::Usage { usage } => self.usage = Some(*usage),
            StreamEvent::Error { error } => self.fail(out, error.kind, &error.message),
            // Other choices, empty deltas, other dialects' items; log-probabilities have no slot
            // in a streamed item here.
            StreamEvent::Start { .. }
            | StreamEvent::TextDelta { .. }
            | StreamEvent::RefusalDelta { .. }
            | StreamEvent::ReasoningDelta { .. }
            | StreamEvent::ReasoningSignature { .. }
            | StreamEvent::ReasoningRedacted { .. }
            | StreamEvent::ToolCallStart { .. }
            | StreamEvent::ToolCallDelta { .. }
            | StreamEvent::RawItem { .. }
            | StreamEvent::Finish { .. }
            | StreamEvent::Logprobs { .. } => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.start("", "", 0, out);
        self.close(out);
        self.ended = true;
        let response = finished_object(&self.reply(), &self.meta);
        let kind = match response.get("status").and_then(Value::as_str) {
            Some("incomplete") => "response.incomplete",
            _ => "response.completed",
        };
        self.emit(out, kind, json!({"response": response}));
        self.last = Some(response);
    }

    /// The terminal event's response object: completed, incomplete or failed.
    fn completed(&mut self) -> Option<Value> {
        self.last.clone()
    }
}
