//! Responses API request ⇄ canonical `ChatRequest`: decoding what Responses clients send to
//! `POST /v1/responses` (with the stored conversation it continues), and encoding what we send
//! to OpenAI's and Azure's `/responses`. The input items themselves are [`super::items`]', the
//! mapping of single top-level fields [`super::params`]'.
//!
//! Decoding sorts the top-level fields three ways: what canonical models (sampling, tools,
//! `text.format`, `reasoning.effort`), service hints that do not change the answer
//! (`ChatRequest::hints`), and everything else (`ChatRequest::extra`, refused by name by every
//! other egress). `store` and `previous_response_id` are the gateway's, in the [`Envelope`].
//!
//! Encoding never asks OpenAI to store anything (`store: false`, no `previous_response_id`):
//! the gateway sends the whole conversation each time. For a request from another dialect it
//! refuses what the Responses API cannot express (`n` > 1, `stop`, `seed`, penalties,
//! `logprobs`, another dialect's `extra` and raw parts), and makes function tools non-strict
//! unless the client said otherwise (the Responses API's default is strict).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::items::{self, At, ItemDecoder};
use super::params::{
    decode_reasoning, decode_text, decode_tool_choice, decode_tools, echo, encode_format, encode_tool,
    encode_tool_choice, opt_bool, opt_f64, opt_string, opt_u64, present,
};
use super::refuse::{invalid, unsupported, wrong_type};
use super::tools::{self, ToolSet, ECHO_ADDITIONAL_TOOLS};
use crate::{ChatRequest, DecodeError, Dialect, EncodeError, Part};

/// Top-level fields that tune OpenAI's service without changing the answer.
const HINTS: [&str; 11] = [
    "include",
    "client_metadata",
    "prompt_cache_key",
    "truncation",
    "service_tier",
    "metadata",
    "safety_identifier",
    "max_tool_calls",
    "prompt_cache_retention",
    "stream_options",
    "background",
];

/// Top-level fields read into canonical or the envelope.
const MODELLED: [&str; 17] = [
    "model",
    "input",
    "instructions",
    "max_output_tokens",
    "temperature",
    "top_p",
    "top_logprobs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "reasoning",
    "user",
    "stream",
    "store",
    "previous_response_id",
    "conversation",
];

/// What the gateway keeps of a request besides the canonical one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Envelope {
    /// `store` as the client sent it (None: not sent; OpenAI's default is to store).
    pub store: Option<bool>,
    /// The stored response this one continues.
    pub previous_response_id: Option<String>,
    /// This request's own input items (not the history), a string input as one user message,
    /// message items with `type` written out, item references replaced by the items they name,
    /// and ids only where the client gave them (the gateway assigns the rest): what
    /// `GET /v1/responses/{id}/input_items` lists and what a later `previous_response_id`
    /// replays.
    pub input_items: Vec<Value>,
    /// The request fields a response object repeats (see [`crate::ResponseMeta::echo`]).
    pub echo: Map<String, Value>,
}

/// Decodes a request. `history` is the stored conversation it continues (earlier input and
/// output items, oldest first), read as if the client had sent it before its own `input`;
/// `references` holds the stored items its `item_reference`s name (see [`referenced_ids`]).
pub fn decode_request(
    body: &[u8],
    history: &[Value],
    references: &HashMap<String, Value>,
) -> Result<(ChatRequest, Envelope), DecodeError> {
    let Value::Object(mut obj) = crate::error::parse_json::<Value>(body)? else {
        return Err(DecodeError::invalid("The request body must be a JSON object.", None));
    };
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(invalid("Missing required parameter: 'model'.".into(), "model".into()))
        }
        Some(other) => return Err(wrong_type("model".into(), "a string", other)),
    };
    if present(&obj, "conversation").is_some() {
        return Err(invalid(
            "'conversation' is not supported by this gateway; continue a conversation with \
             'previous_response_id'."
                .into(),
            "conversation".into(),
        ));
    }
    if obj.get("background") == Some(&Value::Bool(true)) {
        return Err(invalid(
            "Background responses ('background': true) are not supported by this gateway; stream the \
             response or continue it with 'previous_response_id'."
                .into(),
            "background".into(),
        ));
    }
    let envelope_store = opt_bool(&obj, "store")?;
    let previous_response_id = opt_string(&obj, "previous_response_id")?;
    let echo = echo(&obj, envelope_store, previous_response_id.as_deref());

    let mut req = ChatRequest {
        model,
        max_tokens: opt_u64(&obj, "max_output_tokens")?,
        temperature: opt_f64(&obj, "temperature")?,
        top_p: opt_f64(&obj, "top_p")?,
        top_logprobs: opt_u64(&obj, "top_logprobs")?.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        parallel_tool_calls: opt_bool(&obj, "parallel_tool_calls")?,
        user: opt_string(&obj, "user")?,
        stream: opt_bool(&obj, "stream")?.unwrap_or(false),
        // Responses streams always end with usage.
        stream_include_usage: true,
        extra_dialect: Some(Dialect::OpenaiResponses),
        ..ChatRequest::default()
    };

    // Every client-run tool, before any item: calls the client sends back are named by it.
    let input_array = obj.get("input").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let additional_lists: Vec<&Value> =
        items::additional_tool_lists(history).chain(items::additional_tool_lists(input_array)).collect();
    let set = ToolSet::new(obj.get("tools").into_iter().chain(additional_lists.iter().copied()));
    let mut echo = echo;
    if !additional_lists.is_empty() {
        let all: Vec<Value> = additional_lists.iter().filter_map(|l| l.as_array()).flatten().cloned().collect();
        echo.insert(ECHO_ADDITIONAL_TOOLS.into(), Value::Array(all));
    }
    let mut decoder = ItemDecoder::default();
    decoder.tools = set.clone();
    match obj.get("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => decoder.system.push(Part::text(text.clone())),
        Some(other) => return Err(wrong_type("instructions".into(), "a string", other)),
    }
    let mut lookup = Lookup { history, references, by_id: None };
    for (index, item) in history.iter().enumerate() {
        decode_item(&mut decoder, item, At { list: "history", index }, &mut lookup)?;
    }
    let input_items = match obj.remove("input") {
        None | Some(Value::Null) if history.is_empty() => {
            return Err(invalid("Missing required parameter: 'input'.".into(), "input".into()))
        }
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => {
            let item = json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]});
            decoder.decode(&json!({"role": "user", "content": text}), At { list: "input", index: 0 })?;
            vec![item]
        }
        Some(Value::Array(items)) => {
            if items.is_empty() && history.is_empty() {
                return Err(invalid("'input' must contain at least one item.".into(), "input".into()));
            }
            let mut kept = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                let at = At { list: "input", index };
                kept.push(decode_item(&mut decoder, &item, at, &mut lookup)?.unwrap_or(item));
            }
            kept.into_iter().map(items::normalized).collect()
        }
        Some(other) => return Err(wrong_type("input".into(), "a string or an array of input items", &other)),
    };
    req.system = decoder.system;
    req.system_is_developer = decoder.system_is_developer;
    req.messages = decoder.messages;
    req.reasoning_origin = decoder.reasoning_origin;

    decode_tools(&obj, &set, &mut req)?;
    // The Responses API egress sends the client's tools back as they came.
    if let Some(list @ Value::Array(_)) = present(&obj, "tools") {
        req.hints.insert("tools".into(), list.clone());
    }
    let mut placed = Vec::with_capacity(decoder.additional.len());
    for additional in std::mem::take(&mut decoder.additional) {
        let list = additional.item.get("tools").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        tools::decode_list(list, &additional.path, &set, &mut req)?;
        let mut entry = additional.place;
        if let Some(obj) = entry.as_object_mut() {
            obj.insert("item".into(), additional.item);
        }
        placed.push(entry);
    }
    if !placed.is_empty() {
        req.hints.insert("additional_tools".into(), Value::Array(placed));
    }
    decode_tool_choice(&obj, &set, &mut req)?;
    decode_text(&obj, &mut req)?;
    decode_reasoning(&obj, &mut req)?;
    for key in HINTS {
        if let Some(value) = present(&obj, key) {
            req.hints.insert(key.into(), value.clone());
            req.hint_paths.push(key.into());
        }
    }
    for (key, value) in obj {
        if !MODELLED.contains(&key.as_str()) && !HINTS.contains(&key.as_str()) && !value.is_null() {
            req.extra.insert(key, value);
        }
    }
    req.hint_paths.sort();
    let envelope = Envelope { store: envelope_store, previous_response_id, input_items, echo };
    Ok((req, envelope))
}

/// Where an item reference's item is found: the items the gateway read for it, else the
/// history, indexed by id on the first reference (most requests have none).
struct Lookup<'a> {
    history: &'a [Value],
    references: &'a HashMap<String, Value>,
    by_id: Option<HashMap<&'a str, &'a Value>>,
}

impl<'a> Lookup<'a> {
    fn get(&mut self, id: &str) -> Option<&'a Value> {
        if let Some(found) = self.references.get(id) {
            return Some(found);
        }
        let history = self.history;
        let by_id = self
            .by_id
            .get_or_insert_with(|| history.iter().filter_map(|h| Some((h.get("id")?.as_str()?, h))).collect());
        by_id.get(id).copied()
    }
}

/// Decodes one item, resolving an item reference first. Returns the item a reference named
/// (what the envelope keeps in its place), None for any other item.
fn decode_item(
    decoder: &mut ItemDecoder,
    item: &Value,
    at: At<'_>,
    lookup: &mut Lookup<'_>,
) -> Result<Option<Value>, DecodeError> {
    if items::item_type(item) != Some("item_reference") {
        decoder.decode(item, at)?;
        return Ok(None);
    }
    let id = match item.get("id") {
        Some(Value::String(id)) => id.as_str(),
        None | Some(Value::Null) => {
            return Err(invalid(format!("Missing required parameter: '{}'.", at.field("id")), at.field("id")))
        }
        Some(other) => return Err(wrong_type(at.field("id"), "a string", other)),
    };
    let Some(found) = lookup.get(id).cloned() else {
        return Err(invalid(format!("Item with id '{}' not found.", crate::truncate_for_echo(id, 64)), at.field("id")));
    };
    decoder.decode(&found, at)?;
    Ok(Some(found))
}

/// The ids of the stored items a request's `item_reference`s name, for the gateway to read
/// before decoding. Cheap for the usual request, which has none: the body is parsed only when
/// its bytes mention `item_reference`.
pub fn referenced_ids(body: &[u8]) -> Vec<String> {
    if memchr::memmem::find(body, b"item_reference").is_none() {
        return Vec::new();
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else { return Vec::new() };
    let Some(input) = value.get("input").and_then(Value::as_array) else { return Vec::new() };
    input
        .iter()
        .filter(|item| items::item_type(item) == Some("item_reference"))
        .filter_map(|item| item.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// The `previous_response_id` of a request body, read before decoding (decoding needs the
/// conversation it names). Cheap for the usual request, which has none: it is not parsed twice.
pub fn previous_response_id(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Peek {
        previous_response_id: Option<String>,
    }
    memchr::memmem::find(body, b"previous_response_id")?;
    serde_json::from_slice::<Peek>(body).ok()?.previous_response_id.filter(|id| !id.is_empty())
}

// ---------- encoding for OpenAI's and Azure's /responses ----------

pub fn encode(req: &ChatRequest, model: &str, stream: bool) -> Result<Vec<u8>, EncodeError> {
    let same = req.extra_dialect == Some(Dialect::OpenaiResponses);
    if !same {
        refuse_inexpressible(req)?;
    }
    let mut extra = if same { req.extra.clone() } else { Map::new() };
    let mut hints = if same { req.hints.clone() } else { Map::new() };
    // What the decoder kept whole for this egress: the client's tools and additional_tools items.
    let verbatim_tools = hints.remove("tools");
    let additional = match hints.remove("additional_tools") {
        Some(Value::Array(placed)) => placed,
        _ => Vec::new(),
    };
    let additional_lists = additional.iter().filter_map(|p| p.get("item").and_then(|i| i.get("tools")));
    let tool_set = ToolSet::new(verbatim_tools.iter().chain(additional_lists));

    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    let mut input = Vec::with_capacity(req.messages.len() + 1);
    if let Some(instructions) = encode_system(req, &additional, &mut input)? {
        body.insert("instructions".into(), json!(instructions));
    }
    items::encode_messages(req, &tool_set, &additional, &mut input)?;
    body.insert("input".into(), Value::Array(input));
    if let Some(n) = req.max_tokens {
        body.insert("max_output_tokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(n) = req.top_logprobs {
        body.insert("top_logprobs".into(), json!(n));
    }

    // A Responses client's tools go back as it sent them (none when it sent its tools only in
    // `additional_tools` items); another dialect's are encoded from canonical.
    extra.remove("tools");
    let tools: Vec<Value> = match verbatim_tools {
        Some(Value::Array(tools)) => tools,
        _ if same => Vec::new(),
        _ => req.tools.iter().map(|t| encode_tool(t, same)).collect(),
    };
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    let extra_choice = extra.remove("tool_choice");
    let sent_choice = hints.remove("tool_choice");
    if let Some(choice) = sent_choice.or_else(|| req.tool_choice.as_ref().map(encode_tool_choice)).or(extra_choice) {
        body.insert("tool_choice".into(), choice);
    }
    if let Some(p) = req.parallel_tool_calls {
        body.insert("parallel_tool_calls".into(), json!(p));
    }

    let mut text = object(extra.remove("text"));
    text.extend(object(hints.remove("text")));
    if let Some(format) = encode_format(req.response_format.as_ref())? {
        text.insert("format".into(), format);
    }
    if !text.is_empty() {
        body.insert("text".into(), Value::Object(text));
    }
    let mut reasoning = object(extra.remove("reasoning"));
    reasoning.extend(object(hints.remove("reasoning")));
    if let Some(effort) = &req.reasoning_effort {
        reasoning.insert("effort".into(), json!(effort));
    }
    if !reasoning.is_empty() {
        body.insert("reasoning".into(), Value::Object(reasoning));
    }
    if let Some(user) = &req.user {
        body.insert("user".into(), json!(user));
    }
    body.insert("stream".into(), json!(stream));
    // The gateway keeps the conversation itself and sends all of it each time.
    body.insert("store".into(), json!(false));
    if !stream {
        // OpenAI refuses stream options on a request that does not stream.
        hints.remove("stream_options");
    }
    for (key, value) in extra.into_iter().chain(hints) {
        if key != "previous_response_id" && key != "conversation" {
            body.entry(key).or_insert(value);
        }
    }
    crate::json::to_body(&Value::Object(body)).map_err(|e| unsupported("request", &e.to_string()))
}

fn object(v: Option<Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// What a request from another dialect asks for that the Responses API cannot give.
fn refuse_inexpressible(req: &ChatRequest) -> Result<(), EncodeError> {
    if !req.extra.is_empty() {
        return Err(unsupported(req.first_extra_field(), &req.extra_reason("the OpenAI Responses API")));
    }
    if req.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n", "the Responses API returns exactly one answer"));
    }
    if !req.stop.is_empty() {
        return Err(unsupported("stop", "the Responses API has no stop sequences"));
    }
    if req.seed.is_some() {
        return Err(unsupported("seed", "the Responses API takes no seed"));
    }
    if req.presence_penalty.is_some_and(|p| p != 0.0) {
        return Err(unsupported("presence_penalty", "the Responses API has no repetition penalties"));
    }
    if req.frequency_penalty.is_some_and(|p| p != 0.0) {
        return Err(unsupported("frequency_penalty", "the Responses API has no repetition penalties"));
    }
    if req.logprobs == Some(true) {
        return Err(unsupported("logprobs", "the Responses API returns log-probabilities only through `include`"));
    }
    Ok(())
}

/// The instructions. Developer instructions go out as they came from Codex and the Vercel AI
/// SDK: one `developer` message per part; others as `instructions` (the first text, as the
/// Agents SDK sends them) followed by a `system` message with the rest. Items kept whole among
/// them (Codex's `additional_tools`, in `additional` or as raw parts) go back in their place.
fn encode_system(
    req: &ChatRequest,
    additional: &[Value],
    input: &mut Vec<Value>,
) -> Result<Option<String>, EncodeError> {
    let (instructions, rest) = match req.system.split_first() {
        Some((Part::Text { text, .. }, rest)) if !req.system_is_developer => (Some(text.clone()), rest),
        _ => (None, req.system.as_slice()),
    };
    let role = if req.system_is_developer { "developer" } else { "system" };
    let mut content = Vec::new();
    let flush = |content: &mut Vec<Value>, input: &mut Vec<Value>| {
        if !content.is_empty() {
            input.push(json!({"type": "message", "role": role, "content": std::mem::take(content)}));
        }
    };
    let skipped = req.system.len() - rest.len();
    for k in 0..skipped {
        input.extend(items::placed(additional, "system", Some(k), req.system.len()));
    }
    for (k, part) in rest.iter().enumerate() {
        let placed: Vec<Value> = items::placed(additional, "system", Some(k + skipped), req.system.len()).collect();
        if !placed.is_empty() {
            flush(&mut content, input);
            input.extend(placed);
        }
        match part {
            Part::Raw { dialect: Dialect::OpenaiResponses, kind, value } if items::is_whole_item(kind) => {
                flush(&mut content, input);
                input.push(value.clone());
            }
            Part::Text { .. } | Part::Image { .. } | Part::Raw { .. } => {
                content.push(items::encode_part(part, false)?);
                if req.system_is_developer {
                    flush(&mut content, input);
                }
            }
            _ => return Err(unsupported("system", "instructions hold only text and images")),
        }
    }
    flush(&mut content, input);
    input.extend(items::placed(additional, "system", None, req.system.len()));
    Ok(instructions)
}
