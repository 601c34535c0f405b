//! The API key never appears in Debug or Display output of the client, its configuration or any
//! error, nor in the logs the client (and the HTTP stack under it) emits at TRACE level.
//!
//! One test in its own binary: it installs a global tracing subscriber, which must not race with
//! other tests registering tracing callsites.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::client::*;
use mithril_api::*;
use serde_json::json;

/// Provokes every error a call can end with (the server answers each with a different failure).
async fn every_call_error(client: &MithrilClient) -> Vec<MithrilError> {
    let mut errors = Vec::new();
    for _ in 0..9 {
        errors.push(client.list_projects().await.unwrap_err());
    }
    errors.push(client.get_bid("").await.unwrap_err());
    let paged: Vec<_> = futures::StreamExt::collect(client.bids(ListBidsQuery::default())).await;
    errors.extend(paged.into_iter().filter_map(Result::err));
    errors
}

#[tokio::test]
async fn the_api_key_never_appears_in_debug_display_or_logs() {
    let logs = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || LogWriter(writer.clone()))
        .finish();
    // Process-wide (a scoped default misses callsites other tests registered first): the other
    // tests of this binary log here too, under keys of their own.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let server = Server::start(vec![
        detail(401, "bad key"),
        detail(404, "missing"),
        detail(409, "conflict"),
        status(422, json!({"detail": [{"loc": ["query", "limit"], "msg": "too big", "type": "less_than_equal"}]})),
        detail(501, "nope"),
        too_many(Some("3600")),
        Reply::Text(400, "plain"),
        ok(json!({"not": "a list"})),
        Reply::Empty(599),
        ok(json!({"data": [], "next_cursor": "same"})),
        ok(json!({"data": [], "next_cursor": "same"})),
    ])
    .await;
    let mut config = server.config();
    config.retry = RetryPolicy::never();
    let (client, _) = server.client_with(config.clone(), ClientOptions::default());
    let mut errors = every_call_error(&client).await;

    // Transport and configuration errors too.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let mut refused = config.clone();
    refused.base_url = format!("http://{closed}").parse().unwrap();
    let refused = MithrilClient::new(refused).unwrap();
    errors.push(
        refused
            .update_bid("bid_1", &UpdateBidRequest::default().paused(true))
            .await
            .unwrap_err(),
    );
    let mut bad = config.clone();
    bad.timeout = Duration::ZERO;
    errors.push(MithrilClient::new(bad).unwrap_err());

    let variants: std::collections::BTreeSet<_> = errors
        .iter()
        .map(|e| {
            format!("{e:?}")
                .split([' ', '{', '('])
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        variants.len(),
        13,
        "every variant except AmbiguousName was provoked: {variants:?}"
    );

    let secret = API_KEY.trim_start_matches("fkey_");
    for error in &errors {
        for text in [
            format!("{error:?}"),
            format!("{error:#?}"),
            error.to_string(),
        ] {
            assert!(!text.contains(secret), "key leaked: {text}");
        }
    }
    for text in [
        format!("{client:?}"),
        format!("{client:#?}"),
        format!("{config:?}"),
        format!("{config:#?}"),
    ] {
        assert!(!text.contains(secret), "key leaked: {text}");
        assert!(text.contains("redacted"), "{text}");
    }
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("mithril response"),
        "debug events are emitted: {logs}"
    );
    assert!(logs.contains("/v2/projects"));
    assert!(!logs.contains(secret), "key leaked into logs");
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
