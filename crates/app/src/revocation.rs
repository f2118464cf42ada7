//! Ending sessions for access tokens: a change to the user's
//! `SessionState`, which every authenticated request checks (see
//! `spin_users_domain::SessionState`). Refresh tokens are revoked in the
//! sessions table by the caller.

use spin_users_domain::{SessionState, UserId, UserRepository};
use spin_users_http::{ApiError, retry_stale_writes};

use crate::cache::CachedUsers;

/// Applies `change` to the session state of `id` in one conditional
/// write, redone on a fresh read if the row moved on; the cache entry is
/// dropped with the write. A user who no longer exists needs nothing.
pub fn change_sessions(
    users: &CachedUsers<'_>,
    id: &UserId,
    change: impl Fn(&mut SessionState),
) -> Result<(), ApiError> {
    retry_stale_writes(|| {
        let Some(mut user) = users.current(id)? else {
            return Ok(());
        };
        change(&mut user.sessions);
        Ok(users.update(&user, None)?)
    })
}
