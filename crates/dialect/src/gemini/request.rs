//! Canonical request → `generateContent` body.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::SKIP_SIGNATURE;
use crate::canonical::tool_input;
use crate::{ChatRequest, EncodeError, ImageSource, Part, ResponseFormat, Role, ToolChoice};

const TARGET: &str = "Google Gemini";

fn unsupported(field: impl Into<String>, reason: &str) -> EncodeError {
    EncodeError::Unsupported { field: field.into(), target: TARGET, reason: reason.to_owned() }
}

pub fn encode(req: &ChatRequest) -> Result<Vec<u8>, EncodeError> {
    if !req.extra.is_empty() {
        // No client dialect's unmodelled fields are Gemini fields.
        return Err(unsupported(req.first_extra_field(), &req.extra_reason("the Gemini API")));
    }
    let mut system: Vec<Value> = Vec::new();
    for (i, part) in req.system.iter().enumerate() {
        system.push(text_only(part, &format!("system[{i}]"))?);
    }
    let mut contents: Vec<(String, Vec<Value>)> = Vec::new();
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for (m, message) in req.messages.iter().enumerate() {
        let at = |p: usize| format!("messages[{m}].content[{p}]");
        let (role, parts) = match message.role {
            Role::System => {
                // Gemini has one system instruction; later instructions join it, in order.
                for (p, part) in message.content.iter().enumerate() {
                    system.push(text_only(part, &at(p))?);
                }
                continue;
            }
            Role::User => ("user", user_parts(&message.content, &at)?),
            Role::Assistant => ("model", model_parts(&message.content, &at, &mut call_names)?),
            Role::Tool => ("user", tool_result_parts(&message.content, &at, &call_names)?),
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            // Consecutive turns of one role merge: results of parallel calls share one turn.
            Some((last, existing)) if last == role => existing.extend(parts),
            _ => contents.push((role.to_owned(), parts)),
        }
    }
    let mut body = Map::new();
    body.insert(
        "contents".into(),
        contents.into_iter().map(|(role, parts)| json!({"role": role, "parts": parts})).collect(),
    );
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if !req.tools.is_empty() && req.tool_choice != Some(ToolChoice::None) {
        let declarations: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.name});
                if let Some(desc) = &t.description {
                    d["description"] = json!(desc);
                }
                if let Some(params) = &t.parameters {
                    d["parametersJsonSchema"] = params.clone();
                }
                d
            })
            .collect();
        body.insert("tools".into(), json!([{"functionDeclarations": declarations}]));
    }
    if let Some(choice) = &req.tool_choice {
        let config = match choice {
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Named(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
            ToolChoice::Allowed { names, required } => {
                json!({"mode": if *required { "ANY" } else { "AUTO" }, "allowedFunctionNames": names})
            }
        };
        if !req.tools.is_empty() {
            body.insert("toolConfig".into(), json!({"functionCallingConfig": config}));
        }
    }
    let generation = generation_config(req);
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    crate::json::to_body(&body).map_err(|e| unsupported("request", &e.to_string()))
}

fn generation_config(req: &ChatRequest) -> Map<String, Value> {
    let mut g = Map::new();
    let mut put = |k: &str, v: Value| {
        g.insert(k.into(), v);
    };
    if let Some(t) = req.temperature {
        put("temperature", json!(t));
    }
    if let Some(p) = req.top_p {
        put("topP", json!(p));
    }
    if let Some(k) = req.top_k {
        put("topK", json!(k));
    }
    if let Some(m) = req.max_tokens {
        put("maxOutputTokens", json!(m));
    }
    if !req.stop.is_empty() {
        put("stopSequences", json!(req.stop));
    }
    if let Some(n) = req.n {
        put("candidateCount", json!(n));
    }
    if let Some(s) = req.seed {
        put("seed", json!(s));
    }
    if let Some(p) = req.presence_penalty {
        put("presencePenalty", json!(p));
    }
    if let Some(f) = req.frequency_penalty {
        put("frequencyPenalty", json!(f));
    }
    if req.logprobs == Some(true) {
        put("responseLogprobs", json!(true));
        if let Some(top) = req.top_logprobs {
            put("logprobs", json!(top));
        }
    }
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => put("responseMimeType", json!("application/json")),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            put("responseMimeType", json!("application/json"));
            if let Some(schema) = schema {
                put("responseJsonSchema", schema.clone());
            }
        }
        Some(ResponseFormat::Text) | None => {}
    }
    if let Some(budget) = thinking_budget(req) {
        put("thinkingConfig", json!({"thinkingBudget": budget, "includeThoughts": budget != 0}));
    }
    g
}

/// `thinkingBudget`: the client's own budget; -1 (dynamic: the model decides) for adaptive
/// thinking; else the effort's budget. Levels above `high` (`xhigh`, Anthropic's `max`) get
/// 24,576, the most every Gemini 2.5 model takes. None: the model's default.
fn thinking_budget(req: &ChatRequest) -> Option<i64> {
    if let Some(budget) = req.reasoning_budget_tokens {
        return Some(i64::try_from(budget).unwrap_or(i64::MAX));
    }
    if req.reasoning_adaptive {
        return Some(-1);
    }
    req.reasoning_effort.as_deref().map(|effort| match effort {
        "none" | "minimal" => 0,
        "low" => 1_024,
        "high" | "xhigh" | "max" => 24_576,
        _ => 8_192,
    })
}

/// What Gemini leaves out without changing the answer: another dialect's hints, and
/// `cache_control` markers (Gemini caches implicitly, or through cached contents made apart).
pub(crate) fn dropped(req: &ChatRequest) -> Vec<String> {
    let mut out = req.hint_paths.clone();
    if crate::claude::carries_cache_control(req) && !out.iter().any(|p| p == "cache_control") {
        out.push("cache_control".into());
    }
    out
}

fn text_only(part: &Part, at: &str) -> Result<Value, EncodeError> {
    match part {
        Part::Text { text, .. } => Ok(json!({"text": text})),
        _ => Err(unsupported(at.to_owned(), "Gemini's system instruction takes only text")),
    }
}

fn user_parts(parts: &[Part], at: &dyn Fn(usize) -> String) -> Result<Vec<Value>, EncodeError> {
    let mut out = Vec::new();
    for (p, part) in parts.iter().enumerate() {
        match part {
            Part::Text { text, .. } if text.is_empty() => {}
            Part::Text { text, .. } => out.push(json!({"text": text})),
            Part::Image { source: ImageSource::Base64 { media_type, data }, .. } => {
                out.push(json!({"inlineData": {"mimeType": media_type, "data": data}}));
            }
            Part::Image { source: ImageSource::Url { url }, .. } => {
                let Some(mime) = mime_from_url(url) else {
                    return Err(unsupported(
                        format!("{}.image_url", at(p)),
                        "Gemini takes images as inline data or files; send the image as a base64 data URL",
                    ));
                };
                out.push(json!({"fileData": {"mimeType": mime, "fileUri": url}}));
            }
            other => return Err(inexpressible(other, &at(p))),
        }
    }
    Ok(out)
}

fn model_parts<'a>(
    parts: &'a [Part],
    at: &dyn Fn(usize) -> String,
    call_names: &mut HashMap<&'a str, &'a str>,
) -> Result<Vec<Value>, EncodeError> {
    let mut out: Vec<Value> = Vec::new();
    let mut pending_signature: Option<&str> = None;
    let mut first_call = true;
    for (p, part) in parts.iter().enumerate() {
        let mut value = match part {
            // A signature with no text belongs to the part that follows it.
            Part::Reasoning { text, signature, .. } if text.is_empty() => {
                pending_signature = signature.as_deref();
                continue;
            }
            Part::Reasoning { text, signature, .. } => {
                let mut v = json!({"text": text, "thought": true});
                if let Some(sig) = signature {
                    v["thoughtSignature"] = json!(sig);
                }
                out.push(v);
                continue;
            }
            Part::Text { text, .. } | Part::Refusal { text } if text.is_empty() => continue,
            Part::Text { text, .. } | Part::Refusal { text } => json!({"text": text}),
            Part::ToolCall { id, name, arguments } => {
                call_names.insert(id, name);
                let args = tool_input(arguments).ok_or_else(|| {
                    unsupported(format!("{}.arguments", at(p)), "tool-call arguments must be a JSON object")
                })?;
                let mut v = json!({"functionCall": {"name": name, "args": args}});
                // Gemini 3 needs a signature on the first call of a turn; without the real one,
                // the documented placeholder.
                if first_call && pending_signature.is_none() {
                    v["thoughtSignature"] = json!(SKIP_SIGNATURE);
                }
                first_call = false;
                v
            }
            other => return Err(inexpressible(other, &at(p))),
        };
        if let Some(sig) = pending_signature.take() {
            value["thoughtSignature"] = json!(sig);
        }
        out.push(value);
    }
    Ok(out)
}

fn tool_result_parts(
    parts: &[Part],
    at: &dyn Fn(usize) -> String,
    call_names: &HashMap<&str, &str>,
) -> Result<Vec<Value>, EncodeError> {
    let mut out = Vec::new();
    for (p, part) in parts.iter().enumerate() {
        let Part::ToolResult { tool_call_id, content, is_error, .. } = part else {
            return Err(inexpressible(part, &at(p)));
        };
        let Some(name) = call_names.get(tool_call_id.as_str()) else {
            return Err(unsupported(
                format!("{}.tool_call_id", at(p)),
                "Gemini matches tool results to calls by name, and no earlier call has this id",
            ));
        };
        let mut text = String::new();
        for (c, inner) in content.iter().enumerate() {
            match inner {
                Part::Text { text: t, .. } => text.push_str(t),
                other => return Err(inexpressible(other, &format!("{}.content[{c}]", at(p)))),
            }
        }
        // The response must be an object; JSON results keep their structure.
        let result = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
        let key = if *is_error { "error" } else { "output" };
        out.push(json!({"functionResponse": {"name": name, "response": {key: result}}}));
    }
    Ok(out)
}

fn inexpressible(part: &Part, at: &str) -> EncodeError {
    let what = match part {
        // A kind that is already the client's path (`input[3]`) is named as it is.
        Part::Raw { kind, value, .. } if kind.contains('[') => {
            return unsupported(kind.clone(), &crate::canonical::raw_reason(value, "Gemini"))
        }
        Part::Raw { kind, .. } => return unsupported(at.to_owned(), &format!("a {kind} has no Gemini equivalent")),
        Part::Image { .. } => "an image in this role",
        Part::ToolCall { .. } => "a tool call outside an assistant turn",
        Part::ToolResult { .. } => "a tool result outside a tool turn",
        _ => "this content in this role",
    };
    unsupported(at.to_owned(), &format!("Gemini cannot take {what}"))
}

fn mime_from_url(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url).to_ascii_lowercase();
    let ext = path.rsplit('.').next()?;
    Some(match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    })
}
