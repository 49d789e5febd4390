//! How a dialect's stream is cut into frames on the wire. Framing knows bytes, not JSON.

pub mod sse;

pub use sse::{SseEvent, SseParser};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Sse,
}

/// One frame of an upstream stream, handed to a dialect's stream decoder.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Sse(SseEvent),
}
