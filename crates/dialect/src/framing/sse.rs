//! Server-sent events, parsed incrementally (sans-IO) per the WHATWG event-stream rules:
//! `\n`, `\r\n` or `\r` line ends, `:` comments ignored, multi-line `data` joined with `\n`,
//! an event dispatched on a blank line.

use crate::DecodeError;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// None: no `event:` line (the default "message" type).
    pub event: Option<String>,
    pub data: String,
}

/// Incremental parser: feed it bytes as they arrive, take out whole events.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    /// Where the next unread line starts in `buf`.
    pos: usize,
    /// A `\r` ended the last line; a `\n` right after it belongs to that line end.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

/// A single line longer than this is refused rather than buffered without bound.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `chunk` and returns every event it completes.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, DecodeError> {
        let mut out = Vec::new();
        self.feed_with(chunk, |ev| out.push(ev))?;
        Ok(out)
    }

    /// Like [`feed`](Self::feed) but hands events to `sink` without collecting them.
    pub fn feed_with(&mut self, chunk: &[u8], mut sink: impl FnMut(SseEvent)) -> Result<(), DecodeError> {
        self.buf.extend_from_slice(chunk);
        loop {
            if self.after_cr && self.pos < self.buf.len() {
                if self.buf[self.pos] == b'\n' {
                    self.pos += 1;
                }
                self.after_cr = false;
            }
            let rest = &self.buf[self.pos..];
            let Some(end) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') else {
                break;
            };
            let line_end = self.pos + end;
            self.after_cr = self.buf[line_end] == b'\r';
            let line = String::from_utf8_lossy(&self.buf[self.pos..line_end]).into_owned();
            self.pos = line_end + 1;
            if let Some(ev) = self.line(&line) {
                sink(ev);
            }
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(DecodeError::Framing(format!("an SSE line is longer than {MAX_LINE_BYTES} bytes")));
        }
        Ok(())
    }

    /// The stream closed. Returns an event left without its closing blank line, if any.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.buf.is_empty() {
            let line = String::from_utf8_lossy(&self.buf).into_owned();
            self.buf.clear();
            self.pos = 0;
            self.line(&line);
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            // `id` and `retry` steer browser reconnection; a proxy has no use for them.
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseEvent { event, data: std::mem::take(&mut self.data) })
    }
}

/// Writes one SSE event: optional `event:` line, `data:` lines, blank line.
pub fn write_event(out: &mut Vec<u8>, event: Option<&str>, data: &[u8]) {
    if let Some(event) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
    for line in data.split(|b| *b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.feed(c).unwrap_or_default());
        }
        out.extend(p.finish());
        out
    }

    #[test]
    fn events_split_at_every_byte_parse_the_same() {
        let wire = b"event: message_start\ndata: {\"a\":1}\n\n: ping\ndata: x\ndata: y\n\ndata: [DONE]\n\n";
        let whole = parse_all(&[wire]);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].event.as_deref(), Some("message_start"));
        assert_eq!(whole[1].data, "x\ny");
        assert_eq!(whole[2].data, "[DONE]");
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(parse_all(&bytes), whole);
    }

    #[test]
    fn crlf_and_cr_line_ends_are_accepted() {
        let events = parse_all(&[b"data: a\r\n\r\ndata: b\r\r", b"data:c\n\n"]);
        let data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["a", "b", "c"]);
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_end() {
        let events = parse_all(&[b"data: a\r", b"\n\r", b"\ndata: b\n\n"]);
        let data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["a", "b"]);
    }

    #[test]
    fn an_event_without_its_blank_line_is_returned_at_finish() {
        let events = parse_all(&[b"data: tail"]);
        assert_eq!(events, [SseEvent { event: None, data: "tail".into() }]);
    }

    #[test]
    fn written_events_parse_back() {
        let mut out = Vec::new();
        write_event(&mut out, Some("x"), b"line1\nline2");
        assert_eq!(parse_all(&[&out]), [SseEvent { event: Some("x".into()), data: "line1\nline2".into() }]);
    }
}
