//! Tests of the siptunes importer on temporary sound folders.

use std::fs;
use std::path::Path;

use super::*;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, text).unwrap();
}

fn opts() -> Options {
    Options {
        name: "siptunes".into(),
        themes: None,
    }
}

/// The layout of siptunes' README: the same map for every theme, files in theme folders.
fn uniform_fixture(dir: &Path) {
    let map = r#"{ "1": "response_1.mp3", "2": "response_2.mp3", "default": "greeting.mp3" }"#;
    for theme in ["robot", "bunny"] {
        write(dir, &format!("dtmf_map_{theme}.json"), map);
        for f in ["greeting.mp3", "response_1.mp3", "response_2.mp3"] {
            write(dir, &format!("{theme}/{f}"), "x");
        }
    }
}

#[test]
fn same_map_everywhere_gives_one_gather() {
    let tmp = tempfile::tempdir().unwrap();
    uniform_fixture(tmp.path());
    let out = import(tmp.path(), &opts()).unwrap();
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let body = out
        .yaml
        .split_once("name: ")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let expected = r##""siptunes"

themes:
  list: ["bunny", "robot"]
  start: "bunny"

keys:
  "#": { theme: next, goto: greet }
  "*": { theme: prev, goto: greet }

start: greet
nodes:
  "greet":
    gather:
      prompt: "greeting.mp3"
      digits: { min: 1, max: 1 }
      timeout: 10s
      tries: 6
    routes: { "1": "key_1", "2": "key_2" }
    on_fail: end
  "key_1": { play: "response_1.mp3", next: greet }
  "key_2": { play: "response_2.mp3", next: greet }
  end: { hangup: {} }
"##;
    assert_eq!(body, expected, "{}", out.yaml);
    assert!(out
        .yaml
        .starts_with("# yaml-language-server: $schema=../schema/flow.schema.json\n"));
}

#[test]
fn themes_option_sets_the_order_and_leaves_out_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    uniform_fixture(tmp.path());
    let o = Options {
        name: "x".into(),
        themes: Some(vec!["robot".into()]),
    };
    let out = import(tmp.path(), &o).unwrap();
    assert!(out
        .yaml
        .contains("  list: [\"robot\"]\n  start: \"robot\"\n"));
    assert_eq!(out.warnings.len(), 1);
    assert!(
        matches!(&out.warnings[0], Warning::UnusedMap { path } if path.ends_with("dtmf_map_bunny.json"))
    );

    let o = Options {
        name: "x".into(),
        themes: Some(vec!["robot".into(), "pirate".into()]),
    };
    let err = import(tmp.path(), &o).unwrap_err();
    assert!(matches!(&err, ImportError::UnknownTheme { theme, .. } if theme == "pirate"));
}

#[test]
fn different_maps_switch_on_theme_and_qualify_theme_files() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "dtmf_map_example.json",
        r#"{ "1": "rhyme.mp3", "2": "https://archive.org/x.mp3", "default": "theme.mp3" }"#,
    );
    write(d, "example/rhyme.mp3", "x");
    write(d, "example/theme.mp3", "x");
    write(
        d,
        "dtmf_map_other.json",
        r#"{ "3": "shared.wav", "default": "hello.wav" }"#,
    );
    write(d, "hello.wav", "x");
    write(d, "shared.wav", "x");
    let out = import(d, &opts()).unwrap();
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let y = &out.yaml;
    for line in [
        "  greet:\n    switch:\n",
        "      - { when: \"theme == \\\"example\\\"\", goto: \"menu_example\" }\n",
        "      - { goto: \"menu_other\" }\n",
        "  \"menu_example\":\n    gather:\n      prompt: \"example/theme.mp3\"\n",
        "    routes: { \"1\": \"play_example_1\", \"2\": \"play_example_2\" }\n",
        "  \"play_example_1\": { play: \"example/rhyme.mp3\", next: greet }\n",
        "  \"play_example_2\": { play: \"https://archive.org/x.mp3\", next: greet }\n",
        "  \"menu_other\":\n    gather:\n      prompt: \"hello.wav\"\n",
        "  \"play_other_3\": { play: \"shared.wav\", next: greet }\n",
    ] {
        assert!(y.contains(line), "missing {line:?} in\n{y}");
    }
}

#[test]
fn keys_that_cannot_be_honoured_are_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "dtmf_map_a.json",
        r##"{ "*": "s.wav", "12": "s.wav", "x": "s.wav", "#": "s.wav", "B": "s.wav", "default": "nowhere.wav", "rtsp": "rtsp://cam/live" }"##,
    );
    write(d, "s.wav", "x");
    let out = import(d, &opts()).unwrap();
    let w: Vec<String> = out.warnings.iter().map(|w| w.to_string()).collect();
    let skipped = |key: &str| {
        out.warnings
            .iter()
            .any(|w| matches!(w, Warning::SkippedKey { key: k, .. } if k == key))
    };
    for key in ["*", "#", "12", "x", "rtsp"] {
        assert!(skipped(key), "{key} should be skipped: {w:?}");
    }
    assert!(out.warnings.contains(&Warning::MissingFile {
        theme: "a".into(),
        file: "nowhere.wav".into()
    }));
    assert!(
        out.yaml.contains("routes: { \"B\": \"key_B\" }"),
        "{}",
        out.yaml
    );
    assert!(w.iter().any(|s| s.contains("dtmf_map_a.json")));
}

#[test]
fn non_http_streams_are_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "dtmf_map_a.json",
        r#"{ "1": "rtsp://cam/live", "default": "https://x/g.mp3" }"#,
    );
    let out = import(tmp.path(), &opts()).unwrap();
    assert_eq!(
        out.warnings,
        vec![Warning::UnsupportedUrl {
            theme: "a".into(),
            url: "rtsp://cam/live".into()
        }]
    );
}

#[test]
fn malformed_json_is_an_error_naming_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "dtmf_map_a.json",
        "{\n  \"1\": \"a.wav\",\n  oops\n}",
    );
    let err = import(tmp.path(), &opts()).unwrap_err();
    assert!(
        matches!(err, ImportError::BadJson { line: 3, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("dtmf_map_a.json:3:"), "{msg}");
}

#[test]
fn wrong_shapes_are_errors() {
    let cases = [
        ("[1, 2]", "expected a JSON object"),
        (r#"{ "1": 5, "default": "g.wav" }"#, "value of \"1\""),
        (r#"{ "1": "", "default": "g.wav" }"#, "value of \"1\""),
        (r#"{ "1": "a.wav" }"#, "no \"default\""),
        ("", "invalid JSON"),
    ];
    for (json, needle) in cases {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "dtmf_map_a.json", json);
        let err = import(tmp.path(), &opts()).unwrap_err().to_string();
        assert!(err.contains(needle), "{json}: {err}");
        assert!(err.contains("dtmf_map_a.json"), "{err}");
    }
}

#[test]
fn a_folder_without_maps_or_with_odd_theme_names_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "readme.txt", "hi");
    assert!(matches!(
        import(tmp.path(), &opts()).unwrap_err(),
        ImportError::NoMaps { .. }
    ));
    write(
        tmp.path(),
        "dtmf_map_my theme.json",
        r#"{ "default": "g.wav" }"#,
    );
    assert!(matches!(
        import(tmp.path(), &opts()).unwrap_err(),
        ImportError::BadThemeName { .. }
    ));
    let missing = tmp.path().join("nope");
    assert!(matches!(
        import(&missing, &opts()).unwrap_err(),
        ImportError::Io { .. }
    ));
}

/// Compiles imported YAML with the folder as the sound folder; returns the error diagnostics.
fn compile_errors(dir: &Path, yaml: &str) -> Vec<String> {
    use crate::flow::load::{compile_text, LoadOptions};
    let opts = LoadOptions {
        sound_dir: Some(dir.to_owned()),
        ..LoadOptions::default()
    };
    let compiled = compile_text(yaml, &dir.join("flows/siptunes.yaml"), &opts);
    let errors: Vec<String> = compiled
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    assert_eq!(compiled.program.is_some(), errors.is_empty());
    errors
}

#[test]
fn uniform_import_compiles_with_theme_switching_keys() {
    let tmp = tempfile::tempdir().unwrap();
    uniform_fixture(tmp.path());
    let out = import(tmp.path(), &opts()).unwrap();
    assert_eq!(compile_errors(tmp.path(), &out.yaml), Vec::<String>::new());
    use crate::flow::load::{compile_text, LoadOptions};
    let p = compile_text(
        &out.yaml,
        &tmp.path().join("flows/siptunes.yaml"),
        &LoadOptions {
            sound_dir: Some(tmp.path().to_owned()),
            ..LoadOptions::default()
        },
    )
    .program
    .unwrap();
    assert_eq!(p.themes.names, vec!["bunny", "robot"]);
    let keys: Vec<char> = p.keys.iter().map(|k| k.digit.as_char()).collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&'*') && keys.contains(&'#'));
    assert!(p.node_by_name("key_2").is_some());
}

#[test]
fn per_theme_import_compiles() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "dtmf_map_example.json",
        r#"{ "1": "rhyme.mp3", "2": "https://archive.org/x.mp3", "default": "theme.mp3" }"#,
    );
    write(d, "example/rhyme.mp3", "x");
    write(d, "example/theme.mp3", "x");
    write(
        d,
        "dtmf_map_other.json",
        r#"{ "3": "shared.wav", "default": "hello.wav" }"#,
    );
    write(d, "hello.wav", "x");
    write(d, "shared.wav", "x");
    let out = import(d, &opts()).unwrap();
    assert_eq!(
        compile_errors(d, &out.yaml),
        Vec::<String>::new(),
        "{}",
        out.yaml
    );
}

#[test]
fn a_map_with_only_a_greeting_compiles() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "dtmf_map_solo.json",
        r#"{ "default": "hi.wav" }"#,
    );
    write(tmp.path(), "solo/hi.wav", "x");
    let out = import(tmp.path(), &opts()).unwrap();
    assert_eq!(
        compile_errors(tmp.path(), &out.yaml),
        Vec::<String>::new(),
        "{}",
        out.yaml
    );
}
