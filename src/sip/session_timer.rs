//! RFC 4028 session timers, UAS side: what an INVITE asks for, what we answer, and the one
//! deadline a running call keeps.
//!
//! We accept the interval the request carries (raised to our 90 s minimum when the UAC cannot
//! take a 422), let the UAC refresh whenever it supports the extension and did not ask us to,
//! and otherwise refresh ourselves with UPDATE (RFC 3311: no offer, just the refresh) when the
//! peer allows it. A session nobody refreshes is ended with BYE before it expires
//! (§10: at the interval minus the smaller of 32 s and a third of it). A call whose INVITE has
//! no Session-Expires runs without one (dead calls are still caught by the RTP timeout).
//!
//! Owns the parsing and the decisions; the call machine ([`super::call`]) adds the headers,
//! sends the UPDATE or BYE and feeds refreshes in. No I/O, no clock: `now` comes in.

use std::time::{Duration, Instant};

use super::message::Inbound;

/// Our smallest acceptable interval (RFC 4028 §4: at least 90 s).
pub const MIN_SE: u32 = 90;

/// Who sends the refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

impl Refresher {
    fn as_str(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

/// What a request said about session timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Asked {
    /// `Session-Expires` (delta-seconds), if present and well formed.
    pub expires: Option<u32>,
    pub refresher: Option<Refresher>,
    /// `Min-SE`, if present.
    pub min_se: Option<u32>,
    /// `timer` in Supported or Require: the UAC implements the extension.
    pub supported: bool,
    /// The peer lists UPDATE in Allow (so we can refresh with it).
    pub allows_update: bool,
}

impl Asked {
    pub fn of(req: &Inbound) -> Asked {
        let se = req.header("Session-Expires").or_else(|| req.header("x"));
        let (expires, refresher) = se.map_or((None, None), parse_session_expires);
        let min_se = req
            .header("Min-SE")
            .and_then(|v| v.split(';').next()?.trim().parse().ok());
        let has_tag = |name: &str, tag: &str| {
            req.header_list(name)
                .iter()
                .any(|t| t.eq_ignore_ascii_case(tag))
        };
        Asked {
            expires,
            refresher,
            min_se,
            supported: has_tag("Supported", "timer") || has_tag("Require", "timer"),
            allows_update: has_tag("Allow", "UPDATE"),
        }
    }
}

/// `Session-Expires: 1800;refresher=uac` → (1800, uac). Bad values count as absent.
fn parse_session_expires(v: &str) -> (Option<u32>, Option<Refresher>) {
    let mut parts = v.split(';');
    let secs = parts.next().and_then(|s| s.trim().parse::<u32>().ok());
    let refresher = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("refresher") {
            return None;
        }
        match v.trim().to_ascii_lowercase().as_str() {
            "uac" => Some(Refresher::Uac),
            "uas" => Some(Refresher::Uas),
            _ => None,
        }
    });
    (secs.filter(|s| *s > 0), refresher)
}

/// What to do with an INVITE's session-timer request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// No session timer for this call.
    Off,
    /// Answer 422 with `Min-SE` (the interval is below ours and the UAC can retry).
    TooSmall { min_se: u32 },
    /// Run a timer: put `Session-Expires` (and `Require: timer` when the UAC supports it) in
    /// the 2xx.
    On {
        interval: u32,
        refresher: Refresher,
        require: bool,
    },
}

impl Plan {
    /// The timer this plan starts when the 2xx goes out at `now` (`None` unless `On`).
    pub fn timer(self, now: Instant) -> Option<SessionTimer> {
        match self {
            Plan::On {
                interval,
                refresher,
                require,
            } => Some(SessionTimer::start(interval, refresher, require, now)),
            Plan::Off | Plan::TooSmall { .. } => None,
        }
    }
}

/// RFC 4028 §9 for the initial INVITE (and §10 for a refresh, where 422 cannot help: a too
/// small interval is raised instead).
pub fn plan(asked: &Asked, initial: bool) -> Plan {
    let Some(expires) = asked.expires else {
        return Plan::Off;
    };
    let floor = MIN_SE.max(asked.min_se.unwrap_or(0));
    if expires < MIN_SE && asked.supported && initial {
        return Plan::TooSmall { min_se: floor };
    }
    let interval = expires.max(floor);
    let refresher = match (asked.refresher, asked.supported) {
        (Some(r), true) => r,
        (None, true) => Refresher::Uac,
        // A proxy asked for a timer the UAC knows nothing of: only we can refresh.
        (_, false) => Refresher::Uas,
    };
    if refresher == Refresher::Uas && !asked.allows_update {
        if asked.supported {
            // We refresh with UPDATE only; hand the job to the UAC, which supports it.
            return Plan::On {
                interval,
                refresher: Refresher::Uac,
                require: true,
            };
        }
        return Plan::Off;
    }
    Plan::On {
        interval,
        refresher,
        require: asked.supported,
    }
}

/// What the running timer will do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// We are the refresher: send UPDATE.
    Refresh,
    /// Nobody refreshed in time: send BYE.
    Expire,
}

/// A call's running session timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTimer {
    interval: Duration,
    refresher: Refresher,
    require: bool,
    due: Due,
    at: Instant,
}

impl SessionTimer {
    /// Starts at `now` (when the 2xx goes out).
    pub fn start(interval: u32, refresher: Refresher, require: bool, now: Instant) -> Self {
        let mut t = SessionTimer {
            interval: Duration::from_secs(u64::from(interval)),
            refresher,
            require,
            due: Due::Expire,
            at: now,
        };
        t.refreshed(now);
        t
    }

    /// A refresh succeeded at `now` (a 2xx to a re-INVITE or UPDATE, either way).
    pub fn refreshed(&mut self, now: Instant) {
        match self.refresher {
            Refresher::Uas => {
                self.due = Due::Refresh;
                self.at = now + self.interval / 2;
            }
            Refresher::Uac => {
                let margin = (self.interval / 3).min(Duration::from_secs(32));
                self.due = Due::Expire;
                self.at = now + self.interval - margin;
            }
        }
    }

    /// Our refresh went out at `now` and is not answered yet: if it never is, the session
    /// expires at the usual margin.
    pub fn refresh_sent(&mut self, now: Instant) {
        let margin = (self.interval / 3).min(Duration::from_secs(32));
        self.due = Due::Expire;
        self.at = now + self.interval / 2 - margin.min(self.interval / 2);
    }

    /// A new request changed the interval or the refresher (a refresh may renegotiate).
    pub fn renegotiate(&mut self, interval: u32, refresher: Refresher, require: bool) {
        self.interval = Duration::from_secs(u64::from(interval));
        self.refresher = refresher;
        self.require = require;
    }

    pub fn poll_timeout(&self) -> Instant {
        self.at
    }

    pub fn due(&self) -> Due {
        self.due
    }

    pub fn require(&self) -> bool {
        self.require
    }

    /// The `Session-Expires` value for our responses and refreshes.
    pub fn header(&self) -> String {
        format!(
            "{};refresher={}",
            self.interval.as_secs(),
            self.refresher.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(expires: Option<u32>, refresher: Option<Refresher>, supported: bool) -> Asked {
        Asked {
            expires,
            refresher,
            min_se: None,
            supported,
            allows_update: true,
        }
    }

    #[test]
    fn session_expires_parses_with_its_refresher() {
        assert_eq!(
            parse_session_expires("1800;refresher=uac"),
            (Some(1800), Some(Refresher::Uac))
        );
        assert_eq!(
            parse_session_expires(" 600 ; Refresher = UAS"),
            (Some(600), Some(Refresher::Uas))
        );
        assert_eq!(parse_session_expires("soon"), (None, None));
        assert_eq!(parse_session_expires("0"), (None, None));
    }

    #[test]
    fn the_plan_follows_rfc_4028_section_9() {
        use Refresher::*;
        assert_eq!(plan(&asked(None, None, true), true), Plan::Off);
        assert_eq!(
            plan(&asked(Some(60), None, true), true),
            Plan::TooSmall { min_se: MIN_SE },
            "too small and the UAC can retry: 422"
        );
        assert_eq!(
            plan(&asked(Some(60), None, false), true),
            Plan::On {
                interval: MIN_SE,
                refresher: Uas,
                require: false
            },
            "too small, UAC cannot retry: raised, and we refresh"
        );
        assert_eq!(
            plan(&asked(Some(60), None, true), false),
            Plan::On {
                interval: MIN_SE,
                refresher: Uac,
                require: true
            },
            "no 422 on a refresh"
        );
        assert_eq!(
            plan(&asked(Some(1800), None, true), true),
            Plan::On {
                interval: 1800,
                refresher: Uac,
                require: true
            }
        );
        assert_eq!(
            plan(&asked(Some(1800), Some(Uas), true), true),
            Plan::On {
                interval: 1800,
                refresher: Uas,
                require: true
            },
            "the UAC's choice stands"
        );
        let no_update = Asked {
            allows_update: false,
            ..asked(Some(1800), Some(Uas), true)
        };
        assert!(matches!(
            plan(&no_update, true),
            Plan::On { refresher: Uac, .. }
        ));
        let proxy_only = Asked {
            allows_update: false,
            ..asked(Some(1800), None, false)
        };
        assert_eq!(plan(&proxy_only, true), Plan::Off, "nobody could refresh");
        let with_min = Asked {
            min_se: Some(300),
            ..asked(Some(200), None, false)
        };
        assert!(matches!(
            plan(&with_min, true),
            Plan::On { interval: 300, .. }
        ));
    }

    #[test]
    fn deadlines_refresh_at_half_and_expire_before_the_end() {
        let t0 = Instant::now();
        let uac = SessionTimer::start(1800, Refresher::Uac, true, t0);
        assert_eq!(uac.due(), Due::Expire);
        assert_eq!(uac.poll_timeout(), t0 + Duration::from_secs(1800 - 32));
        let short = SessionTimer::start(90, Refresher::Uac, true, t0);
        assert_eq!(short.poll_timeout(), t0 + Duration::from_secs(60));
        let mut uas = SessionTimer::start(120, Refresher::Uas, true, t0);
        assert_eq!(
            (uas.due(), uas.poll_timeout()),
            (Due::Refresh, t0 + Duration::from_secs(60))
        );
        assert_eq!(uas.header(), "120;refresher=uas");
        let t1 = t0 + Duration::from_secs(60);
        uas.refresh_sent(t1);
        assert_eq!(
            (uas.due(), uas.poll_timeout()),
            (Due::Expire, t1 + Duration::from_secs(28))
        );
        uas.refreshed(t1 + Duration::from_secs(1));
        assert_eq!(uas.poll_timeout(), t1 + Duration::from_secs(61));
    }
}
