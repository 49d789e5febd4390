//! Responses API streams: the typed SSE events (`response.created` … `response.completed`) a
//! Responses client reads, written from canonical events one by one, and the same events from
//! OpenAI and Azure decoded into canonical ones.

use crate::{DecodeError, Frame, ResponseMeta, StreamDecoder, StreamEncoder, StreamEvent};

pub struct EventEncoder {}

impl EventEncoder {
    pub fn new(meta: &ResponseMeta) -> Self {
        let _ = meta;
        EventEncoder {}
    }
}

impl StreamEncoder for EventEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        let _ = (event, out);
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        let _ = out;
    }
}

#[derive(Default)]
pub struct EventDecoder {}

impl StreamDecoder for EventDecoder {
    fn feed(&mut self, frame: &Frame) -> Result<Vec<StreamEvent>, DecodeError> {
        let _ = frame;
        Ok(Vec::new())
    }
    fn finish(&mut self) -> Result<Vec<StreamEvent>, DecodeError> {
        Ok(Vec::new())
    }
}
