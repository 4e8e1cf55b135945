//! Parsing real peers' messages (fixtures in `testdata/`), compact forms, Via stacks, and
//! garbage that must return `Err` without panicking.

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("testdata/", $name, ".sip")).as_slice()
    };
}

const ALL: &[(&str, &[u8])] = &[
    ("sipp_invite", fixture!("sipp_invite")),
    ("sipp_bye", fixture!("sipp_bye")),
    ("baresip_invite", fixture!("baresip_invite")),
    ("baresip_info_dtmf", fixture!("baresip_info_dtmf")),
    ("pjsua_invite", fixture!("pjsua_invite")),
    ("pjsua_notify_sipfrag", fixture!("pjsua_notify_sipfrag")),
    ("asterisk_invite", fixture!("asterisk_invite")),
    ("asterisk_401", fixture!("asterisk_401")),
    (
        "linphone_invite_via_kamailio",
        fixture!("linphone_invite_via_kamailio"),
    ),
    ("compact_invite", fixture!("compact_invite")),
    ("kamailio_options", fixture!("kamailio_options")),
    // Captured from real Kamailio 5.6.3 / sipp 3.7 traffic on loopback (see `mod.rs`).
    ("kamailio_401_captured", fixture!("kamailio_401_captured")),
    (
        "kamailio_register_200_captured",
        fixture!("kamailio_register_200_captured"),
    ),
    (
        "kamailio_relayed_sipp_invite_captured",
        fixture!("kamailio_relayed_sipp_invite_captured"),
    ),
];

#[test]
fn every_fixture_parses_with_core_fields() {
    for (name, bytes) in ALL {
        let m = parse(bytes).unwrap_or_else(|e| panic!("{name}: {:?}", e.0));
        assert!(!m.core.call_id.is_empty(), "{name}");
        assert!(m.core.from.tag.is_some(), "{name}: From tag");
        assert!(m.core.top_via().branch.is_some(), "{name}: branch");
        if let Some(cl) = m.header("Content-Length") {
            assert_eq!(
                cl.trim().parse::<usize>().ok(),
                Some(m.body().len()),
                "{name}"
            );
        }
    }
}

#[test]
fn sipp_invite_fields() {
    let m = parse(fixture!("sipp_invite")).expect("parses");
    let r = m.request().expect("request");
    assert_eq!(r.method, Method::Invite);
    assert_eq!(m.core.call_id, "1-3377@127.0.0.1");
    assert_eq!(m.core.from.tag.as_deref(), Some("3377SIPpTag001"));
    assert_eq!(m.core.from.display.as_deref(), Some("sipp"));
    assert_eq!(m.core.to.tag, None);
    assert_eq!(m.core.to.user(), Some("service"));
    assert_eq!(
        m.core.cseq,
        CSeq {
            seq: 1,
            method: Method::Invite
        }
    );
    assert_eq!(m.content_type().as_deref(), Some("application/sdp"));
    assert!(std::str::from_utf8(m.body())
        .expect("utf8")
        .contains("m=audio 6000"));
}

#[test]
fn compact_forms_and_comma_separated_vias() {
    let m = parse(fixture!("compact_invite")).expect("compact form parses");
    assert_eq!(m.core.call_id, "compact-call-1@10.0.0.5");
    assert_eq!(m.core.vias.len(), 2);
    assert_eq!(m.core.vias[0].branch.as_deref(), Some("z9hG4bKcompact1"));
    assert_eq!(m.core.vias[0].rport, Some(None));
    assert_eq!(m.core.vias[1].transport, Transport::Tcp);
    assert_eq!(m.core.from.display.as_deref(), Some("Bob"));
    assert_eq!(m.header("Contact"), Some("<sip:bob@10.0.0.5:5060>"));
    assert_eq!(m.content_type().as_deref(), Some("application/sdp"));
}

#[test]
fn linphone_through_kamailio_has_two_vias_and_record_route() {
    let m = parse(fixture!("linphone_invite_via_kamailio")).expect("parses");
    assert_eq!(m.core.vias.len(), 2);
    assert_eq!(m.core.top_via().sent_by(), "127.0.0.1:5070");
    assert_eq!(m.core.vias[1].received.as_deref(), Some("127.0.0.1"));
    assert_eq!(m.core.vias[1].rport, Some(Some(5064)));
    assert_eq!(
        m.header_list("Record-Route"),
        vec!["<sip:127.0.0.1:5070;lr>".to_string()]
    );
    // To without angle brackets.
    assert_eq!(m.core.to.uri, "sip:1001@127.0.0.1");
    assert_eq!(m.core.to.user(), Some("1001"));
}

#[test]
fn asterisk_401_is_a_response_with_a_challenge() {
    let m = parse(fixture!("asterisk_401")).expect("parses");
    let r = m.response().expect("response");
    assert_eq!(r.status_code.code(), 401);
    assert!(m
        .header("WWW-Authenticate")
        .is_some_and(|v| v.contains("realm=\"asterisk\"")));
    assert_eq!(m.core.cseq.method, Method::Register);
}

#[test]
fn via_response_destination_rfc3581() {
    let src: SocketAddr = "203.0.113.7:40000".parse().expect("addr");
    let v = Via::parse("SIP/2.0/UDP 192.168.1.5:5060;branch=z9hG4bK1;rport").expect("via");
    assert_eq!(
        v.response_dest(src, Transport::Udp),
        src,
        "rport: back to the source"
    );
    let v = Via::parse("SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bK1;received=203.0.113.7")
        .expect("via");
    assert_eq!(
        v.response_dest(src, Transport::Udp),
        "203.0.113.7:5062".parse().expect("addr"),
        "no rport: received + sent-by port"
    );
    let v = Via::parse("SIP/2.0/UDP 10.1.1.1;branch=z9hG4bK1").expect("via");
    assert_eq!(
        v.response_dest(src, Transport::Udp),
        "10.1.1.1:5060".parse().expect("addr")
    );
    assert_eq!(
        v.response_dest(src, Transport::Tcp),
        src,
        "TCP: the connection"
    );
    let v = Via::parse("SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK1").expect("v6 via");
    assert_eq!(v.sent_by(), "[2001:db8::1]:5070");
}

#[test]
fn uri_helpers() {
    assert_eq!(
        uri_user("sip:1001@pbx.example.com:5070;transport=udp"),
        Some("1001")
    );
    assert_eq!(uri_user("tel:+15550001;phone-context=x"), Some("+15550001"));
    assert_eq!(uri_user("sip:pbx.example.com"), None);
    assert_eq!(
        uri_socket_addr("sip:a@127.0.0.1:5080;ob"),
        Some("127.0.0.1:5080".parse().expect("addr"))
    );
    assert_eq!(uri_socket_addr("sip:a@pbx.example.com"), None);
    for ok in [
        "sip:1001@pbx.example.com:5070;transport=udp",
        "tel:+15550001",
        "sips:a@[::1]",
    ] {
        assert!(is_request_uri(ok), "{ok}");
    }
    for bad in [
        "sip:a@-x: 2/.1;t!=U",
        "sip:a b@x",
        "sip:a@x:99999",
        "sip:a@x\r\n",
    ] {
        assert!(!is_request_uri(bad), "{bad}");
    }
    assert!(NameAddr::parse("<sPRACK Content-Length: 4>", "To").is_err());
    assert!(NameAddr::parse("\"sipp\" 'sip:sipp@h:5>;tag=1", "From").is_err());
    assert_eq!(
        split_list("<sip:a,b@x>;q=1, \"x, y\" <sip:c@d>"),
        vec!["<sip:a,b@x>;q=1", "\"x, y\" <sip:c@d>"]
    );
}

#[test]
fn unknown_method_is_salvaged_for_a_501() {
    let raw = b"FROBNICATE sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKf1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c\r\nCSeq: 1 FROBNICATE\r\nContent-Length: 0\r\n\r\n";
    let (err, salvage) = parse(raw).expect_err("unknown method");
    assert_eq!(err, ParseError::UnknownMethod("FROBNICATE".into()));
    let s = salvage.expect("salvaged");
    assert_eq!(s.vias[0].branch.as_deref(), Some("z9hG4bKf1"));
    assert_eq!(s.echo.len(), 4);
}

#[test]
fn missing_call_id_is_an_error_with_salvage() {
    let raw = b"OPTIONS sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKf2\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let (err, salvage) = parse(raw).expect_err("no Call-ID");
    assert_eq!(err, ParseError::MissingHeader("Call-ID"));
    assert!(salvage.is_some());
}

#[test]
fn mutated_fixtures_never_panic() {
    // Deterministic mutation fuzzing over every fixture: flips, truncations, inserted
    // separators. Parsing must return (Ok or Err) without panicking.
    let mut rng = crate::sip::ids::IdGen::new(42);
    for round in 0..4000 {
        let (_, seed) = ALL[round % ALL.len()];
        let mut m = seed.to_vec();
        for _ in 0..1 + rng.next_u64() % 6 {
            let r = rng.next_u64();
            let pos = (r as usize >> 8) % m.len().max(1);
            match r % 5 {
                0 if pos < m.len() => m[pos] = (r >> 40) as u8,
                1 => m.truncate(pos),
                2 => m.insert(pos.min(m.len()), b';'),
                3 if pos < m.len() => m[pos] = b':',
                _ => m.insert(pos.min(m.len()), b','),
            }
        }
        let _ = parse(&m);
    }
}

mod prop {
    use super::super::parse;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn sip_shaped_garbage_never_panics(
            start in "(INVITE|BYE|ACK|SIP/2.0|FOO) [a-z:@0-9.;=<> ]{0,30}( SIP/2.0| 200 OK)?",
            headers in proptest::collection::vec("(Via|v|From|f|To|t|Call-ID|i|CSeq|l|Content-Length|Contact|m): [ -~]{0,40}", 0..8),
            body in "[ -~\r\n]{0,60}",
        ) {
            let msg = format!("{start}\r\n{}\r\n\r\n{body}", headers.join("\r\n"));
            let _ = parse(msg.as_bytes());
        }
    }
}

#[test]
fn stamping_received_and_rport() {
    let src: SocketAddr = "203.0.113.7:40000".parse().expect("addr");
    let mut v = Via::parse("SIP/2.0/UDP 192.168.1.5:5060;rport;branch=z9hG4bK1").expect("via");
    v.stamp(src);
    assert_eq!(
        v.raw,
        "SIP/2.0/UDP 192.168.1.5:5060;branch=z9hG4bK1;received=203.0.113.7;rport=40000"
    );
    assert_eq!(
        Via::parse(&v.raw).expect("reparses").rport,
        Some(Some(40000))
    );
    let mut same = Via::parse("SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK2").expect("via");
    same.stamp(src);
    assert_eq!(
        same.raw, "SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK2",
        "nothing to add"
    );
    let mut other = Via::parse("SIP/2.0/UDP pbx.local:5060;branch=z9hG4bK3").expect("via");
    other.stamp(src);
    assert!(other.raw.ends_with(";received=203.0.113.7"));
}

#[test]
fn stream_framing_splits_back_to_back_messages() {
    let a = fixture!("sipp_invite");
    let b = fixture!("sipp_bye");
    let mut stream = b"\r\n\r\n".to_vec();
    stream.extend_from_slice(a);
    stream.extend_from_slice(b);
    assert_eq!(frame_len(&stream), Ok(Some(4)), "keep-alive CRLFs first");
    let rest = &stream[4..];
    assert_eq!(frame_len(rest), Ok(Some(a.len())));
    assert_eq!(frame_len(&rest[a.len()..]), Ok(Some(b.len())));
    assert_eq!(frame_len(&a[..a.len() - 1]), Ok(None), "body incomplete");
    assert_eq!(frame_len(&a[..40]), Ok(None), "headers incomplete");
    let compact = fixture!("compact_invite");
    assert_eq!(frame_len(compact), Ok(Some(compact.len())), "compact l:");
    assert!(frame_len(b"INVITE x SIP/2.0\r\nContent-Length: x\r\n\r\n").is_err());
    assert!(frame_len(&vec![b'a'; MAX_HEADER_BYTES + 1]).is_err());
}

#[test]
fn an_inbound_received_never_redirects_responses() {
    // The sender claims `received=198.51.100.66`: a reflection towards that address.
    let src: SocketAddr = "203.0.113.7:5060".parse().expect("addr");
    let mut v = Via::parse("SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK1;received=198.51.100.66")
        .expect("via");
    v.stamp(src);
    assert_eq!(v.received, None);
    assert_eq!(v.raw, "SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK1");
    assert_eq!(v.response_dest(src, Transport::Udp), src);
    // Same with a sent-by that differs from the source: ours replaces theirs.
    let mut w = Via::parse("SIP/2.0/UDP 10.0.0.9:5070;received=198.51.100.66;branch=z9hG4bK2")
        .expect("via");
    w.stamp(src);
    assert_eq!(w.received.as_deref(), Some("203.0.113.7"));
    assert!(!w.raw.contains("198.51.100.66"), "{}", w.raw);
    assert_eq!(
        w.response_dest(src, Transport::Udp),
        "203.0.113.7:5070".parse().unwrap()
    );
    // And with a pre-filled rport: the source port, not theirs.
    let mut r = Via::parse("SIP/2.0/UDP 10.0.0.9;rport=9;received=198.51.100.66;branch=z9hG4bK3")
        .expect("via");
    r.stamp(src);
    assert_eq!(r.response_dest(src, Transport::Udp), src);
}

#[test]
fn content_length_overflow_is_an_error_not_a_panic() {
    let huge = format!(
        "INVITE sip:a@b SIP/2.0\r\nContent-Length: {}\r\n\r\n",
        usize::MAX
    );
    assert!(matches!(
        frame_len(huge.as_bytes()),
        Err(ParseError::TooLarge { .. })
    ));
    let over = format!(
        "INVITE sip:a@b SIP/2.0\r\nContent-Length: {}\r\n\r\n",
        MAX_MESSAGE_BYTES
    );
    assert!(matches!(
        frame_len(over.as_bytes()),
        Err(ParseError::TooLarge { .. })
    ));
    let head = "INVITE sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\n";
    assert_eq!(
        frame_len(head.as_bytes()),
        Ok(None),
        "a small body is awaited"
    );
}

#[test]
fn messages_over_the_size_limit_are_refused_before_parsing() {
    let mut big = fixture!("sipp_invite").to_vec();
    big.resize(MAX_MESSAGE_BYTES + 1, b'a');
    let Err((err, salvage)) = parse(&big) else {
        panic!("an oversized message parsed")
    };
    assert!(matches!(err, ParseError::TooLarge { size } if size == MAX_MESSAGE_BYTES + 1));
    assert!(salvage.is_none(), "not answered");
}
