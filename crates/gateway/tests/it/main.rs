//! The gateway's integration tests, as one test binary: each module drives the real server
//! (in-process on port 0, or the `switchyard` binary as a child process) against fake
//! upstreams from `testkit`, and owns one area of behaviour. What they share (configs around
//! a fake upstream, a client, scripted and tool-playing upstreams) is in [`common`]; fixtures
//! stay in `tests/fixtures` and the SDK scripts in `tests/sdk`. Unit tests live next to the
//! code they test, not here.
//!
//! One binary instead of one per file: each test binary links the whole gateway, so this
//! links it once. Run one area with `cargo test -p gateway --test it <module>::`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail the test loudly")]

mod common;

mod audit;
mod azure;
mod bedrock;
mod cache;
mod chat;
mod clients;
mod console;
mod errors;
mod fleet;
mod gemini;
mod hostile;
mod images;
mod keys;
mod ledger;
mod ledger_outage;
mod lifecycle;
mod messages;
mod metrics;
mod money;
mod real_llm;
mod reload;
mod responses;
mod routing;
mod sdk_anthropic;
mod sdk_openai;
mod sdk_providers;
mod shared_state;
mod tls;
mod traces;
mod upstream_transport;
mod vertex;
