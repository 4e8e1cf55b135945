//! What a stored job asks for: a call ([`CallRequest`]) or a text message ([`SmsRequest`],
//! from an alert rule). The JSON form is what the `jobs.request` column holds.

use serde::{Deserialize, Serialize};

use super::plan::{AttemptRecord, Decision};
use super::request::{CallRequest, RetryPolicy};

/// A job's request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum JobRequest {
    Call(CallRequest),
    Sms(SmsRequest),
}

/// One SMS to one number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsRequest {
    pub to: String,
    pub text: String,
    pub run_at_ms: i64,
    pub retry: RetryPolicy,
}

/// How an SMS attempt ended.
pub const SMS_SENT: &str = "sent";
pub const SMS_FAILED: &str = "failed";
pub const SMS_REJECTED: &str = "rejected";

impl JobRequest {
    /// When the first attempt may start.
    pub fn run_at_ms(&self) -> i64 {
        match self {
            JobRequest::Call(c) => c.run_at_ms,
            JobRequest::Sms(s) => s.run_at_ms,
        }
    }

    /// The most attempts the job can take (all contacts of a chain).
    pub fn max_attempts(&self) -> u32 {
        match self {
            JobRequest::Call(c) => c
                .retry
                .max_attempts
                .saturating_mul(c.to.len().max(1) as u32),
            JobRequest::Sms(s) => s.retry.max_attempts,
        }
    }
}

impl SmsRequest {
    /// Sent once is done; a failure is retried with the backoff (counted from `last_end_ms`,
    /// when the last attempt ended) until the attempts run out. `attempts` are the stored
    /// outcome names, oldest first.
    pub fn decide(&self, attempts: &[&str], last_end_ms: i64) -> Decision {
        match attempts.last() {
            None => Decision::Dial {
                contact: 0,
                at_ms: self.run_at_ms,
            },
            Some(&SMS_SENT) => Decision::Done {
                outcome: SMS_SENT.into(),
            },
            // The provider refused it for good (bad number, bad credentials): no retry.
            Some(&SMS_REJECTED) => Decision::Failed {
                outcome: SMS_REJECTED.into(),
            },
            Some(_) if (attempts.len() as u32) < self.retry.max_attempts => Decision::Dial {
                contact: 0,
                at_ms: last_end_ms
                    .saturating_add(self.retry.backoff(attempts.len() as u32).as_millis() as i64),
            },
            Some(last) => Decision::Failed {
                outcome: (*last).to_string(),
            },
        }
    }
}

/// Convenience for call jobs: [`super::plan::decide`] over stored rows
/// `(contact, outcome, ended_ms)`; attempts still open are left out.
pub fn records(rows: impl IntoIterator<Item = (String, String, i64)>) -> Vec<AttemptRecord> {
    rows.into_iter()
        .filter_map(|(contact, outcome, ended_ms)| {
            Some(AttemptRecord {
                contact,
                outcome: super::plan::AttemptOutcome::parse(&outcome)?,
                ended_ms,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms() -> SmsRequest {
        SmsRequest {
            to: "+4930111".into(),
            text: "Disk full".into(),
            run_at_ms: 10,
            retry: RetryPolicy {
                max_attempts: 3,
                backoff_base_ms: 1000,
                backoff_max_ms: 5000,
            },
        }
    }

    #[test]
    fn sms_is_sent_once_or_retried_then_failed() {
        let s = sms();
        assert_eq!(
            s.decide(&[], 0),
            Decision::Dial {
                contact: 0,
                at_ms: 10
            }
        );
        assert_eq!(
            s.decide(&["sent"], 0),
            Decision::Done {
                outcome: "sent".into()
            }
        );
        assert_eq!(
            s.decide(&["failed"], 100),
            Decision::Dial {
                contact: 0,
                at_ms: 1100
            }
        );
        assert_eq!(
            s.decide(&["failed", "interrupted"], 100),
            Decision::Dial {
                contact: 0,
                at_ms: 2100
            }
        );
        assert_eq!(
            s.decide(&["rejected"], 0),
            Decision::Failed {
                outcome: "rejected".into()
            }
        );
        assert_eq!(
            s.decide(&["failed", "failed", "failed"], 0),
            Decision::Failed {
                outcome: "failed".into()
            }
        );
    }

    #[test]
    fn requests_round_trip_as_tagged_json() {
        let j = JobRequest::Sms(sms());
        let v = serde_json::to_value(&j).expect("json");
        assert_eq!(v["type"], "sms");
        assert_eq!(serde_json::from_value::<JobRequest>(v).expect("back"), j);
        assert_eq!(j.max_attempts(), 3);
    }
}
