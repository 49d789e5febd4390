//! Responses API streams: the typed SSE events (`response.created` … `response.completed`) a
//! Responses client reads, written from canonical events one by one ([`EventEncoder`]), and the
//! same events from OpenAI and Azure decoded into canonical ones ([`EventDecoder`]).
//!
//! Every event is `event: <type>` plus `data: {"type": <type>, "sequence_number": n, ...}`;
//! there is no `[DONE]`: a stream ends with `response.completed`, `response.incomplete` or
//! `response.failed` (or a bare `error` event).

mod decode;
mod encode;

pub use decode::EventDecoder;
pub use encode::EventEncoder;
