//! Times as the register shows and filters them: Unix milliseconds in, RFC 3339 (UTC) out;
//! filters accept RFC 3339, a date, or an age (`2h`, `7d`).

use crate::config;

/// `2025-01-02T03:04:05.678Z`.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// A time filter: RFC 3339 (`2025-01-02T03:04:05Z`), a date (`2025-01-02`, midnight UTC), an
/// age (`2h`, `7d`: that long ago) or Unix milliseconds. Unix milliseconds.
pub fn parse_time(s: &str, now_ms: i64) -> Result<i64, String> {
    if !s.is_empty() && s.len() >= 10 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| format!("`{s}`: too large"));
    }
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp().as_millisecond())
            .map_err(|e| e.to_string());
    }
    match config::database::parse_retention(s) {
        Ok(Some(age)) => Ok(now_ms - age.as_millis() as i64),
        _ => Err(format!(
            "`{s}`: expected 2025-01-02T03:04:05Z, 2025-01-02, or an age such as 2h or 7d"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_and_print() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            parse_time("2023-11-14T22:13:20.123Z", 0),
            Ok(1_700_000_000_123)
        );
        assert_eq!(parse_time("1970-01-02", 0), Ok(86_400_000));
        assert_eq!(parse_time("2h", 10_000_000), Ok(10_000_000 - 7_200_000));
        assert!(parse_time("yesterday", 0).is_err());
        assert_eq!(parse_time("1700000000123", 0), Ok(1_700_000_000_123));
    }
}
