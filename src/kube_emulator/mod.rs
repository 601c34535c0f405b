//! Kubernetes API emulator: an in-process API server that kube-rs and kubectl accept.
//! Depends on nothing else in this crate.
//!
//! What it serves: CustomResourceDefinitions and their custom resources (schema pruning, defaults,
//! validation, status subresource, printer columns), and schemaless built-ins (Namespaces, Secrets,
//! ConfigMaps, Events in both APIs, Leases, ServiceAccounts, Services, Deployments, RBAC kinds).
//! Lists page from one snapshot; watches resume from a resourceVersion within a bounded history.
//!
//! Not emulated (documented limits):
//! - authentication and authorization: every request is allowed; sockets are plain HTTP;
//! - admission webhooks, CEL `x-kubernetes-validations`, CRD conversion webhooks (all served
//!   versions share one storage; only `apiVersion` changes);
//! - foreground and orphan propagation: owner-reference garbage collection is always background
//!   (dependents whose owners are all gone are deleted right after the owner);
//! - namespace termination: deleting a namespace deletes its content at once (objects holding
//!   finalizers are marked for deletion) and removes the namespace without a Terminating phase;
//! - deleting a CRD removes its custom resources at once, finalizers notwithstanding;
//! - strategic merge patch is applied as a JSON merge patch (lists are replaced, not merged by key);
//! - controllers of built-ins (Deployments never get Pods, Services no endpoints), protobuf, aggregated discovery.

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
mod reads;
mod registry;
mod request_log;
mod resources;
mod routes;
pub mod scale;
mod selectors;
mod state;
mod status;
mod store;
mod watch;
mod writes;

pub use emulator::{Emulator, EmulatorError, EmulatorOptions, ServeHandle};
pub use faults::{Faults, WriteFault};
pub use request_log::RequestRecord;
