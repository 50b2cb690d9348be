//! Filing tools: the analysis page (map and statistics, R-SUBJ-6/7), bulk import with a
//! progress bar (R-IF-3) and the tenant's change control (R-SUBJ-4).

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use serde::Deserialize;

use super::page::{Layout, PageError, PageResult, PageUser, form_field as field, redirect_with};
use crate::error::ApiError;
use crate::modules::dashboard::dto::Figure;
use crate::modules::subjects::dto::{
    ENTERPRISE_TYPES, FilingMapQuery, FilingRuleRequest, FilingRuleResponse, ImportJobResponse,
};
use crate::modules::subjects::workflow::{self, Kind};
use crate::modules::subjects::{analysis, import};

/// Filters of the analysis page.
#[derive(Debug, Default, Deserialize)]
pub struct AnalysisQuery {
    #[serde(default)]
    region: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    enterprise_type: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    status: String,
}

#[derive(Template)]
#[template(path = "console/filing_analysis.html")]
struct AnalysisPage {
    page: Layout,
    q: AnalysisQuery,
    region: String,
    figures: Vec<Figure>,
    charts: Vec<(String, String)>,
    query: String,
    types: &'static [(&'static str, &'static str)],
    error: Option<String>,
}

/// `GET /console/filing-analysis`: filings on the map, and their statistics.
pub async fn analysis(user: PageUser, q: web::Query<AnalysisQuery>) -> PageResult {
    let q = q.into_inner();
    let opt = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let filters = FilingMapQuery {
        region: opt(&q.region),
        kind: opt(&q.kind),
        enterprise_type: opt(&q.enterprise_type),
        category: opt(&q.category),
        status: opt(&q.status),
        ..Default::default()
    };
    let (stats, error) = match analysis::statistics(&user.ctx(), &filters).await {
        Ok(s) => (s, None),
        Err(e) if e.http_status() == StatusCode::UNPROCESSABLE_ENTITY => {
            let msg = e.messages();
            (analysis::statistics(&user.ctx(), &FilingMapQuery::default()).await?, Some(msg))
        }
        Err(e) => return Err(e.into()),
    };
    let mut qs = url::form_urlencoded::Serializer::new(String::new());
    if error.is_none() {
        for (k, v) in [
            ("kind", &q.kind),
            ("enterprise_type", &q.enterprise_type),
            ("category", &q.category),
            ("status", &q.status),
        ] {
            if !v.trim().is_empty() {
                qs.append_pair(k, v.trim());
            }
        }
    }
    let page = AnalysisPage {
        page: user.layout("备案分析").crumb("备案分析", None),
        region: stats.region.clone(),
        figures: stats.figures,
        charts: stats.charts.into_iter().map(|c| (c.key, c.title)).collect(),
        query: qs.finish(),
        q,
        types: ENTERPRISE_TYPES,
        error,
    };
    Ok(user.render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "console/imports.html")]
struct ImportsPage {
    page: Layout,
    jobs: Vec<ImportJobResponse>,
    can_import: bool,
    max_mb: usize,
}

impl ImportsPage {
    fn kind_label(&self, k: &str) -> &'static str {
        Kind::parse(k).map_or("", Kind::label)
    }

    fn mode_label(&self, m: &str) -> &'static str {
        match m {
            "dry_run" => "只检查",
            "all_or_nothing" => "全部导入",
            _ => "导入有效行",
        }
    }

    fn status_label(&self, s: &str) -> &'static str {
        match s {
            "checking" => "检查中",
            "writing" => "写入中",
            "done" => "已完成",
            _ => "失败",
        }
    }
}

/// `GET /console/imports`: upload a file; progress and problems appear on the page.
pub async fn imports(user: PageUser) -> PageResult {
    let (jobs, _) = import::list(&user.ctx(), crate::paging::Paging { page: 1, page_size: 50 }).await?;
    let can_import = user.state.authz.require_own(&user.who, "import", "create").is_ok();
    let page = ImportsPage {
        page: user.layout("批量导入").crumb("批量导入", None),
        jobs,
        can_import,
        max_mb: import::MAX_IMPORT_BYTES / 1024 / 1024,
    };
    Ok(user.render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "console/filing_rules.html")]
struct RulesPage {
    page: Layout,
    kinds: Vec<(&'static str, &'static str, Vec<FilingRuleResponse>)>,
    can_edit: bool,
}

/// `GET /console/filing-rules`: who may change which field of an approved filing, and which
/// changes need review again.
pub async fn rules(user: PageUser) -> PageResult {
    let mut kinds = Vec::new();
    for k in Kind::ALL {
        kinds.push((k.as_str(), k.label(), workflow::get_rules(&user.ctx(), k).await?));
    }
    let can_edit = user.state.authz.require_own(&user.who, "filing_rule", "update").is_ok();
    let page = RulesPage { page: user.layout("变更规则").crumb("变更规则", None), kinds, can_edit };
    Ok(user.render(StatusCode::OK, &page))
}

/// `POST /console/filing-rules/{kind}`.
pub async fn save_rules(user: PageUser, kind: web::Path<String>, form: web::Form<Vec<(String, String)>>) -> PageResult {
    let pairs = form.into_inner();
    user.check_csrf(Some(field(&pairs, "_csrf")))?;
    let kind = Kind::parse(&kind).ok_or_else(|| PageError::from(ApiError::not_found("没有这类备案")))?;
    let rules: Vec<FilingRuleRequest> = workflow::default_rules(kind)
        .iter()
        .map(|(f, ..)| FilingRuleRequest {
            field: (*f).to_owned(),
            editable_by: field(&pairs, &format!("editable_by.{f}")).to_owned(),
            needs_review: !field(&pairs, &format!("needs_review.{f}")).is_empty(),
        })
        .collect();
    match workflow::set_rules(&user.ctx(), kind, &rules).await {
        Ok(_) => Ok(redirect_with("/console/filing-rules", "ok", &format!("{}备案的变更规则已保存", kind.label()))),
        Err(e) if e.http_status() == StatusCode::UNPROCESSABLE_ENTITY => {
            Ok(redirect_with("/console/filing-rules", "error", "请为每个字段选择可修改的人员"))
        }
        Err(e) => Err(e.into()),
    }
}
