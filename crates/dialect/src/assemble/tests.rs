//! Tests of assembling streams into whole replies, and of replaying whole replies as streams:
//! unit cases, every stream fixture, and the round-trip property `assemble(replay(r)) == r`.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::{json, Value};

use super::ReplyAssembler;
use crate::{
    replay, ChatResponse, Choice, Dialect, ErrorKind, FinishReason, Frame, ImageSource, Part, StreamError, StreamEvent,
    Usage,
};

fn start() -> StreamEvent {
    StreamEvent::Start {
        id: "chatcmpl-9xQ".into(),
        model: "gpt-4.1-2025-04-14".into(),
        created: 1_763_510_400,
        system_fingerprint: Some("fp_b3f1157249".into()),
    }
}

fn text(choice: u32, text: &str) -> StreamEvent {
    StreamEvent::TextDelta { choice, text: text.into() }
}

fn reasoning(text: &str) -> StreamEvent {
    StreamEvent::ReasoningDelta { choice: 0, text: text.into() }
}

fn call(index: u32, id: &str, name: &str) -> StreamEvent {
    StreamEvent::ToolCallStart { choice: 0, index, id: id.into(), name: name.into() }
}

fn args(index: u32, arguments: &str) -> StreamEvent {
    StreamEvent::ToolCallDelta { choice: 0, index, arguments: arguments.into() }
}

fn finish(choice: u32, reason: FinishReason) -> StreamEvent {
    StreamEvent::Finish { choice, reason, stop_sequence: None }
}

fn usage(input_tokens: u64, output_tokens: u64) -> Usage {
    Usage { input_tokens, output_tokens, cached_input_tokens: Some(0), ..Usage::default() }
}

fn tool_call(id: &str, name: &str, arguments: &str) -> Part {
    Part::ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() }
}

/// The reply `start()` opens, with these choices and usage.
fn reply(choices: Vec<Choice>, usage: Option<Usage>) -> ChatResponse {
    ChatResponse {
        id: "chatcmpl-9xQ".into(),
        model: "gpt-4.1-2025-04-14".into(),
        created: 1_763_510_400,
        choices,
        usage,
        system_fingerprint: Some("fp_b3f1157249".into()),
        service_tier: None,
    }
}

fn choice(index: u32, content: Vec<Part>, reason: FinishReason) -> Choice {
    Choice { index, content, finish_reason: Some(reason), ..Choice::default() }
}

// ---------- realistic replies ----------

#[test]
fn a_text_reply_is_one_text_part_with_the_usage_of_its_last_usage_event() {
    let events = [
        start(),
        text(0, "Bon"),
        text(0, "jour"),
        text(0, " ! Comment ça va ?"),
        finish(0, FinishReason::Stop),
        StreamEvent::Usage { usage: usage(14, 3) },
        StreamEvent::Usage { usage: usage(14, 6) },
    ];
    let expected =
        reply(vec![choice(0, vec![Part::text("Bonjour ! Comment ça va ?")], FinishReason::Stop)], Some(usage(14, 6)));
    assert_eq!(ReplyAssembler::assemble(&events), Some(expected));
}

#[test]
fn parallel_tool_calls_collect_their_arguments_by_index_and_text_after_a_call_is_a_new_part() {
    let events = [
        start(),
        text(0, "Let me check "),
        text(0, "both."),
        call(0, "call_8mQ2", "get_weather"),
        args(0, "{\"city\":"),
        call(1, "call_2kL5", "get_time"),
        args(1, "{\"timezone\":\"Europe/Paris\"}"),
        // Some servers interleave the fragments of parallel calls.
        args(0, "\"Paris\"}"),
        text(0, "Checking."),
        finish(0, FinishReason::ToolCalls),
    ];
    let expected = reply(
        vec![choice(
            0,
            vec![
                Part::text("Let me check both."),
                tool_call("call_8mQ2", "get_weather", "{\"city\":\"Paris\"}"),
                tool_call("call_2kL5", "get_time", "{\"timezone\":\"Europe/Paris\"}"),
                Part::text("Checking."),
            ],
            FinishReason::ToolCalls,
        )],
        None,
    );
    assert_eq!(ReplyAssembler::assemble(&events), Some(expected));
}

#[test]
fn reasoning_keeps_its_signature_and_each_signed_or_redacted_block_stays_its_own_part() {
    let redacted = |data: &str| StreamEvent::ReasoningRedacted { choice: 0, data: data.into() };
    // Anthropic: a signed thinking block, a redacted one, another thinking block, then text.
    let events = [
        start(),
        reasoning("27 * 453 = 27 * 400"),
        reasoning(" + 27 * 53 = 12231."),
        StreamEvent::ReasoningSignature { choice: 0, signature: "EqQBCgIYAh".into() },
        redacted("EmwKAhgBEgy3"),
        reasoning("Double-check: fine."),
        StreamEvent::ReasoningSignature { choice: 0, signature: "EqQBsecond".into() },
        text(0, "27 × 453 = **12,231**"),
        finish(0, FinishReason::Stop),
    ];
    let expected = reply(
        vec![choice(
            0,
            vec![
                Part::Reasoning {
                    text: "27 * 453 = 27 * 400 + 27 * 53 = 12231.".into(),
                    signature: Some("EqQBCgIYAh".into()),
                    redacted: None,
                },
                Part::Reasoning { text: String::new(), signature: None, redacted: Some("EmwKAhgBEgy3".into()) },
                Part::Reasoning {
                    text: "Double-check: fine.".into(),
                    signature: Some("EqQBsecond".into()),
                    redacted: None,
                },
                Part::text("27 × 453 = **12,231**"),
            ],
            FinishReason::Stop,
        )],
        None,
    );
    assert_eq!(ReplyAssembler::assemble(&events), Some(expected));

    // The Responses API: a summary, then the same item's encrypted content: one part.
    let events = [start(), reasoning("**Checking**"), redacted("gAAAA=="), finish(0, FinishReason::Stop)];
    let part = Part::Reasoning { text: "**Checking**".into(), signature: None, redacted: Some("gAAAA==".into()) };
    assert_eq!(ReplyAssembler::assemble(&events), Some(reply(vec![choice(0, vec![part], FinishReason::Stop)], None)));
}

#[test]
fn a_refusal_is_one_refusal_part() {
    let refusal = |t: &str| StreamEvent::RefusalDelta { choice: 0, text: t.into() };
    let events = [start(), refusal("I'm sorry, "), refusal("I can't help with that."), finish(0, FinishReason::Stop)];
    let part = Part::Refusal { text: "I'm sorry, I can't help with that.".into() };
    assert_eq!(ReplyAssembler::assemble(&events), Some(reply(vec![choice(0, vec![part], FinishReason::Stop)], None)));
}

#[test]
fn two_interleaved_choices_come_out_in_index_order_with_their_own_stop() {
    let events = [
        start(),
        text(1, "Hi"),
        text(0, "Hello"),
        text(1, " there"),
        StreamEvent::Finish { choice: 1, reason: FinishReason::StopSequence, stop_sequence: Some("\n".into()) },
        text(0, " world"),
        finish(0, FinishReason::Length),
        StreamEvent::Usage { usage: usage(5, 4) },
    ];
    let second = Choice {
        stop_sequence: Some("\n".into()),
        ..choice(1, vec![Part::text("Hi there")], FinishReason::StopSequence)
    };
    let expected =
        reply(vec![choice(0, vec![Part::text("Hello world")], FinishReason::Length), second], Some(usage(5, 4)));
    assert_eq!(ReplyAssembler::assemble(&events), Some(expected));
}

#[test]
fn openai_logprobs_lists_run_on_across_chunks_and_other_shapes_keep_the_last() {
    let lp = |tokens: &[&str]| json!({"content": tokens.iter().map(|t| json!({"token": t, "logprob": -0.1})).collect::<Vec<_>>(), "refusal": null});
    let logprobs = |v: Value| StreamEvent::Logprobs { choice: 0, logprobs: v };
    let events = [
        start(),
        text(0, "Hi"),
        logprobs(lp(&["Hi"])),
        text(0, " you"),
        logprobs(lp(&[" you"])),
        finish(0, FinishReason::Stop),
    ];
    let got = ReplyAssembler::assemble(&events).unwrap();
    assert_eq!(got.choices[0].logprobs, Some(lp(&["Hi", " you"])));

    let events = [start(), logprobs(json!({"avg": -1})), logprobs(json!({"avg": -2})), finish(0, FinishReason::Stop)];
    assert_eq!(ReplyAssembler::assemble(&events).unwrap().choices[0].logprobs, Some(json!({"avg": -2})));
}

// ---------- streams that must not be stored ----------

#[test]
fn a_stream_that_carried_an_error_is_no_reply() {
    let error = StreamEvent::Error { error: StreamError { kind: ErrorKind::Overloaded, message: "Overloaded".into() } };
    assert_eq!(ReplyAssembler::assemble(&[start(), text(0, "Once upon a"), error.clone()]), None);
    // Even if a finish follows it.
    let events = [start(), text(0, "Once"), error, finish(0, FinishReason::Stop)];
    assert_eq!(ReplyAssembler::assemble(&events), None);
}

#[test]
fn a_stream_without_a_finish_for_every_choice_is_no_reply() {
    assert_eq!(ReplyAssembler::assemble(&[start(), text(0, "Once upon a")]), None);
    let events = [start(), text(0, "a"), text(1, "b"), finish(0, FinishReason::Stop)];
    assert_eq!(ReplyAssembler::assemble(&events), None);
    // A start alone opened no choice: there is no reply to store.
    assert_eq!(ReplyAssembler::assemble(&[start(), StreamEvent::Usage { usage: usage(1, 0) }]), None);
}

#[test]
fn a_stream_cut_mid_tool_call_is_no_reply() {
    let events = [start(), call(0, "call_8mQ2", "get_weather"), args(0, "{\"city\":\"Pa")];
    assert_eq!(ReplyAssembler::assemble(&events), None);
}

#[test]
fn a_stream_out_of_order_is_no_reply() {
    let done = finish(0, FinishReason::Stop);
    // No start, or content before it.
    assert_eq!(ReplyAssembler::assemble(&[text(0, "Hi"), done.clone()]), None);
    assert_eq!(ReplyAssembler::assemble(&[text(0, "Hi"), start(), done.clone()]), None);
    // Two starts: two replies' events mixed.
    assert_eq!(ReplyAssembler::assemble(&[start(), text(0, "Hi"), start(), done.clone()]), None);
    // Arguments for a call never opened, or a call opened twice.
    assert_eq!(ReplyAssembler::assemble(&[start(), args(0, "{}"), done.clone()]), None);
    let twice = [start(), call(0, "a", "f"), call(0, "b", "g"), done];
    assert_eq!(ReplyAssembler::assemble(&twice), None);
}

// ---------- real upstream streams ----------

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The events `dialect`'s stream decoder makes of `wire`, fed through its own framing.
fn decode_stream(dialect: Dialect, wire: &[u8]) -> Vec<StreamEvent> {
    let egress = dialect.egress();
    let mut deframer = egress.framing().deframer();
    let mut decoder = egress.stream_decoder();
    let mut events = Vec::new();
    let mut frames = Vec::new();
    deframer.feed_with(wire, |f: Frame| frames.push(f)).unwrap();
    frames.extend(deframer.finish().unwrap());
    for frame in &frames {
        events.extend(decoder.feed(frame).unwrap());
    }
    events.extend(decoder.finish().unwrap());
    events
}

/// The Responses API's own fixture pair: one reply, fetched whole and streamed.
#[test]
fn a_real_stream_assembles_to_the_reply_its_whole_form_decodes_to() {
    let dialect = Dialect::OpenaiResponses;
    let wire = std::fs::read(fixtures().join("responses/reasoning_function_call_stream.sse")).unwrap();
    let assembled = ReplyAssembler::assemble(&decode_stream(dialect, &wire)).unwrap();
    let body = std::fs::read(fixtures().join("responses/reasoning_function_call.json")).unwrap();
    let mut whole = dialect.egress().decode_response(&body).unwrap();
    // What a stream has no form for (see `crate::replay`).
    assert_eq!(whole.service_tier.take().as_deref(), Some("default"));
    for part in &mut whole.choices[0].content {
        if let Part::Raw { kind, .. } = part {
            assert_eq!(std::mem::take(kind), "web_search_call");
        }
    }
    assert_eq!(assembled, whole);
}

/// Every upstream stream among the fixtures: those that end normally assemble, and the
/// assembled reply replays to events that assemble to it again; the failed one does not.
#[test]
fn every_fixture_stream_assembles_unless_it_failed() {
    let mut streams = Vec::new();
    for (dir, dialect) in [
        ("golden/openai", Dialect::OpenaiChat),
        ("golden/anthropic", Dialect::Anthropic),
        ("golden/gemini", Dialect::Gemini),
        ("golden/bedrock", Dialect::Bedrock),
        ("openai", Dialect::OpenaiChat),
        ("anthropic", Dialect::Anthropic),
    ] {
        for case in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let case = case.unwrap().path();
            for name in ["upstream.sse", "upstream.eventstream"] {
                if case.join(name).exists() {
                    streams.push((case.join(name), dialect));
                }
            }
        }
    }
    for name in ["text_stream.sse", "reasoning_function_call_stream.sse"] {
        streams.push((fixtures().join("responses").join(name), Dialect::OpenaiResponses));
    }
    assert!(streams.len() >= 10, "only {} fixture streams found", streams.len());
    for (path, dialect) in streams {
        let events = decode_stream(dialect, &std::fs::read(&path).unwrap());
        let assembled = ReplyAssembler::assemble(&events);
        let failed = events.iter().any(|e| matches!(e, StreamEvent::Error { .. }));
        let Some(assembled) = assembled else {
            assert!(failed, "{}: a whole stream assembled to nothing", path.display());
            continue;
        };
        assert!(!failed, "{}: a failed stream assembled", path.display());
        let streamed: String = events
            .iter()
            .filter_map(|e| if let StreamEvent::TextDelta { text, .. } = e { Some(text.as_str()) } else { None })
            .collect();
        let kept: String = assembled
            .choices
            .iter()
            .flat_map(|c| &c.content)
            .filter_map(|p| if let Part::Text { text, .. } = p { Some(text.as_str()) } else { None })
            .collect();
        assert_eq!(streamed, kept, "{}", path.display());
        for n in [1, 5, 4096] {
            assert_eq!(
                ReplyAssembler::assemble(&replay(&assembled, n)).as_ref(),
                Some(&assembled),
                "{}",
                path.display()
            );
        }
    }
}

// ---------- the round trip ----------

fn string() -> impl Strategy<Value = String> {
    // Multi-byte characters, so cutting into deltas is tested on them.
    "[a-z {}\":,é😀]{0,12}"
}

fn part() -> impl Strategy<Value = Part> {
    prop_oneof![
        string().prop_map(Part::text),
        (string(), proptest::option::of(string()), proptest::option::of(string()))
            .prop_map(|(text, signature, redacted)| Part::Reasoning { text, signature, redacted }),
        string().prop_map(|text| Part::Refusal { text }),
        (string(), string(), string()).prop_map(|(id, name, arguments)| Part::ToolCall { id, name, arguments }),
        any::<u8>().prop_map(|n| Part::Raw {
            dialect: Dialect::OpenaiResponses,
            kind: String::new(),
            value: json!({"type": "web_search_call", "id": format!("ws_{n}")}),
        }),
    ]
}

/// Parts with a stream form of their own: the exceptions `crate::replay` lists left out.
fn expressible(parts: Vec<Part>) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::new();
    for part in parts {
        let keep = match (&part, out.last()) {
            (Part::Text { text, .. } | Part::Refusal { text }, _) if text.is_empty() => false,
            (Part::Reasoning { text, signature: None, redacted: None }, _) if text.is_empty() => false,
            (Part::Reasoning { signature: Some(_), redacted: Some(_), .. }, _) => false,
            (Part::Text { .. }, Some(Part::Text { .. })) | (Part::Refusal { .. }, Some(Part::Refusal { .. })) => false,
            (Part::Reasoning { .. }, Some(Part::Reasoning { signature: None, redacted: None, .. })) => false,
            _ => true,
        };
        if keep {
            out.push(part);
        }
    }
    out
}

fn logprobs() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        proptest::collection::vec(string(), 0..3).prop_map(|tokens| Some(
            json!({"content": tokens.iter().map(|t| json!({"token": t})).collect::<Vec<_>>(), "refusal": null})
        )),
        any::<i32>().prop_map(|n| Some(json!(n))),
    ]
}

fn finish_reason() -> impl Strategy<Value = FinishReason> {
    prop_oneof![
        Just(FinishReason::Stop),
        Just(FinishReason::StopSequence),
        Just(FinishReason::Length),
        Just(FinishReason::ToolCalls),
        Just(FinishReason::ContentFilter),
        Just(FinishReason::Error),
    ]
}

fn usage_strategy() -> impl Strategy<Value = Option<Usage>> {
    proptest::option::of(
        (any::<u64>(), any::<u64>(), proptest::option::of(any::<u64>()), proptest::option::of(any::<u64>())).prop_map(
            |(input_tokens, output_tokens, cached_input_tokens, reasoning_tokens)| Usage {
                input_tokens,
                output_tokens,
                cached_input_tokens,
                cache_write_tokens: None,
                reasoning_tokens,
            },
        ),
    )
}

/// Any reply, including what a stream cannot express: cache markers, request-side parts, a
/// service tier, choices out of order or never finished.
fn any_reply() -> impl Strategy<Value = ChatResponse> {
    let choice = (
        proptest::collection::vec(
            prop_oneof![
                4 => part(),
                1 => string().prop_map(|text| Part::Text { text, cache_control: Some(json!({"type": "ephemeral"})) }),
                1 => Just(Part::Image { source: ImageSource::Url { url: "https://x/y.png".into() }, detail: None, cache_control: None }),
            ],
            0..6,
        ),
        proptest::option::of(finish_reason()),
        proptest::option::of(string()),
        logprobs(),
    );
    (
        string(),
        string(),
        any::<u64>(),
        proptest::collection::btree_map(0u32..5, choice, 0..4),
        any::<bool>(),
        usage_strategy(),
        proptest::option::of(string()),
        proptest::option::of(string()),
    )
        .prop_map(|(id, model, created, choices, reversed, usage, system_fingerprint, service_tier)| {
            let mut choices: Vec<Choice> = choices
                .into_iter()
                .map(|(index, (content, finish_reason, stop_sequence, logprobs))| Choice {
                    index,
                    content,
                    finish_reason,
                    stop_sequence,
                    logprobs,
                })
                .collect();
            if reversed {
                choices.reverse();
            }
            ChatResponse { id, model, created, choices, usage, system_fingerprint, service_tier }
        })
}

/// A reply a stream can carry exactly: every choice finished, in index order, with
/// expressible parts and no field a stream lacks.
fn streamable_reply() -> impl Strategy<Value = ChatResponse> {
    any_reply().prop_filter("a reply has a choice", |r| !r.choices.is_empty()).prop_map(|mut r| {
        r.service_tier = None;
        r.choices.sort_by_key(|c| c.index);
        for c in &mut r.choices {
            c.content.retain(|p| !matches!(p, Part::Image { .. } | Part::Text { cache_control: Some(_), .. }));
            c.content = expressible(std::mem::take(&mut c.content));
            c.finish_reason.get_or_insert(FinishReason::Stop);
            if c.logprobs == Some(Value::Null) {
                c.logprobs = None;
            }
        }
        r
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn a_replayed_reply_assembles_to_itself(r in streamable_reply(), n in 0usize..8) {
        prop_assert_eq!(ReplyAssembler::assemble(&replay(&r, n)), Some(r));
    }

    /// Whatever the reply, its stream assembles to the same thing however it is cut, that
    /// thing replays to itself, and only a reply whose every choice finished assembles.
    #[test]
    fn any_replayed_reply_assembles_to_a_fixed_point(r in any_reply(), n in 1usize..8) {
        let once = ReplyAssembler::assemble(&replay(&r, n));
        prop_assert_eq!(&once, &ReplyAssembler::assemble(&replay(&r, 1000)));
        // A choice the stream never mentions (unfinished, nothing in it) is not there to be
        // missing; any other must have finished.
        let mentioned = |c: &Choice| replay(&ChatResponse { choices: vec![c.clone()], ..ChatResponse::default() }, n).len() > 1;
        let opened: Vec<&Choice> = r.choices.iter().filter(|c| mentioned(c)).collect();
        let whole = !opened.is_empty() && opened.iter().all(|c| c.finish_reason.is_some());
        prop_assert_eq!(once.is_some(), whole);
        if let Some(a) = once {
            prop_assert_eq!(ReplyAssembler::assemble(&replay(&a, n)), Some(a));
        }
    }
}

#[test]
fn what_a_stream_cannot_carry_is_the_documented_exceptions() {
    let mut r = reply(
        vec![choice(
            0,
            vec![
                Part::Text { text: "a".into(), cache_control: Some(json!({"type": "ephemeral"})) },
                Part::text("b"),
                Part::Reasoning { text: "t".into(), signature: Some("s".into()), redacted: Some("r".into()) },
                Part::Raw { dialect: Dialect::OpenaiResponses, kind: "web_search_call".into(), value: json!({}) },
            ],
            FinishReason::Stop,
        )],
        None,
    );
    r.service_tier = Some("default".into());
    let back = ReplyAssembler::assemble(&replay(&r, 4)).unwrap();
    let expected = reply(
        vec![choice(
            0,
            vec![
                Part::text("ab"),
                Part::Reasoning { text: "t".into(), signature: Some("s".into()), redacted: None },
                Part::Reasoning { text: String::new(), signature: None, redacted: Some("r".into()) },
                Part::Raw { dialect: Dialect::OpenaiResponses, kind: String::new(), value: json!({}) },
            ],
            FinishReason::Stop,
        )],
        None,
    );
    assert_eq!(back, expected);
}
