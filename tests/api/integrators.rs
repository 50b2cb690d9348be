//! R-IF-2, R-IF-4 (issue 18 point 9): what an enterprise system's integrator meets first — `me`
//! answers an API key (to test it), the QR code of a code no record carries is 404 like its
//! public page, and every list is paged alike (`?page=&page_size=`, `{items, page, page_size,
//! total}`).

use serde_json::{Value, json};
use suyuan_tests::{TestApp, problem, spawn_app};

async fn new_key(app: &TestApp, admin: &reqwest::Client, name: &str, role: &str) -> (String, String) {
    let res = admin.post(app.url("/api/v1/api-keys")).json(&json!({"name": name, "role": role})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    (body["key"]["id"].as_str().unwrap().to_owned(), body["secret"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn me_answers_a_key_with_its_name_tenant_and_role() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let (id, secret) = new_key(&app, &sd.admin, "寿光示范追溯系统", "operator").await;
    let system = TestApp::new_client();

    let res = system.get(app.url("/api/v1/auth/me")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["kind"], "api_key", "{me}");
    assert_eq!(me["key"]["id"], id.as_str());
    assert_eq!(me["key"]["name"], "寿光示范追溯系统");
    assert_eq!(me["key"]["prefix"], &secret[..9]);
    assert_eq!(me["tenant"]["code"], "370000");
    assert_eq!(me["tenant"]["level"], "provincial");
    assert_eq!(me["role"], "operator");
    assert!(!me.to_string().contains(&secret), "the secret is never answered");

    // A session still answers the user, now marked as such.
    let me: Value = sd.admin.get(app.url("/api/v1/auth/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["kind"], "user", "{me}");
    assert_eq!(me["tenant"]["code"], "370000");
    assert!(me["user"]["username"].is_string());

    // A wrong, a revoked key: 401 problem, as on every other route.
    let res = system.get(app.url("/api/v1/auth/me")).bearer_auth("sy_0000000000").send().await.unwrap();
    assert_eq!(problem(res).await["status"], 401);
    let res = sd.admin.post(app.url(&format!("/api/v1/api-keys/{id}/revoke"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = system.get(app.url("/api/v1/auth/me")).bearer_auth(&secret).send().await.unwrap();
    let p = problem(res).await;
    assert_eq!(p["status"], 401, "{p}");
}

#[tokio::test]
async fn the_qr_code_of_a_code_no_record_carries_is_404() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let record = json!({"client_event_id": "qr-1", "stage": "primary_production", "action": "harvest",
        "subject_code": farm, "product_name": "寿光番茄", "batch_no": "QR-B1", "trace_codes": ["QR-KNOWN-0001"],
        "quantity": 10.0, "unit": "kg", "event_time": "2026-11-20T06:30:00+08:00", "division_code": "370783"});
    let res = sd.admin.post(app.url("/api/v1/trace/events")).json(&json!({"events": [record]})).send().await.unwrap();
    assert_eq!(res.status(), 200);

    let res = app.get("/api/v1/public/trace/QR-KNOWN-0001/qr").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert!(res.bytes().await.unwrap().starts_with(b"\x89PNG"));
    let res = app.get("/api/v1/public/trace/QR-KNOWN-0001/qr?format=svg").await;
    assert_eq!(res.status(), 200);

    for path in ["/api/v1/public/trace/QR-NOBODY-0001/qr", "/api/v1/public/trace/QR-NOBODY-0001/qr?format=svg"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        assert_eq!(problem(res).await["code"], "not_found");
    }
    // Bad options are still named first.
    let res = app.get("/api/v1/public/trace/QR-NOBODY-0001/qr?size=5").await;
    assert_eq!(problem(res).await["errors"][0]["field"], "size");
    let res = app.get("/api/v1/public/trace/QR-NOBODY-0001/qr?format=gif").await;
    assert_eq!(problem(res).await["errors"][0]["field"], "format");
}

/// The envelope of a page, checked.
fn page(body: &Value, what: &str) -> (Vec<Value>, u64, u64, u64) {
    let items = body["items"].as_array().unwrap_or_else(|| panic!("{what}: no items in {body}")).clone();
    let n = |k: &str| body[k].as_u64().unwrap_or_else(|| panic!("{what}: no {k} in {body}"));
    (items, n("page"), n("page_size"), n("total"))
}

#[tokio::test]
async fn every_list_is_paged_alike() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let jn = app.onboard(&sd.admin, "370100", "济南市").await;
    let _qd = app.onboard(&sd.admin, "370200", "青岛市").await;
    new_key(&app, &sd.admin, "系统甲", "viewer").await;
    new_key(&app, &sd.admin, "系统乙", "viewer").await;
    new_key(&app, &sd.admin, "系统丙", "operator").await;
    let res = sd
        .admin
        .post(app.url("/api/v1/users"))
        .json(&json!({"username": "zhang_san", "display_name": "张三"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // (client, list, rows the tenant has at least)
    let lists: [(&reqwest::Client, &str, u64); 10] = [
        (&sd.admin, "/api/v1/users", 2),
        (&sd.admin, "/api/v1/roles", 7),
        (&sd.admin, "/api/v1/api-keys", 3),
        (&sd.admin, "/api/v1/tenants", 3),
        (&sd.admin, "/api/v1/role-grants", 0),
        (&national, "/api/v1/policies", 3),
        (&sd.admin, "/api/v1/tenant-applications", 0),
        (&sd.admin, "/api/v1/imports", 0),
        (&sd.admin, "/api/v1/federation/credentials", 0),
        (&sd.admin, "/api/v1/federation/parked", 0),
    ];
    for (client, list, at_least) in lists {
        let res = client.get(app.url(list)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{list}");
        let body: Value = res.json().await.unwrap();
        let (items, page_no, size, total) = page(&body, list);
        assert_eq!((page_no, size), (1, 20), "{list}: the default page");
        assert!(total >= at_least, "{list}: {total} rows");
        assert_eq!(u64::try_from(items.len()).unwrap(), total.min(20), "{list}");

        // Page by page, one row each: every row once, in the same order, the total unchanged.
        if total >= 2 {
            let mut seen = Vec::new();
            for p in 1..=total.min(25) {
                let body: Value = client
                    .get(app.url(&format!("{list}?page={p}&page_size=1")))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let (items, page_no, size, t) = page(&body, list);
                assert_eq!((page_no, size, t, items.len()), (p, 1, total, 1), "{list} page {p}");
                seen.push(items[0].clone());
            }
            let first: Vec<Value> = items.into_iter().take(seen.len()).collect();
            assert_eq!(seen[..first.len()], first[..], "{list}: the pages in order");
            let past: Value = client
                .get(app.url(&format!("{list}?page={}&page_size=1", total + 1)))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(page(&past, list).0.len(), 0, "{list}: past the last page");
        }

        // The same parameters are checked the same way.
        let res = client.get(app.url(&format!("{list}?page=0&page_size=201"))).send().await.unwrap();
        let p = problem(res).await;
        assert_eq!(p["status"], 422, "{list}: {p}");
        let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["page", "page_size"], "{list}");
        let res = client.get(app.url(&format!("{list}?pagesize=5"))).send().await.unwrap();
        let p = problem(res).await;
        assert_eq!(
            (p["status"].as_u64(), p["errors"][0]["field"].as_str()),
            (Some(422), Some("pagesize")),
            "{list}: {p}"
        );
    }

    // A sibling's rows stay out of the pages: Shandong's keys are not Jinan's.
    let jn_keys: Value = jn.admin.get(app.url("/api/v1/api-keys")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page(&jn_keys, "jinan keys").3, 0);
}
