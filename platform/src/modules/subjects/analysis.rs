//! Filings on the map (R-SUBJ-6) and their statistics (R-SUBJ-7): counts and shares by type,
//! stage, product kind, region and month, with a parent's descendants broken down by child.
//! Counted from the filing tables with GROUP BY in the database; the pre-aggregated roll-up
//! tables of the federation issue will take over the national figures.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use suyuan_tenancy::entity::tenant;
use suyuan_tenancy::{DivisionCode, TenantLevel};
use uuid::Uuid;

use super::dto::{
    ENTERPRISE_TYPES, EnterpriseQuery, FilingMapQuery, FilingStatistics, MERCHANT_TYPES, MerchantQuery, STAGES,
};
use super::entity::{enterprise, merchant, product};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::modules::admin::service::Ctx;
use crate::modules::dashboard::dto::{Chart, Figure, MapPoint, RegionMap, RegionValue, Series};

/// The rows of `query` counted by `key` (a column or an expression), as (key, count).
pub(crate) async fn count_by<E, K>(
    db: &sea_orm::DatabaseConnection,
    query: sea_orm::Select<E>,
    key: Expr,
) -> ApiResult<Vec<(K, i64)>>
where
    E: EntityTrait,
    (K, i64): sea_orm::TryGetableMany,
{
    Ok(query
        .select_only()
        .column_as(key.clone(), "k")
        .column_as(Expr::cust("COUNT(*)"), "n")
        .group_by(key)
        .into_tuple()
        .all(db)
        .await?)
}

/// The region to draw and count: the query's, inside the caller's own region (a refusal is
/// audited against `resource`).
pub(crate) async fn region_of(ctx: &Ctx<'_>, region: Option<&str>, resource: &str) -> ApiResult<DivisionCode> {
    let own = DivisionCode::parse_stored(&ctx.who.tenant.code).map_err(ApiError::internal)?;
    let region = match region.map(str::trim).filter(|s| !s.is_empty()) {
        Some(r) => DivisionCode::parse(r).map_err(|e| ApiError::invalid_field("region", e.rule(), e.to_string()))?,
        None => own,
    };
    if !region.is_within(&own) {
        let refused = ApiError::forbidden(format!("无权查看本单位辖区以外的地区（{region}）"));
        return Err(ctx.deny(&ctx.who.tenant, resource, "read", refused).await?);
    }
    Ok(region)
}

fn enterprise_query(q: &FilingMapQuery, region: &DivisionCode) -> EnterpriseQuery {
    EnterpriseQuery {
        status: status_filter(q.status.as_deref()),
        region: Some(region.to_string()),
        enterprise_type: q.enterprise_type.clone(),
        category: q.category.clone(),
        filed_from: q.filed_from,
        filed_to: q.filed_to,
        ..Default::default()
    }
}

fn merchant_query(q: &FilingMapQuery, region: &DivisionCode) -> MerchantQuery {
    MerchantQuery {
        status: status_filter(q.status.as_deref()),
        region: Some(region.to_string()),
        category: q.category.clone(),
        filed_from: q.filed_from,
        filed_to: q.filed_to,
        ..Default::default()
    }
}

/// Approved filings by default; `all` for every status.
fn status_filter(s: Option<&str>) -> Option<String> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Some("approved".to_owned()),
        Some("all") => None,
        Some(s) => Some(s.to_owned()),
    }
}

/// The prefix of every division code inside `region`.
pub(crate) fn region_code_prefix(region: &DivisionCode) -> String {
    super::workflow::region_prefix(region.as_str(), &mut Vec::new()).unwrap_or_default()
}

/// Grid cell of the clusters, in degrees: coarse for the country, fine for a county.
fn cell(region: &DivisionCode) -> f64 {
    match region.level() {
        TenantLevel::National => 1.0,
        TenantLevel::Provincial => 0.2,
        TenantLevel::Municipal => 0.04,
        TenantLevel::County => 0.01,
    }
}

fn which(kind: Option<&str>, errors: &mut Vec<FieldError>) -> (bool, bool) {
    match kind.unwrap_or("all") {
        "all" => (true, true),
        "enterprise" => (true, false),
        "merchant" => (false, true),
        _ => {
            errors.push(FieldError::new("kind", "unknown", "kind 只能是 all、enterprise 或 merchant"));
            (false, false)
        }
    }
}

/// The filings of the region on its map: a count per sub-region, and the filings as points
/// clustered on a grid (a point per cell and type; its value is how many), coloured by type.
/// Merchants stand at their market. Filters as the search's.
///
/// # Errors
/// 422 naming a bad filter; 403 (a region outside the caller's).
pub async fn map(ctx: &Ctx<'_>, q: &FilingMapQuery) -> ApiResult<RegionMap> {
    let scope = ctx.read_scope("enterprise", "read").await?;
    let region = region_of(ctx, q.region.as_deref(), "enterprise").await?;
    let mut errors = Vec::new();
    let (with_e, with_m) = which(q.kind.as_deref(), &mut errors);
    let eq = super::service::filters(&scope, &enterprise_query(q, &region), &mut errors);
    let m_scope = ctx.read_scope("merchant", "read").await?;
    let mq = super::merchants::filters(&m_scope, &merchant_query(q, &region), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    let mut points = Vec::new();
    let size = cell(&region);
    let type_label = |t: &str| super::export::label(ENTERPRISE_TYPES, t).to_owned();
    if with_e {
        let by_division: Vec<(String, i64)> =
            count_by(ctx.db, eq.clone(), Expr::col(enterprise::Column::DivisionCode)).await?;
        fold(&region, by_division, &mut counts);
        let cx = format!("CAST(longitude / {size} AS BIGINT)");
        let cy = format!("CAST(latitude / {size} AS BIGINT)");
        let clusters: Vec<(i64, i64, String, i64, f64, f64, String)> = eq
            .filter(enterprise::Column::Longitude.is_not_null())
            .filter(enterprise::Column::Latitude.is_not_null())
            .select_only()
            .column_as(Expr::cust(cx.clone()), "cx")
            .column_as(Expr::cust(cy.clone()), "cy")
            .column(enterprise::Column::EnterpriseType)
            .column_as(Expr::cust("COUNT(*)"), "n")
            .column_as(Expr::cust("AVG(longitude)"), "lon")
            .column_as(Expr::cust("AVG(latitude)"), "lat")
            .column_as(Expr::cust("MIN(name)"), "name")
            .group_by(Expr::cust(cx))
            .group_by(Expr::cust(cy))
            .group_by(enterprise::Column::EnterpriseType)
            .into_tuple()
            .all(ctx.db)
            .await?;
        for (_, _, t, n, lon, lat, name) in clusters {
            let label = type_label(&t);
            points.push(MapPoint {
                name: if n == 1 { name } else { format!("{n} 家{label}") },
                kind: label,
                longitude: lon,
                latitude: lat,
                value: n as f64,
            });
        }
    }
    if with_m {
        let by_division: Vec<(String, i64)> =
            count_by(ctx.db, mq.clone(), Expr::col(merchant::Column::DivisionCode)).await?;
        fold(&region, by_division, &mut counts);
        let by_node: Vec<(Uuid, i64)> = count_by(ctx.db, mq, Expr::col(merchant::Column::NodeEnterpriseId)).await?;
        let mut at: HashMap<Uuid, (f64, f64, String)> = HashMap::new();
        for chunk in by_node.chunks(500) {
            let ids: Vec<Uuid> = chunk.iter().map(|(id, _)| *id).collect();
            for e in enterprise::Entity::find().filter(enterprise::Column::Id.is_in(ids)).all(ctx.db).await? {
                if let (Some(lon), Some(lat)) = (e.longitude, e.latitude) {
                    at.insert(e.id, (lon, lat, e.name));
                }
            }
        }
        for (node, n) in by_node {
            if let Some((lon, lat, market)) = at.get(&node) {
                points.push(MapPoint {
                    name: format!("{market}：{n} 户个体经营户"),
                    kind: "个体经营户".to_owned(),
                    longitude: *lon,
                    latitude: *lat,
                    value: n as f64,
                });
            }
        }
    }
    let names = sub_region_names(ctx, &counts).await?;
    Ok(RegionMap {
        region: region.to_string(),
        metric: "备案主体".into(),
        unit: "个".into(),
        parent: parent_of(ctx, &region)?,
        regions: counts
            .into_iter()
            .map(|(code, value)| RegionValue { name: names.get(&code).cloned(), code, value })
            .collect(),
        points,
    })
}

/// Adds counts by division code to the sub-regions of `region` they lie in.
fn fold(region: &DivisionCode, rows: Vec<(String, i64)>, counts: &mut BTreeMap<String, f64>) {
    for (code, n) in rows {
        let Ok(code) = DivisionCode::parse_stored(&code) else { continue };
        if let Some(sub) = region.sub_region_of(&code) {
            *counts.entry(sub.to_string()).or_default() += n as f64;
        }
    }
}

/// The GB/T 2260 table's names, else (a retired code) the tenant's.
async fn sub_region_names(ctx: &Ctx<'_>, counts: &BTreeMap<String, f64>) -> ApiResult<HashMap<String, String>> {
    let mut names: HashMap<String, String> =
        counts.keys().filter_map(|c| Some((c.clone(), suyuan_tenancy::division::name_of(c)?.to_owned()))).collect();
    for t in tenant::Entity::find().filter(tenant::Column::Code.is_in(counts.keys().cloned())).all(ctx.db).await? {
        names.entry(t.code).or_insert(t.name);
    }
    Ok(names)
}

fn parent_of(ctx: &Ctx<'_>, region: &DivisionCode) -> ApiResult<Option<String>> {
    let own = DivisionCode::parse_stored(&ctx.who.tenant.code).map_err(ApiError::internal)?;
    Ok(match region.level() {
        TenantLevel::National => None,
        TenantLevel::Provincial => Some(suyuan_tenancy::division::NATIONAL_CODE.to_owned()),
        TenantLevel::Municipal | TenantLevel::County => {
            region.city().filter(|c| c != region).or(region.province()).map(|c| c.to_string())
        }
    }
    .filter(|p| DivisionCode::parse_stored(p).is_ok_and(|p| p.is_within(&own))))
}

fn chart(key: &str, kind: &str, title: &str, categories: Vec<String>, series: Vec<Series>) -> Chart {
    Chart { key: key.into(), kind: kind.into(), title: title.into(), unit: "个".into(), categories, series }
}

fn series(name: &str, data: Vec<f64>) -> Series {
    Series { name: name.into(), data }
}

/// Counts of the filings in the region: totals, and charts by child tenant, type, stage,
/// product kind, merchant type and month (the last 12). Approved filings unless `status` says
/// otherwise; filters as the search's.
///
/// # Errors
/// 422 naming a bad filter; 403.
pub async fn statistics(ctx: &Ctx<'_>, q: &FilingMapQuery) -> ApiResult<FilingStatistics> {
    let scope = ctx.read_scope("enterprise", "read").await?;
    let m_scope = ctx.read_scope("merchant", "read").await?;
    let p_scope = ctx.read_scope("product", "read").await?;
    let region = region_of(ctx, q.region.as_deref(), "enterprise").await?;
    let mut errors = Vec::new();
    let eq = super::service::filters(&scope, &enterprise_query(q, &region), &mut errors);
    let mq = super::merchants::filters(&m_scope, &merchant_query(q, &region), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let enterprises = eq.clone().count(ctx.db).await?;
    let merchants = mq.clone().count(ctx.db).await?;
    let mut products = product::Entity::find()
        .filter(p_scope.condition(product::Column::TenantId))
        .filter(super::workflow::starts_with(product::Column::DivisionCode, &region_code_prefix(&region)));
    if let Some(s) = status_filter(q.status.as_deref()) {
        products = products.filter(product::Column::Status.eq(s));
    }
    let products = products.count(ctx.db).await?;
    let pending = enterprise::Entity::find()
        .filter(scope.condition(enterprise::Column::TenantId))
        .filter(enterprise::Column::Status.eq("submitted"))
        .count(ctx.db)
        .await?
        + merchant::Entity::find()
            .filter(m_scope.condition(merchant::Column::TenantId))
            .filter(merchant::Column::Status.eq("submitted"))
            .count(ctx.db)
            .await?;
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let figures = vec![
        Figure {
            key: "enterprise_filings".into(),
            label: "企业备案".into(),
            value: Some(n(enterprises)),
            unit: "家".into(),
            note: "符合筛选条件的企业".into(),
        },
        Figure {
            key: "merchant_filings".into(),
            label: "个体经营户备案".into(),
            value: Some(n(merchants)),
            unit: "户".into(),
            note: "符合筛选条件的经营户".into(),
        },
        Figure {
            key: "product_filings".into(),
            label: "产品备案".into(),
            value: Some(n(products)),
            unit: "种".into(),
            note: "本地区生产企业的产品".into(),
        },
        Figure {
            key: "pending_review".into(),
            label: "待审核".into(),
            value: Some(n(pending)),
            unit: "件".into(),
            note: "企业和经营户备案".into(),
        },
    ];

    let mut charts = Vec::new();
    // By child tenant: a parent sees its descendants broken down by child.
    let per_tenant_e: Vec<(Uuid, i64)> = count_by(ctx.db, eq.clone(), Expr::col(enterprise::Column::TenantId)).await?;
    let per_tenant_m: Vec<(Uuid, i64)> = count_by(ctx.db, mq.clone(), Expr::col(merchant::Column::TenantId)).await?;
    let tenants = tenant::Entity::find().filter(scope.tenants()).all(ctx.db).await?;
    let child_of = children_map(ctx.who.tenant.id, &tenants);
    let mut by_child: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for (tid, c) in per_tenant_e {
        if let Some(key) = child_of.get(&tid) {
            by_child.entry(key.clone()).or_default().0 += c as f64;
        }
    }
    for (tid, c) in per_tenant_m {
        if let Some(key) = child_of.get(&tid) {
            by_child.entry(key.clone()).or_default().1 += c as f64;
        }
    }
    let mut rows: Vec<_> = by_child.into_iter().collect();
    rows.sort_by(|a, b| (b.1.0 + b.1.1).total_cmp(&(a.1.0 + a.1.1)));
    charts.push(chart(
        "by_child",
        "ranking",
        "按下级单位",
        rows.iter().map(|((_, name), _)| name.clone()).collect(),
        vec![
            series("企业备案", rows.iter().map(|(_, v)| v.0).collect()),
            series("个体经营户备案", rows.iter().map(|(_, v)| v.1).collect()),
        ],
    ));

    let by_type: HashMap<String, i64> =
        count_by(ctx.db, eq.clone(), Expr::col(enterprise::Column::EnterpriseType)).await?.into_iter().collect();
    let types: Vec<_> = ENTERPRISE_TYPES.iter().filter(|(k, _)| by_type.contains_key(*k)).collect();
    charts.push(chart(
        "by_type",
        "pie",
        "企业类型占比",
        types.iter().map(|(_, l)| (*l).to_owned()).collect(),
        vec![series("企业备案", types.iter().map(|(k, _)| by_type[*k] as f64).collect())],
    ));

    let mut stage_counts = Vec::new();
    for (k, _) in STAGES {
        stage_counts.push(eq.clone().filter(enterprise::Column::Stages.contains(*k)).count(ctx.db).await? as f64);
    }
    charts.push(chart(
        "by_stage",
        "bar",
        "按追溯环节",
        STAGES.iter().map(|(_, l)| (*l).to_owned()).collect(),
        vec![series("企业备案", stage_counts)],
    ));

    let kinds = crate::modules::products::entity::category::Entity::find()
        .filter(crate::modules::products::entity::category::Column::Depth.eq(1))
        .all(ctx.db)
        .await?;
    let mut e_kind = Vec::new();
    let mut m_kind = Vec::new();
    for k in &kinds {
        let like = format!("\"{}", k.code);
        e_kind.push(
            eq.clone().filter(enterprise::Column::Categories.contains(like.as_str())).count(ctx.db).await? as f64,
        );
        m_kind
            .push(mq.clone().filter(merchant::Column::Categories.contains(like.as_str())).count(ctx.db).await? as f64);
    }
    charts.push(chart(
        "by_kind",
        "bar",
        "按重要产品类别",
        kinds.iter().map(|k| k.name.clone()).collect(),
        vec![series("企业备案", e_kind), series("个体经营户备案", m_kind)],
    ));

    let by_mtype: HashMap<String, i64> =
        count_by(ctx.db, mq.clone(), Expr::col(merchant::Column::MerchantType)).await?.into_iter().collect();
    let mtypes: Vec<_> = MERCHANT_TYPES.iter().filter(|(k, _)| by_mtype.contains_key(*k)).collect();
    charts.push(chart(
        "merchant_types",
        "pie",
        "个体经营户类型占比",
        mtypes.iter().map(|(_, l)| (*l).to_owned()).collect(),
        vec![series("个体经营户备案", mtypes.iter().map(|(k, _)| by_mtype[*k] as f64).collect())],
    ));

    // Month of filing (China Standard Time), the last 12 months.
    let month = match ctx.db.get_database_backend() {
        DbBackend::Postgres => "to_char(created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')",
        _ => "strftime('%Y-%m', created_at, '+8 hours')",
    };
    let now = Utc::now();
    let months: Vec<String> = (0..12)
        .rev()
        .map(|back| {
            let total = now.year() * 12 + i32::try_from(now.month0()).unwrap_or(0) - back;
            format!("{:04}-{:02}", total.div_euclid(12), total.rem_euclid(12) + 1)
        })
        .collect();
    let e_month: HashMap<String, i64> = count_by(ctx.db, eq, Expr::cust(month)).await?.into_iter().collect();
    let m_month: HashMap<String, i64> = count_by(ctx.db, mq, Expr::cust(month)).await?.into_iter().collect();
    charts.push(chart(
        "trend",
        "line",
        "每月新增备案",
        months.clone(),
        vec![
            series("企业备案", months.iter().map(|m| e_month.get(m).copied().unwrap_or(0) as f64).collect()),
            series("个体经营户备案", months.iter().map(|m| m_month.get(m).copied().unwrap_or(0) as f64).collect()),
        ],
    ));
    Ok(FilingStatistics { region: region.to_string(), figures, charts })
}

/// For every tenant of the subtree: the direct child of `own` it lies under (`own` itself is
/// 本级), as (code, name).
fn children_map(own: Uuid, tenants: &[tenant::Model]) -> HashMap<Uuid, (String, String)> {
    let by_id: HashMap<Uuid, &tenant::Model> = tenants.iter().map(|t| (t.id, t)).collect();
    let mut out = HashMap::new();
    for t in tenants {
        let mut at = t;
        let key = loop {
            if at.id == own {
                break Some(("0".to_owned(), "本级".to_owned()));
            }
            match at.parent_id {
                Some(p) if p == own => break Some((at.code.clone(), at.name.clone())),
                Some(p) => match by_id.get(&p) {
                    Some(parent) => at = parent,
                    None => break None,
                },
                None => break None,
            }
        };
        if let Some(k) = key {
            out.insert(t.id, k);
        }
    }
    out
}
