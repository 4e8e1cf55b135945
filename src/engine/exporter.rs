//! The Prometheus exporter behind `GET /metrics`: `metrics` + `metrics-exporter-prometheus`
//! (default features off: no listener or push gateway of its own; `/metrics` is a route on
//! the API listener), installed once per process as the global recorder.
//!
//! Adding a series is one line where the thing happens:
//! `metrics::counter!("phonetree_x_total", "label" => v).increment(1)` (or `gauge!`,
//! `histogram!`); give a histogram buckets in [`BUCKETS`] and a help text in [`HELP`]. Values
//! that already live in atomics elsewhere (RTP packet counts per media worker, the hardening
//! refusal counts of `policy::counters`) are copied in at scrape time by [`render`], so the
//! packet path never touches the recorder.
//!
//! Chosen over prometheus-client because series need no registry plumbing (a macro call at the
//! site), which keeps the outbound, agent and ASR additions to one line each.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::media::counters;

/// Buckets of the speech and agent services' latencies (seconds): a local engine answers in
/// milliseconds, a remote one in tenths of seconds, a stuck one at its timeout.
const SERVICE: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0,
];

/// Histogram buckets (seconds).
pub const BUCKETS: &[(&str, &[f64])] = &[
    (
        "phonetree_call_duration_seconds",
        &[
            1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
        ],
    ),
    (
        "phonetree_call_setup_seconds",
        &[
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ],
    ),
    (
        "phonetree_dtmf_response_seconds",
        &[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
        ],
    ),
    ("phonetree_asr_request_seconds", SERVICE),
    ("phonetree_tts_request_seconds", SERVICE),
    ("phonetree_agent_connect_seconds", SERVICE),
    ("phonetree_agent_first_audio_seconds", SERVICE),
    (
        "phonetree_db_write_lag_seconds",
        &[
            0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0,
        ],
    ),
];

/// `# HELP` texts.
pub const HELP: &[(&str, &str)] = &[
    ("phonetree_calls_total", "Calls ended, by flow, direction and outcome (answered, rejected, cancelled, failed)."),
    ("phonetree_calls_active", "Calls answered and not yet ended, by flow and direction."),
    ("phonetree_call_duration_seconds", "Answered calls' length from answer to end."),
    ("phonetree_call_setup_seconds", "From the INVITE to the answer."),
    ("phonetree_dtmf_response_seconds", "From a key press to the prompt or speech that answers it (in the call task)."),
    ("phonetree_rtp_packets_total", "RTP packets by kind: sent, received, late (sent after their due time), lost (missing from what callers sent)."),
    ("phonetree_registration_status", "Per account: 0 not registered, 1 registered, 2 failed."),
    ("phonetree_flow_reloads_total", "Flow loads and reloads by result (ok, failed)."),
    ("phonetree_db_write_lag_seconds", "From a register record's creation to its commit."),
    ("phonetree_db_up", "1 while the register's last database write succeeded."),
    ("phonetree_register_queue", "Register records waiting for the database."),
    ("phonetree_register_written_total", "Register records written."),
    ("phonetree_register_dropped_total", "Register records lost (buffer full or refused by the database)."),
    ("phonetree_logins_total", "Dashboard logins by result (ok, failed, limited)."),
    ("phonetree_refused_total", "What the hardening rules refused (docs/security.md), by what: sip_403, sip_silent, sip_oversize, sdp, transfer, rtp_foreign, rtp_competing, srtp_auth, srtp_replay, tls_handshake, tls_slow."),
    ("phonetree_rtp_rebinds_total", "Latched RTP sources replaced after silence (NAT rebinding)."),
    ("phonetree_sip_limited_total", "SIP traffic the admission limits shed (docs/security.md), by why: rate (sip.rate_*, dropped), max_calls, per_source (sip.max_calls_per_source), overload (inbox behind), table_full (503), inbox_dropped (datagrams), tcp_full / tcp_per_source (TCP connections closed at accept: sip.tcp_max_connections / sip.tcp_max_per_source), tcp_slow (sip.tcp_header_timeout), tcp_idle (sip.tcp_idle_timeout)."),
    ("phonetree_outbound_queue_depth", "Outbound jobs queued (waiting for their time or a free slot)."),
    ("phonetree_outbound_attempts_total", "Outbound call and SMS attempts, by outcome."),
    ("phonetree_asr_request_seconds", "Speech recognition, by engine: from the end of the caller's utterance to the final transcript."),
    ("phonetree_asr_errors_total", "Failed speech recognitions, by engine and reason (not_configured, connect, remote, overloaded, decoder, gone)."),
    ("phonetree_tts_request_seconds", "Text to speech not served from the cache, by engine: from the request to audio the call can play (the first chunk when streamed)."),
    ("phonetree_tts_errors_total", "Failed text to speech, by engine and reason (not_installed, not_configured, failed, http_4xx, http_5xx, io)."),
    ("phonetree_agent_connect_seconds", "Voice agent sessions, by engine: opening the Realtime socket."),
    ("phonetree_agent_first_audio_seconds", "Voice agent sessions, by engine: from the node starting (or the connection, if later) to the model's first audio."),
    ("phonetree_agent_errors_total", "Voice agent sessions that failed, by engine and reason (connect_timeout, refused, connect_failed, bad_url, server_error, closed, no_answer, protocol, audio)."),
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder (first call) and returns the handle `/metrics` renders; `None` if
/// another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let mut b = PrometheusBuilder::new();
            for (name, buckets) in BUCKETS {
                b = match b.set_buckets_for_metric(Matcher::Full((*name).into()), buckets) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::error!(error = %e, metric = name, "bad histogram buckets");
                        return None;
                    }
                };
            }
            let recorder = b.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed: /metrics stays empty");
                return None;
            }
            for (name, help) in HELP {
                metrics::describe_counter!(*name, *help);
            }
            Some(handle)
        })
        .clone()
}

/// The exposition text, with the scrape-time values brought up to date.
pub fn render(handle: &PrometheusHandle) -> String {
    let t = counters::totals();
    for (kind, v) in [
        ("sent", t.sent),
        ("received", t.received),
        ("late", t.late),
        ("lost", t.lost),
    ] {
        metrics::counter!("phonetree_rtp_packets_total", "kind" => kind).absolute(v);
    }
    let r = crate::policy::counters::global().snapshot();
    for (what, v) in [
        ("sip_403", r.sip_refused_403),
        ("sip_silent", r.sip_refused_silent),
        ("sip_oversize", r.sip_oversize),
        ("sdp", r.sdp_refused),
        ("transfer", r.transfer_refused),
        ("rtp_foreign", r.rtp_foreign_dropped),
        ("rtp_competing", r.rtp_competing_dropped),
        ("srtp_auth", r.srtp_auth_failed),
        ("srtp_replay", r.srtp_replayed),
        ("tls_handshake", r.sip_tls_handshake_failed),
        ("tls_slow", r.sip_tls_handshake_slow),
    ] {
        metrics::counter!("phonetree_refused_total", "what" => what).absolute(v);
    }
    metrics::counter!("phonetree_rtp_rebinds_total").absolute(r.rtp_rebinds);
    for (why, v) in limited(&r) {
        metrics::counter!("phonetree_sip_limited_total", "why" => why).absolute(v);
    }
    handle.render()
}

/// The admission-limit counts of `policy::counters`, by the `why` label they are exported with.
fn limited(r: &crate::policy::counters::Snapshot) -> [(&'static str, u64); 10] {
    [
        ("rate", r.sip_rate_limited),
        ("max_calls", r.sip_max_calls_503),
        ("per_source", r.sip_source_calls_503),
        ("overload", r.sip_overload_503),
        ("table_full", r.sip_table_full),
        ("inbox_dropped", r.sip_inbox_dropped),
        ("tcp_full", r.sip_tcp_full),
        ("tcp_per_source", r.sip_tcp_source_full),
        ("tcp_slow", r.sip_tcp_slow),
        ("tcp_idle", r.sip_tcp_idle),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `phonetree_*` name in a text, without the histogram suffixes.
    fn names(text: &str) -> std::collections::BTreeSet<String> {
        let re = regex::Regex::new(r"phonetree_[a-z_]+").unwrap();
        re.find_iter(text)
            .map(|m| {
                let n = m.as_str();
                ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|s| n.strip_suffix(s))
                    .unwrap_or(n)
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn the_dashboard_and_the_docs_use_only_series_that_exist() {
        let known: Vec<&str> = HELP.iter().map(|(n, _)| *n).collect();
        let dash = include_str!("../../docs/grafana-phonetree.json");
        let doc = include_str!("../../docs/operations.md");
        for (what, text) in [("dashboard", dash), ("operations.md", doc)] {
            // The session and login cookies share the prefix.
            let cookies = ["phonetree_session", "phonetree_login"];
            for n in names(text)
                .into_iter()
                .filter(|n| !cookies.contains(&n.as_str()))
            {
                assert!(
                    known.contains(&n.as_str()),
                    "{what} names unknown series {n}"
                );
            }
        }
        for (n, _) in BUCKETS {
            assert!(known.contains(n), "buckets for an undescribed series {n}");
        }
        assert!(serde_json::from_str::<serde_json::Value>(dash).is_ok());
    }

    #[test]
    fn every_admission_counter_has_its_label() {
        let r = crate::policy::counters::Snapshot {
            sip_rate_limited: 1,
            sip_max_calls_503: 2,
            sip_source_calls_503: 3,
            sip_overload_503: 4,
            sip_table_full: 5,
            sip_inbox_dropped: 6,
            sip_tcp_full: 7,
            sip_tcp_source_full: 8,
            sip_tcp_slow: 9,
            sip_tcp_idle: 10,
            ..Default::default()
        };
        let got: Vec<u64> = limited(&r).iter().map(|(_, v)| *v).collect();
        assert_eq!(got, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }
}
