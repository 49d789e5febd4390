//! One request's spans, when traces are on: a SERVER span for the request, named
//! `{operation} {model}` as the OpenTelemetry GenAI conventions name spans, and a CLIENT span
//! under it per upstream attempt, whose id travels to the upstream in `traceparent`. Their
//! attributes are the GenAI conventions' (`gen_ai.*`) and Switchyard's own (`switchyard.*`),
//! taken from what the pipeline has already worked out; the finalizer holds the request's
//! trace and ends it with the rest of its bookkeeping. When traces are off nothing here runs:
//! the finalizer holds no trace.

use std::sync::Arc;
use std::time::Duration;

use dialect::{ChatRequest, FinishReason, Usage};
use http::StatusCode;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::Span;

use crate::keys::KeyRecord;
use crate::routing::Deployment;
use crate::telemetry::otel::{self, TraceHeaders};
use crate::telemetry::Outcome;
use crate::upstream::ProviderKind;

/// The GenAI operation a request performs.
#[derive(Debug, Clone, Copy)]
pub(super) enum Operation {
    Chat,
    Embeddings,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Chat => "chat",
            Operation::Embeddings => "embeddings",
        }
    }
}

/// `gen_ai.provider.name`: the GenAI conventions' well-known value for a provider kind, or the
/// kind's own name for those the conventions do not list.
pub fn provider_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Openai => "openai",
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Azure => "azure.ai.openai",
        ProviderKind::Gemini => "gcp.gemini",
        ProviderKind::Vertex => "gcp.vertex_ai",
        ProviderKind::Bedrock => "aws.bedrock",
        ProviderKind::Xai => "x_ai",
        ProviderKind::Mistral => "mistral_ai",
        ProviderKind::Groq => "groq",
        ProviderKind::Deepseek => "deepseek",
        ProviderKind::OpenaiCompatible
        | ProviderKind::Together
        | ProviderKind::Fireworks
        | ProviderKind::Openrouter
        | ProviderKind::Ollama
        | ProviderKind::Llamacpp
        | ProviderKind::Vllm
        | ProviderKind::Lmstudio => kind.name(),
    }
}

fn finish_reason(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Stop | FinishReason::StopSequence => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_call",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::Error => "error",
    }
}

/// What the reply said about itself, for the request's span and its winning attempt's.
#[derive(Default)]
struct Answer {
    id: Option<String>,
    model: Option<String>,
    /// In choice order; a stream's finish events come one per choice.
    finish_reasons: Vec<&'static str>,
}

/// The request's span (in a context, so attempts are made under it) and what it learns.
pub(super) struct RequestTrace {
    cx: Context,
    operation: Operation,
    recording: bool,
    winner: Option<AttemptTrace>,
    /// Which attempt answered: 1 for the first.
    winner_number: u32,
    answer: Answer,
}

/// One attempt's span and the trace headers that carry it upstream.
pub(super) struct AttemptTrace {
    /// None only if traces were never on (see [`RequestTrace::attempt`]).
    span: Option<Span>,
    /// Taken by the attempt loop for the upstream request.
    pub headers: TraceHeaders,
}

/// How the request ended, for its span: what the finalizer knows when it drops.
pub(super) struct Ending<'a> {
    pub status: StatusCode,
    pub outcome: Outcome,
    pub usage: Option<Usage>,
    /// Nano-dollars; None: unpriced, or no usage.
    pub cost_nanos: Option<i64>,
    /// Where the winning attempt went.
    pub winner: Option<&'a Deployment>,
    pub time_to_first_chunk: Option<Duration>,
    /// `exact` or `semantic` when the cache answered.
    pub cache: Option<&'static str>,
}

impl RequestTrace {
    /// The request's span, under the client's span when it sent a valid `traceparent`; None
    /// when traces are off.
    pub fn start(
        operation: Operation,
        model: &str,
        route: &'static str,
        parent: &TraceHeaders,
        req: Option<&ChatRequest>,
        key: Option<&KeyRecord>,
    ) -> Option<Box<RequestTrace>> {
        let tracer = otel::tracer()?;
        // The client's text: bounded, as anything quoted back to it is.
        let model = crate::error::echo(model);
        let mut attributes = Vec::with_capacity(12);
        attributes.push(KeyValue::new("gen_ai.operation.name", operation.as_str()));
        attributes.push(KeyValue::new("gen_ai.request.model", model.clone().into_owned()));
        attributes.push(KeyValue::new("http.request.method", "POST"));
        attributes.push(KeyValue::new("http.route", route));
        if let Some(req) = req {
            request_parameters(req, &mut attributes);
        }
        if let Some(key) = key {
            attributes.push(KeyValue::new("switchyard.key_id", key.id.clone()));
            if let Some(team) = &key.team {
                attributes.push(KeyValue::new("switchyard.team", team.clone()));
            }
        }
        let parent = parent.parent();
        let span = tracer
            .span_builder(format!("{} {model}", operation.as_str()))
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(tracer, &parent);
        let recording = span.is_recording();
        Some(Box::new(RequestTrace {
            cx: parent.with_span(span),
            operation,
            recording,
            winner: None,
            winner_number: 0,
            answer: Answer::default(),
        }))
    }

    /// The request was routed to `alias`.
    pub fn routed(&self, alias: &Arc<str>) {
        if self.recording {
            self.cx.span().set_attribute(otel::shared("switchyard.alias", alias));
        }
    }

    /// A span for attempt `number` (1 for the first) at `deployment`, under the request's.
    pub fn attempt(&self, deployment: &Deployment, number: u32) -> AttemptTrace {
        let attributes = if self.recording {
            vec![
                KeyValue::new("gen_ai.operation.name", self.operation.as_str()),
                KeyValue::new("gen_ai.provider.name", provider_name(deployment.provider.kind)),
                otel::shared("gen_ai.request.model", &deployment.model),
                otel::shared("switchyard.provider", &deployment.provider.name),
                KeyValue::new("switchyard.deployment", deployment.label().to_owned()),
                KeyValue::new("switchyard.attempt", i64::from(number)),
            ]
        } else {
            Vec::new()
        };
        let name = format!("{} {}", self.operation.as_str(), deployment.model);
        // Traces were on when this request's trace began, and are never turned off.
        let Some(tracer) = otel::tracer() else {
            return AttemptTrace { span: None, headers: TraceHeaders::default() };
        };
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(tracer, &self.cx);
        let headers = TraceHeaders::of(span.span_context());
        AttemptTrace { span: Some(span), headers }
    }

    /// The reply's own id (embeddings have none) and model, as the client is given them.
    pub fn answered(&mut self, id: Option<&str>, model: &str) {
        if self.recording {
            self.answer.id = id.filter(|id| !id.is_empty()).map(str::to_owned);
            self.answer.model = Some(model.to_owned()).filter(|m| !m.is_empty());
        }
    }

    pub fn finished(&mut self, reason: Option<FinishReason>) {
        if self.recording {
            self.answer.finish_reasons.push(reason.map_or("", finish_reason));
        }
    }

    /// Attempt `number` answered: its span ends with the request's.
    pub fn won(&mut self, attempt: AttemptTrace, number: u32) {
        self.winner = Some(attempt);
        self.winner_number = number;
    }

    /// Ends the winning attempt's span and the request's.
    pub fn end(self, end: &Ending<'_>) {
        let RequestTrace { cx, recording, winner, winner_number, answer, .. } = self;
        let span = cx.span();
        if let Some(mut attempt) = winner.and_then(|w| w.span) {
            if attempt.is_recording() {
                attempt.set_attributes(reply_attributes(&answer, end));
                attempt.set_attribute(KeyValue::new("switchyard.outcome", end.outcome.as_str()));
                // The attempt was answered: whatever went wrong later came in the body.
                attempt.set_attribute(KeyValue::new("http.response.status_code", 200));
                if end.outcome != Outcome::Ok {
                    attempt.set_status(Status::error(end.outcome.as_str()));
                }
            }
            attempt.end();
        }
        if recording {
            span.set_attributes(reply_attributes(&answer, end));
            let mut attributes = Vec::with_capacity(8);
            attributes.push(KeyValue::new("switchyard.outcome", end.outcome.as_str()));
            attributes.push(KeyValue::new("http.response.status_code", i64::from(end.status.as_u16())));
            if let Some(deployment) = end.winner {
                attributes.push(KeyValue::new("gen_ai.provider.name", provider_name(deployment.provider.kind)));
                attributes.push(otel::shared("switchyard.provider", &deployment.provider.name));
                attributes.push(KeyValue::new("switchyard.deployment", deployment.label().to_owned()));
                attributes.push(KeyValue::new("switchyard.attempt", i64::from(winner_number)));
            }
            if let Some(ttfc) = end.time_to_first_chunk {
                attributes.push(KeyValue::new("gen_ai.response.time_to_first_chunk", ttfc.as_secs_f64()));
            }
            if let Some(kind) = end.cache {
                attributes.push(KeyValue::new("switchyard.cache", kind));
            }
            if end.outcome != Outcome::Ok {
                attributes.push(KeyValue::new("error.type", end.outcome.as_str()));
            }
            span.set_attributes(attributes);
            if end.outcome != Outcome::Ok || end.status.is_server_error() {
                span.set_status(Status::error(end.outcome.as_str()));
            }
        }
        span.end();
    }
}

impl AttemptTrace {
    /// The attempt failed: `status` is the upstream's HTTP status when one came.
    pub fn failed(self, outcome: Outcome, status: Option<u16>) {
        let Some(mut span) = self.span else { return };
        if span.is_recording() {
            span.set_attribute(KeyValue::new("switchyard.outcome", outcome.as_str()));
            span.set_attribute(KeyValue::new("error.type", outcome.as_str()));
            if let Some(status) = status {
                span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status)));
            }
            span.set_status(Status::error(outcome.as_str()));
        }
        span.end();
    }
}

/// The GenAI request parameters the client set.
fn request_parameters(req: &ChatRequest, out: &mut Vec<KeyValue>) {
    if let Some(n) = req.max_tokens {
        out.push(KeyValue::new("gen_ai.request.max_tokens", i64::try_from(n).unwrap_or(i64::MAX)));
    }
    if let Some(t) = req.temperature {
        out.push(KeyValue::new("gen_ai.request.temperature", t));
    }
    if let Some(p) = req.top_p {
        out.push(KeyValue::new("gen_ai.request.top_p", p));
    }
    if let Some(k) = req.top_k {
        out.push(KeyValue::new("gen_ai.request.top_k", k as f64));
    }
    if let Some(seed) = req.seed {
        out.push(KeyValue::new("gen_ai.request.seed", seed));
    }
    // The conventions set it only for streams: unset means not streamed.
    if req.stream {
        out.push(KeyValue::new("gen_ai.request.stream", true));
    }
}

/// What a reply says: its id, model, finish reasons, usage and cost.
fn reply_attributes(answer: &Answer, end: &Ending<'_>) -> Vec<KeyValue> {
    let mut out = Vec::with_capacity(8);
    if let Some(id) = &answer.id {
        out.push(KeyValue::new("gen_ai.response.id", id.clone()));
    }
    if let Some(model) = &answer.model {
        out.push(KeyValue::new("gen_ai.response.model", model.clone()));
    }
    if !answer.finish_reasons.is_empty() {
        let reasons: Vec<StringValue> = answer.finish_reasons.iter().map(|r| StringValue::from(*r)).collect();
        out.push(KeyValue::new("gen_ai.response.finish_reasons", Value::Array(Array::String(reasons))));
    }
    if let Some(u) = end.usage {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        out.push(KeyValue::new("gen_ai.usage.input_tokens", count(u.input_tokens)));
        out.push(KeyValue::new("gen_ai.usage.output_tokens", count(u.output_tokens)));
        if let Some(cached) = u.cached_input_tokens {
            out.push(KeyValue::new("gen_ai.usage.cache_read.input_tokens", count(cached)));
        }
        if let Some(written) = u.cache_write_tokens {
            out.push(KeyValue::new("gen_ai.usage.cache_creation.input_tokens", count(written)));
        }
    }
    if let Some(nanos) = end.cost_nanos {
        // Exact as decimal text and as integer nanos; never a float.
        out.push(KeyValue::new("switchyard.cost_usd", super::usd(nanos)));
        out.push(KeyValue::new("switchyard.cost_nanos", nanos));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_follow_the_genai_registry() {
        assert_eq!(provider_name(ProviderKind::Bedrock), "aws.bedrock");
        assert_eq!(provider_name(ProviderKind::Vertex), "gcp.vertex_ai");
        assert_eq!(provider_name(ProviderKind::Gemini), "gcp.gemini");
        assert_eq!(provider_name(ProviderKind::Azure), "azure.ai.openai");
        assert_eq!(provider_name(ProviderKind::Xai), "x_ai");
        assert_eq!(provider_name(ProviderKind::Mistral), "mistral_ai");
        assert_eq!(provider_name(ProviderKind::Vllm), "vllm", "unlisted kinds keep their own name");
    }
}
