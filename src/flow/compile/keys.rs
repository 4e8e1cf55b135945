//! Global keys (`keys:`): each must be one DTMF key; `theme` is `next`, `prev` or a theme of
//! `themes.list`; `goto` names a node of the top flow.

use std::path::Path;

use crate::flow::ast::FlowDoc;
use crate::flow::diag::{did_you_mean, Diagnostic};
use crate::flow::digit::{Digit, DigitSet};
use crate::flow::program::{KeyBinding, ThemeId, ThemeStep};
use crate::flow::source::{pointer, SpanMap};

use super::Builder;

impl Builder<'_> {
    /// The set of globally bound keys, reporting names that are not one DTMF key. Runs before the
    /// nodes are lowered so menus can be checked for shadowed routes.
    pub(super) fn key_digits(&mut self, doc: &FlowDoc, path: &Path, spans: &SpanMap) -> DigitSet {
        let mut set = DigitSet::default();
        for (k, _) in doc.keys.iter() {
            match single_digit(k) {
                Some(d) => set.insert(d),
                None => self.diags.push(
                    Diagnostic::error(
                        path,
                        spans.key_or_value(&pointer(["keys", k])),
                        "flow.not_dtmf",
                        format!("global key `{k}` is not a DTMF key"),
                    )
                    .with_hint("keys are single DTMF keys: 0-9, *, #, A-D"),
                ),
            }
        }
        set
    }

    /// Lowers `keys:` against the top flow (unit `unit`).
    pub(super) fn keys(&mut self, doc: &FlowDoc, unit: usize) -> Vec<KeyBinding> {
        let mut out = Vec::new();
        for (k, binding) in doc.keys.iter() {
            let theme = binding.theme.as_deref().and_then(|t| match t {
                "next" => Some(ThemeStep::Next),
                "prev" => Some(ThemeStep::Prev),
                _ if self.lenient.contains("themes") => None,
                name => match self.theme_names.iter().position(|n| n == name) {
                    Some(i) if !name.is_empty() => Some(ThemeStep::To(ThemeId(i as u32))),
                    _ => {
                        let names: Vec<&str> = self.theme_names.iter().map(String::as_str).filter(|n| !n.is_empty()).collect();
                        let hint = did_you_mean(name, names.iter().copied()).map_or_else(
                            || if names.is_empty() { "the flow has no `themes:`; use `next`/`prev` or declare themes".to_owned() } else { format!("use `next`, `prev` or one of: {}", names.join(", ")) },
                            |s| format!("did you mean `{s}`?"),
                        );
                        let pos = self.value_pos(unit, &pointer(["keys", k, "theme"]));
                        self.error(unit, pos, "flow.unknown_theme", format!("key `{k}` switches to theme `{name}`, which is not in `themes.list`"), Some(hint));
                        None
                    }
                },
            });
            let goto = binding
                .goto
                .as_deref()
                .map(|g| self.target(unit, g, &pointer(["keys", k, "goto"])));
            if let Some(digit) = single_digit(k) {
                out.push(KeyBinding { digit, theme, goto });
            }
        }
        out
    }
}

fn single_digit(k: &str) -> Option<Digit> {
    let mut c = k.chars();
    match (c.next(), c.next()) {
        (Some(ch), None) => Digit::from_char(ch),
        _ => None,
    }
}
