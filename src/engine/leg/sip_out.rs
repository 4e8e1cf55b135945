//! The outbound half of the SIP leg: placing a call ([`SipLeg::dial`]) and waiting for its
//! answer ([`SipLeg::connect`]). An `impl SipLeg` block beside the inbound one, so that once
//! the callee answered the leg is the same leg: same media, same commands, same events.
//!
//! Dialling binds the RTP port first (our offer needs it), offers the configured codecs, and
//! hands the INVITE to the endpoint ([`crate::sip::dial`] does the SIP). While it rings the
//! leg only listens: 180/183 are noted (early media is not played), the answer's SDP starts
//! the media (the callee is who we called, so its SDP address counts as verified), and a call
//! that was never answered comes back as its [`DialEnd`]. Dropping the leg before the answer
//! cancels the call (the endpoint sends CANCEL).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::{LegInfo, SipDeps, SipLeg};
use crate::engine::endpoint_loop::CallEvent;
use crate::sdp::{self, LocalMedia};
use crate::sip::dial::DialRequest;
use crate::sip::digest::Credentials;
use crate::sip::event::{DialEnd, DialOutcome, EndReason};
use crate::sip::{Event, Transport};

/// Whom to call and how (the dialler resolved the account into these).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundCall {
    /// The Request-URI (`sip:+4930123@pbx.example.com`).
    pub target: String,
    /// The contact as given in the job (logs, `{{ call.to }}`).
    pub to: String,
    /// Our From URI; its user part is the caller id.
    pub from_uri: String,
    pub from_display: Option<String>,
    /// The registrar/proxy (or the target host), resolved.
    pub next_hop: SocketAddr,
    pub transport: Transport,
    pub route: Vec<String>,
    pub credentials: Option<Credentials>,
    pub ring_timeout: Duration,
}

/// When the far end showed life (for the register and the job's attempt).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DialTimes {
    /// The first 180/183.
    pub ringing: Option<Instant>,
    pub answered: Option<Instant>,
}

fn failed(reason: String) -> DialEnd {
    DialEnd {
        outcome: DialOutcome::Failed,
        status: None,
        reason,
    }
}

impl SipLeg {
    /// Sends the INVITE. `Err` when nothing was sent (no RTP port, a URI that cannot go on the
    /// wire, the endpoint gone).
    pub async fn dial(deps: Arc<SipDeps>, out: OutboundCall) -> Result<SipLeg, DialEnd> {
        let socket = deps
            .ports
            .allocate()
            .map_err(|e| failed(format!("no RTP port: {e}")))?;
        let port = socket.socket.local_addr().map_or(0, |a| a.port());
        let stamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut local = LocalMedia::new(deps.address.for_peer(out.next_hop), port, stamp);
        local.codecs = deps.codecs.clone();
        let sip_addr = deps.sip_addr;
        local.refuse = vec![sip_addr, SocketAddr::new(local.address, sip_addr.port())];
        local.srtp = crate::sdp::Sdes::new(deps.srtp)
            .map_err(|e| failed(format!("no randomness for an SRTP key: {e}")))?;
        let offer = sdp::create_offer(&local)
            .map_err(|e| failed(format!("cannot make an SDP offer: {e}")))?;
        let req = DialRequest {
            target: out.target.clone(),
            from_uri: out.from_uri.clone(),
            from_display: out.from_display.clone(),
            next_hop: out.next_hop,
            transport: out.transport,
            route: out.route.clone(),
            credentials: out.credentials.clone(),
            sdp_offer: offer.to_string(),
            ring_timeout: out.ring_timeout,
        };
        let dialled = match deps.endpoint.dial(req).await {
            Some(Ok(d)) => d,
            Some(Err(e)) => return Err(failed(e.to_string())),
            None => return Err(failed("the SIP endpoint stopped".into())),
        };
        let info = LegInfo {
            id: dialled.call.to_string(),
            from: crate::sip::message::uri_user(&out.from_uri)
                .unwrap_or(&out.from_uri)
                .to_string(),
            to: out.to.clone(),
            dialled: None,
            source: Some(out.next_hop),
            flow: None,
            params: Default::default(),
        };
        Ok(SipLeg {
            call: dialled.call,
            info,
            deps,
            events: dialled.events,
            offer: None,
            local: Some(local),
            pending_socket: Some(socket),
            media: None,
            media_rx: None,
            codec: None,
            confirmed: false,
            pending: VecDeque::new(),
            transfer: None,
            sip_over: false,
            ended: false,
            final_status: None,
            ringing_at: None,
        })
    }

    /// Waits for the answer: `Ok` with media started ([`super::LegEvent::Answered`] is queued
    /// for the driver), or how the attempt ended. `times` is filled as it goes.
    pub async fn connect(&mut self, times: &mut DialTimes) -> Result<(), DialEnd> {
        let call = self.call;
        loop {
            let ev = match self.events.recv().await {
                Some(CallEvent::Sip(ev)) => ev,
                Some(CallEvent::Refused { .. }) => continue,
                None => {
                    self.sip_over = true;
                    self.ended = true;
                    return Err(failed("the SIP endpoint stopped".into()));
                }
            };
            match ev {
                Event::Progress { status, .. } => {
                    tracing::debug!(%call, status, "ringing");
                    let at = *times.ringing.get_or_insert_with(Instant::now);
                    self.ringing_at.get_or_insert(at);
                }
                Event::Answered { sdp_answer, .. } => {
                    times.answered = Some(Instant::now());
                    self.final_status = Some(200);
                    self.confirmed = true;
                    let neg = match (&self.local, sdp_answer) {
                        (Some(local), Some(text)) => {
                            sdp::parse(&text).map_err(|e| e.to_string()).and_then(|d| {
                                sdp::process_answer(&d, local).map_err(|e| e.to_string())
                            })
                        }
                        _ => Err("the answer has no SDP".to_string()),
                    };
                    let socket = self.pending_socket.take();
                    let started = match (neg, socket) {
                        (Ok(neg), Some(socket)) => {
                            self.start_media(socket, neg).map_err(|e| e.to_string())
                        }
                        (Err(e), _) => Err(format!("unusable SDP answer: {e}")),
                        (Ok(_), None) => Err("no RTP socket".to_string()),
                    };
                    return started.map_err(|why| {
                        tracing::warn!(%call, reason = %why, "answered but unusable: hanging up");
                        self.hangup_sip();
                        DialEnd {
                            outcome: DialOutcome::Failed,
                            status: Some(200),
                            reason: why,
                        }
                    });
                }
                Event::Ended { reason, .. } => {
                    self.sip_over = true;
                    self.ended = true;
                    if let EndReason::NotConnected(d) = &reason {
                        self.final_status = d.status;
                    }
                    return Err(match reason {
                        EndReason::NotConnected(d) => d,
                        other => failed(format!("{other:?}")),
                    });
                }
                _ => {}
            }
        }
    }
}
