//! The demo content shipped in flows/ and sound/ stays valid: no diagnostics at all, the routes
//! the README promises, one default flow, and a test file beside every demo flow.
//!
//! Only the shipped files are checked, by name: a flow a user adds to `flows/` (broken, without
//! a test file, claiming a demo route) is the user's business and never breaks `cargo test`
//! (`a_users_extra_flow_in_flows_does_not_break_the_demo_tests`).

use std::path::{Path, PathBuf};

use phonetree::flow::load::{load_paths, LoadOptions};

/// The demo flows shipped with phonetree (stems of `flows/<name>.yaml`).
const SHIPPED: [&str; 5] = ["characters", "main-menu", "agent", "speech-menu", "sdifi"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_in(dir: &Path) -> Vec<PathBuf> {
    SHIPPED
        .iter()
        .map(|n| dir.join(format!("{n}.yaml")))
        .collect()
}

/// The shipped flows under `dir` compile with no diagnostic and claim the promised routes.
fn check_demo_flows(dir: &Path) {
    let set = load_paths(&shipped_in(dir), &LoadOptions::default());
    let diags: Vec<String> = set.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(diags.is_empty(), "{}", diags.join("\n"));
    let mut routes: Vec<(String, Vec<String>, bool)> = set
        .flows
        .iter()
        .map(|(path, p)| {
            let p = p
                .as_ref()
                .unwrap_or_else(|| panic!("{} did not compile", path.display()));
            (p.name.clone(), p.routes.clone(), p.default)
        })
        .collect();
    routes.sort();
    let expected = [
        ("agent", vec!["5002"], false),
        ("characters", vec!["5000"], true),
        ("main-menu", vec!["5001", "100"], false),
        ("speech-menu", vec!["5003", "300"], false),
        ("sdifi", vec!["5004"], false),
    ];
    for (name, r, default) in expected {
        assert!(
            routes
                .iter()
                .any(|(n, rr, d)| n == name && *rr == r && *d == default),
            "{name}: {routes:?}"
        );
    }
    assert_eq!(routes.iter().filter(|(_, _, d)| *d).count(), 1);
}

/// Every shipped flow under `dir` has its `*.test.yaml`.
fn check_test_files(dir: &Path) {
    for flow in shipped_in(dir) {
        let test = flow.with_extension("test.yaml");
        assert!(
            test.is_file(),
            "{} has no {}",
            flow.display(),
            test.display()
        );
    }
}

#[test]
fn demo_flows_compile_without_errors_or_warnings() {
    check_demo_flows(&root().join("flows"));
}

#[test]
fn every_demo_flow_has_a_test_file() {
    check_test_files(&root().join("flows"));
}

#[test]
fn every_demo_flow_starts_with_the_schema_line() {
    for name in SHIPPED {
        let text = std::fs::read_to_string(root().join(format!("flows/{name}.yaml"))).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schema/flow.schema.json\n"),
            "{name}"
        );
    }
}

#[test]
fn a_users_extra_flow_in_flows_does_not_break_the_demo_tests() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir(&flows).unwrap();
    for name in SHIPPED {
        for ext in ["yaml", "test.yaml"] {
            let file = format!("{name}.{ext}");
            std::fs::copy(root().join("flows").join(&file), flows.join(&file)).unwrap();
        }
    }
    copy_dir(&root().join("sound"), &dir.path().join("sound"));
    // Broken, no test file, and claiming the demo's route and default.
    std::fs::write(
        flows.join("mine.yaml"),
        "routes: [\"5000\"]\ndefault: true\nstart: a\nnodes:\n  a: { play: nope.wav, nxt: b }\n",
    )
    .unwrap();
    check_demo_flows(&flows);
    check_test_files(&flows);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}
