//! ConverseStream event-stream messages → canonical stream events.
//!
//! The wire order is `messageStart`, then per content block an optional `contentBlockStart`
//! (tool use only; text blocks start with their first delta), `contentBlockDelta`*,
//! `contentBlockStop`, then `messageStop` (stop reason) and `metadata` (usage). Each message's
//! `:event-type` names the event and its payload is that member's JSON. An `exception` message
//! (`:exception-type` = `throttlingException`, `modelStreamErrorException`, ...) or a protocol
//! `error` message ends the stream with a canonical error event.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use super::error::kind_for;
use super::response::{decode_stop_reason, decode_usage};
use super::wire::{InBlockDelta, InBlockStart, InBlockStop, InException, InMessageStop, InMetadata};
use crate::claude::JSON_OUTPUT_TOOL;
use crate::error::{json_error_message, truncate_for_echo, MAX_ERROR_FIELD_BYTES};
use crate::framing::EventStreamMessage;
use crate::{DecodeError, ErrorKind, FinishReason, Frame, StreamDecoder, StreamError, StreamEvent};

/// What an open Converse content block is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum BlockKind {
    /// A tool call; `call` is its ordinal among the message's tool calls.
    ToolUse { call: u32, has_input: bool },
    /// A call of [`JSON_OUTPUT_TOOL`]: its input streams as the message's text.
    JsonOutput { has_input: bool },
    /// Text, reasoning, or anything that started without a `toolUse` start.
    Other,
}

/// Decodes a ConverseStream. The stream is complete once both `messageStop` and `metadata` have
/// arrived (usage comes last, and a stream cut before it could not be billed), or after an
/// exception.
#[derive(Default)]
pub struct ConverseStreamDecoder {
    started: bool,
    stopped: bool,
    metadata_seen: bool,
    /// An exception or error message ended the stream.
    failed: bool,
    /// Blocks started and not yet stopped, by Converse block index.
    open_blocks: BTreeMap<u32, BlockKind>,
    /// How many tool calls have started.
    tool_calls: u32,
    /// A [`JSON_OUTPUT_TOOL`] block answered a `json_object` request.
    json_output: bool,
}

fn payload<T: DeserializeOwned + Default>(m: &EventStreamMessage) -> Result<T, DecodeError> {
    if m.payload.is_empty() {
        return Ok(T::default());
    }
    let event = truncate_for_echo(m.event_type.as_deref().unwrap_or_default(), MAX_ERROR_FIELD_BYTES);
    serde_json::from_slice(&m.payload)
        .map_err(|e| DecodeError::Framing(format!("bad `{event}` event: {}", json_error_message(&e))))
}

impl ConverseStreamDecoder {
    fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: String::new(),
                model: String::new(),
                created: 0,
                system_fingerprint: None,
            });
        }
    }

    fn block(&self, index: u32) -> Option<BlockKind> {
        self.open_blocks.get(&index).copied()
    }

    fn block_start(&mut self, start: InBlockStart, out: &mut Vec<StreamEvent>) {
        let kind = match start.start.and_then(|s| s.tool_use) {
            Some(tool) if tool.name == JSON_OUTPUT_TOOL => {
                self.json_output = true;
                BlockKind::JsonOutput { has_input: false }
            }
            Some(tool) => {
                let call = self.tool_calls;
                self.tool_calls += 1;
                let id = if tool.tool_use_id.is_empty() { format!("tooluse_{call}") } else { tool.tool_use_id };
                out.push(StreamEvent::ToolCallStart { choice: 0, index: call, id, name: tool.name });
                BlockKind::ToolUse { call, has_input: false }
            }
            None => BlockKind::Other,
        };
        self.open_blocks.insert(start.content_block_index, kind);
    }

    fn block_delta(&mut self, d: InBlockDelta, out: &mut Vec<StreamEvent>) {
        let index = d.content_block_index;
        if let Some(text) = d.delta.text.filter(|t| !t.is_empty()) {
            out.push(StreamEvent::TextDelta { choice: 0, text });
        }
        if let Some(r) = d.delta.reasoning_content {
            if let Some(text) = r.text.filter(|t| !t.is_empty()) {
                out.push(StreamEvent::ReasoningDelta { choice: 0, text });
            }
            if let Some(signature) = r.signature.filter(|s| !s.is_empty()) {
                out.push(StreamEvent::ReasoningSignature { choice: 0, signature });
            }
            // `redactedContent` has no canonical stream event.
        }
        if let Some(tool) = d.delta.tool_use.filter(|t| !t.input.is_empty()) {
            if let Some(BlockKind::JsonOutput { .. }) = self.block(index) {
                if let Some(k) = self.open_blocks.get_mut(&index) {
                    *k = BlockKind::JsonOutput { has_input: true };
                }
                out.push(StreamEvent::TextDelta { choice: 0, text: tool.input });
                return;
            }
            let Some(BlockKind::ToolUse { call, .. }) = self.block(index) else {
                return;
            };
            if let Some(k) = self.open_blocks.get_mut(&index) {
                *k = BlockKind::ToolUse { call, has_input: true };
            }
            out.push(StreamEvent::ToolCallDelta { choice: 0, index: call, arguments: tool.input });
        }
    }

    fn block_stop(&mut self, stop: InBlockStop, out: &mut Vec<StreamEvent>) {
        // A tool called without arguments streams no input; its input is `{}`.
        match self.block(stop.content_block_index) {
            Some(BlockKind::ToolUse { call, has_input: false }) => {
                out.push(StreamEvent::ToolCallDelta { choice: 0, index: call, arguments: "{}".into() });
            }
            Some(BlockKind::JsonOutput { has_input: false }) => {
                out.push(StreamEvent::TextDelta { choice: 0, text: "{}".into() });
            }
            _ => {}
        }
        self.open_blocks.remove(&stop.content_block_index);
    }

    fn event(&mut self, m: &EventStreamMessage, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        match m.event_type.as_deref().unwrap_or_default() {
            "messageStart" => self.start(out),
            "contentBlockStart" => {
                self.start(out);
                self.block_start(payload(m)?, out);
            }
            "contentBlockDelta" => {
                self.start(out);
                self.block_delta(payload(m)?, out);
            }
            "contentBlockStop" => self.block_stop(payload(m)?, out),
            "messageStop" => {
                self.start(out);
                let stop: InMessageStop = payload(m)?;
                self.stopped = true;
                let mut reason = decode_stop_reason(stop.stop_reason.as_deref().unwrap_or("end_turn"));
                // A turn that ended only to give the JSON answer simply ended.
                if reason == FinishReason::ToolCalls && self.json_output && self.tool_calls == 0 {
                    reason = FinishReason::Stop;
                }
                out.push(StreamEvent::Finish { choice: 0, reason, stop_sequence: None });
            }
            "metadata" => {
                let meta: InMetadata = payload(m)?;
                self.metadata_seen = true;
                if let Some(usage) = meta.usage {
                    out.push(StreamEvent::Usage { usage: decode_usage(&usage) });
                }
            }
            // Event types newer than this code.
            _ => {}
        }
        Ok(())
    }

    fn exception(&mut self, m: &EventStreamMessage, out: &mut Vec<StreamEvent>) {
        self.failed = true;
        let (kind, name, message) = match m.message_type.as_deref() {
            Some("exception") => {
                let name = m.exception_type.clone().unwrap_or_else(|| "exception".into());
                let body: InException = serde_json::from_slice(&m.payload).unwrap_or_default();
                (kind_for(&name), name, body.message.or(body.message_upper))
            }
            _ => {
                let name = m.error_code.clone().unwrap_or_else(|| "error".into());
                (ErrorKind::Upstream, name, m.error_message.clone())
            }
        };
        let message = match message.filter(|s| !s.is_empty()) {
            Some(message) => format!("{name}: {message}"),
            None => format!("upstream stream failed with {name}"),
        };
        out.push(StreamEvent::Error { error: StreamError { kind, message } });
    }

    fn done(&self) -> bool {
        self.failed || (self.stopped && self.metadata_seen)
    }
}

impl StreamDecoder for ConverseStreamDecoder {
    fn feed(&mut self, frame: &Frame) -> Result<Vec<StreamEvent>, DecodeError> {
        let Frame::EventStream(m) = frame else {
            return Err(DecodeError::Framing("Bedrock streams are AWS event-stream messages".into()));
        };
        let mut out = Vec::new();
        if self.done() {
            return Ok(out);
        }
        match m.message_type.as_deref() {
            Some("event") | None => self.event(m, &mut out)?,
            Some(_) => self.exception(m, &mut out),
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, DecodeError> {
        if self.done() {
            Ok(Vec::new())
        } else {
            Err(DecodeError::Truncated)
        }
    }
}
