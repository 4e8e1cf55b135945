//! The dashboard's forms: refused without their CSRF token or the admin role, a cancelled job
//! retried from its page as one new job, and the place-a-call form queueing a job through the
//! API's checks.

use super::*;

#[tokio::test]
async fn forms_need_their_csrf_token_and_the_admin_role() {
    let f = fixture().await;
    let (job, _) = seed(&f).await;
    let path = format!("/outbound/{job}/cancel");
    let (cookie, csrf) = login(&f, "ada").await;
    // No token, a wrong token: refused, the job stays queued.
    for body in ["", "csrf=0000"] {
        let g = send(&f, req(Method::POST, &path, Some(&cookie), body)).await;
        assert_eq!(g.status, StatusCode::FORBIDDEN, "{body}");
        assert!(g.body.contains("CSRF"));
    }
    assert_eq!(
        f.db.get_job(&job).await.unwrap().unwrap().state,
        crate::db::jobs::JobState::Queued
    );
    // A viewer with the right token: refused too.
    let g = post_as_viewer(&f, &path).await;
    assert_eq!(g.status, StatusCode::FORBIDDEN);
    assert!(g.body.contains("role"));
    // The admin with the token: cancelled.
    let g = send(
        &f,
        req(Method::POST, &path, Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(g.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&g), format!("/outbound/{job}?notice=cancelled"));
    assert_eq!(
        f.db.get_job(&job).await.unwrap().unwrap().state,
        crate::db::jobs::JobState::Cancelled
    );
    let again = send(
        &f,
        req(Method::POST, &path, Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(
        location(&again),
        format!("/outbound/{job}?notice=not_cancelled")
    );
    // Without a session at all: 401, not a redirect a form would follow.
    let g = send(&f, req(Method::POST, &path, None, &format!("csrf={csrf}"))).await;
    assert_eq!(g.status, StatusCode::UNAUTHORIZED);
}

/// The outbound API as `run` wires it, admitting the numbers `allow` matches (`+49*`).
fn with_outbound(f: &mut Fx, allow: &str) {
    use crate::engine::http::outbound::OutboundApi;
    let cfg = crate::config::outbound::OutboundConfig {
        allow: crate::policy::outbound::OutboundPolicy::new(&[allow]).unwrap(),
        ..Default::default()
    };
    let api = OutboundApi {
        cfg,
        rules: Vec::new(),
        registry: f.state.status.registry.clone(),
        accounts: Vec::new(),
        wake: Arc::new(tokio::sync::Notify::new()),
        schedules_wake: Arc::new(tokio::sync::Notify::new()),
    };
    f.state = f.state.clone().with_outbound(Arc::new(api));
}

/// A stored message job to `to` (the request as `POST /api/calls` stores it).
async fn message_job(f: &Fx, to: &str) -> String {
    let defaults = crate::config::outbound::OutboundConfig::default().defaults;
    let req = crate::outbound::request::CallRequest::parse(
        &json!({"to": to, "message": "Disk full"}),
        &defaults,
        1_700_000_000_000,
    )
    .unwrap();
    let request = crate::outbound::job::JobRequest::Call(req);
    f.db.create_job(
        &NewJob {
            request: serde_json::to_value(&request).unwrap(),
            run_at_ms: 1_700_000_000_000,
            max_attempts: request.max_attempts(),
            ..NewJob::default()
        },
        1_700_000_000_000,
    )
    .await
    .unwrap()
    .id
}

#[tokio::test]
async fn a_cancelled_job_is_retried_from_its_page_as_a_new_job_once() {
    let mut f = fixture().await;
    with_outbound(&mut f, "+49*");
    let job = message_job(&f, "+4930111").await;
    let (cookie, csrf) = login(&f, "ada").await;
    let path = format!("/outbound/{job}/retry");
    // Queued: no retry button, and a retry is refused.
    let page = get(&f, &format!("/outbound/{job}"), Some(&cookie)).await;
    assert!(!page.body.contains(&path), "{}", page.body);
    let g = send(
        &f,
        req(Method::POST, &path, Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(location(&g), format!("/outbound/{job}?notice=not_retried"));
    assert!(f.db.cancel_job(&job, 1_700_000_000_001).await.unwrap());
    // Cancelled: the button, with the session's CSRF token.
    let page = get(&f, &format!("/outbound/{job}"), Some(&cookie)).await;
    assert!(
        page.body
            .contains(&format!("action=\"{}\"", path.replace('/', "&#x2f;")))
            || page.body.contains(&format!("action=\"{path}\"")),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("value=\"{csrf}\"")));
    let list = get(&f, "/outbound", Some(&cookie)).await;
    assert!(list.body.contains(">Retry</button>"), "{}", list.body);
    // Without the token, or as a viewer: refused, nothing created.
    let g = send(&f, req(Method::POST, &path, Some(&cookie), "csrf=0000")).await;
    assert_eq!(g.status, StatusCode::FORBIDDEN);
    let g = post_as_viewer(&f, &path).await;
    assert_eq!(g.status, StatusCode::FORBIDDEN);
    assert_eq!(
        f.db.count_jobs(crate::db::jobs::JobState::Queued)
            .await
            .unwrap(),
        0
    );
    // The admin with the token: a new job, due now, naming the old one; the old one unchanged.
    let g = send(
        &f,
        req(Method::POST, &path, Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(g.status, StatusCode::SEE_OTHER);
    let to = location(&g).to_string();
    let new = to
        .strip_prefix("/outbound/")
        .and_then(|r| r.strip_suffix("?notice=retried"))
        .unwrap_or_else(|| panic!("{to}"))
        .to_string();
    assert_ne!(new, job);
    let n = f.db.get_job(&new).await.unwrap().unwrap();
    assert_eq!(n.state, crate::db::jobs::JobState::Queued);
    assert_eq!(n.request["retry_of"], job.as_str());
    assert_eq!(n.request["to"], json!(["+4930111"]));
    assert!(
        n.run_at_ms > 1_700_000_000_000,
        "due now, not at the old time"
    );
    assert_eq!(n.attempts, 0);
    assert_eq!(
        f.db.get_job(&job).await.unwrap().unwrap().state,
        crate::db::jobs::JobState::Cancelled
    );
    let page = get(&f, &to, Some(&cookie)).await;
    assert!(page.body.contains("Retry of"), "{}", page.body);
    // Again (a double click): the same retry, not a second one.
    let g = send(
        &f,
        req(Method::POST, &path, Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(location(&g), format!("/outbound/{new}?notice=retried"));
    assert_eq!(
        f.db.count_jobs(crate::db::jobs::JobState::Queued)
            .await
            .unwrap(),
        1
    );
    // A job whose target is no longer allowed is not retried.
    let other = message_job(&f, "+3312345").await;
    f.db.cancel_job(&other, 1_700_000_000_001).await.unwrap();
    let g = send(
        &f,
        req(
            Method::POST,
            &format!("/outbound/{other}/retry"),
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(
        location(&g),
        format!("/outbound/{other}?notice=retry_refused")
    );
    let g = send(
        &f,
        req(
            Method::POST,
            "/outbound/nope/retry",
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_place_a_call_form_queues_a_job_through_the_api_checks() {
    let mut f = fixture().await;
    let (cookie, csrf) = login(&f, "ada").await;
    let form = |to: &str, token: &str| {
        format!(
            "csrf={token}&to={}&message=Disk+full&flow=&at=&tz=",
            urlencode(to)
        )
    };
    // No CSRF token: refused, nothing queued.
    let g = send(
        &f,
        req(
            Method::POST,
            "/outbound",
            Some(&cookie),
            &form("+4930111", "0000"),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::FORBIDDEN);
    // Outbound calls not running: the page again, the form kept, the reason shown.
    let g = send(
        &f,
        req(
            Method::POST,
            "/outbound",
            Some(&cookie),
            &form("+4930111", &csrf),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        g.body.contains("outbound calls are not running"),
        "{}",
        g.body
    );
    assert!(g.body.contains(">+4930111</textarea>"), "{}", g.body);

    with_outbound(&mut f, "+4930*");
    // A target the allow list refuses: 403, the API's reason on the page.
    let g = send(
        &f,
        req(
            Method::POST,
            "/outbound",
            Some(&cookie),
            &form("+1900555", &csrf),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::FORBIDDEN);
    assert!(g.body.contains("outbound.allow"), "{}", g.body);
    // Two targets (an escalation chain): queued, on to the job's page.
    let g = send(
        &f,
        req(
            Method::POST,
            "/outbound",
            Some(&cookie),
            &form("+4930111\n+4930222", &csrf),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::SEE_OTHER, "{}", g.body);
    let to = location(&g);
    let id = to
        .strip_prefix("/outbound/")
        .and_then(|r| r.strip_suffix("?notice=placed"))
        .expect("the job's page");
    let job = f.db.get_job(id).await.unwrap().expect("the job");
    assert_eq!(job.state, crate::db::jobs::JobState::Queued);
    assert_eq!(
        job.request["to"],
        json!(["+4930111", "+4930222"]),
        "{}",
        job.request
    );
    let g = get(&f, to, Some(&cookie)).await;
    assert!(g.body.contains("The call is queued"), "{}", g.body);
    assert!(g.body.contains("Disk full"));
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap()[2..].to_string()
}
