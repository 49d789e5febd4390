//! Converse response → canonical `ChatResponse`, plus the stop-reason and usage mappings the
//! stream module shares.
//!
//! Usage: Converse's `inputTokens` excludes cache reads and writes, canonical's includes them,
//! so `input = inputTokens + cacheReadInputTokens + cacheWriteInputTokens`. Converse names
//! neither the reply nor the model and reports no creation time: `id` and `model` are empty and
//! `created` is 0, for the gateway to fill in.

use serde_json::Value;

use super::wire::{InResponse, InUsage};
use crate::{ChatResponse, Choice, DecodeError, Dialect, FinishReason, Part, Usage};

/// `output.message.content: []` with a stop reason is an empty answer; a reply without
/// `output.message.content`, or with neither content nor a stop reason, is a broken upstream.
/// A guardrail or content filter may stop a reply without content: it says why it is empty.
pub fn decode(body: &[u8]) -> Result<ChatResponse, DecodeError> {
    let raw: InResponse = super::parse_json(body)?;
    let finish_reason = raw.stop_reason.as_deref().map(decode_stop_reason);
    let content = match raw.output.and_then(|o| o.message).and_then(|m| m.content) {
        Some(blocks) if !blocks.is_empty() || finish_reason.is_some() => {
            blocks.into_iter().filter_map(decode_block).collect()
        }
        _ if finish_reason == Some(FinishReason::ContentFilter) => Vec::new(),
        Some(_) => {
            return Err(DecodeError::invalid("the upstream's reply has neither content nor a `stopReason`", None))
        }
        None => return Err(DecodeError::invalid("the upstream's reply has no `output.message.content`", None)),
    };
    let (content, finish_reason) = crate::claude::json_output_as_text(content, finish_reason);
    Ok(ChatResponse {
        id: String::new(),
        model: String::new(),
        created: 0,
        choices: vec![Choice {
            index: 0,
            content,
            finish_reason,
            // Converse does not say which stop sequence matched.
            stop_sequence: None,
            logprobs: None,
        }],
        usage: raw.usage.as_ref().map(decode_usage),
        system_fingerprint: None,
        service_tier: raw.service_tier.and_then(|t| t.kind),
    })
}

/// A reply block as canonical. Blocks canonical cannot hold (citations, documents, ...) are kept
/// whole as `Part::Raw`; a `cachePoint` carries nothing and is dropped.
fn decode_block(block: Value) -> Option<Part> {
    let str_at = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    if let Some(text) = block.get("text").and_then(Value::as_str) {
        return Some(Part::text(text));
    }
    if let Some(tool) = block.get("toolUse") {
        return Some(Part::ToolCall {
            id: str_at(tool.get("toolUseId")).unwrap_or_default(),
            name: str_at(tool.get("name")).unwrap_or_default(),
            arguments: tool.get("input").map_or_else(|| "{}".to_owned(), Value::to_string),
        });
    }
    if let Some(reasoning) = block.get("reasoningContent") {
        if let Some(data) = str_at(reasoning.get("redactedContent")) {
            return Some(Part::Reasoning { text: String::new(), signature: None, redacted: Some(data) });
        }
        let text = reasoning.get("reasoningText");
        return Some(Part::Reasoning {
            text: str_at(text.and_then(|t| t.get("text"))).unwrap_or_default(),
            signature: str_at(text.and_then(|t| t.get("signature"))).filter(|s| !s.is_empty()),
            redacted: None,
        });
    }
    if block.get("cachePoint").is_some() {
        return None;
    }
    let kind = block.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default();
    Some(Part::Raw { dialect: Dialect::Bedrock, kind: format!("content block `{kind}`"), value: block })
}

pub fn decode_stop_reason(s: &str) -> FinishReason {
    match s {
        "stop_sequence" => FinishReason::StopSequence,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        "malformed_model_output" | "malformed_tool_use" => FinishReason::Error,
        // `end_turn` and values newer than this code.
        _ => FinishReason::Stop,
    }
}

pub fn decode_usage(u: &InUsage) -> Usage {
    let read = u.cache_read_input_tokens;
    let write = u.cache_write_input_tokens;
    Usage {
        input_tokens: u.input_tokens.unwrap_or(0).saturating_add(read.unwrap_or(0)).saturating_add(write.unwrap_or(0)),
        output_tokens: u.output_tokens.unwrap_or(0),
        cached_input_tokens: read,
        cache_write_tokens: write,
        // Converse does not break reasoning tokens out.
        reasoning_tokens: None,
    }
}
