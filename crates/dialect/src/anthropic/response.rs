//! Anthropic `message` objects ⇄ canonical `ChatResponse`, plus the stop-reason and usage
//! mappings the stream module shares.
//!
//! Usage: Anthropic's `input_tokens` excludes cache reads and writes, canonical's includes them,
//! so `input = input_tokens + cache_creation_input_tokens + cache_read_input_tokens` on the way
//! in and the reverse on the way out. Anthropic reports no creation time; `created` is 0.

use serde_json::{Map, Value};

use super::wire::{InResponse, InUsage, KnownBlock, OutBlock, OutResponse, OutUsage};
use crate::canonical::tool_input;
use crate::{ChatResponse, Choice, DecodeError, Dialect, FinishReason, Part, Usage};

/// `content: []` with a stop reason is an empty answer; a reply with no `content` at all, or
/// with neither content nor a stop reason, is a broken upstream. A refusal may come without
/// content: it says why it is empty.
pub fn decode(body: &[u8]) -> Result<ChatResponse, DecodeError> {
    let raw: InResponse = super::parse_json(body)?;
    let finish_reason = raw.stop_reason.as_deref().map(decode_stop_reason);
    let content = match raw.content {
        Some(blocks) if !blocks.is_empty() || finish_reason.is_some() => blocks.into_iter().map(decode_block).collect(),
        _ if finish_reason == Some(FinishReason::ContentFilter) => Vec::new(),
        Some(_) => {
            return Err(DecodeError::invalid("the upstream's reply has neither content nor a `stop_reason`", None))
        }
        None => return Err(DecodeError::invalid("the upstream's reply has no `content`", None)),
    };
    let (content, finish_reason) = crate::claude::json_output_as_text(content, finish_reason);
    Ok(ChatResponse {
        id: raw.id,
        model: raw.model,
        created: 0,
        choices: vec![Choice { index: 0, content, finish_reason, stop_sequence: raw.stop_sequence, logprobs: None }],
        usage: raw.usage.as_ref().map(decode_usage),
        system_fingerprint: None,
        service_tier: raw.usage.and_then(|u| u.service_tier),
    })
}

/// A reply block as canonical. Text keeps its text (citations have no canonical slot); blocks
/// canonical cannot hold (server-tool blocks) are kept whole for Anthropic clients.
fn decode_block(block: Value) -> Part {
    let text = |key: &str| block.get(key).and_then(Value::as_str).map(str::to_owned);
    match block.get("type").and_then(Value::as_str) {
        Some("text") => Part::text(text("text").unwrap_or_default()),
        Some("thinking") => Part::Reasoning {
            text: text("thinking").unwrap_or_default(),
            signature: text("signature").filter(|s| !s.is_empty()),
            redacted: None,
        },
        Some("redacted_thinking") => {
            Part::Reasoning { text: String::new(), signature: None, redacted: Some(text("data").unwrap_or_default()) }
        }
        Some("tool_use") => Part::ToolCall {
            id: text("id").unwrap_or_default(),
            name: text("name").unwrap_or_default(),
            arguments: block.get("input").map_or_else(|| "{}".to_owned(), Value::to_string),
        },
        kind => {
            let kind = format!("content block `{}`", kind.unwrap_or_default());
            Part::Raw { dialect: Dialect::Anthropic, kind, value: block }
        }
    }
}

pub fn decode_stop_reason(s: &str) -> FinishReason {
    match s {
        "stop_sequence" => FinishReason::StopSequence,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        // `end_turn`, `pause_turn` (a server-tool loop paused; resending continues it), and
        // values newer than this code.
        _ => FinishReason::Stop,
    }
}

/// `stop_sequence` says which stop string matched, when the provider said.
pub fn stop_reason_str(reason: FinishReason, stop_sequence: Option<&str>) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::StopSequence if stop_sequence.is_some() => "stop_sequence",
        FinishReason::StopSequence => "stop_sequence",
        FinishReason::Stop | FinishReason::Error => "end_turn",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
    }
}

pub fn decode_usage(u: &InUsage) -> Usage {
    let cache_write = u.cache_creation_input_tokens;
    let cache_read = u.cache_read_input_tokens;
    Usage {
        input_tokens: u
            .input_tokens
            .unwrap_or(0)
            .saturating_add(cache_write.unwrap_or(0))
            .saturating_add(cache_read.unwrap_or(0)),
        output_tokens: u.output_tokens.unwrap_or(0),
        cached_input_tokens: cache_read,
        cache_write_tokens: cache_write,
        reasoning_tokens: u.output_tokens_details.as_ref().and_then(|d| d.thinking_tokens),
    }
}

pub fn encode_usage<'a>(u: &Usage, service_tier: Option<&'a str>) -> OutUsage<'a> {
    let cached = u.cached_input_tokens.unwrap_or(0);
    let written = u.cache_write_tokens.unwrap_or(0);
    OutUsage {
        input_tokens: u.input_tokens.saturating_sub(cached).saturating_sub(written),
        cache_creation_input_tokens: u.cache_write_tokens,
        cache_read_input_tokens: u.cached_input_tokens,
        output_tokens: u.output_tokens,
        service_tier,
    }
}

/// Anthropic's own tiers; another provider's tier names (`default`, `flex`, ...) are not passed on.
fn anthropic_tier(tier: Option<&str>) -> Option<&str> {
    tier.filter(|t| matches!(*t, "standard" | "priority" | "batch"))
}

pub fn encode(resp: &ChatResponse) -> Vec<u8> {
    let service_tier = anthropic_tier(resp.service_tier.as_deref());
    let choice = resp.choices.iter().find(|c| c.index == 0).or(resp.choices.first());
    let mut content = Vec::new();
    for p in choice.map(|c| c.content.as_slice()).unwrap_or_default() {
        let block = match p {
            Part::Text { text, .. } | Part::Refusal { text } => KnownBlock::Text { text, cache_control: None },
            Part::Reasoning { redacted: Some(data), .. } => KnownBlock::RedactedThinking { data },
            // Reasoning from a provider that does not sign it gets an empty signature; the
            // Anthropic egress drops such blocks if a client sends them back.
            Part::Reasoning { text, signature, .. } => {
                KnownBlock::Thinking { thinking: text, signature: signature.as_deref().unwrap_or_default() }
            }
            // Anthropic's tool input is a JSON object, an OpenAI-style upstream's is text; text
            // that is not an object (a model can emit broken JSON) becomes `{}`.
            Part::ToolCall { id, name, arguments } => {
                let input = tool_input(arguments).unwrap_or_else(|| Value::Object(Map::new()));
                KnownBlock::ToolUse { id, name, input }
            }
            Part::Raw { dialect: Dialect::Anthropic, value, .. } => {
                content.push(OutBlock::Raw(value));
                continue;
            }
            Part::Raw { .. } | Part::Image { .. } | Part::ToolResult { .. } => continue,
        };
        content.push(OutBlock::Known(block));
    }
    let stop_sequence = choice.and_then(|c| c.stop_sequence.as_deref());
    let out = OutResponse {
        id: &super::message_id(&resp.id),
        kind: "message",
        role: "assistant",
        model: &resp.model,
        content,
        stop_reason: choice.and_then(|c| c.finish_reason).map(|r| stop_reason_str(r, stop_sequence)),
        stop_sequence,
        usage: resp
            .usage
            .as_ref()
            .map(|u| encode_usage(u, service_tier))
            .unwrap_or(OutUsage { service_tier, ..OutUsage::default() }),
    };
    crate::json::to_body(&out).unwrap_or_default()
}
