//! Users and the repository that stores them.

use serde::Serialize;

use crate::digest::hex;
use crate::email::Email;
use crate::hashing::Credential;
use crate::name::DisplayName;
use crate::random::Random;
use crate::revocation::SessionState;

/// A user id: a random (version 4) UUID in its hyphenated lowercase form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// A new random id.
    pub fn generate(random: &mut dyn Random) -> Self {
        Self(uuid_v4(random))
    }

    /// Parses an id from a path or token; only the canonical form is accepted,
    /// so ids never carry surprises into queries or logs.
    pub fn parse(input: &str) -> Option<Self> {
        is_canonical_uuid(input).then(|| Self(input.to_owned()))
    }
}

/// A random (version 4) UUID in canonical lower-case form.
pub(crate) fn uuid_v4(random: &mut dyn Random) -> String {
    let mut b = [0u8; 16];
    random.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Whether `input` is a UUID in the canonical lower-case form.
pub(crate) fn is_canonical_uuid(input: &str) -> bool {
    input.len() == 36
        && input.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a user may do beyond their own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every account.
    User,
    /// Manages other accounts.
    Admin,
}

impl Role {
    /// The stored and token form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// Parses the stored and token form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// Roles as stored: a sorted, comma-separated list.
pub fn roles_to_string(roles: &[Role]) -> String {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Roles from their stored form; unknown names are dropped.
pub fn roles_from_string(s: &str) -> Vec<Role> {
    s.split(',').filter_map(Role::parse).collect()
}

/// An account's profile: everything stored about a user but the password
/// credential (a [`Credential`], read only to check a password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Normalised email, unique.
    pub email: Email,
    /// Display name.
    pub name: DisplayName,
    /// Roles.
    pub roles: Vec<Role>,
    /// Disabled accounts cannot log in and their tokens stop working.
    pub disabled: bool,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Seconds since the epoch.
    pub updated_at: i64,
    /// Incremented on every change; writes are conditional on it.
    pub version: i64,
    /// Which sessions' access tokens still act for the user.
    pub sessions: SessionState,
    /// Until the user picks a new password, their tokens act only to read
    /// and change their own account (the bootstrap admin's first login).
    pub password_change_required: bool,
    /// Whether the owner proved the address is theirs (a mailed token).
    pub email_verified: bool,
    /// Whether a second factor is on (read from the factor's row; no
    /// write of the profile changes it).
    pub mfa_enabled: bool,
}

impl User {
    /// Whether the user holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Why a repository call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    /// A unique field is already taken.
    #[error("{field} already exists")]
    Conflict {
        /// The field, e.g. `email`.
        field: &'static str,
    },
    /// The row changed (or vanished) since it was read: a conditional
    /// write found another version than the one it was based on.
    #[error("the row changed since it was read")]
    Stale,
    /// The write would leave no active administrator.
    #[error("the last active administrator")]
    LastAdmin,
    /// The database cannot be reached for now (refused, unreachable, out
    /// of connections): worth retrying later. The text is for logs only.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The database failed; the text is for logs only.
    #[error("storage failure: {0}")]
    Storage(String),
}

/// Storage of users. Implementations live in `spin-users-store`.
pub trait UserRepository {
    /// Inserts `user` with `credential`; `Conflict { field: "email" }` when
    /// the email exists, also under concurrent inserts of the same email.
    fn insert(&self, user: &User, credential: &Credential) -> Result<(), RepoError>;

    /// Whether the database has ever had an administrator: the bootstrap
    /// recorded one, or some account holds the role now.
    fn has_had_admin(&self) -> Result<bool, RepoError>;

    /// Inserts `user`, the first administrator, only while the database has
    /// never had one (one conditional statement), then records that it has,
    /// so deleting, demoting or renaming admins never re-arms the bootstrap.
    /// `false` when it already had one, also under concurrent calls.
    fn insert_first_admin(&self, user: &User, credential: &Credential) -> Result<bool, RepoError>;

    /// The user with `id`, if any.
    fn by_id(&self, id: &UserId) -> Result<Option<User>, RepoError>;

    /// The user with the normalised `email`, if any, with their credential:
    /// what a login reads.
    fn by_email(&self, email: &Email) -> Result<Option<(User, Credential)>, RepoError>;

    /// The credential of `id` if the stored row is still at `version` (the
    /// version a password check is based on); `None` when it moved on or
    /// vanished.
    fn credential(&self, id: &UserId, version: i64) -> Result<Option<Credential>, RepoError>;

    /// The stored version of `id`, if the user exists: a cheap re-check of
    /// whether a copy read earlier is still current.
    fn version(&self, id: &UserId) -> Result<Option<i64>, RepoError>;

    /// Replaces the credential of `user` (e.g. after a parameter upgrade)
    /// if the stored row is still at `user.version`, bumping it; `Stale`
    /// otherwise.
    fn set_credential(
        &self,
        user: &User,
        credential: &Credential,
        now: i64,
    ) -> Result<(), RepoError>;

    /// Stores every field of `user` except id and created_at, and the new
    /// `credential` when given (a password change), if the stored
    /// row is still at `user.version` (the version it was read at), bumping
    /// the version: a change based on an old read never overwrites a newer
    /// one. `Stale` when the row moved on or vanished; `Conflict { field:
    /// "email" }` when the new email is taken; `LastAdmin` when it would
    /// demote or disable the last active administrator (checked in the same
    /// atomic statement, so two admins demoting each other keep one).
    fn update(&self, user: &User, credential: Option<&Credential>) -> Result<(), RepoError>;

    /// Deletes the user; `false` when there was none. With `version`, only
    /// if the stored row is still at it (`Stale` otherwise, or when gone).
    /// `LastAdmin` for the last active administrator.
    fn delete(&self, id: &UserId, version: Option<i64>) -> Result<bool, RepoError>;

    /// One page of users matching `filter`, in (created_at, id) order,
    /// strictly after `after` when given.
    fn list(
        &self,
        filter: &UserFilter,
        after: Option<&PageKey>,
        limit: u32,
    ) -> Result<Vec<User>, RepoError>;
}

/// Admin list filters; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Emails starting with this (normalised) prefix.
    pub email_prefix: Option<String>,
    /// Names containing this text, case-insensitively.
    pub name_contains: Option<String>,
    /// Users holding this role.
    pub role: Option<Role>,
    /// Disabled or enabled users only.
    pub disabled: Option<bool>,
}

/// An id that is a canonical UUID, and so can sit in a cursor.
pub trait CanonicalId: AsRef<str> + Sized {
    /// Parses the canonical form only.
    fn parse_canonical(input: &str) -> Option<Self>;
}

impl CanonicalId for UserId {
    fn parse_canonical(input: &str) -> Option<Self> {
        Self::parse(input)
    }
}

/// A position in a stable list order (creation time, then id): the last
/// item of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageKey<Id = UserId> {
    /// Its creation time.
    pub created_at: i64,
    /// Its id (breaks ties).
    pub id: Id,
}

impl<Id: CanonicalId> PageKey<Id> {
    /// The opaque cursor handed to clients.
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "{}:{}",
            self.created_at,
            self.id.as_ref()
        ))
    }

    /// Parses a cursor; `None` when it was not made by [`PageKey::encode`].
    pub fn decode(cursor: &str) -> Option<Self> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (created_at, id) = raw.split_once(':')?;
        Some(Self {
            created_at: created_at.parse().ok()?,
            id: Id::parse_canonical(id)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::testing::SeededRandom;

    #[test]
    fn generated_ids_are_canonical_version_4_uuids() {
        let mut random = SeededRandom::new(9);
        for _ in 0..100 {
            let id = UserId::generate(&mut random);
            assert_eq!(UserId::parse(id.as_ref()), Some(id.clone()));
            assert_eq!(&id.as_ref()[14..15], "4", "{id}");
            assert!("89ab".contains(&id.as_ref()[19..20]), "{id}");
        }
    }

    #[test]
    fn non_canonical_ids_are_refused() {
        for bad in [
            "",
            "1",
            "00000000-0000-4000-8000-00000000000G",
            "00000000-0000-4000-8000-00000000000A",
            "00000000000040008000000000000000",
            "' OR 1=1 --",
            "00000000-0000-4000-8000-000000000000x",
        ] {
            assert_eq!(UserId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn page_keys_round_trip_and_garbage_is_refused() {
        let key = PageKey {
            created_at: 42,
            id: UserId::generate(&mut SeededRandom::new(1)),
        };
        assert_eq!(PageKey::decode(&key.encode()), Some(key));
        for bad in ["", "!!!", "MTI6bm90LWFuLWlk", "bm8tY29sb24"] {
            assert_eq!(PageKey::<UserId>::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn roles_round_trip_sorted_and_deduplicated() {
        let stored = roles_to_string(&[Role::Admin, Role::User, Role::Admin]);
        assert_eq!(stored, "user,admin");
        assert_eq!(roles_from_string(&stored), vec![Role::User, Role::Admin]);
        assert_eq!(roles_from_string("user,superuser"), vec![Role::User]);
    }
}
