//! SIP over TLS against the real `phonetree run` on loopback, with our own rustls peers: a call
//! over TLS (OPTIONS, INVITE with the greeting's RTP, BYE) to a listener holding certificate
//! files, checked against the test's CA; garbage instead of a ClientHello and a stalled handshake
//! closed and counted on `/metrics`; a registration over TLS to a registrar that is a rustls
//! server (`sip.tls.ca`), none to one whose certificate does not verify, one with
//! `sip.tls.verify: false`; an outbound call to
//! a `;transport=tls` URI placed over TLS.

mod run_support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use run_support::{Msg, Server, MENU_FLOW};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

/// A test CA and a server certificate it signed for `localhost` and 127.0.0.1.
struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().clone(),
        cert_pem: leaf_cert.pem(),
        key_pem: leaf_key.serialize_pem(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The server's TLS listener, from its "listening" log line (`tls=127.0.0.1:PORT`).
fn tls_addr(srv: &Server) -> SocketAddr {
    let end = Instant::now() + run_support::WAIT;
    loop {
        let found = srv.log.lock().unwrap().iter().find_map(|l| {
            let rest = l.split(" tls=").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        });
        if let Some(a) = found {
            return a;
        }
        assert!(Instant::now() < end, "no TLS listener: {}", srv.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A SIP client over TLS that trusts `ca` only.
struct TlsCaller {
    tls: rustls::StreamOwned<ClientConnection, TcpStream>,
    local: SocketAddr,
    buf: Vec<u8>,
}

impl TlsCaller {
    fn connect(to: SocketAddr, ca: &CertificateDer<'static>) -> TlsCaller {
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone()).unwrap();
        let cfg = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut conn =
            ClientConnection::new(Arc::new(cfg), ServerName::try_from("localhost").unwrap())
                .unwrap();
        let mut tcp = TcpStream::connect(to).unwrap();
        // The handshake first, with a generous timeout (a busy machine); then short reads.
        tcp.set_read_timeout(Some(run_support::WAIT)).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).expect("TLS handshake");
        }
        tcp.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let local = tcp.local_addr().unwrap();
        TlsCaller {
            tls: rustls::StreamOwned::new(conn, tcp),
            local,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, text: &str) {
        self.tls.write_all(text.as_bytes()).unwrap();
        self.tls.flush().unwrap();
    }

    /// The next whole message (Content-Length framed), within `within`.
    fn recv_within(&mut self, within: Duration) -> Option<Msg> {
        let end = Instant::now() + within;
        loop {
            if let Some(len) = phonetree::sip::message::frame_len(&self.buf).ok().flatten() {
                let msg: Vec<u8> = self.buf.drain(..len).collect();
                if msg.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                    continue;
                }
                return Some(Msg::parse(&msg));
            }
            if Instant::now() > end {
                return None;
            }
            let mut chunk = [0u8; 4096];
            match self.tls.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("TLS read: {e}"),
            }
        }
    }

    /// The next response that is not provisional.
    fn final_response(&mut self) -> Msg {
        loop {
            let m = self
                .recv_within(run_support::WAIT)
                .expect("a response over TLS");
            if m.status().is_some_and(|s| s >= 200) {
                return m;
            }
        }
    }
}

fn request(
    method: &str,
    to: SocketAddr,
    c: &TlsCaller,
    cseq: u32,
    extra: &str,
    body: &str,
) -> String {
    format!(
        "{method} sip:5000@{to};transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bK-tls-{method}-{cseq}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:caller@{local}>;tag=tls1\r\nTo: <sip:5000@{to}>{extra}\r\n\
         Call-ID: tls-call-1\r\nCSeq: {cseq} {method}\r\nContact: <sip:caller@{local};transport=tls>\r\n\
         {ctype}Content-Length: {}\r\n\r\n{body}",
        body.len(),
        local = c.local,
        ctype = if body.is_empty() { "" } else { "Content-Type: application/sdp\r\n" },
    )
}

/// The value of `phonetree_refused_total{what="..."}` on `/metrics`.
fn refused(srv: &Server, what: &str) -> u64 {
    let (_, text) = srv.get("/metrics");
    let needle = format!("phonetree_refused_total{{what=\"{what}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&needle)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether the peer closed `s` within `within` (reads until EOF or a reset).
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let end = Instant::now() + within;
    let mut buf = [0u8; 1024];
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn a_call_over_tls_and_hostile_handshakes_closed_and_counted() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, &pki.cert_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            ("PHONETREE_SIP_TLS_PORT", "0"),
            ("PHONETREE_TLS_CERT", cert.to_str().unwrap()),
            ("PHONETREE_TLS_KEY", key.to_str().unwrap()),
            ("PHONETREE_SIP_TCP_HEADER_TIMEOUT", "1s"),
        ],
    );
    let tls = tls_addr(&srv);
    assert_ne!(tls.port(), srv.sip.port());

    // OPTIONS over TLS: answered on the same connection, our Via kept.
    let mut c = TlsCaller::connect(tls, &pki.ca_der);
    c.send(&request("OPTIONS", tls, &c, 1, "", ""));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    assert!(
        ok.header("Via").unwrap().starts_with("SIP/2.0/TLS "),
        "{ok:?}"
    );

    // A call: the answer's Contact is our TLS port with transport=tls, the greeting's RTP
    // flows, BYE over TLS ends it.
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    rtp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let rtp_port = rtp.local_addr().unwrap().port();
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
    );
    c.send(&request("INVITE", tls, &c, 2, "", &sdp));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let contact = ok.header("Contact").unwrap().to_string();
    assert!(
        contact.contains(&format!(":{};transport=tls", tls.port())),
        "{contact}"
    );
    let to_tag = ok.header("To").unwrap().to_string();
    let to_tag = &to_tag[to_tag.find(">").unwrap() + 1..];
    c.send(&request("ACK", tls, &c, 2, to_tag, ""));
    let mut got = 0;
    let end = Instant::now() + run_support::WAIT;
    let mut buf = [0u8; 2048];
    while got < 5 && Instant::now() < end {
        if let Ok((n, _)) = rtp.recv_from(&mut buf) {
            if n > 12 && buf[1] & 0x7f == 0 {
                got += 1;
            }
        }
    }
    assert_eq!(got, 5, "the greeting's RTP: {}", srv.log_text());
    c.send(&request("BYE", tls, &c, 3, to_tag, ""));
    let bye_ok = c.final_response();
    assert_eq!(bye_ok.status(), Some(200), "{bye_ok:?}");

    // Garbage instead of a ClientHello: closed, counted.
    let before = refused(&srv, "tls_handshake");
    let mut g = TcpStream::connect(tls).unwrap();
    let t0 = Instant::now();
    g.write_all(b"OPTIONS sip:x@y SIP/2.0\r\n\r\n").unwrap();
    assert!(closed_within(&mut g, Duration::from_secs(10)));
    let garbage_closed = t0.elapsed();
    let end = Instant::now() + run_support::WAIT;
    while refused(&srv, "tls_handshake") <= before && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(refused(&srv, "tls_handshake"), before + 1);

    // A handshake that stalls (half a record, then nothing): closed after the header timeout.
    let mut s = TcpStream::connect(tls).unwrap();
    let t0 = Instant::now();
    s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(10)));
    let stall_closed = t0.elapsed();
    let end = Instant::now() + run_support::WAIT;
    while refused(&srv, "tls_slow") < 1 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(refused(&srv, "tls_slow"), 1);

    // The call over TLS still works after that (nothing was held).
    let mut c2 = TlsCaller::connect(tls, &pki.ca_der);
    c2.send(&request("OPTIONS", tls, &c2, 9, "", ""));
    assert_eq!(c2.final_response().status(), Some(200));
    eprintln!(
        "figures: tls: garbage closed after {} ms, a stalled handshake after {} ms \
         (sip.tcp_header_timeout 1s)",
        garbage_closed.as_millis(),
        stall_closed.as_millis()
    );
}

/// A registrar (or callee) over TLS: accepts one connection, reports every request it reads (or
/// the handshake error), answers REGISTERs with 200.
fn tls_registrar(pki: &Pki) -> (SocketAddr, mpsc::Receiver<Result<Msg, String>>) {
    let chain = vec![CertificateDer::from_pem_slice_ok(&pki.cert_pem)];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from_pem_slice_ok(&pki.key_pem));
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let cfg = Arc::new(cfg);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((tcp, _)) = listener.accept() else {
            return;
        };
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let conn = ServerConnection::new(cfg).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(len) = phonetree::sip::message::frame_len(&buf).ok().flatten() {
                let bytes: Vec<u8> = buf.drain(..len).collect();
                let m = Msg::parse(&bytes);
                if m.method() != Some("REGISTER") {
                    let _ = tx.send(Ok(m));
                    continue;
                }
                let h = |n: &str| m.header(n).unwrap_or_default().to_string();
                let ok = format!(
                    "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=r\r\nCall-ID: {}\r\nCSeq: {}\r\n\
                     Contact: {};expires=600\r\nContent-Length: 0\r\n\r\n",
                    h("Via"), h("From"), h("To"), h("Call-ID"), h("CSeq"), h("Contact")
                );
                let _ = tls.write_all(ok.as_bytes());
                let _ = tls.flush();
                let _ = tx.send(Ok(m));
                continue;
            }
            match tls.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            }
        }
    });
    (addr, rx)
}

trait PemSliceOk {
    fn from_pem_slice_ok(pem: &str) -> Self;
}

impl PemSliceOk for CertificateDer<'static> {
    fn from_pem_slice_ok(pem: &str) -> Self {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }
}

impl PemSliceOk for PrivatePkcs8KeyDer<'static> {
    fn from_pem_slice_ok(pem: &str) -> Self {
        use rustls::pki_types::pem::PemObject;
        PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).unwrap()
    }
}

#[test]
fn registers_over_tls_with_the_configured_ca_and_not_with_an_unverified_certificate() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();

    let (registrar, got) = tls_registrar(&pki);
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            ("PHONETREE_SIP_TLS_PORT", "0"),
            ("PHONETREE_TLS_CA", ca.to_str().unwrap()),
            (
                "PHONETREE_ACCOUNT_REGISTRAR",
                &format!("{registrar};transport=tls"),
            ),
            ("PHONETREE_ACCOUNT_USERNAME", "1001"),
            ("PHONETREE_ACCOUNT_PASSWORD", "pw"),
        ],
    );
    let tls = tls_addr(&srv);
    let reg = got
        .recv_timeout(Duration::from_secs(10))
        .expect("a REGISTER over TLS")
        .expect("the handshake verified");
    assert!(reg.first.starts_with("REGISTER sip:127.0.0.1:"), "{reg:?}");
    assert!(
        reg.header("Via").unwrap().starts_with("SIP/2.0/TLS "),
        "{reg:?}"
    );
    assert!(
        reg.header("Contact")
            .unwrap()
            .ends_with(&format!(":{};transport=tls>", tls.port())),
        "{reg:?}"
    );
    let end = Instant::now() + run_support::WAIT;
    let registered = |t: &str| t.contains("state=\"registered\"") || t.contains("state=registered");
    while !registered(&srv.log_text()) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(registered(&srv.log_text()), "{}", srv.log_text());
    drop(srv);

    // The platform's roots do not know the test CA: no REGISTER is ever read.
    let (registrar, got) = tls_registrar(&pki);
    let _srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            // An account over TLS turns the listener on: never on the well-known port here.
            ("PHONETREE_SIP_TLS_PORT", "0"),
            ("PHONETREE_ACCOUNT_REGISTRAR", &format!("sips:{registrar}")),
            ("PHONETREE_ACCOUNT_USERNAME", "1001"),
            ("PHONETREE_ACCOUNT_PASSWORD", "pw"),
        ],
    );
    match got.recv_timeout(Duration::from_secs(10)) {
        Ok(Err(_)) => {}
        other => panic!("expected a refused handshake, got {other:?}"),
    }
    drop(_srv);

    // `sip.tls.verify: false` (a self-signed PBX): any certificate, with a warning.
    let (registrar, got) = tls_registrar(&pki);
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            ("PHONETREE_TLS_VERIFY", "false"),
            // An account over TLS turns the listener on: never on the well-known port here.
            ("PHONETREE_SIP_TLS_PORT", "0"),
            ("PHONETREE_ACCOUNT_REGISTRAR", &format!("sips:{registrar}")),
            ("PHONETREE_ACCOUNT_USERNAME", "1001"),
            ("PHONETREE_ACCOUNT_PASSWORD", "pw"),
        ],
    );
    let reg = got
        .recv_timeout(Duration::from_secs(10))
        .expect("a REGISTER over TLS")
        .expect("no certificate check");
    assert!(reg.first.starts_with("REGISTER "), "{reg:?}");
    assert!(srv.logged("sip.tls.verify is false"), "{}", srv.log_text());
}

#[test]
fn an_outbound_call_to_a_transport_tls_uri_goes_over_tls() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let (callee, got) = tls_registrar(&pki);
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            ("PHONETREE_SIP_TLS_ENABLED", "true"),
            ("PHONETREE_SIP_TLS_PORT", "0"),
            ("PHONETREE_TLS_CA", ca.to_str().unwrap()),
            ("PHONETREE_OUTBOUND_ALLOW", "sip:*@127.0.0.1:*"),
        ],
    );
    let tls = tls_addr(&srv);
    let to = format!("sip:oncall@{callee};transport=tls");
    let body = serde_json::json!({"to": to, "message": "Disk full", "ring_timeout": "10s"});
    let (status, _, text) = srv.request(
        "POST",
        "/api/calls",
        &[("Content-Type", "application/json")],
        &body.to_string(),
    );
    assert_eq!(status, 201, "{text}");
    let invite = got
        .recv_timeout(Duration::from_secs(10))
        .expect("an INVITE over TLS")
        .expect("the handshake verified");
    assert!(invite.first.starts_with("INVITE sip:oncall@"), "{invite:?}");
    assert!(
        invite.header("Via").unwrap().starts_with("SIP/2.0/TLS "),
        "{invite:?}"
    );
    assert!(
        invite
            .header("Contact")
            .unwrap()
            .contains(&format!(":{};transport=tls>", tls.port())),
        "{invite:?}"
    );
    assert!(invite.body.contains("m=audio"), "{invite:?}");
}
