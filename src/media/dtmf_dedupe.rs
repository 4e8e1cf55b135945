//! One call's keys from all three DTMF transports at once (RFC 4733, SIP INFO, in-band tones),
//! counted once per press.
//!
//! Phones differ: some send RFC 4733 only, some SIP INFO, some leave the tones in the audio, and
//! many do two of these for the same press. Each transport's own detector already reports a
//! press once ([`super::rfc4733::DtmfReceiver`], [`super::goertzel::DtmfDetector`]; SIP INFO is
//! one request per press). This module merges them: a report of the same key by a *different*
//! method within [`DEFAULT_WINDOW`] of an accepted press is the same press and is dropped; a
//! second report by the *same* method is a new press (a caller typing `11` quickly). The
//! accepted digit is returned with the method that delivered it first, so the call can log which
//! method the phone uses; [`DtmfMerger::methods_seen`] summarises the call.

use std::fmt;
use std::time::{Duration, Instant};

use crate::flow::digit::Digit;

/// How a key reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfMethod {
    Rfc4733,
    SipInfo,
    InBand,
    /// A `dtmf` event of a websocket media stream (Twilio Media Streams).
    MediaStream,
}

impl DtmfMethod {
    fn bit(self) -> u8 {
        match self {
            DtmfMethod::Rfc4733 => 1,
            DtmfMethod::SipInfo => 2,
            DtmfMethod::InBand => 4,
            DtmfMethod::MediaStream => 8,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DtmfMethod::Rfc4733 => "rfc4733",
            DtmfMethod::SipInfo => "sip-info",
            DtmfMethod::InBand => "inband",
            DtmfMethod::MediaStream => "media-stream",
        }
    }
}

impl fmt::Display for DtmfMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A press that counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptedDigit {
    pub digit: Digit,
    /// The method that reported it first.
    pub method: DtmfMethod,
}

/// Window within which reports by different methods are one press.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Copy)]
struct Press {
    digit: Digit,
    at: Instant,
    /// Methods that reported this press (bit set).
    methods: u8,
}

/// The merger for one call.
#[derive(Debug, Clone)]
pub struct DtmfMerger {
    window: Duration,
    /// Accepted presses younger than `window`, oldest first.
    recent: Vec<Press>,
    seen: u8,
}

impl Default for DtmfMerger {
    fn default() -> Self {
        DtmfMerger::new(DEFAULT_WINDOW)
    }
}

impl DtmfMerger {
    pub fn new(window: Duration) -> DtmfMerger {
        DtmfMerger {
            window,
            recent: Vec::new(),
            seen: 0,
        }
    }

    /// A report of `digit` by `method` at `now`. Returns the digit if it is a new press,
    /// `None` if another method already reported this press.
    pub fn report(
        &mut self,
        digit: Digit,
        method: DtmfMethod,
        now: Instant,
    ) -> Option<AcceptedDigit> {
        let window = self.window;
        self.recent
            .retain(|p| now.saturating_duration_since(p.at) <= window);
        self.seen |= method.bit();
        // Newest first: with `11` typed fast, the second report of another method belongs to
        // the second press.
        let same_press = self
            .recent
            .iter_mut()
            .rev()
            .find(|p| p.digit == digit && p.methods & method.bit() == 0);
        if let Some(p) = same_press {
            p.methods |= method.bit();
            return None;
        }
        self.recent.push(Press {
            digit,
            at: now,
            methods: method.bit(),
        });
        Some(AcceptedDigit { digit, method })
    }

    /// Every method that has reported a key in this call (including duplicates), for the
    /// end-of-call log line.
    pub fn methods_seen(&self) -> Vec<DtmfMethod> {
        [DtmfMethod::Rfc4733, DtmfMethod::SipInfo, DtmfMethod::InBand]
            .into_iter()
            .filter(|m| self.seen & m.bit() != 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DtmfMethod::*;

    fn d(c: char) -> Digit {
        Digit::from_char(c).unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Runs (offset ms, key, method) reports; returns the accepted keys with their methods.
    fn run(reports: &[(u64, char, DtmfMethod)]) -> Vec<(char, DtmfMethod)> {
        let t0 = Instant::now();
        let mut m = DtmfMerger::default();
        reports
            .iter()
            .filter_map(|&(at, k, meth)| m.report(d(k), meth, t0 + ms(at)))
            .map(|a| (a.digit.as_char(), a.method))
            .collect()
    }

    #[test]
    fn one_press_reported_by_three_methods_counts_once() {
        let got = run(&[(0, '5', Rfc4733), (40, '5', InBand), (120, '5', SipInfo)]);
        assert_eq!(got, [('5', Rfc4733)]);
    }

    #[test]
    fn the_first_method_wins_whichever_it_is() {
        let got = run(&[(0, '7', SipInfo), (30, '7', Rfc4733)]);
        assert_eq!(got, [('7', SipInfo)]);
    }

    #[test]
    fn the_same_key_twice_by_the_same_method_is_two_presses() {
        let got = run(&[(0, '1', Rfc4733), (150, '1', Rfc4733)]);
        assert_eq!(got, [('1', Rfc4733), ('1', Rfc4733)]);
    }

    #[test]
    fn fast_double_press_with_two_methods_counts_twice() {
        let got = run(&[
            (0, '1', Rfc4733),
            (30, '1', InBand),
            (250, '1', Rfc4733),
            (280, '1', InBand),
        ]);
        assert_eq!(got, [('1', Rfc4733), ('1', Rfc4733)]);
    }

    #[test]
    fn reports_outside_the_window_are_new_presses() {
        let got = run(&[(0, '9', Rfc4733), (301, '9', InBand)]);
        assert_eq!(got, [('9', Rfc4733), ('9', InBand)]);
    }

    #[test]
    fn different_keys_are_never_merged() {
        let got = run(&[(0, '1', Rfc4733), (20, '2', InBand), (40, '1', InBand)]);
        assert_eq!(got, [('1', Rfc4733), ('2', InBand)]);
    }

    #[test]
    fn methods_seen_lists_every_transport_used() {
        let t0 = Instant::now();
        let mut m = DtmfMerger::default();
        assert!(m.methods_seen().is_empty());
        m.report(d('1'), InBand, t0);
        m.report(d('1'), Rfc4733, t0 + ms(10));
        assert_eq!(m.methods_seen(), [Rfc4733, InBand]);
        assert_eq!(InBand.to_string(), "inband");
    }

    #[test]
    fn old_presses_are_forgotten() {
        let t0 = Instant::now();
        let mut m = DtmfMerger::default();
        for i in 0..100 {
            m.report(d('3'), Rfc4733, t0 + ms(i * 1000));
        }
        assert_eq!(m.recent.len(), 1);
    }
}
