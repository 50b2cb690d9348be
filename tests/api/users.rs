//! R-SEC-1, R-SHAPE-2: accounts and roles inside a tenant; separation of duties.

use serde_json::json;
use suyuan_tests::{CHANGED_PASSWORD, TestApp, problem, spawn_app};

#[tokio::test]
async fn roles_decide_what_a_user_may_do() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;

    let (_, nobody) = app.user_with_roles(&sd.admin, "no_role", &[]).await;
    assert_eq!(nobody.get(app.url("/api/v1/tenants")).send().await.unwrap().status(), 403);

    let (_, viewer) = app.user_with_roles(&sd.admin, "viewer1", &["viewer"]).await;
    assert_eq!(viewer.get(app.url("/api/v1/tenants")).send().await.unwrap().status(), 200);
    assert_eq!(viewer.get(app.url("/api/v1/users")).send().await.unwrap().status(), 403);

    // The system administrator creates users but cannot hand out roles…
    let (_, sysadmin) = app.user_with_roles(&sd.admin, "sys1", &["system_admin"]).await;
    let res = sysadmin
        .post(app.url("/api/v1/users"))
        .json(&json!({"username": "new1", "display_name": "新"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let new_id = res.json::<serde_json::Value>().await.unwrap()["user"]["id"].as_str().unwrap().to_owned();
    let res = sysadmin
        .put(app.url(&format!("/api/v1/users/{new_id}/roles")))
        .json(&json!({"roles": ["viewer"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // …which the security administrator does, but who creates no users.
    let (_, secadmin) = app.user_with_roles(&sd.admin, "sec1", &["security_admin"]).await;
    let res = secadmin
        .put(app.url(&format!("/api/v1/users/{new_id}/roles")))
        .json(&json!({"roles": ["viewer"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = secadmin
        .post(app.url("/api/v1/users"))
        .json(&json!({"username": "new2", "display_name": "新"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn the_auditor_cannot_also_be_an_administrator() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let (id, _) = app.user_with_roles(&national, "aud1", &["auditor"]).await;
    let before = app.write_counts().await;
    let res = national
        .put(app.url(&format!("/api/v1/users/{id}/roles")))
        .json(&json!({"roles": ["auditor", "system_admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(problem(res).await["errors"][0]["rule"], "separation_of_duties");
    let res = national
        .put(app.url(&format!("/api/v1/users/{id}/roles")))
        .json(&json!({"roles": ["superuser"]}))
        .send()
        .await
        .unwrap();
    let body = problem(res).await;
    assert_eq!(body["errors"][0]["field"], "roles[0]");
    assert_eq!(body["errors"][0]["rule"], "unknown_role");
    assert_eq!(app.write_counts().await, before);
    let user: serde_json::Value =
        national.get(app.url(&format!("/api/v1/users/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(user["roles"], json!(["auditor"]));
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_at_once() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let (id, user) = app.user_with_roles(&national, "li_na", &["viewer"]).await;
    assert_eq!(user.get(app.url("/api/v1/tenants")).send().await.unwrap().status(), 200);

    let res = national.post(app.url(&format!("/api/v1/users/{id}/disable"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(user.get(app.url("/api/v1/tenants")).send().await.unwrap().status(), 401);
    let res = TestApp::new_client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "li_na", "password": CHANGED_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["code"], "account_disabled");

    let res = national.post(app.url(&format!("/api/v1/users/{id}/enable"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    app.sign_in("li_na", CHANGED_PASSWORD).await;
}

#[tokio::test]
async fn an_administrator_resets_a_password_and_ends_sessions() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let (id, user) = app.user_with_roles(&national, "wang_fang", &["viewer"]).await;
    let res = national.post(app.url(&format!("/api/v1/users/{id}/end-sessions"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(user.get(app.url("/api/v1/tenants")).send().await.unwrap().status(), 401);

    let res = national.post(app.url(&format!("/api/v1/users/{id}/reset-password"))).send().await.unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["user"]["must_change_password"], true);
    let fresh = body["initial_password"].as_str().unwrap();
    // The old password is gone; the reset one works and must be changed.
    let res = TestApp::new_client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "wang_fang", "password": CHANGED_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let client = TestApp::new_client();
    let res = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "wang_fang", "password": fresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["must_change_password"], true);
    // Back to the password used before the reset: one of the last five, refused.
    let res = client
        .post(app.url("/api/v1/auth/password"))
        .json(&json!({"current_password": fresh, "new_password": CHANGED_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["rule"], "recently_used");
    let res = client
        .post(app.url("/api/v1/auth/password"))
        .json(&json!({"current_password": fresh, "new_password": "Another-Pass-2027"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn nobody_disables_themselves() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let me: serde_json::Value = national.get(app.url("/api/v1/auth/me")).send().await.unwrap().json().await.unwrap();
    let id = me["user"]["id"].as_str().unwrap();
    let res = national.post(app.url(&format!("/api/v1/users/{id}/disable"))).send().await.unwrap();
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn a_tenant_defines_custom_roles_inside_the_tree() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;

    let res = sd
        .admin
        .post(app.url("/api/v1/roles"))
        .json(&json!({"name": "market_inspector", "label": "市场巡查员", "inherits": ["viewer"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let role: serde_json::Value = res.json().await.unwrap();
    let role_id = role["id"].as_str().unwrap().to_owned();
    assert_eq!(role["inherits"], json!(["viewer"]));

    // A user holding only the custom role gets the permissions of the role it sits under.
    let (user_id, inspector) = app.user_with_roles(&sd.admin, "inspector1", &["market_inspector"]).await;
    assert_eq!(inspector.get(app.url("/api/v1/tenants")).send().await.unwrap().status(), 200);
    assert_eq!(inspector.get(app.url("/api/v1/users")).send().await.unwrap().status(), 403);
    let me: serde_json::Value = inspector.get(app.url("/api/v1/auth/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["roles"], json!(["market_inspector"]));

    // The role is Shandong's: another province cannot assign it.
    let js = app.onboard(&national, "320000", "江苏省").await;
    let res = js
        .admin
        .post(app.url("/api/v1/users"))
        .json(&json!({"username": "js_user", "display_name": "x"}))
        .send()
        .await
        .unwrap();
    let js_user = res.json::<serde_json::Value>().await.unwrap()["user"]["id"].as_str().unwrap().to_owned();
    let res = js
        .admin
        .put(app.url(&format!("/api/v1/users/{js_user}/roles")))
        .json(&json!({"roles": ["market_inspector"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["rule"], "unknown_role");

    // It cannot be deleted while someone holds it; afterwards it can.
    let res = sd.admin.delete(app.url(&format!("/api/v1/roles/{role_id}"))).send().await.unwrap();
    assert_eq!(res.status(), 409);
    sd.admin.put(app.url(&format!("/api/v1/users/{user_id}/roles"))).json(&json!({"roles": []})).send().await.unwrap();
    let res = sd.admin.delete(app.url(&format!("/api/v1/roles/{role_id}"))).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let roles: serde_json::Value = sd.admin.get(app.url("/api/v1/roles")).send().await.unwrap().json().await.unwrap();
    assert!(roles["items"].as_array().unwrap().iter().all(|r| r["builtin"] == true));
}

#[tokio::test]
async fn custom_roles_stay_below_the_tenant_administrator() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let before = app.write_counts().await;
    let res = national
        .post(app.url("/api/v1/roles"))
        .json(&json!({"name": "auditor", "label": "", "inherits": ["tenant_admin", "auditor"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body = problem(res).await;
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "label", "inherits[0]", "inherits[1]"]);
    assert_eq!(app.write_counts().await, before);
    let (_, viewer) = app.user_with_roles(&national, "viewer1", &["viewer"]).await;
    let res = viewer
        .post(app.url("/api/v1/roles"))
        .json(&json!({"name": "x_role", "label": "x", "inherits": ["viewer"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
