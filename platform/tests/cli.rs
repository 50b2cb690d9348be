//! The `suyuan` binary itself: configuration errors, version, OpenAPI output, migrations.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::process::Command;

fn suyuan() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_suyuan"));
    // A clean environment for the keys we read, so the developer's own settings do not leak in.
    for (k, _) in std::env::vars() {
        if k.starts_with("SUYUAN_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn one_line_exit_2(cmd: &mut Command, key: &str) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "exit code 2 for a bad {key}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(key), "names the key {key}: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    stderr
}

#[test]
fn bad_environment_values_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let line = one_line_exit_2(
        suyuan().current_dir(dir.path()).env("SUYUAN_DB_MAX_CONNECTIONS", "lots"),
        "db_max_connections",
    );
    assert!(line.contains("SUYUAN_DB_MAX_CONNECTIONS"), "names the variable: {line}");
    one_line_exit_2(suyuan().current_dir(dir.path()).env("SUYUAN_LISTEN", "localhost"), "listen");
    one_line_exit_2(suyuan().current_dir(dir.path()).env("SUYUAN_DATABASE_URL", "mysql://db/x"), "database_url");
    one_line_exit_2(suyuan().current_dir(dir.path()).env("SUYUAN_REDIS_URL", "http://cache"), "redis_url");
    one_line_exit_2(suyuan().current_dir(dir.path()).env("SUYUAN_LOG_FORMAT", "xml"), "log_format");
    one_line_exit_2(suyuan().current_dir(dir.path()).env("SUYUAN_ADMIN_PASSWORD", "short"), "admin_password");
    one_line_exit_2(suyuan().current_dir(dir.path()).args(["--listen", "nowhere"]), "listen");
    one_line_exit_2(suyuan().current_dir(dir.path()).env("SUYUAN_ROOT_CODE", "37"), "root_code");
    // PostgreSQL keeps no key file: the audit key must come from the settings.
    one_line_exit_2(suyuan().current_dir(dir.path()).env("SUYUAN_DATABASE_URL", "postgres://db/x"), "audit_key");
    one_line_exit_2(suyuan().current_dir(dir.path()).env("SUYUAN_AUDIT_KEY", "too-short"), "audit_key");
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

#[test]
fn bad_file_values_exit_2_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("suyuan.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:8080\"\nmax_body_bytes = \"big\"\n").unwrap();
    let line = one_line_exit_2(suyuan().current_dir(dir.path()), "max_body_bytes");
    assert!(line.contains("suyuan.toml"), "{line}");
    std::fs::write(&file, "listne = \"127.0.0.1:8080\"\n").unwrap();
    one_line_exit_2(suyuan().current_dir(dir.path()), "listne");
    one_line_exit_2(suyuan().args(["--config", "/no/such/file.toml"]), "config");
}

#[test]
fn version_prints_the_version() {
    let out = suyuan().arg("version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), format!("suyuan {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn openapi_command_matches_the_committed_document() {
    let out = suyuan().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json")).unwrap();
    assert!(
        String::from_utf8(out.stdout).unwrap() == committed,
        "openapi/openapi.json is stale: run `cargo run -q -- openapi --output openapi/openapi.json`"
    );
}

#[test]
fn migrate_up_status_down_on_a_fresh_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/m.db", dir.path().display());
    let run = |args: &[&str]| {
        // A provincial deployment's settings: the code's digits in the environment are the code.
        let out =
            suyuan().env("SUYUAN_DATABASE_URL", &url).env("SUYUAN_ROOT_CODE", "370000").args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let status = run(&["migrate", "status"]);
    assert!(status.lines().all(|l| l.starts_with("pending")), "{status}");
    run(&["migrate", "up"]);
    let status = run(&["migrate", "status"]);
    assert!(status.lines().count() >= 2 && status.lines().all(|l| l.starts_with("applied")), "{status}");
    run(&["migrate", "down", "--steps", "1"]);
    let status = run(&["migrate", "status"]);
    assert!(status.lines().last().unwrap().starts_with("pending"), "{status}");
    run(&["migrate", "up"]);
}

#[test]
fn demo_loads_tenants_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/demo.db", dir.path().display());
    let run = || {
        let out = suyuan().env("SUYUAN_DATABASE_URL", &url).arg("demo").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run();
    assert!(first.contains("13 tenants created"), "{first}");
    assert!(first.contains("67 filings created"), "enterprises, market stalls and products: {first}");
    assert!(first.contains("3500 trace records created"), "the chain 寿光 → 济南 → 北京: {first}");
    assert!(first.contains("/t/SG") && first.contains("/console/trace-chain?batch="), "where to look: {first}");
    assert!(first.contains("one-time password"), "the first run creates the administrator: {first}");
    let second = run();
    assert!(second.contains("0 tenants created, 13 already present, 0 filings created, 0 trace records"), "{second}");
    assert!(!second.contains("one-time password"), "the password is shown only once: {second}");
}

#[test]
fn audit_verify_reports_a_tampered_chain() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("a.db");
    let url = format!("sqlite://{}", db_path.display());
    let run = |args: &[&str]| suyuan().env("SUYUAN_DATABASE_URL", &url).args(args).output().unwrap();
    assert!(run(&["demo"]).status.success());
    let ok = run(&["audit", "verify"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok      100000 全国"));

    // Edit a record behind the platform's back.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(&url).await.unwrap();
        db.execute_unprepared("UPDATE audit_log SET action = 'nothing' WHERE seq = 1").await.unwrap();
        db.close().await.unwrap();
    });
    let bad = run(&["audit", "verify", "--tenant", "100000"]);
    assert!(!bad.status.success(), "a broken chain fails the command");
    assert!(String::from_utf8_lossy(&bad.stdout).contains("BROKEN  100000 全国: record #1"));
}

#[test]
fn audit_verify_finds_a_deleted_and_rehashed_record() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let run = |args: &[&str]| suyuan().env("SUYUAN_DATABASE_URL", &url).args(args).output().unwrap();
    assert!(run(&["demo"]).status.success());
    assert!(dir.path().join("suyuan-audit.key").is_file(), "embedded mode makes its audit key beside the database");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let root = rt.block_on(async {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        // The platform writes a few more records into the national chain (signed with the
        // key file the demo made).
        let settings = suyuan_platform::Settings { database_url: url.clone(), ..suyuan_platform::Settings::default() };
        let db = suyuan_platform::db::connect(&settings).await.unwrap();
        let root = suyuan_tenancy::entity::tenant::Entity::find()
            .filter(suyuan_tenancy::entity::tenant::Column::Code.eq("100000"))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        for n in 0..3 {
            let client = suyuan_platform::audit::ClientInfo::default();
            let entry = suyuan_platform::audit::Entry {
                tenant_id: root.id,
                actor: suyuan_platform::audit::Actor { user_id: None, name: "system".into() },
                action: "test.step",
                object_type: "test",
                object_id: n.to_string(),
                success: true,
                client: &client,
                detail: serde_json::json!({}),
            };
            suyuan_platform::audit::record(&db, entry).await.unwrap();
        }
        db.close().await.unwrap();
        root
    });
    assert!(run(&["audit", "verify", "--tenant", "100000"]).status.success());

    // A database writer removes record 2 of the national chain and re-hashes the rest.
    let moved = rt.block_on(async {
        use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
        use suyuan_platform::audit::{chain_hash, entity::record};
        let db = sea_orm::Database::connect(&url).await.unwrap();
        let rows = record::Entity::find()
            .filter(record::Column::TenantId.eq(root.id))
            .order_by_asc(record::Column::Seq)
            .all(&db)
            .await
            .unwrap();
        let cond = "tenant_id = (SELECT id FROM tenants WHERE code = '100000')";
        db.execute_unprepared(&format!("DELETE FROM audit_log WHERE {cond} AND seq = 2")).await.unwrap();
        let mut prev = rows[1].prev_hash.clone();
        for r in rows.iter().skip(2) {
            let mut forged = r.clone();
            forged.seq -= 1;
            forged.prev_hash.clone_from(&prev);
            forged.hash = chain_hash(&prev, &forged);
            db.execute_unprepared(&format!(
                "UPDATE audit_log SET seq = {}, prev_hash = '{}', hash = '{}' WHERE {cond} AND seq = {}",
                forged.seq, forged.prev_hash, forged.hash, r.seq
            ))
            .await
            .unwrap();
            prev = forged.hash;
        }
        let last = rows.last().unwrap().seq - 1;
        db.execute_unprepared(&format!("UPDATE audit_heads SET seq = {last}, hash = '{prev}' WHERE {cond}"))
            .await
            .unwrap();
        db.close().await.unwrap();
        rows[2].id
    });
    let bad = run(&["audit", "verify", "--tenant", "100000"]);
    assert!(!bad.status.success(), "a re-hashed chain fails the command");
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(stdout.contains("BROKEN  100000 全国: record #2") && stdout.contains("MAC"), "{stdout} ({moved})");
}

#[test]
fn serve_prints_its_urls_and_stops_gracefully_on_sigterm() {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().unwrap();
    let mut child = suyuan()
        .current_dir(dir.path())
        .env("SUYUAN_LOG_FORMAT", "json")
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The banner names the bound port and the one-time password.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    let mut url = None;
    for _ in 0..200 {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        banner.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("OpenAPI") {
            url = Some(rest.trim().trim_end_matches("/openapi.json").to_owned());
        }
        if line.contains("Ctrl-C") {
            break;
        }
    }
    let url = url.unwrap_or_else(|| panic!("no URL in the banner: {banner}"));
    assert!(banner.contains("一次性密码 one-time password"), "{banner}");
    assert!(dir.path().join("data/suyuan.db").is_file(), "the embedded database is created");

    // The server answers.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(url.trim_start_matches("http://")).await.unwrap();
        drop(stream);
        0
    });
    assert_eq!(status, 0);

    // SIGTERM: the process stops by itself, cleanly.
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let started = std::time::Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "still running 30 s after SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let all = format!("{logs}{rest}");
    assert!(all.contains("background jobs stopped") && all.contains("\"stopped\""), "{all}");
}

/// The root tenant's guarded accounts have no tenant above: `suyuan user` on the server is
/// their last resort (三员分立), recorded in the audit log as the server's act.
#[test]
fn user_command_resets_and_sets_roles_with_the_duty_rules() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/u.db", dir.path().display());
    let run = |args: &[&str]| suyuan().env("SUYUAN_DATABASE_URL", &url).args(args).output().unwrap();
    assert!(run(&["demo"]).status.success());

    let out = run(&["user", "reset-password", "admin"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("one-time password: "), "{stdout}");

    let out = run(&["user", "set-roles", "admin", "auditor", "tenant_admin"]);
    assert!(!out.status.success(), "the auditor still stands alone");
    assert!(String::from_utf8_lossy(&out.stderr).contains("roles"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["user", "disable", "nobody_here"]);
    assert!(!out.status.success());

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sea_orm::{ConnectionTrait, Statement};
        let db = sea_orm::Database::connect(&url).await.unwrap();
        let q = |sql: &str| Statement::from_string(db.get_database_backend(), sql.to_owned());
        let row = db.query_one_raw(q("SELECT must_change_password AS m FROM users WHERE username = 'admin'")).await;
        assert!(row.unwrap().unwrap().try_get::<bool>("", "m").unwrap(), "the new password must be changed");
        let sql = "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'user.reset_password' AND actor_name LIKE 'suyuan user%'";
        let row = db.query_one_raw(q(sql)).await.unwrap().unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1, "recorded as the server's act");
        db.close().await.unwrap();
    });
    // The chain still verifies.
    assert!(run(&["audit", "verify"]).status.success());
}
