//! Database connection: SQLite (embedded, WAL) or PostgreSQL, chosen by the URL.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use suyuan_migrations::{Migrator, MigratorTrait};

use crate::config::{DatabaseKind, Settings};

/// Opens the pool and loads the audit key ([`crate::audit::keys`]): whoever opens the
/// database may write audit records, and they are signed with the key kept outside it.
///
/// # Errors
/// See [`open`]; an audit key file that cannot be read or made.
pub async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let db = open(settings).await?;
    crate::audit::keys::load_and_install(settings)?;
    Ok(db)
}

/// Opens the pool without the audit key (schema work only: `suyuan migrate`). For SQLite the
/// file (and its folder) is created when missing and put in WAL mode, so readers never wait
/// for the writer.
///
/// # Errors
/// When the database cannot be reached or the folder cannot be created.
pub async fn open(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.database_url.as_str();
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(settings.db_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if settings.database_kind()? == DatabaseKind::Sqlite {
        if let Some(dir) = sqlite_file(url).and_then(Path::parent)
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create the data folder {}", dir.display()))?;
        }
        opts.map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    }
    let db = Database::connect(opts).await.with_context(|| format!("cannot open the database at {}", redact(url)))?;
    Ok(db)
}

/// The file path of a `sqlite://` URL, if it names a file.
#[must_use]
pub fn sqlite_file(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" { None } else { Some(Path::new(path)) }
}

/// A URL with its password replaced, for messages and logs.
#[must_use]
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Applies every pending migration.
///
/// # Errors
/// When a migration fails (the failing one is rolled back on PostgreSQL).
pub async fn migrate_up(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("database migration failed")
}

/// A cheap round trip that proves the database answers.
///
/// # Errors
/// When it does not.
pub async fn ping(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// `(open connections, idle connections)` of the pool.
#[must_use]
pub fn pool_stats(db: &DatabaseConnection) -> (u32, usize) {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        assert_eq!(sqlite_file("sqlite://./data/suyuan.db"), Some(Path::new("./data/suyuan.db")));
        assert_eq!(sqlite_file("sqlite:///tmp/x.db?mode=rwc"), Some(Path::new("/tmp/x.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
