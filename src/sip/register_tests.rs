//! Registration on virtual time: digest challenges (MD5, SHA-256, stale, wrong password),
//! refresh timing, backoff, registrar restart, 423, unregister, redaction.

use std::time::{Duration, Instant};

use super::*;
use crate::sip::build::OutMessage;
use crate::sip::digest::{compute_response, Algorithm};
use crate::sip::ids::IdGen;
use crate::sip::message::{parse, Inbound};

const PASSWORD: &str = "s3cr3t-pass";

struct Rig {
    reg: Registration,
    ids: IdGen,
    t0: Instant,
    now: Instant,
    events: Vec<RegistrationState>,
    requests: Vec<(OutMessage, Purpose)>,
    /// Our TLS port (`Ctx::tls_port`).
    tls_port: Option<u16>,
}

impl Rig {
    fn new() -> Rig {
        let cfg = RegistrationConfig::new(
            "192.0.2.10:5060".parse().expect("addr"),
            "pbx.example.com",
            "1001",
            Secret::new(PASSWORD),
        );
        let t0 = Instant::now();
        Rig {
            reg: Registration::new(RegId(1), cfg),
            ids: IdGen::new(9),
            t0,
            now: t0,
            events: Vec::new(),
            requests: Vec::new(),
            tls_port: None,
        }
    }

    fn run(&mut self, f: impl FnOnce(&mut Registration, &mut Ctx<'_>)) {
        let mut out = Vec::new();
        let mut ctx = Ctx {
            now: self.now,
            ids: &mut self.ids,
            out: &mut out,
            local: "127.0.0.1:5060".parse().expect("addr"),
            tls_port: self.tls_port,
        };
        f(&mut self.reg, &mut ctx);
        for o in out {
            match o {
                TuOutput::Request {
                    msg, purpose, peer, ..
                } => {
                    assert_eq!(peer.dest.to_string(), "192.0.2.10:5060");
                    self.requests.push((msg, purpose));
                }
                TuOutput::Event(Event::Registration { state, .. }) => self.events.push(state),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn last(&self) -> &OutMessage {
        &self.requests.last().expect("a request was sent").0
    }

    fn purpose(&self) -> Purpose {
        self.requests.last().expect("a request was sent").1
    }

    /// The registrar's answer to the last request.
    fn reply(&mut self, status: u16, extra: &str) {
        let req = parse(&self.last().to_bytes()).expect("our REGISTER parses");
        let text = format!(
            "SIP/2.0 {status} {}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=reg\r\nCall-ID: {}\r\nCSeq: {} REGISTER\r\n{extra}Content-Length: 0\r\n\r\n",
            crate::sip::build::reason_phrase(status),
            req.core.top_via().raw,
            req.core.from.raw,
            req.core.to.raw,
            req.core.call_id,
            req.core.cseq.seq
        );
        let resp: Inbound = parse(text.as_bytes()).expect("test response parses");
        let purpose = self.purpose();
        self.run(|r, ctx| r.on_response(purpose, &resp, ctx));
    }

    fn advance_to_next_timer(&mut self) {
        let at = self.reg.poll_timeout().expect("a timer is armed");
        self.now = at;
        self.run(|r, ctx| r.handle_timeout(ctx));
    }
}

fn param<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(", ").find_map(|p| {
        let (k, v) = p.trim_start_matches("Digest ").split_once('=')?;
        (k == name).then(|| v.trim_matches('"'))
    })
}

const MD5_CHALLENGE: &str = "WWW-Authenticate: Digest realm=\"asterisk\",nonce=\"1732150000/8d1f2e3c\",opaque=\"5b8f0a1c\",algorithm=MD5,qop=\"auth\"\r\n";

fn check_authorization(m: &OutMessage, alg: Algorithm, realm: &str, nonce: &str, nc: &str) {
    let h = m.get("Authorization").expect("Authorization header");
    assert_eq!(param(h, "nc"), Some(nc), "{h}");
    assert_eq!(param(h, "username"), Some("1001"));
    assert_eq!(param(h, "uri"), Some("sip:pbx.example.com"));
    let cnonce = param(h, "cnonce").expect("cnonce");
    let expected = compute_response(
        alg,
        "1001",
        realm,
        &Secret::new(PASSWORD),
        "REGISTER",
        "sip:pbx.example.com",
        nonce,
        nc,
        cnonce,
        Some("auth"),
    );
    assert_eq!(param(h, "response"), Some(expected.as_str()), "{h}");
}

#[test]
fn md5_challenge_then_registered_then_refresh_at_85_percent() {
    let mut r = Rig::new();
    r.run(|reg, ctx| reg.start(ctx));
    let first = r.last().clone();
    assert!(first
        .start_line
        .starts_with("REGISTER sip:pbx.example.com SIP/2.0"));
    assert_eq!(first.get("To"), Some("<sip:1001@pbx.example.com>"));
    assert_eq!(first.get("Expires"), Some("3600"));
    assert_eq!(first.get("Contact"), Some("<sip:1001@127.0.0.1:5060>"));
    assert!(first.get("Authorization").is_none());
    r.reply(401, MD5_CHALLENGE);
    let second = r.last().clone();
    assert_eq!(second.get("Call-ID"), first.get("Call-ID"), "same Call-ID");
    assert_eq!(second.get("CSeq"), Some("2 REGISTER"));
    check_authorization(
        &second,
        Algorithm::Md5,
        "asterisk",
        "1732150000/8d1f2e3c",
        "00000001",
    );
    assert!(second
        .get("Authorization")
        .is_some_and(|h| h.contains("opaque=\"5b8f0a1c\"")));

    r.reply(200, "Contact: <sip:1001@127.0.0.1:5060>;expires=120\r\n");
    let until = r.t0 + Duration::from_secs(120);
    assert_eq!(r.reg.state(), &RegistrationState::Registered { until });
    assert_eq!(
        r.reg.poll_timeout(),
        Some(r.t0 + Duration::from_secs(102)),
        "85% of 120 s"
    );
    assert_eq!(
        r.events,
        vec![
            RegistrationState::Registering,
            RegistrationState::Registered { until }
        ]
    );
    r.advance_to_next_timer();
    let refresh = r.last().clone();
    assert_eq!(refresh.get("CSeq"), Some("3 REGISTER"));
    check_authorization(
        &refresh,
        Algorithm::Md5,
        "asterisk",
        "1732150000/8d1f2e3c",
        "00000002",
    );
}

#[test]
fn sha256_challenge() {
    let mut r = Rig::new();
    r.run(|reg, ctx| reg.start(ctx));
    r.reply(
        401,
        "WWW-Authenticate: Digest realm=\"kamailio\", nonce=\"abc123\", algorithm=SHA-256, qop=\"auth\"\r\n",
    );
    let m = r.last().clone();
    assert!(m
        .get("Authorization")
        .is_some_and(|h| h.contains("algorithm=SHA-256")));
    check_authorization(&m, Algorithm::Sha256, "kamailio", "abc123", "00000001");
    r.reply(200, "Expires: 300\r\n");
    assert!(matches!(
        r.reg.state(),
        RegistrationState::Registered { .. }
    ));
}

#[test]
fn proxy_challenge_uses_proxy_authorization() {
    let mut r = Rig::new();
    r.run(|reg, ctx| reg.start(ctx));
    r.reply(
        407,
        "Proxy-Authenticate: Digest realm=\"p\", nonce=\"n1\", qop=\"auth\"\r\n",
    );
    assert!(r.last().get("Proxy-Authorization").is_some());
    assert!(r.last().get("Authorization").is_none());
}

#[test]
fn wrong_password_fails_stale_nonce_retries() {
    let mut r = Rig::new();
    r.run(|reg, ctx| reg.start(ctx));
    r.reply(401, MD5_CHALLENGE);
    // stale=true with a new nonce: retry at once, not a failure.
    r.reply(
        401,
        "WWW-Authenticate: Digest realm=\"asterisk\",nonce=\"fresh\",qop=\"auth\",stale=true\r\n",
    );
    assert_eq!(r.requests.len(), 3);
    check_authorization(r.last(), Algorithm::Md5, "asterisk", "fresh", "00000001");
    // The same nonce challenged again without stale: the password is wrong.
    r.reply(
        401,
        "WWW-Authenticate: Digest realm=\"asterisk\",nonce=\"fresh\",qop=\"auth\"\r\n",
    );
    assert_eq!(r.requests.len(), 3, "no blind retry");
    match r.reg.state() {
        RegistrationState::Failed { retry_at, reason } => {
            assert_eq!(*reason, RegisterFailure::AuthRejected { status: 401 });
            assert_eq!(*retry_at, r.now + Duration::from_secs(2));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn backoff_doubles_from_2s_to_60s() {
    let mut r = Rig::new();
    r.run(|reg, ctx| reg.start(ctx));
    let mut delays = Vec::new();
    for _ in 0..8 {
        r.reply(503, "");
        match r.reg.state() {
            RegistrationState::Failed { retry_at, .. } => {
                delays.push((*retry_at - r.now).as_secs())
            }
            other => panic!("{other:?}"),
        }
        r.advance_to_next_timer();
        assert_eq!(r.reg.state(), &RegistrationState::Registering);
    }
    assert_eq!(delays, vec![2, 4, 8, 16, 32, 60, 60, 60]);
    // Success resets the backoff.
    r.reply(200, "Expires: 60\r\n");
    r.now += Duration::from_secs(1);
    r.reply(503, "");
    assert!(
        matches!(r.reg.state(), RegistrationState::Failed { retry_at, .. } if *retry_at == r.now + Duration::from_secs(2))
    );
}

#[test]
fn timeout_is_a_failure_with_backoff() {
    let mut r = Rig::new();
    r.run(|reg, ctx| reg.start(ctx));
    r.now += Duration::from_secs(32);
    r.run(|reg, ctx| reg.on_timeout(Purpose::Register, ctx));
    assert!(matches!(
        r.reg.state(),
        RegistrationState::Failed {
            reason: RegisterFailure::Timeout,
            ..
        }
    ));
}

#[test]
fn registrar_restart_rechallenges_the_refresh_and_recovers() {
    let mut r = Rig::new();
    r.run(|reg, ctx| reg.start(ctx));
    r.reply(401, MD5_CHALLENGE);
    r.reply(200, "Expires: 100\r\n");
    r.advance_to_next_timer(); // refresh with the old nonce
    r.reply(
        401,
        "WWW-Authenticate: Digest realm=\"asterisk\",nonce=\"after-restart\",qop=\"auth\"\r\n",
    );
    check_authorization(
        r.last(),
        Algorithm::Md5,
        "asterisk",
        "after-restart",
        "00000001",
    );
    r.reply(200, "Expires: 100\r\n");
    assert!(matches!(
        r.reg.state(),
        RegistrationState::Registered { .. }
    ));
    assert!(!r
        .events
        .iter()
        .any(|s| matches!(s, RegistrationState::Failed { .. })));
}

#[test]
fn interval_too_brief_retries_with_min_expires() {
    let mut r = Rig::new();
    r.run(|reg, ctx| reg.start(ctx));
    r.reply(423, "Min-Expires: 7200\r\n");
    assert_eq!(r.last().get("Expires"), Some("7200"));
}

#[test]
fn unregister_sends_expires_zero_with_credentials() {
    let mut r = Rig::new();
    r.run(|reg, ctx| reg.start(ctx));
    r.reply(401, MD5_CHALLENGE);
    r.reply(200, "Expires: 3600\r\n");
    let mut sent = false;
    r.run(|reg, ctx| sent = reg.unregister(ctx));
    assert!(sent);
    assert_eq!(r.purpose(), Purpose::Unregister);
    assert_eq!(r.last().get("Expires"), Some("0"));
    check_authorization(
        r.last(),
        Algorithm::Md5,
        "asterisk",
        "1732150000/8d1f2e3c",
        "00000002",
    );
    assert_eq!(r.reg.state(), &RegistrationState::Unregistering);
    r.reply(200, "");
    assert_eq!(r.reg.state(), &RegistrationState::Unregistered);
    assert_eq!(r.reg.poll_timeout(), None, "no refresh after unregistering");
}

#[test]
fn password_never_in_debug_or_requests() {
    let mut r = Rig::new();
    r.run(|reg, ctx| reg.start(ctx));
    r.reply(401, MD5_CHALLENGE);
    r.reply(403, "");
    let dbg = format!("{:?} {:?} {:?}", r.reg, r.events, r.reg.config());
    assert!(!dbg.contains(PASSWORD), "{dbg}");
    for (m, _) in &r.requests {
        assert!(!String::from_utf8_lossy(&m.to_bytes()).contains(PASSWORD));
    }
    assert!(matches!(
        r.reg.state(),
        RegistrationState::Failed {
            reason: RegisterFailure::AuthRejected { status: 403 },
            ..
        }
    ));
}

#[test]
fn domain_port_stays_in_request_uri_only() {
    assert_eq!(aor_host("pbx.example.com:5070"), "pbx.example.com");
    assert_eq!(aor_host("[2001:db8::1]:5070"), "[2001:db8::1]");
    assert_eq!(aor_host("10.0.0.1"), "10.0.0.1");
    let mut r = Rig::new();
    r.reg.cfg.domain = "pbx.example.com:5070".into();
    r.run(|reg, ctx| reg.start(ctx));
    assert!(r
        .last()
        .start_line
        .starts_with("REGISTER sip:pbx.example.com:5070 SIP/2.0"));
    assert_eq!(r.last().get("To"), Some("<sip:1001@pbx.example.com>"));
}

#[test]
fn absurd_expiry_values_do_not_overflow() {
    let mut r = Rig::new();
    r.run(|reg, ctx| reg.start(ctx));
    r.reply(200, "Expires: 18446744073709551615\r\n");
    assert!(matches!(
        r.reg.state(),
        RegistrationState::Registered { .. }
    ));
    let mut r = Rig::new();
    r.run(|reg, ctx| reg.start(ctx));
    r.reply(423, "Min-Expires: 99999999999999999999\r\n"); // does not even parse as u64
    assert!(matches!(r.reg.state(), RegistrationState::Failed { .. }));
    let mut r = Rig::new();
    r.reg.cfg.backoff_base = Duration::from_secs(u64::MAX / 2);
    r.reg.cfg.backoff_max = Duration::from_secs(60);
    assert_eq!(r.reg.backoff(17), Duration::from_secs(60));
}

#[test]
fn late_answer_to_a_register_sent_before_unregister_is_ignored() {
    let mut r = Rig::new();
    r.run(|reg, ctx| reg.start(ctx));
    let in_flight = r.last().clone();
    let mut sent = false;
    r.run(|reg, ctx| sent = reg.unregister(ctx));
    assert!(sent, "a REGISTER was in flight, so unregister");
    // The registrar answers the old REGISTER after the unregister went out.
    let req = parse(&in_flight.to_bytes()).expect("parses");
    let late = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=x\r\nCall-ID: {}\r\nCSeq: {} REGISTER\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n",
        req.core.top_via().raw, req.core.from.raw, req.core.to.raw, req.core.call_id, req.core.cseq.seq
    );
    let late = parse(late.as_bytes()).expect("parses");
    r.run(|reg, ctx| reg.on_response(Purpose::Register, &late, ctx));
    assert_eq!(r.reg.state(), &RegistrationState::Unregistering);
    assert_eq!(r.reg.poll_timeout(), None, "no refresh armed");
    r.run(|reg, ctx| reg.on_timeout(Purpose::Register, ctx));
    assert_eq!(r.reg.poll_timeout(), None, "no retry armed");
}

#[test]
fn over_tls_via_and_contact_carry_the_tls_port() {
    let mut r = Rig::new();
    r.reg.cfg.transport = Transport::Tls;
    r.tls_port = Some(5071);
    r.run(|reg, ctx| reg.start(ctx));
    let via = r.last().get("Via").expect("Via").to_string();
    assert!(via.starts_with("SIP/2.0/TLS 127.0.0.1:5071;"), "{via}");
    assert_eq!(
        r.last().get("Contact"),
        Some("<sip:1001@127.0.0.1:5071;transport=tls>")
    );
    // The registrar's 200 lists our TLS Contact with its expiry: that is what is granted.
    r.reply(
        200,
        "Contact: <sip:1001@127.0.0.1:5071;transport=tls>;expires=120\r\n",
    );
    assert!(matches!(
        r.events.last(),
        Some(RegistrationState::Registered { until }) if *until == r.now + Duration::from_secs(120)
    ));
}
