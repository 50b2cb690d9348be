//! R-SUBJ-6 (filings on the map, clustered, coloured by type) and R-SUBJ-7 (statistics by
//! child tenant, type, stage, product kind and month), within the tenant tree; and the
//! filing pages driven through their forms.

use reqwest::redirect::Policy;
use serde_json::{Value, json};
use suyuan_tests::{CHANGED_PASSWORD, TestApp, problem, spawn_app};

fn enterprise(name: &str, uscc: &str, kind: &str, division: &str, lon: f64, lat: f64) -> Value {
    json!({
        "name": name, "uscc": uscc, "enterprise_type": kind, "categories": ["0101", "0201"],
        "stages": ["processing", "sale"], "address": "地址", "division_code": division,
        "longitude": lon, "latitude": lat, "contact_name": "李明", "contact_phone": "0531-88881234", "submit": true,
    })
}

async fn approved(app: &TestApp, admin: &reqwest::Client, body: &Value) -> Value {
    let e: Value = admin.post(app.url("/api/v1/enterprises")).json(body).send().await.unwrap().json().await.unwrap();
    let res = admin
        .post(app.url(&format!("/api/v1/enterprises/{}/approve", e["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    e
}

fn chart<'a>(stats: &'a Value, key: &str) -> &'a Value {
    stats["charts"].as_array().unwrap().iter().find(|c| c["key"] == key).unwrap()
}

fn figure(stats: &Value, key: &str) -> i64 {
    stats["figures"].as_array().unwrap().iter().find(|f| f["key"] == key).unwrap()["value"].as_i64().unwrap()
}

/// (category, first series' value) pairs of a chart.
fn pairs(c: &Value) -> Vec<(String, f64)> {
    c["categories"]
        .as_array()
        .unwrap()
        .iter()
        .zip(c["series"][0]["data"].as_array().unwrap())
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.as_f64().unwrap()))
        .collect()
}

#[tokio::test]
async fn statistics_and_map_break_a_parents_subtree_down_by_child_and_keep_siblings_apart() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let jn = app.onboard(&sd.admin, "370100", "济南市").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    approved(&app, &jn.admin, &enterprise("济南一厂", "91350100M000100Y43", "producer", "370102", 117.01, 36.66)).await;
    approved(&app, &jn.admin, &enterprise("济南二厂", "91110108551385082Q", "producer", "370102", 117.09, 36.67)).await;
    let market =
        approved(&app, &jn.admin, &enterprise("堤口路市场", "91370000MA3C5EX46G", "market", "370104", 116.98, 36.68))
            .await;
    approved(&app, &sd.admin, &enterprise("寿光加工厂", "91370100MA3C0001AE", "processor", "370783", 118.79, 36.86))
        .await;
    approved(&app, &js.admin, &enterprise("南京企业", "91370102MA3C0002BF", "producer", "320102", 118.78, 32.04)).await;
    // A draft is not counted by default.
    let mut draft = enterprise("草稿企业", "92370102MA3C0000X2", "producer", "370102", 117.0, 36.6);
    draft["submit"] = json!(false);
    jn.admin.post(app.url("/api/v1/enterprises")).json(&draft).send().await.unwrap();
    let m: Value = jn
        .admin
        .post(app.url("/api/v1/merchants"))
        .json(&json!({"name": "王记蔬菜", "merchant_type": "stall", "categories": ["0101"],
                      "node_code": market["code"], "contact_name": "王", "contact_phone": "13905310001", "submit": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jn.admin.post(app.url(&format!("/api/v1/merchants/{}/approve", m["id"].as_str().unwrap()))).send().await.unwrap();

    // The province: its own filing and its city's, the city as one bar.
    let stats: Value = sd.admin.get(app.url("/api/v1/filings/statistics")).send().await.unwrap().json().await.unwrap();
    assert_eq!((figure(&stats, "enterprise_filings"), figure(&stats, "merchant_filings")), (4, 1), "{stats}");
    let by_child = chart(&stats, "by_child");
    assert_eq!(pairs(by_child), [("济南市".to_owned(), 3.0), ("本级".to_owned(), 1.0)]);
    assert_eq!(by_child["series"][1]["data"], json!([1.0, 0.0]), "merchants per child");
    assert_eq!(
        pairs(chart(&stats, "by_type")),
        [("生产企业".into(), 2.0), ("加工企业".into(), 1.0), ("批发市场".into(), 1.0)]
    );
    let stages = pairs(chart(&stats, "by_stage"));
    assert_eq!(stages[1], ("生产加工".to_owned(), 4.0));
    assert_eq!(stages[0], ("初级生产".to_owned(), 0.0));
    let kinds = chart(&stats, "by_kind");
    assert!(kinds["categories"][0].as_str().unwrap().contains("农产品"), "{kinds}");
    let trend = chart(&stats, "trend");
    assert_eq!(trend["series"][0]["data"].as_array().unwrap().last().unwrap(), 4.0, "filed this month: {trend}");
    let all: Value =
        sd.admin.get(app.url("/api/v1/filings/statistics?status=all")).send().await.unwrap().json().await.unwrap();
    assert_eq!(figure(&all, "enterprise_filings"), 5, "the draft too");

    // The country: each province one bar; a city sees only itself and cannot look outside.
    let stats: Value = national.get(app.url("/api/v1/filings/statistics")).send().await.unwrap().json().await.unwrap();
    assert_eq!(pairs(chart(&stats, "by_child")), [("山东省".to_owned(), 4.0), ("江苏省".to_owned(), 1.0)]);
    let stats: Value = jn.admin.get(app.url("/api/v1/filings/statistics")).send().await.unwrap().json().await.unwrap();
    assert_eq!(figure(&stats, "enterprise_filings"), 3);
    let res = jn.admin.get(app.url("/api/v1/filings/statistics?region=370000")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res = js.admin.get(app.url("/api/v1/filings/map?region=370000")).send().await.unwrap();
    assert_eq!(res.status(), 403, "a sibling's region is refused");

    // The map of the province: counts per city; points clustered per cell and type.
    let map: Value = sd.admin.get(app.url("/api/v1/filings/map")).send().await.unwrap().json().await.unwrap();
    let regions: Vec<(String, f64)> = map["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["code"].as_str().unwrap().to_owned(), r["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(regions, [("370100".to_owned(), 4.0), ("370700".to_owned(), 1.0)], "{map}");
    let points = map["points"].as_array().unwrap();
    let producers: Vec<&Value> = points.iter().filter(|p| p["kind"] == "生产企业").collect();
    assert_eq!(producers.len(), 1, "two producers in one cell are one point: {map}");
    assert_eq!((producers[0]["value"].as_f64(), producers[0]["name"].as_str()), (Some(2.0), Some("2 家生产企业")));
    let stall = points.iter().find(|p| p["kind"] == "个体经营户").unwrap();
    assert_eq!((stall["longitude"].as_f64(), stall["value"].as_f64()), (Some(116.98), Some(1.0)), "at its market");
    // A finer map (the city) keeps the two producers apart; filters as the search's.
    let city: Value = sd
        .admin
        .get(app.url("/api/v1/filings/map?region=370100&kind=enterprise"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let producers = city["points"].as_array().unwrap().iter().filter(|p| p["kind"] == "生产企业").count();
    assert_eq!(producers, 2, "{city}");
    assert!(city["points"].as_array().unwrap().iter().all(|p| p["kind"] != "个体经营户"));
    let res = sd.admin.get(app.url("/api/v1/filings/map?kind=animals&enterprise_type=x")).send().await.unwrap();
    let p = problem(res).await;
    let fields: Vec<_> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["kind", "enterprise_type"]);
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

async fn csrf(app: &TestApp, b: &reqwest::Client, path: &str) -> String {
    let html = b.get(app.url(path)).send().await.unwrap().text().await.unwrap();
    let start = html.find("name=\"_csrf\" value=\"").expect("a form with a CSRF field") + 20;
    html[start..start + 32].to_owned()
}

#[tokio::test]
async fn merchants_products_and_rules_are_managed_through_the_pages() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let market =
        approved(&app, &sd.admin, &enterprise("堤口路市场", "91370000MA3C5EX46G", "market", "370104", 116.98, 36.68))
            .await;
    let b = browser();
    let res = b
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": sd.admin_username, "password": CHANGED_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The form offers the approved market; a bad form is shown again with the field marked.
    let html = b.get(app.url("/console/merchants")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(market["code"].as_str().unwrap()) && html.contains("堤口路市场"), "the market is offered");
    let token = csrf(&app, &b, "/console/merchants").await;
    let res = b
        .post(app.url("/console/merchants"))
        .form(&[
            ("_csrf", token.as_str()),
            ("name", ""),
            ("merchant_type", "stall"),
            ("node_code", market["code"].as_str().unwrap()),
            ("categories", "0101"),
            ("contact_name", "王"),
            ("contact_phone", "13905310001"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("f-name-error"));
    let res = b
        .post(app.url("/console/merchants"))
        .form(&[
            ("_csrf", token.as_str()),
            ("name", "王记蔬菜"),
            ("merchant_type", "stall"),
            ("node_code", market["code"].as_str().unwrap()),
            ("categories", "0101"),
            ("categories", "0102"),
            ("stall_no", "A-1"),
            ("contact_name", "王"),
            ("contact_phone", "13905310001"),
            ("submit", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let detail = res.headers()["location"].to_str().unwrap().to_owned();
    let html = b.get(app.url(&detail)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("王记蔬菜") && html.contains("待审核") && html.contains("/approve"), "{detail}");
    let res = b.post(app.url(&format!("{detail}/approve"))).form(&[("_csrf", token.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let html = b.get(app.url(&detail)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("已备案") && html.contains("首次备案"), "approved, version 1 listed");

    // A product through its form; the number field is checked.
    let res = b
        .post(app.url("/console/products"))
        .form(&[
            ("_csrf", token.as_str()),
            ("name", "番茄"),
            ("category_code", "0101"),
            ("enterprise_code", market["code"].as_str().unwrap()),
            ("unit", "箱"),
            ("shelf_life_days", "十五"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("请填写整数"));

    // The rules page: the manager makes the stall number need review.
    let html = b.get(app.url("/console/filing-rules")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("摊位号") && html.contains("平台默认"));
    let mut form: Vec<(String, String)> = vec![("_csrf".into(), token.clone())];
    for (field, who) in [
        ("name", "operator"),
        ("merchant_type", "operator"),
        ("uscc", "manager"),
        ("categories", "operator"),
        ("node_code", "manager"),
        ("stall_no", "operator"),
        ("contact_name", "operator"),
        ("contact_phone", "operator"),
    ] {
        form.push((format!("editable_by.{field}"), who.into()));
        if !field.starts_with("contact") {
            form.push((format!("needs_review.{field}"), "1".into()));
        }
    }
    let res = b.post(app.url("/console/filing-rules/merchant")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let rules: Value =
        sd.admin.get(app.url("/api/v1/filing-rules/merchant")).send().await.unwrap().json().await.unwrap();
    let stall = rules.as_array().unwrap().iter().find(|r| r["field"] == "stall_no").unwrap().clone();
    assert_eq!((stall["needs_review"].as_bool(), stall["customised"].as_bool()), (Some(true), Some(true)));

    // The analysis and import pages render for the agency.
    let html = b.get(app.url("/console/filing-analysis")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("data-map-src=\"/api/v1/filings/map?") && html.contains("个体经营户备案"));
    let html = b.get(app.url("/console/imports")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("data-import") && html.contains("只检查"));
}
