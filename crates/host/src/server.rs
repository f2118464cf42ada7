//! Serves an [`App`] on a TCP listener, one fresh component instance per
//! request, the way Spin 4.0.2's HTTP trigger does
//! (`crates/trigger-http/src/server.rs`): hyper-util's auto builder
//! (HTTP/1.1 with keep-alive, or HTTP/2), no `TCP_NODELAY`, and the
//! response handed to hyper the moment the component sets its outparam,
//! its body streamed after. So a component that commits its headers
//! before its body is complete pays here what it pays under Spin: Nagle
//! holds the late body segment until the client's delayed ACK (~40 ms).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
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
            if let Err(e) = Builder::new(TokioExecutor::new())
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
