//! R-SUBJ-1…5 (merchants), R-PROD-2 (products), R-SUBJ-4 (change control per tenant): filing,
//! issued codes, references resolved from approved filings, review and versions, the outbox,
//! the tenant boundary, and the catalogue refusing to drop a category a filing uses.

use serde_json::{Value, json};
use suyuan_tests::{TestApp, problem, spawn_app};

fn enterprise(name: &str, uscc: &str, kind: &str, division: &str) -> Value {
    json!({
        "name": name, "uscc": uscc, "enterprise_type": kind, "categories": ["0101"],
        "stages": ["sale"], "address": "济南市历下区", "division_code": division,
        "longitude": 117.02, "latitude": 36.67,
        "contact_name": "李明", "contact_phone": "0531-88881234", "submit": true,
    })
}

fn merchant(name: &str, node: &str) -> Value {
    json!({"name": name, "merchant_type": "stall", "categories": ["0101"], "node_code": node,
           "stall_no": "A-018", "contact_name": "王芳", "contact_phone": "13905310001"})
}

fn product(name: &str, producer: &str) -> Value {
    json!({"name": name, "category_code": "0101", "brand": "寿光", "specification": "5kg/箱", "unit": "箱",
           "shelf_life_days": 15, "gtin": "6901234567892", "enterprise_code": producer})
}

/// Files and approves an enterprise; its code.
async fn approved(app: &TestApp, admin: &reqwest::Client, body: &Value) -> String {
    let e: Value = admin.post(app.url("/api/v1/enterprises")).json(body).send().await.unwrap().json().await.unwrap();
    let id = e["id"].as_str().unwrap();
    let res = admin.post(app.url(&format!("/api/v1/enterprises/{id}/approve"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    e["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn merchants_belong_to_an_approved_market_and_are_reviewed() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let (_, operator) = app.user_with_roles(&sd.admin, "sd_operator", &["operator"]).await;
    let market =
        approved(&app, &sd.admin, &enterprise("济南堤口路农贸市场", "91350100M000100Y43", "market", "370102")).await;
    let farm = approved(&app, &sd.admin, &enterprise("寿光蔬菜集团", "91110108551385082Q", "producer", "370783")).await;

    // Bad input: every field named, nothing written; a producer is no market.
    let before = app.write_counts().await;
    let res = operator
        .post(app.url("/api/v1/merchants"))
        .json(&json!({"name": "", "merchant_type": "boss", "uscc": "92370102MA3C0000X1", "categories": [],
                      "node_code": "E3700000000999X", "contact_name": "王", "contact_phone": "call me"}))
        .send()
        .await
        .unwrap();
    let p = problem(res).await;
    let fields: Vec<_> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "merchant_type", "uscc", "categories", "node_code", "contact_phone"], "{p}");
    let res = operator.post(app.url("/api/v1/merchants")).json(&merchant("王记蔬菜", &farm)).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["rule"], "type");
    assert_eq!(app.write_counts().await, before);

    // Filed with an issued merchant code; the market's name and region come from its filing.
    let res = operator.post(app.url("/api/v1/merchants")).json(&merchant("王记蔬菜", &market)).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let m: Value = res.json().await.unwrap();
    let code = m["code"].as_str().unwrap();
    assert!(code.starts_with("M3700000000001") && code.len() == 15, "{code}");
    assert_eq!((m["node_name"].as_str(), m["division_code"].as_str()), (Some("济南堤口路农贸市场"), Some("370102")));
    let id = m["id"].as_str().unwrap().to_owned();
    let res = operator.post(app.url(&format!("/api/v1/merchants/{id}/submit"))).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "submitted");
    assert_eq!(operator.post(app.url(&format!("/api/v1/merchants/{id}/approve"))).send().await.unwrap().status(), 403);
    let res = sd
        .admin
        .post(app.url(&format!("/api/v1/merchants/{id}/reject")))
        .json(&json!({"reason": "摊位号与市场登记不符"}))
        .send()
        .await
        .unwrap();
    let m: Value = res.json().await.unwrap();
    assert_eq!((m["status"].as_str(), m["reason"].as_str()), (Some("rejected"), Some("摊位号与市场登记不符")));
    let mut fixed = merchant("王记蔬菜", &market);
    fixed["stall_no"] = json!("A-019");
    fixed["submit"] = json!(true);
    let res = operator.put(app.url(&format!("/api/v1/merchants/{id}"))).json(&fixed).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "submitted");
    let outbox_before = app.write_counts().await.into_iter().find(|(t, _)| t == "outbox").unwrap().1;
    let res = sd.admin.post(app.url(&format!("/api/v1/merchants/{id}/approve"))).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["version"], 1);
    let outbox_after = app.write_counts().await.into_iter().find(|(t, _)| t == "outbox").unwrap().1;
    assert_eq!(outbox_after, outbox_before + 1, "an approved merchant is queued for the parent");

    // The node is protected: the operator may not move the merchant to another market.
    let other =
        approved(&app, &sd.admin, &enterprise("济南七里堡市场", "91370000MA3C5EX46G", "market", "370112")).await;
    let res = operator
        .put(app.url(&format!("/api/v1/merchants/{id}")))
        .json(&merchant("王记蔬菜", &other))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(problem(res).await["detail"].as_str().unwrap().contains("node_code"));

    // Search: by node name or code, by type, by region with its descendants; tenants apart.
    for q in ["node=堤口路", &format!("node={market}"), "merchant_type=stall", "region=370100", "name=王记", "code=M37"]
    {
        let page: Value =
            operator.get(app.url(&format!("/api/v1/merchants?{q}"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(page["total"], 1, "{q}");
    }
    let page: Value =
        operator.get(app.url("/api/v1/merchants?region=320000")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["total"], 0);
    let page: Value = js.admin.get(app.url("/api/v1/merchants")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["total"], 0, "a sibling sees none");
    assert_eq!(js.admin.get(app.url(&format!("/api/v1/merchants/{id}"))).send().await.unwrap().status(), 403);
    let page: Value = national.get(app.url("/api/v1/merchants")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["total"], 1, "the parent reads its child's merchants");
    assert_eq!(
        national.put(app.url(&format!("/api/v1/merchants/{id}"))).json(&fixed).send().await.unwrap().status(),
        403,
        "but changes none"
    );
    let csv = operator.get(app.url("/api/v1/merchants/export")).send().await.unwrap().text().await.unwrap();
    assert!(csv.trim_start_matches('\u{feff}').starts_with("经营户编码,经营户名称,经营户类型"));
    assert!(csv.contains("摊位经营户") && csv.contains("济南堤口路农贸市场"), "{csv}");
}

#[tokio::test]
async fn products_are_filed_with_gtin_and_follow_the_tenants_change_control() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let (_, operator) = app.user_with_roles(&sd.admin, "sd_operator", &["operator"]).await;
    let farm = approved(&app, &sd.admin, &enterprise("寿光蔬菜集团", "91110108551385082Q", "producer", "370783")).await;

    let mut bad = product("", &farm);
    bad["gtin"] = json!("6901234567893");
    bad["shelf_life_days"] = json!(0);
    bad["category_code"] = json!("9999");
    let res = operator.post(app.url("/api/v1/products")).json(&bad).send().await.unwrap();
    let p = problem(res).await;
    let fields: Vec<_> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "category_code", "shelf_life_days", "gtin"], "{p}");
    assert!(p["errors"][3]["message"].as_str().unwrap().contains("应为 2"), "the right check digit is named: {p}");

    let res = operator
        .post(app.url("/api/v1/products"))
        .json(&{
            let mut b = product("寿光番茄", &farm);
            b["submit"] = json!(true);
            b
        })
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["gtin"], "06901234567892", "GTINs are kept as 14 digits");
    assert_eq!(p["enterprise_name"], "寿光蔬菜集团");
    assert!(p["code"].as_str().unwrap().starts_with("P370000"));
    let id = p["id"].as_str().unwrap().to_owned();
    sd.admin.post(app.url(&format!("/api/v1/products/{id}/approve"))).send().await.unwrap();

    // Saving without a change writes nothing: no version, no outbox row.
    let before = app.write_counts().await;
    let res = operator
        .put(app.url(&format!("/api/v1/products/{id}")))
        .json(&product("寿光番茄", &farm))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["version"], 1);
    assert_eq!(app.write_counts().await, before, "an unchanged save writes nothing");

    // Built-in rules: the brand needs review; the GTIN is the reviewers' alone.
    let mut rebrand = product("寿光番茄", &farm);
    rebrand["brand"] = json!("乐义");
    let res = operator.put(app.url(&format!("/api/v1/products/{id}"))).json(&rebrand).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "changed");
    operator.post(app.url(&format!("/api/v1/products/{id}/submit"))).send().await.unwrap();
    sd.admin.post(app.url(&format!("/api/v1/products/{id}/approve"))).send().await.unwrap();
    let versions: Value =
        operator.get(app.url(&format!("/api/v1/products/{id}/versions"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(versions[1]["changed_fields"], json!(["brand"]), "the version diff");
    assert_eq!(versions[1]["data"]["brand"], "乐义");
    assert_eq!(versions[0]["data"]["brand"], "寿光");
    let mut regtin = rebrand.clone();
    regtin["gtin"] = json!("4006381333931");
    let res = operator.put(app.url(&format!("/api/v1/products/{id}"))).json(&regtin).send().await.unwrap();
    assert_eq!(problem(res).await["code"], "field_protected");

    // The tenant changes its rules: operators may now correct a GTIN, without review.
    let rules = json!({"rules": [{"field": "gtin", "editable_by": "operator", "needs_review": false}]});
    let res = operator.put(app.url("/api/v1/filing-rules/product")).json(&rules).send().await.unwrap();
    assert_eq!(res.status(), 403, "operators do not set the rules");
    let res = sd
        .admin
        .put(app.url("/api/v1/filing-rules/product"))
        .json(&json!({"rules": [{"field": "colour", "editable_by": "anyone", "needs_review": false}]}))
        .send()
        .await
        .unwrap();
    let p = problem(res).await;
    let fields: Vec<_> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["rules[0].field", "rules[0].editable_by"]);
    let res = sd.admin.put(app.url("/api/v1/filing-rules/product")).json(&rules).send().await.unwrap();
    let set: Value = res.json().await.unwrap();
    let gtin = set.as_array().unwrap().iter().find(|r| r["field"] == "gtin").unwrap().clone();
    assert_eq!((gtin["editable_by"].as_str(), gtin["customised"].as_bool()), (Some("operator"), Some(true)));
    let res = operator.put(app.url(&format!("/api/v1/products/{id}"))).json(&regtin).send().await.unwrap();
    let p: Value = res.json().await.unwrap();
    assert_eq!(
        (p["status"].as_str(), p["version"].as_i64(), p["gtin"].as_str()),
        (Some("approved"), Some(3), Some("04006381333931"))
    );
    assert_eq!(app.audit_rows("filing_rule.update").await, 1);

    // Search by category (with the categories below it), producer and GTIN.
    for q in ["category=01", "category=0101", "enterprise=寿光", &format!("enterprise={farm}"), "gtin=4006381333931"]
    {
        let page: Value =
            operator.get(app.url(&format!("/api/v1/products?{q}"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(page["total"], 1, "{q}");
    }
    let page: Value = operator.get(app.url("/api/v1/products?category=02")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["total"], 0);

    // A sibling's private category is not offered to this tenant's filings.
    let js = app.onboard(&national, "320000", "江苏省").await;
    let catalogue: Value = js.admin.get(app.url("/api/v1/catalogue")).send().await.unwrap().json().await.unwrap();
    let veg = catalogue.as_array().unwrap().iter().find(|c| c["code"] == "0101").unwrap()["id"].clone();
    let res = js
        .admin
        .post(app.url("/api/v1/catalogue"))
        .json(&json!({"parent_id": veg, "code": "010198", "name": "江苏细分"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let mut private = product("借用分类", &farm);
    private["category_code"] = json!("010198");
    let res = operator.post(app.url("/api/v1/products")).json(&private).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "category_code");

    // A producer with a change waiting for review is not referenced with unreviewed content.
    let pending =
        approved(&app, &sd.admin, &enterprise("待变更企业", "91370100MA3C0001AE", "producer", "370783")).await;
    let list: Value = sd
        .admin
        .get(app.url(&format!("/api/v1/enterprises?code={pending}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let eid = list["items"][0]["id"].as_str().unwrap().to_owned();
    let mut renamed = enterprise("待变更企业（新名）", "91370100MA3C0001AE", "producer", "370783");
    renamed["submit"] = json!(false);
    let res = sd.admin.put(app.url(&format!("/api/v1/enterprises/{eid}"))).json(&renamed).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "changed");
    let res = operator.post(app.url("/api/v1/products")).json(&product("新品", &pending)).send().await.unwrap();
    assert!(problem(res).await["errors"][0]["message"].as_str().unwrap().contains("待审核的变更"));

    // A page beyond any list is refused, not a crash.
    let res = operator.get(app.url("/api/v1/products?page=18446744073709551615")).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "page");

    // A category a filing uses cannot be deleted.
    let catalogue: Value = sd.admin.get(app.url("/api/v1/catalogue")).send().await.unwrap().json().await.unwrap();
    let veg = catalogue.as_array().unwrap().iter().find(|c| c["code"] == "0101").unwrap()["id"].clone();
    let sub: Value = sd
        .admin
        .post(app.url("/api/v1/catalogue"))
        .json(&json!({"parent_id": veg, "code": "010199", "name": "寿光番茄"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut tomato = product("樱桃番茄", &farm);
    tomato["category_code"] = json!("010199");
    tomato["gtin"] = json!(null);
    assert_eq!(operator.post(app.url("/api/v1/products")).json(&tomato).send().await.unwrap().status(), 201);
    let res =
        sd.admin.delete(app.url(&format!("/api/v1/catalogue/{}", sub["id"].as_str().unwrap()))).send().await.unwrap();
    assert_eq!(res.status(), 409);
    assert!(problem(res).await["detail"].as_str().unwrap().contains("已有备案使用"));
}
