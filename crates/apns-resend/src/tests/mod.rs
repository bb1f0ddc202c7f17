//! The simulation harness and the tests that drive it.

mod props;
mod scripted;
mod sim;
