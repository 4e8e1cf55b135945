//! The STUN codec against RFC 5769's sample responses and hostile input, and the client's
//! retransmission and rediscovery timeline on virtual time.

use super::*;

/// RFC 5769 §2.2/2.3's transaction id.
const ID: TransactionId = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];

/// RFC 5769 §2.2, "Sample IPv4 Response" (SOFTWARE, XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY,
/// FINGERPRINT): 192.0.2.1:32853.
const IPV4_RESPONSE: [u8; 80] = [
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
];

/// A message of `kind` with `attrs` (type, value), padded, for transaction `id`.
fn message(kind: u16, id: &TransactionId, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (t, v) in attrs {
        body.extend_from_slice(&t.to_be_bytes());
        body.extend_from_slice(&(v.len() as u16).to_be_bytes());
        body.extend_from_slice(v);
        while body.len() % 4 != 0 {
            body.push(0);
        }
    }
    let mut m = kind.to_be_bytes().to_vec();
    m.extend_from_slice(&(body.len() as u16).to_be_bytes());
    m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m.extend_from_slice(id);
    m.extend_from_slice(&body);
    m
}

#[test]
fn rfc5769_sample_ipv4_response_gives_its_xor_mapped_address() {
    assert!(is_stun(&IPV4_RESPONSE));
    assert_eq!(
        parse_binding_response(&IPV4_RESPONSE, &ID),
        Ok("192.0.2.1:32853".parse().unwrap())
    );
}

#[test]
fn rfc5769_sample_ipv6_xor_mapped_address() {
    // RFC 5769 §2.3's XOR-MAPPED-ADDRESS value: [2001:db8:1234:5678:11:2233:4455:6677]:32853.
    let value = [
        0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4,
        0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
    ];
    let m = message(0x0101, &ID, &[(0x8022, b"test vector "), (0x0020, &value)]);
    assert_eq!(
        parse_binding_response(&m, &ID),
        Ok("[2001:db8:1234:5678:11:2233:4455:6677]:32853"
            .parse()
            .unwrap())
    );
}

#[test]
fn the_request_is_a_bare_binding_header() {
    let r = binding_request(&ID);
    assert_eq!(r.len(), 20);
    assert_eq!(&r[..8], &[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]);
    assert_eq!(&r[8..], &ID);
    assert!(is_stun(&r));
    assert_eq!(
        parse_binding_response(&r, &ID),
        Err(StunError::UnexpectedType(0x0001))
    );
}

#[test]
fn mapped_address_is_the_fallback_and_xor_wins() {
    let plain = [0x00, 0x01, 0x13, 0x88, 198, 51, 100, 7]; // 198.51.100.7:5000
    let m = message(0x0101, &ID, &[(0x0001, &plain)]);
    assert_eq!(
        parse_binding_response(&m, &ID),
        Ok("198.51.100.7:5000".parse().unwrap())
    );
    let xor = &IPV4_RESPONSE[40..48];
    let m = message(0x0101, &ID, &[(0x0001, &plain), (0x0020, xor)]);
    assert_eq!(
        parse_binding_response(&m, &ID),
        Ok("192.0.2.1:32853".parse().unwrap())
    );
}

#[test]
fn hostile_and_foreign_answers_are_errors_not_panics() {
    let other: TransactionId = [9; 12];
    assert_eq!(
        parse_binding_response(&IPV4_RESPONSE, &other),
        Err(StunError::WrongTransaction)
    );
    // Every truncation of a real response.
    for n in 0..IPV4_RESPONSE.len() {
        assert!(
            parse_binding_response(&IPV4_RESPONSE[..n], &ID).is_err(),
            "{n}"
        );
    }
    // A length that is not a multiple of 4.
    let mut m = IPV4_RESPONSE.to_vec();
    m[3] = 0x3b;
    assert_eq!(parse_binding_response(&m, &ID), Err(StunError::Truncated));
    // An attribute longer than the message.
    let mut m = message(0x0101, &ID, &[(0x0020, &IPV4_RESPONSE[40..48])]);
    m[22] = 0x00;
    m[23] = 0x40;
    assert_eq!(
        parse_binding_response(&m, &ID),
        Err(StunError::BadAttribute)
    );
    // An error response with ERROR-CODE 420.
    let m = message(0x0111, &ID, &[(0x0009, &[0, 0, 4, 20, b'x', b'x'])]);
    assert_eq!(
        parse_binding_response(&m, &ID),
        Err(StunError::ErrorResponse(Some(420)))
    );
    // Success without an address, a bad family, a wrong-sized value, port 0.
    for attrs in [
        vec![],
        vec![(0x0020u16, &[0u8, 0x03, 0, 1, 1, 2, 3, 4][..])],
        vec![(0x0020, &[0u8, 0x01, 0, 1, 1, 2, 3][..])],
        vec![(0x0020, &[0u8, 0x02, 0, 1, 1, 2, 3, 4][..])],
        vec![(0x0001, &[0u8, 0x01, 0, 0, 1, 2, 3, 4][..])],
    ] {
        let m = message(0x0101, &ID, &attrs);
        assert_eq!(
            parse_binding_response(&m, &ID),
            Err(StunError::NoAddress),
            "{attrs:?}"
        );
    }
    // SIP is not STUN.
    assert!(!is_stun(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1\r\n\r\n"
    ));
    assert!(!is_stun(b"\r\n\r\n"));
    // Pseudo-random garbage with a STUN header never panics.
    let mut ids = crate::sip::ids::IdGen::new(5);
    for _ in 0..2000 {
        let n = (ids.next_u64() % 96) as usize;
        let mut m = message(0x0101, &ID, &[]);
        m.extend((0..n).map(|_| ids.next_u64() as u8));
        m[2] = (ids.next_u64() % 2) as u8;
        m[3] = (ids.next_u64() as u8) & 0xfc;
        let _ = parse_binding_response(&m, &ID);
    }
}

#[test]
fn client_retransmits_gives_up_and_asks_again_later() {
    let t0 = std::time::Instant::now();
    let server: SocketAddr = "192.0.2.50:3478".parse().unwrap();
    let mut c = StunClient::new(server, ID, t0);
    assert_eq!(c.poll_timeout(), Some(t0));
    let mut sends = Vec::new();
    let mut now = t0;
    loop {
        match c.handle_timeout(now, [7; 12]) {
            Some(StunOutput::Send(b)) => {
                assert_eq!(&b[8..], &ID);
                sends.push(now - t0);
            }
            Some(StunOutput::GaveUp) => break,
            None => panic!("a timer fired with nothing to do"),
        }
        now = c.poll_timeout().expect("armed");
    }
    assert_eq!(
        sends,
        [0, 500, 1500].map(Duration::from_millis).to_vec(),
        "sent at 0, 0.5 s, 1.5 s"
    );
    assert_eq!(now - t0, Duration::from_millis(3500));
    assert_eq!(c.state(), StunState::Failed);
    assert!(!c.first_pending());
    // Rediscovery with a fresh transaction id.
    let later = c.poll_timeout().unwrap();
    assert_eq!(later - now, REDISCOVER);
    match c.handle_timeout(later, [7; 12]) {
        Some(StunOutput::Send(b)) => assert_eq!(&b[8..], &[7; 12]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_takes_only_its_servers_answer_to_its_transaction() {
    let t0 = std::time::Instant::now();
    let server: SocketAddr = "192.0.2.50:3478".parse().unwrap();
    let mut c = StunClient::new(server, ID, t0);
    c.handle_timeout(t0, ID);
    let spoofer: SocketAddr = "192.0.2.66:3478".parse().unwrap();
    assert_eq!(
        c.handle(&IPV4_RESPONSE, spoofer, t0),
        Err(StunError::WrongTransaction)
    );
    let wrong_id = message(0x0101, &[1; 12], &[(0x0020, &IPV4_RESPONSE[40..48])]);
    assert_eq!(
        c.handle(&wrong_id, server, t0),
        Err(StunError::WrongTransaction)
    );
    assert!(c.first_pending());
    assert_eq!(
        c.handle(&IPV4_RESPONSE, server, t0),
        Ok("192.0.2.1:32853".parse().unwrap())
    );
    assert_eq!(
        c.state(),
        StunState::Known("192.0.2.1:32853".parse().unwrap())
    );
    // A duplicate answer after the attempt ended is ignored.
    assert!(c.handle(&IPV4_RESPONSE, server, t0).is_err());
    assert_eq!(c.poll_timeout(), Some(t0 + REDISCOVER));
}
