//! `generateContent` reply → canonical.

use super::wire::{InCandidate, InPart, InResponse, InUsage};
use crate::{ChatResponse, Choice, DecodeError, FinishReason, Part, Usage};

/// A reply must carry a candidate with content or a finish reason (`SAFETY` and its kin say why
/// a candidate is empty). A blocked prompt has no candidates, only `promptFeedback.blockReason`,
/// and becomes one empty choice finished by the content filter. Anything else without a usable
/// candidate is a broken upstream.
pub fn decode(body: &[u8]) -> Result<ChatResponse, DecodeError> {
    let raw: InResponse = super::parse_json(body)?;
    let id = raw.response_id.clone().unwrap_or_default();
    let mut choices: Vec<Choice> = raw.candidates.into_iter().enumerate().map(|(i, c)| choice(i, c, &id)).collect();
    if !choices.iter().any(|c| !c.content.is_empty() || c.finish_reason.is_some()) {
        let blocked = raw.prompt_feedback.as_ref().is_some_and(|f| f.block_reason.is_some());
        if !blocked {
            return Err(DecodeError::invalid(
                "the upstream's reply has no candidate with content or a finish reason",
                None,
            ));
        }
        choices = vec![Choice { finish_reason: Some(FinishReason::ContentFilter), ..Default::default() }];
    }
    Ok(ChatResponse {
        id,
        model: raw.model_version.unwrap_or_default(),
        created: 0,
        choices,
        usage: raw.usage_metadata.map(usage),
        system_fingerprint: None,
        service_tier: None,
    })
}

fn choice(position: usize, c: InCandidate, response_id: &str) -> Choice {
    let index = c.index.unwrap_or(position as u32);
    let mut content = Vec::new();
    let mut calls = 0;
    for part in c.content.map(|c| c.parts).unwrap_or_default() {
        push_part(part, index, &mut calls, response_id, &mut content);
    }
    Choice {
        index,
        content,
        finish_reason: c.finish_reason.as_deref().map(|r| finish_reason(r, calls > 0)),
        stop_sequence: None,
        logprobs: c.logprobs_result,
    }
}

/// Appends the canonical form of one Gemini part; `calls` counts function calls so far.
pub fn push_part(part: InPart, choice: u32, calls: &mut u32, response_id: &str, out: &mut Vec<Part>) {
    let signature = part.thought_signature;
    if let Some(call) = part.function_call {
        if signature.is_some() {
            out.push(Part::Reasoning { text: String::new(), signature, redacted: None });
        }
        out.push(Part::ToolCall {
            id: call.id.unwrap_or_else(|| call_id(response_id, choice, *calls)),
            name: call.name,
            arguments: serde_json::Value::Object(call.args.unwrap_or_default()).to_string(),
        });
        *calls += 1;
    } else if part.thought == Some(true) {
        out.push(Part::Reasoning { text: part.text.unwrap_or_default(), signature, redacted: None });
    } else if let Some(text) = part.text {
        if signature.is_some() {
            out.push(Part::Reasoning { text: String::new(), signature, redacted: None });
        }
        out.push(Part::text(text));
    } else if signature.is_some() {
        out.push(Part::Reasoning { text: String::new(), signature, redacted: None });
    }
}

/// Gemini rarely names its calls; ids made here are unique within the conversation because
/// they carry the reply's id.
pub fn call_id(response_id: &str, choice: u32, n: u32) -> String {
    let tag: String = response_id.chars().filter(char::is_ascii_alphanumeric).take(12).collect();
    if choice == 0 {
        format!("call_{tag}_{n}")
    } else {
        format!("call_{tag}_{choice}_{n}")
    }
}

pub fn finish_reason(reason: &str, called_functions: bool) -> FinishReason {
    match reason {
        "STOP" if called_functions => FinishReason::ToolCalls,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "LANGUAGE" => FinishReason::ContentFilter,
        "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" | "TOO_MANY_TOOL_CALLS" => FinishReason::Error,
        _ if called_functions => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// Gemini's prompt count includes cached tokens; its candidates count excludes thoughts.
pub fn usage(u: InUsage) -> Usage {
    let thoughts = u.thoughts_token_count;
    Usage {
        input_tokens: u.prompt_token_count.unwrap_or(0).saturating_add(u.tool_use_prompt_token_count.unwrap_or(0)),
        output_tokens: u.candidates_token_count.unwrap_or(0).saturating_add(thoughts.unwrap_or(0)),
        cached_input_tokens: u.cached_content_token_count,
        cache_write_tokens: None,
        reasoning_tokens: thoughts,
    }
}
