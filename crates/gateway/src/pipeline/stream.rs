//! The client's side of a stream: canonical events from the upstream, written in the client's
//! dialect as they arrive. Polled by the client connection, so a slow client slows the
//! upstream read (backpressure) and a client that leaves drops the upstream connection. The
//! request's deadline and the end of shutdown's grace period cut it with an error event.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use dialect::{ErrorKind, ResponseMeta, StreamEncoder, StreamError, StreamEvent};
use futures_util::Stream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::finalize::Finalizer;
use crate::telemetry::Outcome;
use crate::upstream::EventSource;

/// A stream past its commit point, waiting for the client's encoder.
pub struct StreamReply {
    first: Vec<StreamEvent>,
    /// The upstream's events still to come; None: `first` is the whole reply (from the cache).
    rest: Option<EventSource>,
    finalizer: Finalizer,
    deadline: Instant,
    shutdown: CancellationToken,
    pub meta: ResponseMeta,
    /// Given the whole reply once the stream ended normally (see
    /// [`StreamEncoder::completed`]): how a Responses API stream is stored.
    pub on_complete: Option<OnComplete>,
    /// Where the whole reply is stored in the response cache once the stream ends well.
    pub(super) capture: Option<Capture>,
}

/// A streamed reply assembled as it passes, for the response cache.
pub(super) struct Capture {
    assembler: dialect::ReplyAssembler,
    store: super::cached::Store,
}

impl Capture {
    pub(super) fn new(store: super::cached::Store) -> Capture {
        Capture { assembler: dialect::ReplyAssembler::new(), store }
    }
}

pub type OnComplete = Box<dyn FnOnce(serde_json::Value) + Send>;

impl StreamReply {
    pub(super) fn new(
        first: Vec<StreamEvent>,
        rest: Option<EventSource>,
        mut finalizer: Finalizer,
        deadline: Instant,
        shutdown: CancellationToken,
        meta: ResponseMeta,
    ) -> StreamReply {
        finalizer.committed();
        StreamReply { first, rest, finalizer, deadline, shutdown, meta, on_complete: None, capture: None }
    }

    /// The byte stream in the client's dialect.
    pub fn into_body(self, encoder: Box<dyn StreamEncoder + Send>) -> ClientStream {
        ClientStream {
            pending: Some(self.first),
            source: self.rest,
            encoder,
            done: false,
            finalizer: self.finalizer,
            on_complete: self.on_complete,
            capture: self.capture,
            deadline: Box::pin(tokio::time::sleep_until(self.deadline.into())),
            shutdown: Box::pin(self.shutdown.cancelled_owned()),
        }
    }
}

pub struct ClientStream {
    pending: Option<Vec<StreamEvent>>,
    source: Option<EventSource>,
    encoder: Box<dyn StreamEncoder + Send>,
    done: bool,
    finalizer: Finalizer,
    on_complete: Option<OnComplete>,
    capture: Option<Capture>,
    /// The request's overall deadline: an upstream that drips bytes cannot hold it open.
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// Resolves when shutdown's grace period is over.
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl ClientStream {
    fn write(&mut self, events: &[StreamEvent]) -> Bytes {
        let mut out = Vec::with_capacity(256 * events.len());
        for e in events {
            match e {
                // A replayed reply's usage was the provider's, not this request's.
                StreamEvent::Usage { usage } if self.source.is_some() => self.finalizer.set_usage(*usage),
                StreamEvent::Error { .. } => self.finalizer.noted(Outcome::UpstreamError),
                StreamEvent::Start { id, model, .. } => {
                    if let Some(t) = self.finalizer.trace() {
                        t.answered(Some(id), model);
                    }
                }
                StreamEvent::Finish { reason, .. } => {
                    if let Some(t) = self.finalizer.trace() {
                        t.finished(Some(*reason));
                    }
                }
                _ => {}
            }
            if let Some(capture) = &mut self.capture {
                capture.assembler.push(e);
            }
            self.encoder.encode(e, &mut out);
        }
        Bytes::from(out)
    }

    /// Ends the stream early with an error event the client can read.
    fn cut(&mut self, kind: ErrorKind, message: &str, outcome: Outcome) -> Bytes {
        self.done = true;
        let error = StreamEvent::Error { error: StreamError { kind, message: message.to_owned() } };
        let bytes = self.write(&[error]);
        self.finalizer.cut(outcome);
        bytes
    }
}

impl Stream for ClientStream {
    type Item = Result<Bytes, Infallible>;

    /// Nothing in a poll waits, so all its time is the gateway's own (decoding, encoding).
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let started = Instant::now();
        let polled = this.poll_events(cx);
        this.finalizer.worked(started.elapsed());
        polled
    }
}

impl ClientStream {
    fn poll_events(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        let this = self;
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
        let polled = match &mut this.source {
            Some(source) => source.poll_events(cx),
            None => Poll::Ready(Ok(None)),
        };
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Some(events))) => Poll::Ready(Some(Ok(this.write(&events)))),
            Poll::Ready(Ok(None)) => {
                this.done = true;
                let mut out = Vec::new();
                this.encoder.finish(&mut out);
                this.finalizer.complete();
                if let Some(on_complete) = this.on_complete.take() {
                    if let Some(whole) = this.encoder.completed() {
                        on_complete(whole);
                    }
                }
                if let Some(Capture { assembler, store }) = this.capture.take() {
                    // None for a stream that carried an error: never stored.
                    if let Some(whole) = assembler.finish() {
                        store.keep(this.finalizer.app(), &whole, this.finalizer.cost_nanos());
                    }
                }
                Poll::Ready(Some(Ok(Bytes::from(out))))
            }
            Poll::Ready(Err(failure)) => {
                this.done = true;
                let error = StreamEvent::Error {
                    error: StreamError { kind: ErrorKind::Upstream, message: crate::error::chain(&failure) },
                };
                let bytes = this.write(&[error]);
                this.finalizer.broke(Outcome::StreamBroken);
                Poll::Ready(Some(Ok(bytes)))
            }
        }
    }
}
