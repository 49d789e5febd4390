//! Talking to upstreams: building the HTTP request for a deployment, sending it on the shared
//! pooled client, and reading the reply up to the stream's commit point.

pub mod auth;
pub mod client;
pub mod events;
pub mod provider;
pub mod provider_kind;
pub mod rate_limit;
pub mod send;

pub use auth::Auth;
pub use client::UpstreamClient;
pub use events::EventSource;
pub use provider::Provider;
pub use provider_kind::ProviderKind;
pub use send::{send_chat, send_embeddings, AttemptContext, ChatReply, Forwarded};
