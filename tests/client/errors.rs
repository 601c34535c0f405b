//! Typed errors: each status maps to its variant with the endpoint and Mithril's `detail` in the
//! message, and the API key never shows up in Debug, Display or logs.

use std::time::Duration;

use crate::support::client::*;
use mithril_api::*;
use serde_json::json;

#[tokio::test]
async fn auth_failures_are_typed() {
    let server = Server::start(vec![
        detail(401, "Invalid API key"),
        detail(403, "Not a member of this project"),
    ])
    .await;
    let (client, _) = server.client();
    let error = client.list_projects().await.unwrap_err();
    assert!(error.is_auth() && !error.is_retryable() && !error.is_not_found());
    assert_eq!(error.status(), Some(401));
    assert_eq!(
        error.to_string(),
        "GET /v2/projects: Mithril rejected the API key (HTTP 401): Invalid API key"
    );
    let error = client.bid_history("bid_1").await.unwrap_err();
    assert!(matches!(
        error,
        MithrilError::Unauthorized { status: 403, .. }
    ));
    assert_eq!(server.received().len(), 2, "auth failures are not retried");
}

#[tokio::test]
async fn not_found_names_the_endpoint_template_and_detail() {
    let server = Server::start(vec![detail(404, "Bid bid_gone not found")]).await;
    let (client, _) = server.client();
    let error = client.get_bid("bid_gone").await.unwrap_err();
    assert!(error.is_not_found() && !error.is_retryable());
    assert_eq!(
        error.endpoint().map(|e| e.path),
        Some("/v2/spot/bids/{bid_fid}")
    );
    assert_eq!(
        error.to_string(),
        "GET /v2/spot/bids/{bid_fid}: not found: Bid bid_gone not found"
    );
}

#[tokio::test]
async fn conflict_on_patch_instances_is_retryable_later() {
    let server = Server::start(vec![detail(
        409,
        "One or more of the instances is not yet ready for this operation.",
    )])
    .await;
    let (client, _) = server.client();
    let request = PatchInstancesRequest::new(["inst_1"], InstanceTargetStatus::Running);
    let error = client.patch_instances(&request).await.unwrap_err();
    assert!(matches!(error, MithrilError::Conflict { .. }));
    assert!(error.is_retryable());
    assert!(
        !error.is_ambiguous_write(),
        "a 409 was rejected, not applied"
    );
    assert_eq!(
        error.to_string(),
        "PATCH /v2/instances: conflict: One or more of the instances is not yet ready for this operation."
    );
}

#[tokio::test]
async fn validation_errors_carry_fastapi_details() {
    let server = Server::start(vec![status(
        422,
        json!({"detail": [
            {"loc": ["body", "limit_price"], "msg": "Field required", "type": "missing"},
            {"loc": ["body", "launch_specification", "volumes", 0], "msg": "Input should be a valid string", "type": "string_type"}
        ]}),
    )])
    .await;
    let (client, _) = server.client();
    let request = CreateBidRequest {
        project: "proj_1".into(),
        region: "us-central1-a".into(),
        instance_type: "it_1".into(),
        limit_price: Price::from_cents(100),
        instance_quantity: 1,
        name: "n".into(),
        launch_specification: LaunchSpecification::default(),
        notification_email: None,
    };
    let error = client.create_bid(&request, "k").await.unwrap_err();
    let issues = error.validation_issues();
    assert_eq!(issues.len(), 2);
    assert_eq!(
        issues[0].loc,
        vec![
            LocSegment::Field("body".into()),
            LocSegment::Field("limit_price".into())
        ]
    );
    assert_eq!(issues[1].loc[3], LocSegment::Index(0));
    assert_eq!(issues[0].kind, "missing");
    assert!(!error.is_retryable() && !error.is_ambiguous_write());
    assert_eq!(
        error.to_string(),
        "POST /v2/spot/bids: request rejected as invalid: body.limit_price: Field required (missing); \
         body.launch_specification.volumes.0: Input should be a valid string (string_type)"
    );
}

#[tokio::test]
async fn not_implemented_and_unexpected_statuses() {
    let server = Server::start(vec![
        detail(501, "Spot bids are not yet supported."),
        Reply::Text(400, "bad request"),
        Reply::Empty(418),
    ])
    .await;
    let (client, _) = server.client();
    let request = PatchInstancesRequest::new(["inst_spot"], InstanceTargetStatus::Paused);
    let error = client.patch_instances(&request).await.unwrap_err();
    assert!(matches!(error, MithrilError::NotImplemented { .. }));
    assert_eq!(error.status(), Some(501));
    assert_eq!(
        error.to_string(),
        "PATCH /v2/instances: not supported by Mithril: Spot bids are not yet supported."
    );

    let error = client.spot_availability().await.unwrap_err();
    assert!(matches!(
        error,
        MithrilError::UnexpectedStatus { status: 400, .. }
    ));
    assert!(
        error
            .to_string()
            .ends_with("unexpected HTTP 400: unexpected body \"bad request\""),
        "{error}"
    );

    let error = client.spot_availability().await.unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("unexpected HTTP 418: no detail given"),
        "{error}"
    );
}

#[tokio::test]
async fn server_errors_after_retries() {
    let server = Server::start(vec![detail(500, "Internal Server Error"); 4]).await;
    let (client, _) = server.client();
    let error = client.bid_status("bid_1").await.unwrap_err();
    assert!(matches!(
        error,
        MithrilError::Server {
            status: 500,
            attempts: 4,
            ..
        }
    ));
    assert!(error.is_retryable() && !error.is_ambiguous_write());
}

#[tokio::test]
async fn decode_errors_say_what_was_wrong() {
    let mut bad_price = bid_json("bid_1", "a", "Open");
    bad_price["limit_price"] = json!("about 15");
    let server = Server::start(vec![
        ok(bad_price.clone()),
        status(201, bad_price),
        ok(json!({"data": "nope"})),
    ])
    .await;
    let (client, _) = server.client();
    let error = client.get_bid("bid_1").await.unwrap_err();
    assert!(matches!(error, MithrilError::Decode { status: 200, .. }));
    let message = error.to_string();
    assert!(message.starts_with("GET /v2/spot/bids/{bid_fid}: could not decode the HTTP 200 response: invalid price \"about 15\""), "{message}");
    assert!(!error.is_ambiguous_write());

    let request = CreateBidRequest {
        project: "proj_1".into(),
        region: "r".into(),
        instance_type: "it_1".into(),
        limit_price: Price::from_cents(100),
        instance_quantity: 1,
        name: "n".into(),
        launch_specification: LaunchSpecification::default(),
        notification_email: None,
    };
    let error = client.create_bid(&request, "k").await.unwrap_err();
    assert!(
        error.is_ambiguous_write(),
        "the bid was created but its answer is unreadable: look it up"
    );

    assert!(matches!(
        client.list_bids(&ListBidsQuery::default()).await,
        Err(MithrilError::Decode { .. })
    ));
}

#[tokio::test]
async fn one_unreadable_bid_does_not_hide_the_others() {
    let mut odd = bid_json("bid_odd", "theirs", "Open");
    odd["limit_price"] = json!("$1,250.00");
    let mut unreadable = bid_json("bid_bad", "theirs", "Open");
    unreadable["limit_price"] = json!("about 15");
    let ours = bid_json("bid_ours", "ours", "Open");
    let server = Server::start(vec![ok(json!({"data": [odd, unreadable, ours]}))]).await;
    let (client, _) = server.client();
    let page = client.list_bids(&ListBidsQuery::default()).await.unwrap();
    let fids: Vec<&str> = page.items.iter().map(|bid| bid.fid.as_str()).collect();
    assert_eq!(fids, ["bid_odd", "bid_ours"]);
    assert_eq!(page.items[0].limit_price, Price::from_cents(125_000));
}

#[tokio::test]
async fn invalid_arguments_are_refused_before_sending() {
    let server = Server::start(vec![]).await;
    let (client, _) = server.client();
    let error = client
        .list_bids(&ListBidsQuery::default().limit(101))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "GET /v2/spot/bids: invalid argument: limit must be between 1 and 100, got 101"
    );
    assert!(matches!(
        client.list_instances(&ListInstancesQuery::default()).await,
        Err(MithrilError::InvalidArgument { .. })
    ));
    assert!(matches!(
        client
            .instance_status_history(&HistoryQuery::default())
            .await,
        Err(MithrilError::InvalidArgument { .. })
    ));
    assert!(server.received().is_empty());
}

#[test]
fn bad_configurations_are_rejected() {
    let key = ApiKey::new(API_KEY).unwrap();
    let mut config = ClientConfig::new("ftp://example.com".parse().unwrap(), key.clone());
    assert!(matches!(
        MithrilClient::new(config.clone()),
        Err(MithrilError::Config(_))
    ));
    config.base_url = DEFAULT_BASE_URL.parse().unwrap();
    config.timeout = Duration::ZERO;
    assert!(MithrilClient::new(config.clone()).is_err());
    config.timeout = Duration::from_secs(1);
    config.rate_limit.per_second = 0.0;
    let error = MithrilClient::new(config.clone()).unwrap_err();
    assert!(error.to_string().contains("per_second"), "{error}");
    config.rate_limit = RateLimit::default();
    config.retry.max_attempts = 0;
    assert!(MithrilClient::new(config).is_err());
}
