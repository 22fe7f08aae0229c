//! A mock Kubernetes API server (kube's tower-test) that records every request and answers like
//! the real one would for the calls dialtone makes: object patches echo the object, events are
//! created. Tests assert what matters in the requests, not their exact URIs.

use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::Value;

/// One request the operator made.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub body: Value,
}

impl Seen {
    pub fn is(&self, method: Method, path_part: &str) -> bool {
        self.method == method && self.path.contains(path_part)
    }
}

/// A mock API server that records every request and answers like the real one would for the
/// calls the AlarmPolicy controller makes: object patches echo the object, events are created,
/// leases follow `leases`.
pub struct ApiServer {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl ApiServer {
    pub fn start(
        object: Value,
        on_request: impl Fn(&Seen) + Send + 'static,
    ) -> (Client, ApiServer) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let record = seen.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.unwrap_or_default();
                let seen = Seen {
                    method: parts.method.clone(),
                    path: parts.uri.path().to_string(),
                    query: parts.uri.query().unwrap_or_default().to_string(),
                    body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                };
                on_request(&seen);
                record.lock().expect("lock").push(seen.clone());
                let (status, reply) = if seen.path.contains("/events") {
                    (StatusCode::CREATED, seen.body.clone())
                } else {
                    (StatusCode::OK, object.clone())
                };
                let response = Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&reply).expect("json")))
                    .expect("response");
                send.send_response(response);
            }
        });
        (Client::new(service, "default"), ApiServer { seen })
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}
