//! Bad input gets a clear 4xx problem+json naming the problem, never a 500.

use serde_json::json;
use suyuan_tests::{TestApp, problem, spawn_app};

#[tokio::test]
async fn malformed_json_is_400_with_its_position() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"username\": \"admin\",\n \"password\": }")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body = problem(res).await;
    assert_eq!(body["code"], "malformed_json");
    assert!(body["detail"].as_str().unwrap().contains("第 2 行"), "{body}");
}

#[tokio::test]
async fn a_missing_field_is_422_naming_it() {
    let app = spawn_app().await;
    let res = app.post_json("/api/v1/auth/login", &json!({"username": "admin"})).await;
    assert_eq!(res.status(), 422);
    let body = problem(res).await;
    assert_eq!(body["code"], "validation_failed");
    assert_eq!(body["errors"][0]["field"], "password");
    assert_eq!(body["errors"][0]["rule"], "required");
}

#[tokio::test]
async fn a_wrong_type_and_an_unknown_field_are_named() {
    let app = spawn_app().await;
    let body = problem(app.post_json("/api/v1/auth/login", &json!({"username": 7, "password": "x"})).await).await;
    assert_eq!(body["errors"][0]["rule"], "type");
    let body =
        problem(app.post_json("/api/v1/auth/login", &json!({"username": "a", "password": "b", "role": "x"})).await)
            .await;
    assert_eq!(body["errors"][0]["field"], "role");
    assert_eq!(body["errors"][0]["rule"], "unknown_field");
}

#[tokio::test]
async fn empty_values_are_422_listing_every_field() {
    let app = spawn_app().await;
    let body = problem(app.post_json("/api/v1/auth/login", &json!({"username": " ", "password": ""})).await).await;
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["username", "password"]);
}

#[tokio::test]
async fn a_non_json_body_is_415() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "text/plain")
        .body("username=admin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert_eq!(problem(res).await["code"], "unsupported_media_type");
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = TestApp::builder().with_settings(|s| s.max_body_bytes = 1024).spawn().await;
    let res = app.post_json("/api/v1/auth/login", &json!({"username": "a".repeat(4096), "password": "x"})).await;
    assert_eq!(res.status(), 413);
    assert_eq!(problem(res).await["code"], "payload_too_large");
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    let body = problem(app.get("/api/v1/nothing-here").await).await;
    assert_eq!(body["code"], "not_found");
    assert!(body["detail"].as_str().unwrap().contains("/api/v1/nothing-here"));
}
