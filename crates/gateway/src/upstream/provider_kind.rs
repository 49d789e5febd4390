//! The provider kinds Switchyard knows by name: their dialect, default URL, the environment
//! variables that configure them, and the model names they usually serve.

use dialect::Dialect;
use http::HeaderName;
use serde::Deserialize;

use super::Auth;
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    /// Azure OpenAI: `base_url` is the resource endpoint; deployments are the model names.
    Azure,
    /// The Google Gemini API (AI Studio keys).
    Gemini,
    /// Google Vertex AI: Gemini and Anthropic models, OAuth from a service account.
    Vertex,
    /// AWS Bedrock Runtime (Converse): SigV4 or a Bedrock API key; `region` picks the endpoint.
    Bedrock,
    /// Any server that speaks OpenAI Chat Completions; `base_url` is required.
    OpenaiCompatible,
    Xai,
    Mistral,
    Groq,
    Deepseek,
    Together,
    Fireworks,
    Openrouter,
    Ollama,
    Llamacpp,
    Vllm,
    Lmstudio,
}

/// How a kind is found in the environment.
pub struct EnvSpec {
    pub key_var: &'static str,
    pub base_url_var: &'static str,
}

impl ProviderKind {
    pub const CLOUD: [ProviderKind; 11] = [
        ProviderKind::Openai,
        ProviderKind::Anthropic,
        ProviderKind::Azure,
        ProviderKind::Gemini,
        ProviderKind::Xai,
        ProviderKind::Mistral,
        ProviderKind::Groq,
        ProviderKind::Deepseek,
        ProviderKind::Together,
        ProviderKind::Fireworks,
        ProviderKind::Openrouter,
    ];
    pub const LOCAL: [ProviderKind; 4] =
        [ProviderKind::Ollama, ProviderKind::Llamacpp, ProviderKind::Vllm, ProviderKind::Lmstudio];

    pub fn dialect(self) -> Dialect {
        match self {
            ProviderKind::Anthropic => Dialect::Anthropic,
            ProviderKind::Vertex => Dialect::AnthropicVertex,
            ProviderKind::Bedrock => Dialect::Bedrock,
            ProviderKind::Gemini => Dialect::Gemini,
            _ => Dialect::OpenaiChat,
        }
    }

    /// How this kind's API key travels.
    pub fn auth(self, key: Secret) -> Auth {
        match self {
            ProviderKind::Anthropic => Auth::Header(HeaderName::from_static("x-api-key"), key),
            ProviderKind::Azure => Auth::Header(HeaderName::from_static("api-key"), key),
            ProviderKind::Gemini => Auth::Header(HeaderName::from_static("x-goog-api-key"), key),
            _ => Auth::Bearer(key),
        }
    }

    /// Headers every request to this kind carries unless the config sets them.
    pub fn default_headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ProviderKind::Anthropic => &[("anthropic-version", "2023-06-01")],
            _ => &[],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Azure => "azure",
            ProviderKind::Vertex => "vertex",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Bedrock => "bedrock",
            ProviderKind::OpenaiCompatible => "openai_compatible",
            ProviderKind::Xai => "xai",
            ProviderKind::Mistral => "mistral",
            ProviderKind::Groq => "groq",
            ProviderKind::Deepseek => "deepseek",
            ProviderKind::Together => "together",
            ProviderKind::Fireworks => "fireworks",
            ProviderKind::Openrouter => "openrouter",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Llamacpp => "llamacpp",
            ProviderKind::Vllm => "vllm",
            ProviderKind::Lmstudio => "lmstudio",
        }
    }

    pub fn default_base_url(self) -> Option<&'static str> {
        Some(match self {
            ProviderKind::Openai => "https://api.openai.com/v1",
            // Without `/v1`, as the Anthropic SDKs write it (ANTHROPIC_BASE_URL).
            ProviderKind::Anthropic => "https://api.anthropic.com",
            ProviderKind::OpenaiCompatible | ProviderKind::Azure | ProviderKind::Vertex | ProviderKind::Bedrock => {
                return None
            }
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com/v1beta",
            ProviderKind::Xai => "https://api.x.ai/v1",
            ProviderKind::Mistral => "https://api.mistral.ai/v1",
            ProviderKind::Groq => "https://api.groq.com/openai/v1",
            ProviderKind::Deepseek => "https://api.deepseek.com/v1",
            ProviderKind::Together => "https://api.together.xyz/v1",
            ProviderKind::Fireworks => "https://api.fireworks.ai/inference/v1",
            ProviderKind::Openrouter => "https://openrouter.ai/api/v1",
            ProviderKind::Ollama => "http://127.0.0.1:11434/v1",
            ProviderKind::Llamacpp => "http://127.0.0.1:8080/v1",
            ProviderKind::Vllm => "http://127.0.0.1:8000/v1",
            ProviderKind::Lmstudio => "http://127.0.0.1:1234/v1",
        })
    }

    /// The variables the official SDKs and tools use for this provider.
    pub fn env(self) -> Option<EnvSpec> {
        let (key_var, base_url_var) = match self {
            ProviderKind::Openai => ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
            ProviderKind::Anthropic => ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
            // The endpoint is required; discovery skips Azure without it.
            ProviderKind::Azure => ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"),
            ProviderKind::Gemini => ("GEMINI_API_KEY", "GEMINI_BASE_URL"),
            ProviderKind::Xai => ("XAI_API_KEY", "XAI_BASE_URL"),
            ProviderKind::Mistral => ("MISTRAL_API_KEY", "MISTRAL_BASE_URL"),
            ProviderKind::Groq => ("GROQ_API_KEY", "GROQ_BASE_URL"),
            ProviderKind::Deepseek => ("DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL"),
            ProviderKind::Together => ("TOGETHER_API_KEY", "TOGETHER_BASE_URL"),
            ProviderKind::Fireworks => ("FIREWORKS_API_KEY", "FIREWORKS_BASE_URL"),
            ProviderKind::Openrouter => ("OPENROUTER_API_KEY", "OPENROUTER_BASE_URL"),
            ProviderKind::Ollama => ("OLLAMA_API_KEY", "OLLAMA_BASE_URL"),
            ProviderKind::Llamacpp => ("LLAMACPP_API_KEY", "LLAMACPP_BASE_URL"),
            ProviderKind::Vllm => ("VLLM_API_KEY", "VLLM_BASE_URL"),
            ProviderKind::Lmstudio => ("LMSTUDIO_API_KEY", "LMSTUDIO_BASE_URL"),
            // Vertex and Bedrock are found from their clouds' own variables (see discovery).
            ProviderKind::OpenaiCompatible | ProviderKind::Vertex | ProviderKind::Bedrock => return None,
        };
        Some(EnvSpec { key_var, base_url_var })
    }

    /// Model-name patterns this provider serves by default, so `"gpt-4o"` reaches OpenAI
    /// without an alias. Hosts that serve many vendors' models have none: address them as
    /// `provider/model`.
    pub fn default_model_patterns(self) -> &'static [&'static str] {
        match self {
            ProviderKind::Openai => {
                &["gpt-*", "o1*", "o3*", "o4*", "chatgpt-*", "text-embedding-*", "codex-*", "computer-use-*"]
            }
            ProviderKind::Anthropic => &["claude-*"],
            ProviderKind::Vertex => &["gemini-*", "claude-*"],
            ProviderKind::Gemini => &["gemini-*", "gemma-*", "learnlm-*"],
            // Bedrock ids name their vendor (`anthropic.…`), with a region prefix for
            // cross-region inference profiles (`us.anthropic.…`), or are ARNs.
            ProviderKind::Bedrock => &[
                "anthropic.*",
                "*.anthropic.*",
                "amazon.*",
                "*.amazon.*",
                "meta.*",
                "*.meta.*",
                "mistral.*",
                "*.mistral.*",
                "cohere.*",
                "*.cohere.*",
                "deepseek.*",
                "*.deepseek.*",
                "ai21.*",
                "writer.*",
                "*.writer.*",
                "openai.*",
                "qwen.*",
                "arn:aws:bedrock:*",
            ],
            ProviderKind::Xai => &["grok-*"],
            ProviderKind::Mistral => {
                &["mistral-*", "codestral-*", "ministral-*", "pixtral-*", "magistral-*", "devstral-*", "open-mistral-*"]
            }
            ProviderKind::Deepseek => &["deepseek-*"],
            _ => &[],
        }
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('*') else {
        return pattern == name;
    };
    let Some(mut tail) = name.strip_prefix(head) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('*').collect();
    let Some((last, middle)) = parts.split_last() else {
        return true;
    };
    for p in middle {
        match tail.find(p) {
            Some(i) => tail = &tail[i + p.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("gpt-*", "gpt-4o"));
        assert!(!glob_match("gpt-*", "claude"));
        assert!(glob_match("*", "x"));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(!glob_match("a*b*c", "aXbY"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("ab*ba", "aba"));
    }
}
