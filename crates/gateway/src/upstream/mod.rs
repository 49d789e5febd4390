//! Talking to upstreams: building the HTTP request for a deployment, sending it on the shared
//! pooled client, and reading the reply up to the stream's commit point.

pub mod aws;
pub mod events;
pub mod oauth;
pub mod send;

pub use events::EventSource;
pub use send::{build_client, send_chat, send_embeddings, ChatReply, Forwarded};
