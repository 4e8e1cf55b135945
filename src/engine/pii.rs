//! Redaction for logs (str0m's `Pii<T>`): phone numbers and SIP URIs are logged with only their
//! last digits, so a log can be shared without the callers' numbers.
//!
//! Callers' numbers go through [`caller`], which masks them only when `log.redact_numbers` is on
//! (off by default: an operator debugging a call needs to know who called). Dialled numbers
//! (the route a call took) and transfer targets are the operator's own and are never masked.

use std::fmt;

/// Displays a number or URI with its user part masked: `sip:+15550001@pbx` → `sip:***001@pbx`.
#[derive(Clone, Copy)]
pub struct Pii<'a>(pub &'a str);

impl fmt::Display for Pii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let (scheme, rest) = match s.find(':') {
            Some(i)
                if s[..i].eq_ignore_ascii_case("sip") || s[..i].eq_ignore_ascii_case("sips") =>
            {
                (&s[..=i], &s[i + 1..])
            }
            _ => ("", s),
        };
        let (user, host) = match rest.find('@') {
            Some(i) => (&rest[..i], &rest[i..]),
            None if scheme.is_empty() => (rest, ""),
            None => ("", rest),
        };
        let keep = user.chars().count().saturating_sub(3);
        let tail: String = user.chars().skip(keep).collect();
        if user.chars().count() <= 3 {
            write!(f, "{scheme}{user}{host}")
        } else {
            write!(f, "{scheme}***{tail}{host}")
        }
    }
}

/// A caller's number or URI as logs show it: masked by [`Pii`] when `redact` (the
/// `log.redact_numbers` setting), else in clear.
pub fn caller(s: &str, redact: bool) -> Caller<'_> {
    Caller { s, redact }
}

/// See [`caller`].
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    s: &'a str,
    redact: bool,
}

impl fmt::Display for Caller<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.redact {
            fmt::Display::fmt(&Pii(self.s), f)
        } else {
            f.write_str(self.s)
        }
    }
}

impl fmt::Debug for Pii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::Pii;

    #[test]
    fn numbers_keep_only_their_last_three_digits() {
        assert_eq!(
            Pii("sip:+15550001@pbx.example.com").to_string(),
            "sip:***001@pbx.example.com"
        );
        assert_eq!(Pii("+15550001").to_string(), "***001");
        assert_eq!(
            Pii("sip:pbx.example.com").to_string(),
            "sip:pbx.example.com"
        );
        assert_eq!(Pii("100").to_string(), "100");
    }

    #[test]
    fn callers_are_masked_only_when_redaction_is_on() {
        use super::caller;
        assert_eq!(
            caller("sip:+15550001@pbx", false).to_string(),
            "sip:+15550001@pbx"
        );
        assert_eq!(
            caller("sip:+15550001@pbx", true).to_string(),
            "sip:***001@pbx"
        );
    }
}
