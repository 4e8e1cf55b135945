//! The tokio runtime that pumps the sans-IO cores: sockets, timers, files and HTTP for `phonetree
//! run`. Decisions (SIP transactions, the call machine, pacing, DTMF) live in the sans-IO modules;
//! this layer feeds them input and executes their output.

pub mod media;
