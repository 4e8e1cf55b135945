//! Recurring schedules: five-field cron expressions evaluated in a time zone.
//!
//! `minute hour day-of-month month day-of-week`, each `*`, a number, a range `a-b`, a step
//! `*/n` or `a-b/n`, or a comma list of those; an optional sixth field in front is the second
//! (`*/10 * * * * *`: every ten seconds; five fields run at second 0); months and weekdays also by three-letter name
//! (`jan`, `mon`); weekday 0 and 7 are Sunday. As in Vixie cron, when both day fields are
//! restricted a day matching either runs. Times are local to the schedule's zone: a local
//! time that a DST change skips runs at the first instant after the gap, one it repeats runs
//! once (the earlier).
//!
//! Written here rather than taken from a crate: `croner` 4 ties its time zones to chrono or
//! to jiff 0.2 (we use jiff 1), `cron` wants chrono; the five fields are ~150 lines.

use std::fmt;

use jiff::{civil, tz::TimeZone, Timestamp};

/// A parsed expression.
#[derive(Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    days_star: bool,
    weekdays_star: bool,
    source: String,
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({:?})", self.source)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A bad expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError(pub String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CronError {}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// How many days ahead [`Cron::next_after`] looks before giving up (an expression such as
/// "February 30th" never matches).
const HORIZON_DAYS: u32 = 5 * 366;

impl Cron {
    pub fn parse(expr: &str) -> Result<Cron, CronError> {
        let parts: Vec<&str> = expr.split_whitespace().collect();
        let (sec, [mi, h, dom, mon, dow]) = (match parts[..] {
            [s, mi, h, dom, mon, dow] => Some((s, [mi, h, dom, mon, dow])),
            [mi, h, dom, mon, dow] => Some(("0", [mi, h, dom, mon, dow])),
            _ => None,
        })
        .ok_or_else(|| {
            CronError(format!(
                "expected 5 fields (minute hour day month weekday) or 6 (second first), got {}",
                parts.len()
            ))
        })?;
        let weekdays = field(dow, 0, 7, &WEEKDAYS, "weekday")?;
        // 7 is Sunday too.
        let weekdays = (weekdays | (weekdays >> 7)) & 0x7f;
        Ok(Cron {
            seconds: field(sec, 0, 59, &[], "second")?,
            minutes: field(mi, 0, 59, &[], "minute")?,
            hours: field(h, 0, 23, &[], "hour")? as u32,
            days: field(dom, 1, 31, &[], "day of month")? as u32,
            months: field(mon, 1, 12, &MONTHS, "month")? as u16,
            weekdays: weekdays as u8,
            days_star: dom.starts_with('*'),
            weekdays_star: dow.starts_with('*'),
            source: parts.join(" "),
        })
    }

    fn day_matches(&self, d: civil::Date) -> bool {
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        match (self.days_star, self.weekdays_star) {
            (false, false) => dom || dow,
            (true, false) => dow,
            (false, true) => dom,
            (true, true) => true,
        }
    }

    /// The first run strictly after `after`, in `tz`; `None` if none within five years.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let mut date = after.to_zoned_datetime(tz.clone()).date();
        for _ in 0..HORIZON_DAYS {
            if self.months & (1 << date.month()) != 0 && self.day_matches(date) {
                for h in (0..24).filter(|h| self.hours & (1 << h) != 0) {
                    // Skip an hour wholly before `after` (DST moves hours by at most one).
                    match local(tz, date, h, 0, 0) {
                        Some(start) if start.as_second() + 7200 <= after.as_second() => continue,
                        _ => {}
                    }
                    for m in (0..60).filter(|m| self.minutes & (1 << m) != 0) {
                        // Skip a minute wholly before `after` without trying its seconds.
                        let Some(start) = local(tz, date, h, m, 0) else {
                            continue;
                        };
                        if start.as_second() + 60 <= after.as_second() {
                            continue;
                        }
                        for s in (0..60).filter(|s| self.seconds & (1 << s) != 0) {
                            match local(tz, date, h, m, s) {
                                Some(t) if t > after => return Some(t),
                                _ => {}
                            }
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

/// The instant of a local time (a skipped one moves past the gap, a repeated one is the
/// earlier).
fn local(tz: &TimeZone, date: civil::Date, h: u32, m: u32, s: u32) -> Option<Timestamp> {
    let dt = date.at(h as i8, m as i8, s as i8, 0);
    tz.to_ambiguous_zoned_datetime(dt)
        .compatible()
        .ok()
        .map(|z| z.timestamp())
}

/// One field as a bit set of the values it allows.
fn field(s: &str, lo: u32, hi: u32, names: &[&str], what: &str) -> Result<u64, CronError> {
    let bad = |why: &str| CronError(format!("{what} `{s}`: {why}"));
    let value = |t: &str| -> Result<u32, CronError> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(t)) {
            return Ok(i as u32 + lo);
        }
        let v: u32 = t.parse().map_err(|_| bad("not a number"))?;
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(bad(&format!("out of range {lo}-{hi}")))
        }
    };
    let mut bits = 0u64;
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => {
                let st: u32 = st.parse().map_err(|_| bad("bad step"))?;
                if st == 0 {
                    return Err(bad("step 0"));
                }
                (r, st)
            }
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if step > 1 { hi } else { v })
        };
        if a > b {
            return Err(bad("range goes backwards"));
        }
        for v in (a..=b).step_by(step as usize) {
            bits |= 1 << v;
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn next(expr: &str, after: &str, tz: &str) -> String {
        let tz = TimeZone::get(tz).expect("zone");
        Cron::parse(expr)
            .expect("parses")
            .next_after(ts(after), &tz)
            .map(|t| t.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn weekdays_at_nine_in_a_zone() {
        // Friday 2025-11-28 10:00 UTC = 11:00 Berlin; next is Monday 09:00 Berlin = 08:00Z.
        assert_eq!(
            next("0 9 * * mon-fri", "2025-11-28T10:00:00Z", "Europe/Berlin"),
            "2025-12-01T08:00:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2025-11-28T10:07:30Z", "UTC"),
            "2025-11-28T10:15:00Z"
        );
        assert_eq!(
            next("30 2 1 jan,jul *", "2025-11-28T10:00:00Z", "UTC"),
            "2026-01-01T02:30:00Z"
        );
    }

    #[test]
    fn an_optional_seconds_field_comes_first() {
        assert_eq!(
            next("*/10 * * * * *", "2025-11-28T10:07:31Z", "UTC"),
            "2025-11-28T10:07:40Z"
        );
        assert_eq!(
            next("5 0 9 * * *", "2025-11-28T09:00:05Z", "Europe/Berlin"),
            "2025-11-29T08:00:05Z"
        );
        // Five fields still run at second 0, and minutes before `after` are skipped.
        assert_eq!(
            next("* * * * *", "2025-11-28T10:07:31Z", "UTC"),
            "2025-11-28T10:08:00Z"
        );
        assert!(Cron::parse("60 * * * * *").is_err());
        assert!(Cron::parse("* * * * * * *").is_err());
    }

    #[test]
    fn strictly_after_and_sunday_is_0_or_7() {
        assert_eq!(
            next("0 10 * * 7", "2025-11-30T10:00:00Z", "UTC"),
            "2025-12-07T10:00:00Z"
        );
        assert_eq!(
            next("0 10 * * 0", "2025-11-29T10:00:00Z", "UTC"),
            "2025-11-30T10:00:00Z"
        );
    }

    #[test]
    fn both_day_fields_restricted_means_either() {
        // The 1st of the month or any Monday: from Tue 2025-12-02, the next is Mon 12-08.
        assert_eq!(
            next("0 0 1 * mon", "2025-12-02T00:00:00Z", "UTC"),
            "2025-12-08T00:00:00Z"
        );
    }

    #[test]
    fn dst_gap_runs_after_it_and_fold_runs_once() {
        // 2026-03-29 02:30 does not exist in Berlin: it runs at 03:30 CEST = 01:30Z.
        assert_eq!(
            next("30 2 * * *", "2026-03-28T12:00:00Z", "Europe/Berlin"),
            "2026-03-29T01:30:00Z"
        );
        // 2026-10-25 02:30 happens twice: the earlier (CEST, 00:30Z), then the next day.
        let first = next("30 2 * * *", "2026-10-24T12:00:00Z", "Europe/Berlin");
        assert_eq!(first, "2026-10-25T00:30:00Z");
        assert_eq!(
            next("30 2 * * *", &first, "Europe/Berlin"),
            "2026-10-26T01:30:00Z"
        );
    }

    #[test]
    fn impossible_dates_give_none_and_bad_fields_errors() {
        assert_eq!(next("0 0 30 feb *", "2025-01-01T00:00:00Z", "UTC"), "");
        for bad in [
            "",
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "x * * * *",
            "* * * foo *",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad:?}");
        }
    }
}
