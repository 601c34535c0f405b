//! Kubernetes API emulator: an in-process API server that kube-rs and kubectl accept.
//! Depends on no other crate of the project.
//!
//! What it serves: CustomResourceDefinitions and their custom resources (schema pruning, defaults,
//! validation as 422 with causes, CEL validation rules (`x-kubernetes-validations`, with
//! `oldSelf` transition rules, `messageExpression`, `reason` and `fieldPath`), `fieldValidation`,
//! status and scale subresources, printer columns), and
//! schemaless built-ins (Namespaces, Secrets, ConfigMaps, Events in both APIs over one storage,
//! Leases, ServiceAccounts, Services, Deployments, PodDisruptionBudgets, NetworkPolicies, RBAC
//! kinds) with kube-apiserver's table columns, whose bodies may be JSON, YAML or (except
//! Deployments, PodDisruptionBudgets, NetworkPolicies and CRDs) protobuf, as client-go's typed
//! clients and kubectl's typed `create` commands send them. One global resourceVersion; lists
//! page from one snapshot; watches resume from a resourceVersion within a bounded history (older:
//! a 410 ERROR event); bookmarks, streaming lists, selectors, metadata-only and Table forms;
//! merge, JSON, strategic-merge patches and server-side apply; finalizers, dry runs, background
//! owner-reference garbage collection; discovery (also aggregated) and OpenAPI v3 for kubectl.
//!
//! Use [`Emulator::client`] for an in-process `kube::Client` (no socket) or [`Emulator::serve`]
//! plus [`Emulator::kubeconfig_yaml`] for other processes and kubectl. Both need a Tokio runtime.
//!
//! Not emulated (documented limits):
//! - authentication, authorization, TLS: every request is allowed; sockets are plain HTTP, meant
//!   for loopback only;
//! - admission webhooks, CRD conversion webhooks (all served versions share one storage; only
//!   `apiVersion` changes), validation ratcheting;
//! - CEL rules are parsed when the CRD is written (a rule that does not parse refuses the CRD) but
//!   not type-checked against the schema (a rule naming an undeclared field fails when it runs,
//!   not when the CRD is written), have no cost budget, and offer the standard library with the
//!   strings, lists and math extensions only (no Kubernetes `quantity`, `url`, `ip`, `format`
//!   libraries); `optionalOldSelf` rules run only when an old value exists;
//! - protobuf: answers are always JSON; Deployment, PodDisruptionBudget, NetworkPolicy and CRD
//!   bodies in protobuf get 415
//!   (`kubectl create deployment`: use `kubectl apply -f`); custom resources get 415 as on a real
//!   server;
//! - foreground and orphan deletion propagation: garbage collection is always background
//!   (dependents whose owners are all gone are deleted right after the last owner);
//! - namespace termination: deleting a namespace deletes its content at once (objects holding
//!   finalizers are marked for deletion) and removes the namespace without a Terminating phase;
//! - deleting a CRD removes its custom resources at once, finalizers notwithstanding;
//! - strategic merge patch knows the merging lists (`patchStrategy: merge`) of the served built-ins
//!   from a table of their paths (`patch.rs`), not from Kubernetes' Go types;
//! - built-in kinds are not validated beyond Secret data, events.k8s.io Events and CRDs, and have
//!   no controllers (a Deployment never gets Pods, a Service no endpoints);
//! - `resourceVersionMatch=NotOlderThan` with a future resourceVersion does not wait;
//! - an Event written through core v1 has its managed fields in events.k8s.io/v1 names (the
//!   storage both APIs share); bookmarks come every `bookmark_interval` (5 s), not about every
//!   minute and before the timeout as kube-apiserver's watch cache sends them;
//! - built-ins have no OpenAPI schema (`kubectl explain` shows no fields), Services get no cluster
//!   IP, node ports or defaults, and no built-in subresource but `status` is served (no
//!   Deployment `scale`, no `serviceaccounts/token`); no access or self subject reviews (`kubectl auth can-i|whoami`).

pub mod cli;
pub mod openapi;
pub mod schema;
pub mod ssa;
pub mod table;

mod builtin_rules;
mod conversion;
mod discovery;
mod emulator;
mod faults;
mod kubeconfig;
mod object;
mod output;
mod patch;
mod protobuf;
mod reads;
mod registry;
mod request_log;
mod resources;
mod routes;
pub mod scale;
mod scale_subresource;
mod selectors;
mod shared;
mod state;
mod status;
mod store;
mod watch;
mod writes;

pub use emulator::{Emulator, EmulatorError, ServeHandle};
pub use faults::{Faults, WriteFault};
pub use request_log::RequestRecord;
pub use shared::EmulatorOptions;
