//! Units and labels as reference data (issue 18, items 5 and 8).
//!
//! - `trace_units`: the code list of units a trace record's quantity may carry, with the zh-CN
//!   name, the dimension and, where a conversion exists, the unit it converts to and the factor
//!   (1 t = 1000 kg). Count units (件, 箱, 头 …) convert to nothing: a 箱 holds what it holds.
//! - `trace_labels`: what each stage and each (stage, action) is called on the public page and
//!   in the console (the codes stay the same; the platform reads the table at start).
//! - `trace_lineage.unit`: the unit of an edge's quantity.
//! - `trace_stats_daily` and `federation_rollup` are keyed by unit too, so no figure adds
//!   quantities of different units. Their rows from before carry the unit `''` (not stated):
//!   they are shown as such and never summed with others.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TraceUnits {
    Table,
    Code,
    Name,
    Dimension,
    BaseCode,
    Factor,
    Aliases,
    Position,
}

#[derive(DeriveIden)]
enum TraceLabels {
    Table,
    Stage,
    Action,
    Label,
    Position,
}

#[derive(DeriveIden)]
enum TraceLineage {
    Table,
    Unit,
}

#[derive(DeriveIden)]
enum TraceStatsDaily {
    Table,
    TenantId,
    Day,
    Stage,
    CategoryCode,
    DivisionCode,
    Unit,
    Records,
    Quantity,
}

#[derive(DeriveIden)]
enum FederationRollup {
    Table,
    HolderTenantId,
    SourceCode,
    Day,
    Stage,
    CategoryCode,
    DivisionCode,
    Unit,
    Records,
    Quantity,
}

/// (code, zh-CN name, dimension, converts to, factor, other spellings accepted on input).
type UnitRow = (&'static str, &'static str, &'static str, Option<&'static str>, Option<f64>, &'static str);

const UNITS: &[UnitRow] = &[
    ("kg", "千克", "mass", Some("kg"), Some(1.0), "公斤"),
    ("g", "克", "mass", Some("kg"), Some(0.001), ""),
    ("t", "吨", "mass", Some("kg"), Some(1000.0), "公吨"),
    ("斤", "斤", "mass", Some("kg"), Some(0.5), "市斤"),
    ("L", "升", "volume", Some("L"), Some(1.0), "公升"),
    ("mL", "毫升", "volume", Some("L"), Some(0.001), ""),
    ("件", "件", "count", None, None, ""),
    ("箱", "箱", "count", None, None, ""),
    ("盒", "盒", "count", None, None, ""),
    ("袋", "袋", "count", None, None, ""),
    ("包", "包", "count", None, None, ""),
    ("瓶", "瓶", "count", None, None, ""),
    ("罐", "罐", "count", None, None, ""),
    ("桶", "桶", "count", None, None, ""),
    ("个", "个", "count", None, None, ""),
    ("份", "份", "count", None, None, ""),
    ("头", "头", "count", None, None, ""),
    ("只", "只", "count", None, None, ""),
    ("羽", "羽", "count", None, None, ""),
    ("尾", "尾", "count", None, None, ""),
    ("条", "条", "count", None, None, ""),
    ("枚", "枚", "count", None, None, ""),
    ("株", "株", "count", None, None, ""),
];

/// (stage, action — empty for the stage itself, zh-CN label). Labels say what happened: a
/// market's or a shop's receipt is 批发进货, a sale 销售; only `use` is consumption.
const LABELS: &[(&str, &str, &str)] = &[
    ("primary_production", "", "初级生产"),
    ("primary_production", "plant", "种植"),
    ("primary_production", "breed", "养殖"),
    ("primary_production", "harvest", "采收"),
    ("primary_production", "slaughter", "屠宰"),
    ("primary_production", "catch", "捕捞"),
    ("processing", "", "生产加工"),
    ("processing", "process", "加工"),
    ("processing", "package", "分装"),
    ("transport", "", "产品运输"),
    ("transport", "ship", "发货"),
    ("transport", "arrive", "到货"),
    ("testing", "", "产品检测"),
    ("testing", "inspect", "检测"),
    ("sale", "", "流通销售"),
    ("sale", "receive", "批发进货"),
    ("sale", "sell", "销售"),
    ("sale", "use", "消费使用"),
];

/// Re-creates `table` (as made by `create`) with the unit in its key: the old rows are copied
/// with the unit `''`. A key cannot be changed in place on SQLite.
async fn rekey(
    manager: &SchemaManager<'_>,
    table: &str,
    columns: &[&str],
    create: TableCreateStatement,
) -> Result<(), DbErr> {
    let old = format!("{table}_before_units");
    manager.rename_table(Table::rename().table(Alias::new(table), Alias::new(&old)).to_owned()).await?;
    manager.create_table(create).await?;
    let list = columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
    let sql = format!("INSERT INTO \"{table}\" ({list}, \"unit\") SELECT {list}, '' FROM \"{old}\"");
    manager.get_connection().execute_unprepared(&sql).await?;
    manager.drop_table(Table::drop().table(Alias::new(old)).to_owned()).await
}

/// Undoes [`rekey`]: rows of different units under one old key are summed.
async fn unkey(
    manager: &SchemaManager<'_>,
    table: &str,
    keys: &[&str],
    create: TableCreateStatement,
) -> Result<(), DbErr> {
    let old = format!("{table}_with_units");
    manager.rename_table(Table::rename().table(Alias::new(table), Alias::new(&old)).to_owned()).await?;
    manager.create_table(create).await?;
    let list = keys.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "INSERT INTO \"{table}\" ({list}, \"records\", \"quantity\") \
         SELECT {list}, SUM(\"records\"), SUM(\"quantity\") FROM \"{old}\" GROUP BY {list}"
    );
    manager.get_connection().execute_unprepared(&sql).await?;
    manager.drop_table(Table::drop().table(Alias::new(old)).to_owned()).await
}

fn stats_table(with_unit: bool) -> TableCreateStatement {
    use TraceStatsDaily as S;
    let mut key = Index::create();
    key.col(S::TenantId).col(S::Day).col(S::Stage).col(S::CategoryCode).col(S::DivisionCode);
    let mut t = Table::create();
    t.table(S::Table)
        .col(ColumnDef::new(S::TenantId).uuid().not_null())
        .col(ColumnDef::new(S::Day).string_len(10).not_null())
        .col(ColumnDef::new(S::Stage).string_len(32).not_null())
        .col(ColumnDef::new(S::CategoryCode).string_len(16).not_null())
        .col(ColumnDef::new(S::DivisionCode).string_len(6).not_null());
    if with_unit {
        // The unit the quantity is counted in: a convertible unit's base (kg, L), else the
        // record's own; '' when not stated.
        t.col(ColumnDef::new(S::Unit).string_len(16).not_null().default(""));
        key.col(S::Unit);
    }
    t.col(ColumnDef::new(S::Records).big_integer().not_null())
        .col(ColumnDef::new(S::Quantity).double().not_null())
        .primary_key(&mut key);
    t
}

fn rollup_table(with_unit: bool) -> TableCreateStatement {
    use FederationRollup as R;
    let mut key = Index::create();
    key.col(R::HolderTenantId).col(R::SourceCode).col(R::Day).col(R::Stage).col(R::CategoryCode).col(R::DivisionCode);
    let mut t = Table::create();
    t.table(R::Table)
        .col(ColumnDef::new(R::HolderTenantId).uuid().not_null())
        .col(ColumnDef::new(R::SourceCode).string_len(6).not_null())
        .col(ColumnDef::new(R::Day).string_len(10).not_null())
        .col(ColumnDef::new(R::Stage).string_len(32).not_null())
        .col(ColumnDef::new(R::CategoryCode).string_len(16).not_null())
        .col(ColumnDef::new(R::DivisionCode).string_len(6).not_null());
    if with_unit {
        t.col(ColumnDef::new(R::Unit).string_len(16).not_null().default(""));
        key.col(R::Unit);
    }
    t.col(ColumnDef::new(R::Records).big_integer().not_null())
        .col(ColumnDef::new(R::Quantity).double().not_null())
        .primary_key(&mut key);
    t
}

const STATS_KEYS: &[&str] = &["tenant_id", "day", "stage", "category_code", "division_code"];
const ROLLUP_KEYS: &[&str] = &["holder_tenant_id", "source_code", "day", "stage", "category_code", "division_code"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TraceUnits as U;
        manager
            .create_table(
                Table::create()
                    .table(U::Table)
                    .col(ColumnDef::new(U::Code).string_len(16).not_null().primary_key())
                    .col(ColumnDef::new(U::Name).string_len(32).not_null())
                    // `mass`, `volume` or `count`.
                    .col(ColumnDef::new(U::Dimension).string_len(16).not_null())
                    // The unit it converts to and the factor (NULL: no conversion).
                    .col(ColumnDef::new(U::BaseCode).string_len(16).null())
                    .col(ColumnDef::new(U::Factor).double().null())
                    // Other spellings accepted on input, comma-separated.
                    .col(ColumnDef::new(U::Aliases).string_len(128).not_null().default(""))
                    .col(ColumnDef::new(U::Position).integer().not_null())
                    .to_owned(),
            )
            .await?;
        let mut insert = Query::insert();
        insert.into_table(U::Table).columns([
            U::Code,
            U::Name,
            U::Dimension,
            U::BaseCode,
            U::Factor,
            U::Aliases,
            U::Position,
        ]);
        for (i, (code, name, dimension, base, factor, aliases)) in (1..).zip(UNITS) {
            insert
                .values([
                    (*code).into(),
                    (*name).into(),
                    (*dimension).into(),
                    base.map(str::to_owned).into(),
                    (*factor).into(),
                    (*aliases).into(),
                    i.into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        manager.exec_stmt(insert).await?;

        use TraceLabels as L;
        manager
            .create_table(
                Table::create()
                    .table(L::Table)
                    .col(ColumnDef::new(L::Stage).string_len(32).not_null())
                    // Empty: the stage's own label.
                    .col(ColumnDef::new(L::Action).string_len(32).not_null())
                    .col(ColumnDef::new(L::Label).string_len(32).not_null())
                    .col(ColumnDef::new(L::Position).integer().not_null())
                    .primary_key(Index::create().col(L::Stage).col(L::Action))
                    .to_owned(),
            )
            .await?;
        let mut insert = Query::insert();
        insert.into_table(L::Table).columns([L::Stage, L::Action, L::Label, L::Position]);
        for (i, (stage, action, label)) in (1..).zip(LABELS) {
            insert
                .values([(*stage).into(), (*action).into(), (*label).into(), i.into()])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        manager.exec_stmt(insert).await?;

        let mut unit = ColumnDef::new(TraceLineage::Unit).string_len(16).null().to_owned();
        manager.alter_table(Table::alter().table(TraceLineage::Table).add_column(&mut unit).to_owned()).await?;

        rekey(manager, "trace_stats_daily", &[STATS_KEYS, &["records", "quantity"]].concat(), stats_table(true))
            .await?;
        rekey(manager, "federation_rollup", &[ROLLUP_KEYS, &["records", "quantity"]].concat(), rollup_table(true)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        unkey(manager, "federation_rollup", ROLLUP_KEYS, rollup_table(false)).await?;
        unkey(manager, "trace_stats_daily", STATS_KEYS, stats_table(false)).await?;
        manager
            .alter_table(Table::alter().table(TraceLineage::Table).drop_column(TraceLineage::Unit).to_owned())
            .await?;
        manager.drop_table(Table::drop().table(TraceLabels::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(TraceUnits::Table).to_owned()).await
    }
}
