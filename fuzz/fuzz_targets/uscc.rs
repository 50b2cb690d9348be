//! Unified social credit codes (`subjects::uscc`): no input panics; an accepted code is the
//! normalised 18-character code, accepted again as it is, and its check character recomputes;
//! any 17 characters of the code's set with a division code there, given their check
//! character, are accepted, and any other last character refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use suyuan_platform::modules::subjects::uscc::{UsccError, check_character, parse};

const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    if let Ok(code) = parse(&input) {
        assert_eq!(code.len(), 18, "{input:?}");
        assert_eq!(code, input.trim().to_ascii_uppercase());
        assert_eq!(parse(&code), Ok(code.clone()), "an accepted code is accepted again");
        let check = check_character(&code[..17]).expect("accepted characters");
        assert!(code.ends_with(check), "the check character recomputes for {code}");
    }
    // The bytes as 17 characters of the set (positions 3–8 digits) and their check character.
    if data.len() >= 17 {
        let body: String = data[..17]
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let set: &[u8] = if (2..8).contains(&i) { &CHARSET[..10] } else { CHARSET };
                char::from(set[usize::from(*b) % set.len()])
            })
            .collect();
        let check = check_character(&body).expect("characters of the set");
        let code = format!("{body}{check}");
        assert_eq!(parse(&code), Ok(code.clone()), "a code with its check character is accepted");
        assert_eq!(parse(&code.to_ascii_lowercase()), Ok(code.clone()), "lower case is normalised");
        for other in CHARSET.iter().map(|b| char::from(*b)).filter(|c| *c != check) {
            assert_eq!(parse(&format!("{body}{other}")), Err(UsccError::Check(check)));
        }
    }
});
