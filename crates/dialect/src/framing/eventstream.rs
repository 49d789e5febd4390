//! AWS event-stream framing (`application/vnd.amazon.eventstream`), as Bedrock's ConverseStream
//! uses it: binary messages of prelude (total and header lengths, CRC), typed headers, payload
//! and a message CRC. Decoding and CRC checks are the official `aws-smithy-eventstream` crate's;
//! this module buffers partial messages between chunks and keeps only the headers a dialect
//! reads. Knows nothing of JSON.

use aws_smithy_eventstream::frame::{write_message_to, DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::{Buf, Bytes, BytesMut};

use crate::DecodeError;

/// The format's own limit on one message (prelude, headers, payload and CRC together). A
/// prelude claiming more is refused rather than buffered without bound.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// One event-stream message, reduced to the headers a dialect needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventStreamMessage {
    /// `:message-type`: `event`, `exception` or `error`. None: the header was absent.
    pub message_type: Option<String>,
    /// `:event-type` of an `event` message (`contentBlockDelta`, ...).
    pub event_type: Option<String>,
    /// `:exception-type` of an `exception` message (`throttlingException`, ...).
    pub exception_type: Option<String>,
    /// `:content-type`, normally `application/json`.
    pub content_type: Option<String>,
    /// `:error-code` of a protocol-level `error` message.
    pub error_code: Option<String>,
    /// `:error-message` of a protocol-level `error` message.
    pub error_message: Option<String>,
    pub payload: Bytes,
}

impl EventStreamMessage {
    fn from_message(message: &Message) -> Self {
        let mut out = EventStreamMessage { payload: message.payload().clone(), ..Default::default() };
        for header in message.headers() {
            // Bedrock sends every header it defines as a string; other value types are ignored.
            let Ok(value) = header.value().as_string() else {
                continue;
            };
            let slot = match header.name().as_str() {
                ":message-type" => &mut out.message_type,
                ":event-type" => &mut out.event_type,
                ":exception-type" => &mut out.exception_type,
                ":content-type" => &mut out.content_type,
                ":error-code" => &mut out.error_code,
                ":error-message" => &mut out.error_message,
                _ => continue,
            };
            *slot = Some(value.as_str().to_owned());
        }
        out
    }
}

/// Incremental decoder: feed it bytes as they arrive, take out whole messages.
#[derive(Debug, Default)]
pub struct EventStreamParser {
    buf: BytesMut,
    decoder: MessageFrameDecoder,
    /// Bytes fed that belong to a message not yet complete (its prelude may already be consumed
    /// from `buf` by the decoder).
    partial: usize,
}

impl EventStreamParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `chunk` and returns every message it completes.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<EventStreamMessage>, DecodeError> {
        let mut out = Vec::new();
        self.feed_with(chunk, |m| out.push(m))?;
        Ok(out)
    }

    /// Like [`feed`](Self::feed) but hands messages to `sink` without collecting them. A
    /// checksum mismatch or a malformed prelude or header is an error; the stream cannot be
    /// resynchronised after one.
    pub fn feed_with(&mut self, chunk: &[u8], mut sink: impl FnMut(EventStreamMessage)) -> Result<(), DecodeError> {
        self.buf.extend_from_slice(chunk);
        self.partial += chunk.len();
        loop {
            match self.decoder.decode_frame(&mut self.buf) {
                Ok(DecodedFrame::Complete(message)) => {
                    self.partial = self.buf.remaining();
                    sink(EventStreamMessage::from_message(&message));
                }
                Ok(DecodedFrame::Incomplete) if self.partial > MAX_MESSAGE_BYTES => {
                    return Err(DecodeError::Framing(format!(
                        "an event-stream message is longer than {MAX_MESSAGE_BYTES} bytes"
                    )))
                }
                Ok(DecodedFrame::Incomplete) => return Ok(()),
                Err(e) => return Err(DecodeError::Framing(format!("bad event-stream message: {e}"))),
            }
        }
    }

    /// The stream closed. Bytes of an unfinished message are an error: the upstream was cut off.
    pub fn finish(&mut self) -> Result<(), DecodeError> {
        if self.partial == 0 {
            return Ok(());
        }
        let partial = std::mem::take(&mut self.partial);
        self.buf.clear();
        self.decoder = MessageFrameDecoder::new();
        Err(DecodeError::Framing(format!("the stream ended inside an event-stream message ({partial} bytes)")))
    }
}

fn encode(headers: Vec<Header>, payload: &[u8]) -> Vec<u8> {
    let message = Message::new_from_parts(headers, Bytes::copy_from_slice(payload));
    let mut out = Vec::new();
    // Only a header or payload over the format's limits (16 MiB) fails; such a frame is not
    // written at all, which a test would notice at once.
    if write_message_to(&message, &mut out).is_err() {
        out.clear();
    }
    out
}

fn string_header(name: &'static str, value: &str) -> Header {
    Header::new(name, HeaderValue::String(value.to_owned().into()))
}

/// One `event` message with a JSON payload, as Bedrock writes it. For tests and fake upstreams.
pub fn encode_event_frame(event_type: &str, payload: &[u8]) -> Vec<u8> {
    let headers = vec![
        string_header(":event-type", event_type),
        string_header(":content-type", "application/json"),
        string_header(":message-type", "event"),
    ];
    encode(headers, payload)
}

/// One `exception` message with a JSON payload (`{"message":"..."}`). For tests and fake
/// upstreams.
pub fn encode_exception_frame(exception_type: &str, payload: &[u8]) -> Vec<u8> {
    let headers = vec![
        string_header(":exception-type", exception_type),
        string_header(":content-type", "application/json"),
        string_header(":message-type", "exception"),
    ];
    encode(headers, payload)
}

/// One protocol-level `error` message (`:error-code`, `:error-message`, empty payload). For tests
/// and fake upstreams.
pub fn encode_error_frame(error_code: &str, error_message: &str) -> Vec<u8> {
    let headers = vec![
        string_header(":error-code", error_code),
        string_header(":error-message", error_message),
        string_header(":message-type", "error"),
    ];
    encode(headers, b"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Result<Vec<EventStreamMessage>, DecodeError> {
        let mut p = EventStreamParser::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.feed(c)?);
        }
        p.finish()?;
        Ok(out)
    }

    fn wire() -> Vec<u8> {
        let mut wire = encode_event_frame("messageStart", br#"{"role":"assistant"}"#);
        wire.extend(encode_event_frame("contentBlockDelta", br#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#));
        wire.extend(encode_exception_frame("throttlingException", br#"{"message":"slow down"}"#));
        wire
    }

    #[test]
    fn messages_split_at_every_byte_parse_the_same() {
        let wire = wire();
        let whole = parse_all(&[&wire]).unwrap_or_default();
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].message_type.as_deref(), Some("event"));
        assert_eq!(whole[0].event_type.as_deref(), Some("messageStart"));
        assert_eq!(whole[0].content_type.as_deref(), Some("application/json"));
        assert_eq!(&whole[0].payload[..], br#"{"role":"assistant"}"#);
        assert_eq!(whole[2].message_type.as_deref(), Some("exception"));
        assert_eq!(whole[2].exception_type.as_deref(), Some("throttlingException"));
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(parse_all(&bytes).unwrap_or_default(), whole);
        let odd: Vec<&[u8]> = wire.chunks(7).collect();
        assert_eq!(parse_all(&odd).unwrap_or_default(), whole);
    }

    #[test]
    fn a_frame_has_the_documented_layout() {
        let frame = encode_event_frame("x", b"{}");
        let total = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(total, frame.len());
        let prelude_crc = u32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]);
        assert_eq!(prelude_crc, crc32(&frame[..8]));
        let n = frame.len();
        let message_crc = u32::from_be_bytes([frame[n - 4], frame[n - 3], frame[n - 2], frame[n - 1]]);
        assert_eq!(message_crc, crc32(&frame[..n - 4]));
    }

    /// Bitwise IEEE CRC-32, written out so the test does not trust the crate it checks.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn a_corrupted_payload_fails_its_checksum() {
        let mut frame = encode_event_frame("contentBlockDelta", br#"{"delta":{"text":"Hi"}}"#);
        let n = frame.len();
        frame[n - 8] ^= 0x01;
        assert!(matches!(parse_all(&[&frame]), Err(DecodeError::Framing(_))));
    }

    #[test]
    fn a_corrupted_prelude_is_an_error_not_a_panic() {
        let mut frame = encode_event_frame("x", b"{}");
        frame[3] ^= 0xff;
        assert!(parse_all(&[&frame]).is_err());
        let mut frame = encode_event_frame("x", b"{}");
        frame[0..4].copy_from_slice(&[0xff; 4]);
        assert!(parse_all(&[&frame]).is_err());
    }

    #[test]
    fn a_truncated_frame_is_an_error_at_finish() {
        let frame = encode_event_frame("x", b"{}");
        for cut in [1, 11, 12, frame.len() - 1] {
            assert!(matches!(parse_all(&[&frame[..cut]]), Err(DecodeError::Framing(_))), "cut at {cut}");
        }
        assert_eq!(parse_all(&[]).unwrap_or_default(), []);
    }
}
