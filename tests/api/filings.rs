//! R-SUBJ-1…4 (enterprise part): filing, platform-issued codes, review, versions, the outbox
//! row for the parent, and the tenant boundary (a sibling is refused; a parent reads but never
//! writes a child's filing).

use serde_json::{Value, json};
use suyuan_tests::{TestApp, problem, spawn_app};

fn filing(name: &str, uscc: &str) -> Value {
    json!({
        "name": name, "uscc": uscc, "enterprise_type": "producer", "categories": ["0101"],
        "stages": ["primary_production", "sale"], "licence_no": "JY13707830012345",
        "address": "寿光市文圣街道农圣街 1 号", "division_code": "370783",
        "longitude": 118.79, "latitude": 36.86,
        "contact_name": "王强", "contact_phone": "0536-5211234", "contact_email": "wq@sgveg.cn",
    })
}

async fn outbox_rows(app: &TestApp) -> i64 {
    app.scalar("SELECT COUNT(*) AS n FROM outbox").await
}

#[tokio::test]
async fn an_enterprise_is_filed_reviewed_versioned_and_queued_for_the_parent() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let (_, operator) = app.user_with_roles(&sd.admin, "sd_operator", &["operator"]).await;

    // Bad input: every field named, nothing written.
    let before = app.write_counts().await;
    let res = operator
        .post(app.url("/api/v1/enterprises"))
        .json(&json!({"name": "", "uscc": "91350100M000100Y44", "enterprise_type": "factory", "categories": ["9999"],
                      "stages": ["cooking"], "address": "x", "division_code": "320100",
                      "longitude": 118.0, "contact_name": "王", "contact_phone": "abc"}))
        .send()
        .await
        .unwrap();
    let p = problem(res).await;
    let fields: Vec<_> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        ["name", "uscc", "enterprise_type", "categories[0]", "stages[0]", "division_code", "latitude", "contact_phone"],
        "{p}"
    );
    assert!(
        p["errors"][1]["message"].as_str().unwrap().contains("校验位"),
        "the GB 32100 check names the right character"
    );
    assert_eq!(app.write_counts().await, before);

    // Filed as a draft with a platform-issued code.
    let res = operator
        .post(app.url("/api/v1/enterprises"))
        .json(&filing("寿光蔬菜集团", "91350100M000100Y43"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["status"], "draft");
    assert_eq!(e["code"], suyuan_platform::modules::subjects::service::enterprise_code("370000", 1));
    assert!(e["code"].as_str().unwrap().starts_with("E3700000000001"));
    let id = e["id"].as_str().unwrap().to_owned();
    let res = operator
        .post(app.url("/api/v1/enterprises"))
        .json(&filing("同码企业", "91350100M000100Y43"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409, "one filing per credit code");

    // Review: the operator submits, cannot approve; the manager approves.
    let res = operator.post(app.url(&format!("/api/v1/enterprises/{id}/submit"))).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "submitted");
    let res = operator.post(app.url(&format!("/api/v1/enterprises/{id}/approve"))).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res = operator
        .put(app.url(&format!("/api/v1/enterprises/{id}")))
        .json(&filing("改名", "91350100M000100Y43"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409, "no changes while under review");
    let res = sd.admin.post(app.url(&format!("/api/v1/enterprises/{id}/approve"))).send().await.unwrap();
    let e: Value = res.json().await.unwrap();
    assert_eq!((e["status"].as_str(), e["version"].as_i64()), (Some("approved"), Some(1)));
    assert_eq!(outbox_rows(&app).await, 1, "the approval queues the filing for the parent in its transaction");

    // Change control (R-SUBJ-4), built-in rules: a contact change takes effect at once as
    // version 2; the name is protected — the operator is refused, naming the field, and nothing
    // is written; the manager's change needs review again.
    let mut changed = filing("寿光蔬菜集团", "91350100M000100Y43");
    changed["contact_phone"] = json!("0536-5219999");
    let res = operator.put(app.url(&format!("/api/v1/enterprises/{id}"))).json(&changed).send().await.unwrap();
    let e: Value = res.json().await.unwrap();
    assert_eq!((e["status"].as_str(), e["version"].as_i64()), (Some("approved"), Some(2)), "{e}");
    assert_eq!(outbox_rows(&app).await, 2, "the change goes to the parent too");
    changed["name"] = json!("寿光蔬菜产业集团");
    let before = app.write_counts().await;
    let res = operator.put(app.url(&format!("/api/v1/enterprises/{id}"))).json(&changed).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let p = problem(res).await;
    assert_eq!(p["code"], "field_protected");
    assert!(p["detail"].as_str().unwrap().contains("企业名称（name）"), "{p}");
    assert_eq!(app.write_counts().await, before, "a refused change writes nothing");
    let res = sd.admin.put(app.url(&format!("/api/v1/enterprises/{id}"))).json(&changed).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "changed");
    let res = operator.post(app.url(&format!("/api/v1/enterprises/{id}/submit"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = sd
        .admin
        .post(app.url(&format!("/api/v1/enterprises/{id}/reject")))
        .json(&json!({"reason": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "reason");
    let res = sd
        .admin
        .post(app.url(&format!("/api/v1/enterprises/{id}/reject")))
        .json(&json!({"reason": "请上传新的营业执照"}))
        .send()
        .await
        .unwrap();
    let e: Value = res.json().await.unwrap();
    assert_eq!((e["status"].as_str(), e["reason"].as_str()), (Some("rejected"), Some("请上传新的营业执照")));
    operator.post(app.url(&format!("/api/v1/enterprises/{id}/submit"))).send().await.unwrap();
    let res = sd.admin.post(app.url(&format!("/api/v1/enterprises/{id}/approve"))).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["version"], 3);
    let versions: Value = operator
        .get(app.url(&format!("/api/v1/enterprises/{id}/versions")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versions.as_array().unwrap().len(), 3);
    assert_eq!(versions[1]["changed_fields"], json!(["contact_phone"]));
    assert_eq!(versions[2]["changed_fields"], json!(["name"]));
    assert_eq!(outbox_rows(&app).await, 3);
    assert_eq!(app.audit_rows("enterprise.approve").await, 2);
    // The dashboards count it: the agency's own, and the national level's roll-up.
    for who in [&sd.admin, &national] {
        let d: Value = who.get(app.url("/api/v1/dashboard")).send().await.unwrap().json().await.unwrap();
        let filings = d["figures"].as_array().unwrap().iter().find(|f| f["key"] == "filings").unwrap().clone();
        assert_eq!(filings["value"], 1, "{filings}");
    }
}

#[tokio::test]
async fn enterprise_systems_file_with_their_keys_and_tenants_keep_to_their_own() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let key: Value = sd
        .admin
        .post(app.url("/api/v1/api-keys"))
        .json(&json!({"name": "寿光蔬菜集团追溯系统", "role": "operator"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = key["secret"].as_str().unwrap();
    let mut body = filing("寿光蔬菜集团", "91350100M000100Y43");
    body["submit"] = json!(true);
    let res = TestApp::new_client()
        .post(app.url("/api/v1/enterprises"))
        .bearer_auth(secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "an enterprise's own system files through the API");
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["status"], "submitted");
    let id = e["id"].as_str().unwrap().to_owned();

    // One filing per credit code nationwide: another province cannot file it again.
    let mut twin = filing("南京同码企业", "91350100M000100Y43");
    twin["division_code"] = json!("320100");
    let res = js.admin.post(app.url("/api/v1/enterprises")).json(&twin).send().await.unwrap();
    assert_eq!(res.status(), 409, "a credit code filed in another tenant is refused");
    assert!(problem(res).await["detail"].as_str().unwrap().contains("已备案"));

    // A sibling sees nothing and is refused; the parent reads, and is refused any change.
    let list: Value = js.admin.get(app.url("/api/v1/enterprises")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["total"], 0);
    assert_eq!(js.admin.get(app.url(&format!("/api/v1/enterprises/{id}"))).send().await.unwrap().status(), 403);
    assert_eq!(
        js.admin.get(app.url(&format!("/console/enterprises/{id}"))).send().await.unwrap().status(),
        403,
        "the page too"
    );
    let page = national.get(app.url(&format!("/console/enterprises/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("只能查看") && !page.contains("/approve\""), "the parent's page offers no review");
    let list: Value = national.get(app.url("/api/v1/enterprises")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"][0]["code"], e["code"], "the parent reads its child's filings");
    let before = app.write_counts().await;
    for res in [
        national.post(app.url(&format!("/api/v1/enterprises/{id}/approve"))).send().await.unwrap(),
        national
            .put(app.url(&format!("/api/v1/enterprises/{id}")))
            .json(&filing("改", "91350100M000100Y43"))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(res.status(), 403);
    }
    assert_eq!(app.write_counts().await, before, "a parent never writes a child's filing");
    // An address outside the tenant's region is refused.
    let mut outside = filing("南京企业", "91110108551385082Q");
    outside["division_code"] = json!("320100");
    let res = sd.admin.post(app.url("/api/v1/enterprises")).json(&outside).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["rule"], "outside");
}

#[tokio::test]
async fn filings_are_searched_by_region_type_category_and_name_with_paging() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let codes = ["91350100M000100Y43", "91110108551385082Q"];
    for (i, (name, division, kind, category)) in
        [("寿光蔬菜集团", "370783", "producer", "0101"), ("济南乳业", "370102", "processor", "0201")].iter().enumerate()
    {
        let mut body = filing(name, codes[i]);
        body["division_code"] = json!(division);
        body["enterprise_type"] = json!(kind);
        body["categories"] = json!([category]);
        let res = sd.admin.post(app.url("/api/v1/enterprises")).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201);
    }
    let search = |q: &str| {
        let c = sd.admin.clone();
        let url = app.url(&format!("/api/v1/enterprises?{q}"));
        async move { c.get(url).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let names = |v: &Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&search("region=370700").await), ["寿光蔬菜集团"], "a city includes its counties");
    assert_eq!(search("region=370000").await["total"], 2);
    assert_eq!(names(&search("enterprise_type=processor").await), ["济南乳业"]);
    assert_eq!(names(&search("category=0101").await), ["寿光蔬菜集团"]);
    assert_eq!(names(&search("name=乳业").await), ["济南乳业"]);
    assert_eq!(names(&search("sort=code").await), ["寿光蔬菜集团", "济南乳业"], "in the order they were filed");
    assert_eq!(names(&search("sort=-code").await), ["济南乳业", "寿光蔬菜集团"]);
    assert_eq!(names(&search("sort=code&page_size=1&page=2").await), ["济南乳业"], "the second page");
    let page = search("page_size=1").await;
    assert_eq!((page["total"].as_u64(), page["items"].as_array().unwrap().len()), (Some(2), 1));
    // Export: the same filters, as CSV or XLSX, audited.
    let res = sd.admin.get(app.url("/api/v1/enterprises/export?region=370700")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert!(lines[0].starts_with("企业编码,企业名称,统一社会信用代码"));
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].contains("寿光蔬菜集团") && lines[1].contains("生产企业") && lines[1].contains("初级生产"));
    let res = sd.admin.get(app.url("/api/v1/enterprises/export?format=xlsx")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(res.bytes().await.unwrap().starts_with(b"PK"), "an XLSX is a zip file");
    let res = sd.admin.get(app.url("/api/v1/enterprises/export?format=pdf")).send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "format");
    assert_eq!(app.audit_rows("enterprise.export").await, 2);
    let res = sd.admin.get(app.url("/api/v1/enterprises?region=37&sort=size&page_size=500")).send().await.unwrap();
    let p = problem(res).await;
    let fields: Vec<_> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["page_size", "region", "sort"]);
}
