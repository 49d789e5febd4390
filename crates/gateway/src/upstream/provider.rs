//! A provider as the request path sees it: its kind and dialect, base URL, credentials and
//! headers, and the URL of each operation for one of its models.

use std::sync::Arc;

use dialect::Dialect;
use http::{HeaderName, HeaderValue};

use super::auth::Auth;
use super::provider_kind::{glob_match, ProviderKind};

#[derive(Debug)]
pub struct Provider {
    pub name: Arc<str>,
    pub kind: ProviderKind,
    pub dialect: Dialect,
    /// Without a trailing slash.
    pub base_url: String,
    pub auth: Auth,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub region: Option<String>,
    pub model_patterns: Vec<String>,
    /// Azure OpenAI's `api-version`; `v1` selects the versionless `/openai/v1` API.
    pub api_version: Option<String>,
    /// Under a zero-data-retention agreement; policy can require it.
    pub zero_data_retention: bool,
}

/// Azure's GA data-plane version, used when the config names none.
pub const AZURE_DEFAULT_API_VERSION: &str = "2024-10-21";

impl Provider {
    /// The dialect this provider speaks for one of its models: a cloud that hosts several
    /// vendors' models (Vertex AI) speaks each vendor's own.
    pub fn dialect_for(&self, model: &str) -> Dialect {
        match self.kind {
            ProviderKind::Vertex if model.starts_with("claude") => Dialect::AnthropicVertex,
            ProviderKind::Vertex => Dialect::Gemini,
            _ => self.dialect,
        }
    }

    /// The dialect a chat request goes out in: a client of the Responses API reaches OpenAI and
    /// Azure in that API itself, so hosted tools, encrypted reasoning and `include` survive;
    /// everyone else, and every other provider, gets the provider's own dialect.
    pub fn chat_dialect_for(&self, model: &str, client: Option<Dialect>) -> Dialect {
        match (self.kind, client) {
            (ProviderKind::Openai | ProviderKind::Azure, Some(Dialect::OpenaiResponses)) => Dialect::OpenaiResponses,
            _ => self.dialect_for(model),
        }
    }

    /// The full URL of one operation for one upstream model.
    pub fn url(&self, model: &str, op: dialect::Operation) -> String {
        self.url_in(self.dialect_for(model), model, op)
    }

    /// The full URL of one operation for one upstream model, in `dialect`.
    pub fn url_in(&self, dialect: Dialect, model: &str, op: dialect::Operation) -> String {
        let path = dialect.egress().path(model, op);
        match self.kind {
            // The Responses API exists on Azure only in the v1 form (the deployment is the
            // body's `model`), whatever `api_version` the chat deployments use.
            ProviderKind::Azure if dialect == Dialect::OpenaiResponses => {
                azure_url(&self.base_url, Some("v1"), model, &path)
            }
            ProviderKind::Azure => azure_url(&self.base_url, self.api_version.as_deref(), model, &path),
            // Vertex serves Google's own models under the `google` publisher.
            ProviderKind::Vertex if dialect == Dialect::Gemini => format!("{}/publishers/google{path}", self.base_url),
            _ => format!("{}{path}", self.base_url),
        }
    }

    /// Whether a model id with `/` can be this provider's: yes where the id travels in the body
    /// (OpenAI-style servers name models `org/model`), no where it is a path segment (Azure,
    /// Gemini, Vertex, Bedrock), except Bedrock's inference-profile ARNs, escaped as one segment.
    pub fn allows_slash_in(&self, model: &str) -> bool {
        let in_path = self.kind == ProviderKind::Azure
            || matches!(self.dialect_for(model), Dialect::Gemini | Dialect::Bedrock | Dialect::AnthropicVertex);
        !in_path || model.starts_with("arn:")
    }

    /// A provider of `kind` named `name` serving every model at an address nothing listens on,
    /// for unit tests of what is decided before anything is sent.
    #[cfg(test)]
    pub(crate) fn for_tests(name: &str, kind: ProviderKind) -> Provider {
        Provider {
            name: name.into(),
            kind,
            dialect: kind.dialect(),
            base_url: "http://127.0.0.1:9".into(),
            auth: super::auth::Auth::None,
            headers: Vec::new(),
            region: None,
            model_patterns: vec!["*".into()],
            api_version: None,
            zero_data_retention: false,
        }
    }

    pub fn serves(&self, model: &str) -> bool {
        self.model_patterns.iter().any(|p| glob_match(p, model))
    }
}

/// Azure's classic form puts the deployment in the path and requires `api-version`; the v1 form
/// is OpenAI's own paths under `/openai/v1`, with the deployment as the body's `model`.
pub(crate) fn azure_url(base: &str, version: Option<&str>, deployment: &str, path: &str) -> String {
    if base.ends_with("/openai/v1") {
        return format!("{base}{path}");
    }
    match version {
        Some("v1") => format!("{base}/openai/v1{path}"),
        v => {
            let segment = dialect::encode_path_segment(deployment);
            format!("{base}/openai/deployments/{segment}{path}?api-version={}", v.unwrap_or(AZURE_DEFAULT_API_VERSION))
        }
    }
}
