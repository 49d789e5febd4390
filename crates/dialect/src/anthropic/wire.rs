//! Anthropic's JSON shapes, as serde structs. Decoding structs own their data and keep content
//! blocks as `Value` so that a block we do not model can be carried verbatim; encoding structs
//! borrow from canonical values so a request is serialized without copying its text.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

// ---------- requests, as clients send them ----------

#[derive(Debug, Deserialize)]
pub struct InRequest {
    pub model: String,
    /// Required by Anthropic; an `Option` so that its absence is reported by name.
    pub max_tokens: Option<u64>,
    pub messages: Vec<InMessage>,
    pub system: Option<InContent>,
    pub stop_sequences: Option<Vec<String>>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stream: Option<bool>,
    pub tools: Option<Vec<Value>>,
    pub tool_choice: Option<Value>,
    pub thinking: Option<Value>,
    pub metadata: Option<Map<String, Value>>,
    pub output_config: Option<Map<String, Value>>,
    /// Everything else (`service_tier`, `container`, `mcp_servers`, `cache_control`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct InMessage {
    pub role: String,
    pub content: InContent,
}

/// `content` (and `system`): a plain string is shorthand for one text block.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum InContent {
    Text(String),
    Blocks(Vec<Value>),
}

// ---------- requests, as we send them ----------

#[derive(Serialize)]
pub struct OutRequest<'a> {
    pub model: &'a str,
    pub max_tokens: u64,
    pub messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<OutContent<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_config: Option<Map<String, Value>>,
    /// Same-dialect fields passed through unchanged. Never holds a key named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Serialize)]
pub struct OutMessage<'a> {
    pub role: &'static str,
    pub content: OutContent<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum OutContent<'a> {
    Text(&'a str),
    Blocks(Vec<OutBlock<'a>>),
}

/// One content block; `Raw` is a block we carried verbatim from an Anthropic client.
#[derive(Serialize)]
#[serde(untagged)]
pub enum OutBlock<'a> {
    Known(KnownBlock<'a>),
    Raw(&'a Value),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KnownBlock<'a> {
    Text {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    Image {
        source: OutImageSource<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<OutContent<'a>>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutImageSource<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

/// A tool definition: a canonical function tool, or a tool carried verbatim from an Anthropic
/// client (server tools such as `web_search_20250305`, or custom tools with fields we do not model).
#[derive(Serialize)]
#[serde(untagged)]
pub enum OutTool<'a> {
    Custom(OutCustomTool<'a>),
    Raw(&'a Value),
}

#[derive(Serialize)]
pub struct OutCustomTool<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub input_schema: std::borrow::Cow<'a, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<&'a Value>,
    /// The tool's hints from an Anthropic client (`eager_input_streaming`), sent back as they came.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub hints: Option<&'a Map<String, Value>>,
}

// ---------- responses, as upstreams send them ----------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InResponse {
    pub id: String,
    pub model: String,
    /// None: the field is missing, which no real reply does (an empty answer is `[]`).
    pub content: Option<Vec<Value>>,
    pub stop_reason: Option<String>,
    pub stop_sequence: Option<String>,
    pub usage: Option<InUsage>,
}

/// Usage as Anthropic reports it, in a message and in stream events. In `message_delta` every
/// field is optional and cumulative: a present field replaces the earlier value.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct InUsage {
    /// Prompt tokens that were neither read from nor written to the cache.
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
    pub output_tokens_details: Option<InOutputDetails>,
    pub service_tier: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct InOutputDetails {
    pub thinking_tokens: Option<u64>,
}

// ---------- responses, as we send them to clients ----------

#[derive(Serialize)]
pub struct OutResponse<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub model: &'a str,
    pub content: Vec<OutBlock<'a>>,
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<&'a str>,
    pub usage: OutUsage<'a>,
}

#[derive(Serialize, Default)]
pub struct OutUsage<'a> {
    /// Prompt tokens that were neither read from nor written to the cache.
    pub input_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    pub output_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<&'a str>,
}
