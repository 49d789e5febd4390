//! Configuration: the TOML file as written ([`raw`]), its checked and resolved form
//! ([`resolve`]), and the zero-config discovery that builds one from the environment
//! ([`discover`]). Nothing here runs on the request path.

pub mod cloud;
pub mod discover;
pub mod provider_kind;
pub mod raw;
pub mod resolve;
pub mod secret;

pub use provider_kind::ProviderKind;
pub use resolve::{Alias, Auth, Config, ConfigError, Deployment, Provider, Timeouts};
pub use secret::Secret;
