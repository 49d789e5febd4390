//! Assembling a streamed reply into the whole [`ChatResponse`] it amounts to, so a finished
//! stream can be stored (the response cache) like a reply that came in one piece. Owns the rules
//! that fold canonical [`StreamEvent`]s into [`Part`]s; knows no dialect and no cache: replaying
//! a stored reply as a stream is [`crate::replay`]'s job.
//!
//! A stream that failed, was cut, or broke the event order yields nothing: a partial reply must
//! never be stored as if it were whole.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{ChatResponse, Choice, Part, StreamEvent};

/// Folds the events of one streamed reply into the reply, one event at a time.
///
/// Holds only what the reply will hold (plus where each tool call sits in its choice), so its
/// memory grows with the reply, not with the number of events; once the stream has gone wrong it
/// drops what it held and ignores the rest.
#[derive(Debug, Default)]
pub struct ReplyAssembler {
    /// The reply's head and usage; `choices` stays empty until [`Self::finish`].
    reply: ChatResponse,
    started: bool,
    /// Choices by index, in the order a reply lists them.
    choices: BTreeMap<u32, Building>,
    /// The stream can no longer be a whole reply: it carried an error, started twice, sent
    /// something before its start, or opened a tool call twice or continued one it never
    /// opened.
    spoiled: bool,
}

/// One choice as far as it has streamed.
#[derive(Debug, Default)]
struct Building {
    choice: Choice,
    /// Where each tool call sits in `choice.content`, by its stream `index`: argument deltas
    /// may come for any open call, not only the last part.
    tool_calls: BTreeMap<u32, usize>,
}

impl ReplyAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// The whole reply a complete run of `events` amounts to (see [`Self::finish`]).
    pub fn assemble<'a>(events: impl IntoIterator<Item = &'a StreamEvent>) -> Option<ChatResponse> {
        let mut assembler = Self::new();
        for event in events {
            assembler.push(event);
        }
        assembler.finish()
    }

    pub fn push(&mut self, event: &StreamEvent) {
        if self.spoiled {
            return;
        }
        if !self.started && !matches!(event, StreamEvent::Start { .. }) {
            return self.spoil();
        }
        match event {
            StreamEvent::Start { id, model, created, system_fingerprint } => {
                if self.started {
                    return self.spoil();
                }
                self.started = true;
                self.reply.id.clone_from(id);
                self.reply.model.clone_from(model);
                self.reply.created = *created;
                self.reply.system_fingerprint.clone_from(system_fingerprint);
            }
            StreamEvent::TextDelta { choice, text } => self.choice(*choice).text(text),
            StreamEvent::ReasoningDelta { choice, text } => {
                if !text.is_empty() {
                    self.choice(*choice).reasoning(|t, _, _| t.push_str(text));
                }
            }
            StreamEvent::ReasoningSignature { choice, signature } => {
                self.choice(*choice).reasoning(|_, s, _| *s = Some(signature.clone()))
            }
            StreamEvent::ReasoningRedacted { choice, data } => {
                self.choice(*choice).reasoning(|_, _, r| *r = Some(data.clone()))
            }
            StreamEvent::RefusalDelta { choice, text } => self.choice(*choice).refusal(text),
            StreamEvent::ToolCallStart { choice, index, id, name } => {
                let building = self.choice(*choice);
                if building.tool_calls.contains_key(index) {
                    // Decoders open each call once; a second opening means the events are not
                    // one reply's.
                    return self.spoil();
                }
                building.tool_calls.insert(*index, building.choice.content.len());
                building.choice.content.push(Part::ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                });
            }
            StreamEvent::ToolCallDelta { choice, index, arguments } => {
                let building = self.choice(*choice);
                let Some(&at) = building.tool_calls.get(index) else {
                    return self.spoil();
                };
                if let Some(Part::ToolCall { arguments: so_far, .. }) = building.choice.content.get_mut(at) {
                    so_far.push_str(arguments);
                }
            }
            StreamEvent::Logprobs { choice, logprobs } => self.choice(*choice).logprobs(logprobs),
            StreamEvent::Finish { choice, reason, stop_sequence } => {
                let c = &mut self.choice(*choice).choice;
                c.finish_reason = Some(*reason);
                c.stop_sequence.clone_from(stop_sequence);
            }
            StreamEvent::Usage { usage } => self.reply.usage = Some(*usage),
            StreamEvent::RawItem { choice, dialect, value } => {
                // A stream does not say which field carried the item. `kind` only names a part in
                // a refusal of a request; a reply goes to a client, so it needs none.
                self.choice(*choice).choice.content.push(Part::Raw {
                    dialect: *dialect,
                    kind: String::new(),
                    value: value.clone(),
                })
            }
            StreamEvent::Error { .. } => self.spoil(),
        }
    }

    /// The whole reply, if the stream ended normally: it started, carried no error, and
    /// finished every choice it opened. None: a failed, cut or malformed stream (or one with no
    /// choice at all), which must not be stored.
    pub fn finish(self) -> Option<ChatResponse> {
        if self.spoiled || !self.started || self.choices.is_empty() {
            return None;
        }
        if self.choices.values().any(|b| b.choice.finish_reason.is_none()) {
            return None;
        }
        let mut reply = self.reply;
        reply.choices = self.choices.into_values().map(|b| b.choice).collect();
        Some(reply)
    }

    fn choice(&mut self, index: u32) -> &mut Building {
        self.choices
            .entry(index)
            .or_insert_with(|| Building { choice: Choice { index, ..Choice::default() }, ..Building::default() })
    }

    fn spoil(&mut self) {
        self.spoiled = true;
        // Nothing held will be used; free it now rather than when the stream ends.
        self.reply = ChatResponse::default();
        self.choices = BTreeMap::new();
    }
}

impl Building {
    /// Text continues the last part while that is text; anything in between (a tool call, a
    /// reasoning block) starts a new part, so parts keep the order the model produced them in.
    fn text(&mut self, delta: &str) {
        if delta.is_empty() {
            return;
        }
        match self.choice.content.last_mut() {
            Some(Part::Text { text, .. }) => text.push_str(delta),
            _ => self.choice.content.push(Part::text(delta)),
        }
    }

    fn refusal(&mut self, delta: &str) {
        if delta.is_empty() {
            return;
        }
        match self.choice.content.last_mut() {
            Some(Part::Refusal { text }) => text.push_str(delta),
            _ => self.choice.content.push(Part::Refusal { text: delta.to_owned() }),
        }
    }

    /// Edits the open reasoning block, opening one if there is none. A signature or encrypted
    /// data closes a block: Anthropic and Bedrock send a thinking block's signature last and a
    /// redacted block as one event, the Responses API an item's encrypted content after its
    /// summary. So a block with either is never added to, and two blocks in a row stay two parts.
    fn reasoning(&mut self, edit: impl FnOnce(&mut String, &mut Option<String>, &mut Option<String>)) {
        let open = matches!(self.choice.content.last(), Some(Part::Reasoning { signature: None, redacted: None, .. }));
        if !open {
            self.choice.content.push(Part::Reasoning { text: String::new(), signature: None, redacted: None });
        }
        if let Some(Part::Reasoning { text, signature, redacted }) = self.choice.content.last_mut() {
            edit(text, signature, redacted);
        }
    }

    /// OpenAI streams log-probabilities per chunk as `{"content": [...], "refusal": [...]}`: the
    /// lists of each chunk continue the ones before (a `null` list adds nothing). Any other
    /// shape has no known way to combine, so the last value stands.
    fn logprobs(&mut self, more: &Value) {
        if more.is_null() {
            return;
        }
        match (&mut self.choice.logprobs, more) {
            (Some(Value::Object(have)), Value::Object(more_fields)) if more_fields.contains_key("content") => {
                for (key, value) in more_fields {
                    match (have.get_mut(key), value) {
                        (Some(Value::Array(list)), Value::Array(next)) => list.extend(next.iter().cloned()),
                        (Some(_), Value::Null) => {}
                        _ => {
                            have.insert(key.clone(), value.clone());
                        }
                    }
                }
            }
            (slot, _) => *slot = Some(more.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
