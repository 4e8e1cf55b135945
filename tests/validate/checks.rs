//! Every check of `phonetree validate`, each on its failing fixture in tests/fixtures/invalid/,
//! asserted by code, position and severity; the `tools` checks; all of a file's mistakes
//! reported in one run; the whole report against its golden file.

use super::*;

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
