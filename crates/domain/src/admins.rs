//! The last-admin rule: the service always keeps an administrator who can
//! act. An active administrator holds the admin role and is enabled; a
//! write that would take the last one's rights away (demoting, disabling
//! or deleting them) is refused with [`RepoError::LastAdmin`].
//!
//! The rule is decided here and enforced by every [`UserRepository`]:
//! the SQL one stores [`is_active_admin`] of each row it writes
//! (`users.active_admin`) and makes a write that ends an active admin's
//! rights conditional, in the same statement, on another such row
//! existing. `crate::contract` is the suite every implementation passes.
//!
//! [`RepoError::LastAdmin`]: crate::RepoError::LastAdmin
//! [`UserRepository`]: crate::UserRepository

use crate::user::{Role, User};

/// Whether `user` counts for the rule: an administrator who can act.
pub fn is_active_admin(user: &User) -> bool {
    user.has_role(Role::Admin) && !user.disabled
}

/// Whether writing `after` (`None`: deleting) over the stored `before`
/// needs the rule's check: it ends an active administrator's rights.
pub fn ends_admin_rights(before: &User, after: Option<&User>) -> bool {
    is_active_admin(before) && !after.is_some_and(is_active_admin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::sample_user;

    #[test]
    fn only_writes_that_end_an_active_admins_rights_need_the_check() {
        let admin = sample_user(1, "root@example.com", vec![Role::User, Role::Admin]);
        let user = sample_user(2, "ada@example.com", vec![Role::User]);
        let mut demoted = admin.clone();
        demoted.roles = vec![Role::User];
        let mut disabled = admin.clone();
        disabled.disabled = true;
        let mut renamed = admin.clone();
        renamed.updated_at += 1;

        assert!(is_active_admin(&admin));
        assert!(!is_active_admin(&disabled), "a disabled admin cannot act");
        assert!(ends_admin_rights(&admin, Some(&demoted)));
        assert!(ends_admin_rights(&admin, Some(&disabled)));
        assert!(ends_admin_rights(&admin, None));
        assert!(!ends_admin_rights(&admin, Some(&renamed)));
        assert!(!ends_admin_rights(&user, None));
        assert!(
            !ends_admin_rights(&disabled, None),
            "already without rights"
        );
    }

    #[test]
    fn the_fake_keeps_the_rule() {
        crate::contract::users_keep_an_active_admin(&crate::fakes::InMemoryUsers::default());
    }
}
