//! R-PUB-3, R-EMG-3 (issue 18, item 1): the public answer for a code follows the lineage upstream
//! from the code's batch, so the origin is the farm even when the code is first printed at
//! processing; records of subjects not linked into that chain are not shown, and such a claim of
//! the code is kept as an anomaly that the supervisors of both tenants see.

use serde_json::{Value, json};
use suyuan_tests::{TestApp, problem, spawn_app};

const CODE: &str = "CONSUMER-0001";

#[allow(clippy::too_many_arguments, reason = "a record is many fields")]
fn record(
    id: &str,
    stage: &str,
    action: &str,
    subject: &str,
    batch: &str,
    codes: &[&str],
    time: &str,
    region: &str,
) -> Value {
    json!({"client_event_id": id, "stage": stage, "action": action, "subject_code": subject,
           "product_name": "寿光番茄酱", "batch_no": batch, "trace_codes": codes,
           "quantity": 500.0, "unit": "kg", "event_time": time, "division_code": region})
}

fn with(mut r: Value, k: &str, v: Value) -> Value {
    r[k] = v;
    r
}

/// An operator key of the tenant `admin` administers.
async fn key(app: &TestApp, admin: &reqwest::Client, name: &str) -> String {
    let key: Value = admin
        .post(app.url("/api/v1/api-keys"))
        .json(&json!({"name": name, "role": "operator"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    key["secret"].as_str().unwrap().to_owned()
}

async fn push(app: &TestApp, secret: &str, events: Vec<Value>) {
    let res = TestApp::new_client()
        .post(app.url("/api/v1/trace/events"))
        .bearer_auth(secret)
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

async fn public(app: &TestApp, code: &str) -> Value {
    let res = TestApp::new_client().get(app.url(&format!("/api/v1/public/trace/{code}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The stages as (stage, action, date, region, test passed).
fn stages(t: &Value) -> Vec<(String, String, String, String, Option<bool>)> {
    t["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_owned(),
                s["action"].as_str().unwrap().to_owned(),
                s["date"].as_str().unwrap().to_owned(),
                s["division_code"].as_str().unwrap().to_owned(),
                s["test_passed"].as_bool(),
            )
        })
        .collect()
}

struct Scene {
    app: TestApp,
    national: reqwest::Client,
    sd: suyuan_tests::Agency,
    js: suyuan_tests::Agency,
    farm: String,
    factory: String,
    market: String,
}

/// A Shandong farm harvests and sells to a Shandong factory, which makes the product and prints
/// the consumer code on it from processing onward, tests it and ships it to a Jiangsu market,
/// which receives it and sells it to a consumer.
async fn scene() -> Scene {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let farm = app.approved_enterprise(&sd.admin, "寿光示范蔬菜集团", "91350100M000100Y43", "producer", "370783").await;
    let factory =
        app.approved_enterprise(&sd.admin, "济南示范食品厂", "91110108551385082Q", "processor", "370112").await;
    let market = app.approved_enterprise(&js.admin, "南京示范批发市场", "91370000MA3C5EX46G", "market", "320102").await;
    let sd_key = key(&app, &sd.admin, "山东追溯系统").await;
    let js_key = key(&app, &js.admin, "江苏追溯系统").await;
    push(
        &app,
        &sd_key,
        vec![
            record("h-1", "primary_production", "harvest", &farm, "A1", &[], "2026-11-01T07:00:00+08:00", "370783"),
            with(
                record("h-2", "transport", "ship", &farm, "A1", &[], "2026-11-02T07:00:00+08:00", "370783"),
                "counterpart_code",
                json!(factory),
            ),
            with(
                record("h-3", "processing", "process", &factory, "P1", &[CODE], "2026-11-03T09:00:00+08:00", "370112"),
                "inputs",
                json!([{"batch_no": "A1", "quantity": 500.0}]),
            ),
            with(
                record("h-4", "testing", "inspect", &factory, "P1", &[CODE], "2026-11-04T09:00:00+08:00", "370112"),
                "inspection",
                json!({"item": "农药残留", "result": "pass", "report_no": "SD-2026-0001"}),
            ),
            with(
                record("h-5", "transport", "ship", &factory, "P1", &[CODE], "2026-11-05T09:00:00+08:00", "370112"),
                "counterpart_code",
                json!(market),
            ),
        ],
    )
    .await;
    push(
        &app,
        &js_key,
        vec![
            with(
                record("j-1", "sale", "receive", &market, "P1", &[CODE], "2026-11-06T09:00:00+08:00", "320102"),
                "counterpart_code",
                json!(factory),
            ),
            record("j-2", "sale", "sell", &market, "P1", &[CODE], "2026-11-07T09:00:00+08:00", "320102"),
        ],
    )
    .await;
    Scene { app, national, sd, js, farm, factory, market }
}

fn want_stages() -> Vec<(String, String, String, String, Option<bool>)> {
    let s = |stage: &str, action: &str, date: &str, region: &str, passed: Option<bool>| {
        (stage.to_owned(), action.to_owned(), date.to_owned(), region.to_owned(), passed)
    };
    vec![
        s("初级生产", "采收", "2026-11-01", "370783", None),
        s("产品运输", "发货", "2026-11-02", "370783", None),
        s("生产加工", "加工", "2026-11-03", "370112", None),
        s("产品检测", "检测", "2026-11-04", "370112", Some(true)),
        s("产品运输", "发货", "2026-11-05", "370112", None),
        s("流通销售", "批发进货", "2026-11-06", "320102", None),
        s("流通销售", "销售", "2026-11-07", "320102", None),
    ]
}

#[tokio::test]
async fn a_code_printed_at_processing_shows_the_farm_as_origin_and_every_stage_in_order() {
    let Scene { app, sd, farm, .. } = scene().await;
    let t = public(&app, CODE).await;
    assert_eq!(
        (t["origin_name"].as_str(), t["origin_division_code"].as_str()),
        (Some("寿光示范蔬菜集团"), Some("370783")),
        "the primary producer upstream of the code's batch: {t}"
    );
    assert_eq!(stages(&t), want_stages(), "{t}");
    assert!(!t.to_string().contains(&farm), "still no subject codes in the public answer: {t}");
    // The page for people says the same.
    let html = TestApp::new_client().get(app.url(&format!("/t/{CODE}"))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("寿光示范蔬菜集团") && html.contains("初级生产"), "{html}");

    // A record arriving later on the farm's lot (it carries no code) reaches the cached answer:
    // the lineage's nodes invalidate it, not only the code.
    let sd_key = key(&app, &sd.admin, "山东第二系统").await;
    push(
        &app,
        &sd_key,
        vec![with(
            record("h-6", "testing", "inspect", &farm, "A1", &[], "2026-11-01T15:00:00+08:00", "370783"),
            "inspection",
            json!({"item": "重金属", "result": "pass", "report_no": "SD-2026-0002"}),
        )],
    )
    .await;
    let t = public(&app, CODE).await;
    let after = stages(&t);
    assert_eq!(after.len(), want_stages().len() + 1, "{t}");
    assert_eq!(after[1], ("产品检测".into(), "检测".into(), "2026-11-01".into(), "370783".into(), Some(true)));
}

#[tokio::test]
async fn another_provinces_key_cannot_poison_the_public_answer_and_its_claim_is_an_anomaly() {
    let Scene { app, national, sd, js, factory, market, .. } = scene().await;
    let zj = app.onboard(&national, "330000", "浙江省").await;
    let before = public(&app, CODE).await;
    assert_eq!(before["origin_name"], "寿光示范蔬菜集团");

    // Jiangsu's key files its own lab and posts, with Shandong's code, a harvest dated 2001 and
    // a failed test; and, to hook them into the chain, a shipment "to" the factory's batch and a
    // receipt "from" it that the factory never reported.
    let lab = app.approved_enterprise(&js.admin, "苏州某检测站", "91370100MA3C0001AE", "processor", "320505").await;
    let js_key = key(&app, &js.admin, "江苏另一系统").await;
    push(
        &app,
        &js_key,
        vec![
            record("x-1", "primary_production", "harvest", &lab, "P1", &[CODE], "2001-05-01T08:00:00+08:00", "320505"),
            with(
                record("x-2", "testing", "inspect", &lab, "P1", &[CODE], "2026-11-08T08:00:00+08:00", "320505"),
                "inspection",
                json!({"item": "农药残留", "result": "fail", "report_no": "JS-FAKE-1"}),
            ),
            with(
                record("x-3", "transport", "ship", &lab, "P1", &[], "2001-05-02T08:00:00+08:00", "320505"),
                "counterpart_code",
                json!(factory),
            ),
            with(
                record("x-4", "sale", "receive", &lab, "P1", &[CODE], "2026-11-08T07:00:00+08:00", "320505"),
                "counterpart_code",
                json!(factory),
            ),
        ],
    )
    .await;
    let t = public(&app, CODE).await;
    assert_eq!(
        (t["origin_name"].as_str(), t["origin_division_code"].as_str()),
        (Some("寿光示范蔬菜集团"), Some("370783")),
        "{t}"
    );
    assert_eq!(stages(&t), want_stages(), "nothing of the unlinked claims shows: {t}");
    assert!(!t.to_string().contains("320505"), "{t}");
    let html = TestApp::new_client().get(app.url(&format!("/t/{CODE}"))).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("不合格") && !html.contains("2001-05"), "{html}");

    // The market the factory shipped to is linked from its receipt on: a harvest and a failed
    // test it posts under the code's batch, dated before it received the goods, are no part
    // of the product's history (they once replaced the origin and showed 不合格).
    let js_key2 = key(&app, &js.admin, "江苏市场系统").await;
    push(
        &app,
        &js_key2,
        vec![
            record(
                "m-1",
                "primary_production",
                "harvest",
                &market,
                "P1",
                &[CODE],
                "2001-05-01T08:00:00+08:00",
                "320102",
            ),
            with(
                record("m-2", "testing", "inspect", &market, "P1", &[CODE], "2001-05-03T08:00:00+08:00", "320102"),
                "inspection",
                json!({"item": "农药残留", "result": "fail", "report_no": "JS-FAKE-2"}),
            ),
        ],
    )
    .await;
    let t = public(&app, CODE).await;
    assert_eq!(t["origin_name"], "寿光示范蔬菜集团", "{t}");
    assert_eq!(stages(&t), want_stages(), "nothing the receiver dated before its receipt shows: {t}");

    // The claims are anomalies: one per record of Jiangsu's lab carrying the code.
    let list = |who: &reqwest::Client, q: &str| {
        let c = who.clone();
        let url = app.url(&format!("/api/v1/trace/anomalies{q}"));
        async move {
            let res = c.get(url).send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let mut seen = Value::Null;
    for _ in 0..50 {
        seen = list(&sd.admin, "").await;
        if seen["total"] == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen["total"], 5, "{seen}");
    // Three of the lab's records, and the market's two dated before its receipt.
    let by = |s: &str| seen["items"].as_array().unwrap().iter().filter(|a| a["claiming_subject_code"] == s).count();
    assert_eq!((by(&lab), by(&market)), (3, 2), "{seen}");
    for a in seen["items"].as_array().unwrap().iter().filter(|a| a["claiming_subject_code"] == json!(lab)) {
        assert_eq!(
            (
                a["code"].as_str(),
                a["kind"].as_str(),
                a["claiming_subject_code"].as_str(),
                a["claiming_tenant_code"].as_str(),
                a["owner_subject_code"].as_str(),
                a["owner_tenant_code"].as_str()
            ),
            (
                Some(CODE),
                Some("unlinked_claim"),
                Some(lab.as_str()),
                Some("320000"),
                Some(factory.as_str()),
                Some("370000")
            ),
            "{a}"
        );
        assert!(a["event_id"].as_str().is_some() && a["detected_at"].as_str().is_some(), "{a}");
    }
    // The claimer's province sees them, and so does the nation above both; a sibling province
    // with no part in it sees none.
    assert_eq!(list(&js.admin, "").await["total"], 5);
    assert_eq!(list(&national, &format!("?code={CODE}")).await["total"], 5);
    assert_eq!(list(&zj.admin, "").await["total"], 0);
    assert_eq!(list(&sd.admin, "?code=OTHER-0001").await["total"], 0);
    // Looking the code up again records nothing twice.
    public(&app, CODE).await;
    assert_eq!(app.scalar("SELECT count(*) AS n FROM trace_code_anomalies").await, 5);
    // The console page lists them for both provinces, and nothing for the sibling.
    let page = |who: &reqwest::Client| {
        let c = who.clone();
        let url = app.url(&format!("/console/code-anomalies?code={CODE}"));
        async move { c.get(url).send().await.unwrap().text().await.unwrap() }
    };
    for who in [&sd.admin, &js.admin] {
        let html = page(who).await;
        assert!(
            html.contains("追溯码异常") && html.contains("苏州某检测站") && html.contains("济南示范食品厂"),
            "{html}"
        );
    }
    let html = page(&zj.admin).await;
    assert!(html.contains("没有追溯码异常") && !html.contains("苏州某检测站"), "{html}");
    // Bad paging is named.
    let res = sd.admin.get(app.url("/api/v1/trace/anomalies?page=0")).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "page");
    // Without a sign-in: 401.
    assert_eq!(TestApp::new_client().get(app.url("/api/v1/trace/anomalies")).send().await.unwrap().status(), 401);
}
