//! The `simulate` and `test` commands as a user runs them: output and exit codes.

use std::process::{Command, Output};

fn phonetree(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phonetree"))
        .args(args)
        .output()
        .expect("run phonetree")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn simulate_prints_json_lines_from_answer_to_hangup() {
    let out = phonetree(&[
        "simulate",
        "tests/fixtures/scenarios/flows/themes.yaml",
        "--dtmf",
        "2@1s",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert_eq!(events[0]["event"], "answer");
    assert_eq!(events[0]["flow"], "themes");
    assert!(events
        .iter()
        .any(|e| e["event"] == "dtmf" && e["at_ms"] == 1000));
    let last = events.last().expect("events");
    assert_eq!(last["event"], "hangup");
    assert_eq!(last["reason"], "flow");
    let times: Vec<u64> = events
        .iter()
        .map(|e| e["at_ms"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "time order");
}

#[test]
fn simulate_uses_mocks_speech_and_max() {
    let mocks = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(mocks.path(), "listen: { ask: [] }\n").unwrap();
    let out = phonetree(&[
        "simulate",
        "tests/fixtures/scenarios/flows/listen.yaml",
        "--speech",
        "yeah@2s",
        "--mock",
        mocks.path().to_str().unwrap(),
        "--from",
        "+1999",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(r#""text":"You said yeah.""#));
    let out = phonetree(&[
        "simulate",
        "tests/fixtures/scenarios/flows/hold.yaml",
        "--max",
        "90s",
    ]);
    assert!(text(&out.stdout)
        .ends_with("{\"at_ms\":90000,\"event\":\"hangup\",\"reason\":\"max_duration\"}\n"));
}

#[test]
fn simulate_reports_a_broken_flow_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("bad.yaml");
    std::fs::write(&flow, "start: nowhere\nnodes: {}\n").unwrap();
    let out = phonetree(&["simulate", flow.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("error["),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let out = phonetree(&[
        "simulate",
        "tests/fixtures/scenarios/flows/themes.yaml",
        "--dtmf",
        "x@1s",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--dtmf"));
}

#[test]
fn test_command_passes_fails_and_breaks_with_the_right_exit_codes() {
    let out = phonetree(&["test", "tests/fixtures/testrun/pass"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("test themes.test.yaml::barge-in reaches the story ... ok"));
    assert!(
        stdout.lines().any(|l| l == "7 passed, 0 failed"),
        "{stdout}"
    );

    let out = phonetree(&["test", "tests/fixtures/testrun/fail"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("test themes.test.yaml::expects the wrong prompt ... FAILED"));
    assert!(stdout.contains("  - play: b/greeting.wav"), "{stdout}");
    assert!(stdout.contains(r#"  + {"at_ms":700,"event":"play","node":"story""#));
    assert!(stdout.contains("the call ended first"));
    assert!(stdout.lines().any(|l| l == "1 passed, 2 failed"));

    let out = phonetree(&["test", "tests/fixtures/testrun/broken"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bad.test.yaml:5:9: a step is one of"),
        "{stderr}"
    );
    assert!(
        stderr.contains("missing-flow.yaml does not exist"),
        "{stderr}"
    );

    let out = phonetree(&["test", "tests/fixtures/testrun/nope"]);
    assert_eq!(out.status.code(), Some(2));
}
