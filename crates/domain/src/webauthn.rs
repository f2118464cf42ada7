//! Passkeys: the relying party's checks of W3C WebAuthn Level 3 §7.1
//! (registering a new credential) and §7.2 (verifying an authentication
//! assertion), on the bytes the browser returns. CBOR is read with
//! `ciborium`, ES256 verified with RustCrypto's `p256` and EdDSA with
//! `ed25519-compact`: all pure Rust, so the same code runs natively and in
//! `wasm32-wasip2` components.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciborium::Value;
use p256::ecdsa::signature::Verifier as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::digest::Fingerprint;

/// COSE algorithm ES256 (ECDSA over P-256 with SHA-256).
pub const COSE_ES256: i64 = -7;
/// COSE algorithm EdDSA (here: Ed25519).
pub const COSE_EDDSA: i64 = -8;

/// Authenticator data flag bits (WebAuthn L3 §6.1).
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const BACKUP_ELIGIBLE: u8 = 0x08;
const BACKED_UP: u8 = 0x10;
const ATTESTED_CREDENTIAL_DATA: u8 = 0x40;
const EXTENSION_DATA: u8 = 0x80;

/// The relying party: its id (a registrable domain, `webauthn_rp_id`) and
/// the origins its pages are served from (`webauthn_origins`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// The RP ID: what credentials are scoped to.
    pub id: String,
    /// Exact origins (`scheme://host[:port]`) ceremonies may come from.
    pub origins: Vec<String>,
}

/// Why a ceremony's response was refused. The names say which check of
/// §7.1 or §7.2 failed; clients are told only that it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyError {
    /// Not the structure WebAuthn defines (base64url, JSON, CBOR, lengths).
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// `clientData.type` is not this ceremony's.
    #[error("client data type {0:?} is not this ceremony's")]
    WrongType(String),
    /// `clientData.challenge` is not the challenge issued.
    #[error("the challenge is not the one issued")]
    WrongChallenge,
    /// `clientData.origin` is not among the relying party's origins.
    #[error("origin {0:?} is not allowed")]
    WrongOrigin(String),
    /// The request came from a cross-origin iframe.
    #[error("a cross-origin ceremony")]
    CrossOrigin,
    /// `rpIdHash` is not the SHA-256 of the RP ID.
    #[error("the authenticator data is for another relying party")]
    WrongRelyingParty,
    /// The UP flag is not set.
    #[error("the user was not present")]
    UserNotPresent,
    /// The UV flag is not set, and user verification is required.
    #[error("the user was not verified")]
    UserNotVerified,
    /// The credential's algorithm is not ES256 or EdDSA.
    #[error("unsupported credential algorithm {0}")]
    UnsupportedAlgorithm(i64),
    /// An attestation format other than `none`.
    #[error("unsupported attestation format {0:?}")]
    UnsupportedAttestation(String),
    /// The assertion's signature does not verify under the stored key.
    #[error("the signature does not verify")]
    BadSignature,
    /// BE differs from the one registered: not the same credential
    /// source (§7.2 step 19).
    #[error("the backup eligibility changed")]
    BackupEligibilityChanged,
    /// The signature counter did not move forward: a cloned authenticator
    /// may be in use (§7.2 step 22).
    #[error("the signature counter went from {stored} to {presented}")]
    CounterRegressed {
        /// The counter stored for the credential.
        stored: u32,
        /// The counter the assertion carries.
        presented: u32,
    },
}

/// The parts of `CollectedClientData` (§5.8.1) the checks read.
#[derive(Deserialize)]
struct ClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
    #[serde(rename = "crossOrigin", default)]
    cross_origin: bool,
}

/// Parsed authenticator data (§6.1).
struct AuthenticatorData<'a> {
    rp_id_hash: &'a [u8],
    flags: u8,
    sign_count: u32,
    /// Present when the AT flag is set (registration).
    attested: Option<AttestedCredential>,
}

/// Attested credential data (§6.5.2).
struct AttestedCredential {
    aaguid: [u8; 16],
    id: Vec<u8>,
    /// The COSE_Key, as the authenticator encoded it.
    public_key: Vec<u8>,
}

/// What the authenticator said about the user and the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatorFlags {
    /// UV: the user was verified (biometrics, PIN).
    pub user_verified: bool,
    /// BE: the credential may be synced to other devices.
    pub backup_eligible: bool,
    /// BS: the credential is backed up (synced) now.
    pub backed_up: bool,
}

/// A credential that passed registration, to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    /// The credential id.
    pub id: Vec<u8>,
    /// Its COSE public key, as the authenticator encoded it.
    pub public_key: Vec<u8>,
    /// Its COSE algorithm ([`COSE_ES256`] or [`COSE_EDDSA`]).
    pub algorithm: i64,
    /// The signature counter at registration.
    pub sign_count: u32,
    /// The authenticator model (all zeros when not attested).
    pub aaguid: [u8; 16],
    /// The flags at registration.
    pub flags: AuthenticatorFlags,
}

/// A stored credential, as an assertion is checked against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// Its COSE public key.
    pub public_key: Vec<u8>,
    /// The last signature counter seen.
    pub sign_count: u32,
    /// Whether it was registered as backup eligible (BE), which an
    /// authenticator never changes.
    pub backup_eligible: bool,
}

/// An assertion as the browser returns it (`AuthenticatorAssertionResponse`).
#[derive(Debug, Clone, Copy)]
pub struct Assertion<'a> {
    /// `clientDataJSON`.
    pub client_data_json: &'a [u8],
    /// `authenticatorData`.
    pub authenticator_data: &'a [u8],
    /// `signature`.
    pub signature: &'a [u8],
}

/// An assertion that passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The counter to store.
    pub sign_count: u32,
    /// The flags it carried.
    pub flags: AuthenticatorFlags,
}

/// Decodes base64url without padding, as WebAuthn JSON carries binary.
pub fn base64url(text: &str) -> Result<Vec<u8>, PasskeyError> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| PasskeyError::Malformed("not base64url"))
}

/// The challenge a response's `clientDataJSON` answers, as sent
/// (base64url): what finds the challenge that was issued, before anything
/// is verified.
pub fn challenge_of(client_data_json: &[u8]) -> Result<String, PasskeyError> {
    let data: ClientData = serde_json::from_slice(client_data_json)
        .map_err(|_| PasskeyError::Malformed("clientDataJSON"))?;
    Ok(data.challenge)
}

impl RelyingParty {
    /// §7.1 steps 5–12 and §7.2 steps 10–16: the client data of a
    /// ceremony of `kind` answering `challenge`.
    fn check_client_data(
        &self,
        client_data_json: &[u8],
        kind: &str,
        challenge: &[u8],
    ) -> Result<(), PasskeyError> {
        let data: ClientData = serde_json::from_slice(client_data_json)
            .map_err(|_| PasskeyError::Malformed("clientDataJSON"))?;
        if data.kind != kind {
            return Err(PasskeyError::WrongType(data.kind));
        }
        let presented = base64url(&data.challenge)?;
        // Compared as digests, so the time taken says nothing of where the
        // bytes differ.
        if Fingerprint::of(&[&presented]) != Fingerprint::of(&[challenge]) {
            return Err(PasskeyError::WrongChallenge);
        }
        if !self.origins.contains(&data.origin) {
            return Err(PasskeyError::WrongOrigin(data.origin));
        }
        if data.cross_origin {
            return Err(PasskeyError::CrossOrigin);
        }
        Ok(())
    }

    /// The checks of authenticator data both ceremonies share: the RP ID
    /// hash, and UP and UV set (user verification is required).
    fn check_authenticator_data(&self, data: &AuthenticatorData<'_>) -> Result<(), PasskeyError> {
        let expected = Sha256::digest(self.id.as_bytes());
        if data.rp_id_hash != expected.as_slice() {
            return Err(PasskeyError::WrongRelyingParty);
        }
        if data.flags & USER_PRESENT == 0 {
            return Err(PasskeyError::UserNotPresent);
        }
        if data.flags & USER_VERIFIED == 0 {
            return Err(PasskeyError::UserNotVerified);
        }
        Ok(())
    }

    /// §7.1: verifies a registration (`navigator.credentials.create()`)
    /// answering `challenge`, with attestation format `none`, and returns
    /// the credential to store.
    pub fn verify_registration(
        &self,
        challenge: &[u8],
        client_data_json: &[u8],
        attestation_object: &[u8],
    ) -> Result<NewCredential, PasskeyError> {
        self.check_client_data(client_data_json, "webauthn.create", challenge)?;
        let attestation: Value = ciborium::from_reader(attestation_object)
            .map_err(|_| PasskeyError::Malformed("attestationObject is not CBOR"))?;
        let format = text_entry(&attestation, "fmt")?;
        let statement = entry(&attestation, "attStmt")?;
        // §8.7: `none` carries an empty statement.
        if format != "none" || !matches!(statement, Value::Map(m) if m.is_empty()) {
            return Err(PasskeyError::UnsupportedAttestation(format.to_owned()));
        }
        let auth_data = match entry(&attestation, "authData")? {
            Value::Bytes(bytes) => bytes.as_slice(),
            _ => return Err(PasskeyError::Malformed("authData is not bytes")),
        };
        let data = parse_authenticator_data(auth_data)?;
        self.check_authenticator_data(&data)?;
        let attested = data
            .attested
            .ok_or(PasskeyError::Malformed("no attested credential data"))?;
        let algorithm = CoseKey::parse(&attested.public_key)?.algorithm();
        Ok(NewCredential {
            id: attested.id,
            public_key: attested.public_key,
            algorithm,
            sign_count: data.sign_count,
            aaguid: attested.aaguid,
            flags: flags(data.flags),
        })
    }

    /// §7.2: verifies `assertion` (`navigator.credentials.get()`)
    /// answering `challenge` against `stored`, its counter included.
    pub fn verify_assertion(
        &self,
        challenge: &[u8],
        stored: &StoredCredential,
        assertion: Assertion<'_>,
    ) -> Result<VerifiedAssertion, PasskeyError> {
        self.check_client_data(assertion.client_data_json, "webauthn.get", challenge)?;
        let data = parse_authenticator_data(assertion.authenticator_data)?;
        self.check_authenticator_data(&data)?;
        let mut signed = assertion.authenticator_data.to_vec();
        signed.extend_from_slice(&Sha256::digest(assertion.client_data_json));
        CoseKey::parse(&stored.public_key)?.verify(&signed, assertion.signature)?;
        let flags = flags(data.flags);
        if flags.backup_eligible != stored.backup_eligible {
            return Err(PasskeyError::BackupEligibilityChanged);
        }
        // Step 22: a counter that does not grow, where either side has
        // one, may be a clone. Authenticators without one send 0 always.
        if (data.sign_count != 0 || stored.sign_count != 0) && data.sign_count <= stored.sign_count
        {
            return Err(PasskeyError::CounterRegressed {
                stored: stored.sign_count,
                presented: data.sign_count,
            });
        }
        Ok(VerifiedAssertion {
            sign_count: data.sign_count,
            flags,
        })
    }
}

fn flags(bits: u8) -> AuthenticatorFlags {
    AuthenticatorFlags {
        user_verified: bits & USER_VERIFIED != 0,
        backup_eligible: bits & BACKUP_ELIGIBLE != 0,
        backed_up: bits & BACKED_UP != 0,
    }
}

/// The value under text key `key` of a CBOR map.
fn entry<'a>(map: &'a Value, key: &'static str) -> Result<&'a Value, PasskeyError> {
    map.as_map()
        .and_then(|entries| {
            entries
                .iter()
                .find(|(k, _)| k.as_text() == Some(key))
                .map(|(_, v)| v)
        })
        .ok_or(PasskeyError::Malformed(key))
}

fn text_entry<'a>(map: &'a Value, key: &'static str) -> Result<&'a str, PasskeyError> {
    entry(map, key)?
        .as_text()
        .ok_or(PasskeyError::Malformed(key))
}

/// §6.1: rpIdHash (32), flags (1), signCount (4, big-endian), then the
/// attested credential data when AT is set, then extensions when ED is.
fn parse_authenticator_data(bytes: &[u8]) -> Result<AuthenticatorData<'_>, PasskeyError> {
    const SHORT: PasskeyError = PasskeyError::Malformed("authenticator data is too short");
    if bytes.len() < 37 {
        return Err(SHORT);
    }
    let flags = bytes[32];
    let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
    let mut rest = &bytes[37..];
    let attested = if flags & ATTESTED_CREDENTIAL_DATA != 0 {
        if rest.len() < 18 {
            return Err(SHORT);
        }
        let mut aaguid = [0u8; 16];
        aaguid.copy_from_slice(&rest[..16]);
        let id_len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        rest = &rest[18..];
        if rest.len() < id_len {
            return Err(SHORT);
        }
        let id = rest[..id_len].to_vec();
        rest = &rest[id_len..];
        // The COSE key is one CBOR item: its length is what decoding it
        // consumed.
        let mut reader = rest;
        let _: Value = ciborium::from_reader(&mut reader)
            .map_err(|_| PasskeyError::Malformed("credential public key is not CBOR"))?;
        let key_len = rest.len() - reader.len();
        let public_key = rest[..key_len].to_vec();
        rest = &rest[key_len..];
        Some(AttestedCredential {
            aaguid,
            id,
            public_key,
        })
    } else {
        None
    };
    if flags & EXTENSION_DATA != 0 {
        let mut reader = rest;
        let _: Value = ciborium::from_reader(&mut reader)
            .map_err(|_| PasskeyError::Malformed("extensions are not CBOR"))?;
        rest = reader;
    }
    if !rest.is_empty() {
        return Err(PasskeyError::Malformed(
            "trailing bytes in authenticator data",
        ));
    }
    Ok(AuthenticatorData {
        rp_id_hash: &bytes[..32],
        flags,
        sign_count,
        attested,
    })
}

/// A credential public key (RFC 9053 COSE_Key) of a supported algorithm.
enum CoseKey {
    /// kty EC2 (2), crv P-256 (1), alg ES256: the point, SEC1 uncompressed.
    Es256(p256::ecdsa::VerifyingKey),
    /// kty OKP (1), crv Ed25519 (6), alg EdDSA.
    Ed25519(ed25519_compact::PublicKey),
}

impl CoseKey {
    fn parse(bytes: &[u8]) -> Result<Self, PasskeyError> {
        const BAD: PasskeyError = PasskeyError::Malformed("credential public key");
        let key: Value = ciborium::from_reader(bytes).map_err(|_| BAD)?;
        let entries = key.as_map().ok_or(BAD)?;
        let get = |label: i64| {
            entries
                .iter()
                .find(|(k, _)| k.as_integer().and_then(|k| i64::try_from(k).ok()) == Some(label))
                .map(|(_, v)| v)
        };
        let int = |label: i64| {
            get(label)
                .and_then(Value::as_integer)
                .and_then(|v| i64::try_from(v).ok())
                .ok_or(BAD)
        };
        let bytes_at = |label: i64| get(label).and_then(Value::as_bytes).ok_or(BAD);
        let (kty, alg) = (int(1)?, int(3)?);
        match (kty, alg, int(-1)?) {
            (2, COSE_ES256, 1) => {
                let (x, y) = (bytes_at(-2)?, bytes_at(-3)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(BAD);
                }
                let mut point = vec![0x04];
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map(Self::Es256)
                    .map_err(|_| BAD)
            }
            (1, COSE_EDDSA, 6) => ed25519_compact::PublicKey::from_slice(bytes_at(-2)?)
                .map(Self::Ed25519)
                .map_err(|_| BAD),
            _ => Err(PasskeyError::UnsupportedAlgorithm(alg)),
        }
    }

    fn algorithm(&self) -> i64 {
        match self {
            Self::Es256(_) => COSE_ES256,
            Self::Ed25519(_) => COSE_EDDSA,
        }
    }

    /// Verifies `signature` over `message`: ES256 signatures are ASN.1 DER
    /// (§6.5.5), EdDSA ones raw.
    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), PasskeyError> {
        let verified = match self {
            Self::Es256(key) => p256::ecdsa::Signature::from_der(signature)
                .ok()
                .is_some_and(|sig| key.verify(message, &sig).is_ok()),
            Self::Ed25519(key) => ed25519_compact::Signature::from_slice(signature)
                .ok()
                .is_some_and(|sig| key.verify(message, &sig).is_ok()),
        };
        if verified {
            Ok(())
        } else {
            Err(PasskeyError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    //! Ceremonies recorded from Debian's Chromium with a DevTools virtual
    //! authenticator (CTAP2, resident keys, user verification) on
    //! `http://localhost:33047`, RP ID `localhost`: registration with the
    //! challenge 0x00..0x1f, then two assertions with 0xff..0xe0
    //! (tests/tools/record_webauthn.py records them again).

    use super::*;

    struct Recorded {
        id: &'static str,
        client_data: &'static str,
        attestation: &'static str,
        assertions: [(&'static str, &'static str, &'static str); 2],
    }

    const ES256: Recorded = Recorded {
        id: "vY0t7UD5NNWaArs3X5tNIuYllla6TcRn3B0FI9IAWuM",
        client_data: "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EeEFSRWhNVUZSWVhHQmthR3h3ZEhoOCIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNDciLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
        attestation: "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVikSZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAAQECAwQFBgcIAQIDBAUGBwgAIL2NLe1A-TTVmgK7N1-bTSLmJZZWuk3EZ9wdBSPSAFrjpQECAyYgASFYILFS-rCV5WpLr5wiDQ5TctZeu6UM29ebTRMAOQsqQ7ACIlgg97S1Id8jOxQhMoutt1DZ8qQGc-6FBFCmVGMIZBygjuM",
        assertions: [
            (
                "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiX183OV9QdjYtZmozOXZYMDhfTHg4T191N2V6cjZ1bm81LWJsNU9QaTRlQSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNDciLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
                "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAg",
                "MEQCIE5eyQGzNGJhefetv6UciddK1crl6VdmfY5qULJkzBSIAiBBYIAJpNxOlvMPrvuaubHdUA6vSGkVleO5ZDIXf_SU7A",
            ),
            (
                "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiX183OV9QdjYtZmozOXZYMDhfTHg4T191N2V6cjZ1bm81LWJsNU9QaTRlQSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNDciLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
                "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAw",
                "MEUCIQC_3I5ebcDkmyd5WN_yRXy_YkNx6lCCqzHUbarnYkzYSQIgN2jlr-zQJ23rhr_4pDufqvDb_YExO3U9ok0_NPO_7Ww",
            ),
        ],
    };

    const EDDSA: Recorded = Recorded {
        id: "492x8FP82h3nhpPoABtTec83Kw0fj5UB8ckgfO3T_jc",
        client_data: "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EeEFSRWhNVUZSWVhHQmthR3h3ZEhoOCIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNDciLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
        attestation: "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YViBSZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAAQECAwQFBgcIAQIDBAUGBwgAIOPdsfBT_Nod54aT6AAbU3nPNysNH4-VAfHJIHzt0_43pAEBAycgBiFYIKSJyYH4h_xhFwQV_xo-UTMgjoQu2Xi3O-Kh24LDKcaI",
        assertions: [
            (
                "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiX183OV9QdjYtZmozOXZYMDhfTHg4T191N2V6cjZ1bm81LWJsNU9QaTRlQSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNDciLCJjcm9zc09yaWdpbiI6ZmFsc2UsIm90aGVyX2tleXNfY2FuX2JlX2FkZGVkX2hlcmUiOiJkbyBub3QgY29tcGFyZSBjbGllbnREYXRhSlNPTiBhZ2FpbnN0IGEgdGVtcGxhdGUuIFNlZSBodHRwczovL2dvby5nbC95YWJQZXgifQ",
                "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAg",
                "1L-ts9gOz-gy82Xnke2GlVQk5vsyqenxfXozlL2S1-pE9zOZ-Rn4CvDUaVoyFOHAJwTwsRX66RiXO1vVMWOVCA",
            ),
            (
                "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiX183OV9QdjYtZmozOXZYMDhfTHg4T191N2V6cjZ1bm81LWJsNU9QaTRlQSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNDciLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
                "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAw",
                "LxPdU58F3VD1qL0Ecq_GBvafifk654FlJPD9Evpfwj-TFXU9kW5gc2WP-Blj6tEqH-WMgouJg-jiq90pQl8XDQ",
            ),
        ],
    };

    fn rp() -> RelyingParty {
        RelyingParty {
            id: "localhost".into(),
            origins: vec!["http://localhost:33047".into()],
        }
    }

    fn registration_challenge() -> Vec<u8> {
        (0u8..32).collect()
    }

    fn assertion_challenge() -> Vec<u8> {
        (0u8..32).map(|i| 255 - i).collect()
    }

    fn decode(text: &str) -> Vec<u8> {
        base64url(text).expect("recorded base64url")
    }

    fn register(recorded: &Recorded) -> Result<NewCredential, PasskeyError> {
        rp().verify_registration(
            &registration_challenge(),
            &decode(recorded.client_data),
            &decode(recorded.attestation),
        )
    }

    fn assert_with(
        recorded: &Recorded,
        which: usize,
        stored: &StoredCredential,
    ) -> Result<VerifiedAssertion, PasskeyError> {
        let (client_data, auth_data, signature) = recorded.assertions[which];
        let (client_data, auth_data, signature) =
            (decode(client_data), decode(auth_data), decode(signature));
        rp().verify_assertion(
            &assertion_challenge(),
            stored,
            Assertion {
                client_data_json: &client_data,
                authenticator_data: &auth_data,
                signature: &signature,
            },
        )
    }

    #[test]
    fn a_recorded_es256_registration_and_its_assertions_verify() {
        let credential = register(&ES256).expect("registration verifies");
        assert_eq!(credential.id, decode(ES256.id));
        assert_eq!(credential.algorithm, COSE_ES256);
        assert_eq!(credential.sign_count, 1);
        assert!(credential.flags.user_verified);
        let stored = StoredCredential {
            public_key: credential.public_key.clone(),
            sign_count: credential.sign_count,
            backup_eligible: credential.flags.backup_eligible,
        };
        let first = assert_with(&ES256, 0, &stored).expect("the first assertion verifies");
        assert_eq!(first.sign_count, 2);
        let later = StoredCredential {
            sign_count: first.sign_count,
            ..stored.clone()
        };
        assert_eq!(
            assert_with(&ES256, 1, &later)
                .expect("the second")
                .sign_count,
            3
        );
        // Replayed: the first assertion again, once the counter moved on.
        assert_eq!(
            assert_with(&ES256, 0, &later),
            Err(PasskeyError::CounterRegressed {
                stored: 2,
                presented: 2
            })
        );
    }

    #[test]
    fn a_recorded_eddsa_registration_and_its_assertions_verify() {
        let credential = register(&EDDSA).expect("registration verifies");
        assert_eq!(credential.algorithm, COSE_EDDSA);
        let stored = StoredCredential {
            public_key: credential.public_key.clone(),
            sign_count: credential.sign_count,
            backup_eligible: credential.flags.backup_eligible,
        };
        let first = assert_with(&EDDSA, 0, &stored).expect("the first assertion verifies");
        let later = StoredCredential {
            sign_count: first.sign_count,
            ..stored.clone()
        };
        assert!(assert_with(&EDDSA, 1, &later).is_ok());
        // The ES256 credential's key does not verify the EdDSA assertion.
        let other = StoredCredential {
            public_key: register(&ES256).expect("es256").public_key,
            sign_count: 0,
            backup_eligible: false,
        };
        assert_eq!(
            assert_with(&EDDSA, 0, &other),
            Err(PasskeyError::BadSignature)
        );
    }

    #[test]
    fn registration_checks_type_challenge_origin_and_relying_party() {
        let client_data = decode(ES256.client_data);
        let attestation = decode(ES256.attestation);
        let challenge = registration_challenge();
        let mut other_challenge = challenge.clone();
        other_challenge[0] ^= 1;
        assert_eq!(
            rp().verify_registration(&other_challenge, &client_data, &attestation),
            Err(PasskeyError::WrongChallenge)
        );
        let elsewhere = RelyingParty {
            origins: vec!["https://app.example.com".into()],
            ..rp()
        };
        assert!(matches!(
            elsewhere.verify_registration(&challenge, &client_data, &attestation),
            Err(PasskeyError::WrongOrigin(_))
        ));
        let other_rp = RelyingParty {
            id: "example.com".into(),
            ..rp()
        };
        assert_eq!(
            other_rp.verify_registration(&challenge, &client_data, &attestation),
            Err(PasskeyError::WrongRelyingParty)
        );
        // An assertion's client data cannot finish a registration.
        let get = decode(ES256.assertions[0].0);
        assert!(matches!(
            rp().verify_registration(&assertion_challenge(), &get, &attestation),
            Err(PasskeyError::WrongType(t)) if t == "webauthn.get"
        ));
        // Every truncation of the attestation object is refused, never a panic.
        for cut in 0..attestation.len() {
            assert!(
                rp().verify_registration(&challenge, &client_data, &attestation[..cut])
                    .is_err()
            );
        }
    }

    #[test]
    fn an_assertion_with_a_changed_byte_or_another_key_fails() {
        let credential = register(&ES256).expect("registration");
        let stored = StoredCredential {
            public_key: credential.public_key,
            sign_count: 0,
            backup_eligible: credential.flags.backup_eligible,
        };
        let (client_data, auth_data, signature) = ES256.assertions[0];
        let (client_data, auth_data, signature) =
            (decode(client_data), decode(auth_data), decode(signature));
        let mut flipped = auth_data.clone();
        flipped[36] ^= 0x01;
        assert_eq!(
            rp().verify_assertion(
                &assertion_challenge(),
                &stored,
                Assertion {
                    client_data_json: &client_data,
                    authenticator_data: &flipped,
                    signature: &signature,
                },
            ),
            Err(PasskeyError::BadSignature)
        );
        // Without user verification the flags refuse it before the key is
        // consulted.
        let mut unverified = auth_data.clone();
        unverified[32] &= !USER_VERIFIED;
        assert_eq!(
            rp().verify_assertion(
                &assertion_challenge(),
                &stored,
                Assertion {
                    client_data_json: &client_data,
                    authenticator_data: &unverified,
                    signature: &signature,
                },
            ),
            Err(PasskeyError::UserNotVerified)
        );
        // A credential registered with the other backup eligibility is
        // not this one's source.
        let flipped_eligibility = StoredCredential {
            backup_eligible: !stored.backup_eligible,
            ..stored.clone()
        };
        assert_eq!(
            rp().verify_assertion(
                &assertion_challenge(),
                &flipped_eligibility,
                Assertion {
                    client_data_json: &client_data,
                    authenticator_data: &auth_data,
                    signature: &signature,
                },
            ),
            Err(PasskeyError::BackupEligibilityChanged)
        );
        assert_eq!(
            challenge_of(&client_data).map(|c| base64url(&c)),
            Ok(Ok(assertion_challenge()))
        );
    }
}
