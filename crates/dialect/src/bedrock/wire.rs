//! Converse's JSON shapes, as serde structs. Request structs borrow from canonical values so a
//! request is serialized without copying its text; response structs own their data and keep
//! content blocks as `Value` so a block we do not model can be carried verbatim.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

// ---------- requests, as we send them ----------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutRequest<'a> {
    pub messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<OutBlock<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<OutInferenceConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<OutToolConfig<'a>>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub additional_model_request_fields: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_config: Option<Value>,
}

#[derive(Serialize)]
pub struct OutMessage<'a> {
    pub role: &'static str,
    pub content: Vec<OutBlock<'a>>,
}

/// A Converse `ContentBlock` (also a `SystemContentBlock` for `text` and `cachePoint`): an
/// object with exactly one member.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OutBlock<'a> {
    Text(&'a str),
    Image(OutImage<'a>),
    ToolUse(OutToolUse<'a>),
    ToolResult(OutToolResult<'a>),
    ReasoningContent(OutReasoning<'a>),
    CachePoint(OutCachePoint),
}

#[derive(Serialize)]
pub struct OutImage<'a> {
    pub format: &'static str,
    pub source: OutImageSource<'a>,
}

#[derive(Serialize)]
pub struct OutImageSource<'a> {
    /// Base64, as blobs travel in rest-json.
    pub bytes: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutToolUse<'a> {
    pub tool_use_id: &'a str,
    pub name: &'a str,
    pub input: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutToolResult<'a> {
    pub tool_use_id: &'a str,
    pub content: Vec<OutToolResultContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OutToolResultContent<'a> {
    Text(&'a str),
    Image(OutImage<'a>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OutReasoning<'a> {
    ReasoningText { text: &'a str, signature: &'a str },
    RedactedContent(&'a str),
}

#[derive(Serialize)]
pub struct OutCachePoint {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// None: the default (5 minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<&'static str>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct OutInferenceConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stop_sequences: &'a [String],
}

impl OutInferenceConfig<'_> {
    pub fn is_empty(&self) -> bool {
        self.max_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.stop_sequences.is_empty()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutToolConfig<'a> {
    pub tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OutTool<'a> {
    ToolSpec(OutToolSpec<'a>),
    CachePoint(OutCachePoint),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutToolSpec<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub input_schema: OutInputSchema<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

#[derive(Serialize)]
pub struct OutInputSchema<'a> {
    pub json: Cow<'a, Value>,
}

// ---------- responses, as Bedrock sends them ----------

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct InResponse {
    /// None: the field is missing, which only a broken upstream or a filtered reply sends.
    pub output: Option<InOutput>,
    pub stop_reason: Option<String>,
    pub usage: Option<InUsage>,
    pub service_tier: Option<InServiceTier>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InOutput {
    pub message: Option<InMessage>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InMessage {
    /// None: the field is missing (an empty answer is `[]`).
    pub content: Option<Vec<Value>>,
}

/// `inputTokens` excludes cache reads and writes, as at Anthropic.
#[derive(Deserialize, Default, Debug, Clone, Copy)]
#[serde(default, rename_all = "camelCase")]
pub struct InUsage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
    pub cache_write_input_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InServiceTier {
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

// ---------- stream event payloads ----------

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct InBlockStart {
    pub content_block_index: u32,
    pub start: Option<InStart>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct InStart {
    pub tool_use: Option<InToolUseStart>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct InToolUseStart {
    pub tool_use_id: String,
    pub name: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct InBlockDelta {
    pub content_block_index: u32,
    pub delta: InDelta,
}

/// One member is set; unknown members (`citation`, ...) leave all of these empty.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct InDelta {
    pub text: Option<String>,
    pub tool_use: Option<InToolUseDelta>,
    pub reasoning_content: Option<InReasoningDelta>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InToolUseDelta {
    pub input: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct InReasoningDelta {
    pub text: Option<String>,
    pub signature: Option<String>,
    pub redacted_content: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct InBlockStop {
    pub content_block_index: u32,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct InMessageStop {
    pub stop_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InMetadata {
    pub usage: Option<InUsage>,
}

/// The payload of an exception message and of an error body.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InException {
    pub message: Option<String>,
    #[serde(rename = "Message")]
    pub message_upper: Option<String>,
}
