//! The user directory: who sees what of whom, what admins may change, and
//! how listings are asked for and paged.

use crate::email::normalise as normalise_email;
use crate::user::{CanonicalId, PageKey, RepoError, Role, User, UserFilter, UserRepository};
use crate::validation::{FieldError, ValidationErrors};

/// Default page size of a listing.
pub const DEFAULT_PAGE: u32 = 20;
/// Largest page a listing returns.
pub const MAX_PAGE: u32 = 100;

/// What one user may see of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Everything: oneself, or an admin looking at anyone.
    Private,
    /// The public fields of an enabled account.
    Public,
    /// Nothing: a disabled account, to everyone else (answered as absent).
    Hidden,
}

/// What `viewer` may see of `target`.
pub fn visibility(viewer: &User, target: &User) -> Visibility {
    if viewer.id == target.id || viewer.has_role(Role::Admin) {
        Visibility::Private
    } else if target.disabled {
        Visibility::Hidden
    } else {
        Visibility::Public
    }
}

/// Roles as an admin sets them: known names only, and every account keeps
/// the `user` role.
pub fn parse_roles(names: &[String]) -> Result<Vec<Role>, FieldError> {
    let mut roles = vec![Role::User];
    for name in names {
        let role = Role::parse(name)
            .ok_or_else(|| FieldError::new("roles", "invalid", "roles are user and admin"))?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}

/// What an admin changes on an account (`PATCH /users/:id`).
#[derive(Debug, Clone, Default)]
pub struct AdminChange {
    /// New roles (already parsed with [`parse_roles`]).
    pub roles: Option<Vec<Role>>,
    /// Disable or re-enable.
    pub disabled: Option<bool>,
}

/// Applies `change` to `user` (as read) at `now_ms` and stores it,
/// conditional on the version read (`Stale` when it moved on, `LastAdmin`
/// when it would leave no active admin). Disabling ends every session for
/// access tokens in the same write, so re-enabling revives none. Returns
/// the user as stored.
pub fn change_account(
    repo: &dyn UserRepository,
    mut user: User,
    change: &AdminChange,
    now_ms: i64,
) -> Result<User, RepoError> {
    if let Some(roles) = &change.roles {
        user.roles = roles.clone();
    }
    if let Some(disabled) = change.disabled {
        if disabled && !user.disabled {
            user.sessions.cut_all(now_ms, None);
        }
        user.disabled = disabled;
    }
    user.updated_at = now_ms.div_euclid(1000);
    repo.update(&user, None)?;
    user.version += 1;
    Ok(user)
}

/// Parses a listing's query pairs: `limit` and `cursor` here, every other
/// key by `field` (which ignores keys it does not know); every invalid one
/// is reported.
pub(crate) fn parse_listing<'a, Id: CanonicalId>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    limit: &mut u32,
    after: &mut Option<PageKey<Id>>,
    mut field: impl FnMut(&'a str, &'a str) -> Result<(), FieldError>,
) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    for (key, value) in pairs {
        let outcome = paging_field(key, value, limit, after).unwrap_or_else(|| field(key, value));
        if let Err(e) = outcome {
            errors.0.push(e);
        }
    }
    errors.into_result()
}

/// Parses the paging keys every listing shares, `limit` and `cursor`;
/// `None` for any other key.
fn paging_field<Id: CanonicalId>(
    key: &str,
    value: &str,
    limit: &mut u32,
    after: &mut Option<PageKey<Id>>,
) -> Option<Result<(), FieldError>> {
    let invalid = |field: &'static str, message: &str| FieldError::new(field, "invalid", message);
    match key {
        "limit" => Some(
            value
                .parse()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .map(|n| *limit = n)
                .ok_or_else(|| invalid("limit", "limit must be 1 to 100")),
        ),
        "cursor" => Some(
            PageKey::decode(value)
                .map(|key| *after = Some(key))
                .ok_or_else(|| invalid("cursor", "not a cursor from this API")),
        ),
        _ => None,
    }
}

/// Cuts `items` (fetched with one row more than the page) to `limit`;
/// the cursor of the next page when there is one.
pub(crate) fn into_page<T, Id: CanonicalId>(
    mut items: Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> PageKey<Id>,
) -> (Vec<T>, Option<String>) {
    let next = (items.len() > limit as usize).then(|| {
        items.truncate(limit as usize);
        key(&items[items.len() - 1]).encode()
    });
    (items, next)
}

/// A listing request: filters, page size and where to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Filters, combined with AND.
    pub filter: UserFilter,
    /// Page size, 1 to [`MAX_PAGE`].
    pub limit: u32,
    /// Start strictly after this key (from a previous page's cursor).
    pub after: Option<PageKey>,
}

impl ListQuery {
    /// Parses `limit`, `cursor`, `email_prefix`, `name`, `role` and
    /// `disabled` from decoded query pairs; other keys are ignored. Every
    /// invalid one is reported.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ValidationErrors> {
        let mut query = Self {
            filter: UserFilter::default(),
            limit: DEFAULT_PAGE,
            after: None,
        };
        let invalid =
            |field: &'static str, message: &str| FieldError::new(field, "invalid", message);
        let filter = &mut query.filter;
        parse_listing(pairs, &mut query.limit, &mut query.after, |key, value| {
            match key {
                // A control character (`%00`) is no text anyone searches
                // for; refused rather than passed to a LIKE that would match
                // everything.
                "email_prefix" | "name" if value.chars().any(char::is_control) => Err(invalid(
                    if key == "name" {
                        "name"
                    } else {
                        "email_prefix"
                    },
                    "filters must not contain control characters",
                )),
                "email_prefix" => {
                    filter.email_prefix = Some(normalise_email(value));
                    Ok(())
                }
                "name" => {
                    filter.name_contains = Some(value.to_owned());
                    Ok(())
                }
                "role" => Role::parse(value)
                    .map(|role| filter.role = Some(role))
                    .ok_or_else(|| invalid("role", "role must be user or admin")),
                "disabled" => match value {
                    "true" | "false" => {
                        filter.disabled = Some(value == "true");
                        Ok(())
                    }
                    _ => Err(invalid("disabled", "disabled must be true or false")),
                },
                _ => Ok(()),
            }
        })?;
        Ok(query)
    }

    /// One page: asks `repo` for one row more than the page, which tells
    /// whether another page follows, and returns the page with the cursor
    /// of the next one.
    pub fn page(
        &self,
        repo: &dyn UserRepository,
    ) -> Result<(Vec<User>, Option<String>), RepoError> {
        let items = repo.list(&self.filter, self.after.as_ref(), self.limit + 1)?;
        Ok(into_page(items, self.limit, |user: &User| PageKey {
            created_at: user.created_at,
            id: user.id.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::InMemoryUsers;
    use crate::hashing::Credential;

    fn credential() -> Credential {
        Credential::from_phc("$argon2id$not-checked-here".into())
    }

    fn user(seed: u64, email: &str, roles: Vec<Role>) -> User {
        crate::fakes::sample_user(seed, email, roles)
    }

    #[test]
    fn oneself_and_admins_see_everything_others_the_public_view_of_enabled_accounts() {
        let ada = user(1, "ada@example.com", vec![Role::User]);
        let root = user(2, "root@example.com", vec![Role::User, Role::Admin]);
        let mut bob = user(3, "bob@example.com", vec![Role::User]);
        assert_eq!(visibility(&ada, &ada), Visibility::Private);
        assert_eq!(visibility(&root, &ada), Visibility::Private);
        assert_eq!(visibility(&ada, &bob), Visibility::Public);
        bob.disabled = true;
        assert_eq!(visibility(&ada, &bob), Visibility::Hidden);
        assert_eq!(visibility(&root, &bob), Visibility::Private);
    }

    #[test]
    fn roles_always_include_user_and_unknown_names_are_refused() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_roles(&names(&["admin"])),
            Ok(vec![Role::User, Role::Admin])
        );
        assert_eq!(parse_roles(&names(&[])), Ok(vec![Role::User]));
        assert_eq!(
            parse_roles(&names(&["user", "admin", "user"])),
            Ok(vec![Role::User, Role::Admin])
        );
        assert!(parse_roles(&names(&["root"])).is_err());
    }

    #[test]
    fn an_admin_change_bumps_the_version_and_disabling_ends_sessions() {
        let repo = InMemoryUsers::default();
        let ada = user(1, "ada@example.com", vec![Role::User]);
        repo.insert(&ada, &credential()).expect("insert");
        let change = AdminChange {
            roles: None,
            disabled: Some(true),
        };
        let changed = change_account(&repo, ada.clone(), &change, 5_000).expect("stored");
        assert_eq!(changed.version, 2);
        assert_eq!(changed.updated_at, 5);
        assert_eq!(repo.by_id(&ada.id).expect("reads"), Some(changed.clone()));
        assert!(!changed.sessions.allows(Some("00000001000xxxxxxxxxxx"), 5));
        assert_eq!(
            change_account(&repo, ada, &change, 6_000),
            Err(RepoError::Stale),
            "based on an old read"
        );
    }

    #[test]
    fn list_queries_parse_report_every_bad_field_and_page() {
        let query = ListQuery::parse([
            ("limit", "2"),
            ("email_prefix", " ADA"),
            ("role", "admin"),
            ("disabled", "false"),
            ("other", "ignored"),
        ])
        .expect("valid");
        assert_eq!(query.limit, 2);
        assert_eq!(query.filter.email_prefix.as_deref(), Some("ada"));
        assert_eq!(query.filter.role, Some(Role::Admin));
        assert_eq!(query.filter.disabled, Some(false));

        let errors = ListQuery::parse([
            ("limit", "0"),
            ("cursor", "garbage"),
            ("name", "\u{0}"),
            ("disabled", "maybe"),
        ])
        .expect_err("invalid");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["limit", "cursor", "name", "disabled"]);

        let repo = InMemoryUsers::default();
        for n in 1..=3 {
            repo.insert(
                &user(n, &format!("u{n}@example.com"), vec![Role::User]),
                &credential(),
            )
            .expect("insert");
        }
        let first = ListQuery::parse([("limit", "2")]).expect("valid");
        let (items, next) = first.page(&repo).expect("page");
        assert_eq!(items.len(), 2);
        let next = next.expect("a second page");
        let second = ListQuery::parse([("limit", "2"), ("cursor", next.as_str())]).expect("valid");
        let (items, next) = second.page(&repo).expect("page");
        assert_eq!((items.len(), next), (1, None));
    }
}
