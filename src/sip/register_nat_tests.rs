//! Registration behind a NAT on virtual time: the public address learned from `received`/`rport`
//! (on the 200, on the 401, not from another source, not when off, bounded when it flaps), the
//! old contact removed, UDP OPTIONS and TCP CRLF keep-alives.

use std::time::{Duration, Instant};

use super::*;
use crate::sip::build::OutMessage;
use crate::sip::ids::IdGen;
use crate::sip::message::{parse, Inbound};

const REGISTRAR: &str = "192.0.2.10:5060";
const LOCAL: &str = "10.77.1.2:5060";
const CHALLENGE: &str =
    "WWW-Authenticate: Digest realm=\"pbx\",nonce=\"n1\",algorithm=MD5,qop=\"auth\"\r\n";

enum Out {
    Request(OutMessage, Purpose),
    Raw(Vec<u8>),
}

struct Rig {
    reg: Registration,
    ids: IdGen,
    now: Instant,
    out: Vec<Out>,
}

impl Rig {
    fn new(edit: impl FnOnce(&mut RegistrationConfig)) -> Rig {
        let mut cfg = RegistrationConfig::new(
            REGISTRAR.parse().expect("addr"),
            "pbx.example.com",
            "1001",
            Secret::new("pw"),
        );
        edit(&mut cfg);
        Rig {
            reg: Registration::new(RegId(1), cfg),
            ids: IdGen::new(3),
            now: Instant::now(),
            out: Vec::new(),
        }
    }

    fn run(&mut self, f: impl FnOnce(&mut Registration, &mut Ctx<'_>)) {
        let mut out = Vec::new();
        let mut ctx = Ctx {
            now: self.now,
            ids: &mut self.ids,
            out: &mut out,
            local: LOCAL.parse().expect("addr"),
            tls_port: None,
        };
        f(&mut self.reg, &mut ctx);
        for o in out {
            match o {
                TuOutput::Request {
                    msg, purpose, peer, ..
                } => {
                    assert_eq!(peer.dest.to_string(), REGISTRAR);
                    self.out.push(Out::Request(msg, purpose));
                }
                TuOutput::Raw { bytes, peer } => {
                    assert_eq!(peer.dest.to_string(), REGISTRAR);
                    self.out.push(Out::Raw(bytes));
                }
                TuOutput::Event(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// The requests sent since the last call.
    fn requests(&mut self) -> Vec<(OutMessage, Purpose)> {
        std::mem::take(&mut self.out)
            .into_iter()
            .map(|o| match o {
                Out::Request(m, p) => (m, p),
                Out::Raw(b) => panic!("raw bytes {b:?}"),
            })
            .collect()
    }

    fn one(&mut self) -> (OutMessage, Purpose) {
        let mut r = self.requests();
        assert_eq!(r.len(), 1, "one request: {:?}", r);
        r.remove(0)
    }

    /// The registrar's answer to `req`, its top Via extended with `via_params` (what the
    /// registrar stamps), from `source`.
    fn reply_from(
        &mut self,
        source: &str,
        req: &(OutMessage, Purpose),
        status: u16,
        via_params: &str,
        extra: &str,
    ) {
        let p = parse(&req.0.to_bytes()).expect("our request parses");
        let via = p.core.top_via().raw.replace(";rport", "") + via_params;
        let text = format!(
            "SIP/2.0 {status} X\r\nVia: {via}\r\nFrom: {}\r\nTo: {};tag=reg\r\nCall-ID: {}\r\nCSeq: {} {}\r\n{extra}Content-Length: 0\r\n\r\n",
            p.core.from.raw,
            p.core.to.raw,
            p.core.call_id,
            p.core.cseq.seq,
            p.core.cseq.method,
        );
        let resp: Inbound = parse(text.as_bytes()).expect("test response parses");
        let source: SocketAddr = source.parse().expect("addr");
        let purpose = req.1;
        self.run(|r, ctx| r.on_response_from(source, purpose, &resp, ctx));
    }

    fn reply(&mut self, req: &(OutMessage, Purpose), status: u16, via_params: &str, extra: &str) {
        self.reply_from(REGISTRAR, req, status, via_params, extra);
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.run(|r, ctx| r.handle_timeout(ctx));
    }
}

fn contact(m: &OutMessage) -> &str {
    m.get("Contact").expect("a Contact")
}

fn via_sent_by(m: &OutMessage) -> String {
    let p = parse(&m.to_bytes()).expect("parses");
    p.core.top_via().sent_by()
}

/// Registers through a 401 with `nat` stamped on the 200; returns the 200'd REGISTER.
fn registered_behind(r: &mut Rig, nat: &str) -> (OutMessage, Purpose) {
    r.run(|reg, ctx| reg.start(ctx));
    let first = r.one();
    r.reply(&first, 401, ";rport=5060", CHALLENGE);
    let authed = r.one();
    r.reply(&authed, 200, nat, "Expires: 600\r\n");
    authed
}

#[test]
fn received_and_rport_on_the_200_re_register_with_the_public_contact_and_drop_the_old_one() {
    let mut r = Rig::new(|_| {});
    let authed = registered_behind(&mut r, ";received=203.0.113.7;rport=40000");
    assert_eq!(contact(&authed.0), "<sip:1001@10.77.1.2:5060>");
    assert!(matches!(
        r.reg.state(),
        RegistrationState::Registered { .. }
    ));
    assert_eq!(
        r.reg.public_addr(),
        Some("203.0.113.7:40000".parse().unwrap())
    );
    // At once: the public contact, the private one removed, Via with the public address.
    let again = r.one();
    assert_eq!(again.1, Purpose::Register);
    assert_eq!(
        contact(&again.0),
        "<sip:1001@203.0.113.7:40000>, <sip:1001@10.77.1.2:5060>;expires=0"
    );
    assert_eq!(via_sent_by(&again.0), "203.0.113.7:40000");
    assert!(
        again.0.get("Authorization").is_some(),
        "same digest session"
    );
    // The registrar confirms the public address: nothing more until the refresh.
    r.reply(
        &again,
        200,
        ";received=203.0.113.7;rport=40000",
        "Expires: 600\r\n",
    );
    assert!(r.requests().is_empty());
    r.advance(Duration::from_secs(511));
    let refresh = r.one();
    assert_eq!(contact(&refresh.0), "<sip:1001@203.0.113.7:40000>");
    // Unregistering removes the public contact the registrar holds.
    r.reply(&refresh, 200, ";rport=40000", "Expires: 600\r\n");
    r.run(|reg, ctx| {
        reg.unregister(ctx);
    });
    let bye = r.one();
    assert_eq!(bye.1, Purpose::Unregister);
    assert_eq!(contact(&bye.0), "<sip:1001@203.0.113.7:40000>");
}

#[test]
fn learned_on_the_401_the_authenticated_register_already_carries_it() {
    let mut r = Rig::new(|_| {});
    r.run(|reg, ctx| reg.start(ctx));
    let first = r.one();
    r.reply(&first, 401, ";received=198.51.100.4;rport=1234", CHALLENGE);
    let authed = r.one();
    assert_eq!(contact(&authed.0), "<sip:1001@198.51.100.4:1234>");
    r.reply(
        &authed,
        200,
        ";received=198.51.100.4;rport=1234",
        "Expires: 600\r\n",
    );
    assert!(r.requests().is_empty(), "nothing to re-register");
}

#[test]
fn no_nat_no_learned_address_and_no_second_register() {
    let mut r = Rig::new(|_| {});
    registered_behind(&mut r, ";rport=5060");
    assert_eq!(r.reg.public_addr(), None);
    assert!(r.requests().is_empty());
}

#[test]
fn an_answer_from_another_address_teaches_nothing() {
    let mut r = Rig::new(|_| {});
    r.run(|reg, ctx| reg.start(ctx));
    let first = r.one();
    r.reply_from(
        "192.0.2.99:5060",
        &first,
        401,
        ";received=203.0.113.66;rport=6666",
        CHALLENGE,
    );
    let authed = r.one();
    assert_eq!(contact(&authed.0), "<sip:1001@10.77.1.2:5060>");
    assert_eq!(r.reg.public_addr(), None);
}

#[test]
fn learning_can_be_turned_off() {
    let mut r = Rig::new(|c| c.learn_public = false);
    registered_behind(&mut r, ";received=203.0.113.7;rport=40000");
    assert_eq!(r.reg.public_addr(), None);
    assert!(r.requests().is_empty());
}

#[test]
fn a_nat_that_changes_port_on_every_answer_causes_a_bounded_number_of_registers() {
    let mut r = Rig::new(|_| {});
    registered_behind(&mut r, ";received=203.0.113.7;rport=40000");
    let mut rebinds = 1;
    for port in 40001..40020u16 {
        let Some(req) = r.requests().pop() else { break };
        rebinds += 1;
        let params = format!(";received=203.0.113.7;rport={port}");
        r.reply(&req, 200, &params, "Expires: 600\r\n");
    }
    assert!(r.requests().is_empty());
    assert_eq!(rebinds, crate::sip::nat::MAX_REBINDS as usize + 1);
    assert!(matches!(
        r.reg.state(),
        RegistrationState::Registered { .. }
    ));
}

#[test]
fn udp_keepalive_is_an_options_each_interval_and_a_new_public_port_re_registers() {
    let mut r = Rig::new(|c| c.keepalive = Duration::from_secs(25));
    registered_behind(&mut r, ";rport=5060");
    assert!(r.requests().is_empty());
    assert_eq!(r.reg.poll_timeout(), Some(r.now + Duration::from_secs(25)));
    r.advance(Duration::from_secs(24));
    assert!(r.requests().is_empty());
    r.advance(Duration::from_secs(1));
    let ka = r.one();
    assert_eq!(ka.1, Purpose::KeepAlive);
    assert!(ka
        .0
        .start_line
        .starts_with("OPTIONS sip:pbx.example.com SIP/2.0"));
    // Any answer holds the binding; 404 included.
    r.reply(&ka, 404, ";rport=5060", "");
    assert!(r.requests().is_empty());
    r.advance(Duration::from_secs(25));
    let ka = r.one();
    assert_eq!(ka.1, Purpose::KeepAlive);
    // The NAT rebound us to another port: register the new contact now.
    r.reply(&ka, 200, ";received=203.0.113.7;rport=41000", "");
    let again = r.one();
    assert_eq!(again.1, Purpose::Register);
    assert!(contact(&again.0).starts_with("<sip:1001@203.0.113.7:41000>"));
}

#[test]
fn a_keepalive_without_answer_refreshes_the_registration() {
    let mut r = Rig::new(|c| c.keepalive = Duration::from_secs(25));
    registered_behind(&mut r, ";rport=5060");
    r.advance(Duration::from_secs(25));
    let ka = r.one();
    r.run(|reg, ctx| reg.on_timeout(ka.1, ctx));
    let again = r.one();
    assert_eq!(again.1, Purpose::Register);
}

#[test]
fn tcp_keepalive_is_a_double_crlf_and_none_after_unregister() {
    let mut r = Rig::new(|c| {
        c.keepalive = Duration::from_secs(30);
        c.transport = Transport::Tcp;
    });
    registered_behind(&mut r, ";rport=5060");
    r.advance(Duration::from_secs(30));
    match std::mem::take(&mut r.out).as_slice() {
        [Out::Raw(b)] => assert_eq!(b.as_slice(), b"\r\n\r\n"),
        _ => panic!("expected one CRLF keep-alive"),
    }
    r.run(|reg, ctx| {
        reg.unregister(ctx);
    });
    r.requests();
    r.advance(Duration::from_secs(300));
    assert!(r.out.is_empty(), "no keep-alive after unregistering");
}

#[test]
fn keepalive_off_by_default() {
    let mut r = Rig::new(|_| {});
    registered_behind(&mut r, ";rport=5060");
    // Only the refresh (85 % of 600 s) is armed.
    assert_eq!(r.reg.poll_timeout(), Some(r.now + Duration::from_secs(510)));
}

#[test]
fn registrations_over_tcp_and_tls_learn_nothing_from_their_connections_port() {
    for transport in [Transport::Tcp, Transport::Tls] {
        let mut r = Rig::new(|c| c.transport = transport);
        // A registrar writes the ephemeral source port of our connection: no listener of ours.
        registered_behind(&mut r, ";received=10.77.1.2;rport=41234");
        assert!(
            matches!(r.reg.state(), RegistrationState::Registered { .. }),
            "{transport:?}"
        );
        assert_eq!(r.reg.public_addr(), None, "{transport:?}");
        assert!(r.requests().is_empty(), "{transport:?}: no re-REGISTER");
    }
}
