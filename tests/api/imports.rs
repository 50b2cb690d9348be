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
    assert_eq!(mine["items"].as_array().unwrap().len(), 4);
    assert_eq!(mine["total"], 4);
    let theirs: Value = js.admin.get(app.url("/api/v1/imports")).send().await.unwrap().json().await.unwrap();
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);
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

/// An XLSX whose shared strings unpack to `unpacked` bytes of one repeated letter (a few
/// hundred KiB packed), with a sheet naming that string as its only heading. Streamed into the
/// archive, so the test itself never holds the unpacked text.
pub fn xlsx_bomb(unpacked: usize) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(unpacked > u32::MAX as usize);
    let parts: [(&str, &str); 4] = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#,
        ),
    ];
    for (name, text) in parts {
        zip.start_file(name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
    zip.write_all(
        br#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>"#,
    )
    .unwrap();
    zip.start_file("xl/sharedStrings.xml", options).unwrap();
    let head = r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>"#;
    let tail = "</t></si></sst>";
    zip.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'A'; 64 * 1024];
    let mut left = unpacked - head.len() - tail.len();
    while left > 0 {
        let n = left.min(chunk.len());
        zip.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    zip.write_all(tail.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

/// The process's peak resident memory so far (`VmHWM`, bytes).
fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux)");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

const BOMB_CHILD: &str = "SUYUAN_TEST_XLSX_BOMB_CHILD";

/// R-SEC resource bomb: a 100 MiB shared-strings part packed into a few hundred KiB is refused
/// from the archive's directory, before any part is parsed, with 422 naming the limit. The peak
/// memory is measured in a process of its own (this test runs itself again, alone), so no other
/// test's allocations can move it.
#[tokio::test]
async fn an_xlsx_bomb_is_refused_before_parsing_in_bounded_memory() {
    if std::env::var_os(BOMB_CHILD).is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["imports::an_xlsx_bomb_is_refused_before_parsing_in_bounded_memory", "--exact", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(BOMB_CHILD, "1")
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "the measuring run failed:\n{text}");
        assert!(text.contains("1 passed"), "the measuring run ran the test:\n{text}");
        return;
    }
    const UNPACKED: usize = 100 * 1024 * 1024;
    // Made first: packing takes a while, longer than the server keeps an idle connection.
    let bomb = xlsx_bomb(UNPACKED);
    assert!(bomb.len() < 1024 * 1024, "packed small: {} bytes", bomb.len());
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

    let before = peak_memory();
    for path in ["/api/v1/imports?kind=enterprise", "/api/v1/trace/events/import"] {
        let res = sd.admin.post(app.url(path)).header("content-type", xlsx).body(bomb.clone()).send().await.unwrap();
        assert_eq!(res.status(), 422, "{path}");
        let p = problem(res).await;
        assert_eq!(p["errors"][0]["field"], "file", "{p}");
        assert_eq!(p["errors"][0]["rule"], "xlsx_part_bytes", "the limit is named: {p}");
        assert!(p["errors"][0]["message"].as_str().unwrap().contains("MiB"), "{p}");
    }
    let grown = peak_memory().saturating_sub(before);
    // Parsing would hold the 100 MiB string at least once; the refusal holds nothing of it.
    assert!(grown < 32 * 1024 * 1024, "peak memory grew by {} MiB", grown / 1024 / 1024);
    assert_eq!(enterprises(&app).await, 0);
    assert_eq!(app.scalar("SELECT COUNT(*) AS n FROM import_jobs").await, 0, "no job started");
    assert_eq!(app.scalar("SELECT COUNT(*) AS n FROM trace_events").await, 0);
}
