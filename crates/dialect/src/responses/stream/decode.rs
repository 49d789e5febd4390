//! OpenAI's and Azure's Responses API SSE → canonical stream events. Sans-IO and linear: each
//! frame is read once; what is kept between frames is a few flags and one small record per
//! function call, capped at [`MAX_CALLS`].
//!
//! Text, refusals, reasoning and call arguments are taken from the delta events; an item's
//! `output_item.done` fills in what no delta carried (a proxy that sends items whole), and is
//! where encrypted reasoning and hosted tools' items come from. Event types not read here
//! (`response.output_text.annotation.added`, tool-progress events, ...) are skipped.

use std::collections::BTreeSet;

use serde_json::Value;

use super::super::response::{call_name, decode_items, decode_usage, incomplete_reason, summary_text};
use crate::error::json_error_message;
use crate::{DecodeError, Dialect, ErrorKind, FinishReason, Frame, Part, StreamDecoder, StreamError, StreamEvent};

/// More function calls than this in one reply is a broken upstream.
const MAX_CALLS: usize = 4096;

/// One function call seen in the stream.
struct Call {
    item_id: String,
    output_index: Option<u64>,
    /// Its canonical tool-call index.
    index: u32,
    /// Some arguments were passed on.
    has_arguments: bool,
}

#[derive(Default)]
pub struct EventDecoder {
    started: bool,
    /// A terminal event (`response.completed`, `.incomplete`, `.failed`, `error`) arrived.
    done: bool,
    /// Some content, finish reason or error has been decoded.
    replied: bool,
    calls: Vec<Call>,
    /// Output indices of items whose content came as deltas.
    streamed: BTreeSet<u64>,
    /// The (output index, summary index) of the last reasoning delta: a new summary part of the
    /// same item is separated by a blank line, as whole replies join them.
    last_summary: Option<(u64, u64)>,
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl EventDecoder {
    fn start(&mut self, response: Option<&Value>, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let r = response.unwrap_or(&Value::Null);
        out.push(StreamEvent::Start {
            id: str_of(r, "id").unwrap_or_default().to_owned(),
            model: str_of(r, "model").unwrap_or_default().to_owned(),
            created: r.get("created_at").and_then(Value::as_u64).unwrap_or(0),
            system_fingerprint: None,
        });
    }

    fn call_for(&mut self, event: &Value) -> Option<&mut Call> {
        let item_id = str_of(event, "item_id");
        let output_index = event.get("output_index").and_then(Value::as_u64);
        self.calls.iter_mut().rev().find(|c| match item_id {
            Some(id) if !c.item_id.is_empty() => c.item_id == id,
            _ => output_index.is_some() && c.output_index == output_index,
        })
    }

    fn open_call(
        &mut self,
        item: &Value,
        output_index: Option<u64>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<u32, DecodeError> {
        if self.calls.len() >= MAX_CALLS {
            return Err(DecodeError::Framing(format!("more than {MAX_CALLS} function calls in one reply")));
        }
        let index = self.calls.len() as u32;
        self.calls.push(Call {
            item_id: str_of(item, "id").unwrap_or_default().to_owned(),
            output_index,
            index,
            has_arguments: false,
        });
        out.push(StreamEvent::ToolCallStart {
            choice: 0,
            index,
            id: str_of(item, "call_id").unwrap_or_default().to_owned(),
            name: call_name(item),
        });
        Ok(index)
    }

    /// Arguments the deltas did not carry, from an item or a `.done` event.
    fn fill_arguments(&mut self, event: &Value, arguments: Option<&str>, out: &mut Vec<StreamEvent>) {
        let Some(arguments) = arguments.filter(|a| !a.is_empty()) else { return };
        let Some(call) = self.call_for(event) else { return };
        if !call.has_arguments {
            call.has_arguments = true;
            out.push(StreamEvent::ToolCallDelta { choice: 0, index: call.index, arguments: arguments.to_owned() });
        }
    }

    fn item_added(&mut self, event: &Value, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        let item = event.get("item").unwrap_or(&Value::Null);
        if str_of(item, "type") != Some("function_call") {
            return Ok(());
        }
        let output_index = event.get("output_index").and_then(Value::as_u64);
        self.open_call(item, output_index, out)?;
        self.fill_arguments(&with_item_id(event, item), str_of(item, "arguments"), out);
        Ok(())
    }

    fn item_done(&mut self, event: &Value, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        let item = event.get("item").unwrap_or(&Value::Null);
        let output_index = event.get("output_index").and_then(Value::as_u64);
        let streamed = output_index.is_some_and(|i| self.streamed.contains(&i));
        let keyed = with_item_id(event, item);
        match str_of(item, "type").unwrap_or_default() {
            "message" if !streamed => {
                for part in decode_items(std::slice::from_ref(item)) {
                    match part {
                        Part::Text { text, .. } if !text.is_empty() => {
                            out.push(StreamEvent::TextDelta { choice: 0, text })
                        }
                        Part::Refusal { text } if !text.is_empty() => {
                            out.push(StreamEvent::RefusalDelta { choice: 0, text })
                        }
                        _ => {}
                    }
                }
            }
            "message" => {}
            "function_call" => {
                if self.call_for(&keyed).is_none() {
                    self.open_call(item, output_index, out)?;
                }
                self.fill_arguments(&keyed, str_of(item, "arguments"), out);
            }
            "reasoning" => {
                let text = summary_text(item);
                if !streamed && !text.is_empty() {
                    out.push(StreamEvent::ReasoningDelta { choice: 0, text });
                }
                if let Some(data) = str_of(item, "encrypted_content").filter(|d| !d.is_empty()) {
                    out.push(StreamEvent::ReasoningRedacted { choice: 0, data: data.to_owned() });
                }
            }
            _ if item.is_object() => {
                out.push(StreamEvent::RawItem { choice: 0, dialect: Dialect::OpenaiResponses, value: item.clone() })
            }
            _ => {}
        }
        Ok(())
    }

    fn reasoning_delta(&mut self, event: &Value, out: &mut Vec<StreamEvent>) {
        let Some(delta) = str_of(event, "delta").filter(|d| !d.is_empty()) else { return };
        let output_index = event.get("output_index").and_then(Value::as_u64).unwrap_or(u64::MAX);
        let summary = event.get("summary_index").and_then(Value::as_u64).unwrap_or(0);
        let mut text = String::new();
        if let Some((item, last)) = self.last_summary {
            if item == output_index && last != summary {
                text.push_str("\n\n");
            }
        }
        text.push_str(delta);
        self.last_summary = Some((output_index, summary));
        self.streamed.insert(output_index);
        out.push(StreamEvent::ReasoningDelta { choice: 0, text });
    }

    /// `response.completed` / `.incomplete`: the finish reason and usage. A reply whose items
    /// never streamed (a proxy that sends only the final object) is taken from its `output`.
    fn terminal(&mut self, response: &Value, incomplete: bool, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if !self.replied && out.iter().all(|e| !e.is_reply()) {
            for item in response.get("output").and_then(Value::as_array).into_iter().flatten() {
                self.item_done(&serde_json::json!({ "item": item }), out)?;
            }
        }
        let reason = if incomplete {
            incomplete_reason(response.get("incomplete_details"))
        } else if self.calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        };
        out.push(StreamEvent::Finish { choice: 0, reason, stop_sequence: None });
        if let Some(usage) = response.get("usage").filter(|u| u.is_object()) {
            out.push(StreamEvent::Usage { usage: decode_usage(usage) });
        }
        self.done = true;
        Ok(())
    }

    fn error(&mut self, error: &Value, out: &mut Vec<StreamEvent>) {
        self.done = true;
        let code = str_of(error, "code").or_else(|| str_of(error, "type")).unwrap_or_default();
        let message = str_of(error, "message").unwrap_or("upstream stream error").to_owned();
        out.push(StreamEvent::Error { error: StreamError { kind: error_kind(code), message } });
    }
}

/// `event` with the item's id as `item_id`, to find the call an item belongs to.
fn with_item_id(event: &Value, item: &Value) -> Value {
    serde_json::json!({"item_id": item.get("id"), "output_index": event.get("output_index")})
}

/// The kind of failure an `error.code` names.
fn error_kind(code: &str) -> ErrorKind {
    match code {
        "rate_limit_exceeded" | "insufficient_quota" | "rate_limit_error" => ErrorKind::RateLimited,
        "invalid_prompt"
        | "context_length_exceeded"
        | "invalid_request_error"
        | "invalid_image"
        | "invalid_image_format"
        | "image_too_large"
        | "image_content_policy_violation" => ErrorKind::InvalidRequest,
        "server_is_overloaded" | "overloaded" => ErrorKind::Overloaded,
        _ => ErrorKind::Upstream,
    }
}

impl StreamDecoder for EventDecoder {
    fn feed(&mut self, frame: &Frame) -> Result<Vec<StreamEvent>, DecodeError> {
        let Frame::Sse(ev) = frame else {
            return Err(DecodeError::Framing("Responses API streams are server-sent events".into()));
        };
        let data = ev.data.trim();
        // Some proxies end the stream as Chat Completions does.
        if data.is_empty() || data == "[DONE]" || self.done {
            return Ok(Vec::new());
        }
        let event: Value = serde_json::from_str(data)
            .map_err(|e| DecodeError::Framing(format!("bad event: {}", json_error_message(&e))))?;
        let kind = str_of(&event, "type").or(ev.event.as_deref()).unwrap_or_default();
        let mut out = Vec::new();
        let response = event.get("response");
        if kind == "response.created" || kind == "response.in_progress" || kind == "response.queued" {
            self.start(response, &mut out);
            return Ok(out);
        }
        if kind != "error" && kind != "response.failed" {
            self.start(None, &mut out);
        }
        let text = |key: &str| str_of(&event, key).filter(|t| !t.is_empty()).map(str::to_owned);
        let output_index = event.get("output_index").and_then(Value::as_u64);
        match kind {
            "response.output_text.delta" => {
                if let Some(text) = text("delta") {
                    self.streamed.extend(output_index);
                    out.push(StreamEvent::TextDelta { choice: 0, text });
                }
            }
            "response.refusal.delta" => {
                if let Some(text) = text("delta") {
                    self.streamed.extend(output_index);
                    out.push(StreamEvent::RefusalDelta { choice: 0, text });
                }
            }
            "response.output_item.added" => self.item_added(&event, &mut out)?,
            "response.function_call_arguments.delta" => {
                if let (Some(arguments), Some(call)) = (text("delta"), self.call_for(&event)) {
                    call.has_arguments = true;
                    out.push(StreamEvent::ToolCallDelta { choice: 0, index: call.index, arguments });
                }
            }
            "response.function_call_arguments.done" => {
                self.fill_arguments(&event, str_of(&event, "arguments"), &mut out)
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                self.reasoning_delta(&event, &mut out)
            }
            "response.output_item.done" => self.item_done(&event, &mut out)?,
            "response.completed" => self.terminal(response.unwrap_or(&Value::Null), false, &mut out)?,
            "response.incomplete" => self.terminal(response.unwrap_or(&Value::Null), true, &mut out)?,
            "response.failed" => {
                let error = response.and_then(|r| r.get("error")).unwrap_or(&Value::Null);
                self.error(error, &mut out);
            }
            "error" => {
                // OpenAI puts the fields on the event; some proxies nest them under `error`.
                let error = event.get("error").filter(|e| e.is_object()).unwrap_or(&event);
                self.error(error, &mut out);
            }
            _ => {}
        }
        self.replied |= out.iter().any(StreamEvent::is_reply);
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, DecodeError> {
        if !self.done {
            return Err(DecodeError::Truncated);
        }
        if !self.replied {
            return Err(crate::error::empty_stream());
        }
        Ok(Vec::new())
    }
}
