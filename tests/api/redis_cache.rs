//! The user cache on Redis through the components' own client
//! (`cache_redis_url`), as production runs it: a Redis that stops
//! answering costs each request at most its bound, never a hang, and the
//! service is itself again as soon as Redis is. Needs
//! `SPIN_USERS_TEST_REDIS_URL` (`make test` starts Redis with
//! scripts/redis.sh and sets it).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::json;
use spin_users_component_tests::{TestApp, TestResponse, redis_host_port, redis_url};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the stand-in Redis does with a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Passes it on to the real Redis.
    Forward,
    /// Accepts it and never answers: a hung server, or a network that
    /// drops packets.
    Silent,
    /// Accepts it and closes it at once, as a server going down does.
    Closing,
}

/// A TCP proxy in front of the test Redis whose behaviour a test switches,
/// for new connections and for those already open (a client that keeps a
/// connection, as Spin's key-value store does, sees the outage too).
struct SwitchableRedis {
    address: SocketAddr,
    mode: watch::Sender<Mode>,
    _task: tokio::task::JoinHandle<()>,
}

impl SwitchableRedis {
    async fn start() -> Self {
        let upstream =
            redis_host_port(&redis_url().expect(
                "SPIN_USERS_TEST_REDIS_URL is not set: run these tests through `make test`",
            ));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (mode, watching) = watch::channel(Mode::Forward);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream.clone(), watching.clone()));
            }
        });
        Self {
            address,
            mode,
            _task: task,
        }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    fn url(&self) -> String {
        format!("redis://{}", self.address)
    }
}

/// One client connection: forwarded while the mode is `Forward`; once it
/// is not, held unanswered (`Silent`) until the mode is `Closing`, or
/// closed.
async fn serve(mut client: TcpStream, upstream: String, mut mode: watch::Receiver<Mode>) {
    let current = *mode.borrow_and_update();
    if current == Mode::Forward {
        let Ok(mut server) = TcpStream::connect(&upstream).await else {
            return;
        };
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
            _ = mode.wait_for(|m| *m != Mode::Forward) => {}
        }
    }
    let _ = mode.wait_for(|m| *m == Mode::Closing).await;
}

/// The bound the issue sets on any wait for the cache, with room for a
/// loaded CI machine; the client's own bound is one second.
const BOUND: Duration = Duration::from_secs(2);

/// Runs `request`, failing the test if it takes longer than [`BOUND`].
async fn within_bound(what: &str, request: impl Future<Output = TestResponse>) -> TestResponse {
    let started = Instant::now();
    let response = tokio::time::timeout(BOUND * 3, request)
        .await
        .unwrap_or_else(|_| panic!("{what} hung on the cache"));
    let took = started.elapsed();
    assert!(took <= BOUND, "{what} took {took:?}");
    response
}

/// The service with its cache behind `redis`, and Spin's key-value store
/// `default` on the same address, as a production runtime config has it:
/// components that opened that store would wait out its client's
/// reconnection (minutes under Spin 4.0.2, and in the bundled host).
async fn service_behind(redis: &SwitchableRedis) -> TestApp {
    TestApp::spin_users()
        .cache_on_redis(&redis.url())
        .runtime_config(&format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n\
             [sqlite_database.default]\ntype = \"spin\"\npath = \"sqlite.db\"\n",
            redis.url()
        ))
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_outage_costs_each_request_its_bound_and_ends_when_redis_returns() {
    // Arrange: Ada's entry is cached, her name set once through the cache.
    let redis = SwitchableRedis::start().await;
    let app = service_behind(&redis).await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let login = app.login("ada@example.com", "correct horse").await;
    let token = login.json()["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let mut refresh = login.json()["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    let rename = |name: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            app.send_json(Method::PATCH, "/users/me", &token, &json!({ "name": name }))
                .await
        }
    };
    assert_eq!(rename("Ada A.").await.status, 200);
    assert_eq!(app.get_with_token("/users/me", &token).await.status, 200);
    assert_eq!(app.get("/readyz").await.status, 200);

    for outage in [Mode::Silent, Mode::Closing] {
        // Act: Redis stops answering.
        redis.set(outage);
        let read = within_bound("a cached read", app.get_with_token("/users/me", &token)).await;
        let write = within_bound("a write", rename("Ada B.")).await;
        let after_write =
            within_bound("a read after", app.get_with_token("/users/me", &token)).await;
        let ready = within_bound("/readyz", app.get("/readyz")).await;
        let email = format!("grace-{outage:?}@example.com");
        let registered = within_bound(
            "registration",
            app.post_json(
                "/users",
                &json!({"name": "Grace", "email": email, "password": "correct horse"}),
            ),
        )
        .await;
        let logged_in = within_bound("login", app.login(&email, "correct horse")).await;
        let refreshed = within_bound("refresh", app.refresh(&refresh)).await;

        // Assert: reads come from the database; the write is refused
        // before it changed anything; readiness says so.
        assert_eq!(read.status, 200, "{outage:?}: {}", read.text());
        assert_eq!(read.json()["name"], "Ada A.");
        assert_eq!(write.status, 503, "{outage:?}: {}", write.text());
        assert!(
            write.header("retry-after").is_some(),
            "{outage:?}: a 503 says when to retry"
        );
        assert_eq!(
            write.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(
            after_write.json()["name"],
            "Ada A.",
            "{outage:?}: lost nothing"
        );
        assert_eq!(ready.status, 503, "{outage:?}: {}", ready.text());
        assert_eq!(registered.status, 201, "{outage:?}: {}", registered.text());
        assert_eq!(logged_in.status, 200, "{outage:?}: {}", logged_in.text());
        assert_eq!(refreshed.status, 200, "{outage:?}: {}", refreshed.text());
        refresh = refreshed.json()["refresh_token"]
            .as_str()
            .expect("a successor refresh token")
            .to_owned();

        // Act: Redis is back.
        redis.set(Mode::Forward);
        let back = Instant::now();
        let ready = app.get("/readyz").await;
        let write = rename("Ada C.").await;
        let read = app.get_with_token("/users/me", &token).await;
        let cached = app.get_with_token("/users/me", &token).await;

        // Assert: at once, and the cache serves the new row.
        assert!(
            back.elapsed() <= BOUND,
            "recovery took {:?}",
            back.elapsed()
        );
        assert_eq!(ready.status, 200, "{outage:?}: {}", ready.text());
        assert_eq!(write.status, 200, "{outage:?}: {}", write.text());
        assert_eq!(read.json()["name"], "Ada C.");
        assert_eq!(cached.json()["name"], "Ada C.");
        assert_eq!(
            rename("Ada A.").await.status,
            200,
            "reset for the next round"
        );
    }
}
