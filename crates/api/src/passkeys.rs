//! The passkey routes' bodies, in the JSON forms of WebAuthn Level 3
//! (§5.1.8 `PublicKeyCredentialCreationOptionsJSON`, §5.1.9
//! `PublicKeyCredentialRequestOptionsJSON`, `RegistrationResponseJSON`,
//! `AuthenticationResponseJSON`): a page passes the options to
//! `PublicKeyCredential.parseCreationOptionsFromJSON()` (or
//! `parseRequestOptionsFromJSON()`) and sends back the credential's
//! `toJSON()`. Binary values are base64url without padding.

use serde::{Deserialize, Serialize};
use spin_users_domain::{
    AssertionResponse, COSE_EDDSA, COSE_ES256, CreationChallenge, PASSKEY_CHALLENGE_LIFETIME_SECS,
    Passkey, RegistrationResponse, User, rfc3339,
};
use utoipa::ToSchema;

/// What a ceremony's options allow the browser, in milliseconds: the
/// challenge's lifetime.
const TIMEOUT_MS: i64 = PASSKEY_CHALLENGE_LIFETIME_SECS * 1000;

/// `rp` of the creation options.
#[derive(Serialize, ToSchema)]
pub struct RelyingPartyEntity {
    /// The RP ID (`webauthn_rp_id`).
    #[schema(example = "localhost")]
    pub id: String,
    /// The name shown to users (`service_name`).
    #[schema(example = "spin-users")]
    pub name: String,
}

/// `user` of the creation options.
#[derive(Serialize, ToSchema)]
pub struct UserEntity {
    /// The user handle: the account id's bytes, base64url (no personal
    /// data).
    pub id: String,
    /// The account's e-mail, to tell accounts apart.
    pub name: String,
    /// The account's display name.
    #[serde(rename = "displayName")]
    pub display_name: String,
}

/// One entry of `pubKeyCredParams`.
#[derive(Serialize, ToSchema)]
pub struct CredentialParameter {
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// A COSE algorithm: -8 (EdDSA) or -7 (ES256).
    pub alg: i64,
}

/// A credential named in `excludeCredentials` or `allowCredentials`.
#[derive(Serialize, ToSchema)]
pub struct CredentialDescriptor {
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The credential id.
    pub id: String,
}

/// `authenticatorSelection` of the creation options.
#[derive(Serialize, ToSchema)]
pub struct AuthenticatorSelection {
    /// `preferred`: a discoverable credential, so that sign-in needs no
    /// e-mail.
    #[serde(rename = "residentKey")]
    pub resident_key: &'static str,
    /// `false` (the Level 1 member, for older browsers).
    #[serde(rename = "requireResidentKey")]
    pub require_resident_key: bool,
    /// `required`: a passkey is both factors only with the user verified.
    #[serde(rename = "userVerification")]
    pub user_verification: &'static str,
}

/// The answer to `POST /users/me/passkeys/options`.
#[derive(Serialize, ToSchema)]
pub struct CreationOptions {
    /// The relying party.
    pub rp: RelyingPartyEntity,
    /// The account.
    pub user: UserEntity,
    /// 256 random bits, single use, alive 5 minutes.
    pub challenge: String,
    /// EdDSA, then ES256.
    #[serde(rename = "pubKeyCredParams")]
    pub pub_key_cred_params: Vec<CredentialParameter>,
    /// Milliseconds the ceremony may take.
    pub timeout: i64,
    /// The account's passkeys: an authenticator holding one says so.
    #[serde(rename = "excludeCredentials")]
    pub exclude_credentials: Vec<CredentialDescriptor>,
    /// What the authenticator must do.
    #[serde(rename = "authenticatorSelection")]
    pub authenticator_selection: AuthenticatorSelection,
    /// `none`: no attestation is asked for or checked.
    pub attestation: &'static str,
}

fn public_key(id: String) -> CredentialDescriptor {
    CredentialDescriptor {
        kind: "public-key",
        id,
    }
}

/// The creation options of `user` for relying party `rp_id` named
/// `service_name`.
pub fn creation_options(
    rp_id: &str,
    service_name: &str,
    user: &User,
    challenge: CreationChallenge,
) -> CreationOptions {
    CreationOptions {
        rp: RelyingPartyEntity {
            id: rp_id.to_owned(),
            name: service_name.to_owned(),
        },
        user: UserEntity {
            id: challenge.user_handle,
            name: user.email.as_ref().to_owned(),
            display_name: user.name.as_ref().to_owned(),
        },
        challenge: challenge.challenge,
        pub_key_cred_params: [COSE_EDDSA, COSE_ES256]
            .into_iter()
            .map(|alg| CredentialParameter {
                kind: "public-key",
                alg,
            })
            .collect(),
        timeout: TIMEOUT_MS,
        exclude_credentials: challenge.exclude.into_iter().map(public_key).collect(),
        authenticator_selection: AuthenticatorSelection {
            resident_key: "preferred",
            require_resident_key: false,
            user_verification: "required",
        },
        attestation: "none",
    }
}

/// The answer to `POST /passkeys/login/options`: no account is named, so
/// the authenticator offers its discoverable credentials for the RP.
#[derive(Serialize, ToSchema)]
pub struct RequestOptions {
    /// 256 random bits, single use, alive 5 minutes.
    pub challenge: String,
    /// Milliseconds the ceremony may take.
    pub timeout: i64,
    /// The RP ID.
    #[serde(rename = "rpId")]
    pub rp_id: String,
    /// Empty: any discoverable credential of the RP.
    #[serde(rename = "allowCredentials")]
    pub allow_credentials: Vec<CredentialDescriptor>,
    /// `required`.
    #[serde(rename = "userVerification")]
    pub user_verification: &'static str,
}

/// The sign-in options for relying party `rp_id`.
pub fn request_options(rp_id: &str, challenge: String) -> RequestOptions {
    RequestOptions {
        challenge,
        timeout: TIMEOUT_MS,
        rp_id: rp_id.to_owned(),
        allow_credentials: Vec::new(),
        user_verification: "required",
    }
}

/// `response` of a `RegistrationResponseJSON`.
#[derive(Deserialize, ToSchema)]
pub struct AttestationResponseJson {
    /// `clientDataJSON`, base64url.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// `attestationObject` (CBOR), base64url.
    #[serde(rename = "attestationObject")]
    pub attestation_object: String,
}

/// A `PublicKeyCredential` from `navigator.credentials.create()`, as its
/// `toJSON()` gives it. Members not listed (`rawId`, `type`,
/// `clientExtensionResults`, `transports`…) are accepted and ignored.
#[derive(Deserialize, ToSchema)]
pub struct RegistrationCredential {
    /// The credential id, base64url.
    pub id: String,
    /// The authenticator's answer.
    pub response: AttestationResponseJson,
}

impl From<RegistrationCredential> for RegistrationResponse {
    fn from(credential: RegistrationCredential) -> Self {
        Self {
            id: credential.id,
            client_data_json: credential.response.client_data_json,
            attestation_object: credential.response.attestation_object,
        }
    }
}

/// `POST /users/me/passkeys`: finishes a registration.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRegistrationBody {
    /// What to call it (at most 64 printable characters); `Passkey` when
    /// absent or blank.
    #[schema(example = "Laptop")]
    pub name: Option<String>,
    /// The new credential.
    #[schema(required = true)]
    pub credential: Option<RegistrationCredential>,
}

/// `response` of an `AuthenticationResponseJSON`.
#[derive(Deserialize, ToSchema)]
pub struct AssertionResponseJson {
    /// `clientDataJSON`, base64url.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// `authenticatorData`, base64url.
    #[serde(rename = "authenticatorData")]
    pub authenticator_data: String,
    /// `signature`, base64url.
    pub signature: String,
    /// `userHandle`, base64url: the account the credential was made for.
    #[serde(rename = "userHandle")]
    pub user_handle: Option<String>,
}

/// A `PublicKeyCredential` from `navigator.credentials.get()`, as its
/// `toJSON()` gives it: the `credential` of the passkey grant, as a JSON
/// string. Members not listed are accepted and ignored.
#[derive(Deserialize, ToSchema)]
pub struct AssertionCredential {
    /// The credential id, base64url.
    pub id: String,
    /// The authenticator's answer.
    pub response: AssertionResponseJson,
}

impl From<AssertionCredential> for AssertionResponse {
    fn from(credential: AssertionCredential) -> Self {
        Self {
            id: credential.id,
            client_data_json: credential.response.client_data_json,
            authenticator_data: credential.response.authenticator_data,
            signature: credential.response.signature,
            user_handle: credential.response.user_handle,
        }
    }
}

/// A passkey as its owner sees it: never its key.
#[derive(Serialize, ToSchema)]
pub struct PasskeyView {
    /// The credential id: what `DELETE /users/me/passkeys/{id}` removes.
    pub id: String,
    /// What its owner called it.
    pub name: String,
    /// `true` when the authenticator said it may be synced to other
    /// devices (BE); its sign-ins carry `amr` `swk`, else `hwk`.
    pub synced: bool,
    /// The registration, RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The last sign-in with it, RFC 3339; `null` before the first.
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
}

/// What the owner sees of `passkey`.
pub fn passkey_view(passkey: &Passkey) -> PasskeyView {
    PasskeyView {
        id: passkey.id.clone(),
        name: passkey.name.clone(),
        synced: passkey.backup_eligible,
        created_at: rfc3339(passkey.created_at),
        last_used_at: passkey.last_used_at.map(rfc3339),
    }
}

/// `GET /users/me/passkeys`: every passkey of the caller, oldest first
/// (an account holds at most 20, so there is one page).
#[derive(Serialize, ToSchema)]
pub struct PasskeyList {
    /// The passkeys.
    pub items: Vec<PasskeyView>,
}
