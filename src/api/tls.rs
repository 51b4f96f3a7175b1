//! Inbound HTTPS with OpenSSL (the one TLS stack of the project). When a client CA is
//! configured, clients may present a certificate; its verified subject CN is handed to the
//! authentication layer, which maps it to a configured API client.

use super::layers::PeerCertificate;
use crate::config::TlsSettings;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use openssl::nid::Nid;
use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_openssl::SslStream;
use tower::ServiceExt;

/// A client that opens a connection and says nothing must not hold it for ever.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub fn acceptor(tls: &TlsSettings) -> anyhow::Result<Arc<SslAcceptor>> {
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    builder.set_certificate_chain_file(&tls.cert_file)?;
    builder.set_private_key_file(&tls.key_file, SslFiletype::PEM)?;
    builder.check_private_key()?;
    if let Some(ca) = &tls.client_ca_file {
        builder.set_ca_file(ca)?;
        // Ask for a certificate and verify one if given; bearer tokens remain possible without.
        builder.set_verify(SslVerifyMode::PEER);
    }
    Ok(Arc::new(builder.build()))
}

/// Serves `app` over TLS until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    acceptor: Arc<SslAcceptor>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut shutdown: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = &mut shutdown => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(ssl) = Ssl::new(acceptor.context()) else { return };
            let Ok(mut stream) = SslStream::new(ssl, tcp) else {
                return;
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, Pin::new(&mut stream).accept()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            }
            let peer = stream.ssl().peer_certificate().and_then(|cert| {
                cert.subject_name()
                    .entries_by_nid(Nid::COMMONNAME)
                    .next()
                    .and_then(|e| e.data().to_string().ok())
                    .map(|cn| PeerCertificate {
                        subject_cn: cn.to_string(),
                    })
            });
            let service = app.map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                if let Some(peer) = &peer {
                    req.extensions_mut().insert(peer.clone());
                }
                req.extensions_mut().insert(super::layers::OverTls);
                // As axum::serve's into_make_service_with_connect_info gives it.
                req.extensions_mut().insert(axum::extract::ConnectInfo(remote));
                req
            });
            let result = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await;
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}
