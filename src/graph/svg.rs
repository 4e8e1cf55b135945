//! SVG rendering of a [`Graph`](super::Graph), drawn by phonetree itself for the dashboard's
//! flows page.
//!
//! Why by hand: the page must draw a flow on a fresh machine with no network and no JavaScript.
//! Graphviz is an optional system package (`phonetree graph` uses it when present), Mermaid is a
//! ~3 MB JavaScript bundle that would have to be vendored, and the Rust layout crates either pull
//! a font stack or draw DOT's full feature set we do not need. A flow is a small graph (tens of
//! nodes), so a simple layered layout is enough:
//!
//! 1. ranks: breadth-first distance from `start` (and the "any node" pseudo-node); vertices
//!    not reached go one rank below the rest;
//! 2. order within a rank: discovery order, then two barycenter sweeps over the forward edges
//!    (fewer crossings);
//! 3. boxes sized from their label lines; edges going down are curves from the bottom of one box
//!    to the top of the next; edges going up or sideways (loops back to a menu) run around the
//!    right side, so they never cross the boxes of their own rank.
//!
//! Deterministic, like the other renderings: the same program gives the same SVG. Text is
//! XML-escaped; the SVG carries a `<title>` for screen readers (the page also lists every edge
//! as a table).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;

use super::{End, Graph, Shape};
use crate::flow::program::Program;

const CHAR_W: f64 = 7.0;
const LINE_H: f64 = 16.0;
const PAD_X: f64 = 12.0;
const PAD_Y: f64 = 8.0;
const GAP_X: f64 = 28.0;
const GAP_Y: f64 = 56.0;
const MARGIN: f64 = 16.0;
/// Label lines are cut to this many characters in the picture (the table has them whole).
const MAX_CHARS: usize = 36;

/// The program as a standalone SVG document.
pub fn to_svg(p: &Program) -> String {
    render(&Graph::of(p))
}

struct Placed {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

fn cut(s: &str) -> String {
    if s.chars().count() <= MAX_CHARS {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX_CHARS - 1).collect();
        t.push('…');
        t
    }
}

/// Ranks by breadth-first distance from the entry vertices.
fn ranks(g: &Graph, index: &BTreeMap<End, usize>) -> Vec<usize> {
    let n = g.vertices.len();
    let mut rank = vec![usize::MAX; n];
    let mut queue = VecDeque::new();
    for end in [End::Start, End::Any] {
        if let Some(&i) = index.get(&end) {
            rank[i] = 0;
            queue.push_back(i);
        }
    }
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in &g.edges {
        if let (Some(&a), Some(&b)) = (index.get(&e.from), index.get(&e.to)) {
            out_edges[a].push(b);
        }
    }
    while let Some(i) = queue.pop_front() {
        for &j in &out_edges[i] {
            if rank[j] == usize::MAX {
                rank[j] = rank[i] + 1;
                queue.push_back(j);
            }
        }
    }
    let deepest = rank.iter().filter(|r| **r != usize::MAX).max().copied();
    let unreached = deepest.map_or(0, |d| d + 1);
    for r in &mut rank {
        if *r == usize::MAX {
            *r = unreached;
        }
    }
    rank
}

fn render(g: &Graph) -> String {
    let index: BTreeMap<End, usize> = g
        .vertices
        .iter()
        .enumerate()
        .map(|(i, v)| (v.end, i))
        .collect();
    let rank = ranks(g, &index);
    let rows = rank.iter().max().map_or(0, |m| m + 1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); rows];
    for (i, r) in rank.iter().enumerate() {
        layers[*r].push(i);
    }
    // Barycenter sweeps: order each rank by the mean position of its forward predecessors.
    for _ in 0..2 {
        let mut pos = vec![0.0f64; g.vertices.len()];
        for layer in &layers {
            for (k, &i) in layer.iter().enumerate() {
                pos[i] = k as f64;
            }
        }
        for (r, layer) in layers.iter_mut().enumerate().skip(1) {
            let mut keyed: Vec<(f64, usize, usize)> = layer
                .iter()
                .enumerate()
                .map(|(k, &i)| {
                    let preds: Vec<f64> = g
                        .edges
                        .iter()
                        .filter(|e| index.get(&e.to) == Some(&i))
                        .filter_map(|e| index.get(&e.from))
                        .filter(|&&p| rank[p] < r)
                        .map(|&p| pos[p])
                        .collect();
                    let bary = if preds.is_empty() {
                        k as f64
                    } else {
                        preds.iter().sum::<f64>() / preds.len() as f64
                    };
                    (bary, k, i)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            *layer = keyed.into_iter().map(|(_, _, i)| i).collect();
            for (k, &i) in layer.iter().enumerate() {
                pos[i] = k as f64;
            }
        }
    }
    // Sizes, then positions (each rank centred on the widest).
    let labels: Vec<Vec<String>> = g
        .vertices
        .iter()
        .map(|v| v.lines.iter().map(|l| cut(l)).collect())
        .collect();
    let size = |i: usize| -> (f64, f64) {
        let chars = labels[i]
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(1);
        let w = (chars as f64 * CHAR_W + 2.0 * PAD_X).max(64.0);
        let h = labels[i].len().max(1) as f64 * LINE_H + 2.0 * PAD_Y;
        (w, h)
    };
    let row_width = |layer: &Vec<usize>| -> f64 {
        layer.iter().map(|&i| size(i).0).sum::<f64>()
            + GAP_X * (layer.len().saturating_sub(1)) as f64
    };
    let widest = layers.iter().map(row_width).fold(0.0, f64::max);
    let mut placed: Vec<Placed> = (0..g.vertices.len())
        .map(|_| Placed {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0,
        })
        .collect();
    let mut y = MARGIN;
    for layer in &layers {
        let mut x = MARGIN + (widest - row_width(layer)) / 2.0;
        let tallest = layer.iter().map(|&i| size(i).1).fold(0.0, f64::max);
        for &i in layer {
            let (w, h) = size(i);
            placed[i] = Placed {
                x,
                y: y + (tallest - h) / 2.0,
                w,
                h,
            };
            x += w + GAP_X;
        }
        y += tallest + GAP_Y;
    }
    let back_edges = g
        .edges
        .iter()
        .filter(|e| match (index.get(&e.from), index.get(&e.to)) {
            (Some(&a), Some(&b)) => rank[b] <= rank[a],
            _ => false,
        })
        .count();
    let width = widest + 2.0 * MARGIN + 40.0 + 14.0 * back_edges as f64;
    let height = (y - GAP_Y + MARGIN).max(2.0 * MARGIN);

    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"flow-graph\" role=\"img\" \
         aria-labelledby=\"graph-title\" viewBox=\"0 0 {width:.0} {height:.0}\" \
         width=\"{width:.0}\" height=\"{height:.0}\" font-family=\"ui-monospace, monospace\" \
         font-size=\"12\">"
    );
    let _ = write!(
        out,
        "<title id=\"graph-title\">{}</title>",
        xml(&format!("Flow graph: {}", g.title))
    );
    out.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>",
    );
    // Subflow groups behind everything.
    for (name, members) in g.groups() {
        let boxes: Vec<&Placed> = members
            .iter()
            .filter_map(|v| index.get(&v.end))
            .map(|&i| &placed[i])
            .collect();
        let x0 = boxes.iter().map(|b| b.x).fold(f64::MAX, f64::min) - 8.0;
        let y0 = boxes.iter().map(|b| b.y).fold(f64::MAX, f64::min) - 18.0;
        let x1 = boxes.iter().map(|b| b.x + b.w).fold(0.0, f64::max) + 8.0;
        let y1 = boxes.iter().map(|b| b.y + b.h).fold(0.0, f64::max) + 8.0;
        let _ = write!(
            out,
            "<g class=\"group\"><rect x=\"{x0:.1}\" y=\"{y0:.1}\" width=\"{:.1}\" \
             height=\"{:.1}\" rx=\"6\" fill=\"none\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#666\">{}</text></g>",
            x1 - x0,
            y1 - y0,
            x0 + 6.0,
            y0 + 13.0,
            xml(name)
        );
    }
    // Edges.
    let mut lane = 0usize;
    for e in &g.edges {
        let (Some(&a), Some(&b)) = (index.get(&e.from), index.get(&e.to)) else {
            continue;
        };
        let (pa, pb) = (&placed[a], &placed[b]);
        let (d, lx, ly) = if rank[b] > rank[a] {
            let (x1, y1) = (pa.x + pa.w / 2.0, pa.y + pa.h);
            let (x2, y2) = (pb.x + pb.w / 2.0, pb.y);
            let my = (y1 + y2) / 2.0;
            (
                format!("M{x1:.1},{y1:.1} C{x1:.1},{my:.1} {x2:.1},{my:.1} {x2:.1},{y2:.1}"),
                (x1 + x2) / 2.0,
                my,
            )
        } else {
            // Around the right side, each on its own lane.
            lane += 1;
            let side = MARGIN + widest + 20.0 + 14.0 * lane as f64;
            let (x1, y1) = (pa.x + pa.w, pa.y + pa.h / 2.0);
            let (x2, y2) = (
                pb.x + pb.w,
                pb.y + pb.h / 2.0 + if a == b { 6.0 } else { 0.0 },
            );
            (
                format!("M{x1:.1},{y1:.1} C{side:.1},{y1:.1} {side:.1},{y2:.1} {x2:.1},{y2:.1}"),
                side - 10.0,
                (y1 + y2) / 2.0,
            )
        };
        let dash = if e.dashed {
            " stroke-dasharray=\"5 4\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<path class=\"edge\" d=\"{d}\" fill=\"none\" stroke=\"#555\" stroke-width=\"1.3\"\
             {dash} marker-end=\"url(#arrow)\"/>"
        );
        if !e.label.is_empty() {
            let _ = write!(
                out,
                "<text class=\"edge-label\" x=\"{lx:.1}\" y=\"{ly:.1}\" text-anchor=\"middle\" \
                 dominant-baseline=\"middle\" fill=\"#222\" stroke=\"#fff\" stroke-width=\"4\" \
                 paint-order=\"stroke\">{}</text>",
                xml(&cut(&e.label))
            );
        }
    }
    // Boxes on top.
    for (i, v) in g.vertices.iter().enumerate() {
        let p = &placed[i];
        let (fill, stroke, rx) = style(v.shape);
        let _ = write!(
            out,
            "<g class=\"vertex {}\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
             rx=\"{rx}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/>",
            shape_class(v.shape),
            p.x,
            p.y,
            p.w,
            p.h
        );
        for (k, line) in labels[i].iter().enumerate() {
            let weight = if k == 0 { " font-weight=\"bold\"" } else { "" };
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\"{weight} fill=\"#111\">{}</text>",
                p.x + p.w / 2.0,
                p.y + PAD_Y + LINE_H * (k as f64 + 0.75),
                xml(line)
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

fn style(s: Shape) -> (&'static str, &'static str, u32) {
    match s {
        Shape::Media => ("#e8f1fb", "#3b6ea8", 10),
        Shape::Input => ("#fff4da", "#b07d12", 2),
        Shape::External => ("#efe8fb", "#6b4aa8", 2),
        Shape::Decision => ("#fdeaea", "#a83b3b", 14),
        Shape::Step => ("#f3f3f3", "#777777", 2),
        Shape::Exit => ("#e6f4ea", "#2f7d45", 10),
        Shape::Pseudo => ("#ffffff", "#333333", 16),
    }
}

fn shape_class(s: Shape) -> &'static str {
    match s {
        Shape::Media => "media",
        Shape::Input => "input",
        Shape::External => "external",
        Shape::Decision => "decision",
        Shape::Step => "step",
        Shape::Exit => "exit",
        Shape::Pseudo => "pseudo",
    }
}

/// XML text escaping.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::compile::{compile, NoSubflows, SoundIndex};

    const MENU: &str = r#"
name: menu
start: greet
keys: { "0": { goto: greet } }
nodes:
  greet:
    gather: { prompt: menu.wav, digits: { min: 1, max: 1 }, tries: 2 }
    routes: { "1": sales, "2": greet }
    on_fail: bye
  sales: { say: "Press 1 <for> sales & 2", next: bye }
  bye: { hangup: {} }
"#;

    fn program(text: &str) -> Program {
        let sounds = SoundIndex::new("sound", ["menu.wav".to_string()]);
        let out = compile(
            text,
            std::path::Path::new("menu.yaml"),
            &sounds,
            &NoSubflows,
        );
        match out.program {
            Some(p) => p,
            None => panic!("does not compile: {:?}", out.diagnostics),
        }
    }

    #[test]
    fn every_vertex_and_edge_is_drawn_and_text_is_escaped() {
        let p = program(MENU);
        let svg = to_svg(&p);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        let g = Graph::of(&p);
        assert_eq!(svg.matches("class=\"vertex ").count(), g.vertices.len());
        assert_eq!(svg.matches("class=\"edge\"").count(), g.edges.len());
        assert!(svg.contains("&lt;for&gt; sales &amp; 2") || svg.contains("&lt;for&gt;"));
        assert!(!svg.contains("<for>"));
        assert!(svg.contains("<title id=\"graph-title\">Flow graph: menu</title>"));
        // Global keys are dashed; the loop back to greet runs around the side.
        assert!(svg.contains("stroke-dasharray=\"5 4\""));
        assert_eq!(to_svg(&p), svg, "deterministic");
    }

    #[test]
    fn ranks_follow_the_distance_from_start() {
        let p = program(MENU);
        let g = Graph::of(&p);
        let index: BTreeMap<End, usize> = g
            .vertices
            .iter()
            .enumerate()
            .map(|(i, v)| (v.end, i))
            .collect();
        let r = ranks(&g, &index);
        let node = |name: &str| {
            let id = p.nodes.iter().position(|n| n.name == name).unwrap();
            r[index[&End::Node(crate::flow::program::NodeId(id as u32))]]
        };
        assert_eq!(r[index[&End::Start]], 0);
        assert_eq!(node("greet"), 1);
        assert_eq!(node("sales"), 2);
        assert_eq!(node("bye"), 2);
    }
}
