//! Cost of the authorization check per request, at 100 and at 10 000 tenants, against a
//! baseline measured in the same run: one in-process actix-web request to a bare handler.
//!
//! `cargo bench -p suyuan_policies --bench authz`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, reason = "benchmark")]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use suyuan_policies::{Authorizer, Scope};

/// Tenant paths of a tree with `n` tenants: national, 34 provinces, then cities and counties.
fn tenant_paths(n: usize) -> Vec<String> {
    let mut paths = vec!["100000/".to_owned()];
    let provinces: Vec<String> = (0..34).map(|p| format!("100000/{:02}0000/", 11 + p)).collect();
    paths.extend(provinces.iter().cloned());
    let mut i = 0usize;
    while paths.len() < n {
        let prov = &provinces[i % provinces.len()];
        let city = format!("{prov}{:02}{:02}00/", 11 + i % 34, 1 + (i / 34) % 99);
        paths.push(city.clone());
        let mut k = 1;
        while paths.len() < n && k <= 8 {
            paths.push(format!("{city}{:02}{:02}{:02}/", 11 + i % 34, 1 + (i / 34) % 99, k));
            k += 1;
        }
        i += 1;
    }
    paths.truncate(n);
    paths
}

/// One request's check: scope from the tenant tree, then casbin over the caller's roles.
fn check(a: &Authorizer, roles: &[String], actor: &str, target: &str, resource: &str, action: &str) -> bool {
    match Scope::between(actor, target) {
        Some(scope) => a.allows(roles, scope, resource, action).unwrap(),
        None => false,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let authorizer = rt.block_on(Authorizer::builtin()).unwrap();
    let roles: Vec<String> =
        ["security_admin", "system_admin", "tenant_admin"].iter().map(|s| (*s).to_owned()).collect();
    let mut group = c.benchmark_group("authz_check");
    for n in [100usize, 10_000] {
        let paths = tenant_paths(n);
        // A fixed, varied sequence of requests as they would come: each caller acts on its own
        // tenant or one below it (so casbin is asked every time; a sibling is refused before
        // casbin and would make the check look cheaper than it is).
        let requests: Vec<(String, usize, &str, &str)> = (0..4096)
            .map(|i| {
                let target = (i * 104_729) % n;
                // Half the calls act on their own tenant, half on a tenant below (from the top).
                let target = if target == 0 { 1 } else { target };
                let actor = if i % 2 == 0 { paths[target].clone() } else { paths[0].clone() };
                let (res, act) = [("tenant", "read"), ("user", "update"), ("rollup", "read"), ("audit", "read")][i % 4];
                (actor, target, res, act)
            })
            .collect();
        group.bench_with_input(BenchmarkId::new("tenants", n), &requests, |b, reqs| {
            let mut i = 0usize;
            b.iter(|| {
                let (actor, t, res, act) = &reqs[i % reqs.len()];
                i += 1;
                black_box(check(&authorizer, &roles, actor, &paths[*t], res, act))
            });
        });
    }
    group.finish();

    // Baseline: one request through actix-web's service stack to a handler returning a
    // constant JSON body, in-process (no socket), on the same machine in the same run.
    let mut base = c.benchmark_group("baseline");
    let app =
        rt.block_on(actix_web::test::init_service(actix_web::App::new().route(
            "/bare",
            actix_web::web::get().to(|| async { actix_web::HttpResponse::Ok().json(serde_json_like()) }),
        )));
    base.bench_function("bare_actix_request", |b| {
        b.iter(|| {
            rt.block_on(async {
                let req = actix_web::test::TestRequest::get().uri("/bare").to_request();
                black_box(actix_web::test::call_service(&app, req).await.status())
            })
        });
    });
    base.finish();
}

fn serde_json_like() -> &'static str {
    "ok"
}

criterion_group!(benches, bench);
criterion_main!(benches);
