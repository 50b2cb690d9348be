//! R-DP-f: the OpenAPI document is served, well-formed and identical to the committed file.

use suyuan_tests::spawn_app;

fn committed() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let text = std::fs::read_to_string(path).expect("openapi/openapi.json is committed");
    serde_json::from_str(&text).expect("committed document is JSON")
}

#[tokio::test]
async fn served_document_equals_the_committed_file() {
    let app = spawn_app().await;
    let res = app.get("/openapi.json").await;
    assert_eq!(res.status(), 200);
    let served: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        served,
        committed(),
        "openapi/openapi.json is stale: run `cargo run -q -- openapi --output openapi/openapi.json`"
    );
}

#[test]
fn every_operation_is_described() {
    let doc = suyuan_platform::openapi::document();
    let doc = serde_json::to_value(&doc).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/healthz") && paths.contains_key("/readyz") && paths.contains_key("/metrics"));
    let mut ids = std::collections::HashSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path} has no tag");
            let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{method} {path} has no responses"));
            for (status, r) in responses {
                assert!(
                    r["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
                if status.starts_with('4') || status.starts_with('5') {
                    let content = r["content"].as_object().map(|c| c.keys().cloned().collect::<Vec<_>>());
                    let is_problem =
                        content.as_ref().is_some_and(|c| c.iter().any(|k| k == "application/problem+json"));
                    let is_readiness = path == "/readyz";
                    assert!(is_problem || is_readiness, "{method} {path} {status} is not problem+json: {content:?}");
                }
            }
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("Problem") && schemas.contains_key("FieldError"));
}
