//! Query-behaviour analysis (R-ANA-3): the public's trace-code queries counted by day, product
//! category, the type of the subject that last handled the product, and the region where it
//! reached the consumer. A tenant sees the queries of products that reached consumers in its
//! region (the national level sees every query, also those of unknown codes).

use std::collections::HashMap;

use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entity::code_query;
use crate::error::{ApiError, ApiResult};
use crate::modules::admin::service::Ctx;
use crate::modules::dashboard::dto::{Chart, Figure, Series};
use crate::modules::products::entity::category;
use crate::modules::subjects::analysis::{count_by as grouped, region_code_prefix, region_of};
use crate::modules::subjects::dto::ENTERPRISE_TYPES;

/// The longest window, in days.
pub const MAX_DAYS: u32 = 366;

/// Counts by `key` of the queries `base` selects, largest first.
async fn count_by(
    ctx: &Ctx<'_>,
    base: &sea_orm::Select<code_query::Entity>,
    key: Expr,
) -> ApiResult<Vec<(Option<String>, i64)>> {
    let mut rows: Vec<(Option<String>, i64)> = grouped(ctx.db, base.clone(), key).await?;
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(rows)
}

fn chart(key: &str, kind: &str, title: &str, rows: Vec<(String, i64)>) -> Chart {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let data = rows.iter().map(|(_, n)| *n as f64).collect();
    Chart {
        key: key.to_owned(),
        kind: kind.to_owned(),
        title: title.to_owned(),
        unit: "次".to_owned(),
        categories: rows.into_iter().map(|(k, _)| k).collect(),
        series: vec![Series { name: "查询次数".to_owned(), data }],
    }
}

/// The query statistics of the last `days` days (1–366, default 30) in `region` (the caller's
/// own by default; a region inside it to narrow).
///
/// # Errors
/// 422 naming `days` or `region`; 403 for a region outside the caller's, or without the right to
/// read trace records.
pub async fn statistics(ctx: &Ctx<'_>, q: &super::dto::QueryStatisticsQuery) -> ApiResult<super::dto::QueryStatistics> {
    ctx.read_scope("trace_event", "read").await?;
    let days = q.days.unwrap_or(30);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::invalid_field("days", "range", format!("days 应为 1–{MAX_DAYS}")));
    }
    let region = region_of(ctx, q.region.as_deref(), "trace_event").await?;
    let prefix = region_code_prefix(&region);
    let since = Utc::now() - Duration::days(i64::from(days));
    let mut base = code_query::Entity::find().filter(code_query::Column::QueriedAt.gte(since));
    if !prefix.is_empty() {
        base = base.filter(code_query::Column::ConsumerRegion.starts_with(&prefix));
    }

    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let all = n(base.clone().count(ctx.db).await?);
    let found = n(base.clone().filter(code_query::Column::Found.eq(true)).count(ctx.db).await?);
    let codes: i64 = base
        .clone()
        .select_only()
        .column_as(Expr::cust("COUNT(DISTINCT code)"), "n")
        .into_tuple::<i64>()
        .one(ctx.db)
        .await?
        .unwrap_or(0);
    let figures = vec![
        Figure {
            key: "queries".into(),
            label: "查询次数".into(),
            value: Some(all),
            unit: "次".into(),
            note: format!("近 {days} 天"),
        },
        Figure {
            key: "found".into(),
            label: "查到信息".into(),
            value: Some(found),
            unit: "次".into(),
            note: "追溯码有追溯记录的查询".into(),
        },
        Figure {
            key: "codes".into(),
            label: "被查询的追溯码".into(),
            value: Some(codes),
            unit: "个".into(),
            note: "去重后".into(),
        },
    ];

    // By day, in China time.
    let day = match ctx.db.get_database_backend() {
        DbBackend::Postgres => Expr::cust("to_char(queried_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"),
        _ => Expr::cust("strftime('%Y-%m-%d', queried_at, '+8 hours')"),
    };
    let mut by_day = count_by(ctx, &base, day).await?;
    by_day.sort_by(|a, b| a.0.cmp(&b.0));
    let by_day = by_day.into_iter().map(|(k, n)| (k.unwrap_or_default(), n)).collect();

    let by_category = count_by(ctx, &base, Expr::col(code_query::Column::CategoryCode)).await?;
    let codes: Vec<String> = by_category.iter().filter_map(|(k, _)| k.clone()).collect();
    // Codes are unique along a line of tenants (a tenant, those above and below it), not
    // across siblings: two tenants below the caller may give one code two names (their
    // queries are counted together, under both names).
    let line = crate::modules::products::service::line(ctx.db, &ctx.who.tenant).await?;
    let mut names: HashMap<String, String> = HashMap::new();
    let rows = category::Entity::find()
        .select_only()
        .column(category::Column::Code)
        .column(category::Column::Name)
        .filter(category::Column::Code.is_in(codes))
        .filter(category::Column::TenantId.is_in(line))
        .order_by_asc(category::Column::Name)
        .into_tuple::<(String, String)>()
        .all(ctx.db)
        .await?;
    for (code, name) in rows {
        let known = names.entry(code).or_default();
        if !known.is_empty() {
            known.push_str(" / ");
        }
        known.push_str(&name);
    }
    let by_category = by_category
        .into_iter()
        .map(|(k, n)| (k.map_or_else(|| "未分类或未查到".to_owned(), |c| names.get(&c).cloned().unwrap_or(c)), n))
        .collect();

    let by_type = count_by(ctx, &base, Expr::col(code_query::Column::SubjectType)).await?;
    let type_label = |t: &str| {
        ENTERPRISE_TYPES.iter().find(|(k, _)| *k == t).map_or_else(
            || if t == "merchant" { "个体经营户".to_owned() } else { t.to_owned() },
            |(_, l)| (*l).to_owned(),
        )
    };
    let by_type = by_type
        .into_iter()
        .map(|(k, n)| (k.map_or_else(|| "未知（码未查到）".to_owned(), |t| type_label(&t)), n))
        .collect();

    // By the next level's region: provinces for the country, cities for a province, counties
    // for a city.
    let digits = match prefix.len() {
        0 => 2,
        2 => 4,
        _ => 6,
    };
    // (A literal, not a parameter: the same expression must appear in GROUP BY.)
    let by_region = count_by(ctx, &base, Expr::cust(format!("substr(consumer_region, 1, {digits})"))).await?;
    let full = |k: &str| format!("{k:0<6}");
    let region_codes: Vec<String> = by_region.iter().filter_map(|(k, _)| k.as_deref().map(full)).collect();
    // Named as the roll-up names them: this deployment's tenants, else what children sent.
    let region_names =
        crate::modules::federation::service::region_names(ctx.db, ctx.who.tenant.id, region_codes).await?;
    let by_region = by_region
        .into_iter()
        .map(|(k, n)| {
            let label = k.map_or_else(
                || "未知（码未查到）".to_owned(),
                |k| region_names.get(&full(&k)).cloned().unwrap_or_else(|| full(&k)),
            );
            (label, n)
        })
        .collect();

    Ok(super::dto::QueryStatistics {
        region: region.to_string(),
        days,
        figures,
        charts: vec![
            chart("by_day", "line", "每日查询次数", by_day),
            chart("by_region", "ranking", "按消费地区", by_region),
            chart("by_category", "ranking", "按产品品类", by_category),
            chart("by_subject_type", "pie", "按销售主体类型", by_type),
        ],
    })
}
