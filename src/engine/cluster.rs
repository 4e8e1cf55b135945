//! The cluster as any node shows it (issue 12): every node's heartbeat row (its version, flow
//! versions and live calls as of its last heartbeat), which nodes are alive, and which flows
//! the live nodes disagree on. Sans-IO: heartbeat rows, this node's own live calls and `now`
//! in, a [`ClusterView`] out; `GET /api/cluster` and the status page read the rows and show it.
//!
//! A node's calls reach the others through its heartbeat (every
//! [`crate::register::maintenance::HEARTBEAT`]), at most [`SHARED_CALLS`] of them; this node's
//! own calls are always the live table's. A node not seen for [`STALE_AFTER_MS`] is shown as
//! down, its calls are not listed, and its flows are not compared.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::db::ops::Heartbeat;
use crate::engine::status::CallView;

/// Live calls a node puts in its heartbeat row (the row stays small; the count is exact).
pub const SHARED_CALLS: usize = 200;
/// A node whose heartbeat is older than this is down (three missed heartbeats).
pub const STALE_AFTER_MS: i64 = 3 * crate::register::maintenance::HEARTBEAT.as_millis() as i64;

/// One live call on some node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterCall {
    /// The phonetree node handling it (filled in from the heartbeat row).
    #[serde(default)]
    pub node_id: String,
    pub id: String,
    pub flow: String,
    pub version: String,
    /// The flow node (state) the call is in.
    pub state: String,
    pub theme: String,
    pub started_ms: i64,
}

/// One node as the cluster sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeView {
    pub node_id: String,
    /// This node (the one answering).
    pub me: bool,
    pub alive: bool,
    pub version: String,
    pub started_ms: i64,
    pub seen_ms: i64,
    pub active_calls: u64,
    /// Flow name → version hash.
    pub flows: BTreeMap<String, String>,
}

/// A flow the live nodes do not all run at the same version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowDisagreement {
    pub flow: String,
    /// Node id → version (`None`: the node does not have the flow).
    pub versions: BTreeMap<String, Option<String>>,
}

/// The whole cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterView {
    pub nodes: Vec<NodeView>,
    pub calls: Vec<ClusterCall>,
    pub disagreements: Vec<FlowDisagreement>,
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// This node's live calls as the cluster view carries them.
pub fn own_calls(node_id: &str, calls: &[CallView]) -> Vec<ClusterCall> {
    calls
        .iter()
        .map(|c| ClusterCall {
            node_id: node_id.to_string(),
            id: c.id.clone(),
            flow: c.flow.clone(),
            version: c.version.clone(),
            state: c.node.clone(),
            theme: c.theme.clone(),
            started_ms: ms(c.since),
        })
        .collect()
}

/// The heartbeat's `info`: flow versions and the first [`SHARED_CALLS`] live calls.
pub fn heartbeat_info(flows: BTreeMap<String, String>, calls: &[CallView]) -> Value {
    let calls = own_calls("", &calls[..calls.len().min(SHARED_CALLS)]);
    json!({ "flows": flows, "calls": calls })
}

/// What a heartbeat row's `info` says (a row from an older node, or damaged, gives nothing).
fn parse_info(info: &Value) -> (BTreeMap<String, String>, Vec<ClusterCall>) {
    let flows = info
        .get("flows")
        .and_then(|f| serde_json::from_value(f.clone()).ok())
        .unwrap_or_default();
    let calls = info
        .get("calls")
        .and_then(|c| serde_json::from_value::<Vec<ClusterCall>>(c.clone()).ok())
        .unwrap_or_default();
    (flows, calls)
}

/// The cluster from the heartbeat `rows`, seen by node `me` (whose live calls are `mine`).
pub fn view(rows: &[Heartbeat], me: &str, mine: Vec<ClusterCall>, now_ms: i64) -> ClusterView {
    let mut nodes = Vec::new();
    let mut calls = Vec::new();
    for r in rows {
        let (flows, theirs) = parse_info(&r.info);
        let is_me = r.node_id == me;
        let alive = is_me || now_ms.saturating_sub(r.seen_ms) <= STALE_AFTER_MS;
        if alive && !is_me {
            calls.extend(theirs.into_iter().take(SHARED_CALLS).map(|mut c| {
                c.node_id.clone_from(&r.node_id);
                c
            }));
        }
        nodes.push(NodeView {
            node_id: r.node_id.clone(),
            me: is_me,
            alive,
            version: r.version.clone(),
            started_ms: r.started_ms,
            seen_ms: r.seen_ms,
            active_calls: if is_me {
                mine.len() as u64
            } else {
                r.active_calls
            },
            flows,
        });
    }
    calls.extend(mine);
    calls.sort_by(|a, b| (&a.node_id, &a.id).cmp(&(&b.node_id, &b.id)));
    let disagreements = disagreements(&nodes);
    ClusterView {
        nodes,
        calls,
        disagreements,
    }
}

/// The flows whose version differs between live nodes (or that some live node lacks).
fn disagreements(nodes: &[NodeView]) -> Vec<FlowDisagreement> {
    let live: Vec<&NodeView> = nodes.iter().filter(|n| n.alive).collect();
    let names: BTreeSet<&String> = live.iter().flat_map(|n| n.flows.keys()).collect();
    names
        .into_iter()
        .filter_map(|flow| {
            let versions: BTreeMap<String, Option<String>> = live
                .iter()
                .map(|n| (n.node_id.clone(), n.flows.get(flow).cloned()))
                .collect();
            let distinct: BTreeSet<&Option<String>> = versions.values().collect();
            (distinct.len() > 1).then(|| FlowDisagreement {
                flow: flow.clone(),
                versions,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn row(node: &str, seen_ms: i64, flows: &[(&str, &str)], calls: usize) -> Heartbeat {
        let flows = flows
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect();
        let views: Vec<CallView> = (0..calls)
            .map(|i| CallView {
                id: format!("call-{i}"),
                flow: "menu".into(),
                version: "aaa".into(),
                node: "ask".into(),
                theme: "en".into(),
                since: SystemTime::UNIX_EPOCH + Duration::from_millis(1_000),
            })
            .collect();
        Heartbeat {
            node_id: node.into(),
            started_ms: 0,
            seen_ms,
            version: "0.1.0".into(),
            active_calls: calls as u64,
            info: heartbeat_info(flows, &views),
        }
    }

    #[test]
    fn every_live_nodes_calls_are_listed_and_a_dead_nodes_are_not() {
        let rows = [
            row("a", 100_000, &[("menu", "aaa")], 2),
            row("b", 99_000, &[("menu", "aaa")], 3),
            row("c", 100_000 - STALE_AFTER_MS - 1, &[("menu", "aaa")], 4),
        ];
        let mine = own_calls(
            "a",
            &[CallView {
                id: "call-9".into(),
                flow: "menu".into(),
                version: "aaa".into(),
                node: "start".into(),
                theme: String::new(),
                since: SystemTime::UNIX_EPOCH,
            }],
        );
        let v = view(&rows, "a", mine, 100_000);
        let per_node = |n: &str| v.calls.iter().filter(|c| c.node_id == n).count();
        assert_eq!(
            per_node("a"),
            1,
            "this node's own live table, not its heartbeat"
        );
        assert_eq!(per_node("b"), 3);
        assert_eq!(per_node("c"), 0, "down");
        assert_eq!(
            v.nodes.iter().map(|n| n.alive).collect::<Vec<_>>(),
            [true, true, false]
        );
        assert!(v.nodes[0].me && !v.nodes[1].me);
        let b = v.calls.iter().find(|c| c.node_id == "b").unwrap();
        assert_eq!((b.state.as_str(), b.started_ms), ("ask", 1_000));
        assert!(v.disagreements.is_empty());
    }

    #[test]
    fn nodes_disagreeing_on_a_flow_are_reported_and_dead_nodes_are_ignored() {
        let rows = [
            row("a", 100_000, &[("menu", "aaa"), ("sales", "s1")], 0),
            row("b", 100_000, &[("menu", "bbb"), ("sales", "s1")], 0),
            row("c", 100_000, &[("menu", "aaa")], 0),
            row("d", 1, &[("menu", "zzz"), ("old", "o")], 0),
        ];
        let v = view(&rows, "a", vec![], 100_000);
        assert_eq!(v.disagreements.len(), 2, "{:?}", v.disagreements);
        let menu = &v.disagreements[0];
        assert_eq!(menu.flow, "menu");
        assert_eq!(menu.versions["b"].as_deref(), Some("bbb"));
        assert!(
            !menu.versions.contains_key("d"),
            "a dead node is not compared"
        );
        let sales = &v.disagreements[1];
        assert_eq!(sales.versions["c"], None, "c lacks the flow");
    }

    #[test]
    fn the_heartbeat_carries_a_bounded_call_list_and_junk_info_is_harmless() {
        let r = row("b", 100_000, &[], SHARED_CALLS + 50);
        assert_eq!(r.info["calls"].as_array().unwrap().len(), SHARED_CALLS);
        for info in [
            Value::Null,
            json!({"flows": 3, "calls": "x"}),
            json!([1, 2]),
        ] {
            let junk = Heartbeat { info, ..r.clone() };
            let v = view(&[junk], "a", vec![], 100_000);
            assert!(v.calls.is_empty() && v.nodes[0].flows.is_empty());
        }
    }
}
