//! Anthropic Messages request ⇄ canonical `ChatRequest`: decoding what Anthropic SDK clients send
//! to `POST /v1/messages`, and encoding what we send to api.anthropic.com.
//!
//! Decoding keeps what canonical cannot hold instead of dropping it: unmodelled top-level fields go
//! to `ChatRequest::extra`, a tool list holding server tools or custom tools with unmodelled
//! fields goes whole to `extra["tools"]`, and content blocks canonical has no shape for become
//! `Part::Raw`. All of these reach an Anthropic upstream unchanged and are refused by name by any
//! other egress. Fields that only tune Anthropic's own service (`context_management`,
//! `service_tier`, top-level `cache_control`, `metadata` other than `user_id`,
//! `thinking.display`, `tools[i].eager_input_streaming`) are hints: kept for an Anthropic
//! upstream, dropped and named by any other. `output_config.effort` is the reasoning effort and
//! `thinking: {"type": "adaptive"}` is `reasoning_adaptive`; both go back to an Anthropic
//! upstream as they came.
//!
//! Encoding decisions for requests from other dialects:
//! - refused by name: `n` > 1, `logprobs`, `top_logprobs`, non-zero penalties, another
//!   dialect's `extra` fields and `Part::Raw`, tool arguments that are
//!   not a JSON object, a `reasoning_effort` that leaves no room for a 1024-token budget;
//! - mapped: `max_tokens` defaults to [`DEFAULT_MAX_TOKENS`]; `stop` → `stop_sequences`;
//!   `temperature` clamped to 0–1; `user` → `metadata.user_id`; `parallel_tool_calls: false` →
//!   `disable_parallel_tool_use`; allowed-tools choice → filtered `tools` + `auto`/`any`;
//!   `json_schema` → `output_config.format` on models with native structured output, else (and
//!   on Vertex, and `json_object` always) a forced `json_output` tool with the requested schema,
//!   read back as the message's text; `reasoning_effort` → a thinking budget; adaptive thinking
//!   → a budget that fits `max_tokens`; late system messages → the top-level `system` (an
//!   Anthropic client's stay in place on Anthropic's own API, which its beta header enables);
//!   a refusal in history → text;
//! - left out, having no effect Anthropic could honour: `seed` (best effort even at OpenAI),
//!   message `name`, image `detail`, the schema's `name`/`description`/`strict`, and reasoning
//!   without an Anthropic signature (Anthropic rejects unsigned thinking).

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use super::wire::{
    InContent, InMessage, InRequest, KnownBlock, OutBlock, OutContent, OutCustomTool, OutImageSource, OutMessage,
    OutRequest, OutTool,
};
use crate::canonical::tool_input;
use crate::claude::{
    adaptive_budget, budget_for_effort, effort_for_budget, native_json_schema, EffortBudget, DEFAULT_MAX_TOKENS,
    EFFORT_LEVELS, JSON_OUTPUT_DESCRIPTION, JSON_OUTPUT_TOOL, MIN_THINKING_BUDGET,
};
use crate::{
    ChatRequest, DecodeError, Dialect, EncodeError, ImageSource, Message, Part, ResponseFormat, Role, Tool, ToolChoice,
};

const TARGET: &str = "Anthropic";

/// The `name` canonical needs for a JSON-schema response format; Anthropic's `output_config.format`
/// has none.
const SCHEMA_NAME: &str = "response";

/// Top-level fields that only tune Anthropic's own service (how it manages the context window,
/// its capacity tier, automatic prompt caching): kept for an Anthropic upstream, dropped and
/// named by any other. Fields that change the answer (`container`, `mcp_servers`,
/// `inference_geo`) stay in `extra` and are refused elsewhere.
const HINT_FIELDS: &[&str] = &["cache_control", "context_management", "service_tier"];

/// Tool fields of the same kind: `eager_input_streaming` only changes how Anthropic streams a
/// call's input.
const TOOL_HINT_FIELDS: &[&str] = &["eager_input_streaming"];

// ---------- decoding what Anthropic clients send ----------

pub fn decode(body: &[u8]) -> Result<ChatRequest, DecodeError> {
    let raw: InRequest = super::parse_json(body)?;
    if raw.model.is_empty() {
        return Err(DecodeError::invalid("model: String should have at least 1 character", Some("model".into())));
    }
    let Some(max_tokens) = raw.max_tokens else {
        return Err(DecodeError::invalid("max_tokens: Field required", Some("max_tokens".into())));
    };
    if raw.messages.is_empty() {
        return Err(DecodeError::invalid("messages: at least one message is required", Some("messages".into())));
    }
    let mut req = ChatRequest {
        model: raw.model,
        max_tokens: Some(max_tokens),
        temperature: raw.temperature,
        top_p: raw.top_p,
        top_k: raw.top_k,
        stop: raw.stop_sequences.unwrap_or_default(),
        stream: raw.stream.unwrap_or(false),
        // Anthropic streams always end with usage.
        stream_include_usage: true,
        extra: raw.extra,
        extra_dialect: Some(Dialect::Anthropic),
        ..ChatRequest::default()
    };
    req.system = match raw.system {
        None => Vec::new(),
        Some(InContent::Text(text)) => vec![Part::text(text)],
        Some(InContent::Blocks(blocks)) => blocks
            .into_iter()
            .enumerate()
            .map(|(j, b)| decode_block(b, &|| format!("system[{j}]")))
            .collect::<Result<_, _>>()?,
    };
    for (i, m) in raw.messages.into_iter().enumerate() {
        decode_message(m, i, &mut req.messages)?;
    }
    // With any tool canonical cannot hold, the whole list is kept as sent too: an Anthropic
    // upstream gets it in the client's order (which its prompt cache keys on), and a refusal
    // elsewhere can name the tool by its index.
    let tools = raw.tools.unwrap_or_default();
    let mut any_raw = false;
    for (j, tool) in tools.iter().enumerate() {
        match decode_tool(tool, j, &mut req.hint_paths)? {
            Some(tool) => req.tools.push(tool),
            None => any_raw = true,
        }
    }
    if any_raw {
        req.extra.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = raw.tool_choice {
        decode_tool_choice(choice, &mut req)?;
    }
    if let Some(thinking) = raw.thinking {
        decode_thinking(thinking, &mut req)?;
    }
    for field in HINT_FIELDS {
        if let Some(value) = req.extra.remove(*field) {
            req.hints.insert((*field).into(), value);
            req.hint_paths.push((*field).into());
        }
    }
    if let Some(mut metadata) = raw.metadata {
        match metadata.remove("user_id") {
            Some(Value::String(user)) => req.user = Some(user),
            Some(Value::Null) | None => {}
            Some(_) => {
                return Err(DecodeError::invalid(
                    "metadata.user_id: Input should be a valid string",
                    Some("metadata.user_id".into()),
                ))
            }
        }
        // Tags for Anthropic's own records; they change nothing in the answer.
        if !metadata.is_empty() {
            req.hint_paths.extend(metadata.keys().map(|k| format!("metadata.{k}")));
            req.hints.insert("metadata".into(), Value::Object(metadata));
        }
    }
    // Cache markers on blocks and tools: an egress without prompt-cache markers leaves them out.
    if crate::claude::carries_cache_control(&req) && !req.hint_paths.iter().any(|p| p == "cache_control") {
        req.hint_paths.push("cache_control".into());
    }
    if let Some(mut config) = raw.output_config {
        if let Some(format) = config.remove("format") {
            match decode_output_format(&format) {
                Some(rf) => req.response_format = Some(rf),
                None if format.is_null() => {}
                None => {
                    config.insert("format".into(), format);
                }
            }
        }
        match config.remove("effort") {
            None | Some(Value::Null) => {}
            Some(Value::String(effort)) => {
                // Honoured elsewhere as a reasoning effort, so not a dropped hint; the hint only
                // marks that an Anthropic upstream gets it back in `output_config`.
                req.hints.insert("output_config".into(), json!({"effort": effort}));
                req.reasoning_effort = Some(effort);
            }
            Some(_) => {
                return Err(DecodeError::invalid(
                    "output_config.effort: Input should be a string",
                    Some("output_config.effort".into()),
                ))
            }
        }
        if !config.is_empty() {
            req.extra.insert("output_config".into(), Value::Object(config));
        }
    }
    Ok(req)
}

/// One Anthropic message becomes one canonical message, except that a user turn's `tool_result`
/// blocks become a `Role::Tool` message of their own (runs are kept in order).
fn decode_message(m: InMessage, i: usize, out: &mut Vec<Message>) -> Result<(), DecodeError> {
    let role = match m.role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "system" => Role::System,
        other => {
            return Err(DecodeError::invalid(
                format!("messages.{i}.role: Input should be 'user', 'assistant' or 'system', not '{other}'"),
                Some(format!("messages[{i}].role")),
            ))
        }
    };
    let blocks = match m.content {
        InContent::Text(text) => {
            out.push(Message { role, content: vec![Part::text(text)], name: None, content_was_string: true });
            return Ok(());
        }
        InContent::Blocks(blocks) => blocks,
    };
    let mut parts = Vec::with_capacity(blocks.len());
    for (j, b) in blocks.into_iter().enumerate() {
        parts.push(decode_block(b, &|| format!("messages[{i}].content[{j}]"))?);
    }
    if role != Role::User || !parts.iter().any(|p| matches!(p, Part::ToolResult { .. })) {
        out.push(Message { role, content: parts, name: None, content_was_string: false });
        return Ok(());
    }
    // Only runs split from this message may be extended, never a message decoded before it.
    let first = out.len();
    for part in parts {
        let part_role = if matches!(part, Part::ToolResult { .. }) { Role::Tool } else { Role::User };
        let extend = out.len() > first && out.last().is_some_and(|last| last.role == part_role);
        match out.last_mut() {
            Some(last) if extend => last.content.push(part),
            _ => out.push(Message { role: part_role, content: vec![part], name: None, content_was_string: false }),
        }
    }
    Ok(())
}

/// Decodes one content block. A block whose every field canonical can hold becomes that part;
/// anything else is kept verbatim as `Part::Raw`, its `kind` the client's path of the block or
/// of its first unmodelled field, for a refusal elsewhere to name.
fn decode_block(value: Value, param: &dyn Fn() -> String) -> Result<Part, DecodeError> {
    let Some(obj) = value.as_object() else {
        return Err(DecodeError::invalid("a content block must be an object", Some(param())));
    };
    let Some(kind) = obj.get("type").and_then(Value::as_str) else {
        return Err(DecodeError::invalid("a content block needs a string `type`", Some(param())));
    };
    let only = |keys: &[&str]| obj.keys().all(|k| keys.contains(&k.as_str()));
    let cache_control = || obj.get("cache_control").filter(|v| !v.is_null()).cloned();
    let string = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_owned);
    let raw = |kind: String| Ok(Part::Raw { dialect: Dialect::Anthropic, kind, value: value.clone() });
    match kind {
        "text" => {
            let Some(text) = string("text") else {
                return Err(DecodeError::invalid("a `text` block needs a string `text`", Some(param())));
            };
            let no_citations = match obj.get("citations") {
                None | Some(Value::Null) => true,
                Some(Value::Array(a)) => a.is_empty(),
                Some(_) => false,
            };
            if !no_citations {
                return raw(format!("{}.citations", param()));
            }
            if !only(&["type", "text", "cache_control", "citations"]) {
                return raw(with_unknown_fields(&param(), "text", obj));
            }
            Ok(Part::Text { text, cache_control: cache_control() })
        }
        "image" => {
            let source = obj.get("source");
            let source = match source.and_then(|s| s.get("type")).and_then(Value::as_str) {
                Some("base64") => {
                    let field = |k: &str| source.and_then(|s| s.get(k)).and_then(Value::as_str).map(str::to_owned);
                    match (field("media_type"), field("data")) {
                        (Some(media_type), Some(data)) => Some(ImageSource::Base64 { media_type, data }),
                        _ => None,
                    }
                }
                Some("url") => source
                    .and_then(|s| s.get("url"))
                    .and_then(Value::as_str)
                    .map(|u| ImageSource::Url { url: u.into() }),
                _ => None,
            };
            let source_is_plain = obj
                .get("source")
                .and_then(Value::as_object)
                .is_some_and(|s| s.keys().all(|k| matches!(k.as_str(), "type" | "media_type" | "data" | "url")));
            match source {
                Some(source) if source_is_plain && only(&["type", "source", "cache_control"]) => {
                    Ok(Part::Image { source, detail: None, cache_control: cache_control() })
                }
                // `file` sources (Files API) and anything unusual stay Anthropic-only.
                _ => raw(format!("{}.source", param())),
            }
        }
        "tool_use" => {
            let (Some(id), Some(name), Some(input @ Value::Object(_))) =
                (string("id"), string("name"), obj.get("input"))
            else {
                return Err(DecodeError::invalid(
                    "a `tool_use` block needs string `id` and `name` and an object `input`",
                    Some(param()),
                ));
            };
            if obj.contains_key("cache_control") {
                // Canonical tool calls have no cache marker; keep the block whole.
                return raw(format!("{}.cache_control", param()));
            }
            if !only(&["type", "id", "name", "input"]) {
                return raw(with_unknown_fields(&param(), "tool_use", obj));
            }
            Ok(Part::ToolCall { id, name, arguments: input.to_string() })
        }
        "tool_result" => {
            let Some(tool_call_id) = string("tool_use_id") else {
                return Err(DecodeError::invalid("a `tool_result` block needs a string `tool_use_id`", Some(param())));
            };
            if !only(&["type", "tool_use_id", "content", "is_error", "cache_control"]) {
                return raw(with_unknown_fields(&param(), "tool_result", obj));
            }
            let content = match obj.get("content") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) => vec![Part::text(s.clone())],
                Some(Value::Array(blocks)) => blocks
                    .iter()
                    .enumerate()
                    .map(|(k, b)| decode_block(b.clone(), &|| format!("{}.content[{k}]", param())))
                    .collect::<Result<_, _>>()?,
                Some(_) => {
                    return Err(DecodeError::invalid(
                        "`tool_result.content` must be a string or an array of blocks",
                        Some(param()),
                    ))
                }
            };
            let is_error = match obj.get("is_error") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(DecodeError::invalid("`tool_result.is_error` must be a boolean", Some(param())));
                }
            };
            Ok(Part::ToolResult { tool_call_id, content, is_error, cache_control: cache_control() })
        }
        "thinking" => {
            let (Some(text), Some(signature)) = (string("thinking"), string("signature")) else {
                return Err(DecodeError::invalid(
                    "a `thinking` block needs string `thinking` and `signature`",
                    Some(param()),
                ));
            };
            if !only(&["type", "thinking", "signature"]) {
                return raw(with_unknown_fields(&param(), "thinking", obj));
            }
            let signature = Some(signature).filter(|s| !s.is_empty());
            Ok(Part::Reasoning { text, signature, redacted: None })
        }
        "redacted_thinking" => {
            let Some(data) = string("data") else {
                return Err(DecodeError::invalid("a `redacted_thinking` block needs a string `data`", Some(param())));
            };
            if !only(&["type", "data"]) {
                return raw(with_unknown_fields(&param(), "redacted_thinking", obj));
            }
            Ok(Part::Reasoning { text: String::new(), signature: None, redacted: Some(data) })
        }
        // document, search_result, server_tool_use, web_search_tool_result, container_upload, ...
        _ => raw(param()),
    }
}

/// The client's path of a block's first field canonical does not model (`messages[0].content[1].x`).
fn with_unknown_fields(path: &str, kind: &str, obj: &Map<String, Value>) -> String {
    let known: &[&str] = match kind {
        "text" => &["type", "text", "cache_control", "citations"],
        "tool_use" => &["type", "id", "name", "input"],
        "tool_result" => &["type", "tool_use_id", "content", "is_error", "cache_control"],
        "thinking" => &["type", "thinking", "signature"],
        _ => &["type", "data"],
    };
    let unknown = obj.keys().find(|k| !known.contains(&k.as_str())).map(String::as_str).unwrap_or_default();
    format!("{path}.{unknown}")
}

/// `Ok(Ok(tool))` for a plain custom tool, `Ok(Err(value))` for one canonical cannot hold.
/// `Some(tool)` for a plain custom tool, whose hints are named in `hint_paths`; None for one
/// canonical cannot hold.
fn decode_tool(value: &Value, j: usize, hint_paths: &mut Vec<String>) -> Result<Option<Tool>, DecodeError> {
    let Some(obj) = value.as_object() else {
        return Err(DecodeError::invalid("a tool must be an object", Some(format!("tools[{j}]"))));
    };
    let is_custom = matches!(obj.get("type"), None | Some(Value::Null)) || obj.get("type") == Some(&json!("custom"));
    let known = obj.keys().all(|k| {
        matches!(k.as_str(), "type" | "name" | "description" | "input_schema" | "cache_control" | "strict")
            || TOOL_HINT_FIELDS.contains(&k.as_str())
    });
    let name = obj.get("name").and_then(Value::as_str);
    let description = match obj.get("description") {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(d)) => Some(Some(d.clone())),
        Some(_) => None,
    };
    let schema = obj.get("input_schema").filter(|s| s.is_object());
    let strict = match obj.get("strict") {
        None | Some(Value::Null) => Some(None),
        Some(Value::Bool(b)) => Some(Some(*b)),
        Some(_) => None,
    };
    let (true, true, Some(name), Some(description), Some(schema), Some(strict)) =
        (is_custom, known, name, description, schema, strict)
    else {
        return Ok(None);
    };
    let hints: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| TOOL_HINT_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    hint_paths.extend(hints.keys().map(|k| format!("tools[{j}].{k}")));
    Ok(Some(Tool {
        name: name.to_owned(),
        description,
        parameters: Some(schema.clone()),
        strict,
        cache_control: obj.get("cache_control").filter(|v| !v.is_null()).cloned(),
        hints,
    }))
}

fn decode_tool_choice(value: Value, req: &mut ChatRequest) -> Result<(), DecodeError> {
    let bad = || DecodeError::invalid("`tool_choice` is not a valid tool choice", Some("tool_choice".into()));
    let Some(obj) = value.as_object() else {
        return Err(bad());
    };
    let choice = match obj.get("type").and_then(Value::as_str) {
        Some("auto") => ToolChoice::Auto,
        Some("any") => ToolChoice::Required,
        Some("none") => ToolChoice::None,
        Some("tool") => ToolChoice::Named(obj.get("name").and_then(Value::as_str).ok_or_else(bad)?.to_owned()),
        Some(_) => {
            req.extra.insert("tool_choice".into(), value);
            return Ok(());
        }
        None => return Err(bad()),
    };
    if !obj.keys().all(|k| matches!(k.as_str(), "type" | "name" | "disable_parallel_tool_use")) {
        req.extra.insert("tool_choice".into(), value);
        return Ok(());
    }
    match obj.get("disable_parallel_tool_use") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => req.parallel_tool_calls = Some(false),
        Some(_) => return Err(bad()),
    }
    req.tool_choice = Some(choice);
    Ok(())
}

/// `enabled` with a budget and `adaptive` are canonical; `disabled` is the API's default and is
/// left out (the API documents omitting `thinking` and `disabled` as the same). `display` (whether
/// the thinking text is returned or omitted) is a hint. Anything else is Anthropic-only and kept
/// verbatim.
fn decode_thinking(value: Value, req: &mut ChatRequest) -> Result<(), DecodeError> {
    let Some(obj) = value.as_object() else {
        return Err(DecodeError::invalid("`thinking` must be an object", Some("thinking".into())));
    };
    let plain = |keys: &[&str]| obj.keys().all(|k| keys.contains(&k.as_str()) || k == "display");
    if let (Some(display), true) = (obj.get("display"), plain(&["type", "budget_tokens"])) {
        req.hints.insert("thinking".into(), json!({"display": display}));
        req.hint_paths.push("thinking.display".into());
    }
    match obj.get("type").and_then(Value::as_str) {
        Some("adaptive") if plain(&["type"]) => req.reasoning_adaptive = true,
        Some("enabled") if plain(&["type", "budget_tokens"]) => {
            let Some(budget) = obj.get("budget_tokens").and_then(Value::as_u64) else {
                return Err(DecodeError::invalid(
                    "thinking.enabled.budget_tokens: Field required",
                    Some("thinking.budget_tokens".into()),
                ));
            };
            req.reasoning_budget_tokens = Some(budget);
            req.reasoning_effort = Some(effort_for_budget(budget).to_owned());
        }
        Some("disabled") if plain(&["type"]) => {}
        Some(_) => {
            req.extra.insert("thinking".into(), value);
        }
        None => return Err(DecodeError::invalid("`thinking.type` is required", Some("thinking.type".into()))),
    }
    Ok(())
}

fn decode_output_format(format: &Value) -> Option<ResponseFormat> {
    let obj = format.as_object()?;
    if obj.get("type").and_then(Value::as_str) != Some("json_schema")
        || !obj.keys().all(|k| k == "type" || k == "schema")
    {
        return None;
    }
    Some(ResponseFormat::JsonSchema {
        name: SCHEMA_NAME.into(),
        description: None,
        schema: Some(obj.get("schema")?.clone()),
        strict: None,
    })
}

// ---------- encoding for api.anthropic.com ----------

/// Where an Anthropic body goes: Anthropic's own API, or Vertex AI (no mid-conversation system
/// messages, no native structured output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Anthropic,
    Vertex,
}

pub fn encode(req: &ChatRequest, model: &str, stream: bool, target: Target) -> Result<Vec<u8>, EncodeError> {
    refuse_inexpressible(req)?;
    // The client spoke Anthropic: its extras and hints are Anthropic fields, sent back as they came.
    let same_family = req.extra_dialect.map(Dialect::wire_family) == Some(Dialect::Anthropic);
    let mut extra = Map::new();
    if !req.extra.is_empty() {
        if !same_family {
            return Err(unsupported(req.first_extra_field(), &req.extra_reason("the Anthropic Messages API")));
        }
        extra = req.extra.clone();
    }
    let no_hints = Map::new();
    let hints = if same_family { &req.hints } else { &no_hints };
    // The client's whole list, when it holds a tool canonical cannot (see `decode`).
    let raw_tools = match extra.remove("tools") {
        Some(Value::Array(tools)) => Some(tools),
        Some(other) => Some(vec![other]),
        None => None,
    };
    let extra_tool_choice = extra.remove("tool_choice");
    let extra_thinking = extra.remove("thinking");
    let mut metadata = match extra.remove("metadata") {
        Some(Value::Object(m)) => Some(m),
        Some(_) | None => None,
    };
    let mut output_config = match extra.remove("output_config") {
        Some(Value::Object(m)) => Some(m),
        Some(_) | None => None,
    };

    let mut tools: Vec<OutTool<'_>> = Vec::new();
    let allowed = match &req.tool_choice {
        Some(ToolChoice::Allowed { names, .. }) => Some(names),
        _ => None,
    };
    for t in req.tools.iter().filter(|_| raw_tools.is_none()) {
        if allowed.is_some_and(|names| !names.contains(&t.name)) {
            continue;
        }
        tools.push(OutTool::Custom(OutCustomTool {
            name: &t.name,
            description: t.description.as_deref(),
            input_schema: match &t.parameters {
                Some(p) => Cow::Borrowed(p),
                None => Cow::Owned(json!({"type": "object", "properties": {}})),
            },
            strict: t.strict,
            cache_control: t.cache_control.as_ref(),
            hints: Some(&t.hints).filter(|h| same_family && !h.is_empty()),
        }));
    }
    tools.extend(raw_tools.iter().flatten().map(OutTool::Raw));

    let mut tool_choice = match encode_tool_choice(req) {
        Some(choice) if !tools.is_empty() => Some(choice),
        Some(_) => None,
        None => extra_tool_choice,
    };

    let (mut thinking, max_tokens) = encode_thinking(req, extra_thinking, same_family)?;
    // An Anthropic client's own `output_config.format` goes back as it came; for another client's
    // schema, the model must take native structured output.
    let native_schema = target == Target::Anthropic && (same_family || native_json_schema(model));
    if let Some(schema) = forced_json_schema(req, native_schema)? {
        if req.tools.iter().any(|t| t.name == JSON_OUTPUT_TOOL) {
            return Err(unsupported("tools".into(), "a tool named `json_output` cannot be combined with JSON output"));
        }
        let alone = tools.is_empty();
        tools.push(OutTool::Custom(OutCustomTool {
            name: JSON_OUTPUT_TOOL,
            description: Some(JSON_OUTPUT_DESCRIPTION),
            input_schema: schema,
            strict: None,
            cache_control: None,
            hints: None,
        }));
        // Forced when it is the only tool and thinking allows it (Anthropic refuses a forced
        // tool with extended thinking); otherwise the model may still choose a client's tool.
        if alone && thinking.is_none() {
            tool_choice = Some(json!({"type": "tool", "name": JSON_OUTPUT_TOOL}));
        }
    }

    if let Some(user) = &req.user {
        metadata.get_or_insert_with(Map::new).insert("user_id".into(), Value::String(user.clone()));
    }
    if native_schema {
        if let Some(format) = encode_response_format(req)? {
            output_config.get_or_insert_with(Map::new).insert("format".into(), format);
        }
    }
    for (key, value) in hints {
        match (key.as_str(), value) {
            ("metadata", Value::Object(m)) => metadata.get_or_insert_with(Map::new).extend(m.clone()),
            // The effort itself is canonical (the gateway may have cleared it for a model that
            // does not reason); the hint says the client sent it here.
            ("output_config", _) => {
                if let Some(effort) = &req.reasoning_effort {
                    output_config.get_or_insert_with(Map::new).insert("effort".into(), json!(effort));
                }
            }
            ("thinking", Value::Object(t)) => {
                if let Some(Value::Object(thinking)) = &mut thinking {
                    thinking.extend(t.clone());
                }
            }
            _ => {
                extra.insert(key.clone(), value.clone());
            }
        }
    }

    // Only Anthropic's own API takes `system` turns, and only with the client's beta header.
    let system_in_place = req.extra_dialect == Some(Dialect::Anthropic) && target == Target::Anthropic;
    let (messages, later_system) = encode_messages(&req.messages, system_in_place)?;
    let out = OutRequest {
        model,
        max_tokens,
        messages,
        system: encode_system(&req.system, &later_system)?,
        stop_sequences: &req.stop,
        // OpenAI allows 0–2, Anthropic 0–1.
        temperature: req.temperature.map(|t| t.clamp(0.0, 1.0)),
        top_p: req.top_p,
        top_k: req.top_k,
        stream,
        tools,
        tool_choice,
        thinking,
        metadata,
        output_config,
        extra,
    };
    crate::json::to_body(&out).map_err(|e| unsupported("request".into(), &e.to_string()))
}

/// The input schema of the forced [`JSON_OUTPUT_TOOL`] when JSON output is answered through it:
/// `json_object` always (Claude has no JSON mode for arbitrary objects), `json_schema` where
/// native structured output is not available. None: no such tool.
fn forced_json_schema(req: &ChatRequest, native_schema: bool) -> Result<Option<Cow<'_, Value>>, EncodeError> {
    Ok(match &req.response_format {
        Some(ResponseFormat::JsonObject) => Some(Cow::Owned(json!({"type": "object"}))),
        Some(ResponseFormat::JsonSchema { schema: Some(schema), .. }) if !native_schema => Some(Cow::Borrowed(schema)),
        Some(ResponseFormat::JsonSchema { schema: None, .. }) if !native_schema => {
            return Err(unsupported("response_format.json_schema.schema".into(), "JSON output needs a schema"))
        }
        _ => None,
    })
}

fn unsupported(field: String, reason: &str) -> EncodeError {
    EncodeError::Unsupported { field, target: TARGET, reason: reason.to_owned() }
}

/// Sampling options Anthropic has no equivalent for. `seed` is dropped rather than refused: it
/// is a best-effort hint even at OpenAI, and refusing it would turn away clients that set it by
/// habit. Neutral values (`n: 1`, `logprobs: false`, zero penalties) are accepted.
fn refuse_inexpressible(req: &ChatRequest) -> Result<(), EncodeError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n".into(), "Anthropic returns exactly one choice"));
    }
    if req.logprobs == Some(true) {
        return Err(unsupported("logprobs".into(), "Anthropic does not return log-probabilities"));
    }
    if req.top_logprobs.is_some_and(|n| n > 0) {
        return Err(unsupported("top_logprobs".into(), "Anthropic does not return log-probabilities"));
    }
    if req.presence_penalty.is_some_and(|p| p != 0.0) {
        return Err(unsupported("presence_penalty".into(), "Anthropic has no repetition penalties"));
    }
    if req.frequency_penalty.is_some_and(|p| p != 0.0) {
        return Err(unsupported("frequency_penalty".into(), "Anthropic has no repetition penalties"));
    }
    Ok(())
}

/// `thinking` and the `max_tokens` it needs. A same-dialect `thinking` object wins; then an
/// explicit budget; then a budget derived from `reasoning_effort`. Anthropic requires
/// `max_tokens`, so an absent cap becomes [`DEFAULT_MAX_TOKENS`] (plus the thinking budget, which
/// counts towards it).
///
/// From an Anthropic client, adaptive thinking goes back as it came and its effort travels in
/// `output_config` (see `encode`), so no budget is derived; from any other, adaptive thinking
/// becomes a budget (see [`adaptive_budget`]).
fn encode_thinking(
    req: &ChatRequest,
    verbatim: Option<Value>,
    same_family: bool,
) -> Result<(Option<Value>, u64), EncodeError> {
    if let Some(thinking) = verbatim {
        return Ok((Some(thinking), req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)));
    }
    if same_family && req.reasoning_budget_tokens.is_none() {
        let thinking = req.reasoning_adaptive.then(|| json!({"type": "adaptive"}));
        return Ok((thinking, req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)));
    }
    if req.reasoning_adaptive && req.reasoning_budget_tokens.is_none() {
        let max_tokens = req.max_tokens;
        let Some(budget) = adaptive_budget(req.reasoning_effort.as_deref(), max_tokens) else {
            return Ok((None, max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)));
        };
        let max_tokens = max_tokens.unwrap_or(budget.saturating_add(DEFAULT_MAX_TOKENS));
        return Ok((Some(json!({"type": "enabled", "budget_tokens": budget})), max_tokens));
    }
    let budget = match (req.reasoning_budget_tokens, req.reasoning_effort.as_deref()) {
        (Some(budget), _) => {
            // An explicit budget is the client's own; Anthropic validates it.
            let max_tokens = req.max_tokens.unwrap_or(budget.saturating_add(DEFAULT_MAX_TOKENS));
            return Ok((Some(json!({"type": "enabled", "budget_tokens": budget})), max_tokens));
        }
        (None, None) => return Ok((None, req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS))),
        (None, Some(effort)) => match budget_for_effort(effort) {
            Some(EffortBudget::Off) => return Ok((None, req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS))),
            Some(EffortBudget::Budget(budget)) => budget,
            None => {
                return Err(unsupported(
                    "reasoning_effort".into(),
                    &format!("`{effort}` is not a reasoning effort ({EFFORT_LEVELS})"),
                ))
            }
        },
    };
    let Some(max_tokens) = req.max_tokens else {
        return Ok((
            Some(json!({"type": "enabled", "budget_tokens": budget})),
            budget.saturating_add(DEFAULT_MAX_TOKENS),
        ));
    };
    // OpenAI's cap covers reasoning and answer alike; Anthropic needs the budget below the cap.
    let budget = budget.min(max_tokens.saturating_sub(1));
    if budget < MIN_THINKING_BUDGET {
        return Err(unsupported(
            "reasoning_effort".into(),
            &format!("Anthropic thinking needs a budget of at least {MIN_THINKING_BUDGET} tokens below `max_tokens`"),
        ));
    }
    Ok((Some(json!({"type": "enabled", "budget_tokens": budget})), max_tokens))
}

fn encode_tool_choice(req: &ChatRequest) -> Option<Value> {
    let no_parallel = req.parallel_tool_calls == Some(false);
    let mut choice = match &req.tool_choice {
        Some(ToolChoice::None) => return Some(json!({"type": "none"})),
        Some(ToolChoice::Auto) => json!({"type": "auto"}),
        Some(ToolChoice::Required) => json!({"type": "any"}),
        Some(ToolChoice::Named(name)) => json!({"type": "tool", "name": name}),
        Some(ToolChoice::Allowed { required, .. }) => json!({"type": if *required { "any" } else { "auto" }}),
        None if no_parallel => json!({"type": "auto"}),
        None => return None,
    };
    if let (true, Some(obj)) = (no_parallel, choice.as_object_mut()) {
        obj.insert("disable_parallel_tool_use".into(), Value::Bool(true));
    }
    Some(choice)
}

fn encode_response_format(req: &ChatRequest) -> Result<Option<Value>, EncodeError> {
    match &req.response_format {
        None | Some(ResponseFormat::Text) => Ok(None),
        // Answered through a forced tool instead (see `JSON_OUTPUT_TOOL`).
        Some(ResponseFormat::JsonObject) => Ok(None),
        // `name` only labels the schema and Anthropic's structured output is always strict, so
        // both are left behind; so is `description`, a hint the schema itself replaces.
        Some(ResponseFormat::JsonSchema { schema: Some(schema), .. }) => {
            Ok(Some(json!({"type": "json_schema", "schema": schema})))
        }
        Some(ResponseFormat::JsonSchema { schema: None, .. }) => {
            Err(unsupported("response_format.json_schema.schema".into(), "Anthropic structured output needs a schema"))
        }
    }
}

/// The instructions: one string when they are a single plain text, else text blocks (keeping
/// `cache_control`). `later` are mid-conversation system messages folded in after the leading
/// ones (see [`encode_messages`]).
fn encode_system<'a>(system: &'a [Part], later: &[&'a Message]) -> Result<Option<OutContent<'a>>, EncodeError> {
    let parts: Vec<&'a Part> = system.iter().chain(later.iter().flat_map(|m| m.content.iter())).collect();
    match parts.as_slice() {
        [] => Ok(None),
        [Part::Text { text, cache_control: None }] => Ok(Some(OutContent::Text(text))),
        parts => {
            let mut blocks = Vec::with_capacity(parts.len());
            for p in parts {
                match p {
                    Part::Text { .. } | Part::Raw { .. } => encode_part(p, &mut blocks)?,
                    _ => return Err(unsupported("system".into(), "Anthropic system prompts take only text")),
                }
            }
            Ok(Some(OutContent::Blocks(blocks)))
        }
    }
}

/// Canonical messages to Anthropic turns, and the mid-conversation system messages that go into
/// the top-level `system` instead.
///
/// Tool results go into a user turn; consecutive tool messages share one, and a user message
/// right after them joins it (results first, as Anthropic requires). A system message from an
/// Anthropic client stays in place as a `system` turn (the client chose that form; newer Claude
/// models take it); from any other client it is appended to the top-level `system`, the one
/// place every Claude model takes instructions (protocols.md 7.3).
fn encode_messages(
    messages: &[Message],
    system_in_place: bool,
) -> Result<(Vec<OutMessage<'_>>, Vec<&Message>), EncodeError> {
    let mut out: Vec<OutMessage<'_>> = Vec::with_capacity(messages.len());
    let mut later_system = Vec::new();
    let mut in_tool_turn = false;
    for m in messages {
        if m.role == Role::System && !system_in_place {
            later_system.push(m);
            continue;
        }
        match m.role {
            Role::Tool => {
                let mut blocks = Vec::with_capacity(m.content.len());
                for p in &m.content {
                    if !matches!(p, Part::ToolResult { .. }) {
                        return Err(unsupported("messages".into(), "a tool message may hold only tool results"));
                    }
                    encode_part(p, &mut blocks)?;
                }
                match out.last_mut() {
                    Some(OutMessage { content: OutContent::Blocks(last), .. }) if in_tool_turn => last.extend(blocks),
                    _ => out.push(OutMessage { role: "user", content: OutContent::Blocks(blocks) }),
                }
                in_tool_turn = true;
            }
            Role::User if in_tool_turn => {
                let mut blocks = Vec::with_capacity(m.content.len());
                for p in &m.content {
                    encode_part(p, &mut blocks)?;
                }
                if let Some(OutMessage { content: OutContent::Blocks(last), .. }) = out.last_mut() {
                    last.extend(blocks);
                }
                in_tool_turn = false;
            }
            Role::User | Role::Assistant | Role::System => {
                let role = match m.role {
                    Role::Assistant => "assistant",
                    Role::System => "system",
                    _ => "user",
                };
                out.push(OutMessage { role, content: encode_content(m)? });
                in_tool_turn = false;
            }
        }
    }
    Ok((out, later_system))
}

fn encode_content(m: &Message) -> Result<OutContent<'_>, EncodeError> {
    if let (true, [Part::Text { text, cache_control: None }]) = (m.content_was_string, m.content.as_slice()) {
        return Ok(OutContent::Text(text));
    }
    let mut blocks = Vec::with_capacity(m.content.len());
    for p in &m.content {
        encode_part(p, &mut blocks)?;
    }
    Ok(OutContent::Blocks(blocks))
}

/// Appends the block for one part (none for reasoning Anthropic cannot verify).
fn encode_part<'a>(p: &'a Part, out: &mut Vec<OutBlock<'a>>) -> Result<(), EncodeError> {
    let block = match p {
        Part::Text { text, cache_control } => KnownBlock::Text { text, cache_control: cache_control.as_ref() },
        // Anthropic has no refusal block; in history a refusal is simply what the assistant said.
        Part::Refusal { text } => KnownBlock::Text { text, cache_control: None },
        // OpenAI's `detail` hint has no Anthropic counterpart; Anthropic sizes images itself.
        Part::Image { source, cache_control, .. } => KnownBlock::Image {
            source: match source {
                ImageSource::Base64 { media_type, data } => OutImageSource::Base64 { media_type, data },
                ImageSource::Url { url } => OutImageSource::Url { url },
            },
            cache_control: cache_control.as_ref(),
        },
        Part::ToolCall { id, name, arguments } => {
            // Anthropic takes tool input as a JSON object; canonical keeps OpenAI's text.
            let input = tool_input(arguments).ok_or_else(|| {
                unsupported(
                    format!("tool call `{id}` arguments"),
                    "Anthropic needs tool-call arguments to be a JSON object",
                )
            })?;
            KnownBlock::ToolUse { id, name, input }
        }
        Part::ToolResult { tool_call_id, content, is_error, cache_control } => {
            let content = match content.as_slice() {
                [] => None,
                [Part::Text { text, cache_control: None }] => Some(OutContent::Text(text)),
                parts => {
                    let mut blocks = Vec::with_capacity(parts.len());
                    for p in parts {
                        encode_part(p, &mut blocks)?;
                    }
                    Some(OutContent::Blocks(blocks))
                }
            };
            KnownBlock::ToolResult {
                tool_use_id: tool_call_id,
                content,
                is_error: *is_error,
                cache_control: cache_control.as_ref(),
            }
        }
        Part::Reasoning { redacted: Some(data), .. } => KnownBlock::RedactedThinking { data },
        Part::Reasoning { text, signature: Some(signature), .. } => KnownBlock::Thinking { thinking: text, signature },
        // Anthropic accepts only thinking it signed; reasoning from another provider cannot be
        // sent back, and earlier turns' reasoning does not steer the model anyway.
        Part::Reasoning { .. } => return Ok(()),
        Part::Raw { dialect, kind, value } => {
            if *dialect != Dialect::Anthropic {
                return Err(unsupported(kind.clone(), &crate::canonical::raw_reason(value, "Anthropic Messages")));
            }
            out.push(OutBlock::Raw(value));
            return Ok(());
        }
    };
    out.push(OutBlock::Known(block));
    Ok(())
}
