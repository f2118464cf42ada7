//! The tests' own RFC 6238 TOTP (HMAC-SHA-1, 6 digits, 30-second steps),
//! written from the RFC and checked against its appendix B vectors, so the
//! codes a test sends never come from the code under test.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// RFC 4226 §5.3: HOTP of `key` at `counter`, `digits` long.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[19] & 0x0f);
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(digits),
        width = digits as usize
    )
}

/// RFC 4648 §6 base32 (upper or lower case, padding optional).
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let value = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .expect("a base32 character") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// The 6-digit code of the base32 `secret` for Unix time `at`.
pub fn code_at(secret: &str, at: u64) -> String {
    hotp(&base32_decode(secret), at / 30, 6)
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The code of `secret` for the step `offset` steps from now (the server
/// accepts one step of drift either way).
pub fn code(secret: &str, offset: i64) -> String {
    let at = now() as i64 + offset * 30;
    code_at(secret, at as u64)
}

/// Waits, when fewer than `needed` seconds are left in the current step,
/// for the next one: a test that sends codes for the steps around now must
/// not see the server's clock cross into another step midway.
pub async fn settle(needed: u64) {
    let left = 30 - now() % 30;
    if left < needed {
        tokio::time::sleep(std::time::Duration::from_secs(left + 1)).await;
    }
}
