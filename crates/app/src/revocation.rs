//! The access half of ending a session on the cached user store: a change
//! to the user's `SessionState`, which every authenticated request checks
//! (see `spin_users_domain::end_sessions` for the whole operation).

use spin_users_domain::{RepoError, SessionState, SessionStates, UserId, UserRepository};

use crate::cache::CachedUsers;

/// Tries of a state change that keeps meeting a newer row.
const ATTEMPTS: u32 = 3;

impl SessionStates for CachedUsers<'_> {
    /// One conditional write on the stored row (not the cached copy), the
    /// cache entry dropped with it; redone on a fresh read if the row moved.
    fn change_sessions(
        &self,
        id: &UserId,
        change: &dyn Fn(&mut SessionState),
    ) -> Result<(), RepoError> {
        let mut tries = 1;
        loop {
            let Some(mut user) = self.current(id)? else {
                return Ok(());
            };
            change(&mut user.sessions);
            match self.update(&user, None) {
                Err(RepoError::Stale) if tries < ATTEMPTS => tries += 1,
                other => return other,
            }
        }
    }
}
