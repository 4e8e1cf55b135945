//! Unit tests of the compiler on in-memory flows (fixture files are exercised in tests/validate.rs).

use std::path::Path;

use super::*;
use crate::flow::program::{NodeKind, PromptSource, Target};

fn sounds() -> SoundIndex {
    SoundIndex::new(
        "snd",
        ["a.wav", "bunny/b.wav", "robot/b.wav", "bunny/c.wav"].map(String::from),
    )
}

fn run(text: &str) -> Compiled {
    compile(text, Path::new("t.yaml"), &sounds(), &NoSubflows)
}

fn codes(c: &Compiled) -> Vec<(&'static str, usize, usize)> {
    c.diagnostics
        .iter()
        .map(|d| (d.code, d.line, d.col))
        .collect()
}

#[test]
fn compiles_a_small_flow() {
    let c = run("name: demo\nroutes: [\"5000\"]\nthemes: { list: [bunny, robot] }\nkeys:\n  \"#\": { theme: next, goto: greet }\nstart: greet\nnodes:\n  greet: { play: [a.wav, b.wav], next: menu }\n  menu:\n    gather: { prompt: b.wav }\n    routes: { \"1\": greet, \"2\": bye }\n  bye: { say: \"Bye {{ call.from }}\", next: end }\n  end: { hangup: {} }\n");
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    let p = c.program.unwrap();
    assert_eq!(p.name, "demo");
    assert_eq!(p.hash.len(), 64);
    assert_eq!(p.nodes.len(), 4);
    assert_eq!(p.start, NodeId(0));
    let NodeKind::Play(play) = &p.nodes[0].kind else {
        panic!("play")
    };
    assert_eq!(play.next, Target::Node(NodeId(1)));
    let PromptSource::File(paths) = &p.prompt(play.prompts[1]).source else {
        panic!("file")
    };
    assert_eq!(
        paths,
        &[Path::new("snd/bunny/b.wav"), Path::new("snd/robot/b.wav")]
    );
    let PromptSource::File(paths) = &p.prompt(play.prompts[0]).source else {
        panic!("file")
    };
    assert_eq!(paths, &[Path::new("snd/a.wav"), Path::new("snd/a.wav")]);
    assert_eq!(p.keys.len(), 1);
}

#[test]
fn broken_node_does_not_hide_other_problems() {
    let c = run(
        "start: a\nnodes:\n  a: { play: a.wav, nxt: b }\n  b: { play: a.wav, next: nowhere }\n",
    );
    assert!(c.program.is_none());
    let codes: Vec<_> = c.diagnostics.iter().map(|d| d.code).collect();
    assert!(codes.contains(&"schema.unknown_key"), "{codes:?}");
    assert!(codes.contains(&"flow.unknown_node"), "{codes:?}");
}

#[test]
fn a_rejected_section_does_not_cascade() {
    let c = run("vars: [x]\nenv: 3\nthemes: { list: bunny }\nkeys: { \"#\": { theme: bunny } }\nstart: a\nnodes:\n  a: { say: \"{{ vars.x }} {{ env.Y }}\" }\n");
    assert_eq!(
        codes(&c).iter().map(|c| c.0).collect::<Vec<_>>(),
        ["schema.type", "schema.type", "schema.type"]
    );
    let c = run("start: a\nnodes: [a]\n");
    assert_eq!(codes(&c), vec![("schema.type", 2, 8)]);
}

#[test]
fn missing_prompt_names_the_themes() {
    let c = run("themes: { list: [bunny, robot] }\nstart: a\nnodes:\n  a: { play: c.wav }\n");
    assert_eq!(codes(&c), vec![("flow.missing_prompt", 4, 14)]);
    assert!(c.diagnostics[0].message.contains("robot"));
    assert!(!c.diagnostics[0].message.contains("bunny"));
}

#[test]
fn urls_are_remote_prompts() {
    let c = run("start: a\nnodes:\n  a: { play: \"https://x.example/s.mp3\" }\n");
    let p = c.program.unwrap();
    assert!(matches!(p.prompts[0].source, PromptSource::Url(_)));
}

#[test]
fn a_templated_prompt_is_a_url_rendered_at_play_time_and_its_variables_are_checked() {
    let c = run("vars: { reply: {} }\nstart: a\nnodes:\n  a: { play: \"{{ vars.reply.src }}\" }\n");
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    let p = c.program.unwrap();
    assert!(matches!(p.prompts[0].source, PromptSource::UrlTemplate(_)));
    let c = run("start: a\nnodes:\n  a: { play: \"{{ vars.nope }}\" }\n");
    assert_eq!(codes(&c), vec![("flow.undefined_variable", 3, 14)]);
}

#[test]
fn endless_loop_is_named() {
    let c = run("start: a\nnodes:\n  a: { set: { x: 1 }, next: b }\n  b: { goto: a }\n");
    assert_eq!(codes(&c), vec![("flow.endless_loop", 3, 3)]);
    assert!(
        c.diagnostics[0].message.contains("`a` → `b` → `a`"),
        "{}",
        c.diagnostics[0].message
    );
    let ok =
        run("start: a\nnodes:\n  a: { set: { x: 1 }, next: b }\n  b: { play: a.wav, next: a }\n");
    assert!(ok.program.is_some());
}

#[test]
fn set_values_keep_their_shape() {
    let c = run("vars: { n: 1 }\nstart: a\nnodes:\n  a: { set: { n: \"{{ vars.n + 1 }}\", s: \"n={{ vars.n }}\", l: 3 }, next: b }\n  b: { hangup: {} }\n");
    let p = c.program.unwrap();
    let NodeKind::Set(s) = &p.nodes[0].kind else {
        panic!("set")
    };
    assert!(matches!(
        s.assign[0].1,
        crate::flow::program::SetValue::Expr(_)
    ));
    assert!(matches!(
        s.assign[1].1,
        crate::flow::program::SetValue::Text(_)
    ));
    assert!(matches!(
        s.assign[2].1,
        crate::flow::program::SetValue::Literal(_)
    ));
}

const SAMPLE: &str = include_str!("../../../tests/fixtures/valid/characters.yaml");

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

    /// Any edit of a real flow (cut, insert, overwrite) compiles to diagnostics, never a panic,
    /// and a program exactly when there is no error.
    #[test]
    fn mutated_flows_never_panic(at in 0usize..4000, len in 0usize..40, insert in "[ -~\n\t]{0,12}") {
        let chars: Vec<char> = SAMPLE.chars().collect();
        let at = at.min(chars.len());
        let end = (at + len).min(chars.len());
        let text: String = chars[..at].iter().chain(insert.chars().collect::<Vec<_>>().iter()).chain(chars[end..].iter()).collect();
        let c = run(&text);
        proptest::prop_assert_eq!(c.program.is_some(), !crate::flow::diag::has_errors(&c.diagnostics));
        for d in &c.diagnostics {
            proptest::prop_assert!(d.line >= 1 && d.col >= 1);
        }
    }

    /// Arbitrary text never panics either.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = run(&text);
    }
}

#[test]
fn normalizes_paths_lexically() {
    assert_eq!(
        normalize_path(Path::new("flows/./sub/../x.yaml")),
        Path::new("flows/x.yaml")
    );
    assert_eq!(normalize_path(Path::new("../a/./b")), Path::new("../a/b"));
}

#[test]
fn ack_marks_acknowledged_or_heard_and_call_direction_is_readable() {
    let c = run("start: a\nnodes:\n  a: { ack: {}, next: h }\n  h: { ack: { as: heard }, next: s }\n  s: { say: \"{{ call.direction }}\", next: end }\n  end: { hangup: {} }\n");
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    let p = c.program.unwrap();
    let marks: Vec<_> = p
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Ack(a) => Some((a.mark, a.next)),
            _ => None,
        })
        .collect();
    use crate::flow::program::Mark;
    assert_eq!(
        marks,
        [
            (Mark::Acknowledged, Target::Node(NodeId(1))),
            (Mark::Heard, Target::Node(NodeId(2)))
        ]
    );
    let bad = run("start: a\nnodes:\n  a: { ack: { as: seen } }\n");
    assert!(bad.program.is_none());
    assert_eq!(codes(&bad)[0].1, 3, "{:?}", bad.diagnostics);
}
