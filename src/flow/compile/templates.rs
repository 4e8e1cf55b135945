//! Templates and expressions: compiling them into the program's [`Templates`], reporting syntax
//! errors at the field, and checking that every variable they read can be defined: a root among
//! `call`, `theme`, `digits`, `vars`, `env`; `vars.X` declared in `vars:`, assigned by `set` or
//! saved by a node; `env.X` allow-listed in `env:`.

use serde_json::Value;

use crate::flow::diag::did_you_mean;
use crate::flow::program::{BodyTemplate, ExprId, SetValue, TemplateId};
use crate::flow::template::{TemplateError, ROOTS};

use super::{Builder, VarUse};

const CALL_FIELDS: [&str; 5] = ["from", "to", "id", "params", "direction"];

impl Builder<'_> {
    /// Compiles a text template written at `ptr`.
    pub(super) fn text(&mut self, unit: usize, source: &str, ptr: &str) -> TemplateId {
        self.template(unit, source, ptr, false)
    }

    fn template(&mut self, unit: usize, source: &str, ptr: &str, uri: bool) -> TemplateId {
        if has_syntax(source) {
            let scanned = self
                .scan_env
                .template_from_str(source)
                .map(|t| t.undeclared_variables(true));
            match scanned.map_err(scan_error) {
                Ok(vars) => self.record_uses(unit, ptr, vars),
                Err(e) => {
                    self.template_error(unit, ptr, &e, source);
                    return TemplateId(0);
                }
            }
        }
        let added = if uri {
            self.templates.add_uri(source)
        } else {
            self.templates.add_text(source)
        };
        match added {
            Ok(id) => id,
            Err(e) => {
                self.template_error(unit, ptr, &e, source);
                TemplateId(0)
            }
        }
    }

    /// Compiles a URI template (a transfer target) written at `ptr`: inserted values are
    /// URI-escaped. A template gets the `flow.transfer_template` warning (toll fraud: such a
    /// target is dialled only when `transfer.allow` lists it, see `policy::transfer`).
    pub(super) fn uri(&mut self, unit: usize, source: &str, ptr: &str) -> TemplateId {
        if has_syntax(source) {
            let pos = self.value_pos(unit, ptr);
            self.warning(
                unit,
                pos,
                crate::policy::transfer::TEMPLATE_WARNING,
                format!(
                    "transfer target `{source}` is built from a template: what the caller \
                     types or sends could choose where the call goes (toll fraud)"
                ),
                Some(
                    "list the targets it may reach in `transfer.allow` \
                     (PHONETREE_TRANSFER_ALLOW), e.g. `sip:1???@pbx.example.com`; without a \
                     list, templated transfers are refused at run time"
                        .into(),
                ),
            );
        }
        self.template(unit, source, ptr, true)
    }

    /// Compiles an expression written at `ptr`.
    pub(super) fn expr(&mut self, unit: usize, source: &str, ptr: &str) -> ExprId {
        let scanned = self
            .scan_env
            .compile_expression(source)
            .map(|e| e.undeclared_variables(true));
        match scanned.map_err(scan_error) {
            Ok(vars) => self.record_uses(unit, ptr, vars),
            Err(e) => {
                self.template_error(unit, ptr, &e, source);
                return ExprId(0);
            }
        }
        match self.templates.add_expr(source) {
            Ok(id) => id,
            Err(e) => {
                self.template_error(unit, ptr, &e, source);
                ExprId(0)
            }
        }
    }

    /// A `set` value: literal, `{{ expr }}` (keeps its type) or text.
    pub(super) fn set_value(&mut self, unit: usize, value: &Value, ptr: &str) -> SetValue {
        let Value::String(s) = value else {
            return SetValue::Literal(value.clone());
        };
        if let Some(inner) = whole_expression(s) {
            return SetValue::Expr(self.expr(unit, inner, ptr));
        }
        if has_syntax(s) {
            return SetValue::Text(self.text(unit, s, ptr));
        }
        SetValue::Literal(value.clone())
    }

    /// A JSON body whose string leaves are templates.
    pub(super) fn body(&mut self, unit: usize, value: &Value, ptr: &str) -> BodyTemplate {
        match value {
            Value::Null => BodyTemplate::Null,
            Value::Bool(b) => BodyTemplate::Bool(*b),
            Value::Number(n) => BodyTemplate::Number(n.clone()),
            Value::String(s) => BodyTemplate::String(self.text(unit, s, ptr)),
            Value::Array(items) => BodyTemplate::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.body(unit, v, &format!("{ptr}/{i}")))
                    .collect(),
            ),
            Value::Object(map) => BodyTemplate::Object(
                map.iter()
                    .map(|(k, v)| {
                        let mut p = ptr.to_owned();
                        crate::flow::source::push_segment(&mut p, k);
                        (k.clone(), self.body(unit, v, &p))
                    })
                    .collect(),
            ),
        }
    }

    fn record_uses(&mut self, unit: usize, ptr: &str, vars: std::collections::HashSet<String>) {
        let mut vars: Vec<String> = vars.into_iter().collect();
        vars.sort();
        for path in vars {
            self.uses.push(VarUse {
                unit,
                pointer: ptr.to_owned(),
                path,
            });
        }
    }

    fn template_error(&mut self, unit: usize, ptr: &str, e: &TemplateError, source: &str) {
        let mut pos = self.value_pos(unit, ptr);
        if let Some(line) = e.line.filter(|l| *l > 1 && source.lines().count() > 1) {
            pos.line += line - 1;
        }
        self.error(
            unit,
            pos,
            "flow.template_syntax",
            format!("template error: {e}"),
            Some(
                "templates use minijinja syntax: `{{ vars.name }}`, `{% if ... %}...{% endif %}`"
                    .into(),
            ),
        );
    }

    /// Checks every recorded variable use once all files are lowered.
    pub(super) fn check_variables(&mut self) {
        let uses = std::mem::take(&mut self.uses);
        for u in uses {
            let mut parts = u.path.split('.');
            let root = parts.next().unwrap_or_default();
            let field = parts.next();
            let problem = match root {
                "theme" | "digits" => None,
                "call" => match field {
                    Some(f) if !CALL_FIELDS.contains(&f) => Some((
                        format!("`call.{f}` does not exist"),
                        did_you_mean(f, CALL_FIELDS).map_or_else(|| "`call` has `from`, `to`, `id` and `params`".to_owned(), |s| format!("did you mean `call.{s}`?")),
                    )),
                    _ => None,
                },
                "vars" if self.lenient.contains("vars") => None,
                "env" if self.lenient.contains("env") => None,
                "vars" => match field {
                    Some(v) if !self.defined.contains(v) => Some((
                        format!("`vars.{v}` is never defined"),
                        did_you_mean(v, self.defined.iter().map(String::as_str)).map_or_else(
                            || format!("declare it in `vars:` (e.g. `vars: {{ {v}: 0 }}`), `set` it, or `save` a result to it"),
                            |s| format!("did you mean `vars.{s}`?"),
                        ),
                    )),
                    _ => None,
                },
                "env" => match field {
                    Some(v) if !self.env.iter().any(|e| e == v) => Some((
                        format!("`env.{v}` is not allowed"),
                        did_you_mean(v, self.env.iter().map(String::as_str)).map_or_else(
                            || format!("add `{v}` to the flow's `env:` list"),
                            |s| format!("did you mean `env.{s}`? (or add `{v}` to the flow's `env:` list)"),
                        ),
                    )),
                    None => Some(("`env` must be read one allowed variable at a time".to_owned(), "write `env.NAME`".to_owned())),
                    _ => None,
                },
                other => Some((
                    format!("unknown variable `{other}`"),
                    did_you_mean(other, ROOTS).map_or_else(
                        || format!("templates can read {}", ROOTS.join(", ")),
                        |s| format!("did you mean `{s}`? templates can read {}", ROOTS.join(", ")),
                    ),
                )),
            };
            if let Some((message, hint)) = problem {
                let pos = self.value_pos(u.unit, &u.pointer);
                self.error(u.unit, pos, "flow.undefined_variable", message, Some(hint));
            }
        }
    }
}

/// A minijinja error as the program's template error (message and line inside the template).
fn scan_error(e: minijinja::Error) -> TemplateError {
    TemplateError {
        message: e
            .detail()
            .map(str::to_owned)
            .unwrap_or_else(|| e.to_string()),
        line: e.line(),
    }
}

/// The environment used only to scan sources for syntax and variables (built once per compile).
pub(super) fn scan_env() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env
}

fn has_syntax(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// The inside of a string that is exactly one `{{ expr }}`.
fn whole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}
