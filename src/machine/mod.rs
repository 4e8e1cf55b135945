//! The per-call state machine: `handle(input, now)` in, actions out. No I/O, no clocks, no tokio.

pub mod io;
