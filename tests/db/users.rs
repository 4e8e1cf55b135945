//! Dashboard accounts: users, API tokens and login sessions.

use super::*;

pub(super) async fn users_tokens_and_sessions(db: Db) {
    assert_eq!(db.count_users().await.unwrap(), 0);
    let u = db
        .create_user("admin", "$argon2id$x", "admin", 5)
        .await
        .unwrap();
    assert_eq!(
        (u.name.as_str(), u.role.as_str(), u.disabled),
        ("admin", "admin", false)
    );
    assert!(matches!(
        db.create_user("admin", "h", "viewer", 6).await,
        Err(DbError::Query(_))
    ));
    assert_eq!(db.count_users().await.unwrap(), 1);
    db.create_session("s1", &u.id, "csrf1", 10, 100)
        .await
        .unwrap();
    let s = db.session("s1", 50).await.unwrap().unwrap();
    assert_eq!((s.user.name.as_str(), s.csrf.as_str()), ("admin", "csrf1"));
    assert!(db.session("s1", 100).await.unwrap().is_none(), "expired");
    assert!(db.session("s2", 50).await.unwrap().is_none());
    db.touch_login(&u.id, 55).await.unwrap();
    assert_eq!(
        db.user_by_name("admin")
            .await
            .unwrap()
            .unwrap()
            .last_login_ms,
        Some(55)
    );
    // A new password ends the sessions.
    assert!(db.set_password("admin", "$argon2id$y").await.unwrap());
    assert!(db.session("s1", 50).await.unwrap().is_none());
    assert!(!db.set_password("nobody", "h").await.unwrap());
    db.create_session("s3", &u.id, "c", 10, 100).await.unwrap();
    assert!(db.set_user_disabled("admin", true).await.unwrap());
    assert!(db.session("s3", 50).await.unwrap().is_none());
    db.create_session("s4", &u.id, "c", 10, 100).await.unwrap();
    db.delete_session("s4").await.unwrap();
    db.create_session("s5", &u.id, "c", 10, 20).await.unwrap();
    assert_eq!(db.purge_sessions(30).await.unwrap(), 1);

    let t = db.create_token("ci", "hash-1", 7).await.unwrap();
    assert!(
        db.create_token("ci", "hash-2", 7).await.is_err(),
        "names are unique"
    );
    assert_eq!(db.token_by_hash("hash-1").await.unwrap().unwrap().id, t.id);
    assert!(db.token_by_hash("hash-x").await.unwrap().is_none());
    db.touch_token(&t.id, 9).await.unwrap();
    assert_eq!(db.list_tokens().await.unwrap()[0].last_used_ms, Some(9));
    assert_eq!(db.count_tokens().await.unwrap(), 1);
    assert!(db.delete_token("ci").await.unwrap());
    assert!(!db.delete_token("ci").await.unwrap());
    assert!(db.token_by_hash("hash-1").await.unwrap().is_none());
}
