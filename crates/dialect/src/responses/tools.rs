//! Responses API tool lists ⇄ canonical tools: the client-run tools of a request (`function`,
//! freeform `custom`, and `namespace` groups of both) flattened into canonical `Tool`s any
//! provider can call, and [`ToolSet`], the map from a canonical tool name back to what the
//! Responses API calls it (the name, its namespace, function or custom), which the request
//! encoder and the reply encoders read. Hosted tools (`web_search`, ...) are not canonical; the
//! request decoder keeps them for OpenAI.
//!
//! Names: a namespaced tool is called on the wire by its own `name` with the group in the
//! call's `namespace` field (`{"type": "function_call", "name": "spawn_agent", "namespace":
//! "multi_agent_v1"}`), so its canonical name is its own name, unless another tool has that
//! name too; then it is `<namespace>__<name>` ([`qualified`]), which every provider accepts.
//! A custom tool takes free text; canonically it is a function of one string, `input`.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::refuse::{invalid, missing, wrong_type};
use crate::{ChatRequest, DecodeError, Tool};

/// Grammar definitions up to this size are shown to other providers' models in full.
const MAX_GRAMMAR_IN_DESCRIPTION: usize = 2048;

/// A custom tool's one argument on providers without freeform tools.
pub(super) const CUSTOM_INPUT: &str = "input";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Function,
    Custom,
}

/// One client-run tool as the Responses API names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// The tool's name in canonical (what other providers' models call).
    pub canonical: String,
    pub name: String,
    pub namespace: Option<String>,
    pub kind: Kind,
}

/// The name of a namespaced tool whose own name is not unique.
pub(super) fn qualified(namespace: &str, name: &str) -> String {
    format!("{namespace}__{name}")
}

/// Every client-run tool of a request, in the client's order (duplicates dropped).
#[derive(Debug, Clone, Default)]
pub(super) struct ToolSet {
    entries: Vec<Entry>,
}

impl ToolSet {
    /// From tool lists as a client sends them (the top-level `tools`, then the `tools` of each
    /// `additional_tools` item). Malformed entries are skipped: the decoder reports them.
    pub fn new<'a>(lists: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut found: Vec<(Option<String>, String, Kind)> = Vec::new();
        let mut push = |namespace: Option<&str>, tool: &Value| {
            let (Some(name), Some(kind)) = (tool.get("name").and_then(Value::as_str), kind_of(tool)) else { return };
            let key = (namespace.map(str::to_owned), name.to_owned(), kind);
            if !found.iter().any(|(ns, n, _)| *ns == key.0 && *n == key.1) {
                found.push(key);
            }
        };
        for tool in lists.into_iter().filter_map(Value::as_array).flatten() {
            match tool.get("type").and_then(Value::as_str) {
                Some("namespace") => {
                    let Some(ns) = tool.get("name").and_then(Value::as_str) else { continue };
                    for inner in tool.get("tools").and_then(Value::as_array).into_iter().flatten() {
                        push(Some(ns), inner);
                    }
                }
                _ => push(None, tool),
            }
        }
        let mut count: HashMap<&str, usize> = HashMap::new();
        for (_, name, _) in &found {
            *count.entry(name.as_str()).or_default() += 1;
        }
        let entries = found
            .iter()
            .map(|(namespace, name, kind)| {
                let canonical = match namespace {
                    Some(ns) if count[name.as_str()] > 1 => qualified(ns, name),
                    _ => name.clone(),
                };
                Entry { canonical, name: name.clone(), namespace: namespace.clone(), kind: *kind }
            })
            .collect();
        ToolSet { entries }
    }

    /// The tools a reply may call, from what the response object repeats of the request.
    pub fn from_echo(echo: &Map<String, Value>) -> Self {
        ToolSet::new([echo.get("tools"), echo.get(ECHO_ADDITIONAL_TOOLS)].into_iter().flatten())
    }

    /// The tool a canonical call names: by its canonical name, or `<namespace>__<name>` (what
    /// an OpenAI upstream's namespaced call decodes to).
    pub fn get(&self, canonical: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.canonical == canonical).or_else(|| {
            self.entries.iter().find(|e| e.namespace.as_deref().is_some_and(|ns| qualified(ns, &e.name) == canonical))
        })
    }

    /// The canonical name of a call the client sent back (`name`, and `namespace` if any). A
    /// call of no known tool keeps its name.
    pub fn canonical_name(&self, namespace: Option<&str>, name: &str) -> String {
        let found = self.entries.iter().find(|e| e.namespace.as_deref() == namespace && e.name == name);
        match (found, namespace) {
            (Some(e), _) => e.canonical.clone(),
            (None, Some(ns)) if self.entries.iter().any(|e| e.canonical == name) => qualified(ns, name),
            (None, _) => name.to_owned(),
        }
    }
}

/// The echo key under which the request decoder keeps the tools of `additional_tools` items
/// for the reply encoders; [`super::response::envelope`] never writes it.
pub(super) const ECHO_ADDITIONAL_TOOLS: &str = "switchyard_additional_tools";

fn kind_of(tool: &Value) -> Option<Kind> {
    match tool.get("type").and_then(Value::as_str)? {
        "function" => Some(Kind::Function),
        "custom" => Some(Kind::Custom),
        _ => None,
    }
}

/// Whether a tool runs on the client (a function, custom or namespace tool) rather than on
/// OpenAI's servers.
pub(super) fn is_client_tool(tool: &Value) -> bool {
    matches!(tool.get("type").and_then(Value::as_str), Some("function" | "custom" | "namespace"))
}

/// Appends the canonical tools of one tool list (`path`: where the client sent it, `tools` or
/// `input[0].tools`) to `req.tools`, skipping names already there (a conversation that repeats
/// its tools). Returns whether the list holds a hosted tool, which this leaves to the caller.
pub(super) fn decode_list(
    tools: &[Value],
    path: &str,
    set: &ToolSet,
    req: &mut ChatRequest,
) -> Result<bool, DecodeError> {
    let mut hosted = false;
    let mut seen: HashSet<String> = req.tools.iter().map(|t| t.name.clone()).collect();
    for (j, tool) in tools.iter().enumerate() {
        let at = format!("{path}[{j}]");
        let Some(obj) = tool.as_object() else {
            return Err(wrong_type(at, "a tool object", tool));
        };
        match type_field(obj, &at)? {
            "namespace" => {
                let namespace = name_field(obj, &at)?;
                let inner = match obj.get("tools") {
                    Some(Value::Array(inner)) => inner,
                    None | Some(Value::Null) => return Err(missing(format!("{at}.tools"))),
                    Some(other) => return Err(wrong_type(format!("{at}.tools"), "an array", other)),
                };
                for (k, t) in inner.iter().enumerate() {
                    let at = format!("{at}.tools[{k}]");
                    let Some(obj) = t.as_object() else { return Err(wrong_type(at, "a tool object", t)) };
                    let kind = type_field(obj, &at)?;
                    if kind != "function" && kind != "custom" {
                        return Err(invalid(
                            format!(
                                "Invalid value for '{at}.type': a namespace holds only 'function' and 'custom' tools."
                            ),
                            format!("{at}.type"),
                        ));
                    }
                    let canonical = set.canonical_name(Some(&namespace), &name_field(obj, &at)?);
                    let tool = client_tool(obj, kind, canonical, &at, &mut req.hint_paths)?;
                    push(req, &mut seen, tool);
                }
            }
            kind @ ("function" | "custom") => {
                let canonical = set.canonical_name(None, &name_field(obj, &at)?);
                let tool = client_tool(obj, kind, canonical, &at, &mut req.hint_paths)?;
                push(req, &mut seen, tool);
            }
            _ => hosted = true,
        }
    }
    Ok(hosted)
}

fn push(req: &mut ChatRequest, seen: &mut HashSet<String>, tool: Tool) {
    if seen.insert(tool.name.clone()) {
        req.tools.push(tool);
    }
}

fn type_field<'a>(obj: &'a Map<String, Value>, at: &str) -> Result<&'a str, DecodeError> {
    match obj.get("type") {
        Some(Value::String(kind)) => Ok(kind),
        None | Some(Value::Null) => Err(missing(format!("{at}.type"))),
        Some(other) => Err(wrong_type(format!("{at}.type"), "a string", other)),
    }
}

fn name_field(obj: &Map<String, Value>, at: &str) -> Result<String, DecodeError> {
    match obj.get("name") {
        Some(Value::String(n)) if !n.is_empty() => Ok(n.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(missing(format!("{at}.name"))),
        Some(other) => Err(wrong_type(format!("{at}.name"), "a string", other)),
    }
}

/// A function or custom tool as canonical; its unmodelled fields are hints, named in
/// `hint_paths`.
fn client_tool(
    t: &Map<String, Value>,
    kind: &str,
    name: String,
    at: &str,
    hint_paths: &mut Vec<String>,
) -> Result<Tool, DecodeError> {
    let param = |key: &str| format!("{at}.{key}");
    let description = match t.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(other) => return Err(wrong_type(param("description"), "a string", other)),
    };
    let mut hints = Map::new();
    let modelled: &[&str] = if kind == "custom" {
        &["type", "name", "description", "format"]
    } else {
        &["type", "name", "description", "parameters", "strict"]
    };
    for (key, value) in t {
        if !modelled.contains(&key.as_str()) {
            hints.insert(key.clone(), value.clone());
            hint_paths.push(param(key));
        }
    }
    if kind == "custom" {
        let format = match t.get("format") {
            None | Some(Value::Null) => None,
            Some(f @ Value::Object(_)) => Some(f),
            Some(other) => return Err(wrong_type(param("format"), "an object", other)),
        };
        let description = custom_description(description.as_deref(), format);
        let parameters = json!({
            "type": "object",
            "properties": {CUSTOM_INPUT: {"type": "string", "description": "The tool's input, as free text."}},
            "required": [CUSTOM_INPUT],
        });
        return Ok(Tool {
            name,
            description: Some(description),
            parameters: Some(parameters),
            strict: None,
            cache_control: None,
            hints,
        });
    }
    let parameters = match t.get("parameters") {
        None | Some(Value::Null) => None,
        Some(p @ Value::Object(_)) => Some(p.clone()),
        Some(other) => return Err(wrong_type(param("parameters"), "an object", other)),
    };
    let strict = match t.get("strict") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => return Err(wrong_type(param("strict"), "a boolean", other)),
    };
    Ok(Tool { name, description, parameters, strict, cache_control: None, hints })
}

/// A custom tool's description for a model that only has function tools: its own, then what
/// its `input` must be (the grammar itself when it is short).
fn custom_description(own: Option<&str>, format: Option<&Value>) -> String {
    let mut text = own.unwrap_or_default().trim_end().to_owned();
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(&format!("Call this tool with its raw input as the `{CUSTOM_INPUT}` string: free text, not JSON"));
    let field = |k: &str| format.and_then(|f| f.get(k)).and_then(Value::as_str);
    match (field("type"), field("syntax"), field("definition")) {
        (Some("grammar"), syntax, Some(definition)) => {
            let syntax = syntax.unwrap_or("grammar");
            if definition.len() <= MAX_GRAMMAR_IN_DESCRIPTION {
                text.push_str(&format!(", matching this {syntax} grammar:\n{}", definition.trim()));
            } else {
                text.push_str(&format!(", matching the tool's {syntax} grammar."));
            }
        }
        _ => text.push('.'),
    }
    text
}

/// A custom tool call's text from canonical arguments: the `input` string, else (a model that
/// did not write the object) the arguments as they are.
pub(super) fn custom_input(arguments: &str) -> String {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(mut o)) => match o.remove(CUSTOM_INPUT) {
            Some(Value::String(s)) => s,
            _ => arguments.to_owned(),
        },
        _ => arguments.to_owned(),
    }
}

/// A custom tool call's text as canonical arguments.
pub(super) fn custom_arguments(input: &str) -> String {
    json!({ CUSTOM_INPUT: input }).to_string()
}

/// The `function_call` or `custom_tool_call` item of a canonical call, without id or status.
pub(super) fn call_item(set: &ToolSet, id: &str, name: &str, arguments: &str) -> Value {
    let entry = set.get(name);
    let mut item = match entry {
        Some(e) if e.kind == Kind::Custom => {
            json!({"type": "custom_tool_call", "call_id": id, "name": e.name, "input": custom_input(arguments)})
        }
        Some(e) => json!({"type": "function_call", "call_id": id, "name": e.name, "arguments": arguments}),
        None => json!({"type": "function_call", "call_id": id, "name": name, "arguments": arguments}),
    };
    if let (Some(ns), Some(obj)) = (entry.and_then(|e| e.namespace.as_deref()), item.as_object_mut()) {
        obj.insert("namespace".into(), json!(ns));
    }
    item
}
