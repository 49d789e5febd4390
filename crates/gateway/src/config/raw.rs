//! The config file exactly as written. Unknown keys are errors, so a typo is reported at its
//! line instead of being ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::money::PriceText;
use crate::upstream::ProviderKind;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `host:port` to listen on. Default `127.0.0.1:4000`.
    pub listen: Option<Spanned<String>>,
    /// Name of the environment variable that holds the master key.
    pub master_key_env: Option<Spanned<String>>,
    /// Listen on a non-loopback address without any key. Off by default.
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// Largest request body accepted, in bytes. Default 32 MiB.
    pub max_body_bytes: Option<usize>,
    /// Largest non-streamed upstream reply read, in bytes; a larger one is a 502. Default 64 MiB.
    pub max_response_bytes: Option<usize>,
    /// Where `/metrics` is served without a key (e.g. `127.0.0.1:9464`). Without it, `/metrics`
    /// is on the main port and needs the master key.
    pub metrics_listen: Option<Spanned<String>>,
    /// OpenTelemetry traces; the `OTEL_*` environment variables take precedence.
    #[serde(default)]
    pub telemetry: RawTelemetry,
    /// Browser origins allowed to call the gateway (CORS). Default: none.
    #[serde(default)]
    pub cors: RawCors,
    /// The ledger's database: `sqlite://path` (default `sqlite://switchyard.db`) or
    /// `postgres://…`. `SWITCHYARD_DATABASE_URL` sets it when the file does not.
    pub database_url: Option<String>,
    /// Days of per-request rows kept; older days are folded into daily rollups. Default 30.
    pub ledger_retention_days: Option<u32>,
    /// `redis://…`: every replica enforces one shared rate limit. `SWITCHYARD_REDIS_URL` too.
    pub redis_url: Option<String>,
    /// When Redis cannot be reached: `local` (default) limits each replica on its own until it
    /// is back; `deny` refuses requests of keys with limits (503) until it is back.
    pub on_shared_state_error: Option<Spanned<String>>,
    /// How long in-flight requests may run after SIGTERM, once the listener is closed. Default 30 s.
    pub shutdown_grace_secs: Option<u64>,
    /// How long after SIGTERM new requests are still served (while `/health` answers 503, so
    /// load balancers take the replica out) before the listener closes. Default 0.
    pub drain_delay_secs: Option<u64>,
    /// Read the config file again when its contents change (looked at every 2 s), as SIGHUP
    /// does. Off by default.
    #[serde(default)]
    pub watch_config: bool,
    /// Serve HTTPS on the main listener.
    pub tls: Option<RawTls>,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    /// The Responses API's stored responses.
    #[serde(default)]
    pub responses: RawResponses,
    /// The response cache's memory (each alias opts in with its own `cache` table).
    #[serde(default)]
    pub cache: RawCacheMemory,
    #[serde(default)]
    pub providers: BTreeMap<String, Spanned<RawProvider>>,
    #[serde(default)]
    pub models: BTreeMap<String, Spanned<RawAlias>>,
    /// Limits shared by every key of a team: `[teams.platform] rpm = 600`.
    #[serde(default)]
    pub teams: BTreeMap<String, TeamLimits>,
    /// Catalog entries that override or add to the shipped price and capability catalog.
    #[serde(default)]
    pub catalog: Vec<crate::routing::catalog::Entry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    /// An OTLP/HTTP collector's base URL (`http://otel-collector:4318`): spans go to its
    /// `/v1/traces`. Unset (and no `OTEL_EXPORTER_OTLP_ENDPOINT`): no traces.
    pub otlp_endpoint: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM certificate chain, leaf first; read again on reload.
    pub cert_file: Spanned<String>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the leaf certificate.
    pub key_file: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResponses {
    /// Keep responses a client asks to store (`store`, on by default in the API). Off: `store`
    /// is ignored and `previous_response_id` is refused.
    pub store: Option<bool>,
    /// Days a stored response is kept (30 unless set).
    pub retention_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    /// TCP + TLS connect. Default 10 s.
    pub connect_ms: Option<u64>,
    /// Longest silence between two reads of an upstream body. Default 300 s.
    pub read_ms: Option<u64>,
    /// A stream's first token, when neither the alias nor the deployment sets one. Default 180 s.
    pub first_token_ms: Option<u64>,
    /// A whole request, all attempts and the stream included, when the alias sets no
    /// `timeout_ms`. Default 600 s.
    pub total_ms: Option<u64>,
    /// A client connection that has not sent a request's headers for this long is closed.
    /// Default 30 s.
    pub client_idle_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    /// Exact origins (`https://app.example.com`) or `*`.
    #[serde(default)]
    pub allow_origins: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub kind: Spanned<ProviderKind>,
    pub base_url: Option<Spanned<String>>,
    /// Name of the environment variable holding the API key. Keys are never written in the file.
    pub api_key_env: Option<Spanned<String>>,
    /// Extra headers sent with every request to this provider.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Where the provider processes data, e.g. `us`, `eu-west-1`.
    pub region: Option<String>,
    /// Model names this provider serves without an alias (`*` wildcards).
    pub models: Option<Vec<String>>,
    /// Azure OpenAI only: the `api-version` query parameter, or `v1` for the versionless API.
    pub api_version: Option<Spanned<String>>,
    /// How to authenticate when a kind offers several ways: Azure `api_key` (default) or `entra`.
    pub auth: Option<Spanned<String>>,
    /// Vertex AI: the Google Cloud project (default: the credentials file's `project_id`).
    pub project: Option<String>,
    /// Vertex AI: the location, e.g. `us-east5`, `europe-west4`, `global` (default).
    pub location: Option<String>,
    /// Vertex AI: the environment variable holding the credentials file's path
    /// (default `GOOGLE_APPLICATION_CREDENTIALS`).
    pub credentials_env: Option<Spanned<String>>,
    /// The OAuth token endpoint, when it is not the cloud's own (a proxy, a test).
    pub token_url: Option<String>,
    /// The provider keeps no prompts or outputs (a zero-data-retention agreement).
    #[serde(default)]
    pub zero_data_retention: bool,
    /// Bedrock: the shared-credentials profile to sign with (default: the environment's keys,
    /// then `AWS_PROFILE`, then `default`).
    pub profile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlias {
    pub deployments: Vec<Spanned<RawDeployment>>,
    /// `priority` (default), `weighted`, `latency`, `cost` or `least_busy`.
    pub strategy: Option<Spanned<String>>,
    /// Extra attempts after every deployment has been tried once, each after a backoff.
    pub retries: Option<u32>,
    /// Deadline for the whole request, all attempts included.
    pub timeout_ms: Option<u64>,
    /// Time to first token (streams) or to the reply before the next deployment is tried.
    pub ttft_timeout_ms: Option<u64>,
    /// Provider names (globs) this alias may use.
    pub allowed_providers: Option<Vec<String>>,
    /// Provider regions (globs, e.g. `eu*`) this alias may use.
    pub allowed_regions: Option<Vec<String>>,
    /// Only providers marked `zero_data_retention = true`.
    #[serde(default)]
    pub zero_data_retention: bool,
    /// Prefer the deployment that last served a long shared prompt prefix. Default on.
    pub affinity: Option<bool>,
    /// Answer repeated requests from the response cache (off unless set).
    pub cache: Option<Spanned<RawCache>>,
    /// Keep each request's prompt and completion (redacted) for the web console.
    #[serde(default)]
    pub log_bodies: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    /// How long an entry lives, and the most a client may ask for: `90s`, `30m`, `1h`, `2d`.
    /// Default `1h`.
    pub ttl: Option<String>,
    /// Who shares entries: `key` (default), `team` or `global`.
    pub scope: Option<String>,
    /// Also cache replies cut short by `max_tokens`.
    #[serde(default)]
    pub cache_truncated: bool,
    /// Also cache requests with `temperature` above 0 or `n` above 1.
    #[serde(default)]
    pub cache_sampled: bool,
    /// A semantic cache: `{ embedding_model = "<alias>", threshold = 0.95 }`.
    pub semantic: Option<RawSemantic>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSemantic {
    pub embedding_model: String,
    /// Cosine similarity at or above which a cached answer is given (default 0.95).
    pub threshold: Option<f32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCacheMemory {
    /// Memory for cached replies in each replica, in MiB (default 64).
    pub memory_mb: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeployment {
    pub provider: Spanned<String>,
    /// The upstream's own model id.
    pub model: String,
    /// Share of traffic under the `weighted` strategy. Default 1.
    pub weight: Option<u32>,
    /// Requests in flight beyond which this deployment is skipped.
    pub max_concurrency: Option<u32>,
    pub ttft_timeout_ms: Option<u64>,
    /// Tokens of prompt plus output the model takes.
    pub context_window: Option<u64>,
    pub max_output: Option<u64>,
    /// What it can do: `tools`, `images`, `json_schema`, `reasoning`. Unset: assumed all.
    pub supports: Option<Spanned<Vec<String>>>,
    /// Dollars per million tokens, for cost, `cost` routing and `auto`: a number (`2.5`) or a
    /// decimal string (`"2.5"`), read exactly (see [`PriceText`]); checked when resolved.
    pub input_price: Option<Spanned<PriceText>>,
    pub output_price: Option<Spanned<PriceText>>,
    /// `small`, `standard` or `frontier`, for `model: "auto"`.
    pub tier: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamLimits {
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
}
