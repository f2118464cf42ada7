//! Many instances, one state: three instances of the app (`spin up` when
//! the CLI is on PATH, the bundled host otherwise) on the production runtime
//! config, over one PostgreSQL database and one Redis, driven round-robin.
//! Every guarantee the single-instance suite checks must hold when
//! consecutive requests land on different instances.
//!
//! Needs `SPIN_USERS_TEST_PG_URL` and `SPIN_USERS_TEST_REDIS_URL`:
//! `make test-cluster` (part of `make test`) sets both.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use http::Method;
use serde_json::json;
use spin_users_component_tests::{
    CHOSEN_ADMIN_PASSWORD, Cluster, TEST_MFA_KEY, TEST_SIGNING_KEY, TestResponse, totp, urlencode,
};
use spin_users_domain::fakes::SoftAuthenticator;

const INSTANCES: usize = 3;
const ADMIN_EMAIL: &str = "root@example.com";
const ADMIN_PASSWORD: &str = "admin password";
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const JSON: (&str, &str) = ("content-type", "application/json");

/// The test settings every instance shares (the same secrets, as
/// replicas of one deployment have), with `overrides` on top.
fn settings(overrides: &[(&str, &str)]) -> HashMap<String, String> {
    [
        ("SIGNING_KEY", TEST_SIGNING_KEY),
        ("MFA_ENCRYPTION_KEY", TEST_MFA_KEY),
        ("ARGON2_MEMORY_KIB", "256"),
        ("ARGON2_ITERATIONS", "1"),
        ("ADMIN_EMAIL", ADMIN_EMAIL),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("LOGIN_LIMIT_PER_IP", "100000/60"),
        ("LOGIN_LIMIT_PER_ACCOUNT", "100000/60"),
        ("LOGIN_CEILING_PER_ACCOUNT", "100000/60"),
        ("REGISTER_LIMIT_PER_IP", "100000/60"),
    ]
    .into_iter()
    .chain(overrides.iter().copied())
    .map(|(name, value)| (format!("SPIN_VARIABLE_{name}"), value.to_owned()))
    .collect()
}

async fn cluster(overrides: &[(&str, &str)]) -> Cluster {
    Cluster::start(INSTANCES, &settings(overrides))
        .await
        .unwrap_or_else(|e| panic!("cluster failed to start: {e:#}"))
}

fn loopback(last: u8) -> IpAddr {
    Ipv4Addr::new(127, 0, 0, last).into()
}

async fn register(cluster: &Cluster, instance: usize, email: &str) -> TestResponse {
    let body = json!({"name": "Ada", "email": email, "password": "correct horse"});
    cluster
        .send(instance, Method::POST, "/users", &[JSON], body.to_string())
        .await
}

async fn login_from(
    cluster: &Cluster,
    instance: usize,
    from: IpAddr,
    email: &str,
    password: &str,
) -> TestResponse {
    let body = format!(
        "grant_type=password&username={}&password={}",
        urlencode(email),
        urlencode(password)
    );
    cluster
        .try_send(instance, from, Method::POST, "/token", &[FORM], body)
        .await
        .unwrap_or_else(|e| panic!("instance {instance}: {e:#}"))
}

async fn login(cluster: &Cluster, instance: usize, email: &str, password: &str) -> TestResponse {
    login_from(cluster, instance, loopback(1), email, password).await
}

async fn refresh(cluster: &Cluster, instance: usize, token: &str) -> TestResponse {
    let body = format!(
        "grant_type=refresh_token&refresh_token={}",
        urlencode(token)
    );
    cluster
        .send(instance, Method::POST, "/token", &[FORM], body)
        .await
}

async fn get_with_token(
    cluster: &Cluster,
    instance: usize,
    path: &str,
    token: &str,
) -> TestResponse {
    let auth = format!("Bearer {token}");
    cluster
        .send(instance, Method::GET, path, &[("authorization", &auth)], "")
        .await
}

/// Ada, registered through instance 0 and logged in through instance 1:
/// her access token.
async fn ada_signed_in(cluster: &Cluster) -> String {
    let created = register(cluster, 0, "ada@example.com").await;
    assert_eq!(created.status, 201, "{}", created.text());
    field(
        &login(cluster, 1, "ada@example.com", "correct horse").await,
        "access_token",
    )
}

/// `POST path` by `n` requests at once, round-robin over the instances,
/// the i-th with `body(i)`; their statuses.
async fn raced(
    cluster: &Arc<Cluster>,
    n: usize,
    path: &'static str,
    content_type: (&'static str, &'static str),
    body: impl Fn(usize) -> String,
) -> Vec<u16> {
    let attempts: Vec<_> = (0..n)
        .map(|i| {
            let cluster = cluster.clone();
            let body = body(i);
            tokio::spawn(async move {
                cluster
                    .send(i % INSTANCES, Method::POST, path, &[content_type], body)
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.expect("request task"));
    }
    statuses
}

/// Exactly one of `statuses` is `won`, and every other `lost`.
fn assert_one_winner(statuses: &[u16], won: u16, lost: u16) {
    let winners = statuses.iter().filter(|s| **s == won).count();
    assert_eq!(winners, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [won, lost].contains(s)),
        "{statuses:?}"
    );
}

fn field(resp: &TestResponse, name: &str) -> String {
    resp.json()[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {}", resp.text()))
        .to_owned()
}

async fn database(cluster: &Cluster) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&cluster.database_url, tokio_postgres::NoTls)
            .await
            .expect("connect to the cluster's database");
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_works_across_instances_and_refresh_reuse_is_caught_on_any() {
    let cluster = cluster(&[]).await;

    let created = register(&cluster, 0, "ada@example.com").await;
    let login = login(&cluster, 1, "ada@example.com", "correct horse").await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(login.status, 200, "{}", login.text());
    let me = get_with_token(&cluster, 2, "/users/me", &field(&login, "access_token")).await;
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["email"], "ada@example.com");

    let first = field(&login, "refresh_token");
    let rotated = refresh(&cluster, 2, &first).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    let second = field(&rotated, "refresh_token");
    let rotated_again = refresh(&cluster, 0, &second).await;
    assert_eq!(rotated_again.status, 200, "{}", rotated_again.text());
    let third = field(&rotated_again, "refresh_token");

    // Past the grace window for concurrent refreshes, the first token is a
    // replay: whichever instance sees it ends the whole family.
    database(&cluster)
        .await
        .batch_execute(
            "UPDATE refresh_tokens SET rotated_at = rotated_at - 60 WHERE rotated_at IS NOT NULL",
        )
        .await
        .expect("age the rotations");
    let replay = refresh(&cluster, 1, &first).await;
    let after = refresh(&cluster, 2, &third).await;

    assert_eq!(replay.status, 400, "{}", replay.text());
    assert_eq!(replay.json()["error"], "invalid_grant");
    assert_eq!(
        after.status,
        400,
        "family revoked everywhere: {}",
        after.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_ended_by_id_on_one_instance_is_refused_at_once_by_every_one() {
    let cluster = cluster(&[]).await;
    assert_eq!(register(&cluster, 0, "ada@example.com").await.status, 201);
    let phone = login(&cluster, 1, "ada@example.com", "correct horse").await;
    let laptop = login(&cluster, 2, "ada@example.com", "correct horse").await;
    let phone_access = field(&phone, "access_token");
    let laptop_access = field(&laptop, "access_token");
    // Every instance has the user cached for the phone's token.
    for instance in 0..INSTANCES {
        let me = get_with_token(&cluster, instance, "/users/me", &phone_access).await;
        assert_eq!(me.status, 200, "instance {instance}: {}", me.text());
    }
    let listed = get_with_token(&cluster, 0, "/users/me/sessions", &laptop_access).await;
    let items = listed.json()["items"].clone();
    let phone_sid = items
        .as_array()
        .expect("items")
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .expect("the phone's session is listed")
        .to_owned();

    let auth = format!("Bearer {laptop_access}");
    let path = format!("/users/me/sessions/{phone_sid}");
    let ended = cluster
        .send(0, Method::DELETE, &path, &[("authorization", &auth)], "")
        .await;
    assert_eq!(ended.status, 204, "{}", ended.text());

    for instance in 0..INSTANCES {
        let me = get_with_token(&cluster, instance, "/users/me", &phone_access).await;
        assert_eq!(
            me.status, 401,
            "instance {instance}: the ended session's access token"
        );
        let still = get_with_token(&cluster, instance, "/users/me", &laptop_access).await;
        assert_eq!(still.status, 200, "instance {instance}: the other session");
    }
    let refused = refresh(&cluster, 1, &field(&phone, "refresh_token")).await;
    assert_eq!(
        refused.json()["error"],
        "invalid_grant",
        "{}",
        refused.text()
    );
    let kept = refresh(&cluster, 2, &field(&laptop, "refresh_token")).await;
    assert_eq!(kept.status, 200, "{}", kept.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_and_lockout_are_not_multiplied_by_the_instances() {
    let cluster = cluster(&[
        ("LOGIN_LIMIT_PER_IP", "6/60"),
        ("LOGIN_LIMIT_PER_ACCOUNT", "3/900"),
    ])
    .await;
    assert_eq!(register(&cluster, 0, "ada@example.com").await.status, 201);

    // One address guessing Ada's password, one attempt per instance in turn.
    let guesser = loopback(21);
    let mut lockout = Vec::new();
    for attempt in 0..3 {
        let resp = login_from(
            &cluster,
            attempt % INSTANCES,
            guesser,
            "ada@example.com",
            "wrong",
        )
        .await;
        lockout.push(resp.status);
    }
    let with_the_password =
        login_from(&cluster, 0, guesser, "ada@example.com", "correct horse").await;
    lockout.push(with_the_password.status);

    // Another address spraying logins for accounts that do not exist.
    let sprayer = loopback(22);
    let mut spray = Vec::new();
    for attempt in 0..7 {
        let email = format!("nobody{attempt}@example.com");
        let resp = login_from(&cluster, attempt % INSTANCES, sprayer, &email, "guess").await;
        spray.push(resp.status);
    }

    assert_eq!(
        lockout,
        vec![400, 400, 400, 429],
        "lockout across instances"
    );
    assert_eq!(
        spray,
        vec![400, 400, 400, 400, 400, 400, 429],
        "per-address limit across instances"
    );
    let elsewhere = login_from(
        &cluster,
        2,
        loopback(23),
        "ada@example.com",
        "correct horse",
    )
    .await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_change_on_one_instance_is_seen_at_once_by_the_others() {
    let cluster = cluster(&[]).await;
    let admin = login(&cluster, 0, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(admin.status, 200, "{}", admin.text());
    let admin = field(&admin, "access_token");
    // The bootstrap administrator chooses its own password first.
    let auth = format!("Bearer {admin}");
    let body = json!({"password": CHOSEN_ADMIN_PASSWORD, "current_password": ADMIN_PASSWORD});
    let chosen = cluster
        .send(
            0,
            Method::PATCH,
            "/users/me",
            &[JSON, ("authorization", &auth)],
            body.to_string(),
        )
        .await;
    assert_eq!(chosen.status, 200, "{}", chosen.text());
    let ada = register(&cluster, 1, "ada@example.com").await;
    let ada_path = format!("/users/{}", field(&ada, "id"));
    let ada_token = field(
        &login(&cluster, 1, "ada@example.com", "correct horse").await,
        "access_token",
    );
    // Warm the shared cache from both other instances.
    for instance in [1, 2, 1, 2] {
        assert_eq!(
            get_with_token(&cluster, instance, "/users/me", &ada_token)
                .await
                .status,
            200
        );
    }

    let auth = format!("Bearer {admin}");
    let promoted = cluster
        .send(
            0,
            Method::PATCH,
            &ada_path,
            &[JSON, ("authorization", &auth)],
            json!({"roles": ["user", "admin"]}).to_string(),
        )
        .await;
    assert_eq!(promoted.status, 200, "{}", promoted.text());
    for instance in [1, 2] {
        let me = get_with_token(&cluster, instance, "/users/me", &ada_token).await;
        assert_eq!(
            me.json()["roles"],
            json!(["user", "admin"]),
            "instance {instance}: {}",
            me.text()
        );
    }

    let disabled = cluster
        .send(
            0,
            Method::PATCH,
            &ada_path,
            &[JSON, ("authorization", &auth)],
            json!({"disabled": true}).to_string(),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text());
    for instance in [1, 2] {
        let me = get_with_token(&cluster, instance, "/users/me", &ada_token).await;
        assert_eq!(
            me.status, 401,
            "instance {instance} still serves a disabled user"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_time_token_spent_in_parallel_over_the_instances_works_once() {
    let cluster = Arc::new(cluster(&[]).await);
    let created = register(&cluster, 0, "ada@example.com").await;
    assert_eq!(created.status, 201, "{}", created.text());
    let ada = created.json()["id"].as_str().expect("id").to_owned();
    // A reset token as a mail job stores it (hashed), without the mail.
    let token = "a-reset-token-for-the-cluster-test-0123456789";
    database(&cluster)
        .await
        .execute(
            "INSERT INTO one_time_tokens (token_hash, purpose, user_id, address, created_at, expires_at)
             VALUES ($1, 'password_reset', $2, 'ada@example.com', 0, 4000000000)",
            &[&spin_users_domain::hash_token(token), &ada],
        )
        .await
        .expect("store the token");

    let statuses = raced(&cluster, 16, "/password/reset", JSON, |i| {
        json!({"token": token, "password": format!("new passphrase {i}")}).to_string()
    })
    .await;
    assert_one_winner(&statuses, 204, 400);
}

/// `POST path` with a bearer token and a JSON body on `instance`.
async fn send_json(
    cluster: &Cluster,
    instance: usize,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> TestResponse {
    let auth = format!("Bearer {token}");
    cluster
        .send(
            instance,
            Method::POST,
            path,
            &[JSON, ("authorization", &auth)],
            body.to_string(),
        )
        .await
}

/// The `mfa_token` of a password login on `instance` of an enrolled account.
async fn mfa_token(cluster: &Cluster, instance: usize, email: &str) -> String {
    let half = login(cluster, instance, email, "correct horse").await;
    assert_eq!(half.status, 403, "{}", half.text());
    field(&half, "mfa_token")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_factor_code_works_once_over_all_the_instances() {
    let cluster = Arc::new(cluster(&[]).await);
    let token = ada_signed_in(&cluster).await;
    totp::settle(3).await;
    let body = json!({"current_password": "correct horse"});
    let enrolment = send_json(&cluster, 2, "/users/me/mfa/totp", &token, body).await;
    assert_eq!(enrolment.status, 200, "{}", enrolment.text());
    let secret = field(&enrolment, "secret");
    let body = json!({"code": totp::code(&secret, -1)});
    let confirmed = send_json(&cluster, 0, "/users/me/mfa/totp/confirm", &token, body).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text());
    // The enabled flag reaches every instance's view at once (the cache
    // entry was dropped).
    for instance in 0..INSTANCES {
        let me = get_with_token(&cluster, instance, "/users/me", &token).await;
        assert_eq!(me.json()["mfa_enabled"], true, "instance {instance}");
    }

    // One fresh code, one mfa_token per instance, all at once: one login.
    let mut tokens = Vec::new();
    for instance in 0..INSTANCES * 2 {
        tokens.push(mfa_token(&cluster, instance % INSTANCES, "ada@example.com").await);
    }
    let code = totp::code(&secret, 0);
    let attempts = tokens.into_iter().enumerate().map(|(i, mfa)| {
        let cluster = cluster.clone();
        let code = code.clone();
        tokio::spawn(async move {
            let form = format!(
                "grant_type={}&mfa_token={}&otp={code}",
                urlencode("urn:spin-users:grant-type:mfa"),
                urlencode(&mfa)
            );
            cluster
                .send(i % INSTANCES, Method::POST, "/token", &[FORM], form)
                .await
        })
    });
    let mut answers = Vec::new();
    for attempt in attempts {
        answers.push(attempt.await.expect("request task"));
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 400, 429].contains(s)),
        "{statuses:?}"
    );
    let winner = answers.iter().find(|a| a.status == 200).expect("a winner");
    let access = field(winner, "access_token");
    let info = get_with_token(&cluster, 1, "/userinfo", &access).await;
    assert_eq!(info.json()["amr"], json!(["pwd", "otp", "mfa"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passkey_challenge_from_one_instance_is_spent_once_over_all_of_them() {
    let cluster = Arc::new(cluster(&[]).await);
    let token = ada_signed_in(&cluster).await;
    // Registered through instance 2 with options from instance 0.
    let body = json!({"current_password": "correct horse"});
    let options = send_json(&cluster, 0, "/users/me/passkeys/options", &token, body).await;
    assert_eq!(options.status, 200, "{}", options.text());
    let options = options.json();
    let mut key = SoftAuthenticator::new(1, "localhost", "http://localhost:3000");
    let made = key.create(
        options["challenge"].as_str().expect("challenge"),
        options["user"]["id"].as_str().expect("user handle"),
    );
    let credential = json!({
        "id": made.id,
        "response": {
            "clientDataJSON": made.client_data_json,
            "attestationObject": made.attestation_object,
        },
    });
    let body = json!({"credential": credential});
    let registered = send_json(&cluster, 2, "/users/me/passkeys", &token, body).await;
    assert_eq!(registered.status, 201, "{}", registered.text());

    // One assertion, sent to every instance at once (twice each): one
    // sign-in.
    let challenge = cluster
        .send(1, Method::POST, "/passkeys/login/options", &[], "")
        .await;
    assert_eq!(challenge.status, 200, "{}", challenge.text());
    let signed = key.get(&field(&challenge, "challenge"));
    let credential = json!({
        "id": signed.id,
        "response": {
            "clientDataJSON": signed.client_data_json,
            "authenticatorData": signed.authenticator_data,
            "signature": signed.signature,
            "userHandle": signed.user_handle,
        },
    })
    .to_string();
    let form = format!(
        "grant_type={}&credential={}",
        urlencode("urn:spin-users:grant-type:passkey"),
        urlencode(&credential)
    );
    let statuses = raced(&cluster, INSTANCES * 2, "/token", FORM, |_| form.clone()).await;
    assert_one_winner(&statuses, 200, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_duplicate_registrations_over_the_instances_create_one_account() {
    let cluster = Arc::new(cluster(&[]).await);
    let attempts = (0..100).map(|i| {
        let cluster = cluster.clone();
        tokio::spawn(async move {
            register(&cluster, i % INSTANCES, "ada@example.com")
                .await
                .status
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.expect("request task"));
    }

    let created = statuses.iter().filter(|s| **s == 201).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((created, conflicts), (1, 99), "{statuses:?}");
    let rows = database(&cluster)
        .await
        .query_one(
            "SELECT count(*) FROM users WHERE email = 'ada@example.com'",
            &[],
        )
        .await
        .expect("count")
        .get::<_, i64>(0);
    assert_eq!(rows, 1);
}

/// What the load generator saw while an instance was killed.
#[derive(Default)]
struct LoadCounts {
    requests: AtomicUsize,
    created: AtomicUsize,
    other_statuses: AtomicUsize,
    server_errors_on_survivors: AtomicUsize,
    failed_on_the_dead_instance: AtomicUsize,
    transport_errors_on_survivors: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_an_instance_mid_load_loses_no_acknowledged_write() {
    const CLIENTS: usize = 12;
    const VICTIM: usize = 2;
    let cluster = Arc::new(cluster(&[]).await);
    let counts = Arc::new(LoadCounts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::new()));

    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (cluster, counts, stop, acknowledged) = (
                cluster.clone(),
                counts.clone(),
                stop.clone(),
                acknowledged.clone(),
            );
            tokio::spawn(async move {
                let mut sequence = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    sequence += 1;
                    // Round-robin over the live instances, as a load
                    // balancer whose health check has seen the death.
                    let live: Vec<usize> =
                        (0..INSTANCES).filter(|&i| cluster.is_alive(i)).collect();
                    let instance = live[(client + sequence) % live.len()];
                    let email = format!("load-{client}-{sequence}@example.com");
                    let body = json!({"name": "Load", "email": email, "password": "correct horse"});
                    counts.requests.fetch_add(1, Ordering::SeqCst);
                    let outcome = cluster
                        .try_send(
                            instance,
                            loopback(1),
                            Method::POST,
                            "/users",
                            &[JSON],
                            body.to_string(),
                        )
                        .await;
                    match outcome {
                        Ok(resp) if resp.status == 201 => {
                            counts.created.fetch_add(1, Ordering::SeqCst);
                            acknowledged.lock().expect("lock").push(email);
                        }
                        Ok(resp) if resp.status >= 500 && instance != VICTIM => {
                            counts
                                .server_errors_on_survivors
                                .fetch_add(1, Ordering::SeqCst);
                            eprintln!("instance {instance}: {} {}", resp.status, resp.text());
                        }
                        Ok(_) => {
                            counts.other_statuses.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) if instance == VICTIM => {
                            counts
                                .failed_on_the_dead_instance
                                .fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            counts
                                .transport_errors_on_survivors
                                .fetch_add(1, Ordering::SeqCst);
                            eprintln!("instance {instance}: {e:#}");
                        }
                    }
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_kill = counts.requests.load(Ordering::SeqCst);
    cluster.kill(VICTIM);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.expect("client task");
    }

    let acknowledged = acknowledged.lock().expect("lock").clone();
    let stored = database(&cluster)
        .await
        .query_one(
            "SELECT count(*) FROM users WHERE email = ANY($1)",
            &[&acknowledged],
        )
        .await
        .expect("count")
        .get::<_, i64>(0);
    let requests = counts.requests.load(Ordering::SeqCst);
    let created = counts.created.load(Ordering::SeqCst);
    eprintln!(
        "fault test: {requests} requests ({before_kill} before the kill, {} after it), {created} created, \
         {} other statuses, {} 5xx on survivors, {} failed on the killed instance, \
         {} transport errors on survivors, {} acknowledged writes missing",
        requests - before_kill,
        counts.other_statuses.load(Ordering::SeqCst),
        counts.server_errors_on_survivors.load(Ordering::SeqCst),
        counts.failed_on_the_dead_instance.load(Ordering::SeqCst),
        counts.transport_errors_on_survivors.load(Ordering::SeqCst),
        acknowledged.len() as i64 - stored,
    );

    assert!(
        before_kill > 0 && requests > before_kill,
        "load ran on both sides of the kill"
    );
    assert_eq!(counts.server_errors_on_survivors.load(Ordering::SeqCst), 0);
    assert_eq!(
        counts.transport_errors_on_survivors.load(Ordering::SeqCst),
        0
    );
    assert_eq!(
        counts.other_statuses.load(Ordering::SeqCst),
        0,
        "every registration was new"
    );
    assert!(
        counts.failed_on_the_dead_instance.load(Ordering::SeqCst) <= CLIENTS,
        "only requests in flight on the killed instance fail"
    );
    assert_eq!(
        stored,
        acknowledged.len() as i64,
        "no acknowledged registration is lost"
    );
    // The survivors serve the accounts created on the dead instance too.
    let last = acknowledged.last().expect("some registrations");
    assert_eq!(login(&cluster, 0, last, "correct horse").await.status, 200);
}
