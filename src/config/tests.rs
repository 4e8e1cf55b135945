//! Configuration scenarios: YAML, environment overrides, the seed aliases, `.env`, flags and
//! redaction of secrets.

use std::collections::BTreeMap;
use std::io::Write;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn yaml(text: &str) -> Sources {
    Sources {
        file: Some((text.to_string(), PathBuf::from("phonetree.yaml"))),
        ..Sources::default()
    }
}

#[test]
fn no_configuration_is_the_demo() {
    let c = load(&Sources::default()).unwrap();
    assert_eq!(c.sip_listen, "0.0.0.0:5060".parse().unwrap());
    assert_eq!(c.http_listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.flows, PathBuf::from("flows"));
    assert_eq!(c.sound, None);
    assert_eq!(c.rtp_ports, 10000..=20000);
    assert_eq!(c.rtp_timeout, Duration::from_secs(30));
    assert_eq!(c.rtp_workers, None, "one per core");
    assert_eq!(c.rtp_priority, MediaPriority::Realtime);
    assert_eq!(c.codecs, vec![Codec::Pcmu, Codec::Pcma, Codec::Opus]);
    assert_eq!(c.backoff_base, Duration::from_secs(2));
    assert_eq!(c.backoff_max, Duration::from_secs(60));
    assert!(c.accounts.is_empty());
}

#[test]
fn yaml_sets_every_section() {
    let c = load(&yaml(
        "sip: { listen: 127.0.0.1:5070, advertise: 203.0.113.7 }\n\
         http: { listen: 127.0.0.1:9000 }\n\
         flows: my/flows\nsound: my/sound\n\
         rtp: { ports: 30000-30100, timeout: 10s, workers: 3, priority: high }\n\
         codecs: [opus, PCMA]\nthemes: [robot]\ndrain_timeout: 5s\n\
         registration: { backoff_base: 1s, backoff_max: 30s }\n\
         accounts:\n  - { registrar: pbx.example.com:5070, username: '1001', password: s3cret,\n      \
         outbound_proxy: 10.0.0.1, expires: 10m, transport: tcp, flow: characters }\n",
    ))
    .unwrap();
    assert_eq!(c.sip_listen, "127.0.0.1:5070".parse().unwrap());
    assert_eq!(
        c.advertise.unwrap().ip,
        "203.0.113.7".parse::<IpAddr>().unwrap()
    );
    assert_eq!(c.http_listen.port(), 9000);
    assert_eq!(c.flows, PathBuf::from("my/flows"));
    assert_eq!(c.sound, Some(PathBuf::from("my/sound")));
    assert_eq!(c.rtp_ports, 30000..=30100);
    assert_eq!(c.rtp_timeout, Duration::from_secs(10));
    assert_eq!(c.rtp_workers, Some(3));
    assert_eq!(c.rtp_priority, MediaPriority::High);
    assert_eq!(c.codecs, vec![Codec::Opus, Codec::Pcma]);
    assert_eq!(c.themes, vec!["robot".to_string()]);
    assert_eq!(c.drain_timeout, Duration::from_secs(5));
    assert_eq!(c.backoff_max, Duration::from_secs(30));
    let a = &c.accounts[0];
    assert_eq!(a.registrar.to_string(), "pbx.example.com:5070");
    assert_eq!(a.username, "1001");
    assert_eq!(a.password, Secret::new("s3cret"));
    assert_eq!(a.outbound_proxy.as_ref().unwrap().host, "10.0.0.1");
    assert_eq!(a.expires, Duration::from_secs(600));
    assert_eq!(a.transport, Transport::Tcp);
    assert_eq!(a.flow.as_deref(), Some("characters"));
}

#[test]
fn env_overrides_yaml_and_flags_override_env() {
    let mut s = yaml("sip: { listen: 127.0.0.1:5070 }\nrtp: { ports: 30000-30100 }\n");
    s.env = env(&[
        ("PHONETREE_SIP_LISTEN", "127.0.0.1:5080"),
        ("PHONETREE_RTP_PORTS", "40000-40010"),
        ("PHONETREE_CODECS", "pcma pcmu"),
    ]);
    s.flags.rtp_ports = Some("50000-50010".into());
    let c = load(&s).unwrap();
    assert_eq!(c.sip_listen.port(), 5080);
    assert_eq!(c.rtp_ports, 50000..=50010);
    assert_eq!(c.codecs, vec![Codec::Pcma, Codec::Pcmu]);
}

#[test]
fn seed_aliases_alone_register_one_account() {
    let s = Sources {
        env: env(&[
            ("SIP_DOMAIN", "pbx.example.com:5070"),
            ("SIP_USER", "1001"),
            ("SIP_PASS", "hunter2"),
            ("SIP_TRANSPORT_PORT", "5062"),
            ("CODEC", "PCMA"),
            ("THEMES", "robot,bunny"),
        ]),
        ..Sources::default()
    };
    let c = load(&s).unwrap();
    assert_eq!(c.accounts.len(), 1);
    let a = &c.accounts[0];
    assert_eq!(a.registrar.host, "pbx.example.com");
    assert_eq!(a.registrar.port, Some(5070));
    assert_eq!(a.username, "1001");
    assert_eq!(a.flow, None, "calls go to the default flow");
    assert_eq!(c.sip_listen, "0.0.0.0:5062".parse().unwrap());
    assert_eq!(c.codecs, vec![Codec::Pcma, Codec::Pcmu, Codec::Opus]);
    assert_eq!(c.themes, vec!["robot".to_string(), "bunny".to_string()]);
}

#[test]
fn long_alias_names_win_over_short_and_phonetree_names_win_over_both() {
    let s = Sources {
        env: env(&[
            ("SIP_DOMAIN", "pbx"),
            ("SIP_USER", "short"),
            ("SIP_USERNAME", "long"),
            ("SIP_PASSWORD", "pw"),
            ("SIP_PREFERRED_CODECS", "opus/48000/2,PCMU/8000"),
            ("SIP_OUTBOUND", "proxy.example.com"),
        ]),
        ..Sources::default()
    };
    let c = load(&s).unwrap();
    assert_eq!(c.accounts[0].username, "long");
    assert_eq!(c.codecs, vec![Codec::Opus, Codec::Pcmu]);
    assert_eq!(
        c.accounts[0].outbound_proxy.as_ref().unwrap().host,
        "proxy.example.com"
    );
    let mut s = s;
    s.env
        .insert("PHONETREE_ACCOUNT_USERNAME".into(), "1002".into());
    assert_eq!(load(&s).unwrap().accounts[0].username, "1002");
}

#[test]
fn dotenv_file_is_read_and_process_env_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "PHONETREE_TEST_ONLY_DOTENV=from-file\nPATH=not-used").unwrap();
    let e = layer::process_env(Some(&path));
    assert_eq!(e["PHONETREE_TEST_ONLY_DOTENV"], "from-file");
    assert_ne!(e["PATH"], "not-used");
}

#[test]
fn yaml_problems_are_diagnostics_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phonetree.yaml");
    std::fs::write(
        &path,
        "sip:\n  listen: nowhere\n  lisen: 1\nrtp: { ports: 20000-10000 }\ncodecs: [g729]\nbogus: 1\n",
    )
    .unwrap();
    let diags = check_file(&path);
    let lines: Vec<(usize, &str)> = diags.iter().map(|d| (d.line, d.code)).collect();
    assert!(lines.contains(&(2, "config.bad_value")), "{diags:#?}");
    assert!(lines.contains(&(3, "config.unknown_key")), "{diags:#?}");
    assert!(lines.contains(&(4, "config.bad_value")), "{diags:#?}");
    assert!(lines.contains(&(5, "config.bad_value")), "{diags:#?}");
    assert!(lines.contains(&(6, "config.unknown_key")), "{diags:#?}");
}

#[test]
fn an_incomplete_account_names_what_is_missing() {
    let s = Sources {
        env: env(&[("SIP_DOMAIN", "pbx.example.com")]),
        ..Sources::default()
    };
    let e = load(&s).unwrap_err().to_string();
    assert!(e.contains("SIP_DOMAIN"), "{e}");
    assert!(e.contains("username (SIP_USERNAME)"), "{e}");
}

#[test]
fn rtp_workers_is_auto_or_a_small_count() {
    let with = |v: &str| {
        load(&Sources {
            env: env(&[("PHONETREE_RTP_WORKERS", v)]),
            ..Sources::default()
        })
    };
    assert_eq!(with("auto").unwrap().rtp_workers, None);
    assert_eq!(with("0").unwrap().rtp_workers, None);
    assert_eq!(with("2").unwrap().rtp_workers, Some(2));
    for bad in ["65", "-1", "many"] {
        let e = with(bad).unwrap_err().to_string();
        assert!(e.contains("rtp.workers"), "{bad}: {e}");
    }
    let prio = |v: &str| {
        load(&Sources {
            env: env(&[("PHONETREE_RTP_PRIORITY", v)]),
            ..Sources::default()
        })
    };
    assert_eq!(prio("NORMAL").unwrap().rtp_priority, MediaPriority::Normal);
    assert!(prio("urgent")
        .unwrap_err()
        .to_string()
        .contains("rtp.priority"));
}

#[test]
fn passwords_never_appear_in_errors_or_debug() {
    let s = Sources {
        env: env(&[
            ("SIP_DOMAIN", "pbx.example.com"),
            ("SIP_USERNAME", "1001"),
            ("SIP_PASSWORD", "topsecret-pw"),
            ("PHONETREE_RTP_TIMEOUT", "soon"),
        ]),
        ..Sources::default()
    };
    let e = load(&s).unwrap_err();
    assert!(!format!("{e}{e:?}").contains("topsecret"));
    assert!(!format!("{s:?}").contains("topsecret"));
    assert!(!format!("{:?}", layer::env_layer(&s.env)).contains("topsecret"));
    let mut s = s;
    s.env.remove("PHONETREE_RTP_TIMEOUT");
    let c = load(&s).unwrap();
    assert!(!format!("{c:?}").contains("topsecret"));
}

#[test]
fn hostports_parse_with_and_without_port() {
    let hp = parse_hostport("sip:pbx.example.com:5070").unwrap();
    assert_eq!((hp.host.as_str(), hp.port), ("pbx.example.com", Some(5070)));
    assert_eq!(parse_hostport("10.0.0.1").unwrap().port, None);
    assert_eq!(
        parse_hostport("[::1]:5060").unwrap().to_string(),
        "[::1]:5060"
    );
    assert!(parse_hostport("pbx:notaport").is_err());
    assert!(parse_hostport("").is_err());
}

#[test]
fn the_examples_in_docs_config_md_load() {
    let doc = include_str!("../../docs/config.md");
    let mut blocks = 0;
    for block in doc.split("```yaml\n").skip(1) {
        let text = block.split("```").next().unwrap_or_default();
        let c = load(&yaml(text)).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
        assert!(c.sip_listen.port() > 0);
        blocks += 1;
    }
    assert!(blocks >= 2, "docs/config.md has YAML examples");
}

#[test]
fn durations_take_the_same_forms_as_in_flows_and_a_bare_number_hints_its_unit() {
    let with = |v: &str| {
        load(&Sources {
            env: env(&[("PHONETREE_DRAIN_TIMEOUT", v)]),
            ..Sources::default()
        })
    };
    for (text, secs) in [("500ms", 0), ("45s", 45), ("2m", 120), ("1h", 3600)] {
        let c = with(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(c.drain_timeout.as_secs(), secs, "{text}");
        assert!(
            crate::flow::duration::parse_duration(text).is_ok(),
            "{text}"
        );
    }
    let e = with("30").unwrap_err();
    let p = &e.problems[0];
    assert_eq!(
        p.hint.as_deref(),
        Some(crate::flow::duration::hint("30").as_str())
    );
    assert!(
        p.hint.as_deref().unwrap().starts_with("write `30s`"),
        "{p:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("PHONETREE_DRAIN_TIMEOUT: error[config.bad_value]"),
        "run shows the code validate uses: {text}"
    );
    // In phonetree.yaml, `validate` reports it at its line with the same hint.
    let d = yaml_layer_problems("rtp: { timeout: 30 }\n");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].code, d[0].line), ("config.bad_value", 1));
    assert!(d[0].hint.as_deref().unwrap().starts_with("write `30s`"));
}

fn yaml_layer_problems(text: &str) -> Vec<Diagnostic> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phonetree.yaml");
    std::fs::write(&path, text).unwrap();
    check_file(&path)
}

#[test]
fn every_section_file_s_keys_are_found_one_way_in_yaml_env_and_hints() {
    // `log` (config/log.rs) and `database`/`register`/`api`/`node` (their own files) are all
    // registered the same way: their KEYS table in `layer::KEY_TABLES`.
    let c = load(&yaml(
        "log: { level: debug, redact_numbers: true }\n\
         database: { pool_size: 3 }\nregister: { spill: 500 }\nnode: { id: n1 }\n",
    ))
    .unwrap();
    assert_eq!(c.log.level, "debug");
    assert!(c.log.redact_numbers);
    assert_eq!((c.database.pool_size, c.database.spill), (3, 500));
    assert_eq!(c.node_id, "n1");
    let c = load(&Sources {
        env: env(&[
            ("PHONETREE_LOG_FORMAT", "json"),
            ("PHONETREE_NODE_ID", "n2"),
        ]),
        ..Sources::default()
    })
    .unwrap();
    assert_eq!(c.log.format, log::LogFormat::Json);
    assert_eq!(c.node_id, "n2");

    let d = yaml_layer_problems("lgo: {}\nlog: { colour: red }\ndatabase: { ur: x }\n");
    let hints: Vec<&str> = d.iter().filter_map(|d| d.hint.as_deref()).collect();
    assert_eq!(d.len(), 3, "{d:?}");
    assert!(
        hints[0].contains("log") && hints[0].contains("database") && hints[0].contains("api"),
        "{hints:?}"
    );
    assert!(hints[1].contains("level, format"), "{hints:?}");
    assert!(hints[2].contains("url, pool_size"), "{hints:?}");
}
