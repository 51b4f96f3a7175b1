//! The load generator: one keep-alive HTTP/1.1 connection per worker and target (hyper's
//! connection-level client, no pool, no URL parsing), requests made from prebuilt parts. It
//! shares the machine's cores with the gateway it measures, so what it saves goes to the gateway.

use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// One kind of request, sent to one of several gateways.
#[derive(Clone)]
pub struct Load {
    pub targets: Arc<Vec<SocketAddr>>,
    pub method: Method,
    pub path: &'static str,
    pub authorization: Option<HeaderValue>,
    /// Bodies taken in turn (JSON); none for a request without a body.
    pub bodies: Arc<Vec<Bytes>>,
    pub expect: StatusCode,
}

impl Load {
    /// The n-th request and the index of the target it goes to.
    fn request(&self, n: u64) -> (usize, Request<Full<Bytes>>) {
        let target = n as usize % self.targets.len();
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(self.path)
            .header(header::HOST, "localhost");
        if let Some(authorization) = &self.authorization {
            request = request.header(header::AUTHORIZATION, authorization.clone());
        }
        let body = if self.bodies.is_empty() {
            Bytes::new()
        } else {
            request = request.header(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            self.bodies[n as usize % self.bodies.len()].clone()
        };
        let request = request.body(Full::new(body)).expect("a request from valid parts");
        (target, request)
    }
}

/// Runs `workers` loops of `load` until `duration` passes; returns the latencies in µs of the
/// requests answered as expected, and the count of the others.
pub async fn drive(workers: usize, duration: Duration, load: &Load) -> (Vec<u32>, u64) {
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..workers as u64)
        .map(|worker| {
            let load = load.clone();
            tokio::spawn(async move {
                let mut connections: Vec<Option<SendRequest<Full<Bytes>>>> =
                    (0..load.targets.len()).map(|_| None).collect();
                let (mut latencies, mut errors) = (Vec::new(), 0);
                let mut n = worker * 1_000_000;
                while Instant::now() < deadline {
                    // Spread the workers' first requests over the targets.
                    let (target, request) = load.request(n + worker);
                    n += 1;
                    let started = Instant::now();
                    match send(&mut connections[target], load.targets[target], request).await {
                        Ok(status) if status == load.expect => latencies.push(started.elapsed().as_micros() as u32),
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for task in tasks {
        if let Ok((latencies, failed)) = task.await {
            all.extend(latencies);
            errors += failed;
        }
    }
    (all, errors)
}

/// Sends on the connection in `slot`, opening it first when there is none or it has closed;
/// reads the whole answer so that the connection can take the next request.
async fn send(
    slot: &mut Option<SendRequest<Full<Bytes>>>,
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<StatusCode> {
    if slot.as_ref().is_none_or(|sender| sender.is_closed()) {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        *slot = Some(sender);
    }
    let sender = slot.as_mut().expect("a connection was just opened");
    let answer = async {
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        anyhow::Ok(status)
    }
    .await;
    if answer.is_err() {
        *slot = None;
    }
    answer
}
