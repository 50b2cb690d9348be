//! The sea-orm `insert_many` baseline of `benches/ingest.sh` (issue 6): the same records the
//! script sends through the API, written straight into `trace_events` with sea-orm's
//! `insert_many` in one transaction — what a plain sea-orm write path would do, with none of the
//! API's checking, idempotency, lineage, codes, statistics or outbox.
//!
//! `cargo bench -p suyuan_platform --bench insert_many -- DATABASE_URL ROWS TENANT_ID SUBJECT
//! COUNTERPART` prints `insert_many ROWS SECONDS`. Run it on a scratch copy of the database: it
//! writes ROWS records with client ids `base-N`.

use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use chrono::{TimeZone, Utc};
use sea_orm::{Database, DbBackend, EntityTrait, IntoActiveModel, TransactionTrait};
use suyuan_platform::modules::trace::entity::event;
use uuid::Uuid;

/// Bind parameters per statement: PostgreSQL's limit is 65 535, SQLite's 32 766.
fn per_statement(backend: DbBackend) -> usize {
    let columns = 27;
    if backend == DbBackend::Postgres { 65_535 / columns } else { 32_766 / columns }
}

/// Record `i` in the shape `benches/ingest.sh` sends: half harvests, half shipments to the
/// counterpart, one trace code each.
fn record(i: usize, tenant: Uuid, subject: &str, counterpart: &str) -> event::Model {
    let ship = i % 2 == 1;
    let at = Utc.with_ymd_and_hms(2026, 11, 19, 22, 30, 0).single().unwrap_or_default();
    event::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        client_event_id: format!("base-{i}"),
        stage: if ship { "transport" } else { "primary_production" }.to_owned(),
        action: if ship { "ship" } else { "harvest" }.to_owned(),
        subject_code: subject.to_owned(),
        subject_name: "寿光示范".to_owned(),
        product_code: None,
        product_name: "寿光番茄".to_owned(),
        category_code: None,
        batch_no: format!("B{:07}", i / 2),
        trace_codes: format!("[\"BENCH{i:08}\"]"),
        quantity: 1000.0,
        unit: "kg".to_owned(),
        price: ship.then_some(3.2),
        amount: None,
        event_time: at,
        event_offset_minutes: 480,
        recorded_at: Utc::now(),
        division_code: "370783".to_owned(),
        longitude: Some(118.79),
        latitude: Some(36.86),
        counterpart_code: ship.then(|| counterpart.to_owned()),
        counterpart_name: None,
        inputs: "[]".to_owned(),
        inspection: None,
        extra: None,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let [url, rows, tenant, subject, counterpart] = args.as_slice() else {
        anyhow::bail!("usage: insert_many DATABASE_URL ROWS TENANT_ID SUBJECT COUNTERPART");
    };
    let n: usize = rows.parse().context("ROWS")?;
    let tenant: Uuid = tenant.parse().context("TENANT_ID")?;
    let db = Database::connect(url.as_str()).await?;
    let records: Vec<event::Model> = (0..n).map(|i| record(i, tenant, subject, counterpart)).collect();
    let per = per_statement(db.get_database_backend());
    let started = Instant::now();
    let txn = db.begin().await?;
    for chunk in records.chunks(per) {
        event::Entity::insert_many(chunk.iter().cloned().map(IntoActiveModel::into_active_model))
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    let seconds = started.elapsed().as_secs_f64();
    writeln!(std::io::stdout().lock(), "insert_many {n} {seconds:.4}")?;
    Ok(())
}
