//! R-PROD-1: the product catalogue — the national classification (seeded with the seven kinds
//! of the standard), tenants' sub-categories whose codes extend the parent's, the categories
//! each tenant traces, and refusals to move or delete what is in use.

use serde_json::json;
use suyuan_tests::{TestApp, problem, spawn_app};

async fn list(app: &TestApp, client: &reqwest::Client) -> Vec<serde_json::Value> {
    let v: serde_json::Value = client.get(app.url("/api/v1/catalogue")).send().await.unwrap().json().await.unwrap();
    v.as_array().unwrap().clone()
}

fn by_code<'a>(list: &'a [serde_json::Value], code: &str) -> Option<&'a serde_json::Value> {
    list.iter().find(|c| c["code"] == code)
}

#[tokio::test]
async fn the_national_classification_is_seeded_and_tenants_extend_it() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let jn = app.onboard(&sd.admin, "370100", "济南市").await;
    let js = app.onboard(&national, "320000", "江苏省").await;

    let all = list(&app, &national).await;
    let kinds: Vec<_> = all.iter().filter(|c| c["depth"] == 1).map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["食用农产品", "食品", "药品", "农业生产资料", "特种设备", "危险品", "稀土产品"]);
    let vegetables = by_code(&all, "0101").unwrap();
    assert_eq!(vegetables["name"], "蔬菜");
    assert_eq!(vegetables["national"], true);
    let veg_id = vegetables["id"].as_str().unwrap().to_owned();
    let food_id = by_code(&all, "02").unwrap()["id"].as_str().unwrap().to_owned();

    // Bad input: every field named, nothing written.
    let before = app.write_counts().await;
    let res = sd
        .admin
        .post(app.url("/api/v1/catalogue"))
        .json(&json!({"parent_id": veg_id, "code": "0201", "name": ""}))
        .send()
        .await
        .unwrap();
    let p = problem(res).await;
    let fields: Vec<_> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "code"], "{p}");
    assert_eq!(p["errors"][1]["rule"], "extends_parent");
    let res = sd
        .admin
        .post(app.url("/api/v1/catalogue"))
        .json(&json!({"code": "08", "name": "新种类"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "parent_id", "only the national tenant adds kinds");
    assert_eq!(app.write_counts().await, before);

    // 山东省 adds a sub-category under a national one.
    let res = sd
        .admin
        .post(app.url("/api/v1/catalogue"))
        .json(&json!({"parent_id": veg_id, "code": "010101", "name": "寿光蔬菜"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: serde_json::Value = res.json().await.unwrap();
    assert_eq!(created["own"], true);
    assert_eq!(created["depth"], 3);
    let sd_cat = created["id"].as_str().unwrap().to_owned();
    // Codes are one namespace per line of tenants, not per deployment: the sibling province
    // numbers its own sub-category 010101 too (it was 409 while codes were nationwide), the
    // city below 山东省 cannot repeat its province's code, nor the province a city's.
    let res = js
        .admin
        .post(app.url("/api/v1/catalogue"))
        .json(&json!({"parent_id": veg_id, "code": "010101", "name": "苏州蔬菜"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "a sibling province uses the same code for its own category");
    let js_veg: serde_json::Value = res.json().await.unwrap();
    let res = jn
        .admin
        .post(app.url("/api/v1/catalogue"))
        .json(&json!({"parent_id": veg_id, "code": "010101", "name": "重复"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409, "a code held above is taken for the tenants below");
    let res = jn
        .admin
        .post(app.url("/api/v1/catalogue"))
        .json(&json!({"parent_id": veg_id, "code": "010102", "name": "章丘大葱"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = sd
        .admin
        .post(app.url("/api/v1/catalogue"))
        .json(&json!({"parent_id": veg_id, "code": "010102", "name": "重复"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409, "a code held below is taken for the tenants above");

    // Who sees what: the city sees its province's category; the sibling province sees its own
    // category of that code, never 山东省's.
    assert!(
        by_code(&list(&app, &jn.admin).await, "010101").is_some_and(|c| c["own"] == false && c["name"] == "寿光蔬菜")
    );
    let js_list = list(&app, &js.admin).await;
    assert_eq!(js_list.iter().filter(|c| c["code"] == "010101").count(), 1);
    assert!(by_code(&js_list, "010101").is_some_and(|c| c["own"] == true && c["id"] == js_veg["id"]));
    // The sibling's category of the same code is not "in use" by 山东省's, and is deleted alone.
    let res = js
        .admin
        .delete(app.url(&format!("/api/v1/catalogue/{}", js_veg["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(by_code(&list(&app, &sd.admin).await, "010101").is_some_and(|c| c["name"] == "寿光蔬菜"));
    // Nobody but 山东省 changes it, nor hangs categories below it.
    let denied = app.audit_rows("access.denied").await;
    let res = js.admin.delete(app.url(&format!("/api/v1/catalogue/{sd_cat}"))).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res = jn
        .admin
        .put(app.url(&format!("/api/v1/catalogue/{sd_cat}")))
        .json(&json!({"name": "改名", "parent_id": veg_id, "code": "010101"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a child cannot change its parent's category");
    assert_eq!(app.audit_rows("access.denied").await, denied + 2);
    let res = jn
        .admin
        .post(app.url("/api/v1/catalogue"))
        .json(&json!({"parent_id": sd_cat, "code": "01010101", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["rule"], "not_allowed");

    // The tenant chooses what it traces; another tenant's category is refused by index.
    let js_cat: serde_json::Value = js
        .admin
        .post(app.url("/api/v1/catalogue"))
        .json(&json!({"parent_id": food_id, "code": "0207", "name": "江苏特色食品"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = sd
        .admin
        .put(app.url("/api/v1/catalogue/selection"))
        .json(&json!({"category_ids": [veg_id, js_cat["id"]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await["errors"][0]["field"], "category_ids[1]");
    let res = sd
        .admin
        .put(app.url("/api/v1/catalogue/selection"))
        .json(&json!({"category_ids": [veg_id, sd_cat]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mine = list(&app, &sd.admin).await;
    assert_eq!(by_code(&mine, "010101").unwrap()["selected"], true);
    assert_eq!(by_code(&mine, "0102").unwrap()["selected"], false);

    // What is in use is neither moved nor deleted; a rename is fine.
    let res = sd.admin.delete(app.url(&format!("/api/v1/catalogue/{sd_cat}"))).send().await.unwrap();
    assert_eq!(res.status(), 409);
    assert!(problem(res).await["detail"].as_str().unwrap().contains("已被单位选用"));
    let url = app.url(&format!("/api/v1/catalogue/{sd_cat}"));
    let res = sd
        .admin
        .put(&url)
        .json(&json!({"name": "寿光蔬菜", "parent_id": veg_id, "code": "010109"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409, "moving a category in use");
    let res = sd
        .admin
        .put(&url)
        .json(&json!({"name": "寿光设施蔬菜", "parent_id": veg_id, "code": "010101"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = national.delete(app.url(&format!("/api/v1/catalogue/{veg_id}"))).send().await.unwrap();
    assert_eq!(res.status(), 409, "a national category with sub-categories stays");

    // Released, it can go.
    let res =
        sd.admin.put(app.url("/api/v1/catalogue/selection")).json(&json!({"category_ids": []})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(sd.admin.delete(&url).send().await.unwrap().status(), 204);
    assert_eq!(app.audit_rows("catalogue.create").await, 4);
    assert_eq!(app.audit_rows("catalogue.delete").await, 2);
}

#[tokio::test]
async fn viewers_read_the_catalogue_and_only_managers_change_it() {
    let app = spawn_app().await;
    let national = app.national_admin().await;
    let sd = app.onboard(&national, "370000", "山东省").await;
    let (_, viewer) = app.user_with_roles(&sd.admin, "sd_viewer", &["viewer"]).await;
    let all = list(&app, &viewer).await;
    assert!(all.len() > 40);
    let veg = by_code(&all, "0101").unwrap()["id"].clone();
    let before = app.write_counts().await;
    let res = viewer
        .post(app.url("/api/v1/catalogue"))
        .json(&json!({"parent_id": veg, "code": "010101", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res =
        viewer.put(app.url("/api/v1/catalogue/selection")).json(&json!({"category_ids": [veg]})).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.write_counts().await, before);
}

/// The migration to codes per tenant keeps what a deployment holds: categories, and the
/// tenants' choices of them (rebuilding the table on SQLite must not cascade to the choices);
/// afterwards two tenants hold one code, one tenant still cannot hold it twice.
#[tokio::test]
async fn the_per_tenant_codes_migration_keeps_categories_and_choices() {
    use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, Set, Statement};
    use suyuan_migrations::{Migrator, MigratorTrait};

    let test_db = suyuan_tests::TestDb::new().await;
    let url =
        if test_db.url.starts_with("sqlite:") { format!("{}?mode=rwc", test_db.url) } else { test_db.url.clone() };
    let db = Database::connect(&url).await.unwrap();
    let at = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261207_000010_catalogue_codes_per_tenant")
        .expect("the migration is registered");
    Migrator::up(&db, Some(u32::try_from(at).unwrap())).await.unwrap();

    let now = chrono::Utc::now();
    let tenant = |id: uuid::Uuid, code: &str, path: String| suyuan_tenancy::entity::tenant::ActiveModel {
        id: Set(id),
        code: Set(code.to_owned()),
        name: Set(code.to_owned()),
        level: Set("province".to_owned()),
        parent_id: Set(None),
        path: Set(path),
        status: Set("active".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        contact_name: Set(None),
        contact_phone: Set(None),
        contact_email: Set(None),
        modules: Set("[]".to_owned()),
        federation_parent_url: Set(None),
        longitude: Set(None),
        latitude: Set(None),
    };
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    tenant(a, "370000", format!("/{a}/")).insert(&db).await.unwrap();
    tenant(b, "320000", format!("/{b}/")).insert(&db).await.unwrap();
    let backend = db.get_database_backend();
    let insert_category = |id: uuid::Uuid, owner: uuid::Uuid, code: &str| {
        Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DbBackend::Postgres => {
                    "INSERT INTO product_categories (id, tenant_id, parent_id, code, name, depth, created_at, updated_at) \
                     VALUES ($1, $2, NULL, $3, 'x', 1, $4, $4)"
                }
                _ => {
                    "INSERT INTO product_categories (id, tenant_id, parent_id, code, name, depth, created_at, updated_at) \
                     VALUES (?, ?, NULL, ?, 'x', 1, ?, ?)"
                }
            },
            match backend {
                sea_orm::DbBackend::Postgres => vec![id.into(), owner.into(), code.into(), now.into()],
                _ => vec![id.into(), owner.into(), code.into(), now.into(), now.into()],
            },
        )
    };
    let cat = uuid::Uuid::now_v7();
    db.execute_raw(insert_category(cat, a, "99")).await.unwrap();
    db.execute_raw(insert_category(uuid::Uuid::now_v7(), b, "99")).await.expect_err("one namespace before");
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        match backend {
            sea_orm::DbBackend::Postgres => "INSERT INTO tenant_categories (tenant_id, category_id) VALUES ($1, $2)",
            _ => "INSERT INTO tenant_categories (tenant_id, category_id) VALUES (?, ?)",
        },
        vec![a.into(), cat.into()],
    ))
    .await
    .unwrap();

    Migrator::up(&db, None).await.unwrap();
    let count = |sql: &'static str| {
        let db = &db;
        async move {
            db.query_one_raw(Statement::from_string(backend, sql))
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index::<i64>(0)
                .unwrap()
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM tenant_categories").await, 1, "the tenant's choice survived");
    assert_eq!(count("SELECT COUNT(*) FROM product_categories").await, 1);
    db.execute_raw(insert_category(uuid::Uuid::now_v7(), b, "99")).await.expect("a second tenant holds the code");
    db.execute_raw(insert_category(uuid::Uuid::now_v7(), a, "99")).await.expect_err("one tenant holds a code once");
    // A chosen category still cannot be deleted under its tenants (the foreign key came back).
    let delete = match backend {
        sea_orm::DbBackend::Postgres => "DELETE FROM product_categories WHERE id = $1",
        _ => "DELETE FROM product_categories WHERE id = ?",
    };
    db.execute_raw(Statement::from_sql_and_values(backend, delete, vec![cat.into()]))
        .await
        .expect_err("the choice holds its category");
    assert_eq!(count("SELECT COUNT(*) FROM tenant_categories").await, 1);
    db.close().await.ok();
}
