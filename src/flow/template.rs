//! Precompiled minijinja templates and expressions of one [`Program`](super::program::Program).
//!
//! Owns the minijinja `Environment` (strict undefined, no auto-escaping) and hands out
//! [`TemplateId`]s for text templates (`"It is {{ vars.weather.temp }} degrees"`) and [`ExprId`]s
//! for expressions (`vars.weather.temp > 30`). Expressions are stored as the template
//! `{% set __value = (EXPR) %}` and read back from the render state, so they keep their type and
//! live in the same environment (minijinja's `Expression` borrows the environment, which a shared
//! `Program` cannot hold).
//!
//! The names a template may read are fixed: `call` (`from`, `to`, `id`), `theme`, `digits`,
//! `vars`, `env`. Building the context value is the call machine's job ([`Context`]).
//!
//! URI templates ([`Templates::add_uri`], transfer targets) percent-encode every value they
//! insert (everything but RFC 3986 unreserved characters and `+`), so a caller's digits or
//! number cannot add URI parameters or headers (`;`, `?`, `>`, `@`…); the text written in
//! the flow is kept as it is, and a value piped through `| safe` is the author's to vouch for.
//! This is minijinja's auto-escape hook with a custom formatter, by template name.

use std::collections::{BTreeMap, HashSet};

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::flow::program::{ExprId, TemplateId};

/// The top-level names a template may use.
pub const ROOTS: [&str; 5] = ["call", "theme", "digits", "vars", "env"];

const RESULT: &str = "__value";

/// The auto-escape mode of URI templates (their names start with `u`).
const URI_ESCAPE: &str = "uri";

/// Templates and expressions of one program.
pub struct Templates {
    env: Environment<'static>,
    texts: u32,
    exprs: u32,
    /// Text templates with no template syntax render to themselves without minijinja.
    literal: Vec<Option<String>>,
    /// Source text of every template and expression, for tools (`graph`), by id.
    text_sources: Vec<String>,
    expr_sources: Vec<String>,
}

/// A compile error in a template or expression, with the 1-based line inside it.
#[derive(Debug, Clone)]
pub struct TemplateError {
    pub message: String,
    pub line: Option<usize>,
}

/// The values a template can see during a call.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    pub call_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    /// `inbound` or `outbound`.
    pub direction: &'a str,
    pub theme: &'a str,
    pub digits: &'a str,
    pub vars: Option<&'a BTreeMap<String, Value>>,
    pub env: Option<&'a BTreeMap<String, String>>,
    /// `call.params`: the leg's custom parameters (Twilio's `<Parameter>`s; empty on SIP).
    pub params: Option<&'a BTreeMap<String, String>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("texts", &self.texts)
            .field("exprs", &self.exprs)
            .finish()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.starts_with('u') {
                minijinja::AutoEscape::Custom(URI_ESCAPE.into())
            } else {
                minijinja::AutoEscape::None
            }
        });
        env.set_formatter(|out, state, value| {
            if matches!(state.auto_escape(), minijinja::AutoEscape::Custom(c) if c == URI_ESCAPE) {
                let text = value.to_string();
                let text = if value.is_safe() {
                    text
                } else {
                    uri_escape(&text)
                };
                return out.write_str(&text).map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())
                });
            }
            minijinja::escape_formatter(out, state, value)
        });
        Templates {
            env,
            texts: 0,
            exprs: 0,
            literal: Vec::new(),
            text_sources: Vec::new(),
            expr_sources: Vec::new(),
        }
    }

    /// Compiles a text template.
    pub fn add_text(&mut self, source: &str) -> Result<TemplateId, TemplateError> {
        let id = TemplateId(self.texts);
        if !source.contains("{{") && !source.contains("{%") && !source.contains("{#") {
            self.literal.push(Some(source.to_owned()));
        } else {
            self.env
                .add_template_owned(format!("t{}", id.0), source.to_owned())
                .map_err(TemplateError::from_minijinja)?;
            self.literal.push(None);
        }
        self.text_sources.push(source.to_owned());
        self.texts += 1;
        Ok(id)
    }

    /// Compiles a URI template (a transfer target): values it inserts are percent-encoded.
    pub fn add_uri(&mut self, source: &str) -> Result<TemplateId, TemplateError> {
        let id = TemplateId(self.texts);
        if !source.contains("{{") && !source.contains("{%") && !source.contains("{#") {
            self.literal.push(Some(source.to_owned()));
        } else {
            self.env
                .add_template_owned(format!("u{}", id.0), source.to_owned())
                .map_err(TemplateError::from_minijinja)?;
            self.literal.push(None);
        }
        self.text_sources.push(source.to_owned());
        self.texts += 1;
        Ok(id)
    }

    /// Compiles an expression (`vars.tries < 3`).
    pub fn add_expr(&mut self, source: &str) -> Result<ExprId, TemplateError> {
        self.env
            .compile_expression(source)
            .map_err(TemplateError::from_minijinja)?;
        let id = ExprId(self.exprs);
        self.env
            .add_template_owned(
                format!("e{}", id.0),
                format!("{{% set {RESULT} = ({source}) %}}"),
            )
            .map_err(TemplateError::from_minijinja)?;
        self.expr_sources.push(source.to_owned());
        self.exprs += 1;
        Ok(id)
    }

    /// The text of a template without template syntax (rendering it needs no context).
    pub fn as_literal(&self, id: TemplateId) -> Option<&str> {
        self.literal.get(id.0 as usize)?.as_deref()
    }

    /// The source text of a text template, as written in the flow (for tools such as `graph`).
    pub fn text_source(&self, id: TemplateId) -> Option<&str> {
        self.text_sources.get(id.0 as usize).map(String::as_str)
    }

    /// The source text of an expression, as written in the flow (`vars.tries < 3`).
    pub fn expr_source(&self, id: ExprId) -> Option<&str> {
        self.expr_sources.get(id.0 as usize).map(String::as_str)
    }

    /// Renders a text template.
    pub fn render(&self, id: TemplateId, ctx: &Value) -> Result<String, minijinja::Error> {
        if let Some(Some(text)) = self.literal.get(id.0 as usize) {
            return Ok(text.clone());
        }
        match self.env.get_template(&format!("t{}", id.0)) {
            Ok(t) => t.render(ctx),
            Err(_) => self.env.get_template(&format!("u{}", id.0))?.render(ctx),
        }
    }

    /// Evaluates an expression to a value.
    pub fn eval(&self, id: ExprId, ctx: &Value) -> Result<Value, minijinja::Error> {
        let tmpl = self.env.get_template(&format!("e{}", id.0))?;
        let captured = tmpl.render_captured(ctx)?;
        Ok(captured.state().lookup(RESULT).unwrap_or(Value::UNDEFINED))
    }

    /// Evaluates an expression for a condition (minijinja truthiness).
    pub fn test(&self, id: ExprId, ctx: &Value) -> Result<bool, minijinja::Error> {
        Ok(self.eval(id, ctx)?.is_true())
    }

    /// Every variable path a template source reads (`vars.weather.temp`, `call.from`), for the
    /// compiler's "can never be defined" check. Works on source text, before `add_*`.
    pub fn variables_of_text(source: &str) -> Result<HashSet<String>, TemplateError> {
        let env = Self::new().env;
        let tmpl = env
            .template_from_str(source)
            .map_err(TemplateError::from_minijinja)?;
        Ok(tmpl.undeclared_variables(true))
    }

    /// Like [`Templates::variables_of_text`], for an expression.
    pub fn variables_of_expr(source: &str) -> Result<HashSet<String>, TemplateError> {
        let env = Self::new().env;
        let expr = env
            .compile_expression(source)
            .map_err(TemplateError::from_minijinja)?;
        Ok(expr.undeclared_variables(true))
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `+` (E.164 numbers):
/// what a value may contribute to a SIP URI without changing its structure.
pub fn uri_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl TemplateError {
    fn from_minijinja(e: minijinja::Error) -> Self {
        TemplateError {
            message: e
                .detail()
                .map(str::to_owned)
                .unwrap_or_else(|| e.to_string()),
            line: e.line(),
        }
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Context<'_> {
    /// Builds the minijinja value the templates render against.
    pub fn to_value(&self) -> Value {
        let call: BTreeMap<&str, Value> = BTreeMap::from([
            ("id", Value::from(self.call_id)),
            ("from", Value::from(self.from)),
            ("to", Value::from(self.to)),
            (
                "params",
                Value::from(
                    self.params
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.as_str(), Value::from(v.as_str())))
                        .collect::<BTreeMap<&str, Value>>(),
                ),
            ),
            ("direction", Value::from(self.direction)),
        ]);
        let vars: BTreeMap<&str, Value> = self
            .vars
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let env: BTreeMap<&str, Value> = self
            .env
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), Value::from(v.as_str())))
            .collect();
        let root: BTreeMap<&str, Value> = BTreeMap::from([
            ("call", Value::from(call)),
            ("theme", Value::from(self.theme)),
            ("digits", Value::from(self.digits)),
            ("vars", Value::from(vars)),
            ("env", Value::from(env)),
        ]);
        Value::from(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_with(vars: &BTreeMap<String, Value>) -> Value {
        Context {
            call_id: "c1",
            from: "+100",
            to: "5000",
            direction: "inbound",
            theme: "bunny",
            digits: "12",
            vars: Some(vars),
            env: None,
            params: None,
        }
        .to_value()
    }

    #[test]
    fn renders_text_and_literal() {
        let mut t = Templates::new();
        let a = t.add_text("Hi {{ call.from }} in {{ theme }}").unwrap();
        let b = t.add_text("plain").unwrap();
        let vars = BTreeMap::new();
        assert_eq!(t.render(a, &ctx_with(&vars)).unwrap(), "Hi +100 in bunny");
        assert_eq!(t.render(b, &ctx_with(&vars)).unwrap(), "plain");
    }

    #[test]
    fn uri_templates_escape_inserted_values_only() {
        let mut t = Templates::new();
        let a = t
            .add_uri("sip:{{ digits }}@pbx.example.com;user=phone")
            .unwrap();
        let b = t.add_uri("<sip:{{ vars.x }}@pbx>").unwrap();
        let text = t.add_text("{{ vars.x }}").unwrap();
        let mut vars = BTreeMap::new();
        vars.insert(
            "x".to_string(),
            Value::from("00881@evil.example;transport=tcp?Replaces=abc>"),
        );
        let ctx = ctx_with(&vars);
        assert_eq!(
            t.render(a, &ctx).unwrap(),
            "sip:12@pbx.example.com;user=phone"
        );
        assert_eq!(
            t.render(b, &ctx).unwrap(),
            "<sip:00881%40evil.example%3Btransport%3Dtcp%3FReplaces%3Dabc%3E@pbx>"
        );
        // Text templates (prompts, webhooks) are not URI-escaped.
        assert_eq!(
            t.render(text, &ctx).unwrap(),
            "00881@evil.example;transport=tcp?Replaces=abc>"
        );
        assert_eq!(uri_escape("+1 555*#"), "+1%20555%2A%23");
    }

    #[test]
    fn strict_undefined_is_an_error() {
        let mut t = Templates::new();
        let a = t.add_text("{{ vars.nope }}").unwrap();
        assert!(t.render(a, &ctx_with(&BTreeMap::new())).is_err());
    }

    #[test]
    fn expressions_keep_type() {
        let mut t = Templates::new();
        let e = t.add_expr("vars.tries + 1").unwrap();
        let c = t.add_expr("vars.tries > 3").unwrap();
        let vars = BTreeMap::from([("tries".to_string(), Value::from(4))]);
        let v = t.eval(e, &ctx_with(&vars)).unwrap();
        assert_eq!(v, Value::from(5));
        assert!(t.test(c, &ctx_with(&vars)).unwrap());
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let mut t = Templates::new();
        let err = t.add_text("ok\n{{ broken ").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(t.add_expr("1 +").is_err());
    }

    #[test]
    fn keeps_sources_for_tools() {
        let mut t = Templates::new();
        let a = t.add_text("Hi {{ call.from }}").unwrap();
        let b = t.add_text("plain").unwrap();
        let e = t.add_expr("vars.tries > 3").unwrap();
        assert_eq!(t.text_source(a), Some("Hi {{ call.from }}"));
        assert_eq!(t.text_source(b), Some("plain"));
        assert_eq!(t.expr_source(e), Some("vars.tries > 3"));
        assert_eq!(t.expr_source(ExprId(9)), None);
    }

    #[test]
    fn lists_variables() {
        let v = Templates::variables_of_text("{{ vars.weather.temp }} {{ call.from }}").unwrap();
        assert!(v.contains("vars.weather.temp"));
        assert!(v.contains("call.from"));
    }
}
