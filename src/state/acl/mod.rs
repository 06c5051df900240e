//! ACL users: the registry every connection authenticates against, and the ACL LOG.
//!
//! Users are immutable once shared (`Arc<User>`): ACL SETUSER builds a changed copy and swaps it in,
//! bumping [`Users::generation`]. A connection keeps its user's `Arc` and looks it up again only when
//! the generation moved, so checking a request costs one atomic load while nothing changes, and a
//! user's new rules apply to its connected clients from their next command, as in Redis.

pub mod log;
pub mod user;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

pub use user::{KeyPattern, Selector, User};

/// The name of the user every connection starts as.
pub const DEFAULT_USER: &[u8] = b"default";

#[derive(Default)]
pub struct Users {
    /// By name, in byte order (the order ACL LIST and ACL USERS print).
    map: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    generation: AtomicU64,
}

impl Users {
    /// A registry holding `users`.
    pub fn with(users: impl IntoIterator<Item = User>) -> Users {
        let registry = Users::default();
        registry.replace_all(users);
        registry
    }

    /// Changes whenever a user is added, changed or removed.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        self.map.read().get(name).cloned()
    }

    /// Adds or replaces a user.
    pub fn put(&self, user: User) {
        self.map.write().insert(user.name.clone(), Arc::new(user));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Removes a user; false if there was none.
    pub fn remove(&self, name: &[u8]) -> bool {
        let removed = self.map.write().remove(name).is_some();
        if removed {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        removed
    }

    /// Replaces every user at once (ACL LOAD).
    pub fn replace_all(&self, users: impl IntoIterator<Item = User>) {
        *self.map.write() = users.into_iter().map(|user| (user.name.clone(), Arc::new(user))).collect();
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Every user, in name order.
    pub fn all(&self) -> Vec<Arc<User>> {
        self.map.read().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_moves_the_generation() {
        let users = Users::with([User::new(DEFAULT_USER, true)]);
        let start = users.generation();
        users.put(User::new(b"b", false));
        users.put(User::new(b"a", false));
        assert!(users.generation() > start);
        assert_eq!(users.all().iter().map(|u| u.name.clone()).collect::<Vec<_>>(), [b"a".to_vec(), b"b".to_vec(), b"default".to_vec()]);
        let before = users.generation();
        assert!(!users.remove(b"nobody"));
        assert_eq!(users.generation(), before, "removing nobody changes nothing");
        assert!(users.remove(b"a"));
        assert!(users.generation() > before);
    }
}
