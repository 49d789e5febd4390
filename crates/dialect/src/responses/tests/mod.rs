//! Tests of the Responses API dialect: the request side (decoding clients' requests, encoding
//! OpenAI's), the reply side (response objects and event streams, both directions), and Codex
//! CLI's tools on every provider.

mod codex;
mod reply;
mod request;
