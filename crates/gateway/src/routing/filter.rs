//! Which deployments may serve a request: the alias's policy (providers, regions,
//! zero data retention), narrowed — never widened — by the request, and the request's needs
//! (tools, images, JSON schema, context length). A request nothing can serve gets a 4xx that
//! says why.
//!
//! Reasoning is not a need: a request that asks for it may still go to a model that does not
//! reason, which gets it without the reasoning controls (see `Deployment::fit`). JSON schema
//! output is one wherever the catalog says the deployment cannot give it, natively or through
//! a forced tool (see `Catalog::complete`).

use dialect::{ChatRequest, ClientFacingError, ErrorKind, Part, ResponseFormat};
use serde_json::Value;

use super::estimate;
use crate::routing::Deployment;
use crate::routing::RoutePolicy;
use crate::upstream::provider_kind::glob_match;

/// What serving a request takes.
#[derive(Debug, Clone, Default)]
pub struct Needs {
    pub tools: bool,
    pub images: bool,
    pub json_schema: bool,
    pub prompt_tokens: u64,
    pub max_output: u64,
}

impl Needs {
    pub fn of(req: &ChatRequest) -> Needs {
        let images = req.messages.iter().flat_map(|m| &m.content).any(|p| matches!(p, Part::Image { .. }));
        Needs {
            tools: !req.tools.is_empty(),
            images,
            json_schema: matches!(req.response_format, Some(ResponseFormat::JsonSchema { .. })),
            prompt_tokens: estimate::prompt_tokens(req),
            max_output: req.max_tokens.unwrap_or(0),
        }
    }
}

/// A request's own narrowing of its choices: an OpenRouter-style `provider` object in the body
/// (`only`, `ignore`, `order`, `data_collection: "deny"`) and the `x-switchyard-providers` /
/// `x-switchyard-regions` headers. Applied after the alias's policy, so it can only narrow.
#[derive(Debug, Clone, Default)]
pub struct Narrowing {
    pub only: Option<Vec<String>>,
    pub ignore: Vec<String>,
    pub order: Option<Vec<String>>,
    pub regions: Option<Vec<String>>,
    pub zero_data_retention: bool,
    /// The calling key's own policy, applied on top of everything else.
    pub key_providers: Option<Vec<String>>,
    pub key_regions: Option<Vec<String>>,
}

impl Narrowing {
    pub fn limited_by_key(mut self, key: Option<&crate::keys::KeyRecord>) -> Narrowing {
        if let Some(k) = key {
            self.key_providers.clone_from(&k.allowed_providers);
            self.key_regions.clone_from(&k.allowed_regions);
        }
        self
    }

    /// Takes the `provider` object out of the request (it is for the gateway, not upstreams).
    pub fn take(req: &mut ChatRequest, headers: &http::HeaderMap) -> Result<Narrowing, ClientFacingError> {
        let mut n = Narrowing::default();
        if let Some(value) = req.extra.remove("provider") {
            let bad = |what: &str| {
                ClientFacingError::new(
                    ErrorKind::InvalidRequest,
                    format!("`provider.{what}` must be a list of provider names"),
                )
                .with_param(format!("provider.{what}"))
            };
            let Value::Object(obj) = value else {
                return Err(ClientFacingError::new(ErrorKind::InvalidRequest, "`provider` must be an object")
                    .with_param("provider"));
            };
            let list = |key: &str| -> Result<Option<Vec<String>>, ClientFacingError> {
                match obj.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| bad(key)))
                        .collect::<Result<Vec<_>, _>>()
                        .map(Some),
                    Some(_) => Err(bad(key)),
                }
            };
            n.only = list("only")?;
            n.ignore = list("ignore")?.unwrap_or_default();
            n.order = list("order")?;
            n.zero_data_retention = obj.get("data_collection").and_then(Value::as_str) == Some("deny")
                || obj.get("zdr").and_then(Value::as_bool) == Some(true);
        }
        let header_list = |name: http::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>())
        };
        if let Some(providers) = header_list(http::HeaderName::from_static("x-switchyard-providers")) {
            n.only = Some(match n.only.take() {
                Some(only) => only.into_iter().filter(|p| providers.contains(p)).collect(),
                None => providers,
            });
        }
        n.regions = header_list(http::HeaderName::from_static("x-switchyard-regions"));
        Ok(n)
    }
}

/// Keeps the deployments the policy and the request allow and that can serve the request.
pub fn eligible(
    alias: &str,
    policy: &RoutePolicy,
    narrowing: &Narrowing,
    needs: &Needs,
    deployments: Vec<Deployment>,
) -> Result<Vec<Deployment>, ClientFacingError> {
    let mut refused: Vec<String> = Vec::new();
    let mut largest_window: Option<u64> = None;
    let mut kept = Vec::with_capacity(deployments.len());
    for d in deployments {
        match why_not(policy, narrowing, needs, &d) {
            None => kept.push(d),
            Some(Refusal::Window(w)) => {
                largest_window = largest_window.max(Some(w));
                refused.push(format!(
                    "{}: the prompt (~{} tokens) and output do not fit its {w}-token window",
                    d.label(),
                    needs.prompt_tokens
                ));
            }
            Some(Refusal::Other(reason)) => refused.push(format!("{}: {reason}", d.label())),
        }
    }
    if kept.is_empty() {
        let detail = refused.join("; ");
        let mut err = ClientFacingError::new(
            ErrorKind::InvalidRequest,
            format!("No deployment of `{alias}` may serve this request. {detail}."),
        )
        .with_code("no_eligible_deployment");
        if largest_window.is_some() && refused.iter().all(|r| r.contains("window")) {
            err = err.with_code("context_length_exceeded").with_param("messages");
        }
        return Err(err);
    }
    Ok(kept)
}

enum Refusal {
    Window(u64),
    Other(String),
}

fn why_not(policy: &RoutePolicy, narrowing: &Narrowing, needs: &Needs, d: &Deployment) -> Option<Refusal> {
    let p = &d.provider;
    let other = |s: String| Some(Refusal::Other(s));
    if let Some(allowed) = &policy.allowed_providers {
        if !allowed.iter().any(|g| glob_match(g, &p.name)) {
            return other(format!("provider `{}` is not among the alias's allowed providers", p.name));
        }
    }
    if let Some(allowed) = &narrowing.key_providers {
        if !allowed.iter().any(|g| glob_match(g, &p.name)) {
            return other(format!("provider `{}` is not among the key's allowed providers", p.name));
        }
    }
    for (regions, whose) in [
        (&policy.allowed_regions, "the alias's"),
        (&narrowing.regions, "the request's"),
        (&narrowing.key_regions, "the key's"),
    ] {
        if let Some(regions) = regions {
            let region = p.region.as_deref().unwrap_or("");
            if !regions.iter().any(|g| glob_match(g, region)) {
                return other(format!(
                    "region `{}` is outside {whose} allowed regions {}",
                    if region.is_empty() { "unknown" } else { region },
                    regions.join(", ")
                ));
            }
        }
    }
    if (policy.zero_data_retention || narrowing.zero_data_retention) && !p.zero_data_retention {
        return other(format!("provider `{}` is not under zero data retention", p.name));
    }
    if let Some(only) = &narrowing.only {
        if !only.iter().any(|o| *o == *p.name) {
            return other(format!("the request limits providers to {}", only.join(", ")));
        }
    }
    if narrowing.ignore.iter().any(|o| *o == *p.name) {
        return other("the request ignores this provider".to_owned());
    }
    let caps = &d.settings.capabilities;
    if needs.tools && caps.tools == Some(false) {
        return other("it does not support tools".to_owned());
    }
    if needs.images && caps.images == Some(false) {
        return other("it does not take images".to_owned());
    }
    if needs.json_schema && caps.json_schema == Some(false) {
        return other("it does not support JSON schema output".to_owned());
    }
    if let Some(window) = caps.context_window {
        let output = needs.max_output.max(1).min(caps.max_output.unwrap_or(u64::MAX));
        if needs.prompt_tokens.saturating_add(output) > window {
            return Some(Refusal::Window(window));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use dialect::{Message, Role};

    use super::*;
    use crate::routing::catalog::Catalog;
    use crate::routing::health::HealthRegistry;
    use crate::routing::DeploymentSettings;
    use crate::upstream::provider_kind::ProviderKind;

    fn deployment(kind: ProviderKind, kind_name: &str, model: &str) -> Deployment {
        let provider = Arc::new(crate::upstream::Provider::for_tests(kind_name, kind));
        let settings = Catalog::embedded().complete(kind_name, model, DeploymentSettings::default());
        Deployment::new(provider, model, settings, &HealthRegistry::default())
    }

    fn request(response_format: Option<ResponseFormat>, reasoning_effort: Option<&str>) -> ChatRequest {
        ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::text("hi")],
                name: None,
                content_was_string: true,
            }],
            response_format,
            reasoning_effort: reasoning_effort.map(str::to_owned),
            ..Default::default()
        }
    }

    fn kept(req: &ChatRequest, deployments: Vec<Deployment>) -> Result<Vec<String>, ClientFacingError> {
        let needs = Needs::of(req);
        eligible("a", &RoutePolicy::default(), &Narrowing::default(), &needs, deployments)
            .map(|ds| ds.iter().map(|d| d.model.to_string()).collect())
    }

    #[test]
    fn json_schema_reaches_claude_everywhere_and_converse_models_that_take_a_forced_tool() {
        let schema = Some(ResponseFormat::JsonSchema {
            name: "x".into(),
            description: None,
            schema: Some(serde_json::json!({"type": "object"})),
            strict: None,
        });
        let all = || {
            vec![
                deployment(ProviderKind::Bedrock, "bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
                deployment(ProviderKind::Bedrock, "bedrock", "amazon.nova-pro-v1:0"),
                deployment(ProviderKind::Anthropic, "anthropic", "claude-3-5-haiku"),
                deployment(ProviderKind::Anthropic, "anthropic", "claude-opus-4-1"),
                deployment(ProviderKind::Bedrock, "bedrock", "meta.llama3-3-70b-instruct-v1:0"),
            ]
        };
        let got = kept(&request(schema, None), all());
        assert_eq!(
            got.as_deref().ok(),
            Some(
                &[
                    "us.anthropic.claude-sonnet-4-5-20250929-v1:0".to_owned(),
                    "amazon.nova-pro-v1:0".into(),
                    "claude-3-5-haiku".into(),
                    "claude-opus-4-1".into(),
                ][..]
            ),
            "Llama on Converse takes no forced tool"
        );
        assert_eq!(kept(&request(Some(ResponseFormat::JsonObject), None), all()).map(|k| k.len()).ok(), Some(5));
    }

    #[test]
    fn a_reasoning_request_keeps_deployments_that_do_not_reason() {
        let ds = vec![
            deployment(ProviderKind::Openai, "openai", "gpt-4o"),
            deployment(ProviderKind::Openai, "openai", "gpt-5"),
        ];
        assert_eq!(ds[0].settings.capabilities.reasoning, Some(false));
        assert_eq!(ds[1].settings.capabilities.reasoning, Some(true));
        assert_eq!(kept(&request(None, Some("high")), ds).map(|k| k.len()).ok(), Some(2));
    }
}
