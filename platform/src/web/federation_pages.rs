//! Roll-up and federation pages: the figures of the caller's region from the roll-ups (map,
//! charts, table, drill-down), and the operations view of the links upward (R-OPS-1) with
//! "sync now", the credentials issued to children in other deployments and the upstream of
//! this deployment.

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use suyuan_tenancy::entity::tenant;

use super::admin_pages::{CsrfOnly, SecretPage, form_failure, parse_id};
use super::page::{FormErrors, Layout, PageResult, PageUser, redirect_with};
use crate::modules::federation::dto::{
    CredentialResponse, FederationStatus, NewCredential, ParkedRow, RollupResponse, UpstreamRequest,
};
use crate::modules::federation::{deliver, service};

/// The roll-up page's query.
#[derive(Debug, Default, Deserialize)]
pub struct RollupQuery {
    #[serde(default)]
    region: String,
}

#[derive(Template)]
#[template(path = "console/rollup.html")]
struct RollupPage {
    page: Layout,
    r: RollupResponse,
    up: Option<String>,
}

/// `GET /console/rollup`: the figures of the caller's region (or one inside it) from the
/// roll-ups, on the map and in charts, per sub-region, with drill-down.
pub async fn rollup(user: PageUser, q: web::Query<RollupQuery>) -> PageResult {
    let ctx = user.ctx();
    let region = service::rollup_region(&ctx, Some(&q.region)).await?;
    let r = service::rollup(ctx.db, &ctx.who.tenant, region).await?;
    let own = ctx.who.tenant.code.clone();
    let up = (r.region != own).then(|| {
        suyuan_tenancy::division::DivisionCode::parse_stored(&r.region)
            .ok()
            .and_then(|c| c.city().filter(|x| *x != c).or(c.province()).filter(|x| *x != c))
            .map_or_else(|| own.clone(), |c| c.as_str().to_owned())
    });
    let title = format!("汇总统计 · {}", r.total.name);
    let page = RollupPage { page: user.layout(&title).crumb("汇总统计", None), r, up };
    Ok(user.render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "console/federation.html")]
struct StatusPage {
    page: Layout,
    s: FederationStatus,
    parked: Vec<ParkedRow>,
    credentials: Vec<CredentialResponse>,
    children: Vec<tenant::Model>,
    can_configure: bool,
    is_root: bool,
    parent_url: String,
    errors: FormErrors,
}

impl StatusPage {
    fn lag(secs: i64) -> String {
        match secs {
            0 => "—".into(),
            s if s < 60 => format!("{s} 秒"),
            s if s < 3600 => format!("{} 分钟", s / 60),
            s => format!("{:.1} 小时", s as f64 / 3600.0),
        }
    }
}

async fn status_page(user: &PageUser, errors: FormErrors) -> Result<StatusPage, super::page::PageError> {
    let ctx = user.ctx();
    let s = service::status(&ctx, user.state.settings.federation_lag_alert_secs).await?;
    let (parked, _) = service::parked_rows(&ctx, crate::paging::Paging { page: 1, page_size: 200 }).await?;
    let can_configure = user.state.authz.require_own(&user.who, "federation", "configure").is_ok();
    let credentials = if can_configure { service::credentials(&ctx).await? } else { Vec::new() };
    let children = tenant::Entity::find()
        .filter(tenant::Column::ParentId.eq(user.who.tenant.id))
        .order_by_asc(tenant::Column::Code)
        .all(ctx.db)
        .await?;
    Ok(StatusPage {
        page: user.layout("数据上报").crumb("数据上报", None),
        s,
        parked,
        credentials,
        children,
        can_configure,
        is_root: user.who.tenant.parent_id.is_none(),
        parent_url: user.who.tenant.federation_parent_url.clone().unwrap_or_default(),
        errors,
    })
}

/// `GET /console/federation`: every link upward in the caller's subtree (backlog, lag, last
/// error, sync now), what arrives from below, parked rows, credentials and the upstream.
pub async fn status(user: PageUser) -> PageResult {
    let page = status_page(&user, FormErrors::none()).await?;
    Ok(user.render(StatusCode::OK, &page))
}

/// `POST /console/federation/links/{id}/sync`.
pub async fn sync_link(user: PageUser, id: web::Path<String>, form: web::Form<CsrfOnly>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    service::sync_now(&user.ctx(), parse_id(&id)?).await?;
    deliver::wake_all(&user.state);
    Ok(redirect_with("/console/federation", "ok", "已开始同步，稍后刷新查看结果"))
}

/// The credential form.
#[derive(Debug, Deserialize)]
pub struct CredentialForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    tenant_id: String,
}

/// `POST /console/federation/credentials`: shows the secret once.
pub async fn issue_credential(user: PageUser, form: web::Form<CredentialForm>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    let tenant_id = parse_id(&form.tenant_id)?;
    match service::issue_credential(&user.ctx(), &NewCredential { tenant_id }).await {
        Ok(c) => {
            let page = SecretPage {
                page: user
                    .layout("接入凭证已发放")
                    .crumb("数据上报", Some("/console/federation"))
                    .crumb("接入凭证", None),
                heading: format!("已为{}发放上报凭证 {}", c.tenant_name, c.key_id),
                intro: format!(
                    "请把凭证编号 {} 和下面的密钥通过安全渠道交给{}平台的管理员，在其「数据上报」页面填写本平台地址、凭证编号和密钥。密钥只显示这一次。",
                    c.key_id, c.tenant_name
                ),
                secret_label: "密钥".into(),
                secret: c.secret.unwrap_or_default(),
                back: "/console/federation".into(),
                back_label: "返回数据上报".into(),
            };
            Ok(user.render(StatusCode::CREATED, &page))
        }
        Err(e) => {
            let (status, errors) = form_failure(e)?;
            let page = status_page(&user, errors).await?;
            Ok(user.render(status, &page))
        }
    }
}

/// `POST /console/federation/credentials/{id}/revoke`.
pub async fn revoke_credential(user: PageUser, id: web::Path<String>, form: web::Form<CsrfOnly>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    service::revoke_credential(&user.ctx(), &id).await?;
    Ok(redirect_with("/console/federation", "ok", "凭证已撤销，对方平台的上报将被拒绝"))
}

/// The upstream form.
#[derive(Debug, Deserialize)]
pub struct UpstreamForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    parent_url: String,
    #[serde(default)]
    key_id: String,
    #[serde(default)]
    secret: String,
}

/// `POST /console/federation/upstream`.
pub async fn set_upstream(user: PageUser, form: web::Form<UpstreamForm>) -> PageResult {
    user.check_csrf(Some(&form.csrf))?;
    let form = form.into_inner();
    let req = UpstreamRequest { parent_url: form.parent_url, key_id: form.key_id, secret: form.secret };
    match service::set_upstream(&user.ctx(), &user.state.outbound, &req).await {
        Ok(()) => {
            deliver::wake_all(&user.state);
            Ok(redirect_with("/console/federation", "ok", "上级平台已保存，数据将自动上报"))
        }
        Err(e) => {
            let (status, errors) = form_failure(e)?;
            let page = status_page(&user, errors).await?;
            Ok(user.render(status, &page))
        }
    }
}
