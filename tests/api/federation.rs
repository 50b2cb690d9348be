//! R-SHAPE-3, R-IF-1, R-REL-2, R-OPS-1 (issue 7): filings and trace statistics roll up the
//! tenant tree — city → province → nation in one deployment, and from a provincial deployment
//! to the national one over signed HTTP — each change applied once and in order, gaps sent
//! again, a stopped parent caught up, bad signatures and replays refused, and the incremental
//! roll-up equal to a recompute from the raw figures.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::{Value, json};
use suyuan_federation::sign;
use suyuan_platform::modules::federation::{inbox, service};
use suyuan_tenancy::entity::tenant;
use suyuan_tests::{TestApp, problem};

/// A test app whose federation worker runs.
async fn federated(tweak: impl FnOnce(&mut suyuan_platform::Settings) + 'static) -> TestApp {
    TestApp::builder().with_settings(|s| s.federation_delivery = true).with_settings(tweak).spawn().await
}

/// Polls `f` until it answers `Some`, at most 30 s.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn rollup(app: &TestApp, client: &reqwest::Client, tenant: Option<&str>) -> Value {
    let url = match tenant {
        Some(t) => app.url(&format!("/api/v1/federation/rollup?region={t}")),
        None => app.url("/api/v1/federation/rollup"),
    };
    let res = client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn region<'a>(r: &'a Value, code: &str) -> Option<&'a Value> {
    r["regions"].as_array().unwrap().iter().find(|x| x["code"] == code)
}

fn records(n: usize, prefix: &str, subject: &str, day: &str, quantity: f64) -> Value {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({"client_event_id": format!("{prefix}-{i}"), "stage": "sale", "action": "sell",
                   "subject_code": subject, "product_name": "番茄", "batch_no": format!("{prefix}-B{i}"),
                   "quantity": quantity, "unit": "kg", "event_time": format!("{day}T09:00:00+08:00"),
                   "division_code": "370104"})
        })
        .collect();
    json!({ "events": events })
}

async fn ingest(app: &TestApp, client: &reqwest::Client, body: &Value) -> Value {
    let res = client.post(app.url("/api/v1/trace/events")).json(body).send().await.unwrap();
    let status = res.status();
    let answer: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn tenant_by_code(app: &TestApp, code: &str) -> tenant::Model {
    use sea_orm::{ColumnTrait, QueryFilter};
    tenant::Entity::find().filter(tenant::Column::Code.eq(code)).one(&app.db).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_city_filing_and_its_records_roll_up_to_the_nation_through_the_province() {
    let app = federated(|_| {}).await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let jinan = app.onboard(&sd.admin, "370100", "济南市").await;
    let market =
        app.approved_enterprise(&jinan.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;
    ingest(&app, &jinan.admin, &records(3, "jn", &market, "2026-11-20", 100.0)).await;

    // The nation reads one line per province from the roll-up: 济南's filing and records are
    // 山东's, relayed by the province.
    let r = eventually("the national roll-up", || async {
        let r = rollup(&app, &national, None).await;
        region(&r, "370000").filter(|s| s["records"] == 3 && s["filings"] == 1).map(|_| r.clone())
    })
    .await;
    let sd_line = region(&r, "370000").unwrap();
    assert_eq!(sd_line["name"].as_str(), Some("山东省"));
    // The quantity per stage and unit (a sale of 3 × 100 kg), never one sum across them.
    assert_eq!(
        sd_line["quantities"],
        json!([{"stage": "sale", "stage_label": "流通销售", "unit": "kg",
                                               "unit_name": "千克", "records": 3, "quantity": 300.0}])
    );
    assert_eq!(r["total"]["records"], 3);
    assert!(region(&r, "320000").is_none(), "nothing made up for 江苏");
    // 山东 reports inside this platform: no credential for a second source speaking for it.
    let res = national
        .post(app.url("/api/v1/federation/credentials"))
        .json(&json!({"tenant_id": sd.tenant_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["rule"], "reports_locally");
    // Drill-down: the province's own roll-up names the city.
    let sd_view = rollup(&app, &national, Some("370000")).await;
    assert_eq!(region(&sd_view, "370100").unwrap()["name"], "济南市");
    assert_eq!(region(&sd_view, "370100").unwrap()["records"], 3);
    // A sibling province cannot read it; the city cannot read its parent's.
    let res = js.admin.get(app.url("/api/v1/federation/rollup?region=370000")).send().await.unwrap();
    assert_eq!(problem(res).await["status"], 403);
    let res = jinan.admin.get(app.url("/api/v1/federation/rollup?region=370000")).send().await.unwrap();
    assert_eq!(res.status(), 403);

    // The nation holds the filing's latest version, naming the city it was filed in; a change
    // made in the city arrives as version 2.
    let stored = |v: i64| {
        let db = app.db.clone();
        async move {
            let n = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!(
                        "SELECT COUNT(*) AS n FROM federation_filings f JOIN tenants t ON t.id = f.receiver_tenant_id \
                         WHERE t.code = '100000' AND f.source_code = '370100' AND f.version = {v}"
                    ),
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get::<i64>("", "n")
                .unwrap();
            (n == 1).then_some(())
        }
    };
    eventually("version 1 at the nation", || stored(1)).await;
    let list: Value = jinan.admin.get(app.url("/api/v1/enterprises")).send().await.unwrap().json().await.unwrap();
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let mut e: Value =
        jinan.admin.get(app.url(&format!("/api/v1/enterprises/{id}"))).send().await.unwrap().json().await.unwrap();
    let mut change = json!({});
    for k in ["name", "uscc", "enterprise_type", "categories", "stages", "address", "division_code", "contact_name"] {
        change[k] = e[k].take();
    }
    change["contact_phone"] = json!("0531-80000000");
    let res = jinan.admin.put(app.url(&format!("/api/v1/enterprises/{id}"))).json(&change).send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    eventually("version 2 at the nation", || stored(2)).await;

    // Operations view: every link delivered, nothing waiting; the nation sees its subtree.
    let status: Value = national.get(app.url("/api/v1/federation/status")).send().await.unwrap().json().await.unwrap();
    let link = status["links"].as_array().unwrap().iter().find(|l| l["tenant_code"] == "370100").unwrap();
    assert_eq!((link["transport"].as_str(), link["parent"].as_str()), (Some("local"), Some("山东省")));
    assert_eq!(link["backlog"], 0);
    assert_eq!(link["delivered_seq"], link["last_seq"]);
    assert!(
        status["inbox"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["origin_code"] == "370100" && i["cursor"] == link["last_seq"])
    );
    // The pages: the roll-up with its map, charts and table (drill-down to the city), and the
    // operations view with "sync now".
    let page = national.get(app.url("/console/rollup")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-map-src=\"/api/v1/federation/rollup/map\"") && html.contains("山东省"), "{html}");
    assert!(html.contains("/console/rollup?region=370000"), "drill-down link");
    let html = national.get(app.url("/console/rollup?region=370000")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("济南市"));
    let map: Value = national
        .get(app.url("/api/v1/federation/rollup/map?region=370000&metric=filings"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (map["regions"][0]["code"].as_str(), map["regions"][0]["value"].as_f64()),
        (Some("370100"), Some(1.0)),
        "{map}"
    );
    let res = national.get(app.url("/api/v1/federation/rollup/map?metric=price")).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "metric");
    let html = national.get(app.url("/console/federation")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("data-link=\"370100\"") && html.contains("立即同步"), "{html}");
    // A sibling's administrator sees none of it; a viewer is refused.
    let js_status: Value =
        js.admin.get(app.url("/api/v1/federation/status")).send().await.unwrap().json().await.unwrap();
    let js_links: Vec<&str> =
        js_status["links"].as_array().unwrap().iter().map(|l| l["tenant_code"].as_str().unwrap()).collect();
    assert_eq!((js_links, js_status["inbox"].as_array().unwrap().len()), (vec!["320000"], 0), "{js_status}");
    let (_, viewer) = app.user_with_roles(&sd.admin, "sd_viewer", &["viewer"]).await;
    let res = viewer.get(app.url("/api/v1/federation/status")).send().await.unwrap();
    assert_eq!(res.status(), 403);

    // Periodic exchange per link: checked, saved, shown; back to continuous for what follows.
    let jinan_link = app.url(&format!("/api/v1/federation/links/{}", jinan.tenant_id));
    let res = sd.admin.put(&jinan_link).json(&json!({"mode": "weekly", "interval_secs": 5})).send().await.unwrap();
    let p = problem(res).await;
    let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["mode", "interval_secs"]);
    let res = sd.admin.put(&jinan_link).json(&json!({"mode": "periodic", "interval_secs": 600})).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let status: Value = sd.admin.get(app.url("/api/v1/federation/status")).send().await.unwrap().json().await.unwrap();
    let link = status["links"].as_array().unwrap().iter().find(|l| l["tenant_code"] == "370100").unwrap();
    assert_eq!((link["mode"].as_str(), link["interval_secs"].as_i64()), (Some("periodic"), Some(600)));
    let res = js.admin.put(&jinan_link).json(&json!({"mode": "continuous"})).send().await.unwrap();
    assert_eq!(res.status(), 403, "a sibling cannot touch the link");
    let res = sd.admin.put(&jinan_link).json(&json!({"mode": "continuous"})).send().await.unwrap();
    assert_eq!(res.status(), 204);

    // A row the parent cannot apply is parked with its reason, shown to the operators above,
    // and does not stop the rows after it.
    let jinan_t = tenant_by_code(&app, "370100").await;
    let txn = sea_orm::TransactionTrait::begin(&app.db).await.unwrap();
    suyuan_platform::audit::lock_chain(&txn, jinan_t.id).await.unwrap();
    suyuan_platform::modules::subjects::service::write_outbox(&txn, jinan_t.id, "industry.report", &json!({"x": 1}))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    ingest(&app, &jinan.admin, &records(2, "jn2", &market, "2026-11-21", 10.0)).await;
    eventually("the rows after the parked one", || async {
        let r = rollup(&app, &national, None).await;
        region(&r, "370000").filter(|s| s["records"] == 5).map(|_| ())
    })
    .await;
    let parked: Value = sd.admin.get(app.url("/api/v1/federation/parked")).send().await.unwrap().json().await.unwrap();
    assert_eq!(parked["items"].as_array().unwrap().len(), 1, "{parked}");
    assert_eq!(parked["items"][0]["kind"], "industry.report");
    assert!(parked["items"][0]["reason"].as_str().unwrap().contains("未知的变更类型"));
    let js_parked: Value =
        js.admin.get(app.url("/api/v1/federation/parked")).send().await.unwrap().json().await.unwrap();
    assert_eq!(js_parked["items"], json!([]));
    assert_eq!(js_parked["total"], 0);

    // Nobody pushes into a tenant that is not their parent: 济南 into 江苏.
    let js_t = tenant_by_code(&app, "320000").await;
    let rows = suyuan_platform::modules::subjects::entity::outbox::Entity::find().all(&app.db).await.unwrap();
    let push = suyuan_platform::modules::federation::deliver::to_push(
        &jinan_t,
        rows.into_iter().filter(|r| r.origin_tenant_id == jinan_t.id).collect(),
    );
    let metrics = suyuan_platform::metrics::Metrics::new().unwrap();
    let refused = inbox::apply(&app.db, &metrics, "local", &js_t, &jinan_t, &push).await.unwrap_err();
    assert_eq!(refused.http_status(), 403);
    // Delivered again to the right parent, everything is a duplicate: applied once.
    let sd_t = tenant_by_code(&app, "370000").await;
    let ack = inbox::apply(&app.db, &metrics, "local", &sd_t, &jinan_t, &push).await.unwrap();
    assert_eq!((ack.applied, ack.duplicates, ack.parked), (0, push.rows.len(), 0));
    assert_eq!(region(&rollup(&app, &national, None).await, "370000").unwrap()["records"], 5, "nothing doubled");

    // The incremental figures equal a recompute from the raw daily figures.
    for code in ["100000", "370000"] {
        let report = service::recompute(&app.db, &tenant_by_code(&app, code).await, false).await.unwrap();
        assert!(report.differences.is_empty(), "{code}: {:?}", report.differences);
        assert!(report.rows > 0);
    }
}

#[tokio::test]
async fn the_incremental_rollup_equals_the_recompute_after_a_random_mix() {
    let seed: u64 =
        std::env::var("SUYUAN_PROPERTY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let app = federated(|_| {}).await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let jinan = app.onboard(&sd.admin, "370100", "济南市").await;
    let qingdao = app.onboard(&sd.admin, "370200", "青岛市").await;
    let usccs = ["91350100M000100Y43", "91110108551385082Q", "91370000MA3C5EX46G", "91320000MA1MTEST1X"];
    let mut subjects = Vec::new();
    for (i, (a, division)) in
        [(&sd.admin, "370102"), (&js.admin, "320102"), (&jinan.admin, "370104"), (&qingdao.admin, "370202")]
            .into_iter()
            .enumerate()
    {
        let uscc = usccs[i];
        let res = a
            .post(app.url("/api/v1/enterprises"))
            .json(
                &json!({"name": format!("主体{i}"), "uscc": uscc, "enterprise_type": "market", "categories": ["0101"],
                          "stages": ["sale"], "address": "地址", "division_code": division, "contact_name": "李",
                          "contact_phone": "0531-88881234", "submit": true}),
            )
            .send()
            .await
            .unwrap();
        // A credit code the checker refuses is simply left out of the mix.
        if res.status() != 201 {
            continue;
        }
        let e: Value = res.json().await.unwrap();
        let id = e["id"].as_str().unwrap().to_owned();
        let res = a.post(app.url(&format!("/api/v1/enterprises/{id}/approve"))).send().await.unwrap();
        assert_eq!(res.status(), 200);
        subjects.push((a, e["code"].as_str().unwrap().to_owned(), division));
    }
    assert!(subjects.len() >= 3, "seed {seed}: subjects {}", subjects.len());
    let stages =
        [("primary_production", "harvest"), ("primary_production", "plant"), ("sale", "sell"), ("sale", "use")];
    let mut sent: Vec<(usize, Value)> = Vec::new();
    let mut accepted = 0i64;
    for op in 0..24 {
        let who = rng.random_range(0..subjects.len());
        let (client, code, division) = &subjects[who];
        if rng.random_bool(0.2) && !sent.is_empty() {
            // A retried batch: nothing new, nothing doubled.
            let (_, body) = &sent[rng.random_range(0..sent.len())];
            let (c, ..) = &subjects[sent.iter().find(|(_, b)| b == body).unwrap().0];
            let a = ingest(&app, c, body).await;
            assert_eq!(a["accepted"], 0, "seed {seed}");
            continue;
        }
        let n = rng.random_range(1..6);
        let day = format!("2026-11-{:02}", rng.random_range(18..22));
        let events: Vec<Value> = (0..n)
            .map(|i| {
                let (stage, action) = stages[rng.random_range(0..stages.len())];
                json!({"client_event_id": format!("op{op}-{i}"), "stage": stage, "action": action,
                       "subject_code": code, "product_name": "番茄", "batch_no": format!("B{op}-{i}"),
                       "quantity": f64::from(rng.random_range(1..500u32)), "unit": "kg",
                       "event_time": format!("{day}T09:00:00+08:00"), "division_code": division})
            })
            .collect();
        let body = json!({ "events": events });
        let a = ingest(&app, client, &body).await;
        accepted += a["accepted"].as_i64().unwrap();
        sent.push((who, body));
    }
    // Everything below the nation arrives: its total is every accepted record outside its own.
    // The nation ingested nothing itself: its total is everything accepted below.
    eventually("the national total", || async {
        let r = rollup(&app, &national, None).await;
        (r["total"]["records"].as_i64() == Some(accepted)).then_some(())
    })
    .await;
    for code in ["100000", "370000", "320000"] {
        let report = service::recompute(&app.db, &tenant_by_code(&app, code).await, false).await.unwrap();
        assert!(report.differences.is_empty(), "seed {seed}, {code}: {:?}", report.differences);
    }
    // A damaged roll-up is found and repaired by the recompute.
    for table in ["federation_rollup", "federation_rollup_totals"] {
        app.db
            .execute_raw(sea_orm::Statement::from_string(
                app.db.get_database_backend(),
                format!("UPDATE {table} SET records = records + 7"),
            ))
            .await
            .unwrap();
    }
    let nation = tenant_by_code(&app, "100000").await;
    let report = service::recompute(&app.db, &nation, false).await.unwrap();
    assert!(report.differences.iter().any(|d| d.contains("合计")), "the totals are checked: {:?}", report.differences);
    assert!(report.differences.iter().any(|d| !d.contains("合计")), "and the detail: {:?}", report.differences);
    let report = service::recompute(&app.db, &nation, true).await.unwrap();
    assert!(!report.differences.is_empty() && report.repaired, "seed {seed}");
    let report = service::recompute(&app.db, &nation, false).await.unwrap();
    assert!(report.differences.is_empty(), "seed {seed}: {:?}", report.differences);
}

#[tokio::test]
async fn a_provincial_deployment_federates_into_the_national_one_over_signed_http() {
    // Deployment B: the national platform, with 山东省 onboarded as the tenant the provincial
    // deployment reports as.
    let mut b = federated(|_| {}).await;
    let national = b.national_admin().await;
    let sd_in_b = b.onboard(&national, "370000", "山东省").await;
    let res = national
        .post(b.url("/api/v1/federation/credentials"))
        .json(&json!({"tenant_id": sd_in_b.tenant_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let cred: Value = res.json().await.unwrap();
    let (key, secret) = (cred["key_id"].as_str().unwrap().to_owned(), cred["secret"].as_str().unwrap().to_owned());
    let listed: Value =
        national.get(b.url("/api/v1/federation/credentials")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["items"][0]["key_id"], key.as_str(), "{listed}");
    assert!(listed["items"][0]["secret"].is_null(), "the secret is shown once");
    // Only for a direct child.
    let res = sd_in_b
        .admin
        .post(b.url("/api/v1/federation/credentials"))
        .json(&json!({"tenant_id": sd_in_b.tenant_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "tenant_id");

    // Deployment A: the provincial platform (its root is 山东省), with 济南市 below.
    let a = federated(|s| {
        s.root_code = "370000".into();
        s.root_name = "山东省".into();
    })
    .await;
    let province = a.national_admin().await;
    let jinan = a.onboard(&province, "370100", "济南市").await;
    let res = province
        .put(a.url("/api/v1/federation/upstream"))
        .json(&json!({"parent_url": "ftp://x", "key_id": key, "secret": "short"}))
        .send()
        .await
        .unwrap();
    let p = problem(res).await;
    let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["parent_url", "secret"]);
    let res = province
        .put(a.url("/api/v1/federation/upstream"))
        .json(&json!({"parent_url": b.address, "key_id": key, "secret": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let market =
        a.approved_enterprise(&jinan.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;
    ingest(&a, &jinan.admin, &records(4, "a1", &market, "2026-11-20", 50.0)).await;

    // A municipal filing of deployment A appears at the national tenant of deployment B.
    let b_filings = |b: &TestApp| {
        let db = b.db.clone();
        async move {
            db.query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM federation_filings WHERE source_code = '370100'".to_owned(),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap()
        }
    };
    eventually("济南's filing at the nation", || async { (b_filings(&b).await == 1).then_some(()) }).await;
    let r = eventually("济南's records at the nation", || async {
        let r = rollup(&b, &national, None).await;
        region(&r, "370000").filter(|s| s["records"] == 4).map(|_| r.clone())
    })
    .await;
    assert_eq!(region(&r, "370000").unwrap()["filings"], 1);

    // The parent stops; the child keeps writing; the link records the failure.
    b.stop_server().await;
    for i in 0..3 {
        ingest(&a, &jinan.admin, &records(2, &format!("a2-{i}"), &market, "2026-11-21", 5.0)).await;
    }
    let status = eventually("the failure on the link", || async {
        let s: Value = province.get(a.url("/api/v1/federation/status")).send().await.unwrap().json().await.unwrap();
        let l = s["links"].as_array().unwrap().iter().find(|l| l["tenant_code"] == "370000").cloned().unwrap();
        (l["last_error"].is_string() && l["backlog"].as_i64().unwrap() > 0).then_some(l)
    })
    .await;
    assert_eq!(status["transport"], "http");
    assert!(status["last_error"].as_str().unwrap().contains("无法连接上级平台"), "{status}");

    // Back up: "sync now", and every row arrives once, in order.
    b.restart_server(|s| s.federation_delivery = true).await;
    let res = province
        .post(a.url(&format!("/api/v1/federation/links/{}/sync", status["tenant_id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    // The session outlives the restart (sessions are stored, not held by the process).
    eventually("the rows written while the parent was down", || async {
        let r = rollup(&b, &national, None).await;
        region(&r, "370000").filter(|s| s["records"] == 10).map(|_| ())
    })
    .await;
    let a_root = tenant_by_code(&a, "370000").await;
    let last_seq = a
        .scalar(
            "SELECT MAX(seq) AS n FROM outbox WHERE origin_tenant_id = (SELECT id FROM tenants WHERE code = '370000')",
        )
        .await;
    let cursor = eventually("the cursor at the last row", || async {
        let c = b.scalar("SELECT cursor AS n FROM federation_inbox WHERE origin_code = '370000'").await;
        (c == last_seq).then_some(c)
    })
    .await;
    assert_eq!(cursor, last_seq);
    assert_eq!(b.scalar("SELECT COUNT(*) AS n FROM federation_parked").await, 0);
    assert_eq!(b.scalar("SELECT CAST(SUM(records) AS BIGINT) AS n FROM federation_rollup WHERE source_code = '370100' AND holder_tenant_id = (SELECT id FROM tenants WHERE code = '100000')").await, 10, "once each");

    // Signed requests: a duplicated delivery is ignored, a wrong signature, an old timestamp
    // and a replayed request are refused, and a credential speaks only for its own tenant.
    let rows = suyuan_platform::modules::subjects::entity::outbox::Entity::find().all(&a.db).await.unwrap();
    let push = suyuan_platform::modules::federation::deliver::to_push(
        &a_root,
        rows.into_iter().filter(|r| r.origin_tenant_id == a_root.id).collect(),
    );
    let body = serde_json::to_vec(&push).unwrap();
    let http = TestApp::new_client();
    let send = |ts: String, sig: String, body: Vec<u8>| {
        let (http, url, key) = (http.clone(), b.url("/api/v1/federation/inbox"), key.clone());
        async move {
            http.post(url)
                .header(sign::KEY_HEADER, key)
                .header(sign::TIMESTAMP_HEADER, ts)
                .header(sign::SIGNATURE_HEADER, sig)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let now = chrono::Utc::now().timestamp().to_string();
    let good = sign::sign(secret.as_bytes(), &now, &body);
    let res = send(now.clone(), good.clone(), body.clone()).await;
    assert_eq!(res.status(), 200);
    let ack: Value = res.json().await.unwrap();
    assert_eq!((ack["applied"].as_u64(), ack["duplicates"].as_u64()), (Some(0), Some(push.rows.len() as u64)), "{ack}");
    let res = send(now.clone(), good.clone(), body.clone()).await;
    assert_eq!(problem(res).await["status"], 401, "a replay is refused");
    let res = send(now.clone(), good.to_uppercase(), body.clone()).await;
    assert_eq!(problem(res).await["status"], 401, "in any spelling");
    let seen = b.scalar("SELECT COUNT(*) AS n FROM federation_replay").await;
    let res = send(now.clone(), sign::sign(b"not the secret", &now, &body), body.clone()).await;
    assert_eq!(problem(res).await["status"], 401, "a wrong signature is refused");
    let old = (chrono::Utc::now().timestamp() - 3600).to_string();
    let res = send(old.clone(), sign::sign(secret.as_bytes(), &old, &body), body.clone()).await;
    assert_eq!(problem(res).await["status"], 401, "an old timestamp is refused");
    assert_eq!(b.scalar("SELECT COUNT(*) AS n FROM federation_replay").await, seen, "refusals write nothing");
    let mut other = push.clone();
    other.origin.code = "320000".into();
    let other = serde_json::to_vec(&other).unwrap();
    let ts = chrono::Utc::now().timestamp().to_string();
    let res = send(ts.clone(), sign::sign(secret.as_bytes(), &ts, &other), other).await;
    assert_eq!(problem(res).await["status"], 403, "the credential speaks for 山东 only");
    // Nor under another origin id: its rows would start again at 1 and count twice.
    let mut twin = push.clone();
    twin.origin.tenant_id = uuid::Uuid::now_v7();
    let twin = serde_json::to_vec(&twin).unwrap();
    let ts = chrono::Utc::now().timestamp().to_string();
    let res = send(ts.clone(), sign::sign(secret.as_bytes(), &ts, &twin), twin).await;
    assert_eq!(problem(res).await["status"], 409, "one source per child");
    // A child speaks for its own region only: figures naming 南京 are parked, not counted.
    let mut forged = push.clone();
    let mut row = forged.rows.last().unwrap().clone();
    row.seq = cursor + 1;
    row.kind = "statistics.delta".into();
    row.source = suyuan_federation::wire::Source { code: "320100".into(), name: "南京市".into() };
    row.payload = json!({"deltas": [{"day": "2026-11-20", "stage": "sale", "category_code": "", "division_code": "320102",
                                     "records": 1000, "quantity": 1.0}]});
    forged.rows = vec![row];
    let forged = serde_json::to_vec(&forged).unwrap();
    let ts = chrono::Utc::now().timestamp().to_string();
    let res = send(ts.clone(), sign::sign(secret.as_bytes(), &ts, &forged), forged).await;
    let ack: Value = res.json().await.unwrap();
    assert_eq!((ack["applied"].as_u64(), ack["parked"].as_u64()), (Some(0), Some(1)), "{ack}");
    let parked = b.scalar("SELECT COUNT(*) AS n FROM federation_parked WHERE source_code = '320100'").await;
    assert_eq!(parked, 1);
    assert_eq!(b.scalar("SELECT CAST(SUM(records) AS BIGINT) AS n FROM federation_rollup WHERE holder_tenant_id = (SELECT id FROM tenants WHERE code = '100000')").await, 10, "nothing doubled");
}

#[tokio::test]
async fn a_link_that_lags_alerts_once_per_episode() {
    // Delivery off: the city's filing waits, so its link lags.
    let app = suyuan_tests::spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    app.approved_enterprise(&sd.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;
    suyuan_platform::modules::federation::deliver::ensure_links(&app.db).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let alerts = || app.audit_rows("federation.lag_alert");
    service::watch_links(&app.state, 3600).await.unwrap();
    assert_eq!(alerts().await, 0, "under the threshold: no alert");
    service::watch_links(&app.state, 0).await.unwrap();
    assert_eq!(alerts().await, 1, "past it: one alert");
    service::watch_links(&app.state, 0).await.unwrap();
    assert_eq!(alerts().await, 1, "once per episode");
    let metrics = app.metrics().await;
    assert!(metrics.contains("suyuan_federation_backlog_rows{link=\"370000\"} 1"), "{metrics}");
    // In the sending tenant's own audit log.
    let (_, auditor) = app.user_with_roles(&sd.admin, "sd_auditor", &["auditor"]).await;
    let log: Value =
        auditor.get(app.url("/api/v1/audit?action=federation.lag_alert")).send().await.unwrap().json().await.unwrap();
    assert!(log.to_string().contains("federation.lag_alert"), "{log}");
}
