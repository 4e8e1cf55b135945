//! A tiny built-in CRM for the demo flow `flows/main-menu.yaml`, so that the demo works on a
//! fresh machine with nothing configured: `POST /demo/crm/lookup` on the status API (default
//! `http://127.0.0.1:8080`, the flow's default `CRM_URL`) answers `{ name, tier, balance }`
//! for the JSON body's `caller`. A caller whose number ends in 2 has an open balance of 42;
//! everyone else is a standard customer with nothing to pay. Set `CRM_URL` to use a real CRM.
//!
//! The answers only; the route is `engine::http::demo` (request bodies are read up to
//! [`MAX_BODY`]; anything unreadable gets 400). Nothing is stored.

use serde_json::{json, Value};

/// Where the demo CRM answers.
pub const PATH: &str = "/demo/crm/lookup";
/// Largest request body read.
pub const MAX_BODY: usize = 64 * 1024;

/// The account of the `caller` in a JSON body; `None` when the body is not such an object.
pub fn lookup(body: &[u8]) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let caller = v.get("caller")?.as_str()?;
    Some(if caller.ends_with('2') {
        json!({ "name": "Grace", "tier": "standard", "balance": 42 })
    } else {
        json!({ "name": "Ada", "tier": "standard", "balance": 0 })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_get_a_demo_account_and_garbage_gets_none() {
        let a = lookup(br#"{"caller":"+15550001"}"#).unwrap();
        assert_eq!(a["tier"], "standard");
        assert_eq!(a["balance"], 0);
        assert_eq!(lookup(br#"{"caller":"+15550002"}"#).unwrap()["balance"], 42);
        assert!(lookup(b"not json").is_none());
        assert!(lookup(br#"{"who":1}"#).is_none());
        assert!(lookup(br#"[1,2]"#).is_none());
    }
}
