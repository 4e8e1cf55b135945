//! `phonetree run` routing and live reload from the outside: an account's calls go to its named
//! flow, and a saved flow reaches new calls while a running call keeps its version.

mod run_support;

use std::time::{Duration, Instant};

use run_support::{Caller, Server, MENU_FLOW};

const XFER_FLOW: &str = r#"
name: xfer
start: go
nodes:
  go: { transfer: "sip:100@127.0.0.1", on_fail: end }
  end: { hangup: {} }
"#;

fn answered(c: &mut Caller, user: &str) {
    let offer = c.pcmu_offer();
    c.invite(user, Some(&offer));
    assert_eq!(c.final_response().status(), Some(200));
    c.ack(user, None);
}

#[test]
fn calls_to_an_account_go_to_its_flow() {
    let registrar = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let domain = registrar.local_addr().unwrap().to_string();
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW), ("xfer.yaml", XFER_FLOW)],
        &[
            ("SIP_DOMAIN", &domain),
            ("SIP_USERNAME", "1001"),
            ("SIP_PASSWORD", "pw"),
            ("PHONETREE_ACCOUNT_FLOW", "xfer"),
        ],
    );
    // To 1001 (the account): the xfer flow, which transfers at once.
    let mut c = Caller::new(srv.sip);
    answered(&mut c, "1001");
    c.expect_request("REFER");
    // A number a flow routes: that flow (menu: audio, no REFER), even from the registrar.
    let mut d = Caller::new(srv.sip);
    answered(&mut d, "5000");
    assert!(d.recv_rtp().is_some());
    // A DID nothing routes, sent by the registrar's address: the account's flow.
    let mut e = Caller::new(srv.sip);
    answered(&mut e, "+15557654321");
    e.expect_request("REFER");
}

#[test]
fn a_saved_flow_reaches_new_calls_and_running_calls_keep_theirs() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let (_, before) = srv.get("/api/flows");
    let mut first = Caller::new(srv.sip);
    answered(&mut first, "5000");

    // Save a new version of the same file: now it transfers.
    let new = XFER_FLOW.replace("name: xfer", "name: menu\ndefault: true");
    std::fs::write(srv.flows_dir().join("menu.yaml"), new).unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, now) = srv.get("/api/flows");
        if now != before && now.contains("\"diagnostics\":[]") {
            break;
        }
        assert!(Instant::now() < end, "reload not seen: {now}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut second = Caller::new(srv.sip);
    answered(&mut second, "5000");
    second.expect_request("REFER");

    // The first call is still in the old version's menu node.
    let (_, calls) = srv.get("/api/calls");
    assert!(calls.contains("\"node\":\"menu\""), "{calls}");
    assert!(
        first.recv_rtp().is_some(),
        "the first call still plays its prompt"
    );
}
