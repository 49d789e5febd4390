//! `chat.completion.chunk` streams ⇄ canonical stream events.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::response::{decode_finish_reason, decode_usage, encode_usage, finish_reason_str};
use super::wire::{InUsage, OutUsage};
use crate::error::json_error_message;
use crate::framing::sse::{write_event, write_json_event};
use crate::{DecodeError, ErrorKind, Frame, StreamDecoder, StreamEncoder, StreamError, StreamEvent};

// ---------- decoding what an upstream streams ----------

#[derive(Deserialize, Default)]
#[serde(default)]
struct InChunk {
    id: String,
    model: String,
    created: u64,
    system_fingerprint: Option<String>,
    choices: Vec<InChunkChoice>,
    usage: Option<InUsage>,
    error: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InChunkChoice {
    index: u32,
    delta: InDelta,
    finish_reason: Option<String>,
    logprobs: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InDelta {
    content: Option<String>,
    refusal: Option<String>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    tool_calls: Vec<InToolCallDelta>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InToolCallDelta {
    index: Option<u32>,
    id: Option<String>,
    function: InFunctionDelta,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InFunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

/// Decodes an OpenAI chunk stream. Tracks which tool calls have opened so that servers that
/// repeat the id on every fragment still open each call once.
#[derive(Default)]
pub struct ChunkDecoder {
    started: bool,
    done: bool,
    finished: bool,
    /// (choice, tool-call index) pairs already opened.
    open_tool_calls: BTreeSet<(u32, u32)>,
    /// Some content, finish reason or error has been decoded.
    replied: bool,
}

impl StreamDecoder for ChunkDecoder {
    fn feed(&mut self, frame: &Frame) -> Result<Vec<StreamEvent>, DecodeError> {
        let Frame::Sse(ev) = frame else {
            return Err(DecodeError::Framing("OpenAI streams are server-sent events".into()));
        };
        let data = ev.data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let chunk: InChunk = serde_json::from_str(data)
            .map_err(|e| DecodeError::Framing(format!("bad chunk: {}", json_error_message(&e))))?;
        let mut out = Vec::new();
        if let Some(err) = chunk.error {
            self.replied = true;
            let message = err.get("message").and_then(Value::as_str).unwrap_or("upstream stream error").to_owned();
            let kind = match err.get("type").and_then(Value::as_str) {
                Some("rate_limit_error" | "requests" | "tokens") => ErrorKind::RateLimited,
                Some("invalid_request_error") => ErrorKind::InvalidRequest,
                _ => ErrorKind::Upstream,
            };
            self.done = true;
            out.push(StreamEvent::Error { error: StreamError { kind, message } });
            return Ok(out);
        }
        // Azure opens with a choice-less chunk of filter results; the reply starts after it.
        if !self.started && (!chunk.choices.is_empty() || chunk.usage.is_some()) {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk.id,
                model: chunk.model,
                created: chunk.created,
                system_fingerprint: chunk.system_fingerprint,
            });
        }
        for c in chunk.choices {
            let choice = c.index;
            let d = c.delta;
            if let Some(text) = d.reasoning_content.or(d.reasoning).filter(|t| !t.is_empty()) {
                out.push(StreamEvent::ReasoningDelta { choice, text });
            }
            if let Some(text) = d.content.filter(|t| !t.is_empty()) {
                out.push(StreamEvent::TextDelta { choice, text });
            }
            if let Some(text) = d.refusal.filter(|t| !t.is_empty()) {
                out.push(StreamEvent::RefusalDelta { choice, text });
            }
            for (pos, tc) in d.tool_calls.into_iter().enumerate() {
                let index = tc.index.unwrap_or(pos as u32);
                if self.open_tool_calls.insert((choice, index)) {
                    out.push(StreamEvent::ToolCallStart {
                        choice,
                        index,
                        id: tc.id.unwrap_or_else(|| format!("call_{choice}_{index}")),
                        name: tc.function.name.unwrap_or_default(),
                    });
                }
                if let Some(arguments) = tc.function.arguments.filter(|a| !a.is_empty()) {
                    out.push(StreamEvent::ToolCallDelta { choice, index, arguments });
                }
            }
            if let Some(logprobs) = c.logprobs.filter(|v| !v.is_null()) {
                out.push(StreamEvent::Logprobs { choice, logprobs });
            }
            if let Some(reason) = c.finish_reason {
                self.finished = true;
                out.push(StreamEvent::Finish { choice, reason: decode_finish_reason(&reason), stop_sequence: None });
            }
        }
        if let Some(usage) = chunk.usage {
            out.push(StreamEvent::Usage { usage: decode_usage(usage) });
        }
        self.replied |= out.iter().any(StreamEvent::is_reply);
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, DecodeError> {
        // A few compatible servers omit `[DONE]`; a stream that reached its finish reason is whole.
        if !(self.done || self.finished) {
            return Err(DecodeError::Truncated);
        }
        // `[DONE]` after nothing (or only role and usage chunks) is a broken upstream.
        if !self.replied {
            return Err(crate::error::empty_stream());
        }
        Ok(Vec::new())
    }
}

// ---------- encoding what a client receives ----------

#[derive(Serialize)]
struct OutChunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_fingerprint: Option<&'a str>,
    choices: &'a [OutChunkChoice<'a>],
    /// With `include_usage`, OpenAI sends `"usage": null` on every chunk but the last.
    #[serde(skip_serializing_if = "UsageField::is_absent")]
    usage: UsageField,
}

enum UsageField {
    Absent,
    Null,
    Some(OutUsage),
}

impl UsageField {
    fn is_absent(&self) -> bool {
        matches!(self, UsageField::Absent)
    }
}

impl Serialize for UsageField {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            UsageField::Some(u) => u.serialize(s),
            UsageField::Absent | UsageField::Null => s.serialize_none(),
        }
    }
}

#[derive(Serialize)]
struct OutChunkChoice<'a> {
    index: u32,
    delta: OutDelta<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<&'a Value>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct OutDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[OutToolCallDelta<'a>; 1]>,
}

#[derive(Serialize)]
struct OutToolCallDelta<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: OutFunctionDelta<'a>,
}

#[derive(Serialize)]
struct OutFunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// Writes canonical events as OpenAI chunks. The usage event is written only when the client
/// asked for it (`stream_options.include_usage`); the gateway always asks upstreams for it.
pub struct ChunkEncoder {
    include_usage: bool,
    id: String,
    model: String,
    created: u64,
    system_fingerprint: Option<String>,
    /// Choices whose first chunk (carrying `role`) has been written.
    roles_sent: BTreeSet<u32>,
    errored: bool,
}

impl ChunkEncoder {
    pub fn new(include_usage: bool) -> Self {
        ChunkEncoder {
            include_usage,
            id: String::new(),
            model: String::new(),
            created: 0,
            system_fingerprint: None,
            roles_sent: BTreeSet::new(),
            errored: false,
        }
    }

    fn write(&mut self, out: &mut Vec<u8>, choice: u32, delta: OutDelta<'_>, extra: ChunkExtra<'_>) {
        let mut delta = delta;
        if self.roles_sent.insert(choice) {
            delta.role = Some("assistant");
        }
        let choices = [OutChunkChoice { index: choice, delta, logprobs: extra.logprobs, finish_reason: extra.finish }];
        self.write_chunk(out, &choices, if self.include_usage { UsageField::Null } else { UsageField::Absent });
    }

    fn write_chunk(&self, out: &mut Vec<u8>, choices: &[OutChunkChoice<'_>], usage: UsageField) {
        let chunk = OutChunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            system_fingerprint: self.system_fingerprint.as_deref(),
            choices,
            usage,
        };
        write_json_event(out, None, &chunk);
    }
}

#[derive(Default)]
struct ChunkExtra<'a> {
    logprobs: Option<&'a Value>,
    finish: Option<&'static str>,
}

impl StreamEncoder for ChunkEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        let none = ChunkExtra::default;
        match event {
            StreamEvent::Start { id, model, created, system_fingerprint } => {
                self.id = super::completion_id(id).into_owned();
                self.model.clone_from(model);
                self.created = *created;
                self.system_fingerprint.clone_from(system_fingerprint);
                self.write(out, 0, OutDelta { content: Some(""), ..OutDelta::default() }, none());
            }
            StreamEvent::TextDelta { choice, text } => {
                self.write(out, *choice, OutDelta { content: Some(text), ..OutDelta::default() }, none())
            }
            StreamEvent::ReasoningDelta { choice, text } => {
                self.write(out, *choice, OutDelta { reasoning_content: Some(text), ..OutDelta::default() }, none())
            }
            // Chat Completions has no field for reasoning signatures.
            StreamEvent::ReasoningSignature { .. } => {}
            StreamEvent::RefusalDelta { choice, text } => {
                self.write(out, *choice, OutDelta { refusal: Some(text), ..OutDelta::default() }, none())
            }
            StreamEvent::ToolCallStart { choice, index, id, name } => {
                let call = OutToolCallDelta {
                    index: *index,
                    id: Some(id),
                    kind: Some("function"),
                    function: OutFunctionDelta { name: Some(name), arguments: "" },
                };
                self.write(out, *choice, OutDelta { tool_calls: Some([call]), ..OutDelta::default() }, none())
            }
            StreamEvent::ToolCallDelta { choice, index, arguments } => {
                let call = OutToolCallDelta {
                    index: *index,
                    id: None,
                    kind: None,
                    function: OutFunctionDelta { name: None, arguments },
                };
                self.write(out, *choice, OutDelta { tool_calls: Some([call]), ..OutDelta::default() }, none())
            }
            StreamEvent::Logprobs { choice, logprobs } => {
                let extra = ChunkExtra { logprobs: Some(logprobs), finish: None };
                self.write(out, *choice, OutDelta::default(), extra)
            }
            StreamEvent::Finish { choice, reason, .. } => {
                let extra = ChunkExtra { logprobs: None, finish: Some(finish_reason_str(*reason)) };
                self.write(out, *choice, OutDelta::default(), extra)
            }
            StreamEvent::Usage { usage } => {
                if self.include_usage {
                    self.write_chunk(out, &[], UsageField::Some(encode_usage(usage)));
                }
            }
            // Chat Completions has no slot for encrypted reasoning or another dialect's items.
            StreamEvent::ReasoningRedacted { .. } | StreamEvent::RawItem { .. } => {}
            StreamEvent::Error { error } => {
                self.errored = true;
                let body = super::error::stream_error_body(error.kind, &error.message);
                write_json_event(out, None, &body);
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.errored {
            write_event(out, None, b"[DONE]");
        }
    }
}
