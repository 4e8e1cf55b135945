//! Durations as flows and `phonetree.yaml` write them: `200ms`, `5s`, `2m`, `1h` (a whole number
//! and a unit). One parser for both languages, so a setting and a node field accept exactly the
//! same forms; a bare number is refused in both with the same hint ([`hint`]: `5` → "write
//! `5s`"), because `timeout: 5` could mean seconds or milliseconds.
//!
//! The schema checks the shape of a flow's durations; this module turns the text into a
//! [`Duration`] and refuses values too large to represent.

use std::time::Duration;

/// Why a duration string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// Not `<digits><ms|s|m>`.
    Syntax,
    /// The number does not fit.
    TooLarge,
}

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DurationError::Syntax => {
                f.write_str("expected a duration such as `200ms`, `5s`, `2m` or `1h`")
            }
            DurationError::TooLarge => f.write_str("duration too large"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Parses `200ms`, `5s`, `2m` or `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or(DurationError::Syntax)?;
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return Err(DurationError::Syntax);
    }
    let n: u64 = digits.parse().map_err(|_| DurationError::TooLarge)?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(DurationError::Syntax),
    };
    ms.map(Duration::from_millis).ok_or(DurationError::TooLarge)
}

/// The hint for text that is not a duration: a bare number gets its own fix (`5` → write
/// `5s`), anything else the list of forms.
pub fn hint(text: &str) -> String {
    let t = text.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        format!("write `{t}s` (or `{t}ms`): a duration needs a unit: `200ms`, `5s`, `2m`, `1h`")
    } else {
        "write a whole number and a unit: `200ms`, `5s`, `2m` or `1h`".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_bad_text() {
        for s in ["", "5", "s", "5 s", "5d", "-1s", "1.5s", "5S"] {
            assert_eq!(parse_duration(s), Err(DurationError::Syntax), "{s}");
        }
    }

    #[test]
    fn a_bare_number_is_hinted_with_its_unit() {
        assert!(hint("5").starts_with("write `5s`"), "{}", hint("5"));
        assert!(hint("5 seconds").contains("`200ms`, `5s`, `2m` or `1h`"));
    }

    #[test]
    fn rejects_overflow() {
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(DurationError::TooLarge)
        );
        assert_eq!(
            parse_duration("18446744073709551615m"),
            Err(DurationError::TooLarge)
        );
    }
}
