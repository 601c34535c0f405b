//! Which Mithril API key and project each resource acts with, so that the observers and clients
//! no resource uses any more are stopped: a key whose last resource was deleted, or whose Secret
//! now holds another key, must not be polled for ever.
//!
//! Every controller records the key and project a resource resolves to ([`Context::uses`]) and
//! lets go of them when the resource is deleted or no longer resolves ([`Context::released`]).
//!
//! [`Context::uses`]: super::Context::uses
//! [`Context::released`]: super::Context::released

use mithril_api::ApiKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A resource that acts with a key: its kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct User {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

impl User {
    pub fn new(kind: &'static str, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// What no resource uses any more after one moved to another key or project, or left.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unused {
    /// The (key, project FID) whose observer nothing needs.
    pub observer: Option<(ApiKey, String)>,
    /// A key nothing names: its client, observers and cached names can all go.
    pub key: Option<ApiKey>,
}

/// A key and a project FID some resources act with, shared by all of them.
#[derive(Debug, PartialEq, Eq)]
struct Used {
    key: ApiKey,
    project: String,
}

impl Used {
    fn is(&self, key: &ApiKey, project: &str) -> bool {
        self.key == *key && self.project == project
    }
}

/// The key and project FID of every resource that resolved them.
#[derive(Default)]
pub struct Usage {
    inner: Mutex<Users>,
}

#[derive(Default)]
struct Users {
    /// Each resource's pair, shared: thousands of resources use a handful of pairs.
    by_user: HashMap<User, Arc<Used>>,
    /// Every pair in use, once ([`ApiKey`] offers no hash, and there are few).
    pairs: Vec<Arc<Used>>,
}

impl std::fmt::Debug for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Usage")
            .field("users", &self.lock().by_user.len())
            .finish()
    }
}

impl Usage {
    fn lock(&self) -> MutexGuard<'_, Users> {
        // Plain maps: a panic elsewhere cannot leave them half-updated.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `user` acts with `key` on `project_fid`; returns what it used before that
    /// nothing uses any more.
    pub fn record(&self, user: &User, key: &ApiKey, project_fid: &str) -> Unused {
        let mut users = self.lock();
        if users
            .by_user
            .get(user)
            .is_some_and(|used| used.is(key, project_fid))
        {
            return Unused::default();
        }
        let pair = users.pair(key, project_fid);
        match users.by_user.insert(user.clone(), pair) {
            Some(before) => users.let_go(before),
            None => Unused::default(),
        }
    }

    /// Forgets `user` (deleted, or its key or project no longer resolves); returns what nothing
    /// uses any more.
    pub fn forget(&self, user: &User) -> Unused {
        let mut users = self.lock();
        match users.by_user.remove(user) {
            Some(before) => users.let_go(before),
            None => Unused::default(),
        }
    }

    /// The resources of `kind` that act with a key.
    pub fn users_of(&self, kind: &str) -> Vec<User> {
        self.lock()
            .by_user
            .keys()
            .filter(|user| user.kind == kind)
            .cloned()
            .collect()
    }

    /// How many resources use a key.
    pub fn len(&self) -> usize {
        self.lock().by_user.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Users {
    /// The shared pair for (`key`, `project`), added if new.
    fn pair(&mut self, key: &ApiKey, project: &str) -> Arc<Used> {
        if let Some(pair) = self.pairs.iter().find(|pair| pair.is(key, project)) {
            return Arc::clone(pair);
        }
        let pair = Arc::new(Used {
            key: key.clone(),
            project: project.to_owned(),
        });
        self.pairs.push(Arc::clone(&pair));
        pair
    }

    /// What of `before`, which one resource just let go of, no resource uses any more.
    fn let_go(&mut self, before: Arc<Used>) -> Unused {
        // Held by `pairs` and `before` only: that resource was its last user.
        if Arc::strong_count(&before) > 2 {
            return Unused::default();
        }
        self.pairs.retain(|pair| !Arc::ptr_eq(pair, &before));
        let key_used = self.pairs.iter().any(|pair| pair.key == before.key);
        Unused {
            observer: Some((before.key.clone(), before.project.clone())),
            key: (!key_used).then(|| before.key.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> ApiKey {
        ApiKey::new(text).unwrap()
    }

    fn user(name: &str) -> User {
        User::new("InstanceSchedule", "team", name)
    }

    #[test]
    fn what_the_last_user_lets_go_of_is_unused() {
        let usage = Usage::default();
        let (a, b) = (key("fkey_aaaaaaaaaaaaaaaa"), key("fkey_bbbbbbbbbbbbbbbb"));
        assert_eq!(usage.record(&user("one"), &a, "proj_1"), Unused::default());
        assert_eq!(usage.record(&user("two"), &a, "proj_1"), Unused::default());
        assert_eq!(
            usage.record(&user("three"), &a, "proj_2"),
            Unused::default()
        );
        // Recorded again unchanged: nothing moves.
        assert_eq!(usage.record(&user("one"), &a, "proj_1"), Unused::default());
        // one leaves; two still uses (a, proj_1).
        assert_eq!(usage.forget(&user("one")), Unused::default());
        // three moves to key b: nothing uses (a, proj_2), a is still named by two.
        assert_eq!(
            usage.record(&user("three"), &b, "proj_2"),
            Unused {
                observer: Some((a.clone(), "proj_2".into())),
                key: None,
            }
        );
        // two leaves: a is named by no one.
        assert_eq!(
            usage.forget(&user("two")),
            Unused {
                observer: Some((a.clone(), "proj_1".into())),
                key: Some(a),
            }
        );
        assert_eq!(
            usage.forget(&user("two")),
            Unused::default(),
            "already gone"
        );
        assert_eq!(usage.len(), 1);
    }
}
