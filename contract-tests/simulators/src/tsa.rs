//! An RFC 3161 time-stamping authority over HTTP (RFC 3161 §3.4): `POST /tsa` with an
//! `application/timestamp-query` body (a DER TimeStampReq) answers `application/timestamp-reply`
//! with a real token signed by the simulator's own key and self-signed certificate (P-256, the
//! critical timeStamping extended key usage), made by OpenSSL's TS code (`portti-timestamp`).
//!
//! Strict: another path is 404, another method 405, another content type 415, a body that is
//! not a DER TimeStampReq 400. Faults ([`Fault`]): latency, an HTTP status (5xx), 429 with
//! Retry-After, a dropped connection, a malformed reply, and a token for another imprint.

use crate::injection::{self, Injected};
use crate::net::{self, DropConnection};
use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const PATH: &str = "/tsa";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Latency(Duration),
    Status(u16),
    TooManyRequests {
        retry_after_seconds: u64,
    },
    DropConnection,
    /// 200 with the right content type and a body that is not DER.
    MalformedReply,
    /// A granted token for an imprint other than the one asked for.
    WrongImprint,
}

struct Active {
    fault: Fault,
    count: Option<u32>,
}

impl Injected for Active {
    type Kind = Fault;

    fn kind(&self) -> &Fault {
        &self.fault
    }

    fn latency(&self) -> Option<Duration> {
        match self.fault {
            Fault::Latency(d) => Some(d),
            _ => None,
        }
    }

    fn count(&self) -> Option<u32> {
        self.count
    }
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    /// None when the connection was dropped.
    pub status: Option<u16>,
}

struct Inner {
    faults: Vec<Active>,
    request_log: Vec<LoggedRequest>,
    serial: i64,
}

struct Sim {
    key_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    inner: Mutex<Inner>,
}

impl Sim {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A handle to a running simulator's state.
#[derive(Clone)]
pub struct Control {
    sim: Arc<Sim>,
}

impl Control {
    /// Injects a fault for the next `count` requests (None: until cleared).
    pub fn inject(&self, fault: Fault, count: Option<u32>) {
        self.sim.lock().faults.push(Active { fault, count });
    }

    pub fn clear_faults(&self) {
        self.sim.lock().faults.clear();
    }

    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.sim.lock().request_log.clone()
    }

    /// The TSA's certificate (PEM): what a client must trust.
    pub fn certificate_pem(&self) -> Vec<u8> {
        self.sim.cert_pem.clone()
    }
}

pub struct Running {
    addr: SocketAddr,
    control: Control,
    _shutdown: net::StopOnDrop,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to POST requests to.
    pub fn url(&self) -> String {
        format!("{}{PATH}", net::base_url("http", self.addr))
    }

    pub fn control(&self) -> Control {
        self.control.clone()
    }
}

/// Starts a TSA with a freshly generated identity.
pub async fn start(listen: SocketAddr) -> anyhow::Result<Running> {
    let (key_pem, cert_pem) = portti_timestamp::generate_identity("Portti simulated TSA")?;
    start_with(listen, key_pem, cert_pem).await
}

/// Starts a TSA with this key and certificate (PEM), e.g. the sandbox's, kept across restarts
/// so that earlier tokens still verify.
pub async fn start_with(listen: SocketAddr, key_pem: Vec<u8>, cert_pem: Vec<u8>) -> anyhow::Result<Running> {
    let sim = Arc::new(Sim {
        key_pem,
        cert_pem,
        inner: Mutex::new(Inner {
            faults: Vec::new(),
            request_log: Vec::new(),
            serial: 0,
        }),
    });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (shutdown, stop) = net::stop_signal();
    let served = sim.clone();
    tokio::spawn(async move { net::serve(listener, None, stop, move |req| handle(served.clone(), req)).await });
    Ok(Running {
        addr,
        control: Control { sim },
        _shutdown: shutdown,
    })
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(text.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn reply(body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(portti_timestamp::REPLY_CONTENT_TYPE),
    );
    r
}

async fn handle(sim: Arc<Sim>, req: Request<Incoming>) -> Result<Response<Body>, DropConnection> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let result = answer(&sim, req, &method, &path, content_type.as_deref()).await;
    net::push_capped(
        &mut sim.lock().request_log,
        LoggedRequest {
            method: method.to_string(),
            path,
            content_type,
            status: result.as_ref().ok().map(|r| r.status().as_u16()),
        },
    );
    result
}

async fn answer(
    sim: &Sim,
    req: Request<Incoming>,
    method: &Method,
    path: &str,
    content_type: Option<&str>,
) -> Result<Response<Body>, DropConnection> {
    if path != PATH {
        return Ok(plain(StatusCode::NOT_FOUND, "not found"));
    }
    if method != Method::POST {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "POST only");
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Ok(r);
    }
    if content_type.and_then(|c| c.split(';').next()).map(str::trim) != Some(portti_timestamp::QUERY_CONTENT_TYPE) {
        return Ok(plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/timestamp-query",
        ));
    }
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return Err(DropConnection);
    };
    let fired = injection::fire_all(&mut sim.lock().faults, |a| {
        injection::spend(&mut 0.0, None, &mut a.count)
    });
    if !fired.delay.is_zero() {
        tokio::time::sleep(fired.delay).await;
    }
    let mut wrong_imprint = false;
    match fired.action {
        None | Some(Fault::Latency(_)) => {}
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Ok(plain(status, "injected"));
        }
        Some(Fault::TooManyRequests { retry_after_seconds }) => {
            let mut r = plain(StatusCode::TOO_MANY_REQUESTS, "slow down");
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            return Ok(r);
        }
        Some(Fault::DropConnection) => return Err(DropConnection),
        Some(Fault::MalformedReply) => return Ok(reply(b"\x30\x82\x01 not a TimeStampResp".to_vec())),
        Some(Fault::WrongImprint) => wrong_imprint = true,
    }
    if !portti_timestamp::is_request(&body) {
        return Ok(plain(StatusCode::BAD_REQUEST, "the body is not a DER TimeStampReq"));
    }
    let serial = {
        let mut inner = sim.lock();
        inner.serial += 1;
        inner.serial
    };
    match portti_timestamp::respond(&body, &sim.key_pem, &sim.cert_pem, serial, wrong_imprint) {
        Ok(der) => Ok(reply(der)),
        Err(e) => Ok(plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(url: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
        reqwest::Client::new()
            .post(url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn it_is_strict_and_issues_tokens_that_verify() {
        let tsa = start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let trust = portti_timestamp::Trust::from_pem(&tsa.control().certificate_pem()).unwrap();
        let request = portti_timestamp::Request::new(b"data").unwrap();

        let base = net::base_url("http", tsa.addr());
        assert_eq!(
            post(
                &format!("{base}/other"),
                "application/timestamp-query",
                request.der.clone()
            )
            .await
            .status(),
            404
        );
        assert_eq!(reqwest::get(tsa.url()).await.unwrap().status(), 405);
        assert_eq!(
            post(&tsa.url(), "application/octet-stream", request.der.clone())
                .await
                .status(),
            415
        );
        assert_eq!(
            post(&tsa.url(), "application/timestamp-query", b"junk".to_vec())
                .await
                .status(),
            400
        );

        let response = post(&tsa.url(), "application/timestamp-query", request.der.clone()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/timestamp-reply");
        let token = trust.verify_reply(&response.bytes().await.unwrap(), &request).unwrap();
        trust.verify_token(&token.der, b"data").unwrap();
        assert_eq!(tsa.control().request_log().len(), 5);
    }

    #[tokio::test]
    async fn faults_fire_for_their_count() {
        let tsa = start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let trust = portti_timestamp::Trust::from_pem(&tsa.control().certificate_pem()).unwrap();
        let control = tsa.control();
        let request = portti_timestamp::Request::new(b"data").unwrap();
        control.inject(Fault::Status(503), Some(1));
        control.inject(Fault::TooManyRequests { retry_after_seconds: 3 }, Some(1));
        assert_eq!(
            post(&tsa.url(), "application/timestamp-query", request.der.clone())
                .await
                .status(),
            503
        );
        let r = post(&tsa.url(), "application/timestamp-query", request.der.clone()).await;
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "3");
        control.inject(Fault::WrongImprint, Some(1));
        let r = post(&tsa.url(), "application/timestamp-query", request.der.clone()).await;
        assert!(trust.verify_reply(&r.bytes().await.unwrap(), &request).is_err());
        control.inject(Fault::DropConnection, Some(1));
        assert!(reqwest::Client::new()
            .post(tsa.url())
            .header("content-type", "application/timestamp-query")
            .body(request.der.clone())
            .send()
            .await
            .is_err());
        control.inject(Fault::Latency(Duration::from_millis(300)), Some(1));
        let started = std::time::Instant::now();
        let r = post(&tsa.url(), "application/timestamp-query", request.der.clone()).await;
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(trust.verify_reply(&r.bytes().await.unwrap(), &request).is_ok());
        control.inject(Fault::MalformedReply, Some(1));
        let r = post(&tsa.url(), "application/timestamp-query", request.der.clone()).await;
        assert_eq!(r.headers()["content-type"], "application/timestamp-reply");
        assert!(trust.verify_reply(&r.bytes().await.unwrap(), &request).is_err());
        let r = post(&tsa.url(), "application/timestamp-query", request.der.clone()).await;
        let verified = trust.verify_reply(&r.bytes().await.unwrap(), &request);
        assert!(verified.is_ok(), "{verified:?} {:?}", control.request_log());
    }
}
