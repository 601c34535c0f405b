//! kube-runtime's pieces this operator replaces with its own, each kept for a gain BENCHMARKS.md
//! measured or a defect of kube-runtime's it avoids, and the one invariant each keeps:
//!
//! - [`trigger_gate`]: a resource woken while it waits is reconciled once, after every change
//!   that woke it.
//! - [`worthy_changes`]: a watch event wakes a resource exactly when what its reconcile acts on
//!   changed, or it was deleted.
//! - [`resync`]: every resource is revisited once per interval, whenever it was created.
//! - [`events`]: an event repeated within the series window becomes a series of the first one,
//!   as with kube-runtime's recorder.
//! - [`finalizer`]: the finalizer is stored before any external write and removed only after
//!   cleanup succeeded.
//! - [`triggers`]: every reconcile is counted under the name of what woke it (never `unknown`).
//! - [`listed`]: a watch event wakes a resource only once the cache shows it (kube-runtime's
//!   `touched_objects()` hands a relist's objects over before its cache has them).
//!
//! Values only compared are kept as 64-bit digests ([`crate::digest`]); here a collision costs a
//! needless reconcile or a wait for the next resync, never a wrong action (a reconcile reads the
//! resource).

pub mod events;
pub mod finalizer;
pub mod listed;
pub mod resync;
pub mod trigger_gate;
pub mod triggers;
pub mod worthy_changes;
