//! Configuration: the TOML file as written ([`raw`]), its checked and resolved form
//! ([`resolve`]), and the zero-config discovery that builds one from the environment
//! ([`discover`]). Nothing here runs on the request path.

pub mod catalog;
mod cloud;
pub mod discover;
pub mod provider_kind;
pub mod raw;
pub mod resolve;
pub mod routing;
pub mod secret;

pub use provider_kind::ProviderKind;
pub use resolve::{Auth, Config, ConfigError, Provider, Timeouts};
pub use routing::{Alias, Deployment, RoutePolicy, Strategy};
pub use secret::Secret;
