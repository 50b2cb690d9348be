//! Reference data of trace records, read from the database at start into memory: the units a
//! quantity may carry (`trace_units`) and what each stage and action is called
//! (`trace_labels`). Both are seeded by a migration; an operator may add rows (a new unit, a
//! better label) and restart. The codes checked by the ingest (stages, actions) stay in code.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiResult;

/// The `trace_units` table.
pub mod unit {
    use sea_orm::entity::prelude::*;

    /// A unit of the code list.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "trace_units")]
    pub struct Model {
        /// Code (`kg`, `t`, `箱` …).
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        /// zh-CN name.
        pub name: String,
        /// `mass`, `volume` or `count`.
        pub dimension: String,
        /// The unit it converts to, when a conversion exists.
        pub base_code: Option<String>,
        /// Its factor: 1 of this = `factor` of `base_code`.
        pub factor: Option<f64>,
        /// Other spellings accepted on input, comma-separated.
        pub aliases: String,
        /// Order in lists.
        pub position: i32,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `trace_labels` table.
pub mod label {
    use sea_orm::entity::prelude::*;

    /// What a stage (`action` empty) or an action of a stage is called.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "trace_labels")]
    pub struct Model {
        /// Stage code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub stage: String,
        /// Action code, or empty for the stage itself.
        #[sea_orm(primary_key, auto_increment = false)]
        pub action: String,
        /// zh-CN label.
        pub label: String,
        /// Order in lists.
        pub position: i32,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A unit as `GET /api/v1/trace/units` lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Unit {
    /// The code a record carries (`kg`, `t`, `箱` …).
    #[schema(example = "kg")]
    pub code: String,
    /// zh-CN name.
    #[schema(example = "千克")]
    pub name: String,
    /// `mass`, `volume` or `count` (count units convert to nothing: a 箱 holds what it holds).
    #[schema(example = "mass")]
    pub dimension: String,
    /// The unit it converts to, when a conversion exists (statistics count it in that unit).
    #[schema(example = "kg")]
    pub base_code: Option<String>,
    /// 1 of this unit is `factor` of `base_code`.
    #[schema(example = 1.0)]
    pub factor: Option<f64>,
    /// Other spellings accepted on input and stored as `code` (e.g. 公斤 for kg).
    pub aliases: Vec<String>,
}

/// The reference data in memory.
#[derive(Debug, Default)]
pub struct Reference {
    /// Units in list order.
    pub units: Vec<Unit>,
    /// Code, name or alias → index in `units`.
    spelling: HashMap<String, usize>,
    /// (stage, action) → label; the stage's own under an empty action.
    labels: HashMap<(String, String), String>,
}

impl Reference {
    /// The reference data of these units (in list order) and labels ((stage, action) → label,
    /// the stage's own under an empty action).
    #[must_use]
    pub fn new(units: Vec<Unit>, labels: HashMap<(String, String), String>) -> Self {
        let mut spelling = HashMap::new();
        for (i, u) in units.iter().enumerate() {
            spelling.insert(u.code.clone(), i);
            for s in std::iter::once(&u.code).chain([&u.name]).chain(&u.aliases) {
                spelling.entry(s.clone()).or_insert(i);
                spelling.entry(s.to_ascii_lowercase()).or_insert(i);
            }
        }
        Self { units, spelling, labels }
    }

    /// The unit `given` names (its code, its name or another spelling; ASCII case ignored).
    #[must_use]
    pub fn unit(&self, given: &str) -> Option<&Unit> {
        let given = given.trim();
        self.spelling.get(given).or_else(|| self.spelling.get(&given.to_ascii_lowercase())).map(|&i| &self.units[i])
    }

    /// The unit a statistic counts a quantity of `code` in, and the factor to it: the base of a
    /// convertible unit (t → kg × 1000), else the unit itself; `""` (not stated) for a code not
    /// in the list (records kept from before the list).
    #[must_use]
    pub fn statistics_unit<'a>(&'a self, code: &'a str) -> (&'a str, f64) {
        match self.unit(code) {
            Some(u) => match (&u.base_code, u.factor) {
                (Some(base), Some(f)) => (base.as_str(), f),
                _ => (u.code.as_str(), 1.0),
            },
            None => ("", 1.0),
        }
    }

    /// The name of a unit code for people (千克 for kg); 未注明单位 for `""`.
    #[must_use]
    pub fn unit_name<'a>(&'a self, code: &'a str) -> &'a str {
        if code.is_empty() {
            return "未注明单位";
        }
        self.unit(code).map_or(code, |u| u.name.as_str())
    }

    /// What a stage is called.
    #[must_use]
    pub fn stage_label<'a>(&'a self, stage: &'a str) -> &'a str {
        self.labels.get(&(stage.to_owned(), String::new())).map_or_else(
            || crate::modules::subjects::export::label(crate::modules::subjects::dto::STAGES, stage),
            String::as_str,
        )
    }

    /// What an action of a stage is called (the code itself when unknown).
    #[must_use]
    pub fn action_label<'a>(&'a self, stage: &'a str, action: &'a str) -> &'a str {
        self.labels.get(&(stage.to_owned(), action.to_owned())).map_or_else(
            || super::dto::ACTIONS.iter().find(|(s, a, _)| *s == stage && *a == action).map_or(action, |(.., l)| *l),
            String::as_str,
        )
    }

    /// The codes of the list, for messages.
    #[must_use]
    pub fn codes(&self) -> String {
        self.units.iter().map(|u| u.code.as_str()).collect::<Vec<_>>().join("、")
    }
}

fn cache() -> &'static RwLock<Option<Arc<Reference>>> {
    static CACHE: RwLock<Option<Arc<Reference>>> = RwLock::new(None);
    &CACHE
}

/// Reads the tables and keeps them in memory for [`current`].
///
/// # Errors
/// Database failures (the tables are missing before the migration).
pub async fn load(db: &impl ConnectionTrait) -> ApiResult<Arc<Reference>> {
    let units = unit::Entity::find().order_by_asc(unit::Column::Position).all(db).await?;
    let labels = label::Entity::find().order_by_asc(label::Column::Position).all(db).await?;
    let units = units
        .into_iter()
        .map(|u| Unit {
            aliases: u.aliases.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect(),
            code: u.code,
            name: u.name,
            dimension: u.dimension,
            base_code: u.base_code,
            factor: u.factor,
        })
        .collect();
    let labels = labels.into_iter().map(|l| ((l.stage, l.action), l.label)).collect();
    let r = Arc::new(Reference::new(units, labels));
    if let Ok(mut c) = cache().write() {
        *c = Some(r.clone());
    }
    Ok(r)
}

/// The reference data read at start (empty before: every unit unknown, labels from code).
#[must_use]
pub fn current() -> Arc<Reference> {
    cache().read().ok().and_then(|c| c.clone()).unwrap_or_default()
}

/// The reference data, read now if it was not yet (a command that did not start the server).
///
/// # Errors
/// Database failures.
pub async fn ensure(db: &impl ConnectionTrait) -> ApiResult<Arc<Reference>> {
    if let Some(r) = cache().read().ok().and_then(|c| c.clone()) {
        return Ok(r);
    }
    load(db).await
}
