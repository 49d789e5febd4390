//! Routing: which deployments may serve a request, best first. The choice is made from
//! in-memory tables only; it never costs a network round trip.

pub mod estimate;
pub mod plan;

pub use plan::{plan, Plan};
