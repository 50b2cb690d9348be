//! R-ARCH-5: liveness, readiness, metrics and request ids.

use suyuan_tests::{Backend, TestApp, backend, redis_url, spawn_app};

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_reports_each_dependency() {
    let app = spawn_app().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"]["status"], "up");
    match redis_url() {
        Some(_) => assert_eq!(body["checks"]["redis"]["status"], "up", "{body}"),
        None => assert!(body["checks"].get("redis").is_none(), "no redis check without redis: {body}"),
    }
}

#[tokio::test]
async fn readyz_fails_when_the_database_is_gone() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    match backend() {
        // The database itself disappears under the running app.
        Backend::Postgres => assert!(app.test_db.drop_now().await),
        // A SQLite file cannot vanish under open handles; closing the pool is the same
        // situation for the app: no connection can be had.
        Backend::Sqlite => app.db.close_by_ref().await.unwrap(),
    }
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["database"]["status"], "down");
    assert!(body["checks"]["database"]["error"].is_string());
    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn readyz_fails_when_redis_does_not_answer() {
    // Nothing listens on port 1; the app still starts and reports Redis down.
    let app = TestApp::builder().with_settings(|s| s.redis_url = Some("redis://127.0.0.1:1/0".into())).spawn().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["checks"]["redis"]["status"], "down", "{body}");
    assert_eq!(body["checks"]["database"]["status"], "up");
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.get("/healthz").await;
    }
    app.get("/no/such/page").await;
    let res = app.client.get(app.url("/metrics")).bearer_auth(suyuan_tests::METRICS_TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(text.contains(r#"suyuan_http_requests_total{method="GET",route="/healthz",status="200"} 3"#), "{text}");
    assert!(text.contains(r#"suyuan_http_requests_total{method="GET",route="unmatched",status="404"} 1"#), "{text}");
    assert!(text.contains("suyuan_http_request_duration_seconds_bucket"));
    assert!(text.contains("suyuan_db_pool_max_connections 5"));
}

#[tokio::test]
async fn request_id_is_returned_and_generated() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/healthz")).header("X-Request-Id", "trace-abc-123").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-abc-123");

    let res = app.get("/healthz").await;
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 32, "a fresh id is generated");

    // An id that could inject into logs is replaced.
    let res = app.client.get(app.url("/healthz")).header("X-Request-Id", "bad id\twith spaces").send().await.unwrap();
    assert_ne!(res.headers()["x-request-id"], "bad id\twith spaces");

    // Problem bodies carry the same id.
    let res = app.client.get(app.url("/nope")).header("X-Request-Id", "req-404").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "req-404");
    let body = suyuan_tests::problem(res).await;
    assert_eq!(body["request_id"], "req-404");
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn security_headers_are_set() {
    let app = spawn_app().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn api_reference_is_served_offline() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(res.status(), 308);
    let res = app.get("/docs/").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "Swagger UI page");
    // Every script and stylesheet the page loads comes from this server.
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let link = part.split('"').next().unwrap();
            assert!(!link.starts_with("http"), "external asset {link}");
            let res = app.get(&format!("/docs/{}", link.trim_start_matches("./"))).await;
            assert_eq!(res.status(), 200, "asset {link}");
        }
    }
}
