//! Architecture invariants that a grep can check (rust-analyzer's "tidy" tests): the call driver
//! does no I/O, and no leg knows about flows. See ARCHITECTURE.md, "Architecture invariants".

use std::path::{Path, PathBuf};

fn sources(rel: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).expect("read dir").flatten() {
                stack.push(e.path());
            }
        } else if p.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&p).expect("read source");
            out.push((p, text));
        }
    }
    assert!(!out.is_empty(), "no sources under {rel}");
    out
}

/// The code of a file without its `#[cfg(test)]` tail and without comments.
fn code(text: &str) -> String {
    let body = text.split("#[cfg(test)]").next().unwrap_or("");
    body.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_absent(rel: &str, forbidden: &[&str], why: &str) {
    for (path, text) in sources(rel) {
        if path.to_string_lossy().ends_with("_tests.rs") {
            continue;
        }
        let code = code(&text);
        for f in forbidden {
            assert!(!code.contains(f), "{} uses `{f}`: {why}", path.display());
        }
    }
}

#[test]
fn the_call_driver_does_no_io() {
    assert_absent(
        "src/engine/call/driver.rs",
        &[
            "tokio",
            "Instant::now",
            "SystemTime::now",
            "std::net",
            "std::fs",
            "Mutex",
            "async ",
            ".await",
        ],
        "the call driver is sans-IO (the pump passes `now` and executes its outputs)",
    );
}

#[test]
fn no_leg_knows_about_flows() {
    assert_absent(
        "src/engine/leg",
        &[
            "crate::flow::program",
            "crate::flow::template",
            "crate::machine::Call",
            "crate::machine::call",
            "crate::registry",
            "crate::engine::call",
            "crate::engine::integrations",
            "Program",
        ],
        "a leg sees request ids and media, never the flow",
    );
}

#[test]
fn no_engine_module_imports_the_server() {
    for (path, text) in sources("src/engine") {
        if path.ends_with("engine/server.rs") {
            continue;
        }
        let imports_server = code(&text).lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("use ")
                && !l.contains("hyper::server")
                && l.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .any(|w| w == "server")
        });
        assert!(
            !imports_server,
            "{} imports engine::server: the server is the root, consumers get narrow types",
            path.display()
        );
    }
}
