//! The listener: HTTPS with a required client certificate, one task per connection, and around every request
//! the fault injection and the request log.

use super::ack::{Ack, Detail};
use super::archive::{self, Reply, XML_CONTENT_TYPE};
use super::faults::{self, FaultKind, Malformed, When};
use super::message::Header;
use super::{xml, LoggedRequest, Sim};
use crate::net::{self, DropConnection};
use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use axum::Router;
use chrono::Utc;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use openssl::nid::Nid;
use openssl::ssl::{SslAcceptor, SslRef};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// The TLS acceptors: the real one, and the broken ones the handshake faults use.
pub struct Acceptors {
    pub normal: Arc<SslAcceptor>,
    /// Presents a self-signed server certificate.
    pub untrusted_server: Arc<SslAcceptor>,
    /// Trusts only a client CA no client certificate chains to.
    pub refusing_client: Arc<SslAcceptor>,
}

pub async fn serve(
    listener: TcpListener,
    acceptors: Arc<Acceptors>,
    app: Router,
    sim: Arc<Sim>,
    stop: watch::Receiver<bool>,
) {
    let loop_stop = stop.clone();
    let on_connection = move |tcp: TcpStream| {
        let (app, sim, stop, acceptors) = (app.clone(), sim.clone(), stop.clone(), acceptors.clone());
        async move {
            let fired = faults::fire_tls(&mut sim.lock().faults);
            let acceptor = match fired {
                Some(FaultKind::UntrustedServerCertificate) => &acceptors.untrusted_server,
                Some(FaultKind::RefuseClientCertificate) => &acceptors.refusing_client,
                Some(_) => {
                    fail_handshake(tcp).await;
                    return;
                }
                None => &acceptors.normal,
            };
            // With a broken acceptor the handshake fails (on one side or the other).
            let Some(stream) = net::tls_accept(acceptor, tcp).await else {
                return;
            };
            let cn = client_cn(stream.ssl());
            let closing = sim.clone();
            let closed = closing.closing.notified();
            tokio::select! {
                _ = net::serve_http1(
                    stream,
                    move |req| handle(app.clone(), sim.clone(), cn.clone(), req),
                    stop,
                ) => {}
                // Dropping the connection closes it.
                _ = closed => {}
            }
        }
    };
    net::accept_loop(listener, loop_stop, on_connection).await;
}

/// An injected TLS failure: read the ClientHello, then close the connection.
async fn fail_handshake(mut tcp: TcpStream) {
    let mut buf = [0u8; 2048];
    let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf)).await;
}

fn client_cn(ssl: &SslRef) -> Option<Arc<str>> {
    let cert = ssl.peer_certificate()?;
    let entry = cert.subject_name().entries_by_nid(Nid::COMMONNAME).next()?;
    Some(Arc::from(entry.data().to_string().ok()?))
}

async fn handle(
    app: Router,
    sim: Arc<Sim>,
    client_cn: Option<Arc<str>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let path = req.uri().path().to_string();
    if path == "/_simulator" || path.starts_with("/_simulator/") {
        return Ok(app.oneshot(req).await.unwrap_or_else(|never| match never {}));
    }
    let time = Utc::now();
    let method = req.method().clone();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (body, too_large) = if declared.is_some_and(|n| n > sim.max_body_bytes as u64) {
        (Default::default(), true)
    } else {
        match Limited::new(req.into_body(), sim.max_body_bytes).collect().await {
            Ok(collected) => (collected.to_bytes(), false),
            Err(e) if e.is::<LengthLimitError>() => (Default::default(), true),
            // The client went away mid-body.
            Err(_) => return Err(DropConnection),
        }
    };
    let interaction = xml::root_name(&body).map(|(_, name)| name);

    let mut fault: Option<&'static str> = None;
    let before = faults::fire_all(&mut sim.lock().faults, interaction.as_deref(), When::Before);
    if !before.delay.is_zero() {
        fault = Some("latency");
        tokio::time::sleep(before.delay).await;
    }
    let (result, header) = match before.action {
        Some(action) => {
            fault = Some(action.name());
            let header = lenient_header(&body);
            (apply(&sim, action, None, &header), header)
        }
        None => {
            let reply = if path != sim.path {
                Reply::plain(404, "not found", Header::default())
            } else if method != Method::POST {
                Reply::plain(405, "only POST", Header::default())
            } else if too_large {
                Reply::plain(
                    413,
                    &format!("the message is larger than {} bytes", sim.max_body_bytes),
                    Header::default(),
                )
            } else {
                archive::process(&sim, content_type.as_deref(), &body)
            };
            let header = reply.header.clone();
            let after = faults::fire_all(&mut sim.lock().faults, interaction.as_deref(), When::After);
            if !after.delay.is_zero() {
                fault = Some("latency");
                tokio::time::sleep(after.delay).await;
            }
            let result = match after.action {
                Some(action) => {
                    fault = Some(action.name());
                    apply(&sim, action, Some(reply), &header)
                }
                None => Ok(Answer::from(reply)),
            };
            (result, header)
        }
    };

    let entry = LoggedRequest {
        time,
        method: method.to_string(),
        path,
        interaction: header.interaction.clone().or(interaction),
        message_id: header.message_id.clone(),
        document_oid: header.document_oid.clone(),
        client_cn: client_cn.as_deref().map(str::to_string),
        status: result.as_ref().ok().map(|a| a.reply.status),
        ack: result.as_ref().ok().and_then(|a| a.reply.ack.clone()),
        details: result.as_ref().map(|a| a.reply.details.clone()).unwrap_or_default(),
        fault: fault.map(str::to_string),
    };
    net::push_capped(&mut sim.lock().request_log, entry);
    result.map(Answer::into_response)
}

/// The request's header for a faulted answer, read without the checks.
fn lenient_header(body: &[u8]) -> Header {
    xml::parse(body).map(|root| Header::lenient(&root)).unwrap_or_default()
}

/// A reply and the extra headers a fault adds.
struct Answer {
    reply: Reply,
    retry_after: Option<u64>,
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Answer {
            reply,
            retry_after: None,
        }
    }
}

impl Answer {
    fn into_response(self) -> Response<Body> {
        let status = StatusCode::from_u16(self.reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = Response::new(Body::from(self.reply.body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.reply.content_type));
        if status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

fn with_body(status: u16, content_type: &'static str, body: &[u8], header: &Header) -> Reply {
    Reply {
        status,
        content_type,
        body: body.to_vec(),
        header: header.clone(),
        ack: None,
        details: Vec::new(),
    }
}

const SOAP_FAULT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>Internal error</faultstring></soap:Fault></soap:Body></soap:Envelope>\n";

fn apply(sim: &Sim, action: FaultKind, reply: Option<Reply>, header: &Header) -> Result<Answer, DropConnection> {
    let reply = match action {
        FaultKind::Latency { .. }
        | FaultKind::TlsFailure
        | FaultKind::UntrustedServerCertificate
        | FaultKind::RefuseClientCertificate => unreachable!("not a request action"),
        FaultKind::DropConnection => return Err(DropConnection),
        FaultKind::Status {
            status,
            retry_after_seconds,
        } => {
            let reason = StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            return Ok(Answer {
                reply: Reply::plain(status, reason, header.clone()),
                retry_after: retry_after_seconds,
            });
        }
        FaultKind::MalformedReply { form } => match form {
            Malformed::Truncated => {
                let full = match reply {
                    Some(r) if r.status == 200 => r.body,
                    _ => Reply::ack(sim, header.clone(), Ack::new("AA", Vec::new())).body,
                };
                with_body(200, XML_CONTENT_TYPE, &full[..full.len() / 2], header)
            }
            Malformed::NotXml => with_body(
                200,
                "text/plain; charset=utf-8",
                b"upstream connect error or disconnect/reset before headers\n",
                header,
            ),
            Malformed::WrongRoot => with_body(200, XML_CONTENT_TYPE, SOAP_FAULT.as_bytes(), header),
        },
        FaultKind::Ack { type_code, code } => {
            let details = code
                .map(|c| {
                    let text = "simulated by an injected fault";
                    if type_code == "AA" {
                        vec![Detail::info(&c, text)]
                    } else {
                        vec![Detail::error(&c, text)]
                    }
                })
                .unwrap_or_default();
            Reply::ack(sim, header.clone(), Ack::new(&type_code, details))
        }
        FaultKind::WrongTarget => {
            let wrong = uuid::Uuid::now_v7().to_string();
            match (reply, header.message_id.as_deref()) {
                (Some(mut r), Some(id)) if r.ack.is_some() => {
                    let text = String::from_utf8_lossy(&r.body).into_owned();
                    let from = format!("<targetMessage><id root=\"{}\"/>", xml::esc(id));
                    let to = format!("<targetMessage><id root=\"{wrong}\"/>");
                    r.body = text.replacen(&from, &to, 1).into_bytes();
                    r
                }
                _ => {
                    let body = super::ack::render(&Ack::new("AA", Vec::new()), header, &sim.receiver_oid, Some(&wrong));
                    Reply {
                        status: 200,
                        content_type: XML_CONTENT_TYPE,
                        body: body.into_bytes(),
                        header: header.clone(),
                        ack: Some("AA".into()),
                        details: Vec::new(),
                    }
                }
            }
        }
    };
    Ok(Answer::from(reply))
}
