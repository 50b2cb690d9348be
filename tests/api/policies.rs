//! R-SHAPE-2, R-SEC-2: the shared policy is edited through the API and reaches every replica.

use serde_json::json;
use suyuan_tests::{TestApp, problem};

#[tokio::test]
async fn a_policy_change_reaches_every_replica() {
    let app = TestApp::builder().with_settings(|s| s.policy_reload_secs = 1).spawn().await;
    let replica = app.replica(|s| s.policy_reload_secs = 1).await;
    let national = app.national_admin().await;
    let (_, viewer) = app.user_with_roles(&national, "viewer1", &["viewer"]).await;
    let status = |url: String| {
        let viewer = viewer.clone();
        async move { viewer.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(app.url("/api/v1/users")).await, 403);
    assert_eq!(status(replica.url("/api/v1/users")).await, 403, "the session works on the replica too");

    let res = national
        .post(app.url("/api/v1/policies"))
        .json(&json!({"role": "viewer", "scope": "own", "resource": "user", "action": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    assert_eq!(status(app.url("/api/v1/users")).await, 200, "the replica that changed it applies it at once");
    let mut seen = false;
    for _ in 0..60 {
        if status(replica.url("/api/v1/users")).await == 200 {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(seen, "the other replica picked the change up");

    let res = national.delete(app.url(&format!("/api/v1/policies/{id}"))).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(status(app.url("/api/v1/users")).await, 403);
    let mut seen = false;
    for _ in 0..60 {
        if status(replica.url("/api/v1/users")).await == 403 {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(seen, "the removal reached the other replica");
}

#[tokio::test]
async fn only_the_national_security_administrator_edits_the_shared_policy() {
    let app = TestApp::builder().spawn().await;
    let national = app.national_admin().await;
    let rows: serde_json::Value = national.get(app.url("/api/v1/policies")).send().await.unwrap().json().await.unwrap();
    let builtin = rows["items"].as_array().unwrap().iter().find(|r| r["builtin"] == true).unwrap();
    let res = national.delete(app.url(&format!("/api/v1/policies/{}", builtin["id"]))).send().await.unwrap();
    assert_eq!(res.status(), 409, "built-in rows stay");

    let before = app.write_counts().await;
    let res = national
        .post(app.url("/api/v1/policies"))
        .json(&json!({"role": "emperor", "scope": "everywhere", "resource": "All", "action": ""}))
        .send()
        .await
        .unwrap();
    let body = problem(res).await;
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["role", "scope", "resource", "action"]);
    let res = national
        .post(app.url("/api/v1/policies"))
        .json(&json!({"role": "auditor", "scope": "own", "resource": "audit", "action": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409, "already there");
    assert_eq!(app.write_counts().await, before);

    // A province's security administrator holds the same role, but the policy is everyone's.
    let sd = app.onboard(&national, "370000", "山东省").await;
    assert_eq!(sd.admin.get(app.url("/api/v1/policies")).send().await.unwrap().status(), 403);
    let res = sd
        .admin
        .post(app.url("/api/v1/policies"))
        .json(&json!({"role": "viewer", "scope": "own", "resource": "user", "action": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        app.write_counts().await.iter().find(|(t, _)| t == "policy_rules"),
        before.iter().find(|(t, _)| t == "policy_rules")
    );
}

/// With Redis, a change is pushed to every replica at once: polling is set to an hour here, so
/// only the push can carry it. Without Redis (embedded) there is no push, and the change
/// waits for the replica's poll.
#[tokio::test]
async fn with_redis_a_policy_change_is_pushed_to_the_other_replicas() {
    let app = TestApp::builder().with_settings(|s| s.policy_reload_secs = 3600).spawn().await;
    let replica = app.replica(|s| s.policy_reload_secs = 3600).await;
    let national = app.national_admin().await;
    let (_, viewer) = app.user_with_roles(&national, "viewer2", &["viewer"]).await;
    let status = |url: String| {
        let viewer = viewer.clone();
        async move { viewer.get(url).send().await.unwrap().status().as_u16() }
    };
    // Let the replica's subscription settle before the change.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let res = national
        .post(app.url("/api/v1/policies"))
        .json(&json!({"role": "viewer", "scope": "own", "resource": "user", "action": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let mut seen = false;
    for _ in 0..20 {
        if status(replica.url("/api/v1/users")).await == 200 {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    match suyuan_tests::redis_url() {
        Some(_) => assert!(seen, "the push through Redis reached the other replica within 2 s"),
        None => assert!(!seen, "embedded mode has no push: the replica waits for its poll"),
    }
}
