//! The demo flows on a fresh machine with nothing configured: `main-menu`'s CRM lookup is
//! answered by the demo CRM built into `phonetree run`, and `agent` says at load and on the call
//! why it falls back. (Failed demo transfers telling the caller that a PBX is needed are covered
//! by flows/*.test.yaml, run by `phonetree test flows/` in CI.)

mod run_support;

use std::path::Path;

use run_support::{Caller, Msg, Server};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The demo as shipped (flows and sound), in a fresh folder with no phonetree.yaml and no .env.
fn demo_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("flows")).unwrap();
    for name in ["characters", "main-menu", "agent", "speech-menu"] {
        let file = format!("{name}.yaml");
        std::fs::copy(
            root().join("flows").join(&file),
            dir.path().join("flows").join(&file),
        )
        .unwrap();
    }
    copy_dir(&root().join("sound"), &dir.path().join("sound"));
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn call(srv: &Server, number: &str) -> Caller {
    let mut c = Caller::new(srv.sip);
    let offer = c.pcmu_offer();
    c.invite(number, Some(&offer));
    let ok: Msg = c.final_response();
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    c.ack(number, None);
    c
}

#[test]
fn the_main_menu_crm_default_is_the_built_in_demo_crm_of_the_default_http_address() {
    let set = phonetree::flow::load::load_paths(
        &[root().join("flows/main-menu.yaml")],
        &Default::default(),
    );
    let program = set.flows[0].1.as_ref().expect("compiles");
    let default = &program
        .env_defaults
        .iter()
        .find(|(n, _)| n == "CRM_URL")
        .expect("CRM_URL has a default")
        .1;
    let cfg = phonetree::config::load(&Default::default()).unwrap();
    let lookup = phonetree::engine::demo_crm::PATH;
    assert_eq!(
        format!("{default}/lookup"),
        format!("http://{}{lookup}", cfg.http_listen),
        "the flow posts to `$CRM_URL/lookup`"
    );
}

#[test]
fn main_menu_looks_the_caller_up_in_the_built_in_demo_crm() {
    let port = free_port();
    let http = format!("127.0.0.1:{port}");
    // The status API on its own port, and CRM_URL pointing at it as the default does at 8080.
    let crm = format!("http://{http}/demo/crm");
    let srv = Server::start_in(
        demo_dir(),
        &[("PHONETREE_HTTP_LISTEN", &http), ("CRM_URL", &crm)],
    );
    let _c = call(&srv, "5001");
    assert!(srv.logged("http_response 200"), "{}", srv.log_text());
    assert!(srv.logged("main_menu.wav"), "{}", srv.log_text());
    let log = srv.log_text();
    assert!(!log.contains("cannot look up your account"), "{log}");
}

#[test]
fn the_agent_demo_says_at_load_and_on_the_call_why_it_falls_back() {
    let srv = Server::start_in(demo_dir(), &[]);
    assert!(
        srv.logged("warning[flow.unavailable_node]: node `assistant` (`agent`) cannot run on this server: no OpenAI API key (set OPENAI_API_KEY)"),
        "{}",
        srv.log_text()
    );
    let _c = call(&srv, "5002");
    // After the intro prompt (a few seconds of real time).
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !srv.log_text().contains("agent failed: not available") {
        assert!(std::time::Instant::now() < end, "{}", srv.log_text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        srv.logged("agent failed: not available: no OpenAI API key (set OPENAI_API_KEY)"),
        "{}",
        srv.log_text()
    );
    assert!(srv.logged("agent_handoff.wav"), "{}", srv.log_text());
}
