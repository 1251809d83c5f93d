//! The bench's stand-in for AWS: a local HTTP/1.1 server answering every request as SSM answers
//! GetParameter, over plain TCP or, in TLS mode, HTTPS with a leaf of a CA made for the run.

use crate::bench::BenchError;
use crate::error::context::Context as _;
use crate::source::proxy::tls::Authority;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub struct Upstream {
    pub addr: SocketAddr,
    /// The PEM of the CA its certificate chains to, in TLS mode.
    pub ca: Option<PathBuf>,
}

/// Starts the upstream: HTTPS when `tls_ca_dir` is given, its throwaway CA made there.
pub async fn start(tls_ca_dir: Option<&Path>) -> Result<Upstream, BenchError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (acceptor, ca) = match tls_ca_dir {
        Some(dir) => {
            // The proxy's own CA code makes it: a CA in a directory and a leaf per host is all
            // an HTTPS stand-in needs, and it is the code path the proxy trusts in production.
            let authority = Authority::load_or_create(dir)
                .with_context(|| format!("making the upstream's CA in {}", dir.display()))?;
            let config = authority
                .server_config(&addr.ip().to_string())
                .context("making the upstream's certificate")?;
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            (Some(acceptor), Some(authority.cert_path.clone()))
        }
        None => (None, None),
    };
    tokio::spawn(accept(listener, acceptor));
    Ok(Upstream { addr, ca })
}

async fn accept(listener: tokio::net::TcpListener, tls: Option<tokio_rustls::TlsAcceptor>) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve(TokioIo::new(stream)).await,
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve(TokioIo::new(stream)).await;
                    }
                }
            }
        });
    }
}

async fn serve<S>(io: S)
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async {
        let _ = req.into_body().collect().await;
        let body = r#"{"Parameter":{"Name":"/bench/p","Type":"String","Value":"v","Version":1}}"#;
        let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        resp.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        Ok::<_, std::convert::Infallible>(resp)
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, svc)
        .await;
}
