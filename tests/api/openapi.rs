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

/// Every `$ref` of `v` (recursively).
fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                out.push(r.to_owned());
            }
            m.values().for_each(|x| refs(x, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// Issue 18 point 10: the document is strict enough for generated clients — enums built from
/// the lists the server checks, lengths and counts, binary files, servers and contact, and no
/// reference that leads nowhere (a generator stops on one).
#[test]
fn the_document_is_strict_enough_for_generated_clients() {
    use suyuan_platform::modules::{subjects, trace};
    let doc = serde_json::to_value(suyuan_platform::openapi::document()).unwrap();
    let schemas = &doc["components"]["schemas"];

    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in &all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{r} is not a schema"));
        assert!(schemas.get(name).is_some(), "{r} leads nowhere");
    }

    assert!(doc["servers"][0]["url"].is_string(), "servers");
    assert!(doc["info"]["contact"]["name"].is_string(), "info.contact");

    // Enums are the server's lists.
    let values = |name: &str| -> Vec<String> {
        schemas[name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no enum"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let stages: Vec<String> = subjects::dto::STAGES.iter().map(|(k, _)| (*k).to_owned()).collect();
    assert_eq!(values("Stage"), stages);
    for (_, action, _) in trace::dto::ACTIONS {
        assert!(values("Action").iter().any(|a| a == action), "{action}");
    }
    assert_eq!(values("KeyRole"), ["manager", "operator", "viewer"]);
    let event = &schemas["TraceEventRequest"]["properties"];
    assert_eq!(event["stage"]["$ref"], "#/components/schemas/Stage");
    assert_eq!(event["action"]["$ref"], "#/components/schemas/Action");
    assert_eq!(event["client_event_id"]["maxLength"], 64);
    assert_eq!(event["division_code"]["pattern"], "^[0-9]{6}$");
    let batch = &schemas["IngestRequest"]["properties"]["events"];
    assert_eq!(batch["maxItems"], trace::dto::MAX_BATCH);
    assert_eq!(batch["minItems"], 1);
    assert_eq!(schemas["CreateApiKeyRequest"]["properties"]["role"]["$ref"], "#/components/schemas/KeyRole");

    // Files are bytes, not JSON arrays of numbers.
    let binary = serde_json::json!({"type": "string", "format": "binary"});
    let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    let paths = &doc["paths"];
    for (path, method, part, media) in [
        ("/api/v1/imports", "post", "requestBody", xlsx),
        ("/api/v1/imports", "post", "requestBody", "text/csv"),
        ("/api/v1/trace/events/import", "post", "requestBody", xlsx),
        ("/api/v1/trace/events/import", "post", "requestBody", "text/csv"),
        ("/api/v1/enterprises/export", "get", "200", xlsx),
        ("/api/v1/merchants/export", "get", "200", xlsx),
        ("/api/v1/products/export", "get", "200", xlsx),
        ("/api/v1/trace/chain", "get", "200", xlsx),
        ("/api/v1/public/trace/{code}/qr", "get", "200", "image/png"),
    ] {
        let op = &paths[path][method];
        let body = if part == "requestBody" { &op["requestBody"] } else { &op["responses"][part] };
        assert_eq!(body["content"][media]["schema"], binary, "{method} {path} {media}");
    }
    let text = serde_json::to_string(&doc).unwrap();
    assert!(!text.contains(r#""format":"int32","minimum":0},"type":"array""#), "no byte arrays");

    // `me` answers a user or a key, told apart by `kind`.
    let me = &paths["/api/v1/auth/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(me["$ref"], "#/components/schemas/Me");
    assert_eq!(schemas["Me"]["discriminator"]["propertyName"], "kind");
    assert_eq!(schemas["Me"]["oneOf"].as_array().unwrap().len(), 2);

    // Lists are pages.
    for list in ["/api/v1/users", "/api/v1/roles", "/api/v1/api-keys", "/api/v1/tenants", "/api/v1/imports"] {
        let op = &paths[list]["get"];
        let r = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].as_str().unwrap();
        let page = &schemas[r.trim_start_matches("#/components/schemas/")];
        for field in ["items", "page", "page_size", "total"] {
            assert!(page["properties"].get(field).is_some(), "{list}: {field}");
        }
        let params: Vec<&str> =
            op["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(params, ["page", "page_size"], "{list}");
    }
}
