//! The per-call state machine: `handle(input, now)` in, actions out. No I/O, no clocks, no tokio.
//!
//! [`Call`] owns one call's position in a compiled [`Program`](crate::flow::program::Program): its
//! state (an enum, one variant per thing a call can wait for), its timers (a closed enum in a
//! small table), its variables, theme and subflow stack. The driver (the simulator in `sim`, the
//! SIP engine later) feeds [`io::Input`]s with the current time, executes the [`io::Action`]s it
//! polls, and calls `handle(Input::Timeout, now)` when `now` reaches [`Call::poll_timeout`].
//!
//! Files: `call` (the struct, dispatch, node entry, global keys), `gather` (DTMF collection),
//! `listen` (speech), `http`, `session` (pause, record, agent, stream, transfer), `playlist`
//! (walking a node's prompt lists), `timers`, `io` (the interface types).

mod agent;
mod call;
mod gather;
mod http;
pub mod io;
mod listen;
mod playlist;
mod session;
mod timers;

pub use call::{Call, MAX_INSTANT_STEPS};

#[cfg(test)]
mod gather_props;
#[cfg(test)]
pub(crate) mod testkit;
