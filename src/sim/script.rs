//! Scripted caller input: `--dtmf` and `--speech` of `phonetree simulate`.
//!
//! Times are durations as flows write them (`250ms`, `4s`, `2m`). `--dtmf "1@4s,#@9s"`
//! sends keys at times after answer (several keys in one entry, `12#@4s`, go
//! [`KEY_GAP`] apart); `--speech "yes@6s"` says a transcript at a time.

use std::fmt;
use std::time::Duration;

use crate::flow::digit::{parse_digits, Digit};
use crate::flow::duration::parse_duration;

/// Time between the keys of one entry (`12#`), as a fast caller types.
pub const KEY_GAP: Duration = Duration::from_millis(100);

/// Something the caller does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerInput {
    Dtmf(Digit),
    Speech(String),
    Hangup,
}

/// A caller input at a time after answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub at: Duration,
    pub input: CallerInput,
}

/// A malformed duration or script entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub input: String,
    pub reason: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.input, self.reason)
    }
}

impl std::error::Error for ScriptError {}

/// Parses `--dtmf "1@4s,#@9s,12#@20s"`.
pub fn parse_dtmf_script(s: &str) -> Result<Vec<Scheduled>, ScriptError> {
    let mut out = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (keys, at) = split_at_sign(entry)?;
        let digits = parse_digits(keys)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| ScriptError {
                input: entry.to_owned(),
                reason: "keys must be 0-9, *, #, A-D".into(),
            })?;
        for (i, d) in digits.into_iter().enumerate() {
            out.push(Scheduled {
                at: at + KEY_GAP * i as u32,
                input: CallerInput::Dtmf(d),
            });
        }
    }
    Ok(out)
}

/// Parses `--speech "yes please@6s,no@20s"`.
pub fn parse_speech_script(s: &str) -> Result<Vec<Scheduled>, ScriptError> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (text, at) = split_at_sign(entry)?;
            Ok(Scheduled {
                at,
                input: CallerInput::Speech(text.to_owned()),
            })
        })
        .collect()
}

fn split_at_sign(entry: &str) -> Result<(&str, Duration), ScriptError> {
    let (what, at) = entry.rsplit_once('@').ok_or_else(|| ScriptError {
        input: entry.to_owned(),
        reason: "expected WHAT@TIME, e.g. 1@4s".into(),
    })?;
    let at = parse_duration(at.trim()).map_err(|e| ScriptError {
        input: entry.to_owned(),
        reason: e.to_string(),
    })?;
    Ok((what.trim(), at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_and_speech_scripts() {
        let s = parse_dtmf_script("1@4s, 2#@9s").unwrap();
        let d = |c| CallerInput::Dtmf(Digit::from_char(c).unwrap());
        assert_eq!(
            s,
            vec![
                Scheduled {
                    at: Duration::from_secs(4),
                    input: d('1')
                },
                Scheduled {
                    at: Duration::from_secs(9),
                    input: d('2')
                },
                Scheduled {
                    at: Duration::from_millis(9100),
                    input: d('#')
                },
            ]
        );
        assert!(parse_dtmf_script("x@1s").is_err());
        assert!(parse_dtmf_script("1").is_err());
        let s = parse_speech_script("yes please@6s").unwrap();
        assert_eq!(s[0].input, CallerInput::Speech("yes please".into()));
        assert_eq!(s[0].at, Duration::from_secs(6));
    }
}
