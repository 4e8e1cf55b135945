//! What the SIP core tells the application: [`Event`] and the ids and reasons it carries.
//!
//! Owns the app-facing vocabulary (calls both ways, dial outcomes, digits, re-offers, transfer
//! progress, registration state). Does not own the media: SDP is carried as text for the media layer to negotiate.

use std::fmt;
use std::net::SocketAddr;

use crate::flow::digit::Digit;

use super::register::RegistrationState;

/// A call handle, unique within one endpoint (not SIP's Call-ID header, which is
/// `Dialog::call_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

impl fmt::Display for CallHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// A registration handle, unique within one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegId(pub u32);

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The caller sent BYE.
    RemoteBye,
    /// We sent BYE (the app hung up); `confirmed` is whether the far end answered it.
    LocalBye { confirmed: bool },
    /// The caller sent CANCEL before we answered (we sent 487).
    Cancelled,
    /// We rejected the INVITE with this status.
    Rejected(u16),
    /// Our 2xx was never acknowledged (Timer H): we sent BYE (RFC 3261 §13.3.1.4).
    AckTimeout,
    /// The session timer ran out (nobody refreshed, or our refresh failed with 408/481 or
    /// no answer): we sent BYE (RFC 4028 §10).
    SessionExpired,
    /// An outbound call that was never answered (or whose late answer we hung up).
    NotConnected(DialEnd),
}

/// What became of an outbound call attempt that was not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialOutcome {
    /// 486 Busy Here, 600 Busy Everywhere.
    Busy,
    /// 408, 480, or our CANCEL at the ring timeout (487).
    NoAnswer,
    /// 603 Decline.
    Rejected,
    /// The app cancelled before the answer.
    Cancelled,
    /// Anything else: other 3xx-6xx, no response (Timer B), a transport error.
    Failed,
}

impl DialOutcome {
    /// The name stored and shown (`busy`, `no_answer`, `rejected`, `cancelled`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            DialOutcome::Busy => "busy",
            DialOutcome::NoAnswer => "no_answer",
            DialOutcome::Rejected => "rejected",
            DialOutcome::Cancelled => "cancelled",
            DialOutcome::Failed => "failed",
        }
    }
}

impl fmt::Display for DialOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an unanswered outbound call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialEnd {
    pub outcome: DialOutcome,
    /// The final SIP status (`None` for a transport error).
    pub status: Option<u16>,
    /// `486 Busy Here`, `no response (Timer B)`… (no credentials, no numbers).
    pub reason: String,
}

/// Where a blind transfer got to (REFER response, then NOTIFY `message/sipfrag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferProgress {
    /// The REFER was accepted (202).
    Accepted,
    /// A provisional status of the transferred call (e.g. 100 Trying, 180 Ringing).
    Trying { status: u16 },
    /// The transfer target answered: the transfer succeeded.
    Succeeded,
    /// The REFER was refused or the transferred call failed; `reason` is e.g. `486 Busy Here`.
    Failed { status: u16, reason: String },
}

/// An event for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new out-of-dialog INVITE; answer with `Endpoint::answer` or `Endpoint::reject`.
    IncomingCall {
        call: CallHandle,
        /// The From URI, e.g. `sip:+15550001@pbx`.
        from: String,
        from_display: Option<String>,
        /// The To URI and its user part (the number dialled), used for routing.
        to: String,
        to_user: Option<String>,
        /// The SDP offer, when the INVITE carried one.
        sdp_offer: Option<String>,
        /// Where the INVITE came from (symmetric signalling; the media layer may use it too).
        source: SocketAddr,
    },
    /// The caller acknowledged our 2xx: media may flow both ways.
    CallConfirmed { call: CallHandle },
    /// An outbound call made progress: 180 Ringing, 183 Session Progress (early media is not
    /// played: the flow starts at the answer).
    Progress { call: CallHandle, status: u16 },
    /// An outbound call was answered and we sent the ACK: the dialog is confirmed and the call
    /// behaves like an inbound one from here. `sdp_answer` answers our offer.
    Answered {
        call: CallHandle,
        sdp_answer: Option<String>,
    },
    /// An ACK carried SDP: the answer to the offer we made in a 2xx, when the INVITE or
    /// re-INVITE had no offer (RFC 3264 §4, RFC 3261 §13.2.1).
    SdpAnswer { call: CallHandle, sdp: String },
    /// A re-INVITE arrived (hold, resume, new offer, or a peer's session-timer refresh); answer
    /// with `Endpoint::answer_reoffer` (the current SDP when nothing changed) or
    /// `reject_reoffer`. `sdp_offer` is `None` for an offerless re-INVITE: the answer's SDP is
    /// then our offer.
    Reoffer {
        call: CallHandle,
        sdp_offer: Option<String>,
    },
    /// A DTMF digit from SIP INFO.
    Dtmf {
        call: CallHandle,
        digit: Digit,
        duration_ms: Option<u32>,
    },
    /// Progress of a transfer started with `Endpoint::transfer`.
    Transfer {
        call: CallHandle,
        progress: TransferProgress,
    },
    /// The call is over; the handle is no longer valid.
    Ended { call: CallHandle, reason: EndReason },
    /// The answer to `Endpoint::send_options`: the final status, or `None` on timeout (Timer F).
    OptionsResult { ping: u64, status: Option<u16> },
    /// A registration changed state.
    Registration {
        reg: RegId,
        state: RegistrationState,
    },
}
