//! Graphviz DOT rendering of a [`Graph`](super::Graph): `phonetree graph FLOW | dot -Tsvg`.

use std::fmt::Write;

use super::{End, Graph, Shape, Vertex};
use crate::flow::program::Program;

/// The program as a DOT digraph, left to right.
pub fn to_dot(p: &Program) -> String {
    render(&Graph::of(p))
}

fn render(g: &Graph) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "digraph {} {{", quote(&g.name));
    out.push_str("  rankdir=LR;\n");
    let _ = writeln!(
        out,
        "  label={}; labelloc=t; fontname=\"Helvetica\";",
        quote(&g.title)
    );
    out.push_str("  node [fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
    for v in g.vertices.iter().filter(|v| v.group.is_none()) {
        vertex(&mut out, "  ", v);
    }
    for (i, (name, members)) in g.groups().into_iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_{i} {{");
        let _ = writeln!(out, "    label={}; style=dashed;", quote(name));
        for v in members {
            vertex(&mut out, "    ", v);
        }
        out.push_str("  }\n");
    }
    for e in &g.edges {
        let mut attrs = Vec::new();
        if !e.label.is_empty() {
            attrs.push(format!("label={}", quote(&e.label)));
        }
        if e.dashed {
            attrs.push("style=dashed".to_owned());
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        let _ = writeln!(out, "  {} -> {}{attrs};", id(e.from), id(e.to));
    }
    out.push_str("}\n");
    out
}

fn vertex(out: &mut String, indent: &str, v: &Vertex) {
    let label = v
        .lines
        .iter()
        .map(|l| escape(l))
        .collect::<Vec<_>>()
        .join("\\n");
    let _ = writeln!(
        out,
        "{indent}{} [label=\"{label}\", {}];",
        id(v.end),
        style(v.shape)
    );
}

fn id(end: End) -> String {
    match end {
        End::Start => "start".to_owned(),
        End::Any => "any".to_owned(),
        End::Return => "return_".to_owned(),
        End::Node(n) => format!("n{}", n.0),
    }
}

fn style(shape: Shape) -> &'static str {
    match shape {
        Shape::Media => "shape=box, style=rounded",
        Shape::Input => "shape=box, style=\"rounded,filled\", fillcolor=\"#fff4c2\"",
        Shape::External => "shape=box, style=filled, fillcolor=\"#dde8ff\"",
        Shape::Decision => "shape=diamond",
        Shape::Step => "shape=box, style=dotted",
        Shape::Exit => "shape=box, style=\"filled\", fillcolor=\"#f2d7d5\"",
        Shape::Pseudo => "shape=ellipse, style=dashed",
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

/// Escapes text for a DOT double-quoted string.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}
