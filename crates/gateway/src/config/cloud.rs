//! Provider settings that need more than a URL and a key: Google Vertex AI (project, location,
//! service-account OAuth) and Azure's Entra ID sign-in.

use std::sync::Arc;

use super::headers::{configured_headers, default_headers};
use super::problems::Problems;
use super::raw::RawProvider;
use crate::env::Env;
use crate::secret::Secret;
use crate::upstream::auth::aws::AwsCredentials;
use crate::upstream::auth::oauth::{Grant, TokenSource, AZURE_COGNITIVE_SCOPE};
use crate::upstream::{Auth, Provider, ProviderKind};

pub const GOOGLE_CREDENTIALS_VAR: &str = "GOOGLE_APPLICATION_CREDENTIALS";

/// The Vertex AI URL prefix for a project and location; operations append
/// `/publishers/{google|anthropic}/models/{model}:{method}`.
pub fn vertex_base_url(host: Option<&str>, project: &str, location: &str) -> String {
    let host = match (host, location) {
        (Some(h), _) => h.trim_end_matches('/').to_owned(),
        (None, "global") => "https://aiplatform.googleapis.com".to_owned(),
        (None, "us" | "eu") => format!("https://aiplatform.{location}.rep.googleapis.com"),
        (None, region) => format!("https://{region}-aiplatform.googleapis.com"),
    };
    format!("{host}/v1/projects/{project}/locations/{location}")
}

pub(super) fn vertex(name: &str, rp: &RawProvider, env: &dyn Env, p: &mut Problems<'_>) -> Option<Provider> {
    let var = rp.credentials_env.as_ref().map_or(GOOGLE_CREDENTIALS_VAR, |v| v.get_ref().as_str());
    let span = rp.credentials_env.as_ref().map_or(rp.kind.span(), |v| v.span());
    let Some(path) = env.var(var) else {
        p.at(Some(span), format!("provider `{name}`: environment variable `{var}` (the credentials file) is not set"));
        return None;
    };
    let json = match std::fs::read_to_string(&path) {
        Ok(j) => j,
        Err(e) => {
            p.at(Some(span), format!("provider `{name}`: cannot read credentials file {path}: {e}"));
            return None;
        }
    };
    let source = match TokenSource::google_from_json(&json, rp.token_url.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            p.at(Some(span), format!("provider `{name}`: {path}: {e}"));
            return None;
        }
    };
    let project = rp.project.clone().or_else(|| project_of(&json)).or_else(|| env.var("GOOGLE_CLOUD_PROJECT"));
    let Some(project) = project else {
        p.at(Some(rp.kind.span()), format!("provider `{name}`: set `project` (the credentials file names none)"));
        return None;
    };
    let location = rp.location.clone().unwrap_or_else(|| "global".into());
    let host = rp.base_url.as_ref().map(|u| u.get_ref().as_str());
    let mut provider = vertex_provider(name, source, &project, &location, host, rp.region.clone(), rp.models.clone());
    provider.headers = configured_headers(name, ProviderKind::Vertex, rp, p);
    provider.zero_data_retention = rp.zero_data_retention;
    Some(provider)
}

pub fn vertex_provider(
    name: &str,
    source: TokenSource,
    project: &str,
    location: &str,
    host: Option<&str>,
    region: Option<String>,
    models: Option<Vec<String>>,
) -> Provider {
    let kind = ProviderKind::Vertex;
    Provider {
        name: name.into(),
        kind,
        dialect: kind.dialect(),
        base_url: vertex_base_url(host, project, location),
        auth: Auth::OAuth(Arc::new(source)),
        headers: default_headers(kind, &Default::default()),
        region: region.or_else(|| Some(location.to_owned())),
        model_patterns: models
            .unwrap_or_else(|| kind.default_model_patterns().iter().map(|s| (*s).to_owned()).collect()),
        api_version: None,
        zero_data_retention: false,
    }
}

/// The `project_id` a service-account key file carries.
pub fn project_of(credentials_json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(credentials_json).ok()?;
    v.get("project_id").or_else(|| v.get("quota_project_id"))?.as_str().map(str::to_owned)
}

pub fn bedrock_base_url(region: &str) -> String {
    format!("https://bedrock-runtime.{region}.amazonaws.com")
}

/// Bedrock: the AWS region (config `region`, else `AWS_REGION`/`AWS_DEFAULT_REGION`) picks the
/// endpoint and signs the request; a Bedrock API key (`api_key_env`) replaces SigV4.
pub(super) fn bedrock(name: &str, rp: &RawProvider, env: &dyn Env, p: &mut Problems<'_>) -> Option<Provider> {
    let kind = ProviderKind::Bedrock;
    let Some(region) = rp.region.clone().or_else(|| aws_region(env)) else {
        p.at(Some(rp.kind.span()), format!("provider `{name}`: set `region` (or AWS_REGION) for Bedrock"));
        return None;
    };
    let auth = match &rp.api_key_env {
        Some(var) => match env.var(var.get_ref()) {
            Some(key) => Auth::Bearer(Secret::new(key)),
            None => {
                p.at(
                    Some(var.span()),
                    format!("provider `{name}`: environment variable `{}` is not set", var.get_ref()),
                );
                return None;
            }
        },
        None => match AwsCredentials::load(env, rp.profile.as_deref()) {
            Ok(c) => Auth::SigV4 { credentials: Arc::new(c), region: region.clone() },
            Err(e) => {
                p.at(Some(rp.kind.span()), format!("provider `{name}`: {e}"));
                return None;
            }
        },
    };
    let base_url = rp
        .base_url
        .as_ref()
        .map_or_else(|| bedrock_base_url(&region), |u| u.get_ref().trim_end_matches('/').to_owned());
    Some(Provider {
        name: name.into(),
        kind,
        dialect: kind.dialect(),
        base_url,
        auth,
        headers: configured_headers(name, kind, rp, p),
        region: Some(region),
        zero_data_retention: rp.zero_data_retention,
        model_patterns: rp
            .models
            .clone()
            .unwrap_or_else(|| kind.default_model_patterns().iter().map(|s| (*s).to_owned()).collect()),
        api_version: None,
    })
}

pub fn aws_region(env: &dyn Env) -> Option<String> {
    env.var("AWS_REGION").or_else(|| env.var("AWS_DEFAULT_REGION"))
}

/// Entra ID client credentials from azure-identity's standard variables.
pub(super) fn entra(name: &str, rp: &RawProvider, env: &dyn Env, p: &mut Problems<'_>) -> Option<Auth> {
    let span = rp.auth.as_ref().map(|a| a.span());
    let mut get = |var: &str| {
        let v = env.var(var);
        if v.is_none() {
            p.at(span.clone(), format!("provider `{name}`: `auth = \"entra\"` needs environment variable `{var}`"));
        }
        v
    };
    let (tenant, client_id, secret) = (get("AZURE_TENANT_ID"), get("AZURE_CLIENT_ID"), get("AZURE_CLIENT_SECRET"));
    let (tenant, client_id, secret) = (tenant?, client_id?, secret?);
    let authority = env.var("AZURE_AUTHORITY_HOST").unwrap_or_else(|| "https://login.microsoftonline.com".into());
    let token_url = rp
        .token_url
        .clone()
        .unwrap_or_else(|| format!("{}/{tenant}/oauth2/v2.0/token", authority.trim_end_matches('/')));
    let grant = Grant::EntraClientCredentials { token_url, client_id, client_secret: Secret::new(secret) };
    Some(Auth::OAuth(Arc::new(TokenSource::new(grant, AZURE_COGNITIVE_SCOPE))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vertex_hosts_follow_the_location() {
        assert_eq!(
            vertex_base_url(None, "p1", "us-east5"),
            "https://us-east5-aiplatform.googleapis.com/v1/projects/p1/locations/us-east5"
        );
        assert_eq!(
            vertex_base_url(None, "p1", "global"),
            "https://aiplatform.googleapis.com/v1/projects/p1/locations/global"
        );
        assert_eq!(
            vertex_base_url(None, "p1", "eu"),
            "https://aiplatform.eu.rep.googleapis.com/v1/projects/p1/locations/eu"
        );
        assert_eq!(
            vertex_base_url(Some("http://127.0.0.1:9/"), "p", "global"),
            "http://127.0.0.1:9/v1/projects/p/locations/global"
        );
    }
}
