//! The dashboard in a real headless browser: Debian's `chromium`, driven over WebDriver by
//! fantoccini through a `chromedriver` child process on loopback (both from `.ci/install-deps.sh`).
//!
//! One session walks the dashboard as an operator would: logs in with the form, watches a live
//! call appear on the status page (pushed over SSE, no reload) while the test's SIP caller is
//! connected, sees it leave, finds it in the call history with its timeline, opens a broken
//! flow and reads its diagnostic, reads the logs and settings pages, looks at the status page on
//! a phone-sized window, places a call from the outbound form that our callee answers and
//! acknowledges with 1 (the job page shows it), and logs out. It takes a screenshot of each page into
//! `target/tmp/dashboard-screenshots/` (and into `$PHONETREE_SCREENSHOTS` when set:
//! `PHONETREE_SCREENSHOTS=docs/screenshots cargo test --test dashboard_browser` refreshes the
//! pictures in the docs).
//!
//! Skipped with a message when chromedriver is missing, unless `PHONETREE_INTEROP=1` (CI), where
//! a missing browser is a failure. Every wait is bounded; chromedriver and the browser it started
//! are killed (by process group) at the end.

mod run_support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use run_support::{Caller, Msg, Server};
use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const PASSWORD: &str = "correct horse battery";
/// Longest wait for anything the page should show.
const SHOW: Duration = Duration::from_secs(15);

/// A call that stays in its menu for 30 s unless a key is pressed.
const MENU: &str = r#"
name: menu
routes: ["5000"]
default: true
start: menu
nodes:
  menu:
    gather: { prompt: tone.wav, digits: { min: 1, max: 1 }, timeout: 30s, tries: 1 }
    routes: { "1": bye }
    on_fail: bye
  bye: { hangup: {} }
"#;

/// Refers to a node that does not exist.
const BROKEN: &str = r#"
name: broken
routes: ["6000"]
start: hello
nodes:
  hello: { play: tone.wav, next: nowhere }
"#;

/// chromedriver in its own process group, killed with everything it started.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on our own child's process group; no memory is touched.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_driver() -> Driver {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let end = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    driver
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--force-device-scale-factor=1", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::rustls()
        .expect("rustls with the system's roots (ca-certificates)")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

/// Where screenshots go: always the test's temp folder, and `$PHONETREE_SCREENSHOTS` if set.
fn shot_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots")];
    if let Some(d) = std::env::var_os("PHONETREE_SCREENSHOTS") {
        let d = PathBuf::from(d);
        let d = if d.is_relative() {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(d)
        } else {
            d
        };
        dirs.push(d);
    }
    for d in &dirs {
        std::fs::create_dir_all(d).expect("screenshot folder");
    }
    dirs
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    for d in shot_dirs() {
        std::fs::write(d.join(format!("{name}.png")), &png).expect("write screenshot");
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap_or_default()
}

/// Types `text` into the element `css` names.
async fn type_into(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

/// Waits until the page's source contains `needle`.
async fn wait_for_text(c: &Client, needle: &str) {
    let end = Instant::now() + SHOW;
    loop {
        let src = c.source().await.unwrap_or_default();
        if src.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < end,
            "the page never showed {needle:?}:\n{src}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn available() -> bool {
    let here = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
    if !here {
        assert!(
            std::env::var("PHONETREE_INTEROP").as_deref() != Ok("1"),
            "PHONETREE_INTEROP=1 but {CHROMEDRIVER} or {CHROMIUM} is missing: run .ci/install-deps.sh"
        );
        eprintln!("skipped: no {CHROMEDRIVER} (apt-get install chromium chromium-driver)");
    }
    here
}

#[test]
fn a_browser_logs_in_sees_a_live_call_and_a_broken_flows_diagnostic() {
    if !available() {
        return;
    }
    let srv = Server::start(
        &[("menu.yaml", MENU), ("broken.yaml", BROKEN)],
        &[
            ("PHONETREE_ADMIN_PASSWORD", PASSWORD),
            ("PHONETREE_OUTBOUND_ALLOW", "sip:*@127.0.0.1:*"),
        ],
    );
    assert!(srv.logged("first admin created"));
    let driver = start_driver();
    let profile = tempfile::tempdir().expect("profile dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = format!("http://{}", srv.http);
    rt.block_on(async {
        let run = walk(&srv, &driver, profile.path(), &base);
        tokio::time::timeout(Duration::from_secs(180), run)
            .await
            .expect("the browser walk finished in time");
    });
}

async fn walk(srv: &Server, driver: &Driver, profile: &Path, base: &str) {
    let c = browser(driver, profile).await;

    // Not logged in: the dashboard sends us to the login form.
    c.goto(&format!("{base}/calls")).await.unwrap();
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/login", "{url}");
    shot(&c, "login").await;
    type_into(&c, "#username", "admin").await;
    type_into(&c, "#password", PASSWORD).await;
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(SHOW)
        .for_element(Locator::Css("body[data-page=calls]"))
        .await
        .expect("back on the page we asked for, logged in");

    // The status page, then a live call appears on it while the caller is connected.
    c.goto(&format!("{base}/")).await.unwrap();
    c.wait()
        .at_most(SHOW)
        .for_element(Locator::Css("body[data-page=status]"))
        .await
        .unwrap();
    assert_eq!(text_of(&c, "#live-count").await, "0");
    let mut caller = Caller::new(srv.sip);
    let offer = caller.pcmu_offer();
    caller.invite("5000", Some(&offer));
    let ok = caller.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    caller.ack("5000", None);
    let row = c
        .wait()
        .at_most(SHOW)
        .for_element(Locator::XPath(
            "//tbody[@id='calls']/tr[contains(., 'menu')]",
        ))
        .await
        .expect("the live call shows up without a reload");
    let row_text = row.text().await.unwrap();
    assert!(row_text.contains("menu"), "{row_text}");
    assert_eq!(text_of(&c, "#live-count").await, "1");
    shot(&c, "status").await;
    // A phone-sized window: the same page, navigation wrapped, the table scrolls.
    c.set_window_size(390, 844).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    shot(&c, "status-phone").await;
    c.set_window_size(1280, 900).await.unwrap();
    // The caller hangs up: the row goes away.
    caller.bye("5000");
    c.wait()
        .at_most(SHOW)
        .for_element(Locator::Css("#no-calls:not([hidden])"))
        .await
        .expect("the call leaves the status page");

    // The call is in the history, with its timeline.
    c.goto(&format!("{base}/calls")).await.unwrap();
    let link = c
        .wait()
        .at_most(SHOW)
        .for_element(Locator::Css("table a[href^='/calls/']"))
        .await
        .expect("the call in the register");
    shot(&c, "calls").await;
    link.click().await.unwrap();
    wait_for_text(&c, "Timeline").await;
    wait_for_text(&c, "caller_hangup").await;
    shot(&c, "call").await;

    // Flows: the broken one says what is wrong; the good one is drawn.
    c.goto(&format!("{base}/flows")).await.unwrap();
    wait_for_text(&c, "broken.yaml").await;
    shot(&c, "flows").await;
    c.find(Locator::Css("a[href='/flows/broken.yaml']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let diag = c
        .wait()
        .at_most(SHOW)
        .for_element(Locator::Css("ul.diagnostics li.error"))
        .await
        .expect("the broken flow's diagnostic");
    let diag = diag.text().await.unwrap();
    assert!(diag.contains("nowhere"), "{diag}");
    shot(&c, "flow-broken").await;
    c.goto(&format!("{base}/flows/menu.yaml")).await.unwrap();
    c.wait()
        .at_most(SHOW)
        .for_element(Locator::Css("svg.flow-graph"))
        .await
        .expect("the flow's graph");
    shot(&c, "flow-graph").await;

    // Logs (the call's lines are in the tail), outbound, alerts, settings.
    c.goto(&format!("{base}/logs?level=debug")).await.unwrap();
    wait_for_text(&c, "phonetree run: listening").await;
    shot(&c, "logs").await;
    for (path, page, needle) in [
        ("/outbound", "outbound", "Jobs"),
        ("/alerts", "alerts", "No notifications received yet"),
        ("/settings", "settings", "PHONETREE_ADMIN_PASSWORD"),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        c.wait()
            .at_most(SHOW)
            .for_element(Locator::Css(&format!("body[data-page={page}]")))
            .await
            .unwrap();
        wait_for_text(&c, needle).await;
        shot(&c, page).await;
    }
    let settings = c.source().await.unwrap();
    assert!(
        !settings.contains(PASSWORD),
        "a secret on the settings page"
    );

    // Place a call from the outbound form; our callee answers and presses 1: acknowledged.
    let callee = Caller::new(srv.sip);
    let to = format!("sip:oncall@{}", callee.local());
    c.goto(&format!("{base}/outbound")).await.unwrap();
    type_into(&c, "#to", &to).await;
    type_into(&c, "#message", "Disk full on db1").await;
    c.find(Locator::Css("form[action='/outbound'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&c, "The call is queued").await;
    let job_url = c.current_url().await.unwrap();
    assert!(job_url.path().starts_with("/outbound/"), "{job_url}");
    let answered = tokio::task::spawn_blocking(move || answer_and_press_1(&callee));
    // The job's page (without the "queued" notice) until it is acknowledged and done.
    let job_page = format!("{base}{}", job_url.path());
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        c.goto(&job_page).await.unwrap();
        let acked = c
            .find(Locator::XPath(
                "//dt[.='Acknowledged']/following-sibling::dd/time",
            ))
            .await;
        let done = c.find(Locator::Css("span.state.done")).await;
        if acked.is_ok() && done.is_ok() {
            break;
        }
        let src = c.source().await.unwrap_or_default();
        assert!(
            Instant::now() < end,
            "the job was never acknowledged:\n{src}\n{}",
            srv.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    answered.await.expect("the callee");
    shot(&c, "job").await;

    // A call for later: cancelled from its page, then retried (both buttons ask to confirm):
    // the retry is a new queued job whose page names the old one.
    c.goto(&format!("{base}/outbound")).await.unwrap();
    type_into(&c, "#to", "sip:later@127.0.0.1:9").await;
    type_into(&c, "#message", "Backup report").await;
    c.execute(
        "document.getElementById('at').value = \
         new Date(Date.now() + 30 * 864e5).toISOString().slice(0, 16);",
        vec![],
    )
    .await
    .unwrap();
    c.find(Locator::Css("form[action='/outbound'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    if let Err(e) = c
        .wait()
        .at_most(SHOW)
        .for_element(Locator::Css("span.state.queued"))
        .await
    {
        let page = c.source().await.unwrap_or_default();
        panic!("the job for later is not queued ({e}):\n{page}");
    }
    let later = c.current_url().await.unwrap().path().to_string();
    let later_id = later.trim_start_matches("/outbound/").to_string();
    // The retry is due now: it may already be dialling (or have failed: port 9 is closed).
    for (button, state) in [("cancel", ".cancelled"), ("retry", "")] {
        c.find(Locator::Css(&format!(
            "form[action='/outbound/{later_id}/{button}'] button"
        )))
        .await
        .unwrap_or_else(|e| panic!("no {button} button: {e}"))
        .click()
        .await
        .unwrap();
        c.accept_alert().await.expect("the confirm dialog");
        c.wait()
            .at_most(SHOW)
            .for_element(Locator::Css(&format!("span.state{state}")))
            .await
            .unwrap_or_else(|e| panic!("after {button}: no state {state}: {e}"));
    }
    wait_for_text(&c, "Retry of").await;
    let retry = c.current_url().await.unwrap();
    assert_ne!(retry.path(), later, "the retry is a new job");
    assert_eq!(retry.query(), Some("notice=retried"));
    let page = c.source().await.unwrap();
    assert!(
        page.contains("Retry of") && page.contains(&format!("href=\"/outbound/{later_id}\"")),
        "the retry's page links the old job:\n{page}"
    );
    shot(&c, "job-retried").await;

    // Log out: back to the login form, and the pages are closed again.
    c.find(Locator::Css("form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(SHOW)
        .for_element(Locator::Css("#username"))
        .await
        .expect("the login form after logout");
    c.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/login");
    c.close().await.unwrap();
}

/// Our callee for the outbound call: answers phonetree's INVITE, waits for the message's
/// audio, then presses 1 (RFC 4733), as tests/run_outbound.rs does.
fn answer_and_press_1(callee: &Caller) {
    let end = Instant::now() + Duration::from_secs(30);
    let invite = loop {
        let m = callee
            .recv_within(end.saturating_duration_since(Instant::now()))
            .expect("an INVITE from phonetree");
        if m.method() == Some("INVITE") {
            break m;
        }
    };
    respond(callee, &invite, 180, "Ringing", None);
    let sdp = callee.pcmu_offer();
    respond(callee, &invite, 200, "OK", Some(&sdp));
    let ack = callee.recv();
    assert_eq!(ack.method(), Some("ACK"));
    let (_, _, from) = callee.recv_rtp().expect("RTP from phonetree");
    std::thread::sleep(Duration::from_secs(8));
    callee.send_rfc4733(from, 1, 101);
}

fn respond(callee: &Caller, req: &Msg, status: u16, reason: &str, sdp: Option<&str>) {
    let mut text = format!("SIP/2.0 {status} {reason}\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for (k, v) in &req.headers {
            if k.eq_ignore_ascii_case(name) {
                if name == "To" && status > 100 && !v.contains("tag=") {
                    text.push_str(&format!("To: {v};tag=callee1\r\n"));
                } else {
                    text.push_str(&format!("{name}: {v}\r\n"));
                }
            }
        }
    }
    text.push_str(&format!("Contact: <sip:callee@{}>\r\n", callee.local()));
    match sdp {
        Some(b) => text.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )),
        None => text.push_str("Content-Length: 0\r\n\r\n"),
    }
    let via = req.header("Via").expect("Via");
    let sent_by = via.split_whitespace().nth(1).expect("sent-by");
    let to: std::net::SocketAddr = sent_by
        .split(';')
        .next()
        .expect("host:port")
        .parse()
        .expect("addr");
    callee.sip.send_to(text.as_bytes(), to).expect("send");
}
