//! Serves an [`App`] over HTTP/1.1 on a TCP listener, one fresh component
//! instance per request, like `spin up`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wasmtime_wasi_http::p2::hyper_request_error;

use crate::app::App;

/// Accepts connections on `listener` until `shutdown` resolves.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, client_addr) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move { respond(&app, req, client_addr).await }
            });
            if let Err(e) = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("connection from {client_addr}: {e}");
            }
        });
    }
}

async fn respond(
    app: &App,
    req: hyper::Request<hyper::body::Incoming>,
    client_addr: SocketAddr,
) -> Result<hyper::Response<wasmtime_wasi_http::p2::body::HyperOutgoingBody>> {
    use http_body_util::BodyExt;
    let req = req.map(|body| body.map_err(hyper_request_error).boxed_unsync());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = app.handle(req, client_addr).await;
    match &response {
        Ok(resp) => tracing::info!("{method} {path} -> {}", resp.status().as_u16()),
        Err(e) => tracing::error!("{method} {path} failed: {e:#}"),
    }
    response
}
