//! The SMS client against a local stand-in of Twilio's documented Messages API, and the
//! generic webhook: sent, refused for good (4xx), and worth retrying (5xx, nobody listening).

mod twilio_standin;

use std::time::Duration;

use phonetree::sip::digest::Secret;
use phonetree::sms::{send, SmsConfig, SmsProvider};
use twilio_standin::TwilioStandIn;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "auth-token-for-tests";

fn twilio(base_url: String, token: &str) -> SmsConfig {
    SmsConfig {
        provider: SmsProvider::Twilio {
            account_sid: SID.into(),
            auth_token: Secret::new(token),
            base_url,
        },
        from: "+15005550006".into(),
        timeout: Duration::from_secs(5),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn twilio_accepts_a_message_and_we_keep_its_sid() {
    let standin = TwilioStandIn::start(SID, TOKEN);
    let client = reqwest::Client::new();
    let cfg = twilio(standin.base_url(), TOKEN);
    let r = rt().block_on(send(
        &client,
        &cfg,
        "+4930123456",
        "Disk full on db1 & more: 100%",
    ));
    assert_eq!(r.outcome, "sent", "{r}");
    assert_eq!(r.status, Some(201));
    let sent = standin.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "+4930123456", "the plus survives form encoding");
    assert_eq!(sent[0].from, "+15005550006");
    assert_eq!(sent[0].body, "Disk full on db1 & more: 100%");
    assert_eq!(r.detail, format!("{} queued", sent[0].sid));
}

#[test]
fn twilio_refusals_are_permanent_and_outages_retryable() {
    let standin = TwilioStandIn::start(SID, TOKEN);
    let client = reqwest::Client::new();
    let rt = rt();
    let bad_token = rt.block_on(send(
        &client,
        &twilio(standin.base_url(), "wrong"),
        "+4930123",
        "x",
    ));
    assert_eq!(bad_token.outcome, "rejected");
    assert!(bad_token.detail.contains("20003"), "{}", bad_token.detail);
    assert!(!bad_token.detail.contains("wrong"), "never the token");
    let bad_number = rt.block_on(send(
        &client,
        &twilio(standin.base_url(), TOKEN),
        "030123",
        "x",
    ));
    assert_eq!(bad_number.outcome, "rejected");
    assert!(bad_number.detail.contains("21211"), "{}", bad_number.detail);
    assert!(standin.sent().is_empty());
    // Nobody listening: worth a retry.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let down = rt.block_on(send(
        &client,
        &twilio(format!("http://127.0.0.1:{port}"), TOKEN),
        "+4930123",
        "x",
    ));
    assert_eq!(down.outcome, "failed");
    assert_eq!(down.status, None);
}

#[test]
fn long_bodies_are_cut_to_twilios_limit() {
    let standin = TwilioStandIn::start(SID, TOKEN);
    let client = reqwest::Client::new();
    let r = rt().block_on(send(
        &client,
        &twilio(standin.base_url(), TOKEN),
        "+4930123",
        &"é".repeat(2000),
    ));
    assert_eq!(r.outcome, "sent", "{r}");
    assert_eq!(standin.sent()[0].body.chars().count(), 1600);
}

#[test]
fn webhook_posts_json_with_a_bearer_token() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = vec![0; 8192];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("\"text\"") {
            let n = s.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .expect("write");
        String::from_utf8_lossy(&got).into_owned()
    });
    let cfg = SmsConfig {
        provider: SmsProvider::Webhook {
            url: format!("http://{addr}/sms"),
            token: Some(Secret::new("hook-token")),
        },
        from: "alerts".into(),
        timeout: Duration::from_secs(5),
    };
    let r = rt().block_on(send(&reqwest::Client::new(), &cfg, "+4930123", "hello"));
    assert_eq!(r.outcome, "sent", "{r}");
    let req = server.join().expect("server");
    assert!(req.starts_with("POST /sms HTTP/1.1"), "{req}");
    assert!(req
        .to_ascii_lowercase()
        .contains("authorization: bearer hook-token"));
    assert!(
        req.contains(r#""to":"+4930123""#) && req.contains(r#""text":"hello""#),
        "{req}"
    );
}
