//! R-ARCH-3, R-SHAPE-5: single sign-on through a tenant's own OpenID provider — a real one
//! (npm oidc-provider) that the test starts; state and nonce are checked.

use sea_orm::ConnectionTrait;
use serde_json::json;
use suyuan_tests::oidc::{CLIENT_ID, CLIENT_SECRET, OidcProvider};
use suyuan_tests::{Agency, TestApp, problem, spawn_app};

fn new_browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Shandong with SSO through a running provider.
async fn shandong_with_sso(app: &TestApp, jit: bool) -> (Agency, OidcProvider) {
    // The provider first: its first start may run `npm ci` for seconds, longer than the
    // server keeps an idle pooled connection of the clients below open.
    let provider = OidcProvider::start(&app.url("/api/v1/auth/sso/callback")).await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let res = sd
        .admin
        .put(app.url("/api/v1/sso"))
        .json(&json!({
            "issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "jit_provisioning": jit, "enabled": true,
            "role_mapping": {"sd-admins": ["tenant_admin"], "sd-viewers": ["viewer"]},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cfg: serde_json::Value = res.json().await.unwrap();
    assert_eq!(cfg["redirect_uri"], app.url("/api/v1/auth/sso/callback"));
    assert!(cfg.get("client_secret").is_none(), "the secret is never shown");
    (sd, provider)
}

/// Starts a login at the platform and goes through the provider's screens; returns the
/// callback URL the provider sends the browser to.
async fn through_provider(app: &TestApp, provider: &OidcProvider, browser: &reqwest::Client, login: &str) -> String {
    let res = browser.get(app.url("/api/v1/auth/sso/370000/login?return_to=/api/v1/auth/me")).send().await.unwrap();
    assert_eq!(res.status(), 302, "{:?}", res.text().await);
    let authorize = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(authorize.starts_with(&provider.issuer), "{authorize}");
    assert!(authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="), "PKCE and nonce");
    provider.sign_in(browser, &authorize, login, &app.url("/api/v1/auth/sso/callback")).await
}

#[tokio::test]
async fn a_user_signs_in_through_the_tenants_provider() {
    let app = spawn_app().await;
    let (_sd, provider) = shandong_with_sso(&app, true).await;
    let browser = new_browser();
    let callback = through_provider(&app, &provider, &browser, "zhangsan").await;
    let res = browser.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 302, "{}", res.text().await.unwrap_or_default());
    assert_eq!(res.headers()["location"], "/api/v1/auth/me");
    let me: serde_json::Value = browser.get(app.url("/api/v1/auth/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["user"]["username"], "zhangsan");
    assert_eq!(me["user"]["display_name"], "SSO zhangsan");
    assert_eq!(me["tenant"]["code"], "370000");
    assert_eq!(me["roles"], json!(["viewer"]), "roles from the provider's groups");
    assert_eq!(me["must_change_password"], false);
    // The one login reaches the API with that role.
    assert_eq!(browser.get(app.url("/api/v1/tenants")).send().await.unwrap().status(), 200);
    assert_eq!(browser.get(app.url("/api/v1/users")).send().await.unwrap().status(), 403);

    // A second login finds the same account; a chief gets the mapped administrator role.
    let again = new_browser();
    let callback = through_provider(&app, &provider, &again, "chief_li").await;
    again.get(&callback).send().await.unwrap();
    let me: serde_json::Value = again.get(app.url("/api/v1/auth/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["roles"], json!(["tenant_admin"]));
    assert_eq!(app.audit_rows("login.sso").await, 2);
}

#[tokio::test]
async fn a_wrong_state_is_refused() {
    let app = spawn_app().await;
    let (_sd, provider) = shandong_with_sso(&app, true).await;
    let browser = new_browser();
    let callback = through_provider(&app, &provider, &browser, "wangwu").await;
    let mut forged = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" { "forged-state".to_owned() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let res = browser.get(forged).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("set-cookie").is_none(), "no session");
    assert_eq!(problem(res).await["code"], "sso_failed");
    assert_eq!(browser.get(app.url("/api/v1/auth/me")).send().await.unwrap().status(), 401);
    // A state is good once only.
    assert_eq!(browser.get(&callback).send().await.unwrap().status(), 302);
    assert_eq!(browser.get(&callback).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn a_wrong_nonce_is_refused() {
    let app = spawn_app().await;
    let (_sd, provider) = shandong_with_sso(&app, true).await;
    let browser = new_browser();
    let callback = through_provider(&app, &provider, &browser, "zhaoliu").await;
    // The ID token carries the nonce of this login; make the platform expect another one.
    app.db.execute_unprepared("UPDATE sso_logins SET nonce = 'some-other-nonce'").await.unwrap();
    let res = browser.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let body = problem(res).await;
    assert_eq!(body["code"], "sso_failed");
    assert!(body["detail"].as_str().unwrap().contains("ID 令牌校验失败"), "{body}");
    assert_eq!(app.audit_rows("login.sso").await, 0);
}

#[tokio::test]
async fn without_just_in_time_accounts_an_unknown_user_is_refused() {
    let app = spawn_app().await;
    let (_sd, provider) = shandong_with_sso(&app, false).await;
    let browser = new_browser();
    let callback = through_provider(&app, &provider, &browser, "stranger").await;
    let before = app.write_counts().await;
    let res = browser.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(problem(res).await["code"], "sso_user_not_provisioned");
    assert_eq!(app.write_counts().await, before);
}

#[tokio::test]
async fn sso_settings_are_checked_and_only_for_the_security_administrator() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let res = national
        .put(app.url("/api/v1/sso"))
        .json(&json!({"issuer": "not a url", "client_id": "", "jit_provisioning": true, "enabled": true,
                      "role_mapping": {"g": ["emperor"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body = problem(res).await;
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["issuer", "client_id", "role_mapping.g", "client_secret"]);
    let (_, viewer) = app.user_with_roles(&national, "viewer1", &["viewer"]).await;
    assert_eq!(viewer.get(app.url("/api/v1/sso")).send().await.unwrap().status(), 403);
    // A tenant without SSO offers none.
    let res = TestApp::new_client().get(app.url("/api/v1/auth/sso/100000/login")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_local_account_links_its_sso_identity_and_then_signs_in_through_it() {
    let app = spawn_app().await;
    // Without just-in-time accounts only linked (or provisioned) accounts may use SSO.
    let (sd, provider) = shandong_with_sso(&app, false).await;
    app.user_with_roles(&sd.admin, "wangwu", &["viewer"]).await;
    let browser = new_browser();
    let res = browser
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "wangwu", "password": suyuan_tests::CHANGED_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let callback_prefix = app.url("/api/v1/auth/sso/callback");

    // A link finished in a browser without the account's session is refused: nobody can make
    // another person's provider identity land in their account.
    let res = browser.post(app.url("/api/v1/auth/sso/link")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let url = res.json::<serde_json::Value>().await.unwrap()["authorization_url"].as_str().unwrap().to_owned();
    let callback = provider.sign_in(&browser, &url, "wangwu_idp", &callback_prefix).await;
    let res = new_browser().get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(app.audit_rows("user.link_sso").await, 0);

    // In the account's own browser the link is made.
    let res = browser.post(app.url("/api/v1/auth/sso/link")).send().await.unwrap();
    let url = res.json::<serde_json::Value>().await.unwrap()["authorization_url"].as_str().unwrap().to_owned();
    let callback = provider.sign_in(&browser, &url, "wangwu_idp", &callback_prefix).await;
    let res = browser.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 302, "{}", res.text().await.unwrap_or_default());
    assert_eq!(res.headers()["location"], "/console/password");
    assert_eq!(app.audit_rows("user.link_sso").await, 1);

    // Now single sign-on reaches the same local account.
    let other = new_browser();
    let callback = through_provider(&app, &provider, &other, "wangwu_idp").await;
    let res = other.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 302);
    let me: serde_json::Value = other.get(app.url("/api/v1/auth/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["user"]["username"], "wangwu");
    assert_eq!(me["roles"], json!(["viewer"]), "roles follow the provider's groups at every SSO login");
}

#[tokio::test]
async fn a_callback_only_signs_in_the_browser_that_started_the_login() {
    let app = spawn_app().await;
    let (_sd, provider) = shandong_with_sso(&app, true).await;
    // The attacker starts a login and signs in at the provider as themselves...
    let attacker = new_browser();
    let callback = through_provider(&app, &provider, &attacker, "mallory").await;
    // ...and hands the callback link to a victim, whose browser must not end up in their account.
    let victim = new_browser();
    let res = victim.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("set-cookie").is_none_or(|c| !c.to_str().unwrap().starts_with("suyuan_session=")));
    assert_eq!(app.audit_rows("login.sso").await, 0);
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_client_do_not_move_the_redirect_uri() {
    let app = spawn_app().await;
    let (_sd, _provider) = shandong_with_sso(&app, true).await;
    let res = new_browser()
        .get(app.url("/api/v1/auth/sso/370000/login"))
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let authorize = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(!authorize.contains("evil.example"), "{authorize}");
    assert!(authorize.contains("redirect_uri=http%3A%2F%2F127.0.0.1"), "{authorize}");
}

/// Provider names that fold to one user name get distinct accounts, however many collide (the
/// third one used to answer 500).
#[tokio::test]
async fn colliding_provider_names_get_distinct_accounts() {
    let app = spawn_app().await;
    let (_sd, provider) = shandong_with_sso(&app, true).await;
    let mut names = Vec::new();
    for login in ["wang.wu", "Wang.Wu", "WANG.WU", "Wang.wu"] {
        let browser = new_browser();
        let callback = through_provider(&app, &provider, &browser, login).await;
        let res = browser.get(&callback).send().await.unwrap();
        assert_eq!(res.status(), 302, "{login}: {}", res.text().await.unwrap_or_default());
        let me: serde_json::Value = browser.get(app.url("/api/v1/auth/me")).send().await.unwrap().json().await.unwrap();
        names.push(me["user"]["username"].as_str().unwrap().to_owned());
    }
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{names:?}");
    assert_eq!(names[0], "wang.wu");
}
