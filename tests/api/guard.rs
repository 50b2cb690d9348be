//! R-SEC-2: every route in the OpenAPI document refuses an anonymous caller and a caller from a
//! sibling tenant, and writes nothing when it does.

use serde_json::json;
use suyuan_tests::spawn_app;

/// Routes that are public by design.
const PUBLIC: &[&str] = &[
    "healthz",
    "readyz",
    "metrics",
    "login",
    "ssoLogin",
    "ssoCallback",
    "acceptInvitation",
    "applyForTenant",
    "publicTrace",
    "traceQr",
    "resolveIdentifier",
];

/// Every operation of the document: (method, path, operationId).
fn operations() -> Vec<(String, String, String)> {
    let doc = serde_json::to_value(suyuan_platform::openapi::document()).unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((method.to_uppercase(), path.clone(), op["operationId"].as_str().unwrap().to_owned()));
        }
    }
    ops
}

/// A body that is valid for the operation, so a refusal cannot come from validation.
fn body_for(operation_id: &str) -> serde_json::Value {
    match operation_id {
        "createTenant" => {
            json!({"code": "370100", "name": "济南市", "admin_username": "jn_admin", "admin_display_name": "济南"})
        }
        "createUser" => json!({"username": "intruder", "display_name": "x"}),
        "setUserRoles" => json!({"roles": ["tenant_admin"]}),
        "changePassword" => json!({"current_password": "Changed-Pass-2026", "new_password": "Other-Pass-2027"}),
        "createApiKey" => json!({"name": "k", "role": "viewer"}),
        "createRole" => json!({"name": "intruder_role", "label": "x", "inherits": ["viewer"]}),
        "setTenantProfile" => json!({"modules": []}),
        "setRoleGrant" => json!({"roles": ["viewer"]}),
        "rejectTenantApplication" => json!({"reason": "x"}),
        "createCategory" => json!({"code": "99", "name": "x"}),
        "updateCategory" => json!({"name": "x", "parent_id": null, "code": "99"}),
        "selectCategories" => json!({"category_ids": []}),
        "createEnterprise" | "updateEnterprise" => json!({
            "name": "x", "uscc": "91110108551385082Q", "enterprise_type": "producer", "categories": ["0101"],
            "stages": ["sale"], "address": "x", "division_code": "320100", "contact_name": "x", "contact_phone": "1"}),
        "rejectEnterprise" | "rejectMerchant" | "rejectProduct" => json!({"reason": "x"}),
        "createMerchant" | "updateMerchant" => json!({
            "name": "x", "merchant_type": "stall", "categories": ["0101"], "node_code": "E3200000000001X",
            "contact_name": "x", "contact_phone": "1"}),
        "createProduct" | "updateProduct" => {
            json!({"name": "x", "category_code": "0101", "unit": "箱", "enterprise_code": "E3200000000001X"})
        }
        "setFilingRules" => json!({"rules": []}),
        "ingestTraceEvents" => json!({"events": []}),
        "setFederationLink" => json!({"mode": "continuous"}),
        "issueFederationCredential" => json!({"tenant_id": "00000000-0000-0000-0000-000000000000"}),
        "setFederationUpstream" => json!({"parent_url": "", "key_id": "", "secret": ""}),
        "switchTenant" => json!({"tenant_id": "00000000-0000-0000-0000-000000000000"}),
        "createPolicy" => json!({"role": "viewer", "scope": "own", "resource": "user", "action": "read"}),
        "putSso" => {
            json!({"issuer": "https://sso.example.gov.cn", "client_id": "c", "client_secret": "s", "jit_provisioning": false, "enabled": false})
        }
        _ => json!({}),
    }
}

#[tokio::test]
async fn every_route_refuses_anonymous_and_sibling_callers() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let shandong = app.onboard(&national, "370000", "山东省").await;
    let jiangsu = app.onboard(&national, "320000", "江苏省").await;
    let (sd_user, _) = app.user_with_roles(&shandong.admin, "sd_operator", &["operator"]).await;
    let sd_key: serde_json::Value = shandong
        .admin
        .post(app.url("/api/v1/api-keys"))
        .json(&json!({"name": "sd", "role": "viewer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sd_key = sd_key["key"]["id"].as_str().unwrap().to_owned();
    let sd_role: serde_json::Value = shandong
        .admin
        .post(app.url("/api/v1/roles"))
        .json(&json!({"name": "sd_role", "label": "山东自定义", "inherits": ["viewer"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sd_role = sd_role["id"].as_str().unwrap().to_owned();
    let application: serde_json::Value = suyuan_tests::TestApp::new_client()
        .post(app.url("/api/v1/tenant-applications"))
        .json(&json!({"code": "370200", "name": "青岛市", "contact_name": "王", "contact_phone": "0532-1",
                      "contact_email": "qd@qd.gov.cn", "admin_username": "qd_admin", "admin_display_name": "青岛"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let application = application["id"].as_str().unwrap().to_owned();
    // A federation credential the nation issued to Shandong (for a deployment of its own).
    let sd_credential: serde_json::Value = national
        .post(app.url("/api/v1/federation/credentials"))
        .json(&json!({"tenant_id": shandong.tenant_id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sd_credential = sd_credential["key_id"].as_str().unwrap().to_owned();
    let catalogue: serde_json::Value =
        shandong.admin.get(app.url("/api/v1/catalogue")).send().await.unwrap().json().await.unwrap();
    let veg = catalogue.as_array().unwrap().iter().find(|c| c["code"] == "0101").unwrap()["id"].clone();
    let sd_category: serde_json::Value = shandong
        .admin
        .post(app.url("/api/v1/catalogue"))
        .json(&json!({"parent_id": veg, "code": "010101", "name": "山东细分"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sd_category = sd_category["id"].as_str().unwrap().to_owned();
    let sd_enterprise: serde_json::Value = shandong
        .admin
        .post(app.url("/api/v1/enterprises"))
        .json(&json!({"name": "山东企业", "uscc": "91350100M000100Y43", "enterprise_type": "market",
                      "categories": ["0101"], "stages": ["sale"], "address": "济南", "division_code": "370100",
                      "contact_name": "王", "contact_phone": "0531-1", "submit": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sd_enterprise = sd_enterprise["id"].as_str().unwrap().to_owned();
    let market: serde_json::Value = shandong
        .admin
        .post(app.url(&format!("/api/v1/enterprises/{sd_enterprise}/approve")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let market = market["code"].as_str().unwrap().to_owned();
    let sd_product: serde_json::Value = shandong
        .admin
        .post(app.url("/api/v1/products"))
        .json(&json!({"name": "番茄", "category_code": "0101", "unit": "箱", "enterprise_code": market}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sd_product = sd_product["id"].as_str().unwrap().to_owned();
    let sd_merchant: serde_json::Value = shandong
        .admin
        .post(app.url("/api/v1/merchants"))
        .json(&json!({"name": "摊位", "merchant_type": "stall", "categories": ["0101"], "node_code": market,
                      "contact_name": "王", "contact_phone": "0531-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sd_merchant = sd_merchant["id"].as_str().unwrap().to_owned();
    let sd_import: serde_json::Value = shandong
        .admin
        .post(app.url("/api/v1/imports?kind=product"))
        .header("content-type", "text/csv")
        .body("产品名称,产品分类,计量单位,生产企业编码\n")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sd_import = sd_import["id"].as_str().unwrap().to_owned();
    let sd_event: serde_json::Value = shandong
        .admin
        .post(app.url("/api/v1/trace/events"))
        .json(&json!({"events": [{"client_event_id": "g-1", "stage": "sale", "action": "sell", "subject_code": market,
                      "product_name": "番茄", "batch_no": "B1", "quantity": 1.0, "unit": "kg",
                      "event_time": "2026-11-20T06:30:00+08:00", "division_code": "370100"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sd_event = sd_event["events"][0]["id"].as_str().unwrap().to_owned();
    let anonymous = suyuan_tests::TestApp::new_client();

    let before = app.write_counts().await;
    let denied_before = app.audit_rows("access.denied").await;
    let mut sibling_refusals = 0;
    let mut walked = 0;
    for (method, path, op) in operations() {
        if PUBLIC.contains(&op.as_str()) {
            continue;
        }
        walked += 1;
        // Path parameters point at Shandong's objects.
        let url = app.url(
            &path
                .replace("/tenants/{id}", &format!("/tenants/{}", shandong.tenant_id))
                .replace("/users/{id}", &format!("/users/{sd_user}"))
                .replace("/api-keys/{id}", &format!("/api-keys/{sd_key}"))
                .replace("/roles/{id}", &format!("/roles/{sd_role}"))
                .replace("/policies/{id}", "/policies/1")
                .replace("/role-grants/{username}", "/role-grants/sd_operator")
                .replace("/tenant-applications/{id}", &format!("/tenant-applications/{application}"))
                .replace("/catalogue/{id}", &format!("/catalogue/{sd_category}"))
                .replace("/enterprises/{id}", &format!("/enterprises/{sd_enterprise}"))
                .replace("/merchants/{id}", &format!("/merchants/{sd_merchant}"))
                .replace("/products/{id}", &format!("/products/{sd_product}"))
                .replace("/filing-rules/{kind}", "/filing-rules/enterprise")
                .replace("/imports/{id}", &format!("/imports/{sd_import}"))
                .replace("/trace/events/{id}", &format!("/trace/events/{sd_event}"))
                .replace("/federation/credentials/{id}", &format!("/federation/credentials/{sd_credential}"))
                .replace("/federation/links/{id}", &format!("/federation/links/{}", shandong.tenant_id)),
        );
        assert!(!url.contains('{'), "unfilled parameter in {path}");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let body = body_for(&op);

        let res = anonymous.request(method.clone(), &url).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 401, "anonymous {method} {path} ({op})");
        assert_eq!(res.headers()["content-type"], "application/problem+json");

        // Jiangsu's administrator holds every administrator role of Jiangsu, yet Shandong's
        // objects are out of reach. Routes without an object act on the caller's own tenant.
        if path.contains("{id}") {
            let res = jiangsu.admin.request(method.clone(), &url).json(&body).send().await.unwrap();
            assert_eq!(res.status(), 403, "sibling {method} {path} ({op})");
            sibling_refusals += 1;
        }
    }
    assert!(walked >= 28, "walked {walked} protected operations");
    assert_eq!(app.write_counts().await, before, "refused requests wrote nothing");
    // Each refusal of a signed-in caller is an audit record; anonymous calls are not.
    assert_eq!(app.audit_rows("access.denied").await - denied_before, sibling_refusals);
}

#[tokio::test]
async fn lists_show_only_the_callers_subtree() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let shandong = app.onboard(&national, "370000", "山东省").await;
    let jinan = app.onboard(&shandong.admin, "370100", "济南市").await;
    let jiangsu = app.onboard(&national, "320000", "江苏省").await;

    let codes = |v: serde_json::Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|t| t["code"].as_str().unwrap().to_owned()).collect()
    };
    let all: serde_json::Value = national.get(app.url("/api/v1/tenants")).send().await.unwrap().json().await.unwrap();
    assert_eq!(codes(all), ["100000", "320000", "370000", "370100"]);
    let sd: serde_json::Value =
        shandong.admin.get(app.url("/api/v1/tenants")).send().await.unwrap().json().await.unwrap();
    assert_eq!(codes(sd), ["370000", "370100"]);
    let js: serde_json::Value =
        jiangsu.admin.get(app.url("/api/v1/tenants")).send().await.unwrap().json().await.unwrap();
    assert_eq!(codes(js), ["320000"]);

    // Users: only the caller's own tenant.
    let users: serde_json::Value =
        jiangsu.admin.get(app.url("/api/v1/users")).send().await.unwrap().json().await.unwrap();
    let names: Vec<_> = users["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin_320000"]);

    // A child cannot read its parent.
    let res = jinan.admin.get(app.url(&format!("/api/v1/tenants/{}", shandong.tenant_id))).send().await.unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn a_parent_reads_and_suspends_children_but_cannot_change_their_accounts() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let shandong = app.onboard(&national, "370000", "山东省").await;
    let (sd_user, _) = app.user_with_roles(&shandong.admin, "sd_viewer", &["viewer"]).await;

    let res = national.get(app.url(&format!("/api/v1/tenants/{}", shandong.tenant_id))).send().await.unwrap();
    assert_eq!(res.status(), 200, "a parent reads its child");

    let before = app.write_counts().await;
    for (method, path, body) in [
        (reqwest::Method::GET, format!("/api/v1/users/{sd_user}"), json!({})),
        (reqwest::Method::POST, format!("/api/v1/users/{sd_user}/reset-password"), json!({})),
        (reqwest::Method::POST, format!("/api/v1/users/{sd_user}/disable"), json!({})),
        (reqwest::Method::PUT, format!("/api/v1/users/{sd_user}/roles"), json!({"roles": ["tenant_admin"]})),
    ] {
        let res = national.request(method.clone(), app.url(&path)).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 403, "national {method} {path}");
    }
    assert_eq!(app.write_counts().await, before);
}
