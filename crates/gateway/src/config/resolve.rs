//! Turns a [`RawConfig`] into the [`Config`] the server runs with: reads secrets, parses URLs,
//! checks cross-references, and reports every problem at once with its line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::headers::configured_headers;
use super::problems::{line_col, ConfigError, Problem, Problems};
use super::raw::{RawConfig, RawProvider};
use super::routing::{deployment_settings, route_policy};
use crate::env::Env;
use crate::fast_map::FastMap;
use crate::routing::catalog::Catalog;
use crate::routing::health::HealthRegistry;
use crate::routing::{Alias, Deployment};
use crate::secret::Secret;
use crate::tls;
use crate::upstream::{Auth, Provider, ProviderKind};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4000";

#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub master_key: Option<Secret>,
    pub allow_unauthenticated: bool,
    pub max_body_bytes: usize,
    /// Largest non-streamed upstream reply the gateway reads.
    pub max_response_bytes: usize,
    /// A separate listener for `/metrics`; None: the main port, behind the master key.
    pub metrics_listen: Option<SocketAddr>,
    /// `[telemetry] otlp_endpoint`: where traces go unless the `OTEL_*` variables say.
    pub otlp_endpoint: Option<String>,
    /// Browser origins allowed to call the gateway.
    pub cors: Cors,
    /// How long in-flight requests may run once the listener is closed at shutdown.
    pub shutdown_grace: Duration,
    /// How long requests are still served after SIGTERM, while `/health` says draining.
    pub drain_delay: Duration,
    /// Whether the config file is read again when its contents change.
    pub watch_config: bool,
    /// HTTPS on the main listener; None: plain HTTP.
    pub tls: Option<crate::tls::Tls>,
    pub timeouts: Timeouts,
    pub providers: BTreeMap<String, Arc<Provider>>,
    pub aliases: BTreeMap<String, Alias>,
    /// Every deployment's passive health, shared by all aliases that use it.
    pub health: Arc<HealthRegistry>,
    /// Where the ledger lives; None: the default SQLite file.
    pub database_url: Option<String>,
    /// Shared rate limits across replicas; None: in-process.
    pub redis_url: Option<String>,
    /// What limits do while Redis cannot be reached.
    pub on_shared_state_error: crate::keys::OnSharedStateError,
    /// Per-request ledger rows older than this become daily rollups.
    pub ledger_retention: Duration,
    /// Memory for the response cache in this process.
    pub cache_memory_bytes: u64,
    /// Whether Responses API clients may store responses (`[responses] store`).
    pub store_responses: bool,
    /// How long a stored response is kept.
    pub response_retention: Duration,
    /// Prices and capabilities, shipped and overridden by `[[catalog]]`.
    pub catalog: Arc<Catalog>,
    /// RPM/TPM shared by all keys of a team.
    pub teams: BTreeMap<String, super::raw::TeamLimits>,
}

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
    /// A stream's first event, unless the alias or deployment says otherwise.
    pub first_token: Duration,
    /// A whole request, unless the alias says otherwise.
    pub total: Duration,
    /// A client connection without a request in progress.
    pub client_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(300),
            first_token: Duration::from_secs(180),
            total: Duration::from_secs(600),
            client_idle: Duration::from_secs(30),
        }
    }
}

/// Default largest non-streamed reply: room for a large embeddings batch as JSON.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Which browser origins may call the gateway. Empty: none (cross-origin requests are refused).
#[derive(Debug, Clone, Default)]
pub struct Cors {
    pub allow_origins: Vec<String>,
}

impl Cors {
    pub fn allows(&self, origin: &str) -> bool {
        self.allow_origins.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }
}

impl Config {
    /// Parses and resolves a config file's text.
    pub fn from_toml(source: &str, env: &dyn Env) -> Result<Config, ConfigError> {
        Config::from_toml_after(source, env, None)
    }

    /// Parses and resolves a config file's text that replaces `previous` in a running process:
    /// deployments that both configs have (same provider name, kind and URL, same model) keep
    /// their health — circuit, back-off, estimates and requests in flight.
    pub fn from_toml_after(source: &str, env: &dyn Env, previous: Option<&Config>) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(source).map_err(|e| {
            let at = e.span().map(|s| line_col(source, s.start));
            ConfigError { problems: vec![Problem { at, message: e.message().trim().to_owned() }] }
        })?;
        Config::resolve_after(raw, source, env, previous)
    }

    pub fn resolve(raw: RawConfig, source: &str, env: &dyn Env) -> Result<Config, ConfigError> {
        Config::resolve_after(raw, source, env, None)
    }

    fn resolve_after(
        raw: RawConfig,
        source: &str,
        env: &dyn Env,
        previous: Option<&Config>,
    ) -> Result<Config, ConfigError> {
        let mut p = Problems { source, list: Vec::new() };
        let listen = match &raw.listen {
            None => SocketAddr::from(([127, 0, 0, 1], 4000)),
            Some(l) => l.get_ref().parse().unwrap_or_else(|_| {
                p.at(Some(l.span()), format!("`listen` must be host:port, e.g. {DEFAULT_LISTEN}"));
                SocketAddr::from(([127, 0, 0, 1], 4000))
            }),
        };
        let master_key = match &raw.master_key_env {
            Some(var) => {
                let key = env.var(var.get_ref()).map(Secret::new);
                if key.is_none() {
                    p.at(Some(var.span()), format!("environment variable `{}` is not set", var.get_ref()));
                }
                key
            }
            None => env.var("SWITCHYARD_MASTER_KEY").map(Secret::new),
        };
        let metrics_listen = raw.metrics_listen.as_ref().and_then(|l| {
            let parsed = l.get_ref().parse::<SocketAddr>().ok();
            if parsed.is_none() {
                p.at(Some(l.span()), "`metrics_listen` must be host:port, e.g. 127.0.0.1:9464");
            }
            parsed
        });
        let otlp_endpoint = raw.telemetry.otlp_endpoint.as_ref().and_then(|e| {
            let url = e.get_ref().trim();
            let ok = reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                p.at(
                    Some(e.span()),
                    "`telemetry.otlp_endpoint` must be an http(s) URL, e.g. http://otel-collector:4318",
                );
            }
            ok.then(|| url.to_owned())
        });
        for origin in &raw.cors.allow_origins {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                p.at(
                    None,
                    format!("cors.allow_origins: `{origin}` must be `*` or an origin like https://app.example.com"),
                );
            }
        }
        let mut providers = BTreeMap::new();
        for (name, rp) in &raw.providers {
            if name.contains('/') {
                p.at(Some(rp.span()), format!("provider name `{name}` must not contain `/`"));
            }
            if let Some(provider) = resolve_provider(name, rp.get_ref(), env, &mut p) {
                providers.insert(name.clone(), Arc::new(provider));
            }
        }
        let same_upstream = |name: &str| {
            let (Some(old), Some(new)) = (previous.and_then(|c| c.providers.get(name)), providers.get(name)) else {
                return false;
            };
            old.kind == new.kind && old.base_url == new.base_url
        };
        let health = Arc::new(match previous {
            Some(prev) => prev.health.carried_over(|provider, _| same_upstream(provider)),
            None => HealthRegistry::default(),
        });
        let mut catalog = Catalog::embedded();
        catalog.merge(raw.catalog.clone());
        let catalog = Arc::new(catalog);
        let mut aliases = BTreeMap::new();
        for (name, ra) in &raw.models {
            let mut deployments = Vec::new();
            if ra.get_ref().deployments.is_empty() {
                p.at(Some(ra.span()), format!("model `{name}` needs at least one deployment"));
            }
            for d in &ra.get_ref().deployments {
                let d_ref = d.get_ref();
                let Some(provider) = providers.get(d_ref.provider.get_ref()) else {
                    if !raw.providers.contains_key(d_ref.provider.get_ref()) {
                        p.at(
                            Some(d_ref.provider.span()),
                            format!(
                                "model `{name}` names provider `{}`, which is not defined",
                                d_ref.provider.get_ref()
                            ),
                        );
                    }
                    continue;
                };
                let settings = deployment_settings(name, d_ref, &mut p);
                let settings = catalog.complete(provider.kind.name(), &d_ref.model, settings);
                deployments.push(Deployment::new(provider.clone(), &d_ref.model, settings, &health));
            }
            let policy = Arc::new(route_policy(name, ra.get_ref(), &mut p));
            aliases.insert(name.clone(), Alias { name: name.as_str().into(), deployments, policy });
        }
        if previous.is_some() {
            // Health of models no longer configured nor served by their provider is dropped.
            let used: std::collections::HashSet<&str> =
                aliases.values().flat_map(|a: &Alias| a.deployments.iter().map(Deployment::label)).collect();
            health.retain(|provider, model| {
                used.contains(format!("{provider}/{model}").as_str())
                    || providers.get(provider).is_some_and(|p| p.serves(model))
            });
        }
        let tls = raw.tls.as_ref().and_then(|t| {
            let (cert_file, key_file) = (Path::new(t.cert_file.get_ref()), Path::new(t.key_file.get_ref()));
            let certs = tls::read_certificates(cert_file).map_err(|e| p.at(Some(t.cert_file.span()), e.to_string()));
            let key = tls::read_key(key_file).map_err(|e| p.at(Some(t.key_file.span()), e.to_string()));
            let (Ok(certs), Ok(key)) = (certs, key) else { return None };
            tls::server_config(cert_file, certs, key_file, key)
                .map_err(|e| p.at(Some(t.key_file.span()), e.to_string()))
                .ok()
        });
        let on_shared_state_error = match raw.on_shared_state_error.as_ref() {
            None => crate::keys::OnSharedStateError::Local,
            Some(s) => match s.get_ref().as_str() {
                "local" => crate::keys::OnSharedStateError::Local,
                "deny" => crate::keys::OnSharedStateError::Deny,
                other => {
                    p.at(Some(s.span()), format!("`on_shared_state_error` must be local or deny, not `{other}`"));
                    crate::keys::OnSharedStateError::Local
                }
            },
        };
        if !p.list.is_empty() {
            return Err(ConfigError { problems: p.list });
        }
        Ok(Config {
            listen,
            master_key,
            allow_unauthenticated: raw.allow_unauthenticated,
            max_body_bytes: raw.max_body_bytes.unwrap_or(32 * 1024 * 1024),
            shutdown_grace: Duration::from_secs(raw.shutdown_grace_secs.unwrap_or(30)),
            drain_delay: Duration::from_secs(raw.drain_delay_secs.unwrap_or(0)),
            watch_config: raw.watch_config,
            tls,
            timeouts: {
                let d = Timeouts::default();
                let ms = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_millis);
                Timeouts {
                    connect: ms(raw.timeouts.connect_ms, d.connect),
                    read: ms(raw.timeouts.read_ms, d.read),
                    first_token: ms(raw.timeouts.first_token_ms, d.first_token),
                    total: ms(raw.timeouts.total_ms, d.total),
                    client_idle: ms(raw.timeouts.client_idle_ms, d.client_idle),
                }
            },
            max_response_bytes: raw.max_response_bytes.unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
            metrics_listen,
            otlp_endpoint,
            cors: Cors { allow_origins: raw.cors.allow_origins.clone() },
            providers,
            aliases,
            health,
            database_url: raw.database_url.clone().or_else(|| env.var("SWITCHYARD_DATABASE_URL")),
            redis_url: raw.redis_url.clone().or_else(|| env.var("SWITCHYARD_REDIS_URL")),
            on_shared_state_error,
            ledger_retention: Duration::from_secs(u64::from(raw.ledger_retention_days.unwrap_or(30)) * 86_400),
            cache_memory_bytes: raw.cache.memory_mb.unwrap_or(64).saturating_mul(1024 * 1024),
            store_responses: raw.responses.store.unwrap_or(true),
            response_retention: Duration::from_secs(u64::from(raw.responses.retention_days.unwrap_or(30)) * 86_400),
            catalog,
            teams: raw.teams.clone(),
        })
    }

    /// The alias table used on the request path.
    pub fn alias_map(&self) -> FastMap<String, Alias> {
        self.aliases.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

fn resolve_provider(name: &str, rp: &RawProvider, env: &dyn Env, p: &mut Problems<'_>) -> Option<Provider> {
    let kind = *rp.kind.get_ref();
    if kind == ProviderKind::Vertex {
        return super::cloud::vertex(name, rp, env, p);
    }
    if kind == ProviderKind::Bedrock {
        return super::cloud::bedrock(name, rp, env, p);
    }
    let base_url = match (&rp.base_url, kind.default_base_url()) {
        (Some(u), _) => {
            let url = u.get_ref().trim_end_matches('/').to_owned();
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.parse::<http::Uri>().is_err() {
                p.at(Some(u.span()), format!("provider `{name}`: `base_url` must be an http(s) URL"));
                return None;
            }
            url
        }
        (None, Some(default)) => default.to_owned(),
        (None, None) => {
            p.at(Some(rp.kind.span()), format!("provider `{name}` of kind `{}` needs a `base_url`", kind.name()));
            return None;
        }
    };
    let entra = rp.auth.as_ref().filter(|a| a.get_ref() == "entra");
    let auth = match &rp.api_key_env {
        _ if entra.is_some() && kind == ProviderKind::Azure => super::cloud::entra(name, rp, env, p)?,
        Some(var) => match env.var(var.get_ref()) {
            Some(key) => kind.auth(Secret::new(key)),
            None => {
                p.at(
                    Some(var.span()),
                    format!("provider `{name}`: environment variable `{}` is not set", var.get_ref()),
                );
                return None;
            }
        },
        None => Auth::None,
    };
    let headers = configured_headers(name, kind, rp, p);
    if let Some(a) = &rp.auth {
        let ok = matches!((kind, a.get_ref().as_str()), (_, "api_key") | (ProviderKind::Azure, "entra"));
        if !ok {
            p.at(
                Some(a.span()),
                format!("provider `{name}`: `auth = \"{}\"` is not available for kind `{}`", a.get_ref(), kind.name()),
            );
        }
    }
    let api_version = match &rp.api_version {
        Some(v) if kind != ProviderKind::Azure => {
            p.at(Some(v.span()), format!("provider `{name}`: `api_version` applies only to kind `azure`"));
            None
        }
        Some(v) => Some(v.get_ref().clone()),
        None => None,
    };
    let model_patterns = match &rp.models {
        Some(m) => m.clone(),
        None => kind.default_model_patterns().iter().map(|s| (*s).to_owned()).collect(),
    };
    Some(Provider {
        name: name.into(),
        kind,
        dialect: kind.dialect(),
        base_url,
        auth,
        headers,
        region: rp.region.clone(),
        model_patterns,
        api_version,
        zero_data_retention: rp.zero_data_retention,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
listen = "127.0.0.1:9000"
master_key_env = "MK"

[providers.openai]
kind = "openai"
api_key_env = "OPENAI_API_KEY"
region = "us"

[providers.local]
kind = "openai_compatible"
base_url = "http://127.0.0.1:8080/v1/"

[models.fast]
deployments = [
  { provider = "openai", model = "gpt-4o-mini" },
  { provider = "local", model = "smollm2" },
]
"#;

    #[test]
    fn a_good_file_resolves() {
        let env = [("MK", "master"), ("OPENAI_API_KEY", "sk-1")];
        let c = Config::from_toml(GOOD, &env).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.master_key.as_ref().map(Secret::expose), Some("master"));
        assert_eq!(c.providers["local"].base_url, "http://127.0.0.1:8080/v1");
        assert!(matches!(c.providers["openai"].auth, Auth::Bearer(_)));
        let fast = &c.aliases["fast"];
        assert_eq!(fast.deployments.len(), 2);
        assert_eq!(&*fast.deployments[1].model, "smollm2");
        assert!(c.providers["openai"].serves("gpt-4o"));
    }

    #[test]
    fn every_mistake_is_reported_with_its_line() {
        let bad = "listen = \"nowhere\"\n\n[providers.a]\nkind = \"openai_compatible\"\n\n[models.m]\ndeployments = [{ provider = \"ghost\", model = \"x\" }]\n";
        let err = Config::from_toml(bad, &[("X", "y")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 1, column 10: `listen`"), "{text}");
        assert!(
            text.contains("line 4, column 8: provider `a` of kind `openai_compatible` needs a `base_url`"),
            "{text}"
        );
        assert!(text.contains("line 7") && text.contains("`ghost`"), "{text}");
    }

    #[test]
    fn unknown_keys_and_kinds_point_at_their_line() {
        let err =
            Config::from_toml("[providers.a]\nkind = \"openai\"\napi_kee_env = \"X\"\n", &[("X", "y")]).unwrap_err();
        assert!(err.to_string().starts_with("line 3, column 1: unknown field `api_kee_env`"), "{err}");
        let err = Config::from_toml("[providers.a]\nkind = \"nope\"\n", &[("X", "y")]).unwrap_err();
        assert!(err.to_string().starts_with("line 2, column 8: unknown variant `nope`"), "{err}");
    }

    #[test]
    fn a_missing_key_variable_is_an_error() {
        let err = Config::from_toml(GOOD, &[("MK", "m")]).unwrap_err();
        assert!(err.to_string().contains("`OPENAI_API_KEY` is not set"), "{err}");
    }
}
