//! What a schedule's names stand for on Mithril: its API key, its project and its filter's
//! instance type, and the shared observer of that project.

use super::plan::SpecError;
use crate::controller::error::classify;
use crate::controller::{Context, Error, Problem};
use crate::crd::{InstanceSchedule, Reason};
use crate::observe::MithrilObserver;
use kube::ResourceExt;
use mithril_api::{ApiKey, MithrilClient};

/// A schedule's names, resolved.
pub struct Resolved {
    pub key: ApiKey,
    /// The client of the key (shared with its observers, so the rate limit is shared).
    pub client: MithrilClient,
    pub observer: MithrilObserver,
    pub project_fid: String,
    /// The filter's instance type as an `it_` FID, when the filter names one.
    pub instance_type_fid: Option<String>,
}

/// Resolves a schedule's key, project and instance type.
///
/// [`Error::Problem`] for what only the user can fix (a missing Secret, a rejected key, an
/// unknown project or type: `InvalidSpec`; the operator's own key where the policy keeps it from
/// this namespace: `ApiKeyNotAllowed`); any other error for what retrying may fix (Mithril or
/// the API server unreachable).
pub async fn resolve(schedule: &InstanceSchedule, shared: &Context) -> Result<Resolved, Error> {
    let spec = &schedule.spec;
    let namespace = schedule.namespace().unwrap_or_default();
    let key_field = match spec.api_key_secret_ref {
        Some(_) => "spec.apiKeySecretRef",
        None => "the operator's API key",
    };
    let key = shared
        .keys
        .key_for(&namespace, spec.api_key_secret_ref.as_ref())
        .await
        .map_err(|error| match error {
            // The operator's policy, not a mistake in the spec: said as the SpotBids say it.
            Error::Problem(problem) if problem.reason == Reason::ApiKeyNotAllowed => {
                Error::Problem(problem)
            }
            Error::Problem(problem) => Error::Problem(unresolved(key_field, problem.message)),
            error => error,
        })?;
    let project_fid = shared
        .registry
        .resolve_project(&key, &spec.project)
        .await
        .map_err(|error| {
            classify(
                error,
                |message| unresolved(key_field, message),
                || {
                    unresolved(
                        "spec.project",
                        format!("Mithril has no project {:?} for this API key", spec.project),
                    )
                },
            )
        })?;
    let instance_type = spec
        .selector
        .filter
        .as_ref()
        .and_then(|filter| filter.instance_type.as_ref());
    let instance_type_fid = match instance_type {
        None => None,
        Some(name) => Some(
            shared
                .registry
                .resolve_instance_type(&key, name)
                .await
                .map_err(|error| {
                    classify(
                        error,
                        |message| unresolved(key_field, message),
                        || {
                            unresolved(
                                "spec.selector.filter.instanceType",
                                format!("Mithril has no instance type {name:?}"),
                            )
                        },
                    )
                })?,
        ),
    };
    // Noted before the observer is asked for, so that no other resource letting go of the key
    // meanwhile stops it under this one.
    shared.uses(
        &super::index::user_of(&kube::runtime::reflector::ObjectRef::from_obj(schedule)),
        &key,
        &project_fid,
    );
    let observer = shared.registry.observer(&key, &project_fid)?;
    let client = shared.registry.client(&key)?;
    Ok(Resolved {
        key,
        client,
        observer,
        project_fid,
        instance_type_fid,
    })
}

/// A name the spec gives that does not resolve: the schedule's spec is invalid.
fn unresolved(field: &str, reason: impl Into<String>) -> Problem {
    SpecError::Unresolved {
        field: field.to_owned(),
        reason: reason.into(),
    }
    .into()
}
