//! `phonetree validate --watch` re-checks on every save and says what a running server would do.
//! Drives the real binary; every wait is bounded and the child is killed at the end.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn flow(text: &str) -> String {
    format!("routes: [\"7000\"]\nstart: hi\nnodes:\n  hi: {{ say: \"{text}\", next: bye }}\n  bye: {{ hangup: {{}} }}\n")
}

fn write(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Reads lines until one contains `needle`; returns everything read.
fn until(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(needle) {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line containing {needle:?}; output so far:\n{seen}");
}

#[test]
fn watch_reports_every_save_and_what_live_reload_would_do() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir(&flows).unwrap();
    let file = flows.join("hello.yaml");
    write(&file, &flow("one"));

    let child = Command::new(env!("CARGO_BIN_EXE_phonetree"))
        .args(["validate", "--watch"])
        .arg(&flows)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    until(&rx, "live: hello version");
    write(
        &file,
        "start: nowhere\nnodes:\n  hi: { say: x, next: bye }\n",
    );
    let broken = until(&rx, "a running server keeps version");
    assert!(broken.contains("error[flow.unknown_start]"), "{broken}");
    assert!(broken.contains("error[flow.unknown_node]"), "{broken}");
    write(&file, &flow("two"));
    let fixed = until(&rx, "live: hello version");
    assert!(fixed.contains("ok: 0 errors"), "{fixed}");

    // Regression: the checker's own reads must not count as saves (that looped forever). The next
    // report after adding a second flow must be about that flow.
    write(
        &flows.join("other.yaml"),
        &flow("three").replace("7000", "7001"),
    );
    let next = until(&rx, "── changed:");
    assert!(next.contains("other.yaml"), "{next}");
}
