//! Catalogue rules: who may add, change and choose which categories.

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use suyuan_tenancy::entity::tenant;
use uuid::Uuid;

use super::dto::{CategoryResponse, CreateCategoryRequest, SelectCategoriesRequest, UpdateCategoryRequest};
use super::entity::{category, selection};
use crate::audit;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::modules::admin::service::Ctx;

/// The deepest level a category may sit at.
pub const MAX_DEPTH: i32 = 5;

const SEED: &str = include_str!("catalogue.csv");

/// Adds the national classification's missing categories (by code) to the root tenant; run at
/// every start, so a new release's categories reach existing deployments.
///
/// # Errors
/// Database failures or a malformed seed file.
pub async fn seed<C: ConnectionTrait>(db: &C, root_id: Uuid) -> anyhow::Result<()> {
    let now = Utc::now();
    for line in SEED.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).skip(1) {
        let (code, name) = line.split_once(',').ok_or_else(|| anyhow::anyhow!("bad catalogue line {line}"))?;
        // Held anywhere: by the national tenant already, or by a tenant that numbered its own
        // sub-category so before this release added it (then the tenant's stays and the
        // national one is left out, with a warning: two categories of one code on one line of
        // tenants would be ambiguous).
        let holders = category::Entity::find().filter(category::Column::Code.eq(code)).all(db).await?;
        if holders.iter().any(|c| c.tenant_id != root_id) {
            tracing::warn!(code, "catalogue seed: a tenant already uses this code; the national category is not added");
        }
        if !holders.is_empty() {
            continue;
        }
        let parent = if code.len() > 2 {
            let p = category::Entity::find()
                .filter(category::Column::TenantId.eq(root_id))
                .filter(category::Column::Code.eq(&code[..code.len() - 2]))
                .one(db)
                .await?;
            match p {
                Some(p) => Some(p),
                None => {
                    tracing::warn!(code, "catalogue seed: the parent is not national; the category is not added");
                    continue;
                }
            }
        } else {
            None
        };
        category::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(root_id),
            parent_id: Set(parent.as_ref().map(|p| p.id)),
            code: Set(code.to_owned()),
            name: Set(name.to_owned()),
            depth: Set(parent.as_ref().map_or(1, |p| p.depth + 1)),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// The tenants whose categories the caller sees: its own and every ancestor.
///
/// # Errors
/// Database failures.
pub async fn lineage(db: &DatabaseConnection, own: &tenant::Model) -> ApiResult<Vec<tenant::Model>> {
    let mut prefixes = Vec::new();
    let mut at = 0;
    while let Some(i) = own.path[at..].find('/') {
        at += i + 1;
        prefixes.push(own.path[..at].to_owned());
    }
    Ok(tenant::Entity::find().filter(tenant::Column::Path.is_in(prefixes)).all(db).await?)
}

/// The tenants along whose line a code must stay unique for a category of `own`: `own`, the
/// tenants above it and those below it. Codes are one namespace per line of tenants, not per
/// deployment: sibling provinces number their own sub-categories freely, while every tenant
/// still resolves a code to one category (its own, or one of the tenants above it).
///
/// # Errors
/// Database failures.
pub async fn line(db: &impl ConnectionTrait, own: &tenant::Model) -> ApiResult<Vec<Uuid>> {
    let mut prefixes = Vec::new();
    let mut at = 0;
    while let Some(i) = own.path[at..].find('/') {
        at += i + 1;
        prefixes.push(own.path[..at].to_owned());
    }
    let mut ids: Vec<Uuid> = tenant::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(tenant::Column::Path.is_in(prefixes))
                .add(tenant::Column::Path.starts_with(own.path.as_str())),
        )
        .select_only()
        .column(tenant::Column::Id)
        .into_tuple::<Uuid>()
        .all(db)
        .await?;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// True when a category of one of `line` other than `except` has `code`.
async fn code_taken(db: &impl ConnectionTrait, line: &[Uuid], code: &str, except: Option<Uuid>) -> ApiResult<bool> {
    let mut q = category::Entity::find()
        .filter(category::Column::Code.eq(code))
        .filter(category::Column::TenantId.is_in(line.iter().copied()));
    if let Some(id) = except {
        q = q.filter(category::Column::Id.ne(id));
    }
    Ok(q.count(db).await? > 0)
}

/// Categories the caller's tenant sees (its own and its ancestors'), in code order, with its
/// choices.
///
/// # Errors
/// 403 without `catalogue:read`.
pub async fn list(ctx: &Ctx<'_>) -> ApiResult<Vec<CategoryResponse>> {
    let scope = ctx.own_scope("catalogue", "read").await?;
    let owners = lineage(ctx.db, &ctx.who.tenant).await?;
    let rows = category::Entity::find()
        .filter(category::Column::TenantId.is_in(owners.iter().map(|t| t.id)))
        .order_by_asc(category::Column::Code)
        .all(ctx.db)
        .await?;
    let chosen: HashSet<Uuid> = selection::Entity::find()
        .filter(scope.condition(selection::Column::TenantId))
        .all(ctx.db)
        .await?
        .into_iter()
        .map(|s| s.category_id)
        .collect();
    let used = in_use_ids(ctx.db).await?;
    Ok(rows
        .into_iter()
        .map(|c| {
            let owner = owners.iter().find(|t| t.id == c.tenant_id);
            CategoryResponse {
                owner_code: owner.map(|t| t.code.clone()).unwrap_or_default(),
                national: owner.is_some_and(|t| t.parent_id.is_none()),
                own: c.tenant_id == scope.tenant_id(),
                selected: chosen.contains(&c.id),
                in_use: used.contains(&c.id),
                id: c.id,
                parent_id: c.parent_id,
                code: c.code,
                name: c.name,
                depth: c.depth,
            }
        })
        .collect())
}

/// Categories with children or chosen by some tenant.
async fn in_use_ids(db: &impl ConnectionTrait) -> ApiResult<HashSet<Uuid>> {
    let mut used: HashSet<Uuid> =
        category::Entity::find().all(db).await?.into_iter().filter_map(|c| c.parent_id).collect();
    used.extend(selection::Entity::find().all(db).await?.into_iter().map(|s| s.category_id));
    Ok(used)
}

/// True when the category has children, is chosen by a tenant, or is named by a filing (an
/// enterprise's or merchant's business categories, a product's category) of a tenant that sees
/// it (its owner and the tenants below; a sibling's filing with the same code names the
/// sibling's own category).
async fn in_use(db: &impl ConnectionTrait, c: &category::Model) -> ApiResult<bool> {
    use crate::modules::subjects::entity::{enterprise, merchant, product};
    let children = category::Entity::find().filter(category::Column::ParentId.eq(c.id)).count(db).await?;
    let chosen = selection::Entity::find().filter(selection::Column::CategoryId.eq(c.id)).count(db).await?;
    if children + chosen > 0 {
        return Ok(true);
    }
    let Some(owner) = tenant::Entity::find_by_id(c.tenant_id).one(db).await? else {
        return Ok(false);
    };
    let below: Vec<Uuid> = tenant::Entity::find()
        .filter(tenant::Column::Path.starts_with(owner.path.as_str()))
        .select_only()
        .column(tenant::Column::Id)
        .into_tuple::<Uuid>()
        .all(db)
        .await?;
    let quoted = format!("\"{}\"", c.code);
    let filed = product::Entity::find()
        .filter(product::Column::CategoryCode.eq(c.code.as_str()))
        .filter(product::Column::TenantId.is_in(below.iter().copied()))
        .count(db)
        .await?
        + enterprise::Entity::find()
            .filter(enterprise::Column::Categories.contains(quoted.as_str()))
            .filter(enterprise::Column::TenantId.is_in(below.iter().copied()))
            .count(db)
            .await?
        + merchant::Entity::find()
            .filter(merchant::Column::Categories.contains(quoted.as_str()))
            .filter(merchant::Column::TenantId.is_in(below.iter().copied()))
            .count(db)
            .await?;
    Ok(filed > 0)
}

/// Checks a name, a parent and a code for the caller's tenant; returns the parent.
async fn check_place(
    ctx: &Ctx<'_>,
    parent_id: Option<Uuid>,
    code: &str,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> ApiResult<Option<category::Model>> {
    let n = name.trim().chars().count();
    if n == 0 {
        errors.push(FieldError::new("name", "required", "不能为空"));
    } else if n > 100 {
        errors.push(FieldError::new("name", "too_long", "不能超过 100 个字符"));
    }
    let national_caller = ctx.who.tenant.parent_id.is_none();
    let owners = lineage(ctx.db, &ctx.who.tenant).await?;
    let root = owners.iter().find(|t| t.parent_id.is_none()).map(|t| t.id);
    let parent = match parent_id {
        Some(pid) => {
            let p = category::Entity::find_by_id(pid).one(ctx.db).await?;
            match p {
                // A sub-category sits under a national category or one of the tenant's own.
                Some(p) if Some(p.tenant_id) == root || p.tenant_id == ctx.who.tenant.id => Some(p),
                Some(_) | None => {
                    errors.push(FieldError::new("parent_id", "not_allowed", "上级分类应为全国分类或本单位自己的分类"));
                    None
                }
            }
        }
        None if national_caller => None,
        None => {
            errors.push(FieldError::new("parent_id", "required", "请选择上级分类：各单位的分类须挂在全国分类之下"));
            None
        }
    };
    let prefix = parent.as_ref().map_or("", |p| p.code.as_str());
    if !(code.len() == prefix.len() + 2 && code.starts_with(prefix) && code.bytes().all(|b| b.is_ascii_digit())) {
        let message = if prefix.is_empty() {
            "分类代码为 2 位数字".to_owned()
        } else {
            format!("分类代码应为上级代码 {prefix} 加 2 位数字，例如 {prefix}01")
        };
        errors.push(FieldError::new("code", "extends_parent", message));
    }
    if parent.as_ref().is_some_and(|p| p.depth >= MAX_DEPTH) {
        errors.push(FieldError::new("parent_id", "too_deep", format!("分类最多 {MAX_DEPTH} 级")));
    }
    Ok(parent)
}

/// Adds a category owned by the caller's tenant.
///
/// # Errors
/// 422 for every bad field; 409 for a taken code; 403.
pub async fn create(ctx: &Ctx<'_>, req: &CreateCategoryRequest) -> ApiResult<category::Model> {
    let scope = ctx.own_scope("catalogue", "create").await?;
    let code = req.code.trim();
    let mut errors = Vec::new();
    let parent = check_place(ctx, req.parent_id, code, &req.name, &mut errors).await?;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let line = line(ctx.db, &ctx.who.tenant).await?;
    let txn = ctx.db.begin().await?;
    if code_taken(&txn, &line, code, None).await? {
        return Err(taken(code));
    }
    let now = Utc::now();
    let row = category::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        parent_id: Set(parent.as_ref().map(|p| p.id)),
        code: Set(code.to_owned()),
        name: Set(req.name.trim().to_owned()),
        depth: Set(parent.as_ref().map_or(1, |p| p.depth + 1)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let detail = serde_json::json!({"code": row.code, "name": row.name});
    audit::record(&txn, ctx.entry("catalogue.create", "product_category", row.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok(row)
}

/// 409 for a code held on the caller's line of tenants.
fn taken(code: &str) -> ApiError {
    ApiError::conflict(format!("分类代码 {code} 已被本单位、上级单位或下级单位使用"))
}

/// A category of the caller's own tenant (403 for one of another tenant, audited).
async fn own_category(ctx: &Ctx<'_>, id: Uuid, action: &str) -> ApiResult<category::Model> {
    let scope = ctx.own_scope("catalogue", action).await?;
    let c = category::Entity::find_by_id(id).one(ctx.db).await?.ok_or_else(|| ApiError::not_found("分类不存在"))?;
    if c.tenant_id != scope.tenant_id() {
        let owner = tenant::Entity::find_by_id(c.tenant_id).one(ctx.db).await?;
        let refused = ApiError::forbidden("只能修改本单位自己的分类");
        return Err(match owner {
            Some(t) => ctx.deny(&t, "catalogue", action, refused).await?,
            None => refused,
        });
    }
    Ok(c)
}

/// Renames a category, or moves it (new parent and code) while nothing uses it.
///
/// # Errors
/// 422, 409 (in use, code taken), 404, 403.
pub async fn update(ctx: &Ctx<'_>, id: Uuid, req: &UpdateCategoryRequest) -> ApiResult<category::Model> {
    let c = own_category(ctx, id, "update").await?;
    let code = req.code.trim();
    let moving = req.parent_id != c.parent_id || code != c.code;
    let mut errors = Vec::new();
    let parent = check_place(ctx, req.parent_id, code, &req.name, &mut errors).await?;
    if parent.as_ref().is_some_and(|p| p.id == c.id || p.code.starts_with(&c.code)) {
        errors.push(FieldError::new("parent_id", "cycle", "不能移到自己或自己的下级分类之下"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let txn = ctx.db.begin().await?;
    if moving {
        if in_use(&txn, &c).await? {
            return Err(ApiError::conflict(format!(
                "分类 {}（{}）已有下级分类、已被单位选用或已有备案使用，不能移动或改代码",
                c.name, c.code
            )));
        }
        if code_taken(&txn, &line(&txn, &ctx.who.tenant).await?, code, Some(c.id)).await? {
            return Err(taken(code));
        }
    }
    let before = serde_json::json!({"code": c.code, "name": c.name});
    let mut am = c.into_active_model();
    am.name = Set(req.name.trim().to_owned());
    am.parent_id = Set(parent.as_ref().map(|p| p.id));
    am.code = Set(code.to_owned());
    am.depth = Set(parent.as_ref().map_or(1, |p| p.depth + 1));
    am.updated_at = Set(Utc::now());
    let row = am.update(&txn).await?;
    let detail = serde_json::json!({"before": before, "after": {"code": row.code, "name": row.name}});
    audit::record(&txn, ctx.entry("catalogue.update", "product_category", row.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok(row)
}

/// Deletes a category of the caller's tenant that nothing uses.
///
/// # Errors
/// 409 in use, 404, 403.
pub async fn delete(ctx: &Ctx<'_>, id: Uuid) -> ApiResult<()> {
    let c = own_category(ctx, id, "delete").await?;
    let txn = ctx.db.begin().await?;
    if in_use(&txn, &c).await? {
        return Err(ApiError::conflict(format!(
            "分类 {}（{}）已有下级分类、已被单位选用或已有备案使用，不能删除",
            c.name, c.code
        )));
    }
    category::Entity::delete_by_id(c.id).exec(&txn).await?;
    let detail = serde_json::json!({"code": c.code, "name": c.name});
    audit::record(&txn, ctx.entry("catalogue.delete", "product_category", c.id.to_string(), detail)).await?;
    txn.commit().await?;
    Ok(())
}

/// Replaces the categories the caller's tenant traces.
///
/// # Errors
/// 422 naming every category the tenant cannot see; 403.
pub async fn select(ctx: &Ctx<'_>, req: &SelectCategoriesRequest) -> ApiResult<Vec<Uuid>> {
    let scope = ctx.own_scope("catalogue", "select").await?;
    let owners = lineage(ctx.db, &ctx.who.tenant).await?;
    let mut wanted = req.category_ids.clone();
    wanted.sort();
    wanted.dedup();
    let visible: HashSet<Uuid> = category::Entity::find()
        .filter(category::Column::Id.is_in(wanted.clone()))
        .filter(category::Column::TenantId.is_in(owners.iter().map(|t| t.id)))
        .all(ctx.db)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let errors: Vec<FieldError> = req
        .category_ids
        .iter()
        .enumerate()
        .filter(|(_, id)| !visible.contains(id))
        .map(|(i, _)| FieldError::new(format!("category_ids[{i}]"), "unknown", "没有这个分类，或它属于其他单位"))
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let txn = ctx.db.begin().await?;
    selection::Entity::delete_many().filter(scope.condition(selection::Column::TenantId)).exec(&txn).await?;
    for id in &wanted {
        selection::ActiveModel { tenant_id: Set(scope.tenant_id()), category_id: Set(*id) }.insert(&txn).await?;
    }
    let detail = serde_json::json!({"count": wanted.len()});
    audit::record(&txn, ctx.entry("catalogue.select", "tenant", scope.tenant_id().to_string(), detail)).await?;
    txn.commit().await?;
    Ok(wanted)
}
