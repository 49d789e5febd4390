//! The cache key: a SHA-256 of the scope, the alias and the canonical request with what does
//! not change the answer left out — whether it streams, the end user's id, metadata, stream
//! options, prompt-cache markers and how the client's dialect spelled things — so an OpenAI SDK
//! request and an Anthropic SDK request that mean the same thing share an entry.

use dialect::{ChatRequest, Part};

use super::Scope;
use crate::keys::Caller;

/// A cache key. Only its hash is kept: the request's text never is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Who shares entries under `scope`: the key's id, its team, or everyone.
pub fn scope_id(scope: Scope, caller: &Caller) -> String {
    let key = caller.key();
    match scope {
        Scope::Global => "global".into(),
        Scope::Team => match key.and_then(|k| k.team.as_deref()) {
            Some(team) => format!("team:{team}"),
            None => format!("key:{}", key.map_or("", |k| k.id.as_str())),
        },
        Scope::Key => format!("key:{}", key.map_or("", |k| k.id.as_str())),
    }
}

/// Fields of another dialect's `extra` that tune delivery, not the answer.
const NOT_THE_ANSWER: &[&str] = &["metadata", "stream_options", "store", "service_tier", "user"];

/// The key of `req` under `alias` for the scope `scope_id`.
pub fn key_for(scope_id: &str, alias: &str, req: &ChatRequest) -> CacheKey {
    let mut answer = req.clone();
    answer.model.clear();
    answer.stream = false;
    answer.stream_include_usage = false;
    answer.user = None;
    answer.system_is_developer = false;
    answer.max_tokens_field = Default::default();
    answer.extra_dialect = None;
    answer.hints.clear();
    answer.hint_paths.clear();
    for field in NOT_THE_ANSWER {
        answer.extra.remove(*field);
    }
    for tool in &mut answer.tools {
        tool.cache_control = None;
        tool.hints.clear();
    }
    for part in answer.system.iter_mut().chain(answer.messages.iter_mut().flat_map(|m| m.content.iter_mut())) {
        strip_markers(part);
    }
    for m in &mut answer.messages {
        m.content_was_string = false;
    }
    let body = serde_json::to_vec(&answer).unwrap_or_default();
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    for piece in [scope_id.as_bytes(), b"\0", alias.as_bytes(), b"\0", &body] {
        hasher.update(piece);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(hasher.finish().as_ref());
    CacheKey(out)
}

fn strip_markers(part: &mut Part) {
    match part {
        Part::Text { cache_control, .. } | Part::Image { cache_control, .. } => *cache_control = None,
        Part::ToolResult { cache_control, content, .. } => {
            *cache_control = None;
            content.iter_mut().for_each(strip_markers);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use dialect::Dialect;

    use super::*;

    fn decode(dialect: Dialect, body: serde_json::Value) -> ChatRequest {
        dialect.ingress().map(|i| i.decode_request(body.to_string().as_bytes())).unwrap().unwrap()
    }

    #[test]
    fn the_same_question_in_either_dialect_has_one_key() {
        let openai = decode(
            Dialect::OpenaiChat,
            serde_json::json!({"model": "fast", "max_tokens": 100, "stream": true, "user": "u1",
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]}),
        );
        let anthropic = decode(
            Dialect::Anthropic,
            serde_json::json!({"model": "fast", "max_tokens": 100, "system": "Be brief.", "metadata": {"user_id": "u2"},
                "messages": [{"role": "user", "content": [{"type": "text", "text": "Capital of France?",
                    "cache_control": {"type": "ephemeral"}}]}]}),
        );
        assert_eq!(key_for("key:", "fast", &openai), key_for("key:", "fast", &anthropic));
        assert_ne!(key_for("key:a", "fast", &openai), key_for("key:b", "fast", &openai), "scopes never share");
        assert_ne!(key_for("key:", "fast", &openai), key_for("key:", "slow", &openai), "aliases never share");
        let mut other = openai.clone();
        other.temperature = Some(0.0);
        assert_ne!(key_for("key:", "fast", &openai), key_for("key:", "fast", &other), "what changes the answer counts");
    }
}
