//! `phonetree validate` and `phonetree schema` end to end: every check has a failing fixture in
//! tests/fixtures/invalid/ and is asserted here by code, position and severity; valid fixtures
//! compile with no diagnostic; the binary's output formats and exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use phonetree::flow::diag::{Diagnostic, Severity};
use phonetree::flow::load::{load_file, load_paths, LoadOptions};
use phonetree::flow::program::{NodeKind, Target};

const INVALID: &str = "tests/fixtures/invalid";

fn diags_of(file: &str) -> Vec<Diagnostic> {
    load_file(&Path::new(INVALID).join(file), &LoadOptions::default()).diagnostics
}

/// (code, line, col, severity) of every diagnostic, in order.
fn summary(diags: &[Diagnostic]) -> Vec<(&'static str, usize, usize, Severity)> {
    diags
        .iter()
        .map(|d| (d.code, d.line, d.col, d.severity))
        .collect()
}

fn err(code: &'static str, line: usize, col: usize) -> (&'static str, usize, usize, Severity) {
    (code, line, col, Severity::Error)
}

fn warn(code: &'static str, line: usize, col: usize) -> (&'static str, usize, usize, Severity) {
    (code, line, col, Severity::Warning)
}

fn assert_exactly(file: &str, expected: &[(&'static str, usize, usize, Severity)]) {
    let d = diags_of(file);
    assert_eq!(
        summary(&d),
        expected,
        "{file}:\n{}",
        d.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let c = load_file(&Path::new(INVALID).join(file), &LoadOptions::default());
    assert_eq!(
        c.program.is_some(),
        expected.iter().all(|e| e.3 == Severity::Warning),
        "{file}: program iff no errors"
    );
}

#[test]
fn yaml_syntax() {
    assert_exactly("yaml_syntax.yaml", &[err("yaml.syntax", 4, 4)]);
}

#[test]
fn duplicate_key() {
    assert_exactly("duplicate_key.yaml", &[err("yaml.duplicate_key", 5, 3)]);
    assert!(diags_of("duplicate_key.yaml")[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("line 3"));
}

#[test]
fn schema_unknown_key_suggests_the_right_one() {
    assert_exactly("unknown_key.yaml", &[err("schema.unknown_key", 5, 5)]);
    assert_eq!(
        diags_of("unknown_key.yaml")[0].hint.as_deref(),
        Some("did you mean `next`?")
    );
}

#[test]
fn schema_unknown_kind_lists_kinds() {
    assert_exactly("unknown_kind.yaml", &[err("schema.unknown_kind", 4, 5)]);
    let hint = diags_of("unknown_kind.yaml")[0].hint.clone().unwrap();
    assert!(
        hint.starts_with("did you mean `play`?") && hint.contains("transfer, hangup"),
        "{hint}"
    );
}

#[test]
fn schema_two_kinds_in_one_node() {
    assert_exactly("two_kinds.yaml", &[err("schema.two_kinds", 3, 24)]);
}

#[test]
fn schema_wrong_type_says_quote_it() {
    assert_exactly("wrong_type.yaml", &[err("schema.type", 1, 10)]);
    assert_eq!(
        diags_of("wrong_type.yaml")[0].hint.as_deref(),
        Some("quote it: \"5000\"")
    );
}

#[test]
fn schema_bad_duration() {
    assert_exactly("bad_duration.yaml", &[err("schema.duration", 3, 15)]);
}

#[test]
fn schema_missing_key() {
    assert_exactly("missing_key.yaml", &[err("schema.missing_key", 4, 5)]);
}

#[test]
fn missing_start() {
    assert_exactly("missing_start.yaml", &[err("flow.missing_start", 1, 1)]);
    assert_eq!(
        diags_of("missing_start.yaml")[0].hint.as_deref(),
        Some("add `start: a` (the node a call begins in)")
    );
}

#[test]
fn unknown_start() {
    assert_exactly("unknown_start.yaml", &[err("flow.unknown_start", 1, 8)]);
    assert_eq!(
        diags_of("unknown_start.yaml")[0].hint.as_deref(),
        Some("did you mean `greeting`?")
    );
}

#[test]
fn unknown_node_with_did_you_mean() {
    assert_exactly(
        "unknown_node.yaml",
        &[
            err("flow.unknown_node", 3, 30),
            warn("flow.unreachable", 4, 3),
        ],
    );
    assert_eq!(
        diags_of("unknown_node.yaml")[0].hint.as_deref(),
        Some("did you mean `menu`?")
    );
}

#[test]
fn unreachable_is_a_warning() {
    assert_exactly("unreachable.yaml", &[warn("flow.unreachable", 5, 3)]);
}

#[test]
fn missing_prompt_names_the_themes() {
    assert_exactly(
        "missing_prompt.yaml",
        &[
            err("flow.missing_prompt", 4, 14),
            err("flow.missing_prompt", 5, 25),
        ],
    );
    let d = diags_of("missing_prompt.yaml");
    assert!(
        d[0].message.ends_with("missing for theme robot"),
        "{}",
        d[0].message
    );
    assert!(
        d[1].message.ends_with("missing for themes bunny, robot"),
        "{}",
        d[1].message
    );
}

#[test]
fn prompt_outside_the_sound_folder() {
    assert_exactly("bad_prompt.yaml", &[err("flow.bad_prompt", 3, 14)]);
}

#[test]
fn template_syntax() {
    assert_exactly(
        "template_syntax.yaml",
        &[
            err("flow.template_syntax", 3, 13),
            err("flow.template_syntax", 6, 17),
        ],
    );
}

#[test]
fn variables_that_can_never_be_defined() {
    assert_exactly(
        "undefined_variable.yaml",
        &[err("flow.undefined_variable", 5, 13); 4],
    );
    let messages: Vec<String> = diags_of("undefined_variable.yaml")
        .into_iter()
        .map(|d| d.message)
        .collect();
    for m in [
        "`vars.trys` is never defined",
        "`env.SECRET` is not allowed",
        "unknown variable `caller`",
        "`call.number` does not exist",
    ] {
        assert!(messages.iter().any(|x| x == m), "{m} not in {messages:?}");
    }
}

#[test]
fn endless_loop_names_the_cycle() {
    assert_exactly("endless_loop.yaml", &[err("flow.endless_loop", 5, 3)]);
    assert!(diags_of("endless_loop.yaml")[0]
        .message
        .contains("`count` → `check` → `count`"));
}

#[test]
fn keys_that_are_not_dtmf() {
    assert_exactly(
        "not_dtmf.yaml",
        &[
            err("flow.not_dtmf", 2, 3),
            err("flow.not_dtmf", 6, 44),
            err("flow.not_dtmf", 7, 23),
        ],
    );
}

#[test]
fn menu_route_shadowed_by_a_global_key() {
    assert_exactly("shadowed_route.yaml", &[warn("flow.shadowed_route", 7, 23)]);
}

#[test]
fn timers_that_make_no_sense() {
    assert_exactly(
        "bad_timer.yaml",
        &[err("flow.bad_timer", 4, 103), err("flow.bad_timer", 7, 42)],
    );
}

#[test]
fn digit_counts_that_make_no_sense() {
    assert_exactly("bad_digits.yaml", &[err("flow.bad_digits", 4, 41)]);
    assert_exactly("route_length.yaml", &[err("flow.route_length", 5, 23)]);
}

#[test]
fn gather_or_listen_without_exit() {
    assert_exactly(
        "no_exit.yaml",
        &[
            err("flow.no_exit", 7, 5),
            err("flow.no_exit", 10, 5),
            warn("flow.unreachable", 11, 3),
        ],
    );
}

#[test]
fn gather_next_ignored_beside_routes() {
    assert_exactly("ignored_next.yaml", &[warn("flow.ignored_next", 6, 5)]);
}

#[test]
fn unknown_themes() {
    assert_exactly(
        "unknown_theme.yaml",
        &[
            err("flow.unknown_theme", 1, 40),
            err("flow.unknown_theme", 3, 17),
        ],
    );
}

#[test]
fn listen_route_that_is_not_a_regex() {
    assert_exactly("bad_regex.yaml", &[err("flow.bad_regex", 5, 15)]);
}

#[test]
fn subflow_missing() {
    assert_exactly(
        "subflow_missing.yaml",
        &[err("flow.subflow_missing", 3, 17)],
    );
}

#[test]
fn subflow_cycle_is_reported_where_it_closes() {
    let d = diags_of("subflow_cycle.yaml");
    assert_eq!(summary(&d), [err("flow.subflow_cycle", 3, 17)]);
    assert_eq!(d[0].path, Path::new(INVALID).join("sub/cycle_b.yaml"));
}

#[test]
fn switch_without_default_is_a_warning() {
    assert_exactly(
        "switch_no_default.yaml",
        &[warn("flow.switch_no_default", 4, 5)],
    );
}

#[test]
fn two_flows_claiming_one_route_or_default() {
    let set = load_paths(
        &[PathBuf::from(INVALID).join("dup")],
        &LoadOptions::default(),
    );
    let got: Vec<(String, &str, usize, usize)> = set
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.path.file_name().unwrap().to_string_lossy().into_owned(),
                d.code,
                d.line,
                d.col,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("first.yaml".to_owned(), "flow.duplicate_route", 1, 10),
            ("first.yaml".to_owned(), "flow.duplicate_default", 2, 10),
            ("second.yaml".to_owned(), "flow.duplicate_default", 1, 10),
            ("second.yaml".to_owned(), "flow.duplicate_route", 4, 5),
        ]
    );
}

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

fn phonetree(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_phonetree"))
        .args(args)
        .output()
        .expect("runs the binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_text_output_and_exit_codes() {
    let (code, out, _) = phonetree(&["validate", "tests/fixtures/invalid/unknown_node.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "tests/fixtures/invalid/unknown_node.yaml:3:30: error[flow.unknown_node]: no node named `mnu`\n  = hint: did you mean `menu`?\n\
         tests/fixtures/invalid/unknown_node.yaml:4:3: warning[flow.unreachable]: node `menu` is never reached\n  = hint: route to it from another node, or remove it\n\
         failed: 1 error, 1 warning (0 of 1 flow compiled)\n"
    );
    let (code, out, _) = phonetree(&["validate", "tests/fixtures/valid"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines().last().unwrap().starts_with("ok: 0 errors"),
        "{out}"
    );
    assert!(out.ends_with(" (2 of 2 flows compiled)\n"), "{out}");
    // The valid fixtures use every node kind: the only warnings are about this server (unset
    // `env:` names, kinds it cannot run), never about the flows themselves.
    for l in out.lines().filter(|l| l.contains(": warning[")) {
        assert!(
            l.contains("warning[flow.env_unset]") || l.contains("warning[flow.unavailable_node]"),
            "{l}"
        );
    }
    let (code, _, _) = phonetree(&["validate", "tests/fixtures/invalid/unreachable.yaml"]);
    assert_eq!(code, 0, "warnings alone do not fail");
    let (code, _, err) = phonetree(&["validate", "tests/fixtures/does-not-exist"]);
    assert_eq!(code, 2);
    assert!(err.contains("does-not-exist"));
    let (code, _, _) = phonetree(&["validate", "--format", "xml"]);
    assert_eq!(code, 2, "usage errors exit 2");
}

#[test]
fn cli_every_file_in_one_run() {
    let (code, out, _) = phonetree(&["validate", "--format", "json", INVALID]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    let diags = v["diagnostics"].as_array().unwrap();
    let files: std::collections::HashSet<&str> =
        diags.iter().map(|d| d["path"].as_str().unwrap()).collect();
    assert!(files.len() >= 25, "{files:?}");
    let first = &diags[0];
    for field in ["path", "line", "col", "severity", "code", "message"] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    assert_eq!(
        v["errors"].as_u64().unwrap() as usize,
        diags.iter().filter(|d| d["severity"] == "error").count()
    );
}

#[test]
fn cli_sound_dir_option() {
    // With an empty sound folder every prompt of the valid flow is missing.
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = phonetree(&[
        "validate",
        "--sound",
        dir.path().to_str().unwrap(),
        "tests/fixtures/valid/characters.yaml",
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains(
            "error[flow.missing_prompt]: prompt `greeting.wav` is missing for themes bunny, robot"
        ),
        "{out}"
    );
}

#[test]
fn cli_defaults_to_flows_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_phonetree"))
        .arg("validate")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "no flows/ here");
    std::fs::create_dir(dir.path().join("flows")).unwrap();
    std::fs::write(
        dir.path().join("flows/a.yaml"),
        "start: a\nnodes:\n  a: { hangup: {} }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("flows/a.test.yaml"), "tests: []\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_phonetree"))
        .arg("validate")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 of 1 flow compiled"));
}

#[test]
fn bad_tools() {
    assert_exactly(
        "bad_tool.yaml",
        &[
            err("flow.bad_tool_schema", 8, 25),
            err("flow.unknown_node", 11, 19),
            err("flow.duplicate_tool", 12, 11),
            err("flow.bad_tool", 13, 11),
            err("flow.bad_tool", 14, 11),
            err("flow.bad_tool", 15, 19),
        ],
    );
}

#[test]
fn schema_command_prints_the_schema_file_byte_for_byte() {
    let (code, out, _) = phonetree(&["schema"]);
    assert_eq!(code, 0);
    let file = std::fs::read_to_string("schema/flow.schema.json").unwrap();
    assert_eq!(out, file);
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

/// Regression: a file with nine mistakes used to need three rounds of fixes, because the
/// reference, template and prompt checks skipped every node the schema had rejected. Now one
/// run reports all nine, each at its line, and the typo'd names get their did-you-mean.
#[test]
fn nine_mistakes_are_all_reported_in_one_run() {
    let d = diags_of("nine_mistakes.yaml");
    assert_eq!(
        summary(&d),
        [
            err("schema.unknown_key", 8, 38),
            err("flow.undefined_variable", 10, 18),
            err("schema.duration", 14, 42),
            err("flow.unknown_node", 15, 32),
            err("flow.undefined_variable", 17, 17),
            err("flow.template_syntax", 18, 16),
            err("flow.missing_prompt", 19, 16),
            warn("flow.unreachable", 21, 3),
            err("schema.duration", 21, 20),
        ],
        "{}",
        d.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let hints: Vec<&str> = d.iter().filter_map(|d| d.hint.as_deref()).collect();
    for want in [
        "did you mean `next`?",
        "did you mean `env.CRM_URL`?",
        "write `5s`",
        "did you mean `song`?",
        "did you mean `vars.name`?",
        "write `10s`",
    ] {
        assert!(
            hints.iter().any(|h| h.starts_with(want)),
            "{want}: {hints:?}"
        );
    }
    // The command line shows the same nine in one run.
    let out = Command::new(env!("CARGO_BIN_EXE_phonetree"))
        .args(["validate", "tests/fixtures/invalid/nine_mistakes.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("failed: 8 errors, 1 warning"), "{text}");
}

/// The whole text report for the invalid fixtures, as a golden file (`UPDATE_EXPECT=1` refreshes it).
#[test]
fn invalid_fixtures_report_matches_golden_file() {
    let set = load_paths(
        &[PathBuf::from(INVALID), PathBuf::from(INVALID).join("dup")],
        &LoadOptions::default(),
    );
    let got = phonetree::cli::validate::render_text(&set);
    let golden = Path::new("tests/fixtures/invalid.expected.txt");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(golden, &got).unwrap();
    }
    let want = std::fs::read_to_string(golden).unwrap_or_default();
    assert!(
        got == want,
        "report changed; rerun with UPDATE_EXPECT=1 and review the diff\n--- got ---\n{got}"
    );
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

/// `phonetree validate` run in `dir` with a clean environment plus `env`: (exit code, stdout).
fn validate_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_phonetree"))
        .arg("validate")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn cli_checks_flows_against_this_server_env_capabilities_and_routing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("flows")).unwrap();
    std::fs::write(
        dir.path().join("flows/a.yaml"),
        "routes: [\"5000\"]\nenv: [CRM_URL, HOOK_TOKEN]\nstart: a\nnodes:\n  a:\n    agent: { provider: openai, model: m, instructions: hi }\n    next: b\n  b: { hangup: {} }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("flows/b.yaml"),
        "name: lonely\nstart: a\nnodes:\n  a: { hangup: {} }\n",
    )
    .unwrap();
    // `.env` is read like the environment: CRM_URL is set there, HOOK_TOKEN is misspelt.
    std::fs::write(dir.path().join(".env"), "CRM_URL=http://crm\nHOOK_TOKN=x\n").unwrap();
    let (code, out) = validate_in(dir.path(), &[], &[]);
    assert_eq!(code, 0, "warnings only: {out}");
    assert!(!out.contains("`CRM_URL` (in `env:`)"), "{out}");
    assert!(
        out.contains(
            "flows/a.yaml:2:16: warning[flow.env_unset]: `HOOK_TOKEN` (in `env:`) is not set"
        ),
        "{out}"
    );
    assert!(
        out.contains("did you mean `HOOK_TOKN`, which is set?"),
        "{out}"
    );
    assert!(
        out.contains("flows/a.yaml:5:3: warning[flow.unavailable_node]: node `a` (`agent`) cannot run on this server: no OpenAI API key (set OPENAI_API_KEY)"),
        "{out}"
    );
    assert!(
        out.contains("flows/b.yaml:1:7: warning[flow.unrouted]: no number reaches flow `lonely`"),
        "{out}"
    );
    // An account that sends its calls to `lonely` routes it.
    std::fs::write(
        dir.path().join("phonetree.yaml"),
        "accounts:\n  - { registrar: pbx.example.com, username: \"1001\", password: pw, flow: lonely }\n",
    )
    .unwrap();
    let (code, out) = validate_in(dir.path(), &[], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("flow.unrouted"), "{out}");
}

#[test]
fn cli_validates_phonetree_yaml_alone_without_a_flows_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("phonetree.yaml"), "rtp: { timeout: 10s }\n").unwrap();
    let (code, out) = validate_in(dir.path(), &["phonetree.yaml"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: 0 errors"), "{out}");
    std::fs::write(dir.path().join("phonetree.yaml"), "rtp: { timeout: 30 }\n").unwrap();
    let (code, out) = validate_in(dir.path(), &["phonetree.yaml"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "phonetree.yaml:1:17: error[config.bad_value]: `rtp.timeout`: `30` is not a duration"
        ),
        "{out}"
    );
    assert!(out.contains("= hint: write `30s`"), "{out}");
}

#[test]
fn cli_warns_about_an_empty_flows_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("flows")).unwrap();
    let (code, out) = validate_in(dir.path(), &[], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("flows:1:1: warning[flows.empty]: no flow files in flows"),
        "{out}"
    );
}
