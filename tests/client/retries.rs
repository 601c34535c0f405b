//! Retry rules against a scripted server, on a manual clock: backoff and Retry-After waits are
//! recorded by the clock instead of slept, so the tests assert the exact waits without waiting.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::client::*;
use mithril_api::*;
use serde_json::json;

fn create_request() -> CreateBidRequest {
    CreateBidRequest {
        project: "proj_abc123456".into(),
        region: "us-central1-a".into(),
        instance_type: "it_abc123456".into(),
        limit_price: Price::from_cents(2560),
        instance_quantity: 1,
        name: "train-a".into(),
        launch_specification: LaunchSpecification::default(),
        notification_email: None,
    }
}

/// Bounds of the jittered backoff before retry `n` under the default policy.
fn backoff_bounds(n: u32) -> (Duration, Duration) {
    let policy = RetryPolicy::default();
    let ceiling = (policy.base_delay * 2u32.pow(n)).min(policy.max_delay);
    (ceiling / 2, ceiling)
}

#[tokio::test]
async fn post_429_is_retried_after_retry_after_seconds_with_the_same_key() {
    let server = Server::start(vec![
        too_many(Some("7")),
        status(201, bid_json("bid_1", "train-a", "Open")),
    ])
    .await;
    let (client, clock) = server.client();
    let bid = client.create_bid(&create_request(), "key-1").await.unwrap();
    assert_eq!(bid.fid, "bid_1");

    let received = server.received();
    assert_eq!(received.len(), 2);
    for request in &received {
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("idempotency-key"), Some("key-1"));
        assert_eq!(request.json()["name"], "train-a");
    }
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(7)]);
}

#[tokio::test]
async fn retry_after_http_date_is_honoured() {
    let at = wall_origin()
        .checked_add(jiff::SignedDuration::from_secs(12))
        .unwrap();
    let date = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&at)
        .unwrap();
    assert!(date.ends_with("GMT"), "{date}");
    let server = Server::start(vec![
        too_many(Some(&date)),
        ok(json!({"bid_fid": "bid_1", "status": "Open"})),
    ])
    .await;
    let (client, clock) = server.client();
    client.bid_status("bid_1").await.unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(12)]);
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn patch_429_without_retry_after_backs_off_and_retries() {
    let server = Server::start(vec![too_many(None), ok(bid_json("bid_1", "a", "Open"))]).await;
    let (client, clock) = server.client();
    client
        .update_bid("bid_1", &UpdateBidRequest::default().paused(false))
        .await
        .unwrap();
    let sleeps = clock.sleeps();
    let (low, high) = backoff_bounds(0);
    assert_eq!(sleeps.len(), 1);
    assert!(sleeps[0] >= low && sleeps[0] <= high, "{sleeps:?}");
}

#[tokio::test]
async fn post_5xx_is_never_retried_and_is_ambiguous() {
    for code in [500, 502, 503, 504] {
        let server = Server::start(vec![
            detail(code, "upstream exploded"),
            status(201, bid_json("bid_1", "a", "Open")),
        ])
        .await;
        let (client, clock) = server.client();
        let error = client
            .create_bid(&create_request(), "key-1")
            .await
            .unwrap_err();
        assert!(
            matches!(error, MithrilError::Server { status, attempts: 1, .. } if status == code),
            "{error}"
        );
        assert!(
            error.is_ambiguous_write(),
            "{code}: a 5xx on POST may have placed the bid"
        );
        assert!(error.is_retryable());
        assert_eq!(
            server.received().len(),
            1,
            "{code}: POST must not be re-sent"
        );
        assert!(clock.sleeps().is_empty());
    }
}

#[tokio::test]
async fn patch_5xx_is_never_retried() {
    let server = Server::start(vec![detail(503, "busy"), ok(json!({"instances": {}}))]).await;
    let (client, _) = server.client();
    let request = PatchInstancesRequest::new(["inst_1"], InstanceTargetStatus::Running);
    let error = client.patch_instances(&request).await.unwrap_err();
    assert!(
        matches!(error, MithrilError::Server { status: 503, .. }),
        "{error}"
    );
    assert!(error.is_ambiguous_write());
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn get_5xx_is_retried_with_growing_backoff() {
    let server = Server::start(vec![
        detail(500, "boom"),
        Reply::Text(502, "<html>bad gateway</html>"),
        detail(503, "busy"),
        ok(bid_json("bid_1", "a", "Allocated")),
    ])
    .await;
    let (client, clock) = server.client();
    let bid = client.get_bid("bid_1").await.unwrap();
    assert_eq!(bid.status, BidStatus::Allocated);
    assert_eq!(server.received().len(), 4);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 3);
    for (retry, sleep) in sleeps.iter().enumerate() {
        let (low, high) = backoff_bounds(retry as u32);
        assert!(*sleep >= low && *sleep <= high, "retry {retry}: {sleep:?}");
    }
}

#[tokio::test]
async fn get_503_honours_retry_after() {
    let server = Server::start(vec![
        Reply::Json(
            503,
            json!({"detail": "maintenance"}),
            vec![("retry-after", "3".into())],
        ),
        ok(json!([])),
    ])
    .await;
    let (client, clock) = server.client();
    client.spot_availability().await.unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(3)]);
}

#[tokio::test]
async fn delete_5xx_is_retried() {
    let server = Server::start(vec![detail(502, "bad gateway"), Reply::Empty(204)]).await;
    let (client, _) = server.client();
    client.cancel_bid("bid_1").await.unwrap();
    let received = server.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.method == "DELETE"));
}

#[tokio::test]
async fn get_5xx_gives_up_after_max_attempts() {
    let server = Server::start(vec![detail(500, "down"); 6]).await;
    let (client, _) = server.client();
    let error = client.list_projects().await.unwrap_err();
    let max = RetryPolicy::default().max_attempts;
    assert!(
        matches!(error, MithrilError::Server { status: 500, attempts, .. } if attempts == max),
        "{error}"
    );
    assert!(
        !error.is_ambiguous_write(),
        "a GET is never an ambiguous write"
    );
    assert_eq!(server.received().len(), max as usize);
    assert_eq!(
        error.to_string(),
        format!("GET /v2/projects: Mithril server error HTTP 500 after {max} attempt(s): down")
    );
}

#[tokio::test]
async fn not_implemented_is_never_retried() {
    let server = Server::start(vec![
        detail(501, "Spot bids are not yet supported."),
        ok(json!({})),
    ])
    .await;
    let (client, _) = server.client();
    let error = client.instance_status("inst_1").await.unwrap_err();
    assert!(matches!(error, MithrilError::NotImplemented { .. }));
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn rate_limited_after_all_attempts() {
    let server = Server::start(vec![too_many(Some("1")); 6]).await;
    let (client, clock) = server.client();
    let error = client
        .create_bid(&create_request(), "key-1")
        .await
        .unwrap_err();
    let max = RetryPolicy::default().max_attempts;
    assert!(
        matches!(error, MithrilError::RateLimited { attempts, .. } if attempts == max),
        "{error}"
    );
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
    assert!(error.is_retryable());
    assert!(!error.is_ambiguous_write(), "a 429 was not applied");
    assert_eq!(server.received().len(), max as usize);
    assert_eq!(
        clock.sleeps(),
        vec![Duration::from_secs(1); max as usize - 1]
    );
}

#[tokio::test]
async fn retry_after_beyond_the_cap_is_returned_to_the_caller() {
    let server = Server::start(vec![too_many(Some("3600")), ok(json!([]))]).await;
    let (client, _) = server.client();
    let error = client.list_instance_types().await.unwrap_err();
    assert!(
        matches!(error, MithrilError::RateLimited { attempts: 1, .. }),
        "{error}"
    );
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3600)));
    assert!(error.to_string().contains("Retry-After 3600s"), "{error}");
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_429_slows_every_clone_of_the_client() {
    let server = Server::start(vec![too_many(Some("30")), ok(json!([]))]).await;
    let mut config = server.config();
    config.retry = RetryPolicy::never();
    let (client, clock) = server.client_with(config, ClientOptions::default());
    let other = client.clone();

    let error = client.list_projects().await.unwrap_err();
    assert!(matches!(error, MithrilError::RateLimited { .. }));
    assert!(
        clock.sleeps().is_empty(),
        "no retries: the first caller returns at once"
    );

    other.list_projects().await.unwrap();
    assert_eq!(
        clock.sleeps(),
        vec![Duration::from_secs(30)],
        "the clone waited out Retry-After"
    );
}

#[tokio::test]
async fn the_client_side_rate_limit_spaces_requests() {
    let server = Server::start(vec![ok(json!([])); 5]).await;
    let mut config = server.config();
    config.rate_limit = RateLimit {
        per_second: 2.0,
        burst: 2,
    };
    let (client, clock) = server.client_with(config, ClientOptions::default());
    let clone = client.clone();
    for i in 0..5 {
        let c = if i % 2 == 0 { &client } else { &clone };
        c.list_projects().await.unwrap();
    }
    assert_eq!(
        clock.sleeps(),
        vec![Duration::from_millis(500); 3],
        "burst of 2, then 2 per second"
    );
}

#[tokio::test]
async fn timeouts_are_retried_on_get_only() {
    // Real (short) timeouts: the server never answers, so every attempt times out.
    let server = Server::start(vec![
        Reply::Hang,
        ok(bid_json("bid_1", "a", "Open")),
        Reply::Hang,
        ok(json!({})),
    ])
    .await;
    let mut config = server.config();
    config.timeout = Duration::from_millis(200);
    let (client, _) = server.client_with(config, ClientOptions::default());

    let bid = client.get_bid("bid_1").await.unwrap();
    assert_eq!(bid.fid, "bid_1");
    assert_eq!(server.received().len(), 2);

    let error = client
        .create_bid(&create_request(), "key-1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            MithrilError::Transport {
                kind: TransportErrorKind::Timeout,
                attempts: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.is_ambiguous_write(),
        "a timed-out POST may have been applied"
    );
    assert!(error.is_retryable());
    assert_eq!(server.received().len(), 3, "the POST was sent once");
    assert!(
        error
            .to_string()
            .starts_with("POST /v2/spot/bids: timeout after 1 attempt(s)"),
        "{error}"
    );
}

#[tokio::test]
async fn refused_connections_are_retried_on_get_and_not_ambiguous_on_post() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut config = ClientConfig::new(
        format!("http://{addr}").parse().unwrap(),
        ApiKey::new(API_KEY).unwrap(),
    );
    config.retry.max_attempts = 3;
    let clock = Arc::new(ManualClock::new(wall_origin()));
    let client =
        MithrilClient::with_options(config, ClientOptions::default().clock(clock.clone())).unwrap();

    let error = client.get_bid("bid_1").await.unwrap_err();
    assert!(
        matches!(
            error,
            MithrilError::Transport {
                kind: TransportErrorKind::Connect,
                attempts: 3,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(clock.sleeps().len(), 2);

    let error = client
        .create_bid(&create_request(), "key-1")
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        MithrilError::Transport {
            kind: TransportErrorKind::Connect,
            attempts: 1,
            ..
        }
    ));
    assert!(
        !error.is_ambiguous_write(),
        "a refused connection never delivered the bid"
    );
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, &'static str, AttemptOutcome, u32)>>);

impl RequestObserver for Recorder {
    fn on_attempt(&self, report: &AttemptReport<'_>) {
        self.0.lock().unwrap().push((
            report.method.to_string(),
            report.path_template,
            report.outcome,
            report.retry,
        ));
    }
}

#[tokio::test]
async fn the_observer_sees_every_attempt_with_the_path_template() {
    let server = Server::start(vec![
        detail(503, "busy"),
        ok(bid_json("bid_1", "a", "Open")),
        too_many(Some("1")),
        status(201, bid_json("bid_2", "b", "Open")),
    ])
    .await;
    let recorder = Arc::new(Recorder::default());
    let (client, _) = server.client_with(
        server.config(),
        ClientOptions::default().observer(recorder.clone()),
    );
    client.get_bid("bid_1").await.unwrap();
    client.create_bid(&create_request(), "k").await.unwrap();
    let seen = recorder.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (
                "GET".to_string(),
                "/v2/spot/bids/{bid_fid}",
                AttemptOutcome::Status(503),
                0
            ),
            (
                "GET".to_string(),
                "/v2/spot/bids/{bid_fid}",
                AttemptOutcome::Status(200),
                1
            ),
            (
                "POST".to_string(),
                "/v2/spot/bids",
                AttemptOutcome::Status(429),
                0
            ),
            (
                "POST".to_string(),
                "/v2/spot/bids",
                AttemptOutcome::Status(201),
                1
            ),
        ]
    );
}

/// A fence the test moves by hand: `None` is "not the leader".
#[derive(Default)]
struct TestFence(Mutex<Option<tokio::time::Instant>>);

impl TestFence {
    fn until(deadline: Option<tokio::time::Instant>) -> Arc<Self> {
        Arc::new(Self(Mutex::new(deadline)))
    }
}

impl WriteFence for TestFence {
    fn write_deadline(&self) -> Option<tokio::time::Instant> {
        *self.0.lock().unwrap()
    }
}

#[tokio::test]
async fn a_fenced_client_sends_no_write_but_still_reads() {
    let server = Server::start(vec![ok(json!({"data": [], "next_cursor": null}))]).await;
    let fence = TestFence::until(None);
    let (client, _) = server.client_with(server.config(), ClientOptions::default().fence(fence));

    let error = client
        .create_bid(&create_request(), "key-1")
        .await
        .unwrap_err();
    assert!(matches!(error, MithrilError::Fenced { .. }), "{error:?}");
    assert!(!error.is_ambiguous_write(), "a fenced write was never sent");
    assert!(server.received().is_empty(), "{:?}", server.received());

    client
        .list_bids(&ListBidsQuery::default())
        .await
        .expect("reads need no leadership");
    assert_eq!(server.only_request().method, "GET");
}

/// Grants the first write attempt only: the lease is lost right after.
#[derive(Default)]
struct LostAfterFirstAsk(std::sync::atomic::AtomicU32);

impl WriteFence for LostAfterFirstAsk {
    fn write_deadline(&self) -> Option<tokio::time::Instant> {
        let asked = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        (asked == 0).then(|| tokio::time::Instant::now() + Duration::from_secs(3600))
    }
}

#[tokio::test]
async fn the_fence_is_asked_again_before_a_retry() {
    let server = Server::start(vec![
        too_many(Some("1")),
        status(201, bid_json("bid_1", "train-a", "Open")),
    ])
    .await;
    let fence = Arc::new(LostAfterFirstAsk::default());
    let (client, _) = server.client_with(server.config(), ClientOptions::default().fence(fence));

    let error = client
        .create_bid(&create_request(), "key-1")
        .await
        .unwrap_err();
    assert!(matches!(error, MithrilError::Fenced { .. }), "{error:?}");
    assert_eq!(server.received().len(), 1, "no retry after the lease went");
}

#[tokio::test]
async fn a_write_is_not_awaited_past_the_fence_deadline() {
    let server = Server::start(vec![Reply::Hang]).await;
    let fence = TestFence::until(Some(
        tokio::time::Instant::now() + Duration::from_millis(300),
    ));
    // The client's own timeout would wait for a minute.
    let config = ClientConfig {
        timeout: Duration::from_secs(60),
        ..server.config()
    };
    let (client, _) = server.client_with(config, ClientOptions::default().fence(fence));

    let error = client
        .create_bid(&create_request(), "key-1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            MithrilError::Transport {
                kind: TransportErrorKind::Timeout,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_ambiguous_write(), "a sent POST may have landed");
}
