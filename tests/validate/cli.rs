//! The `phonetree validate` and `phonetree schema` binaries: output formats, exit codes, several
//! files in one run, `--sound-dir`, the default `flows/` folder, the schema printed byte for
//! byte, and checks against this server's environment, capabilities and routing.

use super::*;

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
fn schema_command_prints_the_schema_file_byte_for_byte() {
    let (code, out, _) = phonetree(&["schema"]);
    assert_eq!(code, 0);
    let file = std::fs::read_to_string("schema/flow.schema.json").unwrap();
    assert_eq!(out, file);
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
