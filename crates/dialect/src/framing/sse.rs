//! Server-sent events, parsed incrementally (sans-IO) per the WHATWG event-stream rules:
//! `\n`, `\r\n` or `\r` line ends, `:` comments ignored, multi-line `data` joined with `\n`,
//! an event dispatched on a blank line.
//!
//! Every byte is looked at once: an unfinished line is kept aside and never rescanned, so a
//! stream costs time linear in its length however it is chunked. A line longer than
//! [`MAX_LINE_BYTES`] or an event whose `data` outgrows [`MAX_EVENT_BYTES`] is refused the
//! moment it does, before more of it is buffered.

use crate::DecodeError;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// None: no `event:` line (the default "message" type).
    pub event: Option<String>,
    pub data: String,
}

/// A single line longer than this is refused rather than buffered without bound.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// The `data` of one event (its `data:` lines joined) longer than this is refused: many short
/// `data:` lines without a blank line would otherwise grow one event without bound.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// A line buffer that grew past this is given back after its line, so one long line does not
/// pin its memory for the rest of the stream.
const KEEP_LINE_CAPACITY: usize = 64 * 1024;

/// Incremental parser: feed it bytes as they arrive, take out whole events.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The unfinished line: bytes after the last line end, already scanned.
    line: Vec<u8>,
    /// A `\r` ended the last line; a `\n` right after it belongs to that line end.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// A limit was exceeded. The stream cannot be resynchronised, so every later call fails too.
    failed: Option<DecodeError>,
    /// Bytes examined for line ends, to prove in tests that nothing is scanned twice.
    #[cfg(test)]
    scanned: usize,
}

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
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut rest = chunk;
        while !rest.is_empty() {
            if std::mem::take(&mut self.after_cr) && rest.first() == Some(&b'\n') {
                rest = &rest[1..];
                continue;
            }
            let Some(end) = self.find_line_end(rest) else {
                self.check_line(rest.len())?;
                self.line.extend_from_slice(rest);
                break;
            };
            self.check_line(end)?;
            self.after_cr = rest[end] == b'\r';
            let (line, tail) = rest.split_at(end);
            rest = &tail[1..];
            let event = if self.line.is_empty() {
                self.line(line)
            } else {
                let mut whole = std::mem::take(&mut self.line);
                whole.extend_from_slice(line);
                let event = self.line(&whole);
                whole.clear();
                if whole.capacity() <= KEEP_LINE_CAPACITY {
                    self.line = whole;
                }
                event
            };
            match event {
                Ok(Some(ev)) => sink(ev),
                Ok(None) => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
        Ok(())
    }

    /// The stream closed. Returns an event left without its closing blank line, if any; an
    /// over-long last line or event is dropped (use [`try_finish`](Self::try_finish) to see why).
    pub fn finish(&mut self) -> Option<SseEvent> {
        self.try_finish().ok().flatten()
    }

    /// Like [`finish`](Self::finish), but says when the stream already failed or its last event
    /// is over [`MAX_EVENT_BYTES`].
    pub fn try_finish(&mut self) -> Result<Option<SseEvent>, DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.after_cr = false;
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            // A non-empty line never dispatches; only its `data` matters.
            if let Err(e) = self.line(&line) {
                return Err(self.fail(e));
            }
        }
        Ok(self.dispatch())
    }

    /// Where the first line end in `bytes` is.
    fn find_line_end(&mut self, bytes: &[u8]) -> Option<usize> {
        let end = bytes.iter().position(|b| *b == b'\n' || *b == b'\r');
        #[cfg(test)]
        {
            self.scanned += end.map_or(bytes.len(), |e| e + 1);
        }
        end
    }

    /// Fails once the pending line would grow past [`MAX_LINE_BYTES`] with `more` bytes.
    fn check_line(&mut self, more: usize) -> Result<(), DecodeError> {
        if self.line.len().saturating_add(more) <= MAX_LINE_BYTES {
            return Ok(());
        }
        Err(self.fail(DecodeError::Framing(format!("an SSE line is longer than {MAX_LINE_BYTES} bytes"))))
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.line = Vec::new();
        self.data = String::new();
        self.failed = Some(e.clone());
        e
    }

    fn line(&mut self, line: &[u8]) -> Result<Option<SseEvent>, DecodeError> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line.first() == Some(&b':') {
            return Ok(None);
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                // Borrowed when the bytes are UTF-8, which they nearly always are: no copy.
                let value = String::from_utf8_lossy(value);
                let grown = self.data.len() + usize::from(self.has_data) + value.len();
                if grown > MAX_EVENT_BYTES {
                    return Err(DecodeError::Framing(format!(
                        "an SSE event's data is longer than {MAX_EVENT_BYTES} bytes"
                    )));
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            // `id` and `retry` steer browser reconnection; a proxy has no use for them.
            _ => {}
        }
        Ok(None)
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
    write_event_line(out, event);
    for line in data.split(|b| *b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Appends one event whose data is `data` as compact JSON, serialized straight into `out` (one
/// line: compact JSON escapes every newline). A value that cannot be serialized leaves the data
/// empty, as [`write_event`] with no bytes would.
pub fn write_json_event(out: &mut Vec<u8>, event: Option<&str>, data: &impl serde::Serialize) {
    write_event_line(out, event);
    out.extend_from_slice(b"data: ");
    let start = out.len();
    if serde_json::to_writer(&mut *out, data).is_err() {
        out.truncate(start);
    }
    out.extend_from_slice(b"\n\n");
}

/// The `event:` line of a named event; nothing for the default "message" type.
fn write_event_line(out: &mut Vec<u8>, event: Option<&str>) {
    if let Some(event) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
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

    #[test]
    fn json_events_are_one_data_line_and_parse_back() {
        let mut out = b"data: before\n\n".to_vec();
        let value = serde_json::json!({"text": "two\nlines", "n": 1});
        write_json_event(&mut out, Some("delta"), &value);
        assert!(
            out.ends_with(b"event: delta\ndata: {\"n\":1,\"text\":\"two\\nlines\"}\n\n"),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
        let events = parse_all(&[&out]);
        assert_eq!(events[1].event.as_deref(), Some("delta"));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&events[1].data).unwrap(), value);
    }

    #[test]
    fn a_json_event_that_cannot_be_serialized_has_empty_data() {
        let mut out = Vec::new();
        // JSON object keys must be strings.
        let unserializable: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        write_json_event(&mut out, None, &unserializable);
        assert_eq!(out, b"data: \n\n");
    }

    /// A stream in every split into two chunks, and byte by byte, gives the same events.
    #[test]
    fn regression_sse_every_split_parses_the_same() {
        let wire: &[u8] = b"event: a\r\ndata: {\"x\":1}\r\n\r\n: ping\rdata: one\ndata:two\r\rdata: caf\xc3\xa9 \xff\n\nid: 7\nretry: 1\ndata\n\n\r\ndata: tail";
        let whole = parse_all(&[wire]);
        let data: Vec<&str> = whole.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["{\"x\":1}", "one\ntwo", "caf\u{e9} \u{fffd}", "", "tail"]);
        assert_eq!(whole[0].event.as_deref(), Some("a"));
        for i in 0..=wire.len() {
            let (a, b) = wire.split_at(i);
            assert_eq!(parse_all(&[a, b]), whole, "split at {i}");
            for j in i..=wire.len() {
                let (b, c) = wire[i..].split_at(j - i);
                assert_eq!(parse_all(&[a, b, c]), whole, "split at {i} and {j}");
            }
        }
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(parse_all(&bytes), whole);
    }

    /// A line with no end, fed 4 KiB at a time, used to be rescanned from its start on every
    /// chunk (16 MiB took ~16 CPU-seconds). Now each byte is looked at once and the line fails
    /// as soon as it passes the cap.
    #[test]
    fn regression_sse_long_line_is_scanned_once_and_refused_at_the_cap() {
        let started = std::time::Instant::now();
        let mut p = SseParser::new();
        let chunk = vec![b'a'; 4096];
        let mut fed = 0;
        let mut result = p.feed(b"data: ");
        fed += 6;
        while result.is_ok() && fed <= MAX_LINE_BYTES + 4096 {
            result = p.feed(&chunk);
            fed += chunk.len();
        }
        assert!(matches!(result, Err(DecodeError::Framing(_))), "{result:?}");
        // It failed with the chunk that took the line past the cap, not later.
        assert!(fed > MAX_LINE_BYTES && fed <= MAX_LINE_BYTES + chunk.len(), "failed after {fed} bytes");
        assert!(p.scanned <= fed, "{} bytes scanned for {fed} fed", p.scanned);
        assert!(p.line.capacity() == 0, "the refused line is let go");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
        // The stream cannot be resynchronised.
        assert!(p.feed(b"\n\ndata: x\n\n").is_err());
        assert!(p.try_finish().is_err());
    }

    #[test]
    fn regression_sse_a_line_at_the_cap_is_accepted() {
        let mut line = b"data: ".to_vec();
        line.resize(MAX_LINE_BYTES, b'b');
        let mut p = SseParser::new();
        assert_eq!(p.feed(&line).unwrap_or_default(), []);
        let events = p.feed(b"\n\n").unwrap_or_default();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data.len(), MAX_LINE_BYTES - 6);
        assert!(p.feed(b"data: x").is_ok());
        assert_eq!(p.line.len(), 7);
    }

    /// Many `data:` lines without a blank line grew one event without bound.
    #[test]
    fn regression_sse_event_data_is_capped() {
        let mut line = b"data: ".to_vec();
        line.resize(1024 * 1024, b'c');
        line.push(b'\n');
        let mut p = SseParser::new();
        let mut result = Ok(Vec::new());
        let mut lines = 0;
        while result.is_ok() && lines < 20 {
            result = p.feed(&line);
            lines += 1;
        }
        assert!(matches!(result, Err(DecodeError::Framing(_))), "{result:?}");
        assert_eq!(lines, MAX_EVENT_BYTES / (1024 * 1024 - 6) + 1);
        // The same at the end of a stream, for an event left without its blank line.
        let mut p = SseParser::new();
        for _ in 0..MAX_EVENT_BYTES / (1024 * 1024 - 6) {
            assert!(p.feed(&line).is_ok());
        }
        assert!(p.feed(&line[..line.len() - 1]).is_ok());
        assert!(matches!(p.try_finish(), Err(DecodeError::Framing(_))));
        assert_eq!(p.finish(), None);
    }
}
