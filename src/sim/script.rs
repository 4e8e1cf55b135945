//! Scripted caller input and the duration syntax shared by the simulator's inputs.
//!
//! Durations are written like in flows: `250ms`, `4s`, `1.5s`, `2m`, `1h`. `--dtmf "1@4s,#@9s"`
//! sends keys at times after answer (several keys in one entry, `12#@4s`, go
//! [`KEY_GAP`] apart); `--speech "yes@6s"` says a transcript at a time.

use std::fmt;
use std::time::Duration;

use crate::flow::digit::{parse_digits, Digit};

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
    pub reason: &'static str,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.input, self.reason)
    }
}

impl std::error::Error for ScriptError {}

/// Parses `250ms`, `4s`, `1.5s`, `2m`, `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, ScriptError> {
    let err = |reason| ScriptError {
        input: s.to_owned(),
        reason,
    };
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| err("expected a number followed by ms, s, m or h"))?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(err("unknown unit (use ms, s, m or h)")),
    };
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=86_400.0 * 365.0).contains(&secs) {
        return Err(err("duration out of range"));
    }
    Ok(Duration::from_millis((secs * 1000.0).round() as u64))
}

/// Parses `--dtmf "1@4s,#@9s,12#@20s"`.
pub fn parse_dtmf_script(s: &str) -> Result<Vec<Scheduled>, ScriptError> {
    let mut out = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (keys, at) = split_at_sign(entry)?;
        let digits = parse_digits(keys)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| ScriptError {
                input: entry.to_owned(),
                reason: "keys must be 0-9, *, #, A-D",
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
        reason: "expected WHAT@TIME, e.g. 1@4s",
    })?;
    Ok((what.trim(), parse_duration(at)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3 days").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn dtmf_and_speech_scripts() {
        let s = parse_dtmf_script("1@4s, 2#@9s").unwrap();
        let d = |c| CallerInput::Dtmf(Digit::from_char(c).unwrap());
        assert_eq!(
            s,
            vec![
                Scheduled { at: Duration::from_secs(4), input: d('1') },
                Scheduled { at: Duration::from_secs(9), input: d('2') },
                Scheduled { at: Duration::from_millis(9100), input: d('#') },
            ]
        );
        assert!(parse_dtmf_script("x@1s").is_err());
        assert!(parse_dtmf_script("1").is_err());
        let s = parse_speech_script("yes please@6s").unwrap();
        assert_eq!(s[0].input, CallerInput::Speech("yes please".into()));
        assert_eq!(s[0].at, Duration::from_secs(6));
    }
}
