//! `suyuan demo`: a realistic demo data set. It grows as capabilities land; today it is the
//! tenant tree of several provinces and cities (trace chains such as 寿光 → 济南 → 北京 need
//! these tenants).

use chrono::Utc;
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
        DivisionCode::parse(&parent.code)?.check_child(&code)?;
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
    Ok(report)
}
