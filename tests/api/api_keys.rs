//! R-IF-4, R-SEC-1: API keys of connected systems — shown once, stored hashed, bound to a
//! tenant and a role, expiring, revocable, refused when their tenant is suspended.

use sea_orm::ConnectionTrait;
use serde_json::json;
use suyuan_tests::{TestApp, problem, spawn_app};

async fn create_key(app: &TestApp, admin: &reqwest::Client, role: &str) -> (String, String) {
    let res = admin
        .post(app.url("/api/v1/api-keys"))
        .json(&json!({"name": "寿光批发市场追溯系统", "role": role, "expires_in_days": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sy_") && secret.len() > 40);
    assert_eq!(body["key"]["prefix"], secret[..9]);
    (body["key"]["id"].as_str().unwrap().to_owned(), secret)
}

#[tokio::test]
async fn a_key_acts_in_its_tenant_with_its_role() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let (id, secret) = create_key(&app, &sd.admin, "viewer").await;

    let system = reqwest::Client::new();
    let res = system.get(app.url("/api/v1/tenants")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let tenants: serde_json::Value = res.json().await.unwrap();
    assert_eq!(tenants["items"][0]["code"], "370000", "the key sees its own tenant");
    // A viewer key does not administer.
    let res = system.get(app.url("/api/v1/users")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(res.status(), 403);

    // The secret is never listed, its use is.
    let keys: serde_json::Value = sd.admin.get(app.url("/api/v1/api-keys")).send().await.unwrap().json().await.unwrap();
    assert!(!keys.to_string().contains(&secret));
    assert!(keys["items"][0]["last_used_at"].is_string());
    // Stored only as a hash.
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(app.db.get_database_backend(), "SELECT key_hash FROM api_keys"))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(row.try_get::<String>("", "key_hash").unwrap(), secret);

    // Revoked: refused at once.
    let res = sd.admin.post(app.url(&format!("/api/v1/api-keys/{id}/revoke"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = system.get(app.url("/api/v1/tenants")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_suspended_tenants_key_is_refused() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let (_, secret) = create_key(&app, &sd.admin, "operator").await;
    let system = reqwest::Client::new();
    assert_eq!(system.get(app.url("/api/v1/tenants")).bearer_auth(&secret).send().await.unwrap().status(), 200);
    national.post(app.url(&format!("/api/v1/tenants/{}/suspend", sd.tenant_id))).send().await.unwrap();
    let res = system.get(app.url("/api/v1/tenants")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(res.status(), 401);
    national.post(app.url(&format!("/api/v1/tenants/{}/activate", sd.tenant_id))).send().await.unwrap();
    assert_eq!(system.get(app.url("/api/v1/tenants")).bearer_auth(&secret).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn an_expired_or_forged_key_is_refused() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let (_, secret) = create_key(&app, &national, "viewer").await;
    let system = reqwest::Client::new();
    assert_eq!(system.get(app.url("/api/v1/tenants")).bearer_auth(&secret).send().await.unwrap().status(), 200);
    let res = system.get(app.url("/api/v1/tenants")).bearer_auth("sy_0000").send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = system.get(app.url("/api/v1/tenants")).bearer_auth("not-a-key").send().await.unwrap();
    assert_eq!(res.status(), 401);
    app.db.execute_unprepared("UPDATE api_keys SET expires_at = created_at").await.unwrap();
    let res = system.get(app.url("/api/v1/tenants")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn keys_never_administer_and_bad_input_is_named() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let before = app.write_counts().await;
    let res = national
        .post(app.url("/api/v1/api-keys"))
        .json(&json!({"name": "", "role": "system_admin", "expires_in_days": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body = problem(res).await;
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "role", "expires_in_days"]);
    assert_eq!(app.write_counts().await, before);

    // Key management is the security administrator's: a viewer cannot create keys.
    let (_, viewer) = app.user_with_roles(&national, "viewer1", &["viewer"]).await;
    let res =
        viewer.post(app.url("/api/v1/api-keys")).json(&json!({"name": "x", "role": "viewer"})).send().await.unwrap();
    assert_eq!(res.status(), 403);
}
