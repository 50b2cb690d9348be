//! How one deployment proves to another that a request is from the child it claims to be.
//!
//! The parent issues the child a credential: a key id and a secret. The child signs every
//! request: `hex(HMAC-SHA256(secret, "{timestamp}\n{body}"))` with the Unix timestamp in
//! seconds, sent as the headers [`KEY_HEADER`], [`TIMESTAMP_HEADER`] and
//! [`SIGNATURE_HEADER`]. The parent refuses a request whose signature does not match, whose
//! timestamp is further than [`WINDOW_SECS`] from its clock, or whose signature it has seen
//! before (the caller keeps the signatures of the window: that is the replay protection).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The credential's key id.
pub const KEY_HEADER: &str = "x-suyuan-federation-key";
/// Unix seconds when the request was signed.
pub const TIMESTAMP_HEADER: &str = "x-suyuan-timestamp";
/// `hex(HMAC-SHA256(secret, timestamp + "\n" + body))`.
pub const SIGNATURE_HEADER: &str = "x-suyuan-signature";
/// How far a request's timestamp may be from the parent's clock, either way.
pub const WINDOW_SECS: i64 = 300;

/// Why a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The timestamp is not a number.
    #[error("时间戳格式不对")]
    BadTimestamp,
    /// Too old or too far ahead.
    #[error("请求时间超出允许范围（±{WINDOW_SECS} 秒）")]
    OutsideWindow,
    /// Not hex, or not the HMAC of this body with this secret.
    #[error("签名不正确")]
    BadSignature,
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { unreachable_key() };
    mac.update(timestamp.as_bytes());
    mac.update(b"\n");
    mac.update(body);
    mac
}

#[cold]
fn unreachable_key() -> ! {
    // HMAC accepts keys of every length; this is never reached.
    panic!("HMAC refused a key")
}

/// The signature of `body` at `timestamp` (Unix seconds, as sent in the header).
#[must_use]
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

/// The request's time (Unix seconds) when it lies within [`WINDOW_SECS`] of `now`: checked
/// before the body is read, so a stale request costs nothing.
///
/// # Errors
/// A timestamp that is not a number, or outside the window.
pub fn fresh(timestamp: &str, now: i64) -> Result<i64, SignError> {
    let at: i64 = timestamp.trim().parse().map_err(|_| SignError::BadTimestamp)?;
    if (now - at).abs() > WINDOW_SECS {
        return Err(SignError::OutsideWindow);
    }
    Ok(at)
}

/// Checks a request: the timestamp within the window of `now` (Unix seconds) and the
/// signature, compared in constant time. Whether the signature was seen before is the
/// caller's check.
///
/// # Errors
/// The reason the request is refused.
pub fn verify(secret: &[u8], timestamp: &str, body: &[u8], signature: &str, now: i64) -> Result<(), SignError> {
    fresh(timestamp, now)?;
    let given = hex::decode(signature.trim()).map_err(|_| SignError::BadSignature)?;
    mac(secret, timestamp, body).verify_slice(&given).map_err(|_| SignError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_its_body_and_time_only() {
        let s = sign(b"secret", "1700000000", b"{\"a\":1}");
        assert_eq!(verify(b"secret", "1700000000", b"{\"a\":1}", &s, 1_700_000_100), Ok(()));
        assert_eq!(verify(b"other", "1700000000", b"{\"a\":1}", &s, 1_700_000_100), Err(SignError::BadSignature));
        assert_eq!(verify(b"secret", "1700000000", b"{\"a\":2}", &s, 1_700_000_100), Err(SignError::BadSignature));
        assert_eq!(verify(b"secret", "1700000001", b"{\"a\":1}", &s, 1_700_000_100), Err(SignError::BadSignature));
        assert_eq!(verify(b"secret", "1700000000", b"{\"a\":1}", &s, 1_700_000_301), Err(SignError::OutsideWindow));
        assert_eq!(verify(b"secret", "soon", b"{\"a\":1}", &s, 1_700_000_000), Err(SignError::BadTimestamp));
        assert_eq!(verify(b"secret", "1700000000", b"{\"a\":1}", "zz", 1_700_000_000), Err(SignError::BadSignature));
    }

    #[test]
    fn known_answer() {
        // RFC 4231, test case 2: the primitive under our framing is HMAC-SHA256 itself.
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(b"Jefe") else { unreachable_key() };
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
