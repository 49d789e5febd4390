//! OpenAI chat request ⇄ canonical `ChatRequest`.

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use super::wire::{
    InContent, InMessage, InRequest, OutContent, OutFunction, OutFunctionCall, OutMessage, OutRequest, OutTool,
    OutToolCall, StopField,
};
use crate::{
    ChatRequest, DecodeError, Dialect, EncodeError, ImageSource, MaxTokensField, Message, Part, ResponseFormat, Role,
    Tool, ToolChoice,
};

const TARGET: &str = "OpenAI-compatible upstreams";

pub fn decode(body: &[u8]) -> Result<ChatRequest, DecodeError> {
    let raw: InRequest = super::parse_json(body)?;
    if raw.messages.is_empty() {
        return Err(DecodeError::invalid("`messages` must contain at least one message", Some("messages".into())));
    }
    let mut req = ChatRequest {
        model: raw.model,
        temperature: raw.temperature,
        top_p: raw.top_p,
        seed: raw.seed,
        n: raw.n,
        presence_penalty: raw.presence_penalty,
        frequency_penalty: raw.frequency_penalty,
        logprobs: raw.logprobs,
        top_logprobs: raw.top_logprobs,
        parallel_tool_calls: raw.parallel_tool_calls,
        reasoning_effort: raw.reasoning_effort,
        user: raw.user,
        stream: raw.stream.unwrap_or(false),
        extra: raw.extra,
        extra_dialect: Some(Dialect::OpenaiChat),
        ..ChatRequest::default()
    };
    if req.model.is_empty() {
        return Err(DecodeError::invalid("`model` must not be empty", Some("model".into())));
    }
    (req.max_tokens, req.max_tokens_field) = match (raw.max_completion_tokens, raw.max_tokens) {
        (Some(n), _) => (Some(n), MaxTokensField::MaxCompletionTokens),
        (None, Some(n)) => (Some(n), MaxTokensField::MaxTokens),
        (None, None) => (None, MaxTokensField::MaxCompletionTokens),
    };
    req.stop = match raw.stop {
        Some(StopField::One(s)) => vec![s],
        Some(StopField::Many(v)) => v,
        None => Vec::new(),
    };
    if let Some(mut opts) = raw.stream_options {
        req.stream_include_usage = opts.remove("include_usage").and_then(|v| v.as_bool()).unwrap_or(false);
        if !opts.is_empty() {
            req.extra.insert("stream_options".into(), Value::Object(opts));
        }
    }
    for tool in raw.tools.unwrap_or_default() {
        let Some(f) = tool.function.filter(|_| tool.kind == "function") else {
            // Custom (free-form) tools have no canonical form; keep them for OpenAI upstreams.
            return Err(DecodeError::invalid(
                format!("tool type `{}` is not supported; use `function` tools", tool.kind),
                Some("tools".into()),
            ));
        };
        req.tools.push(Tool {
            name: f.name,
            description: f.description,
            parameters: f.parameters,
            strict: f.strict,
            cache_control: None,
            hints: Map::new(),
        });
    }
    req.tool_choice = raw.tool_choice.map(decode_tool_choice).transpose()?;
    req.response_format = raw.response_format.map(decode_response_format).transpose()?;

    let mut leading = true;
    for (i, m) in raw.messages.into_iter().enumerate() {
        let is_system = matches!(m, InMessage::System { .. } | InMessage::Developer { .. });
        if leading && is_system {
            let is_dev = matches!(m, InMessage::Developer { .. });
            let (InMessage::System { content, .. } | InMessage::Developer { content, .. }) = m else {
                continue;
            };
            req.system_is_developer |= is_dev;
            req.system.extend(decode_content(content, i)?.0);
            continue;
        }
        leading = false;
        req.messages.push(decode_message(m, i)?);
    }
    Ok(req)
}

fn decode_message(m: InMessage, i: usize) -> Result<Message, DecodeError> {
    let msg = |role, (content, was_string), name| Message { role, content, name, content_was_string: was_string };
    Ok(match m {
        InMessage::System { content, name } | InMessage::Developer { content, name } => {
            msg(Role::System, decode_content(content, i)?, name)
        }
        InMessage::User { content, name } => msg(Role::User, decode_content(content, i)?, name),
        InMessage::Assistant { content, refusal, tool_calls, name, reasoning_content } => {
            let mut parts = Vec::new();
            if let Some(text) = reasoning_content.filter(|t| !t.is_empty()) {
                parts.push(Part::Reasoning { text, signature: None, redacted: None });
            }
            let mut was_string = false;
            if let Some(content) = content {
                let (decoded, s) = decode_content(content, i)?;
                was_string = s;
                parts.extend(decoded);
            }
            if let Some(text) = refusal {
                parts.push(Part::Refusal { text });
            }
            for call in tool_calls.unwrap_or_default() {
                if call.kind.as_deref().is_some_and(|k| k != "function") {
                    return Err(DecodeError::invalid(
                        "only `function` tool calls are supported",
                        Some(format!("messages[{i}].tool_calls")),
                    ));
                }
                parts.push(Part::ToolCall {
                    id: call.id,
                    name: call.function.name,
                    arguments: call.function.arguments,
                });
            }
            msg(Role::Assistant, (parts, was_string), name)
        }
        InMessage::Tool { tool_call_id, content } => {
            let (content, _) = decode_content(content, i)?;
            let part = Part::ToolResult { tool_call_id, content, is_error: false, cache_control: None };
            msg(Role::Tool, (vec![part], false), None)
        }
    })
}

/// Returns the parts and whether the content was a plain string.
fn decode_content(content: InContent, i: usize) -> Result<(Vec<Part>, bool), DecodeError> {
    match content {
        InContent::Text(text) => Ok((vec![Part::text(text)], true)),
        InContent::Parts(parts) => {
            let parts = parts.into_iter().enumerate().map(|(j, p)| decode_part(p, i, j)).collect::<Result<_, _>>()?;
            Ok((parts, false))
        }
    }
}

fn decode_part(mut part: Value, i: usize, j: usize) -> Result<Part, DecodeError> {
    let param = || Some(format!("messages[{i}].content[{j}]"));
    let Some(obj) = part.as_object_mut() else {
        return Err(DecodeError::invalid("a content part must be an object", param()));
    };
    let cache_control = obj.remove("cache_control");
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
    match kind.as_str() {
        "text" => {
            let Some(Value::String(text)) = obj.remove("text") else {
                return Err(DecodeError::invalid("a `text` part needs a string `text`", param()));
            };
            Ok(Part::Text { text, cache_control })
        }
        "image_url" => {
            let image = obj.get("image_url");
            let url = image.and_then(|v| v.get("url").or(Some(v))).and_then(Value::as_str);
            let Some(url) = url else {
                return Err(DecodeError::invalid("an `image_url` part needs `image_url.url`", param()));
            };
            let detail = image.and_then(|v| v.get("detail")).and_then(Value::as_str).map(str::to_owned);
            Ok(Part::Image { source: parse_image_url(url), detail, cache_control })
        }
        "refusal" => {
            let text = obj.get("refusal").and_then(Value::as_str).unwrap_or_default().to_owned();
            Ok(Part::Refusal { text })
        }
        "" => Err(DecodeError::invalid("a content part needs a `type`", param())),
        _ => {
            if let Some(cc) = cache_control {
                obj.insert("cache_control".into(), cc);
            }
            Ok(Part::Raw { dialect: Dialect::OpenaiChat, kind: format!("content part `{kind}`"), value: part })
        }
    }
}

/// `data:<mime>;base64,<payload>` becomes inline bytes; anything else stays a URL.
pub fn parse_image_url(url: &str) -> ImageSource {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((meta, data)) = rest.split_once(',') {
            if let Some(media_type) = meta.strip_suffix(";base64") {
                return ImageSource::Base64 { media_type: media_type.to_owned(), data: data.to_owned() };
            }
        }
    }
    ImageSource::Url { url: url.to_owned() }
}

fn decode_tool_choice(v: Value) -> Result<ToolChoice, DecodeError> {
    let bad = || DecodeError::invalid("`tool_choice` is not a valid tool choice", Some("tool_choice".into()));
    let name_of = |v: &Value| v.pointer("/function/name").and_then(Value::as_str).map(str::to_owned);
    match &v {
        Value::String(s) => match s.as_str() {
            "none" => Ok(ToolChoice::None),
            "auto" => Ok(ToolChoice::Auto),
            "required" => Ok(ToolChoice::Required),
            _ => Err(bad()),
        },
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => name_of(&v).map(ToolChoice::Named).ok_or_else(bad),
            Some("allowed_tools") => {
                let allowed = o.get("allowed_tools").ok_or_else(bad)?;
                let required = allowed.get("mode").and_then(Value::as_str) == Some("required");
                let names = allowed.get("tools").and_then(Value::as_array).ok_or_else(bad)?;
                let names = names.iter().map(|t| name_of(t).ok_or_else(bad)).collect::<Result<_, _>>()?;
                Ok(ToolChoice::Allowed { names, required })
            }
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

fn decode_response_format(v: Value) -> Result<ResponseFormat, DecodeError> {
    let bad = |m: &str| DecodeError::invalid(m.to_owned(), Some("response_format".into()));
    match v.get("type").and_then(Value::as_str) {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let Some(js) = v.get("json_schema") else {
                return Err(bad("`response_format.json_schema` is required for type `json_schema`"));
            };
            let Some(name) = js.get("name").and_then(Value::as_str) else {
                return Err(bad("`response_format.json_schema.name` is required"));
            };
            Ok(ResponseFormat::JsonSchema {
                name: name.to_owned(),
                description: js.get("description").and_then(Value::as_str).map(str::to_owned),
                schema: js.get("schema").cloned(),
                strict: js.get("strict").and_then(Value::as_bool),
            })
        }
        _ => Err(bad("`response_format.type` must be `text`, `json_object` or `json_schema`")),
    }
}

// ---------- encoding for OpenAI-compatible upstreams ----------

pub fn encode(req: &ChatRequest, model: &str, stream: bool) -> Result<Vec<u8>, EncodeError> {
    let mut extra = Map::new();
    if !req.extra.is_empty() {
        if req.extra_dialect != Some(Dialect::OpenaiChat) {
            return Err(unsupported(req.first_extra_field(), &req.extra_reason("the OpenAI Chat Completions API")));
        }
        extra = req.extra.clone();
    }
    // `cache_control` markers reach OpenAI-compatible servers that take them (OpenRouter, LiteLLM)
    // only from clients of this dialect, which chose them; OpenAI itself rejects them, and
    // caches prompts without markers.
    let keep_cache_control = req.extra_dialect == Some(Dialect::OpenaiChat);
    let mut stream_options = None;
    if let Some(Value::Object(opts)) = extra.remove("stream_options") {
        stream_options = Some(opts);
    }
    if stream {
        // Always ask for usage so every stream can be billed; the ingress strips it again
        // when the client did not ask.
        stream_options.get_or_insert_with(Map::new).insert("include_usage".into(), Value::Bool(true));
    } else {
        stream_options = None;
    }
    let (max_tokens, max_completion_tokens) = match req.max_tokens_field {
        MaxTokensField::MaxTokens => (req.max_tokens, None),
        MaxTokensField::MaxCompletionTokens => (None, req.max_tokens),
    };

    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    let enc = Encoder { keep_cache_control, system_role: if req.system_is_developer { "developer" } else { "system" } };
    if !req.system.is_empty() {
        let system: Vec<&Part> = req.system.iter().collect();
        messages.push(message(enc.system_role, enc.content(&system, true)?));
    }
    for m in &req.messages {
        enc.message(m, &mut messages)?;
    }
    let out = OutRequest {
        model,
        messages,
        max_tokens,
        max_completion_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: &req.stop,
        seed: req.seed,
        n: req.n,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        logprobs: req.logprobs,
        top_logprobs: req.top_logprobs,
        stream,
        stream_options,
        tools: req
            .tools
            .iter()
            .map(|t| OutTool {
                kind: "function",
                function: OutFunction {
                    name: &t.name,
                    description: t.description.as_deref(),
                    parameters: t.parameters.as_ref(),
                    strict: t.strict,
                },
            })
            .collect(),
        tool_choice: req.tool_choice.as_ref().map(encode_tool_choice),
        parallel_tool_calls: req.parallel_tool_calls,
        response_format: req.response_format.as_ref().map(encode_response_format),
        reasoning_effort: reasoning_effort(req),
        user: req.user.as_deref(),
        extra,
    };
    crate::json::to_body(&out).map_err(|e| unsupported("request".into(), &e.to_string()))
}

fn unsupported(field: String, reason: &str) -> EncodeError {
    EncodeError::Unsupported { field, target: TARGET, reason: reason.to_owned() }
}

fn message<'a>(role: &'static str, content: OutContent<'a>) -> OutMessage<'a> {
    OutMessage { role, content, name: None, refusal: None, tool_calls: Vec::new(), tool_call_id: None }
}

/// The effort as OpenAI takes it. Another dialect's levels above `high` (Anthropic's `xhigh`
/// and `max`) become `high`, the highest every OpenAI reasoning model takes; adaptive thinking
/// with no effort is the model's default, so none is sent.
fn reasoning_effort(req: &ChatRequest) -> Option<&str> {
    let effort = req.reasoning_effort.as_deref()?;
    match (req.extra_dialect.map(Dialect::wire_family), effort) {
        (Some(Dialect::Anthropic), "xhigh" | "max") => Some("high"),
        _ => Some(effort),
    }
}

/// How one request's messages are written.
struct Encoder {
    keep_cache_control: bool,
    /// The role of instructions: `developer` when the client used it.
    system_role: &'static str,
}

impl Encoder {
    fn message<'a>(&self, m: &'a Message, out: &mut Vec<OutMessage<'a>>) -> Result<(), EncodeError> {
        match m.role {
            Role::System | Role::User => {
                // A system message stays where it is: Chat Completions takes instructions anywhere.
                let role = if m.role == Role::System { self.system_role } else { "user" };
                let parts: Vec<&Part> = m.content.iter().collect();
                let mut msg = message(role, self.content(&parts, m.content_was_string)?);
                msg.name = m.name.as_deref();
                out.push(msg);
            }
            Role::Assistant => {
                let mut msg = message("assistant", OutContent::Null);
                msg.name = m.name.as_deref();
                let mut content: Vec<&Part> = Vec::new();
                for p in &m.content {
                    match p {
                        Part::ToolCall { id, name, arguments } => msg.tool_calls.push(OutToolCall {
                            id,
                            kind: "function",
                            function: OutFunctionCall { name, arguments },
                        }),
                        Part::Refusal { text } => msg.refusal = Some(text),
                        // Chat Completions takes no reasoning back in history; providers ignore it.
                        Part::Reasoning { .. } => {}
                        other => content.push(other),
                    }
                }
                if !content.is_empty() {
                    msg.content = self.content(&content, m.content_was_string)?;
                }
                out.push(msg);
            }
            Role::Tool => {
                for p in &m.content {
                    let Part::ToolResult { tool_call_id, content, .. } = p else {
                        return Err(unsupported("messages".into(), "a tool message may hold only tool results"));
                    };
                    let parts: Vec<&Part> = content.iter().collect();
                    let mut msg = message("tool", self.content(&parts, true)?);
                    msg.tool_call_id = Some(tool_call_id);
                    out.push(msg);
                }
            }
        }
        Ok(())
    }

    /// Content for one message. `as_string`: plain text goes out as a string (several text
    /// blocks joined by newlines), which every OpenAI-compatible server accepts.
    fn content<'a>(&self, parts: &[&'a Part], as_string: bool) -> Result<OutContent<'a>, EncodeError> {
        let plain = |p: &&'a Part| match p {
            Part::Text { text, cache_control } if cache_control.is_none() || !self.keep_cache_control => {
                Some(text.as_str())
            }
            _ => None,
        };
        if as_string && !parts.is_empty() {
            if let Some(texts) = parts.iter().map(plain).collect::<Option<Vec<&str>>>() {
                return Ok(match texts.as_slice() {
                    [one] => OutContent::Text(Cow::Borrowed(one)),
                    many => OutContent::Text(Cow::Owned(many.join("\n"))),
                });
            }
        }
        Ok(OutContent::Parts(parts.iter().map(|p| self.part(p)).collect::<Result<_, _>>()?))
    }

    fn part(&self, p: &Part) -> Result<Value, EncodeError> {
        let with_cc = |mut v: Value, cc: &Option<Value>| {
            if let (Some(cc), Some(o), true) = (cc, v.as_object_mut(), self.keep_cache_control) {
                o.insert("cache_control".into(), cc.clone());
            }
            v
        };
        Ok(match p {
            Part::Text { text, cache_control } => with_cc(json!({"type": "text", "text": text}), cache_control),
            Part::Image { source, detail, cache_control } => {
                let url = match source {
                    ImageSource::Url { url } => url.clone(),
                    ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
                };
                let mut image = json!({"url": url});
                if let (Some(d), Some(o)) = (detail, image.as_object_mut()) {
                    o.insert("detail".into(), Value::String(d.clone()));
                }
                with_cc(json!({"type": "image_url", "image_url": image}), cache_control)
            }
            Part::Refusal { text } => json!({"type": "refusal", "refusal": text}),
            Part::Raw { dialect, kind, value } => {
                if *dialect != Dialect::OpenaiChat {
                    return Err(unsupported(
                        kind.clone(),
                        &crate::canonical::raw_reason(value, "OpenAI Chat Completions"),
                    ));
                }
                value.clone()
            }
            Part::ToolCall { .. } | Part::ToolResult { .. } | Part::Reasoning { .. } => {
                return Err(unsupported(
                    "content".into(),
                    "tool calls, tool results and reasoning cannot be content parts",
                ))
            }
        })
    }
}

fn encode_tool_choice(c: &ToolChoice) -> Value {
    let function = |n: &str| json!({"type": "function", "function": {"name": n}});
    match c {
        ToolChoice::None => json!("none"),
        ToolChoice::Auto => json!("auto"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Named(n) => function(n),
        ToolChoice::Allowed { names, required } => json!({
            "type": "allowed_tools",
            "allowed_tools": {
                "mode": if *required { "required" } else { "auto" },
                "tools": names.iter().map(|n| function(n)).collect::<Vec<_>>(),
            }
        }),
    }
}

fn encode_response_format(f: &ResponseFormat) -> Value {
    match f {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema { name, description, schema, strict } => {
            let mut js = Map::new();
            js.insert("name".into(), json!(name));
            if let Some(d) = description {
                js.insert("description".into(), json!(d));
            }
            if let Some(s) = schema {
                js.insert("schema".into(), s.clone());
            }
            if let Some(s) = strict {
                js.insert("strict".into(), json!(s));
            }
            json!({"type": "json_schema", "json_schema": js})
        }
    }
}
