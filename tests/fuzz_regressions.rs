//! Inputs that broke (or nearly broke) a parser, each a named test run through the same
//! harness the fuzzer uses (`phonetree::fuzzing`). A crash `fuzz/run.sh` finds leaves its input
//! in `fuzz/artifacts/<target>/`; it becomes a test here (the bytes inline, or a file under
//! `tests/fixtures/fuzz/` when large), named for what it broke, before the fix lands.
//!
//! The first ones are what issue 10's fuzzing of `phonetree run` found or came close to: a
//! `Content-Length` whose addition to the header length overflowed (a panic with overflow
//! checks, misframing in release), oversized messages, and garbage between SIP messages.

use phonetree::fuzzing::{self, MESSAGE_SEPARATOR};

/// Messages joined the way the `sip_endpoint` harness splits them.
fn messages(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(MESSAGE_SEPARATOR)
}

const INVITE_HEAD: &str = "INVITE sip:5000@127.0.0.1 SIP/2.0\r\n\
    Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-r1;rport\r\n\
    From: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:5000@127.0.0.1>\r\n\
    Call-ID: reg-1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n";

#[test]
fn a_content_length_near_usize_max_is_no_overflow_in_the_tcp_framer() {
    let stream = format!("{INVITE_HEAD}Content-Length: 18446744073709551615\r\n\r\nv=0\r\n");
    fuzzing::tcp_framer(stream.as_bytes());
    let stream = format!("{INVITE_HEAD}l: 18446744073709551600\r\n\r\n");
    fuzzing::tcp_framer(stream.as_bytes());
}

#[test]
fn a_content_length_near_usize_max_is_no_overflow_in_the_endpoint() {
    let msg = format!("{INVITE_HEAD}Content-Length: 18446744073709551615\r\n\r\n");
    fuzzing::sip_endpoint(msg.as_bytes());
}

#[test]
fn a_message_over_the_size_limit_and_garbage_between_messages_are_dropped() {
    let big = format!(
        "{INVITE_HEAD}Content-Length: 40000\r\n\r\n{}",
        "a".repeat(40_000)
    );
    let data = messages(&[
        big.as_bytes(),
        b"\x00\xff\r\n\r\n",
        b"SIP/2.0 200\r\n\r\n",
        format!("{INVITE_HEAD}Content-Length: 0\r\n\r\n").as_bytes(),
    ]);
    fuzzing::sip_endpoint(&data);
}

#[test]
fn sdp_with_absurd_ports_and_counts_is_refused_not_a_panic() {
    fuzzing::sdp(
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n\
          m=audio 99999999999/4294967295 RTP/AVP 0 101 255 -1\r\na=rtpmap:0 PCMU/0\r\n\
          a=rtpmap:101 telephone-event/4294967296\r\na=ptime:0\r\n",
    );
}

/// A request with a broken `To` (and a second, good one) was answered 400 with the broken header
/// copied back, a message our own parser refuses. The 400 now echoes only the first of each
/// routing header, and only in a form our parser reads.
#[test]
fn a_400_never_echoes_a_header_our_parser_refuses() {
    let input = include_bytes!("fixtures/fuzz/sip_endpoint-broken-to-echoed-in-400.bin");
    fuzzing::sip_endpoint(input);
}

/// An INFO without a `To` (the fuzzer mangled its header names) is answered 400 without a `To`
/// either, with a Warning naming it: the harness once counted that as "we sent a message our
/// parser refuses". Such answers are by design (a client matches them by Via branch and CSeq);
/// every other message we send must still parse.
#[test]
fn a_400_to_a_request_without_to_is_sent_and_nothing_else_unparsable() {
    let input = include_bytes!("fixtures/fuzz/sip_endpoint-400-without-to.bin");
    fuzzing::sip_endpoint(input);
}

/// A CSeq whose method had bytes that are not a SIP token (`65285 I\xff\xff\xffE`) was echoed in
/// the 400, which our own parser then refuses. A salvaged answer now echoes a CSeq only when its
/// method is a SIP token (an unknown but well-formed method stays: the 501 names it).
#[test]
fn a_400_never_echoes_a_cseq_with_a_method_that_is_not_a_token() {
    let input = include_bytes!("fixtures/fuzz/sip_endpoint-cseq-method-not-a-token.bin");
    fuzzing::sip_endpoint(input);
}

/// A `From` whose value held a bare line feed followed by `To: …` (lines are split on CRLF) was
/// echoed in a 400, where the line feed started a second, broken `To`. Salvaged answers now echo
/// no value with a control byte in it, and refuse to answer when a Via has one.
#[test]
fn a_400_never_carries_a_header_injected_by_a_bare_line_feed() {
    let input = include_bytes!("fixtures/fuzz/sip_endpoint-bare-lf-injects-a-header.bin");
    fuzzing::sip_endpoint(input);
}

/// An INVITE whose Contact (`<sip:sipp@-Record-Route: 2/…;transpor!=UDP>`) and To (`<sPRACK
/// Content-Length: 4>`) held no usable URI was answered; the BYE we then sent had the Contact
/// as its request line, which no parser takes. An INVITE whose Contact, From or To is no URI we
/// could send a request to is now refused with 400, and a name-addr with spaces, quotes or
/// angle brackets inside its URI does not parse.
#[test]
fn an_invite_whose_contact_is_no_uri_is_refused_not_answered() {
    let input = include_bytes!("fixtures/fuzz/sip_endpoint-contact-not-a-uri.bin");
    fuzzing::sip_endpoint(input);
}

/// A CANCEL whose Via was `SIP/2.0/UDP/X127.0.0.1:37.0.0.1:4080;received=7 SIP/2.0` (a fourth
/// protocol part; `SIP/2.0` where the host goes) got a 400 echoing that Via, stamped, which
/// no parser takes. A Via needs exactly `SIP/2.0/<transport>` and a host name or IP literal.
#[test]
fn a_400_never_echoes_a_via_whose_host_is_no_host() {
    let input = include_bytes!("fixtures/fuzz/sip_endpoint-via-host-not-a-host.bin");
    fuzzing::sip_endpoint(input);
}

/// A Via whose parameters held quoted strings, commas and spaces was echoed in a 400 that read
/// back as different Vias. Via parameters must be tokens (or `name=token`).
#[test]
fn a_400_never_echoes_a_via_with_quoted_or_spaced_parameters() {
    let input = include_bytes!("fixtures/fuzz/sip_endpoint-via-params-with-quotes.bin");
    fuzzing::sip_endpoint(input);
}

/// A bot's `transfer` to `sip:;000@127.0.0.1` was admitted by `transfer.allow: sip:*@127.0.0.1`
/// although no SIP parser of ours reads it as a request URI; the same rule admitted
/// `sip:x@evil.example;a=@127.0.0.1` (two `@`: a PBX may dial evil.example). A SIP transfer
/// target must now have one `@` and parse as a request URI, whatever the allow list says.
#[test]
fn a_bot_transfer_target_the_policy_admits_is_a_request_uri() {
    let input = include_bytes!("fixtures/fuzz/websocket_json-transfer-not-a-request-uri.bin");
    fuzzing::websocket_json(input);
    let two_at = br#"{"event":"transfer","data":{"target":"sip:x@evil.example;a=@127.0.0.1"}}"#;
    fuzzing::websocket_json(two_at);
}

/// `websocket_json` (10-million run, 1,010,495th execution): `transfer.allow: tel:*` admitted a
/// bot's `teL:` followed by non-ASCII garbage (the scheme matches in any case; a tel: target was
/// not checked further), which would have gone into the REFER's `Refer-To`. A tel: target must
/// now be an RFC 3966 number, and every target ASCII.
#[test]
fn a_bot_tel_transfer_target_the_policy_admits_is_a_number() {
    let input = include_bytes!("fixtures/fuzz/websocket_json-transfer-tel-not-a-number.bin");
    fuzzing::websocket_json(input);
    let policy = phonetree::policy::transfer::TransferPolicy::new(&["tel:*"]).expect("pattern");
    let dynamic = phonetree::policy::transfer::TargetOrigin::Dynamic;
    assert!(policy.check("teL:\u{fffd}\u{ef};\u{ef}", dynamic).is_err());
    assert!(policy.check("tel:+15550123", dynamic).is_ok());
}

/// `config` (10-million run, 1,434,038th execution): a `log.level` with a multi-byte character
/// where tracing-subscriber's filter parser slices by byte offset ("end byte index 41 is not a
/// char boundary") panicked inside `config::load`; a typo in `phonetree.yaml` or
/// `PHONETREE_LOG` would have crashed `phonetree run` at start. Now a diagnostic.
#[test]
fn a_log_level_with_a_multi_byte_character_is_a_diagnostic_not_a_panic() {
    fuzzing::config(b": ###########################################################################################################################au\x97t}\x0alog.level: 2,k\x96\x96\x96\x960s, lat\x99\x96\x96\x96\x96\x96\x93\x96k \xff\xff\xff\xff=0\x0ac\x85agent:");
    let sources = phonetree::config::Sources {
        file: Some((
            "log:\n  level: \"2,k\u{96}0s, lat\u{e9}k =0\"\n".into(),
            "phonetree.yaml".into(),
        )),
        ..phonetree::config::Sources::default()
    };
    let err = phonetree::config::load(&sources).expect_err("not a filter");
    assert!(err.to_string().contains("log.level"), "{err}");
    assert!(phonetree::config::log::parse_filter("phonetree=debug,warn").is_some());
    assert!(phonetree::config::log::parse_filter("l\u{e9}vel=debug").is_none());
}
