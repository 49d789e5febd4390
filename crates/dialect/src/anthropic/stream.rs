//! Anthropic SSE streams ⇄ canonical stream events: a decoder for what api.anthropic.com streams
//! and an encoder that writes the event sequence Anthropic SDK clients expect.
//!
//! The wire order is `message_start`, then per content block `content_block_start`,
//! `content_block_delta`*, `content_block_stop` with indices 0, 1, 2, ... (blocks never
//! interleave), then `message_delta` (stop reason, cumulative usage) and `message_stop`. `ping`
//! may come anywhere; an `error` event ends the stream.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{self, error_type_for, kind_for, InError};
use super::response::{decode_stop_reason, decode_usage, encode_usage, stop_reason_str};
use super::wire::{InUsage, OutUsage};
use crate::claude::JSON_OUTPUT_TOOL;
use crate::error::json_error_message;
use crate::framing::sse::{write_event, write_json_event};
use crate::{DecodeError, FinishReason, Frame, StreamDecoder, StreamEncoder, StreamError, StreamEvent, Usage};

// ---------- decoding what an upstream streams ----------

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum InEvent {
    MessageStart {
        #[serde(default)]
        message: InStartMessage,
    },
    ContentBlockStart {
        index: u32,
        content_block: Value,
    },
    ContentBlockDelta {
        index: u32,
        delta: InDelta,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        #[serde(default)]
        delta: InMessageDelta,
        #[serde(default)]
        usage: InUsage,
    },
    MessageStop,
    Ping,
    Error {
        #[serde(default)]
        error: InError,
    },
    /// Event types newer than this code.
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InStartMessage {
    id: String,
    model: String,
    usage: Option<InUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum InDelta {
    TextDelta {
        text: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    /// `citations_delta` and anything newer: no canonical slot.
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InMessageDelta {
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
}

/// What an open Anthropic content block is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum BlockKind {
    Text,
    Thinking,
    /// A client tool call; `call` is its ordinal among the message's `tool_use` blocks.
    ToolUse {
        call: u32,
        has_input: bool,
    },
    /// A call of [`JSON_OUTPUT_TOOL`]: its input streams as the message's text.
    JsonOutput {
        has_input: bool,
    },
    /// Server-tool and redacted-thinking blocks, which canonical events cannot carry.
    Other,
}

/// Decodes an Anthropic event stream. Usage arrives in two parts (input and cache counts in
/// `message_start`, cumulative output in `message_delta`) and is emitted once, combined, at
/// `message_stop`.
#[derive(Default)]
pub struct EventDecoder {
    started: bool,
    /// `message_stop` or an `error` event arrived.
    done: bool,
    /// Blocks started and not yet stopped, by Anthropic block index.
    open_blocks: BTreeMap<u32, BlockKind>,
    /// How many `tool_use` blocks have started.
    tool_calls: u32,
    usage: InUsage,
    usage_seen: bool,
    /// Some content, stop reason or error has been decoded.
    replied: bool,
    /// A [`JSON_OUTPUT_TOOL`] block answered a `json_object` request.
    json_output: bool,
}

impl EventDecoder {
    fn start(&mut self, id: String, model: String, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start { id, model, created: 0, system_fingerprint: None });
        }
    }

    fn merge_usage(&mut self, u: InUsage) {
        self.usage_seen = true;
        let acc = &mut self.usage;
        // Counts are cumulative: a present field replaces the earlier value.
        acc.input_tokens = u.input_tokens.or(acc.input_tokens);
        acc.output_tokens = u.output_tokens.or(acc.output_tokens);
        acc.cache_creation_input_tokens = u.cache_creation_input_tokens.or(acc.cache_creation_input_tokens);
        acc.cache_read_input_tokens = u.cache_read_input_tokens.or(acc.cache_read_input_tokens);
        if let Some(details) = u.output_tokens_details {
            acc.output_tokens_details = Some(details);
        }
        acc.service_tier = u.service_tier.or(acc.service_tier.take());
    }

    fn block(&self, index: u32) -> Option<BlockKind> {
        self.open_blocks.get(&index).copied()
    }

    fn block_start(&mut self, index: u32, block: &Value, out: &mut Vec<StreamEvent>) {
        let text = |key: &str| block.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        let kind = match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(text) = text("text") {
                    out.push(StreamEvent::TextDelta { choice: 0, text });
                }
                BlockKind::Text
            }
            Some("thinking") => {
                if let Some(text) = text("thinking") {
                    out.push(StreamEvent::ReasoningDelta { choice: 0, text });
                }
                if let Some(signature) = text("signature") {
                    out.push(StreamEvent::ReasoningSignature { choice: 0, signature });
                }
                BlockKind::Thinking
            }
            Some("tool_use") if text("name").as_deref() == Some(JSON_OUTPUT_TOOL) => {
                self.json_output = true;
                let input = block.get("input").and_then(Value::as_object).filter(|o| !o.is_empty());
                if let Some(input) = input {
                    out.push(StreamEvent::TextDelta { choice: 0, text: Value::Object(input.clone()).to_string() });
                }
                BlockKind::JsonOutput { has_input: input.is_some() }
            }
            Some("tool_use") => {
                let call = self.tool_calls;
                self.tool_calls += 1;
                out.push(StreamEvent::ToolCallStart {
                    choice: 0,
                    index: call,
                    id: text("id").unwrap_or_else(|| format!("toolu_{call}")),
                    name: text("name").unwrap_or_default(),
                });
                // The API starts tool blocks with `input: {}` and streams the input after; a
                // proxy that sends it whole in the start is taken at its word.
                let input = block.get("input").and_then(Value::as_object).filter(|o| !o.is_empty());
                if let Some(input) = input {
                    out.push(StreamEvent::ToolCallDelta {
                        choice: 0,
                        index: call,
                        arguments: Value::Object(input.clone()).to_string(),
                    });
                }
                BlockKind::ToolUse { call, has_input: input.is_some() }
            }
            _ => BlockKind::Other,
        };
        self.open_blocks.insert(index, kind);
    }

    fn block_delta(&mut self, index: u32, delta: InDelta, out: &mut Vec<StreamEvent>) {
        let kind = self.block(index);
        if kind == Some(BlockKind::Other) {
            return;
        }
        match delta {
            InDelta::TextDelta { text } if !text.is_empty() => out.push(StreamEvent::TextDelta { choice: 0, text }),
            InDelta::ThinkingDelta { thinking } if !thinking.is_empty() => {
                out.push(StreamEvent::ReasoningDelta { choice: 0, text: thinking })
            }
            InDelta::SignatureDelta { signature } if !signature.is_empty() => {
                out.push(StreamEvent::ReasoningSignature { choice: 0, signature })
            }
            InDelta::InputJsonDelta { partial_json }
                if !partial_json.is_empty() && matches!(kind, Some(BlockKind::JsonOutput { .. })) =>
            {
                if let Some(k) = self.open_blocks.get_mut(&index) {
                    *k = BlockKind::JsonOutput { has_input: true };
                }
                out.push(StreamEvent::TextDelta { choice: 0, text: partial_json });
            }
            InDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                let Some(BlockKind::ToolUse { call, .. }) = kind else {
                    return;
                };
                if let Some(k) = self.open_blocks.get_mut(&index) {
                    *k = BlockKind::ToolUse { call, has_input: true };
                }
                out.push(StreamEvent::ToolCallDelta { choice: 0, index: call, arguments: partial_json });
            }
            _ => {}
        }
    }

    fn block_stop(&mut self, index: u32, out: &mut Vec<StreamEvent>) {
        // A tool called without input streams no `input_json_delta`; its input is `{}`.
        match self.block(index) {
            Some(BlockKind::ToolUse { call, has_input: false }) => {
                out.push(StreamEvent::ToolCallDelta { choice: 0, index: call, arguments: "{}".into() });
            }
            Some(BlockKind::JsonOutput { has_input: false }) => {
                out.push(StreamEvent::TextDelta { choice: 0, text: "{}".into() });
            }
            _ => {}
        }
        self.open_blocks.remove(&index);
    }
}

impl StreamDecoder for EventDecoder {
    fn feed(&mut self, frame: &Frame) -> Result<Vec<StreamEvent>, DecodeError> {
        let Frame::Sse(ev) = frame else {
            return Err(DecodeError::Framing("Anthropic streams are server-sent events".into()));
        };
        let data = ev.data.trim();
        if data.is_empty() || self.done {
            return Ok(Vec::new());
        }
        let event: InEvent = serde_json::from_str(data)
            .map_err(|e| DecodeError::Framing(format!("bad event: {}", json_error_message(&e))))?;
        let mut out = Vec::new();
        match event {
            InEvent::MessageStart { message } => {
                if let Some(usage) = message.usage {
                    self.merge_usage(usage);
                }
                self.start(message.id, message.model, &mut out);
            }
            InEvent::ContentBlockStart { index, content_block } => {
                self.start(String::new(), String::new(), &mut out);
                self.block_start(index, &content_block, &mut out);
            }
            InEvent::ContentBlockDelta { index, delta } => {
                self.start(String::new(), String::new(), &mut out);
                self.block_delta(index, delta, &mut out);
            }
            InEvent::ContentBlockStop { index } => self.block_stop(index, &mut out),
            InEvent::MessageDelta { delta, usage } => {
                self.start(String::new(), String::new(), &mut out);
                self.merge_usage(usage);
                if let Some(reason) = delta.stop_reason {
                    let mut reason = decode_stop_reason(&reason);
                    // A turn that ended only to give the JSON answer simply ended.
                    if reason == FinishReason::ToolCalls && self.json_output && self.tool_calls == 0 {
                        reason = FinishReason::Stop;
                    }
                    out.push(StreamEvent::Finish { choice: 0, reason, stop_sequence: delta.stop_sequence });
                }
            }
            InEvent::MessageStop => {
                self.done = true;
                if self.usage_seen {
                    out.push(StreamEvent::Usage { usage: decode_usage(&self.usage) });
                }
            }
            InEvent::Error { error } => {
                self.done = true;
                let kind = kind_for(error.kind.as_deref().unwrap_or_default());
                let message = error.message.unwrap_or_else(|| "upstream stream error".into());
                out.push(StreamEvent::Error { error: StreamError { kind, message } });
            }
            InEvent::Ping | InEvent::Unknown => {}
        }
        self.replied |= out.iter().any(StreamEvent::is_reply);
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, DecodeError> {
        if !self.done {
            return Err(DecodeError::Truncated);
        }
        // `message_start` then `message_stop`, with no block and no stop reason between.
        if !self.replied {
            return Err(crate::error::empty_stream());
        }
        Ok(Vec::new())
    }
}

// ---------- encoding what a client receives ----------

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutEvent<'a> {
    MessageStart { message: OutStartMessage<'a> },
    ContentBlockStart { index: u32, content_block: OutStartBlock<'a> },
    ContentBlockDelta { index: u32, delta: OutDelta<'a> },
    ContentBlockStop { index: u32 },
    MessageDelta { delta: OutMessageDelta<'a>, usage: OutUsage<'a> },
    MessageStop,
}

impl OutEvent<'_> {
    fn name(&self) -> &'static str {
        match self {
            OutEvent::MessageStart { .. } => "message_start",
            OutEvent::ContentBlockStart { .. } => "content_block_start",
            OutEvent::ContentBlockDelta { .. } => "content_block_delta",
            OutEvent::ContentBlockStop { .. } => "content_block_stop",
            OutEvent::MessageDelta { .. } => "message_delta",
            OutEvent::MessageStop => "message_stop",
        }
    }
}

#[derive(Serialize)]
struct OutStartMessage<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: &'static [Value],
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'static str>,
    usage: OutUsage<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutStartBlock<'a> {
    Text { text: &'static str },
    Thinking { thinking: &'static str, signature: &'static str },
    ToolUse { id: &'a str, name: &'a str, input: Map<String, Value> },
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum OutDelta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct OutMessageDelta<'a> {
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
}

/// The content block being written.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Open {
    Text {
        index: u32,
    },
    /// `signed`: its signature has been written, so more reasoning starts a new block.
    Thinking {
        index: u32,
        signed: bool,
    },
    /// `call` is the canonical tool-call index.
    Tool {
        index: u32,
        call: u32,
    },
}

/// A tool call that began while another was being written. Anthropic blocks cannot interleave,
/// so it is held back and written whole once the open one closes.
struct PendingCall {
    call: u32,
    id: String,
    name: String,
    arguments: String,
}

/// Writes canonical events as Anthropic SSE. Only choice 0 is written (Anthropic has one).
/// `message_start` carries zero usage (input counts arrive only at the end of a canonical
/// stream); the final `message_delta` carries the full cumulative usage, input and cache counts
/// included, which Anthropic's SDKs merge into the message.
#[derive(Default)]
pub struct EventEncoder {
    started: bool,
    id: String,
    model: String,
    /// The index the next content block gets.
    next_index: u32,
    open: Option<Open>,
    pending_tool_calls: Vec<PendingCall>,
    /// Canonical tool-call indices already opened (written or pending).
    tool_calls_seen: BTreeSet<u32>,
    finish: Option<(FinishReason, Option<String>)>,
    usage: Option<Usage>,
    /// `message_stop` or an `error` event has been written; nothing more may follow.
    ended: bool,
}

impl EventEncoder {
    fn write(out: &mut Vec<u8>, event: &OutEvent<'_>) {
        write_json_event(out, Some(event.name()), event);
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let message = OutStartMessage {
            id: &self.id,
            kind: "message",
            role: "assistant",
            model: &self.model,
            content: &[],
            stop_reason: None,
            stop_sequence: None,
            usage: OutUsage::default(),
        };
        Self::write(out, &OutEvent::MessageStart { message });
    }

    /// Closes the open block; after a tool block, writes the tool calls held back behind it.
    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let (Open::Text { index } | Open::Thinking { index, .. } | Open::Tool { index, .. }) = open;
        Self::write(out, &OutEvent::ContentBlockStop { index });
        for call in std::mem::take(&mut self.pending_tool_calls) {
            let index =
                self.start_block(out, OutStartBlock::ToolUse { id: &call.id, name: &call.name, input: Map::new() });
            if !call.arguments.is_empty() {
                let delta = OutDelta::InputJson { partial_json: &call.arguments };
                Self::write(out, &OutEvent::ContentBlockDelta { index, delta });
            }
            Self::write(out, &OutEvent::ContentBlockStop { index });
        }
    }

    fn start_block(&mut self, out: &mut Vec<u8>, block: OutStartBlock<'_>) -> u32 {
        let index = self.next_index;
        self.next_index += 1;
        Self::write(out, &OutEvent::ContentBlockStart { index, content_block: block });
        index
    }

    /// The index of an open text block, opening one if needed.
    fn text_block(&mut self, out: &mut Vec<u8>) -> u32 {
        if let Some(Open::Text { index }) = self.open {
            return index;
        }
        self.close(out);
        let index = self.start_block(out, OutStartBlock::Text { text: "" });
        self.open = Some(Open::Text { index });
        index
    }

    /// The index of an open thinking block, opening one if needed. A signed block is finished.
    fn thinking_block(&mut self, out: &mut Vec<u8>) -> u32 {
        if let Some(Open::Thinking { index, signed: false }) = self.open {
            return index;
        }
        self.close(out);
        let index = self.start_block(out, OutStartBlock::Thinking { thinking: "", signature: "" });
        self.open = Some(Open::Thinking { index, signed: false });
        index
    }

    fn delta(out: &mut Vec<u8>, index: u32, delta: OutDelta<'_>) {
        Self::write(out, &OutEvent::ContentBlockDelta { index, delta });
    }
}

impl StreamEncoder for EventEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match event {
            StreamEvent::Start { id, model, .. } => {
                if !self.started {
                    self.id = super::message_id(id).into_owned();
                    self.model.clone_from(model);
                    self.ensure_started(out);
                }
            }
            StreamEvent::TextDelta { choice: 0, text } | StreamEvent::RefusalDelta { choice: 0, text } => {
                if text.is_empty() {
                    return;
                }
                self.ensure_started(out);
                let index = self.text_block(out);
                Self::delta(out, index, OutDelta::Text { text });
            }
            StreamEvent::ReasoningDelta { choice: 0, text } => {
                if text.is_empty() {
                    return;
                }
                self.ensure_started(out);
                let index = self.thinking_block(out);
                Self::delta(out, index, OutDelta::Thinking { thinking: text });
            }
            StreamEvent::ReasoningSignature { choice: 0, signature } => {
                self.ensure_started(out);
                let index = self.thinking_block(out);
                Self::delta(out, index, OutDelta::Signature { signature });
                self.open = Some(Open::Thinking { index, signed: true });
            }
            StreamEvent::ToolCallStart { choice: 0, index: call, id, name } => {
                if !self.tool_calls_seen.insert(*call) {
                    return;
                }
                self.ensure_started(out);
                if matches!(self.open, Some(Open::Tool { .. })) {
                    let pending =
                        PendingCall { call: *call, id: id.clone(), name: name.clone(), arguments: String::new() };
                    self.pending_tool_calls.push(pending);
                    return;
                }
                self.close(out);
                let index = self.start_block(out, OutStartBlock::ToolUse { id, name, input: Map::new() });
                self.open = Some(Open::Tool { index, call: *call });
            }
            StreamEvent::ToolCallDelta { choice: 0, index: call, arguments } => {
                if arguments.is_empty() {
                    return;
                }
                if let Some(Open::Tool { index, call: open_call }) = self.open {
                    if open_call == *call {
                        Self::delta(out, index, OutDelta::InputJson { partial_json: arguments });
                        return;
                    }
                }
                // A fragment of a held-back call. A fragment for a call already closed (after text
                // came between) cannot be written any more and is left out.
                if let Some(p) = self.pending_tool_calls.iter_mut().find(|p| p.call == *call) {
                    p.arguments.push_str(arguments);
                }
            }
            StreamEvent::Finish { choice: 0, reason, stop_sequence } => {
                self.ensure_started(out);
                self.close(out);
                self.finish = Some((*reason, stop_sequence.clone()));
            }
            StreamEvent::Usage { usage } => self.usage = Some(*usage),
            StreamEvent::Error { error } => {
                self.ended = true;
                write_event(out, Some("error"), &error::body(error_type_for(error.kind), &error.message));
            }
            // Anthropic has no log-probabilities and a single choice.
            StreamEvent::Logprobs { .. }
            | StreamEvent::TextDelta { .. }
            | StreamEvent::RefusalDelta { .. }
            | StreamEvent::ReasoningDelta { .. }
            | StreamEvent::ReasoningSignature { .. }
            | StreamEvent::ReasoningRedacted { .. }
            | StreamEvent::RawItem { .. }
            | StreamEvent::ToolCallStart { .. }
            | StreamEvent::ToolCallDelta { .. }
            | StreamEvent::Finish { .. } => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.ensure_started(out);
        self.close(out);
        let (reason, stop_sequence) = match &self.finish {
            Some((reason, seq)) => (stop_reason_str(*reason, seq.as_deref()), seq.as_deref()),
            // The upstream ended without a reason (a compatible server that omits it).
            None if !self.tool_calls_seen.is_empty() => ("tool_use", None),
            None => ("end_turn", None),
        };
        let usage = self.usage.as_ref().map(|u| encode_usage(u, None)).unwrap_or_default();
        let delta = OutMessageDelta { stop_reason: reason, stop_sequence };
        Self::write(out, &OutEvent::MessageDelta { delta, usage });
        Self::write(out, &OutEvent::MessageStop);
        self.ended = true;
    }
}
