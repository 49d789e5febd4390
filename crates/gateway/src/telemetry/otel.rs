//! OpenTelemetry traces over OTLP/HTTP (protobuf): whether they are on, the process-wide tracer
//! and its batch exporter, and W3C trace context read from clients and written to upstreams.
//! Which spans a request makes and what they say is the pipeline's (`pipeline/trace.rs`).
//!
//! Off unless `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT` or the config's
//! `[telemetry] otlp_endpoint` names a collector; then the SDK reads the standard variables
//! itself (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`,
//! `OTEL_BSP_*`, `OTEL_EXPORTER_OTLP[_TRACES]_HEADERS`/`_TIMEOUT`). Spans go to a bounded queue
//! that a thread of the SDK's own drains: a collector that is slow or gone drops spans, never
//! delays a request or grows memory. Only OTLP/HTTP with protobuf is built in (no gRPC).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use crate::env::Env;

static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// The tracer, when traces are on: every span is made through it, and nothing is done for
/// traces when it is None.
pub fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// Traces could not be set up as configured.
#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    #[error("setting up the OTLP trace exporter")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("setting up the OTLP export client")]
    Client(#[from] reqwest::Error),
}

/// Where spans are sent, and which setting said so.
#[derive(Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`: the exporter reads
    /// it (and appends `/v1/traces` to the second) itself.
    FromEnv,
    /// The config's `[telemetry] otlp_endpoint`, a base URL as `OTEL_EXPORTER_OTLP_ENDPOINT` is:
    /// this is the full URL spans are posted to.
    Config(String),
}

/// Where spans go, or None when traces are off: the environment first (it can override a
/// config file per process), then the config; `OTEL_SDK_DISABLED=true` or
/// `OTEL_TRACES_EXPORTER=none` turn them off whatever else is set.
pub fn endpoint(env: &dyn Env, config: Option<&str>) -> Option<Endpoint> {
    if env.var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return None;
    }
    if env.var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim().eq_ignore_ascii_case("none")) {
        return None;
    }
    let set = |name: &str| env.var(name).is_some_and(|v| !v.trim().is_empty());
    if set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || set("OTEL_EXPORTER_OTLP_ENDPOINT") {
        return Some(Endpoint::FromEnv);
    }
    let base = config.map(str::trim).filter(|c| !c.is_empty())?;
    Some(Endpoint::Config(format!("{}/v1/traces", base.trim_end_matches('/'))))
}

/// The service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` gives one.
const SERVICE_NAME: &str = "switchyard";

/// Traces while they are on; [`Traces::shutdown`] sends what is queued.
pub struct Traces {
    provider: SdkTracerProvider,
}

/// Turns traces on when `env` or `config_endpoint` names a collector (see [`endpoint`]).
/// Once per process: a second call keeps the first tracer.
pub fn install(env: &dyn Env, config_endpoint: Option<&str>) -> Result<Option<Traces>, OtelError> {
    let Some(endpoint) = endpoint(env, config_endpoint) else { return Ok(None) };
    if let Some(protocol) =
        env.var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| env.var("OTEL_EXPORTER_OTLP_PROTOCOL"))
    {
        if protocol.trim() != "http/protobuf" {
            tracing::warn!(protocol = %protocol, "only OTLP over HTTP with protobuf is built in; sending http/protobuf");
        }
    }
    let client = ExportClient::new(export_timeout(env))?;
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_http_client(client);
    if let Endpoint::Config(url) = &endpoint {
        exporter = exporter.with_endpoint(url.clone());
    }
    let processor = BatchSpanProcessor::builder(exporter.build()?).build();
    let provider = SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource()).build();
    let tracer = opentelemetry::trace::TracerProvider::tracer_with_scope(
        &provider,
        opentelemetry::InstrumentationScope::builder("switchyard").with_version(env!("CARGO_PKG_VERSION")).build(),
    );
    // A second install (tests in one process) keeps the first tracer; its provider lives on in it.
    let _ = TRACER.set(tracer);
    Ok(Some(Traces { provider }))
}

impl Traces {
    /// Sends the spans still queued (within the SDK's 5 s shutdown limit), off the runtime's
    /// threads: the export thread may be waiting on a collector that does not answer.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let done = tokio::task::spawn_blocking(move || provider.shutdown());
        if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(6), done).await {
            tracing::warn!(error = %e, "traces: the last spans were not all sent");
        }
    }
}

/// The SDK's resource (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`), named `switchyard`
/// rather than `unknown_service` when neither names the service.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|v| !v.as_str().starts_with("unknown_service"));
    let mut builder = Resource::builder().with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if !named {
        builder = builder.with_service_name(SERVICE_NAME);
    }
    builder.build()
}

/// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds), else
/// the specification's 10 s: how long one export may take, retries included.
fn export_timeout(env: &dyn Env) -> Duration {
    let ms = |name: &str| env.var(name).and_then(|v| v.trim().parse::<u64>().ok());
    ms("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
        .or_else(|| ms("OTEL_EXPORTER_OTLP_TIMEOUT"))
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

/// Sends the exporter's requests with a reqwest client on a small runtime of its own: the SDK
/// exports from a thread of its own that is no Tokio worker, and the gateway's runtime is
/// never asked to do an exporter's I/O (nor kept from shutting down by it).
#[derive(Debug)]
struct ExportClient {
    client: reqwest::Client,
    /// Made on the export thread at its first export, and dropped there: a runtime may not be
    /// dropped on one of the gateway's own (async) threads.
    runtime: OnceLock<tokio::runtime::Runtime>,
    /// When the last failure was logged (ms since [`ExportClient::epoch`]); failures are logged
    /// once a minute at most, a collector that is down for an hour logs 60 lines, not 60,000.
    last_warned_ms: AtomicU64,
    epoch: std::time::Instant,
}

const WARN_EVERY_MS: u64 = 60_000;

impl ExportClient {
    fn new(timeout: Duration) -> Result<ExportClient, OtelError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .tcp_nodelay(true)
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(ExportClient {
            client,
            runtime: OnceLock::new(),
            last_warned_ms: AtomicU64::new(u64::MAX),
            epoch: std::time::Instant::now(),
        })
    }

    fn warn(&self, what: &dyn std::fmt::Display) {
        let now = self.epoch.elapsed().as_millis() as u64;
        let last = self.last_warned_ms.load(Ordering::Relaxed);
        if last != u64::MAX && now.saturating_sub(last) < WARN_EVERY_MS {
            return;
        }
        if self.last_warned_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            tracing::warn!(error = %what, "traces: the collector did not take spans (logged once a minute at most)");
        }
    }

    async fn send(&self, request: http::Request<bytes::Bytes>) -> Result<http::Response<bytes::Bytes>, reqwest::Error> {
        let (parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        let resp = self.client.request(parts.method, url).headers(parts.headers).body(body).send().await?;
        let mut out = http::Response::builder().status(resp.status());
        if let Some(headers) = out.headers_mut() {
            headers.extend(resp.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let body = resp.bytes().await?;
        // The parts came from a valid response; a builder error cannot happen, but is not a panic.
        Ok(out.body(body).unwrap_or_default())
    }
}

type Exported = Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError>;

// The trait is declared with `async_trait`; this is the signature it expands to.
impl opentelemetry_http::HttpClient for ExportClient {
    fn send_bytes<'a, 'f>(
        &'a self,
        request: http::Request<bytes::Bytes>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Exported> + Send + 'f>>
    where
        'a: 'f,
        Self: 'f,
    {
        Box::pin(std::future::ready(self.export(request)))
    }
}

impl ExportClient {
    /// Called on the SDK's export thread, never on a Tokio worker: blocking here is its job.
    fn export(&self, request: http::Request<bytes::Bytes>) -> Exported {
        if self.runtime.get().is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let _ = self.runtime.set(runtime);
        }
        let Some(runtime) = self.runtime.get() else { return Err("no export runtime".into()) };
        let result = runtime.block_on(self.send(request));
        match &result {
            Ok(resp) if !resp.status().is_success() => self.warn(&resp.status()),
            Ok(_) => {}
            Err(e) => self.warn(&crate::error::chain(e)),
        }
        Ok(result?)
    }
}

/// A client's W3C trace context as it sent it (`traceparent`, `tracestate`), unread until traces
/// are on; sent on unchanged when they are off.
#[derive(Debug, Clone, Default)]
pub struct TraceHeaders {
    pub traceparent: Option<HeaderValue>,
    pub tracestate: Option<HeaderValue>,
}

/// The W3C trace-context headers, read from clients and sent on to upstreams.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

impl TraceHeaders {
    pub fn from_client(headers: &http::HeaderMap) -> TraceHeaders {
        let Some(traceparent) = headers.get(TRACEPARENT) else {
            return TraceHeaders::default();
        };
        TraceHeaders { traceparent: Some(traceparent.clone()), tracestate: headers.get(TRACESTATE).cloned() }
    }

    /// The trace a request continues: the client's span as a remote parent; an empty context
    /// (a new trace) when it sent none or a `traceparent` that does not parse.
    pub fn parent(&self) -> Context {
        let Some(span_context) = self.traceparent.as_ref().and_then(|tp| parse_traceparent(tp.as_bytes())) else {
            return Context::new();
        };
        let state = self
            .tracestate
            .as_ref()
            .and_then(|ts| ts.to_str().ok())
            .and_then(|ts| ts.parse::<TraceState>().ok())
            .unwrap_or_default();
        let (trace_id, span_id, flags) = span_context;
        Context::new().with_remote_span_context(SpanContext::new(trace_id, span_id, flags, true, state))
    }

    /// The headers that carry `span` to an upstream: its own `traceparent`, and the trace's
    /// `tracestate` when there is one.
    pub fn of(span: &SpanContext) -> TraceHeaders {
        let state = span.trace_state().header();
        TraceHeaders {
            traceparent: Some(traceparent(span.trace_id(), span.span_id(), span.trace_flags())),
            tracestate: (!state.is_empty()).then(|| HeaderValue::from_str(&state).ok()).flatten(),
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `00-{trace id}-{span id}-{flags}`, lowercase, as W3C Trace Context version 00 writes it.
pub fn traceparent(trace_id: TraceId, span_id: SpanId, flags: TraceFlags) -> HeaderValue {
    let mut out = [0u8; 55];
    out[..3].copy_from_slice(b"00-");
    let mut at = 3;
    for b in trace_id.to_bytes() {
        out[at] = HEX[usize::from(b >> 4)];
        out[at + 1] = HEX[usize::from(b & 0xf)];
        at += 2;
    }
    out[at] = b'-';
    at += 1;
    for b in span_id.to_bytes() {
        out[at] = HEX[usize::from(b >> 4)];
        out[at + 1] = HEX[usize::from(b & 0xf)];
        at += 2;
    }
    out[at] = b'-';
    let f = flags.to_u8();
    out[at + 1] = HEX[usize::from(f >> 4)];
    out[at + 2] = HEX[usize::from(f & 0xf)];
    // Every byte written is ASCII hex or a dash: always a valid header value.
    HeaderValue::from_bytes(&out)
        .unwrap_or(HeaderValue::from_static("00-00000000000000000000000000000000-0000000000000000-00"))
}

/// A `traceparent` as W3C Trace Context defines it: `version-traceid-spanid-flags`, lowercase
/// hex of exactly 2, 32, 16 and 2 digits; version `ff` and all-zero ids are invalid; a later
/// version may append `-…` fields, which are ignored. Only the sampled flag is kept.
pub fn parse_traceparent(v: &[u8]) -> Option<(TraceId, SpanId, TraceFlags)> {
    const LEN: usize = 55;
    if v.len() < LEN || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let version = hex_u8(&v[0..2])?;
    match version {
        0xff => return None,
        0 if v.len() != LEN => return None,
        _ if v.len() > LEN && v[LEN] != b'-' => return None,
        _ => {}
    }
    let mut trace = [0u8; 16];
    for (i, b) in trace.iter_mut().enumerate() {
        *b = hex_u8(&v[3 + 2 * i..5 + 2 * i])?;
    }
    let mut span = [0u8; 8];
    for (i, b) in span.iter_mut().enumerate() {
        *b = hex_u8(&v[36 + 2 * i..38 + 2 * i])?;
    }
    let flags = hex_u8(&v[53..55])?;
    let (trace_id, span_id) = (TraceId::from_bytes(trace), SpanId::from_bytes(span));
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    Some((trace_id, span_id, TraceFlags::new(flags) & TraceFlags::SAMPLED))
}

/// Two lowercase hex digits.
fn hex_u8(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some(digit(*pair.first()?)? << 4 | digit(*pair.get(1)?)?)
}

/// The span a context holds, for the pipeline's request span.
pub fn span_context_of(cx: &Context) -> SpanContext {
    cx.span().span_context().clone()
}

/// Shared by the span helpers: a string attribute from a shared name, without a copy.
pub fn shared(key: &'static str, value: &Arc<str>) -> KeyValue {
    KeyValue::new(key, value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_parses_and_is_written_back_the_same() {
        let (t, s, f) = parse_traceparent(GOOD.as_bytes()).unwrap();
        assert_eq!(format!("{t}"), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(format!("{s}"), "00f067aa0ba902b7");
        assert!(f.is_sampled());
        assert_eq!(traceparent(t, s, f), GOOD);
        let unsampled = parse_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!unsampled.2.is_sampled());
    }

    #[test]
    fn a_later_version_may_add_fields_and_unknown_flags_are_dropped() {
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-whatever";
        let (_, _, f) = parse_traceparent(later.as_bytes()).unwrap();
        assert_eq!(f, TraceFlags::SAMPLED);
    }

    #[test]
    fn malformed_traceparents_start_a_new_trace() {
        for bad in [
            "",
            "garbage",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "0-4bf92f3577b34da6a3ce929d0e0e47361-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad.as_bytes()), None, "{bad:?}");
            let headers = TraceHeaders { traceparent: HeaderValue::from_str(bad).ok(), tracestate: None };
            assert!(!span_context_of(&headers.parent()).is_valid(), "{bad:?}");
        }
    }

    #[test]
    fn the_client_span_becomes_a_remote_parent_with_its_tracestate() {
        let headers = TraceHeaders {
            traceparent: Some(HeaderValue::from_static(GOOD)),
            tracestate: Some(HeaderValue::from_static("vendor=abc,other=x")),
        };
        let parent = span_context_of(&headers.parent());
        assert!(parent.is_valid() && parent.is_remote());
        assert_eq!(parent.trace_state().get("vendor"), Some("abc"));
        let sent = TraceHeaders::of(&parent);
        assert_eq!(sent.traceparent.unwrap(), GOOD);
        assert_eq!(sent.tracestate.unwrap(), "vendor=abc,other=x");
        let bad_state = TraceHeaders { tracestate: Some(HeaderValue::from_static("=,=,")), ..headers };
        assert!(span_context_of(&bad_state.parent()).is_valid(), "a bad tracestate does not lose the parent");
    }

    #[test]
    fn traces_are_on_only_when_a_collector_is_named() {
        assert_eq!(endpoint(&[("X", "1")], None), None);
        assert_eq!(endpoint(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")], None), Some(Endpoint::FromEnv));
        assert_eq!(
            endpoint(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c/v1/traces")], None),
            Some(Endpoint::FromEnv)
        );
        assert_eq!(endpoint(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")], None), None);
        assert_eq!(
            endpoint(&[("X", "1")], Some("http://collector:4318/")),
            Some(Endpoint::Config("http://collector:4318/v1/traces".into()))
        );
        assert_eq!(
            endpoint(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318")], Some("http://file:4318")),
            Some(Endpoint::FromEnv),
            "the environment overrides the file"
        );
        let off = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "TRUE")];
        assert_eq!(endpoint(&off, None), None);
        let none = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_TRACES_EXPORTER", "none")];
        assert_eq!(endpoint(&none, Some("http://file:4318")), None);
    }

    #[test]
    fn the_config_names_a_collector_by_an_http_url_reported_at_its_line() {
        let base = "[providers.p]\nkind = \"openai_compatible\"\nbase_url = \"http://127.0.0.1:1/v1\"\n[telemetry]\n";
        let config = |line: &str| crate::config::Config::from_toml(&format!("{base}{line}\n"), &[("X", "y")]);
        let good = config("otlp_endpoint = \" http://collector:4318 \"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(good.otlp_endpoint.as_deref(), Some("http://collector:4318"));
        assert_eq!(config("").map(|c| c.otlp_endpoint).ok(), Some(None));
        for bad in ["otlp_endpoint = \"collector:4318\"", "otlp_endpoint = \"ftp://c\"", "otlp_endpoint = \"\""] {
            let err = config(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                err.contains("line 5") && err.contains("`telemetry.otlp_endpoint` must be an http(s) URL"),
                "{bad}: {err}"
            );
        }
        let err = config("endpoint = \"http://c\"").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("unknown field `endpoint`"), "{err}");
    }

    #[test]
    fn the_export_timeout_follows_the_standard_variables() {
        assert_eq!(export_timeout(&[("X", "1")]), Duration::from_secs(10));
        assert_eq!(export_timeout(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")]), Duration::from_millis(2500));
        let both = [("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"), ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700")];
        assert_eq!(export_timeout(&both), Duration::from_millis(700));
    }
}
