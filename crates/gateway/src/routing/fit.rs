//! A request fitted to one deployment before it is encoded: what the deployment's model cannot
//! take but need not refuse the request is left out or brought within its limits — reasoning
//! controls for a model that does not reason, reasoning written by another provider, a
//! `max_tokens` above the model's maximum output. The request is copied only when something
//! changes.

use std::borrow::Cow;

use dialect::{ChatRequest, Dialect, Part};

use super::Deployment;

impl Deployment {
    /// `req` as `egress` on this deployment should receive it.
    pub fn fit<'a>(&self, req: &'a ChatRequest, egress: Dialect) -> Cow<'a, ChatRequest> {
        let caps = &self.settings.capabilities;
        let no_reasoning = caps.reasoning == Some(false)
            && (req.reasoning_effort.is_some() || req.reasoning_budget_tokens.is_some() || req.reasoning_adaptive);
        let foreign_reasoning = req.reasoning_origin.is_some_and(|from| from.wire_family() != egress.wire_family())
            && req.messages.iter().flat_map(|m| &m.content).any(|p| matches!(p, Part::Reasoning { .. }));
        let clamp = match (req.max_tokens, caps.max_output) {
            (Some(asked), Some(max)) if asked > max => Some(max),
            _ => None,
        };
        let keep_reasoning = egress == Dialect::OpenaiResponses
            && caps.reasoning == Some(true)
            && req.extra_dialect == Some(Dialect::OpenaiResponses)
            && !includes_encrypted_reasoning(req);
        if !no_reasoning && !foreign_reasoning && clamp.is_none() && !keep_reasoning {
            return Cow::Borrowed(req);
        }
        let mut fitted = req.clone();
        if no_reasoning {
            fitted.reasoning_effort = None;
            fitted.reasoning_budget_tokens = None;
            fitted.reasoning_adaptive = false;
        }
        if foreign_reasoning {
            // Signatures and encrypted reasoning are readable only by the provider that wrote them.
            for m in &mut fitted.messages {
                m.content.retain(|p| !matches!(p, Part::Reasoning { .. }));
            }
            fitted.messages.retain(|m| !m.content.is_empty());
        }
        if let Some(max) = clamp {
            fitted.max_tokens = Some(max);
        }
        if keep_reasoning {
            // The gateway keeps conversations itself and sends OpenAI `store: false`; without its
            // encrypted reasoning in the reply, the next turn would go without it.
            let include = fitted.hints.entry("include").or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let serde_json::Value::Array(items) = include {
                items.push(serde_json::Value::String(ENCRYPTED_REASONING.into()));
            }
        }
        Cow::Owned(fitted)
    }
}

/// What the Responses API's `include` names to return a reasoning model's encrypted reasoning.
const ENCRYPTED_REASONING: &str = "reasoning.encrypted_content";

/// Whether a Responses API client already asked for encrypted reasoning (or sent an `include`
/// the gateway should not touch: one that is not a list).
fn includes_encrypted_reasoning(req: &ChatRequest) -> bool {
    match req.hints.get("include") {
        None => false,
        Some(serde_json::Value::Array(items)) => items.iter().any(|i| i == ENCRYPTED_REASONING),
        Some(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use dialect::{Message, Role};

    use super::*;
    use crate::routing::health::HealthRegistry;
    use crate::routing::{Capabilities, DeploymentSettings};
    use crate::upstream::provider_kind::ProviderKind;

    fn deployment(caps: Capabilities) -> Deployment {
        let kind = ProviderKind::OpenaiCompatible;
        let provider = Arc::new(crate::upstream::Provider::for_tests("p", kind));
        let settings = DeploymentSettings { capabilities: caps, ..DeploymentSettings::default() };
        Deployment::new(provider, "m", settings, &HealthRegistry::default())
    }

    fn user(text: &str) -> Message {
        Message { role: Role::User, content: vec![Part::text(text)], name: None, content_was_string: true }
    }

    #[test]
    fn a_request_that_fits_is_not_copied() {
        let d = deployment(Capabilities { max_output: Some(100), reasoning: Some(true), ..Default::default() });
        let req = ChatRequest { max_tokens: Some(50), reasoning_effort: Some("high".into()), ..Default::default() };
        assert!(matches!(d.fit(&req, Dialect::OpenaiChat), Cow::Borrowed(_)));
    }

    #[test]
    fn max_tokens_is_clamped_and_reasoning_left_out_for_a_model_without_it() {
        let d = deployment(Capabilities { max_output: Some(4096), reasoning: Some(false), ..Default::default() });
        let req = ChatRequest {
            max_tokens: Some(32_000),
            reasoning_effort: Some("high".into()),
            reasoning_budget_tokens: Some(10_000),
            reasoning_adaptive: true,
            ..Default::default()
        };
        let fitted = d.fit(&req, Dialect::OpenaiChat);
        assert_eq!(fitted.max_tokens, Some(4096));
        assert_eq!((fitted.reasoning_effort.as_deref(), fitted.reasoning_budget_tokens), (None, None));
        assert!(!fitted.reasoning_adaptive);
    }

    #[test]
    fn a_reasoning_model_behind_the_responses_api_returns_its_encrypted_reasoning() {
        let d = deployment(Capabilities { reasoning: Some(true), ..Default::default() });
        let mut req = ChatRequest { extra_dialect: Some(Dialect::OpenaiResponses), ..Default::default() };
        req.hints.insert("include".into(), serde_json::json!([]));
        let fitted = d.fit(&req, Dialect::OpenaiResponses);
        assert_eq!(fitted.hints["include"], serde_json::json!(["reasoning.encrypted_content"]));
        let asked = fitted.into_owned();
        assert!(matches!(d.fit(&asked, Dialect::OpenaiResponses), Cow::Borrowed(_)), "asked already");
        assert!(matches!(d.fit(&req, Dialect::OpenaiChat), Cow::Borrowed(_)), "only the Responses API has it");
        let plain = deployment(Capabilities { reasoning: Some(false), ..Default::default() });
        assert!(
            matches!(plain.fit(&req, Dialect::OpenaiResponses), Cow::Borrowed(_)),
            "nor a model that does not reason"
        );
    }

    #[test]
    fn reasoning_written_by_another_provider_is_left_out() {
        let d = deployment(Capabilities::default());
        let thinking = Part::Reasoning { text: "hmm".into(), signature: Some("sig".into()), redacted: None };
        let req = ChatRequest {
            messages: vec![
                user("hi"),
                Message {
                    role: Role::Assistant,
                    content: vec![thinking.clone()],
                    name: None,
                    content_was_string: false,
                },
                Message {
                    role: Role::Assistant,
                    content: vec![thinking, Part::text("answer")],
                    name: None,
                    content_was_string: false,
                },
            ],
            reasoning_origin: Some(Dialect::Anthropic),
            ..Default::default()
        };
        let to_openai = d.fit(&req, Dialect::OpenaiChat);
        assert_eq!(to_openai.messages.len(), 2, "the reasoning-only turn goes, the answer stays");
        assert_eq!(to_openai.messages[1].content, vec![Part::text("answer")]);
        assert!(matches!(d.fit(&req, Dialect::AnthropicVertex), Cow::Borrowed(_)), "same wire family keeps it");
    }
}
