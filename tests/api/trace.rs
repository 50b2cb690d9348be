//! R-ARCH-1, R-IF-4, R-REL-2 (trace record ingest): a whole batch checked before anything is
//! written, every bad record named; idempotent on the client's event id; lineage edges for
//! processing and shipping; the search (R-SUBJ-5) and the tenant boundary.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use suyuan_tests::{TestApp, problem, spawn_app};

async fn approved(
    app: &TestApp,
    admin: &reqwest::Client,
    name: &str,
    uscc: &str,
    kind: &str,
    division: &str,
) -> String {
    let e: Value = admin
        .post(app.url("/api/v1/enterprises"))
        .json(&json!({"name": name, "uscc": uscc, "enterprise_type": kind, "categories": ["0101"], "stages": ["sale"],
                      "address": "地址", "division_code": division, "contact_name": "李", "contact_phone": "0531-88881234",
                      "submit": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = admin
        .post(app.url(&format!("/api/v1/enterprises/{}/approve", e["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    e["code"].as_str().unwrap().to_owned()
}

fn record(id: &str, stage: &str, action: &str, subject: &str, batch: &str) -> Value {
    json!({"client_event_id": id, "stage": stage, "action": action, "subject_code": subject,
           "product_name": "寿光番茄", "batch_no": batch, "trace_codes": [format!("TC-{batch}")],
           "quantity": 1200.0, "unit": "kg", "event_time": "2026-11-20T06:30:00+08:00",
           "division_code": "370783", "longitude": 118.79, "latitude": 36.86})
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

#[tokio::test]
async fn a_batch_is_checked_whole_written_once_and_linked() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let farm = approved(&app, &sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let market = approved(&app, &sd.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;
    let shop = approved(&app, &js.admin, "南京示范超市", "91370000MA3C5EX46G", "retailer", "320102").await;
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
    let a = approved(&app, &sd.admin, "甲农场", "91350100M000100Y43", "producer", "370783").await;
    let b = approved(&app, &sd.admin, "乙农场", "91110108551385082Q", "producer", "370783").await;
    let p = approved(&app, &sd.admin, "丙加工厂", "91370000MA3C5EX46G", "processor", "370102").await;
    let r1 = approved(&app, &sd.admin, "济南超市一", "91370100MA3C0001AE", "retailer", "370104").await;
    let r2 = approved(&app, &sd.admin, "济南超市二", "91370102MA3C0002BF", "retailer", "370104").await;
    let r3 = approved(&app, &js.admin, "南京超市", "92370102MA3C0000X2", "retailer", "320102").await;
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
    assert!(csv.trim_start_matches('\u{feff}').starts_with("流出主体,流入主体,类型,产品,批次,数量,时间"));
    assert!(csv.contains("丙加工厂,南京超市,销售流通,寿光番茄,P1,1200"), "{csv}");
}

#[tokio::test]
async fn the_public_sees_public_fields_only_and_every_query_counts() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let farm = approved(&app, &sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let market = approved(&app, &sd.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;
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
    for secret in
        ["4.2", "5040", "0531-88881234", "鲁G12345", "B1", "p-1", &farm, &market, "济南示范批发市场", "SG-2026-0001"]
    {
        assert!(!text.contains(secret), "the public answer leaks {secret}: {text}");
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

    // Answers are cached; a new record carrying the code replaces the cached answer at once,
    // also for a code that was not found before.
    assert_eq!(get("NEW-0001").await.status(), 404);
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
