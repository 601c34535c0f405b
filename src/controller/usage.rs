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
use std::sync::{Mutex, MutexGuard, PoisonError};

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

/// The key and project FID of every resource that resolved them.
#[derive(Default)]
pub struct Usage {
    // Few keys and [`ApiKey`] offers no hash: keyed by user, scanned only when one lets go.
    users: Mutex<HashMap<User, (ApiKey, String)>>,
}

impl std::fmt::Debug for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Usage")
            .field("users", &self.lock().len())
            .finish()
    }
}

impl Usage {
    fn lock(&self) -> MutexGuard<'_, HashMap<User, (ApiKey, String)>> {
        // A plain map: a panic elsewhere cannot leave it half-updated.
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `user` acts with `key` on `project_fid`; returns what it used before that
    /// nothing uses any more.
    pub fn record(&self, user: &User, key: &ApiKey, project_fid: &str) -> Unused {
        let mut users = self.lock();
        if users
            .get(user)
            .is_some_and(|(used, project)| used == key && project == project_fid)
        {
            return Unused::default();
        }
        match users.insert(user.clone(), (key.clone(), project_fid.to_owned())) {
            Some((key, project)) => unused(&users, key, project),
            None => Unused::default(),
        }
    }

    /// Forgets `user` (deleted, or its key or project no longer resolves); returns what nothing
    /// uses any more.
    pub fn forget(&self, user: &User) -> Unused {
        let mut users = self.lock();
        match users.remove(user) {
            Some((key, project)) => unused(&users, key, project),
            None => Unused::default(),
        }
    }

    /// The resources of `kind` that act with a key.
    pub fn users_of(&self, kind: &str) -> Vec<User> {
        self.lock()
            .keys()
            .filter(|user| user.kind == kind)
            .cloned()
            .collect()
    }

    /// How many resources use a key.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What of (`key`, `project`) no one in `users` uses.
fn unused(users: &HashMap<User, (ApiKey, String)>, key: ApiKey, project: String) -> Unused {
    let key_used = users.values().any(|(used, _)| *used == key);
    let observer_used = users
        .values()
        .any(|(used, used_project)| *used == key && *used_project == project);
    Unused {
        observer: (!observer_used).then(|| (key.clone(), project)),
        key: (!key_used).then_some(key),
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
