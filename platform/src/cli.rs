//! The command line: `suyuan [serve] | migrate up|down|status | openapi | demo | version`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use suyuan_migrations::MigrationStatus;
use suyuan_migrations::{Migrator, MigratorTrait};

use crate::app::Application;
use crate::config::{ConfigError, Settings};

/// Suyuan (溯源): the important-product traceability management platform.
#[derive(Debug, Parser)]
#[command(name = "suyuan", version, about)]
pub struct Cli {
    /// Configuration file (default: ./suyuan.toml when present). Env: SUYUAN_CONFIG.
    #[arg(long, global = true, env = "SUYUAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:8080 (overrides the file and SUYUAN_LISTEN).
    #[arg(long, global = true)]
    pub listen: Option<String>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the platform (default).
    Serve,
    /// Apply, roll back or list database migrations.
    Migrate {
        /// up | down | status
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Print the OpenAPI document (the committed openapi/openapi.json).
    Openapi {
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Load the demo data set (safe to run again).
    Demo,
    /// Audit log tools.
    Audit {
        /// verify
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Federation tools.
    Federation {
        /// recompute
        #[command(subcommand)]
        action: FederationAction,
    },
    /// Account tools for whoever holds the server: the last resort for the root tenant's
    /// auditors and security administrators, which no tenant above can reach (三员分立).
    User {
        /// reset-password | disable | enable | end-sessions | set-roles
        #[command(subcommand)]
        action: UserAction,
    },
    /// Print the version.
    Version,
}

/// Account actions on the server.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// A new one-time password (printed once; must be changed at the next login); sessions end.
    ResetPassword {
        /// The user name.
        username: String,
    },
    /// The user can no longer log in; every session ends.
    Disable {
        /// The user name.
        username: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The user name.
        username: String,
    },
    /// End every session of the user.
    EndSessions {
        /// The user name.
        username: String,
    },
    /// Replace the user's roles in their tenant (none: no role).
    SetRoles {
        /// The user name.
        username: String,
        /// Role names, e.g. auditor.
        roles: Vec<String>,
    },
}

/// Federation actions.
#[derive(Debug, Subcommand)]
pub enum FederationAction {
    /// Recompute a tenant's rolled-up statistics from the daily figures of the tenants below
    /// it and compare them with the incremental roll-up (exit status 1 when they differ).
    Recompute {
        /// The tenant (division code).
        #[arg(long)]
        tenant: String,
        /// Replace the roll-up's rows with the recomputed ones where they differ.
        #[arg(long)]
        repair: bool,
    },
}

/// Migration actions.
#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the last migration (or N).
    Down {
        /// How many to roll back.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations with their state.
    Status,
}

/// Audit actions.
#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Check the hash chain of every tenant (or one) and report the first broken link.
    Verify {
        /// Only this tenant (division code).
        #[arg(long)]
        tenant: Option<String>,
        /// Also compare with the chain heads a parent in another deployment holds: the JSON
        /// its auditor downloads from `GET /api/v1/audit/anchors?source_code=…`.
        #[arg(long)]
        anchors: Option<PathBuf>,
    },
    /// Sign the records written before audit MACs existed (once, after the upgrade, when
    /// `verify` finds nothing else wrong).
    Seal,
    /// Publish every tenant's chain head to its parent now (the running server delivers).
    Anchor,
}

/// Exit code for configuration errors.
pub const EXIT_CONFIG: u8 = 2;

/// Parses the command line and runs it.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Version) => {
            return out(&format!("suyuan {}", env!("CARGO_PKG_VERSION")));
        }
        Some(Command::Openapi { output }) => return openapi(output.as_ref()),
        _ => {}
    }
    let settings = match load_settings(&cli) {
        Ok(s) => s,
        Err(e) => {
            err_line(&e.to_string());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    crate::telemetry::init(&settings);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            err_line(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            None | Some(Command::Serve) => serve(settings).await,
            Some(Command::Migrate { action }) => migrate(&settings, &action).await,
            Some(Command::Demo) => demo(&settings).await,
            Some(Command::Audit { action: AuditAction::Verify { tenant, anchors } }) => {
                audit_verify(&settings, tenant.as_deref(), anchors.as_deref()).await
            }
            Some(Command::Audit { action: AuditAction::Seal }) => audit_seal(&settings).await,
            Some(Command::Audit { action: AuditAction::Anchor }) => audit_anchor(&settings).await,
            Some(Command::Federation { action: FederationAction::Recompute { tenant, repair } }) => {
                federation_recompute(&settings, &tenant, repair).await
            }
            Some(Command::User { action }) => user_command(&settings, action).await,
            Some(Command::Version | Command::Openapi { .. }) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "failed");
            err_line(&format!("错误 / error: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// Loads the settings with the command-line overrides and checks them.
///
/// # Errors
/// The first bad key.
pub fn load_settings(cli: &Cli) -> Result<Settings, ConfigError> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Some(listen) = &cli.listen {
        settings.listen.clone_from(listen);
        settings.listen_addr().map_err(|mut e| {
            e.origin = " (from --listen)".to_owned();
            e
        })?;
    }
    crate::bootstrap::check_admin_password(&settings)?;
    Ok(settings)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(database = %crate::db::redact(&settings.database_url), redis = settings.redis_url.is_some(), "starting");
    let app = Application::build(settings.clone()).await?;
    stop_on_signals(app.handle())?;
    let url = settings.display_url(app.addr());
    let boot = app.bootstrapped();
    let mut banner = format!(
        "\n溯源 Suyuan {ver} 已启动 / is running\n  控制台 console      {url}/\n  接口文档 API docs    {url}/docs/\n  OpenAPI            {url}/openapi.json\n  健康 health        {url}/healthz   {url}/readyz   {url}/metrics\n",
        ver = env!("CARGO_PKG_VERSION"),
    );
    if let Some(pw) = &boot.generated_password {
        banner.push_str(&format!(
            "\n  首次启动已创建管理员 / first administrator created:\n    用户名 user: {user}\n    一次性密码 one-time password: {pw}\n    (只显示这一次，首次登录时必须修改 / shown once; must be changed at first login)\n",
            user = crate::bootstrap::ADMIN_USERNAME
        ));
    } else if boot.created_admin_from_config {
        banner.push_str("\n  管理员 admin 已用 SUYUAN_ADMIN_PASSWORD 创建，首次登录时必须修改密码\n");
    }
    banner.push_str("\n按 Ctrl-C 停止 / press Ctrl-C to stop\n");
    out(&banner);
    app.run_until_stopped().await?;
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM → stop accepting, drain in-flight requests; the background jobs
/// stop after the server (see `Application::run_until_stopped`). The handlers are registered
/// here, before the banner is printed.
fn stop_on_signals(handle: crate::app::ServerHandle) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutting down: no new connections, finishing requests in flight");
        handle.stop(true).await;
    });
    Ok(())
}

async fn migrate(settings: &Settings, action: &MigrateAction) -> anyhow::Result<()> {
    let db = crate::db::open(settings).await?;
    match action {
        MigrateAction::Up => {
            crate::db::migrate_up(&db).await?;
            out("migrations applied");
        }
        MigrateAction::Down { steps } => {
            Migrator::down(&db, Some(*steps)).await?;
            out(&format!("rolled back {steps} migration(s)"));
        }
        MigrateAction::Status => {
            for m in Migrator::get_migration_with_status(&db).await? {
                let state = match m.status() {
                    MigrationStatus::Applied => "applied",
                    MigrationStatus::Pending => "pending",
                };
                out(&format!("{state:8} {}", m.name()));
            }
        }
    }
    Ok(())
}

async fn demo(settings: &Settings) -> anyhow::Result<()> {
    let db = crate::db::connect(settings).await?;
    crate::db::migrate_up(&db).await?;
    let boot = crate::bootstrap::run(&db, settings).await?;
    if let Some(pw) = boot.generated_password {
        out(&format!("管理员 admin 一次性密码 / one-time password: {pw}"));
    }
    let report = crate::demo::load(&db).await?;
    out(&format!(
        "演示数据 demo data: {} tenants created, {} already present, {} filings created, {} trace records created",
        report.tenants_created, report.tenants_existing, report.filings_created, report.records_created
    ));
    if let Some(code) = report.example_code {
        out(&format!("公众追溯查询示例 / public trace page: http://{}/t/{code}", settings.listen));
    }
    if let Some((batch, subject)) = report.example_batch {
        out(&format!(
            "追溯链条示例 / trace chain (sign in first): http://{}/console/trace-chain?batch={batch}&subject={subject}",
            settings.listen
        ));
    }
    Ok(())
}

async fn audit_verify(settings: &Settings, only: Option<&str>, anchors: Option<&Path>) -> anyhow::Result<()> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    use suyuan_tenancy::entity::tenant;
    let remote: Vec<crate::modules::federation::anchors::HeldAnchorResponse> = match anchors {
        Some(path) => {
            anyhow::ensure!(only.is_some(), "--anchors needs --tenant (the chain the parent's anchors are of)");
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read the anchors file {}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("the anchors file is not the anchors list: {e}"))?
        }
        None => Vec::new(),
    };
    let db = crate::db::connect(settings).await?;
    let mut query = tenant::Entity::find().order_by_asc(tenant::Column::Path);
    if let Some(code) = only {
        query = query.filter(tenant::Column::Code.eq(code));
    }
    let tenants = query.all(&db).await?;
    anyhow::ensure!(!tenants.is_empty(), "no tenant {}", only.unwrap_or_default());
    let mut broken = 0;
    for t in tenants {
        let mut held = crate::audit::held_anchors(&db, t.id).await?;
        let mut foreign = 0;
        for a in remote.iter().filter(|a| a.source_code == t.code) {
            // Anchors of another chain (another tenant id) are not this one's.
            anyhow::ensure!(
                a.chain_tenant_id == t.id,
                "the anchors file holds heads of tenant {} under code {}, not of this deployment's {}",
                a.chain_tenant_id,
                a.source_code,
                t.id
            );
            held.push(crate::audit::HeldAnchor { seq: a.seq, hash: a.hash.clone() });
            foreign += 1;
        }
        anyhow::ensure!(anchors.is_none() || foreign > 0, "the anchors file holds no head of {}", t.code);
        held.sort_by_key(|a| a.seq);
        let report = crate::audit::verify_against(&db, t.id, &held).await?;
        match &report.first_broken {
            None => out(&format!(
                "ok      {} {} ({} records, {} anchors)",
                t.code, t.name, report.checked, report.anchors_checked
            )),
            Some(b) => {
                broken += 1;
                out(&format!("BROKEN  {} {}: record #{}: {}", t.code, t.name, b.seq, b.reason))
            }
        };
    }
    anyhow::ensure!(broken == 0, "{broken} audit chain(s) broken");
    Ok(())
}

async fn user_command(settings: &Settings, action: UserAction) -> anyhow::Result<()> {
    use crate::modules::admin::service::{ServerUserCommand, UserCommand, server_user_command};
    let (username, cmd) = match action {
        UserAction::ResetPassword { username } => (username, ServerUserCommand::Run(UserCommand::ResetPassword)),
        UserAction::Disable { username } => (username, ServerUserCommand::Run(UserCommand::Disable)),
        UserAction::Enable { username } => (username, ServerUserCommand::Run(UserCommand::Enable)),
        UserAction::EndSessions { username } => (username, ServerUserCommand::Run(UserCommand::EndSessions)),
        UserAction::SetRoles { username, roles } => (username, ServerUserCommand::SetRoles(roles)),
    };
    let db = crate::db::connect(settings).await?;
    let redis = settings.redis_url.as_deref().map(crate::kv::Redis::new).transpose()?;
    let sessions = crate::modules::identity::sessions::SessionStore::new(redis);
    let (u, initial, roles) = server_user_command(&db, &sessions, &username, cmd).await.map_err(|e| {
        let fields: String = e.field_errors().iter().map(|f| format!("; {}: {}", f.field, f.message)).collect();
        anyhow::anyhow!("{e}{fields}")
    })?;
    out(&format!("{} ({}): 状态 status {}, 角色 roles [{}]", u.username, u.display_name, u.status, roles.join(", ")));
    if let Some(pw) = initial {
        out(&format!(
            "一次性密码 / one-time password: {pw}\n(只显示这一次，下次登录时必须修改 / shown once; must be changed at the next login)"
        ));
    }
    Ok(())
}

async fn audit_seal(settings: &Settings) -> anyhow::Result<()> {
    let db = crate::db::connect(settings).await?;
    let sealed = crate::audit::seal_unsigned(&db).await?;
    out(&format!("{sealed} audit records signed"));
    Ok(())
}

async fn audit_anchor(settings: &Settings) -> anyhow::Result<()> {
    let db = crate::db::connect(settings).await?;
    let published = crate::modules::federation::anchors::publish_all(&db)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.to_problem(None).title))?;
    out(&format!("{published} chain heads published (the running server delivers them)"));
    Ok(())
}

async fn federation_recompute(settings: &Settings, code: &str, repair: bool) -> anyhow::Result<()> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use suyuan_tenancy::entity::tenant;
    let db = crate::db::connect(settings).await?;
    let t = tenant::Entity::find()
        .filter(tenant::Column::Code.eq(code))
        .one(&db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no tenant {code}"))?;
    let report = crate::modules::federation::service::recompute(&db, &t, repair).await?;
    for d in &report.differences {
        out(&format!("DIFF    {d}"));
    }
    out(&format!(
        "{} {} {}: {} rows compared, {} differ{}{}",
        if report.differences.is_empty() { "ok     " } else { "DIFFER " },
        t.code,
        t.name,
        report.rows,
        report.differences.len(),
        if report.repaired { ", repaired" } else { "" },
        if report.waiting > 0 {
            format!(" ({} changes below still on their way up)", report.waiting)
        } else {
            String::new()
        }
    ));
    anyhow::ensure!(report.differences.is_empty() || report.repaired, "the roll-up differs from the recompute");
    Ok(())
}

fn openapi(output: Option<&PathBuf>) -> ExitCode {
    let json = match crate::openapi::to_pretty_json() {
        Ok(j) => j,
        Err(e) => {
            err_line(&format!("cannot serialise the OpenAPI document: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match output {
        Some(path) => match std::fs::write(path, json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                err_line(&format!("cannot write {}: {e}", path.display()));
                ExitCode::FAILURE
            }
        },
        None => {
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(json.as_bytes()).is_err() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
        }
    }
}

/// Command output for people (not a log line).
fn out(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    ExitCode::SUCCESS
}

/// One line on standard error.
fn err_line(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
}
