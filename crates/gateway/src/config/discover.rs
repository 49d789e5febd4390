//! Zero-config start: a [`Config`] built from the standard environment variables (the ones
//! the official SDKs read) and from local model servers answering on their default ports.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::cloud;
use super::resolve::DEFAULT_LISTEN;
use super::{Config, Timeouts};
use crate::env::Env;
use crate::routing::catalog::Catalog;
use crate::routing::health::HealthRegistry;
use crate::routing::{Alias, Deployment, DeploymentSettings};
use crate::secret::Secret;
use crate::upstream::auth::aws::AwsCredentials;
use crate::upstream::auth::oauth::TokenSource;
use crate::upstream::{Auth, Provider, ProviderKind};

/// What discovery found, for the start-up banner.
pub struct Discovery {
    pub config: Config,
    pub found: Vec<String>,
}

/// How long a local server gets to answer before it is taken as absent.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

pub async fn discover(env: &(dyn Env + Sync)) -> Discovery {
    let mut providers = BTreeMap::new();
    let mut found = Vec::new();
    for kind in ProviderKind::CLOUD {
        let Some(spec) = kind.env() else { continue };
        // The Gemini SDKs also read GOOGLE_API_KEY.
        let fallback = (kind == ProviderKind::Gemini).then_some("GOOGLE_API_KEY");
        let Some((key, from)) =
            std::iter::once(spec.key_var).chain(fallback).find_map(|var| env.var(var).map(|k| (k, var)))
        else {
            continue;
        };
        // Kinds without a default URL (Azure) need theirs in the environment.
        let Some(base_url) = env.var(spec.base_url_var).or_else(|| kind.default_base_url().map(Into::into)) else {
            continue;
        };
        found.push(format!("{} at {} (from {from})", kind.name(), base_url));
        let mut p = provider(kind, base_url, kind.auth(Secret::new(key)));
        if kind == ProviderKind::Azure {
            // The variable the official OpenAI SDK's Azure client reads.
            if let (Some(p), Some(v)) = (Arc::get_mut(&mut p), env.var("OPENAI_API_VERSION")) {
                p.api_version = Some(v);
            }
        }
        providers.insert(kind.name().to_owned(), p);
    }

    if let Some((p, line)) = discover_bedrock(env) {
        found.push(line);
        providers.insert(p.name.to_string(), Arc::new(p));
    }
    if let Some((p, line)) = discover_vertex(env) {
        found.push(line);
        providers.insert(p.name.to_string(), Arc::new(p));
    }

    let health = Arc::new(HealthRegistry::default());
    let catalog = Arc::new(Catalog::embedded());
    let mut aliases = BTreeMap::new();
    let probes = ProviderKind::LOCAL.map(|kind| async move {
        let spec = kind.env()?;
        let base_url = env.var(spec.base_url_var).unwrap_or_else(|| kind.default_base_url().unwrap_or_default().into());
        let auth = env.var(spec.key_var).map_or(Auth::None, |k| kind.auth(Secret::new(k)));
        let models = list_models(&base_url, &auth).await?;
        Some((kind, base_url, auth, models))
    });
    for (kind, base_url, auth, models) in futures_util::future::join_all(probes).await.into_iter().flatten() {
        found.push(format!("{} at {} serving {}", kind.name(), base_url, models.join(", ")));
        let p = provider(kind, base_url, auth);
        for m in models {
            // The first server to offer a model name owns the bare alias; the others stay
            // reachable as `provider/model`.
            aliases.entry(m.clone()).or_insert_with(|| Alias {
                name: m.as_str().into(),
                deployments: vec![Deployment::new(
                    p.clone(),
                    &m,
                    catalog.complete(p.kind.name(), &m, DeploymentSettings::default()),
                    &health,
                )],
                policy: Arc::default(),
            });
        }
        providers.insert(kind.name().to_owned(), p);
    }

    let listen = env.var("SWITCHYARD_LISTEN").unwrap_or_else(|| DEFAULT_LISTEN.into());
    let config = Config {
        listen: listen.parse().unwrap_or_else(|_| ([127, 0, 0, 1], 4000).into()),
        master_key: env.var("SWITCHYARD_MASTER_KEY").map(Secret::new),
        allow_unauthenticated: false,
        max_body_bytes: 32 * 1024 * 1024,
        max_response_bytes: super::resolve::DEFAULT_MAX_RESPONSE_BYTES,
        metrics_listen: None,
        otlp_endpoint: None,
        cors: super::resolve::Cors::default(),
        shutdown_grace: Duration::from_secs(30),
        drain_delay: Duration::ZERO,
        watch_config: false,
        tls: None,
        timeouts: Timeouts::default(),
        providers,
        aliases,
        health,
        database_url: env.var("SWITCHYARD_DATABASE_URL"),
        redis_url: env.var("SWITCHYARD_REDIS_URL"),
        on_shared_state_error: crate::keys::OnSharedStateError::Local,
        ledger_retention: Duration::from_secs(30 * 86_400),
        cache_memory_bytes: 64 * 1024 * 1024,
        store_responses: true,
        response_retention: Duration::from_secs(30 * 86_400),
        catalog,
        teams: BTreeMap::new(),
    };
    Discovery { config, found }
}

/// Bedrock from AWS's standard variables: a region, and a Bedrock API key
/// (`AWS_BEARER_TOKEN_BEDROCK`), access keys, or a named profile (`AWS_PROFILE`).
fn discover_bedrock(env: &(dyn Env + Sync)) -> Option<(Provider, String)> {
    let region = cloud::aws_region(env)?;
    let (auth, from) = if let Some(key) = env.var("AWS_BEARER_TOKEN_BEDROCK") {
        (Auth::Bearer(Secret::new(key)), "AWS_BEARER_TOKEN_BEDROCK".to_owned())
    } else if env.var("AWS_ACCESS_KEY_ID").is_some() || env.var("AWS_PROFILE").is_some() {
        let creds = AwsCredentials::load(env, None).map_err(|e| tracing::warn!("Bedrock: {e}")).ok()?;
        let from = creds.source.clone();
        (Auth::SigV4 { credentials: Arc::new(creds), region: region.clone() }, from)
    } else {
        return None;
    };
    let kind = ProviderKind::Bedrock;
    let base_url = env.var("AWS_ENDPOINT_URL_BEDROCK_RUNTIME").unwrap_or_else(|| cloud::bedrock_base_url(&region));
    let p = Provider {
        name: "bedrock".into(),
        kind,
        dialect: kind.dialect(),
        base_url: base_url.trim_end_matches('/').to_owned(),
        auth,
        headers: Vec::new(),
        region: Some(region),
        model_patterns: kind.default_model_patterns().iter().map(|s| (*s).to_owned()).collect(),
        api_version: None,
        zero_data_retention: false,
    };
    let line = format!("bedrock at {} (from {from})", p.base_url);
    Some((p, line))
}

/// Vertex AI from Google's standard variables: a credentials file, a project (the file's own or
/// `GOOGLE_CLOUD_PROJECT`) and a location (`GOOGLE_CLOUD_LOCATION` or `CLOUD_ML_REGION`,
/// default `global`). A file that cannot be used is reported and skipped.
fn discover_vertex(env: &(dyn Env + Sync)) -> Option<(Provider, String)> {
    let path = env.var(cloud::GOOGLE_CREDENTIALS_VAR)?;
    let json = std::fs::read_to_string(&path)
        .map_err(|e| tracing::warn!("{}={path} cannot be read: {e}", cloud::GOOGLE_CREDENTIALS_VAR))
        .ok()?;
    let source = TokenSource::google_from_json(&json, None)
        .map_err(|e| tracing::warn!("{}={path}: {e}", cloud::GOOGLE_CREDENTIALS_VAR))
        .ok()?;
    let Some(project) = cloud::project_of(&json).or_else(|| env.var("GOOGLE_CLOUD_PROJECT")) else {
        tracing::warn!("found Google credentials but no project: set GOOGLE_CLOUD_PROJECT to use Vertex AI");
        return None;
    };
    let location = env.var("GOOGLE_CLOUD_LOCATION").or_else(|| env.var("CLOUD_ML_REGION")).unwrap_or("global".into());
    let p = cloud::vertex_provider("vertex", source, &project, &location, None, None, None);
    let line = format!("vertex at {} (from {})", p.base_url, cloud::GOOGLE_CREDENTIALS_VAR);
    Some((p, line))
}

fn provider(kind: ProviderKind, base_url: String, auth: Auth) -> Arc<Provider> {
    Arc::new(Provider {
        name: kind.name().into(),
        kind,
        dialect: kind.dialect(),
        base_url: base_url.trim_end_matches('/').to_owned(),
        auth,
        headers: super::headers::default_headers(kind, &BTreeMap::new()),
        region: Some("local".into()).filter(|_| ProviderKind::LOCAL.contains(&kind)),
        model_patterns: kind.default_model_patterns().iter().map(|s| (*s).to_owned()).collect(),
        api_version: None,
        zero_data_retention: false,
    })
}

#[derive(Deserialize)]
struct ModelList {
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

/// Asks a local server which models it serves; None when nothing answers.
async fn list_models(base_url: &str, auth: &Auth) -> Option<Vec<String>> {
    let client = reqwest::Client::builder().timeout(PROBE_TIMEOUT).no_proxy().build().ok()?;
    let mut req =
        http::Request::get(format!("{}/models", base_url.trim_end_matches('/'))).body(bytes::Bytes::new()).ok()?;
    auth.authorize(&client, &mut req).await.ok()?;
    let req = reqwest::Request::try_from(req.map(reqwest::Body::from)).ok()?;
    let resp = client.execute(req).await.ok()?.error_for_status().ok()?;
    let list: ModelList = resp.json().await.ok()?;
    Some(list.data.into_iter().map(|m| m.id).collect())
}
