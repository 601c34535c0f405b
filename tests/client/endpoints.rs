//! Every Mithril endpoint against a scripted server: what the client sends (method, path, query,
//! body, headers) and how it decodes realistic answers.

use crate::support::client::*;
use futures::TryStreamExt;
use mithril_api::*;
use serde_json::json;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn list_bids_sends_filters_and_bearer_key() {
    let server = Server::start(vec![ok(json!({
        "data": [bid_json("bid_1", "train-a", "Open")],
        "next_cursor": "cur_2"
    }))])
    .await;
    let (client, _) = server.client();
    let query = ListBidsQuery::default()
        .project("proj_abc123456")
        .name("train-a")
        .status(BidStatus::Open)
        .sort(BidSortBy::CreatedAt, SortDirection::Asc)
        .limit(10);
    let page = client.list_bids(&query).await.unwrap();

    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].limit_price, Price::from_cents(1560));
    assert_eq!(page.items[0].status, BidStatus::Open);
    assert_eq!(page.next_cursor.as_deref(), Some("cur_2"));

    let request = server.only_request();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/v2/spot/bids");
    assert_eq!(
        request.query_pairs(),
        pairs(&[
            ("sort_by", "created_at"),
            ("sort_dir", "asc"),
            ("project", "proj_abc123456"),
            ("status", "Open"),
            ("name", "train-a"),
            ("limit", "10"),
        ])
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert_eq!(request.header("accept"), Some("application/json"));
    assert!(
        request
            .header("user-agent")
            .unwrap()
            .starts_with("mithril-operator/")
    );
    assert!(request.body.is_empty());
}

#[tokio::test]
async fn bids_stream_follows_cursors_through_three_pages() {
    let server = Server::start(vec![
        ok(json!({"data": [bid_json("bid_1", "a", "Open"), bid_json("bid_2", "b", "Open")], "next_cursor": "c2"})),
        ok(json!({"data": [bid_json("bid_3", "c", "Allocated")], "next_cursor": "c3"})),
        ok(json!({"data": [bid_json("bid_4", "d", "Paused")], "next_cursor": null})),
    ])
    .await;
    let (client, _) = server.client();
    let bids: Vec<Bid> = client
        .bids(ListBidsQuery::default().project("proj_abc123456").limit(2))
        .try_collect()
        .await
        .unwrap();

    let fids: Vec<_> = bids.iter().map(|b| b.fid.as_str()).collect();
    assert_eq!(fids, ["bid_1", "bid_2", "bid_3", "bid_4"]);
    let cursors: Vec<Option<String>> = server
        .received()
        .iter()
        .map(|r| {
            r.query_pairs()
                .into_iter()
                .find(|(k, _)| k == "next_cursor")
                .map(|(_, v)| v)
        })
        .collect();
    assert_eq!(cursors, [None, Some("c2".into()), Some("c3".into())]);
    for request in server.received() {
        assert!(
            request
                .query_pairs()
                .contains(&("project".into(), "proj_abc123456".into()))
        );
        assert!(
            request
                .query_pairs()
                .contains(&("limit".into(), "2".into()))
        );
    }
}

#[tokio::test]
async fn bids_stream_stops_on_a_repeated_cursor() {
    let server = Server::start(vec![
        ok(json!({"data": [bid_json("bid_1", "a", "Open")], "next_cursor": "c2"})),
        ok(json!({"data": [bid_json("bid_2", "b", "Open")], "next_cursor": "c2"})),
    ])
    .await;
    let (client, _) = server.client();
    let results: Vec<_> = futures::StreamExt::collect(client.bids(ListBidsQuery::default())).await;
    assert_eq!(results.len(), 3);
    let error = results[2].as_ref().unwrap_err();
    assert!(matches!(error, MithrilError::RepeatedCursor { cursor, .. } if cursor == "c2"));
    assert!(
        error
            .to_string()
            .starts_with("GET /v2/spot/bids: pagination cursor \"c2\" repeated")
    );
    assert_eq!(server.received().len(), 2);
}

fn create_request() -> CreateBidRequest {
    CreateBidRequest {
        project: "proj_abc123456".into(),
        region: "us-central1-a".into(),
        instance_type: "it_abc123456".into(),
        limit_price: "$25.60".parse().unwrap(),
        instance_quantity: 4,
        name: "train-a".into(),
        launch_specification: LaunchSpecification {
            volumes: vec!["vol_1234567890".into()],
            ssh_keys: vec!["sshkey_1234567890".into()],
            image_version: Some("imgver_abc123456".into()),
            ..Default::default()
        },
        notification_email: None,
    }
}

#[tokio::test]
async fn create_bid_posts_the_body_with_an_idempotency_key() {
    let server = Server::start(vec![status(201, bid_json("bid_new", "train-a", "Open"))]).await;
    let (client, _) = server.client();
    let bid = client
        .create_bid(&create_request(), "spotbid-uid-42-gen-1")
        .await
        .unwrap();
    assert_eq!(bid.fid, "bid_new");

    let request = server.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v2/spot/bids");
    assert_eq!(request.query, None);
    assert_eq!(
        request.header("idempotency-key"),
        Some("spotbid-uid-42-gen-1")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.json(),
        json!({
            "project": "proj_abc123456",
            "region": "us-central1-a",
            "instance_type": "it_abc123456",
            "limit_price": "$25.60",
            "instance_quantity": 4,
            "name": "train-a",
            "launch_specification": {
                "volumes": ["vol_1234567890"],
                "ssh_keys": ["sshkey_1234567890"],
                "image_version": "imgver_abc123456"
            }
        })
    );
}

#[tokio::test]
async fn create_bid_refuses_an_empty_idempotency_key_without_sending() {
    let server = Server::start(vec![]).await;
    let (client, _) = server.client();
    let error = client.create_bid(&create_request(), "").await.unwrap_err();
    assert!(
        matches!(error, MithrilError::InvalidArgument { .. }),
        "{error}"
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn get_bid_decodes_every_field() {
    let mut body = bid_json("bid_abc123456", "train-a", "Terminated");
    body["deactivated_at"] = json!("2024-01-02T03:04:05+00:00");
    let server = Server::start(vec![ok(body)]).await;
    let (client, _) = server.client();
    let bid = client.get_bid("bid_abc123456").await.unwrap();
    assert_eq!(server.only_request().path, "/v2/spot/bids/bid_abc123456");
    assert_eq!(bid.status, BidStatus::Terminated);
    assert_eq!(
        bid.deactivated_at,
        Some("2024-01-02T03:04:05Z".parse().unwrap())
    );
    assert_eq!(bid.created_at, "2024-01-01T00:00:00Z".parse().unwrap());
    assert_eq!(bid.instance_quantity, 4);
    assert_eq!(bid.region.as_deref(), Some("us-central1-a"));
    assert_eq!(bid.instances, ["inst_abc123456"]);
    assert_eq!(bid.launch_specification.volumes.len(), 2);
    assert_eq!(
        bid.launch_specification.startup_script.as_deref(),
        Some("#!/bin/bash\necho ready")
    );
    assert_eq!(bid.launch_specification.memory_gb, None);
}

#[tokio::test]
async fn path_parameters_are_escaped() {
    let server = Server::start(vec![ok(bid_json("x", "x", "Open"))]).await;
    let (client, _) = server.client();
    client.get_bid("bid_a/b?c").await.unwrap();
    assert_eq!(server.only_request().path, "/v2/spot/bids/bid_a%2Fb%3Fc");
    for bad in ["", ".", ".."] {
        let error = client.get_bid(bad).await.unwrap_err();
        assert!(
            matches!(error, MithrilError::InvalidArgument { .. }),
            "{bad:?}: {error}"
        );
    }
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn update_bid_patches_only_the_set_fields() {
    let mut body = bid_json("bid_1", "train-a", "Paused");
    body["limit_price"] = json!("$30.05");
    let server = Server::start(vec![ok(body)]).await;
    let (client, _) = server.client();
    let update = UpdateBidRequest::default()
        .limit_price(Price::from_cents(3005))
        .paused(true);
    let bid = client.update_bid("bid_1", &update).await.unwrap();
    assert_eq!(bid.limit_price, Price::from_cents(3005));

    let request = server.only_request();
    assert_eq!(request.method, "PATCH");
    assert_eq!(request.path, "/v2/spot/bids/bid_1");
    assert_eq!(
        request.json(),
        json!({"limit_price": "$30.05", "paused": true})
    );
    assert_eq!(request.header("idempotency-key"), None);
}

#[tokio::test]
async fn cancel_bid_deletes_and_accepts_204() {
    let server = Server::start(vec![Reply::Empty(204)]).await;
    let (client, _) = server.client();
    client.cancel_bid("bid_1").await.unwrap();
    let request = server.only_request();
    assert_eq!(request.method, "DELETE");
    assert_eq!(request.path, "/v2/spot/bids/bid_1");
}

#[tokio::test]
async fn bid_status_knows_relocating() {
    let server = Server::start(vec![ok(
        json!({"bid_fid": "bid_1", "status": "Relocating"}),
    )])
    .await;
    let (client, _) = server.client();
    let status = client.bid_status("bid_1").await.unwrap();
    assert_eq!(status.status, BidDetailedStatus::Relocating);
    let request = server.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/v2/spot/bids/bid_1/status")
    );
}

#[tokio::test]
async fn bid_history_decodes_events_and_unknown_types() {
    let server = Server::start(vec![ok(json!({
        "bid_fid": "bid_1",
        "events": [
            {"timestamp": "2024-01-01T00:00:00Z", "event_type": "Placed", "limit_price": "$15.60",
             "user_id": "user_abc123456", "memory_gb": null, "persistent_disk_change": null},
            {"timestamp": "2024-01-01T01:00:00Z", "event_type": "Limit Price Changed", "limit_price": "$18.00"},
            {"timestamp": "2024-01-01T02:00:00Z", "event_type": "Memory Adjusted", "memory_gb": 512},
            {"timestamp": "2024-01-01T03:00:00Z", "event_type": "Volumes Removed",
             "persistent_disk_change": {"attached": null, "removed": "vol_1234567890"}},
            {"timestamp": "2024-01-01T04:00:00Z", "event_type": "Teleported"}
        ]
    }))])
    .await;
    let (client, _) = server.client();
    let history = client.bid_history("bid_1").await.unwrap();
    assert_eq!(server.only_request().path, "/v2/spot/bids/bid_1/history");
    let types: Vec<_> = history
        .events
        .iter()
        .map(|e| e.event_type.clone())
        .collect();
    assert_eq!(
        types,
        [
            BidEventType::Placed,
            BidEventType::LimitPriceChanged,
            BidEventType::MemoryAdjusted,
            BidEventType::VolumesRemoved,
            BidEventType::Unknown("Teleported".into())
        ]
    );
    assert_eq!(history.events[1].limit_price, Some(Price::from_cents(1800)));
    assert_eq!(history.events[2].memory_gb, Some(512));
}

#[tokio::test]
async fn spot_availability_decodes_prices() {
    let server = Server::start(vec![ok(json!([
        {"fid": "auc_abc123456", "instance_type": "it_abc123456", "region": "us-central1-a", "capacity": 512,
         "last_instance_price": "$10.00", "lowest_allocated_price": "$15.00", "adjustable_memory": false,
         "default_image_version": "imgver_abc123456"},
        {"fid": "auc_2", "instance_type": "it_2", "region": "us-east1-b", "capacity": 0,
         "last_instance_price": "$2.35", "lowest_allocated_price": null, "adjustable_memory": true,
         "default_image_version": null}
    ]))])
    .await;
    let (client, _) = server.client();
    let auctions = client.spot_availability().await.unwrap();
    let request = server.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/v2/spot/availability")
    );
    assert_eq!(auctions.len(), 2);
    assert_eq!(auctions[0].last_instance_price, Price::from_cents(1000));
    assert_eq!(auctions[1].last_instance_price, Price::from_cents(235));
    assert_eq!(auctions[1].lowest_allocated_price, None);
}

#[tokio::test]
async fn list_instances_repeats_array_filters() {
    let server = Server::start(vec![ok(json!({
        "data": [instance_json("inst_1", "STATUS_RUNNING"), instance_json("inst_2", "STATUS_SOMETHING_NEW")],
        "next_cursor": null
    }))])
    .await;
    let (client, _) = server.client();
    let query = ListInstancesQuery::for_project("proj_abc123456")
        .status_in([InstanceStatus::Running, InstanceStatus::Paused])
        .order_type_in([OrderType::Reservation])
        .reservation_fid_in(["res_1", "res_2"])
        .sort(InstanceSortBy::InstanceStatus, SortDirection::Desc)
        .limit(100);
    let page = client.list_instances(&query).await.unwrap();
    assert_eq!(page.next_cursor, None);
    assert_eq!(page.items[0].status, InstanceStatus::Running);
    assert_eq!(
        page.items[1].status,
        InstanceStatus::Unknown("STATUS_SOMETHING_NEW".into())
    );
    assert_eq!(page.items[0].reservation.as_deref(), Some("res_abc123456"));

    let request = server.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/v2/instances")
    );
    assert_eq!(
        request.query_pairs(),
        pairs(&[
            ("sort_by", "instance_status"),
            ("sort_dir", "desc"),
            ("project", "proj_abc123456"),
            ("status_in", "STATUS_RUNNING"),
            ("status_in", "STATUS_PAUSED"),
            ("order_type_in", "Reservation"),
            ("reservation_fid_in", "res_1"),
            ("reservation_fid_in", "res_2"),
            ("limit", "100"),
        ])
    );
}

#[tokio::test]
async fn instances_stream_pages() {
    let server = Server::start(vec![
        ok(json!({"data": [instance_json("inst_1", "STATUS_RUNNING")], "next_cursor": "n1"})),
        ok(json!({"data": [], "next_cursor": "n2"})),
        ok(json!({"data": [instance_json("inst_2", "STATUS_PAUSED")]})),
    ])
    .await;
    let (client, _) = server.client();
    let instances: Vec<Instance> = client
        .instances(ListInstancesQuery::for_project("proj_abc123456").bid_fid_in(["bid_1"]))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        instances.iter().map(|i| i.fid.as_str()).collect::<Vec<_>>(),
        ["inst_1", "inst_2"]
    );
    assert_eq!(server.received().len(), 3);
}

#[tokio::test]
async fn patch_instances_sends_the_set_and_decodes_the_map() {
    let server = Server::start(vec![ok(json!({
        "instances": {"inst_1": "STATUS_STOPPING", "inst_2": "STATUS_RUNNING"}
    }))])
    .await;
    let (client, _) = server.client();
    let request = PatchInstancesRequest::new(["inst_2", "inst_1"], InstanceTargetStatus::Paused);
    let response = client.patch_instances(&request).await.unwrap();
    assert_eq!(response.instances["inst_1"], InstanceStatus::Stopping);
    assert_eq!(response.instances["inst_2"], InstanceStatus::Running);

    let received = server.only_request();
    assert_eq!(
        (received.method.as_str(), received.path.as_str()),
        ("PATCH", "/v2/instances")
    );
    assert_eq!(
        received.json(),
        json!({"instances": ["inst_1", "inst_2"], "status": "STATUS_PAUSED"})
    );

    let empty = PatchInstancesRequest::new(Vec::<String>::new(), InstanceTargetStatus::Running);
    assert!(matches!(
        client.patch_instances(&empty).await,
        Err(MithrilError::InvalidArgument { .. })
    ));
}

#[tokio::test]
async fn instance_status_decodes() {
    let server = Server::start(vec![ok(json!({
        "fid": "inst_1", "name": "worker-0", "status": "STATUS_CONFIRMED", "bid": null,
        "reservation": "res_abc123456", "end_time": "2024-02-01T00:00:00Z"
    }))])
    .await;
    let (client, _) = server.client();
    let status = client.instance_status("inst_1").await.unwrap();
    assert_eq!(server.only_request().path, "/v2/instances/inst_1/status");
    assert_eq!(status.status, InstanceStatus::Confirmed);
    assert_eq!(
        status.end_time,
        Some("2024-02-01T00:00:00Z".parse().unwrap())
    );
}

#[tokio::test]
async fn instance_status_history_sends_the_window_and_pages() {
    let server = Server::start(vec![
        ok(json!({
            "instances": [{"instance_fid": "inst_1", "bid_fid": null, "reservation_fid": "res_1", "events": [
                {"timestamp": "2024-01-01T00:00:00Z", "status": "STATUS_RUNNING"},
                {"timestamp": "2024-01-01T08:00:00Z", "status": "STATUS_PAUSED"}]}],
            "next_cursor": "h2"
        })),
        ok(json!({"instances": [{"instance_fid": "inst_2", "events": []}], "next_cursor": null})),
    ])
    .await;
    let (client, _) = server.client();
    let query = HistoryQuery::for_project("proj_abc123456")
        .reservation("res_1")
        .between(
            Some("2024-01-01T00:00:00Z".parse().unwrap()),
            Some("2024-01-02T00:00:00Z".parse().unwrap()),
        )
        .limit(1);
    let histories: Vec<InstanceStatusHistory> = client
        .instance_status_histories(query)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(histories.len(), 2);
    assert_eq!(histories[0].events[1].status, InstanceStatus::Paused);
    assert_eq!(histories[0].reservation_fid.as_deref(), Some("res_1"));

    let received = server.received();
    assert_eq!(received[0].path, "/v2/instances/status/history");
    assert_eq!(
        received[0].query_pairs(),
        pairs(&[
            ("project", "proj_abc123456"),
            ("reservation_fid", "res_1"),
            ("limit", "1"),
            ("start_time", "2024-01-01T00:00:00Z"),
            ("end_time", "2024-01-02T00:00:00Z"),
        ])
    );
    assert_eq!(
        received[1].query_pairs().last(),
        Some(&("next_cursor".to_string(), "h2".to_string()))
    );
}

#[tokio::test]
async fn instance_pricing_history_reads_cents() {
    let server = Server::start(vec![ok(json!({
        "instances": [{"instance_fid": "inst_1", "bid_fid": "bid_1", "reservation_fid": null, "events": [
            {"price_cents": 1250, "start_time": "2024-01-01T00:00:00Z", "end_time": "2024-01-01T02:00:00Z"},
            {"price_cents": 975, "start_time": "2024-01-01T02:00:00Z", "end_time": null}]}],
        "next_cursor": null
    }))])
    .await;
    let (client, _) = server.client();
    let page = client
        .instance_pricing_history(&HistoryQuery::for_project("proj_abc123456").bid("bid_1"))
        .await
        .unwrap();
    let request = server.only_request();
    assert_eq!(request.path, "/v2/instances/pricing/history");
    assert_eq!(
        request.query_pairs(),
        pairs(&[("project", "proj_abc123456"), ("bid_fid", "bid_1")])
    );
    let events = &page.items[0].events;
    assert_eq!(events[0].price, Price::from_cents(1250));
    assert_eq!(events[1].price.to_string(), "$9.75");
    assert_eq!(events[1].end_time, None);
}

fn projects_json() -> serde_json::Value {
    json!([
        {"fid": "proj_abc123456", "name": "research", "created_at": "2024-01-01T00:00:00Z"},
        {"fid": "proj_def789", "name": "production", "created_at": "2024-01-01T00:00:00-00:00"}
    ])
}

fn instance_types_json() -> serde_json::Value {
    json!([
        {"fid": "it_abc123456", "name": "h100.80gb.sxm", "num_cpus": 192, "cpu_type": "Intel", "ram_gb": 1800,
         "num_gpus": 8, "gpu_type": "H100", "gpu_memory_gb": 80, "gpu_socket": "SXM5", "local_storage_gb": 7800,
         "network_type": "InfiniBand", "ib_count": 8, "bridge_count": 4, "hourly_price": 0.12},
        {"fid": "it_a100", "name": "a100.80gb.sxm", "num_cpus": 128, "cpu_type": "AMD", "ram_gb": 1000,
         "num_gpus": 8, "gpu_type": "A100", "gpu_memory_gb": 80, "gpu_socket": "SXM4", "local_storage_gb": 3800,
         "network_type": null, "ib_count": 0, "bridge_count": 0, "hourly_price": 0.08}
    ])
}

#[tokio::test]
async fn projects_list_and_resolve() {
    let server = Server::start(vec![
        ok(projects_json()),
        ok(projects_json()),
        ok(projects_json()),
        ok(projects_json()),
    ])
    .await;
    let (client, _) = server.client();
    let projects = client.list_projects().await.unwrap();
    assert_eq!(projects[1].name, "production");
    assert_eq!(
        client.resolve_project("production").await.unwrap(),
        "proj_def789"
    );
    assert_eq!(
        client.resolve_project("proj_abc123456").await.unwrap(),
        "proj_abc123456"
    );
    let missing = client.resolve_project("staging").await.unwrap_err();
    assert!(missing.is_not_found());
    assert!(
        missing.to_string().contains("GET /v2/projects"),
        "{missing}"
    );
    for request in server.received() {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("GET", "/v2/projects")
        );
    }
}

#[tokio::test]
async fn instance_types_list_and_resolve() {
    let server = Server::start(vec![
        ok(instance_types_json()),
        ok(instance_types_json()),
        ok(instance_types_json()),
    ])
    .await;
    let (client, _) = server.client();
    let types = client.list_instance_types().await.unwrap();
    assert_eq!(types[0].gpu_type, "H100");
    assert_eq!(types[1].network_type, None);
    assert_eq!(
        client.resolve_instance_type("a100.80gb.sxm").await.unwrap(),
        "it_a100"
    );
    assert_eq!(
        client.resolve_instance_type("it_abc123456").await.unwrap(),
        "it_abc123456"
    );
    assert_eq!(server.received()[0].path, "/v2/instance-types");
}

#[tokio::test]
async fn base_url_path_prefix_is_kept() {
    let server = Server::start(vec![ok(json!([]))]).await;
    let mut config = server.config();
    config.base_url = format!("http://{}/mithril/", server.addr).parse().unwrap();
    let (client, _) = server.client_with(config, ClientOptions::default());
    client.list_projects().await.unwrap();
    assert_eq!(server.only_request().path, "/mithril/v2/projects");
}

#[tokio::test]
async fn find_bids_by_name_filters_exactly_across_pages() {
    let server = Server::start(vec![
        ok(json!({"data": [bid_json("bid_1", "train-a", "Terminated"), bid_json("bid_2", "train-a-2", "Open")], "next_cursor": "p2"})),
        ok(json!({"data": [bid_json("bid_3", "train-a", "Open")], "next_cursor": null})),
    ])
    .await;
    let (client, _) = server.client();
    let bids = client
        .find_bids_by_name("proj_abc123456", "train-a")
        .await
        .unwrap();
    assert_eq!(
        bids.iter().map(|b| b.fid.as_str()).collect::<Vec<_>>(),
        ["bid_1", "bid_3"]
    );
    let first = &server.received()[0];
    assert_eq!(
        first.query_pairs(),
        pairs(&[
            ("project", "proj_abc123456"),
            ("name", "train-a"),
            ("limit", "100")
        ])
    );
}
