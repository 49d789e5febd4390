//! OpenTelemetry traces from the real binary to a test collector (OTLP/HTTP, protobuf): a
//! request span with one attempt span per upstream attempt under it, their GenAI attributes,
//! the client's `traceparent` continued and the attempt's sent upstream, for plain, streamed,
//! failed-over and cross-dialect requests; and a collector that is down costs requests nothing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{json, Value};
use testkit::openai_wire as wire;
use testkit::{FakeUpstream, GatewayProcess, Reply};

use crate::common::{client, user, MASTER_KEY};

/// A span as the collector received it, with its resource's service name.
#[derive(Debug, Clone)]
struct Got {
    span: Span,
    service: String,
}

impl Got {
    fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    fn parent_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    fn attr(&self, key: &str) -> Option<&Any> {
        self.span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    fn str(&self, key: &str) -> &str {
        match self.attr(key) {
            Some(Any::StringValue(s)) => s,
            other => panic!("{key} is {other:?} on {}", self.span.name),
        }
    }

    fn int(&self, key: &str) -> i64 {
        match self.attr(key) {
            Some(Any::IntValue(n)) => *n,
            other => panic!("{key} is {other:?} on {}", self.span.name),
        }
    }

    fn strings(&self, key: &str) -> Vec<String> {
        match self.attr(key) {
            Some(Any::ArrayValue(a)) => a
                .values
                .iter()
                .map(|v| match &v.value {
                    Some(Any::StringValue(s)) => s.clone(),
                    other => panic!("{key} holds {other:?}"),
                })
                .collect(),
            other => panic!("{key} is {other:?} on {}", self.span.name),
        }
    }

    fn kind(&self) -> SpanKind {
        SpanKind::try_from(self.span.kind).unwrap()
    }

    fn failed(&self) -> bool {
        self.span.status.as_ref().is_some_and(|s| s.code == StatusCode::Error as i32)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP collector on a port of its own: every span it is sent, in arrival order.
struct Collector {
    endpoint: String,
    spans: Arc<Mutex<Vec<Got>>>,
    arrived: Arc<tokio::sync::Notify>,
}

impl Collector {
    async fn start() -> Collector {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let spans = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(tokio::sync::Notify::new());
        let (store, notify) = (spans.clone(), arrived.clone());
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |headers: http::HeaderMap, body: Bytes| {
                let (store, notify) = (store.clone(), notify.clone());
                async move {
                    assert_eq!(headers["content-type"], "application/x-protobuf");
                    let request = ExportTraceServiceRequest::decode(body).unwrap();
                    let mut got = store.lock().unwrap();
                    for resource in request.resource_spans {
                        let service = resource
                            .resource
                            .iter()
                            .flat_map(|r| &r.attributes)
                            .find(|kv| kv.key == "service.name")
                            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                                Any::StringValue(s) => Some(s.clone()),
                                _ => None,
                            })
                            .unwrap_or_default();
                        for scope in resource.scope_spans {
                            got.extend(scope.spans.into_iter().map(|span| Got { span, service: service.clone() }));
                        }
                    }
                    drop(got);
                    notify.notify_waiters();
                    (
                        [("content-type", "application/x-protobuf")],
                        ExportTraceServiceResponse::default().encode_to_vec(),
                    )
                }
            }),
        );
        #[allow(clippy::disallowed_methods, reason = "a test server runs as a plain task")]
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Collector { endpoint, spans, arrived }
    }

    /// The spans of trace `trace_id` once `count` of them have come (within 10 s).
    async fn trace(&self, trace_id: &str, count: usize) -> Vec<Got> {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.arrived.notified();
            let spans: Vec<Got> =
                self.spans.lock().unwrap().iter().filter(|g| g.trace_id() == trace_id).cloned().collect();
            if spans.len() >= count {
                assert_eq!(spans.len(), count, "{spans:#?}");
                return spans;
            }
            let left = until
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("{} of {count} spans of trace {trace_id} came: {spans:#?}", spans.len()));
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// The binary with `config`, sending traces to `endpoint` every 100 ms.
fn gateway(config: &str, endpoint: &str, env: &[(&str, &str)]) -> GatewayProcess {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("switchyard-traces-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("gateway-{}.toml", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    std::fs::write(&path, config).unwrap();
    let mut vars = vec![
        ("MASTER", MASTER_KEY),
        ("UP_KEY", "sk-upstream"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    vars.extend_from_slice(env);
    GatewayProcess::serve(BIN, &["--config", path.to_str().unwrap(), "--listen", "127.0.0.1:0"], &vars)
}

/// `fast` → an OpenAI upstream (`kind = "openai"`, at the fake); `priced` → `flaky/m1` then
/// `good/m2` at $2.50/$10 per million tokens.
fn config(openai: &FakeUpstream, flaky: &FakeUpstream) -> String {
    format!(
        r#"master_key_env = "MASTER"
[providers.oai]
kind = "openai"
base_url = "{}"
api_key_env = "UP_KEY"
[providers.flaky]
kind = "openai_compatible"
base_url = "{}"
[models.fast]
deployments = [{{ provider = "oai", model = "gpt-4o-mini" }}]
[models.embed]
deployments = [{{ provider = "oai", model = "text-embedding-3-small" }}]
[models.priced]
deployments = [
  {{ provider = "flaky", model = "m1", input_price = 2.5, output_price = 10.0 }},
  {{ provider = "oai", model = "m2", input_price = 2.5, output_price = 10.0 }},
]
"#,
        openai.v1(),
        flaky.v1()
    )
}

/// Streams (usage 12 + 2) when asked, else a completion with usage 12 + 5; embeddings too.
fn answer(req: &testkit::Received) -> Reply {
    let body = req.json();
    if req.uri.ends_with("/embeddings") {
        let data = json!([{"object": "embedding", "index": 0, "embedding": [0.25, -0.5]}]);
        let usage = json!({"prompt_tokens": 3, "total_tokens": 3});
        return Reply::json(json!({"object": "list", "data": data, "model": body["model"], "usage": usage}));
    }
    let model = body["model"].as_str().unwrap_or("m").to_owned();
    if body["stream"] == true {
        Reply::sse(wire::text_stream(&model, &["a", "b"]))
    } else {
        Reply::json(wire::completion(&model, "ok"))
    }
}

async fn send(gw: &GatewayProcess, path: &str, headers: &[(&str, &str)], body: Value) -> reqwest::Response {
    let mut req = client().post(gw.url(path)).bearer_auth(MASTER_KEY).json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// The trace id and parent span id in the `traceparent` the upstream's `n`th request carried.
fn sent_upstream(up: &FakeUpstream, n: usize) -> (String, String) {
    let received = up.received();
    let header = received[n].header("traceparent").unwrap_or_else(|| panic!("no traceparent upstream")).to_owned();
    let parts: Vec<&str> = header.split('-').collect();
    assert_eq!((parts.len(), parts[0], parts[3]), (4, "00", "01"), "{header}");
    (parts[1].to_owned(), parts[2].to_owned())
}

fn by_kind(spans: &[Got], kind: SpanKind) -> Vec<Got> {
    spans.iter().filter(|s| s.kind() == kind).cloned().collect()
}

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn a_request_continues_the_clients_trace_and_hands_its_attempt_span_upstream() {
    let (collector, up) = (Collector::start().await, FakeUpstream::start(answer).await);
    let gw = gateway(&config(&up, &up), &collector.endpoint, &[]);
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let resp = send(
        &gw,
        "/v1/chat/completions",
        &[("traceparent", &traceparent), ("tracestate", "vendor=abc")],
        json!({"model": "fast", "messages": user("hi"), "max_tokens": 50, "temperature": 0.5, "top_p": 0.9}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let overhead: f64 = resp.headers()["x-switchyard-overhead-ms"].to_str().unwrap().parse().unwrap();
    assert!((0.0..250.0).contains(&overhead), "{overhead} ms");
    resp.text().await.unwrap();

    let spans = collector.trace(CLIENT_TRACE, 2).await;
    let (server, attempt) = (&by_kind(&spans, SpanKind::Server)[0], &by_kind(&spans, SpanKind::Client)[0]);
    assert_eq!(server.span.name, "chat fast");
    assert_eq!(server.parent_id(), CLIENT_SPAN, "the client's span is the request's parent");
    assert_eq!(server.service, "switchyard");
    assert_eq!(server.span.trace_state, "vendor=abc");
    assert_eq!(attempt.parent_id(), server.span_id());
    assert_eq!(attempt.span.name, "chat gpt-4o-mini");
    // The upstream was sent the attempt's span, in the client's trace.
    assert_eq!(sent_upstream(&up, 0), (CLIENT_TRACE.to_owned(), attempt.span_id()));
    assert_eq!(up.received()[0].header("tracestate"), Some("vendor=abc"));

    for s in [server, attempt] {
        assert_eq!(s.str("gen_ai.operation.name"), "chat");
        assert_eq!(s.str("gen_ai.provider.name"), "openai");
        assert_eq!(s.str("gen_ai.response.model"), "gpt-4o-mini");
        assert_eq!(s.str("gen_ai.response.id"), "chatcmpl-fake123");
        assert_eq!(s.strings("gen_ai.response.finish_reasons"), ["stop"]);
        assert_eq!((s.int("gen_ai.usage.input_tokens"), s.int("gen_ai.usage.output_tokens")), (12, 5));
        assert_eq!(s.str("switchyard.deployment"), "oai/gpt-4o-mini");
        assert_eq!(s.str("switchyard.outcome"), "ok");
        assert_eq!(s.int("switchyard.attempt"), 1);
        assert!(!s.failed());
    }
    assert_eq!(server.str("gen_ai.request.model"), "fast");
    assert_eq!(attempt.str("gen_ai.request.model"), "gpt-4o-mini");
    assert_eq!(server.int("gen_ai.request.max_tokens"), 50);
    assert!(matches!(server.attr("gen_ai.request.temperature"), Some(Any::DoubleValue(t)) if *t == 0.5));
    assert!(matches!(server.attr("gen_ai.request.top_p"), Some(Any::DoubleValue(p)) if *p == 0.9));
    assert_eq!(server.attr("gen_ai.request.stream"), None, "unset: not streamed");
    assert_eq!(server.str("switchyard.alias"), "fast");
    assert_eq!(server.str("http.route"), "/v1/chat/completions");
    assert_eq!(server.int("http.response.status_code"), 200);
    // The catalog's price for gpt-4o-mini: 12 × $0.15/M + 5 × $0.60/M.
    assert_eq!((server.int("switchyard.cost_nanos"), server.str("switchyard.cost_usd")), (4_800, "0.0000048"));
}

#[tokio::test]
async fn a_streamed_request_is_one_trace_ended_with_the_stream() {
    let (collector, up) = (Collector::start().await, FakeUpstream::start(answer).await);
    let gw = gateway(&config(&up, &up), &collector.endpoint, &[("OTEL_SERVICE_NAME", "edge-gw")]);
    let body =
        json!({"model": "fast", "messages": user("hi"), "stream": true, "stream_options": {"include_usage": true}});
    let resp = send(&gw, "/v1/chat/completions", &[], body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-switchyard-overhead-ms").is_none(), "streams have no overhead header");
    let text = resp.text().await.unwrap();
    assert_eq!(wire::streamed_text(&text), "ab");

    // No client trace: a new one, which the upstream was told of.
    let (trace, attempt_id) = sent_upstream(&up, 0);
    let spans = collector.trace(&trace, 2).await;
    let (server, attempt) = (&by_kind(&spans, SpanKind::Server)[0], &by_kind(&spans, SpanKind::Client)[0]);
    assert!(server.span.parent_span_id.is_empty(), "a root span");
    assert_eq!(server.service, "edge-gw", "OTEL_SERVICE_NAME");
    assert_eq!(attempt.span_id(), attempt_id);
    assert_eq!(attempt.parent_id(), server.span_id());
    assert!(matches!(server.attr("gen_ai.request.stream"), Some(Any::BoolValue(true))));
    assert!(matches!(server.attr("gen_ai.response.time_to_first_chunk"), Some(Any::DoubleValue(t)) if *t > 0.0));
    for s in [server, attempt] {
        assert_eq!(s.strings("gen_ai.response.finish_reasons"), ["stop"]);
        assert_eq!((s.int("gen_ai.usage.input_tokens"), s.int("gen_ai.usage.output_tokens")), (12, 2));
        assert_eq!(s.str("gen_ai.response.id"), "chatcmpl-fake123");
        assert_eq!(s.str("switchyard.outcome"), "ok");
    }
    // Both end when the stream does: after the attempt began.
    assert!(server.span.end_time_unix_nano >= attempt.span.end_time_unix_nano);
}

#[tokio::test]
async fn a_failed_over_request_has_an_attempt_span_per_attempt_the_first_failed() {
    let collector = Collector::start().await;
    let flaky = FakeUpstream::always(Reply::error(500, wire::error_body("boom", "server_error", None))).await;
    let good = FakeUpstream::start(answer).await;
    let gw = gateway(&config(&good, &flaky), &collector.endpoint, &[]);
    let resp = send(&gw, "/v1/chat/completions", &[], json!({"model": "priced", "messages": user("hi")})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-attempts"], "2");
    resp.text().await.unwrap();

    let (trace, first_id) = sent_upstream(&flaky, 0);
    let (same_trace, second_id) = sent_upstream(&good, 0);
    assert_eq!(trace, same_trace, "both attempts are in the request's trace");
    assert_ne!(first_id, second_id, "each attempt is its own span");
    let spans = collector.trace(&trace, 3).await;
    let server = &by_kind(&spans, SpanKind::Server)[0];
    let attempts = by_kind(&spans, SpanKind::Client);
    let first = attempts.iter().find(|s| s.span_id() == first_id).unwrap();
    let second = attempts.iter().find(|s| s.span_id() == second_id).unwrap();
    assert!(attempts.iter().all(|a| a.parent_id() == server.span_id()));
    assert_eq!(first.int("switchyard.attempt"), 1);
    assert!(first.failed());
    assert_eq!(first.int("http.response.status_code"), 500);
    assert_eq!(first.str("error.type"), "upstream_error");
    assert_eq!(first.str("gen_ai.provider.name"), "openai_compatible");
    assert_eq!(second.int("switchyard.attempt"), 2);
    assert!(!second.failed() && !server.failed());
    // 12 prompt tokens at $2.50/M + 5 completion tokens at $10/M, exact.
    for s in [server, second] {
        assert_eq!(s.int("switchyard.cost_nanos"), 80_000);
        assert_eq!(s.str("switchyard.cost_usd"), "0.00008");
    }
    assert_eq!(server.int("switchyard.attempt"), 2);
    assert_eq!(server.str("switchyard.deployment"), "oai/m2");
}

#[tokio::test]
async fn an_anthropic_request_to_an_openai_upstream_is_traced_in_genai_terms() {
    let (collector, up) = (Collector::start().await, FakeUpstream::start(answer).await);
    let gw = gateway(&config(&up, &up), &collector.endpoint, &[]);
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let body = json!({"model": "fast", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]});
    let resp = send(&gw, "/v1/messages", &[("traceparent", &traceparent)], body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-switchyard-overhead-ms").is_some());
    let reply: Value = resp.json().await.unwrap();
    assert_eq!(reply["stop_reason"], "end_turn");

    let spans = collector.trace(CLIENT_TRACE, 2).await;
    let (server, attempt) = (&by_kind(&spans, SpanKind::Server)[0], &by_kind(&spans, SpanKind::Client)[0]);
    assert_eq!(server.parent_id(), CLIENT_SPAN);
    assert_eq!(server.str("http.route"), "/v1/messages");
    assert_eq!(server.int("gen_ai.request.max_tokens"), 64);
    assert_eq!(attempt.str("gen_ai.provider.name"), "openai");
    assert_eq!(server.strings("gen_ai.response.finish_reasons"), ["stop"]);
    assert_eq!(sent_upstream(&up, 0), (CLIENT_TRACE.to_owned(), attempt.span_id()));
}

#[tokio::test]
async fn a_malformed_traceparent_starts_a_new_trace() {
    let (collector, up) = (Collector::start().await, FakeUpstream::start(answer).await);
    let gw = gateway(&config(&up, &up), &collector.endpoint, &[]);
    for (n, bad) in ["00-zz-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "garbage"]
        .into_iter()
        .enumerate()
    {
        let resp = send(
            &gw,
            "/v1/chat/completions",
            &[("traceparent", bad)],
            json!({"model": "fast", "messages": user("hi")}),
        )
        .await;
        assert_eq!(resp.status(), 200, "{bad}");
        resp.text().await.unwrap();
        let (trace, _) = sent_upstream(&up, n);
        assert_ne!(trace, "00000000000000000000000000000000");
        let spans = collector.trace(&trace, 2).await;
        let server = &by_kind(&spans, SpanKind::Server)[0];
        assert!(server.span.parent_span_id.is_empty(), "{bad}: a root span");
    }
}

#[tokio::test]
async fn with_the_collector_down_requests_are_as_quick_and_sampled_out_traces_are_not_sent() {
    // A port that was just free: nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let up = FakeUpstream::start(answer).await;
    let gw = gateway(&config(&up, &up), &closed, &[("OTEL_BSP_MAX_QUEUE_SIZE", "64")]);
    let started = Instant::now();
    for i in 0..200 {
        let stream = i % 2 == 0;
        let resp =
            send(&gw, "/v1/chat/completions", &[], json!({"model": "fast", "messages": user("hi"), "stream": stream}))
                .await;
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(10), "200 requests took {:?}", started.elapsed());
    assert!(up.received().iter().all(|r| r.header("traceparent").is_some()), "traced all the same");

    // Sampled out (a new trace under `parentbased_always_off`): the upstream still gets the
    // trace context, marked unsampled, and the collector nothing; a client's sampled trace is
    // still followed, and comes after it.
    let collector = Collector::start().await;
    let gw = gateway(&config(&up, &up), &collector.endpoint, &[("OTEL_TRACES_SAMPLER", "parentbased_always_off")]);
    let resp = send(&gw, "/v1/chat/completions", &[], json!({"model": "fast", "messages": user("hi")})).await;
    assert_eq!(resp.status(), 200);
    let header = up.received().last().unwrap().header("traceparent").unwrap().to_owned();
    assert!(header.ends_with("-00"), "{header}");
    let unsampled = header.split('-').nth(1).unwrap().to_owned();
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let resp = send(
        &gw,
        "/v1/chat/completions",
        &[("traceparent", &traceparent)],
        json!({"model": "fast", "messages": user("hi")}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    collector.trace(CLIENT_TRACE, 2).await;
    assert!(collector.spans.lock().unwrap().iter().all(|s| s.trace_id() != unsampled));
}

#[tokio::test]
async fn without_an_endpoint_the_clients_trace_context_goes_upstream_unchanged() {
    let up = FakeUpstream::start(answer).await;
    let gw = gateway(&config(&up, &up), "", &[]);
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let resp = send(
        &gw,
        "/v1/chat/completions",
        &[("traceparent", &traceparent), ("tracestate", "k=v")],
        json!({"model": "fast", "messages": user("hi")}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(up.received()[0].header("traceparent"), Some(traceparent.as_str()));
    assert_eq!(up.received()[0].header("tracestate"), Some("k=v"));
}

#[tokio::test]
async fn the_config_file_can_name_the_collector_and_the_environment_overrides_it() {
    let (collector, up) = (Collector::start().await, FakeUpstream::start(answer).await);
    let file = format!("{}[telemetry]\notlp_endpoint = \"{}\"\n", config(&up, &up), collector.endpoint);
    let gw = gateway(&file, "", &[]);
    let resp = send(&gw, "/v1/chat/completions", &[], json!({"model": "fast", "messages": user("hi")})).await;
    assert_eq!(resp.status(), 200);
    let (trace, _) = sent_upstream(&up, 0);
    collector.trace(&trace, 2).await;

    let elsewhere = Collector::start().await;
    let gw = gateway(&file, &elsewhere.endpoint, &[]);
    let resp = send(&gw, "/v1/chat/completions", &[], json!({"model": "fast", "messages": user("hi")})).await;
    assert_eq!(resp.status(), 200);
    let (trace, _) = sent_upstream(&up, 1);
    elsewhere.trace(&trace, 2).await;
    assert!(collector.spans.lock().unwrap().iter().all(|s| s.trace_id() != trace), "the environment won");
}

#[tokio::test]
async fn an_embeddings_request_is_traced_as_embeddings_under_the_clients_span() {
    let (collector, up) = (Collector::start().await, FakeUpstream::start(answer).await);
    let gw = gateway(&config(&up, &up), &collector.endpoint, &[]);
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let body = json!({"model": "embed", "input": "abc"});
    let resp = send(&gw, "/v1/embeddings", &[("traceparent", &traceparent)], body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-switchyard-overhead-ms").is_some());
    resp.text().await.unwrap();

    let spans = collector.trace(CLIENT_TRACE, 2).await;
    let (server, attempt) = (&by_kind(&spans, SpanKind::Server)[0], &by_kind(&spans, SpanKind::Client)[0]);
    assert_eq!(server.span.name, "embeddings embed");
    assert_eq!(server.parent_id(), CLIENT_SPAN);
    assert_eq!(attempt.span.name, "embeddings text-embedding-3-small");
    for s in [server, attempt] {
        assert_eq!(s.str("gen_ai.operation.name"), "embeddings");
        assert_eq!(s.str("gen_ai.response.model"), "text-embedding-3-small");
        assert_eq!(s.int("gen_ai.usage.input_tokens"), 3);
        assert_eq!(s.attr("gen_ai.response.id"), None, "embeddings have no id");
    }
    assert_eq!(sent_upstream(&up, 0), (CLIENT_TRACE.to_owned(), attempt.span_id()));
}
