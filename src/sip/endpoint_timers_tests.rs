//! The endpoint's timer heaps: lazy deletion (a gone owner's timer is skipped, a re-armed
//! timer fires once at its new time), bounded stale entries, agreement with a plain model
//! (proptest), and the cost claim itself: with 10,000 transactions pending and one due,
//! `handle_timeout` touches only that one (counted by [`TimerWork`], not by a clock).
//!
//! Every other endpoint test checks the heaps too: in test builds `poll_timeout` compares
//! them with a scan of every owner's deadline.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use proptest::prelude::*;
use rsipstack::sip::Method;

use super::super::session_timer_tests::answered;
use super::super::tests::{request, Harness};
use super::*;
use crate::sip::Transport;

fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

#[test]
fn a_timer_for_an_owner_that_is_gone_is_skipped() {
    let t0 = Instant::now();
    let mut h = TimerHeap::default();
    let (a, b) = (TimerKey::Call(CallHandle(1)), TimerKey::Call(CallHandle(2)));
    h.set(a, Some(at(t0, 100)));
    h.set(b, Some(at(t0, 200)));
    assert_eq!(h.next(), Some(at(t0, 100)));
    h.set(a, None); // the call ended
    assert_eq!(
        h.next(),
        Some(at(t0, 200)),
        "the gone owner's entry left the top"
    );
    assert_eq!(
        h.take_due(TimerKind::Call, at(t0, 1000)),
        vec![(at(t0, 200), b)]
    );
    assert_eq!(h.next(), None);
    assert_eq!(h.armed(), 0);
    assert_eq!(h.entries(), 0);
}

#[test]
fn a_due_key_whose_transaction_is_gone_is_skipped_by_the_endpoint() {
    let mut hn = Harness::new();
    let t = hn.t0 + Duration::from_secs(1);
    // Armed for owners that do not exist (as if a removal had missed its disarm).
    hn.ep.timers.set(TimerKey::Call(CallHandle(99)), Some(t));
    hn.ep.timers.set(TimerKey::ServerTx(TxId(12345)), Some(t));
    hn.ep.timers.set(TimerKey::Registration(RegId(7)), Some(t));
    let before = hn.ep.timer_work();
    hn.ep.handle_timeout(t);
    assert_eq!(hn.ep.timer_work().fired - before.fired, 3, "popped as due");
    assert!(hn.sent_raw().is_empty(), "nothing sent for nobody");
    assert!(hn.events().is_empty());
    assert_eq!(hn.ep.timers.armed(), 0, "and not re-armed");
    assert_eq!(hn.ep.poll_timeout(), None);
}

#[test]
fn a_rearmed_timer_fires_once_at_its_new_time() {
    let t0 = Instant::now();
    let mut h = TimerHeap::default();
    let k = TimerKey::ClientTx(TxId(1));
    h.set(k, Some(at(t0, 100)));
    h.set(k, Some(at(t0, 300))); // later
    h.set(k, Some(at(t0, 200))); // earlier again
    assert_eq!(h.next(), Some(at(t0, 200)));
    assert!(h.take_due(TimerKind::ClientTx, at(t0, 199)).is_empty());
    assert_eq!(
        h.take_due(TimerKind::ClientTx, at(t0, 200)),
        vec![(at(t0, 200), k)]
    );
    assert!(
        h.take_due(TimerKind::ClientTx, at(t0, 10_000)).is_empty(),
        "once"
    );
    // Back and forth to the same instant: still one entry fires.
    h.set(k, Some(at(t0, 500)));
    h.set(k, Some(at(t0, 600)));
    h.set(k, Some(at(t0, 500)));
    assert_eq!(
        h.take_due(TimerKind::ClientTx, at(t0, 1000)),
        vec![(at(t0, 500), k)]
    );
    assert_eq!(h.next(), None);
}

#[test]
fn kinds_are_taken_in_their_own_phase() {
    let t0 = Instant::now();
    let mut h = TimerHeap::default();
    let call = TimerKey::Call(CallHandle(1));
    let tx = TimerKey::ServerTx(TxId(1));
    h.set(call, Some(at(t0, 10)));
    h.set(tx, Some(at(t0, 20)));
    assert_eq!(
        h.take_due(TimerKind::ServerTx, at(t0, 30)),
        vec![(at(t0, 20), tx)]
    );
    assert_eq!(
        h.next(),
        Some(at(t0, 10)),
        "the call's timer waits for its phase"
    );
    assert_eq!(
        h.take_due(TimerKind::Call, at(t0, 30)),
        vec![(at(t0, 10), call)]
    );
}

#[test]
fn stale_entries_stay_bounded_when_one_owner_rearms_forever() {
    let t0 = Instant::now();
    let mut h = TimerHeap::default();
    let k = TimerKey::Call(CallHandle(1));
    // A timer pushed later 10,000 times (a session refreshed again and again): each push
    // leaves a stale entry below the top.
    for i in 0..10_000 {
        h.set(k, Some(at(t0, 1000 + i)));
        assert!(h.entries() <= 2 + 64, "entries {} at {i}", h.entries());
    }
    assert_eq!(h.armed(), 1);
    assert_eq!(h.next(), Some(at(t0, 1000 + 9_999)));
}

/// One operation of the model test.
#[derive(Debug, Clone)]
enum Op {
    Set(u8, u16),
    Clear(u8),
    Take(u8, u16),
}

fn key(n: u8) -> TimerKey {
    let id = u64::from(n % 8);
    match n % 3 {
        0 => TimerKey::ServerTx(TxId(id)),
        1 => TimerKey::Call(CallHandle(id)),
        _ => TimerKey::Dial(CallHandle(id)),
    }
}

fn kind(n: u8) -> TimerKind {
    [TimerKind::ServerTx, TimerKind::Call, TimerKind::Dial][usize::from(n % 3)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u8>(), 0u16..200).prop_map(|(k, t)| Op::Set(k, t)),
        any::<u8>().prop_map(Op::Clear),
        (any::<u8>(), 0u16..200).prop_map(|(k, t)| Op::Take(k, t)),
    ]
}

proptest! {
    /// The heaps behave like a map of deadlines scanned in full: same next deadline, same
    /// due keys, each due key once.
    #[test]
    fn the_heaps_agree_with_a_scanned_map(ops in proptest::collection::vec(op(), 0..300)) {
        let t0 = Instant::now();
        let mut h = TimerHeap::default();
        let mut model: HashMap<TimerKey, Instant> = HashMap::new();
        for op in ops {
            match op {
                Op::Set(k, t) => {
                    h.set(key(k), Some(at(t0, t.into())));
                    model.insert(key(k), at(t0, t.into()));
                }
                Op::Clear(k) => {
                    h.set(key(k), None);
                    model.remove(&key(k));
                }
                Op::Take(k, t) => {
                    let now = at(t0, t.into());
                    let mut got = h.take_due(kind(k), now);
                    got.sort_by_key(|(at, k)| (*at, format!("{k:?}")));
                    let mut want: Vec<(Instant, TimerKey)> = model
                        .iter()
                        .filter(|(k2, at)| k2.kind() == kind(k) && **at <= now)
                        .map(|(k2, at)| (*at, *k2))
                        .collect();
                    want.sort_by_key(|(at, k)| (*at, format!("{k:?}")));
                    for (_, k2) in &want {
                        model.remove(k2);
                    }
                    prop_assert_eq!(got, want);
                }
            }
            prop_assert_eq!(h.next(), model.values().min().copied());
            prop_assert_eq!(h.armed(), model.len());
            prop_assert!(h.entries() <= 3 * (2 * model.len() + 64));
        }
    }
}

#[test]
fn ten_thousand_pending_transactions_and_one_due_handles_only_that_one() {
    let mut hn = Harness::new();
    let peer: SocketAddr = "192.0.2.10:5060".parse().expect("addr");
    let uri = "sip:trunk@192.0.2.10";
    // One OPTIONS ping at 0 (Timer E at 500 ms), then 10,000 at 400 ms (Timer E at 900 ms).
    hn.ep.send_options(peer, Transport::Udp, uri, hn.now);
    hn.now = hn.t0 + Duration::from_millis(400);
    for _ in 0..10_000 {
        hn.ep.send_options(peer, Transport::Udp, uri, hn.now);
    }
    assert_eq!(hn.sent_raw().len(), 10_001);
    assert_eq!(hn.ep.timers.armed(), 10_001);
    let due = hn.t0 + Duration::from_millis(500);
    assert_eq!(hn.ep.poll_timeout(), Some(due));

    let before = hn.ep.timer_work();
    hn.ep.handle_timeout(due);
    let work = hn.ep.timer_work();
    assert_eq!(
        work.fired - before.fired,
        1,
        "only the due transaction was handled"
    );
    assert!(
        work.popped - before.popped <= 2,
        "heap entries touched: {}",
        work.popped - before.popped
    );
    let sent = hn.sent_raw();
    assert_eq!(sent.len(), 1, "one retransmission");
    assert!(sent[0].1.starts_with("OPTIONS "));
    // Its next retransmission (2·T1 later) is before the others' first.
    assert_eq!(
        hn.ep.poll_timeout(),
        Some(hn.t0 + Duration::from_millis(900))
    );
}

#[test]
fn a_refreshed_session_timer_moves_and_fires_once_at_its_new_time() {
    let mut hn = Harness::new();
    let (call, tag, _) = answered(
        &mut hn,
        "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n",
    );
    let key = TimerKey::Call(call);
    // Unrefreshed, the session would end 32 s before it expires.
    assert_eq!(
        hn.ep.timers.armed_at(key),
        Some(hn.t0 + Duration::from_secs(88))
    );
    hn.advance_to(Duration::from_secs(50));
    let update = request(
        "UPDATE",
        "z9hG4bK-upd-1",
        Some(&tag),
        2,
        "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n",
        "",
    );
    hn.recv(&update, "127.0.0.1:5061");
    assert_eq!(
        hn.ep.timers.armed_at(key),
        Some(hn.t0 + Duration::from_secs(138)),
        "re-armed by the refresh"
    );
    hn.sent();
    hn.advance_to(Duration::from_secs(137));
    assert!(hn.events().is_empty(), "nothing at the old deadline");
    hn.advance_to(Duration::from_secs(138));
    let byes = hn
        .sent()
        .into_iter()
        .filter(|(_, m)| m.request().is_some_and(|r| r.method == Method::Bye))
        .count();
    assert_eq!(byes, 1);
    assert_eq!(hn.events().len(), 1, "ended once");
    assert_eq!(hn.ep.timers.armed_at(key), None, "a gone call is disarmed");
}
