//! JSON request bodies: the first byte picks a request type, the rest is the body. No body
//! panics; a body serde refuses becomes a 400 (syntax) or 422 (data) problem; a trace-record
//! batch is read record by record as the ingest route reads it: a record that cannot be read is
//! named with its field and position, and every record that reads is run through the record
//! checks that need no database — which must refuse it (no subject is filed here) and name only
//! fields of that record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use suyuan_platform::error::{from_serde_json, json_body_error};
use suyuan_platform::modules::{admin, federation, identity, products, subjects, trace};
use trace::service::RecordSource;

/// Reads `body` as `T`; a refusal must be a client error.
fn read<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    match serde_json::from_slice::<T>(body) {
        Ok(v) => Some(v),
        Err(e) => {
            let status = from_serde_json(&e).http_status().as_u16();
            assert!(status == 400 || status == 422, "{status} for {e}");
            None
        }
    }
}

fn records(body: &[u8]) {
    let req: trace::dto::IngestRequest<'_> = match serde_json::from_slice(body) {
        Ok(req) => req,
        Err(e) => {
            let status = json_body_error::<trace::dto::IngestRequest<'_>>(body, &e).http_status().as_u16();
            assert!(status == 400 || status == 422, "{status} for {e}");
            return;
        }
    };
    let now = chrono::Utc::now();
    let lines = trace::service::Lines::new(body);
    for raw in req.events {
        match (trace::service::InBody { raw, lines: &lines }).read() {
            Ok(record) => {
                let errors = trace::service::check_alone(&record, now);
                assert!(!errors.is_empty(), "a record of an unfiled subject passed");
                for e in &errors {
                    assert!(e.field.starts_with("events[0]."), "{}", e.field);
                }
            }
            // A record that cannot be read is named by its field and where it stopped.
            Err(e) => assert!(!e.rule.is_empty() && !e.message.is_empty(), "{e:?}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    match which % 16 {
        0..=5 => records(body),
        6 => drop(read::<subjects::dto::EnterpriseRequest>(body)),
        7 => drop(read::<subjects::dto::MerchantRequest>(body)),
        8 => drop(read::<subjects::dto::ProductRequest>(body)),
        9 => drop(read::<trace::dto::IssueCodesRequest>(body)),
        10 => drop(read::<admin::dto::CreateTenantRequest>(body)),
        11 => drop(read::<admin::dto::CreateApiKeyRequest>(body)),
        12 => drop(read::<admin::dto::TenantApplicationRequest>(body)),
        13 => drop(read::<identity::dto::LoginRequest>(body)),
        14 => drop(read::<products::dto::CreateCategoryRequest>(body)),
        _ => drop(read::<federation::dto::UpstreamRequest>(body)),
    }
});
