//! What a job does next: a pure function of its request, its marks and the attempts so far.
//!
//! Deciding from the stored history (not from in-memory state) is what makes jobs survive a
//! restart: a node that claims a job after a crash reads the attempts, including the one its
//! predecessor left `interrupted`, and continues exactly where the policy says.
//!
//! Rules: the job is **done** once its `until` holds (`acknowledged`; `heard`, which an
//! acknowledgement implies; `answered`). Otherwise a contact is tried up to `max_attempts`
//! times, waiting `backoff_base·2^(n-1)` (capped at `backoff_max`) after the n-th failure; a
//! contact who declined (603) or that the policy refused is not tried again; then the next
//! contact of the chain is called at once. With no contact left the job has **failed** with
//! the last attempt's outcome (`unacknowledged` when it was answered but not acknowledged).

use serde::Serialize;

use super::request::{CallRequest, Until};
use crate::sip::event::DialOutcome;

/// How one attempt ended, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Answered; whether an `ack` node marked it during the call.
    Answered {
        acknowledged: bool,
        heard: bool,
    },
    NotConnected(DialOutcome),
    /// The node died (or shut down) while dialling; recorded by whoever found the lease expired.
    Interrupted,
    /// Not dialled: the target is not allowed, the account is unknown… (no retry on it).
    Refused,
}

impl AttemptOutcome {
    /// The stored name (`answered`, `acknowledged`, `heard`, `busy`, `no_answer`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Answered {
                acknowledged: true, ..
            } => "acknowledged",
            AttemptOutcome::Answered { heard: true, .. } => "heard",
            AttemptOutcome::Answered { .. } => "answered",
            AttemptOutcome::NotConnected(o) => o.as_str(),
            AttemptOutcome::Interrupted => "interrupted",
            AttemptOutcome::Refused => "refused",
        }
    }

    /// Reads a stored name back.
    pub fn parse(s: &str) -> Option<AttemptOutcome> {
        let answered = |acknowledged, heard| AttemptOutcome::Answered {
            acknowledged,
            heard,
        };
        Some(match s {
            "acknowledged" => answered(true, true),
            "heard" => answered(false, true),
            "answered" => answered(false, false),
            "busy" => AttemptOutcome::NotConnected(DialOutcome::Busy),
            "no_answer" => AttemptOutcome::NotConnected(DialOutcome::NoAnswer),
            "rejected" => AttemptOutcome::NotConnected(DialOutcome::Rejected),
            "cancelled" => AttemptOutcome::NotConnected(DialOutcome::Cancelled),
            "failed" => AttemptOutcome::NotConnected(DialOutcome::Failed),
            "interrupted" => AttemptOutcome::Interrupted,
            "refused" => AttemptOutcome::Refused,
            _ => return None,
        })
    }
}

/// One finished attempt: which contact (as given), how and when it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub contact: String,
    pub outcome: AttemptOutcome,
    /// Unix ms (the backoff counts from here, so deciding again later never delays a retry).
    pub ended_ms: i64,
}

/// The job's marks (set by `ack` nodes, stored with their time on the job).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    pub acknowledged: bool,
    pub heard: bool,
}

/// What to do with a job now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The `until` condition holds: finish with this outcome.
    Done { outcome: String },
    /// Dial `to[contact]` at `at_ms`.
    Dial { contact: usize, at_ms: i64 },
    /// Nothing left to try.
    Failed { outcome: String },
}

/// The next step for `req` after `attempts` (oldest first), at `now_ms`.
pub fn decide(
    req: &CallRequest,
    mut marks: Marks,
    attempts: &[AttemptRecord],
    now_ms: i64,
) -> Decision {
    let answered = attempts
        .iter()
        .any(|a| matches!(a.outcome, AttemptOutcome::Answered { .. }));
    // An attempt stored as acknowledged/heard counts even if the job's mark was lost.
    for a in attempts {
        if let AttemptOutcome::Answered {
            acknowledged,
            heard,
        } = a.outcome
        {
            marks.acknowledged |= acknowledged;
            marks.heard |= heard;
        }
    }
    let done = match req.until {
        Until::Acknowledged => marks.acknowledged,
        Until::Heard => marks.heard || marks.acknowledged,
        Until::Answered => answered || marks.heard || marks.acknowledged,
    };
    if done {
        return Decision::Done {
            outcome: req.until.as_str().to_string(),
        };
    }
    let positions = positions(&req.to, attempts);
    let (Some(last), Some(&contact)) = (attempts.last(), positions.last()) else {
        return Decision::Dial {
            contact: 0,
            at_ms: req.run_at_ms,
        };
    };
    let tries = positions.iter().filter(|&&p| p == contact).count() as u32;
    let give_up_on_contact = matches!(
        last.outcome,
        AttemptOutcome::Refused | AttemptOutcome::NotConnected(DialOutcome::Rejected)
    );
    if !give_up_on_contact && tries < req.retry.max_attempts {
        let wait = req.retry.backoff(tries).as_millis() as i64;
        return Decision::Dial {
            contact,
            at_ms: last.ended_ms.saturating_add(wait),
        };
    }
    if contact + 1 < req.to.len() {
        return Decision::Dial {
            contact: contact + 1,
            at_ms: now_ms,
        };
    }
    let outcome = match last.outcome {
        AttemptOutcome::Answered { .. } => "unacknowledged",
        other => other.as_str(),
    };
    Decision::Failed {
        outcome: outcome.to_string(),
    }
}

/// The chain position of each attempt: the chain only moves forward, so an attempt belongs to
/// the first position at or after the previous one that holds its contact (a chain may name
/// the same contact twice: A, B, A).
pub fn positions(to: &[String], attempts: &[AttemptRecord]) -> Vec<usize> {
    let mut at = 0;
    attempts
        .iter()
        .map(|a| {
            if let Some(off) = to.iter().skip(at).position(|c| *c == a.contact) {
                at += off;
            }
            at
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::request::{Content, RetryPolicy};
    use serde_json::Map;

    fn req(to: &[&str], until: Until, max_attempts: u32) -> CallRequest {
        CallRequest {
            to: to.iter().map(|s| s.to_string()).collect(),
            content: Content::Message {
                text: "m".into(),
                ack_key: '1',
                repeat: 2,
            },
            from: None,
            account: None,
            vars: Map::new(),
            run_at_ms: 500,
            retry: RetryPolicy {
                max_attempts,
                backoff_base_ms: 1000,
                backoff_max_ms: 4000,
            },
            until,
            ring_timeout_ms: 30_000,
        }
    }

    fn att(contact: &str, outcome: &str) -> AttemptRecord {
        AttemptRecord {
            contact: contact.into(),
            outcome: AttemptOutcome::parse(outcome).expect("known outcome"),
            ended_ms: 10_000,
        }
    }

    fn dial(contact: usize, at_ms: i64) -> Decision {
        Decision::Dial { contact, at_ms }
    }

    #[test]
    fn first_attempt_waits_for_run_at() {
        let r = req(&["a"], Until::Acknowledged, 3);
        assert_eq!(decide(&r, Marks::default(), &[], 100), dial(0, 500));
    }

    #[test]
    fn busy_no_answer_failed_retry_with_doubling_backoff_then_fail() {
        let r = req(&["a"], Until::Acknowledged, 4);
        let mut hist = vec![att("a", "busy")];
        assert_eq!(decide(&r, Marks::default(), &hist, 10_000), dial(0, 11_000));
        hist.push(att("a", "no_answer"));
        assert_eq!(decide(&r, Marks::default(), &hist, 10_000), dial(0, 12_000));
        hist.push(att("a", "interrupted"));
        assert_eq!(decide(&r, Marks::default(), &hist, 10_000), dial(0, 14_000));
        hist.push(att("a", "failed"));
        assert_eq!(
            decide(&r, Marks::default(), &hist, 10_000),
            Decision::Failed {
                outcome: "failed".into()
            }
        );
    }

    #[test]
    fn answered_without_ack_is_retried_and_finally_unacknowledged() {
        let r = req(&["a"], Until::Acknowledged, 2);
        let hist = [att("a", "heard"), att("a", "answered")];
        assert_eq!(decide(&r, Marks::default(), &hist[..1], 0), dial(0, 11_000));
        assert_eq!(
            decide(&r, Marks::default(), &hist, 0),
            Decision::Failed {
                outcome: "unacknowledged".into()
            }
        );
    }

    #[test]
    fn until_conditions() {
        let heard = Marks {
            heard: true,
            acknowledged: false,
        };
        let acked = Marks {
            heard: true,
            acknowledged: true,
        };
        let hist = [att("a", "answered")];
        let done = |o: &str| Decision::Done { outcome: o.into() };
        let r = req(&["a"], Until::Answered, 3);
        assert_eq!(decide(&r, Marks::default(), &hist, 0), done("answered"));
        let r = req(&["a"], Until::Heard, 3);
        assert_eq!(decide(&r, Marks::default(), &hist, 0), dial(0, 11_000));
        assert_eq!(decide(&r, heard, &hist, 0), done("heard"));
        assert_eq!(decide(&r, acked, &hist, 0), done("heard"));
        let r = req(&["a"], Until::Acknowledged, 3);
        assert_eq!(decide(&r, heard, &hist, 0), dial(0, 11_000));
        assert_eq!(decide(&r, acked, &hist, 0), done("acknowledged"));
        // Acknowledged jobs are done whatever else happened (never dialled again).
        let many = [
            att("a", "busy"),
            att("a", "acknowledged"),
            att("a", "interrupted"),
        ];
        assert_eq!(decide(&r, acked, &many, 0), done("acknowledged"));
    }

    #[test]
    fn escalation_moves_on_after_the_attempts_or_a_decline() {
        let r = req(&["a", "b", "c"], Until::Acknowledged, 2);
        let hist = [att("a", "busy"), att("a", "no_answer")];
        assert_eq!(decide(&r, Marks::default(), &hist, 7), dial(1, 7));
        let hist = [att("a", "rejected")];
        assert_eq!(
            decide(&r, Marks::default(), &hist, 7),
            dial(1, 7),
            "603: next at once"
        );
        let hist = [att("a", "refused"), att("b", "busy")];
        assert_eq!(decide(&r, Marks::default(), &hist, 7), dial(1, 11_000));
        let hist = [
            att("a", "busy"),
            att("a", "busy"),
            att("b", "rejected"),
            att("c", "refused"),
        ];
        assert_eq!(
            decide(&r, Marks::default(), &hist, 7),
            Decision::Failed {
                outcome: "refused".into()
            }
        );
    }

    #[test]
    fn a_chain_may_name_a_contact_twice() {
        let r = req(&["a", "b", "a"], Until::Acknowledged, 1);
        let hist = [att("a", "busy"), att("b", "busy")];
        assert_eq!(positions(&r.to, &hist), [0, 1]);
        assert_eq!(decide(&r, Marks::default(), &hist, 3), dial(2, 3));
        let hist = [att("a", "busy"), att("b", "busy"), att("a", "busy")];
        assert_eq!(positions(&r.to, &hist), [0, 1, 2]);
        assert!(matches!(
            decide(&r, Marks::default(), &hist, 3),
            Decision::Failed { .. }
        ));
    }

    #[test]
    fn outcome_names_round_trip() {
        for s in [
            "acknowledged",
            "heard",
            "answered",
            "busy",
            "no_answer",
            "rejected",
            "cancelled",
            "failed",
            "interrupted",
            "refused",
        ] {
            assert_eq!(
                AttemptOutcome::parse(s).map(AttemptOutcome::as_str),
                Some(s)
            );
        }
        assert_eq!(AttemptOutcome::parse("maybe"), None);
    }
}
