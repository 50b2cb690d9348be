//! The unified social credit code (统一社会信用代码) of GB 32100-2015: 18 characters — the
//! registration authority, the entity type, the 6-digit division code of the registration
//! place, the 9-character organisation code and a check character — from the 31 characters
//! `0-9 A-H J-N P-R T-U W-Y` (no I, O, S, V, Z).

/// The characters of the code, in value order (0 … 30).
const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// The weight of position i (from 0) is 3^i mod 31.
const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// Why a code is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    /// Not 18 characters.
    #[error("统一社会信用代码应为 18 位")]
    Length,
    /// A character outside the code's set (I, O, S, V, Z, lower-case, punctuation …).
    #[error("统一社会信用代码第 {0} 位“{1}”不是有效字符（不使用 I、O、S、V、Z）")]
    Character(usize, char),
    /// The 7th–8th … digits are not a division code.
    #[error("统一社会信用代码第 3–8 位应为行政区划代码")]
    Division,
    /// The check character does not match.
    #[error("统一社会信用代码校验位错误：应为 {0}")]
    Check(char),
}

fn value(c: u8) -> Option<u32> {
    CHARSET.iter().position(|&x| x == c).and_then(|p| u32::try_from(p).ok())
}

/// The check character of the first 17 characters.
///
/// # Errors
/// [`UsccError::Character`] for a character outside the set.
pub fn check_character(first17: &str) -> Result<char, UsccError> {
    let mut sum = 0;
    for (i, (c, w)) in first17.bytes().zip(WEIGHTS).enumerate() {
        let v = value(c).ok_or_else(|| UsccError::Character(i + 1, char::from(c)))?;
        sum += v * w;
    }
    let c = (31 - sum % 31) % 31;
    Ok(char::from(CHARSET[usize::try_from(c).unwrap_or(0)]))
}

/// Checks a code: length, characters, the division digits and the check character. Leading
/// and trailing spaces and lower case are accepted and normalised.
///
/// # Errors
/// The first problem found.
pub fn parse(input: &str) -> Result<String, UsccError> {
    let code = input.trim().to_ascii_uppercase();
    if code.len() != 18 || !code.is_ascii() {
        return Err(UsccError::Length);
    }
    if !code[2..8].bytes().all(|b| b.is_ascii_digit()) {
        return Err(UsccError::Division);
    }
    let expected = check_character(&code[..17])?;
    let last = code.as_bytes()[17];
    if value(last).is_none() {
        return Err(UsccError::Character(18, char::from(last)));
    }
    if char::from(last) != expected {
        return Err(UsccError::Check(expected));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_codes_pass() {
        // The example of GB 32100-2015 and a listed company's published code.
        assert_eq!(parse("91350100M000100Y43"), Ok("91350100M000100Y43".to_owned()));
        assert_eq!(parse(" 91110108551385082q "), Ok("91110108551385082Q".to_owned()));
    }

    #[test]
    fn every_kind_of_mistake_is_named() {
        assert_eq!(parse("91350100M000100Y4"), Err(UsccError::Length));
        assert_eq!(parse("91350100M000100Y44"), Err(UsccError::Check('3')));
        assert_eq!(parse("91350100I000100Y43"), Err(UsccError::Character(9, 'I')));
        assert_eq!(parse("913501A0M000100Y43"), Err(UsccError::Division));
        assert_eq!(parse("91350100M000100Y4Z"), Err(UsccError::Character(18, 'Z')));
    }

    #[test]
    fn the_weights_are_powers_of_three() {
        let mut w = 1;
        for expected in WEIGHTS {
            assert_eq!(w, expected);
            w = w * 3 % 31;
        }
    }
}
