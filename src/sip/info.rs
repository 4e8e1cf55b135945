//! Small body formats carried in dialogs: SIP INFO DTMF (`application/dtmf-relay`,
//! `application/dtmf`) and NOTIFY `message/sipfrag` status lines (RFC 3420, RFC 3515).
//!
//! Owns only parsing these bodies into typed values; the call decides what they mean.

use crate::flow::digit::Digit;

/// A digit from an INFO body with its duration when given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoDtmf {
    pub digit: Digit,
    pub duration_ms: Option<u32>,
}

/// Why an INFO body was not a digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InfoError {
    /// A content type we do not read as DTMF (answered 415).
    UnsupportedType(String),
    /// The right type, but no readable signal.
    BadBody,
}

/// Parses an INFO body by content type (already lowercased, without parameters).
pub fn parse_dtmf_info(content_type: &str, body: &[u8]) -> Result<InfoDtmf, InfoError> {
    let text = std::str::from_utf8(body).map_err(|_| InfoError::BadBody)?;
    match content_type {
        "application/dtmf-relay" => {
            let (mut signal, mut duration) = (None, None);
            for line in text.lines() {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                let (k, v) = (k.trim(), v.trim());
                if k.eq_ignore_ascii_case("Signal") {
                    signal = signal_digit(v);
                } else if k.eq_ignore_ascii_case("Duration") {
                    duration = v.parse().ok();
                }
            }
            signal
                .map(|digit| InfoDtmf {
                    digit,
                    duration_ms: duration,
                })
                .ok_or(InfoError::BadBody)
        }
        "application/dtmf" => signal_digit(text.trim())
            .map(|digit| InfoDtmf {
                digit,
                duration_ms: None,
            })
            .ok_or(InfoError::BadBody),
        other => Err(InfoError::UnsupportedType(other.to_string())),
    }
}

/// `5`, `*`, `#`, `A`, or an RFC 4733 event number (`10` is `*`, `11` is `#`).
fn signal_digit(s: &str) -> Option<Digit> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Digit::from_char(c),
        _ => s.parse::<u8>().ok().and_then(Digit::from_event_code),
    }
}

/// Parses a `message/sipfrag` body's status line: `SIP/2.0 486 Busy Here` → `(486, "Busy Here")`.
pub fn parse_sipfrag(body: &[u8]) -> Option<(u16, String)> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().next()?.trim();
    let rest = line.strip_prefix("SIP/2.0")?.trim_start();
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let code: u16 = code.parse().ok()?;
    (100..700)
        .contains(&code)
        .then(|| (code, reason.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digit {
        Digit::from_char(c).expect("valid digit")
    }

    #[test]
    fn dtmf_relay_and_dtmf_bodies() {
        assert_eq!(
            parse_dtmf_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
            Ok(InfoDtmf {
                digit: d('5'),
                duration_ms: Some(160)
            })
        );
        assert_eq!(
            parse_dtmf_info("application/dtmf-relay", b"Signal= #\nDuration= 250\n"),
            Ok(InfoDtmf {
                digit: d('#'),
                duration_ms: Some(250)
            })
        );
        assert_eq!(
            parse_dtmf_info("application/dtmf-relay", b"Signal=10\r\n"),
            Ok(InfoDtmf {
                digit: d('*'),
                duration_ms: None
            })
        );
        assert_eq!(
            parse_dtmf_info("application/dtmf", b"5"),
            Ok(InfoDtmf {
                digit: d('5'),
                duration_ms: None
            })
        );
        assert_eq!(
            parse_dtmf_info("application/dtmf", b"11\r\n").map(|x| x.digit),
            Ok(d('#'))
        );
        assert_eq!(
            parse_dtmf_info("application/dtmf-relay", b"Duration=1"),
            Err(InfoError::BadBody)
        );
        assert_eq!(
            parse_dtmf_info("application/dtmf", b"xyz"),
            Err(InfoError::BadBody)
        );
        assert_eq!(
            parse_dtmf_info("application/dtmf", &[0xff, 0xfe]),
            Err(InfoError::BadBody)
        );
        assert!(matches!(
            parse_dtmf_info("text/plain", b"5"),
            Err(InfoError::UnsupportedType(_))
        ));
    }

    #[test]
    fn sipfrag_status_lines() {
        assert_eq!(
            parse_sipfrag(b"SIP/2.0 200 OK\r\n"),
            Some((200, "OK".into()))
        );
        assert_eq!(
            parse_sipfrag(b"SIP/2.0 486 Busy Here"),
            Some((486, "Busy Here".into()))
        );
        assert_eq!(
            parse_sipfrag(b"SIP/2.0 100 Trying\r\nContent-Length: 0\r\n"),
            Some((100, "Trying".into()))
        );
        assert_eq!(parse_sipfrag(b"SIP/2.0 999 Nope"), None);
        assert_eq!(parse_sipfrag(b"garbage"), None);
        assert_eq!(parse_sipfrag(b""), None);
    }
}
