//! Claude's own limits and thinking conventions, which hold wherever the model family is served
//! (Anthropic's API, Vertex AI, Bedrock's `additionalModelRequestFields`): the output cap sent
//! when a client set none, the smallest thinking budget, and the budget each reasoning effort
//! asks for, and the tool `json_object` answers come through. Belongs to the models, not to any
//! vendor's wire; each dialect decides where these go in its body.

use crate::{ChatRequest, FinishReason, Part};

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
        // Anthropic's `max` asks for the most the model can think; 32768 is the most every Claude
        // model takes with room left for the answer.
        "xhigh" | "max" => EffortBudget::Budget(32768),
        _ => return None,
    })
}

/// The levels [`budget_for_effort`] knows, for error messages.
pub(crate) const EFFORT_LEVELS: &str = "none, minimal, low, medium, high, xhigh, max";

/// The budget for adaptive thinking (the client let the model decide) where only a fixed
/// budget can be sent: the effort's budget when one was given, else a middling one, below
/// `max_tokens`. None: no budget of [`MIN_THINKING_BUDGET`] fits, so the model does not think,
/// which adaptive thinking allows.
pub(crate) fn adaptive_budget(effort: Option<&str>, max_tokens: Option<u64>) -> Option<u64> {
    let wanted = match effort.and_then(budget_for_effort) {
        Some(EffortBudget::Off) => return None,
        Some(EffortBudget::Budget(b)) => b,
        None => 8192,
    };
    let budget = max_tokens.map_or(wanted, |max| wanted.min(max.saturating_sub(1)));
    (budget >= MIN_THINKING_BUDGET).then_some(budget)
}

/// Whether a Claude model takes Anthropic's native structured output (`output_config.format`,
/// Converse's `outputConfig.textFormat`): Claude Opus 4.1, and every 4.5 model and later.
/// Others answer a JSON schema through a forced tool. `model` may carry a Bedrock prefix
/// (`us.anthropic.claude-…`) or a Vertex version (`…@20250929`).
pub(crate) fn native_json_schema(model: &str) -> bool {
    let Some(at) = model.find("claude-") else { return false };
    let name = &model[at + "claude-".len()..];
    // `opus-4-5-…`, `sonnet-4-6`, `haiku-4-5@…`: the family, then the version.
    let mut parts = name.split(['-', '@', '.', ':']);
    let family = parts.next().unwrap_or_default();
    if !matches!(family, "opus" | "sonnet" | "haiku") {
        return false;
    }
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    // A date (`20250514`) where a minor version would be reads as minor 0.
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).filter(|m| *m < 100).unwrap_or(0);
    match major {
        0..4 => false,
        4 => minor >= 5 || (family == "opus" && minor >= 1),
        _ => true,
    }
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

/// Whether any part or tool of `req` carries an Anthropic-style `cache_control` marker: what an
/// egress without prompt-cache markers names when it leaves them out.
pub(crate) fn carries_cache_control(req: &ChatRequest) -> bool {
    fn marked(p: &Part) -> bool {
        match p {
            Part::Text { cache_control, .. } | Part::Image { cache_control, .. } => cache_control.is_some(),
            Part::ToolResult { cache_control, content, .. } => cache_control.is_some() || content.iter().any(marked),
            _ => false,
        }
    }
    req.system.iter().chain(req.messages.iter().flat_map(|m| &m.content)).any(marked)
        || req.tools.iter().any(|t| t.cache_control.is_some())
}
