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
    assert!(lines.next().unwrap().starts_with("序号,时间（北京时间 UTC+8）,操作人"));
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

// ---- Issue 17: tamper evidence a database writer cannot forge -------------------------------

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use sha2::Digest;
use suyuan_platform::audit::entity::record;

/// The chain hash as the attacker computes it: the algorithm is public (SHA-256 of the previous
/// hash, a newline and the record's fields as a JSON array).
fn attacker_hash(prev: &str, r: &record::Model) -> String {
    let canonical = json!([
        r.tenant_id,
        r.seq,
        r.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        r.actor_user_id,
        r.actor_name,
        r.action,
        r.object_type,
        r.object_id,
        r.result,
        r.ip,
        r.user_agent,
        r.request_id,
        r.detail,
    ]);
    let mut h = sha2::Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

async fn chain_of(app: &TestApp, code: &str) -> Vec<record::Model> {
    let t = suyuan_tenancy::entity::tenant::Entity::find()
        .filter(suyuan_tenancy::entity::tenant::Column::Code.eq(code))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    record::Entity::find()
        .filter(record::Column::TenantId.eq(t.id))
        .order_by_asc(record::Column::Seq)
        .all(&app.db)
        .await
        .unwrap()
}

/// What an attacker with write access to the database does: removes record `seq` of `code`'s
/// chain, renumbers and re-hashes every record after it, and moves the head to match. Every
/// write is plain SQL. The id of the record now at `seq`.
async fn delete_and_rehash(app: &TestApp, code: &str, seq: i64) -> String {
    let rows = chain_of(app, code).await;
    // The attacker's hash function is the platform's: the re-hashed chain is a real chain.
    let mut prev = rows[0].prev_hash.clone();
    for r in &rows {
        assert_eq!(attacker_hash(&prev, r), r.hash, "the attacker reproduces the chain hash");
        prev.clone_from(&r.hash);
    }
    let db = &app.db;
    let backend = db.get_database_backend();
    let exec = |sql: String| async move {
        db.execute_raw(sea_orm::Statement::from_string(backend, sql)).await.unwrap();
    };
    let cond = format!("tenant_id = (SELECT id FROM tenants WHERE code = '{code}')");
    exec(format!("DELETE FROM audit_log WHERE {cond} AND seq = {seq}")).await;
    let mut prev = rows.iter().find(|r| r.seq == seq).unwrap().prev_hash.clone();
    let mut moved_id = None;
    for r in rows.iter().filter(|r| r.seq > seq) {
        let mut forged = r.clone();
        forged.seq = r.seq - 1;
        forged.prev_hash.clone_from(&prev);
        forged.hash = attacker_hash(&prev, &forged);
        exec(format!(
            "UPDATE audit_log SET seq = {}, prev_hash = '{}', hash = '{}' WHERE {cond} AND seq = {}",
            forged.seq, forged.prev_hash, forged.hash, r.seq
        ))
        .await;
        moved_id.get_or_insert(r.id.to_string());
        prev = forged.hash;
    }
    let last = rows.last().unwrap().seq - 1;
    exec(format!("UPDATE audit_heads SET seq = {last}, hash = '{prev}' WHERE {cond}")).await;
    moved_id.unwrap()
}

async fn verify_as(app: &TestApp, auditor: &reqwest::Client) -> serde_json::Value {
    let res = auditor.get(app.url("/api/v1/audit/verify")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn deleting_a_record_and_rehashing_the_rest_is_found() {
    let app = spawn_app().await;
    let auditor = auditor(&app).await;
    assert_eq!(verify_as(&app, &auditor).await["ok"], true);
    let moved = delete_and_rehash(&app, "100000", 3).await;

    let report = verify_as(&app, &auditor).await;
    assert_eq!(report["ok"], false, "a re-hashed chain is not taken for intact: {report}");
    assert_eq!(report["first_broken"]["seq"], 3, "{report}");
    assert_eq!(report["first_broken"]["record_id"], moved.as_str(), "names the first re-hashed record: {report}");
    assert!(report["first_broken"]["reason"].as_str().unwrap().contains("MAC"), "{report}");
}

#[tokio::test]
async fn a_record_signed_with_another_key_is_found() {
    use hmac::Mac;
    let app = spawn_app().await;
    let auditor = auditor(&app).await;
    let rows = chain_of(&app, "100000").await;
    let target = &rows[1];
    // A MAC made with a key the attacker guessed or brought, under the real key's id.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"a-key-that-is-not-the-platforms-audit-key").unwrap();
    mac.update(target.hash.as_bytes());
    let forged = hex::encode(mac.finalize().into_bytes());
    let db = &app.db;
    let sql = format!(
        "UPDATE audit_log SET mac = '{forged}' WHERE seq = {} AND tenant_id = (SELECT id FROM tenants WHERE code = '100000')",
        target.seq
    );
    db.execute_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
    let report = verify_as(&app, &auditor).await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_broken"]["seq"], target.seq, "{report}");
    assert!(report["first_broken"]["reason"].as_str().unwrap().contains("MAC"), "{report}");

    // A key id nobody configured: the record cannot be verified, and the report says why.
    let sql = format!(
        "UPDATE audit_log SET key_id = '00000000deadbeef' WHERE seq = {} AND tenant_id = (SELECT id FROM tenants WHERE code = '100000')",
        target.seq
    );
    db.execute_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
    let report = verify_as(&app, &auditor).await;
    assert_eq!(report["first_broken"]["seq"], target.seq, "{report}");
    assert!(report["first_broken"]["reason"].as_str().unwrap().contains("00000000deadbeef"), "{report}");
}

/// Delivers the federation outbox once (what the worker does in the background).
async fn deliver_now(app: &TestApp) {
    suyuan_platform::modules::federation::deliver::ensure_links(&app.db).await.unwrap();
    while suyuan_platform::modules::federation::deliver::run_once(&app.state).await.unwrap() > 0 {}
}

#[tokio::test]
async fn chain_heads_are_anchored_at_the_parent_and_a_cut_tail_is_found() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let shandong = app.onboard(&national, "370000", "山东省").await;
    let (_, sd_auditor) = app.user_with_roles(&shandong.admin, "sd_auditor", &["auditor"]).await;
    let (_, nat_auditor) = app.user_with_roles(&national, "nat_auditor", &["auditor"]).await;
    // More of Shandong's chain.
    for name in ["sd_a", "sd_b"] {
        app.user_with_roles(&shandong.admin, name, &["viewer"]).await;
    }

    // Published on demand (also every audit_anchor_secs), delivered through the federation.
    let res = sd_auditor.post(app.url("/api/v1/audit/anchors")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let published: serde_json::Value = res.json().await.unwrap();
    let head = published["published_seq"].as_i64().expect("Shandong has a parent: its head is published");
    deliver_now(&app).await;
    let held: serde_json::Value = nat_auditor
        .get(app.url("/api/v1/audit/anchors?source_code=370000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(held[0]["seq"], head, "the nation holds Shandong's head: {held}");
    assert_eq!(held[0]["chain_tenant_id"], shandong.tenant_id.as_str());
    let rows = chain_of(&app, "370000").await;
    let at_head = rows.iter().find(|r| r.seq == head).unwrap();
    assert_eq!(held[0]["hash"], at_head.hash.as_str());
    // The parent's auditor is not Shandong's: Shandong's own auditor holds nothing from below.
    let none: serde_json::Value =
        sd_auditor.get(app.url("/api/v1/audit/anchors")).send().await.unwrap().json().await.unwrap();
    assert_eq!(none.as_array().unwrap().len(), 0, "{none}");
    let report = verify_as(&app, &sd_auditor).await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["anchors_checked"].as_i64().unwrap() >= 1, "{report}");
    // One head, held once (by the nation, the only tenant above Shandong).
    assert_eq!(app.scalar("SELECT COUNT(*) AS n FROM audit_anchors WHERE source_code = '370000'").await, 1);

    // The attacker cuts the tail after the anchored head's predecessor and moves the head back:
    // every remaining record, hash and MAC is genuine.
    let keep = head - 2;
    let kept_hash = rows.iter().find(|r| r.seq == keep).unwrap().hash.clone();
    let db = &app.db;
    let backend = db.get_database_backend();
    let cond = "tenant_id = (SELECT id FROM tenants WHERE code = '370000')";
    for sql in [
        format!("DELETE FROM audit_log WHERE {cond} AND seq > {keep}"),
        format!("UPDATE audit_heads SET seq = {keep}, hash = '{kept_hash}' WHERE {cond}"),
    ] {
        db.execute_raw(sea_orm::Statement::from_string(backend, sql)).await.unwrap();
    }
    let report = verify_as(&app, &sd_auditor).await;
    assert_eq!(report["ok"], false, "the nation's anchor says the chain was longer: {report}");
    assert_eq!(report["first_broken"]["seq"], keep + 1, "{report}");
    assert!(report["first_broken"]["reason"].as_str().unwrap().contains("锚点"), "{report}");
}

#[tokio::test]
async fn a_siblings_refused_attempt_is_in_the_targets_audit_log_once_a_minute() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let shandong = app.onboard(&national, "370000", "山东省").await;
    let jiangsu = app.onboard(&national, "320000", "江苏省").await;
    let (_, sd_auditor) = app.user_with_roles(&shandong.admin, "sd_auditor", &["auditor"]).await;
    for _ in 0..3 {
        let res = jiangsu.admin.get(app.url(&format!("/api/v1/tenants/{}", shandong.tenant_id))).send().await.unwrap();
        assert_eq!(res.status(), 403);
    }
    let page: serde_json::Value = sd_auditor
        .get(app.url("/api/v1/audit?action=access.denied_inbound"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    // Bounded: one record per caller and minute in the target's chain (the caller's own chain
    // has each refusal).
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["actor_name"], "admin_320000");
    assert_eq!(items[0]["result"], "failure");
    assert!(items[0]["detail"].to_string().contains("320000"), "{page}");
    assert_eq!(verify_as(&app, &sd_auditor).await["ok"], true);
    // Jiangsu's own chain keeps every refusal.
    let js_denied =
        app.scalar("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'access.denied' AND tenant_id = (SELECT id FROM tenants WHERE code = '320000')").await;
    assert_eq!(js_denied, 3);
}

/// A Shandong farm, an operator key of its system and Shandong's auditor (issue 18 item 12).
struct IngestSetup {
    farm: String,
    secret: String,
    auditor: reqwest::Client,
}

async fn ingest_setup(app: &TestApp) -> IngestSetup {
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let key: serde_json::Value = sd
        .admin
        .post(app.url("/api/v1/api-keys"))
        .json(&json!({"name": "寿光示范追溯系统", "role": "operator"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let auditor = app.user_with_roles(&sd.admin, "auditor_sd", &["auditor"]).await.1;
    IngestSetup { farm, secret: key["secret"].as_str().unwrap().to_owned(), auditor }
}

fn one_record(id: &str, farm: &str) -> serde_json::Value {
    json!({"events": [{"client_event_id": id, "stage": "primary_production", "action": "harvest",
        "subject_code": farm, "product_name": "寿光番茄", "batch_no": format!("B-{id}"),
        "trace_codes": [format!("TC-{id}")], "quantity": 10.0, "unit": "kg",
        "event_time": "2026-11-20T06:30:00+08:00", "division_code": "370783"}]})
}

/// Posts single-record ingests from `clients` clients at once, `each` per client; all 200.
async fn ingest_concurrently(app: &TestApp, s: &IngestSetup, run: &str, clients: usize, each: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (client, url, secret, farm, run) =
            (TestApp::new_client(), app.url("/api/v1/trace/events"), s.secret.clone(), s.farm.clone(), run.to_owned());
        tasks.spawn(async move {
            for i in 0..each {
                let res = client
                    .post(&url)
                    .bearer_auth(&secret)
                    .json(&one_record(&format!("{run}-c{c}-{i}"), &farm))
                    .send()
                    .await;
                let res = res.unwrap();
                assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

async fn raw_count(app: &TestApp, sql: &str) -> i64 {
    // Straight from the database, without chaining what is queued first (TestApp::scalar does).
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(app.db.get_database_backend(), sql.to_owned()))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

#[tokio::test]
async fn concurrent_ingests_of_one_tenant_are_all_chained_in_order_and_a_removed_one_is_found() {
    let app = spawn_app().await;
    let s = ingest_setup(&app).await;
    ingest_concurrently(&app, &s, "a", 8, 6).await;
    let verify = || async {
        s.auditor.get(app.url("/api/v1/audit/verify")).send().await.unwrap().json::<serde_json::Value>().await.unwrap()
    };
    let report = verify().await;
    assert_eq!(report["ok"], true, "{report}");

    // Every ingest has its entry, in the chain, one record each; the chain has no gap.
    let page: serde_json::Value = s
        .auditor
        .get(app.url("/api/v1/audit?action=trace_event.ingest&page_size=200"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 48, "{page}");
    assert!(items.iter().all(|r| r["detail"]["accepted"] == 1), "{page}");
    let sd = "tenant_id = (SELECT id FROM tenants WHERE code = '370000')";
    let (n, top) = (
        raw_count(&app, &format!("SELECT COUNT(*) AS n FROM audit_log WHERE {sd}")).await,
        raw_count(&app, &format!("SELECT MAX(seq) AS n FROM audit_log WHERE {sd}")).await,
    );
    assert_eq!(n, top, "sequence numbers 1..{top} without a gap");
    assert_eq!(report["checked"].as_i64(), Some(n));
    assert_eq!(raw_count(&app, "SELECT COUNT(*) AS n FROM audit_pending").await, 0, "nothing left queued");
    // Ordered: one entry per sequence number, each linked to the one before (verified above).
    let mut seqs: Vec<i64> = items.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    seqs.dedup();
    assert_eq!(seqs.len(), 48, "{seqs:?}");
    // What follows each entry under the chain lock: the figures and an outbox row per ingest,
    // numbered without gaps.
    assert_eq!(
        app.scalar(&format!("SELECT CAST(SUM(records) AS BIGINT) AS n FROM trace_stats_daily WHERE {sd}")).await,
        48
    );
    let origin = "origin_tenant_id = (SELECT id FROM tenants WHERE code = '370000')";
    assert_eq!(
        raw_count(&app, &format!("SELECT COUNT(*) AS n FROM outbox WHERE kind = 'statistics.delta' AND {origin}"))
            .await,
        48
    );
    assert_eq!(
        raw_count(&app, &format!("SELECT COUNT(*) AS n FROM outbox WHERE {origin}")).await,
        raw_count(&app, &format!("SELECT MAX(seq) AS n FROM outbox WHERE {origin}")).await
    );

    // Tampering: a chained ingest entry deleted is found where it was.
    let victim = items[20]["seq"].as_i64().unwrap();
    app.db
        .execute_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            format!("DELETE FROM audit_log WHERE {sd} AND seq = {victim}"),
        ))
        .await
        .unwrap();
    let report = verify().await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_broken"]["seq"], victim, "{report}");
}

#[tokio::test]
async fn an_ingest_entry_deleted_before_it_was_chained_is_found() {
    // No writer in the background: the entries stay queued until something reads the log.
    let app = TestApp::builder().with_settings(|s| s.audit_writer = false).spawn().await;
    let s = ingest_setup(&app).await;
    ingest_concurrently(&app, &s, "a", 3, 2).await;
    assert_eq!(raw_count(&app, "SELECT COUNT(*) AS n FROM audit_pending").await, 6, "queued with the records");
    let verify = || async {
        s.auditor.get(app.url("/api/v1/audit/verify")).send().await.unwrap().json::<serde_json::Value>().await.unwrap()
    };
    // More queued; one of them removed before the writer got to it.
    ingest_concurrently(&app, &s, "b", 1, 1).await;
    let backend = app.db.get_database_backend();
    let newest = "(SELECT id FROM audit_pending ORDER BY occurred_at DESC LIMIT 1)";
    let sql = format!("DELETE FROM audit_pending WHERE id = {newest}");
    app.db.execute_raw(sea_orm::Statement::from_string(backend, sql)).await.unwrap();
    let report = verify().await;
    assert_eq!(report["ok"], false, "{report}");
    let reason = report["first_broken"]["reason"].as_str().unwrap();
    assert!(reason.contains("1 条追溯记录没有对应的审计记录"), "{report}");
    // The six queued before were chained by the verification and are intact.
    assert_eq!(app.audit_rows("trace_event.ingest").await, 6);
}

#[tokio::test]
async fn a_queued_entry_changed_in_the_database_is_refused_not_chained() {
    let app = TestApp::builder().with_settings(|s| s.audit_writer = false).spawn().await;
    let s = ingest_setup(&app).await;
    ingest_concurrently(&app, &s, "a", 1, 2).await;
    // Someone with database access rewrites a queued entry (its actor, and the figures it adds).
    app.db
        .execute_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "UPDATE audit_pending SET actor_name = 'nobody', followup = REPLACE(followup, '\"records\":1', '\"records\":1000')"
                .to_owned(),
        ))
        .await
        .unwrap();
    app.settle().await;
    assert_eq!(app.audit_rows("trace_event.ingest").await, 0, "nothing chained as the platform's");
    assert_eq!(app.audit_rows("audit.pending_rejected").await, 2);
    let sd = "tenant_id = (SELECT id FROM tenants WHERE code = '370000')";
    assert_eq!(
        app.scalar(&format!("SELECT CAST(COALESCE(SUM(records), 0) AS BIGINT) AS n FROM trace_stats_daily WHERE {sd}"))
            .await,
        0,
        "a refused entry adds nothing to the figures"
    );
    // The log itself is intact; the two records the refused entries claimed are unaccounted.
    let report: serde_json::Value =
        s.auditor.get(app.url("/api/v1/audit/verify")).send().await.unwrap().json().await.unwrap();
    assert_eq!(report["ok"], false, "{report}");
    assert!(report["first_broken"]["reason"].as_str().unwrap().contains("2 条追溯记录没有对应的审计记录"), "{report}");
}
