//! In-memory implementations of the repository traits, for unit tests here
//! and in other crates (feature `testing`). They follow the same contract as
//! the SQL stores.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::email::Email;
use crate::user::{RepoError, User, UserId, UserRepository};

/// Users in a map; `calls` counts every repository call.
#[derive(Debug, Default)]
pub struct InMemoryUsers {
    users: RefCell<BTreeMap<UserId, User>>,
    /// Number of calls made, to show when a path does not touch storage.
    pub calls: RefCell<u32>,
}

impl InMemoryUsers {
    fn count(&self) {
        *self.calls.borrow_mut() += 1;
    }
}

impl UserRepository for InMemoryUsers {
    fn insert(&self, user: &User) -> Result<(), RepoError> {
        self.count();
        let mut users = self.users.borrow_mut();
        if users.values().any(|u| u.email == user.email) {
            return Err(RepoError::Conflict { field: "email" });
        }
        users.insert(user.id.clone(), user.clone());
        Ok(())
    }

    fn by_id(&self, id: &UserId) -> Result<Option<User>, RepoError> {
        self.count();
        Ok(self.users.borrow().get(id).cloned())
    }

    fn by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        self.count();
        Ok(self
            .users
            .borrow()
            .values()
            .find(|u| &u.email == email)
            .cloned())
    }

    fn set_password_hash(&self, id: &UserId, hash: &str, now: i64) -> Result<(), RepoError> {
        self.count();
        if let Some(user) = self.users.borrow_mut().get_mut(id) {
            user.password_hash = hash.to_owned();
            user.updated_at = now;
            user.version += 1;
        }
        Ok(())
    }
}
