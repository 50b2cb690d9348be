//! R-ARCH-1, R-IF-4, R-REL-2 (trace record ingest): a whole batch checked before anything is
//! written, every bad record named; idempotent on the client's event id; lineage edges for
//! processing and shipping; the search (R-SUBJ-5) and the tenant boundary.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use suyuan_tests::{TestApp, problem, spawn_app};

fn record(id: &str, stage: &str, action: &str, subject: &str, batch: &str) -> Value {
    json!({"client_event_id": id, "stage": stage, "action": action, "subject_code": subject,
           "product_name": "寿光番茄", "batch_no": batch, "trace_codes": [format!("TC-{batch}")],
           "quantity": 1200.0, "unit": "kg", "event_time": "2026-11-20T06:30:00+08:00",
           "division_code": "370783", "longitude": 118.79, "latitude": 36.86})
}

async fn count(app: &TestApp, table: &str) -> i64 {
    app.scalar(&format!("SELECT COUNT(*) AS n FROM {table}")).await
}

#[tokio::test]
async fn a_batch_is_checked_whole_written_once_and_linked() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let market = app.approved_enterprise(&sd.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;
    let shop = app.approved_enterprise(&js.admin, "南京示范超市", "91370000MA3C5EX46G", "retailer", "320102").await;
    let key: Value = sd
        .admin
        .post(app.url("/api/v1/api-keys"))
        .json(&json!({"name": "寿光示范追溯系统", "role": "operator"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let system = TestApp::new_client();
    let secret = key["secret"].as_str().unwrap().to_owned();
    let push = |body: Value| {
        let c = system.clone();
        let url = app.url("/api/v1/trace/events");
        let secret = secret.clone();
        async move { c.post(url).bearer_auth(secret).json(&body).send().await.unwrap() }
    };

    // One bad record among good ones: every problem named by index and field, nothing written.
    let mut zero = record("e-2", "primary_production", "harvest", &farm, "B2");
    zero["quantity"] = json!(0);
    let mut stranger = record("e-3", "sale", "sell", "E9999999999999X", "B3");
    stranger["event_time"] = json!("2026-11-20 06:30");
    let mut processing = record("e-4", "processing", "process", &farm, "B4");
    processing["inputs"] = json!([]);
    let res = push(
        json!({"events": [record("e-1", "primary_production", "harvest", &farm, "B1"), zero, stranger, processing,
                                     {"client_event_id": "e-5", "stage": "sale"}]}),
    )
    .await;
    let p = problem(res).await;
    let fields: Vec<_> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "events[4].action",
            "events[1].quantity",
            "events[2].subject_code",
            "events[2].event_time",
            "events[3].inputs"
        ],
        "{p}"
    );
    assert_eq!((count(&app, "trace_events").await, count(&app, "trace_lineage").await), (0, 0));

    // A good batch: harvest, test, ship to the market, the market receives and sells on to
    // another province's shop; then a processing step merging two batches.
    let mut test = record("t-2", "testing", "inspect", &farm, "B1");
    test["inspection"] = json!({"item": "农药残留", "result": "pass", "report_no": "SG-2026-0001"});
    let mut ship = record("t-3", "transport", "ship", &farm, "B1");
    ship["counterpart_code"] = json!(market);
    let mut receive = record("t-4", "sale", "receive", &market, "B1");
    receive["counterpart_code"] = json!(farm);
    receive["division_code"] = json!("370104");
    let mut sell = record("t-5", "sale", "sell", &market, "B1");
    sell["counterpart_code"] = json!(shop);
    sell["action"] = json!("ship");
    sell["stage"] = json!("transport");
    sell["price"] = json!(4.2);
    let mut mix = record("t-6", "processing", "process", &farm, "MIX1");
    mix["inputs"] = json!([{"batch_no": "B1", "quantity": 600.0}, {"batch_no": "B0"}]);
    let batch = json!({"events": [record("t-1", "primary_production", "harvest", &farm, "B1"), test, ship, receive, sell, mix]});
    let res = push(batch.clone()).await;
    assert_eq!(res.status(), 200);
    let first: Value = res.json().await.unwrap();
    assert_eq!((first["accepted"].as_u64(), first["duplicates"].as_u64()), (Some(6), Some(0)), "{first}");
    assert_eq!(count(&app, "trace_lineage").await, 5, "ship, receive, ship on, and two inputs");

    // The same request again (a retry): nothing new, the same ids.
    let res = push(batch).await;
    let again: Value = res.json().await.unwrap();
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(6)));
    assert_eq!(again["events"][0]["id"], first["events"][0]["id"]);
    assert_eq!((count(&app, "trace_events").await, count(&app, "trace_lineage").await), (6, 5));
    // The statistics deltas of the six records, once: summed in the daily figures and queued
    // for the parent in one outbox row; the retry added nothing.
    let sum = |sql: &'static str| {
        let db = app.db.clone();
        async move {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql.to_owned()))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<i64>("", "n").unwrap()
        }
    };
    assert_eq!(sum("SELECT CAST(SUM(records) AS BIGINT) AS n FROM trace_stats_daily").await, 6);
    assert_eq!(
        sum("SELECT CAST(SUM(records) AS BIGINT) AS n FROM trace_stats_daily WHERE stage = 'sale' AND division_code = '370104' AND day = '2026-11-20'").await,
        1,
        "the market's receipt, on the day where it happened"
    );
    assert_eq!(sum("SELECT COUNT(*) AS n FROM outbox WHERE kind = 'statistics.delta'").await, 1);
    // PostgreSQL keeps records in monthly partitions, made ahead by a daily job (R-SEC-5).
    if app.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        let parts = sum("SELECT COUNT(*) AS n FROM pg_inherits WHERE inhparent = 'trace_events'::regclass").await;
        assert!(parts >= 5, "default, this month and three ahead: {parts}");
        assert_eq!(suyuan_platform::modules::trace::write::ensure_partitions(&app.db).await.unwrap(), 0, "idempotent");
        let month = chrono::Utc::now().format("trace_events_y%Ym%m").to_string();
        let in_month = format!("SELECT COUNT(*) AS n FROM pg_class WHERE relname = '{month}'");
        let found = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(app.db.get_database_backend(), in_month))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert_eq!(found, 1, "this month's partition exists");
    }
    assert_eq!(app.audit_rows("trace_event.ingest").await, 1, "only the first wrote");

    // Search: by stage, batch, trace code, region, subject, product; the record in full.
    let search = |q: &str| {
        let c = sd.admin.clone();
        let url = app.url(&format!("/api/v1/trace/events?{q}"));
        async move { c.get(url).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(search("batch_no=B1").await["total"], 5);
    assert_eq!(search("stage=testing").await["items"][0]["inspection"]["result"], "pass");
    assert_eq!(search("trace_code=TC-MIX1").await["total"], 1);
    assert_eq!(search("region=370100").await["total"], 1, "the market's receipt in 济南");
    assert_eq!(search(&format!("subject={market}")).await["total"], 2);
    assert_eq!(search("product=番茄").await["total"], 6);
    let res = sd.admin.get(app.url("/api/v1/trace/events?stage=cooking&region=37")).send().await.unwrap();
    let p = problem(res).await;
    let fields: Vec<_> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["stage", "region"]);
    let shipped = search("stage=transport").await;
    let onward = shipped["items"].as_array().unwrap().iter().find(|e| e["subject_code"] == market).unwrap().clone();
    assert_eq!((onward["counterpart_name"].as_str(), onward["price"].as_f64()), (Some("南京示范超市"), Some(4.2)));
    assert_eq!(onward["event_offset_minutes"], 480, "the sender's zone is kept");
    // Numbers and times read back as sent (PostgreSQL takes them in COPY's binary format).
    let numbers = (onward["quantity"].as_f64(), onward["longitude"].as_f64(), onward["latitude"].as_f64());
    assert_eq!(numbers, (Some(1200.0), Some(118.79), Some(36.86)));
    let at = chrono::DateTime::parse_from_rfc3339(onward["event_time"].as_str().unwrap()).unwrap();
    assert_eq!(at.to_utc().to_rfc3339(), "2026-11-19T22:30:00+00:00", "06:30 China time");

    // Tenants apart: the receiving province sees none of Shandong's records; the country does.
    let id = first["events"][0]["id"].as_str().unwrap();
    let theirs: Value = js.admin.get(app.url("/api/v1/trace/events")).send().await.unwrap().json().await.unwrap();
    assert_eq!(theirs["total"], 0);
    assert_eq!(js.admin.get(app.url(&format!("/api/v1/trace/events/{id}"))).send().await.unwrap().status(), 403);
    let all: Value = national.get(app.url("/api/v1/trace/events")).send().await.unwrap().json().await.unwrap();
    assert_eq!(all["total"], 6);
    // A province cannot report for a subject of another: Jiangsu's key may not use Shandong's farm.
    let res = js
        .admin
        .post(app.url("/api/v1/trace/events"))
        .json(&json!({"events": [record("x-1", "primary_production", "harvest", &farm, "B9")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "events[0].subject_code");
    let res = js.admin.post(app.url("/api/v1/trace/events")).json(&json!({"events": []})).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "events");
}

#[tokio::test]
async fn chains_follow_merges_and_splits_across_provinces_stop_at_cycles_and_hide_what_is_outside() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let a = app.approved_enterprise(&sd.admin, "甲农场", "91350100M000100Y43", "producer", "370783").await;
    let b = app.approved_enterprise(&sd.admin, "乙农场", "91110108551385082Q", "producer", "370783").await;
    let p = app.approved_enterprise(&sd.admin, "丙加工厂", "91370000MA3C5EX46G", "processor", "370102").await;
    let r1 = app.approved_enterprise(&sd.admin, "济南超市一", "91370100MA3C0001AE", "retailer", "370104").await;
    let r2 = app.approved_enterprise(&sd.admin, "济南超市二", "91370102MA3C0002BF", "retailer", "370104").await;
    let r3 = app.approved_enterprise(&js.admin, "南京超市", "92370102MA3C0000X2", "retailer", "320102").await;
    let with = |mut r: Value, k: &str, v: Value| {
        r[k] = v;
        r
    };
    let ship = |id: &str, from: &str, batch: &str, to: &str| {
        with(record(id, "transport", "ship", from, batch), "counterpart_code", json!(to))
    };
    let sd_events = json!({"events": [
        record("1", "primary_production", "harvest", &a, "A1"),
        ship("2", &a, "A1", &p),
        record("3", "primary_production", "harvest", &b, "B1"),
        ship("4", &b, "B1", &p),
        with(record("5", "processing", "process", &p, "P1"), "inputs", json!([{"batch_no": "A1"}, {"batch_no": "B1"}])),
        ship("6", &p, "P1", &r1),
        ship("7", &p, "P1", &r2),
        ship("8", &p, "P1", &r3),
        with(record("9", "sale", "receive", &r1, "P1"), "counterpart_code", json!(p)),
        ship("10", &r1, "P1", &p),
    ]});
    let res = sd.admin.post(app.url("/api/v1/trace/events")).json(&sd_events).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let js_events = json!({"events": [with(record("j1", "sale", "receive", &r3, "P1"), "counterpart_code", json!(p))]});
    assert_eq!(js.admin.post(app.url("/api/v1/trace/events")).json(&js_events).send().await.unwrap().status(), 200);

    let chain = |who: &reqwest::Client, q: &str| {
        let c = who.clone();
        let url = app.url(&format!("/api/v1/trace/chain?{q}"));
        async move { c.get(url).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let ids = |c: &Value| -> Vec<String> {
        let mut v: Vec<String> =
            c["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()).collect();
        v.sort();
        v
    };
    let node = |c: &Value, id: &str| c["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap().clone();

    // From the processed batch: both raw lots upstream, the three shops downstream; the cycle
    // back to the factory ends there.
    let c = chain(&sd.admin, &format!("batch=P1&subject={p}")).await;
    let mut want = vec![
        format!("{a}|A1"),
        format!("{b}|B1"),
        format!("{p}|A1"),
        format!("{p}|B1"),
        format!("{p}|P1"),
        format!("{r1}|P1"),
        format!("{r2}|P1"),
        format!("{r3}|P1"),
    ];
    want.sort();
    assert_eq!(ids(&c), want, "{c}");
    assert_eq!(c["truncated"], false);
    assert_eq!(node(&c, &format!("{a}|A1"))["depth"], -2);
    assert_eq!(node(&c, &format!("{r2}|P1"))["depth"], 1);
    // The shipment to 超市一 was reported by both sides: one flow, two reports.
    let to_r1 = c["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["from"] == format!("{p}|P1") && f["to"] == format!("{r1}|P1"))
        .unwrap()
        .clone();
    assert_eq!((to_r1["reports"].as_u64(), to_r1["quantity"].as_f64()), (Some(2), Some(1200.0)));

    // From a raw lot downstream only: through the factory to the shops, nothing of the other lot.
    let c = chain(&sd.admin, &format!("batch=A1&subject={a}&direction=down")).await;
    assert_eq!(c["nodes"].as_array().unwrap().len(), 6, "{c}");
    assert!(!ids(&c).contains(&format!("{b}|B1")));

    // Outside the caller's subtree: name, code, region, tenant — no contact, no quantities.
    let c = chain(&sd.admin, &format!("batch=P1&subject={p}")).await;
    let shop = node(&c, &format!("{r3}|P1"));
    assert_eq!(
        (shop["subject_name"].as_str(), shop["tenant_name"].as_str(), shop["in_reach"].as_bool()),
        (Some("南京超市"), Some("江苏省"), Some(false))
    );
    assert!(shop["contact_name"].is_null() && shop["contact_phone"].is_null(), "{shop}");
    assert_eq!(node(&c, &format!("{p}|P1"))["contact_name"], "李");
    let theirs = chain(&js.admin, &format!("batch=P1&subject={r3}&direction=up")).await;
    let factory = node(&theirs, &format!("{p}|P1"));
    assert!(factory["contact_phone"].is_null() && factory["in_reach"] == false, "{factory}");
    let inbound = theirs["flows"].as_array().unwrap().iter().find(|f| f["to"] == format!("{r3}|P1")).unwrap().clone();
    assert_eq!(inbound["quantity"].as_f64(), Some(1200.0), "their own receipt's quantity");
    let process = theirs["flows"].as_array().unwrap().iter().find(|f| f["kind"] == "process").unwrap().clone();
    assert!(process["quantity"].is_null(), "Shandong's processing details stay in Shandong: {process}");
    // A start outside the caller's subtree is refused (issue 17, finding 7): Jiangsu cannot
    // rebuild Shandong's supply chain from a Shandong batch, only from its own records.
    let (_, js_viewer) = app.user_with_roles(&js.admin, "js_viewer", &["viewer"]).await;
    for q in [format!("batch=P1&subject={p}"), format!("batch=A1&subject={a}"), "batch=B1".to_owned()] {
        let res = js_viewer.get(app.url(&format!("/api/v1/trace/chain?{q}"))).send().await.unwrap();
        assert_eq!(res.status(), 403, "{q}");
    }
    assert!(app.audit_rows("access.denied").await >= 3, "the refusals are recorded");
    let res = js_viewer.get(app.url(&format!("/api/v1/trace/chain?batch=P1&subject={r3}"))).send().await.unwrap();
    assert_eq!(res.status(), 200, "from its own receipt it sees the chain, the outside with public fields only");
    // The nation reaches every start.
    let c = chain(&national, &format!("batch=P1&subject={p}")).await;
    assert_eq!(c["nodes"].as_array().unwrap().len(), 8, "{c}");

    // Bounds and bad input.
    let c = chain(&sd.admin, &format!("batch=P1&subject={p}&depth=1")).await;
    assert_eq!(c["truncated"], true);
    assert!(c["message"].as_str().unwrap().contains("深度"));
    let res = sd.admin.get(app.url("/api/v1/trace/chain?direction=sideways&batch=P1")).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "direction");
    let res = sd.admin.get(app.url("/api/v1/trace/chain")).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "batch");
    assert_eq!(sd.admin.get(app.url("/api/v1/trace/chain?batch=NONE")).send().await.unwrap().status(), 404);
    // By trace code, and the flow table as CSV.
    let c = chain(&sd.admin, "code=TC-P1&direction=up").await;
    assert!(ids(&c).contains(&format!("{a}|A1")));
    let csv = sd
        .admin
        .get(app.url(&format!("/api/v1/trace/chain?batch=P1&subject={p}&format=csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.trim_start_matches('\u{feff}')
            .starts_with("流出主体编码,流出主体,流出地区代码,流出地区,流入主体编码,流入主体,流入地区代码,流入地区,类型,产品,批次,数量,单位,时间（北京时间 UTC+8）,报告条数"),
        "{csv}"
    );
    assert!(
        csv.contains(&format!(
            "{p},丙加工厂,370102,山东省济南市历下区,{r3},南京超市,320102,江苏省南京市玄武区,销售流通,寿光番茄,P1,1200,kg,"
        )),
        "{csv}"
    );
    // The same table as a workbook.
    let res =
        sd.admin.get(app.url(&format!("/api/v1/trace/chain?batch=P1&subject={p}&format=xlsx"))).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(res.bytes().await.unwrap().starts_with(b"PK"), "a zip container");

    // The flow map: nodes as points, flows as lines from the seller to the buyer.
    let res = sd
        .admin
        .get(app.url(&format!("/api/v1/trace/chain?batch=P1&subject={p}&format=geojson")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/geo+json");
    let geo: Value = res.json().await.unwrap();
    assert_eq!(geo["type"], "FeatureCollection");
    let features = geo["features"].as_array().unwrap();
    let points = features.iter().filter(|f| f["geometry"]["type"] == "Point").count();
    let lines: Vec<&Value> = features.iter().filter(|f| f["geometry"]["type"] == "LineString").collect();
    assert_eq!(points, 0, "the test subjects have no coordinates: nothing to place");
    assert!(lines.is_empty());
    let res = sd.admin.get(app.url("/api/v1/trace/chain?batch=P1&format=kml")).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "format");

    // The node bound, asked for and refused when out of range.
    let c = chain(&sd.admin, &format!("batch=P1&subject={p}&max_nodes=3")).await;
    assert_eq!((c["truncated"].as_bool(), c["nodes"].as_array().unwrap().len()), (Some(true), 3), "{c}");
    assert!(c["message"].as_str().unwrap().contains("max_nodes"));
    let res = sd.admin.get(app.url("/api/v1/trace/chain?batch=P1&max_nodes=0")).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "max_nodes");
    // A recall (more than the everyday 5 000 nodes) is for managers: an operator is refused and
    // the refusal is audited; the tenant administrator (a manager) gets the chain.
    let (_, operator) = app.user_with_roles(&sd.admin, "sd_operator", &["operator"]).await;
    let denied = app.audit_rows("access.denied").await;
    let res = operator
        .get(app.url(&format!("/api/v1/trace/chain?batch=P1&subject={p}&max_nodes=5001")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.audit_rows("access.denied").await, denied + 1);
    let c = chain(&operator, &format!("batch=P1&subject={p}&max_nodes=5000")).await;
    assert_eq!(ids(&c), want, "the everyday bound is open to every reader");
    let c = chain(&sd.admin, &format!("batch=P1&subject={p}&max_nodes=200000")).await;
    assert_eq!(ids(&c), want);
    // On PostgreSQL a recall walks in two halves at once: the same nodes, depths and flows as
    // the everyday walk.
    let everyday = chain(&sd.admin, &format!("batch=P1&subject={p}")).await;
    assert_eq!((&c["nodes"], &c["flows"]), (&everyday["nodes"], &everyday["flows"]));

    // The pages: the chain with its flow table, the record list and a record.
    let html = sd
        .admin
        .get(app.url(&format!("/console/trace-chain?batch=P1&subject={p}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("流量流向表") && html.contains("南京超市") && html.contains("data-chain-map"), "{html}");
    let res = sd.admin.get(app.url("/console/trace-chain?batch=NONE")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("没有这个批次"));
    let list = sd.admin.get(app.url("/console/trace?batch_no=P1")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("丙加工厂") && !list.contains("甲农场"), "filtered by batch");
    let one: Value = sd
        .admin
        .get(app.url(&format!("/api/v1/trace/events?batch_no=P1&subject={p}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = one["items"][0]["id"].as_str().unwrap();
    let detail = sd.admin.get(app.url(&format!("/console/trace/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("追溯码与二维码") && detail.contains("/api/v1/public/trace/TC-P1/qr"), "{detail}");
    // Another province's record is not shown to Shandong.
    let theirs: Value = js.admin.get(app.url("/api/v1/trace/events")).send().await.unwrap().json().await.unwrap();
    let id = theirs["items"][0]["id"].as_str().unwrap();
    assert_eq!(sd.admin.get(app.url(&format!("/console/trace/{id}"))).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn platform_codes_are_issued_once_and_every_identifier_resolves() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let theirs = app.approved_enterprise(&js.admin, "南京超市", "91110108551385082Q", "retailer", "320102").await;

    // One code per item: subject code + serial + check character, never repeated.
    let issue = |who: &reqwest::Client, body: Value| {
        let (c, url) = (who.clone(), app.url("/api/v1/trace/codes"));
        async move { c.post(url).json(&body).send().await.unwrap() }
    };
    let res = issue(&sd.admin, json!({"subject_code": farm, "kind": "item", "count": 3})).await;
    assert_eq!(res.status(), 201);
    let first: Value = res.json().await.unwrap();
    let codes: Vec<String> =
        first["codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 3);
    assert!(codes.iter().all(|c| c.starts_with(&farm) && c.len() == 26), "{codes:?}");
    assert!(codes[0].contains("0000000001"));
    let res = issue(&sd.admin, json!({"subject_code": farm, "kind": "batch", "batch_no": "B9"})).await;
    let batch: Value = res.json().await.unwrap();
    assert!(batch["codes"][0].as_str().unwrap().contains("0000000004"), "serials continue: {batch}");

    // Bad input names the field and writes nothing; a sibling's subject is not ours to code.
    let before = count(&app, "trace_code_issues").await;
    let res = issue(&sd.admin, json!({"subject_code": farm, "kind": "batch"})).await;
    assert_eq!(problem(res).await["errors"][0]["field"], "batch_no");
    let res = issue(&sd.admin, json!({"subject_code": farm, "kind": "item", "count": 10001})).await;
    assert_eq!(problem(res).await["errors"][0]["field"], "count");
    let res = issue(&sd.admin, json!({"subject_code": theirs, "kind": "item"})).await;
    assert_eq!(problem(res).await["errors"][0]["field"], "subject_code");
    assert_eq!(count(&app, "trace_code_issues").await, before);
    assert_eq!(
        TestApp::new_client().post(app.url("/api/v1/trace/codes")).json(&json!({})).send().await.unwrap().status(),
        401
    );

    // Resolution needs no sign-in.
    let public = TestApp::new_client();
    let resolve = |id: &str| {
        let c = public.clone();
        let url = app.url(&format!(
            "/api/v1/resolve?id={}",
            url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        ));
        async move { c.get(url).send().await.unwrap() }
    };
    // A code no record carries yet answers like one never issued: nothing to learn of how many
    // codes a subject holds.
    let res = resolve(&codes[1]).await;
    assert_eq!(res.status(), 404);
    assert!(problem(res).await["detail"].as_str().unwrap().contains("没有追溯记录使用"));
    // A mistyped code fails its check character; a well-formed one never issued is unknown.
    let mut typo = codes[0].clone().into_bytes();
    typo[20] = if typo[20] == b'9' { b'8' } else { b'9' };
    assert_eq!(resolve(&String::from_utf8(typo).unwrap()).await.status(), 404);
    let never = codes[0].replace("0000000001", "0000000099");
    assert_eq!(resolve(&never).await.status(), 404);

    // A record carrying a platform code: the resolution points at its public page.
    let mut harvest = record("c-1", "primary_production", "harvest", &farm, "B9");
    harvest["trace_codes"] = json!([codes[0], batch["codes"][0], "(01)06901234567892(21)SN-7"]);
    let res = sd.admin.post(app.url("/api/v1/trace/events")).json(&json!({"events": [harvest]})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let r: Value = resolve(&codes[0]).await.json().await.unwrap();
    assert_eq!(
        (r["form"].as_str(), r["identifies"].as_str(), r["subject_name"].as_str(), r["records"].as_u64()),
        (Some("platform_code"), Some("item"), Some("寿光蔬菜集团"), Some(1)),
        "{r}"
    );
    assert_eq!(r["public_url"].as_str(), Some(app.url(&format!("/t/{}", codes[0])).as_str()));
    let r: Value = resolve(batch["codes"][0].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!((r["identifies"].as_str(), r["batch_no"].as_str()), (Some("batch"), Some("B9")));

    // GS1: a Digital Link and an element string name the same item; the GTIN names the product.
    let product: Value = sd
        .admin
        .post(app.url("/api/v1/products"))
        .json(&json!({"name": "寿光番茄", "category_code": "0101", "unit": "箱", "gtin": "6901234567892",
                      "enterprise_code": farm, "submit": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pid = product["id"].as_str().unwrap();
    assert_eq!(sd.admin.post(app.url(&format!("/api/v1/products/{pid}/approve"))).send().await.unwrap().status(), 200);
    let r: Value = resolve("https://id.example.cn/01/06901234567892/21/SN-7").await.json().await.unwrap();
    assert_eq!(
        (r["form"].as_str(), r["identifies"].as_str(), r["product_name"].as_str(), r["records"].as_u64()),
        (Some("gs1_digital_link"), Some("item"), Some("寿光番茄"), Some(1)),
        "{r}"
    );
    assert_eq!(r["trace_code"], "(01)06901234567892(21)SN-7");
    let r: Value = resolve("(01)06901234567892(10)B9").await.json().await.unwrap();
    assert_eq!((r["identifies"].as_str(), r["batch_no"].as_str()), (Some("batch"), Some("B9")), "{r}");
    assert!(r["public_url"].is_null(), "no record carries that element string: no page to point at");
    // Only the producer codes its products.
    let res = issue(&sd.admin, json!({"subject_code": farm, "kind": "item", "product_code": "P3700000000009X"})).await;
    assert_eq!(problem(res).await["errors"][0]["field"], "product_code");
    let r: Value = resolve("6901234567892").await.json().await.unwrap();
    assert_eq!((r["form"].as_str(), r["identifies"].as_str()), (Some("gtin"), Some("product")));
    let res = resolve("(01)06901234567893").await;
    let p = problem(res).await;
    assert_eq!(p["errors"][0]["field"], "id");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("应为 2"), "{p}");
    // Filing codes and unknown identifiers.
    let r: Value = resolve(&farm).await.json().await.unwrap();
    assert_eq!((r["form"].as_str(), r["identifies"].as_str()), (Some("filing_code"), Some("enterprise")));
    assert_eq!(resolve("nothing-like-this").await.status(), 404);
}

#[tokio::test]
async fn the_public_sees_public_fields_only_and_every_query_counts() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let market = app.approved_enterprise(&sd.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;
    let mut harvest = record("p-1", "primary_production", "harvest", &farm, "B1");
    harvest["trace_codes"] = json!(["SG-0001"]);
    let mut test = record("p-2", "testing", "inspect", &farm, "B1");
    test["trace_codes"] = json!(["SG-0001"]);
    test["inspection"] = json!({"item": "农药残留", "result": "pass", "report_no": "SG-2026-0001"});
    let mut ship = record("p-3", "transport", "ship", &farm, "B1");
    ship["trace_codes"] = json!(["SG-0001"]);
    ship["counterpart_code"] = json!(market);
    ship["price"] = json!(4.2);
    ship["amount"] = json!(5040.0);
    ship["extra"] = json!({"车牌号": "鲁G12345"});
    let res = sd
        .admin
        .post(app.url("/api/v1/trace/events"))
        .json(&json!({"events": [harvest, test, ship]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let public = TestApp::new_client();
    let get = |code: &str| {
        let c = public.clone();
        let url = app.url(&format!("/api/v1/public/trace/{code}"));
        async move { c.get(url).send().await.unwrap() }
    };
    let res = get("SG-0001").await;
    assert_eq!(res.status(), 200, "no sign-in needed");
    let text = res.text().await.unwrap();
    let t: Value = serde_json::from_str(&text).unwrap();
    // Every field, and nothing else: no prices, no contacts, no subjects' codes, no batch.
    let mut keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "category_code",
            "code",
            "first_queried_at",
            "origin_division_code",
            "origin_name",
            "product_name",
            "queries",
            "stages",
            "warning"
        ]
    );
    let mut stage_keys: Vec<&str> = t["stages"][0].as_object().unwrap().keys().map(String::as_str).collect();
    stage_keys.sort_unstable();
    assert_eq!(stage_keys, ["action", "date", "division_code", "stage", "test_item", "test_passed"]);
    // The query timestamp's digits may contain "4.2" by chance: look for secrets in everything else.
    let mut values = t.clone();
    let first = values.as_object_mut().unwrap().remove("first_queried_at").unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(first.as_str().unwrap()).is_ok(), "a time and nothing else: {first}");
    let values = values.to_string();
    for secret in
        ["4.2", "5040", "0531-88881234", "鲁G12345", "B1", "p-1", &farm, &market, "济南示范批发市场", "SG-2026-0001"]
    {
        assert!(!values.contains(secret), "the public answer leaks {secret}: {text}");
    }
    assert_eq!((t["product_name"].as_str(), t["origin_name"].as_str()), (Some("寿光番茄"), Some("寿光示范蔬菜集团")));
    assert_eq!(t["stages"].as_array().unwrap().len(), 3);
    assert_eq!(
        (t["stages"][1]["stage"].as_str(), t["stages"][1]["test_passed"].as_bool()),
        (Some("产品检测"), Some(true))
    );
    assert_eq!(t["stages"][0]["date"], "2026-11-20", "the date where it happened");
    assert_eq!((t["queries"].as_i64(), t["warning"].is_null()), (Some(1), true));

    // Queries are written in the background, in batches: the count follows within moments.
    let mut queries = 0;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        queries = get("SG-0001").await.json::<Value>().await.unwrap()["queries"].as_i64().unwrap();
        if queries >= 3 {
            break;
        }
    }
    assert!(queries >= 3, "every query counts: {queries}");
    // Each query is kept for analysis (R-ANA-3) with the product's category (none here: no
    // product filing), the type of the subject that last handled it and the region where it
    // reached the consumer. (The count above is this replica's own tally; the rows follow with
    // the writer's next batch.)
    let recorded = "SELECT count(*) AS n FROM trace_code_queries WHERE code = 'SG-0001' AND found";
    let rows = app.scalar_reaching(recorded, 3).await;
    assert!(rows >= 3, "every query is recorded: {rows}");
    let other = "AND (subject_type IS NULL OR subject_type <> 'producer' OR consumer_region IS NULL \
                 OR consumer_region <> '370783')";
    assert_eq!(app.scalar(&format!("{recorded} {other}")).await, 0, "the farm shipped it last");

    // Answers are cached; a new record carrying the code replaces the cached answer at once,
    // also for a code that was not found before.
    assert_eq!(get("NEW-0001").await.status(), 404);
    let missed = "SELECT count(*) AS n FROM trace_code_queries WHERE code = 'NEW-0001' AND NOT found \
                  AND category_code IS NULL AND subject_type IS NULL AND consumer_region IS NULL";
    assert_eq!(app.scalar_reaching(missed, 1).await, 1, "a query for an unknown code is recorded too, bare");
    let mut fresh = record("p-6", "primary_production", "harvest", &farm, "B6");
    fresh["trace_codes"] = json!(["NEW-0001"]);
    sd.admin.post(app.url("/api/v1/trace/events")).json(&json!({"events": [fresh]})).send().await.unwrap();
    assert_eq!(get("NEW-0001").await.status(), 200, "the cached 'not found' is gone");
    // A new record shows in the next answer.
    let mut sell = record("p-4", "sale", "sell", &market, "B1");
    sell["trace_codes"] = json!(["SG-0001"]);
    sell["division_code"] = json!("370104");
    sd.admin.post(app.url("/api/v1/trace/events")).json(&json!({"events": [sell]})).send().await.unwrap();
    let t: Value = get("SG-0001").await.json().await.unwrap();
    assert_eq!(t["stages"].as_array().unwrap().len(), 4);
    // The market sold it last, in Jinan: the queries from now on say so.
    let sold = "SELECT count(*) AS n FROM trace_code_queries WHERE code = 'SG-0001' AND subject_type = 'market' \
                AND consumer_region = '370104'";
    assert_eq!(
        app.scalar_reaching(sold, 1).await,
        1,
        "the query after the sale is recorded with the market and its region"
    );

    // The analysis of the queries (R-ANA-3): a tenant sees the queries of products sold in its
    // region, the nation sees all, a sibling province none of them.
    let stats = |who: &reqwest::Client, q: &str| {
        let c = who.clone();
        let url = app.url(&format!("/api/v1/trace/queries/statistics?{q}"));
        async move { c.get(url).send().await.unwrap() }
    };
    let figure = |v: &Value, key: &str| {
        v["figures"].as_array().unwrap().iter().find(|f| f["key"] == key).unwrap()["value"].as_i64().unwrap()
    };
    let chart =
        |v: &Value, key: &str| v["charts"].as_array().unwrap().iter().find(|c| c["key"] == key).unwrap().clone();
    let in_db = app.scalar("SELECT count(*) AS n FROM trace_code_queries WHERE consumer_region LIKE '37%'").await;
    let mine: Value = stats(&sd.admin, "").await.json().await.unwrap();
    assert_eq!(figure(&mine, "queries"), in_db, "{mine}");
    assert_eq!(figure(&mine, "codes"), 2, "SG-0001 and NEW-0001 were found so far");
    let regions = chart(&mine, "by_region");
    assert_eq!(
        regions["categories"],
        json!(["潍坊市", "济南市"]),
        "Weifang (the farm) before Jinan (the market), named from the division table: {regions}"
    );
    let types = chart(&mine, "by_subject_type");
    assert!(types["categories"].as_array().unwrap().contains(&json!("批发市场")), "{types}");
    let all: Value = stats(&national, "days=7").await.json().await.unwrap();
    assert!(figure(&all, "queries") > in_db, "the nation also counts the unknown codes' queries: {all}");
    assert_eq!(chart(&all, "by_region")["categories"][0], "山东省", "provinces by name");
    let js = app.onboard(&national, "320000", "江苏省").await;
    let theirs: Value = stats(&js.admin, "").await.json().await.unwrap();
    assert_eq!((figure(&theirs, "queries"), figure(&theirs, "codes")), (0, 0), "{theirs}");
    let res = stats(&js.admin, "region=370000").await;
    assert_eq!(res.status(), 403, "another province's region is refused");
    assert_eq!(problem(stats(&sd.admin, "days=0").await).await["errors"][0]["field"], "days");
    let html = sd.admin.get(app.url("/console/query-analysis")).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("查询行为分析") && html.contains("data-chart-src=\"/api/v1/trace/queries/statistics"),
        "{html}"
    );

    // A single item's code queried very often carries the counterfeit warning.
    let mut item = record("p-5", "sale", "sell", &market, "B1");
    item["trace_codes"] = json!(["ITEM-0001"]);
    item["quantity"] = json!(1);
    item["division_code"] = json!("370104");
    sd.admin.post(app.url("/api/v1/trace/events")).json(&json!({"events": [item]})).send().await.unwrap();
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO trace_code_stats (code, queries, first_at, last_at) VALUES ('ITEM-0001', 40, '{now}', '{now}')",
            now = "2026-11-01T00:00:00+00:00"
        ))
        .await
        .unwrap();
    let t: Value = get("ITEM-0001").await.json().await.unwrap();
    assert!(t["warning"].as_str().unwrap().contains("可能是假冒"), "{t}");

    // The QR code for the label opens the code's public page.
    let res = public.get(app.url("/api/v1/public/trace/SG-0001/qr")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "image/png");
    let png = image::load_from_memory(&res.bytes().await.unwrap()).unwrap().to_luma8();
    let mut grid = rqrr::PreparedImage::prepare(png);
    let (_, content) = grid.detect_grids()[0].decode().unwrap();
    assert_eq!(content, app.url("/t/SG-0001"), "the QR code holds the public page's address");
    let res = public.get(app.url("/api/v1/public/trace/SG-0001/qr?format=svg")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    assert!(res.text().await.unwrap().contains("<svg"));
    let res = public.get(app.url("/api/v1/public/trace/SG-0001/qr?size=5")).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "size");

    // Unknown and malformed codes; the page for people.
    assert_eq!(get("NOPE-0000").await.status(), 404);
    assert_eq!(problem(get("%3Cscript%3E").await).await["errors"][0]["field"], "code");
    let page = public.get(app.url("/t/SG-0001")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("寿光番茄") && html.contains("农药残留：合格") && html.contains("已被查询"),
        "the page shows it"
    );
    assert_eq!(public.get(app.url("/t/NOPE-0000")).send().await.unwrap().status(), 404);
}

/// With Redis, an ingest on one replica drops the cached public answer on the others at once;
/// without Redis (embedded, one replica by design) the other replica's answer waits for its
/// minute in the cache.
#[tokio::test]
async fn with_redis_an_ingest_refreshes_the_public_answer_on_every_replica() {
    let app = spawn_app().await;
    let replica = app.replica(|_| {}).await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let mut harvest = record("r-1", "primary_production", "harvest", &farm, "R1");
    harvest["trace_codes"] = json!(["RC-0001"]);
    sd.admin.post(app.url("/api/v1/trace/events")).json(&json!({"events": [harvest]})).send().await.unwrap();
    let public = TestApp::new_client();
    let stages = |url: String| {
        let c = public.clone();
        async move { c.get(url).send().await.unwrap().json::<Value>().await.unwrap()["stages"].as_array().unwrap().len() }
    };
    assert_eq!(stages(replica.url("/api/v1/public/trace/RC-0001")).await, 1, "now cached on the replica");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut test = record("r-2", "testing", "inspect", &farm, "R1");
    test["trace_codes"] = json!(["RC-0001"]);
    test["inspection"] = json!({"item": "农药残留", "result": "pass", "report_no": "R-1"});
    let res = sd.admin.post(app.url("/api/v1/trace/events")).json(&json!({"events": [test]})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(stages(app.url("/api/v1/public/trace/RC-0001")).await, 2, "the ingesting replica at once");
    let mut seen = false;
    for _ in 0..20 {
        if stages(replica.url("/api/v1/public/trace/RC-0001")).await == 2 {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    match suyuan_tests::redis_url() {
        Some(_) => assert!(seen, "the Redis notice reached the other replica within 2 s"),
        None => assert!(!seen, "without Redis the other replica keeps its cached answer for the minute"),
    }
}

/// Records from a file go through the same checks: a bad row is named by its row in the file
/// and nothing is written; a good file is written once, however often it is sent (R-IF-3).
#[tokio::test]
async fn records_import_from_csv_and_xlsx_with_the_ingest_checks() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let market = app.approved_enterprise(&sd.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;
    let send = |body: Vec<u8>, content_type: &'static str| {
        let (c, url) = (sd.admin.clone(), app.url("/api/v1/trace/events/import"));
        async move { c.post(url).header("content-type", content_type).body(body).send().await.unwrap() }
    };
    let header = "记录编号,环节,动作,主体编码,产品名称,批次号,追溯码,数量,单位,发生时间,地区代码,交易对方编码,检测项目,检测结果,检测报告编号\n";
    let good = format!(
        "{header}f-1,初级生产,采收,{farm},寿光番茄,F1,F-0001,1200,kg,2026-11-20 06:30,370783,,,,\n\
         f-2,产品检测,检测,{farm},寿光番茄,F1,F-0001,1200,kg,2026-11-20 08:00,370783,,农药残留,合格,R-1\n\
         f-3,产品运输,发货,{farm},寿光番茄,F1,F-0001,1200,kg,2026-11-20 09:00,370783,{market},,,\n"
    );
    let bad =
        good.replace(",1200,kg,2026-11-20 08:00", ",-5,kg,2026-11-20 08:00").replace(&format!(",{market},"), ",,");
    let res = send(bad.into_bytes(), "text/csv").await;
    let p = problem(res).await;
    let fields: Vec<_> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        ["rows[3].quantity", "rows[4].counterpart_code"],
        "the file's rows, the header being row 1: {p}"
    );
    assert_eq!(count(&app, "trace_events").await, 0, "nothing written");

    let res = send(good.clone().into_bytes(), "text/csv").await;
    assert_eq!(res.status(), 200);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["accepted"], 3, "{first}");
    let again: Value = send(good.into_bytes(), "text/csv").await.json().await.unwrap();
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(3)));
    let t: Value =
        TestApp::new_client().get(app.url("/api/v1/public/trace/F-0001")).send().await.unwrap().json().await.unwrap();
    assert_eq!((t["stages"].as_array().unwrap().len(), t["stages"][1]["test_passed"].as_bool()), (3, Some(true)));

    // The same as a workbook.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let rows = [
        header.trim().split(',').map(str::to_owned).collect::<Vec<_>>(),
        vec![
            "x-1",
            "sale",
            "receive",
            &market,
            "寿光番茄",
            "F1",
            "F-0001",
            "1200",
            "kg",
            "2026-11-20T18:00:00+08:00",
            "370104",
            &farm,
            "",
            "",
            "",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect(),
    ];
    for (r, row) in (0u32..).zip(&rows) {
        for (c, v) in (0u16..).zip(row) {
            sheet.write_string(r, c, v).unwrap();
        }
    }
    // The time as Excel keeps a typed date: a day count with a date format, read as China time.
    let when = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 11, 20).unwrap().and_hms(18, 0, 0).unwrap();
    let format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm");
    sheet.write_datetime_with_format(1, 9, &when, &format).unwrap();
    let res =
        send(book.save_to_buffer().unwrap(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet").await;
    assert_eq!(res.json::<Value>().await.unwrap()["accepted"], 1);
    let t: Value =
        TestApp::new_client().get(app.url("/api/v1/public/trace/F-0001")).send().await.unwrap().json().await.unwrap();
    assert_eq!(t["stages"].as_array().unwrap().len(), 4, "the import refreshed the cached public answer");
    let list: Value = sd
        .admin
        .get(app.url(&format!("/api/v1/trace/events?subject={market}&stage=sale")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(list["items"][0]["event_time"].as_str().unwrap()).unwrap();
    assert_eq!(at.to_utc().to_rfc3339(), "2026-11-20T10:00:00+00:00", "18:00 China time from an Excel date cell");

    // Missing columns and a form's content type are refused.
    let res = send("记录编号,环节\nf-9,初级生产\n".as_bytes().to_vec(), "text/csv").await;
    let p = problem(res).await;
    assert_eq!(p["errors"][0]["field"], "file");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("缺少列"), "{p}");
    assert_eq!(send(b"a=b".to_vec(), "application/x-www-form-urlencoded").await.status(), 415);
}

/// A batch partly sent before (a client retrying after a timeout, with new records added): only
/// the new records are written, with their edges, codes and statistics; the old ones are
/// answered with their stored ids. On PostgreSQL the whole batch is first copied in and the
/// unique index refuses that copy; the records are then offered one by one.
#[tokio::test]
async fn a_batch_partly_sent_before_writes_only_its_new_records() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let market = app.approved_enterprise(&sd.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;
    let push = |body: Value| {
        let c = sd.admin.clone();
        let url = app.url("/api/v1/trace/events");
        async move { c.post(url).json(&body).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let mut ship = record("r-2", "transport", "ship", &farm, "B1");
    ship["counterpart_code"] = json!(market);
    let first =
        push(json!({"events": [record("r-1", "primary_production", "harvest", &farm, "B1"), ship.clone()]})).await;
    assert_eq!(first["accepted"], 2, "{first}");

    let mut onward = record("r-3", "transport", "ship", &farm, "B2");
    onward["counterpart_code"] = json!(market);
    onward["trace_codes"] = json!(["TC-NEW-1", "TC-NEW-2"]);
    let again = push(json!({"events": [ship, onward]})).await;
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(1), Some(1)), "{again}");
    assert_eq!(again["events"][0]["id"], first["events"][1]["id"], "the stored record's id");
    assert_eq!(again["events"][0]["duplicate"], true);
    assert_eq!(again["events"][1]["duplicate"], false);
    assert_eq!((count(&app, "trace_events").await, count(&app, "trace_lineage").await), (3, 2));
    assert_eq!(count(&app, "trace_code_index").await, 4, "TC-B1 twice, and the new record's two codes");
    let records = app.scalar("SELECT CAST(SUM(records) AS BIGINT) AS n FROM trace_stats_daily").await;
    assert_eq!(records, 3, "the repeated record is counted once");
}

/// A batch of several pieces (on PostgreSQL the first pieces are already copied in while the
/// later ones are checked): a bad record near the end writes nothing at all; the batch put
/// right is written whole; sent again with more records added, only the new ones are written.
#[tokio::test]
async fn a_large_batch_with_a_late_bad_record_writes_nothing() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let market = app.approved_enterprise(&sd.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;
    let push = |events: &[Value]| {
        let c = sd.admin.clone();
        let url = app.url("/api/v1/trace/events");
        let body = json!({ "events": events });
        async move {
            let res = c.post(url).json(&body).send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let records: Vec<Value> = (0..450)
        .map(|i| {
            let mut r = record(&format!("L-{i}"), "transport", "ship", &farm, &format!("L{i}"));
            r["counterpart_code"] = json!(market);
            r
        })
        .collect();
    let written = || async {
        (
            count(&app, "trace_events").await,
            count(&app, "trace_lineage").await,
            count(&app, "trace_code_index").await,
            app.scalar("SELECT COUNT(*) AS n FROM outbox WHERE kind = 'statistics.delta'").await,
        )
    };

    let mut bad = records.clone();
    bad[430]["quantity"] = json!(-1);
    bad[431]["client_event_id"] = json!("L-5");
    let (status, p) = push(&bad).await;
    assert_eq!(status, 422, "{p}");
    let fields: Vec<_> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["events[430].quantity", "events[431].client_event_id"]);
    assert_eq!(written().await, (0, 0, 0, 0), "nothing of the first pieces stays");
    assert_eq!(app.audit_rows("trace_event.ingest").await, 0);

    let (status, first) = push(&records[..300]).await;
    assert_eq!((status, first["accepted"].as_u64()), (200, Some(300)), "{first}");
    // Two pieces, every record new: on PostgreSQL the edges and codes are encoded after the last
    // piece went into the copy, and all of them are written.
    assert_eq!(written().await, (300, 300, 300, 1));
    let (status, again) = push(&records).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(150), Some(300)));
    assert_eq!(again["events"][299]["id"], first["events"][299]["id"], "the stored record's id");
    assert_eq!(again["events"][300]["duplicate"], false);
    assert_eq!(written().await, (450, 450, 450, 2));
    let records = app.scalar("SELECT CAST(SUM(records) AS BIGINT) AS n FROM trace_stats_daily").await;
    assert_eq!(records, 450, "each record counted once");
}
