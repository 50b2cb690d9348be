//! Issue 17, point 6: secrets kept out of caches, JSON-only writes, 405 for a known path with
//! another method, and a caller's request id that never becomes a live spreadsheet formula.

use serde_json::json;
use suyuan_tests::{TestApp, problem, spawn_app};

fn assert_not_stored(res: &reqwest::Response, what: &str) {
    let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(header("cache-control"), "no-store", "{what}: Cache-Control");
    assert_eq!(header("pragma"), "no-cache", "{what}: Pragma");
}

#[tokio::test]
async fn answers_carrying_secrets_are_never_stored_by_caches() {
    let app = spawn_app().await;
    let national = app.national_admin().await;

    // The invitation link of a new tenant's first administrator.
    let res = national
        .post(app.url("/api/v1/tenants"))
        .json(&json!({"code": "370000", "name": "山东省", "admin_username": "admin_370000",
                      "admin_display_name": "山东省管理员"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_not_stored(&res, "tenant with invitation");

    // A user's initial password.
    let res = national
        .post(app.url("/api/v1/users"))
        .json(&json!({"username": "zhao_lei", "display_name": "赵磊"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_not_stored(&res, "initial password");
    let id = res.json::<serde_json::Value>().await.unwrap()["user"]["id"].as_str().unwrap().to_owned();

    // A reset one-time password.
    let res = national.post(app.url(&format!("/api/v1/users/{id}/reset-password"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_not_stored(&res, "reset password");

    // An API key's secret.
    let res = national
        .post(app.url("/api/v1/api-keys"))
        .json(&json!({"name": "省级追溯系统", "role": "viewer", "expires_in_days": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_not_stored(&res, "API key");

    // Answers without secrets keep their ordinary caching.
    let res = national.get(app.url("/api/v1/api-keys")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("pragma").is_none());
}

#[tokio::test]
async fn json_writes_refuse_another_content_type_with_415() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let body = json!({"events": []}).to_string();
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let res = national
            .post(app.url("/api/v1/trace/events"))
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 415, "{content_type}");
        assert_eq!(problem(res).await["code"], "unsupported_media_type");
    }
    // Without any content type too: a form another site posts may leave it out.
    let res = national.post(app.url("/api/v1/trace/events")).body(body.clone()).send().await.unwrap();
    assert_eq!(res.status(), 415);
    // Routes whose JSON the framework reads answer the same.
    let res = national
        .post(app.url("/api/v1/users"))
        .header("content-type", "text/plain")
        .body(json!({"username": "x_y", "display_name": "x"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    // JSON (with a charset, or a +json type) still goes through to the checks.
    let res = national
        .post(app.url("/api/v1/trace/events"))
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 415);
}

#[tokio::test]
async fn a_known_path_with_another_method_answers_405_naming_the_allowed_ones() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let res = national.delete(app.url("/api/v1/imports")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    let allow = res.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    methods.sort_unstable();
    assert_eq!(methods, ["GET", "POST"], "Allow: {allow}");
    assert_eq!(problem(res).await["code"], "method_not_allowed");

    // A path with a parameter: PATCH a user.
    let res = national.patch(app.url(&format!("/api/v1/users/{}", uuid::Uuid::now_v7()))).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert!(res.headers().contains_key("allow"));
    // Anonymous callers get the same answer (it says nothing about data).
    let res = TestApp::new_client().put(app.url("/api/v1/auth/login")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    // An unknown path stays 404.
    let res = national.delete(app.url("/api/v1/no-such-thing")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_formula_sent_as_request_id_is_not_live_in_the_auditors_export() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let (_, auditor) = app.user_with_roles(&national, "auditor1", &["auditor"]).await;
    let formula = r#"=HYPERLINK("http://evil.example/x","open")"#;
    // An anonymous caller's failed login is audited with its request id.
    let res = TestApp::new_client()
        .post(app.url("/api/v1/auth/login"))
        .header("x-request-id", formula)
        .json(&json!({"username": "auditor1", "password": "Wrong-Guess-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(echoed, formula, "an unsafe id is replaced");

    let res = auditor.get(app.url("/api/v1/audit/export")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(&bytes[3..]);
    let mut rows = 0;
    for record in reader.records() {
        let record = record.unwrap();
        rows += 1;
        for cell in &record {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "live formula cell {cell:?} in {record:?}");
        }
    }
    assert!(rows > 0);
    assert!(!String::from_utf8_lossy(&bytes).contains("evil.example"), "the id did not reach the log");
}
