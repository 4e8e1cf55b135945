//! Toll fraud: which targets a call may be transferred to (`transfer.allow`).
//!
//! A transfer target is a SIP URI rendered from the flow (`transfer: "sip:{{ digits }}@pbx"`), an
//! agent's `transfer` tool or a bot's `transfer` event. A caller who chooses it can send the
//! call to premium or international numbers at the PBX owner's cost, so:
//! - with `transfer.allow` set (glob patterns: `*` any run of characters, `?` one character,
//!   matched over the whole rendered URI, ASCII case-insensitively), a target must match one
//!   pattern;
//! - without it, targets written literally in a flow are allowed (the author chose them) and
//!   dynamic ones (templated, agent, bot) are refused;
//! - every target must be one well-formed `sip:`/`sips:`/`tel:` URI with no URI headers (`?`),
//!   spaces, quotes, angle brackets or commas, whatever the list says; a SIP URI has one `@` and
//!   must parse as a request URI. Values inserted by a
//!   template are URI-escaped before this check ([`crate::flow::template`]), so digits or a
//!   caller's number cannot add parameters or headers.
//!
//! A refused target is a failed transfer: the flow takes its `on_fail` branch, and the call
//! driver logs the refusal (the counter is `transfer_refused`). Pure: no I/O; the patterns
//! are compiled once (regex) when the configuration is built.

use std::fmt;

use regex::{Regex, RegexBuilder};

use crate::flow::program::{NodeId, NodeKind, Program};

/// The compiler's diagnostic code for a templated transfer target.
pub const TEMPLATE_WARNING: &str = "flow.transfer_template";

/// Where a target came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetOrigin {
    /// Written as is in the flow.
    Literal,
    /// Rendered from a template, or chosen by an agent or a bot.
    Dynamic,
}

/// Why a transfer target is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not one plain SIP/tel URI.
    Malformed(&'static str),
    /// `transfer.allow` is set and no pattern matches.
    NotAllowed,
    /// A dynamic target and no `transfer.allow` list.
    DynamicWithoutAllowList,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Malformed(why) => write!(f, "transfer target refused: {why}"),
            Refusal::NotAllowed => f.write_str("transfer target refused: not in transfer.allow"),
            Refusal::DynamicWithoutAllowList => f.write_str(
                "transfer target refused: it is built from a template and transfer.allow is not set",
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// A bad `transfer.allow` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pattern `{}`: {}", self.pattern, self.reason)
    }
}

/// The compiled `transfer.allow` list.
#[derive(Debug, Clone, Default)]
pub struct TransferPolicy {
    /// `None`: not configured.
    allow: Option<Vec<(String, Regex)>>,
}

impl PartialEq for TransferPolicy {
    fn eq(&self, other: &Self) -> bool {
        self.patterns() == other.patterns()
    }
}

impl TransferPolicy {
    /// No list: literal targets only.
    pub fn unconfigured() -> TransferPolicy {
        TransferPolicy { allow: None }
    }

    /// A list of glob patterns (an empty list refuses every transfer).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<TransferPolicy, PatternError> {
        let mut allow = Vec::new();
        for p in patterns {
            let p = p.as_ref().trim();
            allow.push((p.to_string(), glob(p)?));
        }
        Ok(TransferPolicy { allow: Some(allow) })
    }

    /// Whether a list is configured.
    pub fn is_configured(&self) -> bool {
        self.allow.is_some()
    }

    /// The patterns as written (`None`: not configured).
    pub fn patterns(&self) -> Option<Vec<&str>> {
        self.allow
            .as_ref()
            .map(|a| a.iter().map(|(p, _)| p.as_str()).collect())
    }

    /// Whether a call may be transferred to `target`.
    pub fn check(&self, target: &str, origin: TargetOrigin) -> Result<(), Refusal> {
        let uri = well_formed(target)?;
        match (&self.allow, origin) {
            (Some(list), _) if list.iter().any(|(_, re)| re.is_match(uri)) => Ok(()),
            (Some(_), _) => Err(Refusal::NotAllowed),
            (None, TargetOrigin::Literal) => Ok(()),
            (None, TargetOrigin::Dynamic) => Err(Refusal::DynamicWithoutAllowList),
        }
    }
}

/// Whether the transfer the machine just asked for (at `node`: a transfer node, or an agent
/// node's transfer tool) had a templated target.
pub fn origin_of(program: &Program, node: Option<NodeId>) -> TargetOrigin {
    let literal = node
        .and_then(|n| program.nodes.get(n.0 as usize))
        .is_some_and(|n| match &n.kind {
            NodeKind::Transfer(t) => program.templates.as_literal(t.target).is_some(),
            // An agent's transfer tool picks one of the node's targets by name.
            NodeKind::Agent(a) => a.transfer_targets().is_some_and(|targets| {
                targets
                    .iter()
                    .all(|(_, t)| program.templates.as_literal(*t).is_some())
            }),
            _ => false,
        });
    if literal {
        TargetOrigin::Literal
    } else {
        TargetOrigin::Dynamic
    }
}

/// The URI inside optional `<>`, if it is one plain SIP/tel URI.
fn well_formed(target: &str) -> Result<&str, Refusal> {
    let t = target.trim();
    let uri = t
        .strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .unwrap_or(t);
    let lower = uri.get(..5).unwrap_or(uri).to_ascii_lowercase();
    if !(lower.starts_with("sip:") || lower.starts_with("sips:") || lower.starts_with("tel:")) {
        return Err(Refusal::Malformed("not a sip:, sips: or tel: URI"));
    }
    if uri.len() <= 4 {
        return Err(Refusal::Malformed("empty URI"));
    }
    if uri
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ','))
    {
        return Err(Refusal::Malformed(
            "spaces, quotes, brackets or commas in the URI",
        ));
    }
    if !uri.is_ascii() {
        return Err(Refusal::Malformed(
            "characters outside ASCII in the URI (they must be %-escaped)",
        ));
    }
    if uri.contains('?') {
        return Err(Refusal::Malformed("URI headers (`?`) are not allowed"));
    }
    if lower.starts_with("tel:") && !is_tel_uri(uri) {
        return Err(Refusal::Malformed(
            "not a tel: number (RFC 3966: digits, `+`, `*`, `#`, separators, `;` parameters)",
        ));
    }
    if !lower.starts_with("tel:") {
        // A second `@` lets a glob like `sip:*@pbx` admit `sip:x@evil.example;a=@pbx`, which a
        // PBX may read as a call to evil.example (found by fuzzing the bot's transfer event).
        if uri.matches('@').count() > 1 {
            return Err(Refusal::Malformed("more than one `@` in the URI"));
        }
        // And it must be a URI our own SIP parser reads as a request URI (the REFER's target).
        if !crate::sip::message::is_request_uri(uri) {
            return Err(Refusal::Malformed("not a SIP URI a request can be sent to"));
        }
    }
    Ok(uri)
}

/// Whether `uri` (starting `tel:`, any case) is an RFC 3966 number: a telephone-subscriber of
/// digits (hex for local numbers), `+ * #` and visual separators, then `;` parameters of URI
/// characters. Found by fuzzing a bot's transfer event: `tel:*` admitted `teL:` followed by
/// arbitrary non-ASCII text, which then went into the REFER's `Refer-To`.
fn is_tel_uri(uri: &str) -> bool {
    let rest = uri.get(4..).unwrap_or_default();
    let (number, params) = rest.split_once(';').unwrap_or((rest, ""));
    number
        .bytes()
        .any(|b| b.is_ascii_hexdigit() || b == b'*' || b == b'#')
        && number
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b"*#+-.()".contains(&b))
        && params
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()[]/:&+$%=;".contains(&b))
}

/// A glob (`*`, `?`) as an anchored, case-insensitive regex (also `outbound.allow`'s matcher).
pub fn glob(pattern: &str) -> Result<Regex, PatternError> {
    if pattern.is_empty() {
        return Err(PatternError {
            pattern: pattern.to_string(),
            reason: "empty pattern".into(),
        });
    }
    let mut re = String::from("^");
    for c in pattern.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    RegexBuilder::new(&re)
        .case_insensitive(true)
        .build()
        .map_err(|e| PatternError {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use TargetOrigin::{Dynamic, Literal};

    /// Compiles `transfer: <target>` and runs it for a caller `from`: the diagnostics, the
    /// rendered target and its origin.
    fn run_flow(target: &str, from: &str) -> (Vec<String>, String, TargetOrigin) {
        use crate::machine::io::{Action, CallInfo, Input};
        use std::sync::Arc;
        let text = format!(
            "name: t\nroutes: ['1']\nstart: go\nnodes:\n  go: {{ transfer: \"{target}\", on_fail: bye }}\n  \
             bye: {{ hangup: {{}} }}\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let compiled = crate::flow::load::compile_text(
            &text,
            &dir.path().join("t.yaml"),
            &crate::flow::load::LoadOptions::default(),
        );
        let codes = compiled
            .diagnostics
            .iter()
            .map(|d| d.code.to_string())
            .collect();
        let program = Arc::new(compiled.program.expect("compiles"));
        let info = CallInfo {
            id: "c1".into(),
            from: from.into(),
            to: "1".into(),
            ..CallInfo::default()
        };
        let mut call = crate::machine::Call::new(program, info);
        call.handle(Input::Answered, std::time::Instant::now());
        let target = std::iter::from_fn(|| call.poll_action())
            .find_map(|a| match a {
                Action::Transfer { target, .. } => Some(target),
                _ => None,
            })
            .expect("a transfer");
        let origin = origin_of(call.program(), call.current_node());
        (codes, target, origin)
    }

    #[test]
    fn a_templated_target_warns_is_escaped_and_needs_the_list() {
        let (codes, target, origin) = run_flow(
            "sip:{{ call.from }}@pbx.example.com",
            "00881234567890@evil.example;transport=tcp>",
        );
        assert!(codes.iter().any(|c| c == TEMPLATE_WARNING), "{codes:?}");
        assert_eq!(origin, Dynamic);
        assert_eq!(
            target,
            "sip:00881234567890%40evil.example%3Btransport%3Dtcp%3E@pbx.example.com"
        );
        assert_eq!(
            TransferPolicy::unconfigured().check(&target, origin),
            Err(Refusal::DynamicWithoutAllowList)
        );
        let list = TransferPolicy::new(&["sip:1???@pbx.example.com"]).unwrap();
        assert_eq!(list.check(&target, origin), Err(Refusal::NotAllowed));
        let (_, ok, _) = run_flow("sip:{{ call.from }}@pbx.example.com", "1234");
        assert_eq!(list.check(&ok, origin), Ok(()));
        // A literal target: no warning, allowed without a list.
        let (codes, target, origin) = run_flow("sip:100@pbx.example.com", "x");
        assert!(!codes.iter().any(|c| c == TEMPLATE_WARNING), "{codes:?}");
        assert_eq!(origin, Literal);
        assert_eq!(
            TransferPolicy::unconfigured().check(&target, origin),
            Ok(())
        );
    }

    #[test]
    fn without_a_list_only_literal_targets_pass() {
        let p = TransferPolicy::unconfigured();
        assert_eq!(p.check("sip:100@pbx.example.com", Literal), Ok(()));
        assert_eq!(
            p.check("sip:00881234567890@pbx.example.com", Dynamic),
            Err(Refusal::DynamicWithoutAllowList)
        );
    }

    #[test]
    fn globs_match_the_whole_uri_case_insensitively() {
        let p =
            TransferPolicy::new(&["sip:1???@pbx.example.com", "sips:*@Trunk.Example.com"]).unwrap();
        for ok in [
            "sip:1001@pbx.example.com",
            "<sip:1999@PBX.example.com>",
            "sips:+15550100@trunk.example.com",
        ] {
            assert_eq!(p.check(ok, Dynamic), Ok(()), "{ok}");
        }
        for bad in [
            "sip:100@pbx.example.com",
            "sip:10011@pbx.example.com",
            "sip:1001@pbx.example.com.evil.net",
            "sip:00881234567890@pbx.example.com",
            "xsip:1001@pbx.example.com",
        ] {
            assert!(p.check(bad, Literal).is_err(), "{bad}");
        }
        // Regex characters in a pattern are literal.
        let dots = TransferPolicy::new(&["sip:1.2@pbx"]).unwrap();
        assert!(dots.check("sip:1x2@pbx", Literal).is_err());
        assert_eq!(
            TransferPolicy::new(&[""; 1]).unwrap_err().reason,
            "empty pattern"
        );
    }

    #[test]
    fn injection_attempts_are_malformed_whatever_the_list() {
        let p = TransferPolicy::new(&["*"]).unwrap();
        for bad in [
            "sip:100@pbx?Replaces=abc%40host",
            "sip:100@pbx>, <sip:00881@evil",
            "sip:100@pbx\r\nContact: <sip:evil>",
            "sip:100 @pbx",
            "mailto:x@y",
            "sip:",
            // A second `@`: `sip:*@pbx` must not admit a call to evil.example (fuzzing).
            "sip:x@evil.example;a=@pbx",
            // Not a request URI (the fuzzer's bot transfer target).
            "sip:;000@127.0.0.1",
            // Not a tel: number (the fuzzer again): any case of the scheme, then garbage.
            "teL:\u{fffd}\u{fffd}\u{ef};\u{ef}",
            "tel:",
            "tel:;phone-context=x",
            "tel:+1 555",
            "tel:1234;x=\u{e9}",
            "sip:caf\u{e9}@pbx",
        ] {
            assert!(
                matches!(p.check(bad, Literal), Err(Refusal::Malformed(_))),
                "{bad:?}"
            );
        }
        for good in [
            "tel:+1-201-555-0123",
            "TEL:+441632960123",
            "tel:7042;phone-context=example.com",
            "tel:*21#",
        ] {
            assert_eq!(p.check(good, Literal), Ok(()), "{good:?}");
        }
        // Escaped values are harmless text inside the user part.
        let escaped = format!(
            "sip:{}@pbx.example.com",
            crate::flow::template::uri_escape("1;transport=tcp?X=1")
        );
        let list = TransferPolicy::new(&["sip:*@pbx.example.com"]).unwrap();
        assert_eq!(list.check(&escaped, Dynamic), Ok(()));
    }
}
