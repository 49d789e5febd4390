//! What a semantic lookup compares: the last user turn's text (embedded) and a hash of
//! everything else that must match exactly (the context). Reads nothing but the request.

use dialect::{ChatRequest, Part, Role};

use crate::cache::key::key_for;

/// A question longer than this is not embedded: embedding models take a few thousand tokens at
/// most, and a long document rarely has a paraphrase worth answering from the cache.
pub const MAX_QUESTION_BYTES: usize = 32 * 1024;

/// The last user turn's text and the context hash. None: the request does not end with a user
/// turn that has text (a tool result, an assistant prefill, only images), or its text is too
/// long to embed.
pub fn split(req: &ChatRequest, embedding_model: &str) -> Option<(String, [u8; 32])> {
    let last = req.messages.last().filter(|m| m.role == Role::User)?;
    let texts: Vec<&str> = last
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let question = texts.join("\n");
    if question.trim().is_empty() || question.len() > MAX_QUESTION_BYTES {
        return None;
    }
    // Everything but the question's text, hashed as the exact cache hashes a request: the
    // system prompt, earlier turns, tools, response format, parameters and the turn's other
    // parts (an image asked about must be the same image).
    let mut rest = req.clone();
    if let Some(m) = rest.messages.last_mut() {
        for part in &mut m.content {
            if let Part::Text { text, .. } = part {
                text.clear();
            }
        }
    }
    let blanked = key_for("", "", &rest);
    // The embedding model is part of the context: vectors from two models never compare.
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    for piece in [embedding_model.as_bytes(), b"\0", &blanked.0] {
        hasher.update(piece);
    }
    let mut context = [0u8; 32];
    context.copy_from_slice(hasher.finish().as_ref());
    Some((question, context))
}

#[cfg(test)]
mod tests {
    use dialect::Dialect;
    use serde_json::json;

    use super::*;

    fn req(body: serde_json::Value) -> ChatRequest {
        Dialect::OpenaiChat.ingress().map(|i| i.decode_request(body.to_string().as_bytes())).unwrap().unwrap()
    }

    fn ask(system: &str, question: &str) -> ChatRequest {
        req(
            json!({"model": "m", "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}]}),
        )
    }

    #[test]
    fn the_question_is_embedded_and_the_rest_must_match() {
        let (q, a) = split(&ask("Be brief.", "Capital of France?"), "emb").unwrap();
        assert_eq!(q, "Capital of France?");
        let (_, b) = split(&ask("Be brief.", "What is France's capital city?"), "emb").unwrap();
        assert_eq!(a, b, "another wording of the question shares the context");
        let (_, c) = split(&ask("Be verbose.", "Capital of France?"), "emb").unwrap();
        assert_ne!(a, c, "another system prompt is another context");
        let (_, d) = split(&ask("Be brief.", "Capital of France?"), "other-emb").unwrap();
        assert_ne!(a, d, "another embedding model is another context");
        let mut sampled = ask("Be brief.", "Capital of France?");
        sampled.max_tokens = Some(5);
        assert_ne!(a, split(&sampled, "emb").unwrap().1, "parameters count");
    }

    #[test]
    fn only_a_last_user_turn_with_text_is_embedded() {
        let parts = req(json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "one"}, {"type": "text", "text": "two"}]}]}));
        assert_eq!(split(&parts, "e").unwrap().0, "one\ntwo");
        let prefill = req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello"}]}));
        assert!(split(&prefill, "e").is_none());
        assert!(split(&ask("s", "   "), "e").is_none());
        assert!(split(&ask("s", &"x".repeat(MAX_QUESTION_BYTES + 1)), "e").is_none());
        let earlier = req(json!({"model": "m", "messages": [{"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}));
        let other = req(json!({"model": "m", "messages": [{"role": "user", "content": "a2"},
            {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}));
        assert_ne!(split(&earlier, "e").unwrap().1, split(&other, "e").unwrap().1, "earlier turns count");
    }
}
