//! URL path segments built from model ids, which come from clients and config: escaping one as a
//! single segment, and refusing the ids that no escaping makes safe. Builds strings; sends
//! nothing. Each dialect's `Egress::path` uses these; the gateway checks client-chosen ids with
//! [`check_model_id`] before they reach a URL.

/// The longest model id accepted. Real ids (ARNs included) stay well under it.
pub const MAX_MODEL_ID_BYTES: usize = 256;

/// Percent-encodes a model id (base id, inference-profile id or ARN) as one path segment: every
/// byte but the RFC 3986 unreserved characters is escaped, so `/` becomes `%2F`, `?` `%3F`, `#`
/// `%23`, `%` `%25`, `:` `%3A`, a space `%20` and control characters their codes. An id made
/// of dots alone (`.`, `..`) has its dots escaped too; WHATWG URL parsers (and the `url` crate)
/// still read `%2E%2E` as `..`, so such ids must be refused first, with [`check_model_id`].
pub fn encode_path_segment(s: &str) -> String {
    encode_segment(s, b"")
}

/// Like [`encode_path_segment`], but leaves the bytes in `keep` as they are. Only for bytes that
/// RFC 3986 allows in a segment (`@`, `:` and the sub-delimiters) and whose escaped form a
/// provider is not known to accept.
pub(crate) fn encode_segment(s: &str, keep: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let dots_only = !s.is_empty() && s.bytes().all(|b| b == b'.');
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        let allowed = (unreserved && !dots_only) || (keep.contains(&b) && is_segment_safe(b));
        if allowed {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Bytes RFC 3986 allows unescaped inside a path segment besides the unreserved ones.
fn is_segment_safe(b: u8) -> bool {
    matches!(b, b'@' | b':' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=')
}

/// Whether a model id is safe to route and to put in a URL: not empty, at most
/// [`MAX_MODEL_ID_BYTES`] bytes, no control characters, no `?`, `#` or `\`, and no `.` or `..`
/// path segment (nor their percent-encoded spellings, which URL parsers treat alike). The
/// reason is fixed text that never repeats the id, so it can be shown to a client as it is.
pub fn check_model_id(model: &str) -> Result<(), &'static str> {
    if model.is_empty() {
        return Err("the model name is empty");
    }
    if model.len() > MAX_MODEL_ID_BYTES {
        return Err("the model name is longer than 256 bytes");
    }
    if model.chars().any(char::is_control) {
        return Err("the model name contains a control character");
    }
    if model.contains(['?', '#']) {
        return Err("the model name contains `?` or `#`");
    }
    if model.contains('\\') {
        return Err("the model name contains a backslash");
    }
    if model.split('/').any(is_dot_segment) {
        return Err("the model name contains a `.` or `..` path segment");
    }
    Ok(())
}

/// `.` or `..`, spelled with dots or `%2e` in any case, as the WHATWG URL standard reads them.
fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    let plain = lower.replace("%2e", ".");
    plain == "." || plain == ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_escape_everything_but_unreserved_characters() {
        let cases = [
            ("gemini-2.5-flash", "gemini-2.5-flash"),
            ("a_b~c", "a_b~c"),
            ("anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-5-sonnet-20240620-v1%3A0"),
            ("a/b?c#d%e f", "a%2Fb%3Fc%23d%25e%20f"),
            ("x\n\r\t\u{0}\u{7f}", "x%0A%0D%09%00%7F"),
            ("caf\u{e9}", "caf%C3%A9"),
            ("..", "%2E%2E"),
            (".", "%2E"),
            ("a..b", "a..b"),
            ("", ""),
        ];
        for (raw, escaped) in cases {
            assert_eq!(encode_path_segment(raw), escaped, "{raw:?}");
        }
        assert_eq!(encode_segment("claude@2025:x/y", b"@"), "claude@2025%3Ax%2Fy");
        // Only bytes RFC 3986 allows in a segment can be kept.
        assert_eq!(encode_segment("a/b?c", b"/?"), "a%2Fb%3Fc");
    }

    #[test]
    fn model_ids_that_no_escaping_makes_safe_are_refused() {
        for ok in [
            "gpt-4o",
            "openai/gpt-4o",
            "claude-sonnet-4-5@20250929",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
            "a..b",
            "...",
            "auto",
        ] {
            assert_eq!(check_model_id(ok), Ok(()), "{ok}");
        }
        let long = "m".repeat(MAX_MODEL_ID_BYTES + 1);
        for bad in [
            "",
            long.as_str(),
            "gem/../../admin/delete?x=",
            "gem\nx",
            "gem\u{85}x",
            "a?b",
            "a#b",
            "a\\b",
            "..",
            "a/..",
            "./a",
            "a/%2e%2E/b",
            "a/.%2e",
            "%2E",
        ] {
            assert!(check_model_id(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_model_id(&"m".repeat(MAX_MODEL_ID_BYTES)), Ok(()));
    }
}
