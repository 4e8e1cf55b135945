//! The ops files of `deploy/` (docs/scale-out.md) stay consistent with the code they deploy:
//! every `PHONETREE_*` variable they set is a documented setting (docs/config.md), the systemd
//! unit passes `systemd-analyze verify` without a warning (when systemd is there), the Kamailio
//! dispatcher lists are well formed, and the files are linked from the docs. The Kamailio
//! configuration itself runs in `tests/interop_cluster.rs`; the container files cannot be built
//! here (no container runtime), which the docs say.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

const DEPLOY_FILES: [&str; 5] = [
    "deploy/compose.yaml",
    "deploy/Dockerfile",
    "deploy/systemd/phonetree@.service",
    "deploy/systemd/node1.env.example",
    "deploy/kamailio/kamailio.cfg",
];

/// The `PHONETREE_*` names in `text`.
fn env_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("PHONETREE_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].trim_end_matches('_').to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn every_variable_the_deploy_files_set_is_a_documented_setting() {
    let config = read("docs/config.md");
    let mut checked = 0;
    for file in DEPLOY_FILES {
        for name in env_names(&read(file)) {
            assert!(
                config.contains(&format!("`{name}`")),
                "{file} sets {name}, which docs/config.md does not document"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} variables found: the scan is broken"
    );
    assert_eq!(
        env_names("a PHONETREE_NODE_ID=x, ${PHONETREE_SIP_ALLOW}"),
        ["PHONETREE_NODE_ID", "PHONETREE_SIP_ALLOW"]
    );
}

#[test]
fn the_dispatcher_lists_name_sip_destinations_of_set_1() {
    for file in [
        "deploy/kamailio/dispatcher.list",
        "deploy/kamailio/dispatcher.compose.list",
    ] {
        let text = read(file);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(lines.len(), 3, "{file}: three nodes");
        for l in lines {
            let fields: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(
                fields[0], "1",
                "{file}: set 1 (kamailio.cfg selects set 1): {l}"
            );
            assert!(fields[1].starts_with("sip:"), "{file}: {l}");
            assert!(fields[2..4].iter().all(|f| f.parse::<u32>().is_ok()), "{l}");
        }
    }
    // The compose file names the list the kamailio service is given, and kamailio.cfg set 1.
    assert!(read("deploy/compose.yaml").contains("dispatcher.compose.list"));
    assert!(read("deploy/kamailio/kamailio.cfg").contains("ds_select_dst(\"1\""));
}

#[test]
fn kamailio_gets_enough_shared_memory_wherever_we_start_it() {
    // Debian's default 64 MB runs out at a few hundred calls/s (tm answers `500 No error (2/SL)`,
    // its out-of-memory code): the compose file and the benchmark pass `-m 256`, the docs say so.
    let compose = read("deploy/compose.yaml");
    let kamailio = &compose[compose.find("\n  kamailio:").expect("a kamailio service")..];
    let command = &kamailio[kamailio.find("command:").expect("its command")..];
    let args: Vec<&str> = command
        .lines()
        .skip(1)
        .take_while(|l| l.trim_start().starts_with('-') || l.trim_start().starts_with('#'))
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(|a| a.trim_matches('"'))
        .collect();
    let m = args
        .iter()
        .position(|a| *a == "-m")
        .expect("compose passes -m to kamailio");
    let mb: u32 = args[m + 1].parse().expect("a size in MB");
    assert!(mb >= 256, "{mb} MB of shared memory");
    assert!(
        read("bench/cluster.py").contains("\"-m\", os.environ.get(\"KAMAILIO_SHM_MB\", \"256\")")
    );
    assert!(read("docs/scale-out.md").contains("SHM_MEMORY=256"));
    assert!(read("deploy/kamailio/kamailio.cfg").contains("-m 256"));
    assert!(read("tests/interop_cluster.rs").contains(r#""-m", "256""#));
}

#[test]
fn the_systemd_unit_verifies_without_a_warning() {
    let unit = read("deploy/systemd/phonetree@.service");
    assert!(unit.contains("Environment=PHONETREE_NODE_ID=%i"));
    assert!(
        unit.contains("TimeoutStopSec="),
        "a stop must outlast the drain"
    );
    let Some(analyze) = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
    else {
        eprintln!("systemd-analyze not installed: unit not verified");
        return;
    };
    // The unit as installed, pointing at the binary this build made.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("phonetree@node1.service");
    let text = unit.replace("/usr/local/bin/phonetree", env!("CARGO_BIN_EXE_phonetree"));
    std::fs::write(&path, text).expect("write unit");
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let own: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("phonetree@"))
        .collect();
    assert!(out.status.success() && own.is_empty(), "{stderr}");
}

#[test]
fn the_deploy_files_are_documented_and_the_container_files_say_they_are_untested() {
    let doc = read("docs/scale-out.md");
    for file in [
        "deploy/kamailio/kamailio.cfg",
        "deploy/kamailio/dispatcher.list",
        "deploy/systemd/phonetree@.service",
        "deploy/compose.yaml",
        "deploy/Dockerfile",
    ] {
        assert!(
            doc.contains(file),
            "docs/scale-out.md does not mention {file}"
        );
    }
    for file in ["deploy/compose.yaml", "deploy/Dockerfile"] {
        assert!(read(file).contains("NOT built"), "{file}");
    }
    assert!(doc.contains("cannot be built"), "scale-out.md: say so");
    assert!(read("README.md").contains("docs/scale-out.md"));
    assert!(read("ARCHITECTURE.md").contains("docs/scale-out.md"));
}
