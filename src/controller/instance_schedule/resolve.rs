//! What a schedule's names stand for on Mithril: its API key, its project and its filter's
//! instance type, and the shared observer of that project.

use super::plan::SpecError;
use crate::controller::{Context, Error};
use crate::crd::InstanceSchedule;
use crate::observe::{MithrilObserver, ObserveError};
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
/// `Ok(Err(_))` for what only the user can fix (a missing Secret, a rejected key, an unknown
/// project or type); `Err(_)` for what retrying may fix (Mithril or the API server unreachable).
pub async fn resolve(
    schedule: &InstanceSchedule,
    shared: &Context,
) -> Result<Result<Resolved, SpecError>, Error> {
    let spec = &schedule.spec;
    let namespace = schedule.namespace().unwrap_or_default();
    let key_field = match spec.api_key_secret_ref {
        Some(_) => "spec.apiKeySecretRef",
        None => "the operator's API key",
    };
    let key = match shared
        .keys
        .key_for(&namespace, spec.api_key_secret_ref.as_ref())
        .await?
    {
        Ok(key) => key,
        Err(problem) => return Ok(Err(unresolved(key_field, problem.message))),
    };
    let project_fid = match shared.registry.resolve_project(&key, &spec.project).await {
        Ok(fid) => fid,
        Err(error) => {
            return classify(error, key_field, "spec.project", || {
                format!("Mithril has no project {:?} for this API key", spec.project)
            });
        }
    };
    let instance_type = spec
        .selector
        .filter
        .as_ref()
        .and_then(|filter| filter.instance_type.as_ref());
    let instance_type_fid = match instance_type {
        None => None,
        Some(name) => match shared.registry.resolve_instance_type(&key, name).await {
            Ok(fid) => Some(fid),
            Err(error) => {
                return classify(
                    error,
                    key_field,
                    "spec.selector.filter.instanceType",
                    || format!("Mithril has no instance type {name:?}"),
                );
            }
        },
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
    Ok(Ok(Resolved {
        key,
        client,
        observer,
        project_fid,
        instance_type_fid,
    }))
}

fn unresolved(field: &str, reason: impl Into<String>) -> SpecError {
    SpecError::Unresolved {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A failed lookup: a rejected key or an unknown name is for the user to fix; anything else
/// (Mithril down, rate limited) is retried.
fn classify<T>(
    error: ObserveError,
    key_field: &str,
    field: &str,
    not_found: impl FnOnce() -> String,
) -> Result<Result<T, SpecError>, Error> {
    if error.is_auth() {
        Ok(Err(unresolved(
            key_field,
            format!("Mithril rejected the API key: {error}"),
        )))
    } else if error.is_not_found() {
        Ok(Err(unresolved(field, not_found())))
    } else {
        Err(error.into())
    }
}
