//! Replaying a whole [`ChatResponse`] as the canonical [`StreamEvent`]s a stream of it would
//! have carried, so a stored reply can answer a streamed request through any ingress's stream
//! encoder. Owns the order and the cutting of those events; the inverse is
//! [`crate::ReplyAssembler`].
//!
//! `ReplyAssembler::assemble(&replay(r, n))` gives `r` back for any `n`, except for what a
//! stream has no form for:
//! - `service_tier`, a Text part's `cache_control`, a Raw part's `kind` (empty after), and Image
//!   and ToolResult parts (a reply never holds them; they are left out);
//! - empty text and refusal parts, and a reasoning part with no text, signature or encrypted
//!   data, are left out; a null `logprobs` is none;
//! - parts a stream cannot tell apart run together: adjacent text parts, adjacent refusal parts,
//!   and a reasoning part with neither signature nor encrypted data and the reasoning part after
//!   it become one; a reasoning part with both a signature and encrypted data (no decoder writes
//!   one) comes back as two;
//! - choices come back ordered by index; a reply with a choice that has no finish reason (it was
//!   cut short) assembles to nothing, unless that choice has nothing else either, when it is
//!   left out.

use crate::{ChatResponse, Part, StreamEvent};

/// The events of a stream of `resp`: `Start`; per choice its parts in order (text, reasoning,
/// refusal and tool-call arguments in deltas of `chunk_chars` characters, never splitting one),
/// its log-probabilities, its `Finish`; then `Usage` if the reply has usage. Deterministic.
/// A `chunk_chars` of 0 is taken as 1.
pub fn replay(resp: &ChatResponse, chunk_chars: usize) -> Vec<StreamEvent> {
    let mut out = vec![StreamEvent::Start {
        id: resp.id.clone(),
        model: resp.model.clone(),
        created: resp.created,
        system_fingerprint: resp.system_fingerprint.clone(),
    }];
    for c in &resp.choices {
        let choice = c.index;
        // Stream indexes count tool calls within the choice, whatever parts lie between them.
        let mut calls = 0u32;
        for part in &c.content {
            match part {
                Part::Text { text, .. } => {
                    out.extend(pieces(text, chunk_chars).map(|t| StreamEvent::TextDelta { choice, text: t.to_owned() }))
                }
                Part::Reasoning { text, signature, redacted } => {
                    out.extend(
                        pieces(text, chunk_chars).map(|t| StreamEvent::ReasoningDelta { choice, text: t.to_owned() }),
                    );
                    if let Some(signature) = signature {
                        out.push(StreamEvent::ReasoningSignature { choice, signature: signature.clone() });
                    }
                    if let Some(data) = redacted {
                        out.push(StreamEvent::ReasoningRedacted { choice, data: data.clone() });
                    }
                }
                Part::Refusal { text } => out.extend(
                    pieces(text, chunk_chars).map(|t| StreamEvent::RefusalDelta { choice, text: t.to_owned() }),
                ),
                Part::ToolCall { id, name, arguments } => {
                    let index = calls;
                    calls = calls.saturating_add(1);
                    out.push(StreamEvent::ToolCallStart { choice, index, id: id.clone(), name: name.clone() });
                    out.extend(pieces(arguments, chunk_chars).map(|a| StreamEvent::ToolCallDelta {
                        choice,
                        index,
                        arguments: a.to_owned(),
                    }));
                }
                Part::Raw { dialect, value, .. } => {
                    out.push(StreamEvent::RawItem { choice, dialect: *dialect, value: value.clone() })
                }
                // Request-side parts: no decoder puts them in a reply, and no stream event
                // carries them.
                Part::Image { .. } | Part::ToolResult { .. } => {}
            }
        }
        if let Some(logprobs) = c.logprobs.as_ref().filter(|v| !v.is_null()) {
            out.push(StreamEvent::Logprobs { choice, logprobs: logprobs.clone() });
        }
        if let Some(reason) = c.finish_reason {
            out.push(StreamEvent::Finish { choice, reason, stop_sequence: c.stop_sequence.clone() });
        }
    }
    if let Some(usage) = resp.usage {
        out.push(StreamEvent::Usage { usage });
    }
    out
}

/// `text` in pieces of `n` characters (the last one shorter), cut only between characters.
/// Empty text has no pieces: decoders never emit an empty delta.
fn pieces(text: &str, n: usize) -> impl Iterator<Item = &str> {
    let n = n.max(1);
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = rest.char_indices().nth(n).map_or(rest.len(), |(at, _)| at);
        let (piece, tail) = rest.split_at(cut);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{pieces, replay};
    use crate::{ChatResponse, Choice, Dialect, FinishReason, Part, StreamEvent, Usage};

    #[test]
    fn pieces_are_cut_between_characters_never_inside_one() {
        let text = "é😀ab€";
        assert_eq!(pieces(text, 2).collect::<Vec<_>>(), ["é😀", "ab", "€"]);
        assert_eq!(pieces(text, 100).collect::<Vec<_>>(), [text]);
        assert_eq!(pieces(text, 0).collect::<Vec<_>>(), ["é", "😀", "a", "b", "€"]);
        assert_eq!(pieces("", 3).count(), 0);
    }

    #[test]
    fn a_reply_replays_as_start_parts_logprobs_finish_then_usage() {
        let usage = Usage { input_tokens: 85, output_tokens: 150, ..Usage::default() };
        let logprobs = json!({"content": [{"token": "Hi", "logprob": -0.1}], "refusal": null});
        let resp = ChatResponse {
            id: "resp_1".into(),
            model: "o4-mini".into(),
            created: 7,
            choices: vec![
                Choice {
                    index: 0,
                    content: vec![
                        Part::Reasoning { text: "Paris?".into(), signature: None, redacted: Some("gAAA".into()) },
                        Part::Raw {
                            dialect: Dialect::OpenaiResponses,
                            kind: "web_search_call".into(),
                            value: json!({"type": "web_search_call"}),
                        },
                        Part::ToolCall {
                            id: "call_1".into(),
                            name: "get_weather".into(),
                            arguments: "{\"c\":1}".into(),
                        },
                        Part::ToolCall { id: "call_2".into(), name: "get_time".into(), arguments: String::new() },
                    ],
                    finish_reason: Some(FinishReason::ToolCalls),
                    ..Choice::default()
                },
                Choice {
                    index: 1,
                    content: vec![Part::text("Hi"), Part::Refusal { text: "No.".into() }],
                    finish_reason: Some(FinishReason::StopSequence),
                    stop_sequence: Some("\n".into()),
                    logprobs: Some(logprobs.clone()),
                },
            ],
            usage: Some(usage),
            system_fingerprint: None,
            service_tier: None,
        };
        let expected = vec![
            StreamEvent::Start { id: "resp_1".into(), model: "o4-mini".into(), created: 7, system_fingerprint: None },
            StreamEvent::ReasoningDelta { choice: 0, text: "Pari".into() },
            StreamEvent::ReasoningDelta { choice: 0, text: "s?".into() },
            StreamEvent::ReasoningRedacted { choice: 0, data: "gAAA".into() },
            StreamEvent::RawItem {
                choice: 0,
                dialect: Dialect::OpenaiResponses,
                value: json!({"type": "web_search_call"}),
            },
            StreamEvent::ToolCallStart { choice: 0, index: 0, id: "call_1".into(), name: "get_weather".into() },
            StreamEvent::ToolCallDelta { choice: 0, index: 0, arguments: "{\"c\"".into() },
            StreamEvent::ToolCallDelta { choice: 0, index: 0, arguments: ":1}".into() },
            StreamEvent::ToolCallStart { choice: 0, index: 1, id: "call_2".into(), name: "get_time".into() },
            StreamEvent::Finish { choice: 0, reason: FinishReason::ToolCalls, stop_sequence: None },
            StreamEvent::TextDelta { choice: 1, text: "Hi".into() },
            StreamEvent::RefusalDelta { choice: 1, text: "No.".into() },
            StreamEvent::Logprobs { choice: 1, logprobs },
            StreamEvent::Finish { choice: 1, reason: FinishReason::StopSequence, stop_sequence: Some("\n".into()) },
            StreamEvent::Usage { usage },
        ];
        assert_eq!(replay(&resp, 4), expected);
        assert_eq!(replay(&resp, 4), expected, "the same reply replays the same way");
    }
}
