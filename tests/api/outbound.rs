//! Issue 17, point 2 (server-side requests): the server sends HTTP requests only where the
//! operator allows (`outbound_allow`; the public internet by default, never loopback, private
//! or link-local addresses unless listed), follows no redirect, answers "unreachable" in one
//! sentence whatever the far end did (a closed port and a live one look the same, and nothing
//! of a reply is shown), and reads an identity provider's discovery document once per issuer
//! and lifetime however many anonymous logins ask for it. Remote parties are small stub
//! servers on loopback that count what they are asked (the harness lists loopback).

use serde_json::{Value, json};
use suyuan_tests::stub::{Reply, Stub, closed_port};
use suyuan_tests::{TestApp, problem};

/// A federation secret in the form the parent issues.
const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// `(field, rule)` of a problem's errors.
fn errors_of(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap().to_owned(), e["rule"].as_str().unwrap().to_owned()))
        .collect()
}

async fn put_sso(app: &TestApp, admin: &reqwest::Client, issuer: &str) -> reqwest::Response {
    admin
        .put(app.url("/api/v1/sso"))
        .json(&json!({"issuer": issuer, "client_id": "suyuan", "client_secret": "s3cret",
                      "jit_provisioning": true, "enabled": true}))
        .send()
        .await
        .unwrap()
}

/// An anonymous browser starting an SSO login at `code`.
async fn anonymous_login(app: &TestApp, code: &str) -> reqwest::Response {
    no_redirects().get(app.url(&format!("/api/v1/auth/sso/{code}/login"))).send().await.unwrap()
}

/// A discovery document as a provider at `base` would publish it.
fn discovery(base: &str) -> Value {
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/auth"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}

const DISCOVERY: &str = "/.well-known/openid-configuration";

#[tokio::test]
async fn an_issuer_on_an_internal_address_is_refused_unless_listed() {
    let app = TestApp::builder().with_settings(|s| s.outbound_allow = String::new()).spawn().await;
    let admin = app.national_admin().await;
    for issuer in [
        "http://127.0.0.1:9",
        "http://127.1:9",
        "http://2130706433:9",
        "http://[::1]:9",
        "http://[::ffff:127.0.0.1]:9",
        "http://localhost:9",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5",
        "http://100.64.0.1",
        "http://[fd00::5]",
        "http://0.0.0.0:9",
    ] {
        let res = put_sso(&app, &admin, issuer).await;
        assert_eq!(res.status(), 422, "{issuer}");
        let body = problem(res).await;
        assert_eq!(errors_of(&body), [("issuer".to_owned(), "not_allowed".to_owned())], "{issuer}: {body}");
    }
    assert_eq!(app.scalar("SELECT COUNT(*) AS n FROM tenant_sso").await, 0, "nothing saved");
    assert_eq!(app.audit_rows("sso.configure").await, 0);

    // Listed by the operator (a network, or a name), the same addresses are accepted.
    let listed = TestApp::builder().with_settings(|s| s.outbound_allow = "127.0.0.0/8, localhost".into()).spawn().await;
    let admin = listed.national_admin().await;
    for issuer in ["http://127.1:9", "http://localhost:9"] {
        assert_eq!(put_sso(&listed, &admin, issuer).await.status(), 200, "{issuer}");
    }
    assert_eq!(put_sso(&listed, &admin, "http://[::1]:9").await.status(), 422, "::1 is not listed there");
}

#[tokio::test]
async fn a_federation_parent_on_an_internal_address_is_refused_unless_listed() {
    let app = TestApp::builder().with_settings(|s| s.outbound_allow = String::new()).spawn().await;
    let admin = app.national_admin().await;
    let me: Value = admin.get(app.url("/api/v1/auth/me")).send().await.unwrap().json().await.unwrap();
    let root = me["tenant"]["id"].as_str().unwrap().to_owned();
    for parent in ["http://127.1:8080", "http://[::ffff:7f00:1]", "http://169.254.169.254", "http://192.168.1.10"] {
        let res = admin
            .put(app.url("/api/v1/federation/upstream"))
            .json(&json!({"parent_url": parent, "key_id": "fk_test", "secret": SECRET}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{parent}");
        assert_eq!(errors_of(&problem(res).await), [("parent_url".to_owned(), "not_allowed".to_owned())]);
        let res = admin
            .put(app.url(&format!("/api/v1/tenants/{root}/profile")))
            .json(&json!({"modules": [], "federation_parent_url": parent}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{parent}");
        assert_eq!(errors_of(&problem(res).await), [("federation_parent_url".to_owned(), "not_allowed".to_owned())]);
    }
    assert_eq!(app.scalar("SELECT COUNT(*) AS n FROM tenants WHERE federation_parent_url IS NOT NULL").await, 0);
    assert_eq!(app.scalar("SELECT COUNT(*) AS n FROM federation_links").await, 0);

    let listed = TestApp::builder().with_settings(|s| s.outbound_allow = "10.20.0.0/16".into()).spawn().await;
    let admin = listed.national_admin().await;
    let res = admin
        .put(listed.url("/api/v1/federation/upstream"))
        .json(&json!({"parent_url": "http://10.20.1.2:8080", "key_id": "fk_test", "secret": SECRET}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = admin
        .put(listed.url("/api/v1/federation/upstream"))
        .json(&json!({"parent_url": "http://10.21.1.2:8080", "key_id": "fk_test", "secret": SECRET}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "outside the listed network");
}

#[tokio::test]
async fn a_login_does_not_tell_a_closed_port_from_a_live_one() {
    let app = suyuan_tests::spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let live = Stub::start(|_, _| Reply::text(404, "no such page on the internal wiki")).await;
    let closed = format!("http://127.0.0.1:{}", closed_port());
    assert_eq!(put_sso(&app, &sd.admin, &closed).await.status(), 200);
    assert_eq!(put_sso(&app, &js.admin, &live.url).await.status(), 200);

    let a = anonymous_login(&app, "370000").await;
    let b = anonymous_login(&app, "320000").await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (503, 503));
    let (a, b) = (problem(a).await, problem(b).await);
    assert_eq!(live.hits(DISCOVERY), 1, "the live port was asked");
    for key in ["code", "title", "detail"] {
        assert_eq!(a[key], b[key], "{key}: {a} / {b}");
    }
    let text = format!("{} {}", b["title"], b["detail"]);
    for leak in ["127.0.0.1", &live.url[17..], "404", "wiki", "HTTP", "status"] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
    assert!(a["detail"].as_str().unwrap().contains("无法连接"), "{a}");
}

#[tokio::test]
async fn a_redirecting_issuer_is_not_followed() {
    let target =
        Stub::start(
            |path, base| {
                if path == DISCOVERY { Reply::json(&discovery(base)) } else { Reply::json(&json!({"keys": []})) }
            },
        )
        .await;
    let to = target.url.clone();
    let redirector = Stub::start(move |path, _| Reply::redirect(302, &format!("{to}{path}"))).await;
    let app = suyuan_tests::spawn_app().await;
    let admin = app.national_admin().await;
    assert_eq!(put_sso(&app, &admin, &redirector.url).await.status(), 200);
    let res = anonymous_login(&app, "100000").await;
    assert_eq!(res.status(), 503);
    assert_eq!(redirector.hits(DISCOVERY), 1);
    assert_eq!(target.total(), 0, "the redirect was not followed");
}

#[tokio::test]
async fn anonymous_logins_read_the_discovery_document_once_per_issuer_and_lifetime() {
    let idp = Stub::start(|path, base| match path {
        DISCOVERY => Reply::json(&discovery(base)),
        "/jwks" => Reply::json(&json!({"keys": []})),
        _ => Reply::text(404, ""),
    })
    .await;
    let app = suyuan_tests::spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    assert_eq!(put_sso(&app, &sd.admin, &idp.url).await.status(), 200);

    // Many at once: one fetch in flight, the others wait for it.
    let logins: Vec<_> = (0..8)
        .map(|_| {
            let url = app.url("/api/v1/auth/sso/370000/login");
            tokio::spawn(async move { no_redirects().get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    for login in logins {
        assert_eq!(login.await.unwrap(), 302);
    }
    for _ in 0..4 {
        let res = anonymous_login(&app, "370000").await;
        assert_eq!(res.status(), 302);
        assert!(res.headers()["location"].to_str().unwrap().starts_with(&format!("{}/auth?", idp.url)));
    }
    assert_eq!((idp.hits(DISCOVERY), idp.hits("/jwks")), (1, 1), "read once for twelve logins");

    // Saving the settings again reads it afresh (the administrator's way to pick up new keys).
    assert_eq!(put_sso(&app, &sd.admin, &idp.url).await.status(), 200);
    assert_eq!(anonymous_login(&app, "370000").await.status(), 302);
    assert_eq!(idp.hits(DISCOVERY), 2);

    // A provider that fails is remembered too, for a shorter while: no fetch per request.
    let down = Stub::start(|_, _| Reply::text(500, "down")).await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    assert_eq!(put_sso(&app, &js.admin, &down.url).await.status(), 200);
    for _ in 0..5 {
        assert_eq!(anonymous_login(&app, "320000").await.status(), 503);
    }
    assert_eq!(down.total(), 1, "one fetch for five failing logins");
}

/// Runs delivery rounds until the link of `code` records a new failure; its text.
async fn next_delivery_error(app: &TestApp, admin: &reqwest::Client, code: &str, before: &Value) -> String {
    use suyuan_platform::modules::federation::deliver;
    // The worker is off in tests: its steps run here, links first (济南's goes to 山东 here).
    deliver::ensure_links(&app.db).await.unwrap();
    let mut status = Value::Null;
    for _ in 0..10 {
        deliver::run_once(&app.state).await.unwrap();
        status = admin.get(app.url("/api/v1/federation/status")).send().await.unwrap().json().await.unwrap();
        let link = status["links"].as_array().unwrap().iter().find(|l| l["tenant_code"] == code).unwrap().clone();
        if link["last_error"].is_string() && link["last_error_at"] != *before {
            return link["last_error"].as_str().unwrap().to_owned();
        }
    }
    panic!("no delivery failure recorded for {code}: {status}")
}

async fn last_error_at(app: &TestApp, admin: &reqwest::Client, code: &str) -> Value {
    let status: Value = admin.get(app.url("/api/v1/federation/status")).send().await.unwrap().json().await.unwrap();
    status["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["tenant_code"] == code)
        .map_or(Value::Null, |l| l["last_error_at"].clone())
}

#[tokio::test]
async fn federation_follows_no_redirect_and_shows_nothing_of_the_parents_reply() {
    // A provincial deployment (root 山东省) with 济南市 below, whose filing is to go up.
    let app = TestApp::builder()
        .with_settings(|s| {
            s.root_code = "370000".into();
            s.root_name = "山东省".into();
        })
        .spawn()
        .await;
    let province = app.national_admin().await;
    let jinan = app.onboard(&province, "370100", "济南市").await;
    app.approved_enterprise(&jinan.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;

    let elsewhere = Stub::start(|_, _| Reply::text(404, "")).await;
    let to = elsewhere.url.clone();
    let redirecting = Stub::start(move |path, _| Reply::redirect(307, &format!("{to}{path}"))).await;
    let talkative =
        Stub::start(|_, _| Reply::text(500, "Internal Server Error: connection to db-01 password=hunter2 refused"))
            .await;
    let live = Stub::start(|_, _| Reply::text(404, "404 Not Found nginx")).await;
    let closed = format!("http://127.0.0.1:{}", closed_port());

    let mut seen = Vec::new();
    for parent in [&redirecting.url, &talkative.url, &live.url, &closed] {
        let res = province
            .put(app.url("/api/v1/federation/upstream"))
            .json(&json!({"parent_url": parent, "key_id": "fk_test", "secret": SECRET}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204, "{parent}");
        let before = last_error_at(&app, &province, "370000").await;
        let error = next_delivery_error(&app, &province, "370000", &before).await;
        assert_eq!(elsewhere.total(), 0, "the redirect of {parent} was followed");
        seen.push(error);
    }
    assert!(redirecting.total() > 0 && talkative.total() > 0 && live.total() > 0, "each parent was asked");
    assert!(seen.iter().all(|e| *e == seen[0]), "one text for every failure: {seen:?}");
    for leak in ["hunter2", "db-01", "nginx", "Not Found", "500", "404", "307", "127.0.0.1"] {
        assert!(!seen[0].contains(leak), "{leak} in {}", seen[0]);
    }
    assert!(seen[0].contains("无法连接上级平台"), "{}", seen[0]);
}
