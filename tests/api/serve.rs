//! The host's `serve` mode: real HTTP/1.1 over TCP on a loopback port.

use std::sync::Arc;

use spin_users_component_tests::TestApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn serve_answers_http_requests_over_tcp() {
    let app = TestApp::spin_users().start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(spin_users_host::serve(
        Arc::clone(&app.app),
        listener,
        async {
            let _ = stopped.await;
        },
    ));

    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut raw = String::new();
    conn.read_to_string(&mut raw).await.expect("read");

    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains("{\"status\":\"ok\"}"), "{raw}");
    stop.send(()).expect("server still running");
    server.await.expect("join").expect("server stops cleanly");
}
