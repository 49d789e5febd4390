//! The canonical request, response and stream-event types. Every ingress dialect decodes into
//! these and every egress dialect encodes from them; they belong to no vendor. Sends nothing,
//! reads no config.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Dialect;

/// A chat request as the gateway understands it, independent of the wire it arrived on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model the client asked for: an alias, `provider/model`, or `auto`.
    pub model: String,
    /// Leading system/developer instructions, in order.
    pub system: Vec<Part>,
    /// True when the client sent its instructions with the `developer` role.
    pub system_is_developer: bool,
    pub messages: Vec<Message>,
    /// None: the client set no cap.
    pub max_tokens: Option<u64>,
    /// Which OpenAI field carried the cap, so an OpenAI upstream gets the same one back.
    pub max_tokens_field: MaxTokensField,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    /// None: one choice.
    pub n: Option<u32>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub logprobs: Option<bool>,
    pub top_logprobs: Option<u32>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    pub reasoning_effort: Option<String>,
    /// An explicit token budget for reasoning (Anthropic `thinking.budget_tokens`, Gemini
    /// `thinkingBudget`). None: the client gave no budget. An ingress that sets it also sets
    /// `reasoning_effort` to the nearest level, so egresses that only take a level still get the
    /// intent; egresses that take a budget prefer this one.
    pub reasoning_budget_tokens: Option<u64>,
    pub user: Option<String>,
    pub stream: bool,
    /// The client asked for a usage event at the end of its stream.
    pub stream_include_usage: bool,
    /// Fields the ingress dialect does not model. Sent on only when the egress dialect is the
    /// same as `extra_dialect`; any other egress refuses them by name.
    pub extra: Map<String, Value>,
    /// The dialect `extra` (and any `Part::Raw`) came from.
    pub extra_dialect: Option<Dialect>,
    /// Top-level fields of `extra_dialect` that only tune that dialect's own service (Anthropic's
    /// `context_management`, the Responses API's `include` or `prompt_cache_key`): sent on to an
    /// egress of the same wire family, dropped by any other and reported ([`Egress::dropped`]).
    #[serde(default)]
    pub hints: Map<String, Value>,
    /// The client's paths of every hint, top-level and per tool (`context_management`,
    /// `tools[0].eager_input_streaming`), in the order the client sent them: what a reply names
    /// when the hints were dropped.
    #[serde(default)]
    pub hint_paths: Vec<String>,
    /// The client let the model decide how much to reason (Anthropic `thinking: {"type":
    /// "adaptive"}`). An egress with a dynamic budget uses it; others reason at their default.
    #[serde(default)]
    pub reasoning_adaptive: bool,
    /// The dialect whose upstream wrote the `Part::Reasoning` signatures and encrypted reasoning
    /// in `messages`, when the client said (a Responses client's `encrypted_content` tokens).
    /// Another wire family cannot read them: the gateway leaves them out when it sends the
    /// request there. None: unknown, each egress keeps what it can take.
    #[serde(default)]
    pub reasoning_origin: Option<Dialect>,
}

impl ChatRequest {
    /// The client's path of the first `extra` field, for a refusal to name: its key; inside an
    /// object that holds only what the decoder left over (`output_config.foo`,
    /// `stream_options.foo`), the first leftover key; in a list of tools, the first tool that is
    /// not canonical (kept whole, in the client's order): `tools[2].type` for a server tool,
    /// `tools[0].defer_loading` for a custom tool's unmodelled field.
    pub fn first_extra_field(&self) -> String {
        let Some((key, value)) = self.extra.iter().next() else { return String::new() };
        let bounded = |path: String| crate::truncate_for_echo(&path, crate::MAX_ERROR_FIELD_BYTES).into_owned();
        match (key.as_str(), value) {
            ("output_config" | "stream_options", Value::Object(rest)) => match rest.keys().next() {
                Some(sub) => bounded(format!("{key}.{sub}")),
                None => bounded(key.clone()),
            },
            ("tools", Value::Array(tools)) => {
                const PLAIN: &[&str] =
                    &["type", "name", "description", "input_schema", "cache_control", "strict", "function"];
                // A Responses API `namespace` groups client-run tools, which are canonical.
                let canonical = |t: &Value| {
                    let name = t.get("name").and_then(Value::as_str);
                    t.get("type").and_then(Value::as_str) == Some("namespace")
                        || self.tools.iter().any(|c| Some(c.name.as_str()) == name)
                };
                let Some((i, tool)) = tools.iter().enumerate().find(|(_, t)| !canonical(t)) else {
                    return bounded(key.clone());
                };
                let custom = matches!(tool.get("type").and_then(Value::as_str), None | Some("custom" | "function"));
                let unknown = tool.as_object().and_then(|o| o.keys().find(|k| !PLAIN.contains(&k.as_str())));
                match unknown {
                    Some(field) if custom => bounded(format!("tools[{i}].{field}")),
                    _ if !custom => format!("tools[{i}].type"),
                    _ => format!("tools[{i}]"),
                }
            }
            _ => bounded(key.clone()),
        }
    }
}

/// Why a verbatim part of another dialect cannot be sent to `api`: names what it is, from its
/// `type` (`a \`web_search_call\` item`), so a refusal that names only its path still says
/// what the client sent there.
pub fn raw_reason(value: &Value, api: &str) -> String {
    match value.get("type").and_then(Value::as_str) {
        Some(kind) => format!("a `{}` has no {api} equivalent", crate::truncate_for_echo(kind, 64)),
        None => format!("it has no {api} equivalent"),
    }
}

impl ChatRequest {
    /// Why the first `extra` field cannot be sent to `api` (see [`Self::first_extra_field`]): a
    /// tool that runs on its own provider's servers (OpenAI's `web_search`, Anthropic's
    /// `web_search_20250305`) is named with who runs it; any other field has no equivalent.
    pub fn extra_reason(&self, api: &str) -> String {
        let hosted = self.extra.get("tools").and_then(Value::as_array).and_then(|tools| {
            tools.iter().find_map(|t| {
                let kind = t.get("type").and_then(Value::as_str)?;
                (!matches!(kind, "custom" | "function" | "namespace")).then_some(kind)
            })
        });
        let runs_it = match self.extra_dialect {
            Some(Dialect::OpenaiResponses | Dialect::OpenaiChat) => "OpenAI and Azure OpenAI deployments",
            Some(Dialect::Anthropic | Dialect::AnthropicVertex) => "Anthropic",
            _ => "its own provider",
        };
        match hosted {
            Some(kind) if self.first_extra_field().starts_with("tools[") => format!(
                "`{}` is a tool that runs on its provider's servers, which only {runs_it} have; {api} has no equivalent",
                crate::truncate_for_echo(kind, 64)
            ),
            _ => format!("the field has no equivalent in {api}"),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MaxTokensField {
    #[default]
    MaxCompletionTokens,
    MaxTokens,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions that appear after the conversation has started.
    System,
    User,
    Assistant,
    /// Results of tool calls; its parts are `Part::ToolResult`.
    Tool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
    pub name: Option<String>,
    /// True when the client sent `content` as a plain string, so it can be echoed that way.
    #[serde(default)]
    pub content_was_string: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
        /// Anthropic-style prompt-cache marker, carried verbatim.
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Image {
        source: ImageSource,
        /// OpenAI's `detail` hint (`auto`, `low`, `high`).
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    ToolCall {
        id: String,
        name: String,
        /// The arguments as a JSON text, exactly as produced; it may not be valid JSON.
        arguments: String,
    },
    ToolResult {
        tool_call_id: String,
        content: Vec<Part>,
        is_error: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    Reasoning {
        text: String,
        /// Provider signature that must be sent back with the block in later turns.
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        /// Encrypted reasoning the provider returned instead of text.
        #[serde(skip_serializing_if = "Option::is_none")]
        redacted: Option<String>,
    },
    Refusal {
        text: String,
    },
    /// A part only the originating dialect can express (audio, files, ...), kept verbatim.
    Raw {
        dialect: Dialect,
        /// The field that carried it, to name in an error when another dialect cannot take it.
        kind: String,
        value: Value,
    },
}

impl Part {
    pub fn text(text: impl Into<String>) -> Self {
        Part::Text { text: text.into(), cache_control: None }
    }
}

/// A [`Part::ToolCall`]'s `arguments` as the JSON object Anthropic, Converse and Gemini take
/// tool input in (canonical keeps OpenAI's text). Empty or blank text means no arguments, `{}`.
/// None: the text is not a JSON object (a model can emit broken JSON); an encoder refuses it,
/// a reply encoder writes `{}`.
pub(crate) fn tool_input(arguments: &str) -> Option<Value> {
    if arguments.trim().is_empty() {
        return Some(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    Url { url: String },
    Base64 { media_type: String, data: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments. None: the function takes no arguments.
    pub parameters: Option<Value>,
    pub strict: Option<bool>,
    #[serde(default)]
    pub cache_control: Option<Value>,
    /// The tool's fields that only tune the client's own dialect's service (Anthropic's
    /// `eager_input_streaming`): sent on to the same wire family, dropped elsewhere (see
    /// [`ChatRequest::hints`]).
    #[serde(default)]
    pub hints: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    None,
    Auto,
    /// The model must call some tool.
    Required,
    /// The model must call this tool.
    Named(String),
    /// Only these tools may be called; `required` says whether one must be.
    Allowed {
        names: Vec<String>,
        required: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { name: String, description: Option<String>, schema: Option<Value>, strict: Option<bool> },
}

/// A complete (non-streamed) reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub id: String,
    /// The model that answered, as the provider named it.
    pub model: String,
    /// Unix seconds.
    pub created: u64,
    pub choices: Vec<Choice>,
    /// None: the provider did not report usage.
    pub usage: Option<Usage>,
    pub system_fingerprint: Option<String>,
    pub service_tier: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub index: u32,
    /// Text, reasoning, refusal and tool-call parts, in the order the model produced them.
    pub content: Vec<Part>,
    /// None: the provider gave no reason (the reply was cut short).
    pub finish_reason: Option<FinishReason>,
    /// The stop sequence that ended generation, when the provider says which.
    pub stop_sequence: Option<String>,
    /// Token log-probabilities in OpenAI's shape, when the provider returns them.
    pub logprobs: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    StopSequence,
    Length,
    ToolCalls,
    ContentFilter,
    /// The provider ended generation because of an error of its own.
    Error,
}

/// Token counts as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// All prompt tokens, cached and cache-written ones included.
    pub input_tokens: u64,
    /// All generated tokens, reasoning included.
    pub output_tokens: u64,
    /// None: the provider did not report it. Some(0): it reported zero.
    pub cached_input_tokens: Option<u64>,
    /// None: the provider did not report it.
    pub cache_write_tokens: Option<u64>,
    /// None: the provider did not report it.
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// One step of a streamed reply. Decoders emit these as soon as the upstream's bytes allow;
/// encoders turn each into zero or more client frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The reply has begun. Emitted once, before anything else.
    Start {
        id: String,
        model: String,
        created: u64,
        #[serde(default)]
        system_fingerprint: Option<String>,
    },
    TextDelta {
        choice: u32,
        text: String,
    },
    ReasoningDelta {
        choice: u32,
        text: String,
    },
    /// The signature of the reasoning block streamed so far.
    ReasoningSignature {
        choice: u32,
        signature: String,
    },
    RefusalDelta {
        choice: u32,
        text: String,
    },
    /// A tool call opens. `index` counts tool calls within the choice from 0.
    ToolCallStart {
        choice: u32,
        index: u32,
        id: String,
        name: String,
    },
    ToolCallDelta {
        choice: u32,
        index: u32,
        arguments: String,
    },
    Logprobs {
        choice: u32,
        logprobs: Value,
    },
    Finish {
        choice: u32,
        reason: FinishReason,
        #[serde(default)]
        stop_sequence: Option<String>,
    },
    Usage {
        usage: Usage,
    },
    /// Reasoning the provider returned encrypted rather than as text (OpenAI's
    /// `encrypted_content`, Anthropic's `redacted_thinking`); sent back as is in later turns.
    ReasoningRedacted {
        choice: u32,
        data: String,
    },
    /// An output item only the upstream's own dialect can express (a hosted tool's call and
    /// result), kept verbatim for an ingress of the same dialect; every other ingress skips it.
    RawItem {
        choice: u32,
        dialect: Dialect,
        value: Value,
    },
    /// The upstream reported an error after the stream began.
    Error {
        error: StreamError,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamError {
    pub kind: crate::ErrorKind,
    pub message: String,
}

/// An embeddings request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: EmbeddingInput,
    pub dimensions: Option<u32>,
    /// `float` or `base64`. None: the client did not say (float).
    pub encoding_format: Option<String>,
    pub user: Option<String>,
    pub extra: Map<String, Value>,
    pub extra_dialect: Option<Dialect>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<i64>),
    TokenBatches(Vec<Vec<i64>>),
}

impl Default for EmbeddingInput {
    fn default() -> Self {
        EmbeddingInput::Texts(Vec::new())
    }
}

impl EmbeddingInput {
    pub fn len(&self) -> usize {
        match self {
            EmbeddingInput::Text(_) | EmbeddingInput::Tokens(_) => 1,
            EmbeddingInput::Texts(v) => v.len(),
            EmbeddingInput::TokenBatches(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingResponse {
    pub model: String,
    pub data: Vec<Embedding>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    pub index: u32,
    pub vector: EmbeddingVector,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingVector {
    Float(Vec<f32>),
    /// Little-endian float32, base64-encoded, as the provider sent it.
    Base64(String),
}

/// An embedding with no numbers in it: what a broken upstream sends, never a real vector.
pub(crate) fn vector_is_empty(v: &EmbeddingVector) -> bool {
    match v {
        EmbeddingVector::Float(f) => f.is_empty(),
        EmbeddingVector::Base64(b) => b.is_empty(),
    }
}

impl StreamEvent {
    /// Whether the event is part of the reply itself (content, a finish reason, an error), as
    /// opposed to the framing around it (`Start`, `Usage`). A stream with none of these has
    /// said nothing.
    pub(crate) fn is_reply(&self) -> bool {
        !matches!(self, StreamEvent::Start { .. } | StreamEvent::Usage { .. })
    }
}
