//! R-SEC-1: the first administrator, login, session timeouts, forced password change (login
//! throttling instead of a lockout: `limits.rs`).

use serde_json::json;
use suyuan_tests::{ADMIN_PASSWORD, TestApp, problem, spawn_app};

async fn login(app: &TestApp, client: &reqwest::Client, user: &str, password: &str) -> reqwest::Response {
    client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn first_administrator_must_change_the_initial_password() {
    let app = spawn_app().await;
    let res = login(&app, &app.client, "admin", ADMIN_PASSWORD).await;
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let me: serde_json::Value = res.json().await.unwrap();
    assert_eq!(me["must_change_password"], true);
    assert_eq!(me["user"]["username"], "admin");
    assert_eq!(me["tenant"]["code"], "100000");
    assert_eq!(me["tenant"]["name"], "全国");
    assert_eq!(me["tenant"]["level"], "national");

    // A weak new password is refused naming the field, and nothing changes.
    let res = app
        .post_json("/api/v1/auth/password", &json!({"current_password": ADMIN_PASSWORD, "new_password": "abcdefgh"}))
        .await;
    assert_eq!(res.status(), 422);
    let body = problem(res).await;
    assert_eq!(body["errors"][0]["field"], "new_password");
    assert_eq!(body["errors"][0]["rule"], "too_simple");

    // A wrong current password is refused.
    let res = app
        .post_json(
            "/api/v1/auth/password",
            &json!({"current_password": "Wrong-Pass-1", "new_password": "New-Pass-2026"}),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(problem(res).await["errors"][0]["field"], "current_password");

    // The same password again is refused.
    let res = app
        .post_json(
            "/api/v1/auth/password",
            &json!({"current_password": ADMIN_PASSWORD, "new_password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(problem(res).await["errors"][0]["rule"], "same_as_current");

    // The initial password still works from another browser: nothing was partly written.
    let other = TestApp::new_client();
    assert_eq!(login(&app, &other, "admin", ADMIN_PASSWORD).await.status(), 200);

    let res = app
        .post_json(
            "/api/v1/auth/password",
            &json!({"current_password": ADMIN_PASSWORD, "new_password": "New-Pass-2026"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let me: serde_json::Value = app.get("/api/v1/auth/me").await.json().await.unwrap();
    assert_eq!(me["must_change_password"], false);

    // The other browser's session ended with the change; the old password no longer works.
    assert_eq!(other.get(app.url("/api/v1/auth/me")).send().await.unwrap().status(), 401);
    assert_eq!(login(&app, &other, "admin", ADMIN_PASSWORD).await.status(), 401);
    assert_eq!(login(&app, &other, "ADMIN", "New-Pass-2026").await.status(), 200, "user names ignore case");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    let a = problem(login(&app, &app.client, "admin", "Wrong-Pass-1").await).await;
    let b = problem(login(&app, &app.client, "nobody", "Wrong-Pass-1").await).await;
    assert_eq!(a["status"], 401);
    assert_eq!(a["code"], "invalid_credentials");
    assert_eq!(b["code"], "invalid_credentials");
    assert_eq!(a["title"], b["title"]);
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = TestApp::builder().with_settings(|s| s.session_idle_secs = 1).spawn().await;
    assert_eq!(login(&app, &app.client, "admin", ADMIN_PASSWORD).await.status(), 200);
    assert_eq!(app.get("/api/v1/auth/me").await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let res = app.get("/api/v1/auth/me").await;
    assert_eq!(res.status(), 401);
    assert_eq!(problem(res).await["code"], "session_expired");
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_active() {
    let app = TestApp::builder()
        .with_settings(|s| {
            s.session_idle_secs = 1;
            s.session_absolute_secs = 2;
        })
        .spawn()
        .await;
    assert_eq!(login(&app, &app.client, "admin", ADMIN_PASSWORD).await.status(), 200);
    for _ in 0..4 {
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        let status = app.get("/api/v1/auth/me").await.status();
        if status == 401 {
            return;
        }
    }
    let res = app.get("/api/v1/auth/me").await;
    assert_eq!(problem(res).await["code"], "session_expired");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    assert_eq!(app.get("/api/v1/auth/me").await.status(), 401, "anonymous");
    login(&app, &app.client, "admin", ADMIN_PASSWORD).await;
    assert_eq!(app.get("/api/v1/auth/me").await.status(), 200);
    let res = app.client.post(app.url("/api/v1/auth/logout")).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.get("/api/v1/auth/me").await.status(), 401);
    let res = app.client.post(app.url("/api/v1/auth/logout")).send().await.unwrap();
    assert_eq!(res.status(), 401, "logging out twice needs a session");
}

#[tokio::test]
async fn a_forged_session_cookie_is_refused() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("cookie", "suyuan_session=0000000000000000000000000000000000000000000000000000000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(problem(res).await["code"], "unauthorized");
}

#[tokio::test]
async fn a_new_password_cannot_repeat_one_of_the_last_five() {
    let app = spawn_app().await;
    let client = app.sign_in("admin", ADMIN_PASSWORD).await; // now suyuan_tests::CHANGED_PASSWORD
    let mut current = suyuan_tests::CHANGED_PASSWORD.to_owned();
    let change = |from: String, to: String| {
        let client = client.clone();
        let url = app.url("/api/v1/auth/password");
        async move { client.post(url).json(&json!({"current_password": from, "new_password": to})).send().await.unwrap() }
    };
    for i in 1..=4 {
        let next = format!("Rotated-Pass-{i}x");
        assert_eq!(change(current.clone(), next.clone()).await.status(), 204, "change {i}");
        current = next;
    }
    // The history holds CHANGED_PASSWORD and Rotated 1–4: each is refused.
    for old in [suyuan_tests::CHANGED_PASSWORD.to_owned(), "Rotated-Pass-1x".to_owned(), "Rotated-Pass-3x".to_owned()] {
        let res = change(current.clone(), old.clone()).await;
        assert_eq!(res.status(), 422, "{old} was used recently");
        assert_eq!(problem(res).await["errors"][0]["rule"], "recently_used");
    }
    // One more change pushes CHANGED_PASSWORD out of the last five.
    assert_eq!(change(current.clone(), "Rotated-Pass-5x".into()).await.status(), 204);
    assert_eq!(change("Rotated-Pass-5x".into(), suyuan_tests::CHANGED_PASSWORD.into()).await.status(), 204);
}

#[tokio::test]
async fn sessions_live_in_redis_when_it_is_configured() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    app.sign_in("admin", ADMIN_PASSWORD).await;
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM sessions",
        ))
        .await
        .unwrap()
        .unwrap();
    let in_db = row.try_get::<i64>("", "n").unwrap();
    match suyuan_tests::redis_url() {
        // Shared by every replica, expiring by itself; the other auth tests prove logout,
        // timeouts and ending sessions against it when the suite runs with Redis.
        Some(_) => assert_eq!(in_db, 0, "with Redis the session is not in the database"),
        None => assert_eq!(in_db, 1, "embedded: the session is in the database"),
    }
}
