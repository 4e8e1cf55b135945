//! Recovery after schema errors, so that one `validate` run reports every problem of a file.
//!
//! A node the schema rejected is not thrown away: the parts of it that passed are kept and
//! lowered like any node, so the reference, template and prompt checks still run on them (a
//! flow with errors never becomes a `Program`, so nothing guessed here can run on a call).
//! [`salvage`] removes exactly the values the schema complained about and renames an unknown key
//! that is one typo away from a link (`nxt` → `next`), as rustc recovers after a parse error.
//! A node that still cannot be read keeps the names its links mention ([`raw_links`]) so that
//! the reachability check does not call the nodes behind it unreachable.

use serde::Deserialize;
use serde_json::Value;

use crate::flow::ast::{KindDoc, Links, NodeDoc};
use crate::flow::diag::did_you_mean;
use crate::flow::schema::{self, NODE_KINDS};

/// The keys beside a node's kind that name other nodes.
const LINKS: [&str; 5] = ["next", "routes", "on_fail", "on_success", "on_error"];

/// The readable part of a node the schema rejected: `raw` minus the values at `pointers`
/// (violations inside this node, relative to it: `["gather", "timeout"]`), with link-like
/// unknown keys renamed. `None` when no kind survives.
pub(super) fn salvage(raw: &Value, pointers: &[Vec<String>]) -> Option<(KindDoc, Links)> {
    let mut node = raw.clone();
    for segs in pointers {
        match segs.as_slice() {
            // The node itself (a missing key, no kind): nothing to remove.
            [] => {}
            // The kind's own value is wrong: without it there is nothing to lower.
            [kind] if NODE_KINDS.contains(&kind.as_str()) => return None,
            [key] => {
                let obj = node.as_object_mut()?;
                let Some(value) = obj.remove(key) else {
                    continue;
                };
                let fix = did_you_mean(key, LINKS).filter(|l| !obj.contains_key(*l));
                if let Some(link) = fix {
                    obj.insert(link.to_owned(), value);
                }
            }
            [path @ .., last] => {
                if let Some(parent) = lookup_mut(&mut node, path) {
                    remove_child(parent, last);
                }
            }
        }
    }
    NodeDoc::deserialize(&node).ok()?.into_parts()
}

/// Node names a node's links mention (`next`, `on_*`, `routes` values, `goto`s in its kind),
/// read from the raw value: edges of a node that could not be read at all.
pub(super) fn raw_links(raw: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(obj) = raw.as_object() else {
        return out;
    };
    for (k, v) in obj {
        let link = LINKS.contains(&k.as_str()) || did_you_mean(k, LINKS).is_some();
        if link || k == "goto" {
            collect_strings(v, &mut out);
        } else if k == "switch" {
            for arm in v.as_array().into_iter().flatten() {
                if let Some(g) = arm.get("goto") {
                    collect_strings(g, &mut out);
                }
            }
        }
    }
    out
}

/// The violation pointers under node `name`, relative to it.
pub(super) fn pointers_in_node(violations: &[String], name: &str) -> Vec<Vec<String>> {
    violations
        .iter()
        .filter_map(|p| {
            let segs = schema::segments(p);
            match segs.as_slice() {
                [n, node, rest @ ..] if n == "nodes" && node == name => Some(rest.to_vec()),
                _ => None,
            }
        })
        .collect()
}

fn lookup_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = v;
    for seg in path {
        cur = match cur {
            Value::Object(o) => o.get_mut(seg)?,
            Value::Array(a) => a.get_mut(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn remove_child(parent: &mut Value, key: &str) {
    match parent {
        Value::Object(o) => {
            o.remove(key);
        }
        Value::Array(a) => {
            if let Ok(i) = key.parse::<usize>() {
                if i < a.len() {
                    a.remove(i);
                }
            }
        }
        _ => {}
    }
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segs(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_link_typo_is_read_as_the_link() {
        let raw = json!({"play": "a.wav", "nxt": "menu"});
        let (kind, links) = salvage(&raw, &[segs(&["nxt"])]).unwrap();
        assert_eq!(kind.key(), "play");
        assert_eq!(links.next.as_deref(), Some("menu"));
    }

    #[test]
    fn a_bad_field_is_dropped_and_the_rest_kept() {
        let raw = json!({"gather": {"prompt": "m.wav", "timeout": 5}, "routes": {"1": "a"}});
        let (kind, links) = salvage(&raw, &[segs(&["gather", "timeout"])]).unwrap();
        let KindDoc::Gather(g) = kind else {
            panic!("gather")
        };
        assert!(g.timeout.is_none());
        assert_eq!(links.routes.unwrap().0[0].1, "a");
    }

    #[test]
    fn a_node_without_a_readable_kind_is_not_salvaged_but_keeps_its_links() {
        let raw = json!({"dance": {}, "next": "b", "routes": {"1": "c"}});
        assert!(salvage(&raw, &[segs(&[])]).is_none());
        let raw = json!({"play": 5, "next": "b"});
        assert!(salvage(&raw, &[segs(&["play"])]).is_none());
        let mut links = raw_links(&json!({"dance": {}, "nxt": "b", "routes": {"1": "c"}}));
        links.sort();
        assert_eq!(links, ["b", "c"]);
        let links = raw_links(&json!({"switch": [{"when": "x", "goto": "d"}, {"goto": "e"}]}));
        assert_eq!(links, ["d", "e"]);
    }
}
