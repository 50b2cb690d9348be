//! R-SEC-1, R-SEC-2, R-SHAPE-2: separation of duties (三员分立). Each bypass an attack on the
//! platform found (issue 17, finding 1) is replayed here over HTTP: nobody changes their own
//! roles, no key, SSO mapping or policy row gives anyone a power their own duty keeps from
//! them, and the auditor's and the security administrator's accounts are touched only by the
//! tenant above.

use serde_json::json;
use suyuan_tests::{TestApp, problem, spawn_app};

async fn roles_of(app: &TestApp, admin: &reqwest::Client, id: &str) -> serde_json::Value {
    let user: serde_json::Value =
        admin.get(app.url(&format!("/api/v1/users/{id}"))).send().await.unwrap().json().await.unwrap();
    user["roles"].clone()
}

#[tokio::test]
async fn a_security_administrator_cannot_give_itself_roles() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let (sec_id, sec) = app.user_with_roles(&national, "sec1", &["security_admin"]).await;
    let before = app.write_counts().await;
    let res = sec
        .put(app.url(&format!("/api/v1/users/{sec_id}/roles")))
        .json(&json!({"roles": ["security_admin", "system_admin", "tenant_admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(problem(res).await["code"], "separation_of_duties");
    assert_eq!(app.write_counts().await, before, "nothing written");
    // Still no power to create users.
    let res = sec.post(app.url("/api/v1/users")).json(&json!({"username": "puppet", "display_name": "p"})).send().await;
    assert_eq!(res.unwrap().status(), 403);
    assert_eq!(roles_of(&app, &national, &sec_id).await, json!(["security_admin"]));
    // Nor through the page form.
    let res = sec.put(app.url(&format!("/api/v1/users/{sec_id}/roles"))).json(&json!({"roles": []})).send().await;
    assert_eq!(res.unwrap().status(), 403, "not even to drop its own roles");
}

#[tokio::test]
async fn the_system_administrator_cannot_take_over_the_auditors_account() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let (_, sys) = app.user_with_roles(&national, "sys1", &["system_admin"]).await;
    let (aud_id, _) = app.user_with_roles(&national, "aud1", &["auditor"]).await;
    let (sec_id, _) = app.user_with_roles(&national, "sec1", &["security_admin"]).await;
    let before = app.write_counts().await;
    for target in [&aud_id, &sec_id] {
        for cmd in ["reset-password", "disable", "enable", "end-sessions"] {
            for caller in [&sys, &national] {
                let res = caller.post(app.url(&format!("/api/v1/users/{target}/{cmd}"))).send().await.unwrap();
                assert_eq!(res.status(), 403, "{cmd} of a guarded account inside its own tenant");
                assert_eq!(problem(res).await["code"], "separation_of_duties");
            }
        }
    }
    // Nor can the security administrator of the tenant change the auditor's roles.
    let res = national
        .put(app.url(&format!("/api/v1/users/{aud_id}/roles")))
        .json(&json!({"roles": ["viewer"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.write_counts().await, before, "nothing written");
    assert_eq!(roles_of(&app, &national, &aud_id).await, json!(["auditor"]));
}

#[tokio::test]
async fn the_tenant_above_resets_a_provinces_auditor_and_nothing_else() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let (aud_id, _) = app.user_with_roles(&sd.admin, "sd_aud", &["auditor"]).await;
    let (viewer_id, _) = app.user_with_roles(&sd.admin, "sd_viewer", &["viewer"]).await;
    // The province's own administrators cannot reset their auditor …
    let res = sd.admin.post(app.url(&format!("/api/v1/users/{aud_id}/reset-password"))).send().await.unwrap();
    assert_eq!(res.status(), 403);
    // … the nation's system administrator can, and the new password works once.
    let res = national.post(app.url(&format!("/api/v1/users/{aud_id}/reset-password"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let initial = body["initial_password"].as_str().unwrap().to_owned();
    let auditor = TestApp::new_client();
    let res = auditor
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "sd_aud", "password": initial}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["must_change_password"], true);
    // The nation moves the province's auditor to another duty through the tenant above.
    let res = national
        .put(app.url(&format!("/api/v1/users/{aud_id}/roles")))
        .json(&json!({"roles": ["viewer"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The province's other accounts stay the province's own.
    let res = national.post(app.url(&format!("/api/v1/users/{viewer_id}/reset-password"))).send().await.unwrap();
    assert_eq!(res.status(), 403);
    // A sibling province has no say at all.
    let js = app.onboard(&national, "320000", "江苏省").await;
    let res = js.admin.post(app.url(&format!("/api/v1/users/{aud_id}/disable"))).send().await.unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn nobody_resets_their_own_password_through_the_administrators_command() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let (sys_id, sys) = app.user_with_roles(&national, "sys1", &["system_admin"]).await;
    let res = sys.post(app.url(&format!("/api/v1/users/{sys_id}/reset-password"))).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(problem(res).await["code"], "separation_of_duties");
}

#[tokio::test]
async fn a_key_never_holds_a_role_its_creator_lacks() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let (_, sec) = app.user_with_roles(&national, "sec1", &["security_admin"]).await;
    let before = app.write_counts().await;
    for role in ["manager", "operator", "viewer"] {
        let res = sec.post(app.url("/api/v1/api-keys")).json(&json!({"name": "k", "role": role})).send().await.unwrap();
        assert_eq!(res.status(), 422, "{role}");
        let body = problem(res).await;
        assert_eq!(body["errors"][0]["field"], "role");
        assert_eq!(body["errors"][0]["rule"], "separation_of_duties");
    }
    assert_eq!(app.write_counts().await, before, "no key made");
    // A security administrator who also holds the business role may give a key that role.
    let (_, both) = app.user_with_roles(&national, "secop", &["security_admin", "operator"]).await;
    let res = both.post(app.url("/api/v1/api-keys")).json(&json!({"name": "k", "role": "operator"})).send().await;
    assert_eq!(res.unwrap().status(), 201);
    let res = both.post(app.url("/api/v1/api-keys")).json(&json!({"name": "k", "role": "manager"})).send().await;
    assert_eq!(res.unwrap().status(), 422, "but not one above it");
}

#[tokio::test]
async fn sso_group_mappings_hand_out_business_roles_only() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let before = app.write_counts().await;
    for roles in [
        json!(["auditor", "system_admin", "security_admin", "tenant_admin"]),
        json!(["auditor"]),
        json!(["security_admin"]),
    ] {
        let res = national
            .put(app.url("/api/v1/sso"))
            .json(&json!({
                "issuer": "https://idp.example.gov.cn", "client_id": "c", "client_secret": "s",
                "jit_provisioning": true, "enabled": true, "role_mapping": {"ops": roles},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{roles}");
        let body = problem(res).await;
        assert_eq!(body["errors"][0]["field"], "role_mapping.ops");
        assert_eq!(body["errors"][0]["rule"], "separation_of_duties");
    }
    assert_eq!(app.write_counts().await, before);
}

#[tokio::test]
async fn custom_policy_rows_stay_out_of_the_duties() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let before = app.write_counts().await;
    for (rule, field) in [
        (json!({"role": "security_admin", "scope": "own", "resource": "enterprise", "action": "approve"}), "role"),
        (json!({"role": "system_admin", "scope": "own", "resource": "audit", "action": "read"}), "role"),
        (json!({"role": "viewer", "scope": "own", "resource": "audit", "action": "read"}), "resource"),
        (json!({"role": "manager", "scope": "own", "resource": "role_assignment", "action": "update"}), "resource"),
    ] {
        let res = national.post(app.url("/api/v1/policies")).json(&rule).send().await.unwrap();
        assert_eq!(res.status(), 422, "{rule}");
        let body = problem(res).await;
        assert_eq!(body["errors"][0]["field"], field, "{rule}");
        assert_eq!(body["errors"][0]["rule"], "separation_of_duties");
    }
    assert_eq!(app.write_counts().await, before);
}
