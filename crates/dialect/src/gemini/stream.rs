//! `streamGenerateContent?alt=sse` → canonical events. Each SSE event is a whole
//! `GenerateContentResponse` with new parts; usage repeats with running totals, so only the
//! last is reported, when the stream closes (there is no end marker).

use std::collections::BTreeMap;

use super::response::{call_id, finish_reason, push_part, usage};
use super::wire::{InResponse, InUsage};
use crate::{DecodeError, Frame, Part, StreamDecoder, StreamError, StreamEvent};

#[derive(Default)]
pub struct ChunkDecoder {
    started: bool,
    id: String,
    /// Per choice: tool calls opened so far. A map, not a vector indexed by choice: the index
    /// is the upstream's to choose, up to `u32::MAX`.
    calls: BTreeMap<u32, u32>,
    finished: bool,
    failed: bool,
    usage: Option<InUsage>,
}

impl StreamDecoder for ChunkDecoder {
    fn feed(&mut self, frame: &Frame) -> Result<Vec<StreamEvent>, DecodeError> {
        let Frame::Sse(ev) = frame else {
            return Err(DecodeError::Framing("Gemini streams are SSE".into()));
        };
        let data = ev.data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let chunk: InResponse = serde_json::from_str(data)
            .map_err(|e| DecodeError::Framing(format!("bad chunk: {}", crate::error::json_error_message(&e))))?;
        let mut out = Vec::new();
        if let Some(err) = chunk.error {
            self.failed = true;
            out.push(StreamEvent::Error {
                error: StreamError {
                    kind: err.kind(),
                    message: err.message.unwrap_or_else(|| "upstream stream error".into()),
                },
            });
            return Ok(out);
        }
        if !self.started {
            self.started = true;
            self.id = chunk.response_id.clone().unwrap_or_default();
            out.push(StreamEvent::Start {
                id: self.id.clone(),
                model: chunk.model_version.clone().unwrap_or_default(),
                created: 0,
                system_fingerprint: None,
            });
        }
        if let Some(u) = chunk.usage_metadata {
            self.usage = Some(u);
        }
        if chunk.candidates.is_empty() && chunk.prompt_feedback.is_some_and(|f| f.block_reason.is_some()) {
            self.finished = true;
            out.push(StreamEvent::Finish {
                choice: 0,
                reason: crate::FinishReason::ContentFilter,
                stop_sequence: None,
            });
        }
        for (position, candidate) in chunk.candidates.into_iter().enumerate() {
            let choice = candidate.index.unwrap_or(u32::try_from(position).unwrap_or(u32::MAX));
            let calls_so_far = self.calls.entry(choice).or_insert(0);
            let mut parts = Vec::new();
            let mut calls = *calls_so_far;
            for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
                push_part(part, choice, &mut calls, &self.id, &mut parts);
            }
            for part in parts {
                match part {
                    Part::Text { text, .. } if !text.is_empty() => out.push(StreamEvent::TextDelta { choice, text }),
                    Part::Reasoning { text, signature, .. } => {
                        if !text.is_empty() {
                            out.push(StreamEvent::ReasoningDelta { choice, text });
                        }
                        if let Some(signature) = signature {
                            out.push(StreamEvent::ReasoningSignature { choice, signature });
                        }
                    }
                    Part::ToolCall { id, name, arguments } => {
                        let index = *calls_so_far;
                        *calls_so_far = calls_so_far.saturating_add(1);
                        let id = if id.is_empty() { call_id(&self.id, choice, index) } else { id };
                        out.push(StreamEvent::ToolCallStart { choice, index, id, name });
                        out.push(StreamEvent::ToolCallDelta { choice, index, arguments });
                    }
                    _ => {}
                }
            }
            if let Some(logprobs) = candidate.logprobs_result {
                out.push(StreamEvent::Logprobs { choice, logprobs });
            }
            if let Some(reason) = candidate.finish_reason {
                self.finished = true;
                let reason = finish_reason(&reason, *calls_so_far > 0);
                out.push(StreamEvent::Finish { choice, reason, stop_sequence: None });
            }
        }
        Ok(out)
    }

    /// The connection closed: a whole stream has seen its finish reason.
    fn finish(&mut self) -> Result<Vec<StreamEvent>, DecodeError> {
        if self.failed {
            return Ok(Vec::new()); // the error event was the stream's last word
        }
        if !self.finished {
            return Err(DecodeError::Truncated);
        }
        Ok(self.usage.take().map(|u| StreamEvent::Usage { usage: usage(u) }).into_iter().collect())
    }
}
