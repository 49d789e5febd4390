//! Responses API input items ⇄ canonical messages: decoding the items of a request's `input`
//! (and of the stored conversation it continues) into `system` and `messages`, and writing
//! canonical messages back as the items OpenAI's `/responses` takes. Top-level fields are
//! [`super::request`]'s.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::refuse::{invalid, missing, unsupported, wrong_type};
use super::tools::{self, Kind, ToolSet};
use crate::{ChatRequest, DecodeError, Dialect, EncodeError, ImageSource, Message, Part, Role};

/// Whether a `Part::Raw`'s `kind` (the client's path to it) is a whole input item (a hosted
/// tool's call, `input[3]`), as opposed to a content part inside one (`input[3].content[1]`):
/// the encoder writes a whole item back as an item of its own.
pub(super) fn is_whole_item(kind: &str) -> bool {
    !kind.contains(".content[") && !kind.contains(".output[")
}

/// Where an item sits, for error params: `input[3]`, `input[3].call_id`.
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    pub list: &'a str,
    pub index: usize,
}

impl At<'_> {
    pub fn item(self) -> String {
        format!("{}[{}]", self.list, self.index)
    }
    pub fn field(self, field: &str) -> String {
        format!("{}[{}].{field}", self.list, self.index)
    }
}

/// A client's value quoted in a message, cut short.
fn quote(s: &str) -> std::borrow::Cow<'_, str> {
    crate::truncate_for_echo(s, 64)
}

/// A required string field of an item.
fn string_field(obj: &Map<String, Value>, key: &str, at: At<'_>) -> Result<String, DecodeError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(missing(at.field(key))),
        Some(other) => Err(wrong_type(at.field(key), "a string", other)),
    }
}

/// The type of an input item: its `type`, or `message` for the Easy Input Message form (a
/// `role` and no `type`). None: neither is there.
pub(super) fn item_type(item: &Value) -> Option<&str> {
    let obj = item.as_object()?;
    match obj.get("type") {
        Some(Value::String(t)) => Some(t),
        None | Some(Value::Null) if obj.get("role").is_some_and(Value::is_string) => Some("message"),
        _ => None,
    }
}

/// Codex's `additional_tools` input item, whose tools join the request's: where it sat, for the
/// Responses API egress to put it back there (`{"system": k}`: before instruction part k,
/// `{"message": m}`: before message m), and the path of its `tools`.
pub(super) struct Additional {
    pub place: Value,
    pub path: String,
    pub item: Value,
}

/// Whether an `additional_tools` item holds only client-run tools, which other providers can
/// be given too. One with a hosted tool stays whole, for OpenAI alone.
fn additional_tools_are_client_run(obj: &Map<String, Value>) -> bool {
    obj.get("tools").and_then(Value::as_array).is_some_and(|t| t.iter().all(tools::is_client_tool))
}

/// The `tools` of each `additional_tools` item among `items` that joins the request's tools.
pub(super) fn additional_tool_lists(items: &[Value]) -> impl Iterator<Item = &Value> {
    items.iter().filter_map(|item| {
        let obj = item.as_object().filter(|_| item_type(item) == Some("additional_tools"))?;
        obj.get("tools").filter(|_| additional_tools_are_client_run(obj))
    })
}

/// Decoding state across the stored conversation and the request's own input.
#[derive(Default)]
pub(super) struct ItemDecoder {
    pub system: Vec<Part>,
    pub system_is_developer: bool,
    pub messages: Vec<Message>,
    pub reasoning_origin: Option<Dialect>,
    /// Every client-run tool of the request, to name calls the client sends back.
    pub tools: ToolSet,
    pub additional: Vec<Additional>,
    /// No user, assistant or tool item yet: system and developer messages are instructions.
    started: bool,
    /// The call ids of every function call so far, which a function call output must name.
    call_ids: HashSet<String>,
}

impl ItemDecoder {
    pub fn decode(&mut self, item: &Value, at: At<'_>) -> Result<(), DecodeError> {
        let Some(obj) = item.as_object() else {
            return Err(wrong_type(at.item(), "an input item object", item));
        };
        let Some(kind) = item_type(item) else {
            return Err(invalid(
                format!("Invalid '{}': an input item needs a string `type` (or a `role`, for a message).", at.item()),
                at.item(),
            ));
        };
        match kind {
            "message" => self.message(obj, at),
            "function_call" | "custom_tool_call" => {
                let id = string_field(obj, "call_id", at)?;
                let name = string_field(obj, "name", at)?;
                let namespace = match obj.get("namespace") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(ns)) => Some(ns.as_str()),
                    Some(other) => return Err(wrong_type(at.field("namespace"), "a string", other)),
                };
                let name = self.tools.canonical_name(namespace, &name);
                let arguments = if kind == "custom_tool_call" {
                    tools::custom_arguments(&string_field(obj, "input", at)?)
                } else {
                    string_field(obj, "arguments", at)?
                };
                self.call_ids.insert(id.clone());
                self.assistant(vec![Part::ToolCall { id, name, arguments }], false);
                Ok(())
            }
            "function_call_output" | "custom_tool_call_output" => self.call_output(obj, at),
            "additional_tools" if additional_tools_are_client_run(obj) => {
                let place = match obj.get("role").and_then(Value::as_str) {
                    Some(role @ ("system" | "developer")) if !self.started => {
                        self.system_is_developer |= role == "developer";
                        json!({"system": self.system.len()})
                    }
                    _ => json!({"message": self.messages.len()}),
                };
                self.additional.push(Additional { place, path: at.field("tools"), item: item.clone() });
                Ok(())
            }
            "reasoning" => self.reasoning(obj, at),
            "item_reference" => Err(invalid(
                format!("Invalid '{}': an item reference must name a stored item, not another reference.", at.item()),
                at.item(),
            )),
            other => {
                // Hosted tools' calls and their outputs: only OpenAI can take them.
                let part = Part::Raw { dialect: Dialect::OpenaiResponses, kind: at.item(), value: item.clone() };
                // Where it sits: by its role when it has one (Codex's `additional_tools` is a
                // developer item), else outputs are the client's and calls the model's.
                match obj.get("role").and_then(Value::as_str) {
                    Some(role @ ("system" | "developer")) if !self.started => {
                        self.system_is_developer |= role == "developer";
                        self.system.push(part);
                    }
                    Some("system" | "developer") => self.push(Role::System, vec![part], false),
                    Some("user") => self.push(Role::User, vec![part], false),
                    Some("assistant") => self.assistant(vec![part], false),
                    _ if other.ends_with("_output") || other.ends_with("_response") => {
                        self.push(Role::User, vec![part], false)
                    }
                    _ => self.assistant(vec![part], false),
                }
                Ok(())
            }
        }
    }

    fn message(&mut self, obj: &Map<String, Value>, at: At<'_>) -> Result<(), DecodeError> {
        let role = string_field(obj, "role", at)?;
        let (parts, was_string) = match obj.get("content") {
            Some(Value::String(text)) => (vec![Part::text(text.clone())], true),
            Some(Value::Array(parts)) => {
                let parts = parts
                    .iter()
                    .enumerate()
                    .map(|(j, p)| decode_part(p, &at.field(&format!("content[{j}]"))))
                    .collect::<Result<_, _>>()?;
                (parts, false)
            }
            None | Some(Value::Null) => return Err(missing(at.field("content"))),
            Some(other) => return Err(wrong_type(at.field("content"), "a string or an array of parts", other)),
        };
        match role.as_str() {
            "system" | "developer" if !self.started => {
                self.system_is_developer |= role == "developer";
                self.system.extend(parts);
            }
            "system" | "developer" => self.push(Role::System, parts, was_string),
            "user" => self.push(Role::User, parts, was_string),
            "assistant" => self.assistant(parts, was_string),
            other => {
                return Err(invalid(
                    format!(
                        "Invalid value for '{}': '{}'. Supported values are: 'user', 'assistant', 'system' and \
                         'developer'.",
                        at.field("role"),
                        quote(other)
                    ),
                    at.field("role"),
                ))
            }
        }
        Ok(())
    }

    fn call_output(&mut self, obj: &Map<String, Value>, at: At<'_>) -> Result<(), DecodeError> {
        let (call, output) = match obj.get("type").and_then(Value::as_str) {
            Some("custom_tool_call_output") => ("custom tool call", "custom_tool_call_output"),
            _ => ("function call", "function_call_output"),
        };
        let tool_call_id = string_field(obj, "call_id", at)?;
        if !self.call_ids.contains(&tool_call_id) {
            return Err(invalid(
                format!(
                    "Invalid '{}': no {call} with call_id '{}' precedes this {output}.",
                    at.field("call_id"),
                    quote(&tool_call_id)
                ),
                at.field("call_id"),
            ));
        }
        let content = match obj.get("output") {
            Some(Value::String(text)) => vec![Part::text(text.clone())],
            Some(Value::Array(parts)) => parts
                .iter()
                .enumerate()
                .map(|(k, p)| decode_part(p, &at.field(&format!("output[{k}]"))))
                .collect::<Result<_, _>>()?,
            None | Some(Value::Null) => return Err(missing(at.field("output"))),
            Some(other) => return Err(wrong_type(at.field("output"), "a string or an array of parts", other)),
        };
        let part = Part::ToolResult { tool_call_id, content, is_error: false, cache_control: None };
        self.push(Role::Tool, vec![part], false);
        Ok(())
    }

    fn reasoning(&mut self, obj: &Map<String, Value>, at: At<'_>) -> Result<(), DecodeError> {
        let mut texts = Vec::new();
        match obj.get("summary") {
            None | Some(Value::Null) => {}
            Some(Value::Array(summary)) => {
                for (k, s) in summary.iter().enumerate() {
                    match s.get("text") {
                        Some(Value::String(t)) => texts.push(t.as_str()),
                        _ => {
                            return Err(invalid(
                                format!("Invalid '{}': a summary part needs a string `text`.", at.field("summary")),
                                at.field(&format!("summary[{k}].text")),
                            ))
                        }
                    }
                }
            }
            Some(other) => return Err(wrong_type(at.field("summary"), "an array", other)),
        }
        let token = match obj.get("encrypted_content") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(super::parse_reasoning_token(t)),
            Some(other) => return Err(wrong_type(at.field("encrypted_content"), "a string", other)),
        };
        self.started = true;
        let text = texts.join("\n\n");
        let Some(token) = token else {
            if !text.is_empty() {
                self.assistant(vec![Part::Reasoning { text, signature: None, redacted: None }], false);
            }
            return Ok(());
        };
        if self.reasoning_origin.is_none() {
            self.reasoning_origin = token.origin;
        }
        self.assistant(vec![Part::Reasoning { text, signature: token.signature, redacted: token.redacted }], false);
        Ok(())
    }

    fn push(&mut self, role: Role, content: Vec<Part>, content_was_string: bool) {
        self.started = true;
        self.messages.push(Message { role, content, name: None, content_was_string });
    }

    /// Consecutive assistant-side items (text, reasoning, calls) form one assistant message, as
    /// a Chat Completions assistant turn would hold them.
    fn assistant(&mut self, parts: Vec<Part>, was_string: bool) {
        self.started = true;
        let has_text = |ps: &[Part]| ps.iter().any(|p| matches!(p, Part::Text { .. } | Part::Refusal { .. }));
        match self.messages.last_mut() {
            Some(last) if last.role == Role::Assistant => {
                let (old, new) = (has_text(&last.content), has_text(&parts));
                // A string stays a string only while it is the message's one text.
                last.content_was_string = match (old, new) {
                    (true, true) | (false, false) => false,
                    (true, false) => last.content_was_string,
                    (false, true) => was_string,
                };
                last.content.extend(parts);
            }
            _ => self.push(Role::Assistant, parts, was_string),
        }
    }
}

/// One content part of a message or of a function call's output. `param` is its path.
fn decode_part(part: &Value, param: &str) -> Result<Part, DecodeError> {
    let Some(obj) = part.as_object() else {
        return Err(wrong_type(param.to_owned(), "a content part object", part));
    };
    let field = |key: &str| format!("{param}.{key}");
    let string = |key: &str| match obj.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(missing(field(key))),
        Some(other) => Err(wrong_type(field(key), "a string", other)),
    };
    let kind = match obj.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        None | Some(Value::Null) => return Err(missing(field("type"))),
        Some(other) => return Err(wrong_type(field("type"), "a string", other)),
    };
    match kind {
        // Annotations and logprobs on output text are the reply's, not part of the prompt.
        "input_text" | "output_text" => Ok(Part::text(string("text")?)),
        "refusal" => Ok(Part::Refusal { text: string("refusal")? }),
        "input_image" => {
            let detail = match obj.get("detail") {
                None | Some(Value::Null) => None,
                Some(Value::String(d)) => Some(d.clone()),
                Some(other) => return Err(wrong_type(field("detail"), "a string", other)),
            };
            match obj.get("image_url") {
                Some(Value::String(url)) => {
                    let Some(source) = image_source(url) else {
                        return Err(invalid(
                            format!(
                                "Invalid '{}': expected an http(s) URL or a base64 data URL \
                                 ('data:image/png;base64,...').",
                                field("image_url")
                            ),
                            field("image_url"),
                        ));
                    };
                    Ok(Part::Image { source, detail, cache_control: None })
                }
                None | Some(Value::Null) if obj.get("file_id").is_some_and(Value::is_string) => {
                    Ok(raw_part(param, part))
                }
                None | Some(Value::Null) => Err(invalid(
                    format!("Invalid '{param}': an `input_image` part needs `image_url` or `file_id`."),
                    field("image_url"),
                )),
                Some(other) => Err(wrong_type(field("image_url"), "a string", other)),
            }
        }
        // input_file, input_audio, ...: only OpenAI can read them.
        _ => Ok(raw_part(param, part)),
    }
}

fn raw_part(param: &str, part: &Value) -> Part {
    Part::Raw { dialect: Dialect::OpenaiResponses, kind: param.to_owned(), value: part.clone() }
}

/// An `https://` (or `http://`) URL, or a `data:<mime>;base64,<data>` URL. None: neither.
fn image_source(url: &str) -> Option<ImageSource> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',')?;
        let media_type = meta.strip_suffix(";base64")?;
        if media_type.is_empty() || data.is_empty() {
            return None;
        }
        return Some(ImageSource::Base64 { media_type: media_type.to_owned(), data: data.to_owned() });
    }
    let scheme_end = url.find("://")?;
    let scheme = &url[..scheme_end];
    let host = &url[scheme_end + 3..];
    let web = scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http");
    (web && !host.is_empty() && !url.contains(char::is_whitespace)).then(|| ImageSource::Url { url: url.to_owned() })
}

/// A message item as `GET /v1/responses/{id}/input_items` lists it: `type` written out and a
/// string content as one text part. Other items are kept as sent.
pub(super) fn normalized(mut item: Value) -> Value {
    if item_type(&item) != Some("message") {
        return item;
    }
    let Some(obj) = item.as_object_mut() else { return item };
    obj.insert("type".into(), json!("message"));
    let kind = if obj.get("role").and_then(Value::as_str) == Some("assistant") { "output_text" } else { "input_text" };
    if let Some(Value::String(text)) = obj.get_mut("content") {
        let text = std::mem::take(text);
        obj.insert("content".into(), json!([{"type": kind, "text": text}]));
    }
    item
}

// ---------- encoding for OpenAI's /responses ----------

/// The items a request kept whole in `hints["additional_tools"]` whose place is `key` (`system`
/// or `message`) `at`; `at: None` takes those at or past `last`.
pub(super) fn placed<'a>(
    placed: &'a [Value],
    key: &'a str,
    at: Option<usize>,
    last: usize,
) -> impl Iterator<Item = Value> + 'a {
    placed.iter().filter_map(move |p| {
        let index = p.get(key)?.as_u64().and_then(|i| usize::try_from(i).ok())?;
        let here = match at {
            Some(at) => index == at,
            None => index >= last,
        };
        here.then(|| p.get("item").cloned()).flatten()
    })
}

/// Appends the items of every message to `items`, in order. `tools` names the calls (a custom
/// tool's call is a `custom_tool_call`, a namespaced one says its namespace); `additional` are
/// the `additional_tools` items placed among the messages.
pub(super) fn encode_messages(
    req: &ChatRequest,
    tools: &ToolSet,
    additional: &[Value],
    items: &mut Vec<Value>,
) -> Result<(), EncodeError> {
    // Encrypted reasoning is only OpenAI's to read back; the gateway's own tokens say whose.
    let reasoning_is_openais = matches!(req.reasoning_origin, None | Some(Dialect::OpenaiResponses));
    let mut custom_calls = HashSet::new();
    for (i, m) in req.messages.iter().enumerate() {
        items.extend(placed(additional, "message", Some(i), req.messages.len()));
        let mut item = MessageItem::new(m);
        for p in &m.content {
            match p {
                Part::ToolCall { id, name, arguments } => {
                    item.flush(items);
                    if tools.get(name).is_some_and(|e| e.kind == Kind::Custom) {
                        custom_calls.insert(id.as_str());
                    }
                    items.push(tools::call_item(tools, id, name, arguments));
                }
                Part::ToolResult { tool_call_id, content, .. } => {
                    item.flush(items);
                    let kind = if custom_calls.contains(tool_call_id.as_str()) {
                        "custom_tool_call_output"
                    } else {
                        "function_call_output"
                    };
                    items.push(json!({"type": kind, "call_id": tool_call_id, "output": encode_output(content)?}));
                }
                Part::Reasoning { text, redacted, .. } => {
                    item.flush(items);
                    if let (Some(encrypted), true) = (redacted, reasoning_is_openais) {
                        let summary: Vec<Value> = Some(text)
                            .filter(|t| !t.is_empty())
                            .map(|t| json!({"type": "summary_text", "text": t}))
                            .into_iter()
                            .collect();
                        items.push(json!({"type": "reasoning", "summary": summary, "encrypted_content": encrypted}));
                    }
                }
                Part::Raw { dialect: Dialect::OpenaiResponses, kind, value } if is_whole_item(kind) => {
                    item.flush(items);
                    items.push(value.clone());
                }
                other => item.content.push(encode_part(other, m.role == Role::Assistant)?),
            }
        }
        item.flush(items);
    }
    items.extend(placed(additional, "message", None, req.messages.len()));
    Ok(())
}

/// The message item being built from a run of a message's content parts.
struct MessageItem<'a> {
    message: &'a Message,
    role: &'static str,
    content: Vec<Value>,
}

impl<'a> MessageItem<'a> {
    fn new(message: &'a Message) -> Self {
        let role = match message.role {
            // Later instructions: `developer` is what OpenAI's newer models take them as.
            Role::System => "developer",
            Role::User | Role::Tool => "user",
            Role::Assistant => "assistant",
        };
        MessageItem { message, role, content: Vec::new() }
    }

    fn flush(&mut self, items: &mut Vec<Value>) {
        if self.content.is_empty() {
            return;
        }
        let content = std::mem::take(&mut self.content);
        let text_alone = match content.as_slice() {
            [one] if self.message.content_was_string => {
                one.get("text").filter(|_| one.as_object().is_some_and(|o| o.len() == 2))
            }
            _ => None,
        };
        let content = match text_alone {
            Some(text) => text.clone(),
            None => Value::Array(content),
        };
        items.push(json!({"type": "message", "role": self.role, "content": content}));
    }
}

pub(super) fn encode_part(p: &Part, assistant: bool) -> Result<Value, EncodeError> {
    Ok(match p {
        Part::Text { text, .. } if assistant => json!({"type": "output_text", "text": text}),
        Part::Text { text, .. } => json!({"type": "input_text", "text": text}),
        Part::Refusal { text } if assistant => json!({"type": "refusal", "refusal": text}),
        Part::Refusal { text } => json!({"type": "input_text", "text": text}),
        Part::Image { .. } if assistant => {
            return Err(unsupported("image", "an assistant message holds only text and refusals"))
        }
        Part::Image { source, detail, .. } => {
            let url = match source {
                ImageSource::Url { url } => url.clone(),
                ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
            };
            let mut image = json!({"type": "input_image", "image_url": url});
            if let (Some(d), Some(o)) = (detail, image.as_object_mut()) {
                o.insert("detail".into(), json!(d));
            }
            image
        }
        Part::Raw { dialect: Dialect::OpenaiResponses, value, .. } => value.clone(),
        Part::Raw { kind, .. } => return Err(unsupported(kind.clone(), "it has no equivalent in the Responses API")),
        Part::ToolCall { .. } | Part::ToolResult { .. } | Part::Reasoning { .. } => {
            return Err(unsupported("content", "tool calls, tool results and reasoning cannot be content parts"))
        }
    })
}

/// A function call's output: its text alone as a string, anything else as input parts.
fn encode_output(content: &[Part]) -> Result<Value, EncodeError> {
    match content {
        [] => Ok(json!("")),
        [Part::Text { text, .. }] => Ok(json!(text)),
        parts => Ok(Value::Array(parts.iter().map(|p| encode_part(p, false)).collect::<Result<_, _>>()?)),
    }
}
