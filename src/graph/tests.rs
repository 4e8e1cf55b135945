//! Tests of the graph model and both renderings, on programs built by hand.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::flow::digit::Digit;
use crate::flow::program::{
    Gather, Hangup, Http, HttpMethod, Play, Prompt, PromptSource, Switch, ThemeId, Themes, Transfer,
};
use crate::flow::template::Templates;

fn digit(c: char) -> Digit {
    Digit::from_char(c).expect("a DTMF key")
}

fn prompt(name: &str) -> Prompt {
    Prompt {
        name: name.to_owned(),
        source: PromptSource::File(vec![PathBuf::from(format!("sound/{name}"))]),
    }
}

fn program(name: &str, nodes: Vec<Node>, prompts: Vec<Prompt>, templates: Templates) -> Program {
    Program {
        name: name.to_owned(),
        source: PathBuf::from(format!("flows/{name}.yaml")),
        hash: "0".repeat(64),
        routes: vec!["5000".into()],
        default: false,
        env: vec![],
        env_defaults: vec![],
        vars: vec![],
        themes: Themes {
            names: vec!["bunny".into(), "robot".into()],
            start: ThemeId(0),
        },
        keys: vec![],
        start: NodeId(0),
        nodes,
        prompts,
        templates,
    }
}

/// greet -> menu (1 story, 2 http lookup) ; lookup ok -> check, error -> bye ; check switch.
fn sample() -> Program {
    let mut t = Templates::new();
    let url = t.add_text("{{ env.CRM_URL }}/lookup").unwrap();
    let hot = t.add_expr("vars.account.tier == \"vip\"").unwrap();
    let target = t.add_text("sip:100@pbx.example.com").unwrap();
    let n = |i| Target::Node(NodeId(i));
    let nodes = vec![
        Node {
            name: "greet".into(),
            kind: NodeKind::Play(Play {
                prompts: vec![PromptId(0)],
                next: n(1),
            }),
        },
        Node {
            name: "menu".into(),
            kind: NodeKind::Gather(Box::new(Gather {
                prompt: vec![PromptId(1)],
                min_digits: 1,
                max_digits: 1,
                finish_on: None,
                timeout: Duration::from_secs(5),
                inter_digit_timeout: Duration::from_secs(2),
                tries: 3,
                invalid: vec![],
                no_input: vec![],
                routes: vec![("1".into(), n(2)), ("2".into(), n(3))],
                save: None,
                next: None,
                on_fail: Some(n(6)),
            })),
        },
        Node {
            name: "story".into(),
            kind: NodeKind::Play(Play {
                prompts: vec![PromptId(2)],
                next: n(1),
            }),
        },
        Node {
            name: "lookup".into(),
            kind: NodeKind::Http(Box::new(Http {
                method: HttpMethod::Post,
                url,
                headers: vec![],
                body: None,
                timeout: Duration::from_secs(2),
                retries: 0,
                save: Some("account".into()),
                on_success: n(4),
                on_error: n(6),
            })),
        },
        Node {
            name: "check".into(),
            kind: NodeKind::Switch(Switch {
                arms: vec![(Some(hot), n(5)), (None, Target::Return)],
            }),
        },
        Node {
            name: "operator".into(),
            kind: NodeKind::Transfer(Transfer {
                target,
                on_fail: Some(n(6)),
            }),
        },
        Node {
            name: "bye".into(),
            kind: NodeKind::Hangup(Hangup { reason: None }),
        },
    ];
    let prompts = vec![
        prompt("greeting.wav"),
        prompt("menu.wav"),
        prompt("story.wav"),
    ];
    let mut p = program("sample", nodes, prompts, t);
    p.keys = vec![
        KeyBinding {
            digit: digit('#'),
            theme: Some(ThemeStep::Next),
            goto: Some(n(0)),
        },
        KeyBinding {
            digit: digit('*'),
            theme: Some(ThemeStep::Prev),
            goto: Some(n(0)),
        },
        KeyBinding {
            digit: digit('0'),
            theme: Some(ThemeStep::To(ThemeId(1))),
            goto: None,
        },
    ];
    p
}

fn labels_from(g: &Graph, from: End) -> Vec<(String, End)> {
    g.edges
        .iter()
        .filter(|e| e.from == from)
        .map(|e| (e.label.clone(), e.to))
        .collect()
}

#[test]
fn edges_carry_digits_outcomes_and_conditions() {
    let g = Graph::of(&sample());
    let node = |i| End::Node(NodeId(i));
    assert_eq!(labels_from(&g, End::Start), vec![(String::new(), node(0))]);
    assert_eq!(labels_from(&g, node(0)), vec![("next".into(), node(1))]);
    assert_eq!(
        labels_from(&g, node(1)),
        vec![
            ("1".into(), node(2)),
            ("2".into(), node(3)),
            ("fail".into(), node(6))
        ]
    );
    assert_eq!(
        labels_from(&g, node(3)),
        vec![("ok".into(), node(4)), ("error".into(), node(6))]
    );
    assert_eq!(
        labels_from(&g, node(4)),
        vec![
            ("vars.account.tier == \"vip\"".into(), node(5)),
            ("else".into(), End::Return)
        ]
    );
    assert_eq!(labels_from(&g, node(5)), vec![("fail".into(), node(6))]);
    assert!(labels_from(&g, node(6)).is_empty(), "hangup leads nowhere");
}

#[test]
fn global_keys_come_from_the_any_node_pseudo_node() {
    let g = Graph::of(&sample());
    let keys: Vec<&Edge> = g.edges.iter().filter(|e| e.from == End::Any).collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|e| e.dashed));
    assert_eq!(keys[0].label, "# next theme");
    assert_eq!(keys[0].to, End::Node(NodeId(0)));
    assert_eq!(keys[1].label, "* prev theme");
    // A key that only changes theme stays where the caller is.
    assert_eq!(keys[2].label, "0 theme robot");
    assert_eq!(keys[2].to, End::Any);
    assert!(g.vertices.iter().any(|v| v.end == End::Any));
    assert!(g.vertices.iter().any(|v| v.end == End::Return));
}

#[test]
fn vertices_name_the_node_its_kind_and_prompt() {
    let g = Graph::of(&sample());
    let lines = |i: u32| {
        g.vertices
            .iter()
            .find(|v| v.end == End::Node(NodeId(i)))
            .map(|v| v.lines.clone())
            .unwrap()
    };
    assert_eq!(lines(0), vec!["greet", "play greeting.wav"]);
    assert_eq!(lines(1), vec!["menu", "gather menu.wav"]);
    assert_eq!(
        lines(3),
        vec!["lookup", "http POST {{ env.CRM_URL }}/lookup"]
    );
    assert_eq!(
        lines(5),
        vec!["operator", "transfer sip:100@pbx.example.com"]
    );
    assert_eq!(lines(6), vec!["bye", "hangup"]);
}

#[test]
fn no_keys_means_no_any_node_and_no_return_without_return() {
    let mut t = Templates::new();
    let _ = t.add_text("x").unwrap();
    let nodes = vec![Node {
        name: "end".into(),
        kind: NodeKind::Hangup(Hangup { reason: None }),
    }];
    let mut p = program("tiny", nodes, vec![], t);
    // A flow without themes has the one unnamed theme; the caption does not list it.
    p.themes.names = vec![String::new()];
    let g = Graph::of(&p);
    let ends: Vec<End> = g.vertices.iter().map(|v| v.end).collect();
    assert_eq!(ends, vec![End::Start, End::Node(NodeId(0))]);
    assert_eq!(g.title, "tiny");
}

#[test]
fn dot_output_is_deterministic_and_escaped() {
    let p = sample();
    let dot = to_dot(&p);
    assert_eq!(dot, to_dot(&p));
    assert!(dot.starts_with("digraph \"sample\" {\n"), "{dot}");
    assert!(dot.ends_with("}\n"));
    assert!(dot.contains("  label=\"sample (themes: bunny, robot)\"; labelloc=t;"));
    assert!(dot.contains("  n0 [label=\"greet\\nplay greeting.wav\", shape=box, style=rounded];"));
    assert!(dot.contains("  start -> n0;\n"));
    assert!(dot.contains("  n1 -> n2 [label=\"1\"];\n"));
    assert!(dot.contains("  n4 -> n5 [label=\"vars.account.tier == \\\"vip\\\"\"];\n"));
    assert!(dot.contains("  n4 -> return_ [label=\"else\"];\n"));
    assert!(dot.contains("  any -> n0 [label=\"# next theme\", style=dashed];\n"));
    assert!(dot.contains("shape=diamond"));
}

#[test]
fn mermaid_output_is_deterministic_and_escaped() {
    let p = sample();
    let m = to_mermaid(&p);
    assert_eq!(m, to_mermaid(&p));
    assert!(
        m.starts_with("%% sample (themes: bunny, robot)\nflowchart LR\n"),
        "{m}"
    );
    assert!(m.contains("  n0(\"greet<br/>play greeting.wav\")\n"));
    assert!(m.contains("  n4{\"check<br/>switch\"}\n"));
    assert!(m.contains("  start --> n0\n"));
    assert!(m.contains("  n1 -->|\"1\"| n2\n"));
    assert!(m.contains("  n4 -->|\"vars.account.tier == #quot;vip#quot;\"| n5\n"));
    assert!(m.contains("  any -.->|\"#35; next theme\"| n0\n"));
    // No raw quote may end a label early.
    for line in m.lines().skip(2) {
        assert_eq!(line.matches('"').count() % 2, 0, "{line}");
    }
}

#[test]
fn long_text_is_cut_to_one_short_line() {
    let s =
        cut("You are {{ theme }},\n   the cheerful robot assistant of Acme, talking on the phone");
    assert_eq!(s.chars().count(), MAX_TEXT);
    assert!(s.ends_with('…'));
    assert!(!s.contains('\n'));
    assert_eq!(cut("short"), "short");
}

/// A flow calling a subflow: its inlined nodes are named `verify/...`.
fn with_subflow() -> Program {
    use crate::flow::program::Subflow;
    let n = |i| Target::Node(NodeId(i));
    let nodes = vec![
        Node {
            name: "main".into(),
            kind: NodeKind::Subflow(Subflow {
                entry: NodeId(2),
                next: n(1),
            }),
        },
        Node {
            name: "end".into(),
            kind: NodeKind::Hangup(Hangup { reason: None }),
        },
        Node {
            name: "verify/ask".into(),
            kind: NodeKind::Play(Play {
                prompts: vec![PromptId(0)],
                next: n(3),
            }),
        },
        Node {
            name: "verify/done".into(),
            kind: NodeKind::Goto(Target::Return),
        },
    ];
    program("outer", nodes, vec![prompt("pin.wav")], Templates::new())
}

#[test]
fn subflow_nodes_are_grouped_and_return_is_drawn() {
    let p = with_subflow();
    let g = Graph::of(&p);
    let groups = g.groups();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].0, "verify");
    assert_eq!(groups[0].1.len(), 2);
    assert_eq!(
        labels_from(&g, End::Node(NodeId(0))),
        vec![
            ("call".into(), End::Node(NodeId(2))),
            ("returned".into(), End::Node(NodeId(1)))
        ]
    );
    assert_eq!(
        labels_from(&g, End::Node(NodeId(3))),
        vec![("next".into(), End::Return)]
    );

    assert_eq!(g.vertices[1].lines, vec!["main", "subflow verify"]);
    let dot = to_dot(&p);
    assert!(
        dot.contains("  subgraph cluster_0 {\n    label=\"verify\"; style=dashed;\n    n2 [label=\"verify/ask\\nplay pin.wav\""),
        "{dot}"
    );
    let m = to_mermaid(&p);
    assert!(
        m.contains("  subgraph sub0 [\"verify\"]\n    n2(\"verify/ask<br/>play pin.wav\")\n    n3[\"verify/done<br/>goto\"]\n  end\n"),
        "{m}"
    );
}
