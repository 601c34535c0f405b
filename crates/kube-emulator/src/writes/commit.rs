//! Where a write is stored. A request's write is computed outside the state lock and stored only
//! if what it read is still current, else computed again (kube-apiserver's GuaranteedUpdate): the
//! lock is held to read and to store, not to decode, merge, validate or record field ownership.

use super::super::resources::ResourceType;
use super::super::shared::Shared;
use super::super::state::State;
use super::super::status::ApiError;
use super::super::store::ObjectKey;
use super::WriteOutcome;
use super::admit::after_commit;
use super::delete::remove;
use serde_json::Value;
use std::sync::Arc;

/// What a write reads of the state: the object at its key, and whether its namespace exists.
#[derive(Clone)]
pub(super) struct Snapshot {
    pub current: Option<Arc<Value>>,
    pub namespace_exists: bool,
}

impl Snapshot {
    fn read(state: &State, rt: &ResourceType, key: &ObjectKey) -> Self {
        let namespace = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
        Self {
            current: state.store.get(&rt.storage_key(), key),
            namespace_exists: namespace.is_none_or(|ns| state.namespace_exists(ns)),
        }
    }

    /// Whether `state` still shows what this snapshot read (the very same stored object).
    fn is_current(&self, state: &State, rt: &ResourceType, key: &ObjectKey) -> bool {
        let now = Self::read(state, rt, key);
        let same_object = match (&self.current, &now.current) {
            (Some(read), Some(now)) => Arc::ptr_eq(read, now),
            (None, None) => true,
            _ => false,
        };
        same_object && self.namespace_exists == now.namespace_exists
    }
}

/// A computed write: what changes in the store, if anything.
pub(super) enum Prepared {
    /// Nothing is stored (a dry run, or a write that changes nothing): the answer as it is.
    Answer(WriteOutcome),
    /// The object is stored at the key, created or replacing the one read.
    Put {
        object: Value,
        created: bool,
        warnings: Vec<String>,
    },
    /// The object leaves the store (its last finalizer went while it was being deleted).
    Remove { last: Value, warnings: Vec<String> },
}

/// Who stores a write: a caller already holding the lock, or a request taking it as it needs it.
pub enum Writer<'a> {
    Locked(&'a mut State),
    Shared(&'a Shared),
}

impl Writer<'_> {
    /// Computes the write to `key` from what the state shows and stores it.
    pub(super) fn write(
        self,
        rt: &ResourceType,
        key: ObjectKey,
        mut compute: impl FnMut(&Snapshot) -> Result<Prepared, ApiError>,
    ) -> Result<WriteOutcome, ApiError> {
        match self {
            Writer::Locked(state) => {
                let prepared = compute(&Snapshot::read(state, rt, &key))?;
                Ok(commit(state, rt, key, prepared))
            }
            Writer::Shared(shared) => loop {
                let snapshot = Snapshot::read(&shared.lock(), rt, &key);
                let prepared = compute(&snapshot)?;
                let mut state = shared.lock();
                if snapshot.is_current(&state, rt, &key) {
                    return Ok(commit(&mut state, rt, key, prepared));
                }
            },
        }
    }
}

fn commit(
    state: &mut State,
    rt: &ResourceType,
    key: ObjectKey,
    prepared: Prepared,
) -> WriteOutcome {
    match prepared {
        Prepared::Answer(outcome) => outcome,
        Prepared::Put {
            object,
            created,
            warnings,
        } => {
            let stored = state.store.put(&rt.storage_key(), key, object);
            after_commit(state, rt, &stored);
            WriteOutcome {
                object: (*stored).clone(),
                created,
                warnings,
            }
        }
        Prepared::Remove { last, warnings } => WriteOutcome {
            object: remove(state, rt, &key, last),
            created: false,
            warnings,
        },
    }
}
