//! Responses API top-level fields ⇄ canonical: reading the typed fields, `tools`,
//! `tool_choice`, `text` and `reasoning` of a request, what its response object repeats
//! (`echo`), and writing tools, tool choice and output format for OpenAI. Input items are
//! [`super::items`]', the request as a whole [`super::request`]'s.

use serde_json::{json, Map, Value};

use super::refuse::{invalid, wrong_type};
use super::tools::ToolSet;
use crate::{ChatRequest, DecodeError, EncodeError, ResponseFormat, Tool, ToolChoice};

/// A field's value, None when absent or null (OpenAI treats both as not sent).
pub(super) fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

pub(super) fn opt_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, DecodeError> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_type(key.into(), "a string", other)),
    }
}

pub(super) fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, DecodeError> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong_type(key.into(), "a boolean", other)),
    }
}

pub(super) fn opt_f64(obj: &Map<String, Value>, key: &str) -> Result<Option<f64>, DecodeError> {
    match present(obj, key) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| wrong_type(key.into(), "a decimal", v)),
    }
}

pub(super) fn opt_u64(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, DecodeError> {
    match present(obj, key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| wrong_type(key.into(), "a non-negative integer", v)),
    }
}

/// What a response object repeats of the request, with OpenAI's defaults for what was not sent.
pub(super) fn echo(
    obj: &Map<String, Value>,
    store: Option<bool>,
    previous_response_id: Option<&str>,
) -> Map<String, Value> {
    let sent = |key: &str, default: Value| present(obj, key).cloned().unwrap_or(default);
    let mut reasoning = match present(obj, "reasoning") {
        Some(Value::Object(r)) => r.clone(),
        _ => Map::new(),
    };
    reasoning.entry("effort").or_insert(Value::Null);
    reasoning.entry("summary").or_insert(Value::Null);
    let mut text = match present(obj, "text") {
        Some(Value::Object(t)) => t.clone(),
        _ => Map::new(),
    };
    if text.get("format").is_none_or(Value::is_null) {
        text.insert("format".into(), json!({"type": "text"}));
    }
    let mut echo = Map::new();
    echo.insert("instructions".into(), sent("instructions", Value::Null));
    echo.insert("max_output_tokens".into(), sent("max_output_tokens", Value::Null));
    echo.insert("parallel_tool_calls".into(), sent("parallel_tool_calls", json!(true)));
    echo.insert("previous_response_id".into(), json!(previous_response_id));
    echo.insert("reasoning".into(), Value::Object(reasoning));
    echo.insert("store".into(), json!(store.unwrap_or(true)));
    echo.insert("temperature".into(), sent("temperature", json!(1.0)));
    echo.insert("text".into(), Value::Object(text));
    echo.insert("tool_choice".into(), sent("tool_choice", json!("auto")));
    echo.insert("tools".into(), sent("tools", json!([])));
    echo.insert("top_p".into(), sent("top_p", json!(1.0)));
    echo.insert("truncation".into(), sent("truncation", json!("disabled")));
    echo.insert("user".into(), sent("user", Value::Null));
    echo.insert("metadata".into(), sent("metadata", json!({})));
    echo.insert("background".into(), sent("background", json!(false)));
    echo.insert("max_tool_calls".into(), sent("max_tool_calls", Value::Null));
    echo.insert("top_logprobs".into(), sent("top_logprobs", json!(0)));
    echo.insert("prompt_cache_key".into(), sent("prompt_cache_key", Value::Null));
    echo.insert("safety_identifier".into(), sent("safety_identifier", Value::Null));
    echo
}

/// Client-run tools (function, custom, namespace) are canonical ([`super::tools`]); with a
/// hosted tool (web search, file search, MCP, ...) among them the whole list also goes to
/// `extra["tools"]`, in the client's order, so another egress's refusal names the client's
/// own index (`tools[8].type`).
pub(super) fn decode_tools(obj: &Map<String, Value>, set: &ToolSet, req: &mut ChatRequest) -> Result<(), DecodeError> {
    let tools = match present(obj, "tools") {
        None => return Ok(()),
        Some(Value::Array(tools)) => tools,
        Some(other) => return Err(wrong_type("tools".into(), "an array", other)),
    };
    if super::tools::decode_list(tools, "tools", set, req)? {
        req.extra.insert("tools".into(), Value::Array(tools.clone()));
    }
    Ok(())
}

pub(super) fn decode_tool_choice(
    obj: &Map<String, Value>,
    set: &ToolSet,
    req: &mut ChatRequest,
) -> Result<(), DecodeError> {
    let Some(choice) = present(obj, "tool_choice") else { return Ok(()) };
    let bad = || {
        invalid(
            "Invalid 'tool_choice': expected 'none', 'auto', 'required', a function ({\"type\": \"function\", \
             \"name\": ...}), allowed tools or a hosted tool."
                .into(),
            "tool_choice".into(),
        )
    };
    // A custom tool is a function elsewhere; a namespaced one is named as its calls are.
    let function_name = |t: &Value| match (t.get("type").and_then(Value::as_str), t.get("name")) {
        (Some("function" | "custom"), Some(Value::String(n))) => {
            Some(set.canonical_name(t.get("namespace").and_then(Value::as_str), n))
        }
        _ => None,
    };
    req.tool_choice = Some(match choice {
        Value::String(s) => match s.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            _ => return Err(bad()),
        },
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function" | "custom") => ToolChoice::Named(function_name(choice).ok_or_else(bad)?),
            Some("allowed_tools") => {
                let required = match o.get("mode").and_then(Value::as_str) {
                    Some("required") => true,
                    Some("auto") => false,
                    _ => return Err(bad()),
                };
                let Some(tools) = o.get("tools").and_then(Value::as_array) else { return Err(bad()) };
                match tools.iter().map(function_name).collect::<Option<Vec<_>>>() {
                    Some(names) => ToolChoice::Allowed { names, required },
                    // Hosted tools among the allowed ones: only OpenAI can honour the choice.
                    None => {
                        req.extra.insert("tool_choice".into(), choice.clone());
                        return Ok(());
                    }
                }
            }
            Some(_) => {
                req.extra.insert("tool_choice".into(), choice.clone());
                return Ok(());
            }
            None => return Err(bad()),
        },
        _ => return Err(bad()),
    });
    // Canonical names it as a function; OpenAI gets a custom or namespaced tool's choice as sent.
    let names_client_tool = |t: &Value| t.get("type") == Some(&json!("custom")) || t.get("namespace").is_some();
    let listed = choice.get("tools").and_then(Value::as_array).into_iter().flatten();
    if names_client_tool(choice) || listed.into_iter().any(names_client_tool) {
        req.hints.insert("tool_choice".into(), choice.clone());
    }
    Ok(())
}

/// `text.format` → `response_format`; `text.verbosity` is a hint; anything else in `text` is
/// OpenAI's alone.
pub(super) fn decode_text(obj: &Map<String, Value>, req: &mut ChatRequest) -> Result<(), DecodeError> {
    let text = match present(obj, "text") {
        None => return Ok(()),
        Some(Value::Object(t)) => t,
        Some(other) => return Err(wrong_type("text".into(), "an object", other)),
    };
    let mut rest = Map::new();
    for (key, value) in text {
        match key.as_str() {
            "format" => req.response_format = decode_format(value)?,
            "verbosity" if !value.is_null() => {
                req.hints.insert("text".into(), json!({"verbosity": value}));
                req.hint_paths.push("text.verbosity".into());
            }
            _ if value.is_null() => {}
            _ => {
                rest.insert(key.clone(), value.clone());
            }
        }
    }
    if !rest.is_empty() {
        req.extra.insert("text".into(), Value::Object(rest));
    }
    Ok(())
}

fn decode_format(format: &Value) -> Result<Option<ResponseFormat>, DecodeError> {
    let f = match format {
        Value::Null => return Ok(None),
        Value::Object(f) => f,
        other => return Err(wrong_type("text.format".into(), "an object", other)),
    };
    let string = |key: &str, required: bool| match f.get(key) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => {
            Err(invalid(format!("Missing required parameter: 'text.format.{key}'."), format!("text.format.{key}")))
        }
        Some(other) => Err(wrong_type(format!("text.format.{key}"), "a string", other)),
    };
    match string("type", true)?.as_deref() {
        Some("text") => Ok(Some(ResponseFormat::Text)),
        Some("json_object") => Ok(Some(ResponseFormat::JsonObject)),
        Some("json_schema") => {
            let name = string("name", true)?.unwrap_or_default();
            let schema = match f.get("schema") {
                Some(s @ Value::Object(_)) => s.clone(),
                None | Some(Value::Null) => {
                    return Err(invalid(
                        "Missing required parameter: 'text.format.schema'.".into(),
                        "text.format.schema".into(),
                    ))
                }
                Some(other) => return Err(wrong_type("text.format.schema".into(), "an object", other)),
            };
            let strict = match f.get("strict") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(other) => return Err(wrong_type("text.format.strict".into(), "a boolean", other)),
            };
            Ok(Some(ResponseFormat::JsonSchema {
                name,
                description: string("description", false)?,
                schema: Some(schema),
                strict,
            }))
        }
        _ => Err(invalid(
            "Invalid value for 'text.format.type': expected 'text', 'json_object' or 'json_schema'.".into(),
            "text.format.type".into(),
        )),
    }
}

/// `reasoning.effort` → `reasoning_effort`; `reasoning.summary` and `reasoning.context` (which
/// turns' reasoning OpenAI keeps) are hints (the reply's summary is OpenAI's to write); anything
/// else in `reasoning` is OpenAI's alone.
pub(super) fn decode_reasoning(obj: &Map<String, Value>, req: &mut ChatRequest) -> Result<(), DecodeError> {
    let reasoning = match present(obj, "reasoning") {
        None => return Ok(()),
        Some(Value::Object(r)) => r,
        Some(other) => return Err(wrong_type("reasoning".into(), "an object", other)),
    };
    let mut hint = Map::new();
    let mut rest = Map::new();
    for (key, value) in reasoning {
        match (key.as_str(), value) {
            (_, Value::Null) => {}
            ("effort", Value::String(e)) => req.reasoning_effort = Some(e.clone()),
            ("effort", other) => return Err(wrong_type("reasoning.effort".into(), "a string", other)),
            ("summary" | "generate_summary" | "context", _) => {
                hint.insert(key.clone(), value.clone());
                req.hint_paths.push(format!("reasoning.{key}"));
            }
            _ => {
                rest.insert(key.clone(), value.clone());
            }
        }
    }
    if !hint.is_empty() {
        req.hints.insert("reasoning".into(), Value::Object(hint));
    }
    if !rest.is_empty() {
        req.extra.insert("reasoning".into(), Value::Object(rest));
    }
    Ok(())
}

// ---------- encoding ----------

pub(super) fn encode_tool(t: &Tool, same: bool) -> Value {
    let mut tool = Map::new();
    tool.insert("type".into(), json!("function"));
    tool.insert("name".into(), json!(t.name));
    if let Some(d) = &t.description {
        tool.insert("description".into(), json!(d));
    }
    match (&t.parameters, same) {
        (Some(p), _) => {
            tool.insert("parameters".into(), p.clone());
        }
        (None, true) => {}
        (None, false) => {
            tool.insert("parameters".into(), json!({"type": "object", "properties": {}}));
        }
    }
    match (t.strict, same) {
        (Some(s), _) => {
            tool.insert("strict".into(), json!(s));
        }
        (None, true) => {}
        // Other APIs' tools are not strict unless said; the Responses API's are.
        (None, false) => {
            tool.insert("strict".into(), json!(false));
        }
    }
    if same {
        for (key, value) in &t.hints {
            tool.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    Value::Object(tool)
}

pub(super) fn encode_tool_choice(c: &ToolChoice) -> Value {
    let function = |n: &str| json!({"type": "function", "name": n});
    match c {
        ToolChoice::None => json!("none"),
        ToolChoice::Auto => json!("auto"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Named(n) => function(n),
        ToolChoice::Allowed { names, required } => json!({
            "type": "allowed_tools",
            "mode": if *required { "required" } else { "auto" },
            "tools": names.iter().map(|n| function(n)).collect::<Vec<_>>(),
        }),
    }
}

pub(super) fn encode_format(f: Option<&ResponseFormat>) -> Result<Option<Value>, EncodeError> {
    Ok(Some(match f {
        None => return Ok(None),
        Some(ResponseFormat::Text) => json!({"type": "text"}),
        Some(ResponseFormat::JsonObject) => json!({"type": "json_object"}),
        Some(ResponseFormat::JsonSchema { schema: None, .. }) => {
            return Err(EncodeError::Unsupported {
                field: "response_format.json_schema.schema".into(),
                target: super::refuse::TARGET,
                reason: "the Responses API needs a schema".into(),
            })
        }
        Some(ResponseFormat::JsonSchema { name, description, schema: Some(schema), strict }) => {
            let mut format = Map::new();
            format.insert("type".into(), json!("json_schema"));
            format.insert("name".into(), json!(name));
            format.insert("schema".into(), schema.clone());
            if let Some(d) = description {
                format.insert("description".into(), json!(d));
            }
            if let Some(s) = strict {
                format.insert("strict".into(), json!(s));
            }
            Value::Object(format)
        }
    }))
}
