//! Configuration: the TOML file as written ([`raw`]), its checked and resolved form
//! ([`resolve`]), the file read from disk with its version and its problems as `check` reports
//! them ([`file`]), and the zero-config discovery that builds one from the environment
//! ([`discover`]). It turns files and the environment into values at start and on reload;
//! nothing on the request path imports it.

mod cloud;
pub mod discover;
pub mod file;
mod headers;
mod problems;
pub mod raw;
pub mod resolve;
pub mod routing;

pub use problems::{ConfigError, Problem};
pub use resolve::{Config, Cors, Timeouts};
