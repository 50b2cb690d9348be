//! The review workflow every kind of filing shares (R-SUBJ-3, R-SUBJ-4, R-PROD-2):
//! draft → submitted → approved / rejected → changed, a version per approval with the fields
//! changed, the outbox row for the parent in the approval's transaction, platform-issued
//! codes, and the per-tenant change control of which role may change which field and which
//! changes need review again.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use suyuan_policies::Scope;
use suyuan_tenancy::entity::tenant;
use uuid::Uuid;

use super::dto::{FilingRuleResponse, VersionResponse};
use super::entity::{filing_rule, filing_version};
use crate::audit;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::modules::admin::service::Ctx;

/// The kinds of filing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 企业.
    Enterprise,
    /// 个体经营户.
    Merchant,
    /// 产品.
    Product,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Enterprise, Self::Merchant, Self::Product];

    /// The name in URLs, policies, versions and the outbox.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enterprise => "enterprise",
            Self::Merchant => "merchant",
            Self::Product => "product",
        }
    }

    /// From [`Kind::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// zh-CN name.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Enterprise => "企业",
            Self::Merchant => "个体经营户",
            Self::Product => "产品",
        }
    }

    /// The table of the working copies.
    #[must_use]
    pub fn table(self) -> &'static str {
        match self {
            Self::Enterprise => "enterprises",
            Self::Merchant => "merchants",
            Self::Product => "product_filings",
        }
    }

    fn prefix(self) -> char {
        match self {
            Self::Enterprise => 'E',
            Self::Merchant => 'M',
            Self::Product => 'P',
        }
    }
}

/// The characters of issued codes' check character (those of GB 32100).
const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// The check character of an issued code's body (weights 3^i mod 31, as GB 32100 does).
#[must_use]
pub fn code_check(body: &str) -> char {
    let mut sum = 0usize;
    let mut w = 1usize;
    for b in body.bytes() {
        let v = CHARSET.iter().position(|&c| c == b).unwrap_or(0);
        sum += v * w;
        w = w * 3 % 31;
    }
    char::from(CHARSET[(31 - sum % 31) % 31])
}

/// An issued code: `E` (enterprise), `M` (merchant) or `P` (product), the issuing tenant's
/// division code, a 7-digit serial, a check character. The division code makes it unique
/// across deployments, the serial within one.
#[must_use]
pub fn issue_code(kind: Kind, division: &str, serial: u32) -> String {
    let body = format!("{}{division}{serial:07}", kind.prefix());
    let check = code_check(&body);
    format!("{body}{check}")
}

/// True when `code` is a well-formed issued code of `kind` (its check character right).
#[must_use]
pub fn code_valid(kind: Kind, code: &str) -> bool {
    code.is_ascii()
        && code.len() == 15
        && code.starts_with(kind.prefix())
        && code[1..14].bytes().all(|b| b.is_ascii_digit())
        && code[..14].chars().chain(std::iter::once(code_check(&code[..14]))).eq(code.chars())
}

/// The next serial of the tenant's codes of `kind`. Call it after [`audit::lock_chain`] on the
/// tenant in the same transaction: serials then have no gaps and no twins.
///
/// # Errors
/// Database failures.
pub async fn next_serial(txn: &DatabaseTransaction, kind: Kind, tenant_id: Uuid) -> ApiResult<u32> {
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    let q = Query::select()
        .expr_as(Func::count(Expr::col(Alias::new("id"))), Alias::new("n"))
        .from(Alias::new(kind.table()))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant_id))
        .to_owned();
    let n = Count::find_by_statement(txn.get_database_backend().build(&q)).one(txn).await?.map_or(0, |c| c.n);
    u32::try_from(n + 1).map_err(ApiError::internal)
}

/// The review state of a filing of any kind.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Head {
    /// Id.
    pub id: Uuid,
    /// The filing tenant.
    pub tenant_id: Uuid,
    /// Issued code.
    pub code: String,
    /// Review status.
    pub status: String,
    /// Last approved version.
    pub version: i32,
}

async fn head(db: &impl ConnectionTrait, kind: Kind, id: Uuid) -> ApiResult<Head> {
    let q = Query::select()
        .columns(["id", "tenant_id", "code", "status", "version"].map(Alias::new))
        .from(Alias::new(kind.table()))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    Head::find_by_statement(db.get_database_backend().build(&q))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("备案不存在"))
}

/// The guard on one filing for `action`: reading reaches the subtree for roles that allow
/// it; every other action only the caller's own tenant.
///
/// # Errors
/// 403 (recorded in the audit log).
pub async fn authorize(ctx: &Ctx<'_>, kind: Kind, tenant_id: Uuid, action: &str) -> ApiResult<Scope> {
    let owner = tenant::Entity::find_by_id(tenant_id)
        .one(ctx.db)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("filing without tenant")))?;
    let scope = ctx.require(&owner, kind.as_str(), action).await?;
    if action != "read" && scope != Scope::Own {
        let refused = ApiError::forbidden("下级单位的备案由该单位自己维护，上级单位只能查看");
        return Err(ctx.deny(&owner, kind.as_str(), action, refused).await?);
    }
    Ok(scope)
}

/// The review state of a filing, once the guard allows `action` on it.
///
/// # Errors
/// 404, 403.
pub async fn load(ctx: &Ctx<'_>, kind: Kind, id: Uuid, action: &str) -> ApiResult<Head> {
    let h = head(ctx.db, kind, id).await?;
    authorize(ctx, kind, h.tenant_id, action).await?;
    Ok(h)
}

/// Moves a filing from `from` statuses to `to`, only if nothing changed it meanwhile.
async fn transition(
    txn: &DatabaseTransaction,
    kind: Kind,
    h: &Head,
    from: &[&str],
    to: &str,
    reason: Option<String>,
) -> ApiResult<()> {
    let q = Query::update()
        .table(Alias::new(kind.table()))
        .value(Alias::new("status"), to)
        .value(Alias::new("reason"), reason)
        .value(Alias::new("updated_at"), Utc::now())
        .and_where(Expr::col(Alias::new("id")).eq(h.id))
        .and_where(Expr::col(Alias::new("status")).is_in(from.iter().copied()))
        .to_owned();
    let done = txn.execute(&q).await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::conflict(format!("备案当前状态为 {}，不能执行此操作", status_label(&h.status))));
    }
    Ok(())
}

/// zh-CN name of a review status.
#[must_use]
pub fn status_label(status: &str) -> &'static str {
    match status {
        "draft" => "草稿",
        "submitted" => "待审核",
        "approved" => "已通过",
        "rejected" => "已驳回",
        "changed" => "变更待提交",
        _ => "未知",
    }
}

/// Submits a draft, rejected or changed filing for review.
///
/// # Errors
/// 409 in another status; 404, 403.
pub async fn submit(ctx: &Ctx<'_>, kind: Kind, id: Uuid) -> ApiResult<()> {
    let h = load(ctx, kind, id, "submit").await?;
    let txn = ctx.db.begin().await?;
    transition(&txn, kind, &h, &["draft", "rejected", "changed"], "submitted", None).await?;
    let detail = serde_json::json!({"code": h.code});
    audit::record(&txn, ctx.entry(&format!("{}.submit", kind.as_str()), kind.as_str(), h.id.to_string(), detail))
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Rejects a submitted filing with a reason.
///
/// # Errors
/// 422 without a reason; 409 when not submitted; 404, 403.
pub async fn reject(ctx: &Ctx<'_>, kind: Kind, id: Uuid, reason: &str) -> ApiResult<()> {
    let mut errors = Vec::new();
    let reason = text("reason", reason, 500, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let h = load(ctx, kind, id, "approve").await?;
    let txn = ctx.db.begin().await?;
    transition(&txn, kind, &h, &["submitted"], "rejected", Some(reason.clone())).await?;
    let detail = serde_json::json!({"code": h.code, "reason": reason});
    audit::record(&txn, ctx.entry(&format!("{}.reject", kind.as_str()), kind.as_str(), h.id.to_string(), detail))
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Starts an approval: the guard, the tenant's chain lock (it orders the outbox sequence of
/// concurrent approvals), `submitted` → `approved` with the next version number. Read the
/// approved row in the returned transaction and end with [`finish_approval`].
///
/// # Errors
/// 409 when not submitted; 404, 403.
pub async fn begin_approval(ctx: &Ctx<'_>, kind: Kind, id: Uuid) -> ApiResult<(DatabaseTransaction, Head)> {
    let h = load(ctx, kind, id, "approve").await?;
    let txn = ctx.db.begin().await?;
    audit::lock_chain(&txn, h.tenant_id).await?;
    transition(&txn, kind, &h, &["submitted"], "approved", None).await?;
    set_version(&txn, kind, h.id, h.version + 1).await?;
    Ok((txn, h))
}

async fn set_version(txn: &DatabaseTransaction, kind: Kind, id: Uuid, number: i32) -> ApiResult<()> {
    let q = Query::update()
        .table(Alias::new(kind.table()))
        .value(Alias::new("version"), number)
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    txn.execute(&q).await?;
    Ok(())
}

/// Ends an approval begun with [`begin_approval`]: the version row with the approved data,
/// the outbox row for the parent, the audit record, one commit.
///
/// # Errors
/// Database failures (nothing is written).
pub async fn finish_approval(
    ctx: &Ctx<'_>,
    txn: DatabaseTransaction,
    kind: Kind,
    h: &Head,
    data: serde_json::Value,
) -> ApiResult<()> {
    let number = h.version + 1;
    record_version(ctx, &txn, kind, h, number, data).await?;
    let detail = serde_json::json!({"code": h.code, "version": number});
    audit::record(&txn, ctx.entry(&format!("{}.approve", kind.as_str()), kind.as_str(), h.id.to_string(), detail))
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Writes version `number` of a filing and its outbox row (the caller holds the tenant's
/// chain lock and has set the row's `version`).
async fn record_version(
    ctx: &Ctx<'_>,
    txn: &DatabaseTransaction,
    kind: Kind,
    h: &Head,
    number: i32,
    data: serde_json::Value,
) -> ApiResult<()> {
    filing_version::ActiveModel {
        id: Set(Uuid::now_v7()),
        kind: Set(kind.as_str().to_owned()),
        filing_id: Set(h.id),
        version: Set(number),
        data: Set(data.to_string()),
        approved_at: Set(Utc::now()),
        approved_by: Set(ctx.who.actor().name),
    }
    .insert(txn)
    .await?;
    let event = if number == 1 { "filing.created" } else { "filing.changed" };
    super::service::write_outbox(
        txn,
        h.tenant_id,
        event,
        &serde_json::json!({"type": kind.as_str(), "version": number, "filing": data}),
    )
    .await?;
    Ok(())
}

/// Fields of the response that are the filing's state, not its content.
const STATE_FIELDS: &[&str] = &["id", "tenant_id", "code", "status", "version", "reason", "created_at", "updated_at"];

/// The content fields whose values differ between two renderings of a filing.
#[must_use]
pub fn diff(before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
    after
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, v)| !STATE_FIELDS.contains(&k.as_str()) && before.get(k.as_str()) != Some(v))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The approved versions, oldest first, each with the fields changed from the one before.
///
/// # Errors
/// 404, 403.
pub async fn versions(ctx: &Ctx<'_>, kind: Kind, id: Uuid) -> ApiResult<Vec<VersionResponse>> {
    let h = load(ctx, kind, id, "read").await?;
    let rows = filing_version::Entity::find()
        .filter(filing_version::Column::FilingId.eq(h.id))
        .filter(filing_version::Column::Kind.eq(kind.as_str()))
        .order_by_asc(filing_version::Column::Version)
        .all(ctx.db)
        .await?;
    let mut out: Vec<VersionResponse> = Vec::new();
    for r in rows {
        let data: serde_json::Value = serde_json::from_str(&r.data).unwrap_or_default();
        let changed_fields = out.last().map(|prev| diff(&prev.data, &data)).unwrap_or_default();
        out.push(VersionResponse {
            version: r.version,
            approved_at: r.approved_at,
            approved_by: r.approved_by,
            data,
            changed_fields,
        });
    }
    Ok(out)
}

/// Every filing of a search (paging ignored, at most `MAX_EXPORT_ROWS`), for an export;
/// recorded in the audit log as `{kind}.export`.
///
/// # Errors
/// 422 when more rows match; database failures.
pub async fn export_rows<E: EntityTrait>(
    ctx: &Ctx<'_>,
    kind: Kind,
    tenant_id: Uuid,
    sorted: sea_orm::Select<E>,
) -> ApiResult<Vec<E::Model>> {
    use sea_orm::QuerySelect;
    let max = super::service::MAX_EXPORT_ROWS;
    let rows = sorted.limit(max + 1).all(ctx.db).await?;
    if u64::try_from(rows.len()).unwrap_or(u64::MAX) > max {
        return Err(ApiError::invalid_field(
            "region",
            "too_many",
            format!("一次最多导出 {max} 条，请缩小地区、类型或时间范围"),
        ));
    }
    let detail = serde_json::json!({"rows": rows.len()});
    let action = format!("{}.export", kind.as_str());
    audit::record(ctx.db, ctx.entry(&action, kind.as_str(), tenant_id.to_string(), detail)).await?;
    Ok(rows)
}

/// A required text of at most `max` characters, trimmed; problems go to `errors`.
pub fn text(field: &str, v: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let t = v.trim();
    if t.is_empty() {
        errors.push(FieldError::new(field, "required", "不能为空"));
    } else if t.chars().count() > max {
        errors.push(FieldError::new(field, "too_long", format!("不能超过 {max} 个字符")));
    }
    t.to_owned()
}

/// An optional text of at most `max` characters (blank is none).
pub fn optional(field: &str, v: Option<&str>, max: usize, errors: &mut Vec<FieldError>) -> Option<String> {
    let t = v.map(str::trim).filter(|s| !s.is_empty())?;
    if t.chars().count() > max {
        errors.push(FieldError::new(field, "too_long", format!("不能超过 {max} 个字符")));
    }
    Some(t.to_owned())
}

// ---- change control (R-SUBJ-4) ----

/// Who may change a field of an approved filing.
const OPERATOR: &str = "operator";
/// Only those who may approve filings of the kind (reviewers, module managers).
const MANAGER: &str = "manager";

/// The built-in rule of each field: (field, label, editable by, needs review again).
#[must_use]
pub fn default_rules(kind: Kind) -> &'static [(&'static str, &'static str, &'static str, bool)] {
    match kind {
        Kind::Enterprise => &[
            ("name", "企业名称", MANAGER, true),
            ("uscc", "统一社会信用代码", MANAGER, true),
            ("enterprise_type", "企业类型", OPERATOR, true),
            ("categories", "经营品类", OPERATOR, true),
            ("stages", "追溯环节", OPERATOR, true),
            ("licence_no", "生产/经营许可证号", OPERATOR, true),
            ("address", "经营地址", OPERATOR, true),
            ("division_code", "地区代码", MANAGER, true),
            ("longitude", "经度", OPERATOR, false),
            ("latitude", "纬度", OPERATOR, false),
            ("contact_name", "联系人", OPERATOR, false),
            ("contact_phone", "联系电话", OPERATOR, false),
            ("contact_email", "电子邮箱", OPERATOR, false),
        ],
        Kind::Merchant => &[
            ("name", "经营户名称", OPERATOR, true),
            ("merchant_type", "经营户类型", OPERATOR, true),
            ("uscc", "统一社会信用代码", MANAGER, true),
            ("categories", "经营品类", OPERATOR, true),
            ("node_code", "所在节点企业", MANAGER, true),
            ("stall_no", "摊位号", OPERATOR, false),
            ("contact_name", "联系人", OPERATOR, false),
            ("contact_phone", "联系电话", OPERATOR, false),
        ],
        Kind::Product => &[
            ("name", "产品名称", OPERATOR, true),
            ("category_code", "产品分类", OPERATOR, true),
            ("brand", "品牌", OPERATOR, true),
            ("specification", "规格", OPERATOR, true),
            ("unit", "计量单位", OPERATOR, true),
            ("shelf_life_days", "保质期（天）", OPERATOR, true),
            ("gtin", "商品条码 GTIN", MANAGER, true),
            ("enterprise_code", "生产企业", MANAGER, true),
        ],
    }
}

/// The tenant's rules of `kind`: its own where it set them, the built-in ones elsewhere.
///
/// # Errors
/// Database failures.
pub async fn rules(db: &impl ConnectionTrait, tenant_id: Uuid, kind: Kind) -> ApiResult<Vec<FilingRuleResponse>> {
    let own: HashMap<String, filing_rule::Model> = filing_rule::Entity::find()
        .filter(filing_rule::Column::TenantId.eq(tenant_id))
        .filter(filing_rule::Column::Kind.eq(kind.as_str()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.field.clone(), r))
        .collect();
    Ok(default_rules(kind)
        .iter()
        .map(|&(field, label, editable_by, needs_review)| {
            let set = own.get(field);
            FilingRuleResponse {
                field: field.to_owned(),
                label: label.to_owned(),
                editable_by: set.map_or(editable_by, |r| r.editable_by.as_str()).to_owned(),
                needs_review: set.map_or(needs_review, |r| r.needs_review),
                customised: set.is_some(),
            }
        })
        .collect())
}

/// The rules of the caller's tenant (anyone with a role reads them).
///
/// # Errors
/// 403.
pub async fn get_rules(ctx: &Ctx<'_>, kind: Kind) -> ApiResult<Vec<FilingRuleResponse>> {
    let scope = ctx.own_scope("filing_rule", "read").await?;
    rules(ctx.db, scope.tenant_id(), kind).await
}

/// Sets the caller's tenant's rules of `kind` (fields not named keep theirs).
///
/// # Errors
/// 422 naming an unknown field or role; 403.
pub async fn set_rules(
    ctx: &Ctx<'_>,
    kind: Kind,
    req: &[super::dto::FilingRuleRequest],
) -> ApiResult<Vec<FilingRuleResponse>> {
    let scope = ctx.own_scope("filing_rule", "update").await?;
    let mut errors = Vec::new();
    for (i, r) in req.iter().enumerate() {
        if !default_rules(kind).iter().any(|d| d.0 == r.field) {
            errors.push(FieldError::new(
                format!("rules[{i}].field"),
                "unknown",
                format!("{}备案没有字段 {}", kind.label(), r.field),
            ));
        }
        if !matches!(r.editable_by.as_str(), OPERATOR | MANAGER) {
            errors.push(FieldError::new(
                format!("rules[{i}].editable_by"),
                "unknown",
                "只能是 operator（经办人员）或 manager（审核人员）",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let txn = ctx.db.begin().await?;
    for r in req {
        filing_rule::Entity::delete_many()
            .filter(filing_rule::Column::TenantId.eq(scope.tenant_id()))
            .filter(filing_rule::Column::Kind.eq(kind.as_str()))
            .filter(filing_rule::Column::Field.eq(r.field.as_str()))
            .exec(&txn)
            .await?;
        filing_rule::ActiveModel {
            tenant_id: Set(scope.tenant_id()),
            kind: Set(kind.as_str().to_owned()),
            field: Set(r.field.clone()),
            editable_by: Set(r.editable_by.clone()),
            needs_review: Set(r.needs_review),
            updated_at: Set(Utc::now()),
        }
        .insert(&txn)
        .await?;
    }
    let detail = serde_json::json!({"kind": kind.as_str(), "rules": req.iter().map(|r| serde_json::json!({"field": r.field, "editable_by": r.editable_by, "needs_review": r.needs_review})).collect::<Vec<_>>()});
    audit::record(&txn, ctx.entry("filing_rule.update", "filing_rule", kind.as_str().to_owned(), detail)).await?;
    txn.commit().await?;
    rules(ctx.db, scope.tenant_id(), kind).await
}

/// What a change to a filing does.
pub struct Change {
    /// The content fields it changes.
    pub fields: Vec<String>,
    /// The status it leaves the filing in.
    pub status: &'static str,
    /// True when it takes effect at once as a new approved version (only fields that need no
    /// review changed on an approved filing).
    pub auto_approved: bool,
}

/// Change control: which fields a change touches, whether the caller may change them, and
/// what review it needs. Before the first approval the filer changes every field freely.
///
/// # Errors
/// 403 naming the protected fields an operator tried to change; 409 for a filing under
/// review.
pub async fn control(
    ctx: &Ctx<'_>,
    kind: Kind,
    h: &Head,
    before: &serde_json::Value,
    after: &serde_json::Value,
    submit: bool,
) -> ApiResult<Change> {
    if h.status == "submitted" {
        return Err(ApiError::conflict("备案正在审核中，审核完成后才能修改"));
    }
    let rules = rules(ctx.db, h.tenant_id, kind).await?;
    let mut fields: Vec<String> = diff(before, after)
        .into_iter()
        .map(|f| source_field(kind, &f).to_owned())
        .filter(|f| rules.iter().any(|r| &r.field == f))
        .collect();
    fields.sort();
    fields.dedup();
    if fields.is_empty() && !submit {
        // Nothing changed: no new version, no outbox row, the status as it was.
        return Ok(Change { fields, status: static_status(&h.status), auto_approved: false });
    }
    if h.version == 0 {
        let status = if submit { "submitted" } else { "draft" };
        return Ok(Change { fields, status, auto_approved: false });
    }
    let rule = |f: &str| rules.iter().find(|r| r.field == f);
    let manager = ctx.authz.allows(ctx.who, Scope::Own, kind.as_str(), "approve");
    let protected: Vec<&FilingRuleResponse> =
        fields.iter().filter_map(|f| rule(f)).filter(|r| r.editable_by == MANAGER).collect();
    if !manager && !protected.is_empty() {
        let names: Vec<String> = protected.iter().map(|r| format!("{}（{}）", r.label, r.field)).collect();
        let refused = ApiError::forbidden_code(
            "field_protected",
            format!("本单位的变更规则规定，已备案的{}只有审核人员可以修改：{}", kind.label(), names.join("、")),
        );
        let owner = ctx.who.tenant.clone();
        return Err(ctx.deny(&owner, kind.as_str(), "update", refused).await?);
    }
    let needs_review = fields.iter().filter_map(|f| rule(f)).any(|r| r.needs_review);
    Ok(if submit {
        Change { fields, status: "submitted", auto_approved: false }
    } else if h.status == "approved" && !needs_review {
        Change { fields, status: "approved", auto_approved: true }
    } else {
        Change { fields, status: "changed", auto_approved: false }
    })
}

/// The answer to a conditional update that found the row changed meanwhile.
#[must_use]
pub fn stale(e: sea_orm::DbErr) -> ApiError {
    match e {
        sea_orm::DbErr::RecordNotUpdated => ApiError::conflict("备案刚被他人修改、提交或审核，请刷新后重试"),
        e => e.into(),
    }
}

/// The field a derived field comes from: a merchant's market name and region come from its
/// market's code, a product's producer name and region from the producer's code.
fn source_field(kind: Kind, field: &str) -> &str {
    match (kind, field) {
        (Kind::Merchant, "node_name" | "division_code") => "node_code",
        (Kind::Product, "enterprise_name" | "division_code") => "enterprise_code",
        _ => field,
    }
}

fn static_status(status: &str) -> &'static str {
    match status {
        "submitted" => "submitted",
        "approved" => "approved",
        "rejected" => "rejected",
        "changed" => "changed",
        _ => "draft",
    }
}

/// Records a change that takes effect at once ([`Change::auto_approved`]): the next version,
/// its outbox row, in the change's transaction.
///
/// # Errors
/// Database failures.
pub async fn approve_in_place(
    ctx: &Ctx<'_>,
    txn: &DatabaseTransaction,
    kind: Kind,
    h: &Head,
    data: serde_json::Value,
) -> ApiResult<i32> {
    audit::lock_chain(txn, h.tenant_id).await?;
    let number = h.version + 1;
    set_version(txn, kind, h.id, number).await?;
    record_version(ctx, txn, kind, h, number, data).await?;
    Ok(number)
}

/// The review state of a loaded row, for the functions above.
#[must_use]
pub fn head_of(id: Uuid, tenant_id: Uuid, code: &str, status: &str, version: i32) -> Head {
    Head { id, tenant_id, code: code.to_owned(), status: status.to_owned(), version }
}

// ---- what a filing refers to ----

/// An approved enterprise filing another filing refers to (a merchant's market, a product's
/// producer).
#[derive(Clone, Debug)]
pub struct EnterpriseRef {
    /// Id.
    pub id: Uuid,
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Type.
    pub enterprise_type: String,
    /// Division code.
    pub division_code: String,
}

/// What the database holds that a filing's check needs, loaded once (per request, or per
/// import file).
pub struct Refs {
    own: suyuan_tenancy::DivisionCode,
    categories: std::collections::HashSet<String>,
    enterprises: HashMap<String, EnterpriseRef>,
}

impl Refs {
    /// The catalogue, and the approved enterprise filings named in `enterprise_codes` that the
    /// caller may read.
    ///
    /// # Errors
    /// Database failures.
    pub async fn load(ctx: &Ctx<'_>, enterprise_codes: &[String]) -> ApiResult<Self> {
        use crate::modules::products::entity::category;
        use sea_orm::QuerySelect;
        let own = suyuan_tenancy::DivisionCode::parse_stored(&ctx.who.tenant.code).map_err(ApiError::internal)?;
        // The categories the caller may use: the national classification and those of its
        // own tenant and the tenants above it — never a sibling's private ones.
        let chain: Vec<Uuid> = crate::modules::products::service::lineage(ctx.db, &ctx.who.tenant)
            .await?
            .into_iter()
            .map(|t| t.id)
            .collect();
        let categories = category::Entity::find()
            .select_only()
            .column(category::Column::Code)
            .filter(category::Column::TenantId.is_in(chain))
            .into_tuple::<String>()
            .all(ctx.db)
            .await?
            .into_iter()
            .collect();
        let mut enterprises = HashMap::new();
        if !enterprise_codes.is_empty() {
            let scope = ctx.read_scope("enterprise", "read").await?;
            for chunk in enterprise_codes.chunks(500) {
                let rows = super::entity::enterprise::Entity::find()
                    .filter(scope.condition(super::entity::enterprise::Column::TenantId))
                    .filter(super::entity::enterprise::Column::Code.is_in(chunk.iter().cloned()))
                    // Approved as it stands: a filing with a change waiting for review is not
                    // referenced with its unreviewed content.
                    .filter(super::entity::enterprise::Column::Status.eq("approved"))
                    .all(ctx.db)
                    .await?;
                for e in rows {
                    enterprises.insert(
                        e.code.clone(),
                        EnterpriseRef {
                            id: e.id,
                            code: e.code,
                            name: e.name,
                            enterprise_type: e.enterprise_type,
                            division_code: e.division_code,
                        },
                    );
                }
            }
        }
        Ok(Self { own, categories, enterprises })
    }

    /// Checks catalogue codes (at least one); returns them sorted without repeats.
    pub fn categories(&self, field: &str, codes: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
        if codes.is_empty() {
            errors.push(FieldError::new(field, "required", "请至少选择一个经营品类"));
        }
        for (i, c) in codes.iter().enumerate() {
            if !self.categories.contains(c) {
                errors.push(FieldError::new(format!("{field}[{i}]"), "unknown", format!("产品目录中没有分类 {c}")));
            }
        }
        let mut out = codes.to_vec();
        out.sort();
        out.dedup();
        out
    }

    /// Checks one catalogue code.
    pub fn category(&self, field: &str, code: &str, errors: &mut Vec<FieldError>) -> String {
        let c = code.trim();
        if c.is_empty() {
            errors.push(FieldError::new(field, "required", "请选择产品分类"));
        } else if !self.categories.contains(c) {
            errors.push(FieldError::new(field, "unknown", format!("产品目录中没有分类 {c}")));
        }
        c.to_owned()
    }

    /// Checks a division code inside the caller's region.
    pub fn division(&self, field: &str, code: &str, errors: &mut Vec<FieldError>) {
        match suyuan_tenancy::DivisionCode::parse(code.trim()) {
            Ok(d) if d.is_within(&self.own) => {}
            Ok(_) => errors.push(FieldError::new(field, "outside", "地址应在本单位辖区内")),
            Err(e) => errors.push(FieldError::new(field, e.rule(), e.to_string())),
        }
    }

    /// An approved enterprise filing the caller may read, by code, of one of `types` (any
    /// type when empty).
    pub fn enterprise(
        &self,
        field: &str,
        code: &str,
        types: &[&str],
        errors: &mut Vec<FieldError>,
    ) -> Option<EnterpriseRef> {
        let c = code.trim().to_ascii_uppercase();
        if c.is_empty() {
            errors.push(FieldError::new(field, "required", "不能为空"));
            return None;
        }
        match self.enterprises.get(&c) {
            None => {
                errors.push(FieldError::new(
                    field,
                    "unknown",
                    format!("没有可引用的已备案企业 {c}（须已审核通过且没有待审核的变更，且在本单位或下级单位）"),
                ));
                None
            }
            Some(e) if !types.is_empty() && !types.contains(&e.enterprise_type.as_str()) => {
                let labels: Vec<&str> = types
                    .iter()
                    .filter_map(|t| super::dto::ENTERPRISE_TYPES.iter().find(|(k, _)| k == t).map(|(_, l)| *l))
                    .collect();
                errors.push(FieldError::new(field, "type", format!("企业 {c} 的类型应为{}", labels.join("、"))));
                None
            }
            Some(e) => Some(e.clone()),
        }
    }
}

// ---- search ----

/// The highest page number (200 rows a page reach 20 million rows; the offset stays far from
/// the database's limits).
pub const MAX_PAGE: u64 = 100_000;

/// Checks a page number and size (default 1 and 20, at most 200 rows).
pub fn paging(page: Option<u64>, page_size: Option<u64>, errors: &mut Vec<FieldError>) -> (u64, u64) {
    let page = page.unwrap_or(1);
    let page_size = page_size.unwrap_or(20);
    if page == 0 || page > MAX_PAGE {
        errors.push(FieldError::new("page", "range", format!("页码应为 1–{MAX_PAGE}")));
    }
    if !(1..=200).contains(&page_size) {
        errors.push(FieldError::new("page_size", "range", "每页 1–200 条"));
    }
    (Ord::clamp(page, 1, MAX_PAGE), Ord::clamp(page_size, 1, 200))
}

/// The prefix every division code inside a region shares (`37`, `3707`, `370783`; empty for
/// the whole country), or `None` with the problem in `errors`.
pub fn region_prefix(region: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match suyuan_tenancy::DivisionCode::parse(region.trim()) {
        Ok(d) => {
            let s = d.as_str();
            Some(
                match d.level() {
                    suyuan_tenancy::TenantLevel::National => "",
                    suyuan_tenancy::TenantLevel::Provincial => &s[..2],
                    suyuan_tenancy::TenantLevel::Municipal => &s[..4],
                    suyuan_tenancy::TenantLevel::County => s,
                }
                .to_owned(),
            )
        }
        Err(e) => {
            errors.push(FieldError::new("region", e.rule(), e.to_string()));
            None
        }
    }
}

/// The smallest string greater than every string that starts with `prefix` (codes of digits
/// and capital letters): `37` → `38`, `3799` → `379A`, `E37` → `E38`, `E3Z` → `E4`. `None`
/// for an empty prefix. A range `[prefix, upper)` uses the B-tree index on both databases
/// whatever the collation, where `LIKE 'prefix%'` may not.
#[must_use]
pub fn prefix_upper(prefix: &str) -> Option<String> {
    const ORDER: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if let Some(i) = ORDER.iter().position(|&c| c == last) {
            if let Some(&next) = ORDER.get(i + 1) {
                bytes.push(next);
                return String::from_utf8(bytes).ok();
            }
        } else {
            // Outside the alphabet: the next byte value.
            bytes.push(last.saturating_add(1));
            return String::from_utf8(bytes).ok();
        }
    }
    None
}

/// A filter "`column` starts with `prefix`" as an index-friendly range.
pub fn starts_with<C: ColumnTrait>(column: C, prefix: &str) -> sea_orm::Condition {
    let mut c = sea_orm::Condition::all();
    if prefix.is_empty() {
        return c;
    }
    c = c.add(column.gte(prefix));
    match prefix_upper(prefix) {
        Some(upper) => c.add(column.lt(upper)),
        None => c,
    }
}

/// The sort key (`code`, `name` or `created_at`) and whether it is descending (`-` in front).
pub fn sort_key(sort: Option<&str>, errors: &mut Vec<FieldError>) -> (&'static str, bool) {
    let sort = sort.unwrap_or("code");
    let (desc, key) = sort.strip_prefix('-').map_or((false, sort), |k| (true, k));
    let key = match key {
        "code" => "code",
        "name" => "name",
        "created_at" => "created_at",
        _ => {
            errors.push(FieldError::new("sort", "unknown", "排序字段只能是 code、name 或 created_at（前加 - 为降序）"));
            "code"
        }
    };
    (key, desc)
}

/// A catalogue code filter: digits only.
pub fn category_filter(c: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    if c.bytes().all(|b| b.is_ascii_digit()) {
        Some(c.to_owned())
    } else {
        errors.push(FieldError::new("category", "format", "分类代码只含数字"));
        None
    }
}

/// A filing's review state (after a submit or a rejection).
///
/// # Errors
/// 404, 403.
pub async fn state(ctx: &Ctx<'_>, kind: Kind, id: Uuid) -> ApiResult<super::dto::FilingStateResponse> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        code: String,
        status: String,
        version: i32,
        reason: Option<String>,
    }
    load(ctx, kind, id, "read").await?;
    let q = Query::select()
        .columns(["id", "code", "status", "version", "reason"].map(Alias::new))
        .from(Alias::new(kind.table()))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    let r = Row::find_by_statement(ctx.db.get_database_backend().build(&q))
        .one(ctx.db)
        .await?
        .ok_or_else(|| ApiError::not_found("备案不存在"))?;
    Ok(super::dto::FilingStateResponse {
        id: r.id,
        code: r.code,
        status: r.status,
        version: r.version,
        reason: r.reason,
    })
}

/// One page of a search: the count from the filters alone (no ORDER BY to sort away), the
/// page's ids from the sorted query (index-only where the covering indexes serve it), then
/// those rows by id, in the page's order. At a million filings this keeps a page from reading
/// and sorting every matching row.
///
/// # Errors
/// Database failures.
pub async fn page_of<E>(
    db: &sea_orm::DatabaseConnection,
    filters: sea_orm::Select<E>,
    sorted: sea_orm::Select<E>,
    id: E::Column,
    page: u64,
    size: u64,
) -> ApiResult<(Vec<E::Model>, u64)>
where
    E: EntityTrait,
    E::Model: sea_orm::ModelTrait<Entity = E> + Sync,
{
    use sea_orm::{ModelTrait, PaginatorTrait, QuerySelect};
    let total = filters.count(db).await?;
    let ids: Vec<Uuid> = sorted
        .select_only()
        .column(id)
        .limit(size)
        .offset(page.saturating_sub(1).saturating_mul(size))
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok((Vec::new(), total));
    }
    let order: Vec<sea_orm::Value> = ids.iter().map(|i| sea_orm::Value::from(*i)).collect();
    let mut rows = E::find().filter(id.is_in(ids)).all(db).await?;
    rows.sort_by_key(|r| {
        let v = r.get(id);
        order.iter().position(|o| *o == v).unwrap_or(usize::MAX)
    });
    Ok((rows, total))
}

/// Orders a search by a text `column`. With `scan` (a selective filter) the order is by an
/// expression of the column, so the database finds the matches by the filter's index (or one
/// read of the table) and sorts them, instead of walking the sort key's index past every row
/// that fails the filter (at a million filings: 0.3 s instead of 1.7 s on SQLite for part of a
/// name, 40 ms instead of 0.5 s on PostgreSQL for a city).
pub fn order_text<E: EntityTrait>(
    query: sea_orm::Select<E>,
    column: E::Column,
    desc: bool,
    scan: bool,
) -> sea_orm::Select<E> {
    use sea_orm::{IdenStatic, QueryOrder};
    let ord = if desc { sea_orm::Order::Desc } else { sea_orm::Order::Asc };
    if scan {
        query.order_by(Expr::cust(format!("{} || ''", column.as_str())), ord)
    } else {
        query.order_by(column, ord)
    }
}

/// Saves a checked change of a filing of any kind: `am` holds the new content, `h` the review
/// state it was read in. Nothing is written when nothing changed. Otherwise the row is updated
/// only if nobody submitted, approved or changed it since (409 if they did), with the status
/// the change control decided; a change that takes effect at once becomes the next version with
/// its outbox row; one audit record; one transaction.
///
/// # Errors
/// 409 (changed meanwhile), database failures.
pub async fn save_change<E, A>(
    ctx: &Ctx<'_>,
    kind: Kind,
    h: &Head,
    mut am: A,
    change: &Change,
    submit: bool,
    to_json: impl Fn(&E::Model) -> ApiResult<serde_json::Value>,
) -> ApiResult<E::Model>
where
    E: EntityTrait,
    A: ActiveModelTrait<Entity = E> + sea_orm::TryIntoModel<E::Model> + Send + Clone,
    E::Model: sea_orm::IntoActiveModel<A> + Sync,
{
    let col = |name: &str| {
        <E::Column as std::str::FromStr>::from_str(name)
            .map_err(|_| ApiError::internal(anyhow::anyhow!("{} has no column {name}", kind.table())))
    };
    if change.fields.is_empty() && !submit {
        // Saved without a change: nothing to write.
        return Ok(am.try_into_model()?);
    }
    let now = Utc::now();
    am.set(col("status")?, change.status.into());
    am.set(col("updated_at")?, now.into());
    am.set(col("reason")?, Option::<String>::None.into());
    if change.auto_approved {
        am.set(col("version")?, (h.version + 1).into());
    }
    let after = am.clone().try_into_model()?;
    let txn = ctx.db.begin().await?;
    let done = E::update_many()
        .set(am)
        .filter(col("id")?.eq(h.id))
        .filter(col("status")?.eq(h.status.as_str()))
        .filter(col("version")?.eq(h.version))
        .exec(&txn)
        .await?;
    if done.rows_affected == 0 {
        return Err(stale(sea_orm::DbErr::RecordNotUpdated));
    }
    if change.auto_approved {
        approve_in_place(ctx, &txn, kind, h, to_json(&after)?).await?;
    }
    let detail = serde_json::json!({"code": h.code, "status": change.status, "fields": change.fields, "auto_approved": change.auto_approved});
    audit::record(&txn, ctx.entry(&format!("{}.update", kind.as_str()), kind.as_str(), h.id.to_string(), detail))
        .await?;
    txn.commit().await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_become_ranges() {
        assert_eq!(prefix_upper("37").as_deref(), Some("38"));
        assert_eq!(prefix_upper("3799").as_deref(), Some("379A"), "the next character of the alphabet");
        assert_eq!(prefix_upper("E37").as_deref(), Some("E38"));
        assert_eq!(prefix_upper("E3Z").as_deref(), Some("E4"));
        assert_eq!(prefix_upper(""), None);
        assert_eq!(prefix_upper("ZZ"), None);
    }

    #[test]
    fn issued_codes_carry_their_check_character() {
        let code = issue_code(Kind::Merchant, "370100", 42);
        assert!(code.starts_with("M3701000000042") && code.len() == 15);
        assert!(code_valid(Kind::Merchant, &code));
        assert!(!code_valid(Kind::Enterprise, &code), "the kind is part of the code");
        let last = code.chars().last().unwrap_or('0');
        let other = if last == '0' { '1' } else { '0' };
        assert!(!code_valid(Kind::Merchant, &format!("{}{other}", &code[..14])), "one character off");
        assert!(!code_valid(Kind::Merchant, "M37010000000四2"), "not ASCII, no panic");
    }

    #[test]
    fn the_content_diff_leaves_out_the_state() {
        let a = serde_json::json!({"name": "甲", "status": "draft", "version": 0, "phone": "1"});
        let b = serde_json::json!({"name": "乙", "status": "approved", "version": 1, "phone": "1"});
        assert_eq!(diff(&a, &b), ["name"]);
    }
}
