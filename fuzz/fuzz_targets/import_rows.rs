//! Import files (`subjects::import::read_table`, `trace::records_from_file`): the first byte
//! picks CSV or XLSX and the kind of file, the rest is the file. No file panics; a refused file
//! is a 422 naming `file`; every row read keeps only the columns asked for; a trace file's rows
//! become JSON objects that the ingest reads or refuses with a client error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use suyuan_platform::modules::subjects::export::columns;
use suyuan_platform::modules::subjects::import::{MAX_IMPORT_ROWS, read_table};
use suyuan_platform::modules::subjects::workflow::Kind;
use suyuan_platform::modules::trace::{self, service::RecordSource};

fn refused_on_file(e: &suyuan_platform::error::ApiError) {
    assert_eq!(e.http_status().as_u16(), 422, "{e}");
    let fields: Vec<&str> = e.field_errors().iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["file"], "{e}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, file)) = data.split_first() else { return };
    let xlsx = which & 1 == 1;
    match (which >> 1) % 4 {
        3 => match trace::records_from_file(file, xlsx) {
            Ok((lines, records)) => {
                assert_eq!(lines.len(), records.len());
                assert!(lines.windows(2).all(|w| w[0] < w[1]), "row numbers grow");
                for r in records {
                    assert!(r.is_object());
                    if let Err(e) = r.read() {
                        assert!(!e.rule.is_empty() && !e.message.is_empty(), "{e:?}");
                    }
                }
            }
            Err(e) => refused_on_file(&e),
        },
        k => {
            let kind = [Kind::Enterprise, Kind::Merchant, Kind::Product][usize::from(k)];
            let cols = columns(kind);
            // No column required: every file with a header row reads.
            match read_table(cols, &[], file, xlsx, MAX_IMPORT_ROWS) {
                Ok(sheet) => {
                    for (n, row) in &sheet.rows {
                        assert!(*n >= 2, "data rows follow the header");
                        assert!(row.keys().all(|k| cols.iter().any(|(c, _)| c == k)));
                        assert!(row.values().all(|v| v.trim() == v), "cells are trimmed");
                    }
                }
                Err(e) => refused_on_file(&e),
            }
        }
    }
});
