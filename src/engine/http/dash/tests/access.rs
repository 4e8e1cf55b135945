//! Who gets in: strangers sent to the login page even while the API is open, the login form's
//! CSRF token and its `next`, and logout (which needs the token) ending the session.

use super::*;

#[tokio::test]
async fn pages_send_strangers_to_the_login_page_even_while_the_api_is_open() {
    let f = fixture().await;
    // The loopback demo's API is open...
    assert_eq!(get(&f, "/api/calls", None).await.status, StatusCode::OK);
    // ...the dashboard is not.
    let g = get(&f, "/", None).await;
    assert_eq!(g.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&g), "/login");
    let g = get(&f, "/calls?number=555", None).await;
    assert_eq!(location(&g), "/login?next=%2Fcalls%3Fnumber%3D555");
    let g = get(&f, "/static/app.css", None).await;
    assert_eq!(g.status, StatusCode::OK);
    assert!(g.body.contains(".facts"));
}

#[tokio::test]
async fn a_form_login_needs_the_login_pages_token_and_then_goes_next() {
    let f = fixture().await;
    let page = get(&f, "/login?next=/flows", None).await;
    assert_eq!(page.status, StatusCode::OK);
    let set = page.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let token = set
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    assert!(page
        .body
        .contains(&format!("name=\"csrf\" value=\"{token}\"")));
    // (autoescape writes `/` as `&#x2f;`; the browser reads it back as `/`.)
    assert!(page.body.contains("name=\"next\" value=\"&#x2f;flows\""));
    assert!(page.body.contains("<label for=\"password\">"));
    let form = format!("username=ada&password=correct+horse+battery&next=%2Fflows&csrf={token}");
    // Without the cookie (another site's form): refused before the password is looked at.
    let g = send(&f, req(Method::POST, "/login", None, &form)).await;
    assert!(
        location(&g).starts_with("/login?expired=1"),
        "{}",
        location(&g)
    );
    assert!(g.headers.get(header::SET_COOKIE).is_none());
    // With it: logged in, on to `next`.
    let cookie = format!("phonetree_login={token}");
    let g = send(&f, req(Method::POST, "/login", Some(&cookie), &form)).await;
    assert_eq!(g.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&g), "/flows");
    let session = g.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(session.starts_with("phonetree_session=") && session.contains("HttpOnly"));
    let session = session.split(';').next().unwrap();
    assert_eq!(
        get(&f, "/flows", Some(session)).await.status,
        StatusCode::OK
    );
    // A logged-in visitor of the login page goes straight on.
    let g = get(&f, "/login?next=/logs", Some(session)).await;
    assert_eq!(location(&g), "/logs");
}

#[tokio::test]
async fn logout_needs_the_token_and_ends_the_session() {
    let f = fixture().await;
    let (cookie, csrf) = login(&f, "ada").await;
    let g = send(
        &f,
        req(Method::POST, "/logout", Some(&cookie), "csrf=wrong"),
    )
    .await;
    assert_eq!(g.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&f, "/", Some(&cookie)).await.status, StatusCode::OK);
    let g = send(
        &f,
        req(
            Method::POST,
            "/logout",
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(g.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&g), "/login");
    assert!(g.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = get(&f, "/", Some(&cookie)).await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "the old cookie is dead"
    );
}
