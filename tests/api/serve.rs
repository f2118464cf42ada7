//! The host's `serve` mode: real HTTP/1.1 over TCP on a loopback port.

use std::sync::Arc;

use spin_users_component_tests::TestApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_http_requests_over_tcp() {
    let app = TestApp::spin_users().start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(spin_users_host::serve(
        Arc::clone(app.host()),
        listener,
        async {
            let _ = stopped.await;
        },
    ));

    let raw = raw_exchange(
        addr,
        "GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n".into(),
    )
    .await;

    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains("{\"status\":\"ok\"}"), "{raw}");
    stop.send(()).expect("server still running");
    server.await.expect("join").expect("server stops cleanly");
}

/// Sends one request over a fresh TCP connection and returns the raw answer.
async fn raw_exchange(addr: std::net::SocketAddr, request: String) -> String {
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(request.as_bytes()).await.expect("send");
    let mut raw = String::new();
    conn.read_to_string(&mut raw).await.expect("read");
    raw
}

#[tokio::test(flavor = "multi_thread")]
async fn every_component_answers_in_one_piece_with_a_content_length() {
    // Arrange: the service over TCP, with an account and a token.
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let token = app.access_token("ada@example.com", "correct horse").await;
    let addr = app.tcp_address().await;
    let get = |path: &str, extra: &str| {
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n{extra}\r\n")
    };
    let bearer = format!("authorization: Bearer {token}\r\n");
    let cases = [
        ("health", get("/", "")),
        ("health", get("/readyz", "")),
        ("auth", get("/.well-known/jwks.json", "")),
        ("users", get("/users/me", &bearer)),
        ("users, problem", get("/users/me", "")),
        (
            "auth, OAuth error",
            "POST /token HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
             content-type: application/x-www-form-urlencoded\r\ncontent-length: 18\r\n\r\n\
             grant_type=unknown"
                .to_owned(),
        ),
    ];

    for (what, request) in cases {
        // Act
        let raw = raw_exchange(addr, request).await;

        // Assert: the body was complete before the headers were committed,
        // so hyper knew its length (the SDK's default path streams it
        // chunked, after the headers).
        let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
        let head = head.to_ascii_lowercase();
        assert!(
            !head.contains("transfer-encoding: chunked"),
            "{what}: chunked: {raw}"
        );
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap_or_else(|| panic!("{what}: no content-length: {raw}"));
        assert_eq!(length.trim(), body.len().to_string(), "{what}: {raw}");
    }

    // A 304 carries no content and claims no length (RFC 9110 §8.6).
    let me = app.get_with_token("/users/me", &token).await;
    let etag = me.header("etag").expect("etag").to_owned();
    let not_modified = raw_exchange(
        addr,
        get("/users/me", &format!("{bearer}if-none-match: {etag}\r\n")),
    )
    .await;
    assert!(not_modified.starts_with("HTTP/1.1 304"), "{not_modified}");
    assert!(
        !not_modified.to_ascii_lowercase().contains("content-length"),
        "{not_modified}"
    );
}
