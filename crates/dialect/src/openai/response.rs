//! OpenAI `chat.completion` objects ⇄ canonical `ChatResponse`.
//!
//! A reply must carry at least one choice with content or a finish reason: a 200 with `{}` or
//! `choices: []` is a broken upstream, not an empty answer. A choice filtered away
//! (`finish_reason: "content_filter"`, `content: null`) is a reply: it says why it is empty.

use super::wire::{
    InResponse, InUsage, OutChoice, OutCompletionDetails, OutFunctionCall, OutPromptDetails, OutResponse,
    OutResponseMessage, OutToolCall, OutUsage,
};
use crate::{ChatResponse, Choice, DecodeError, FinishReason, Part, Usage};

pub fn decode(body: &[u8]) -> Result<ChatResponse, DecodeError> {
    let raw: InResponse = super::parse_json(body)?;
    let choices = raw
        .choices
        .into_iter()
        .map(|c| {
            let mut content = Vec::new();
            let m = c.message;
            if let Some(text) = m.reasoning_content.or(m.reasoning).filter(|t| !t.is_empty()) {
                content.push(Part::Reasoning { text, signature: None, redacted: None });
            }
            if let Some(text) = m.content {
                content.push(Part::text(text));
            }
            if let Some(text) = m.refusal {
                content.push(Part::Refusal { text });
            }
            for call in m.tool_calls {
                content.push(Part::ToolCall {
                    id: call.id,
                    name: call.function.name,
                    arguments: call.function.arguments,
                });
            }
            Choice {
                index: c.index,
                content,
                finish_reason: c.finish_reason.as_deref().map(decode_finish_reason),
                stop_sequence: None,
                logprobs: c.logprobs.filter(|v| !v.is_null()),
            }
        })
        .collect::<Vec<_>>();
    if choices.is_empty() {
        return Err(DecodeError::invalid("the upstream's reply has no `choices`", None));
    }
    if !choices.iter().any(|c| !c.content.is_empty() || c.finish_reason.is_some()) {
        return Err(DecodeError::invalid("no choice in the upstream's reply has content or a finish reason", None));
    }
    Ok(ChatResponse {
        id: raw.id,
        model: raw.model,
        created: raw.created,
        choices,
        usage: raw.usage.map(decode_usage),
        system_fingerprint: raw.system_fingerprint,
        service_tier: raw.service_tier,
    })
}

pub fn decode_finish_reason(s: &str) -> FinishReason {
    match s {
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        // `stop`, and the odd values some compatible servers use (`eos`, `end_turn`).
        _ => FinishReason::Stop,
    }
}

pub fn finish_reason_str(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Stop | FinishReason::StopSequence | FinishReason::Error => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
    }
}

pub fn decode_usage(u: InUsage) -> Usage {
    Usage {
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
        cached_input_tokens: u.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens),
        cache_write_tokens: u.prompt_tokens_details.as_ref().and_then(|d| d.cache_write_tokens),
        reasoning_tokens: u.completion_tokens_details.and_then(|d| d.reasoning_tokens),
    }
}

pub fn encode_usage(u: &Usage) -> OutUsage {
    OutUsage {
        prompt_tokens: u.input_tokens,
        completion_tokens: u.output_tokens,
        total_tokens: u.total(),
        prompt_tokens_details: (u.cached_input_tokens.is_some() || u.cache_write_tokens.is_some()).then(|| {
            OutPromptDetails {
                cached_tokens: u.cached_input_tokens.unwrap_or(0),
                cache_write_tokens: u.cache_write_tokens,
            }
        }),
        completion_tokens_details: u.reasoning_tokens.map(|r| OutCompletionDetails { reasoning_tokens: r }),
    }
}

pub fn encode(resp: &ChatResponse) -> Vec<u8> {
    let choices = resp
        .choices
        .iter()
        .map(|c| {
            let mut message = OutResponseMessage {
                role: "assistant",
                content: None,
                refusal: None,
                tool_calls: Vec::new(),
                reasoning_content: None,
            };
            for p in &c.content {
                match p {
                    Part::Text { text, .. } => message.content.get_or_insert_with(String::new).push_str(text),
                    Part::Refusal { text } => message.refusal.get_or_insert_with(String::new).push_str(text),
                    Part::Reasoning { text, .. } => {
                        message.reasoning_content.get_or_insert_with(String::new).push_str(text)
                    }
                    Part::ToolCall { id, name, arguments } => message.tool_calls.push(OutToolCall {
                        id,
                        kind: "function",
                        function: OutFunctionCall { name, arguments },
                    }),
                    Part::Image { .. } | Part::ToolResult { .. } | Part::Raw { .. } => {}
                }
            }
            OutChoice {
                index: c.index,
                message,
                logprobs: c.logprobs.as_ref(),
                finish_reason: c.finish_reason.map(finish_reason_str),
            }
        })
        .collect();
    let out = OutResponse {
        id: &super::completion_id(&resp.id),
        object: "chat.completion",
        created: resp.created,
        model: &resp.model,
        choices,
        usage: resp.usage.as_ref().map(encode_usage),
        system_fingerprint: resp.system_fingerprint.as_deref(),
        service_tier: resp.service_tier.as_deref(),
    };
    crate::json::to_body(&out).unwrap_or_default()
}
