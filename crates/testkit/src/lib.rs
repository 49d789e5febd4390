//! Test support: fake upstreams that speak a provider's wire protocol and record what they
//! received, and ways to run the gateway against them (in-process or as the real binary).
#![allow(clippy::disallowed_methods, reason = "test servers run as plain tokio tasks")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test support fails loudly")]

pub mod anthropic_wire;
pub mod bedrock_wire;
pub mod gateway;
pub mod hostile;
pub mod local_llm;
pub mod openai_wire;
pub mod responses_wire;
pub mod services;
pub mod upstream;
pub mod wait;

pub use gateway::{run_command, Gateway, GatewayProcess};
pub use hostile::{HostileUpstream, Misbehaviour};
pub use upstream::{FakeUpstream, Received, Reply, StreamEnd};
