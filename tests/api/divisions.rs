//! Issue 18, items 6 and 7 (R-SUBJ-1, R-TEN-1, R-ARCH-1, R-EMG-3, R-IF-3): every division
//! code that comes in — filings, tenants, trace records, region filters — is checked against
//! the GB/T 2260 county-and-above table shipped with the platform and named from it; exports
//! state their time zone in the heading and name subjects and regions by code and name, while
//! JSON answers carry RFC 3339 times with their offset (`Z`).

use serde_json::{Value, json};
use suyuan_tests::{problem, spawn_app};

fn enterprise(name: &str, uscc: &str, division: &str) -> Value {
    json!({"name": name, "uscc": uscc, "enterprise_type": "producer", "categories": ["0101"],
           "stages": ["primary_production", "sale"], "address": "济南市历城区工业北路 1 号",
           "division_code": division, "contact_name": "王强", "contact_phone": "0531-88881234"})
}

fn record(id: &str, stage: &str, action: &str, subject: &str, batch: &str, division: &str) -> Value {
    json!({"client_event_id": id, "stage": stage, "action": action, "subject_code": subject,
           "product_name": "章丘大葱", "batch_no": batch, "trace_codes": [format!("TC-{batch}")],
           "quantity": 500.0, "unit": "kg", "event_time": "2026-11-20T06:30:00+08:00",
           "division_code": division})
}

/// The text of a CSV answer without its BOM.
async fn csv_text(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 200);
    res.text().await.unwrap().trim_start_matches('\u{feff}').to_owned()
}

/// The shared strings of an XLSX answer (every text cell of the workbook).
async fn xlsx_strings(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("xl/sharedStrings.xml").unwrap(), &mut out).unwrap();
    out
}

#[tokio::test]
async fn division_codes_are_checked_against_the_gbt2260_table_and_named_from_it() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;

    // 379999 carries Shandong's prefix but names no division: 422 naming the field, nothing
    // written.
    let before = app.write_counts().await;
    let res = sd
        .admin
        .post(app.url("/api/v1/enterprises"))
        .json(&enterprise("历城农场", "91350100M000100Y43", "379999"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let p = problem(res).await;
    assert_eq!(p["errors"].as_array().unwrap().len(), 1, "{p}");
    assert_eq!(
        (p["errors"][0]["field"].as_str(), p["errors"][0]["rule"].as_str()),
        (Some("division_code"), Some("unknown"))
    );
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("379999"), "{p}");
    assert_eq!(app.write_counts().await, before, "nothing written");

    // 370112 历城区: accepted and named, province first.
    let res = sd
        .admin
        .post(app.url("/api/v1/enterprises"))
        .json(&enterprise("历城农场", "91350100M000100Y43", "370112"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let e: Value = res.json().await.unwrap();
    assert_eq!(
        (e["division_code"].as_str(), e["division_name"].as_str()),
        (Some("370112"), Some("山东省济南市历城区"))
    );
    let id = e["id"].as_str().unwrap();
    let got: Value =
        sd.admin.get(app.url(&format!("/api/v1/enterprises/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["division_name"], "山东省济南市历城区");
    // An update to a code that names nothing is refused the same way.
    let res = sd
        .admin
        .put(app.url(&format!("/api/v1/enterprises/{id}")))
        .json(&enterprise("历城农场", "91350100M000100Y43", "370199"))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "division_code");

    // Tenants: a city that does not exist is refused, a real one onboarded.
    let before = app.write_counts().await;
    let res = sd
        .admin
        .post(app.url("/api/v1/tenants"))
        .json(&json!({"code": "379900", "name": "不存在市", "admin_username": "admin_379900",
                      "admin_display_name": "管理员"}))
        .send()
        .await
        .unwrap();
    let p = problem(res).await;
    assert_eq!((p["status"].as_u64(), p["errors"][0]["field"].as_str()), (Some(422), Some("code")), "{p}");
    assert_eq!(app.write_counts().await, before, "nothing written");
    let jn = app.onboard(&sd.admin, "370100", "济南市").await;

    // Trace records: a record whose region names nothing is refused whole, naming the record.
    let farm = app.approved_enterprise(&jn.admin, "章丘葱园", "91110108551385082Q", "producer", "370114").await;
    let before = app.write_counts().await;
    let res = jn
        .admin
        .post(app.url("/api/v1/trace/events"))
        .json(&json!({"events": [
            record("1", "primary_production", "harvest", &farm, "ZQ1", "370114"),
            record("2", "primary_production", "harvest", &farm, "ZQ2", "370188"),
        ]}))
        .send()
        .await
        .unwrap();
    let p = problem(res).await;
    assert_eq!(
        (p["status"].as_u64(), p["errors"][0]["field"].as_str()),
        (Some(422), Some("events[1].division_code")),
        "{p}"
    );
    assert_eq!(app.write_counts().await, before, "nothing written");
    let res = jn
        .admin
        .post(app.url("/api/v1/trace/events"))
        .json(&json!({"events": [record("1", "primary_production", "harvest", &farm, "ZQ1", "370114")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value =
        jn.admin.get(app.url("/api/v1/trace/events?batch_no=ZQ1")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["items"][0]["division_name"], "山东省济南市章丘区", "{page}");

    // Region filters: a code that names nothing is a 422 naming `region`.
    for path in [
        "/api/v1/dashboard/map?region=379900",
        "/api/v1/filings/map?region=379900",
        "/api/v1/trace/events?region=379900",
    ] {
        let p = problem(sd.admin.get(app.url(path)).send().await.unwrap()).await;
        assert_eq!(
            (p["status"].as_u64(), p["errors"][0]["field"].as_str()),
            (Some(422), Some("region")),
            "{path}: {p}"
        );
    }
    // The map names its sub-regions from the table, with or without a tenant there.
    let m: Value =
        sd.admin.get(app.url("/api/v1/dashboard/map?region=370000")).send().await.unwrap().json().await.unwrap();
    assert_eq!(m["regions"][0]["code"], "370100", "{m}");
    assert_eq!(m["regions"][0]["name"], "济南市", "{m}");

    // The filing export: the region by code and name.
    let csv = csv_text(sd.admin.get(app.url("/api/v1/enterprises/export?format=csv")).send().await.unwrap()).await;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let at = |h: &str| header.iter().position(|x| x == h).unwrap_or_else(|| panic!("no column {h}: {header:?}"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let row = rows.iter().find(|r| &r[at("企业名称")] == "历城农场").unwrap();
    assert_eq!((&row[at("地区代码")], &row[at("地区名称")]), ("370112", "山东省济南市历城区"));
}

#[tokio::test]
async fn exports_state_their_time_zone_and_name_subjects_by_code_and_name() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let farm = app.approved_enterprise(&sd.admin, "章丘葱园", "91350100M000100Y43", "producer", "370114").await;
    let shop = app.approved_enterprise(&sd.admin, "历下超市", "91110108551385082Q", "retailer", "370102").await;
    let mut ship = record("2", "transport", "ship", &farm, "ZQ1", "370114");
    ship["counterpart_code"] = json!(shop);
    let res = sd
        .admin
        .post(app.url("/api/v1/trace/events"))
        .json(&json!({"events": [record("1", "primary_production", "harvest", &farm, "ZQ1", "370114"), ship]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let chain = |format: &str| {
        let url = app.url(&format!("/api/v1/trace/chain?batch=ZQ1&subject={farm}&format={format}"));
        let who = sd.admin.clone();
        async move { who.get(url).send().await.unwrap() }
    };

    // JSON: RFC 3339 with the offset (UTC, `Z`); the same instant the record was sent with.
    let c: Value = chain("json").await.json().await.unwrap();
    let time = c["flows"][0]["time"].as_str().unwrap();
    assert!(time.ends_with('Z'), "an ISO 8601 time with its offset: {time}");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(time).unwrap(),
        chrono::DateTime::parse_from_rfc3339("2026-11-20T06:30:00+08:00").unwrap()
    );
    let node = c["nodes"].as_array().unwrap().iter().find(|n| n["subject_code"] == shop.as_str()).unwrap();
    assert_eq!(node["division_name"], "山东省济南市历下区", "{node}");
    // The record's JSON too.
    let page: Value =
        sd.admin.get(app.url("/api/v1/trace/events?batch_no=ZQ1")).send().await.unwrap().json().await.unwrap();
    for t in ["event_time", "recorded_at"] {
        let v = page["items"][0][t].as_str().unwrap();
        assert!(v.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(v).is_ok(), "{t}: {v}");
    }

    // CSV: China time, said in the heading; both ends by subject code and name, region code
    // and name.
    let csv = csv_text(chain("csv").await).await;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        header,
        [
            "流出主体编码",
            "流出主体",
            "流出地区代码",
            "流出地区",
            "流入主体编码",
            "流入主体",
            "流入地区代码",
            "流入地区",
            "类型",
            "产品",
            "批次",
            "数量",
            "单位",
            "时间（北京时间 UTC+8）",
            "报告条数"
        ]
    );
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(
        row.iter().take(8).collect::<Vec<_>>(),
        [
            farm.as_str(),
            "章丘葱园",
            "370114",
            "山东省济南市章丘区",
            shop.as_str(),
            "历下超市",
            "370102",
            "山东省济南市历下区"
        ]
    );
    assert_eq!(&row[13], "2026-11-20 06:30:00", "China time, as sent (+08:00)");

    // XLSX: the same headings.
    let strings = xlsx_strings(chain("xlsx").await).await;
    for s in ["流出主体编码", "时间（北京时间 UTC+8）", "山东省济南市章丘区", farm.as_str()] {
        assert!(strings.contains(s), "{s} in the workbook: {strings}");
    }

    // The filing exports say their zone too.
    for (path, heading) in [
        ("/api/v1/enterprises/export?format=csv", "登记时间（北京时间 UTC+8）"),
        ("/api/v1/merchants/export?format=csv", "登记时间（北京时间 UTC+8）"),
        ("/api/v1/products/export?format=csv", "登记时间（北京时间 UTC+8）"),
    ] {
        let csv = csv_text(sd.admin.get(app.url(path)).send().await.unwrap()).await;
        let first = csv.lines().next().unwrap_or_default().to_owned();
        assert!(first.split(',').any(|h| h == heading), "{path}: {first}");
        assert!(!first.split(',').any(|h| h == "登记时间"), "{path}: no heading without its zone");
    }
    let strings =
        xlsx_strings(sd.admin.get(app.url("/api/v1/enterprises/export?format=xlsx")).send().await.unwrap()).await;
    assert!(strings.contains("登记时间（北京时间 UTC+8）"), "{strings}");

    // The audit export: China time with its zone in the heading.
    let (_, auditor) = app.user_with_roles(&national, "auditor_tz", &["auditor"]).await;
    let csv = csv_text(auditor.get(app.url("/api/v1/audit/export?action=tenant.create")).send().await.unwrap()).await;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(&reader.headers().unwrap()[1], "时间（北京时间 UTC+8）");
    let when = reader.records().next().unwrap().unwrap()[1].to_owned();
    let parsed =
        chrono::NaiveDateTime::parse_from_str(&when, "%Y-%m-%d %H:%M:%S%.f").unwrap_or_else(|e| panic!("{when}: {e}"));
    let now_in_china = chrono::Utc::now().naive_utc() + chrono::Duration::hours(8);
    assert!((now_in_china - parsed).num_minutes().abs() < 10, "{when} is China time, now {now_in_china}");
}
