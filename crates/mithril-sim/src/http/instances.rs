//! `/v2/instances...`: listing, reserved pause/resume, status, status and pricing history.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use jiff::Timestamp;
use std::time::Duration;

use super::error::ApiError;
use super::faults::ListLag;
use super::present::{instance_model, instance_status};
use super::spot::{cursor, sort_order};
use super::validate::{Fields, Problems, Query, body_object};
use crate::Sim;
use crate::wire::{
    GetInstancesResponse, InstancePricingHistory, InstancePricingHistoryResponse, InstanceStatus,
    InstanceStatusHistory, InstanceStatusHistoryResponse, InstanceStatusResponse,
    PatchInstanceStatusResponse,
};
use crate::world::{
    Caller, Cursor, Instance, Owner, Page, ReservedAction, ReservedError, SEEDED_ORDER, SortOrder,
    World, as_listed, page_by_creation, page_by_key, page_by_rank,
};

fn status_names() -> Vec<&'static str> {
    InstanceStatus::ALL
        .iter()
        .map(|status| status.as_str())
        .collect()
}

fn project_param(
    query: &Query,
    caller: &Caller,
    problems: &mut Problems,
) -> Result<Option<String>, ApiError> {
    let project = query.required_string("project", problems);
    if project
        .as_ref()
        .is_some_and(|project| !caller.sees(project))
        && problems.is_empty()
    {
        return Err(ApiError::NotFound("Project not found".into()));
    }
    Ok(project)
}

fn owner_is(
    world: &World,
    instance: &Instance,
    bid_fids: Option<&Vec<String>>,
    reservation_fids: Option<&Vec<String>>,
) -> bool {
    if bid_fids.is_none() && reservation_fids.is_none() {
        return true;
    }
    let (bid, reservation) = world.owner_fids(instance);
    bid_fids.is_none_or(|fids| bid.as_ref().is_some_and(|bid| fids.contains(bid)))
        && reservation_fids
            .is_none_or(|fids| reservation.as_ref().is_some_and(|r| fids.contains(r)))
}

/// `GET /v2/instances`. Without `sort_by` the order is a seeded shuffle (the spec fixes none);
/// under a `list_lag` fault the list shows instances as they were that long ago.
pub async fn list_instances(
    State(sim): State<Sim>,
    Extension(caller): Extension<Caller>,
    lag: Option<Extension<ListLag>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<GetInstancesResponse>, ApiError> {
    let query = Query::parse(raw.as_deref());
    let mut problems = Problems::default();
    let project = project_param(&query, &caller, &mut problems)?;
    let sort = query
        .one_of(
            "sort_by",
            &["created_at", "instance_status", "instance_type_fid"],
            &mut problems,
        )
        .unwrap_or_else(|| SEEDED_ORDER.into());
    let order = sort_order(&query, &mut problems);
    let statuses: Option<Vec<InstanceStatus>> = query
        .list_of("status_in", &status_names(), &mut problems)
        .map(|names| {
            names
                .iter()
                .filter_map(|name| InstanceStatus::parse(name))
                .collect()
        });
    let order_types = query.list_of("order_type_in", &["Bid", "Reservation"], &mut problems);
    let limit = query.limit(&mut problems);
    problems.finish(())?;
    let project = project.unwrap_or_default();
    let after = cursor(&query, &sort, order)?;
    let (instance_type, region) = (query.string("instance_type"), query.string("region"));
    let (bid_fids, reservation_fids) = (query.list("bid_fid_in"), query.list("reservation_fid_in"));
    let world = sim.world();
    let keep = |instance: &Instance| {
        instance.project == project
            && instance_type
                .as_ref()
                .is_none_or(|it| &instance.instance_type == it)
            && region
                .as_ref()
                .is_none_or(|region| &instance.region == region)
            && statuses
                .as_ref()
                .is_none_or(|statuses| statuses.contains(&instance.status))
            && order_types.as_ref().is_none_or(|types| {
                let kind = match instance.owner {
                    Owner::Bid(_) => "Bid",
                    Owner::Reservation(_) => "Reservation",
                };
                types.iter().any(|wanted| wanted == kind)
            })
            && owner_is(
                &world,
                instance,
                bid_fids.as_ref(),
                reservation_fids.as_ref(),
            )
    };
    let view = world.lagged_instances(lag.map_or(Duration::ZERO, |lag| lag.0.0));
    let listed = |seq: u64, instance| as_listed(&view, seq, instance).filter(|i| keep(i));
    let page: Page<&Instance> = match sort.as_str() {
        "created_at" => page_by_creation(
            world.instances(),
            &sort,
            order,
            after.as_ref(),
            limit,
            listed,
        ),
        SEEDED_ORDER => {
            let ranked = world
                .instances()
                .iter()
                .filter_map(|(seq, instance)| listed(*seq, instance))
                .map(|instance| {
                    let rank = world.unsorted_rank(instance.seq, instance.status.as_str());
                    (rank, instance.seq, instance)
                });
            page_by_rank(ranked, &sort, order, after.as_ref(), limit)
        }
        by => {
            let keyed = world
                .instances()
                .iter()
                .filter_map(|(seq, instance)| listed(*seq, instance))
                .map(|instance| {
                    let key = if by == "instance_status" {
                        instance.status.as_str().to_owned()
                    } else {
                        instance.instance_type.clone()
                    };
                    (key, instance.seq, instance)
                })
                .collect();
            page_by_key(keyed, &sort, order, after.as_ref(), limit)
        }
    };
    Ok(Json(GetInstancesResponse {
        data: page
            .items
            .into_iter()
            .map(|instance| instance_model(&world, instance))
            .collect(),
        next_cursor: page.next.map(|cursor| cursor.encode()),
    }))
}

/// `PATCH /v2/instances`: pause (`STATUS_PAUSED`) or resume (`STATUS_RUNNING`) reserved instances.
pub async fn set_instances_status(
    State(sim): State<Sim>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<PatchInstanceStatusResponse>, ApiError> {
    let mut problems = Problems::default();
    let parsed = body_object(&body, &mut problems).map(|object| {
        let fields = Fields::new(&object, &["body"]);
        let instances = fields.string_list("instances", true, &mut problems);
        let status = fields.one_of(
            "status",
            true,
            &["STATUS_RUNNING", "STATUS_PAUSED"],
            &mut problems,
        );
        (instances, status)
    });
    problems.finish(())?;
    let (Some(mut fids), Some(status)) = parsed.unwrap_or((None, None)) else {
        return Err(ApiError::BadRequest("invalid request".into()));
    };
    // The field is a set: duplicates collapse, as pydantic's set validation does.
    let mut seen = std::collections::HashSet::new();
    fids.retain(|fid| seen.insert(fid.clone()));
    let action = if status == "STATUS_PAUSED" {
        ReservedAction::Pause
    } else {
        ReservedAction::Resume
    };
    let answer = sim
        .world()
        .set_reserved_status(&caller, &fids, action)
        .map_err(|error| match error {
            ReservedError::NotFound(_) => ApiError::NotFound(error.to_string()),
            ReservedError::Spot(_) => ApiError::NotImplemented(error.to_string()),
            ReservedError::NotReady(_) => ApiError::Conflict(error.to_string()),
        })?;
    Ok(Json(PatchInstanceStatusResponse { instances: answer }))
}

/// `GET /v2/instances/{instance_fid}/status`.
pub async fn get_instance_status(
    State(sim): State<Sim>,
    Extension(caller): Extension<Caller>,
    Path(fid): Path<String>,
) -> Result<Json<InstanceStatusResponse>, ApiError> {
    let world = sim.world();
    let instance = world
        .instance(&fid)
        .filter(|instance| caller.sees(&instance.project))
        .ok_or_else(|| ApiError::NotFound("Instance not found".into()))?;
    Ok(Json(instance_status(&world, instance)))
}

/// The common parameters of the two history endpoints.
struct HistoryQuery {
    project: String,
    instance_fid: Option<String>,
    bid_fid: Option<String>,
    reservation_fid: Option<String>,
    start_time: Option<Timestamp>,
    end_time: Option<Timestamp>,
    limit: usize,
    after: Option<Cursor>,
}

const HISTORY_ORDER: &str = "history";

fn history_query(raw: Option<&str>, caller: &Caller) -> Result<HistoryQuery, ApiError> {
    let query = Query::parse(raw);
    let mut problems = Problems::default();
    let project = project_param(&query, caller, &mut problems)?;
    let start_time = query.timestamp("start_time", &mut problems);
    let end_time = query.timestamp("end_time", &mut problems);
    let limit = query.limit(&mut problems);
    problems.finish(())?;
    Ok(HistoryQuery {
        project: project.unwrap_or_default(),
        instance_fid: query.string("instance_fid"),
        bid_fid: query.string("bid_fid"),
        reservation_fid: query.string("reservation_fid"),
        start_time,
        end_time,
        limit,
        after: cursor(&query, HISTORY_ORDER, SortOrder::Asc)?,
    })
}

fn history_page<'w>(world: &'w World, query: &HistoryQuery) -> Page<&'w Instance> {
    let bid_fids = query.bid_fid.clone().map(|fid| vec![fid]);
    let reservation_fids = query.reservation_fid.clone().map(|fid| vec![fid]);
    let keep = |instance: &Instance| {
        instance.project == query.project
            && query
                .instance_fid
                .as_ref()
                .is_none_or(|fid| &instance.fid == fid)
            && owner_is(
                world,
                instance,
                bid_fids.as_ref(),
                reservation_fids.as_ref(),
            )
    };
    page_by_creation(
        world.instances(),
        HISTORY_ORDER,
        SortOrder::Asc,
        query.after.as_ref(),
        query.limit,
        |_, instance| keep(instance).then_some(instance),
    )
}

fn within(at: Timestamp, query: &HistoryQuery) -> bool {
    query.start_time.is_none_or(|start| at >= start) && query.end_time.is_none_or(|end| at <= end)
}

/// `GET /v2/instances/status/history`: every recorded transition, per instance.
pub async fn status_history(
    State(sim): State<Sim>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Json<InstanceStatusHistoryResponse>, ApiError> {
    let query = history_query(raw.as_deref(), &caller)?;
    let world = sim.world();
    let page = history_page(&world, &query);
    let instances = page
        .items
        .into_iter()
        .map(|instance| {
            let (bid_fid, reservation_fid) = world.owner_fids(instance);
            InstanceStatusHistory {
                instance_fid: instance.fid.clone(),
                events: instance
                    .events
                    .iter()
                    .filter(|event| within(event.timestamp, &query))
                    .cloned()
                    .collect(),
                bid_fid,
                reservation_fid,
            }
        })
        .collect();
    Ok(Json(InstanceStatusHistoryResponse {
        instances,
        next_cursor: page.next.map(|cursor| cursor.encode()),
    }))
}

/// `GET /v2/instances/pricing/history`: price periods (integer cents) per instance; a period
/// belongs to the window when it overlaps it.
pub async fn pricing_history(
    State(sim): State<Sim>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Json<InstancePricingHistoryResponse>, ApiError> {
    let query = history_query(raw.as_deref(), &caller)?;
    let world = sim.world();
    let page = history_page(&world, &query);
    let instances = page
        .items
        .into_iter()
        .map(|instance| {
            let (bid_fid, reservation_fid) = world.owner_fids(instance);
            let overlaps = |period: &&crate::wire::InstancePricingEvent| {
                query.end_time.is_none_or(|end| period.start_time <= end)
                    && query.start_time.is_none_or(|start| {
                        period.end_time.is_none_or(|period_end| period_end >= start)
                    })
            };
            InstancePricingHistory {
                instance_fid: instance.fid.clone(),
                events: instance.pricing.iter().filter(overlaps).cloned().collect(),
                bid_fid,
                reservation_fid,
            }
        })
        .collect();
    Ok(Json(InstancePricingHistoryResponse {
        instances,
        next_cursor: page.next.map(|cursor| cursor.encode()),
    }))
}
