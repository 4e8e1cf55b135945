//! Virtual-time timer sequences for the transactions.

use super::*;

fn peer(transport: Transport) -> Peer {
    Peer {
        dest: "127.0.0.1:5061".parse().expect("literal address"),
        transport,
    }
}

/// Drives `poll_timeout`/`handle_timeout` until `until`, recording the offset of every transmit.
fn run_ist(
    tx: &mut InviteServerTx,
    t0: Instant,
    until: Duration,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut sends, mut events) = (Vec::new(), Vec::new());
    let mut out = VecDeque::new();
    while let Some(at) = tx.poll_timeout() {
        if at > t0 + until {
            break;
        }
        if tx.handle_timeout(at, &mut out).is_some() {
            events.push(at - t0);
        }
        sends.extend(out.drain(..).map(|_| at - t0));
    }
    (sends, events)
}

#[test]
fn ok_200_retransmitted_500ms_1s_2s_4s_4s_until_timer_h_at_32s() {
    let t0 = Instant::now();
    let mut out = VecDeque::new();
    let mut tx = InviteServerTx::new(
        peer(Transport::Udp),
        TimerConfig::default(),
        b"100".to_vec(),
        &mut out,
    );
    assert_eq!(out.len(), 1, "100 Trying goes out at once");
    out.clear();
    tx.respond(200, b"200".to_vec(), t0, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(tx.state(), InviteServerState::Accepted);
    let (sends, events) = run_ist(&mut tx, t0, Duration::from_secs(40));
    let ms: Vec<u64> = sends.iter().map(|d| d.as_millis() as u64).collect();
    assert_eq!(
        ms,
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(events, vec![Duration::from_secs(32)], "Timer H at 64*T1");
    assert!(tx.is_terminated());
}

#[test]
fn ack_stops_retransmissions_and_timer_i_terminates() {
    let t0 = Instant::now();
    let mut out = VecDeque::new();
    let mut tx = InviteServerTx::new(
        peer(Transport::Udp),
        TimerConfig::default(),
        b"100".to_vec(),
        &mut out,
    );
    tx.respond(486, b"486".to_vec(), t0, &mut out);
    out.clear();
    let mut now = t0;
    // Two retransmissions (0.5 s, 1.5 s), then the ACK at 2 s.
    for _ in 0..2 {
        now = tx.poll_timeout().expect("G armed");
        tx.handle_timeout(now, &mut out);
    }
    assert_eq!(out.len(), 2);
    tx.on_ack(t0 + Duration::from_secs(2));
    assert_eq!(tx.state(), InviteServerState::Confirmed);
    assert_eq!(
        tx.poll_timeout(),
        Some(t0 + Duration::from_secs(7)),
        "Timer I = T4"
    );
    assert!(now < t0 + Duration::from_secs(2));
    tx.handle_timeout(t0 + Duration::from_secs(7), &mut out);
    assert!(tx.is_terminated());
    assert_eq!(out.len(), 2, "nothing resent after the ACK");
}

#[test]
fn retransmitted_invite_absorbed_by_resending_last_response() {
    let t0 = Instant::now();
    let mut out = VecDeque::new();
    let mut tx = InviteServerTx::new(
        peer(Transport::Udp),
        TimerConfig::default(),
        b"100".to_vec(),
        &mut out,
    );
    tx.on_retransmit(&mut out);
    assert_eq!(
        out.iter().map(|t| t.bytes.clone()).collect::<Vec<_>>(),
        vec![b"100".to_vec(), b"100".to_vec()]
    );
    out.clear();
    tx.respond(200, b"200".to_vec(), t0, &mut out);
    tx.on_retransmit(&mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].bytes, b"200");
    // A second final response from the TU is ignored.
    tx.respond(500, b"500".to_vec(), t0, &mut out);
    assert_eq!(out.len(), 2);
}

#[test]
fn tcp_invite_server_has_no_retransmissions_and_zero_timer_i() {
    let t0 = Instant::now();
    let mut out = VecDeque::new();
    let mut tx = InviteServerTx::new(
        peer(Transport::Tcp),
        TimerConfig::default(),
        b"100".to_vec(),
        &mut out,
    );
    tx.respond(200, b"200".to_vec(), t0, &mut out);
    assert_eq!(
        tx.poll_timeout(),
        Some(t0 + Duration::from_secs(32)),
        "only Timer H"
    );
    tx.on_ack(t0 + Duration::from_secs(1));
    assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(1)));
}

#[test]
fn non_invite_server_resends_last_response_until_timer_j() {
    let t0 = Instant::now();
    let mut out = VecDeque::new();
    let mut tx = NonInviteServerTx::new(peer(Transport::Udp), TimerConfig::default());
    tx.on_retransmit(&mut out);
    assert!(out.is_empty(), "nothing to resend before a response");
    tx.respond(200, b"200".to_vec(), t0, &mut out);
    tx.on_retransmit(&mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    tx.handle_timeout(t0 + Duration::from_secs(32));
    assert!(tx.is_terminated());
    tx.on_retransmit(&mut out);
    assert_eq!(out.len(), 2);
}

#[test]
fn client_retransmits_e_doubling_to_t2_then_timer_f() {
    let t0 = Instant::now();
    let mut out = VecDeque::new();
    let mut tx = ClientTx::new(
        peer(Transport::Udp),
        TimerConfig::default(),
        b"BYE".to_vec(),
        t0,
        &mut out,
    );
    assert_eq!(out.len(), 1);
    out.clear();
    let mut sends = Vec::new();
    let mut timeout = None;
    while let Some(at) = tx.poll_timeout() {
        if let Some(ClientEvent::Timeout) = tx.handle_timeout(at, &mut out) {
            timeout = Some(at - t0);
        }
        sends.extend(out.drain(..).map(|_| (at - t0).as_millis() as u64));
    }
    assert_eq!(
        sends,
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(timeout, Some(Duration::from_secs(32)));
}

#[test]
fn client_final_response_goes_up_once_then_timer_k() {
    let t0 = Instant::now();
    let mut out = VecDeque::new();
    let mut tx = ClientTx::new(
        peer(Transport::Udp),
        TimerConfig::default(),
        b"BYE".to_vec(),
        t0,
        &mut out,
    );
    assert!(tx.on_response(100, t0));
    assert_eq!(tx.state(), ClientState::Proceeding);
    assert!(tx.on_response(200, t0 + Duration::from_millis(100)));
    assert!(
        !tx.on_response(200, t0 + Duration::from_millis(200)),
        "retransmission absorbed"
    );
    assert_eq!(
        tx.poll_timeout(),
        Some(t0 + Duration::from_millis(5100)),
        "Timer K = T4"
    );
    tx.handle_timeout(t0 + Duration::from_millis(5100), &mut out);
    assert!(tx.is_terminated());
}

#[test]
fn client_over_tcp_never_retransmits() {
    let t0 = Instant::now();
    let mut out = VecDeque::new();
    let mut tx = ClientTx::new(
        peer(Transport::Tcp),
        TimerConfig::default(),
        b"BYE".to_vec(),
        t0,
        &mut out,
    );
    assert_eq!(
        tx.poll_timeout(),
        Some(t0 + Duration::from_secs(32)),
        "only Timer F"
    );
    assert_eq!(
        tx.handle_timeout(t0 + Duration::from_secs(32), &mut out),
        Some(ClientEvent::Timeout)
    );
    assert_eq!(out.len(), 1);
}

#[test]
fn invite_client_timer_a_doubles_uncapped_until_timer_b() {
    let t0 = Instant::now();
    let mut out = VecDeque::new();
    let mut tx = InviteClientTx::new(
        peer(Transport::Udp),
        TimerConfig::default(),
        b"INVITE".to_vec(),
        t0,
        &mut out,
    );
    out.clear();
    let mut sends = Vec::new();
    let mut timeout = None;
    while let Some(at) = tx.poll_timeout() {
        if tx.handle_timeout(at, &mut out) == Some(ClientEvent::Timeout) {
            timeout = Some(at - t0);
        }
        sends.extend(out.drain(..).map(|_| (at - t0).as_millis() as u64));
    }
    assert_eq!(sends, vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(timeout, Some(Duration::from_secs(32)));
}

#[test]
fn invite_client_acks_a_failure_and_its_retransmissions() {
    let t0 = Instant::now();
    let mut out = VecDeque::new();
    let mut tx = InviteClientTx::new(
        peer(Transport::Udp),
        TimerConfig::default(),
        b"INVITE".to_vec(),
        t0,
        &mut out,
    );
    out.clear();
    assert_eq!(
        tx.on_response(180, t0, &mut out, Vec::new),
        InviteClientVerdict::ToTu
    );
    assert_eq!(
        tx.poll_timeout(),
        None,
        "Timers A and B stopped: the ring timeout is the TU's (RFC 3261 Figure 5)"
    );
    assert_eq!(
        tx.on_response(486, t0, &mut out, || b"ACK".to_vec()),
        InviteClientVerdict::ToTu
    );
    assert_eq!(
        tx.on_response(486, t0, &mut out, || b"other".to_vec()),
        InviteClientVerdict::Absorbed
    );
    let acks: Vec<_> = out.drain(..).map(|t| t.bytes).collect();
    assert_eq!(acks, vec![b"ACK".to_vec(), b"ACK".to_vec()]);
    assert_eq!(
        tx.poll_timeout(),
        Some(t0 + Duration::from_secs(32)),
        "Timer D"
    );
    tx.handle_timeout(t0 + Duration::from_secs(32), &mut out);
    assert!(tx.is_terminated());
}

#[test]
fn invite_client_passes_2xx_retransmissions_up_until_timer_m() {
    let t0 = Instant::now();
    let mut out = VecDeque::new();
    let mut tx = InviteClientTx::new(
        peer(Transport::Tcp),
        TimerConfig::default(),
        b"INVITE".to_vec(),
        t0,
        &mut out,
    );
    assert_eq!(
        tx.on_response(200, t0, &mut out, Vec::new),
        InviteClientVerdict::ToTu
    );
    assert_eq!(tx.state(), InviteClientState::Accepted);
    assert_eq!(
        tx.on_response(200, t0, &mut out, Vec::new),
        InviteClientVerdict::ToTu,
        "the TU ACKs each 2xx"
    );
    assert_eq!(out.len(), 1, "the transaction itself never ACKs a 2xx");
    tx.handle_timeout(t0 + Duration::from_secs(32), &mut out);
    assert!(tx.is_terminated());
}

/// Regression: Timer B kept running after 180 Ringing and ended a call still ringing at 32 s,
/// so a ring timeout over 32 s could never be honoured.
#[test]
fn invite_client_ringing_longer_than_timer_b_is_not_a_timeout() {
    let t0 = Instant::now();
    let mut out = VecDeque::new();
    let mut tx = InviteClientTx::new(
        peer(Transport::Udp),
        TimerConfig::default(),
        b"INVITE".to_vec(),
        t0,
        &mut out,
    );
    tx.on_response(180, t0 + Duration::from_secs(1), &mut out, Vec::new);
    out.clear();
    assert_eq!(
        tx.handle_timeout(t0 + Duration::from_secs(60), &mut out),
        None
    );
    assert!(out.is_empty(), "no INVITE retransmission once ringing");
    assert_eq!(tx.state(), InviteClientState::Proceeding);
    assert_eq!(
        tx.on_response(200, t0 + Duration::from_secs(61), &mut out, Vec::new),
        InviteClientVerdict::ToTu
    );
}
