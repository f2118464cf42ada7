//! What clients see of a user.

use serde::Serialize;
use spin_users_domain::{Role, User, UserId, rfc3339};

/// A user as the user themself and admins see them.
#[derive(Serialize)]
pub struct PrivateView<'a> {
    id: &'a UserId,
    email: &'a str,
    name: &'a str,
    roles: &'a [Role],
    disabled: bool,
    created_at: String,
    updated_at: String,
}

/// A user as other users see them: no email, no account state.
#[derive(Serialize)]
pub struct PublicView<'a> {
    id: &'a UserId,
    name: &'a str,
}

/// One page of an admin listing.
#[derive(Serialize)]
pub struct Page<'a> {
    /// The users on this page.
    pub items: Vec<PrivateView<'a>>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The private view of `user`.
pub fn private_view(user: &User) -> PrivateView<'_> {
    PrivateView {
        id: &user.id,
        email: user.email.as_ref(),
        name: user.name.as_ref(),
        roles: &user.roles,
        disabled: user.disabled,
        created_at: rfc3339(user.created_at),
        updated_at: rfc3339(user.updated_at),
    }
}

/// The public view of `user`.
pub fn public_view(user: &User) -> PublicView<'_> {
    PublicView {
        id: &user.id,
        name: user.name.as_ref(),
    }
}
