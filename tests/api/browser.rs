//! The web console and the public portal in a real headless Chromium (R-DP-d, R-PUB-3,
//! R-ARCH-4): login with a wrong password and the forced first password change, the dashboard
//! with a chart drawn on its canvas and the China map drawn and drilled into, the tenant tree,
//! onboarding with the invitation page, forms refused with inline messages, confirmation of
//! destructive actions, the audit log kept from administrators, and the public trace page on a
//! 360 px phone. `SUYUAN_SCREENSHOTS=docs/screenshots` (relative to the repository) saves the
//! screenshots the README links.

use serde_json::json;
use suyuan_tests::{CHANGED_PASSWORD, TestApp, browser};

#[tokio::test]
async fn console_and_portal_work_in_a_real_browser() {
    browser::prepare();
    // Federation on: the roll-up page shows what the provinces reported.
    let app = TestApp::builder().with_settings(|s| s.federation_delivery = true).spawn().await;
    let admin = app.national_admin().await;
    let sd = app.onboard(&admin, "370000", "山东省").await;
    // 山东省's seat, so the map has a point to draw.
    let res = sd
        .admin
        .put(app.url(&format!("/api/v1/tenants/{}/profile", sd.tenant_id)))
        .json(&json!({"modules": [], "longitude": 117.02, "latitude": 36.67}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The person the browser test signs in as: a national administrator with an initial
    // password, so the forced change is part of the test.
    let res = admin
        .post(app.url("/api/v1/users"))
        .json(&json!({"username": "natl_ops", "display_name": "国家平台运维"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    let initial = body["initial_password"].as_str().unwrap().to_owned();
    let id = body["user"]["id"].as_str().unwrap();
    let res = admin
        .put(app.url(&format!("/api/v1/users/{id}/roles")))
        .json(&json!({"roles": ["tenant_admin", "system_admin", "security_admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.user_with_roles(&admin, "natl_auditor", &["auditor"]).await;

    // A chain across two provinces for the chain page: a farm in 寿光 ships a batch to a market in
    // 北京 (both with coordinates, so the flow map has a line to draw).
    let bj = app.onboard(&admin, "110000", "北京市").await;
    let filed = |who: reqwest::Client, body: serde_json::Value| {
        let (create, base) = (app.url("/api/v1/enterprises"), app.url("/api/v1/enterprises/"));
        async move {
            let e: serde_json::Value = who.post(create).json(&body).send().await.unwrap().json().await.unwrap();
            let id = e["id"].as_str().unwrap();
            assert_eq!(who.post(format!("{base}{id}/approve")).send().await.unwrap().status(), 200);
            e["code"].as_str().unwrap().to_owned()
        }
    };
    let farm = filed(
        sd.admin.clone(),
        json!({"name": "寿光示范蔬菜基地", "uscc": "91370100MA3C0001AE", "enterprise_type": "producer",
        "categories": ["0101"], "stages": ["primary_production"], "address": "寿光", "division_code": "370783",
        "contact_name": "王", "contact_phone": "0536-5211234", "longitude": 118.79, "latitude": 36.86, "submit": true}),
    )
    .await;
    let market = filed(
        bj.admin.clone(),
        json!({"name": "北京示范批发市场", "uscc": "91370102MA3C0002BF", "enterprise_type": "market",
        "categories": ["0101"], "stages": ["sale"], "address": "北京", "division_code": "110106",
        "contact_name": "李", "contact_phone": "010-88881234", "longitude": 116.39, "latitude": 39.85, "submit": true}),
    )
    .await;
    let res = sd
        .admin
        .post(app.url("/api/v1/trace/events"))
        .json(&json!({"events": [
            {"client_event_id": "b-1", "stage": "primary_production", "action": "harvest", "subject_code": farm,
             "product_name": "寿光番茄", "batch_no": "BR-1", "trace_codes": ["BR-0001"], "quantity": 800.0, "unit": "kg",
             "event_time": "2026-11-20T06:30:00+08:00", "division_code": "370783"},
            {"client_event_id": "b-2", "stage": "transport", "action": "ship", "subject_code": farm, "counterpart_code": market,
             "product_name": "寿光番茄", "batch_no": "BR-1", "trace_codes": ["BR-0001"], "quantity": 800.0, "unit": "kg",
             "event_time": "2026-11-20T09:30:00+08:00", "division_code": "370783"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The records and filings have reached the nation's roll-up before the browser looks.
    let start = std::time::Instant::now();
    loop {
        let r: serde_json::Value =
            admin.get(app.url("/api/v1/federation/rollup")).send().await.unwrap().json().await.unwrap();
        let sd_records =
            r["regions"].as_array().unwrap().iter().find(|x| x["code"] == "370000").map(|x| x["records"].clone());
        if sd_records == Some(json!(2)) {
            break;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "the roll-up did not arrive: {r}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // A consumer scans the code; the query is recorded (in the background) before the browser
    // opens the query analysis.
    let res = TestApp::new_client().get(app.url("/api/v1/public/trace/BR-0001")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let start = std::time::Instant::now();
    while app.scalar("SELECT count(*) AS n FROM trace_code_queries WHERE code = 'BR-0001'").await == 0 {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "the public query was not recorded");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let shots = std::env::var("SUYUAN_SCREENSHOTS")
        .ok()
        .map(|d| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(d).display().to_string())
        .unwrap_or_default();
    let env = vec![
        ("BASE".to_owned(), app.address.clone()),
        ("ADMIN_USER".to_owned(), "natl_ops".to_owned()),
        ("ADMIN_PASS".to_owned(), initial),
        ("NEW_PASS".to_owned(), "Natl-Ops-Pass-2026".to_owned()),
        ("AUDITOR_USER".to_owned(), "natl_auditor".to_owned()),
        ("AUDITOR_PASS".to_owned(), CHANGED_PASSWORD.to_owned()),
        ("SHOTS".to_owned(), shots),
        ("CHAIN_BATCH".to_owned(), "BR-1".to_owned()),
    ];
    let (ok, output) = browser::run("console.mjs", env).await;
    assert!(ok, "browser checks failed:\n{output}");
    assert!(output.contains("all browser checks passed"), "{output}");
    // What the browser did is in the audit log like any other command.
    assert!(app.audit_rows("tenant.create").await >= 2);
    assert!(app.audit_rows("tenant.suspend").await >= 1);
}
