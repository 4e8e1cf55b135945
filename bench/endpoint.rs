//! Signalling cost per message against the number of calls up (`cargo bench --bench endpoint`;
//! `-- --markdown` prints the tables of bench/ENDPOINT.md). Not a test: nothing here asserts on
//! time.
//!
//! Issue 10, finding 2: every message used to scan every transaction, registration and call
//! (`Endpoint::poll_timeout`/`handle_timeout`, twice per loop turn), so 32.7k OPTIONS cost 22.8 s
//! of CPU with calls up. This drives the sans-IO [`Endpoint`] exactly as
//! `engine::endpoint_loop` does for each datagram (handle it, fire timers that are due, drain
//! datagrams and events, ask for the next deadline) on virtual time, with 100, 10,000 and 30,000
//! confirmed calls up, each holding a pending session timer (`Session-Expires: 1800`). Measured
//! per message: an out-of-dialog OPTIONS (answered statelessly) and an in-dialog INFO key press
//! to a call picked across all of them (a server transaction and a 200, one DTMF event; the
//! INFOs' transactions stay pending during the round and are expired, untimed, after it). The sizes are measured in the same
//! process, interleaved round by round (median of the rounds), so a busy machine slows all of
//! them alike; the ratios against 100 calls are the result (target: flat, ≈ 1).
//!
//! Only the endpoint's public API is used, so the same file measures an older commit too.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use phonetree::sip::{message, Endpoint, EndpointConfig, Event, Transport};

const SIZES: [usize; 3] = [100, 10_000, 30_000];

struct Bed {
    ep: Endpoint,
    now: Instant,
    calls: Vec<Leg>,
    next_branch: u64,
}

fn source(i: usize) -> SocketAddr {
    let i = i as u32;
    SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 5062))
}

fn invite(src: SocketAddr, call_id: &str, branch: &str) -> Vec<u8> {
    let sdp = "v=0\r\no=u 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
               m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    format!(
        "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {src};branch={branch}\r\n\
         From: <sip:caller@{src}>;tag=f-{call_id}\r\n\
         To: <sip:service@127.0.0.1:5060>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{src}>\r\n\
         Supported: timer\r\n\
         Session-Expires: 1800\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

/// One confirmed call as the caller sees it.
struct Leg {
    src: SocketAddr,
    call_id: String,
    /// Our To tag.
    tag: String,
    /// The caller's next CSeq.
    cseq: u32,
}

fn in_dialog(method: &str, leg: &Leg, cseq: u32, branch: &str, extra: &str, body: &str) -> Vec<u8> {
    let Leg {
        src, call_id, tag, ..
    } = leg;
    format!(
        "{method} sip:service@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {src};branch={branch}\r\n\
         From: <sip:caller@{src}>;tag=f-{call_id}\r\n\
         To: <sip:service@127.0.0.1:5060>;tag={tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:caller@{src}>\r\n\
         Max-Forwards: 70\r\n{extra}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn options(src: SocketAddr, branch: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:service@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {src};branch={branch}\r\n\
         From: <sip:probe@{src}>;tag=p-{branch}\r\n\
         To: <sip:service@127.0.0.1:5060>\r\n\
         Call-ID: {branch}@probe\r\n\
         CSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

impl Bed {
    /// An endpoint with `n` confirmed calls (INVITE, 200 with a session timer, ACK).
    fn new(n: usize) -> Bed {
        let local: SocketAddr = "127.0.0.1:5060".parse().expect("addr");
        let mut bed = Bed {
            ep: Endpoint::new(EndpointConfig::new(local, 7)),
            now: Instant::now(),
            calls: Vec::with_capacity(n),
            next_branch: 0,
        };
        for i in 0..n {
            let src = source(i);
            let call_id = format!("c{i}@bench");
            let branch = bed.branch();
            bed.ep.handle_datagram(
                &invite(src, &call_id, &branch),
                src,
                Transport::Udp,
                bed.now,
            );
            let call = loop {
                match bed.ep.poll_event() {
                    Some(Event::IncomingCall { call, .. }) => break call,
                    Some(_) => {}
                    None => panic!("INVITE {i} made no call"),
                }
            };
            bed.ep.answer(call, "v=0\r\n", bed.now).expect("answer");
            let mut tag = None;
            while let Some(t) = bed.ep.poll_transmit() {
                if let Ok(m) = message::parse(&t.bytes) {
                    if m.response().is_some_and(|r| r.status_code.code() == 200) {
                        tag = m.core.to.tag.clone();
                    }
                }
            }
            let tag = tag.expect("a 200 with a To tag");
            let leg = Leg {
                src,
                call_id,
                tag,
                cseq: 2,
            };
            let ack_branch = bed.branch();
            let ack = in_dialog("ACK", &leg, 1, &ack_branch, "", "");
            bed.ep.handle_datagram(&ack, src, Transport::Udp, bed.now);
            while bed.ep.poll_event().is_some() {}
            bed.calls.push(leg);
        }
        // The INVITE transactions end (Timer L): what is left pending is one session timer
        // per call.
        bed.expire_transactions();
        bed
    }

    /// Lets 33 s of virtual time pass (not timed): every server transaction ends (Timers J
    /// and L are 32 s), so each round starts with the same tables; the session timers (1800 s)
    /// stay.
    fn expire_transactions(&mut self) {
        self.now += Duration::from_secs(33);
        while self.ep.poll_timeout().is_some_and(|t| t <= self.now) {
            self.ep.handle_timeout(self.now);
        }
        while self.ep.poll_transmit().is_some() {}
        while self.ep.poll_event().is_some() {}
    }

    fn branch(&mut self) -> String {
        self.next_branch += 1;
        format!("z9hG4bK-b{}", self.next_branch)
    }

    /// One turn of the endpoint loop for one datagram (as `engine::endpoint_loop::run`).
    fn turn(&mut self, bytes: &[u8], src: SocketAddr) -> usize {
        // Virtual time creeps on (1 µs a message): no timer of the calls comes due.
        self.now += Duration::from_micros(1);
        let now = self.now;
        let _deadline = self.ep.poll_timeout();
        self.ep.handle_datagram(bytes, src, Transport::Udp, now);
        if self.ep.poll_timeout().is_some_and(|t| t <= now) {
            self.ep.handle_timeout(now);
        }
        let mut out = 0;
        while self.ep.poll_transmit().is_some() {
            out += 1;
        }
        while self.ep.poll_event().is_some() {}
        out
    }

    /// Nanoseconds per out-of-dialog OPTIONS over `m` messages.
    fn options(&mut self, m: usize) -> f64 {
        let msgs: Vec<(Vec<u8>, SocketAddr)> = (0..m)
            .map(|i| {
                let b = self.branch();
                let src = source(1_000_000 + i % 50);
                (options(src, &b), src)
            })
            .collect();
        let t = Instant::now();
        let mut answered = 0;
        for (bytes, src) in &msgs {
            answered += self.turn(bytes, *src);
        }
        let ns = t.elapsed().as_nanos() as f64 / m as f64;
        assert_eq!(answered, m, "every OPTIONS answered");
        ns
    }

    /// Nanoseconds per in-dialog INFO (a key press) over `m` messages, spread over the first
    /// `hot` calls.
    fn infos(&mut self, m: usize, hot: usize) -> f64 {
        let n = self.calls.len().min(hot);
        let mut msgs = Vec::with_capacity(m);
        for i in 0..m {
            let b = self.branch();
            let c = &mut self.calls[(i * 7919) % n];
            let body = "Signal=5\r\nDuration=160\r\n";
            let extra = "Content-Type: application/dtmf-relay\r\n";
            msgs.push((in_dialog("INFO", c, c.cseq, &b, extra, body), c.src));
            c.cseq += 1;
        }
        let t = Instant::now();
        let mut answered = 0;
        for (bytes, src) in &msgs {
            answered += self.turn(bytes, *src);
        }
        let ns = t.elapsed().as_nanos() as f64 / m as f64;
        assert_eq!(answered, m, "every INFO answered");
        self.expire_transactions();
        ns
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let markdown = args.iter().any(|a| a == "--markdown");
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let rounds = arg("--rounds", 5);
    let per_round = arg("--messages", 2_000);
    // `--hot N`: INFOs go to the first N calls only (the same working set at every size: what
    // is left of a ratio is the memory the calls take, not work that grows with them).
    let hot = arg("--hot", usize::MAX);

    let setup = Instant::now();
    let mut beds: Vec<Bed> = SIZES.iter().map(|&n| Bed::new(n)).collect();
    let setup = setup.elapsed();
    let mut opts = vec![Vec::new(); SIZES.len()];
    let mut infos = vec![Vec::new(); SIZES.len()];
    for _ in 0..rounds {
        for (i, bed) in beds.iter_mut().enumerate() {
            opts[i].push(bed.options(per_round));
            infos[i].push(bed.infos(per_round, hot));
        }
    }
    let opts: Vec<f64> = opts.into_iter().map(median).collect();
    let infos: Vec<f64> = infos.into_iter().map(median).collect();

    if markdown {
        println!("| calls up | OPTIONS µs/msg | ratio | in-dialog INFO µs/msg | ratio |");
        println!("|---:|---:|---:|---:|---:|");
    }
    for (i, n) in SIZES.iter().enumerate() {
        let (o, f) = (opts[i] / 1000.0, infos[i] / 1000.0);
        let (ro, rf) = (opts[i] / opts[0], infos[i] / infos[0]);
        if markdown {
            println!("| {n} | {o:.2} | {ro:.2} | {f:.2} | {rf:.2} |");
        } else {
            println!(
                "{n:>6} calls: OPTIONS {o:8.2} µs/msg (×{ro:.2})   INFO {f:8.2} µs/msg (×{rf:.2})"
            );
        }
    }
    let per_msg_32k = opts[2] * 32_700.0 / 1e9;
    if markdown && hot < usize::MAX {
        println!();
        println!("INFOs to the first {hot} calls only (`--hot {hot}`).");
    }
    if markdown {
        println!();
        println!(
            "{rounds} rounds × {per_round} messages per size and kind, median of the rounds; \
             setting up {} calls took {:.1} s. At the 30,000-call rate, 32,700 OPTIONS cost \
             {per_msg_32k:.2} s of CPU.",
            SIZES.iter().sum::<usize>(),
            setup.as_secs_f64()
        );
    } else {
        println!(
            "setup {:.1} s; 32,700 OPTIONS at 30k calls: {per_msg_32k:.2} s",
            setup.as_secs_f64()
        );
    }
}
