//! The demo content in flows/ and sound/ stays valid: no diagnostics at all, the routes the
//! README promises, one default flow, and a test file beside every flow.

use std::path::{Path, PathBuf};

use phonetree::flow::load::{load_paths, LoadOptions};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn demo_flows_compile_without_errors_or_warnings() {
    let set = load_paths(&[root().join("flows")], &LoadOptions::default());
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

#[test]
fn every_demo_flow_has_a_test_file() {
    let flows: Vec<PathBuf> = std::fs::read_dir(root().join("flows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(".yaml") && !name.ends_with(".test.yaml")
        })
        .collect();
    assert!(flows.len() >= 3);
    for flow in flows {
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
fn every_demo_flow_starts_with_the_schema_line() {
    for name in ["characters", "main-menu", "agent"] {
        let text = std::fs::read_to_string(root().join(format!("flows/{name}.yaml"))).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schema/flow.schema.json\n"),
            "{name}"
        );
    }
}
