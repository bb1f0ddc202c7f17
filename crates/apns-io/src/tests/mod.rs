//! The simulation harness of the connection machine and the tests that drive it.

mod feedback;
mod http2;
mod props;
mod prove;
mod scripted;
mod sim;
