//! The SIP leg against a scripted endpoint: its commands are read from the endpoint handle's
//! inbox, SIP and media events are pushed into its channels. Media sessions are real (loopback
//! RTP sockets on the media workers) where answering needs one.

use std::net::IpAddr;
use std::time::Duration;

use super::*;
use crate::engine::endpoint_loop::Cmd;
use crate::engine::media::{PromptCacheConfig, RtpPortAllocator};
use crate::sip::call::{CallError, CallState};

const CALL: CallHandle = CallHandle(7);
const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                     m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";

struct Rig {
    leg: SipLeg,
    /// What the leg told the endpoint.
    inbox: mpsc::UnboundedReceiver<Cmd>,
    /// SIP events for the leg.
    sip: mpsc::UnboundedSender<CallEvent>,
}

fn rig(offer: Option<&str>) -> Rig {
    let (endpoint, inbox) = EndpointHandle::channel();
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let deps = Arc::new(SipDeps {
        endpoint,
        ports: RtpPortAllocator::new(lo, 50000..=59998).unwrap(),
        prompts: Arc::new(PromptCache::new(PromptCacheConfig::default())),
        media: MediaConfig::default(),
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        answer_delay: Duration::ZERO,
        address: MediaAddress {
            advertise: None,
            listen: lo,
            fallback: lo,
        },
        sip_addr: "127.0.0.1:5060".parse().unwrap(),
        inbound: SharedInbound::default(),
        srtp: crate::sdp::SrtpPolicy::Off,
    });
    let (sip, events) = mpsc::unbounded_channel();
    let inc = Incoming {
        call: CALL,
        from: "sip:+3545551234@pbx".into(),
        to: "sip:5000@us".into(),
        to_user: Some("5000".into()),
        sdp_offer: offer.map(str::to_string),
        source: "127.0.0.1:5060".parse().unwrap(),
        events,
    };
    Rig {
        leg: SipLeg::new(inc, deps),
        inbox,
        sip,
    }
}

impl Rig {
    /// The call commands sent so far.
    fn sent(&mut self) -> Vec<CallCmd> {
        let mut out = Vec::new();
        while let Ok(cmd) = self.inbox.try_recv() {
            match cmd {
                Cmd::Call(CALL, c) => out.push(c),
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    async fn next(&mut self) -> LegEvent {
        tokio::time::timeout(Duration::from_secs(5), self.leg.next_event())
            .await
            .expect("an event")
    }

    /// The leg as if answered, with a media event channel under the test's control.
    fn up(&mut self) -> mpsc::UnboundedSender<MediaEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.leg.media_rx = Some(rx);
        tx
    }
}

fn kinds(cmds: &[CallCmd]) -> Vec<&'static str> {
    cmds.iter()
        .map(|c| match c {
            CallCmd::Ringing => "ringing",
            CallCmd::Answer(_) => "answer",
            CallCmd::Reject(404) => "reject 404",
            CallCmd::Reject(488) => "reject 488",
            CallCmd::Reject(_) => "reject",
            CallCmd::Hangup => "hangup",
            CallCmd::AnswerReoffer(_) => "answer reoffer",
            CallCmd::RejectReoffer(_) => "reject reoffer",
            CallCmd::Transfer(_) => "transfer",
        })
        .collect()
}

#[tokio::test]
async fn a_media_session_that_dies_mid_call_hangs_the_call_up() {
    let mut r = rig(Some(OFFER));
    let media = r.up();
    // A panic in the media worker drops the session, and with it the event sender.
    drop(media);
    assert_eq!(r.next().await, LegEvent::Ended(LegEnd::MediaLost));
    assert_eq!(kinds(&r.sent()), ["hangup"]);
    // The BYE's own `Ended` is not reported again.
    let bye = Event::Ended {
        call: CALL,
        reason: EndReason::LocalBye { confirmed: true },
    };
    r.sip.send(CallEvent::Sip(bye)).unwrap();
    let again = tokio::time::timeout(Duration::from_millis(50), r.leg.next_event()).await;
    assert!(again.is_err(), "nothing after Ended");
}

#[tokio::test]
async fn no_rtp_from_the_caller_hangs_up() {
    let mut r = rig(Some(OFFER));
    let media = r.up();
    media.send(MediaEvent::RtpTimeout).unwrap();
    assert_eq!(r.next().await, LegEvent::Ended(LegEnd::NoMedia));
    assert_eq!(kinds(&r.sent()), ["hangup"]);
}

#[tokio::test]
async fn a_refused_transfer_is_reported_to_its_request() {
    let mut r = rig(Some(OFFER));
    let _media = r.up();
    r.leg.command(LegCmd::Transfer {
        id: RequestId(4),
        target: "sip:op@pbx".into(),
    });
    assert_eq!(r.sent(), [CallCmd::Transfer("sip:op@pbx".into())]);
    let error = CallError::WrongState {
        call: CALL,
        state: CallState::Ending,
        action: "transfer",
    };
    r.sip
        .send(CallEvent::Refused {
            cmd: CallCmd::Transfer("sip:op@pbx".into()),
            error,
        })
        .unwrap();
    match r.next().await {
        LegEvent::TransferResult {
            id: RequestId(4),
            result: Err(why),
        } => assert!(why.starts_with("refused: call-7: cannot transfer"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn transfer_progress_reports_one_outcome() {
    let mut r = rig(Some(OFFER));
    let _media = r.up();
    r.leg.command(LegCmd::Transfer {
        id: RequestId(2),
        target: "sip:op@pbx".into(),
    });
    for progress in [
        TransferProgress::Accepted,
        TransferProgress::Trying { status: 180 },
        TransferProgress::Failed {
            status: 486,
            reason: "486 Busy Here".into(),
        },
    ] {
        let ev = Event::Transfer {
            call: CALL,
            progress,
        };
        r.sip.send(CallEvent::Sip(ev)).unwrap();
    }
    assert_eq!(
        r.next().await,
        LegEvent::TransferResult {
            id: RequestId(2),
            result: Err("486 Busy Here".into())
        }
    );
}

#[tokio::test]
async fn the_callers_bye_ends_the_leg_without_a_bye_of_ours() {
    let mut r = rig(Some(OFFER));
    let _media = r.up();
    let bye = Event::Ended {
        call: CALL,
        reason: EndReason::RemoteBye,
    };
    r.sip.send(CallEvent::Sip(bye)).unwrap();
    assert_eq!(r.next().await, LegEvent::Ended(LegEnd::Remote));
    assert!(r.sent().is_empty());
}

#[tokio::test]
async fn a_prompt_without_media_fails_at_once() {
    let mut r = rig(Some(OFFER));
    r.leg.command(LegCmd::Play {
        id: RequestId(1),
        media: crate::machine::io::Media::File("a.wav".into()),
    });
    assert!(matches!(
        r.next().await,
        LegEvent::PlaybackFailed {
            id: RequestId(1),
            ..
        }
    ));
}

#[tokio::test]
async fn an_offer_is_answered_with_our_codec_order_and_the_flow_may_start() {
    let mut r = rig(Some(OFFER));
    assert_eq!(r.leg.info().dialled.as_deref(), Some("5000"));
    assert_eq!(r.leg.info().from, "+3545551234");
    r.leg.answer().await.expect("answered");
    let sent = r.sent();
    let [CallCmd::Answer(sdp)] = sent.as_slice() else {
        panic!("{sent:?}");
    };
    assert!(sdp.contains("RTP/AVP 0 101"), "{sdp}");
    assert_eq!(r.next().await, LegEvent::Answered);
    assert_eq!(r.leg.audio_format().rate, AudioFormat::NARROWBAND.rate);
    assert_eq!(r.leg.audio_format().g711, Some(crate::media::g711::Law::Mu));
}

#[tokio::test]
async fn an_unusable_offer_gets_488_and_no_answer() {
    let mut r = rig(Some(&OFFER.replace("0 8 101", "9")));
    assert!(matches!(r.leg.answer().await, Err(LegEnd::Failed(_))));
    assert_eq!(kinds(&r.sent()), ["reject 488"]);
}

#[tokio::test]
async fn an_offerless_invite_starts_when_the_ack_brings_the_answer() {
    let mut r = rig(None);
    r.leg.answer().await.expect("answered");
    let sent = r.sent();
    let [CallCmd::Answer(offer)] = sent.as_slice() else {
        panic!("{sent:?}");
    };
    assert!(offer.contains("m=audio "), "our offer: {offer}");
    // The caller answers from its own port (ours would be refused as a reflection target).
    let answer = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4002 RTP/AVP 8\r\n".to_string();
    let ack = Event::SdpAnswer {
        call: CALL,
        sdp: answer,
    };
    r.sip.send(CallEvent::Sip(ack)).unwrap();
    assert_eq!(r.next().await, LegEvent::Answered);
}

#[tokio::test]
async fn an_unroutable_call_is_rejected_404() {
    let mut r = rig(Some(OFFER));
    let leg = std::mem::replace(&mut r.leg, rig(None).leg);
    leg.reject(Reject::NoRoute);
    assert_eq!(kinds(&r.sent()), ["reject 404"]);
}

#[tokio::test]
async fn a_leg_dropped_with_its_dialog_up_hangs_up() {
    let mut r = rig(Some(OFFER));
    let _media = r.up();
    let leg = std::mem::replace(&mut r.leg, rig(None).leg);
    drop(leg);
    assert_eq!(kinds(&r.sent()), ["hangup"]);
}
