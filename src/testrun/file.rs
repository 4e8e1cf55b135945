//! Reading a `*.test.yaml` file into typed test cases.
//!
//! ```yaml
//! flow: characters.yaml          # optional; default = this file's name without `.test`
//! mocks: { ... }                 # optional, for all cases
//! env: { CRM_URL: https://crm }  # optional values for the flow's `env:` names
//! tests:
//!   - name: press 1 hears the story
//!     from: "+15550001"          # optional; to: optional (default the flow's first route)
//!     mocks: { ... }             # optional, merged over the file's
//!     steps:
//!       - expect: { play: greeting.wav, within: 30s }
//!       - dtmf: "12#"
//!       - speech: "yes"
//!       - wait: 5s
//!       - hangup: true
//! ```
//! Every problem is a [`TestFileError`] naming the file, the line and what is wrong; nothing
//! here panics on a bad file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::flow::diag::Pos;
use crate::flow::digit::{parse_digits, Digit};
use crate::flow::duration::parse_duration;
use crate::flow::source::{self, SpanMap};
use crate::sim::mocks::Mocks;
use crate::testrun::expect::Expectation;

/// A parsed test file.
#[derive(Debug, Clone)]
pub struct TestFile {
    pub path: PathBuf,
    /// The flow under test, resolved against the test file's folder.
    pub flow: PathBuf,
    /// Where `flow:` is written (the file's start when it is implied).
    pub flow_pos: Pos,
    pub env: BTreeMap<String, String>,
    pub cases: Vec<TestCase>,
}

#[derive(Debug, Clone)]
pub struct TestCase {
    pub name: String,
    pub from: Option<String>,
    pub to: Option<String>,
    /// The file's mocks with the case's merged over them.
    pub mocks: Mocks,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Expect(Expectation),
    /// Keys sent at the current time, 100 ms apart.
    Dtmf(Vec<Digit>),
    Speech(String),
    Wait(Duration),
    Hangup,
}

/// Why a test file cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFileError {
    pub path: PathBuf,
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for TestFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.pos.line,
            self.pos.col,
            self.message
        )
    }
}

impl std::error::Error for TestFileError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    flow: Option<String>,
    #[serde(default)]
    mocks: Value,
    #[serde(default)]
    env: BTreeMap<String, String>,
    tests: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    from: Option<String>,
    to: Option<String>,
    #[serde(default)]
    mocks: Value,
    steps: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum RawStep {
    Expect(Value),
    Dtmf(String),
    Speech(String),
    Wait(String),
    Hangup(bool),
}

/// Reads and parses a test file.
pub fn load(path: &Path) -> Result<TestFile, TestFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| TestFileError {
        path: path.to_owned(),
        pos: Pos::START,
        message: format!("cannot read the file: {e}"),
    })?;
    parse(&text, path)
}

/// Parses test file text as if read from `path`.
pub fn parse(text: &str, path: &Path) -> Result<TestFile, TestFileError> {
    let parsed = source::parse(text, path);
    if let Some(d) = parsed.diagnostics.iter().find(|d| d.is_error()) {
        return Err(TestFileError {
            path: path.to_owned(),
            pos: d.pos(),
            message: d.message.clone(),
        });
    }
    let cx = Cx {
        path,
        spans: &parsed.spans,
    };
    let raw: RawFile = cx.de(parsed.value.unwrap_or_default(), "")?;
    let file_mocks = cx.mocks(raw.mocks, "/mocks")?;
    let flow = match raw.flow {
        Some(f) => f,
        None => default_flow_name(path)
            .ok_or_else(|| cx.err("", "cannot tell the flow: add `flow:`"))?,
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut cases = Vec::with_capacity(raw.tests.len());
    for (i, case) in raw.tests.into_iter().enumerate() {
        let at = format!("/tests/{i}");
        let rc: RawCase = cx.de(case, &at)?;
        let mocks = cx
            .mocks(rc.mocks, &format!("{at}/mocks"))?
            .merged_over(&file_mocks);
        let steps = rc
            .steps
            .into_iter()
            .enumerate()
            .map(|(j, s)| cx.step(s, &format!("{at}/steps/{j}")))
            .collect::<Result<Vec<_>, _>>()?;
        cases.push(TestCase {
            name: rc.name,
            from: rc.from,
            to: rc.to,
            mocks,
            steps,
        });
    }
    if cases.is_empty() {
        return Err(cx.err("/tests", "no tests"));
    }
    Ok(TestFile {
        path: path.to_owned(),
        flow: dir.join(flow),
        flow_pos: parsed.spans.value("/flow"),
        env: raw.env,
        cases,
    })
}

/// `characters.test.yaml` → `characters.yaml`.
pub fn default_flow_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".test.yaml")
        .or_else(|| name.strip_suffix(".test.yml"))?;
    Some(format!("{stem}.yaml"))
}

/// Where in which file: turns serde errors into positioned errors.
struct Cx<'a> {
    path: &'a Path,
    spans: &'a SpanMap,
}

impl Cx<'_> {
    fn err(&self, pointer: &str, message: impl Into<String>) -> TestFileError {
        TestFileError {
            path: self.path.to_owned(),
            pos: self.spans.value(pointer),
            message: message.into(),
        }
    }

    fn de<T: for<'de> Deserialize<'de>>(&self, v: Value, at: &str) -> Result<T, TestFileError> {
        serde_json::from_value(v).map_err(|e| self.err(at, e.to_string()))
    }

    fn mocks(&self, v: Value, at: &str) -> Result<Mocks, TestFileError> {
        Mocks::from_value(v).map_err(|e| self.err(at, format!("mocks: {e}")))
    }

    fn step(&self, v: Value, at: &str) -> Result<Step, TestFileError> {
        let what = || {
            "a step is one of expect, dtmf, speech, wait, hangup (e.g. `- dtmf: \"1\"`)".to_owned()
        };
        let raw: RawStep = match serde_json::from_value(v) {
            Ok(r) => r,
            Err(e) => return Err(self.err(at, format!("{}: {e}", what()))),
        };
        Ok(match raw {
            RawStep::Expect(e) => Step::Expect(
                Expectation::from_value(e).map_err(|m| self.err(&format!("{at}/expect"), m))?,
            ),
            RawStep::Dtmf(keys) => match parse_digits(&keys) {
                Some(d) if !d.is_empty() => Step::Dtmf(d),
                _ => {
                    return Err(self.err(
                        &format!("{at}/dtmf"),
                        format!("`{keys}`: keys must be 0-9, *, #, A-D"),
                    ))
                }
            },
            RawStep::Speech(text) => Step::Speech(text),
            RawStep::Wait(d) => Step::Wait(
                parse_duration(&d).map_err(|e| self.err(&format!("{at}/wait"), e.to_string()))?,
            ),
            RawStep::Hangup(true) => Step::Hangup,
            RawStep::Hangup(false) => {
                return Err(self.err(&format!("{at}/hangup"), "write `hangup: true`"))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<TestFile, TestFileError> {
        parse(text, Path::new("flows/characters.test.yaml"))
    }

    #[test]
    fn parses_steps_and_defaults_the_flow() {
        let f = p("tests:\n  - name: a\n    steps:\n      - expect: { play: greeting.wav }\n      - dtmf: \"1#\"\n      - wait: 5s\n      - speech: yes\n      - hangup: true\n").unwrap();
        assert_eq!(f.flow, Path::new("flows/characters.yaml"));
        let steps = &f.cases[0].steps;
        assert_eq!(steps.len(), 5);
        assert_eq!(steps[1], Step::Dtmf(parse_digits("1#").unwrap()));
        assert_eq!(steps[2], Step::Wait(Duration::from_secs(5)));
        assert_eq!(steps[3], Step::Speech("yes".into()));
        assert_eq!(steps[4], Step::Hangup);
    }

    #[test]
    fn bad_files_are_errors_with_a_line() {
        let e = p("tests:\n  - name: a\n    steps:\n      - dtmf: \"x\"\n").unwrap_err();
        assert_eq!(e.pos.line, 4);
        assert!(e.message.contains("keys must be"), "{e}");
        let e = p("tests:\n  - name: a\n    steps:\n      - press: 1\n").unwrap_err();
        assert_eq!(e.pos.line, 4);
        assert!(e.message.contains("a step is one of"), "{e}");
        let e = p("tests:\n  - name: a\n    steps:\n      - expect: { plya: x }\n").unwrap_err();
        assert!(e.message.contains("plya"), "{e}");
        let e = p("tests:\n  - nme: a\n").unwrap_err();
        assert_eq!(e.pos.line, 2);
        let e = p("tests: [\n").unwrap_err();
        assert!(e.to_string().starts_with("flows/characters.test.yaml:"));
        assert!(p("tests: []\n").is_err());
        assert!(p("tests:\n  - name: a\n    steps:\n      - wait: soon\n").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_garbage(text in "(tests|steps|expect|dtmf|wait|name|flow|mocks|[:\\-\\[\\]{}\"' \n#*0-9a-z]){0,80}") {
            let _ = p(&text);
        }
    }
}
