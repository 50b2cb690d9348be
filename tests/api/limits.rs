//! Issue 17, point 3: rate limits on anonymous and signed-in routes, login throttling that never
//! locks the real user out, one answer for unknown and disabled accounts, unknown names kept out
//! of the audit chain, bounded metric labels and a token on `/metrics`.

use serde_json::{Value, json};
use suyuan_tests::{ADMIN_PASSWORD, CHANGED_PASSWORD, METRICS_TOKEN, TestApp, problem, redis_url};

/// The answer is 429 `rate_limited` with a `Retry-After` of whole seconds.
async fn assert_rate_limited(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait >= 1, "Retry-After {wait}");
    let body = problem(res).await;
    assert_eq!(body["code"], "rate_limited");
    body
}

async fn login_from(app: &TestApp, from: &str, user: &str, password: &str) -> reqwest::Response {
    TestApp::new_client()
        .post(app.url("/api/v1/auth/login"))
        .header("X-Forwarded-For", from)
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
}

/// A problem without its request id (which differs per request).
fn without_request_id(mut body: Value) -> Value {
    body.as_object_mut().unwrap().remove("request_id");
    body
}

#[tokio::test]
async fn public_reads_past_the_limit_get_429_with_retry_after() {
    let app = TestApp::builder().with_settings(|s| s.rate_limit_public = 5).spawn().await;
    let public = TestApp::new_client();
    // Lookups, QR codes and resolutions share the address's allowance.
    let paths = ["/api/v1/public/trace/NO-SUCH-1", "/api/v1/public/trace/NO-SUCH-2/qr", "/api/v1/resolve?id=NO-SUCH-3"];
    for i in 0..5 {
        let res = public.get(app.url(paths[i % 3])).send().await.unwrap();
        assert_ne!(res.status(), 429, "request {i} is within the limit");
    }
    for path in paths {
        assert_rate_limited(public.get(app.url(path)).send().await.unwrap()).await;
    }
    // The page of a code counts too, and says so in HTML with Retry-After.
    let res = public.get(app.url("/t/NO-SUCH-1")).send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    // Counted in the metrics.
    assert!(app.metrics().await.contains(r#"suyuan_rate_limited_total{class="public"} 4"#));
    // Signed-in routes are not public reads: the administrator still signs in.
    app.sign_in("admin", ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn qr_codes_are_bounded_in_size() {
    let app = suyuan_tests::spawn_app().await;
    let res = app.get("/api/v1/public/trace/SG-0001/qr?size=2048").await;
    assert_eq!(res.status(), 422);
    assert_eq!(problem(res).await["errors"][0]["field"], "size");
    // 1024 px passes the size check (checked first); the code carries no record, so 404.
    let res = app.get("/api/v1/public/trace/SG-0001/qr?size=1024").await;
    assert_eq!(res.status(), 404);
    assert_eq!(problem(res).await["status"], 404);
}

/// With Redis the replicas of one deployment share one count per address: each replica alone
/// would allow the limit again.
#[tokio::test]
async fn with_redis_replicas_share_one_limit() {
    if redis_url().is_none() {
        eprintln!("without SUYUAN_TEST_REDIS_URL each replica keeps its own limit (embedded: one replica)");
        return;
    }
    let app = TestApp::builder().with_settings(|s| s.rate_limit_public = 6).spawn().await;
    let replica = app.replica(|s| s.rate_limit_public = 6).await;
    let public = TestApp::new_client();
    for i in 0..3 {
        assert_eq!(public.get(app.url("/api/v1/public/trace/NO-SUCH-1")).send().await.unwrap().status(), 404, "{i}");
        assert_eq!(
            public.get(replica.url("/api/v1/public/trace/NO-SUCH-1")).send().await.unwrap().status(),
            404,
            "{i}"
        );
    }
    assert_rate_limited(public.get(replica.url("/api/v1/public/trace/NO-SUCH-1")).send().await.unwrap()).await;
    assert_rate_limited(public.get(app.url("/api/v1/public/trace/NO-SUCH-1")).send().await.unwrap()).await;
}

#[tokio::test]
async fn anonymous_writes_are_limited_per_address() {
    let app = TestApp::builder().with_settings(|s| s.rate_limit_anonymous = 2).spawn().await;
    let client = TestApp::new_client();
    for _ in 0..2 {
        let res = client
            .post(app.url("/api/v1/auth/invitations/no-such-token"))
            .json(&json!({"new_password": "New-Pass-2026"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
    }
    let res = client
        .post(app.url("/api/v1/tenant-applications"))
        .json(&json!({"code": "370000", "name": "山东省", "contact_name": "张三", "contact_phone": "0531-1",
            "contact_email": "a@sd.gov.cn", "admin_username": "sd_admin", "admin_display_name": "管理员"}))
        .send()
        .await
        .unwrap();
    assert_rate_limited(res).await;
    assert_rate_limited(client.get(app.url("/api/v1/auth/sso/370000/login")).send().await.unwrap()).await;
}

#[tokio::test]
async fn sprayed_logins_from_one_address_are_throttled() {
    let app = TestApp::builder()
        .with_settings(|s| {
            s.rate_limit_login = 5;
            s.trusted_proxies = "127.0.0.1".into();
        })
        .spawn()
        .await;
    for i in 0..5 {
        let res = login_from(&app, "203.0.113.9", &format!("user{i}"), "Spray-Pass-2026").await;
        assert_eq!(res.status(), 401, "attempt {i}");
    }
    assert_rate_limited(login_from(&app, "203.0.113.9", "user5", "Spray-Pass-2026").await).await;
    // The address counts, not the TCP peer: another address behind the proxy still signs in.
    assert_eq!(login_from(&app, "198.51.100.20", "admin", ADMIN_PASSWORD).await.status(), 200);
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"suyuan_login_failures_total{reason="unknown_user"} 5"#), "{metrics}");
    assert!(metrics.contains(r#"suyuan_login_failures_total{reason="throttled"} 1"#), "{metrics}");
}

#[tokio::test]
async fn an_attackers_wrong_passwords_do_not_lock_the_real_user_out() {
    let app = TestApp::builder()
        .with_settings(|s| {
            s.login_max_failures = 3;
            s.login_lockout_secs = 900;
            s.trusted_proxies = "127.0.0.1".into();
        })
        .spawn()
        .await;
    let attacker = "203.0.113.7";
    for i in 0..3 {
        assert_eq!(login_from(&app, attacker, "admin", "Wrong-Pass-1").await.status(), 401, "guess {i}");
    }
    // Five, ten, fifty more guesses: throttled, never a lock.
    for _ in 0..10 {
        assert_rate_limited(login_from(&app, attacker, "admin", "Wrong-Pass-1").await).await;
    }
    // The attacker learns nothing from the right password either while throttled.
    assert_rate_limited(login_from(&app, attacker, "admin", ADMIN_PASSWORD).await).await;
    // The real user, from their own address, signs in at once.
    assert_eq!(login_from(&app, "198.51.100.1", "admin", ADMIN_PASSWORD).await.status(), 200);
    // The old lock is gone: no 423 anywhere, the account has no lock time.
    let locked = app.scalar("SELECT COUNT(*) AS n FROM users WHERE locked_until IS NOT NULL").await;
    assert_eq!(locked, 0);
}

#[tokio::test]
async fn unknown_disabled_and_wrong_password_get_one_answer() {
    let app = TestApp::builder()
        .with_settings(|s| {
            s.login_max_failures = 2;
            s.trusted_proxies = "127.0.0.1".into();
        })
        .spawn()
        .await;
    let national = app.national_admin().await;
    let (id, _) = app.user_with_roles(&national, "li_na", &["viewer"]).await;
    let res = national.post(app.url(&format!("/api/v1/users/{id}/disable"))).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // First failure of each: one status, one body.
    let wrong = without_request_id(problem(login_from(&app, "192.0.2.1", "admin", "Wrong-Pass-1").await).await);
    let unknown = without_request_id(problem(login_from(&app, "192.0.2.1", "nobody", "Wrong-Pass-1").await).await);
    let disabled = without_request_id(problem(login_from(&app, "192.0.2.1", "li_na", "Wrong-Pass-1").await).await);
    assert_eq!(wrong["status"], 401);
    assert_eq!(wrong["code"], "invalid_credentials");
    assert_eq!(unknown, wrong);
    assert_eq!(disabled, wrong);
    // Second failure (the last within the limit): still the same.
    let wrong = without_request_id(problem(login_from(&app, "192.0.2.1", "admin", "Wrong-Pass-1").await).await);
    let unknown = without_request_id(problem(login_from(&app, "192.0.2.1", "nobody", "Wrong-Pass-1").await).await);
    assert_eq!(unknown, wrong);
    // Past the limit an existing and an unknown name are throttled alike (no 423 for one, 401
    // for the other).
    let wrong = assert_rate_limited(login_from(&app, "192.0.2.1", "admin", "Wrong-Pass-1").await).await;
    let unknown = assert_rate_limited(login_from(&app, "192.0.2.1", "nobody", "Wrong-Pass-1").await).await;
    assert_eq!(
        (&wrong["status"], &wrong["code"], &wrong["title"]),
        (&unknown["status"], &unknown["code"], &unknown["title"])
    );
    // Only the right password of the disabled account learns that it is disabled.
    let res = login_from(&app, "192.0.2.2", "li_na", CHANGED_PASSWORD).await;
    assert_eq!(problem(res).await["code"], "account_disabled");
}

#[tokio::test]
async fn unknown_user_logins_are_counted_not_chained() {
    let app = suyuan_tests::spawn_app().await;
    let root_chain =
        "SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = (SELECT id FROM tenants WHERE code = '100000')";
    let before = app.scalar(root_chain).await;
    for i in 0..5 {
        let res = login_from(&app, "127.0.0.1", &format!("ghost{i}"), "Wrong-Pass-1").await;
        assert_eq!(res.status(), 401);
    }
    assert_eq!(app.scalar(root_chain).await, before, "no audit record for names that belong to nobody");
    assert!(app.metrics().await.contains(r#"suyuan_login_failures_total{reason="unknown_user"} 5"#));
    // A known account's failure is still audited in its tenant.
    assert_eq!(login_from(&app, "127.0.0.1", "admin", "Wrong-Pass-1").await.status(), 401);
    assert_eq!(app.scalar(root_chain).await, before + 1);
    assert_eq!(app.audit_rows("login.failed").await, 1);
}

#[tokio::test]
async fn made_up_methods_add_no_metric_series() {
    let app = suyuan_tests::spawn_app().await;
    let series = |text: &str| text.lines().filter(|l| l.starts_with("suyuan_http_requests_total{")).count();
    app.get("/healthz").await;
    app.get("/no/such/page").await;
    let before = series(&app.metrics().await);
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
        app.client.request(method.clone(), app.url("/healthz")).send().await.unwrap();
        app.client.request(method, app.url(&format!("/no/such/page/{i}"))).send().await.unwrap();
    }
    let text = app.metrics().await;
    assert!(!text.contains("BREW"), "no made-up method is a label");
    // At most the two `other` series (one per route pattern hit) and their statuses: a fixed
    // few, not one per method.
    let added = series(&text) - before;
    assert!(added <= 4, "{added} series added:\n{text}");
    assert!(text.contains(r#"method="other""#));
}

#[tokio::test]
async fn metrics_need_the_token() {
    let app = suyuan_tests::spawn_app().await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 401);
    problem(res).await;
    let res = app.client.get(app.url("/metrics")).bearer_auth("wrong-token-0123456789").send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = app.client.get(app.url("/metrics")).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // Without a configured token nobody reads them.
    let app = TestApp::builder().with_settings(|s| s.metrics_token = None).spawn().await;
    let res = app.client.get(app.url("/metrics")).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn signed_in_calls_are_limited_per_session() {
    let app = TestApp::builder().with_settings(|s| s.rate_limit_api = 5).spawn().await;
    let admin = app.national_admin().await;
    let mut answered = 0;
    let mut refused = None;
    for _ in 0..10 {
        let res = admin.get(app.url("/api/v1/auth/me")).send().await.unwrap();
        if res.status() == 429 {
            refused = Some(res);
            break;
        }
        assert_eq!(res.status(), 200);
        answered += 1;
    }
    assert!(answered <= 5, "{answered} calls answered");
    assert_rate_limited(refused.expect("a call past the limit is refused")).await;
}
