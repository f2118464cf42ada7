//! Hashing several values into one fingerprint.
//!
//! Two hashes, for two jobs: SHA-256 for digests the database keeps
//! (idempotency keys), and BLAKE3 for the token fingerprint that every
//! authenticated request computes. Inside a component both run as portable
//! code, where BLAKE3 is about three times faster than SHA-256, and
//! equally collision-resistant for this use.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// SHA-256 (hex) of `parts`, each prefixed with its length.
pub fn sha256_parts(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    feed(parts, |bytes| hasher.update(bytes));
    hex(&hasher.finalize())
}

/// A BLAKE3 digest of several parts, compared in constant time: it stands
/// for a secret (the token it was computed from), so a comparison must not
/// reveal how many leading bytes matched.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `parts`, each prefixed with its length.
    pub fn of(parts: &[&[u8]]) -> Self {
        let mut hasher = blake3::Hasher::new();
        feed(parts, |bytes| {
            hasher.update(bytes);
        });
        Self(*hasher.finalize().as_bytes())
    }
}

impl PartialEq for Fingerprint {
    fn eq(&self, other: &Self) -> bool {
        // blake3::Hash's equality is constant-time.
        blake3::Hash::from_bytes(self.0) == blake3::Hash::from_bytes(other.0)
    }
}

impl Eq for Fingerprint {}

/// Whether a presented secret equals the configured one, in a time that
/// tells an attacker neither how much matched nor how long the secret is:
/// both are reduced to fixed-length fingerprints, compared in constant
/// time.
pub fn secrets_match(presented: &str, expected: &str) -> bool {
    Fingerprint::of(&[presented.as_bytes()]) == Fingerprint::of(&[expected.as_bytes()])
}

/// Hands `parts` to `update`, each prefixed with its length so that
/// `["ab", "c"]` and `["a", "bc"]` differ.
fn feed(parts: &[&[u8]], mut update: impl FnMut(&[u8])) {
    for part in parts {
        update(&(part.len() as u64).to_le_bytes());
        update(part);
    }
}

/// Lower-case hex of `bytes`, without a formatting call per byte (this runs
/// on every authenticated request).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// A strong HTTP entity tag for a representation: the quoted hex of the
/// first 128 bits of its fingerprint. It depends on the bytes sent and
/// nothing else, so a view never reveals changes to what it does not show
/// (a password change moves the stored row's version, not a public view).
pub fn entity_tag(representation: &[u8]) -> String {
    let Fingerprint(digest) = Fingerprint::of(&[representation]);
    format!("\"{}\"", hex(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(secrets_match("s3cret-token", "s3cret-token"));
        for other in [
            "s3cret-tokeN",
            "s3cret-token ",
            "s3cret",
            "",
            "s3cret-token-longer",
        ] {
            assert!(!secrets_match(other, "s3cret-token"), "{other:?}");
        }
    }

    #[test]
    fn an_entity_tag_depends_only_on_the_representation() {
        let tag = entity_tag(br#"{"id":"u","name":"Ada"}"#);
        assert_eq!(tag, entity_tag(br#"{"id":"u","name":"Ada"}"#));
        assert_ne!(tag, entity_tag(br#"{"id":"u","name":"Ada L."}"#));
        assert_eq!(tag.len(), 34, "32 hex digits in quotes: {tag}");
        assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
        assert!(tag[1..33].bytes().all(|b| b.is_ascii_hexdigit()), "{tag}");
    }

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn part_boundaries_matter() {
        assert_ne!(sha256_parts(&[b"ab", b"c"]), sha256_parts(&[b"a", b"bc"]));
        assert_ne!(
            Fingerprint::of(&[b"ab", b"c"]),
            Fingerprint::of(&[b"a", b"bc"])
        );
        assert_eq!(
            Fingerprint::of(&[b"ab", b"c"]),
            Fingerprint::of(&[b"ab", b"c"])
        );
    }

    #[test]
    fn digests_match_the_published_vectors() {
        // No parts is the empty message.
        assert_eq!(
            sha256_parts(&[]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&Fingerprint::of(&[]).0),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        // One part is its length (little-endian u64) followed by its bytes.
        let mut framed = 3u64.to_le_bytes().to_vec();
        framed.extend_from_slice(b"abc");
        assert_eq!(
            Fingerprint::of(&[b"abc"]).0,
            *blake3::hash(&framed).as_bytes()
        );
    }
}
