//! What valid flows compile to: the valid fixtures with no diagnostic, subflows inlined once with
//! their return, a thousand-node flow, and every node kind lowered to the program.

use super::*;

#[test]
fn valid_fixtures_compile_cleanly() {
    let set = load_paths(
        &[PathBuf::from("tests/fixtures/valid")],
        &LoadOptions::default(),
    );
    assert!(set.diagnostics.is_empty(), "{:?}", set.diagnostics);
    assert_eq!(set.flows.len(), 2, "sub/ is not scanned");
    assert!(set.flows.iter().all(|(_, p)| p.is_some()));
}

#[test]
fn subflows_are_inlined_once_and_return() {
    let c = load_file(
        Path::new("tests/fixtures/valid/with_subflow.yaml"),
        &LoadOptions::default(),
    );
    let p = c.program.expect("compiles");
    let names: Vec<&str> = p.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names[..7],
        [
            "hello",
            "confirm",
            "check",
            "confirm_again",
            "thanks",
            "wait",
            "record"
        ]
    );
    assert_eq!(names[8..], ["confirm/ask", "confirm/yes", "confirm/no"]);
    let entry = p.node_by_name("confirm/ask").unwrap();
    for caller in ["confirm", "confirm_again"] {
        let NodeKind::Subflow(s) = &p.node(p.node_by_name(caller).unwrap()).kind else {
            panic!("subflow")
        };
        assert_eq!(s.entry, entry);
    }
    let NodeKind::Set(s) = &p.node(p.node_by_name("confirm/yes").unwrap()).kind else {
        panic!("set")
    };
    assert_eq!(s.next, Target::Return);
    assert!(
        p.vars.iter().any(|(k, _)| k == "confirmed"),
        "subflow vars are merged"
    );
}

/// A flow of `n` nodes mixing every common kind (the bench uses the same shape).
fn generated_flow(n: usize) -> String {
    let mut s = String::from("env: [API]\nvars: { count: 0 }\nthemes: { list: [bunny, robot] }\nkeys:\n  \"#\": { theme: next, goto: n0 }\nstart: n0\nnodes:\n");
    for i in 0..n {
        let next = format!("n{}", (i + 1) % n);
        let node = match i % 6 {
            0 => format!("  n{i}: {{ play: [greeting.wav, menu.wav], next: {next} }}\n"),
            1 => format!("  n{i}:\n    gather: {{ prompt: menu.wav, timeout: 5s, invalid: invalid.wav }}\n    routes: {{ \"1\": {next}, \"2\": n0 }}\n    on_fail: n0\n"),
            2 => format!("  n{i}: {{ say: \"Count {{{{ vars.count }}}} for {{{{ call.from }}}}\", next: {next} }}\n"),
            3 => format!("  n{i}: {{ set: {{ count: \"{{{{ vars.count + 1 }}}}\" }}, next: {next} }}\n"),
            4 => format!("  n{i}:\n    http: {{ method: POST, url: \"{{{{ env.API }}}}/x\", json: {{ n: \"{{{{ vars.count }}}}\" }}, save: r{i} }}\n    on_success: {next}\n    on_error: {next}\n"),
            _ => format!("  n{i}:\n    switch:\n      - {{ when: \"vars.count > {i}\", goto: {next} }}\n      - {{ goto: n0 }}\n"),
        };
        s.push_str(&node);
    }
    s
}

#[test]
fn thousand_node_flow_compiles() {
    let text = generated_flow(1000);
    let t0 = std::time::Instant::now();
    let c = phonetree::flow::load::compile_text(
        &text,
        Path::new("tests/fixtures/valid/generated.yaml"),
        &LoadOptions::default(),
    );
    let took = t0.elapsed();
    assert!(
        c.diagnostics.is_empty(),
        "{:?}",
        &c.diagnostics[..c.diagnostics.len().min(5)]
    );
    assert_eq!(c.program.unwrap().nodes.len(), 1000);
    eprintln!("1000-node flow compiled in {took:?} (debug build)");
}

#[test]
fn every_node_kind_lowers_to_the_program() {
    use phonetree::flow::program::{AgentProvider, BodyTemplate, HttpMethod, PromptSource};
    use std::time::Duration;
    let p = load_file(
        Path::new("tests/fixtures/valid/characters.yaml"),
        &LoadOptions::default(),
    )
    .program
    .expect("compiles");
    let node = |n: &str| &p.node(p.node_by_name(n).unwrap()).kind;
    assert_eq!(p.routes, ["5000"]);
    assert!(p.default);
    assert_eq!(p.env, ["WEATHER_URL"]);
    assert_eq!(p.themes.names, ["bunny", "robot"]);
    assert_eq!(p.keys.len(), 2);
    let NodeKind::Gather(g) = node("menu") else {
        panic!("gather")
    };
    assert_eq!((g.min_digits, g.max_digits, g.tries), (1, 1, 3));
    assert_eq!(
        (g.timeout, g.inter_digit_timeout),
        (Duration::from_secs(5), Duration::from_secs(2))
    );
    assert_eq!(
        g.routes.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["1", "2", "9", "3", "4", "0"]
    );
    assert_eq!(
        g.on_fail,
        Some(Target::Node(p.node_by_name("goodbye").unwrap()))
    );
    assert_eq!((g.invalid.len(), g.no_input.len()), (1, 1));
    let NodeKind::Play(song) = node("song") else {
        panic!("play")
    };
    assert!(
        matches!(&p.prompt(song.prompts[0]).source, PromptSource::Url(u) if u == "https://example.com/stream.mp3")
    );
    let NodeKind::Http(h) = node("weather") else {
        panic!("http")
    };
    assert_eq!(
        (h.method, h.retries, h.timeout),
        (HttpMethod::Post, 2, Duration::from_secs(2))
    );
    assert_eq!(h.save.as_deref(), Some("weather"));
    assert!(matches!(&h.body, Some(BodyTemplate::Object(fields)) if fields[0].0 == "from"));
    let NodeKind::Switch(s) = node("hot_or_not") else {
        panic!("switch")
    };
    assert!(s.arms[0].0.is_some() && s.arms[1].0.is_none());
    let NodeKind::Listen(l) = node("ask") else {
        panic!("listen")
    };
    assert!(l.routes[0].0.is_match("YEAH sure"), "case-insensitive");
    assert_eq!(l.save.as_deref(), Some("answer"));
    let NodeKind::Agent(a) = node("agent") else {
        panic!("agent")
    };
    assert_eq!(
        (a.provider, a.model.as_deref(), a.voice.as_deref()),
        (AgentProvider::OpenAi, Some("gpt-realtime"), Some("marin"))
    );
    assert!(matches!(node("bot"), NodeKind::Stream(_)));
    let NodeKind::Transfer(t) = node("operator") else {
        panic!("transfer")
    };
    assert_eq!(
        t.on_fail,
        Some(Target::Node(p.node_by_name("sorry").unwrap()))
    );
    assert!(matches!(node("end"), NodeKind::Hangup(h) if h.reason.is_none()));
    let vars = std::collections::BTreeMap::new();
    let ctx = phonetree::flow::template::Context {
        theme: "robot",
        vars: Some(&vars),
        ..Default::default()
    };
    let NodeKind::Agent(a) = node("agent") else {
        panic!("agent")
    };
    assert_eq!(
        p.templates
            .render(a.instructions.unwrap(), &ctx.to_value())
            .unwrap(),
        "You are robot."
    );
}
