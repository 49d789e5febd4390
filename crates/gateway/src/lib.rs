//! The Switchyard gateway: HTTP server, routing, upstream transport and telemetry around the
//! pure `dialect` crate.

#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod background;
pub mod cache;
pub mod config;
pub mod console;
pub mod conversations;
pub mod env;
pub mod error;
pub mod fast_map;
pub mod http;
pub mod keys;
pub mod ledger;
pub mod money;
pub mod pipeline;
pub mod routing;
pub mod secret;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod upstream;

pub use app::App;
pub use config::Config;
