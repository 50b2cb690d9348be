//! Platform trace codes and GS1 identifiers (`trace::codes`): no input panics; a platform code
//! that parses is formatted back to the same text, and any subject with any serial formats to
//! a code that parses back to them; a GS1 identifier that parses has a valid GTIN-14 and reads
//! the same written as an element string and as a Digital Link URI.
#![no_main]

use libfuzzer_sys::fuzz_target;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use suyuan_platform::modules::subjects::products::gtin;
use suyuan_platform::modules::subjects::workflow::{Kind, issue_code};
use suyuan_platform::modules::trace::codes::{parse_gs1, parse_platform_code, platform_code};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);

    // Platform codes: parse → format → the same text.
    if let Some((subject, serial)) = parse_platform_code(&input) {
        assert_eq!(platform_code(&subject, serial), input, "round trip");
    }
    // Format → parse, for a subject and serial taken from the bytes.
    if data.len() >= 12 {
        let kind = if data[0] % 2 == 0 { Kind::Enterprise } else { Kind::Merchant };
        let division: String = data[1..7].iter().map(|b| char::from(b'0' + b % 10)).collect();
        let n = u32::from_le_bytes([data[7], data[8], data[9], 0]) % 10_000_000;
        let subject = issue_code(kind, &division, n);
        let serial = i64::from(u32::from_le_bytes([data[8], data[9], data[10], data[11]])) % 10_000_000_000;
        let code = platform_code(&subject, serial);
        assert_eq!(parse_platform_code(&code), Some((subject, serial)), "{code}");
    }

    // GS1: whatever parses reads the same in the other two forms.
    if let Ok(Some(g)) = parse_gs1(&input) {
        assert_eq!(g.gtin.len(), 14);
        assert_eq!(gtin(&g.gtin).as_deref(), Ok(g.gtin.as_str()), "a valid GTIN-14");
        for v in g.lot.iter().chain(&g.serial) {
            assert!(!v.is_empty() && v.chars().count() <= 20, "{v:?}");
        }
        let values_plain = g.lot.iter().chain(&g.serial).all(|v| !v.contains(['(', ')']));
        if values_plain {
            let mut es = format!("(01){}", g.gtin);
            let mut dl = format!("https://id.example.cn/01/{}", g.gtin);
            if let Some(lot) = &g.lot {
                es.push_str(&format!("(10){lot}"));
                dl.push_str(&format!("/10/{}", utf8_percent_encode(lot, NON_ALPHANUMERIC)));
            }
            if let Some(serial) = &g.serial {
                es.push_str(&format!("(21){serial}"));
                dl.push_str(&format!("/21/{}", utf8_percent_encode(serial, NON_ALPHANUMERIC)));
            }
            for again in [parse_gs1(&es), parse_gs1(&dl)] {
                let again = again.unwrap_or_else(|e| panic!("{es} / {dl}: {e}")).expect("GS1");
                assert_eq!((&again.gtin, &again.lot, &again.serial), (&g.gtin, &g.lot, &g.serial), "{es} / {dl}");
            }
        }
    }
});
