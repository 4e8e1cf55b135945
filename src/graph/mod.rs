//! Drawing a compiled [`Program`] as a graph: Graphviz DOT ([`to_dot`]), Mermaid ([`to_mermaid`])
//! or an SVG drawn here ([`to_svg`], for the dashboard).
//!
//! Owns the picture's model ([`Graph`]: one box per node, one edge per way control can move,
//! labelled by digit, condition or outcome) and its three renderings. Global keys are drawn as edges
//! from an "any node" pseudo-node, `return` as a "return" pseudo-node. It reads the program only
//! and is deterministic: the same program always gives the same text. It does not load flows (that
//! is `flow::load`, called by `cli::graph`).

mod dot;
mod mermaid;
mod svg;

use crate::flow::program::{
    HttpMethod, KeyBinding, Node, NodeId, NodeKind, Program, PromptId, Target, ThemeStep,
};

pub use dot::to_dot;
pub use mermaid::to_mermaid;
pub use svg::to_svg;

/// Longest text (say, instructions, conditions) shown in a label before it is cut with `…`.
const MAX_TEXT: usize = 40;

/// What the picture shows, independent of the output syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    pub name: String,
    /// A caption: the flow's name and its themes.
    pub title: String,
    pub vertices: Vec<Vertex>,
    pub edges: Vec<Edge>,
}

/// One drawn node: a flow node or a pseudo-node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vertex {
    pub end: End,
    /// Lines of the label: the node's name, then its kind and main argument.
    pub lines: Vec<String>,
    pub shape: Shape,
    /// The inlined subflow a node belongs to (`verify` for `verify/ask`); drawn as a cluster.
    pub group: Option<String>,
}

/// An edge endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum End {
    /// Where the call enters.
    Start,
    /// Global keys: from any node.
    Any,
    /// The end of the (sub)flow via `return`.
    Return,
    Node(NodeId),
}

/// How a vertex is drawn; each renderer maps it to its own syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Plays or says something.
    Media,
    /// Waits for the caller (gather, listen, record).
    Input,
    /// Talks to the outside (http, agent, stream).
    External,
    /// A decision (switch).
    Decision,
    /// Bookkeeping (set, goto, subflow, pause).
    Step,
    /// Leaves the flow (transfer, hangup).
    Exit,
    /// Start, any-node and return markers.
    Pseudo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: End,
    pub to: End,
    pub label: String,
    /// Global keys are drawn dashed.
    pub dashed: bool,
}

impl Graph {
    /// Builds the picture of a program.
    pub fn of(p: &Program) -> Graph {
        let mut edges = vec![Edge::solid(End::Start, End::Node(p.start), "")];
        for (i, node) in p.nodes.iter().enumerate() {
            node_edges(p, End::Node(NodeId(i as u32)), &node.kind, &mut edges);
        }
        for key in &p.keys {
            edges.push(key_edge(p, key));
        }
        let mut vertices = vec![Vertex {
            end: End::Start,
            lines: vec!["start".into()],
            shape: Shape::Pseudo,
            group: None,
        }];
        if !p.keys.is_empty() {
            vertices.push(Vertex {
                end: End::Any,
                lines: vec!["any node".into()],
                shape: Shape::Pseudo,
                group: None,
            });
        }
        vertices.extend(p.nodes.iter().enumerate().map(|(i, n)| Vertex {
            end: End::Node(NodeId(i as u32)),
            lines: node_lines(p, n),
            shape: shape_of(&n.kind),
            group: n.name.rsplit_once('/').map(|(g, _)| g.to_owned()),
        }));
        if edges.iter().any(|e| e.to == End::Return) {
            vertices.push(Vertex {
                end: End::Return,
                lines: vec!["return".into()],
                shape: Shape::Pseudo,
                group: None,
            });
        }
        let named: Vec<&str> = p
            .themes
            .names
            .iter()
            .map(String::as_str)
            .filter(|n| !n.is_empty())
            .collect();
        let title = if named.is_empty() {
            p.name.clone()
        } else {
            format!("{} (themes: {})", p.name, named.join(", "))
        };
        Graph {
            name: p.name.clone(),
            title,
            vertices,
            edges,
        }
    }
}

impl Graph {
    /// The subflow groups in order of first appearance, each with its vertices.
    pub fn groups(&self) -> Vec<(&str, Vec<&Vertex>)> {
        let mut groups: Vec<(&str, Vec<&Vertex>)> = Vec::new();
        for v in &self.vertices {
            let Some(g) = v.group.as_deref() else {
                continue;
            };
            match groups.iter_mut().find(|(name, _)| *name == g) {
                Some((_, members)) => members.push(v),
                None => groups.push((g, vec![v])),
            }
        }
        groups
    }
}

impl Edge {
    fn solid(from: End, to: End, label: &str) -> Edge {
        Edge {
            from,
            to,
            label: label.to_owned(),
            dashed: false,
        }
    }
}

fn end_of(t: Target) -> End {
    match t {
        Target::Node(n) => End::Node(n),
        Target::Return => End::Return,
    }
}

/// Every way control leaves one node, in a fixed order.
fn node_edges(p: &Program, from: End, kind: &NodeKind, out: &mut Vec<Edge>) {
    let mut push = |to: Target, label: &str| out.push(Edge::solid(from, end_of(to), label));
    match kind {
        NodeKind::Play(n) => push(n.next, "next"),
        NodeKind::Say(n) => push(n.next, "next"),
        NodeKind::Gather(g) => {
            for (digits, to) in &g.routes {
                push(*to, digits);
            }
            if let Some(to) = g.next {
                push(to, "digits");
            }
            if let Some(to) = g.on_fail {
                push(to, "fail");
            }
        }
        NodeKind::Listen(l) => {
            for (re, to) in &l.routes {
                push(*to, &format!("\"{}\"", cut(re.as_str())));
            }
            if let Some(to) = l.next {
                push(to, "speech");
            }
            if let Some(to) = l.on_fail {
                push(to, "fail");
            }
        }
        NodeKind::Http(h) => {
            push(h.on_success, "ok");
            push(h.on_error, "error");
        }
        NodeKind::Switch(s) => {
            for (cond, to) in &s.arms {
                let label = match cond {
                    Some(e) => cut(p.templates.expr_source(*e).unwrap_or("?")),
                    None => "else".to_owned(),
                };
                push(*to, &label);
            }
        }
        NodeKind::Set(s) => push(s.next, "next"),
        NodeKind::Ack(a) => push(a.next, "next"),
        NodeKind::Goto(t) => push(*t, "next"),
        NodeKind::Subflow(s) => {
            push(Target::Node(s.entry), "call");
            push(s.next, "returned");
        }
        NodeKind::Pause(n) => push(n.next, "timeout"),
        NodeKind::Record(r) => {
            push(r.next, "next");
            if let Some(to) = r.on_error {
                push(to, "error");
            }
        }
        NodeKind::Agent(a) => {
            push(a.next, "ok");
            for t in &a.tools {
                if let crate::flow::program::ToolAction::Goto(to) = t.action {
                    push(to, &t.name);
                }
            }
            if let Some(to) = a.on_error {
                push(to, "error");
            }
        }
        NodeKind::Stream(s) => {
            push(s.next, "ok");
            if let Some(to) = s.on_error {
                push(to, "error");
            }
        }
        NodeKind::Transfer(t) => {
            if let Some(to) = t.on_fail {
                push(to, "fail");
            }
        }
        NodeKind::Hangup(_) => {}
    }
}

fn key_edge(p: &Program, key: &KeyBinding) -> Edge {
    let mut label = key.digit.to_string();
    match key.theme {
        Some(ThemeStep::Next) => label.push_str(" next theme"),
        Some(ThemeStep::Prev) => label.push_str(" prev theme"),
        Some(ThemeStep::To(t)) => {
            label.push_str(" theme ");
            label.push_str(p.themes.names.get(t.0 as usize).map_or("?", |s| s));
        }
        None => {}
    }
    Edge {
        from: End::Any,
        to: key.goto.map_or(End::Any, end_of),
        label,
        dashed: true,
    }
}

fn shape_of(kind: &NodeKind) -> Shape {
    match kind {
        NodeKind::Play(_) | NodeKind::Say(_) => Shape::Media,
        NodeKind::Gather(_) | NodeKind::Listen(_) | NodeKind::Record(_) => Shape::Input,
        NodeKind::Http(_) | NodeKind::Agent(_) | NodeKind::Stream(_) => Shape::External,
        NodeKind::Switch(_) => Shape::Decision,
        NodeKind::Set(_)
        | NodeKind::Goto(_)
        | NodeKind::Subflow(_)
        | NodeKind::Pause(_)
        | NodeKind::Ack(_) => Shape::Step,
        NodeKind::Transfer(_) | NodeKind::Hangup(_) => Shape::Exit,
    }
}

/// The node's name, then what it does.
fn node_lines(p: &Program, node: &Node) -> Vec<String> {
    let text = |id| cut(p.templates.text_source(id).unwrap_or("?"));
    let detail = match &node.kind {
        NodeKind::Play(n) => format!("play {}", prompts(p, &n.prompts)),
        NodeKind::Say(n) => format!("say \"{}\"", text(n.text)),
        NodeKind::Gather(g) => with_prompts("gather", p, &g.prompt),
        NodeKind::Listen(l) => with_prompts("listen", p, &l.prompt),
        NodeKind::Http(h) => format!("http {} {}", method(h.method), text(h.url)),
        NodeKind::Switch(_) => "switch".to_owned(),
        NodeKind::Set(s) => {
            let names: Vec<&str> = s.assign.iter().map(|(k, _)| k.as_str()).collect();
            format!("set {}", names.join(", "))
        }
        NodeKind::Goto(_) => "goto".to_owned(),
        NodeKind::Subflow(sf) => match p
            .nodes
            .get(sf.entry.0 as usize)
            .and_then(|n| n.name.rsplit_once('/'))
        {
            Some((flow, _)) => format!("subflow {flow}"),
            None => "subflow".to_owned(),
        },
        NodeKind::Pause(n) => format!("pause {}ms", n.duration.as_millis()),
        NodeKind::Record(r) => with_prompts("record", p, &r.prompt),
        NodeKind::Agent(a) => format!("agent {}", a.model.as_deref().unwrap_or("(default model)")),
        NodeKind::Stream(s) => format!("stream {}", text(s.url)),
        NodeKind::Transfer(t) => format!("transfer {}", text(t.target)),
        NodeKind::Hangup(_) => "hangup".to_owned(),
        NodeKind::Ack(a) => format!("ack {}", a.mark.as_str()),
    };
    vec![node.name.clone(), detail]
}

fn with_prompts(kind: &str, p: &Program, ids: &[PromptId]) -> String {
    if ids.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} {}", prompts(p, ids))
    }
}

fn prompts(p: &Program, ids: &[PromptId]) -> String {
    let names: Vec<&str> = ids
        .iter()
        .map(|id| {
            p.prompts
                .get(id.0 as usize)
                .map_or("?", |pr| pr.name.as_str())
        })
        .collect();
    names.join(", ")
}

fn method(m: HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Delete => "DELETE",
    }
}

/// One line of at most [`MAX_TEXT`] characters.
fn cut(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_TEXT {
        one_line
    } else {
        let mut t: String = one_line.chars().take(MAX_TEXT - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests;
