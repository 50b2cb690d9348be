//! R-SEC-3: every command is audited in a hash chain that the auditor reads and verifies.

use sea_orm::ConnectionTrait;
use serde_json::json;
use suyuan_tests::{TestApp, spawn_app};

async fn auditor(app: &TestApp) -> reqwest::Client {
    let national = app.national_admin().await;
    app.onboard(&national, "370000", "山东省").await;
    app.user_with_roles(&national, "auditor1", &["auditor"]).await.1
}

async fn actions(app: &TestApp, client: &reqwest::Client, query: &str) -> Vec<String> {
    let page: serde_json::Value =
        client.get(app.url(&format!("/api/v1/audit?{query}"))).send().await.unwrap().json().await.unwrap();
    page["items"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn commands_and_logins_are_recorded_and_only_the_auditor_reads_them() {
    let app = spawn_app().await;
    let auditor = auditor(&app).await;
    // A failed login of an existing account is recorded in its tenant (unknown names are only
    // counted: limits::unknown_user_logins_are_counted_not_chained).
    TestApp::new_client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "Guess-1234"}))
        .send()
        .await
        .unwrap();

    let all = actions(&app, &auditor, "page_size=200").await;
    for expected in [
        "system.bootstrap",
        "login",
        "password.change",
        "tenant.create",
        "user.create",
        "user.set_roles",
        "login.failed",
    ] {
        assert!(all.contains(&expected.to_owned()), "{expected} in {all:?}");
    }
    let failed = actions(&app, &auditor, "action=login.failed").await;
    assert_eq!(failed, ["login.failed"]);
    let page: serde_json::Value =
        auditor.get(app.url("/api/v1/audit?action=login.failed")).send().await.unwrap().json().await.unwrap();
    let rec = &page["items"][0];
    assert_eq!(rec["actor_name"], "admin");
    assert_eq!(rec["result"], "failure");
    assert!(rec["request_id"].is_string() && rec["ip"].is_string());

    // Paging.
    let page: serde_json::Value =
        auditor.get(app.url("/api/v1/audit?page=2&page_size=2")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page["total"].as_u64().unwrap() >= 7);
    let res = auditor.get(app.url("/api/v1/audit?page_size=500")).send().await.unwrap();
    assert_eq!(res.status(), 422);

    // Administrators do not read the audit log.
    let national = app.sign_in("admin", suyuan_tests::CHANGED_PASSWORD).await;
    assert_eq!(national.get(app.url("/api/v1/audit")).send().await.unwrap().status(), 403);

    // Shandong's chain is Shandong's: its administrator's actions are not in the national log.
    assert!(!all.iter().any(|a| a == "logout"));
}

#[tokio::test]
async fn verify_finds_an_edited_a_removed_and_a_truncated_record() {
    let app = spawn_app().await;
    let auditor = auditor(&app).await;
    let verify = || async {
        auditor.get(app.url("/api/v1/audit/verify")).send().await.unwrap().json::<serde_json::Value>().await.unwrap()
    };
    let report = verify().await;
    assert_eq!(report["ok"], true, "{report}");
    let checked = report["checked"].as_i64().unwrap();
    assert!(checked >= 5);

    let db = &app.db;
    let backend = db.get_database_backend();
    let exec = |sql: String| async move {
        db.execute_raw(sea_orm::Statement::from_string(backend, sql)).await.unwrap();
    };
    let tenant_cond = "tenant_id = (SELECT id FROM tenants WHERE code = '100000')";
    // An edited record.
    exec(format!("UPDATE audit_log SET actor_name = 'someone_else' WHERE {tenant_cond} AND seq = 3")).await;
    let report = verify().await;
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_broken"]["seq"], 3, "{report}");
    assert!(report["first_broken"]["reason"].as_str().unwrap().contains("修改"));
}

#[tokio::test]
async fn a_removed_record_and_a_removed_tail_are_found() {
    let app = spawn_app().await;
    let auditor = auditor(&app).await;
    let verify = || async {
        auditor.get(app.url("/api/v1/audit/verify")).send().await.unwrap().json::<serde_json::Value>().await.unwrap()
    };
    let db = &app.db;
    let backend = db.get_database_backend();
    let cond = "tenant_id = (SELECT id FROM tenants WHERE code = '100000')";
    let max_seq = {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                backend,
                format!("SELECT MAX(seq) AS m FROM audit_log WHERE {cond}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "m").unwrap()
    };
    // Removing the last record: every remaining link is fine, but the head says more existed.
    db.execute_raw(sea_orm::Statement::from_string(
        backend,
        format!("DELETE FROM audit_log WHERE {cond} AND seq = {max_seq}"),
    ))
    .await
    .unwrap();
    let report = verify().await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_broken"]["seq"], max_seq);

    // Removing one in the middle.
    db.execute_raw(sea_orm::Statement::from_string(backend, format!("DELETE FROM audit_log WHERE {cond} AND seq = 2")))
        .await
        .unwrap();
    let report = verify().await;
    assert_eq!(report["first_broken"]["seq"], 2, "{report}");
}

#[tokio::test]
async fn the_audit_log_exports_as_csv() {
    let app = spawn_app().await;
    let auditor = auditor(&app).await;
    let res = auditor.get(app.url("/api/v1/audit/export?action=tenant.create")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "BOM for spreadsheet programs");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("序号,时间,操作人"));
    let rows: Vec<_> = lines.collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert!(rows[0].contains("tenant.create") && rows[0].contains("370000"));
    // The export itself is recorded.
    let again = actions(&app, &auditor, "action=audit.export").await;
    assert_eq!(again, ["audit.export"]);

    // What a caller sends at a failed login (here its client name) never becomes a
    // spreadsheet formula.
    TestApp::new_client()
        .post(app.url("/api/v1/auth/login"))
        .header("User-Agent", "=HYPERLINK(1)")
        .json(&json!({"username": "admin", "password": "Guess-1234"}))
        .send()
        .await
        .unwrap();
    let text =
        auditor.get(app.url("/api/v1/audit/export?action=login.failed")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("'=HYPERLINK(1)"), "{text}");
    assert!(!text.contains(",=HYPERLINK"), "{text}");
}

#[tokio::test]
async fn the_retention_purge_keeps_the_chain_verifiable_and_its_anchor_guarded() {
    let app = spawn_app().await;
    let auditor = auditor(&app).await;
    let verify = || async {
        auditor.get(app.url("/api/v1/audit/verify")).send().await.unwrap().json::<serde_json::Value>().await.unwrap()
    };
    let me: serde_json::Value = auditor.get(app.url("/api/v1/auth/me")).send().await.unwrap().json().await.unwrap();
    let root = uuid::Uuid::parse_str(me["tenant"]["id"].as_str().unwrap()).unwrap();
    let before = verify().await["checked"].as_i64().unwrap();
    let cutoff = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let national = app.sign_in("admin", suyuan_tests::CHANGED_PASSWORD).await;
    app.user_with_roles(&national, "after_cutoff", &["viewer"]).await;

    let purged = suyuan_platform::audit::purge_before(&app.db, root, cutoff).await.unwrap().unwrap();
    assert_eq!(i64::try_from(purged.removed).unwrap(), before, "everything before the cutoff went");
    let report = verify().await;
    assert_eq!(report["ok"], true, "the chain verifies from its anchor: {report}");
    let kept = actions(&app, &auditor, "page_size=200").await;
    assert!(kept.contains(&"audit.purge".to_owned()), "the purge is itself recorded");
    assert!(kept.contains(&"user.create".to_owned()));
    assert!(!kept.contains(&"system.bootstrap".to_owned()), "records before the cutoff are gone");
    assert_eq!(suyuan_platform::audit::purge_before(&app.db, root, cutoff).await.unwrap(), None, "nothing twice");
    let earlier = cutoff - chrono::Duration::hours(1);
    assert_eq!(
        suyuan_platform::audit::purge_before(&app.db, root, earlier).await.unwrap(),
        None,
        "an earlier cutoff never moves the anchor back"
    );

    // Moving the anchor forward to hide one more record (hash and all) is found.
    let db = &app.db;
    let backend = db.get_database_backend();
    let next: i64 = purged.anchor_seq + 1;
    let root_cond = "tenant_id = (SELECT id FROM tenants WHERE code = '100000')";
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            backend,
            format!("SELECT hash FROM audit_log WHERE {root_cond} AND seq = {next}"),
        ))
        .await
        .unwrap()
        .unwrap();
    let hash: String = row.try_get("", "hash").unwrap();
    for sql in [
        format!("DELETE FROM audit_log WHERE {root_cond} AND seq = {next}"),
        format!("UPDATE audit_heads SET anchor_seq = {next}, anchor_hash = '{hash}' WHERE {root_cond}"),
    ] {
        db.execute_raw(sea_orm::Statement::from_string(backend, sql)).await.unwrap();
    }
    let report = verify().await;
    assert_eq!(report["ok"], false, "{report}");
    assert!(report["first_broken"]["reason"].as_str().unwrap().contains("锚点"), "{report}");
}

/// The address in the audit log: `X-Forwarded-For` is believed only from a trusted proxy.
async fn last_login_ip(app: &TestApp) -> String {
    let db = &app.db;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT ip FROM audit_log WHERE action = 'login.failed' ORDER BY occurred_at DESC LIMIT 1".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<String>("", "ip").unwrap()
}

#[tokio::test]
async fn the_client_address_comes_from_forwarded_headers_only_behind_a_trusted_proxy() {
    for (trusted, expected) in [("", "127.0.0.1"), ("127.0.0.1", "198.51.100.7")] {
        let app = TestApp::builder().with_settings(move |s| s.trusted_proxies = trusted.to_owned()).spawn().await;
        TestApp::new_client()
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", "198.51.100.7")
            .json(&json!({"username": "admin", "password": "Wrong-Pass-2026"}))
            .send()
            .await
            .unwrap();
        assert_eq!(last_login_ip(&app).await, expected, "trusted proxies: {trusted:?}");
    }
}
