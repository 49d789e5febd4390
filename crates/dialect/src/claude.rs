//! Claude's own limits and thinking conventions, which hold wherever the model family is served
//! (Anthropic's API, Vertex AI, Bedrock's `additionalModelRequestFields`): the output cap sent
//! when a client set none, the smallest thinking budget, and the budget each reasoning effort
//! asks for, and the tool `json_object` answers come through. Belongs to the models, not to any
//! vendor's wire; each dialect decides where these go in its body.

use crate::{FinishReason, Part};

/// `max_tokens` sent when the client set no cap. Anthropic requires one; 4096 fits every Claude
/// model's output limit. A thinking budget we derive is added on top.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The smallest thinking budget Claude models accept.
pub const MIN_THINKING_BUDGET: u64 = 1024;

/// What a reasoning effort level asks of Anthropic thinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EffortBudget {
    Off,
    Budget(u64),
}

/// The thinking budget for an OpenAI-style `reasoning_effort`. None: not a level we know.
pub(crate) fn budget_for_effort(effort: &str) -> Option<EffortBudget> {
    Some(match effort {
        "none" => EffortBudget::Off,
        "minimal" => EffortBudget::Budget(MIN_THINKING_BUDGET),
        "low" => EffortBudget::Budget(2048),
        "medium" => EffortBudget::Budget(8192),
        "high" => EffortBudget::Budget(16384),
        "xhigh" => EffortBudget::Budget(32768),
        _ => return None,
    })
}

/// The nearest effort level for a thinking budget. Only levels every OpenAI reasoning model
/// takes (`low`, `medium`, `high`) are produced.
pub(crate) fn effort_for_budget(budget: u64) -> &'static str {
    match budget {
        0..4096 => "low",
        4096..16384 => "medium",
        _ => "high",
    }
}

/// The tool a `json_object` request is answered through where Claude has no native JSON mode
/// for arbitrary objects: the model is made to call it, and its input comes back to the client
/// as the message's JSON text. Decoders turn this tool's calls back into text by name, so a
/// request may not define a tool of its own with this name.
pub const JSON_OUTPUT_TOOL: &str = "json_output";

/// Its description, as the model reads it.
pub const JSON_OUTPUT_DESCRIPTION: &str = "Give your whole answer as one JSON object.";

/// A call of [`JSON_OUTPUT_TOOL`] is the JSON answer a `json_object` request asked for: its
/// input becomes the message's text, and a turn that ended only to call it simply ended.
pub(crate) fn json_output_as_text(
    content: Vec<Part>,
    finish: Option<FinishReason>,
) -> (Vec<Part>, Option<FinishReason>) {
    let mut real_calls = false;
    let mut answered = false;
    let content = content
        .into_iter()
        .map(|part| match part {
            Part::ToolCall { name, arguments, .. } if name == JSON_OUTPUT_TOOL => {
                answered = true;
                Part::text(arguments)
            }
            other => {
                real_calls |= matches!(other, Part::ToolCall { .. });
                other
            }
        })
        .collect();
    let finish = match finish {
        Some(FinishReason::ToolCalls) if answered && !real_calls => Some(FinishReason::Stop),
        other => other,
    };
    (content, finish)
}
