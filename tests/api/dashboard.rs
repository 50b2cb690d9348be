//! The dashboard API (key figures, charts, region map) and the tenant switcher with the
//! grants that make a person of a higher-level agency act in a lower one.

use serde_json::json;
use suyuan_tests::{problem, spawn_app};

fn figure<'a>(d: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    d["figures"].as_array().unwrap().iter().find(|f| f["key"] == key).unwrap_or(&serde_json::Value::Null)
}

fn chart<'a>(d: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    d["charts"].as_array().unwrap().iter().find(|c| c["key"] == key)
}

#[tokio::test]
async fn the_dashboard_counts_real_rows_and_leaves_unbuilt_modules_empty() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    app.onboard(&sd.admin, "370100", "济南市").await;
    app.onboard(&national, "320000", "江苏省").await;

    let d: serde_json::Value = national.get(app.url("/api/v1/dashboard")).send().await.unwrap().json().await.unwrap();
    assert_eq!(figure(&d, "descendant_tenants")["value"], 3);
    assert_eq!(figure(&d, "users")["value"], 1, "the national tenant has its administrator");
    assert_eq!(figure(&d, "api_keys")["value"], 0);
    assert_eq!(figure(&d, "filings")["value"], 0, "no approved filing yet: a real zero");
    assert!(figure(&d, "anomalies")["value"].is_null(), "anomalies are not made up (not built)");
    assert_eq!(figure(&d, "trace_records")["value"], 0, "no record yet: a real zero from the roll-up");
    // Logins of the whole subtree, per day: national + 3 agencies' administrators.
    let logins = figure(&d, "logins_30d")["value"].as_i64().unwrap();
    assert!(logins >= 4, "{logins}");
    let line = chart(&d, "logins_by_day").unwrap();
    assert_eq!(line["kind"], "line");
    assert_eq!(line["categories"].as_array().unwrap().len(), 30);
    let ok: f64 = line["series"][0]["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).sum();
    assert!((ok - logins as f64).abs() < f64::EPSILON, "the chart and the figure agree");
    let pie = chart(&d, "tenants_by_level").unwrap();
    assert_eq!(pie["categories"], json!(["市级", "省级"]));
    assert_eq!(pie["series"][0]["data"], json!([1.0, 2.0]));
    let ranking = chart(&d, "users_by_child").unwrap();
    assert_eq!(ranking["categories"][0], "山东省", "山东省 counts 济南市's administrator too");
    assert_eq!(ranking["series"][0]["data"][0], 2.0);

    // A child sees its own subtree only.
    let d: serde_json::Value = sd.admin.get(app.url("/api/v1/dashboard")).send().await.unwrap().json().await.unwrap();
    assert_eq!(figure(&d, "descendant_tenants")["value"], 1);
    assert_eq!(d["tenant_code"], "370000");
    // The auditor sees no business roll-ups, only what the role opens.
    let (_, auditor) = app.user_with_roles(&national, "natl_auditor", &["auditor"]).await;
    let d: serde_json::Value = auditor.get(app.url("/api/v1/dashboard")).send().await.unwrap().json().await.unwrap();
    assert!(d["charts"].as_array().unwrap().is_empty());
    assert!(figure(&d, "descendant_tenants").is_null() && figure(&d, "logins_30d").is_null());
}

#[tokio::test]
async fn the_region_map_stays_inside_the_callers_region() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    app.onboard(&sd.admin, "370100", "济南市").await;
    let js = app.onboard(&national, "320000", "江苏省").await;

    let m: serde_json::Value =
        national.get(app.url("/api/v1/dashboard/map")).send().await.unwrap().json().await.unwrap();
    assert_eq!(m["region"], "100000");
    let regions = m["regions"].as_array().unwrap();
    let sd_value = regions.iter().find(|r| r["code"] == "370000").unwrap();
    assert_eq!(sd_value["value"], 2.0, "山东省 and 济南市");
    assert_eq!(sd_value["name"], "山东省");
    assert!(m["points"].as_array().unwrap().is_empty(), "no seat filed yet");

    // Filing the seat puts a point on the map; half a coordinate is refused.
    let url = app.url(&format!("/api/v1/tenants/{}/profile", sd.tenant_id));
    let res = sd.admin.put(&url).json(&json!({"modules": [], "longitude": 117.02})).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(problem(res).await["errors"][0]["field"], "latitude");
    let res =
        sd.admin.put(&url).json(&json!({"modules": [], "longitude": 200.0, "latitude": 36.6})).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "longitude");
    let res =
        sd.admin.put(&url).json(&json!({"modules": [], "longitude": 117.02, "latitude": 36.67})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let m: serde_json::Value =
        sd.admin.get(app.url("/api/v1/dashboard/map?region=370000")).send().await.unwrap().json().await.unwrap();
    assert_eq!(m["points"][0]["name"], "山东省");
    assert_eq!(m["regions"][0]["code"], "370100");
    assert!(m["parent"].is_null(), "山东省 may not look above itself");

    // Outside the caller's region: refused and recorded; a malformed code: 422.
    let denied = app.audit_rows("access.denied").await;
    for region in ["100000", "320000"] {
        let res = sd.admin.get(app.url(&format!("/api/v1/dashboard/map?region={region}"))).send().await.unwrap();
        assert_eq!(res.status(), 403, "{region}");
    }
    assert_eq!(app.audit_rows("access.denied").await, denied + 2);
    let res = js.admin.get(app.url("/api/v1/dashboard/map?region=37")).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "region");
    let res = js.admin.get(app.url("/api/v1/dashboard/map?region=370000")).send().await.unwrap();
    assert_eq!(res.status(), 403, "a sibling's region");
}

#[tokio::test]
async fn a_person_of_a_higher_agency_switches_into_a_lower_one_where_granted() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let jn = app.onboard(&sd.admin, "370100", "济南市").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let (_, staff) = app.user_with_roles(&sd.admin, "sd_staff", &["viewer"]).await;

    // Only the lower agency's security administrator grants, only to its ancestors' people.
    let before = app.write_counts().await;
    let res = js
        .admin
        .put(app.url("/api/v1/role-grants/sd_staff"))
        .json(&json!({"roles": ["manager"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "江苏省 is not above 山东省's staff");
    assert_eq!(problem(res).await["errors"][0]["rule"], "not_ancestor");
    let res =
        jn.admin.put(app.url("/api/v1/role-grants/nobody")).json(&json!({"roles": ["manager"]})).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = jn
        .admin
        .put(app.url("/api/v1/role-grants/sd_staff"))
        .json(&json!({"roles": ["auditor", "security_admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["rule"], "separation_of_duties");
    assert_eq!(app.write_counts().await, before, "refusals wrote nothing");

    let res = jn
        .admin
        .put(app.url("/api/v1/role-grants/sd_staff"))
        .json(&json!({"roles": ["manager"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let grants: serde_json::Value =
        jn.admin.get(app.url("/api/v1/role-grants")).send().await.unwrap().json().await.unwrap();
    assert_eq!(grants["items"][0]["username"], "sd_staff");
    assert_eq!(grants["items"][0]["home_tenant_code"], "370000");
    assert_eq!(app.audit_rows("role_grant.set").await, 1);

    let tenants: serde_json::Value =
        staff.get(app.url("/api/v1/auth/tenants")).send().await.unwrap().json().await.unwrap();
    let codes: Vec<_> = tenants.as_array().unwrap().iter().map(|t| t["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["370000", "370100"]);
    // Not a tenant where the user holds no role.
    let res =
        staff.post(app.url("/api/v1/auth/tenant")).json(&json!({"tenant_id": js.tenant_id})).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res =
        staff.post(app.url("/api/v1/auth/tenant")).json(&json!({"tenant_id": jn.tenant_id})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let me: serde_json::Value = res.json().await.unwrap();
    assert_eq!(me["tenant"]["code"], "370100");
    assert_eq!(me["roles"], json!(["manager"]));
    // The session now acts in 济南市 with the granted role.
    let me: serde_json::Value = staff.get(app.url("/api/v1/auth/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["tenant"]["code"], "370100");
    let list: serde_json::Value = staff.get(app.url("/api/v1/tenants")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"][0]["code"], "370100", "it sees 济南市's subtree now");
    assert_eq!(app.audit_rows("session.switch_tenant").await, 1);

    // Suspending the person's own agency ends the switched session too.
    let res = national.post(app.url(&format!("/api/v1/tenants/{}/suspend", sd.tenant_id))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(staff.get(app.url("/api/v1/tenants")).send().await.unwrap().status(), 401);
    let res = national.post(app.url(&format!("/api/v1/tenants/{}/activate", sd.tenant_id))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let staff = app.sign_in("sd_staff", suyuan_tests::CHANGED_PASSWORD).await;
    let res =
        staff.post(app.url("/api/v1/auth/tenant")).json(&json!({"tenant_id": jn.tenant_id})).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // Taking the roles away ends that reach at the next request.
    let res = jn.admin.put(app.url("/api/v1/role-grants/sd_staff")).json(&json!({"roles": []})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = staff.get(app.url("/api/v1/tenants")).send().await.unwrap();
    assert_eq!(res.status(), 403, "no role left in 济南市");
    let res =
        staff.post(app.url("/api/v1/auth/tenant")).json(&json!({"tenant_id": sd.tenant_id})).send().await.unwrap();
    assert_eq!(res.status(), 200, "home is always reachable");
}
