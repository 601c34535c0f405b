//! `/v2/spot/...`: bids and availability.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};
use std::time::Duration;

use super::error::ApiError;
use super::faults::ListLag;
use super::present::{auction_model, bid_model};
use super::validate::{Fields, Problems, Query, body_object};
use crate::Sim;
use crate::money::{PRICE_PATTERN, parse_price};
use crate::wire::{
    AuctionModel, BidHistoryResponse, BidModel, BidStatus, BidStatusResponse, GetBidsResponse,
    LaunchSpecificationModel,
};
use crate::world::{
    Bid, BidUpdate, Caller, CreateBid, CreateBidError, Cursor, SEEDED_ORDER, SortOrder,
    UpdateBidError, World, as_listed, page_by_creation, page_by_key, page_by_rank,
};

const BID_STATUSES: [&str; 5] = ["Open", "Allocated", "Preempting", "Terminated", "Paused"];
const QUANTITY_MAX: i64 = u32::MAX as i64;

pub(super) fn sort_order(query: &Query, problems: &mut Problems) -> SortOrder {
    match query
        .one_of("sort_dir", &["asc", "desc"], problems)
        .as_deref()
    {
        Some("desc") => SortOrder::Desc,
        _ => SortOrder::Asc,
    }
}

/// Decodes `next_cursor`, reporting a malformed or foreign one as FastAPI reports a bad value.
pub(super) fn cursor(
    query: &Query,
    sort: &str,
    order: SortOrder,
) -> Result<Option<Cursor>, ApiError> {
    let Some(text) = query.string("next_cursor") else {
        return Ok(None);
    };
    Cursor::decode(&text, sort, order)
        .map(Some)
        .map_err(|error| {
            Problems::single_value_error(
                vec!["query".into(), "next_cursor".into()],
                Value::String(text),
                &error.to_string(),
            )
        })
}

fn visible_bid<'w>(world: &'w World, caller: &Caller, fid: &str) -> Result<&'w Bid, ApiError> {
    world
        .bid(fid)
        .filter(|bid| caller.sees(&bid.project))
        .ok_or_else(|| ApiError::NotFound("Bid not found".into()))
}

fn project_not_found() -> ApiError {
    ApiError::NotFound("Project not found".into())
}

/// `GET /v2/spot/bids`. Without `sort_by` the order is a seeded shuffle (the spec fixes none);
/// under a `list_lag` fault the list shows bids as they were that long ago.
pub async fn list_bids(
    State(sim): State<Sim>,
    Extension(caller): Extension<Caller>,
    lag: Option<Extension<ListLag>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<GetBidsResponse>, ApiError> {
    let query = Query::parse(raw.as_deref());
    let mut problems = Problems::default();
    let sort = query
        .one_of("sort_by", &["created_at", "status"], &mut problems)
        .unwrap_or_else(|| SEEDED_ORDER.into());
    let order = sort_order(&query, &mut problems);
    let status = query
        .one_of("status", &BID_STATUSES, &mut problems)
        .and_then(|text| BidStatus::parse(&text));
    let limit = query.limit(&mut problems);
    problems.finish(())?;
    let after = cursor(&query, &sort, order)?;
    let project = query.string("project");
    let (instance_type, region, name) = (
        query.string("instance_type"),
        query.string("region"),
        query.string("name"),
    );
    let world = sim.world();
    if project
        .as_ref()
        .is_some_and(|project| !caller.sees(project))
    {
        return Err(project_not_found());
    }
    let keep = |bid: &Bid| {
        caller.sees(&bid.project)
            && project
                .as_ref()
                .is_none_or(|project| &bid.project == project)
            && instance_type
                .as_ref()
                .is_none_or(|it| &bid.instance_type == it)
            && region.as_ref().is_none_or(|region| &bid.region == region)
            && status.is_none_or(|status| bid.status == status)
            && name.as_ref().is_none_or(|name| &bid.name == name)
    };
    let view = world.lagged_bids(lag.map_or(Duration::ZERO, |lag| lag.0.0));
    let listed = |seq: u64, bid| as_listed(&view, seq, bid).filter(|bid| keep(bid));
    let page = match sort.as_str() {
        "created_at" => page_by_creation(world.bids(), &sort, order, after.as_ref(), limit, listed),
        "status" => {
            let keyed = world
                .bids()
                .iter()
                .filter_map(|(seq, bid)| listed(*seq, bid))
                .map(|bid| (bid.status.as_str().to_owned(), bid.seq, bid))
                .collect();
            page_by_key(keyed, &sort, order, after.as_ref(), limit)
        }
        _ => {
            let ranked = world
                .bids()
                .iter()
                .filter_map(|(seq, bid)| listed(*seq, bid))
                .map(|bid| {
                    (
                        world.unsorted_rank(bid.seq, bid.status.as_str()),
                        bid.seq,
                        bid,
                    )
                });
            page_by_rank(ranked, &sort, order, after.as_ref(), limit)
        }
    }
    .map(|bid| bid_model(&world, bid));
    Ok(Json(GetBidsResponse {
        data: page.items,
        next_cursor: page.next.map(|cursor| cursor.encode()),
    }))
}

fn launch_specification(
    object: &Map<String, Value>,
    problems: &mut Problems,
) -> Option<LaunchSpecificationModel> {
    let fields = Fields::new(object, &["body", "launch_specification"]);
    let volumes = fields.string_list("volumes", true, problems);
    let ssh_keys = fields.string_list("ssh_keys", true, problems);
    let startup_script = fields.string("startup_script", false, problems);
    let kubernetes_cluster = fields.string("kubernetes_cluster", false, problems);
    let image_version = fields.string("image_version", false, problems);
    let memory_gb = fields.integer("memory_gb", false, 1, i64::from(u32::MAX), problems);
    Some(LaunchSpecificationModel {
        volumes: volumes?,
        ssh_keys: ssh_keys?,
        startup_script,
        kubernetes_cluster,
        image_version,
        memory_gb,
    })
}

fn create_request(
    object: &Map<String, Value>,
    world: &World,
    problems: &mut Problems,
) -> Option<CreateBid> {
    let fields = Fields::new(object, &["body"]);
    let project = fields.string("project", true, problems);
    let region = fields.string("region", true, problems);
    if let Some(region) = region.as_ref().filter(|region| !world.has_region(region)) {
        fields.value_error("region", problems, &format!("unknown region '{region}'"));
    }
    let instance_type = fields.string("instance_type", true, problems);
    let known_type = instance_type
        .as_ref()
        .is_some_and(|it| world.instance_types().iter().any(|known| &known.fid == it));
    if let Some(instance_type) = instance_type.as_ref().filter(|_| !known_type) {
        fields.value_error(
            "instance_type",
            problems,
            &format!("unknown instance type '{instance_type}'"),
        );
    }
    let limit = fields.patterned_string(
        "limit_price",
        true,
        PRICE_PATTERN,
        |text| parse_price(text).is_some(),
        problems,
    );
    let quantity = fields.integer("instance_quantity", true, 1, QUANTITY_MAX, problems);
    let name = fields.non_empty_string("name", true, problems);
    let launch = fields
        .object(
            "launch_specification",
            true,
            "LaunchSpecificationModel",
            problems,
        )
        .and_then(|object| launch_specification(object, problems));
    if !problems.is_empty() {
        return None;
    }
    Some(CreateBid {
        project: project?,
        region: region?,
        instance_type: instance_type?,
        limit_cents: parse_price(&limit?)?,
        quantity: u32::try_from(quantity?).ok()?,
        name: name?,
        launch_specification: launch?,
    })
}

/// `POST /v2/spot/bids`.
pub async fn create_bid(
    State(sim): State<Sim>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<(StatusCode, Json<BidModel>), ApiError> {
    let mut problems = Problems::default();
    let object = body_object(&body, &mut problems);
    let mut world = sim.world();
    let request = object.and_then(|object| create_request(&object, &world, &mut problems));
    problems.finish(())?;
    let Some(request) = request else {
        return Err(ApiError::BadRequest("invalid request".into()));
    };
    if !caller.sees(&request.project) {
        return Err(project_not_found());
    }
    let (region, instance_type) = (request.region.clone(), request.instance_type.clone());
    let seq = world
        .create_bid(request, &caller.user)
        .map_err(|error| match error {
            CreateBidError::NameUsed => ApiError::BadRequest("name already used".into()),
            CreateBidError::NoAuction => Problems::single_value_error(
                vec!["body".into(), "instance_type".into()],
                Value::String(instance_type.clone()),
                &format!("instance type '{instance_type}' is not offered in region '{region}'"),
            ),
        })?;
    let bid = world.bid_by_seq(seq).map(|bid| bid_model(&world, bid));
    bid.map(|bid| (StatusCode::CREATED, Json(bid)))
        .ok_or_else(|| ApiError::NotFound("Bid not found".into()))
}

/// `GET /v2/spot/bids/{bid_fid}`.
pub async fn get_bid(
    State(sim): State<Sim>,
    Extension(caller): Extension<Caller>,
    Path(fid): Path<String>,
) -> Result<Json<BidModel>, ApiError> {
    let world = sim.world();
    let bid = visible_bid(&world, &caller, &fid)?;
    Ok(Json(bid_model(&world, bid)))
}

/// `DELETE /v2/spot/bids/{bid_fid}`: 204; cancelling a Terminated bid again is a no-op.
pub async fn cancel_bid(
    State(sim): State<Sim>,
    Extension(caller): Extension<Caller>,
    Path(fid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let mut world = sim.world();
    let seq = visible_bid(&world, &caller, &fid)?.seq;
    world.cancel_bid(seq, &caller.user);
    Ok(StatusCode::NO_CONTENT)
}

fn update_request(object: &Map<String, Value>, problems: &mut Problems) -> BidUpdate {
    let fields = Fields::new(object, &["body"]);
    let limit = fields.patterned_string(
        "limit_price",
        false,
        PRICE_PATTERN,
        |text| parse_price(text).is_some(),
        problems,
    );
    BidUpdate {
        limit_cents: limit.as_deref().and_then(parse_price),
        paused: fields.boolean("paused", false, problems),
        volumes: fields.string_list("volumes", false, problems),
        memory_gb: fields.integer("memory_gb", false, 1, i64::from(u32::MAX), problems),
    }
}

/// `PATCH /v2/spot/bids/{bid_fid}`: limit price, pause/resume, volumes, memory.
pub async fn update_bid(
    State(sim): State<Sim>,
    Extension(caller): Extension<Caller>,
    Path(fid): Path<String>,
    body: Bytes,
) -> Result<Json<BidModel>, ApiError> {
    let mut problems = Problems::default();
    let update =
        body_object(&body, &mut problems).map(|object| update_request(&object, &mut problems));
    problems.finish(())?;
    let update = update.unwrap_or_default();
    let mut world = sim.world();
    let seq = visible_bid(&world, &caller, &fid)?.seq;
    world
        .update_bid(seq, update, &caller.user)
        .map_err(|error| match error {
            UpdateBidError::Terminated => ApiError::BadRequest("Bid is terminated".into()),
        })?;
    let bid = world.bid_by_seq(seq).map(|bid| bid_model(&world, bid));
    bid.map(Json)
        .ok_or_else(|| ApiError::NotFound("Bid not found".into()))
}

/// `GET /v2/spot/bids/{bid_fid}/status`.
pub async fn bid_status(
    State(sim): State<Sim>,
    Extension(caller): Extension<Caller>,
    Path(fid): Path<String>,
) -> Result<Json<BidStatusResponse>, ApiError> {
    let world = sim.world();
    let bid = visible_bid(&world, &caller, &fid)?;
    Ok(Json(BidStatusResponse {
        bid_fid: bid.fid.clone(),
        status: bid.status,
    }))
}

/// `GET /v2/spot/bids/{bid_fid}/history`.
pub async fn bid_history(
    State(sim): State<Sim>,
    Extension(caller): Extension<Caller>,
    Path(fid): Path<String>,
) -> Result<Json<BidHistoryResponse>, ApiError> {
    let world = sim.world();
    let bid = visible_bid(&world, &caller, &fid)?;
    Ok(Json(BidHistoryResponse {
        bid_fid: bid.fid.clone(),
        events: bid.history.clone(),
    }))
}

/// `GET /v2/spot/availability`: every auction, with free capacity.
pub async fn availability(State(sim): State<Sim>) -> Json<Vec<AuctionModel>> {
    let world = sim.world();
    Json(
        (0..world.auctions().len())
            .filter_map(|index| auction_model(&world, index))
            .collect(),
    )
}
