//! Cutting one operator replica off: a TCP relay to the API server that can be cut, and a proxy
#![allow(dead_code)]
//! in front of Mithril that records when each write arrived.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Relays TCP connections to `target` until cut; then open connections are closed and new ones
/// closed on accept, as a partitioned network resets them.
pub struct Relay {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Relay {
    pub async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = tokio::spawn({
            let (cut, open) = (cut.clone(), open.clone());
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        continue;
                    }
                    let relay = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    open.lock().unwrap().push(relay.abort_handle());
                }
            }
        })
        .abort_handle();
        Relay {
            addr,
            cut,
            open,
            accept,
        }
    }

    /// Cuts every connection, open and future.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for connection in self.open.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// One write as the proxy received it.
#[derive(Debug, Clone)]
pub struct Write {
    pub at: jiff::Timestamp,
    pub method: Method,
    pub path: String,
}

#[derive(Clone)]
struct Tap {
    target: url::Url,
    http: reqwest::Client,
    writes: Arc<Mutex<Vec<Write>>>,
}

/// An HTTP proxy in front of Mithril recording the arrival of every write (POST, PATCH, DELETE).
pub struct MithrilTap {
    pub url: url::Url,
    writes: Arc<Mutex<Vec<Write>>>,
    server: AbortHandle,
}

impl MithrilTap {
    pub async fn start(target: url::Url) -> MithrilTap {
        let writes: Arc<Mutex<Vec<Write>>> = Arc::default();
        let tap = Tap {
            target,
            http: reqwest::Client::new(),
            writes: writes.clone(),
        };
        let app = Router::new().fallback(forward).with_state(tap);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let server =
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }).abort_handle();
        MithrilTap {
            url,
            writes,
            server,
        }
    }

    pub fn writes(&self) -> Vec<Write> {
        self.writes.lock().unwrap().clone()
    }
}

impl Drop for MithrilTap {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(
    State(tap): State<Tap>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        tap.writes.lock().unwrap().push(Write {
            at: jiff::Timestamp::now(),
            method: method.clone(),
            path: uri.path().to_owned(),
        });
    }
    let mut url = tap.target.clone();
    url.set_path(uri.path());
    url.set_query(uri.query());
    let mut request = tap.http.request(method, url).body(body);
    for (name, value) in &headers {
        if name != axum::http::header::HOST {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            let body = answer.bytes().await.unwrap_or_default();
            let mut response = (status, body).into_response();
            for (name, value) in &headers {
                if name != axum::http::header::CONTENT_LENGTH
                    && name != axum::http::header::TRANSFER_ENCODING
                {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
