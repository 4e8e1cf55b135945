//! `phonetree.yaml` from the outside: `phonetree validate` reports its problems with positions,
//! `phonetree run` refuses a bad one (exit 2) without echoing secrets, and `.env` is read.

mod run_support;

use std::process::Command;
use std::time::Duration;

use run_support::{Server, MENU_FLOW};

fn phonetree(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_phonetree"))
        .current_dir(dir)
        .args(args)
        .env_remove("SIP_DOMAIN")
        .env_remove("SIP_USERNAME")
        .env_remove("SIP_PASSWORD")
        .env_remove("PHONETREE_LOG")
        .output()
        .expect("run phonetree")
}

fn project(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    std::fs::create_dir_all(dir.path().join("sound")).unwrap();
    std::fs::write(dir.path().join("sound/tone.wav"), run_support::tone_wav()).unwrap();
    std::fs::write(dir.path().join("flows/menu.yaml"), MENU_FLOW).unwrap();
    std::fs::write(dir.path().join("phonetree.yaml"), config).unwrap();
    dir
}

#[test]
fn validate_checks_phonetree_yaml_beside_the_flows() {
    let dir = project("sip:\n  listen: 127.0.0.1:5060\n  lisen: 5061\nrtp: { ports: 9-3 }\n");
    let out = phonetree(dir.path(), &["validate"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("phonetree.yaml:3:3: error[config.unknown_key]"),
        "{text}"
    );
    assert!(text.contains("phonetree.yaml:4:"), "{text}");

    let good = project("sip: { listen: 127.0.0.1:5060 }\ncodecs: [pcma, pcmu]\n");
    let out = phonetree(good.path(), &["validate"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn run_refuses_a_bad_configuration_without_showing_the_password() {
    let dir = project(
        "accounts:\n  - { registrar: 'pbx:notaport', username: '1001', password: hunter2-secret }\n",
    );
    let out = phonetree(
        dir.path(),
        &["run", "--sip", "127.0.0.1:0", "--http", "127.0.0.1:0"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("accounts.0.registrar"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_dotenv_file_with_the_seed_names_registers_an_account() {
    let registrar = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let domain = registrar.local_addr().unwrap().to_string();
    let dotenv = format!("SIP_DOMAIN={domain}\nSIP_USER=1001\nSIP_PASS=dotenv-secret\n");
    let _srv = Server::start_files(&[("menu.yaml", MENU_FLOW)], &[(".env", &dotenv)], &[]);
    registrar
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = registrar
        .recv_from(&mut buf)
        .expect("a REGISTER from .env settings");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("REGISTER "), "{text}");
    assert!(text.contains("sip:1001@"), "{text}");
}

#[test]
fn log_format_json_writes_one_json_object_per_line_and_flags_set_the_log_and_address() {
    use std::io::{BufRead, BufReader};
    let dir = project("log: { level: info }\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_phonetree"))
        .current_dir(dir.path())
        .args(["run", "--sip", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(["--rtp-ports", "40000-49998", "--advertise", "203.0.113.7"])
        .args(["--log-format", "json", "--log-level", "debug"])
        .env_remove("PHONETREE_LOG")
        .env_remove("SIP_DOMAIN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn phonetree run");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut lines = Vec::new();
    let listening = loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => {
                let is_listening = l.contains("listening");
                lines.push(l);
                if is_listening {
                    break lines.last().cloned().unwrap();
                }
            }
            Err(_) => break String::new(),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(!listening.is_empty(), "{lines:#?}");
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
    }
    let v: serde_json::Value = serde_json::from_str(&listening).unwrap();
    assert_eq!(
        v["message"],
        "phonetree run: listening (SIP over UDP and TCP)"
    );
    // --advertise reaches the SIP layer: the advertised address is the flag's.
    assert!(
        v["advertised"]
            .as_str()
            .unwrap_or("")
            .starts_with("203.0.113.7:"),
        "{listening}"
    );
    assert!(
        lines.iter().any(|l| l.contains("\"level\":\"INFO\"")),
        "{lines:#?}"
    );
}

#[test]
fn log_level_warn_keeps_info_lines_out() {
    // A missing flows folder: `run` logs its start at info, then fails with an error.
    let dir = tempfile::tempdir().unwrap();
    let out = phonetree(
        dir.path(),
        &[
            "run",
            "--sip",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--log-level",
            "warn",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("flows folder flows does not exist"), "{err}");
    assert!(!err.contains(" INFO "), "{err}");
    let out = phonetree(
        dir.path(),
        &["run", "--sip", "127.0.0.1:0", "--http", "127.0.0.1:0"],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(" INFO "),
        "info is the default"
    );
}
