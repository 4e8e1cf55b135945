//! Outbound calls: jobs that dial people (alerts, reminders, "press 1 to acknowledge"), retry
//! by policy, escalate along a chain of contacts, and survive restarts.
//!
//! The pieces, each pure and tested on its own:
//! - [`request`]: `POST /api/calls` bodies → [`request::CallRequest`] (defaults applied,
//!   bounded, every problem reported);
//! - [`plan`]: what a job does next, decided from its stored attempts and marks (so a job
//!   claimed after a crash continues where the policy says);
//! - [`message`]: the built-in message flow (say, repeat, "press 1", `ack`);
//! - [`job`]: what a stored job holds (a call or an SMS);
//! - [`limits`]: `outbound.rate` as a token bucket;
//! - [`cron`]: cron expressions (five fields, or six with seconds) in a time zone;
//! - [`schedule`]: recurring schedules planned on virtual time: which occurrence fires, what
//!   a downtime skips, when to wake; [`scheduler`] runs it on the database.
//!
//! The allow-list is `policy::outbound`; the SIP side of a call is `sip::dial`. The runtime
//! that claims jobs from the database and places the calls builds on these.

pub mod cron;
pub mod dbstore;
pub mod dialler;
pub mod job;
pub mod limits;
pub mod message;
pub mod plan;
pub mod request;
pub mod schedule;
pub mod scheduler;
