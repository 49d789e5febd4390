//! The client's side of a stream: canonical events from the upstream, written in the client's
//! dialect as they arrive. Polled by the client connection, so a slow client slows the
//! upstream read (backpressure) and a client that leaves drops the upstream connection.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dialect::{ErrorKind, StreamEncoder, StreamError, StreamEvent, Usage};
use futures_util::Stream;
use std::future::Future;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::telemetry::{Outcome, RequestFinished};
use crate::upstream::EventSource;

pub struct ClientStream {
    pending: Option<Vec<StreamEvent>>,
    source: EventSource,
    encoder: Box<dyn StreamEncoder + Send>,
    done: bool,
    finalizer: Finalizer,
    /// The request's overall deadline: an upstream that drips bytes cannot hold it open.
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// Resolves when shutdown's grace period is over.
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl ClientStream {
    pub fn new(
        first: Vec<StreamEvent>,
        source: EventSource,
        encoder: Box<dyn StreamEncoder + Send>,
        finalizer: Finalizer,
        deadline: Instant,
        shutdown: CancellationToken,
    ) -> Self {
        ClientStream {
            pending: Some(first),
            source,
            encoder,
            done: false,
            finalizer,
            deadline: Box::pin(tokio::time::sleep_until(deadline.into())),
            shutdown: Box::pin(shutdown.cancelled_owned()),
        }
    }

    /// Ends the stream early with an error event the client can read.
    fn cut(&mut self, kind: ErrorKind, message: &str, outcome: Outcome) -> Bytes {
        self.done = true;
        let error = StreamEvent::Error { error: StreamError { kind, message: message.to_owned() } };
        let bytes = self.write(&[error]);
        self.finalizer.outcome = outcome;
        self.finalizer.cut_short = true;
        self.finalizer.complete();
        bytes
    }

    fn write(&mut self, events: &[StreamEvent]) -> Bytes {
        let mut out = Vec::with_capacity(256 * events.len());
        for e in events {
            self.finalizer.observe(e);
            self.encoder.encode(e, &mut out);
        }
        Bytes::from(out)
    }
}

impl Stream for ClientStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(first) = this.pending.take() {
            return Poll::Ready(Some(Ok(this.write(&first))));
        }
        if this.done {
            return Poll::Ready(None);
        }
        if this.shutdown.as_mut().poll(cx).is_ready() {
            let msg = "The gateway is shutting down; the stream was cut before its end.";
            return Poll::Ready(Some(Ok(this.cut(ErrorKind::Overloaded, msg, Outcome::Shutdown))));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            let msg = "The request's deadline passed before the stream ended.";
            return Poll::Ready(Some(Ok(this.cut(ErrorKind::Timeout, msg, Outcome::Timeout))));
        }
        match this.source.poll_events(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Some(events))) => Poll::Ready(Some(Ok(this.write(&events)))),
            Poll::Ready(Ok(None)) => {
                this.done = true;
                let mut out = Vec::new();
                this.encoder.finish(&mut out);
                this.finalizer.complete();
                Poll::Ready(Some(Ok(Bytes::from(out))))
            }
            Poll::Ready(Err(failure)) => {
                this.done = true;
                let error = StreamEvent::Error {
                    error: StreamError { kind: ErrorKind::Upstream, message: failure.to_string() },
                };
                let bytes = this.write(&[error]);
                this.finalizer.outcome = Outcome::StreamBroken;
                this.finalizer.complete();
                Poll::Ready(Some(Ok(bytes)))
            }
        }
    }
}

/// Records a stream's end however it comes: finished, broken, or dropped by the client.
pub struct Finalizer {
    request_id: String,
    alias: Arc<str>,
    provider: Arc<str>,
    started: Instant,
    time_to_first_token: Duration,
    usage: Option<Usage>,
    outcome: Outcome,
    completed: bool,
    /// Ended by the gateway (deadline, shutdown) before the upstream's end.
    cut_short: bool,
    /// Keeps the request counted in flight on its deployment until the stream ends.
    in_flight: Option<super::attempt::InFlight>,
    /// Where the stream's ledger row goes, and what it is about.
    ledger: Option<(crate::ledger::Ledger, crate::routing::Deployment, Instant)>,
    /// The calling key, and its budget hold to settle with the stream's real cost.
    key: Option<Arc<crate::keys::KeyRecord>>,
    reservation: Option<(Arc<crate::app::App>, crate::keys::Reservation)>,
}

impl Finalizer {
    pub fn new(
        request_id: String,
        alias: Arc<str>,
        provider: Arc<str>,
        started: Instant,
        first_event_at: Instant,
    ) -> Self {
        Finalizer {
            request_id,
            alias,
            provider,
            time_to_first_token: first_event_at.duration_since(started),
            started,
            usage: None,
            outcome: Outcome::Ok,
            completed: false,
            cut_short: false,
            in_flight: None,
            ledger: None,
            key: None,
            reservation: None,
        }
    }

    pub(super) fn billing(
        mut self,
        key: Option<crate::keys::KeyRecord>,
        reservation: Option<(Arc<crate::app::App>, crate::keys::Reservation)>,
    ) -> Self {
        self.key = key.map(Arc::new);
        self.reservation = reservation;
        self
    }

    pub(super) fn recording(
        mut self,
        ledger: Option<crate::ledger::Ledger>,
        deployment: crate::routing::Deployment,
        attempt_started: Instant,
    ) -> Self {
        self.ledger = ledger.map(|l| (l, deployment, attempt_started));
        self
    }

    pub(super) fn holding(mut self, in_flight: super::attempt::InFlight) -> Self {
        self.in_flight = Some(in_flight);
        self
    }

    fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Usage { usage } => {
                let mut usage = *usage;
                super::record::clamp_usage(&mut usage);
                self.usage = Some(usage);
            }
            StreamEvent::Error { .. } => self.outcome = Outcome::UpstreamError,
            _ => {}
        }
    }

    fn complete(&mut self) {
        self.completed = true;
    }
}

impl Drop for Finalizer {
    fn drop(&mut self) {
        let outcome = if self.completed { self.outcome } else { Outcome::ClientCancelled };
        let mut cost = 0;
        if let Some((ledger, deployment, attempt_started)) = &self.ledger {
            let attempt = super::record::Attempt {
                request_id: &self.request_id,
                key_id: self.key.as_deref().map(|k| k.id.as_str()),
                team: self.key.as_deref().and_then(|k| k.team.as_deref()),
                alias: &self.alias,
                deployment,
                usage: self.usage,
                status: 200,
                outcome: outcome.as_str(),
                latency: attempt_started.elapsed(),
                ttft: Some(self.time_to_first_token),
                stream: true,
                cancelled: !self.completed || self.cut_short,
            };
            let entry = attempt.entry();
            cost = entry.cost_nanos.unwrap_or(0);
            ledger.record(entry);
        }
        if let Some((app, reservation)) = self.reservation.take() {
            app.limiter.settle(reservation, cost);
        }
        RequestFinished {
            request_id: &self.request_id,
            alias: &self.alias,
            provider: &self.provider,
            status: 200,
            outcome,
            stream: true,
            duration: self.started.elapsed(),
            time_to_first_token: Some(self.time_to_first_token),
            usage: self.usage,
        }
        .emit();
    }
}
