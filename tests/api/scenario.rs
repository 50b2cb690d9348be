//! Issue 18, "done when": the whole flow a new provincial agency runs, over the public API only,
//! as one test on either database — 山东, 江苏 and 济南 onboarded by invitation; a farm, a
//! processor, a Jiangsu market and a retailer filed and approved; a multi-province chain pushed
//! with each tenant's operator key (harvest → sale to the processor → processing → test →
//! transport → receipt at the Jiangsu market → sale to the retailer → retail sale under the
//! consumer code); the chain retried and rebuilt; the public page read; the national roll-up
//! read; and a second province's key trying to poison the first's public answer.
//! R-PUB-3, R-EMG-3, R-ARCH-1, R-REL-2, R-SUBJ-1, R-SHAPE-3, R-IF-2.

use std::time::Duration;

use serde_json::{Value, json};
use suyuan_tests::{Agency, TestApp, problem};

const CODE: &str = "SD-CONSUMER-0001";

fn record(id: &str, stage: &str, action: &str, subject: &str, batch: &str, time: &str, region: &str) -> Value {
    json!({"client_event_id": id, "stage": stage, "action": action, "subject_code": subject,
           "product_name": "章丘大葱", "batch_no": batch, "quantity": 1000.0, "unit": "kg",
           "event_time": time, "division_code": region})
}

fn with(mut r: Value, k: &str, v: Value) -> Value {
    r[k] = v;
    r
}

async fn operator_key(app: &TestApp, agency: &Agency, name: &str) -> String {
    let res = agency.admin.post(app.url("/api/v1/api-keys")).json(&json!({"name": name, "role": "operator"})).send();
    let key: Value = res.await.unwrap().json().await.unwrap();
    key["secret"].as_str().unwrap().to_owned()
}

async fn push(app: &TestApp, secret: &str, events: &[Value]) -> reqwest::Response {
    TestApp::new_client()
        .post(app.url("/api/v1/trace/events"))
        .bearer_auth(secret)
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap()
}

async fn accepted(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn public(app: &TestApp, code: &str) -> Value {
    let res = TestApp::new_client().get(app.url(&format!("/api/v1/public/trace/{code}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_new_agency_runs_the_whole_flow_and_another_province_cannot_poison_it() {
    // Statistics roll up to the tenant above through the outbox (delivered in process).
    let app = TestApp::builder().with_settings(|s| s.federation_delivery = true).spawn().await;
    let national = app.national_admin().await;
    // Onboarding by invitation (the harness accepts each invitation over the API).
    let sd = app.onboard(&national, "370000", "山东省").await;
    let jn = app.onboard(&sd.admin, "370100", "济南市").await;
    let js = app.onboard(&national, "320000", "江苏省").await;

    // Filings, each in its own tenant, with real division codes.
    let farm = app.approved_enterprise(&sd.admin, "寿光蔬菜基地", "91350100M000100Y43", "producer", "370783").await;
    let processor =
        app.approved_enterprise(&jn.admin, "历城食品加工厂", "91110108551385082Q", "processor", "370112").await;
    let market = app.approved_enterprise(&js.admin, "南京农副产品市场", "91370000MA3C5EX46G", "market", "320102").await;
    let retailer = app.approved_enterprise(&js.admin, "玄武生鲜超市", "91370100MA3C0001AE", "retailer", "320102").await;
    // A division code that names nothing is refused (379999 was accepted before).
    let res = sd
        .admin
        .post(app.url("/api/v1/enterprises"))
        .json(&json!({"name": "假地区企业", "uscc": "91370102MA3C0002BF", "enterprise_type": "producer",
                      "categories": ["0101"], "stages": ["sale"], "address": "地址", "division_code": "379999",
                      "contact_name": "李", "contact_phone": "0531-88881234"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "division_code");

    let sd_key = operator_key(&app, &sd, "山东农业追溯系统").await;
    let jn_key = operator_key(&app, &jn, "济南加工追溯系统").await;
    let js_key = operator_key(&app, &js, "江苏流通追溯系统").await;

    // The key answers `me` (integrators test their keys with it).
    let me: Value = TestApp::new_client()
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(&jn_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((me["kind"].as_str(), me["role"].as_str()), (Some("api_key"), Some("operator")), "{me}");

    // The farm harvests and sells to the processor (a sale with a counterpart links).
    let farm_records = [
        record("sd-1", "primary_production", "harvest", &farm, "ZQ-A1", "2026-11-01T07:00:00+08:00", "370783"),
        with(
            record("sd-2", "sale", "sell", &farm, "ZQ-A1", "2026-11-02T07:00:00+08:00", "370783"),
            "counterpart_code",
            json!(processor),
        ),
    ];
    let r = accepted(push(&app, &sd_key, &farm_records).await).await;
    assert_eq!(r["accepted"], 2, "{r}");
    // The processor makes its lot from the farm's, prints the consumer code, tests and ships it.
    let processor_records = [
        with(
            with(
                record("jn-1", "processing", "process", &processor, "LC-P1", "2026-11-03T09:00:00+08:00", "370112"),
                "inputs",
                json!([{"batch_no": "ZQ-A1", "quantity": 1000.0, "unit": "kg"}]),
            ),
            "trace_codes",
            json!([CODE]),
        ),
        with(
            with(
                record("jn-2", "testing", "inspect", &processor, "LC-P1", "2026-11-04T09:00:00+08:00", "370112"),
                "inspection",
                json!({"item": "农药残留", "result": "pass", "report_no": "JN-2026-0001"}),
            ),
            "trace_codes",
            json!([CODE]),
        ),
        with(
            with(
                record("jn-3", "transport", "ship", &processor, "LC-P1", "2026-11-05T09:00:00+08:00", "370112"),
                "counterpart_code",
                json!(market),
            ),
            "trace_codes",
            json!([CODE]),
        ),
    ];
    let r = accepted(push(&app, &jn_key, &processor_records).await).await;
    assert_eq!(r["accepted"], 3, "{r}");
    // The Jiangsu market receives, sells to the retailer, and the retailer sells to a consumer.
    let js_records = [
        with(
            with(
                record("js-1", "sale", "receive", &market, "LC-P1", "2026-11-06T09:00:00+08:00", "320102"),
                "counterpart_code",
                json!(processor),
            ),
            "trace_codes",
            json!([CODE]),
        ),
        with(
            with(
                record("js-2", "sale", "sell", &market, "LC-P1", "2026-11-06T15:00:00+08:00", "320102"),
                "counterpart_code",
                json!(retailer),
            ),
            "trace_codes",
            json!([CODE]),
        ),
        with(
            record("js-3", "sale", "sell", &retailer, "LC-P1", "2026-11-07T10:00:00+08:00", "320102"),
            "trace_codes",
            json!([CODE]),
        ),
    ];
    let r = accepted(push(&app, &js_key, &js_records).await).await;
    assert_eq!(r["accepted"], 3, "{r}");

    // Retried whole: every record a duplicate, nothing written twice.
    let before = app.scalar("SELECT count(*) AS n FROM trace_events").await;
    let r = accepted(push(&app, &jn_key, &processor_records).await).await;
    assert_eq!((r["accepted"].as_u64(), r["duplicates"].as_u64()), (Some(0), Some(3)), "{r}");
    // The same id with other content is a conflict, refused whole.
    let changed = [processor_records[0].clone(), with(processor_records[2].clone(), "quantity", json!(999.0))];
    let res = push(&app, &jn_key, &changed).await;
    assert_eq!(res.status(), 409);
    assert_eq!(problem(res).await["errors"][0]["field"], "events[1].client_event_id");
    // A record that cannot be read refuses its batch, named by field.
    let bad = [record("jn-9", "testing", "inspect", &processor, "LC-P1", "2026-11-04T10:00:00+08:00", "370112")];
    let mut body = serde_json::to_string(&json!({ "events": bad })).unwrap();
    body = body.replace("1000.0", "-1e400");
    let res = TestApp::new_client()
        .post(app.url("/api/v1/trace/events"))
        .bearer_auth(&jn_key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(problem(res).await["errors"][0]["field"], "events[0].quantity");
    assert_eq!(app.scalar("SELECT count(*) AS n FROM trace_events").await, before, "nothing written");

    // Rebuilt by the nation: from the consumer code up to the farm and down to the retailer,
    // every flow with its unit.
    let chain: Value =
        national.get(app.url(&format!("/api/v1/trace/chain?code={CODE}"))).send().await.unwrap().json().await.unwrap();
    let subjects: Vec<&str> =
        chain["nodes"].as_array().unwrap().iter().filter_map(|n| n["subject_code"].as_str()).collect();
    for s in [&farm, &processor, &market, &retailer] {
        assert!(subjects.contains(&s.as_str()), "{s} in the chain: {chain}");
    }
    let flows = chain["flows"].as_array().unwrap();
    assert!(flows.iter().all(|f| f["unit"] == "kg"), "{chain}");
    assert!(
        flows.iter().any(|f| f["to"].as_str().is_some_and(|t| t.contains(&retailer))),
        "the market's sale to the retailer links: {chain}"
    );

    // The public answer: the farm is the origin, the stages in order, labelled by what happened.
    let t = public(&app, CODE).await;
    assert_eq!((t["origin_name"].as_str(), t["origin_division_code"].as_str()), (Some("寿光蔬菜基地"), Some("370783")));
    let stage_of = |t: &Value| -> Vec<(String, String)> {
        t["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["stage"].as_str().unwrap().to_owned(), s["action"].as_str().unwrap().to_owned()))
            .collect()
    };
    let stages = stage_of(&t);
    assert_eq!(stages.first().map(|s| s.0.as_str()), Some("初级生产"), "{t}");
    assert!(stages.iter().any(|s| s.1 == "批发进货"), "a market's receipt is a purchase: {t}");
    assert!(!stages.iter().any(|s| s.0 == "产品消费或使用"), "{t}");
    assert!(t["stages"].as_array().unwrap().iter().all(|s| s["test_passed"] != false), "{t}");

    // Another province's key claims the code: a harvest dated 2001 and a failed test.
    let zj = app.onboard(&national, "330000", "浙江省").await;
    let lab = app.approved_enterprise(&zj.admin, "某地检测站", "91370102MA3C0002BF", "laboratory", "330102").await;
    let zj_key = operator_key(&app, &zj, "浙江某系统").await;
    let poison = [
        with(
            record("zj-1", "primary_production", "harvest", &lab, "LC-P1", "2001-05-01T08:00:00+08:00", "330102"),
            "trace_codes",
            json!([CODE]),
        ),
        with(
            with(
                record("zj-2", "testing", "inspect", &lab, "LC-P1", "2026-11-08T08:00:00+08:00", "330102"),
                "inspection",
                json!({"item": "农药残留", "result": "fail", "report_no": "FAKE-1"}),
            ),
            "trace_codes",
            json!([CODE]),
        ),
    ];
    accepted(push(&app, &zj_key, &poison).await).await;
    let t = public(&app, CODE).await;
    assert_eq!(t["origin_name"], "寿光蔬菜基地", "{t}");
    assert_eq!(stage_of(&t), stages, "the claims change nothing: {t}");
    let html = TestApp::new_client().get(app.url(&format!("/t/{CODE}"))).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("不合格") && !html.contains("2001-05") && !html.contains("某地检测站"), "{html}");
    // ... and is kept as an anomaly that the owner's province sees.
    let mut seen = Value::Null;
    for _ in 0..100 {
        seen = sd.admin.get(app.url("/api/v1/trace/anomalies")).send().await.unwrap().json().await.unwrap();
        if seen["total"] == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen["total"], 2, "{seen}");
    assert!(seen["items"].as_array().unwrap().iter().all(|a| a["claiming_subject_code"] == json!(lab)), "{seen}");

    // The national roll-up: per stage and unit, nothing summed across them.
    let start = std::time::Instant::now();
    let rollup = loop {
        let r: Value = national.get(app.url("/api/v1/federation/rollup")).send().await.unwrap().json().await.unwrap();
        let line = |code: &str| r["regions"].as_array().unwrap().iter().find(|x| x["code"] == code).cloned();
        if line("370000").is_some_and(|l| l["records"] == 5) && line("320000").is_some_and(|l| l["records"] == 3) {
            break r;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the roll-up did not arrive: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let sd_line = rollup["regions"].as_array().unwrap().iter().find(|x| x["code"] == "370000").unwrap();
    let figures: Vec<(String, String, f64)> = sd_line["quantities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["stage"].as_str().unwrap().to_owned(),
                q["unit"].as_str().unwrap().to_owned(),
                q["quantity"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(figures.iter().all(|f| f.1 == "kg"), "{sd_line}");
    assert!(figures.contains(&("primary_production".to_owned(), "kg".to_owned(), 1000.0)), "{sd_line}");
    assert!(sd_line.get("quantity").is_none(), "no sum across stages: {sd_line}");
}
