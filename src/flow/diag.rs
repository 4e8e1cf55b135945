//! Diagnostics: one problem in one flow file, with its position, a stable code and a hint.
//!
//! Owns the [`Diagnostic`] type every stage of the flow pipeline reports with, its text rendering
//! (`path:line:col: error[code]: message` then `  = hint: ...`), its JSON form and its order.
//! It does not decide what is a problem: `source`, `schema`, `compile` and `load` do.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// How bad a problem is. Only errors keep a flow from being compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem at one place in one file. Lines and columns are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
    pub severity: Severity,
    /// Stable identifier such as `flow.unknown_node`.
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    /// The start of a file.
    pub const START: Pos = Pos { line: 1, col: 1 };
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl Diagnostic {
    pub fn error(
        path: impl Into<PathBuf>,
        pos: Pos,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::new(path.into(), pos, Severity::Error, code, message.into())
    }

    pub fn warning(
        path: impl Into<PathBuf>,
        pos: Pos,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::new(path.into(), pos, Severity::Warning, code, message.into())
    }

    fn new(
        path: PathBuf,
        pos: Pos,
        severity: Severity,
        code: &'static str,
        message: String,
    ) -> Self {
        Diagnostic {
            path,
            line: pos.line,
            col: pos.col,
            severity,
            code,
            message,
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint if there is one.
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    /// Order: file, line, column, then errors before warnings, then code and message.
    fn sort_key(&self) -> impl Ord + '_ {
        (
            &self.path,
            self.line,
            self.col,
            self.severity,
            self.code,
            &self.message,
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}[{}]: {}",
            self.path.display(),
            self.line,
            self.col,
            self.severity.as_str(),
            self.code,
            self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {hint}")?;
        }
        Ok(())
    }
}

/// Sorts diagnostics by file and position and drops exact duplicates (a subflow checked both on
/// its own and inlined reports the same problem twice).
pub fn sort_and_dedup(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    diags.dedup();
}

/// Whether any diagnostic is an error.
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

/// The closest candidate to `word` (for did-you-mean hints), if any is close enough.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&word.to_lowercase(), &c.to_lowercase());
        if score >= 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_with_hint() {
        let d = Diagnostic::error(
            "flows/a.yaml",
            Pos { line: 3, col: 5 },
            "flow.unknown_node",
            "no node `mnu`",
        )
        .with_hint("did you mean `menu`?");
        assert_eq!(
            d.to_string(),
            "flows/a.yaml:3:5: error[flow.unknown_node]: no node `mnu`\n  = hint: did you mean `menu`?"
        );
    }

    #[test]
    fn renders_json() {
        let d = Diagnostic::warning("a.yaml", Pos::START, "flow.unreachable", "x");
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["severity"], "warning");
        assert_eq!(v["line"], 1);
        assert!(v.get("hint").is_none());
    }

    #[test]
    fn sorts_by_position_and_dedups() {
        let a = Diagnostic::error("a.yaml", Pos { line: 9, col: 1 }, "x", "m");
        let b = Diagnostic::warning("a.yaml", Pos { line: 2, col: 1 }, "y", "m");
        let mut v = vec![a.clone(), b.clone(), a.clone()];
        sort_and_dedup(&mut v);
        assert_eq!(v, vec![b, a]);
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(did_you_mean("mnu", ["menu", "story"]), Some("menu"));
        assert_eq!(did_you_mean("zzz", ["menu", "story"]), None);
    }
}
