//! R-SHAPE-3, R-ARCH-1, R-EMG-3, R-PUB-3 (issue 18, items 5 and 8): every quantity carries a
//! unit from the code list (reference data, `GET /api/v1/trace/units`); an unknown unit is
//! refused by name; statistics and the roll-up keep each stage and unit apart (a conversion is
//! applied where one exists); flows and their CSV show the unit; stages and actions are
//! labelled by what happened (a market's receipt is 批发进货, not consumption).

use std::time::Duration;

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use suyuan_tests::{TestApp, problem, spawn_app};

#[allow(clippy::too_many_arguments, reason = "a record's fields, named at the call")]
fn record(id: &str, stage: &str, action: &str, subject: &str, batch: &str, quantity: f64, unit: &str) -> Value {
    json!({"client_event_id": id, "stage": stage, "action": action, "subject_code": subject,
           "product_name": "寿光番茄", "batch_no": batch, "trace_codes": [format!("U-{batch}")],
           "quantity": quantity, "unit": unit, "event_time": "2026-11-20T06:30:00+08:00",
           "division_code": "370783"})
}

async fn ingest(app: &TestApp, client: &reqwest::Client, events: Vec<Value>) -> reqwest::Response {
    client.post(app.url("/api/v1/trace/events")).json(&json!({ "events": events })).send().await.unwrap()
}

async fn rows(app: &TestApp, sql: &str) -> Vec<(String, String, f64)> {
    // The statistics deltas are applied with the ingests' queued audit entries.
    app.settle().await;
    app.db
        .query_all_raw(sea_orm::Statement::from_string(app.db.get_database_backend(), sql.to_owned()))
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (r.try_get::<String>("", "stage").unwrap(), r.try_get::<String>("", "unit").unwrap(), {
                r.try_get::<f64>("", "q").unwrap()
            })
        })
        .collect()
}

#[tokio::test]
async fn units_are_reference_data_and_an_unknown_unit_is_refused_by_name() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;

    let res = sd.admin.get(app.url("/api/v1/trace/units")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let units: Value = res.json().await.unwrap();
    let unit = |code: &str| units.as_array().unwrap().iter().find(|u| u["code"] == code).cloned().unwrap();
    assert_eq!(unit("kg")["name"], "千克");
    assert_eq!(unit("kg")["dimension"], "mass");
    assert_eq!((unit("t")["base_code"].as_str(), unit("t")["factor"].as_f64()), (Some("kg"), Some(1000.0)));
    assert_eq!(
        (unit("箱")["base_code"].as_str(), unit("箱")["factor"].as_f64()),
        (None, None),
        "a box converts to nothing"
    );
    for code in ["g", "件", "头", "只", "羽", "L", "mL", "瓶", "袋"] {
        unit(code);
    }
    // Signed in only.
    let res = TestApp::new_client().get(app.url("/api/v1/trace/units")).send().await.unwrap();
    assert_eq!(res.status(), 401);

    // An unknown unit: 422 naming the field, nothing written.
    let res = ingest(
        &app,
        &sd.admin,
        vec![
            record("u-1", "primary_production", "harvest", &farm, "B1", 10.0, "kg"),
            record("u-2", "primary_production", "harvest", &farm, "B2", 10.0, "筐子"),
        ],
    )
    .await;
    let p = problem(res).await;
    assert_eq!(p["status"], 422, "{p}");
    let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["events[1].unit"], "{p}");
    assert_eq!(app.scalar("SELECT COUNT(*) AS n FROM trace_events").await, 0);
    let res = ingest(&app, &sd.admin, vec![record("u-3", "primary_production", "harvest", &farm, "B3", 1.0, "")]).await;
    assert_eq!(problem(res).await["errors"][0]["field"], "events[0].unit");

    // The code, or another spelling the list knows (公斤), is stored as the code.
    let res =
        ingest(&app, &sd.admin, vec![record("u-4", "primary_production", "harvest", &farm, "B4", 5.0, "公斤")]).await;
    assert_eq!(res.status(), 200);
    let list: Value = sd.admin.get(app.url("/api/v1/trace/events")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"][0]["unit"], "kg");
}

#[tokio::test]
async fn kilograms_and_boxes_are_never_summed_nor_stages_in_statistics_and_the_rollup() {
    let app = TestApp::builder().with_settings(|s| s.federation_delivery = true).spawn().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let market = app.approved_enterprise(&sd.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;

    // The same 1 000 kg harvested, shipped and received; another harvest of 1 t; 50 boxes.
    let mut ship = record("s-2", "transport", "ship", &farm, "B1", 1000.0, "kg");
    ship["counterpart_code"] = json!(market);
    let mut receive = record("s-3", "sale", "receive", &market, "B1", 1000.0, "kg");
    receive["counterpart_code"] = json!(farm);
    let res = ingest(
        &app,
        &sd.admin,
        vec![
            record("s-1", "primary_production", "harvest", &farm, "B1", 1000.0, "kg"),
            ship,
            receive,
            record("s-4", "primary_production", "harvest", &farm, "B2", 1.0, "t"),
            record("s-5", "primary_production", "harvest", &farm, "B3", 50.0, "箱"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    let mut stats = rows(
        &app,
        "SELECT stage, unit, SUM(quantity) AS q FROM trace_stats_daily GROUP BY stage, unit ORDER BY stage, unit",
    )
    .await;
    stats.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(
        stats,
        [
            ("primary_production".to_owned(), "kg".to_owned(), 2000.0),
            ("primary_production".to_owned(), "箱".to_owned(), 50.0),
            ("sale".to_owned(), "kg".to_owned(), 1000.0),
            ("transport".to_owned(), "kg".to_owned(), 1000.0),
        ]
    );

    // The nation's roll-up: one figure per stage and unit, each labelled; no sum across them.
    let start = std::time::Instant::now();
    let r = loop {
        let r: Value = national.get(app.url("/api/v1/federation/rollup")).send().await.unwrap().json().await.unwrap();
        let sd_line = r["regions"].as_array().unwrap().iter().find(|x| x["code"] == "370000").cloned();
        if sd_line.is_some_and(|l| l["records"] == 5) {
            break r;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the roll-up did not arrive: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let sd_line = r["regions"].as_array().unwrap().iter().find(|x| x["code"] == "370000").unwrap();
    assert!(sd_line.get("quantity").is_none(), "no quantity summed across stages and units: {sd_line}");
    let mut figures: Vec<(String, String, String, String, f64)> = sd_line["quantities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["stage"].as_str().unwrap().to_owned(),
                q["stage_label"].as_str().unwrap().to_owned(),
                q["unit"].as_str().unwrap().to_owned(),
                q["unit_name"].as_str().unwrap().to_owned(),
                q["quantity"].as_f64().unwrap(),
            )
        })
        .collect();
    figures.sort_by(|a, b| (&a.0, &a.2).cmp(&(&b.0, &b.2)));
    let f =
        |s: &str, sl: &str, u: &str, un: &str, q: f64| (s.to_owned(), sl.to_owned(), u.to_owned(), un.to_owned(), q);
    assert_eq!(
        figures,
        [
            f("primary_production", "初级生产", "kg", "千克", 2000.0),
            f("primary_production", "初级生产", "箱", "箱", 50.0),
            f("sale", "流通销售", "kg", "千克", 1000.0),
            f("transport", "产品运输", "kg", "千克", 1000.0),
        ]
    );
    assert_eq!(r["total"]["quantities"].as_array().unwrap().len(), 4, "{r}");

    // The quantity map names what it shows: a stage and a unit are required.
    let res = national.get(app.url("/api/v1/federation/rollup/map?metric=quantity")).send().await.unwrap();
    let p = problem(res).await;
    assert_eq!((p["status"].as_u64(), p["errors"][0]["field"].as_str()), (Some(422), Some("stage")), "{p}");
    let map: Value = national
        .get(app.url("/api/v1/federation/rollup/map?metric=quantity&stage=primary_production&unit=kg"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(map["unit"], "千克", "{map}");
    assert!(map["metric"].as_str().unwrap().contains("初级生产"), "{map}");
    let value = map["regions"].as_array().unwrap().iter().find(|x| x["code"] == "370000").unwrap()["value"].as_f64();
    assert_eq!(value, Some(2000.0));

    // The console's roll-up page shows the same figures with their stage and unit.
    let page = national.get(app.url("/console/rollup")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("初级生产") && page.contains("千克") && page.contains("箱"), "{page}");
}

#[tokio::test]
async fn flows_and_their_csv_show_units() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let market = app.approved_enterprise(&sd.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;
    let mut ship = record("f-2", "transport", "ship", &farm, "B1", 1000.0, "kg");
    ship["counterpart_code"] = json!(market);
    let mut pack = record("f-3", "processing", "package", &farm, "P1", 80.0, "箱");
    pack["inputs"] = json!([{"batch_no": "B1", "quantity": 400.0, "unit": "kg"}, {"batch_no": "B0", "quantity": 3.0}]);
    let mut bad = record("f-4", "processing", "package", &farm, "P2", 80.0, "箱");
    bad["inputs"] = json!([{"batch_no": "B1", "quantity": 1.0, "unit": "筐"}]);
    let res = ingest(&app, &sd.admin, vec![bad]).await;
    assert_eq!(problem(res).await["errors"][0]["field"], "events[0].inputs[0].unit");
    let res = ingest(
        &app,
        &sd.admin,
        vec![record("f-1", "primary_production", "harvest", &farm, "B1", 1000.0, "kg"), ship, pack],
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    let chain: Value = sd
        .admin
        .get(app.url(&format!("/api/v1/trace/chain?batch=B1&subject={farm}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let flow = |kind: &str, from_batch: &str| {
        chain["flows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == kind && f["from"].as_str().unwrap().ends_with(&format!("|{from_batch}")))
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} flow from {from_batch}: {chain}"))
    };
    assert_eq!(
        (flow("ship", "B1")["quantity"].as_f64(), flow("ship", "B1")["unit"].as_str()),
        (Some(1000.0), Some("kg"))
    );
    assert_eq!(
        (flow("process", "B1")["quantity"].as_f64(), flow("process", "B1")["unit"].as_str()),
        (Some(400.0), Some("kg"))
    );

    let csv = sd
        .admin
        .get(app.url(&format!("/api/v1/trace/chain?batch=B1&subject={farm}&format=csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut lines = csv.trim_start_matches('\u{feff}').lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no {name}: {csv}"));
    let (quantity, unit) = (at("数量"), at("单位"));
    let cells: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(cells.iter().any(|c| c[quantity] == "1000" && c[unit] == "kg"), "{csv}");
    assert!(cells.iter().any(|c| c[quantity] == "400" && c[unit] == "kg"), "{csv}");
    // An input reported without a unit shows none: nothing is made up.
    let chain0: Value = sd
        .admin
        .get(app.url(&format!("/api/v1/trace/chain?batch=P1&subject={farm}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let f0 = chain0["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["from"].as_str().unwrap().ends_with("|B0"))
        .unwrap_or_else(|| panic!("{chain0}"));
    assert_eq!((f0["quantity"].as_f64(), f0["unit"].is_null()), (Some(3.0), true), "{chain0}");
}

#[tokio::test]
async fn a_markets_receipt_is_labelled_a_purchase_not_consumption() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let market = app.approved_enterprise(&sd.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;
    let mut ship = record("l-2", "transport", "ship", &farm, "B1", 1000.0, "kg");
    ship["counterpart_code"] = json!(market);
    let mut receive = record("l-3", "sale", "receive", &market, "B1", 1000.0, "kg");
    receive["counterpart_code"] = json!(farm);
    receive["division_code"] = json!("370104");
    let res = ingest(
        &app,
        &sd.admin,
        vec![record("l-1", "primary_production", "harvest", &farm, "B1", 1000.0, "kg"), ship, receive],
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    let public = TestApp::new_client();
    let answer: Value = public.get(app.url("/api/v1/public/trace/U-B1")).send().await.unwrap().json().await.unwrap();
    let stages = answer["stages"].as_array().unwrap();
    let receipt = stages.iter().find(|s| s["division_code"] == "370104").unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(
        (receipt["stage"].as_str(), receipt["action"].as_str()),
        (Some("流通销售"), Some("批发进货")),
        "{answer}"
    );
    for s in stages {
        assert!(!s.to_string().contains("消费"), "nothing here was consumed: {answer}");
    }
    let page = public.get(app.url("/t/U-B1")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("批发进货") && !page.contains("消费或使用"), "{page}");

    // The console says the same.
    let list = sd.admin.get(app.url("/console/trace")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("流通销售 · 批发进货") && !list.contains("消费或使用"), "{list}");
}
