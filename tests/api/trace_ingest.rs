//! R-IF-2, R-REL-2, R-EMG-3 (trace record ingest, issue 18): a record that cannot be read
//! refuses the whole batch and is named with its field and its place in the request; a reused
//! `client_event_id` with other content is a conflict (409), never a silent duplicate; every
//! record with a counterpart links the seller's batch to the buyer's, whichever side reports,
//! and a movement reported by both sides is one flow.

use serde_json::{Value, json};
use suyuan_tests::{TestApp, problem, spawn_app};

fn record(id: &str, stage: &str, action: &str, subject: &str, batch: &str) -> Value {
    json!({"client_event_id": id, "stage": stage, "action": action, "subject_code": subject,
           "product_name": "寿光番茄", "batch_no": batch, "trace_codes": [format!("TC-{batch}")],
           "quantity": 1200.0, "unit": "kg", "event_time": "2026-11-20T06:30:00+08:00",
           "division_code": "370783", "longitude": 118.79, "latitude": 36.86})
}

async fn written(app: &TestApp) -> (i64, i64, i64) {
    (
        app.scalar("SELECT COUNT(*) AS n FROM trace_events").await,
        app.scalar("SELECT COUNT(*) AS n FROM trace_lineage").await,
        app.scalar("SELECT COUNT(*) AS n FROM trace_code_index").await,
    )
}

fn fields(p: &Value) -> Vec<String> {
    p["errors"]
        .as_array()
        .map_or_else(Vec::new, |e| e.iter().map(|e| e["field"].as_str().unwrap_or_default().to_owned()).collect())
}

/// Sends `body` as it is written (its lines are the lines the answer counts).
async fn send_text(app: &TestApp, who: &reqwest::Client, body: String) -> reqwest::Response {
    who.post(app.url("/api/v1/trace/events"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_unreadable_record_refuses_the_whole_batch_and_is_named_where_it_is() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let good = record("u-1", "primary_production", "harvest", &farm, "B1").to_string();
    let with = |id: &str, key: &str, value: &str| {
        let mut r = record(id, "primary_production", "harvest", &farm, "B2");
        r[key] = json!("@@");
        r.to_string().replace("\"@@\"", value)
    };

    // A number no f64 holds, after a good record: the batch is refused whole, the record named
    // by its index and field, the line counted in the request (the record is on line 3).
    let res =
        send_text(&app, &sd.admin, format!("{{\"events\": [\n{good},\n{}\n]}}", with("u-2", "quantity", "-1e400")))
            .await;
    assert_eq!(res.status(), 422);
    let p = problem(res).await;
    assert_eq!(fields(&p), ["events[1].quantity"], "{p}");
    let message = p["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("第 3 行"), "the line in the request: {message}");
    assert_eq!(written(&app).await, (0, 0, 0), "nothing written");

    // The same record alone: refused, not counted as a duplicate.
    let res = send_text(&app, &sd.admin, format!("{{\"events\": [{}]}}", with("u-2", "quantity", "-1e400"))).await;
    let p = problem(res).await;
    assert_eq!((p["status"].as_u64(), fields(&p)), (Some(422), vec!["events[0].quantity".to_owned()]), "{p}");

    // `extra` nested 200 deep: past what is read; named at `extra`.
    let deep = format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200));
    let res = send_text(&app, &sd.admin, format!("{{\"events\": [{good}, {}]}}", with("u-3", "extra", &deep))).await;
    let p = problem(res).await;
    assert_eq!(p["status"], 422, "{p}");
    let named = fields(&p);
    assert_eq!(named.len(), 1, "{p}");
    assert!(named[0].starts_with("events[1].extra"), "{p}");
    assert!(named[0].len() < 100, "the path is cut short: {}", named[0]);

    // Type errors name the field, also inside a nested object and an array.
    let mut wrong = record("u-4", "primary_production", "harvest", &farm, "B4");
    wrong["longitude"] = json!("东经118度");
    let mut inputs = record("u-5", "processing", "process", &farm, "B5");
    inputs["inputs"] = json!([{"batch_no": "B1"}, {"batch_no": "B2", "quantity": "six"}]);
    let mut unknown = record("u-6", "primary_production", "harvest", &farm, "B6");
    unknown["colour"] = json!("red");
    let mut missing = record("u-7", "primary_production", "harvest", &farm, "B7");
    missing.as_object_mut().unwrap().remove("unit");
    let body = json!({"events": [json!(record("u-0", "primary_production", "harvest", &farm, "B0")), wrong, inputs, unknown, missing, 5]});
    let res = sd.admin.post(app.url("/api/v1/trace/events")).json(&body).send().await.unwrap();
    let p = problem(res).await;
    assert_eq!(
        fields(&p),
        ["events[1].longitude", "events[2].inputs[1].quantity", "events[3].colour", "events[4].unit", "events[5]"],
        "{p}"
    );
    let rules: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["type", "type", "unknown_field", "required", "type"], "{p}");
    assert_eq!(written(&app).await, (0, 0, 0));

    // The envelope itself: `events` of the wrong type is named as `events`.
    let res = sd.admin.post(app.url("/api/v1/trace/events")).json(&json!({"events": "all"})).send().await.unwrap();
    assert_eq!(fields(&problem(res).await), ["events"]);

    // A good batch is still written.
    let res = send_text(&app, &sd.admin, format!("{{\"events\": [{good}]}}")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(written(&app).await, (1, 0, 1));
}

#[tokio::test]
async fn a_reused_client_event_id_with_other_content_is_a_conflict() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let market = app.approved_enterprise(&sd.admin, "济南示范批发市场", "91110108551385082Q", "market", "370104").await;
    let shop = app.approved_enterprise(&js.admin, "南京示范超市", "91370000MA3C5EX46G", "retailer", "320102").await;
    let push = |who: &reqwest::Client, events: Vec<Value>| {
        let c = who.clone();
        let url = app.url("/api/v1/trace/events");
        async move { c.post(url).json(&json!({ "events": events })).send().await.unwrap() }
    };
    let mut ship = record("c-2", "transport", "ship", &farm, "B1");
    ship["counterpart_code"] = json!(market);
    let harvest = record("c-1", "primary_production", "harvest", &farm, "B1");
    let res = push(&sd.admin, vec![harvest.clone(), ship.clone()]).await;
    assert_eq!(res.status(), 200);
    let first: Value = res.json().await.unwrap();
    let before = written(&app).await;
    assert_eq!(before, (2, 1, 2));

    // The same content again (written differently: lower case, spaces): duplicates as before.
    let mut same = ship.clone();
    same["subject_code"] = json!(format!(" {} ", farm.to_lowercase()));
    let res = push(&sd.admin, vec![same]).await;
    assert_eq!(res.status(), 200);
    let again: Value = res.json().await.unwrap();
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(1)), "{again}");
    assert_eq!(again["events"][0]["id"], first["events"][1]["id"]);

    // The same id with another quantity, in a batch with a new record: 409 naming the id,
    // nothing written (not the new record either).
    let mut more = ship.clone();
    more["quantity"] = json!(999);
    let new = record("c-3", "primary_production", "harvest", &farm, "B3");
    let res = push(&sd.admin, vec![new.clone(), more]).await;
    assert_eq!(res.status(), 409);
    let p = problem(res).await;
    assert_eq!(p["code"], "idempotency_conflict", "{p}");
    assert_eq!(fields(&p), ["events[1].client_event_id"], "{p}");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("c-2"), "{p}");
    assert_eq!(written(&app).await, before, "nothing written");

    // Another time (on PostgreSQL the unique key holds the time: it must still be caught), and
    // another counterpart: conflicts too.
    let mut later = harvest.clone();
    later["event_time"] = json!("2026-11-21T06:30:00+08:00");
    let mut elsewhere = ship.clone();
    elsewhere["counterpart_code"] = json!(shop);
    let res = push(&sd.admin, vec![later, elsewhere]).await;
    let p = problem(res).await;
    assert_eq!(p["status"], 409, "{p}");
    assert_eq!(fields(&p), ["events[0].client_event_id", "events[1].client_event_id"], "{p}");
    assert_eq!(written(&app).await, before, "nothing written");
    assert_eq!(app.audit_rows("trace_event.ingest").await, 1);

    // The key is the tenant's own: Jiangsu may use `c-1` for a record of its own.
    let mine = record("c-1", "primary_production", "harvest", &shop, "J1");
    let res = push(&js.admin, vec![mine]).await;
    assert_eq!(res.status(), 200);
    let theirs: Value = res.json().await.unwrap();
    assert_eq!(theirs["accepted"], 1, "{theirs}");

    // The new record alone goes in once the conflicting one is left out.
    let res = push(&sd.admin, vec![new]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(written(&app).await.0, 4);

    // A file re-sent with a row changed: the same 409, the row named by its line in the file.
    let import = |csv: String| {
        let (c, url) = (sd.admin.clone(), app.url("/api/v1/trace/events/import"));
        async move { c.post(url).header("content-type", "text/csv").body(csv).send().await.unwrap() }
    };
    let header = "记录编号,环节,动作,主体编码,产品名称,批次号,追溯码,数量,单位,发生时间,地区代码\n";
    let file = format!(
        "{header}f-1,初级生产,采收,{farm},寿光番茄,F1,F-0001,1200,kg,2026-11-20 06:30,370783\n\
         f-2,初级生产,采收,{farm},寿光番茄,F2,F-0002,800,kg,2026-11-20 07:30,370783\n"
    );
    assert_eq!(import(file.clone()).await.status(), 200);
    let res = import(file.replace(",800,kg,", ",900,kg,")).await;
    let p = problem(res).await;
    assert_eq!((p["status"].as_u64(), fields(&p)), (Some(409), vec!["rows[3].client_event_id".to_owned()]), "{p}");
    let res = import(file).await;
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["duplicates"], 2, "{again}");
}

#[tokio::test]
async fn every_record_with_a_counterpart_links_seller_to_buyer_once() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let plant = app.approved_enterprise(&sd.admin, "济南示范加工厂", "91110108551385082Q", "processor", "370104").await;
    let market = app.approved_enterprise(&js.admin, "南京示范批发市场", "91370000MA3C5EX46G", "market", "320102").await;
    let with = |mut r: Value, counterpart: &str| {
        r["counterpart_code"] = json!(counterpart);
        r
    };
    let push = |who: &reqwest::Client, events: Vec<Value>| {
        let c = who.clone();
        let url = app.url("/api/v1/trace/events");
        async move { c.post(url).json(&json!({ "events": events })).send().await.unwrap() }
    };
    let flows = |q: String| {
        let c = national.clone();
        let url = app.url(&format!("/api/v1/trace/chain?{q}"));
        async move {
            let chain: Value = c.get(url).send().await.unwrap().json().await.unwrap();
            let mut f: Vec<(String, String, u64)> = chain["flows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    (
                        f["from"].as_str().unwrap().to_owned(),
                        f["to"].as_str().unwrap().to_owned(),
                        f["reports"].as_u64().unwrap(),
                    )
                })
                .collect();
            f.sort();
            f
        }
    };

    // The farm sells batch S1 to the processor (a business-to-business sale, the seller alone
    // reports it): the chain from the farm's batch reaches the buyer.
    let sell = with(record("s-1", "sale", "sell", &farm, "S1"), &plant);
    let res = push(&sd.admin, vec![record("s-0", "primary_production", "harvest", &farm, "S1"), sell]).await;
    assert_eq!(res.status(), 200);
    let down = flows(format!("batch=S1&subject={farm}&direction=down")).await;
    assert_eq!(down, [(format!("{farm}|S1"), format!("{plant}|S1"), 1)]);

    // The buyer reports its side (a receipt): still one flow, now with two reports.
    let receive = with(record("s-2", "sale", "receive", &plant, "S1"), &farm);
    assert_eq!(push(&sd.admin, vec![receive]).await.status(), 200);
    let down = flows(format!("batch=S1&subject={farm}&direction=down")).await;
    assert_eq!(down, [(format!("{farm}|S1"), format!("{plant}|S1"), 2)]);

    // Only the buyer reports (another province's market notes goods arrived from the
    // processor): the processor's batch reaches the market; the walk up from the market reaches
    // the farm.
    let arrive = with(record("j-1", "transport", "arrive", &market, "S1"), &plant);
    assert_eq!(push(&js.admin, vec![arrive]).await.status(), 200);
    let up = flows(format!("batch=S1&subject={market}&direction=up")).await;
    assert_eq!(
        up,
        [(format!("{farm}|S1"), format!("{plant}|S1"), 2), (format!("{plant}|S1"), format!("{market}|S1"), 1)]
    );

    // A counterpart on a record that moves nothing (a harvest) cannot link: refused, named.
    let odd = with(record("s-3", "primary_production", "harvest", &farm, "S3"), &plant);
    let res = push(&sd.admin, vec![odd]).await;
    let p = problem(res).await;
    assert_eq!((p["status"].as_u64(), fields(&p)), (Some(422), vec!["events[0].counterpart_code".to_owned()]), "{p}");
}
