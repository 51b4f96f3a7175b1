//! Listener machinery shared by the simulators: the OpenSSL acceptor, the accept loop, the TLS handshake,
//! one HTTP/1.1 connection, and the error that makes hyper close a connection without a response.

use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioIo;
use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_openssl::SslStream;

/// A handshake that takes longer than this is abandoned.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request log keeps at most this many entries (the oldest tenth is dropped when full).
pub(crate) const REQUEST_LOG_CAPACITY: usize = 100_000;

/// An OpenSSL server acceptor (Mozilla intermediate profile) with this certificate chain and key. With
/// `client_ca`, a client certificate chaining to one of the CA certificates in that PEM file is required: a
/// client without one, or with an untrusted one, fails the handshake.
pub(crate) fn acceptor(cert_pem: &Path, key_pem: &Path, client_ca: Option<&Path>) -> anyhow::Result<Arc<SslAcceptor>> {
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    builder.set_certificate_chain_file(cert_pem)?;
    builder.set_private_key_file(key_pem, SslFiletype::PEM)?;
    builder.check_private_key()?;
    if let Some(ca) = client_ca {
        builder.set_ca_file(ca)?;
        let pem = std::fs::read(ca)?;
        let mut names = openssl::stack::Stack::new()?;
        for cert in openssl::x509::X509::stack_from_pem(&pem)? {
            names.push(cert.subject_name().to_owned()?)?;
        }
        builder.set_client_ca_list(names);
        builder.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    }
    Ok(Arc::new(builder.build()))
}

/// A self-signed certificate (and its key) for `cn`, valid for `127.0.0.1` and `localhost`: a server
/// certificate no client trusts, or a CA no client certificate chains to.
pub(crate) fn self_signed(
    cn: &str,
) -> anyhow::Result<(openssl::x509::X509, openssl::pkey::PKey<openssl::pkey::Private>)> {
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    let key = openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(
        openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)?.as_ref(),
    )?)?;
    let mut name = openssl::x509::X509NameBuilder::new()?;
    name.append_entry_by_text("CN", cn)?;
    let name = name.build();
    let mut cert = openssl::x509::X509Builder::new()?;
    cert.set_version(2)?;
    let mut serial = openssl::bn::BigNum::new()?;
    serial.rand(64, openssl::bn::MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    cert.set_serial_number(&serial)?;
    cert.set_subject_name(&name)?;
    cert.set_issuer_name(&name)?;
    cert.set_pubkey(&key)?;
    cert.set_not_before(openssl::asn1::Asn1Time::days_from_now(0)?.as_ref())?;
    cert.set_not_after(openssl::asn1::Asn1Time::days_from_now(30)?.as_ref())?;
    cert.append_extension(BasicConstraints::new().ca().build()?)?;
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .dns("localhost")
        .build(&cert.x509v3_context(None, None))?;
    cert.append_extension(san)?;
    cert.sign(&key, openssl::hash::MessageDigest::sha256())?;
    Ok((cert.build(), key))
}

/// An acceptor that presents a self-signed certificate (no client trusts it).
pub(crate) fn untrusted_acceptor() -> anyhow::Result<Arc<SslAcceptor>> {
    let (cert, key) = self_signed("untrusted simulator")?;
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    builder.set_certificate(&cert)?;
    builder.set_private_key(&key)?;
    Ok(Arc::new(builder.build()))
}

/// An acceptor with the real certificate that requires a client certificate from a CA of its own, which no
/// client has: every client certificate is refused.
pub(crate) fn refusing_acceptor(cert_pem: &Path, key_pem: &Path) -> anyhow::Result<Arc<SslAcceptor>> {
    let (ca, _) = self_signed("a CA no client has")?;
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    builder.set_certificate_chain_file(cert_pem)?;
    builder.set_private_key_file(key_pem, SslFiletype::PEM)?;
    builder.check_private_key()?;
    let mut store = openssl::x509::store::X509StoreBuilder::new()?;
    store.add_cert(ca.clone())?;
    builder.set_verify_cert_store(store.build())?;
    let mut names = openssl::stack::Stack::new()?;
    names.push(ca.subject_name().to_owned()?)?;
    builder.set_client_ca_list(names);
    builder.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    Ok(Arc::new(builder.build()))
}

/// Accept connections until `stop` changes, handing each to `on_connection` in a task of its own.
pub(crate) async fn accept_loop<F, Fut>(listener: TcpListener, mut stop: watch::Receiver<bool>, on_connection: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(on_connection(tcp));
    }
}

/// Serve HTTP/1.1 (over TLS when `acceptor` is given) with `service` on every connection until
/// `stop` changes: the listener every simulator without TLS faults of its own shares.
pub(crate) async fn serve<S, Fut, B>(
    listener: TcpListener,
    acceptor: Option<Arc<SslAcceptor>>,
    stop: watch::Receiver<bool>,
    service: S,
) where
    S: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<hyper::Response<B>, DropConnection>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let loop_stop = stop.clone();
    let on_connection = move |tcp: TcpStream| {
        let (service, stop, acceptor) = (service.clone(), stop.clone(), acceptor.clone());
        async move {
            match acceptor {
                None => serve_http1(tcp, service, stop).await,
                Some(acceptor) => {
                    if let Some(stream) = tls_accept(&acceptor, tcp).await {
                        serve_http1(stream, service, stop).await;
                    }
                }
            }
        }
    };
    accept_loop(listener, loop_stop, on_connection).await;
}

/// The server side of a TLS handshake; None when it fails or times out.
pub(crate) async fn tls_accept(acceptor: &SslAcceptor, tcp: TcpStream) -> Option<SslStream<TcpStream>> {
    let ssl = Ssl::new(acceptor.context()).ok()?;
    let mut stream = SslStream::new(ssl, tcp).ok()?;
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, Pin::new(&mut stream).accept()).await {
        Ok(Ok(())) => Some(stream),
        _ => None,
    }
}

/// Serve HTTP/1.1 on one connection until it ends or `stop` changes.
pub(crate) async fn serve_http1<I, S, Fut, B>(io: I, service: S, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Fn(Request<Incoming>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<hyper::Response<B>, DropConnection>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service = hyper::service::service_fn(service);
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service);
    tokio::select! {
        _ = conn => {}
        _ = stop.changed() => {}
    }
}

/// Returned by a service to make hyper close the connection without a response.
#[derive(Debug)]
pub(crate) struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DropConnection {}

/// Append to a capped request log: a long-running sandbox keeps the most recent entries.
pub(crate) fn push_capped<T>(log: &mut Vec<T>, entry: T) {
    if log.len() >= REQUEST_LOG_CAPACITY {
        log.drain(..REQUEST_LOG_CAPACITY / 10);
    }
    log.push(entry);
}

/// `scheme://IP:PORT` for a listen address, a wildcard address shown as 127.0.0.1 (an IPv6 address in brackets).
pub(crate) fn base_url(scheme: &str, addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    match ip {
        IpAddr::V4(v4) => format!("{scheme}://{v4}:{}", addr.port()),
        IpAddr::V6(v6) => format!("{scheme}://[{v6}]:{}", addr.port()),
    }
}

/// The stop signal of a running simulator, sent when this is dropped: the accept loop and the open
/// connections watching the receiver end.
pub(crate) struct StopOnDrop(watch::Sender<bool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// A stop signal and the receiver to hand to the server.
pub(crate) fn stop_signal() -> (StopOnDrop, watch::Receiver<bool>) {
    let (sender, receiver) = watch::channel(false);
    (StopOnDrop(sender), receiver)
}
