//! The Gemini reply as it arrives (lowerCamelCase JSON). Every field is optional: chunks of a
//! stream carry only what changed, and unknown fields are ignored.

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InResponse {
    pub candidates: Vec<InCandidate>,
    pub prompt_feedback: Option<InPromptFeedback>,
    pub usage_metadata: Option<InUsage>,
    pub model_version: Option<String>,
    pub response_id: Option<String>,
    /// A mid-stream failure arrives as an error object in the body.
    pub error: Option<crate::google::Status>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InCandidate {
    pub index: Option<u32>,
    pub content: Option<InContent>,
    pub finish_reason: Option<String>,
    pub logprobs_result: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InContent {
    pub parts: Vec<InPart>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InPart {
    pub text: Option<String>,
    pub thought: Option<bool>,
    pub thought_signature: Option<String>,
    pub function_call: Option<InFunctionCall>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InFunctionCall {
    pub id: Option<String>,
    pub name: String,
    pub args: Option<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InPromptFeedback {
    pub block_reason: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InUsage {
    pub prompt_token_count: Option<u64>,
    pub candidates_token_count: Option<u64>,
    pub cached_content_token_count: Option<u64>,
    pub thoughts_token_count: Option<u64>,
    pub tool_use_prompt_token_count: Option<u64>,
}
