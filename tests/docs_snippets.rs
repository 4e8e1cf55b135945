//! Documentation that must stay true, checked against the code and against itself:
//!
//! - docs/pbx.md's Asterisk snippets (`pjsip.conf`, `extensions.conf`): Asterisk is not packaged
//!   in Debian 12 and cannot be installed offline, so instead of loading them into Asterisk this
//!   parses them as Asterisk configuration files and checks every cross-reference a typo breaks
//!   (an endpoint's undefined `context` made every REFER transfer fail). The Kamailio example is
//!   run for real by the interop test `docs_pbx_kamailio_example_...`.
//! - docs/interop.md lists exactly the interop tests that exist, and no hand-counted total.
//! - README's offline example runs.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The fenced blocks of `lang` in a Markdown text.
fn blocks<'a>(md: &'a str, lang: &str) -> Vec<&'a str> {
    md.split(&format!("```{lang}\n"))
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect()
}

/// One section of an Asterisk configuration file: `[name]` and its `key = value` /
/// `key => value` lines, in order.
#[derive(Debug)]
struct Section {
    file: String,
    name: String,
    entries: Vec<(String, String)>,
}

impl Section {
    fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses an Asterisk configuration file (the `;` comments, `[section]` headers and
/// `key = value` / `key => value` lines of `config.c`); the file name comes from the block's
/// first comment (`; pjsip.conf`). Panics on a line Asterisk would not read.
fn parse_asterisk(block: &str) -> Vec<Section> {
    let file = block
        .lines()
        .next()
        .and_then(|l| l.strip_prefix(';'))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("each block starts with `; <file>.conf`:\n{block}"))
        .to_string();
    assert!(file.ends_with(".conf"), "{file}");
    let mut out: Vec<Section> = Vec::new();
    for (i, raw) in block.lines().enumerate() {
        let line = raw.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .split(']')
                .next()
                .filter(|_| rest.contains(']'))
                .unwrap_or_else(|| panic!("{file}:{}: unclosed section header: {raw}", i + 1));
            assert!(
                !name.trim().is_empty(),
                "{file}:{}: empty section name",
                i + 1
            );
            out.push(Section {
                file: file.clone(),
                name: name.trim().to_string(),
                entries: Vec::new(),
            });
            continue;
        }
        let (key, value) = line
            .split_once("=>")
            .or_else(|| line.split_once('='))
            .unwrap_or_else(|| panic!("{file}:{}: not `key = value`: {raw}", i + 1));
        let section = out
            .last_mut()
            .unwrap_or_else(|| panic!("{file}:{}: a setting before any [section]", i + 1));
        section
            .entries
            .push((key.trim().to_string(), value.trim().to_string()));
    }
    out
}

#[test]
fn docs_pbx_asterisk_snippets_parse_and_every_reference_is_defined() {
    let md = read("docs/pbx.md");
    let sections: Vec<Section> = blocks(&md, "ini")
        .into_iter()
        .flat_map(parse_asterisk)
        .collect();
    let pjsip: Vec<&Section> = sections.iter().filter(|s| s.file == "pjsip.conf").collect();
    let contexts: Vec<&str> = sections
        .iter()
        .filter(|s| s.file == "extensions.conf")
        .map(|s| s.name.as_str())
        .collect();
    assert!(pjsip.len() >= 6 && contexts.len() >= 2, "{sections:#?}");
    let of_type = |name: &str, ty: &str| {
        pjsip
            .iter()
            .any(|s| s.name == name && s.get("type") == Some(ty))
    };
    let mut checked = HashMap::new();
    for s in &pjsip {
        let ty = s
            .get("type")
            .unwrap_or_else(|| panic!("[{}] has no type", s.name));
        *checked.entry(ty).or_insert(0) += 1;
        if ty == "endpoint" {
            let ctx = s.get("context").expect("an endpoint has a context");
            assert!(
                contexts.contains(&ctx),
                "endpoint [{}] uses context `{ctx}`, which no extensions.conf block defines",
                s.name
            );
            for aor in s
                .get("aors")
                .unwrap_or("")
                .split(',')
                .filter(|a| !a.is_empty())
            {
                assert!(of_type(aor.trim(), "aor"), "[{}] aors = {aor}", s.name);
            }
            if let Some(auth) = s.get("auth") {
                assert!(of_type(auth, "auth"), "[{}] auth = {auth}", s.name);
            }
        }
        if ty == "identify" {
            let ep = s.get("endpoint").expect("identify names its endpoint");
            assert!(of_type(ep, "endpoint"), "[{}] endpoint = {ep}", s.name);
        }
    }
    assert!(
        checked.get("endpoint").copied().unwrap_or(0) >= 2,
        "{checked:?}"
    );
    for s in sections.iter().filter(|s| s.file == "extensions.conf") {
        for (key, value) in &s.entries {
            if key == "include" {
                assert!(contexts.contains(&value.as_str()), "include => {value}");
            }
            if let Some(dial) = value.split("Dial(PJSIP/").nth(1) {
                let target = dial.split([',', ')']).next().unwrap_or("");
                if let Some((_, endpoint)) = target.split_once('@') {
                    assert!(
                        of_type(endpoint, "endpoint"),
                        "Dial to unknown endpoint {endpoint}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_asterisk_parser_catches_an_undefined_context() {
    let broken = "; pjsip.conf\n[t]\ntype = endpoint\ncontext = nowhere\n";
    let s = parse_asterisk(broken);
    assert_eq!(s[0].get("context"), Some("nowhere"));
    let bad = std::panic::catch_unwind(|| parse_asterisk("; x.conf\nkey without value\n"));
    assert!(bad.is_err());
}

/// The rows of docs/interop.md's tables are exactly the tests of tests/interop.rs (and its
/// modules tests/interop/*_tests.rs),
/// tests/interop_outbound.rs, tests/interop_twilio.rs, tests/interop_twilio_speech.rs and
/// tests/interop_agent.rs, tests/interop_srtp.rs, tests/interop_cluster.rs and
/// tests/interop_nat.rs (the guard tests
/// aside), and the page states no hand-counted number of
/// tests that would go stale.
#[test]
fn docs_interop_lists_exactly_the_interop_tests() {
    let doc = read("docs/interop.md");
    let code = read("tests/interop.rs")
        + &read("tests/interop/kamailio_tests.rs")
        + &read("tests/interop/media_tests.rs")
        + &read("tests/interop/signalling_tests.rs")
        + &read("tests/interop/transfer_tests.rs")
        + &read("tests/interop_outbound.rs")
        + &read("tests/interop_twilio.rs")
        + &read("tests/interop_twilio_speech.rs")
        + &read("tests/interop_agent.rs")
        + &read("tests/interop_srtp.rs")
        + &read("tests/interop_cluster.rs")
        + &read("tests/interop_nat.rs");
    let mut documented: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| {
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    documented.sort_unstable();
    let lines: Vec<&str> = code.lines().collect();
    let mut tests: Vec<&str> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.trim() != "#[test]" {
            continue;
        }
        if let Some(name) = lines[i + 1..]
            .iter()
            .find_map(|l| l.trim().strip_prefix("fn "))
            .and_then(|l| l.split('(').next())
        {
            if !name.starts_with("every_interop_test_is_ignored")
                && !name.starts_with("every_outbound_interop_test")
            {
                tests.push(name);
            }
        }
    }
    tests.sort_unstable();
    assert_eq!(
        documented, tests,
        "docs/interop.md's tables vs the interop test files"
    );
    // "16 tests": a number right before "tests" anywhere on the page.
    let words: Vec<&str> = doc.split_whitespace().collect();
    let counted = words
        .windows(2)
        .any(|w| w[0].parse::<u32>().is_ok() && w[1].starts_with("tests"));
    assert!(!counted, "docs/interop.md states a test count");
}

#[test]
fn readme_offline_example_runs() {
    let readme = read("README.md");
    let cmd = readme
        .split("`cargo run --release -- simulate ")
        .nth(1)
        .and_then(|s| s.split('`').next())
        .expect("README shows the offline simulate command");
    let args: Vec<String> = shell_words(cmd);
    let out = Command::new(env!("CARGO_BIN_EXE_phonetree"))
        .arg("simulate")
        .args(&args)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"event\":\"hangup\""), "{text}");
}

/// Splits `a "b c" d` into words (double quotes only, as the README writes them).
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}
