//! The response cache in a request's flow: before anything is admitted or sent, look the
//! request up (exactly, then by meaning when the alias has a semantic cache); a hit is answered
//! from the entry — whole, or replayed as a stream in the client's dialect — counted against the
//! key's request rate but not its tokens or budget, and recorded as a ledger row that cost
//! nothing and saved what the reply first cost. A miss goes on and, once its reply is whole
//! and successful, is stored ([`Store::keep`]).

use std::sync::Arc;
use std::time::Duration;

use dialect::{ChatRequest, ChatResponse};
use http::{HeaderName, HeaderValue};

use crate::app::App;
use crate::cache::control::Directive;
use crate::cache::semantic::{Lookup, Probe, SemanticIndex};
use crate::cache::{cacheable_reply, cacheable_request, key, CacheKey, CachePolicy, Entry, HitKind};
use crate::keys::Caller;
use crate::routing::Plan;
use crate::telemetry::CacheEvent;

/// A request's use of the cache, decided before it is sent.
pub(super) enum Decision {
    /// The alias has no cache.
    Off,
    /// The alias has one; this request neither reads nor (maybe) writes it.
    Bypass(Option<Store>),
    /// Answered from the cache.
    Hit { entry: Arc<Entry>, kind: HitKind, similarity: Option<f32> },
    /// Not found: the reply is stored if it qualifies.
    Miss(Option<Store>),
}

/// Where a reply that qualifies is stored.
pub(super) struct Store {
    key: CacheKey,
    scope: String,
    alias: Arc<str>,
    policy: Arc<CachePolicy>,
    ttl: Duration,
    probe: Option<Probe>,
}

pub(super) async fn decide(
    app: &Arc<App>,
    plan: &Plan,
    caller: &Caller,
    req: &ChatRequest,
    directive: Directive,
) -> Decision {
    let Some(policy) = plan.policy.cache.clone() else { return Decision::Off };
    if !cacheable_request(req, &policy) {
        CacheEvent::bypass(&plan.alias).emit();
        return Decision::Bypass(None);
    }
    let scope = key::scope_id(policy.scope, caller);
    let key = key::key_for(&scope, &plan.alias, req);
    let now = crate::keys::now_ms();
    let mut probe = None;
    if directive.lookup {
        if let Some(entry) = app.cache.get(&key, now).await {
            return Decision::Hit { entry, kind: HitKind::Exact, similarity: None };
        }
        if let Some(semantic) = &policy.semantic {
            if let Some(question) = SemanticIndex::question(semantic, req) {
                match super::embed::embed(app, &semantic.embedding_model, &question.text).await {
                    Ok(vector) => {
                        let asked = Probe { vector, context: question.context };
                        match app.cache.semantic.lookup(semantic, &scope, &plan.alias, asked).await {
                            Lookup::Hit { key, similarity, probe: asked } => {
                                if let Some(entry) = app.cache.get(&key, now).await {
                                    return Decision::Hit {
                                        entry,
                                        kind: HitKind::Semantic,
                                        similarity: Some(similarity),
                                    };
                                }
                                // The entry left the exact cache: the new reply is indexed again.
                                probe = Some(asked);
                            }
                            Lookup::Miss(found) => probe = found,
                        }
                    }
                    Err(e) => {
                        tracing::debug!(alias = %plan.alias, embedding_model = %semantic.embedding_model, error = %e,
                            "no embedding for a semantic cache lookup");
                        SemanticIndex::count_unembedded(&plan.alias);
                    }
                }
            }
        }
    }
    let ttl = directive.ttl_within(policy.ttl);
    let store =
        directive.store.then(|| Store { key, scope, alias: plan.alias.clone(), policy: policy.clone(), ttl, probe });
    if directive.lookup {
        CacheEvent::miss(&plan.alias).emit();
        Decision::Miss(store)
    } else {
        CacheEvent::bypass(&plan.alias).emit();
        Decision::Bypass(store)
    }
}

impl Decision {
    /// `x-switchyard-cache` (and the similarity of a semantic hit).
    pub(super) fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let value = match self {
            Decision::Off => return Vec::new(),
            Decision::Bypass(_) => "bypass",
            Decision::Miss(_) => "miss",
            Decision::Hit { .. } => "hit",
        };
        let mut out = vec![(HeaderName::from_static("x-switchyard-cache"), HeaderValue::from_static(value))];
        if let Decision::Hit { kind, similarity, .. } = self {
            out.push((HeaderName::from_static("x-switchyard-cache-kind"), HeaderValue::from_static(kind.as_str())));
            if let Some(s) = similarity.and_then(|s| HeaderValue::from_str(&format!("{s:.4}")).ok()) {
                out.push((HeaderName::from_static("x-switchyard-cache-similarity"), s));
            }
        }
        out
    }

    pub(super) fn into_store(self) -> Option<Store> {
        match self {
            Decision::Miss(store) | Decision::Bypass(store) => store,
            Decision::Off | Decision::Hit { .. } => None,
        }
    }
}

impl Store {
    /// Stores `resp` if it qualifies (finished normally; cut by `max_tokens` only when the alias
    /// says so), with what it cost, for `ttl`.
    pub(super) fn keep(self, app: &App, resp: &ChatResponse, cost_nanos: Option<i64>) {
        if !cacheable_reply(resp, &self.policy) {
            return;
        }
        let now = crate::keys::now_ms();
        let expires_at_ms = now.saturating_add(i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX));
        app.cache.put(self.key, Entry { response: resp.clone(), cost_nanos, expires_at_ms }, now);
        if let Some(probe) = self.probe {
            app.cache.semantic.remember(&self.scope, &self.alias, probe, self.key, expires_at_ms);
        }
    }
}
