//! Resolves a requested model name to candidate deployments — a configured alias, a direct
//! `provider/model` address, a provider whose model patterns match, or `auto` — then keeps only
//! those the policy allows and that can serve the request, and orders them by the alias's
//! strategy, health and prompt-cache affinity. In-memory only: microseconds, no network.

use std::sync::Arc;

use dialect::{ChatRequest, ClientFacingError, ErrorKind};

use super::filter::{self, Narrowing, Needs};
use super::order;
use crate::app::App;
use crate::routing::{Deployment, DeploymentSettings};
use crate::routing::{RoutePolicy, Strategy, Tier};

/// Label for metrics when the request did not name an alias.
pub const DIRECT: &str = "direct";
/// The model name that asks the gateway to choose.
pub const AUTO: &str = "auto";

pub struct Plan {
    /// The alias for metrics and logs: a configured name, `auto` or [`DIRECT`].
    pub alias: Arc<str>,
    pub policy: Arc<RoutePolicy>,
    /// Deployments in the order they are tried.
    pub candidates: Vec<Deployment>,
    /// The request's shared-prefix key, when it is long enough to be worth caching.
    pub affinity_key: Option<u64>,
}

/// The deployments a model name stands for, before filtering and ordering.
pub struct Resolved {
    pub alias: Arc<str>,
    pub policy: Arc<RoutePolicy>,
    pub deployments: Vec<Deployment>,
}

pub fn resolve(app: &App, model: &str) -> Result<Resolved, ClientFacingError> {
    let resolved = |alias: Arc<str>, policy: Arc<RoutePolicy>, deployments| Ok(Resolved { alias, policy, deployments });
    if let Some(alias) = app.aliases.get(model) {
        return resolved(alias.name.clone(), alias.policy.clone(), alias.deployments.clone());
    }
    if let Some((provider, upstream_model)) = model.split_once('/') {
        if let Some(p) = app.config.providers.get(provider) {
            if !upstream_model.is_empty() {
                check_upstream_model(p, upstream_model)?;
                let d = direct_deployment(app, p, upstream_model);
                return resolved(DIRECT.into(), Arc::default(), vec![d]);
            }
        }
    }
    if model == AUTO || model.starts_with("auto:") {
        let policy = RoutePolicy { strategy: Strategy::Cost, ..Default::default() };
        return resolved(AUTO.into(), Arc::new(policy), auto_pool(app, model)?);
    }
    let by_pattern = app
        .config
        .providers
        .values()
        .filter(|p| p.serves(model))
        .map(|p| check_upstream_model(p, model).map(|()| direct_deployment(app, p, model)))
        .collect::<Result<Vec<Deployment>, _>>()?;
    if !by_pattern.is_empty() {
        return resolved(DIRECT.into(), Arc::default(), by_pattern);
    }
    Err(model_not_found(app, model))
}

/// The whole route for a chat request: eligible deployments, best first.
pub fn route(app: &App, req: &ChatRequest, narrowing: &Narrowing) -> Result<Plan, ClientFacingError> {
    let mut plan = route_model(app, &req.model, &Needs::of(req), narrowing)?;
    if plan.policy.affinity {
        plan.affinity_key = app.affinity.key(req);
        if let Some(key) = plan.affinity_key {
            app.affinity.prefer(key, &mut plan.candidates, app.config.health.now_ms());
        }
    }
    Ok(plan)
}

/// The route for a request that needs nothing but the model (embeddings): the same policy,
/// key limits and strategy as chat.
pub fn route_model(app: &App, model: &str, needs: &Needs, narrowing: &Narrowing) -> Result<Plan, ClientFacingError> {
    let Resolved { alias, policy, deployments } = resolve(app, model)?;
    let eligible = filter::eligible(&alias, &policy, narrowing, needs, deployments)?;
    let now = app.config.health.now_ms();
    let mut candidates = order::by_strategy(policy.strategy, eligible, now, needs);
    if candidates.is_empty() {
        return Err(ClientFacingError::new(
            ErrorKind::RateLimited,
            format!("Every deployment of `{alias}` is at its concurrency limit; retry shortly."),
        )
        .with_code("deployments_busy"));
    }
    if let Some(preferred) = narrowing.order.as_deref() {
        order::prefer_providers(&mut candidates, preferred);
    }
    Ok(Plan { alias, policy, candidates, affinity_key: None })
}

/// A deployment for a model addressed by name, with what the catalog knows of it.
fn direct_deployment(app: &App, provider: &Arc<crate::upstream::Provider>, model: &str) -> Deployment {
    let settings = app.config.catalog.complete(provider.kind.name(), model, DeploymentSettings::default());
    Deployment::new(provider.clone(), model, settings, &app.config.health)
}

/// Every deployment with a known price and at least the requested tier (`auto:frontier`;
/// `auto` alone means standard), once each.
fn auto_pool(app: &App, model: &str) -> Result<Vec<Deployment>, ClientFacingError> {
    let wanted = match model.strip_prefix("auto:") {
        Some(t) => Tier::parse(t).ok_or_else(|| {
            ClientFacingError::new(
                ErrorKind::InvalidRequest,
                format!("`{model}`: the tier must be small, standard or frontier"),
            )
            .with_param("model")
        })?,
        None => Tier::Standard,
    };
    let mut seen = std::collections::HashSet::new();
    let pool: Vec<Deployment> = app
        .config
        .aliases
        .values()
        .flat_map(|a| a.deployments.iter())
        .filter(|d| d.settings.prices.is_some() && d.settings.tier.is_some_and(|t| t >= wanted))
        .filter(|d| seen.insert(d.label()))
        .cloned()
        .collect();
    if pool.is_empty() {
        return Err(ClientFacingError::new(
            ErrorKind::NotFound,
            "`auto` found no deployment with a price and a tier at least as high as asked; set `input_price`, `output_price` and `tier` on deployments",
        )
        .with_code("model_not_found")
        .with_param("model"));
    }
    Ok(pool)
}

/// A model name from a request that will reach a provider as its model id: refused when it
/// could change the meaning of the provider's URL (a `..` segment, `?`, `#`, a `/` where the id
/// is a path segment) or is no plausible id at all. Escaping happens too; this is the second
/// fence, and it gives the client a clear 400 instead of a provider's 404.
fn check_upstream_model(provider: &crate::upstream::Provider, model: &str) -> Result<(), ClientFacingError> {
    let problem = dialect::check_model_id(model).err().or_else(|| {
        (model.contains('/') && !provider.allows_slash_in(model))
            .then_some("it contains `/`, which this provider's model ids cannot")
    });
    match problem {
        None => Ok(()),
        Some(why) => Err(ClientFacingError::new(
            ErrorKind::InvalidRequest,
            format!("The model `{}` is not a valid model id: {why}.", crate::error::echo(model)),
        )
        .with_code("invalid_model")
        .with_param("model")),
    }
}

pub fn model_not_found(app: &App, model: &str) -> ClientFacingError {
    let mut known: Vec<&str> = app.aliases.keys().map(String::as_str).collect();
    known.sort_unstable();
    let hint = match known.len() {
        0 => "No models are configured.".to_owned(),
        n if n <= 20 => format!("Available: {}.", known.join(", ")),
        n => format!("{n} models are available; GET /v1/models lists them."),
    };
    ClientFacingError::new(
        ErrorKind::NotFound,
        format!("The model `{}` does not exist. {hint}", crate::error::echo(model)),
    )
    .with_code("model_not_found")
    .with_param("model")
}
