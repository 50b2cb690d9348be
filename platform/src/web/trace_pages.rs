//! Trace pages: the record list and detail (with the QR codes of the record's trace codes) and
//! the chain view — graph, flow map and flow table — for an emergency (R-EMG-3).

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::page::{Layout, PageResult, PageUser};
use crate::error::ApiError;
use crate::modules::subjects::dto::STAGES;
use crate::modules::trace::chain::{FLOW_HEADER, flow_rows};
use crate::modules::trace::dto::{ChainQuery, TraceEventQuery, TraceEventResponse};
use crate::modules::trace::service;

/// The list's filters, as typed in the form (blank: not filtered).
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    stage: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    batch_no: String,
    #[serde(default)]
    trace_code: String,
    #[serde(default)]
    page: Option<u64>,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// `阶段 · 动作` as the labels (reference data) say it.
fn stage_action(stage: &str, action: &str) -> String {
    let labels = crate::modules::trace::reference::current();
    format!("{} · {}", labels.stage_label(stage), labels.action_label(stage, action))
}

/// A row of the list.
struct Row {
    id: Uuid,
    time: String,
    stage: String,
    subject: String,
    product: String,
    batch_no: String,
    subject_code: String,
    quantity: String,
    region: String,
}

#[derive(Template)]
#[template(path = "console/trace_events.html")]
struct ListPage {
    page: Layout,
    q: ListQuery,
    stages: &'static [(&'static str, &'static str)],
    rows: Vec<Row>,
    total: u64,
    page_no: u64,
    pages: u64,
    query: String,
    error: Option<String>,
}

/// `GET /console/trace`: the records the caller may read, newest first, with filters.
pub async fn list(user: PageUser, q: web::Query<ListQuery>) -> PageResult {
    let q = q.into_inner();
    let search = TraceEventQuery {
        stage: opt(&q.stage),
        product: opt(&q.product),
        region: opt(&q.region),
        subject: opt(&q.subject),
        batch_no: opt(&q.batch_no),
        trace_code: opt(&q.trace_code),
        page: q.page,
        page_size: Some(20),
        ..Default::default()
    };
    let (found, error) = match service::search(&user.ctx(), &search).await {
        Ok(found) => (found, None),
        Err(e) if e.http_status() == StatusCode::UNPROCESSABLE_ENTITY => {
            let msg = e.messages();
            (service::search(&user.ctx(), &TraceEventQuery::default()).await?, Some(msg))
        }
        Err(e) => return Err(e.into()),
    };
    let (items, page_no, page_size, total) = found;
    let rows = items
        .into_iter()
        .map(|e| Row {
            id: e.id,
            time: crate::web::when(&e.event_time),
            stage: stage_action(&e.stage, &e.action),
            subject: e.subject_name,
            product: e.product_name,
            batch_no: e.batch_no,
            subject_code: e.subject_code,
            quantity: format!("{} {}", e.quantity, e.unit),
            region: crate::web::division(&e.division_code),
        })
        .collect();
    let mut qs = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("stage", &q.stage),
        ("product", &q.product),
        ("region", &q.region),
        ("subject", &q.subject),
        ("batch_no", &q.batch_no),
        ("trace_code", &q.trace_code),
    ] {
        if !v.trim().is_empty() {
            qs.append_pair(k, v.trim());
        }
    }
    let page = ListPage {
        page: user.layout("追溯记录").crumb("追溯记录", None),
        q,
        stages: STAGES,
        rows,
        total,
        page_no,
        pages: total.div_ceil(page_size).max(1),
        query: qs.finish(),
        error,
    };
    Ok(user.render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "console/trace_event.html")]
struct DetailPage {
    page: Layout,
    e: TraceEventResponse,
    rows: Vec<(&'static str, String)>,
    codes: Vec<(String, String)>,
    chain_link: String,
}

/// `GET /console/trace/{id}`: one record, its codes with their QR codes, and a link to its chain.
pub async fn detail(user: PageUser, id: web::Path<String>) -> PageResult {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("没有这条追溯记录"))?;
    let e = TraceEventResponse::from(service::get(&user.ctx(), id).await?);
    let money = |v: Option<f64>| v.map(|v| format!("{v:.2} 元")).unwrap_or_else(|| "—".to_owned());
    let offset = chrono::FixedOffset::east_opt(e.event_offset_minutes * 60);
    let mut rows = vec![
        ("环节", stage_action(&e.stage, &e.action)),
        ("报告主体", format!("{}（{}）", e.subject_name, e.subject_code)),
        (
            "产品",
            format!("{}{}", e.product_name, e.product_code.as_deref().map(|c| format!("（{c}）")).unwrap_or_default()),
        ),
        ("批次号", e.batch_no.clone()),
        ("数量", format!("{} {}", e.quantity, e.unit)),
        ("单价", money(e.price)),
        ("金额", money(e.amount)),
        (
            "发生时间",
            offset.map_or_else(|| crate::web::when(&e.event_time), |o| e.event_time.with_timezone(&o).to_rfc3339()),
        ),
        ("接收时间", crate::web::when(&e.recorded_at)),
        ("地区", crate::web::division(&e.division_code)),
        (
            "经纬度",
            match (e.longitude, e.latitude) {
                (Some(lon), Some(lat)) => format!("{lon:.5}, {lat:.5}"),
                _ => "—".to_owned(),
            },
        ),
        ("接入系统记录编号", e.client_event_id.clone()),
    ];
    if let Some(c) = &e.counterpart_code {
        let role = if e.action == "receive" || e.action == "arrive" { "供货方" } else { "收货方" };
        rows.push((role, format!("{}（{c}）", e.counterpart_name.clone().unwrap_or_default())));
    }
    if let Some(i) = &e.inspection {
        let result = if i.result == "pass" { "合格" } else { "不合格" };
        rows.push(("检测结果", format!("{}：{result}（报告编号 {}）", i.item, i.report_no)));
    }
    if let Some(x) = &e.extra {
        rows.push(("其他关键数据", x.to_string()));
    }
    let codes = e
        .trace_codes
        .iter()
        .map(|c| (c.clone(), url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()))
        .collect();
    let chain_link = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("batch", &e.batch_no)
        .append_pair("subject", &e.subject_code)
        .finish();
    let title = format!("追溯记录 {}", e.batch_no);
    let page = DetailPage {
        page: user.layout(&title).crumb("追溯记录", Some("/console/trace")).crumb(e.batch_no.clone(), None),
        e,
        rows,
        codes,
        chain_link,
    };
    Ok(user.render(StatusCode::OK, &page))
}

/// The chain form, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct ChainForm {
    #[serde(default)]
    batch: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    depth: String,
}

#[derive(Template)]
#[template(path = "console/trace_chain.html")]
struct ChainPage {
    page: Layout,
    f: ChainForm,
    asked: bool,
    query: String,
    summary: Option<(usize, usize, usize, usize)>,
    message: Option<String>,
    header: &'static [&'static str],
    table: Vec<Vec<String>>,
    error: Option<String>,
}

/// `GET /console/trace-chain`: rebuild a chain from a batch or a trace code: its graph, the flow
/// map and the flow table (with CSV, Excel and GeoJSON downloads).
pub async fn chain(user: PageUser, f: web::Query<ChainForm>) -> PageResult {
    let f = f.into_inner();
    let asked = !f.batch.trim().is_empty() || !f.code.trim().is_empty();
    let mut page = ChainPage {
        page: user.layout("追溯链条").crumb("追溯链条", None),
        asked,
        query: String::new(),
        summary: None,
        message: None,
        header: &FLOW_HEADER,
        table: Vec::new(),
        error: None,
        f,
    };
    if !asked {
        return Ok(user.render(StatusCode::OK, &page));
    }
    let depth = match opt(&page.f.depth).map(|d| d.parse::<u32>()) {
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => {
            page.error = Some("查询深度应为 1–50 的整数".to_owned());
            return Ok(user.render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
        None => None,
    };
    let q = ChainQuery {
        batch: opt(&page.f.batch),
        subject: opt(&page.f.subject),
        code: if opt(&page.f.batch).is_some() { None } else { opt(&page.f.code) },
        direction: opt(&page.f.direction),
        depth,
        ..Default::default()
    };
    match crate::modules::trace::chain::chain(&user.ctx(), &q).await {
        Ok(chain) => {
            let c = chain.response();
            let provinces: std::collections::HashSet<&str> =
                c.nodes.iter().filter_map(|n| n.division_code.get(..2)).collect();
            let outside = c.nodes.iter().filter(|n| !n.in_reach).count();
            page.summary = Some((c.nodes.len(), c.flows.len(), provinces.len(), outside));
            page.message = c.message.map(str::to_owned);
            page.table = flow_rows(&c);
            let mut qs = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in [("batch", &q.batch), ("subject", &q.subject), ("code", &q.code), ("direction", &q.direction)]
            {
                if let Some(v) = v {
                    qs.append_pair(k, v);
                }
            }
            if let Some(d) = q.depth {
                qs.append_pair("depth", &d.to_string());
            }
            page.query = qs.finish();
            Ok(user.render(StatusCode::OK, &page))
        }
        Err(e) if matches!(e.http_status(), StatusCode::UNPROCESSABLE_ENTITY | StatusCode::NOT_FOUND) => {
            page.error = Some(e.messages());
            Ok(user.render(e.http_status(), &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// The query analysis's filters, as typed in the form.
#[derive(Debug, Default, Deserialize)]
pub struct QueryAnalysisForm {
    #[serde(default)]
    region: String,
    #[serde(default)]
    days: String,
}

#[derive(Template)]
#[template(path = "console/query_analysis.html")]
struct QueryAnalysisPage {
    page: Layout,
    q: QueryAnalysisForm,
    region: String,
    days: u32,
    figures: Vec<crate::modules::dashboard::dto::Figure>,
    charts: Vec<(String, String)>,
    error: Option<String>,
}

/// `GET /console/query-analysis`: the public's trace-code queries (R-ANA-3) — totals, and charts
/// by day, consumer region, category and seller type (each also as a table and CSV).
pub async fn query_analysis(user: PageUser, q: web::Query<QueryAnalysisForm>) -> PageResult {
    use crate::modules::trace::analysis;
    use crate::modules::trace::dto::QueryStatisticsQuery;
    let q = q.into_inner();
    let days = q.days.trim();
    let filters = QueryStatisticsQuery {
        region: opt(&q.region),
        days: if days.is_empty() { None } else { Some(days.parse().unwrap_or(0)) },
    };
    let (stats, error) = match analysis::statistics(&user.ctx(), &filters).await {
        Ok(s) => (s, None),
        Err(e) if e.http_status() == StatusCode::UNPROCESSABLE_ENTITY => {
            let msg = e.messages();
            (analysis::statistics(&user.ctx(), &QueryStatisticsQuery::default()).await?, Some(msg))
        }
        Err(e) => return Err(e.into()),
    };
    let page = QueryAnalysisPage {
        page: user.layout("查询行为分析").crumb("查询行为分析", None),
        region: stats.region.clone(),
        days: stats.days,
        figures: stats.figures,
        charts: stats.charts.into_iter().map(|c| (c.key, c.title)).collect(),
        q,
        error,
    };
    Ok(user.render(StatusCode::OK, &page))
}

/// The anomaly list's filters, as typed in the form.
#[derive(Debug, Default, Deserialize)]
pub struct AnomalyForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    page: Option<u64>,
}

/// An anomaly as the page shows it.
struct AnomalyRow {
    detected_at: String,
    a: crate::modules::trace::anomalies::Anomaly,
}

impl std::ops::Deref for AnomalyRow {
    type Target = crate::modules::trace::anomalies::Anomaly;
    fn deref(&self) -> &Self::Target {
        &self.a
    }
}

#[derive(Template)]
#[template(path = "console/code_anomalies.html")]
struct AnomalyPage {
    page: Layout,
    code: String,
    rows: Vec<AnomalyRow>,
    total: u64,
    page_no: u64,
    pages: u64,
    error: Option<String>,
}

/// `GET /console/code-anomalies`: claims of trace codes by subjects not linked into their
/// lineage (R-PUB-3), those the caller's tenant or subtree reported or owns, newest first.
pub async fn code_anomalies(user: PageUser, f: web::Query<AnomalyForm>) -> PageResult {
    use crate::modules::trace::anomalies::{AnomalyQuery, list};
    let f = f.into_inner();
    let q = AnomalyQuery { code: opt(&f.code), page: f.page, page_size: Some(20) };
    let (found, error) = match list(&user.ctx(), &q).await {
        Ok(found) => (found, None),
        Err(e) if e.http_status() == StatusCode::UNPROCESSABLE_ENTITY => {
            let msg = e.messages();
            (list(&user.ctx(), &AnomalyQuery::default()).await?, Some(msg))
        }
        Err(e) => return Err(e.into()),
    };
    let page = AnomalyPage {
        page: user.layout("追溯码异常").crumb("追溯码异常", None),
        code: f.code.trim().to_owned(),
        pages: found.total.div_ceil(found.page_size).max(1),
        total: found.total,
        page_no: found.page,
        rows: found
            .items
            .into_iter()
            .map(|a| AnomalyRow { detected_at: crate::web::when(&a.detected_at), a })
            .collect(),
        error,
    };
    Ok(user.render(StatusCode::OK, &page))
}
