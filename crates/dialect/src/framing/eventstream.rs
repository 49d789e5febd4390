//! AWS event-stream framing (`application/vnd.amazon.eventstream`), as Bedrock's ConverseStream
//! uses it: binary messages of prelude (total and header lengths, CRC), typed headers, payload
//! and a message CRC. Decoding the headers and the message CRC check are the official
//! `aws-smithy-eventstream` crate's; this module checks each prelude as soon as its 12 bytes
//! arrive (so a corrupted length fails at once instead of after buffering up to the limit),
//! buffers at most one message between chunks and keeps only the headers a dialect reads.
//! Knows nothing of JSON.

use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::{Bytes, BytesMut};

use crate::DecodeError;

/// The format's own limit on one message (prelude, headers, payload and CRC together). A
/// prelude claiming more is refused rather than buffered without bound.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Total length, header length, prelude CRC.
const PRELUDE_BYTES: usize = 12;
/// The smallest message: a prelude and the message CRC.
const MIN_MESSAGE_BYTES: usize = PRELUDE_BYTES + 4;

/// A buffer that grew past this is given back after its message, so one large message does
/// not pin its memory for the rest of the stream.
const KEEP_BUFFER_CAPACITY: usize = 256 * 1024;

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
    /// The bytes of the message being read, from its first byte; never more than one message.
    buf: BytesMut,
    /// The current message's total length, once its prelude has arrived and checked out.
    need: Option<usize>,
    /// A message was malformed. The stream cannot be resynchronised, so every later call
    /// fails too.
    failed: Option<DecodeError>,
    /// Bytes copied into `buf`, to prove in tests that nothing is copied twice.
    #[cfg(test)]
    copied: usize,
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
    /// checksum mismatch, a length outside the format's bounds, or a malformed header is an
    /// error; the stream cannot be resynchronised after one.
    pub fn feed_with(&mut self, chunk: &[u8], mut sink: impl FnMut(EventStreamMessage)) -> Result<(), DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut rest = chunk;
        loop {
            let want = self.need.unwrap_or(PRELUDE_BYTES);
            // Take only what the current message still lacks: the rest of the chunk waits for
            // the next turn, so the buffer never holds more than one message.
            let take = want.saturating_sub(self.buf.len()).min(rest.len());
            let (head, tail) = rest.split_at(take);
            self.buf.extend_from_slice(head);
            #[cfg(test)]
            {
                self.copied += head.len();
            }
            rest = tail;
            if self.buf.len() < want {
                return Ok(());
            }
            if self.need.is_none() {
                match check_prelude(&self.buf) {
                    Ok(total) => self.need = Some(total),
                    Err(e) => return Err(self.fail(e)),
                }
                continue;
            }
            let frame = self.buf.split().freeze();
            self.need = None;
            if self.buf.capacity() > KEEP_BUFFER_CAPACITY {
                self.buf = BytesMut::new();
            }
            match read_message_from(frame) {
                Ok(message) => sink(EventStreamMessage::from_message(&message)),
                Err(e) => return Err(self.fail(DecodeError::Framing(format!("bad event-stream message: {e}")))),
            }
        }
    }

    /// The stream closed. Bytes of an unfinished message are an error: the upstream was cut off.
    pub fn finish(&mut self) -> Result<(), DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let partial = self.buf.len();
        self.buf = BytesMut::new();
        self.need = None;
        if partial == 0 {
            return Ok(());
        }
        Err(DecodeError::Framing(format!("the stream ended inside an event-stream message ({partial} bytes)")))
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.buf = BytesMut::new();
        self.need = None;
        self.failed = Some(e.clone());
        e
    }
}

/// The total length a 12-byte prelude announces, once its CRC and lengths check out.
fn check_prelude(prelude: &[u8]) -> Result<usize, DecodeError> {
    let word = |at: usize| prelude.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_be_bytes);
    let (Some(total), Some(headers), Some(crc)) = (word(0), word(4), word(8)) else {
        return Err(DecodeError::Framing("bad event-stream message: short prelude".into()));
    };
    let expected = crc32(prelude.get(..8).unwrap_or_default());
    if crc != expected {
        return Err(DecodeError::Framing(format!(
            "bad event-stream message: prelude checksum {crc:#010x}, expected {expected:#010x}"
        )));
    }
    let total = usize::try_from(total).unwrap_or(usize::MAX);
    let headers = usize::try_from(headers).unwrap_or(usize::MAX);
    if total > MAX_MESSAGE_BYTES {
        return Err(DecodeError::Framing(format!(
            "an event-stream message is longer than {MAX_MESSAGE_BYTES} bytes ({total})"
        )));
    }
    if total < MIN_MESSAGE_BYTES || headers > total - MIN_MESSAGE_BYTES {
        return Err(DecodeError::Framing(format!(
            "bad event-stream message: total length {total} with {headers} bytes of headers"
        )));
    }
    Ok(total)
}

/// IEEE CRC-32 of a prelude's 8 bytes.
fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
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

    /// A prelude announcing 4 GiB was only refused once 16 MiB had been buffered; one with a
    /// bad checksum was buffered up to its claimed length before the checksum was looked at.
    #[test]
    fn regression_eventstream_bad_preludes_fail_at_their_twelfth_byte() {
        let mut huge = encode_event_frame("x", b"{}");
        huge[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
        let crc = crc32(&huge[..8]);
        huge[8..12].copy_from_slice(&crc.to_be_bytes());
        let mut lying = encode_event_frame("x", b"{}");
        lying[0..4].copy_from_slice(&(10u32 * 1024 * 1024).to_be_bytes());
        let mut tiny = encode_event_frame("x", b"{}");
        tiny[0..4].copy_from_slice(&8u32.to_be_bytes());
        let crc = crc32(&tiny[..8]);
        tiny[8..12].copy_from_slice(&crc.to_be_bytes());
        for frame in [huge, lying, tiny] {
            let mut p = EventStreamParser::new();
            assert!(p.feed(&frame[..11]).is_ok());
            assert!(matches!(p.feed(&frame[11..12]), Err(DecodeError::Framing(_))));
            assert!(p.feed(&frame[12..]).is_err(), "stays failed");
            assert!(p.finish().is_err());
        }
    }

    /// A large message fed in small chunks is copied once and never holds more than itself.
    #[test]
    fn regression_eventstream_large_message_is_linear_and_bounded() {
        let payload = vec![b'p'; 4 * 1024 * 1024];
        let mut wire = encode_event_frame("contentBlockDelta", &payload);
        let one = wire.len();
        wire.extend(encode_event_frame("messageStop", b"{}"));
        let started = std::time::Instant::now();
        let mut p = EventStreamParser::new();
        let mut got = Vec::new();
        for chunk in wire.chunks(4096) {
            got.extend(p.feed(chunk).unwrap_or_default());
            assert!(p.buf.len() <= one);
        }
        assert!(p.finish().is_ok());
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].payload.len(), payload.len());
        assert_eq!(p.copied, wire.len());
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
        // One chunk holding many messages is taken a message at a time.
        let mut p = EventStreamParser::new();
        assert_eq!(p.feed(&wire).unwrap_or_default().len(), 2);
    }

    #[test]
    fn a_message_over_the_limit_is_refused() {
        let payload = vec![b'p'; MAX_MESSAGE_BYTES];
        let frame = encode_event_frame("x", &payload);
        let mut p = EventStreamParser::new();
        assert!(matches!(p.feed(&frame), Err(DecodeError::Framing(_))));
    }
}
