//! The console pages over plain HTTP: every page refuses an anonymous visitor (to the login
//! page) and a form post without the CSRF token; a sibling tenant's pages are refused by the
//! server, not only hidden; a parent sees its child but cannot change its settings; unknown
//! addresses answer an HTML page for browsers and problem+json for the API; static files are
//! cached. The real-browser test is `browser.rs`.

use reqwest::redirect::Policy;
use serde_json::json;
use suyuan_tests::{CHANGED_PASSWORD, TestApp, spawn_app};

/// A browser that keeps cookies and shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

/// Signs in through the API (the same session cookie serves the pages).
async fn signed_in(app: &TestApp, username: &str, password: &str) -> reqwest::Client {
    let b = browser();
    let res = b
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "login of {username}");
    b
}

/// The CSRF token of a page's forms.
async fn csrf(app: &TestApp, b: &reqwest::Client, path: &str) -> String {
    let html = b.get(app.url(path)).send().await.unwrap().text().await.unwrap();
    let start = html.find("name=\"_csrf\" value=\"").expect("a form with a CSRF field") + 20;
    html[start..start + 32].to_owned()
}

const PAGES: &[&str] = &[
    "/console",
    "/console/password",
    "/console/tenants",
    "/console/users",
    "/console/roles",
    "/console/api-keys",
    "/console/sso",
    "/console/audit",
    "/console/catalogue",
    "/console/enterprises",
    "/console/merchants",
    "/console/products",
    "/console/imports",
    "/console/filing-rules",
    "/console/filing-analysis",
];

#[tokio::test]
async fn anonymous_visitors_are_sent_to_the_login_page_and_nothing_is_written() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let before = app.write_counts().await;
    let anon = browser();
    for path in PAGES {
        let res = anon.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "GET {path}");
        let to = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(to.starts_with("/login?next=%2Fconsole"), "GET {path} → {to}");
    }
    for path in [
        "/console/tenants".to_owned(),
        format!("/console/tenants/{}/suspend", sd.tenant_id),
        "/console/users".to_owned(),
        "/console/api-keys".to_owned(),
        "/console/roles".to_owned(),
        "/console/sso".to_owned(),
        "/console/password".to_owned(),
    ] {
        let res = anon.post(app.url(&path)).form(&[("code", "320000"), ("name", "江苏省")]).send().await.unwrap();
        assert_eq!(res.status(), 303, "POST {path}");
    }
    assert_eq!(app.write_counts().await, before);
}

#[tokio::test]
async fn every_page_renders_for_its_role_and_refuses_the_others() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    app.user_with_roles(&national, "natl_auditor", &["auditor"]).await;
    let admin = signed_in(&app, "admin", CHANGED_PASSWORD).await;
    for path in PAGES.iter().filter(|p| **p != "/console/audit") {
        let res = admin.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "administrator GET {path}");
        assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
        assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
        let html = res.text().await.unwrap();
        assert!(html.contains("lang=\"zh-CN\""), "{path} is a zh-CN page");
    }
    // Separation of duties: the audit page is the auditor's alone, refused on the server.
    let res = admin.get(app.url("/console/audit")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("无权"), "the error page says why");
    let auditor = signed_in(&app, "natl_auditor", CHANGED_PASSWORD).await;
    let res = auditor.get(app.url("/console/audit")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("login"), "the auditor sees the login records");
    for path in ["/console/users", "/console/tenants", "/console/api-keys"] {
        let res = auditor.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 403, "auditor GET {path}");
    }
    // The navigation offers what the role opens, nothing else.
    let nav = auditor.get(app.url("/console")).send().await.unwrap().text().await.unwrap();
    assert!(nav.contains("/console/audit") && !nav.contains("/console/users"), "auditor navigation");
}

#[tokio::test]
async fn form_posts_need_the_csrf_token_of_the_session() {
    let app = spawn_app().await;
    app.national_admin().await;
    let admin = signed_in(&app, "admin", CHANGED_PASSWORD).await;
    let form = [("username", "li_na"), ("display_name", "李娜")];
    let other = signed_in(&app, "admin", CHANGED_PASSWORD).await;

    let before = app.write_counts().await;
    let res = admin.post(app.url("/console/users")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 403, "no token");
    let res = admin
        .post(app.url("/console/users"))
        .form(&[("_csrf", "0123456789abcdef0123456789abcdef"), ("username", "li_na"), ("display_name", "李娜")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a made-up token");
    // Another session's token does not fit this session.
    let foreign = csrf(&app, &other, "/console/users").await;
    let res = admin
        .post(app.url("/console/users"))
        .form(&[("_csrf", foreign.as_str()), ("username", "li_na"), ("display_name", "李娜")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "another session's token");
    assert_eq!(app.write_counts().await, before, "refused posts wrote nothing");

    let token = csrf(&app, &admin, "/console/users").await;
    let res = admin
        .post(app.url("/console/users"))
        .form(&[("_csrf", token.as_str()), ("username", "li_na"), ("display_name", "李娜")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.text().await.unwrap().contains("data-secret"), "the initial password is shown once");

    // A bad form is shown again with the message beside the field, and writes nothing.
    let before = app.write_counts().await;
    let res = admin
        .post(app.url("/console/users"))
        .form(&[("_csrf", token.as_str()), ("username", "x"), ("display_name", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"f-username-error\""), "message beside the user name");
    assert!(html.contains("id=\"f-display_name-error\""), "message beside the name");
    assert!(html.contains("aria-invalid=\"true\""));
    assert_eq!(app.write_counts().await, before);

    // The login form has its own token (there is no session yet).
    let anon = browser();
    let res = anon
        .post(app.url("/login"))
        .form(&[("username", "admin"), ("password", CHANGED_PASSWORD), ("next", "/console")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "login without the login page's token");
    let page = anon.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let start = page.find("name=\"_csrf\" value=\"").unwrap() + 20;
    let token = &page[start..start + 32];
    let res = anon
        .post(app.url("/login"))
        .form(&[("_csrf", token), ("username", "admin"), ("password", CHANGED_PASSWORD), ("next", "//evil.example/x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/console", "only a local page is followed after login");
    // A tab (which browsers drop, turning `/\t/host` into `//host`) is no way out either.
    let page = anon.get(app.url("/login?next=%2F%09%2Fevil.example")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("name=\"next\" value=\"/console\""), "the login page keeps only a local next");
}

#[tokio::test]
async fn a_sibling_tenants_pages_are_refused_and_a_parent_cannot_change_a_childs_settings() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let (sd_user, _) = app.user_with_roles(&sd.admin, "sd_operator", &["operator"]).await;
    let js_browser = signed_in(&app, &js.admin_username, CHANGED_PASSWORD).await;
    let token = csrf(&app, &js_browser, "/console/tenants").await;

    let before = app.write_counts().await;
    for path in [format!("/console/tenants/{}", sd.tenant_id), format!("/console/users/{sd_user}")] {
        let res = js_browser.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 403, "sibling GET {path}");
        assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8", "an HTML error page");
    }
    for path in [
        format!("/console/tenants/{}/suspend", sd.tenant_id),
        format!("/console/users/{sd_user}/disable"),
        format!("/console/users/{sd_user}/reset-password"),
    ] {
        let res = js_browser.post(app.url(&path)).form(&[("_csrf", token.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), 403, "sibling POST {path}");
    }
    let res = js_browser
        .post(app.url(&format!("/console/tenants/{}/profile", sd.tenant_id)))
        .form(&[("_csrf", token.as_str()), ("contact_name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.write_counts().await, before, "refused pages wrote nothing");

    // The parent reads its child's page, without the child's settings form, and is refused
    // when it tries to post them anyway.
    let natl = signed_in(&app, "admin", CHANGED_PASSWORD).await;
    let before = app.write_counts().await;
    let html =
        natl.get(app.url(&format!("/console/tenants/{}", sd.tenant_id))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("山东省") && !html.contains("/profile\""), "read-only for the parent");
    let token = csrf(&app, &natl, "/console/tenants").await;
    let res = natl
        .post(app.url(&format!("/console/tenants/{}/profile", sd.tenant_id)))
        .form(&[("_csrf", token.as_str()), ("contact_name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.write_counts().await, before);
}

#[tokio::test]
async fn an_initial_password_must_be_changed_before_any_console_page() {
    let app = spawn_app().await;
    let b = signed_in(&app, "admin", suyuan_tests::ADMIN_PASSWORD).await;
    let res = b.get(app.url("/console/users")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/console/password");
    let res = b.get(app.url("/console/password")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("初始密码"), "the page says why");
}

#[tokio::test]
async fn unknown_addresses_answer_a_page_for_people_and_a_problem_for_programs() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/no/such/page")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    let res = app.client.get(app.url("/api/v1/nothing")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn static_files_are_served_with_caching_and_the_maps_ship_with_the_binary() {
    let app = spawn_app().await;
    let res = app.get("/static/css/app.css").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/css; charset=utf-8");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let res = app.client.get(app.url("/static/css/app.css")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(res.status(), 304);
    for path in ["/static/vendor/echarts.min.js", "/static/vendor/htmx.min.js", "/static/js/charts.js"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    let china: serde_json::Value = app.get("/static/vendor/maps/100000.json").await.json().await.unwrap();
    assert_eq!(china["type"], "FeatureCollection");
    assert_eq!(china["features"].as_array().unwrap().len(), 34, "34 province-level divisions");
    let sd: serde_json::Value = app.get("/static/vendor/maps/370000.json").await.json().await.unwrap();
    assert!(sd["features"].as_array().unwrap().iter().any(|f| f["properties"]["adcode"] == "370100"), "济南市");
    assert_eq!(app.get("/static/nothing.js").await.status(), 404);
}

#[tokio::test]
async fn the_public_portal_needs_no_login() {
    let app = spawn_app().await;
    let b = browser();
    for path in ["/", "/info", "/board"] {
        let res = b.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let res = b.get(app.url("/search?code=3701%200200%200001")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/t/370102000001");
    let res = b.get(app.url("/t/370102000001")).send().await.unwrap();
    assert_eq!(res.status(), 404, "no trace records exist yet, and the page says so");
    assert!(res.text().await.unwrap().contains("未查询到"));
    assert_eq!(b.get(app.url("/apply")).send().await.unwrap().status(), 200);
    let before = app.write_counts().await;
    let res = b.post(app.url("/apply")).form(&[("code", "370000"), ("name", "山东省")]).send().await.unwrap();
    assert_eq!(res.status(), 403, "the application form needs its page's token");
    assert_eq!(app.write_counts().await, before);
    let res = b.get(app.url("/search?code=%3Cscript%3E")).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("code-error"));
}
