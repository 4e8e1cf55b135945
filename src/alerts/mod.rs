//! Prometheus Alertmanager → calls and SMS (`POST /api/alertmanager`).
//!
//! - [`payload`]: the webhook body (version 4), the resend key and the alert episode key;
//! - [`rules`]: `alerts.rules` (labels → contacts + strategy + text template);
//! - [`plan`]: one notification → the jobs to create (idempotently) or cancel.
//!
//! The receiver answers as soon as the plan is stored durably (Alertmanager cancels and
//! retries a slow receiver); the outbound dialler and the SMS sender do the rest. Pure: the
//! HTTP handler and the database calls live with the API.

pub mod payload;
pub mod plan;
pub mod rules;
