//! The environment `phonetree run` sees: the process's variables plus `.env` (process variables
//! win, as with dotenvy). Flows read it through their `env:` allow-list, so a value in `.env`
//! reaches `{{ env.NAME }}` exactly like an exported variable.
//!
//! It holds secrets (`SIP_PASSWORD`, API keys): `Debug` shows only how many variables there are,
//! and nothing here is ever logged.

use std::collections::BTreeMap;
use std::fmt;

/// Variable name → value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Environment(BTreeMap<String, String>);

impl Environment {
    pub fn new(vars: BTreeMap<String, String>) -> Environment {
        Environment(vars)
    }

    /// The value of a variable; an empty value counts as set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The variable names (for did-you-mean hints).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Environment(<{} variables>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_value() {
        let e = Environment::new([("SIP_PASSWORD".to_string(), "hunter2".to_string())].into());
        assert_eq!(e.get("SIP_PASSWORD"), Some("hunter2"));
        assert!(!format!("{e:?}").contains("hunter2"));
        assert!(!format!("{e:?}").contains("SIP_PASSWORD"));
    }
}
