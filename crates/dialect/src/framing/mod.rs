//! How a dialect's stream is cut into frames on the wire. Framing knows bytes, not JSON.

pub mod eventstream;
pub mod sse;

pub use eventstream::{EventStreamMessage, EventStreamParser};
pub use sse::{SseEvent, SseParser};

use crate::DecodeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Sse,
    /// AWS `application/vnd.amazon.eventstream` binary messages (Bedrock).
    EventStream,
}

impl Framing {
    pub fn deframer(self) -> Deframer {
        match self {
            Framing::Sse => Deframer::Sse(SseParser::new()),
            Framing::EventStream => Deframer::EventStream(EventStreamParser::new()),
        }
    }
}

/// One frame of an upstream stream, handed to a dialect's stream decoder.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Sse(SseEvent),
    EventStream(EventStreamMessage),
}

/// Cuts a byte stream into frames of one framing, keeping partial frames between chunks.
#[derive(Debug)]
pub enum Deframer {
    Sse(SseParser),
    EventStream(EventStreamParser),
}

impl Deframer {
    /// Feeds one chunk; `sink` sees every frame the chunk completes, in order.
    pub fn feed_with(&mut self, chunk: &[u8], mut sink: impl FnMut(Frame)) -> Result<(), DecodeError> {
        match self {
            Deframer::Sse(p) => p.feed_with(chunk, |e| sink(Frame::Sse(e))),
            Deframer::EventStream(p) => p.feed_with(chunk, |m| sink(Frame::EventStream(m))),
        }
    }

    /// The stream ended: the last frame if the upstream did not terminate it. Event-stream
    /// messages are length-prefixed, so an unfinished one is an error instead; so is an SSE
    /// event over its size limit, and any stream that already failed.
    pub fn finish(&mut self) -> Result<Option<Frame>, DecodeError> {
        match self {
            Deframer::Sse(p) => Ok(p.try_finish()?.map(Frame::Sse)),
            Deframer::EventStream(p) => p.finish().map(|()| None),
        }
    }
}
