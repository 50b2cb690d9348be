//! R-IF-3 import: CSV and XLSX with the export's columns, a dry run reporting every bad row
//! (row, column, rule) and writing nothing, all-or-nothing, or the good rows only; progress in
//! the job; the tenant boundary.

use serde_json::{Value, json};
use suyuan_tests::{TestApp, problem, spawn_app};

const HEADER: &str = "企业名称,统一社会信用代码,企业类型,经营品类,追溯环节,地址,地区代码,经度,纬度,联系人,联系电话";

async fn start(app: &TestApp, who: &reqwest::Client, query: &str, body: Vec<u8>, content_type: &str) -> Value {
    let res = who
        .post(app.url(&format!("/api/v1/imports?{query}")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "{query}");
    res.json().await.unwrap()
}

/// Polls the import until it ends.
async fn finished(app: &TestApp, who: &reqwest::Client, job: &Value) -> Value {
    let url = app.url(&format!("/api/v1/imports/{}", job["id"].as_str().unwrap()));
    for _ in 0..400 {
        let j: Value = who.get(&url).send().await.unwrap().json().await.unwrap();
        if matches!(j["status"].as_str(), Some("done" | "failed")) {
            return j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the import did not end");
}

async fn enterprises(app: &TestApp) -> i64 {
    app.write_counts().await.into_iter().find(|(t, _)| t == "enterprises").unwrap().1
}

#[tokio::test]
async fn a_file_with_bad_rows_is_reported_row_by_row_and_writes_nothing_unless_asked() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let js = app.onboard(&national, "320000", "江苏省").await;
    let (_, operator) = app.user_with_roles(&sd.admin, "sd_operator", &["operator"]).await;
    let csv = format!(
        "\u{feff}{HEADER}\n\
         寿光蔬菜集团,91350100M000100Y43,生产企业,0101,初级生产 产品消费或使用,寿光市农圣街 1 号,370783,118.79,36.86,王强,0536-5211234\n\
         坏的企业,91350100M000100Y44,生产企业,0101 9999,初级生产,济南,370102,,,李,0531-1\n\
         ,,,,,,,,,,\n\
         重复企业,91350100M000100Y43,wholesaler,0101,sale,济南,370102,东经,36.6,张,0531-2\n"
    );

    // Dry run: every problem with its spreadsheet row and column heading; nothing written.
    let before = enterprises(&app).await;
    let job =
        start(&app, &operator, "kind=enterprise&mode=dry_run&file_name=企业.csv", csv.clone().into_bytes(), "text/csv")
            .await;
    let j = finished(&app, &operator, &job).await;
    assert_eq!(
        (j["total_rows"].as_i64(), j["good_rows"].as_i64(), j["bad_rows"].as_i64()),
        (Some(3), Some(1), Some(2)),
        "{j}"
    );
    assert_eq!((j["processed_rows"].as_i64(), j["imported_rows"].as_i64()), (Some(3), Some(0)));
    let problems: Vec<(i64, &str, &str)> = j["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["column"].as_str().unwrap(), e["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(
        problems,
        [
            (3, "统一社会信用代码", "gb32100"),
            (3, "经营品类", "unknown"),
            (5, "经度", "number"),
            (5, "经度", "required")
        ],
        "{j}"
    );
    assert_eq!(enterprises(&app).await, before);

    // All or nothing: a bad row stops it.
    let job = start(&app, &operator, "kind=enterprise&mode=all_or_nothing", csv.clone().into_bytes(), "text/csv").await;
    let j = finished(&app, &operator, &job).await;
    assert_eq!((j["status"].as_str(), j["imported_rows"].as_i64()), (Some("done"), Some(0)));
    assert_eq!(enterprises(&app).await, before);

    // The good rows, as submitted filings with issued codes; one audit record.
    let job = start(&app, &operator, "kind=enterprise&mode=good_rows&submit=true", csv.into_bytes(), "text/csv").await;
    let j = finished(&app, &operator, &job).await;
    assert_eq!(j["imported_rows"], 1, "{j}");
    let list: Value = operator.get(app.url("/api/v1/enterprises")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["total"], 1);
    let e = &list["items"][0];
    assert_eq!((e["name"].as_str(), e["status"].as_str()), (Some("寿光蔬菜集团"), Some("submitted")));
    assert_eq!(e["stages"], json!(["primary_production", "sale"]), "labels are read as keys");
    assert!(e["code"].as_str().unwrap().starts_with("E3700000000001"));
    assert_eq!(app.audit_rows("enterprise.import").await, 1);

    // An export, imported again as XLSX: the same columns; the credit code is filed already.
    let xlsx =
        operator.get(app.url("/api/v1/enterprises/export?format=xlsx")).send().await.unwrap().bytes().await.unwrap();
    let job = start(
        &app,
        &operator,
        "kind=enterprise",
        xlsx.to_vec(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    .await;
    let j = finished(&app, &operator, &job).await;
    assert_eq!(j["errors"][0]["rule"], "duplicate", "{j}");
    assert!(j["errors"][0]["message"].as_str().unwrap().contains("已备案"));

    // A file that is no table, or lacks columns, is refused at once.
    let res = operator
        .post(app.url("/api/v1/imports?kind=enterprise"))
        .header("content-type", "text/csv")
        .body("企业名称,地址\n甲,乙\n")
        .send()
        .await
        .unwrap();
    let p = problem(res).await;
    assert_eq!(p["errors"][0]["field"], "file");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("统一社会信用代码"), "{p}");
    let res = operator
        .post(app.url("/api/v1/imports?kind=enterprise&format=xlsx"))
        .header("content-type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .body("not a zip")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["rule"], "xlsx");
    let res = operator.post(app.url("/api/v1/imports?kind=animals")).body("").send().await.unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "kind");
    // Only a CSV or XLSX body: a plain form post from another site cannot start an import.
    let res = operator
        .post(app.url("/api/v1/imports?kind=enterprise&format=csv"))
        .header("content-type", "text/plain")
        .body(format!("{HEADER}\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    // An XLSX naming a cell a million rows down is refused, not allocated.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "企业名称").unwrap();
    sheet.write_string(1_048_575, 0, "远处的单元格").unwrap();
    let res = operator
        .post(app.url("/api/v1/imports?kind=enterprise"))
        .header("content-type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .body(book.save_to_buffer().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["rule"], "too_many");

    // Tenants apart: a sibling cannot read the import; the list is the tenant's own.
    let id = job["id"].as_str().unwrap();
    assert_eq!(js.admin.get(app.url(&format!("/api/v1/imports/{id}"))).send().await.unwrap().status(), 403);
    let mine: Value = operator.get(app.url("/api/v1/imports")).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 4);
    let theirs: Value = js.admin.get(app.url("/api/v1/imports")).send().await.unwrap().json().await.unwrap();
    assert_eq!(theirs.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn merchants_and_products_import_against_approved_filings() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let market: Value = sd
        .admin
        .post(app.url("/api/v1/enterprises"))
        .json(&json!({"name": "济南堤口路农贸市场", "uscc": "91350100M000100Y43", "enterprise_type": "market",
                      "categories": ["0101"], "stages": ["sale"], "address": "济南", "division_code": "370102",
                      "contact_name": "李", "contact_phone": "0531-88881234", "submit": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    sd.admin
        .post(app.url(&format!("/api/v1/enterprises/{}/approve", market["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    let node = market["code"].as_str().unwrap();

    let csv = format!(
        "经营户名称,经营户类型,经营品类,节点企业编码,摊位号,联系人,联系电话\n\
         王记蔬菜,摊位经营户,0101,{node},A-1,王芳,13905310001\n\
         李家水果,stall,0102,E9999999999999X,A-2,李,13905310002\n"
    );
    let job = start(&app, &sd.admin, "kind=merchant&mode=good_rows", csv.into_bytes(), "text/csv").await;
    let j = finished(&app, &sd.admin, &job).await;
    assert_eq!((j["imported_rows"].as_i64(), j["bad_rows"].as_i64()), (Some(1), Some(1)), "{j}");
    assert_eq!((j["errors"][0]["row"].as_i64(), j["errors"][0]["column"].as_str()), (Some(3), Some("节点企业编码")));
    let m: Value = sd.admin.get(app.url("/api/v1/merchants")).send().await.unwrap().json().await.unwrap();
    assert_eq!(m["items"][0]["node_name"], "济南堤口路农贸市场");

    let csv = format!("产品名称,产品分类,计量单位,商品条码,生产企业编码\n菠菜,0101,kg,6920152400159,{node}\n");
    let job = start(&app, &sd.admin, "kind=product&mode=all_or_nothing", csv.into_bytes(), "text/csv").await;
    let j = finished(&app, &sd.admin, &job).await;
    assert_eq!(j["imported_rows"], 1, "{j}");
}
