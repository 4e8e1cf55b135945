//! What the pages show: every page drawn from real data with strict headers, the status
//! stream's first event (the live calls, bounded), and every node's calls with a warning when
//! the nodes' flow versions differ.

use super::*;

#[tokio::test]
async fn every_page_is_drawn_from_real_data_with_strict_headers() {
    let f = fixture().await;
    let (job, _) = seed(&f).await;
    f.state.status.calls.insert(CallView {
        id: "call-7".into(),
        flow: "menu".into(),
        version: "0123456789ab".into(),
        node: "hello".into(),
        theme: "pirate".into(),
        since: SystemTime::now(),
    });
    f.state.dash.logs.push(
        Severity::Warn,
        r#"{"timestamp":"2025-11-30T09:12:31.1Z","level":"WARN","message":"webhook failed","status":503}"#,
    );
    let (cookie, _) = login(&f, "ada").await;
    let c = Some(cookie.as_str());
    let pages: &[(&str, &[&str])] = &[
        (
            "/",
            &[
                "call-7",
                "hello",
                "pirate",
                "data-since=",
                "aria-current=\"page\"",
            ],
        ),
        ("/calls", &["+15550001", "flow_hangup", "/calls/01CALL"]),
        (
            "/calls/01CALL",
            &[
                "Hello &lt;there&gt;",
                "yes please",
                "/calls/01CALL/recording/message",
                "<audio controls",
                "-0.003",
            ],
        ),
        ("/outbound", &["+4930111", "message “Disk full”", "queued"]),
        (
            &format!("/outbound/{job}"),
            &["Not dialled yet", "Disk full"],
        ),
        (
            "/alerts",
            &["DiskFull", "db1 is full", &format!("/outbound/{job}")],
        ),
        (
            "/flows",
            &["menu", "broken", "calls to 100@pbx.example.com", "5000"],
        ),
        ("/flows/menu.yaml", &["<svg", "Mermaid source", "hello"]),
        (
            "/flows/broken.yaml",
            &["error[", "nowhere", "takes no calls"],
        ),
        (
            "/logs?level=warn",
            &["webhook failed", "{&quot;status&quot;:503}"],
        ),
        (
            "/settings",
            &["sip.listen", "default", "PHONETREE_SIP_LISTEN"],
        ),
    ];
    for (path, needles) in pages {
        let g = get(&f, path, c).await;
        assert_eq!(g.status, StatusCode::OK, "{path}: {}", g.body);
        for n in *needles {
            assert!(g.body.contains(n), "{path} lacks {n:?}:\n{}", g.body);
        }
        let csp = g.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert!(
            g.body.contains("name=\"viewport\""),
            "{path}: usable on a phone"
        );
        // The footer's version is phonetree's, even on a page with a flow's `version`.
        let foot = format!(
            "<footer class=\"foot\">phonetree {}</footer>",
            crate::VERSION
        );
        assert!(g.body.contains(&foot), "{path}: footer");
    }
    let g = get(&f, "/calls/01CALL/recording/message", c).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.headers[header::CONTENT_TYPE], "audio/wav");
    assert_eq!(
        get(&f, "/calls/01CALL/recording/answer", c).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&f, "/calls/nope", c).await.status,
        StatusCode::NOT_FOUND
    );
    let bad = get(&f, "/calls?since=soon", c).await;
    assert!(bad.body.contains("since:"), "{}", bad.body);
}

#[tokio::test]
async fn the_status_stream_starts_with_the_live_calls_and_is_bounded() {
    let f = fixture().await;
    f.state.status.calls.insert(CallView {
        id: "call-9".into(),
        flow: "menu".into(),
        version: "0123456789ab".into(),
        node: "hello".into(),
        theme: String::new(),
        since: SystemTime::now(),
    });
    let (cookie, _) = login(&f, "ada").await;
    let r = router(f.state.clone())
        .oneshot(req(Method::GET, "/status/events", Some(&cookie), ""))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = r.into_body().into_data_stream();
    let first = body.next().await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&first);
    assert!(text.starts_with("event: live\n"), "{text}");
    assert!(
        text.contains("\"id\":\"call-9\"") && text.contains("\"total\":1"),
        "{text}"
    );
    // Every stream holds a permit: the next ones beyond the bound get 503.
    let held: Vec<_> = (0..MAX_STREAMS - 1)
        .map(|_| f.state.dash.streams.clone().try_acquire_owned().unwrap())
        .collect();
    let g = get(&f, "/logs/events", Some(&cookie)).await;
    assert_eq!(g.status, StatusCode::SERVICE_UNAVAILABLE);
    drop(held);
    drop(body);
}

#[tokio::test]
async fn the_api_and_status_page_show_every_nodes_calls_and_warn_when_flows_differ() {
    let f = fixture().await;
    let now = crate::db::now_ms();
    // This node has one live call in memory; node-b has one in its heartbeat; node-c is down.
    f.state.status.calls.insert(CallView {
        id: "call-1".into(),
        flow: "menu".into(),
        version: "aaaaaaaaaaaa".into(),
        node: "hello".into(),
        theme: String::new(),
        since: SystemTime::now(),
    });
    let b_call = CallView {
        id: "call-77".into(),
        flow: "menu".into(),
        version: "bbbbbbbbbbbb".into(),
        node: "bye".into(),
        theme: String::new(),
        since: SystemTime::now(),
    };
    let flows = |v: &str| [("menu".to_string(), v.to_string())].into_iter().collect();
    let beats = [
        ("node-a", now, "aaaaaaaaaaaa", vec![]),
        ("node-b", now - 1_000, "bbbbbbbbbbbb", vec![b_call]),
        ("node-c", now - 600_000, "cccccccccccc", vec![]),
    ];
    for (node, seen, version, calls) in beats {
        let info = crate::engine::cluster::heartbeat_info(flows(version), &calls);
        f.db.with_node_id(node)
            .heartbeat(seen - 5_000, seen, calls.len() as u64, &info)
            .await
            .unwrap();
    }

    let g = get(&f, "/api/cluster", None).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let v: serde_json::Value = serde_json::from_str(&g.body).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[0]["me"], true);
    assert_eq!(nodes[2]["alive"], false);
    let calls: Vec<(&str, &str)> = v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["node_id"].as_str().unwrap(), c["id"].as_str().unwrap()))
        .collect();
    assert_eq!(calls, [("node-a", "call-1"), ("node-b", "call-77")]);
    assert_eq!(v["calls"][1]["state"], "bye");
    assert_eq!(v["disagreements"][0]["flow"], "menu");
    assert_eq!(v["disagreements"][0]["versions"]["node-b"], "bbbbbbbbbbbb");
    assert!(v["disagreements"][0]["versions"].get("node-c").is_none());

    let (cookie, _) = login(&f, "val").await;
    let g = get(&f, "/", Some(&cookie)).await;
    assert_eq!(g.status, StatusCode::OK);
    assert!(
        g.body.contains("Nodes disagree on flow versions"),
        "{}",
        g.body
    );
    assert!(g.body.contains("node-b: bbbbbbbbbbbb"), "{}", g.body);
    assert!(g.body.contains("id=\"cluster-calls\"") && g.body.contains("call-77"));
    assert!(g.body.contains("<strong class=\"bad\">down</strong>"));

    // Every node on the same version: no warning, the cluster table stays.
    f.db.with_node_id("node-b")
        .heartbeat(
            now,
            now,
            0,
            &crate::engine::cluster::heartbeat_info(flows("aaaaaaaaaaaa"), &[]),
        )
        .await
        .unwrap();
    let g = get(&f, "/", Some(&cookie)).await;
    assert!(!g.body.contains("Nodes disagree"), "{}", g.body);
    assert!(g.body.contains("id=\"cluster-nodes\""));
    let v: serde_json::Value =
        serde_json::from_str(&get(&f, "/api/cluster", None).await.body).unwrap();
    assert_eq!(v["disagreements"], json!([]));
}
