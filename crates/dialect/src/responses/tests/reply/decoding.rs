//! The stream decoder on OpenAI's and Azure's event streams: a real transcript, the variants
//! proxies and Azure send, errors, and malformed input that must fail cleanly, never panic.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::{assert_matches_fixture, decode_sse, fixture};
use crate::framing::SseEvent;
use crate::{DecodeError, Dialect, ErrorKind, FinishReason, Frame, StreamDecoder, StreamError, StreamEvent, Usage};

use super::super::super::stream::EventDecoder;

/// SSE of `events` (each an object with its `type`), numbered, with `event:` lines.
fn wire(events: &[Value]) -> String {
    let mut out = String::new();
    for (n, e) in events.iter().enumerate() {
        let mut e = e.clone();
        e["sequence_number"] = json!(n);
        out.push_str(&format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or_default()));
    }
    out
}

fn created() -> Value {
    json!({"type": "response.created", "response": {"id": "resp_1", "model": "gpt-4.1", "created_at": 7, "status": "in_progress", "output": []}})
}

fn completed(output: Value) -> Value {
    json!({"type": "response.completed", "response": {"id": "resp_1", "status": "completed", "output": output,
        "usage": {"input_tokens": 3, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 2,
                  "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 5}}})
}

fn finish(reason: FinishReason) -> StreamEvent {
    StreamEvent::Finish { choice: 0, reason, stop_sequence: None }
}

#[test]
fn a_real_text_transcript_decodes_to_canonical_events_however_it_is_cut() {
    let wire = fixture("text_stream.sse");
    let events = decode_sse(wire.as_bytes(), usize::MAX).unwrap();
    assert_eq!(
        events[0],
        StreamEvent::Start {
            id: "resp_68411dc97d608198b7e019307faaa90a0390fe658f11abea".into(),
            model: "gpt-4-turbo-2024-04-09".into(),
            created: 1_749_097_929,
            system_fingerprint: None
        }
    );
    let text: String = events
        .iter()
        .filter_map(|e| if let StreamEvent::TextDelta { text, .. } = e { Some(text.as_str()) } else { None })
        .collect();
    assert_eq!(text, "Hello there!", "the deltas once each, not again from the `.done` events");
    assert_eq!(events[events.len() - 2], finish(FinishReason::Stop));
    assert_eq!(
        events.last(),
        Some(&StreamEvent::Usage {
            usage: Usage {
                input_tokens: 30,
                output_tokens: 38,
                cached_input_tokens: Some(0),
                cache_write_tokens: None,
                reasoning_tokens: Some(0)
            }
        })
    );
    for chunk in [1, 7, 64] {
        assert_eq!(decode_sse(wire.as_bytes(), chunk).unwrap(), events, "cut every {chunk} bytes");
    }
}

#[test]
fn reasoning_hosted_tools_and_function_calls_decode_in_order() {
    let events = decode_sse(fixture("reasoning_function_call_stream.sse").as_bytes(), usize::MAX).unwrap();
    assert_matches_fixture(&serde_json::to_value(&events).unwrap(), "reasoning_function_call_stream.events.json");
    let reasoning: String = events
        .iter()
        .filter_map(|e| if let StreamEvent::ReasoningDelta { text, .. } = e { Some(text.as_str()) } else { None })
        .collect();
    assert!(
        reasoning.ends_with("get_weather.\n\n**Calling the tool**"),
        "summary parts joined by a blank line: {reasoning:?}"
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, StreamEvent::ReasoningRedacted { data, .. } if data.starts_with("gAAAA"))));
    assert!(events.iter().any(|e| matches!(e, StreamEvent::RawItem { dialect: Dialect::OpenaiResponses, value, .. } if value["type"] == "web_search_call")));
    assert!(events.contains(&StreamEvent::ToolCallStart {
        choice: 0,
        index: 0,
        id: "call_Qx3hT9bLk2".into(),
        name: "get_weather".into()
    }));
    assert!(events.contains(&finish(FinishReason::ToolCalls)));
}

#[test]
fn items_sent_whole_and_events_without_an_event_line_still_decode() {
    let message = json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
        "content": [{"type": "output_text", "text": "Hi"}, {"type": "refusal", "refusal": "No"}]});
    let call =
        json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"});
    // No deltas: the items arrive only in `output_item.done`; the `event:` lines are left out.
    let body: String = [
        created(),
        json!({"type": "response.output_item.done", "output_index": 0, "item": message}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": call}),
        completed(json!([])),
    ]
    .iter()
    .map(|e| format!(": keep-alive\n\ndata: {e}\n\n"))
    .collect();
    let events = decode_sse(body.as_bytes(), usize::MAX).unwrap();
    assert_eq!(
        events[1..5],
        [
            StreamEvent::TextDelta { choice: 0, text: "Hi".into() },
            StreamEvent::RefusalDelta { choice: 0, text: "No".into() },
            StreamEvent::ToolCallStart { choice: 0, index: 0, id: "call_1".into(), name: "f".into() },
            StreamEvent::ToolCallDelta { choice: 0, index: 0, arguments: "{\"a\":1}".into() },
        ]
    );
    assert_eq!(events[5], finish(FinishReason::ToolCalls));
    // Only the final object: its output is the reply.
    let only_final = wire(&[created(), completed(json!([message]))]);
    let events = decode_sse(only_final.as_bytes(), usize::MAX).unwrap();
    assert_eq!(events[1], StreamEvent::TextDelta { choice: 0, text: "Hi".into() });
    // Arguments only in `.done`, keyed by output index (no item ids).
    let args_in_done = wire(&[
        created(),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "function_call", "call_id": "c", "name": "g", "arguments": ""}}),
        json!({"type": "response.function_call_arguments.done", "output_index": 0, "arguments": "{}"}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "function_call", "call_id": "c", "name": "g", "arguments": "{}"}}),
        completed(json!([])),
    ]);
    let events = decode_sse(args_in_done.as_bytes(), usize::MAX).unwrap();
    let deltas = events.iter().filter(|e| matches!(e, StreamEvent::ToolCallDelta { .. })).count();
    assert_eq!(deltas, 1, "{events:?}");
}

#[test]
fn incomplete_failed_and_error_events_end_the_stream() {
    let delta = json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Once"});
    let cut = wire(&[
        created(),
        delta.clone(),
        json!({"type": "response.incomplete", "response": {"status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"}, "usage": {"input_tokens": -1, "output_tokens": 16}}}),
    ]);
    let events = decode_sse(cut.as_bytes(), usize::MAX).unwrap();
    assert_eq!(events[2], finish(FinishReason::Length));
    assert_eq!(
        events[3],
        StreamEvent::Usage { usage: Usage { output_tokens: 16, ..Usage::default() } },
        "Azure's -1 is 0"
    );
    let filtered = wire(&[
        created(),
        json!({"type": "response.incomplete", "response": {"incomplete_details": {"reason": "content_filter"}}}),
    ]);
    assert_eq!(decode_sse(filtered.as_bytes(), usize::MAX).unwrap()[1], finish(FinishReason::ContentFilter));

    let failed = wire(&[
        created(),
        delta.clone(),
        json!({"type": "response.failed", "response": {"status": "failed",
        "error": {"code": "rate_limit_exceeded", "message": "Slow down"}}}),
        delta.clone(),
    ]);
    let events = decode_sse(failed.as_bytes(), usize::MAX).unwrap();
    assert_eq!(events.len(), 3, "nothing after the failure: {events:?}");
    assert_eq!(
        events[2],
        StreamEvent::Error { error: StreamError { kind: ErrorKind::RateLimited, message: "Slow down".into() } }
    );
    let error = wire(&[created(), json!({"type": "error", "code": "server_error", "message": "boom", "param": null})]);
    let events = decode_sse(error.as_bytes(), usize::MAX).unwrap();
    assert_eq!(
        events[1],
        StreamEvent::Error { error: StreamError { kind: ErrorKind::Upstream, message: "boom".into() } }
    );
}

#[test]
fn malformed_streams_fail_cleanly() {
    let delta = json!({"type": "response.output_text.delta", "output_index": 0, "delta": "x"});
    // No terminal event.
    let cut = wire(&[created(), delta.clone()]);
    assert_eq!(decode_sse(cut.as_bytes(), usize::MAX), Err(DecodeError::Truncated));
    // A terminal event after nothing at all is an empty answer, as a bare finish reason is
    // elsewhere.
    let empty = wire(&[created(), json!({"type": "response.completed", "response": {"output": []}})]);
    let events = decode_sse(empty.as_bytes(), usize::MAX).unwrap();
    assert_eq!(events[1..], [finish(FinishReason::Stop)]);
    // Bad JSON.
    assert!(matches!(
        decode_sse(b"event: response.created\ndata: {nope\n\n", usize::MAX),
        Err(DecodeError::Framing(_))
    ));
    // Unknown types, wrong-typed fields and stray `[DONE]` are skipped.
    let odd = wire(&[
        created(),
        json!({"type": "response.brand_new", "x": 1}),
        json!({"type": "response.output_text.delta", "delta": 5}),
        json!({"type": "response.function_call_arguments.delta", "item_id": "nope", "delta": "{}"}),
        json!({"type": "response.output_item.added", "item": "not an item"}),
        json!({"type": "response.output_item.done", "output_index": "zero", "item": null}),
        delta,
        completed(json!([])),
    ]) + "data: [DONE]\n\n";
    let events = decode_sse(odd.as_bytes(), usize::MAX).unwrap();
    assert_eq!(events[1], StreamEvent::TextDelta { choice: 0, text: "x".into() });
    assert_eq!(events.len(), 4, "{events:?}");
    // A huge delta passes through whole.
    let big = "y".repeat(4 << 20);
    let huge = wire(&[
        created(),
        json!({"type": "response.output_text.delta", "output_index": 0, "delta": big}),
        completed(json!([])),
    ]);
    let events = decode_sse(huge.as_bytes(), 1 << 16).unwrap();
    assert!(matches!(&events[1], StreamEvent::TextDelta { text, .. } if text.len() == 4 << 20));
    // An event-stream frame is not this dialect's.
    let mut dec = EventDecoder::default();
    let frame = Frame::EventStream(crate::framing::EventStreamMessage::default());
    assert!(dec.feed(&frame).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Any frames, any order: events or an error, never a panic.
    #[test]
    fn the_decoder_never_panics(frames in prop::collection::vec((prop::option::of("[a-z._]{0,40}"), frame_data()), 0..24)) {
        let mut dec = EventDecoder::default();
        for (event, data) in frames {
            let _ = dec.feed(&Frame::Sse(SseEvent { event, data }));
        }
        let _ = dec.finish();
    }
}

/// Frame payloads: random text, and near-valid events with random field values.
fn frame_data() -> impl Strategy<Value = String> {
    let kinds = prop::sample::select(vec![
        "response.created",
        "response.output_text.delta",
        "response.refusal.delta",
        "response.output_item.added",
        "response.output_item.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "error",
        "response.queued",
    ]);
    let value = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        Just(json!({"type": "function_call", "id": "fc_1", "call_id": "c", "name": "n", "arguments": "{}"})),
        Just(json!({"type": "reasoning", "summary": [{"text": "s"}], "encrypted_content": "e"})),
        Just(json!({"type": "message", "content": [{"type": "output_text", "text": "t"}]})),
        Just(
            json!({"output": [{"type": "message", "content": [{"type": "refusal", "refusal": "r"}]}], "usage": {"input_tokens": -5}})
        ),
    ];
    prop_oneof![
        "[ -~]{0,60}",
        (kinds, value.clone(), value, any::<u8>()).prop_map(|(kind, a, b, index)| {
            json!({"type": kind, "delta": a, "item": b.clone(), "response": b, "item_id": "fc_1",
                   "output_index": index % 4, "summary_index": index % 2, "arguments": a, "code": a, "message": a})
            .to_string()
        }),
    ]
}
