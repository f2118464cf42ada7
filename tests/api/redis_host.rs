//! The key-value store on Redis (`type = "redis"` in the runtime config),
//! as production runs it: shared by every instance, and an outage that
//! costs the cache, not the service. Needs `SPIN_USERS_TEST_REDIS_URL`
//! (`make test` starts Redis with scripts/redis.sh and sets it).

use http::Method;
use spin_users_component_tests::{TestApp, redis_url};

fn redis() -> String {
    redis_url().expect(
        "SPIN_USERS_TEST_REDIS_URL is not set: run these tests through `make test` (scripts/redis.sh prints the URL)",
    )
}

fn on_redis(url: &str) -> String {
    format!("[key_value_store.default]\ntype = \"redis\"\nurl = {url:?}\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_value_set_on_one_instance_is_read_on_another() {
    let config = on_redis(&redis());
    let first = TestApp::probe().runtime_config(&config).start().await;
    let second = TestApp::probe().runtime_config(&config).start().await;
    let key = format!("redis-host-{}", std::process::id());

    let put = first
        .request(Method::PUT, &format!("/kv/default/{key}"), &[], "teal")
        .await;
    let read = second.get(&format!("/kv/default/{key}")).await;
    let absent = second.get(&format!("/kv/default/{key}-absent")).await;

    assert_eq!(put.status, 204, "{}", put.text());
    assert_eq!((read.status, read.text().as_str()), (200, "teal"));
    assert_eq!(absent.status, 404, "{}", absent.text());
}

/// Spin 4.0.2 connects to Redis with the `redis` crate's `ConnectionManager`
/// at its defaults: a first connection that fails is retried six times with
/// exponential backoff from 1 s up to 60 s (about five minutes in all), and
/// the key-value `open` waits for it. So while Redis is unreachable a
/// request that touches the cache does not fail fast: it hangs. The host
/// reproduces that; this test fails if it ever answers quickly instead.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_redis_makes_a_cache_open_hang_as_under_spin() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let app = TestApp::spin_users()
        .cache_in_key_value_store()
        .runtime_config(&format!(
            "{}[sqlite_database.default]\ntype = \"spin\"\npath = \"sqlite.db\"\n",
            on_redis(&format!("redis://{closed}"))
        ))
        .start()
        .await;

    let liveness = app.get("/healthz").await;
    let readiness =
        tokio::time::timeout(std::time::Duration::from_secs(3), app.get("/readyz")).await;

    assert_eq!(liveness.status, 200, "liveness touches no store");
    assert!(
        readiness.is_err(),
        "readyz answered at once although Spin 4.0.2 would still be retrying the connection"
    );
}
