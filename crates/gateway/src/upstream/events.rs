//! Reads an upstream's streamed body as canonical events: bytes → frames → events, one
//! `poll` at a time, so the client's pace sets the upstream's (backpressure).

use std::pin::Pin;
use std::task::{Context, Poll};

use dialect::framing::Deframer;
use dialect::{DecodeError, StreamDecoder, StreamEvent};
use futures_util::Stream;

use super::client::{BoxError, TimedBody, TransportError};

/// Why a stream stopped before its proper end.
#[derive(Debug, thiserror::Error)]
pub enum StreamFailure {
    /// The read timeout passed without a byte.
    #[error("the upstream sent nothing for too long")]
    TimedOut,
    /// The connection failed mid-body.
    #[error("the upstream connection failed")]
    Transport(#[source] BoxError),
    #[error("the upstream closed the stream early")]
    Truncated,
    /// The bytes were not the dialect they should be.
    #[error("the upstream sent an unreadable stream")]
    Decode(#[source] DecodeError),
    /// The stream ended properly but said nothing.
    #[error("the stream ended without any event")]
    Empty,
}

impl From<DecodeError> for StreamFailure {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::Truncated => StreamFailure::Truncated,
            e => StreamFailure::Decode(e),
        }
    }
}

pub struct EventSource {
    body: TimedBody,
    deframer: Deframer,
    decoder: Box<dyn StreamDecoder + Send>,
    ended: bool,
}

impl EventSource {
    pub fn new(body: TimedBody, deframer: Deframer, decoder: Box<dyn StreamDecoder + Send>) -> Self {
        EventSource { body, deframer, decoder, ended: false }
    }

    /// Ready(Ok(Some(events))) with at least one event; Ready(Ok(None)) at the proper end.
    pub fn poll_events(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Vec<StreamEvent>>, StreamFailure>> {
        loop {
            if self.ended {
                return Poll::Ready(Ok(None));
            }
            let chunk = match Pin::new(&mut self.body).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => chunk,
                Poll::Ready(Some(Err(e))) => {
                    self.ended = true;
                    let failure = match e {
                        TransportError::TimedOut => StreamFailure::TimedOut,
                        TransportError::Failed(e) => StreamFailure::Transport(e),
                    };
                    return Poll::Ready(Err(failure));
                }
                Poll::Ready(None) => {
                    self.ended = true;
                    return Poll::Ready(self.finish().map(|ev| (!ev.is_empty()).then_some(ev)));
                }
            };
            let mut events = Vec::new();
            let mut failure = None;
            let decoder = &mut self.decoder;
            let parsed = self.deframer.feed_with(&chunk, |frame| {
                if failure.is_some() {
                    return;
                }
                match decoder.feed(&frame) {
                    Ok(ev) => events.extend(ev),
                    Err(e) => failure = Some(e),
                }
            });
            if let Some(e) = failure.or(parsed.err()) {
                self.ended = true;
                return Poll::Ready(Err(e.into()));
            }
            if !events.is_empty() {
                return Poll::Ready(Ok(Some(events)));
            }
        }
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, StreamFailure> {
        let mut events = Vec::new();
        if let Some(frame) = self.deframer.finish()? {
            events.extend(self.decoder.feed(&frame)?);
        }
        events.extend(self.decoder.finish()?);
        Ok(events)
    }

    pub async fn next_events(&mut self) -> Result<Option<Vec<StreamEvent>>, StreamFailure> {
        std::future::poll_fn(|cx| self.poll_events(cx)).await
    }
}
