//! The dashboard's numbers, each section only when the caller's roles allow it.

use std::collections::BTreeMap;

use chrono::{Duration, FixedOffset, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use suyuan_tenancy::entity::tenant;
use suyuan_tenancy::{DivisionCode, Reach, TenantLevel, TenantScope};

use super::dto::{Activity, Chart, DashboardResponse, Figure, MapPoint, RegionMap, RegionValue, Series};
use crate::audit::entity::record;
use crate::error::{ApiError, ApiResult};
use crate::modules::admin::service::Ctx;
use crate::modules::identity::entity::{api_key, user};

/// Days of the activity charts.
pub const ACTIVITY_DAYS: i64 = 30;

/// China Standard Time: the day boundaries of every daily figure.
fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!()))
}

/// The action of an audit record in Chinese.
#[must_use]
pub fn action_label(action: &str) -> &'static str {
    match action {
        "login" => "登录",
        "login.failed" => "登录失败",
        "logout" => "退出",
        "password.change" => "修改密码",
        "invitation.accept" => "接受邀请",
        "session.switch_tenant" => "切换单位",
        "tenant.create" => "新建单位",
        "tenant.suspend" => "暂停单位",
        "tenant.activate" => "恢复单位",
        "tenant.configure" => "修改单位设置",
        "user.create" => "新建用户",
        "user.disable" => "停用用户",
        "user.enable" => "启用用户",
        "user.reset_password" => "重置密码",
        "user.end_sessions" => "强制下线",
        "user.set_roles" => "分配角色",
        "role.create" => "新建角色",
        "role.delete" => "删除角色",
        "policy.create" => "新增权限规则",
        "policy.delete" => "删除权限规则",
        "api_key.create" => "新建接入密钥",
        "api_key.revoke" => "撤销接入密钥",
        "sso.configure" => "设置单点登录",
        "audit.export" => "导出审计日志",
        "access.denied" => "越权访问被拒绝",
        "access.denied_inbound" => "其他单位越权访问被拒绝",
        "audit.anchor" => "审计链锚点",
        "system.bootstrap" => "系统初始化",
        _ => "其他操作",
    }
}

/// The group of an action for the "操作类型" chart.
fn action_group(action: &str) -> &'static str {
    match action.split('.').next().unwrap_or_default() {
        "login" | "logout" | "session" | "password" | "invitation" => "登录与账号",
        "tenant" | "sso" => "单位管理",
        "user" => "用户管理",
        "role" | "policy" => "角色与权限",
        "api_key" => "接入密钥",
        "access" => "越权拒绝",
        _ => "其他",
    }
}

fn allowed(ctx: &Ctx<'_>, resource: &str, action: &str) -> bool {
    ctx.authz.require_own(ctx.who, resource, action).is_ok()
}

fn level_label(level: &str) -> &'static str {
    level.parse::<TenantLevel>().map(TenantLevel::label_zh).unwrap_or("其他")
}

/// Per day (China time) and action, the audit records of the caller's subtree since `since`.
async fn activity_counts(
    ctx: &Ctx<'_>,
    scope: &TenantScope,
    since: chrono::DateTime<Utc>,
) -> ApiResult<Vec<(String, String, i64)>> {
    let day = match ctx.db.get_database_backend() {
        DbBackend::Postgres => Expr::cust("to_char(occurred_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"),
        _ => Expr::cust("substr(datetime(occurred_at, '+8 hours'), 1, 10)"),
    };
    // Ingests answered before this read count (their entries wait in the audit queue briefly).
    crate::audit::pending::settle_all(ctx.db).await?;
    Ok(record::Entity::find()
        .select_only()
        .column_as(day.clone(), "day")
        .column(record::Column::Action)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(record::Column::OccurredAt.gte(since))
        .filter(scope.condition(record::Column::TenantId))
        .group_by(day)
        .group_by(record::Column::Action)
        .into_tuple::<(String, String, i64)>()
        .all(ctx.db)
        .await?)
}

/// The dashboard of the caller's tenant.
///
/// # Errors
/// Database failures.
pub async fn dashboard(ctx: &Ctx<'_>) -> ApiResult<DashboardResponse> {
    let me = &ctx.who.tenant;
    let mut figures = Vec::new();
    let mut charts = Vec::new();
    let rollup = allowed(ctx, "rollup", "read");

    // Counts of the tenants below are roll-ups: a role that reads them for the tenants below
    // gets the subtree, any other only its own tenant.
    let subtree_allowed = ctx.authz.allows(ctx.who, suyuan_policies::Scope::Descendant, "tenant", "read")
        || ctx.authz.allows(ctx.who, suyuan_policies::Scope::Descendant, "rollup", "read");
    let subtree_scope = TenantScope::new(me, if subtree_allowed { Reach::Subtree } else { Reach::Own });
    let subtree: Vec<tenant::Model> = if allowed(ctx, "tenant", "read") || rollup {
        tenant::Entity::find().filter(subtree_scope.tenants()).all(ctx.db).await?
    } else {
        Vec::new()
    };
    let below: Vec<&tenant::Model> = subtree.iter().filter(|t| t.id != me.id).collect();
    if allowed(ctx, "tenant", "read") {
        let suspended = below.iter().filter(|t| t.status != "active").count();
        figures.push(Figure {
            key: "descendant_tenants".into(),
            label: "下级单位".into(),
            value: Some(i64::try_from(below.len()).unwrap_or(i64::MAX)),
            unit: "个".into(),
            note: if suspended > 0 { format!("其中 {suspended} 个已暂停") } else { "均在正常使用".into() },
        });
        let mut by_level: BTreeMap<&str, f64> = BTreeMap::new();
        for t in &below {
            *by_level.entry(level_label(&t.level)).or_default() += 1.0;
        }
        charts.push(Chart {
            key: "tenants_by_level".into(),
            kind: "pie".into(),
            title: "下级单位构成".into(),
            unit: "个".into(),
            categories: by_level.keys().map(|k| (*k).to_owned()).collect(),
            series: vec![Series { name: "单位数".into(), data: by_level.values().copied().collect() }],
        });
    }
    if allowed(ctx, "user", "read") {
        let own = TenantScope::new(me, Reach::Own);
        let users = user::Entity::find().filter(own.condition(user::Column::TenantId)).all(ctx.db).await?;
        let disabled = users.iter().filter(|u| u.status != "active").count();
        figures.push(Figure {
            key: "users".into(),
            label: "本单位用户".into(),
            value: Some(i64::try_from(users.len()).unwrap_or(i64::MAX)),
            unit: "人".into(),
            note: if disabled > 0 { format!("其中 {disabled} 人已停用") } else { "全部为启用状态".into() },
        });
    }
    if allowed(ctx, "api_key", "read") {
        let now = Utc::now();
        let keys = api_key::Entity::find()
            .filter(TenantScope::new(me, Reach::Own).condition(api_key::Column::TenantId))
            .filter(api_key::Column::RevokedAt.is_null())
            .all(ctx.db)
            .await?;
        let live = keys.iter().filter(|k| k.expires_at.is_none_or(|e| e > now)).count();
        figures.push(Figure {
            key: "api_keys".into(),
            label: "有效接入密钥".into(),
            value: Some(i64::try_from(live).unwrap_or(i64::MAX)),
            unit: "个".into(),
            note: "已接入的追溯系统和第三方平台".into(),
        });
    }
    // Approved enterprise filings of the tenant and, for roles that read it, its subtree.
    if allowed(ctx, "enterprise", "read") {
        use crate::modules::subjects::entity::enterprise;
        use sea_orm::PaginatorTrait as _;
        let reach = if ctx.authz.allows(ctx.who, suyuan_policies::Scope::Descendant, "enterprise", "read") {
            Reach::Subtree
        } else {
            Reach::Own
        };
        let scope = TenantScope::new(me, reach);
        let approved = enterprise::Entity::find()
            .filter(scope.condition(enterprise::Column::TenantId))
            .filter(enterprise::Column::Status.eq("approved"))
            .count(ctx.db)
            .await?;
        figures.push(Figure {
            key: "filings".into(),
            label: "备案企业".into(),
            value: Some(i64::try_from(approved).unwrap_or(i64::MAX)),
            unit: "家".into(),
            note: if reach == Reach::Subtree {
                "已通过审核，含下级单位".into()
            } else {
                "已通过审核".into()
            },
        });
    }
    if rollup {
        // The tenant's own records and what its tenants below reported (the roll-up's totals).
        let records = crate::modules::federation::service::records_total(ctx.db, me.id).await?;
        figures.push(Figure {
            key: "trace_records".into(),
            label: "追溯记录".into(),
            value: Some(records),
            unit: "条".into(),
            note: "本级及下级上报的汇总".into(),
        });
    }
    // The anomaly scan has not landed yet: an honest empty state, not a zero.
    figures.push(Figure {
        key: "anomalies".into(),
        label: "数据异常".into(),
        value: None,
        unit: "条".into(),
        note: "该功能模块尚未上线，上线后在此显示".into(),
    });

    if rollup {
        let today = Utc::now().with_timezone(&cst()).date_naive();
        let first = today - Duration::days(ACTIVITY_DAYS - 1);
        let since = first
            .and_hms_opt(0, 0, 0)
            .and_then(|d| d.and_local_timezone(cst()).single())
            .map_or_else(|| Utc::now() - Duration::days(ACTIVITY_DAYS), |d| d.with_timezone(&Utc));
        let rows = activity_counts(ctx, &subtree_scope, since).await?;
        let days: Vec<String> =
            (0..ACTIVITY_DAYS).map(|i| (first + Duration::days(i)).format("%Y-%m-%d").to_string()).collect();
        let mut ok = vec![0.0; days.len()];
        let mut failed = vec![0.0; days.len()];
        let mut groups: BTreeMap<&str, f64> = BTreeMap::new();
        let mut logins = 0i64;
        for (day, action, n) in &rows {
            #[allow(clippy::cast_precision_loss)]
            let v = *n as f64;
            if let Some(i) = days.iter().position(|d| d == day) {
                match action.as_str() {
                    "login" => {
                        ok[i] += v;
                        logins += n;
                    }
                    "login.failed" => failed[i] += v,
                    _ => {}
                }
            }
            *groups.entry(action_group(action)).or_default() += v;
        }
        figures.insert(
            0,
            Figure {
                key: "logins_30d".into(),
                label: "近 30 天登录".into(),
                value: Some(logins),
                unit: "次".into(),
                note: "本单位及全部下级单位".into(),
            },
        );
        let short_days: Vec<String> = days.iter().map(|d| d[5..].to_owned()).collect();
        charts.insert(
            0,
            Chart {
                key: "logins_by_day".into(),
                kind: "line".into(),
                title: "近 30 天登录次数".into(),
                unit: "次".into(),
                categories: short_days,
                series: vec![Series { name: "成功".into(), data: ok }, Series { name: "失败".into(), data: failed }],
            },
        );
        let mut grouped: Vec<(&str, f64)> = groups.into_iter().collect();
        grouped.sort_by(|a, b| b.1.total_cmp(&a.1));
        charts.push(Chart {
            key: "actions_by_group".into(),
            kind: "bar".into(),
            title: "近 30 天操作类型".into(),
            unit: "次".into(),
            categories: grouped.iter().map(|(g, _)| (*g).to_owned()).collect(),
            series: vec![Series { name: "操作次数".into(), data: grouped.iter().map(|(_, v)| *v).collect() }],
        });
        // Accounts per direct child, counting everything below it.
        let children: Vec<&tenant::Model> = below.iter().copied().filter(|t| t.parent_id == Some(me.id)).collect();
        if !children.is_empty() {
            let counts: Vec<(uuid::Uuid, i64)> = user::Entity::find()
                .select_only()
                .column(user::Column::TenantId)
                .column_as(Expr::cust("COUNT(*)"), "n")
                .filter(user::Column::TenantId.is_in(below.iter().map(|t| t.id)))
                .group_by(user::Column::TenantId)
                .into_tuple()
                .all(ctx.db)
                .await?;
            // Each tenant's count goes to the direct child its path runs through: one map
            // lookup per count, however many tenants the subtree holds.
            let path_of: std::collections::HashMap<uuid::Uuid, &str> =
                subtree.iter().map(|t| (t.id, t.path.as_str())).collect();
            let child_of = |path: &str| -> Option<usize> {
                let code = path.strip_prefix(me.path.as_str())?.split('/').next()?;
                children.iter().position(|c| c.code == code)
            };
            let mut per_child = vec![0i64; children.len()];
            for (tid, n) in &counts {
                if let Some(i) = path_of.get(tid).and_then(|p| child_of(p)) {
                    per_child[i] += n;
                }
            }
            #[allow(clippy::cast_precision_loss)]
            let mut ranked: Vec<(String, f64)> =
                children.iter().zip(per_child).map(|(c, n)| (c.name.clone(), n as f64)).collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            ranked.truncate(10);
            charts.push(Chart {
                key: "users_by_child".into(),
                kind: "ranking".into(),
                title: "下级单位用户数排行".into(),
                unit: "人".into(),
                categories: ranked.iter().map(|(n, _)| n.clone()).collect(),
                series: vec![Series { name: "用户数".into(), data: ranked.iter().map(|(_, v)| *v).collect() }],
            });
        }
    }

    let recent = match ctx.who.user_id {
        Some(uid) => record::Entity::find()
            .filter(TenantScope::new(me, Reach::Own).condition(record::Column::TenantId))
            .filter(record::Column::ActorUserId.eq(uid))
            .order_by_desc(record::Column::Seq)
            .limit(8)
            .all(ctx.db)
            .await?
            .into_iter()
            .map(|r| Activity {
                occurred_at: r.occurred_at,
                label: action_label(&r.action).to_owned(),
                action: r.action,
                result: r.result,
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(DashboardResponse { tenant_code: me.code.clone(), tenant_name: me.name.clone(), figures, charts, recent })
}

/// The tenants onboarded in each sub-region of `region` (default: the caller's), for the
/// choropleth, and the agencies that filed their seat's coordinates, as points.
///
/// # Errors
/// 422 for a malformed code; 403 for a region outside the caller's or without `rollup:read`.
pub async fn region_map(ctx: &Ctx<'_>, region: Option<&str>) -> ApiResult<RegionMap> {
    let scope = ctx.read_scope("rollup", "read").await?;
    let own = DivisionCode::parse_stored(&ctx.who.tenant.code).map_err(ApiError::internal)?;
    let region = match region.map(str::trim).filter(|s| !s.is_empty()) {
        Some(r) => DivisionCode::parse(r).map_err(|e| ApiError::invalid_field("region", e.rule(), e.to_string()))?,
        None => own,
    };
    if !region.is_within(&own) {
        let refused = ApiError::forbidden(format!("无权查看本单位辖区以外的地区（{region}）"));
        return Err(ctx.deny(&ctx.who.tenant, "rollup", "read", refused).await?);
    }
    let tenants = tenant::Entity::find().filter(scope.tenants()).all(ctx.db).await?;
    let mut values: BTreeMap<String, (Option<String>, f64)> = BTreeMap::new();
    for t in &tenants {
        let Ok(code) = DivisionCode::parse_stored(&t.code) else { continue };
        let Some(sub) = region.sub_region_of(&code) else { continue };
        let entry = values.entry(sub.to_string()).or_insert((sub.name().map(str::to_owned), 0.0));
        entry.1 += 1.0;
        if sub == code && entry.0.is_none() {
            // A code a later edition of the table retired: the tenant's own name.
            entry.0 = Some(t.name.clone());
        }
    }
    let points = tenants
        .iter()
        .filter(|t| DivisionCode::parse_stored(&t.code).is_ok_and(|c| c.is_within(&region)))
        .filter_map(|t| {
            Some(MapPoint {
                name: t.name.clone(),
                kind: level_label(&t.level).to_owned(),
                longitude: t.longitude?,
                latitude: t.latitude?,
                value: 1.0,
            })
        })
        .collect();
    let parent = match region.level() {
        TenantLevel::National => None,
        TenantLevel::Provincial => Some(suyuan_tenancy::division::NATIONAL_CODE.to_owned()),
        TenantLevel::Municipal | TenantLevel::County => {
            region.city().filter(|c| *c != region).or(region.province()).map(|c| c.to_string())
        }
    }
    .filter(|p| DivisionCode::parse_stored(p).is_ok_and(|p| p.is_within(&own)));
    Ok(RegionMap {
        region: region.to_string(),
        metric: "已接入单位".into(),
        unit: "个".into(),
        parent,
        regions: values.into_iter().map(|(code, (name, value))| RegionValue { code, name, value }).collect(),
        points,
    })
}
