//! Mermaid flowchart rendering of a [`Graph`](super::Graph), for Markdown that GitHub draws.

use std::fmt::Write;

use super::{End, Graph, Shape, Vertex};
use crate::flow::program::Program;

/// The program as a Mermaid `flowchart LR`.
pub fn to_mermaid(p: &Program) -> String {
    render(&Graph::of(p))
}

fn render(g: &Graph) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "%% {}", g.title.replace('\n', " "));
    out.push_str("flowchart LR\n");
    for v in g.vertices.iter().filter(|v| v.group.is_none()) {
        vertex(&mut out, "  ", v);
    }
    for (i, (name, members)) in g.groups().into_iter().enumerate() {
        let _ = writeln!(out, "  subgraph sub{i} [\"{}\"]", escape(name));
        for v in members {
            vertex(&mut out, "    ", v);
        }
        out.push_str("  end\n");
    }
    for e in &g.edges {
        let arrow = if e.dashed { "-.->" } else { "-->" };
        if e.label.is_empty() {
            let _ = writeln!(out, "  {} {arrow} {}", id(e.from), id(e.to));
        } else {
            let _ = writeln!(
                out,
                "  {} {arrow}|\"{}\"| {}",
                id(e.from),
                escape(&e.label),
                id(e.to)
            );
        }
    }
    out
}

fn vertex(out: &mut String, indent: &str, v: &Vertex) {
    let label = v
        .lines
        .iter()
        .map(|l| escape(l))
        .collect::<Vec<_>>()
        .join("<br/>");
    let (open, close) = brackets(v.shape);
    let _ = writeln!(out, "{indent}{}{open}\"{label}\"{close}", id(v.end));
}

fn id(end: End) -> String {
    match end {
        End::Start => "start".to_owned(),
        End::Any => "any".to_owned(),
        End::Return => "return_".to_owned(),
        End::Node(n) => format!("n{}", n.0),
    }
}

fn brackets(shape: Shape) -> (&'static str, &'static str) {
    match shape {
        Shape::Media | Shape::Exit => ("(", ")"),
        Shape::Input => ("[/", "/]"),
        Shape::External => ("[[", "]]"),
        Shape::Decision => ("{", "}"),
        Shape::Step => ("[", "]"),
        Shape::Pseudo => ("((", "))"),
    }
}

/// Escapes text inside a quoted Mermaid label: entity codes for the characters Mermaid parses.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
