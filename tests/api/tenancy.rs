//! R-SHAPE-1: onboarding agencies into the tenant tree; suspension.

use serde_json::json;
use suyuan_tests::{TestApp, problem, spawn_app};

#[tokio::test]
async fn the_national_admin_onboards_shandong_whose_admin_runs_it() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let res = national
        .post(app.url("/api/v1/tenants"))
        .json(&json!({"code": "370000", "name": "山东省", "admin_username": "SD_Admin", "admin_display_name": "山东省管理员"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["tenant"]["level"], "provincial");
    assert_eq!(body["tenant"]["level_label"], "省级");
    assert_eq!(body["tenant"]["path"], "100000/370000/");
    assert_eq!(body["admin"]["username"], "sd_admin");
    let token = body["admin"]["token"].as_str().unwrap();
    assert_eq!(
        body["admin"]["invitation_url"],
        app.url(&format!("/invite/{token}")),
        "the link opens the set-password page"
    );
    let invitation = app.url(&format!("/api/v1/auth/invitations/{token}"));

    // No password exists until the invitation is accepted.
    let client = TestApp::new_client();
    let res = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "sd_admin", "password": "Anything-2026"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = client.post(&invitation).json(&json!({"new_password": "weak"})).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "new_password");
    let res = client.post(&invitation).json(&json!({"new_password": "Shandong-Admin-1"})).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let res = client.post(&invitation).json(&json!({"new_password": "Shandong-Admin-2"})).send().await.unwrap();
    assert_eq!(res.status(), 404, "an invitation works once");
    assert_eq!(problem(res).await["code"], "invitation_invalid");

    let me: serde_json::Value = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "sd_admin", "password": "Shandong-Admin-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["must_change_password"], false, "the administrator chose this password");
    assert_eq!(me["tenant"]["code"], "370000");
    assert_eq!(me["roles"], json!(["security_admin", "system_admin", "tenant_admin"]));
    let admin = client;
    // Shandong onboards its cities, not another province's.
    let res = admin
        .post(app.url("/api/v1/tenants"))
        .json(&json!({"code": "370100", "name": "济南市", "admin_username": "jn_admin", "admin_display_name": "济南"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = admin
        .post(app.url("/api/v1/tenants"))
        .json(&json!({"code": "320100", "name": "南京市", "admin_username": "nj_admin", "admin_display_name": "南京"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(problem(res).await["errors"][0]["rule"], "nesting");
}

#[tokio::test]
async fn bad_tenant_input_lists_every_field_and_writes_nothing() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let before = app.write_counts().await;
    let res = national
        .post(app.url("/api/v1/tenants"))
        .json(&json!({"code": "37A000", "name": " ", "admin_username": "X!", "admin_display_name": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body = problem(res).await;
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["code", "name", "admin_username", "admin_display_name"]);

    // A city straight under the national tenant breaks the nesting rule.
    let res = national
        .post(app.url("/api/v1/tenants"))
        .json(&json!({"code": "370100", "name": "济南市", "admin_username": "jn_admin", "admin_display_name": "济南"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["rule"], "nesting");
    assert_eq!(app.write_counts().await, before);

    // Duplicates are conflicts.
    app.onboard(&national, "370000", "山东省").await;
    let before = app.write_counts().await;
    let res = national
        .post(app.url("/api/v1/tenants"))
        .json(&json!({"code": "370000", "name": "山东", "admin_username": "other", "admin_display_name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let res = national
        .post(app.url("/api/v1/tenants"))
        .json(&json!({"code": "320000", "name": "江苏省", "admin_username": "admin_370000", "admin_display_name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409, "user name taken");
    assert_eq!(app.write_counts().await, before);
}

#[tokio::test]
async fn suspending_a_tenant_blocks_its_users_at_once() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    assert_eq!(sd.admin.get(app.url("/api/v1/users")).send().await.unwrap().status(), 200);

    // Nobody suspends their own tenant.
    let res = sd.admin.post(app.url(&format!("/api/v1/tenants/{}/suspend", sd.tenant_id))).send().await.unwrap();
    assert_eq!(res.status(), 403);

    let res = national.post(app.url(&format!("/api/v1/tenants/{}/suspend", sd.tenant_id))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = sd.admin.get(app.url("/api/v1/users")).send().await.unwrap();
    assert_eq!(res.status(), 401, "the open session is refused at once");
    let res = TestApp::new_client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": sd.admin_username, "password": suyuan_tests::CHANGED_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(problem(res).await["code"], "tenant_suspended");

    let res = national.post(app.url(&format!("/api/v1/tenants/{}/activate", sd.tenant_id))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    app.sign_in(&sd.admin_username, suyuan_tests::CHANGED_PASSWORD).await;
}

#[tokio::test]
async fn a_tenant_sets_its_contact_modules_and_federation_parent() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let url = app.url(&format!("/api/v1/tenants/{}/profile", sd.tenant_id));

    let res = sd
        .admin
        .put(&url)
        .json(&json!({"contact_name": "李明", "contact_phone": "0531-8888 6666", "contact_email": "trace@sd.gov.cn",
                      "modules": ["public", "monitoring"], "federation_parent_url": "https://national.example.gov.cn"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let t: serde_json::Value = res.json().await.unwrap();
    assert_eq!(t["modules"], json!(["monitoring", "public"]));
    assert_eq!(t["contact_name"], "李明");
    assert_eq!(t["federation_parent_url"], "https://national.example.gov.cn");

    // The parent reads it but does not set it.
    let seen: serde_json::Value =
        national.get(app.url(&format!("/api/v1/tenants/{}", sd.tenant_id))).send().await.unwrap().json().await.unwrap();
    assert_eq!(seen["contact_email"], "trace@sd.gov.cn");
    let res = national.put(&url).json(&json!({"modules": []})).send().await.unwrap();
    assert_eq!(res.status(), 403);

    let res = sd
        .admin
        .put(&url)
        .json(&json!({"contact_phone": "call me", "contact_email": "nobody", "modules": ["accounting"],
                      "federation_parent_url": "ftp://x"}))
        .send()
        .await
        .unwrap();
    let body = problem(res).await;
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["contact_phone", "contact_email", "modules[0]", "federation_parent_url"]);
    let unchanged: serde_json::Value =
        sd.admin.get(app.url(&format!("/api/v1/tenants/{}", sd.tenant_id))).send().await.unwrap().json().await.unwrap();
    assert_eq!(unchanged["modules"], json!(["monitoring", "public"]), "nothing partly written");
}

/// The body of a base64-encoded message, decoded.
fn body_of(raw: &str) -> String {
    use base64::Engine as _;
    let body = raw.replace("\r\n", "\n");
    let body = body.split_once("\n\n").map(|(_, b)| b).unwrap_or_default();
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(compact).unwrap()).unwrap()
}

#[tokio::test]
async fn the_invitation_is_e_mailed_when_an_smtp_server_is_configured() {
    let sink = suyuan_tests::smtp::SmtpSink::start().await;
    let url = sink.url.clone();
    let app = TestApp::builder().with_settings(move |s| s.smtp_url = Some(url)).spawn().await;
    let national = app.national_admin().await;
    let res = national
        .post(app.url("/api/v1/tenants"))
        .json(&json!({"code": "370000", "name": "山东省", "admin_username": "sd_admin",
                      "admin_display_name": "山东省管理员", "admin_email": "sd.admin@sd.gov.cn"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["admin"]["email_sent_to"], "sd.admin@sd.gov.cn");
    assert_eq!(body["tenant"]["contact_email"], "sd.admin@sd.gov.cn", "it becomes the tenant's contact");
    let mails = sink.messages();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("sd.admin@sd.gov.cn"), "addressed to the administrator");
    let text = body_of(&mails[0]);
    let link = body["admin"]["invitation_url"].as_str().unwrap();
    assert!(text.contains(link), "the mail carries the link: {text}");
    assert!(text.contains("sd_admin") && text.contains("山东省"));

    // A bad address is refused with the field named, and nothing is written.
    let before = app.write_counts().await;
    let res = national
        .post(app.url("/api/v1/tenants"))
        .json(&json!({"code": "320000", "name": "江苏省", "admin_username": "js_admin",
                      "admin_display_name": "江苏省管理员", "admin_email": "not-an-address"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "admin_email");
    assert_eq!(app.write_counts().await, before);
}

#[tokio::test]
async fn an_unreachable_mail_server_does_not_stop_onboarding() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = TestApp::builder()
        .with_settings(move |s| s.smtp_url = Some(format!("smtp://127.0.0.1:{closed}")))
        .spawn()
        .await;
    let national = app.national_admin().await;
    let res = national
        .post(app.url("/api/v1/tenants"))
        .json(&json!({"code": "370000", "name": "山东省", "admin_username": "sd_admin",
                      "admin_display_name": "山东省管理员", "admin_email": "sd.admin@sd.gov.cn"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "the tenant is created; the link is passed on by hand");
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["admin"]["email_sent_to"].is_null());
    assert!(body["admin"]["invitation_url"].as_str().unwrap().contains("/invite/"));
}

#[tokio::test]
async fn an_agency_applies_and_the_tenant_above_approves_or_rejects() {
    let sink = suyuan_tests::smtp::SmtpSink::start().await;
    let url = sink.url.clone();
    let app = TestApp::builder().with_settings(move |s| s.smtp_url = Some(url)).spawn().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let anon = TestApp::new_client();
    let apply = |body: serde_json::Value| {
        let anon = anon.clone();
        let url = app.url("/api/v1/tenant-applications");
        async move { anon.post(url).json(&body).send().await.unwrap() }
    };
    let qingdao = json!({"code": "370200", "name": "青岛市", "contact_name": "王海", "contact_phone": "0532-8888",
                         "contact_email": "qd.admin@qd.gov.cn", "admin_username": "qd_admin", "admin_display_name": "青岛市管理员"});

    // Every bad field is listed and nothing is written.
    let before = app.write_counts().await;
    let res = apply(json!({"code": "37", "name": "", "contact_name": "", "contact_phone": "abc",
                           "contact_email": "x", "admin_username": "Bad Name", "admin_display_name": "q"}))
    .await;
    let p = problem(res).await;
    let fields: Vec<_> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for f in ["code", "name", "contact_name", "contact_phone", "contact_email"] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    let mut guangzhou = qingdao.clone();
    guangzhou["code"] = json!("440100");
    let p = problem(apply(guangzhou).await).await;
    assert_eq!(p["errors"][0]["rule"], "no_parent", "广东省 has not joined: nobody can decide");
    assert_eq!(app.write_counts().await, before);

    let res = apply(qingdao.clone()).await;
    assert_eq!(res.status(), 201);
    let a: serde_json::Value = res.json().await.unwrap();
    assert_eq!(a["status"], "pending");
    assert_eq!(a["parent_id"], sd.tenant_id, "山东省 decides for 青岛市");
    assert_eq!(apply(qingdao.clone()).await.status(), 409, "one pending application per code");
    let id = a["id"].as_str().unwrap().to_owned();

    // Only the tenant above decides: not a sibling, not the national level.
    let list: serde_json::Value =
        js.admin.get(app.url("/api/v1/tenant-applications")).send().await.unwrap().json().await.unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
    for who in [&js.admin, &national] {
        let res = who.post(app.url(&format!("/api/v1/tenant-applications/{id}/approve"))).send().await.unwrap();
        assert_eq!(res.status(), 403);
    }
    let list: serde_json::Value =
        sd.admin.get(app.url("/api/v1/tenant-applications?status=pending")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"][0]["code"], "370200");

    let res = sd.admin.post(app.url(&format!("/api/v1/tenant-applications/{id}/approve"))).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let created: serde_json::Value = res.json().await.unwrap();
    assert_eq!(created["tenant"]["code"], "370200");
    assert_eq!(created["tenant"]["parent_id"], sd.tenant_id);
    assert_eq!(created["tenant"]["contact_name"], "王海");
    assert_eq!(created["admin"]["email_sent_to"], "qd.admin@qd.gov.cn", "the invitation goes to the applicant");
    assert_eq!(sink.messages().len(), 1);
    let res = sd.admin.post(app.url(&format!("/api/v1/tenant-applications/{id}/approve"))).send().await.unwrap();
    assert_eq!(res.status(), 409, "decided once");

    // A rejection needs a reason, which the applicant is told.
    let mut zibo = qingdao.clone();
    zibo["code"] = json!("370300");
    zibo["name"] = json!("淄博市");
    zibo["admin_username"] = json!("zb_admin");
    let a: serde_json::Value = apply(zibo).await.json().await.unwrap();
    let reject = app.url(&format!("/api/v1/tenant-applications/{}/reject", a["id"].as_str().unwrap()));
    let p = problem(sd.admin.post(&reject).json(&json!({"reason": " "})).send().await.unwrap()).await;
    assert_eq!(p["errors"][0]["field"], "reason");
    let res = sd.admin.post(&reject).json(&json!({"reason": "请使用单位公务邮箱重新申请"})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["status"], "rejected");
    assert_eq!(sink.messages().len(), 2, "the applicant is told");

    assert_eq!(app.audit_rows("tenant_application.submit").await, 2);
    assert_eq!(app.audit_rows("tenant_application.approve").await, 1);
    assert_eq!(app.audit_rows("tenant_application.reject").await, 1);
}

/// Issue 17, finding 6: an anonymous application neither tells whether a user name exists nor
/// blocks the real agency's code; approving one answers the others.
#[tokio::test]
async fn an_application_tells_nothing_of_accounts_and_blocks_no_agency() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let anon = TestApp::new_client();
    let apply = |email: &str, username: &str| {
        let body = json!({"code": "370200", "name": "青岛市", "contact_name": "王海", "contact_phone": "0532-8888",
                          "contact_email": email, "admin_username": username, "admin_display_name": "青岛市管理员"});
        let anon = anon.clone();
        let url = app.url("/api/v1/tenant-applications");
        async move { anon.post(url).json(&body).send().await.unwrap() }
    };
    // A squatter applies first, with a user name that exists: the same answer as any other.
    let squat = apply("squat@example.com", "admin").await;
    assert_eq!(squat.status(), 201, "an existing user name is not told");
    let squat: serde_json::Value = squat.json().await.unwrap();
    // The real agency still applies for its code.
    let real = apply("qd.admin@qd.gov.cn", "qd_admin").await;
    assert_eq!(real.status(), 201, "a waiting application does not block the code");
    let real: serde_json::Value = real.json().await.unwrap();
    assert_eq!(apply("qd.admin@qd.gov.cn", "qd_admin2").await.status(), 409, "the same applicant once");
    let res = sd
        .admin
        .post(app.url(&format!("/api/v1/tenant-applications/{}/approve", real["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let list: serde_json::Value =
        sd.admin.get(app.url("/api/v1/tenant-applications")).send().await.unwrap().json().await.unwrap();
    let squatted = list["items"].as_array().unwrap().iter().find(|a| a["id"] == squat["id"]).unwrap().clone();
    assert_eq!(squatted["status"], "rejected", "{squatted}");
    assert_eq!(squatted["reason"], "该单位已通过另一份申请入驻平台");
    // A squatter's approval would fail on the taken user name, never create a second admin.
    assert_eq!(app.scalar("SELECT COUNT(*) AS n FROM users WHERE username = 'admin'").await, 1);
}
