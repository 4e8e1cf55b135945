//! The call register, API auth and `/metrics` of a real `phonetree run`, driven by a real SIP
//! call on loopback: the record and timeline over `/api/register` and the `phonetree calls`
//! CLI, tokens (config and `phonetree token add`), logins with sessions, CSRF and rate
//! limiting, `/metrics` parsed with a Prometheus text-format parser, and PostgreSQL going away
//! and coming back (records kept, then written; SIGTERM while it is down saves them to the
//! spill file for the next start).

mod pg_support;
mod run_support;

use std::process::Command;
use std::time::{Duration, Instant};

use run_support::{Caller, Server};
use serde_json::Value;

const USER: &str = "5000";

/// Key 1 goes through a routing node (`pick`, which only jumps) and plays the tone again (a
/// response to time), then the flow hangs up.
const MENU_FLOW: &str = r#"
name: menu
routes: ["5000"]
default: true
start: menu
nodes:
  menu:
    gather: { prompt: tone.wav, digits: { min: 1, max: 1 }, timeout: 20s, tries: 1 }
    routes: { "1": pick }
    on_fail: bye
  pick: { goto: story }
  story: { play: tone.wav, next: bye }
  bye: { hangup: {} }
"#;

/// One call through the menu: answered, key 1, the flow hangs up.
fn call_and_press_1(srv: &Server) {
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite(USER, Some(&offer));
    let ok = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    c.ack(USER, None);
    let rtp = ok.sdp_rtp_addr().expect("RTP address");
    assert!(c.recv_rtp().is_some(), "the menu prompt");
    c.send_rfc4733(rtp, 1, 101);
    let bye = c.expect_request_within("BYE", Duration::from_secs(10));
    c.reply_ok(&bye);
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Polls `/api/register` until `n` ended calls are there.
fn ended_calls(srv: &Server, auth: &[(&str, &str)], n: usize, within: Duration) -> Vec<Value> {
    let end = Instant::now() + within;
    loop {
        let (status, _, body) = srv.request("GET", "/api/register", auth, "");
        if status == 200 {
            let calls: Vec<Value> = json(&body)["calls"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|c| !c["end_reason"].is_null())
                .collect();
            if calls.len() >= n {
                return calls;
            }
        }
        assert!(
            Instant::now() < end,
            "{n} calls not in the register: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cli(srv: &Server, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_phonetree"))
        .current_dir(srv.dir())
        .args(args)
        .env_remove("PHONETREE_DATABASE_URL")
        .output()
        .expect("run the CLI");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_call_is_in_the_register_with_its_timeline_and_the_cli_shows_it() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    call_and_press_1(&srv);
    let calls = ended_calls(&srv, &[], 1, Duration::from_secs(10));
    let c = &calls[0];
    assert_eq!(c["direction"], "inbound");
    assert_eq!(c["to"], USER);
    assert_eq!(c["flow"], "menu");
    assert_eq!(c["dtmf"], "1");
    assert_eq!(c["codec"], "PCMU/8000");
    assert_eq!(c["sip_status"], 200);
    assert_eq!(c["end_reason"], "flow_hangup");
    // Every node entered, the routing node too: the register reads the call's trace.
    assert_eq!(
        c["nodes"],
        serde_json::json!(["menu", "pick", "story", "bye"])
    );
    assert!(c["duration_ms"].as_i64().unwrap() > 0);
    assert!(c["answered_ms"].as_i64() >= c["created_ms"].as_i64());
    let id = c["id"].as_str().unwrap();

    let (status, _, body) = srv.request("GET", &format!("/api/register/{id}"), &[], "");
    assert_eq!(status, 200, "{body}");
    let kinds: Vec<String> = json(&body)["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    for k in ["invite", "answer", "node", "play", "dtmf", "hangup", "end"] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    // The timeline is the call log: the same events, in the same order.
    let logged: Vec<String> = srv
        .log_text()
        .lines()
        .filter(|l| l.contains("phonetree::engine::call_log") && !l.contains("call summary"))
        .filter_map(|l| {
            let ev = l.split("event=\"").nth(1)?;
            Some(ev.split('"').next()?.to_string())
        })
        .collect();
    let flow_part: Vec<String> = kinds
        .iter()
        .filter(|k| !["invite", "ringing", "end"].contains(&k.as_str()))
        .cloned()
        .collect();
    assert_eq!(flow_part, logged);
    assert_eq!(srv.request("GET", "/api/register/nope", &[], "").0, 404);
    let (status, _, body) = srv.request("GET", "/api/register?direction=sideways", &[], "");
    assert_eq!(status, 400, "{body}");
    let (_, _, body) = srv.request("GET", "/api/register?direction=outbound", &[], "");
    assert_eq!(json(&body)["calls"].as_array().unwrap().len(), 0);

    let (code, out, err) = cli(&srv, &["calls", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(id) && out.contains("flow_hangup"), "{out}");
    let (code, out, err) = cli(&srv, &["calls", "show", id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("keys 1") && out.contains("dtmf"), "{out}");
    let (code, out, err) = cli(&srv, &["calls", "export", "--csv", "--flow", "menu"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("id,node_id,direction"));
    assert!(lines[1].starts_with(id));
    assert_eq!(cli(&srv, &["calls", "show", "nope"]).0, 1);
}

#[test]
fn metrics_after_a_real_call_parse_and_count_it() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    call_and_press_1(&srv);
    ended_calls(&srv, &[], 1, Duration::from_secs(10));
    // One good reload and one refused.
    let flows = srv.flows_dir();
    std::fs::write(flows.join("menu.yaml"), format!("{MENU_FLOW}\n# edited\n")).unwrap();
    std::fs::write(
        flows.join("broken.yaml"),
        "name: broken\nstart: nowhere\nnodes: {}\n",
    )
    .unwrap();
    assert!(srv.logged("flow has errors; not loaded"));
    let end = Instant::now() + Duration::from_secs(5);
    while srv.log_text().matches("flow loaded").count() < 2 {
        assert!(Instant::now() < end, "no reload: {}", srv.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, head, text) = srv.request("GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{head}"
    );
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(h) => h.last().map_or(0.0, |b| b.count),
                prometheus_parse::Value::Summary(_) => f64::NAN,
            })
    };
    let call = [("flow", "menu"), ("direction", "inbound")];
    assert_eq!(
        value(
            "phonetree_calls_total",
            &[call[0], call[1], ("outcome", "answered")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value("phonetree_calls_active", &call), Some(0.0), "{text}");
    assert_eq!(
        value("phonetree_call_duration_seconds", &call),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value("phonetree_call_setup_seconds", &[("direction", "inbound")]),
        Some(1.0)
    );
    assert!(
        value("phonetree_dtmf_response_seconds", &[]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    for kind in ["sent", "received"] {
        assert!(
            value("phonetree_rtp_packets_total", &[("kind", kind)]).is_some_and(|n| n > 0.0),
            "{kind}: {text}"
        );
    }
    for kind in ["late", "lost"] {
        assert!(
            value("phonetree_rtp_packets_total", &[("kind", kind)]).is_some(),
            "{text}"
        );
    }
    assert_eq!(
        value("phonetree_flow_reloads_total", &[("result", "ok")]),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value("phonetree_flow_reloads_total", &[("result", "failed")]),
        Some(1.0)
    );
    assert!(
        value("phonetree_db_write_lag_seconds", &[]).is_some_and(|n| n > 0.0),
        "{text}"
    );
    assert_eq!(value("phonetree_db_up", &[]), Some(1.0));
    assert!(value("phonetree_register_written_total", &[]).is_some_and(|n| n > 0.0));
    assert_eq!(
        value("phonetree_refused_total", &[("what", "sip_403")]),
        Some(0.0)
    );
}

#[test]
fn tokens_guard_the_api_but_not_healthz_and_metrics_only_when_asked() {
    let token = "an-automation-token-0123456789";
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            ("PHONETREE_API_TOKENS", token),
            ("PHONETREE_API_METRICS_AUTH", "true"),
        ],
    );
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    for path in [
        "/api/flows",
        "/api/register",
        "/api/calls",
        "/api/session",
        "/metrics",
    ] {
        let (status, head, _) = srv.request("GET", path, &[], "");
        assert_eq!(status, 401, "{path}");
        assert!(head.contains("www-authenticate: Bearer"), "{head}");
        assert_eq!(srv.request("GET", path, &auth, "").0, 200, "{path}");
        let wrong = [("Authorization", "Bearer pt_wrong")];
        assert_eq!(srv.request("GET", path, &wrong, "").0, 401, "{path}");
    }
    assert_eq!(srv.get("/healthz").0, 200);
    let (_, _, body) = srv.request("GET", "/api/session", &auth, "");
    assert_eq!(json(&body)["kind"], "token");
    // No password leaks into the log.
    assert!(!srv.log_text().contains(token));
}

#[test]
fn the_loopback_demo_is_open_until_a_token_is_made_with_the_cli() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    assert_eq!(srv.get("/api/flows").0, 200, "open: loopback, no token yet");
    let (_, _, body) = srv.request("GET", "/api/session", &[], "");
    assert_eq!(json(&body)["kind"], "open");
    let (code, token, err) = cli(&srv, &["token", "add", "ci"]);
    assert_eq!(code, 0, "{err}");
    let token = token.trim().to_string();
    assert!(token.starts_with("pt_"), "{token}");
    let end = Instant::now() + Duration::from_secs(5);
    while srv.get("/api/flows").0 != 401 {
        assert!(
            Instant::now() < end,
            "the API stayed open after a token was made"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let bearer = format!("Bearer {token}");
    let (status, _, body) = srv.request("GET", "/api/session", &[("Authorization", &bearer)], "");
    assert_eq!(status, 200);
    assert_eq!(json(&body)["name"], "ci");
    assert_eq!(srv.get("/metrics").0, 200, "metrics stay open by default");
    let (code, out, _) = cli(&srv, &["token", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("ci") && !out.contains(&token), "{out}");
}

#[test]
fn logins_make_sessions_with_csrf_and_failures_are_rate_limited() {
    let srv = Server::start(
        &[("menu.yaml", MENU_FLOW)],
        &[
            ("PHONETREE_ADMIN_PASSWORD", "correct horse battery"),
            ("PHONETREE_API_AUTH", "required"),
        ],
    );
    assert!(srv.logged("first admin created with PHONETREE_ADMIN_PASSWORD"));
    assert_eq!(srv.get("/api/flows").0, 401);
    let json_ct = [("Content-Type", "application/json")];
    let (status, head, body) = srv.request(
        "POST",
        "/login",
        &json_ct,
        r#"{"username":"admin","password":"correct horse battery"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let set = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a session cookie");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain HTTP without a TLS proxy");
    let cookie = set
        .split_once(':')
        .unwrap()
        .1
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = json(&body)["csrf"].as_str().unwrap().to_string();
    let with_cookie = [("Cookie", cookie.as_str())];
    let (status, _, body) = srv.request("GET", "/api/session", &with_cookie, "");
    assert_eq!(status, 200);
    assert_eq!(json(&body)["user"]["name"], "admin");
    assert!(!body.contains("argon2"), "never the hash: {body}");
    assert_eq!(srv.request("GET", "/api/flows", &with_cookie, "").0, 200);
    // Unsafe methods with a session need the CSRF token.
    assert_eq!(srv.request("POST", "/logout", &with_cookie, "").0, 403);
    let (status, _, _) = srv.request(
        "POST",
        "/logout",
        &[("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())],
        "",
    );
    assert_eq!(status, 204);
    assert_eq!(
        srv.request("GET", "/api/session", &with_cookie, "").0,
        401,
        "logged out"
    );

    // A form login redirects; it needs the login page's CSRF token (cookie and field);
    // wrong passwords are limited per address and name.
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, head, _) = srv.request("POST", "/login", &form, "username=admin&password=nope");
    assert_eq!(status, 303);
    assert!(head.contains("location: /login?expired=1"), "{head}");
    let (_, page_head, _) = srv.request("GET", "/login", &[], "");
    let token = page_head
        .lines()
        .find_map(|l| l.split_once("phonetree_login="))
        .and_then(|(_, rest)| rest.split(';').next())
        .expect("a login CSRF cookie")
        .to_string();
    let login_cookie = format!("phonetree_login={token}");
    let form = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Cookie", login_cookie.as_str()),
    ];
    let body = format!("username=admin&password=nope&csrf={token}");
    let (status, head, _) = srv.request("POST", "/login", &form, &body);
    assert_eq!(status, 303);
    assert!(head.contains("location: /login?failed=1"), "{head}");
    for _ in 0..4 {
        let (status, _, _) = srv.request(
            "POST",
            "/login",
            &json_ct,
            r#"{"username":"admin","password":"wrong"}"#,
        );
        assert_eq!(status, 401);
    }
    let (status, head, _) = srv.request(
        "POST",
        "/login",
        &json_ct,
        r#"{"username":"admin","password":"correct horse battery"}"#,
    );
    assert_eq!(status, 429, "even the right password waits");
    assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
    assert!(!srv.log_text().contains("correct horse"));
}

#[test]
fn the_first_admin_password_is_printed_once() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    assert!(srv.logged("It is shown only this once"));
    let log = srv.log_text();
    let pw = log
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 24 && l.chars().all(|c| c.is_ascii_alphanumeric()))
        .expect("the printed password")
        .to_string();
    let body = format!(r#"{{"username":"admin","password":"{pw}"}}"#);
    let (status, _, _) = srv.request(
        "POST",
        "/login",
        &[("Content-Type", "application/json")],
        &body,
    );
    assert_eq!(status, 200);
    let srv = srv.restart(&[]);
    assert!(srv.logged("call register"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !srv.log_text().contains("shown only this once"),
        "not on the next start"
    );
}

#[test]
fn postgres_down_keeps_records_until_it_is_back_and_sigterm_saves_them() {
    let Some(pg) = pg_support::Pg::start() else {
        return;
    };
    let url = pg.new_db();
    let env = [("PHONETREE_DATABASE_URL", url.as_str())];
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &env);
    call_and_press_1(&srv);
    ended_calls(&srv, &[], 1, Duration::from_secs(10));

    // Down: the call goes on; the record waits in memory.
    pg.stop();
    call_and_press_1(&srv);
    assert!(srv.logged("database unavailable; keeping records"));
    assert_eq!(srv.get("/api/register").0, 503);
    pg.restart();
    let calls = ended_calls(&srv, &[], 2, Duration::from_secs(20));
    assert_eq!(calls.len(), 2, "nothing lost");
    assert!(srv.logged("database reachable again"));

    // Down at SIGTERM: the records go to the spill file and the next start writes them.
    pg.stop();
    call_and_press_1(&srv);
    srv.signal("TERM");
    assert!(
        srv.logged("records saved for the next start"),
        "{}",
        srv.log_text()
    );
    let spill = srv.dir().join("data").join("register-spill.jsonl");
    let srv = srv.restart_after_exit(Duration::from_secs(15), &env);
    assert!(spill.is_file() || srv.logged("records saved at the last shutdown"));
    pg.restart();
    let calls = ended_calls(&srv, &[], 3, Duration::from_secs(30));
    assert_eq!(
        calls.len(),
        3,
        "the call ended while the database was down is there"
    );
    let end = Instant::now() + Duration::from_secs(10);
    while spill.exists() {
        assert!(Instant::now() < end, "the spill file was not removed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cli_env(srv: &Server, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_phonetree"));
    cmd.current_dir(srv.dir()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the CLI");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn users_made_with_the_cli_log_in_until_disabled_and_the_node_beats() {
    let srv = Server::start(&[("menu.yaml", MENU_FLOW)], &[]);
    let pw = [("PHONETREE_USER_PASSWORD", "bobs password 1")];
    let (code, out, err) = cli_env(&srv, &["user", "add", "bob", "--role", "viewer"], &pw);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "a given password is not printed: {out}");
    assert_eq!(cli_env(&srv, &["user", "add", "bob"], &pw).0, 1, "exists");
    let (_, list, _) = cli_env(&srv, &["user", "list"], &[]);
    assert!(
        list.contains("bob  viewer") && list.contains("admin  admin"),
        "{list}"
    );
    let login = r#"{"username":"bob","password":"bobs password 1"}"#;
    let ct = [("Content-Type", "application/json")];
    let (status, _, body) = srv.request("POST", "/login", &ct, login);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["user"]["role"], "viewer");
    assert_eq!(cli_env(&srv, &["user", "disable", "bob"], &[]).0, 0);
    assert_eq!(srv.request("POST", "/login", &ct, login).0, 401);
    assert_eq!(cli_env(&srv, &["user", "enable", "bob"], &[]).0, 0);
    // A new password, generated and printed once.
    let (code, out, _) = cli_env(&srv, &["user", "passwd", "bob"], &[]);
    assert_eq!(code, 0);
    let new = out.trim();
    assert_eq!(new.len(), 24, "{out}");
    assert_eq!(
        srv.request("POST", "/login", &ct, login).0,
        401,
        "the old one is gone"
    );
    let body = format!(r#"{{"username":"bob","password":"{new}"}}"#);
    assert_eq!(srv.request("POST", "/login", &ct, &body).0, 200);

    // The node's heartbeat row, read from the same database.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cfg = phonetree::config::database::DatabaseConfig {
        data_dir: srv.dir().join("data"),
        ..Default::default()
    };
    let beats = rt.block_on(async {
        let db = phonetree::db::open(&cfg, "test").await.unwrap();
        db.heartbeats().await.unwrap()
    });
    assert_eq!(beats.len(), 1, "{beats:?}");
    assert_eq!(
        beats[0].info["flows"]["menu"].as_str().map(str::len),
        Some(12)
    );
}

#[test]
fn refused_and_cancelled_calls_are_in_the_register_too() {
    let only_5000 = MENU_FLOW.replace("default: true\n", "");
    let srv = Server::start(
        &[("menu.yaml", only_5000.as_str())],
        &[("PHONETREE_SIP_ANSWER_DELAY", "5s")],
    );
    // No flow for 9999: 404.
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite("9999", Some(&offer));
    assert_eq!(c.final_response().status(), Some(404));
    // 5000 rings; the caller gives up: 487.
    let mut d = Caller::new(srv.sip);
    let offer = d.pcmu_offer();
    let invite = d.invite(USER, Some(&offer));
    let ringing = (0..5).map(|_| d.recv()).find(|m| m.status() == Some(180));
    assert!(ringing.is_some(), "no 180");
    d.cancel(&invite, USER);
    let calls = ended_calls(&srv, &[], 2, Duration::from_secs(10));
    let by_to = |to: &str| calls.iter().find(|c| c["to"] == to).unwrap().clone();
    let refused = by_to("9999");
    assert_eq!(refused["end_reason"], "rejected:no_route");
    assert_eq!(refused["sip_status"], 404);
    assert!(refused["answered_ms"].is_null() && refused["duration_ms"].is_null());
    let cancelled = by_to(USER);
    assert_eq!(cancelled["end_reason"], "cancelled");
    assert_eq!(cancelled["sip_status"], 487);
    assert!(cancelled["ringing_ms"].as_i64().is_some(), "{cancelled}");
    assert_eq!(cancelled["flow"], "menu");
    let (_, _, metrics) = srv.request("GET", "/metrics", &[], "");
    assert!(
        metrics
            .contains(r#"phonetree_calls_total{flow="",direction="inbound",outcome="rejected"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"phonetree_calls_total{flow="menu",direction="inbound",outcome="cancelled"} 1"#
        ),
        "{metrics}"
    );
}
