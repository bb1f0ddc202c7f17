//! Tests: the simulation harness, scripted scenarios, Prove scenarios, property tests.

mod props;
mod prove;
mod scripted;
pub(crate) mod sim;
