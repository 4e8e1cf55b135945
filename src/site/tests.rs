//! The site checks on in-memory flows and sites; `validate` and `run` showing them are tested in
//! tests/validate.rs and tests/run_config.rs.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::config::capabilities::Capability;
use crate::flow::load::{compile_text, LoadOptions};

fn site(env: &[(&str, &str)], accounts: &[&str]) -> Site {
    let vars: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let unavailable = |why: &str| Capability::Unavailable(why.into());
    Site {
        env: Environment::new(vars),
        caps: Capabilities {
            say: Capability::Available,
            say_engines: crate::flow::program::TtsEngine::ALL.map(|e| (e, Capability::Available)),
            listen: unavailable("no recognizer"),
            agent_openai: unavailable("no OpenAI API key (set OPENAI_API_KEY)"),
            agent_echo: Capability::Available,
            stream: unavailable("no streams"),
            record: unavailable("no recorder"),
        },
        account_flows: accounts.iter().map(|s| s.to_string()).collect(),
    }
}

fn claims(text: &str) -> Claims {
    compile_text(text, Path::new("f.yaml"), &LoadOptions::default()).claims
}

fn codes(d: &[Diagnostic]) -> Vec<(&'static str, usize)> {
    d.iter().map(|d| (d.code, d.line)).collect()
}

#[test]
fn unset_env_names_warn_with_their_line_unless_set_or_defaulted() {
    let c = claims("env: [CRM_URL, API_KEY, PORT]\nstart: a\nnodes:\n  a: { hangup: {} }\n");
    let d = check_flow(
        Path::new("f.yaml"),
        &c,
        &site(&[("API_KEY", "k"), ("CRM_URI", "x")], &[]),
    );
    assert_eq!(codes(&d), [(ENV_UNSET, 1), (ENV_UNSET, 1)]);
    assert!(
        d[0].message.starts_with("`CRM_URL` (in `env:`) is not set"),
        "{}",
        d[0].message
    );
    assert_eq!(d[0].col, 7);
    assert!(d[0]
        .hint
        .as_deref()
        .unwrap()
        .starts_with("did you mean `CRM_URI`, which is set?"));
    assert!(
        d[1].hint.as_deref().unwrap().contains("env: { PORT:"),
        "{:?}",
        d[1].hint
    );
    let c = claims("env: { CRM_URL: \"http://127.0.0.1:8080/demo/crm\", KEY: ~ }\nstart: a\nnodes:\n  a: { hangup: {} }\n");
    let d = check_flow(Path::new("f.yaml"), &c, &site(&[], &[]));
    assert_eq!(codes(&d), [(ENV_UNSET, 1)], "{d:?}");
    assert!(d[0].message.contains("`KEY`"));
}

#[test]
fn nodes_the_server_cannot_run_warn_with_the_reason() {
    let c = claims(
        "start: a\nnodes:\n  a: { say: hi, next: b }\n  b:\n    agent: { provider: openai, model: m, instructions: hi }\n    next: c\n  c: { record: { max: 5s }, next: d }\n  d: { hangup: {} }\n",
    );
    let d = check_flow(Path::new("f.yaml"), &c, &site(&[], &[]));
    assert_eq!(codes(&d), [(UNAVAILABLE_NODE, 4), (UNAVAILABLE_NODE, 7)]);
    assert!(
        d[0].message.contains(
            "node `b` (`agent`) cannot run on this server: no OpenAI API key (set OPENAI_API_KEY)"
        ),
        "{}",
        d[0].message
    );
    assert!(d[1].message.contains("no recorder"));
}

#[test]
fn a_flow_no_number_reaches_warns_unless_an_account_or_another_flow_uses_it() {
    let routed = claims("routes: [\"5000\"]\nstart: a\nnodes:\n  a: { hangup: {} }\n");
    let default = claims("default: true\nstart: a\nnodes:\n  a: { hangup: {} }\n");
    let lonely = claims("name: lonely\nstart: a\nnodes:\n  a: { hangup: {} }\n");
    let flows = vec![
        ("a.yaml".into(), routed),
        ("b.yaml".into(), default),
        ("c.yaml".into(), lonely),
    ];
    let d = check_routing(&flows, &site(&[], &[]));
    assert_eq!(codes(&d), [(UNROUTED, 1)]);
    assert_eq!(d[0].path, Path::new("c.yaml"));
    assert!(d[0].message.contains("flow `lonely`"));
    assert!(check_routing(&flows, &site(&[], &["lonely"])).is_empty());
    let mut uses = claims("routes: [\"1\"]\nstart: a\nnodes:\n  a: { hangup: {} }\n");
    uses.subflows.push("c.yaml".into());
    let mut with_caller = flows.clone();
    with_caller.push(("d.yaml".into(), uses));
    assert!(check_routing(&with_caller, &site(&[], &[])).is_empty());
}

#[test]
fn an_empty_flows_folder_warns() {
    let dir = tempfile::tempdir().unwrap();
    let set = crate::flow::load::load_paths(&[dir.path().to_path_buf()], &LoadOptions::default());
    assert_eq!(codes(&set.diagnostics), [(EMPTY_FOLDER, 1)]);
    assert!(!set.has_errors());
}

#[test]
fn the_registry_attaches_site_warnings_at_start_and_on_reload() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("a.yaml");
    let text = |env: &str| {
        format!("routes: [\"1\"]\nenv: [{env}]\nstart: a\nnodes:\n  a: {{ hangup: {{}} }}\n")
    };
    std::fs::write(&flow, text("CRM_URL")).unwrap();
    let opts = LoadOptions {
        site: Some(Arc::new(site(&[("API_KEY", "k")], &[]))),
        ..LoadOptions::default()
    };
    let (reg, _) = crate::registry::Registry::open(dir.path(), opts);
    let codes_now = |reg: &crate::registry::Registry| -> Vec<&'static str> {
        reg.snapshot().flows[0]
            .diagnostics
            .iter()
            .map(|d| d.code)
            .collect()
    };
    assert_eq!(codes_now(&reg), [ENV_UNSET], "at start");
    assert!(
        reg.snapshot().flows[0].program.is_some(),
        "a warning never blocks"
    );
    std::fs::write(&flow, text("API_KEY")).unwrap();
    reg.reload(&[]);
    assert!(
        codes_now(&reg).is_empty(),
        "set: no warning after the reload"
    );
    std::fs::write(&flow, text("OTHER")).unwrap();
    reg.reload(&[]);
    assert_eq!(codes_now(&reg), [ENV_UNSET], "on reload");
}
