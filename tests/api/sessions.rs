//! Refresh tokens and logout: rotation, reuse detection, the grace window
//! for concurrent refreshes, and revocation.

use http::Method;
use serde_json::json;
use spin_users_component_tests::{TestApp, TestResponse, concurrently, urlencode};

async fn logged_in(app: &TestApp) -> serde_json::Value {
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let resp = app.login("ada@example.com", "correct horse").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()
}

fn refresh_token(body: &serde_json::Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn login_returns_an_opaque_256_bit_refresh_token() {
    let app = TestApp::spin_users().start().await;

    let body = logged_in(&app).await;

    let token = refresh_token(&body);
    assert_eq!(token.len(), 43, "32 bytes, base64url");
    assert_eq!(token.split('.').count(), 1, "not a JWT");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_rotates_the_token_and_issues_a_working_access_token() {
    let app = TestApp::spin_users().start().await;
    let first = logged_in(&app).await;

    let resp = app.refresh(&refresh_token(&first)).await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    let second = resp.json();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let access = second["access_token"].as_str().expect("access token");
    assert_eq!(app.get_with_token("/users/me", access).await.status, 200);
    assert_eq!(
        app.refresh(&refresh_token(&second)).await.status,
        200,
        "the new token works"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_refreshes_with_one_token_all_get_valid_answers() {
    let app = std::sync::Arc::new(TestApp::spin_users().start().await);
    let token = refresh_token(&logged_in(&app).await);

    let answers = concurrently(&app, 6, |app, _| {
        let token = token.clone();
        async move { app.refresh(&token).await }
    })
    .await;
    let mut new_tokens = Vec::new();
    for resp in answers {
        assert_eq!(resp.status, 200, "{}", resp.text());
        new_tokens.push(refresh_token(&resp.json()));
    }

    for token in new_tokens {
        assert_eq!(
            app.refresh(&token).await.status,
            200,
            "no family was revoked"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_garbage_refresh_tokens_get_invalid_grant() {
    let app = TestApp::spin_users().start().await;
    logged_in(&app).await;

    for token in ["nope", "x".repeat(5000).as_str(), "' OR 1=1 --"] {
        let resp = app.refresh(token).await;

        assert_eq!(resp.status, 400);
        assert_eq!(resp.json()["error"], "invalid_grant");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_revokes_the_presented_session_only() {
    let app = TestApp::spin_users().start().await;
    let phone = logged_in(&app).await;
    let laptop = app.login("ada@example.com", "correct horse").await.json();

    let resp = app
        .post_json("/logout", &json!({"refresh_token": refresh_token(&phone)}))
        .await;

    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(app.refresh(&refresh_token(&phone)).await.status, 400);
    assert_eq!(app.refresh(&refresh_token(&laptop)).await.status, 200);
    let again = app
        .post_json("/logout", &json!({"refresh_token": "unknown"}))
        .await;
    assert_eq!(again.status, 204, "unknown tokens answer the same");
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_all_revokes_every_session_of_the_caller() {
    let app = TestApp::spin_users().start().await;
    let phone = logged_in(&app).await;
    let laptop = app.login("ada@example.com", "correct horse").await.json();
    let access = phone["access_token"].as_str().expect("access").to_owned();

    let resp = app
        .request(
            Method::POST,
            "/logout?all=true",
            &[("authorization", &format!("Bearer {access}"))],
            "",
        )
        .await;

    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(app.refresh(&refresh_token(&phone)).await.status, 400);
    assert_eq!(app.refresh(&refresh_token(&laptop)).await.status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_all_requires_a_valid_access_token() {
    let app = TestApp::spin_users().start().await;
    logged_in(&app).await;

    let resp = app.request(Method::POST, "/logout?all=true", &[], "").await;

    resp.assert_problem(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_without_a_token_is_a_clear_client_error() {
    let app = TestApp::spin_users().start().await;

    let missing = app.post_json("/logout", &json!({})).await;
    let wrong_type = app
        .request(
            Method::POST,
            "/logout",
            &[("content-type", "text/plain")],
            "x",
        )
        .await;

    missing.assert_problem(422, "validation-failed");
    wrong_type.assert_problem(415, "unsupported-media-type");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_inside_the_grace_window_gets_the_same_successor_so_a_family_never_forks() {
    let app = TestApp::spin_users().start().await;
    let first = refresh_token(&logged_in(&app).await);

    let client = app.refresh(&first).await;
    let thief = app.refresh(&first).await;

    assert_eq!(client.status, 200, "{}", client.text());
    assert_eq!(thief.status, 200, "{}", thief.text());
    let successor = refresh_token(&client.json());
    assert_eq!(
        refresh_token(&thief.json()),
        successor,
        "the replay holds the client's token, not a branch of its own"
    );
    let live = app
        .query_db(
            "SELECT count(*) FROM refresh_tokens WHERE rotated_at IS NULL AND revoked_at IS NULL",
        )
        .await;
    assert_eq!(live, vec![vec![Some("1".to_string())]], "one live token");
    // The client moves on; the thief's copy is now a rotated token, and
    // once the window has passed its use ends the whole family.
    let next = refresh_token(&app.refresh(&successor).await.json());
    app.query_db(
        "UPDATE refresh_tokens SET rotated_at = rotated_at - 60 WHERE rotated_at IS NOT NULL",
    )
    .await;
    assert_eq!(app.refresh(&successor).await.status, 400);
    assert_eq!(app.refresh(&next).await.status, 400, "family revoked");
}

/// Logs Ada in once more: a second session (another device).
async fn another_session(app: &TestApp) -> serde_json::Value {
    let resp = app.login("ada@example.com", "correct horse").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()
}

fn access(body: &serde_json::Value) -> &str {
    body["access_token"].as_str().expect("access_token")
}

async fn me_status(app: &TestApp, body: &serde_json::Value) -> u16 {
    app.get_with_token("/users/me", access(body)).await.status
}

#[tokio::test(flavor = "multi_thread")]
async fn logging_out_a_session_stops_its_access_token_at_once() {
    let app = TestApp::spin_users().start().await;
    let phone = logged_in(&app).await;
    let laptop = another_session(&app).await;
    assert_eq!(me_status(&app, &phone).await, 200, "cache warm");

    let logout = app
        .request(
            Method::POST,
            "/logout",
            &[("content-type", "application/x-www-form-urlencoded")],
            format!("refresh_token={}", urlencode(&refresh_token(&phone))),
        )
        .await;

    assert_eq!(logout.status, 204);
    assert_eq!(me_status(&app, &phone).await, 401, "the logged-out session");
    assert_eq!(me_status(&app, &laptop).await, 200, "another session");
}

#[tokio::test(flavor = "multi_thread")]
async fn logging_out_everywhere_stops_every_access_token_but_not_a_new_login() {
    let app = TestApp::spin_users().start().await;
    let phone = logged_in(&app).await;
    let laptop = another_session(&app).await;

    let logout = app
        .request(
            Method::POST,
            "/logout?all=true",
            &[("authorization", &format!("Bearer {}", access(&phone)))],
            "",
        )
        .await;
    let fresh = another_session(&app).await;

    assert_eq!(logout.status, 204, "{}", logout.text());
    assert_eq!(me_status(&app, &phone).await, 401);
    assert_eq!(me_status(&app, &laptop).await, 401);
    assert_eq!(
        me_status(&app, &fresh).await,
        200,
        "a login after the logout"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_stops_the_other_sessions_access_tokens() {
    let app = TestApp::spin_users().start().await;
    let phone = logged_in(&app).await;
    let laptop = another_session(&app).await;
    assert_eq!(me_status(&app, &laptop).await, 200, "cache warm");

    let change = app
        .send_json(
            Method::PATCH,
            "/users/me",
            access(&phone),
            &json!({"password": "a new password", "current_password": "correct horse"}),
        )
        .await;

    assert_eq!(change.status, 200, "{}", change.text());
    assert_eq!(me_status(&app, &laptop).await, 401, "the other session");
    assert_eq!(
        me_status(&app, &phone).await,
        200,
        "the session that changed it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn re_enabling_a_user_does_not_revive_the_tokens_disabling_stopped() {
    let (app, root) = TestApp::with_admin().await;
    let ada = logged_in(&app).await;
    let id = ada_id(&app, &ada).await;
    let path = format!("/users/{id}");

    let disable = app
        .send_json(Method::PATCH, &path, &root, &json!({"disabled": true}))
        .await;
    let enable = app
        .send_json(Method::PATCH, &path, &root, &json!({"disabled": false}))
        .await;

    assert_eq!((disable.status, enable.status), (200, 200));
    assert_eq!(me_status(&app, &ada).await, 401);
    assert_eq!(
        another_session(&app).await["token_type"],
        "bearer",
        "she can log in again"
    );
}

async fn ada_id(app: &TestApp, body: &serde_json::Value) -> String {
    app.get_with_token("/users/me", access(body)).await.json()["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_refuses_an_all_flag_that_is_not_a_boolean() {
    let app = TestApp::spin_users().start().await;
    let login = logged_in(&app).await;
    let body = json!({"refresh_token": refresh_token(&login)});

    let odd = app.post_json("/logout?all=null", &body).await;
    let spelled_out = app.post_json("/logout?all=false", &body).await;

    let problem = odd.assert_problem(422, "validation-failed");
    assert_eq!(problem["errors"][0]["field"], "all");
    assert_eq!(spelled_out.status, 204, "{}", spelled_out.text());
    assert_eq!(
        app.refresh(&refresh_token(&login)).await.status,
        400,
        "logged out"
    );
}

/// Ada with room for many logins: the races below log in once per round
/// (`TestApp::spin_users` sets the login limits out of reach).
async fn ada_with_room_for_logins() -> std::sync::Arc<TestApp> {
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    std::sync::Arc::new(app)
}

/// Rounds of each race: the probe that found the fault won 5 of 12.
const RACE_ROUNDS: usize = 50;

/// After a logout answered 204, nothing the session issued works: not the
/// presented token, not a successor a racing refresh got, not the access
/// tokens of either.
async fn assert_nothing_survives(
    app: &TestApp,
    round: usize,
    login: &serde_json::Value,
    logout: &TestResponse,
    refresh: &TestResponse,
) {
    assert_eq!(logout.status, 204, "round {round}: {}", logout.text());
    assert_eq!(
        me_status(app, login).await,
        401,
        "round {round}: login's token"
    );
    assert_eq!(
        app.refresh(&refresh_token(login)).await.status,
        400,
        "round {round}: the presented token"
    );
    if refresh.status == 200 {
        let successor = refresh.json();
        assert_eq!(
            me_status(app, &successor).await,
            401,
            "round {round}: the racing refresh's access token"
        );
        let next = app.refresh(&refresh_token(&successor)).await;
        assert_eq!(
            next.status,
            400,
            "round {round}: the racing refresh's successor rotated: {}",
            next.text()
        );
    } else {
        assert_eq!(refresh.status, 400, "round {round}: {}", refresh.text());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logout_racing_a_refresh_leaves_no_live_successor() {
    let app = ada_with_room_for_logins().await;
    for round in 0..RACE_ROUNDS {
        let login = another_session(&app).await;
        let token = refresh_token(&login);
        let form = format!("refresh_token={}", urlencode(&token));
        let (refresh, logout) = tokio::join!(
            app.refresh(&token),
            app.request(
                Method::POST,
                "/logout",
                &[("content-type", "application/x-www-form-urlencoded")],
                form,
            )
        );
        assert_nothing_survives(&app, round, &login, &logout, &refresh).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logout_everywhere_racing_a_refresh_leaves_no_live_successor() {
    let app = ada_with_room_for_logins().await;
    for round in 0..RACE_ROUNDS {
        let login = another_session(&app).await;
        let bearer = format!("Bearer {}", access(&login));
        let headers = [("authorization", bearer.as_str())];
        let token = refresh_token(&login);
        let (refresh, logout) = tokio::join!(
            app.refresh(&token),
            app.request(Method::POST, "/logout?all=true", &headers, "")
        );
        assert_nothing_survives(&app, round, &login, &logout, &refresh).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_detected_reuse_ends_the_sessions_access_tokens_at_once() {
    let app = TestApp::spin_users().start().await;
    let first = logged_in(&app).await;
    let second = app.refresh(&refresh_token(&first)).await.json();
    assert_eq!(me_status(&app, &second).await, 200, "cache warm");
    app.query_db(
        "UPDATE refresh_tokens SET rotated_at = rotated_at - 60 WHERE rotated_at IS NOT NULL",
    )
    .await;

    let replay = app.refresh(&refresh_token(&first)).await;

    assert_eq!(replay.status, 400, "{}", replay.text());
    assert_eq!(me_status(&app, &second).await, 401, "the session ended");
    assert_eq!(app.refresh(&refresh_token(&second)).await.status, 400);
}
