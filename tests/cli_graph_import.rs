//! The `graph` and `import siptunes` subcommands, run as a user runs them.

use std::path::Path;
use std::process::Command;

fn phonetree() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_phonetree"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn graph_draws_the_demo_flow_as_dot_and_mermaid() {
    let out = phonetree()
        .args(["graph", "flows/characters.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dot = String::from_utf8(out.stdout).unwrap();
    assert!(dot.starts_with("digraph \"characters\" {"), "{dot}");
    assert!(dot.contains("label=\"greet\\nplay greeting.wav\""));
    assert!(dot.contains("[label=\"# next theme\", style=dashed]"));
    assert!(dot.contains("[label=\"fail\"]"));

    let out = phonetree()
        .args(["graph", "flows/main-menu.yaml", "--format", "mermaid"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let m = String::from_utf8(out.stdout).unwrap();
    assert!(m.contains("flowchart LR"));
    assert!(m.contains("|\"vars.account.tier == 'premium'\"|"), "{m}");
    assert!(m.contains("|\"error\"|"));
}

#[test]
fn graph_refuses_a_broken_flow_with_its_diagnostics() {
    let tmp = tempfile::tempdir().unwrap();
    let flow = tmp.path().join("broken.yaml");
    std::fs::write(&flow, "start: a\nnodes:\n  a: { goto: nowhere }\n").unwrap();
    let out = phonetree().arg("graph").arg(&flow).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nowhere"), "{err}");

    let out = phonetree()
        .args(["graph", "flows/does-not-exist.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn import_siptunes_writes_a_flow_that_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let sound = tmp.path().join("sound");
    for theme in ["kitty", "dino"] {
        write(
            &sound,
            &format!("dtmf_map_{theme}.json"),
            r#"{ "1": "song.wav", "default": "hello.wav" }"#,
        );
        write(&sound, &format!("{theme}/song.wav"), "x");
        write(&sound, &format!("{theme}/hello.wav"), "x");
    }
    let out_file = tmp.path().join("flows/siptunes.yaml");
    let out = phonetree()
        .args(["import", "siptunes"])
        .arg(&sound)
        .arg("--out")
        .arg(&out_file)
        .args(["--themes", "kitty,dino"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let yaml = std::fs::read_to_string(&out_file).unwrap();
    assert!(yaml.contains("  list: [\"kitty\", \"dino\"]"), "{yaml}");

    // The sound folder sits beside flows/, so plain `validate` finds the prompts.
    let out = phonetree().arg("validate").arg(&out_file).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // An existing file is kept unless --force.
    let again = phonetree()
        .args(["import", "siptunes"])
        .arg(&sound)
        .arg("--out")
        .arg(&out_file)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn import_siptunes_reports_malformed_json_by_file() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "dtmf_map_x.json", "{ \"1\": ");
    let out = phonetree()
        .args(["import", "siptunes"])
        .arg(tmp.path())
        .args(["--out", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dtmf_map_x.json:1:"), "{err}");
    assert!(!err.contains("panicked"));
}

/// A stdout whose reader is already gone (`phonetree graph … | head`, or `| dot` without
/// graphviz installed): the write fails with EPIPE before anything is read.
fn closed_pipe() -> std::process::Stdio {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: `pipe` fills both descriptors on success; each is owned exactly once below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    std::process::Stdio::from(write)
}

#[test]
fn graph_into_a_closed_pipe_exits_0_without_a_panic() {
    for args in [
        &["graph", "flows/characters.yaml"][..],
        &["graph", "flows/main-menu.yaml", "--format", "mermaid"],
        &["schema"],
        &["simulate", "flows/characters.yaml", "--dtmf", "1@4s"],
        &["validate", "flows/characters.yaml", "flows/main-menu.yaml"],
    ] {
        let out = phonetree()
            .args(args)
            .stdout(closed_pipe())
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.status.success(), "{args:?}: {:?} {err}", out.status);
    }
}

#[test]
fn version_names_the_git_commit_it_was_built_from() {
    let out = phonetree().arg("--version").output().unwrap();
    assert!(out.status.success());
    let v = String::from_utf8(out.stdout).unwrap();
    assert!(
        v.starts_with(&format!("phonetree {} (git ", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(h) => assert!(v.contains(&format!("(git {h})")), "{v} vs HEAD {h}"),
        None => assert!(v.contains("(git unknown)"), "{v}"),
    }
}
