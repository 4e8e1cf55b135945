//! The offline simulator: runs one call of a compiled flow on virtual time and reports what
//! happens as [`event::Event`]s. Used by `phonetree simulate` (a whole scripted call) and by
//! `phonetree test` (step by step, matching expectations).
//!
//! Owns the virtual clock, mocked integrations ([`mocks`]), scripted caller input ([`script`]),
//! and prompt lengths ([`lengths`], real files through `audio`). YAML and durations are read
//! with the flow compiler's own readers (`flow::source`, `flow::duration`). It does not compile
//! flows (`flow::load`) and knows nothing of SIP; the call logic itself is the sans-IO [`machine`](crate::machine).

mod agent;
pub mod driver;
pub mod event;
pub mod lengths;
pub mod mocks;
pub mod script;

pub use driver::Sim;

use crate::flow::program::Program;
use crate::machine::io::CallInfo;

/// Caller number when a script or test gives none.
pub const DEFAULT_FROM: &str = "+15550000";

/// The facts of a simulated call: `to` defaults to the flow's first route, and only the flow's
/// allow-listed environment variables are looked up (with `lookup`, e.g. the process environment
/// plus `.env`), then the flow's default for it. One that is neither set nor defaulted reads as
/// the text `${NAME}`, so a simulated webhook shows which variable
/// its URL needs instead of failing to render.
pub fn call_info(
    program: &Program,
    id: &str,
    from: &str,
    to: Option<&str>,
    lookup: impl Fn(&str) -> Option<String>,
) -> CallInfo {
    CallInfo {
        direction: crate::machine::io::Direction::Inbound,
        vars: Default::default(),
        id: id.to_owned(),
        from: from.to_owned(),
        to: to
            .map(str::to_owned)
            .or_else(|| program.routes.first().cloned())
            .unwrap_or_default(),
        env: program
            .env
            .iter()
            .map(|name| {
                let value = lookup(name)
                    .or_else(|| {
                        program
                            .env_defaults
                            .iter()
                            .find(|(n, _)| n == name)
                            .map(|(_, v)| v.clone())
                    })
                    .unwrap_or_else(|| format!("${{{name}}}"));
                (name.clone(), value)
            })
            .collect(),
        params: Default::default(),
    }
}
