//! Routing: which deployments may serve a request, best first. The choice is made from
//! in-memory tables only; it never costs a network round trip.

pub mod affinity;
pub mod catalog;
pub mod deployment;
pub mod estimate;
pub mod filter;
mod fit;
pub mod health;
pub mod order;
pub mod plan;
#[cfg(test)]
mod simulation;

pub use deployment::{Alias, Capabilities, Deployment, DeploymentSettings, Prices, RoutePolicy, Strategy, Tier};
pub use plan::{resolve, route, route_model, Plan, Resolved};
