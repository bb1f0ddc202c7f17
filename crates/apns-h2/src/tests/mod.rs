//! The simulation: a scripted server ([`server`]), the harness ([`sim`]), scenarios
//! ([`scripted`]) and property tests ([`props`]).

mod props;
mod scripted;
mod server;
mod sim;
