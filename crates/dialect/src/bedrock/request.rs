//! Canonical `ChatRequest` → Converse request body (the same body for `converse` and
//! `converse-stream`).
//!
//! Encoding decisions:
//! - refused by name: `n` > 1, `seed`, `logprobs`, `top_logprobs`, non-zero penalties, image
//!   URLs (Converse takes bytes only; data URLs arrive here as bytes already), image types other than png/jpeg/gif/webp, tool arguments that are not a JSON
//!   object, any `extra` field and `Part::Raw` (no dialect's extras are Converse fields), and
//!   `tool_choice: none` while the conversation carries tool calls (see below);
//! - mapped: `max_tokens` → `inferenceConfig.maxTokens`; `stop` → `stopSequences`; `temperature`
//!   clamped to 0–1 (the range of every Converse model); `top_k` →
//!   `additionalModelRequestFields.top_k` and a reasoning budget (explicit or derived from
//!   `reasoning_effort` as for Anthropic) → `additionalModelRequestFields.thinking`, the
//!   Anthropic-on-Bedrock conventions (other model families reject them, upstream);
//!   `json_schema` → `outputConfig.textFormat` (schema as a string) on Claude models that take
//!   native structured output, else (and `json_object` always) a forced `json_output` tool whose
//!   input schema is the requested one, its call read back as the message's text; adaptive
//!   thinking → a budget that fits `maxTokens`; `cache_control` on a
//!   text, image or tool-result part or a tool → a `cachePoint` right after it (`ttl` kept when
//!   it is `5m` or `1h`); late system messages → the top-level `system`; tool messages → a user
//!   turn of `toolResult`s; same-role neighbours merged; allowed-tools choice → filtered tools +
//!   `auto`/`any`; a refusal in history → text;
//! - `tool_choice: none`: Converse has no "none", so the tools are left out, which is what
//!   "none" means. A conversation that already holds `toolUse`/`toolResult` blocks must carry a
//!   `toolConfig`, and sending one would let the model call tools, so that case is refused;
//! - tool calls in history with no tools declared: a stub `toolSpec` (empty object schema) is
//!   sent per called name, because Converse rejects tool blocks without a `toolConfig`;
//! - tool results: text parts go as `{text}` (never re-parsed into `{json}`, so the model sees
//!   exactly what the tool returned), images as `{image}`; `is_error` → `status: error`;
//! - left out, having no effect Converse could honour: `user` (Converse's `requestMetadata`
//!   only labels invocation logs and restricts its characters), `parallel_tool_calls`, message
//!   `name`, image `detail`, and reasoning without a signature (Bedrock accepts only reasoning
//!   it signed).

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use super::unsupported;
use super::wire::{
    OutBlock, OutCachePoint, OutImage, OutImageSource, OutInferenceConfig, OutInputSchema, OutMessage, OutReasoning,
    OutRequest, OutTool, OutToolConfig, OutToolResult, OutToolResultContent, OutToolSpec, OutToolUse,
};
use crate::canonical::tool_input;
use crate::claude::{
    adaptive_budget, budget_for_effort, native_json_schema, EffortBudget, DEFAULT_MAX_TOKENS, EFFORT_LEVELS,
    JSON_OUTPUT_DESCRIPTION, JSON_OUTPUT_TOOL, MIN_THINKING_BUDGET,
};
use crate::{ChatRequest, EncodeError, ImageSource, Message, Part, ResponseFormat, Role, ToolChoice};

pub fn encode(req: &ChatRequest, model: &str) -> Result<Vec<u8>, EncodeError> {
    refuse_inexpressible(req)?;
    if !req.extra.is_empty() {
        return Err(unsupported(req.first_extra_field(), &req.extra_reason("the Bedrock Converse API")));
    }

    let mut system = Vec::new();
    for (j, p) in req.system.iter().enumerate() {
        encode_system_part(p, &|| format!("system[{j}]"), &mut system)?;
    }
    let mut messages: Vec<OutMessage<'_>> = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        if m.role == Role::System {
            for (j, p) in m.content.iter().enumerate() {
                encode_system_part(p, &|| format!("messages[{i}].content[{j}]"), &mut system)?;
            }
            continue;
        }
        encode_message(m, i, &mut messages)?;
    }

    let mut additional = Map::new();
    if let Some(top_k) = req.top_k {
        additional.insert("top_k".into(), json!(top_k));
    }
    let (thinking, max_tokens) = encode_thinking(req)?;
    let thinks = thinking.is_some();
    if let Some(thinking) = thinking {
        additional.insert("thinking".into(), thinking);
    }
    let inference = OutInferenceConfig {
        max_tokens,
        temperature: req.temperature.map(|t| t.clamp(0.0, 1.0)),
        top_p: req.top_p,
        stop_sequences: &req.stop,
    };

    let mut tool_config = encode_tool_config(req, &messages)?;
    let native_schema = native_json_schema(model);
    if let Some(schema) = forced_json_schema(req, native_schema)? {
        tool_config = Some(with_json_output_tool(req, tool_config, schema, thinks, model)?);
    }
    let out = OutRequest {
        tool_config,
        messages,
        system,
        inference_config: Some(inference).filter(|c| !c.is_empty()),
        additional_model_request_fields: additional,
        output_config: if native_schema { encode_response_format(req)? } else { None },
    };
    crate::json::to_body(&out).map_err(|e| unsupported("request", &e.to_string()))
}

/// Options Converse has no equivalent for. Neutral values (`n: 1`, `logprobs: false`, zero
/// penalties) are accepted. `seed` is refused: no Converse model takes one.
fn refuse_inexpressible(req: &ChatRequest) -> Result<(), EncodeError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n", "Converse returns exactly one choice"));
    }
    if req.seed.is_some() {
        return Err(unsupported("seed", "Converse has no sampling seed"));
    }
    if req.logprobs == Some(true) {
        return Err(unsupported("logprobs", "Converse does not return log-probabilities"));
    }
    if req.top_logprobs.is_some_and(|n| n > 0) {
        return Err(unsupported("top_logprobs", "Converse does not return log-probabilities"));
    }
    if req.presence_penalty.is_some_and(|p| p != 0.0) {
        return Err(unsupported("presence_penalty", "Converse has no repetition penalties"));
    }
    if req.frequency_penalty.is_some_and(|p| p != 0.0) {
        return Err(unsupported("frequency_penalty", "Converse has no repetition penalties"));
    }
    Ok(())
}

/// `additionalModelRequestFields.thinking` and the `maxTokens` it needs. An explicit budget
/// wins over one derived from `reasoning_effort`. Anthropic models need the budget below
/// `maxTokens`, so an absent cap becomes the budget plus [`DEFAULT_MAX_TOKENS`].
/// Adaptive thinking gets the effort's budget, or a middling one, within `maxTokens` (see
/// [`adaptive_budget`]); none when no budget fits, which adaptive thinking allows.
fn encode_thinking(req: &ChatRequest) -> Result<(Option<Value>, Option<u64>), EncodeError> {
    let thinking = |budget: u64| Some(json!({"type": "enabled", "budget_tokens": budget}));
    if let Some(budget) = req.reasoning_budget_tokens {
        return Ok((thinking(budget), Some(req.max_tokens.unwrap_or(budget.saturating_add(DEFAULT_MAX_TOKENS)))));
    }
    if req.reasoning_adaptive {
        let Some(budget) = adaptive_budget(req.reasoning_effort.as_deref(), req.max_tokens) else {
            return Ok((None, req.max_tokens));
        };
        return Ok((thinking(budget), Some(req.max_tokens.unwrap_or(budget.saturating_add(DEFAULT_MAX_TOKENS)))));
    }
    let Some(effort) = req.reasoning_effort.as_deref() else {
        return Ok((None, req.max_tokens));
    };
    let budget = match budget_for_effort(effort) {
        Some(EffortBudget::Off) => return Ok((None, req.max_tokens)),
        Some(EffortBudget::Budget(budget)) => budget,
        None => {
            return Err(unsupported(
                "reasoning_effort",
                &format!("`{effort}` is not a reasoning effort ({EFFORT_LEVELS})"),
            ))
        }
    };
    let Some(max_tokens) = req.max_tokens else {
        return Ok((thinking(budget), Some(budget.saturating_add(DEFAULT_MAX_TOKENS))));
    };
    let budget = budget.min(max_tokens.saturating_sub(1));
    if budget < MIN_THINKING_BUDGET {
        return Err(unsupported(
            "reasoning_effort",
            &format!("thinking needs a budget of at least {MIN_THINKING_BUDGET} tokens below `max_tokens`"),
        ));
    }
    Ok((thinking(budget), Some(max_tokens)))
}

/// The input schema of the forced [`JSON_OUTPUT_TOOL`] when JSON output is answered through it:
/// `json_object` always, `json_schema` on models without native structured output. None: no
/// such tool.
fn forced_json_schema(req: &ChatRequest, native_schema: bool) -> Result<Option<Cow<'_, Value>>, EncodeError> {
    Ok(match &req.response_format {
        Some(ResponseFormat::JsonObject) => Some(Cow::Owned(json!({"type": "object"}))),
        Some(ResponseFormat::JsonSchema { schema: Some(schema), .. }) if !native_schema => Some(Cow::Borrowed(schema)),
        Some(ResponseFormat::JsonSchema { schema: None, .. }) => {
            return Err(unsupported("response_format.json_schema.schema", "Converse JSON output needs a schema"))
        }
        _ => None,
    })
}

/// `outputConfig.textFormat`, on models with native structured output.
fn encode_response_format(req: &ChatRequest) -> Result<Option<Value>, EncodeError> {
    match &req.response_format {
        None | Some(ResponseFormat::Text) => Ok(None),
        // Answered through a tool instead (see `with_json_output_tool`).
        Some(ResponseFormat::JsonObject) => Ok(None),
        Some(ResponseFormat::JsonSchema { name, description, schema: Some(schema), .. }) => {
            let mut json_schema = json!({"schema": schema.to_string(), "name": name});
            if let (Some(d), Some(obj)) = (description, json_schema.as_object_mut()) {
                obj.insert("description".into(), Value::String(d.clone()));
            }
            Ok(Some(json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": json_schema}}})))
        }
        Some(ResponseFormat::JsonSchema { schema: None, .. }) => {
            Err(unsupported("response_format.json_schema.schema", "Converse structured output needs a schema"))
        }
    }
}

/// A cache point for an Anthropic-style `cache_control` marker. The marker's `ttl` is kept when
/// Converse knows it.
fn cache_point(cache_control: Option<&Value>) -> Option<OutCachePoint> {
    let cc = cache_control.filter(|v| !v.is_null())?;
    let ttl = match cc.get("ttl").and_then(Value::as_str) {
        Some("5m") => Some("5m"),
        Some("1h") => Some("1h"),
        _ => None,
    };
    Some(OutCachePoint { kind: "default", ttl })
}

fn encode_system_part<'a>(
    p: &'a Part,
    param: &dyn Fn() -> String,
    out: &mut Vec<OutBlock<'a>>,
) -> Result<(), EncodeError> {
    let Part::Text { text, cache_control } = p else {
        return Err(unsupported(param(), "Converse system prompts take only text"));
    };
    out.push(OutBlock::Text(text));
    if let Some(cp) = cache_point(cache_control.as_ref()) {
        out.push(OutBlock::CachePoint(cp));
    }
    Ok(())
}

/// Appends one canonical message, merging it into the previous turn when the roles match.
fn encode_message<'a>(m: &'a Message, i: usize, out: &mut Vec<OutMessage<'a>>) -> Result<(), EncodeError> {
    let role = match m.role {
        Role::Assistant => "assistant",
        // Tool results travel in a user turn; system messages never get here.
        Role::User | Role::Tool | Role::System => "user",
    };
    let mut blocks = Vec::with_capacity(m.content.len());
    for (j, p) in m.content.iter().enumerate() {
        if m.role == Role::Tool && !matches!(p, Part::ToolResult { .. }) {
            return Err(unsupported(
                format!("messages[{i}].content[{j}]"),
                "a tool message may hold only tool results",
            ));
        }
        encode_part(p, &|| format!("messages[{i}].content[{j}]"), &mut blocks)?;
    }
    match out.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => out.push(OutMessage { role, content: blocks }),
    }
    Ok(())
}

fn encode_part<'a>(p: &'a Part, param: &dyn Fn() -> String, out: &mut Vec<OutBlock<'a>>) -> Result<(), EncodeError> {
    let (block, cache_control) = match p {
        Part::Text { text, cache_control } => (OutBlock::Text(text), cache_control.as_ref()),
        // Converse has no refusal block; in history a refusal is simply what the assistant said.
        Part::Refusal { text } => (OutBlock::Text(text), None),
        Part::Image { source, cache_control, .. } => {
            (OutBlock::Image(encode_image(source, param)?), cache_control.as_ref())
        }
        Part::ToolCall { id, name, arguments } => {
            // Converse takes tool input as a JSON object; canonical keeps OpenAI's text.
            let input = tool_input(arguments).ok_or_else(|| {
                unsupported(
                    format!("tool call `{id}` arguments"),
                    "Converse needs tool-call arguments to be a JSON object",
                )
            })?;
            (OutBlock::ToolUse(OutToolUse { tool_use_id: id, name, input }), None)
        }
        Part::ToolResult { tool_call_id, content, is_error, cache_control } => {
            let mut parts = Vec::with_capacity(content.len());
            for (k, c) in content.iter().enumerate() {
                let param = || format!("{}.content[{k}]", param());
                parts.push(match c {
                    Part::Text { text, .. } | Part::Refusal { text } => OutToolResultContent::Text(text),
                    Part::Image { source, .. } => OutToolResultContent::Image(encode_image(source, &param)?),
                    _ => return Err(unsupported(param(), "Converse tool results take only text and images")),
                });
            }
            let status = if *is_error { "error" } else { "success" };
            let result = OutToolResult { tool_use_id: tool_call_id, content: parts, status: Some(status) };
            (OutBlock::ToolResult(result), cache_control.as_ref())
        }
        Part::Reasoning { redacted: Some(data), .. } => {
            (OutBlock::ReasoningContent(OutReasoning::RedactedContent(data)), None)
        }
        Part::Reasoning { text, signature: Some(signature), .. } => {
            (OutBlock::ReasoningContent(OutReasoning::ReasoningText { text, signature }), None)
        }
        // Bedrock accepts only reasoning it signed; earlier turns' reasoning does not steer.
        Part::Reasoning { .. } => return Ok(()),
        Part::Raw { kind, value, .. } => {
            return Err(unsupported(kind.clone(), &crate::canonical::raw_reason(value, "Bedrock Converse")))
        }
    };
    out.push(block);
    if let Some(cp) = cache_point(cache_control) {
        out.push(OutBlock::CachePoint(cp));
    }
    Ok(())
}

fn encode_image<'a>(source: &'a ImageSource, param: &dyn Fn() -> String) -> Result<OutImage<'a>, EncodeError> {
    match source {
        ImageSource::Url { .. } => Err(unsupported(
            format!("{}.image_url", param()),
            "Converse takes image bytes only, not URLs; send the image as a base64 data URL",
        )),
        ImageSource::Base64 { media_type, data } => {
            let format = match media_type.to_ascii_lowercase().as_str() {
                "image/png" => "png",
                "image/jpeg" | "image/jpg" => "jpeg",
                "image/gif" => "gif",
                "image/webp" => "webp",
                other => {
                    return Err(unsupported(
                        format!("{}.image_url", param()),
                        &format!("Converse takes png, jpeg, gif and webp images, not `{other}`"),
                    ))
                }
            };
            Ok(OutImage { format, source: OutImageSource { bytes: data } })
        }
    }
}

/// JSON output through one tool the model must call, whose input schema is the requested one
/// and whose input comes back as the message's JSON text (see [`JSON_OUTPUT_TOOL`]). `any`
/// forces it when it is the only tool, on models whose Converse tool use takes a forced choice
/// (Claude, Nova, Mistral); elsewhere (Llama, ...) a forced choice is refused, so the model is
/// offered the tool alone. With a client's own tools, or with thinking (which refuses a forced
/// tool), the choice stays the client's.
fn with_json_output_tool<'a>(
    req: &ChatRequest,
    config: Option<OutToolConfig<'a>>,
    schema: Cow<'a, Value>,
    thinks: bool,
    model: &str,
) -> Result<OutToolConfig<'a>, EncodeError> {
    if req.tools.iter().any(|t| t.name == JSON_OUTPUT_TOOL) {
        return Err(unsupported("tools", "a tool named `json_output` cannot be combined with JSON output"));
    }
    let mut config = config.unwrap_or(OutToolConfig { tools: Vec::new(), tool_choice: None });
    let alone = config.tools.is_empty();
    config.tools.push(OutTool::ToolSpec(OutToolSpec {
        name: JSON_OUTPUT_TOOL,
        description: Some(JSON_OUTPUT_DESCRIPTION),
        input_schema: OutInputSchema { json: schema },
        strict: None,
    }));
    if alone && !thinks && takes_forced_tool(model) {
        config.tool_choice = Some(json!({"any": {}}));
    }
    Ok(config)
}

/// Model families whose Converse tool use takes `toolChoice` `any` or `tool`.
fn takes_forced_tool(model: &str) -> bool {
    ["anthropic.", "amazon.nova", "mistral."].iter().any(|family| model.contains(family))
}

/// `toolConfig`: the declared tools (filtered by an allowed-tools choice) and the choice; stub
/// specs for tools called in history when none are declared.
fn encode_tool_config<'a>(
    req: &'a ChatRequest,
    messages: &[OutMessage<'a>],
) -> Result<Option<OutToolConfig<'a>>, EncodeError> {
    let history_tool_names: Vec<&'a str> = {
        let mut names: Vec<&'a str> = Vec::new();
        for m in &req.messages {
            for p in &m.content {
                if let Part::ToolCall { name, .. } = p {
                    if !names.contains(&name.as_str()) {
                        names.push(name);
                    }
                }
            }
        }
        names
    };
    let history_has_tools = messages
        .iter()
        .flat_map(|m| m.content.iter())
        .any(|b| matches!(b, OutBlock::ToolUse(_) | OutBlock::ToolResult(_)));

    let tool_choice = match &req.tool_choice {
        Some(ToolChoice::None) if history_has_tools => {
            return Err(unsupported(
                "tool_choice",
                "Converse has no `none` choice, and a conversation holding tool calls must declare its tools",
            ))
        }
        Some(ToolChoice::None) => return Ok(None),
        Some(ToolChoice::Auto) => Some(json!({"auto": {}})),
        Some(ToolChoice::Required) => Some(json!({"any": {}})),
        Some(ToolChoice::Named(name)) => Some(json!({"tool": {"name": name}})),
        Some(ToolChoice::Allowed { required: true, .. }) => Some(json!({"any": {}})),
        Some(ToolChoice::Allowed { required: false, .. }) => Some(json!({"auto": {}})),
        None => None,
    };
    let allowed = match &req.tool_choice {
        Some(ToolChoice::Allowed { names, .. }) => Some(names),
        _ => None,
    };

    let mut tools = Vec::new();
    for t in &req.tools {
        if allowed.is_some_and(|names| !names.contains(&t.name)) {
            continue;
        }
        tools.push(OutTool::ToolSpec(OutToolSpec {
            name: &t.name,
            description: t.description.as_deref().filter(|d| !d.is_empty()),
            input_schema: OutInputSchema {
                json: match &t.parameters {
                    Some(p) => Cow::Borrowed(p),
                    None => Cow::Owned(json!({"type": "object", "properties": {}})),
                },
            },
            strict: t.strict,
        }));
        if let Some(cp) = cache_point(t.cache_control.as_ref()) {
            tools.push(OutTool::CachePoint(cp));
        }
    }
    if tools.is_empty() && history_has_tools {
        for name in history_tool_names {
            tools.push(OutTool::ToolSpec(OutToolSpec {
                name,
                description: None,
                input_schema: OutInputSchema { json: Cow::Owned(json!({"type": "object", "properties": {}})) },
                strict: None,
            }));
        }
    }
    if tools.is_empty() {
        return Ok(None);
    }
    Ok(Some(OutToolConfig { tools, tool_choice }))
}
