//! `suyuan demo`: a realistic demo data set. It grows as capabilities land; today it is the
//! tenant tree of several provinces and cities (trace chains such as 寿光 → 济南 → 北京 need
//! these tenants) and approved filings in them: producers, processors, markets with their
//! stall holders, retailers, laboratories, and their products. Every name is made up (示范).

use chrono::{FixedOffset, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set, TransactionTrait};
use suyuan_tenancy::DivisionCode;
use suyuan_tenancy::division::child_path;
use suyuan_tenancy::entity::tenant;
use uuid::Uuid;

/// `(code, name)` in parent-before-child order; each parent is found from the code.
pub const DEMO_TENANTS: &[(&str, &str)] = &[
    ("110000", "北京市"),
    ("370000", "山东省"),
    ("370100", "济南市"),
    ("370200", "青岛市"),
    ("370700", "潍坊市"),
    ("370783", "寿光市"),
    ("320000", "江苏省"),
    ("320100", "南京市"),
    ("440000", "广东省"),
    ("440100", "广州市"),
    ("440300", "深圳市"),
    ("510000", "四川省"),
    ("510100", "成都市"),
];

/// What the loader did.
#[derive(Debug, Default)]
pub struct DemoReport {
    /// Tenants created now.
    pub tenants_created: usize,
    /// Tenants that already existed.
    pub tenants_existing: usize,
    /// Filings created now (enterprises, merchants, products).
    pub filings_created: usize,
    /// Trace records created now.
    pub records_created: usize,
    /// A trace code of the demo chain, for the public page `/t/{code}`.
    pub example_code: Option<String>,
    /// The batch and subject of that code's first record, for the chain page.
    pub example_batch: Option<(String, String)>,
}

/// Loads the demo data; running it again changes nothing.
///
/// # Errors
/// Database failures, or a parent missing (the root tenant is created by the first start).
pub async fn load(db: &DatabaseConnection) -> anyhow::Result<DemoReport> {
    let txn = db.begin().await?;
    let mut report = DemoReport::default();
    for (code, name) in DEMO_TENANTS {
        let code = DivisionCode::parse(code)?;
        if tenant::Entity::find().filter(tenant::Column::Code.eq(code.as_str())).one(&txn).await?.is_some() {
            report.tenants_existing += 1;
            continue;
        }
        let parent_code = match (code.city(), code.province()) {
            (Some(city), _) if city != code => {
                // A county sits under its city when that city is a tenant, else its province.
                let city_row = tenant::Entity::find().filter(tenant::Column::Code.eq(city.as_str())).one(&txn).await?;
                if city_row.is_some() { city } else { code.province().unwrap_or(city) }
            }
            (_, Some(province)) if province != code => province,
            _ => DivisionCode::parse(suyuan_tenancy::division::NATIONAL_CODE)?,
        };
        let parent = tenant::Entity::find()
            .filter(tenant::Column::Code.eq(parent_code.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| anyhow::anyhow!("parent tenant {parent_code} of {code} is missing"))?;
        DivisionCode::parse_stored(&parent.code)?.check_child(&code)?;
        let now = Utc::now();
        tenant::ActiveModel {
            id: Set(Uuid::now_v7()),
            code: Set(code.to_string()),
            name: Set((*name).to_owned()),
            level: Set(code.level().as_str().to_owned()),
            parent_id: Set(Some(parent.id)),
            path: Set(child_path(&parent.path, &code)),
            status: Set("active".to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        report.tenants_created += 1;
    }
    txn.commit().await?;
    report.filings_created = load_filings(db).await?;
    report.records_created = load_trace(db).await?;
    report.example_code = crate::modules::trace::entity::code_index::Entity::find()
        .filter(crate::modules::trace::entity::code_index::Column::Code.starts_with("SG"))
        .one(db)
        .await?
        .map(|c| c.code);
    if let Some(code) = &report.example_code {
        use crate::modules::trace::entity::{code_index, event};
        let ids = code_index::Entity::find().filter(code_index::Column::Code.eq(code.as_str())).all(db).await?;
        if let Some(first) = ids.first() {
            report.example_batch =
                event::Entity::find_by_id(first.event_id).one(db).await?.map(|e| (e.batch_no, e.subject_code));
        }
    }
    Ok(report)
}

/// (tenant, name, type, division, longitude, latitude, categories, stages).
type DemoEnterprise =
    (&'static str, &'static str, &'static str, &'static str, f64, f64, &'static [&'static str], &'static str);

/// Enterprises of the demo tenants; the chain 寿光 → 济南 → 北京 and markets in every city.
const DEMO_ENTERPRISES: &[DemoEnterprise] = &[
    (
        "370783",
        "寿光示范蔬菜产业集团有限公司",
        "producer",
        "370783",
        118.791,
        36.856,
        &["0101"],
        "primary_production,sale",
    ),
    (
        "370783",
        "寿光洛城示范果蔬专业合作社",
        "producer",
        "370783",
        118.853,
        36.902,
        &["0101", "0102"],
        "primary_production",
    ),
    ("370783", "寿光示范农产品物流园", "market", "370783", 118.742, 36.881, &["0101", "0102"], "sale"),
    ("370783", "寿光示范农产品质量检测中心", "laboratory", "370783", 118.770, 36.860, &["0101"], "testing"),
    ("370700", "潍坊示范食品有限公司", "processor", "370702", 119.107, 36.709, &["0203"], "processing,sale"),
    ("370100", "济南堤口路示范农产品批发市场", "market", "370104", 116.982, 36.683, &["0101", "0102", "0103"], "sale"),
    ("370100", "济南匡山示范农产品批发市场", "market", "370104", 116.937, 36.668, &["0101", "0104"], "sale"),
    ("370100", "济南示范乳业有限公司", "processor", "370112", 117.121, 36.693, &["0201"], "processing,sale"),
    ("370100", "济南示范冷链物流有限公司", "logistics", "370113", 116.823, 36.562, &["0101", "0103"], "transport"),
    ("370200", "青岛城阳示范水产品批发市场", "market", "370214", 120.396, 36.307, &["0104"], "sale"),
    ("370200", "青岛示范海洋食品有限公司", "processor", "370211", 120.198, 35.961, &["0104"], "processing,sale"),
    (
        "110000",
        "北京示范农产品中央批发市场",
        "market",
        "110106",
        116.364,
        39.821,
        &["0101", "0102", "0103", "0104"],
        "sale",
    ),
    ("110000", "北京示范连锁超市有限公司", "retailer", "110105", 116.482, 39.921, &["0101", "0102", "0201"], "sale"),
    ("110000", "北京示范婴幼儿营养食品有限公司", "processor", "110115", 116.512, 39.731, &["0202"], "processing"),
    ("320100", "南京示范农副产品物流中心", "market", "320114", 118.796, 31.980, &["0101", "0103"], "sale"),
    (
        "320100",
        "南京示范肉类食品有限公司",
        "processor",
        "320115",
        118.890,
        31.950,
        &["0103", "0203"],
        "processing,sale",
    ),
    ("440100", "广州江南示范果菜批发市场", "market", "440111", 113.273, 23.180, &["0101", "0102"], "sale"),
    ("440100", "广州示范酒业有限公司", "processor", "440113", 113.384, 22.937, &["0204"], "processing,sale"),
    ("440300", "深圳布吉示范农产品批发市场", "market", "440307", 114.123, 22.606, &["0101", "0102", "0104"], "sale"),
    ("440300", "深圳示范医药有限公司", "wholesaler", "440304", 114.055, 22.540, &["0301", "0302"], "transport,sale"),
    ("510100", "成都示范中药材种植合作社", "producer", "510112", 104.269, 30.560, &["0302"], "primary_production"),
    ("510100", "成都示范农产品中心批发市场", "market", "510108", 104.123, 30.707, &["0101", "0106"], "sale"),
];

/// (merchant name, type, stall, categories) — placed in every demo market.
const DEMO_STALLS: &[(&str, &str, &str, &str)] = &[
    ("王记蔬菜", "stall", "A-018", "0101"),
    ("李家鲜果", "stall", "B-102", "0102"),
    ("张氏冷鲜肉", "stall", "C-007", "0103"),
    ("刘记水产", "shop", "D-021", "0104"),
];

/// (producer name, product name, category, unit, specification, GTIN body of 12 digits).
const DEMO_PRODUCTS: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("寿光示范蔬菜产业集团有限公司", "寿光示范番茄", "0101", "箱", "5kg/箱", "690123456001"),
    ("寿光示范蔬菜产业集团有限公司", "寿光示范黄瓜", "0101", "箱", "5kg/箱", "690123456002"),
    ("寿光洛城示范果蔬专业合作社", "洛城示范彩椒", "0101", "箱", "3kg/箱", "690123456003"),
    ("济南示范乳业有限公司", "示范纯牛奶", "0201", "箱", "250ml×12", "690123456004"),
    ("北京示范婴幼儿营养食品有限公司", "示范婴儿配方奶粉 1 段", "0202", "罐", "800g", "690123456005"),
    ("南京示范肉类食品有限公司", "示范冷鲜猪肉", "0103", "kg", "散装", "690123456006"),
    ("广州示范酒业有限公司", "示范米酒", "0204", "瓶", "500ml", "690123456007"),
    ("成都示范中药材种植合作社", "示范川芎饮片", "0302", "kg", "1kg/袋", "690123456008"),
    ("青岛示范海洋食品有限公司", "示范冻虾仁", "0104", "袋", "500g", "690123456009"),
];

fn demo_uscc(division: &str, n: usize) -> anyhow::Result<String> {
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let tail: String = (0..7).map(|i| char::from(CHARS[(n / 31usize.pow(i)) % 31])).rev().collect();
    let first17 = format!("91{division}MA{tail}");
    let check = crate::modules::subjects::uscc::check_character(&first17)?;
    Ok(format!("{first17}{check}"))
}

fn gtin13(body12: &str) -> String {
    let sum: u32 =
        body12.bytes().rev().enumerate().map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    format!("0{body12}{}", (10 - sum % 10) % 10)
}

/// Approved filings in the demo tenants, each with its version 1 and its outbox row; a tenant
/// that has filings already is left alone.
async fn load_filings(db: &DatabaseConnection) -> anyhow::Result<usize> {
    use crate::modules::subjects::entity::{enterprise, filing_version, merchant, product};
    use crate::modules::subjects::workflow::{Kind, issue_code};
    use sea_orm::PaginatorTrait;
    let txn = db.begin().await?;
    let now = Utc::now();
    let mut created = 0;
    let mut serials: std::collections::HashMap<(&str, Kind), u32> = std::collections::HashMap::new();
    let mut next = |tenant: &'static str, kind: Kind| {
        let n = serials.entry((tenant, kind)).or_insert(0);
        *n += 1;
        issue_code(kind, tenant, *n)
    };
    let mut by_name: std::collections::HashMap<&str, enterprise::Model> = std::collections::HashMap::new();
    let version = |kind: Kind, id: Uuid, data: serde_json::Value| filing_version::ActiveModel {
        id: Set(Uuid::now_v7()),
        kind: Set(kind.as_str().to_owned()),
        filing_id: Set(id),
        version: Set(1),
        data: Set(data.to_string()),
        approved_at: Set(now),
        approved_by: Set("demo".to_owned()),
    };
    let mut tenants: std::collections::HashMap<&str, tenant::Model> = std::collections::HashMap::new();
    for (i, (t, name, kind, division, lon, lat, categories, stages)) in DEMO_ENTERPRISES.iter().enumerate() {
        let Some(owner) = tenant::Entity::find().filter(tenant::Column::Code.eq(*t)).one(&txn).await? else { continue };
        if !tenants.contains_key(t) {
            let has = enterprise::Entity::find().filter(enterprise::Column::TenantId.eq(owner.id)).count(&txn).await?;
            if has > 0 {
                continue;
            }
            tenants.insert(t, owner.clone());
        }
        let row = enterprise::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(owner.id),
            code: Set(next(t, Kind::Enterprise)),
            name: Set((*name).to_owned()),
            uscc: Set(demo_uscc(division, 1000 + i)?),
            enterprise_type: Set((*kind).to_owned()),
            categories: Set(serde_json::to_string(categories)?),
            stages: Set((*stages).to_owned()),
            licence_no: Set(Some(format!("SC{division}{:08}", 20_260_000 + i))),
            address: Set(format!("{name}所在地")),
            division_code: Set((*division).to_owned()),
            longitude: Set(Some(*lon)),
            latitude: Set(Some(*lat)),
            contact_name: Set("示范联系人".to_owned()),
            contact_phone: Set(format!("0531-8{:07}", 1_000_000 + i)),
            contact_email: Set(None),
            status: Set("approved".to_owned()),
            version: Set(1),
            reason: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        let data = serde_json::to_value(crate::modules::subjects::dto::EnterpriseResponse::from(row.clone()))?;
        version(Kind::Enterprise, row.id, data.clone()).insert(&txn).await?;
        outbox(&txn, owner.id, "enterprise", data).await?;
        by_name.insert(name, row);
        created += 1;
    }
    for market in DEMO_ENTERPRISES.iter().filter(|e| e.2 == "market") {
        let Some(m) = by_name.get(market.1).cloned() else { continue };
        for (stall, kind, no, category) in DEMO_STALLS {
            let row = merchant::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(m.tenant_id),
                code: Set(next(market.0, Kind::Merchant)),
                name: Set((*stall).to_owned()),
                merchant_type: Set((*kind).to_owned()),
                uscc: Set(None),
                categories: Set(serde_json::to_string(&[category])?),
                node_enterprise_id: Set(m.id),
                node_code: Set(m.code.clone()),
                node_name: Set(m.name.clone()),
                stall_no: Set(Some((*no).to_owned())),
                division_code: Set(m.division_code.clone()),
                contact_name: Set((*stall).chars().take(1).collect::<String>() + "先生"),
                contact_phone: Set("13900000000".to_owned()),
                status: Set("approved".to_owned()),
                version: Set(1),
                reason: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
            let data = serde_json::to_value(crate::modules::subjects::dto::MerchantResponse::from(row.clone()))?;
            version(Kind::Merchant, row.id, data.clone()).insert(&txn).await?;
            outbox(&txn, m.tenant_id, "merchant", data).await?;
            created += 1;
        }
    }
    for (producer, name, category, unit, spec, gtin) in DEMO_PRODUCTS {
        let Some(e) = by_name.get(producer).cloned() else { continue };
        let tenant_code = DEMO_ENTERPRISES.iter().find(|d| d.1 == *producer).map_or("", |d| d.0);
        let row = product::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(e.tenant_id),
            code: Set(next(tenant_code, Kind::Product)),
            name: Set((*name).to_owned()),
            category_code: Set((*category).to_owned()),
            brand: Set(Some("示范".to_owned())),
            specification: Set(Some((*spec).to_owned())),
            unit: Set((*unit).to_owned()),
            shelf_life_days: Set(Some(30)),
            gtin: Set(Some(gtin13(gtin))),
            enterprise_id: Set(e.id),
            enterprise_code: Set(e.code.clone()),
            enterprise_name: Set(e.name.clone()),
            division_code: Set(e.division_code.clone()),
            status: Set("approved".to_owned()),
            version: Set(1),
            reason: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        let data = serde_json::to_value(crate::modules::subjects::dto::ProductResponse::from(row.clone()))?;
        version(Kind::Product, row.id, data.clone()).insert(&txn).await?;
        outbox(&txn, e.tenant_id, "product", data).await?;
        created += 1;
    }
    txn.commit().await?;
    Ok(created)
}

async fn outbox(
    txn: &sea_orm::DatabaseTransaction,
    tenant_id: Uuid,
    kind: &str,
    filing: serde_json::Value,
) -> anyhow::Result<()> {
    crate::audit::lock_chain(txn, tenant_id).await?;
    crate::modules::subjects::service::write_outbox(
        txn,
        tenant_id,
        "filing.created",
        &serde_json::json!({"type": kind, "version": 1, "filing": filing}),
    )
    .await
    .map_err(|e| anyhow::anyhow!("outbox: {}", e.to_problem(None).title))?;
    Ok(())
}

/// One record of a demo batch: who, stage, action, when, counterpart, price, tested.
type Step<'a> = (
    &'a crate::modules::subjects::entity::enterprise::Model,
    &'a str,
    &'a str,
    chrono::DateTime<Utc>,
    Option<&'a crate::modules::subjects::entity::enterprise::Model>,
    Option<f64>,
    bool,
);

/// Batches of the demo chain 寿光 → 济南 → 北京.
const DEMO_BATCHES: usize = 500;

/// Trace records of the chain 寿光 (harvest, test, ship) → 济南 wholesale market (receive,
/// ship on) → 北京 supermarket (receive, sell): seven records a batch, each batch with its trace
/// code `SG` + date + number, over the last 60 days; left alone when records exist.
async fn load_trace(db: &DatabaseConnection) -> anyhow::Result<usize> {
    use crate::modules::subjects::entity::{enterprise, product};
    use crate::modules::trace::entity::{code_index, event, lineage};
    use sea_orm::PaginatorTrait;
    if event::Entity::find().count(db).await? > 0 {
        return Ok(0);
    }
    let find = |name: &'static str| async move {
        enterprise::Entity::find().filter(enterprise::Column::Name.eq(name)).one(db).await
    };
    let (Some(farm), Some(lab), Some(market), Some(shop)) = (
        find("寿光示范蔬菜产业集团有限公司").await?,
        find("寿光示范农产品质量检测中心").await?,
        find("济南堤口路示范农产品批发市场").await?,
        find("北京示范连锁超市有限公司").await?,
    ) else {
        return Ok(0);
    };
    let tomato = product::Entity::find().filter(product::Column::Name.eq("寿光示范番茄")).one(db).await?;
    let cst = FixedOffset::east_opt(8 * 3600).ok_or_else(|| anyhow::anyhow!("offset"))?;
    let today = Utc::now().with_timezone(&cst).date_naive();
    let now = Utc::now();
    let (mut events, mut edges, mut codes) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..DEMO_BATCHES {
        let day = today - chrono::Days::new(60 - (n as u64 * 60 / DEMO_BATCHES as u64));
        let batch = format!("SG{}-{:03}", day.format("%Y%m%d"), n % 1000);
        let code = format!("SG{}{:04}", day.format("%Y%m%d"), n);
        let at = |days: u64, hour: u32| -> anyhow::Result<chrono::DateTime<Utc>> {
            let d = day + chrono::Days::new(days);
            let local = d.and_hms_opt(hour, 0, 0).ok_or_else(|| anyhow::anyhow!("time"))?;
            Ok(local.and_local_timezone(cst).single().ok_or_else(|| anyhow::anyhow!("time"))?.with_timezone(&Utc))
        };
        let weight = 800.0 + f64::from(u32::try_from(n % 7).unwrap_or(0)) * 100.0;
        let steps: [Step<'_>; 7] = [
            (&farm, "primary_production", "harvest", at(0, 6)?, None, None, false),
            (&lab, "testing", "inspect", at(0, 9)?, None, None, true),
            (&farm, "transport", "ship", at(0, 14)?, Some(&market), Some(3.2), false),
            (&market, "sale", "receive", at(0, 20)?, Some(&farm), Some(3.2), false),
            (&market, "transport", "ship", at(1, 5)?, Some(&shop), Some(4.5), false),
            (&shop, "sale", "receive", at(1, 11)?, Some(&market), Some(4.5), false),
            (&shop, "sale", "sell", at(1, 15)?, None, Some(7.8), false),
        ];
        let product_name = tomato.as_ref().map_or_else(|| "寿光示范番茄".to_owned(), |p| p.name.clone());
        for (i, (who, stage, action, when, other, price, inspect)) in steps.into_iter().enumerate() {
            let id = Uuid::now_v7();
            events.push(event::Model {
                id,
                tenant_id: who.tenant_id,
                client_event_id: format!("demo-{n}-{i}"),
                stage: stage.to_owned(),
                action: action.to_owned(),
                subject_code: who.code.clone(),
                subject_name: who.name.clone(),
                product_code: tomato.as_ref().map(|p| p.code.clone()),
                product_name: product_name.clone(),
                category_code: Some("0101".to_owned()),
                batch_no: batch.clone(),
                trace_codes: serde_json::to_string(&[&code])?,
                quantity: weight,
                unit: "kg".to_owned(),
                price,
                amount: price.map(|p| p * weight),
                event_time: when,
                event_offset_minutes: 480,
                recorded_at: now,
                division_code: who.division_code.clone(),
                longitude: who.longitude,
                latitude: who.latitude,
                counterpart_code: other.map(|o| o.code.clone()),
                counterpart_name: other.map(|o| o.name.clone()),
                inputs: "[]".to_owned(),
                inspection: inspect.then(|| {
                    serde_json::json!({"item": "农药残留", "result": "pass", "report_no": format!("SGJC-{n:05}")})
                        .to_string()
                }),
                extra: None,
            });
            codes.push(code_index::ActiveModel {
                code: Set(code.clone()),
                event_id: Set(id),
                tenant_id: Set(who.tenant_id),
            });
            let edge = match (action, other) {
                ("ship", Some(to)) => Some((who, to)),
                ("receive", Some(from)) => Some((from, who)),
                _ => None,
            };
            if let Some((from, to)) = edge {
                edges.push(lineage::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    tenant_id: Set(who.tenant_id),
                    event_id: Set(id),
                    kind: Set("ship".to_owned()),
                    from_subject_code: Set(from.code.clone()),
                    from_batch: Set(batch.clone()),
                    to_subject_code: Set(to.code.clone()),
                    to_batch: Set(batch.clone()),
                    quantity: Set(Some(weight)),
                    event_time: Set(when),
                    product_name: Set(product_name.clone()),
                    unit: Set(Some("kg".to_owned())),
                });
            }
        }
    }
    let count = events.len();
    let txn = db.begin().await?;
    for chunk in events.chunks(500) {
        event::Entity::insert_many(chunk.iter().cloned().map(event::ActiveModel::from))
            .exec_without_returning(&txn)
            .await?;
    }
    // The daily figures and, per tenant, one statistics delta for the parent: what the ingest
    // writes, so the roll-ups above show the demo's records.
    let mut tenants: Vec<Uuid> = events.iter().map(|e| e.tenant_id).collect();
    tenants.sort_unstable();
    tenants.dedup();
    for t in tenants {
        let units = crate::modules::trace::reference::ensure(&txn).await?;
        let deltas =
            crate::modules::trace::service::daily_deltas(t, events.iter().filter(|e| e.tenant_id == t), &units);
        // Like an ingest, the seed names the records it wrote in the tenant's audit chain (the
        // chain accounts for every trace record: audit::verify).
        let client = crate::audit::ClientInfo::default();
        let accepted = events.iter().filter(|e| e.tenant_id == t).count();
        crate::audit::record(
            &txn,
            crate::audit::Entry {
                tenant_id: t,
                actor: crate::audit::Actor { user_id: None, name: "demo".to_owned() },
                action: crate::audit::pending::INGEST_ACTION,
                object_type: "trace_event",
                object_id: t.to_string(),
                success: true,
                client: &client,
                detail: serde_json::json!({"accepted": accepted, "duplicates": 0, "seed": true}),
            },
        )
        .await?;
        let payload = serde_json::json!({ "deltas": deltas });
        crate::modules::subjects::service::write_outbox(&txn, t, "statistics.delta", &payload)
            .await
            .map_err(|e| anyhow::anyhow!("outbox: {}", e.to_problem(None).title))?;
        crate::modules::trace::write::stats(&txn, deltas)
            .await
            .map_err(|e| anyhow::anyhow!("statistics: {}", e.to_problem(None).title))?;
    }
    for chunk in edges.chunks(1_000) {
        lineage::Entity::insert_many(chunk.to_vec()).exec_without_returning(&txn).await?;
    }
    for chunk in codes.chunks(2_000) {
        code_index::Entity::insert_many(chunk.to_vec()).exec_without_returning(&txn).await?;
    }
    txn.commit().await?;
    Ok(count)
}
