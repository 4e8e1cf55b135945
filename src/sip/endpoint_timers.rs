//! The endpoint's timers: one deadline per owner (server transaction, client transaction,
//! outbound INVITE transaction, registration, call, outbound dial) kept in min-heaps, so that
//! `poll_timeout` is a peek and `handle_timeout` touches only what is due — O(log n) per loop
//! turn in the number of pending owners, not a scan of all of them (issue 10, finding 2:
//! 32.7k OPTIONS cost 22.8 s of CPU with calls up, because every loop turn scanned every table
//! twice).
//!
//! Owns [`TimerKey`] (a closed enum of timer owners, numeric ids only), [`TimerHeap`] (the
//! heaps with lazy deletion) and [`TxTable`] (a transaction table that gives each entry the
//! numeric id its timer is filed under). The owners keep their own deadlines
//! (`poll_timeout()` of each sans-IO machine); the endpoint re-arms an owner's key after every
//! input it gives that owner, and disarms it when the owner goes. The invariant (checked in
//! test builds by [`super::Endpoint::poll_timeout`] against a scan of every owner): the
//! heaps' earliest live entry is the earliest deadline of all owners.
//!
//! Lazy deletion: re-arming pushes a new entry with a fresh sequence number and leaves the old
//! one in the heap; an entry is live only while `armed[key]` holds its `(at, seq)`. Stale
//! entries are popped when they reach the top (right after the change that made them stale,
//! so the top is always live and a peek is exact), and a heap holding more than twice its live
//! entries (+64) is rebuilt, so memory stays O(live owners).
//!
//! Hand-written rather than a crate: a `BinaryHeap` with sequence numbers is ~100 lines; the
//! timer-wheel crates are built around their own clocks or async runtimes, and the endpoint
//! takes time as an input (sans-IO).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::Instant;

use super::{CallHandle, ClientEvent, Endpoint, InviteServerEvent, Owner, RegId, ServerTx, TxKey};

impl Endpoint {
    /// When `handle_timeout` is next due: a peek at the timer heaps, O(1) (and the one STUN
    /// client's deadline, which lives outside them).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next = self.timers.next();
        #[cfg(test)]
        assert_eq!(
            next,
            self.scan_timeout(),
            "the timer heaps disagree with the owners' deadlines (an owner was not re-armed)"
        );
        next.into_iter().chain(self.stun_timeout()).min()
    }

    /// Fires every timer due at `now`, in deadline order (then by branch), so that runs with
    /// the same inputs emit the same datagrams in the same order. Phases as always: server
    /// transactions, client transactions (then what their timeouts mean to their owners),
    /// outbound INVITE transactions and dials, registrations, calls; each phase takes what is
    /// due when it starts. Touches only due owners: O(d log n) for d due of n pending.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due: Vec<(Instant, TxKey)> = self
            .timers
            .take_due(TimerKind::ServerTx, now)
            .into_iter()
            .filter_map(|(at, k)| match k {
                TimerKey::ServerTx(id) => self.server.key_of(id).map(|key| (at, key.clone())),
                _ => None,
            })
            .collect();
        due.sort_by(|a, b| (a.0, &a.1.branch).cmp(&(b.0, &b.1.branch)));
        let mut ack_timeouts = Vec::new();
        for (_, key) in due {
            let Some(e) = self.server.get_mut(&key) else {
                continue;
            };
            let terminated = match &mut e.tx {
                ServerTx::Invite(t) => {
                    if t.handle_timeout(now, &mut self.transmits)
                        == Some(InviteServerEvent::AckTimeout)
                    {
                        if let Some(call) = e.call {
                            ack_timeouts.push((call, key.clone()));
                        }
                    }
                    t.is_terminated()
                }
                ServerTx::NonInvite(t) => {
                    t.handle_timeout(now);
                    t.is_terminated()
                }
            };
            if terminated {
                self.remove_server(&key);
            } else {
                self.rearm_server(&key);
            }
        }
        let mut due: Vec<(Instant, String)> = self
            .timers
            .take_due(TimerKind::ClientTx, now)
            .into_iter()
            .filter_map(|(at, k)| match k {
                TimerKey::ClientTx(id) => self.client.key_of(id).map(|b| (at, b.clone())),
                _ => None,
            })
            .collect();
        due.sort();
        let mut client_timeouts = Vec::new();
        for (_, branch) in due {
            let Some(e) = self.client.get_mut(&branch) else {
                continue;
            };
            if e.tx.handle_timeout(now, &mut self.transmits) == Some(ClientEvent::Timeout) {
                client_timeouts.push((e.owner, e.purpose));
            }
            if e.tx.is_terminated() {
                self.remove_client(&branch);
            } else {
                self.rearm_client(&branch);
            }
        }
        for (call, key) in ack_timeouts {
            let _ = self.with_call(call, now, |c, ctx| c.on_ack_timeout(&key, ctx));
        }
        for (owner, purpose) in client_timeouts {
            match owner {
                Owner::Call(id) => {
                    let _ = self.with_call(id, now, |c, ctx| c.on_client_timeout(purpose, ctx));
                }
                Owner::Reg(id) => self.with_reg(id, now, |r, ctx| r.on_timeout(purpose, ctx)),
                Owner::Ping(ping) => self
                    .events
                    .push_back(super::Event::OptionsResult { ping, status: None }),
                Owner::Dial(id) => {
                    self.with_dial(id, now, |d, ctx| d.on_request_done(purpose, ctx))
                }
            }
        }
        self.uac_timeouts(now);
        self.stun_handle_timeout(now);
        let mut due: Vec<RegId> = self
            .timers
            .take_due(TimerKind::Registration, now)
            .into_iter()
            .filter_map(|(_, k)| match k {
                TimerKey::Registration(id) => Some(id),
                _ => None,
            })
            .collect();
        due.sort();
        for id in due {
            self.with_reg(id, now, |r, ctx| r.handle_timeout(ctx));
        }
        let mut due: Vec<CallHandle> = self
            .timers
            .take_due(TimerKind::Call, now)
            .into_iter()
            .filter_map(|(_, k)| match k {
                TimerKey::Call(id) => Some(id),
                _ => None,
            })
            .collect();
        due.sort();
        for id in due {
            let _ = self.with_call(id, now, |c, ctx| c.on_timer(ctx));
        }
    }

    /// How much work the timer heaps did so far (tests and benchmarks: entries popped, owners
    /// fired).
    pub fn timer_work(&self) -> TimerWork {
        self.timers.work()
    }

    // ---- re-arming: after every input an owner gets -------------------------------------

    pub(super) fn insert_server(&mut self, key: TxKey, entry: super::ServerEntry) {
        let (_, old) = self.server.insert(key.clone(), entry);
        if let Some(old) = old {
            self.timers.set(TimerKey::ServerTx(old), None);
        }
        self.rearm_server(&key);
    }

    pub(super) fn rearm_server(&mut self, key: &TxKey) {
        if let Some((id, e)) = self.server.get_with_id(key) {
            self.timers.set(TimerKey::ServerTx(id), e.deadline());
        }
    }

    fn remove_server(&mut self, key: &TxKey) {
        if let Some((id, _)) = self.server.remove(key) {
            self.timers.set(TimerKey::ServerTx(id), None);
        }
    }

    pub(super) fn insert_client(&mut self, branch: String, entry: super::ClientEntry) {
        let (_, old) = self.client.insert(branch.clone(), entry);
        if let Some(old) = old {
            self.timers.set(TimerKey::ClientTx(old), None);
        }
        self.rearm_client(&branch);
    }

    pub(super) fn rearm_client(&mut self, branch: &String) {
        if let Some((id, e)) = self.client.get_with_id(branch) {
            self.timers.set(TimerKey::ClientTx(id), e.tx.poll_timeout());
        }
    }

    fn remove_client(&mut self, branch: &String) {
        if let Some((id, _)) = self.client.remove(branch) {
            self.timers.set(TimerKey::ClientTx(id), None);
        }
    }

    /// A call's deadline changed, or the call is gone.
    pub(super) fn rearm_call(&mut self, id: CallHandle) {
        let at = self.calls.get(&id).and_then(super::Call::poll_timeout);
        self.timers.set(TimerKey::Call(id), at);
    }

    pub(super) fn rearm_reg(&mut self, id: RegId) {
        let at = self
            .regs
            .get(&id)
            .and_then(super::Registration::poll_timeout);
        self.timers.set(TimerKey::Registration(id), at);
    }

    /// The earliest deadline by a scan of every owner (what `poll_timeout` was before the
    /// heaps; test builds check the heaps against it on every `poll_timeout`).
    #[cfg(test)]
    fn scan_timeout(&self) -> Option<Instant> {
        let s = self
            .server
            .values()
            .filter_map(super::ServerEntry::deadline);
        let c = self.client.values().filter_map(|e| e.tx.poll_timeout());
        let r = self
            .regs
            .values()
            .filter_map(super::Registration::poll_timeout);
        let calls = self.calls.values().filter_map(super::Call::poll_timeout);
        let uac = self.uac.scan_timeout();
        s.chain(c).chain(r).chain(calls).chain(uac).min()
    }
}

/// The number a transaction's timer is filed under (its branch is a string; heap entries stay
/// small and `Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct TxId(u64);

/// Whose timer it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum TimerKey {
    ServerTx(TxId),
    ClientTx(TxId),
    /// An outbound call's INVITE client transaction.
    InviteTx(TxId),
    Registration(RegId),
    Call(CallHandle),
    /// An outbound call before its answer.
    Dial(CallHandle),
}

/// The kinds of [`TimerKey`], one heap each, so that `handle_timeout` fires them in the same
/// phases (and the same order) as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimerKind {
    ServerTx,
    ClientTx,
    InviteTx,
    Registration,
    Call,
    Dial,
}

const KINDS: usize = 6;

impl TimerKey {
    pub(super) fn kind(self) -> TimerKind {
        match self {
            TimerKey::ServerTx(_) => TimerKind::ServerTx,
            TimerKey::ClientTx(_) => TimerKind::ClientTx,
            TimerKey::InviteTx(_) => TimerKind::InviteTx,
            TimerKey::Registration(_) => TimerKind::Registration,
            TimerKey::Call(_) => TimerKind::Call,
            TimerKey::Dial(_) => TimerKind::Dial,
        }
    }
}

impl TimerKind {
    fn index(self) -> usize {
        self as usize
    }
}

/// One heap entry: ordered by deadline, then by when it was armed.
#[derive(Debug, Clone, Copy)]
struct Armed {
    at: Instant,
    seq: u64,
    key: TimerKey,
}

impl PartialEq for Armed {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Armed {}
impl PartialOrd for Armed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Armed {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// How much work the heaps did (the test hook for "a loop turn costs O(log n)").
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TimerWork {
    /// Heap entries popped (due, or stale).
    pub popped: u64,
    /// Owners handed to `handle_timeout` as due.
    pub fired: u64,
}

/// Deadlines by owner, one min-heap per [`TimerKind`].
#[derive(Debug, Default)]
pub(super) struct TimerHeap {
    heaps: [BinaryHeap<Reverse<Armed>>; KINDS],
    /// The live entry of each armed key.
    armed: HashMap<TimerKey, (Instant, u64)>,
    live: [usize; KINDS],
    seq: u64,
    work: TimerWork,
}

impl TimerHeap {
    /// Arms `key` at `at`, or disarms it (`None`: no deadline, or the owner is gone).
    pub(super) fn set(&mut self, key: TimerKey, at: Option<Instant>) {
        let k = key.kind().index();
        match at {
            None => {
                if self.armed.remove(&key).is_none() {
                    return;
                }
                self.live[k] -= 1;
            }
            Some(at) => {
                if self.armed.get(&key).is_some_and(|a| a.0 == at) {
                    return;
                }
                self.seq += 1;
                let seq = self.seq;
                if self.armed.insert(key, (at, seq)).is_none() {
                    self.live[k] += 1;
                }
                self.heaps[k].push(Reverse(Armed { at, seq, key }));
            }
        }
        self.settle(k);
    }

    /// The earliest deadline of all armed keys.
    pub(super) fn next(&self) -> Option<Instant> {
        self.heaps
            .iter()
            .filter_map(|h| h.peek().map(|Reverse(a)| a.at))
            .min()
    }

    /// Pops the keys of `kind` due at `now` (deadline order) and disarms them: the caller
    /// handles each owner that still exists and re-arms it from its new deadline.
    pub(super) fn take_due(&mut self, kind: TimerKind, now: Instant) -> Vec<(Instant, TimerKey)> {
        let k = kind.index();
        let mut due = Vec::new();
        while let Some(Reverse(top)) = self.heaps[k].peek() {
            if top.at > now {
                break;
            }
            let top = *top;
            self.heaps[k].pop();
            self.work.popped += 1;
            if self.armed.get(&top.key) == Some(&(top.at, top.seq)) {
                self.armed.remove(&top.key);
                self.live[k] -= 1;
                due.push((top.at, top.key));
            }
        }
        self.work.fired += due.len() as u64;
        self.settle(k);
        due
    }

    /// When `key` is armed for.
    #[cfg(test)]
    pub(super) fn armed_at(&self, key: TimerKey) -> Option<Instant> {
        self.armed.get(&key).map(|a| a.0)
    }

    /// Keys armed now (all kinds).
    #[cfg(test)]
    pub(super) fn armed(&self) -> usize {
        self.armed.len()
    }

    /// Heap entries held now, stale ones included (bounded by 2 × armed + 64 per kind).
    #[cfg(test)]
    pub(super) fn entries(&self) -> usize {
        self.heaps.iter().map(BinaryHeap::len).sum()
    }

    pub(super) fn work(&self) -> TimerWork {
        self.work
    }

    fn is_live(&self, a: &Armed) -> bool {
        self.armed.get(&a.key) == Some(&(a.at, a.seq))
    }

    /// Drops stale entries off the top of heap `k` (so that a peek is exact) and rebuilds it
    /// when stale entries outnumber live ones.
    fn settle(&mut self, k: usize) {
        while let Some(Reverse(top)) = self.heaps[k].peek() {
            if self.is_live(top) {
                break;
            }
            self.heaps[k].pop();
            self.work.popped += 1;
        }
        if self.heaps[k].len() > 2 * self.live[k] + 64 {
            let armed = &self.armed;
            self.heaps[k].retain(|Reverse(a)| armed.get(&a.key) == Some(&(a.at, a.seq)));
        }
    }
}

/// A transaction table: entries by their protocol key (`K`: branch, or branch + sent-by +
/// method) and by the [`TxId`] their timer is filed under. Both lookups are O(1).
#[derive(Debug)]
pub(super) struct TxTable<K, V> {
    by_key: HashMap<K, (TxId, V)>,
    by_id: HashMap<TxId, K>,
    next: u64,
}

impl<K, V> Default for TxTable<K, V> {
    fn default() -> Self {
        TxTable {
            by_key: HashMap::new(),
            by_id: HashMap::new(),
            next: 1,
        }
    }
}

impl<K: Hash + Eq + Clone, V> TxTable<K, V> {
    /// Inserts (or replaces) the entry of `key`; its timer id, and the id of a replaced entry
    /// (whose timer the caller disarms).
    pub(super) fn insert(&mut self, key: K, value: V) -> (TxId, Option<TxId>) {
        let id = TxId(self.next);
        self.next += 1;
        self.by_id.insert(id, key.clone());
        let old = self.by_key.insert(key, (id, value)).map(|(old, _)| old);
        if let Some(old) = old {
            self.by_id.remove(&old);
        }
        (id, old)
    }

    pub(super) fn get(&self, key: &K) -> Option<&V> {
        self.by_key.get(key).map(|(_, v)| v)
    }

    pub(super) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.by_key.get_mut(key).map(|(_, v)| v)
    }

    /// The entry with its timer id.
    pub(super) fn get_with_id(&self, key: &K) -> Option<(TxId, &V)> {
        self.by_key.get(key).map(|(id, v)| (*id, v))
    }

    /// Removes an entry; its timer id (the caller disarms it) and value.
    pub(super) fn remove(&mut self, key: &K) -> Option<(TxId, V)> {
        let (id, v) = self.by_key.remove(key)?;
        self.by_id.remove(&id);
        Some((id, v))
    }

    /// The key a timer id belongs to (`None` once the entry is gone).
    pub(super) fn key_of(&self, id: TxId) -> Option<&K> {
        self.by_id.get(&id)
    }

    pub(super) fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Every entry (test builds: the scan the heaps are checked against).
    #[cfg(test)]
    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.by_key.values().map(|(_, v)| v)
    }
}

#[cfg(test)]
#[path = "endpoint_timers_tests.rs"]
mod tests;
