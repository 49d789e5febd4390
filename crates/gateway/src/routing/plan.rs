//! Resolves a requested model name to candidate deployments: a configured alias, a direct
//! `provider/model` address, or a provider whose model patterns match the name.

use std::borrow::Cow;
use std::sync::Arc;

use dialect::{ClientFacingError, ErrorKind};

use crate::app::App;
use crate::config::Deployment;

/// Label for metrics when the request did not name an alias.
pub const DIRECT: &str = "direct";

pub struct Plan<'a> {
    /// The alias for metrics and logs: a configured name or [`DIRECT`].
    pub alias: Arc<str>,
    /// Deployments in the order they are tried.
    pub candidates: Cow<'a, [Deployment]>,
}

pub fn plan<'a>(app: &'a App, model: &str) -> Result<Plan<'a>, ClientFacingError> {
    if let Some(alias) = app.aliases.get(model) {
        return Ok(Plan { alias: alias.name.clone(), candidates: Cow::Borrowed(&alias.deployments) });
    }
    if let Some((provider, upstream_model)) = model.split_once('/') {
        if let Some(p) = app.config.providers.get(provider) {
            if !upstream_model.is_empty() {
                let d = Deployment { provider: p.clone(), model: upstream_model.into() };
                return Ok(Plan { alias: DIRECT.into(), candidates: Cow::Owned(vec![d]) });
            }
        }
    }
    let by_pattern: Vec<Deployment> = app
        .config
        .providers
        .values()
        .filter(|p| p.serves(model))
        .map(|p| Deployment { provider: p.clone(), model: model.into() })
        .collect();
    if !by_pattern.is_empty() {
        return Ok(Plan { alias: DIRECT.into(), candidates: Cow::Owned(by_pattern) });
    }
    Err(model_not_found(app, model))
}

fn model_not_found(app: &App, model: &str) -> ClientFacingError {
    let mut known: Vec<&str> = app.aliases.keys().map(String::as_str).collect();
    known.sort_unstable();
    let hint = match known.len() {
        0 => "No models are configured.".to_owned(),
        n if n <= 20 => format!("Available: {}.", known.join(", ")),
        n => format!("{n} models are available; GET /v1/models lists them."),
    };
    ClientFacingError::new(ErrorKind::NotFound, format!("The model `{model}` does not exist. {hint}"))
        .with_code("model_not_found")
        .with_param("model")
}
