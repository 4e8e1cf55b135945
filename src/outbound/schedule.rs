//! Recurring schedules, planned without I/O: given the stored schedules and `now`, which
//! occurrences fire (each becomes one job), where each schedule's `next_run_ms` moves, and when
//! to look again. The runtime (`engine::schedules`) reads the table, calls [`plan`], and
//! carries out each [`Fire`] with the database's uniqueness (see [`occurrence_key`]).
//!
//! `next_run_ms` is the next occurrence not yet fired. When `now` reaches it:
//! - the **latest** occurrence in `(now - catchup, now]` fires once, as one job whose `run_at`
//!   is that occurrence (so it is due at once);
//! - every earlier occurrence (missed while no node ran, or older than `catchup`) is
//!   **skipped** and counted: a reminder missed during a night of downtime is not dialled
//!   ten times in the morning, and one older than `catchup` not at all (Kubernetes
//!   CronJob's `startingDeadlineSeconds` works the same way);
//! - `next_run_ms` moves to the first occurrence after `now`.
//!
//! `catchup` is at least [`MIN_CATCHUP_MS`] (a minute), so a node that wakes a little late
//! (a busy runtime, a database hiccup) still fires the occurrence it woke for.

use jiff::{tz::TimeZone, Timestamp};

use super::cron::Cron;

/// A schedule as the planner needs it (parsed from its row).
#[derive(Debug, Clone)]
pub struct Planned {
    pub id: String,
    pub cron: Cron,
    pub tz: TimeZone,
    pub enabled: bool,
    /// The next occurrence not yet fired; `None`: never (an impossible date).
    pub next_run_ms: Option<i64>,
}

/// One occurrence to turn into a job, and the move of the schedule past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fire {
    pub schedule_id: String,
    /// The occurrence: the job's `run_at_ms` and, with the id, its idempotency key.
    pub occurrence_ms: i64,
    /// What `next_run_ms` must still be for this node to move it (compare-and-set).
    pub expected_next_ms: i64,
    /// The first occurrence after `now`.
    pub next_run_ms: Option<i64>,
    /// Earlier occurrences not fired (missed while down, or older than `catchup`).
    pub skipped: u32,
}

/// A schedule none of whose occurrences is fired (all older than `catchup`), only moved on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub schedule_id: String,
    pub expected_next_ms: i64,
    pub next_run_ms: Option<i64>,
    pub skipped: u32,
}

/// What to do now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub fire: Vec<Fire>,
    pub skip: Vec<Skip>,
    /// The earliest `next_run_ms` after this plan is carried out.
    pub wake_at_ms: Option<i64>,
}

/// The least `catchup`: an occurrence up to a minute old still fires.
pub const MIN_CATCHUP_MS: i64 = 60_000;

/// Most occurrences counted as skipped in one plan (a per-second cron after a day down):
/// the count saturates here, the walk stops.
pub const MAX_COUNT: u32 = 1000;

/// Windows tried, smallest first, to find the latest occurrence before `now` without
/// walking every occurrence since the last run.
const WINDOWS_MS: [i64; 7] = [
    1_000,
    60_000,
    3_600_000,
    86_400_000,
    32 * 86_400_000,
    367 * 86_400_000,
    6 * 367 * 86_400_000,
];

/// The idempotency key of one occurrence's job: two nodes that both fire it create one job.
pub fn occurrence_key(schedule_id: &str, occurrence_ms: i64) -> String {
    format!("schedule:{schedule_id}:{occurrence_ms}")
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::MAX)
}

fn next(s: &Planned, after_ms: i64) -> Option<i64> {
    s.cron
        .next_after(ts(after_ms), &s.tz)
        .map(|t| t.as_millisecond())
}

/// The latest occurrence in `(floor, now]`: the first window before `now` that holds one,
/// then forward to the last (a few steps, as the smaller window held none).
fn latest(s: &Planned, floor: i64, now_ms: i64) -> Option<i64> {
    for w in WINDOWS_MS {
        let from = now_ms.saturating_sub(w).max(floor);
        if let Some(mut x) = next(s, from).filter(|x| *x <= now_ms) {
            for _ in 0..MAX_COUNT {
                match next(s, x).filter(|y| *y <= now_ms) {
                    Some(y) => x = y,
                    None => break,
                }
            }
            return Some(x);
        }
        if from == floor {
            return None;
        }
    }
    None
}

/// The plan at `now_ms` with missed occurrences fired back to `catchup_ms`.
pub fn plan(schedules: &[Planned], now_ms: i64, catchup_ms: i64) -> Plan {
    let mut out = Plan::default();
    for s in schedules.iter().filter(|s| s.enabled) {
        let Some(due) = s.next_run_ms else { continue };
        if due > now_ms {
            out.wake(due);
            continue;
        }
        let oldest = now_ms.saturating_sub(catchup_ms.max(MIN_CATCHUP_MS));
        let fired = latest(s, due.max(oldest).saturating_sub(1), now_ms);
        let next_run_ms = next(s, now_ms);
        // Occurrences from `due` to `now`, counted up to MAX_COUNT, less the one fired.
        let mut n = 0u32;
        let mut t = Some(due);
        while let Some(x) = t.filter(|x| *x <= now_ms && n < MAX_COUNT) {
            n += 1;
            t = next(s, x);
        }
        let skipped = n.saturating_sub(u32::from(fired.is_some()));
        if let Some(at) = next_run_ms {
            out.wake(at);
        }
        match fired {
            Some(occurrence_ms) => out.fire.push(Fire {
                schedule_id: s.id.clone(),
                occurrence_ms,
                expected_next_ms: due,
                next_run_ms,
                skipped,
            }),
            None => out.skip.push(Skip {
                schedule_id: s.id.clone(),
                expected_next_ms: due,
                next_run_ms,
                skipped,
            }),
        }
    }
    out
}

impl Plan {
    fn wake(&mut self, at: i64) {
        self.wake_at_ms = Some(self.wake_at_ms.map_or(at, |w| w.min(at)));
    }
}

/// The first run of a new schedule created at `now_ms`.
pub fn first_run(cron: &Cron, tz: &TimeZone, now_ms: i64) -> Option<i64> {
    cron.next_after(ts(now_ms), tz).map(|t| t.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().expect("timestamp").as_millisecond()
    }

    fn iso(ms: i64) -> String {
        ts(ms).to_string()
    }

    fn sched(cron: &str, tz: &str, next: &str) -> Planned {
        Planned {
            id: "s1".into(),
            cron: Cron::parse(cron).expect("cron"),
            tz: TimeZone::get(tz).expect("zone"),
            enabled: true,
            next_run_ms: Some(ms(next)),
        }
    }

    const HOUR: i64 = 3_600_000;

    /// Runs the planner like the runtime: wake at `wake_at_ms`, carry out the plan, repeat
    /// until `end`; the fired occurrences.
    fn run_until(mut s: Planned, start: &str, end: &str, catchup: i64) -> Vec<String> {
        let mut now = ms(start);
        let mut fired = Vec::new();
        for _ in 0..10_000 {
            let p = plan(std::slice::from_ref(&s), now, catchup);
            for f in &p.fire {
                assert_eq!(f.expected_next_ms, s.next_run_ms.unwrap());
                fired.push(iso(f.occurrence_ms));
                s.next_run_ms = f.next_run_ms;
            }
            for k in &p.skip {
                s.next_run_ms = k.next_run_ms;
            }
            match p.wake_at_ms {
                Some(w) if w <= ms(end) => now = w.max(now),
                _ => break,
            }
        }
        fired
    }

    #[test]
    fn nothing_fires_before_the_next_run_and_the_wake_up_is_that_run() {
        let s = sched("0 9 * * *", "UTC", "2026-11-30T09:00:00Z");
        let p = plan(&[s], ms("2026-11-30T08:59:59.999Z"), HOUR);
        assert!(p.fire.is_empty() && p.skip.is_empty());
        assert_eq!(p.wake_at_ms, Some(ms("2026-11-30T09:00:00Z")));
    }

    #[test]
    fn a_due_occurrence_fires_once_and_moves_to_the_next() {
        let s = sched("0 9 * * *", "UTC", "2026-11-30T09:00:00Z");
        let p = plan(&[s], ms("2026-11-30T09:00:00.120Z"), 0);
        assert_eq!(
            p.fire,
            vec![Fire {
                schedule_id: "s1".into(),
                occurrence_ms: ms("2026-11-30T09:00:00Z"),
                expected_next_ms: ms("2026-11-30T09:00:00Z"),
                next_run_ms: Some(ms("2026-12-01T09:00:00Z")),
                skipped: 0,
            }]
        );
        assert_eq!(p.wake_at_ms, Some(ms("2026-12-01T09:00:00Z")));
    }

    #[test]
    fn a_week_of_weekday_runs_on_virtual_time() {
        let fired = run_until(
            sched("30 8 * * mon-fri", "Europe/Berlin", "2026-11-30T07:30:00Z"),
            "2026-11-30T00:00:00Z",
            "2026-12-07T00:00:00Z",
            HOUR,
        );
        assert_eq!(
            fired,
            [
                "2026-11-30T07:30:00Z",
                "2026-12-01T07:30:00Z",
                "2026-12-02T07:30:00Z",
                "2026-12-03T07:30:00Z",
                "2026-12-04T07:30:00Z",
            ]
        );
    }

    #[test]
    fn across_dst_changes_local_time_is_kept_and_the_skipped_hour_still_runs() {
        // Daily 02:30 Berlin: the spring gap runs at 03:30 CEST, the autumn fold once.
        let fired = run_until(
            sched("30 2 * * *", "Europe/Berlin", "2026-03-28T01:30:00Z"),
            "2026-03-28T00:00:00Z",
            "2026-03-30T12:00:00Z",
            HOUR,
        );
        assert_eq!(
            fired,
            [
                "2026-03-28T01:30:00Z",
                "2026-03-29T01:30:00Z",
                "2026-03-30T00:30:00Z",
            ]
        );
        let fired = run_until(
            sched("30 2 * * *", "Europe/Berlin", "2026-10-24T00:30:00Z"),
            "2026-10-24T00:00:00Z",
            "2026-10-26T12:00:00Z",
            HOUR,
        );
        assert_eq!(
            fired,
            [
                "2026-10-24T00:30:00Z",
                "2026-10-25T00:30:00Z",
                "2026-10-26T01:30:00Z",
            ]
        );
        // Hourly at :00 in New York over the autumn fold: 01:00 EDT and 01:00 EST are two
        // different instants, but cron fires the repeated local hour once.
        let fired = run_until(
            sched("0 * * * *", "America/New_York", "2026-11-01T04:00:00Z"),
            "2026-11-01T04:00:00Z",
            "2026-11-01T08:00:00Z",
            0,
        );
        assert_eq!(
            fired,
            [
                "2026-11-01T04:00:00Z", // 00:00 EDT
                "2026-11-01T05:00:00Z", // 01:00 EDT
                "2026-11-01T07:00:00Z", // 02:00 EST
                "2026-11-01T08:00:00Z", // 03:00 EST
            ]
        );
    }

    #[test]
    fn after_downtime_the_latest_missed_run_fires_once_within_catchup() {
        // Every 15 minutes; the node was down from 09:50 to 10:40: 10:00 … 10:30 missed.
        let s = sched("*/15 * * * *", "UTC", "2026-11-30T10:00:00Z");
        let p = plan(std::slice::from_ref(&s), ms("2026-11-30T10:40:00Z"), HOUR);
        assert_eq!(p.fire.len(), 1);
        let f = &p.fire[0];
        assert_eq!(iso(f.occurrence_ms), "2026-11-30T10:30:00Z");
        assert_eq!(f.skipped, 2, "10:00 and 10:15");
        assert_eq!(f.next_run_ms, Some(ms("2026-11-30T10:45:00Z")));
        assert_eq!(f.expected_next_ms, ms("2026-11-30T10:00:00Z"));

        // A night of downtime with catchup 1h: only what is inside the hour may fire.
        let s = sched("0 * * * *", "UTC", "2026-11-30T00:00:00Z");
        let p = plan(&[s], ms("2026-11-30T08:20:00Z"), HOUR);
        assert_eq!(iso(p.fire[0].occurrence_ms), "2026-11-30T08:00:00Z");
        assert_eq!(p.fire[0].skipped, 8);
        // Down longer than catchup since the last occurrence: nothing fires, the schedule moves on.
        let s = sched("0 9 * * *", "UTC", "2026-11-28T09:00:00Z");
        let p = plan(&[s], ms("2026-11-30T12:00:00Z"), HOUR);
        assert!(p.fire.is_empty());
        assert_eq!(
            p.skip,
            vec![Skip {
                schedule_id: "s1".into(),
                expected_next_ms: ms("2026-11-28T09:00:00Z"),
                next_run_ms: Some(ms("2026-12-01T09:00:00Z")),
                skipped: 3,
            }]
        );
    }

    #[test]
    fn downtime_catch_up_on_virtual_time_fires_each_missed_window_once() {
        // Down 08:50-09:30 on a daily 09:00: fired at 09:30 (inside the hour), then normal.
        let mut s = sched("0 9 * * *", "UTC", "2026-11-30T09:00:00Z");
        let p = plan(std::slice::from_ref(&s), ms("2026-11-30T09:30:00Z"), HOUR);
        assert_eq!(p.fire.len(), 1);
        s.next_run_ms = p.fire[0].next_run_ms;
        // A second node that read the row before the first moved it plans the same occurrence
        // (its job has the same key); after the move, nothing.
        let again = plan(std::slice::from_ref(&s), ms("2026-11-30T09:30:01Z"), HOUR);
        assert!(again.fire.is_empty());
        assert_eq!(
            occurrence_key("s1", p.fire[0].occurrence_ms),
            format!("schedule:s1:{}", ms("2026-11-30T09:00:00Z"))
        );
    }

    #[test]
    fn disabled_impossible_and_per_second_schedules() {
        let mut s = sched("0 9 * * *", "UTC", "2026-11-30T09:00:00Z");
        s.enabled = false;
        assert_eq!(
            plan(&[s], ms("2026-12-30T09:00:00Z"), HOUR),
            Plan::default()
        );
        let mut s = sched("0 0 30 feb *", "UTC", "2026-11-30T09:00:00Z");
        s.next_run_ms = first_run(&s.cron, &s.tz, ms("2026-11-30T09:00:00Z"));
        assert_eq!(s.next_run_ms, None);
        assert_eq!(
            plan(&[s], ms("2026-12-30T09:00:00Z"), HOUR),
            Plan::default()
        );
        // Every second, a day down, catchup a day: bounded walk, one job, the latest second.
        let s = sched("* * * * * *", "UTC", "2026-11-29T12:00:00Z");
        let p = plan(&[s], ms("2026-11-30T12:00:00.500Z"), 24 * HOUR);
        assert_eq!(iso(p.fire[0].occurrence_ms), "2026-11-30T12:00:00Z");
        assert_eq!(p.fire[0].next_run_ms, Some(ms("2026-11-30T12:00:01Z")));
        assert_eq!(p.fire[0].skipped, MAX_COUNT - 1, "counted up to the cap");
    }

    #[test]
    fn the_wake_up_is_the_earliest_of_several_schedules() {
        let a = sched("0 9 * * *", "UTC", "2026-11-30T09:00:00Z");
        let mut b = sched("0 7 * * *", "UTC", "2026-11-30T07:00:00Z");
        b.id = "s2".into();
        let p = plan(&[a, b], ms("2026-11-30T06:00:00Z"), HOUR);
        assert_eq!(p.wake_at_ms, Some(ms("2026-11-30T07:00:00Z")));
    }
}
