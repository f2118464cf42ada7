//! A webhook receiver on a loopback port: it records every delivery and
//! answers each with the status the test sets (200 unless told otherwise).

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Request line's path.
    pub path: String,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub answered: u16,
    /// When it had been read whole.
    pub arrived: Instant,
}

impl Delivery {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The headers as an `http::HeaderMap`, for verifying libraries.
    pub fn header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::try_from(name.as_str()),
                http::HeaderValue::try_from(value.as_str()),
            ) {
                map.append(name, value);
            }
        }
        map
    }
}

/// The receiver; it serves until the test's runtime ends.
#[derive(Clone)]
pub struct WebhookReceiver {
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    status: Arc<AtomicU16>,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    /// Only events of this `type` are recorded and answered with `status`;
    /// others get `200` and are not kept.
    only: Option<&'static str>,
}

impl WebhookReceiver {
    /// Starts listening, recording every delivery.
    pub async fn start() -> Self {
        Self::listen(None).await
    }

    /// Starts listening for events of `event_type` only: the tests of one
    /// kind of event, whatever else the service sends meanwhile (the
    /// verification mail of a registration).
    pub async fn start_for(event_type: &'static str) -> Self {
        Self::listen(Some(event_type)).await
    }

    async fn listen(only: Option<&'static str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let origin = format!("http://{}", listener.local_addr().expect("address"));
        let receiver = Self {
            origin,
            status: Arc::new(AtomicU16::new(200)),
            deliveries: Arc::default(),
            only,
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().answer(stream));
            }
        });
        receiver
    }

    /// The URL to configure as `webhook_url`.
    pub fn url(&self) -> String {
        format!("{}/hooks/spin-users", self.origin)
    }

    /// Answers every later delivery with `status`.
    pub fn answer_with(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Every delivery so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().expect("lock").clone()
    }

    /// Waits (up to `timeout`) until `count` deliveries have arrived.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Delivery> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.deliveries();
            if got.len() >= count || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn answer(self, mut stream: tokio::net::TcpStream) {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        // Head first, then as much body as content-length says.
        let head_end = loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let path = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .unwrap_or_default()
            .to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buffer[head_end..].to_vec();
        let event_type = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|event| event["type"].as_str().map(str::to_owned));
        let wanted = self
            .only
            .is_none_or(|only| event_type.as_deref() == Some(only));
        let status = if wanted {
            self.status.load(Ordering::SeqCst)
        } else {
            200
        };
        if wanted {
            self.deliveries.lock().expect("lock").push(Delivery {
                path,
                headers,
                body,
                answered: status,
                arrived: Instant::now(),
            });
        }
        let reply =
            format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}
