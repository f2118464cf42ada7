//! The sessions a user sees and ends one by one, and every path that ends
//! a session cutting both of its halves: the refresh token gets
//! `invalid_grant` and the access token `401`, at once.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Method;
use serde_json::json;
use spin_users_component_tests::{TestApp, urlencode};

const PASSWORD: &str = "correct horse";

/// One login: its tokens and its session id.
struct Login {
    access: String,
    refresh: String,
    sid: String,
}

async fn log_in(app: &TestApp, email: &str, user_agent: &str) -> Login {
    let form = format!(
        "grant_type=password&username={}&password={}",
        urlencode(email),
        urlencode(PASSWORD)
    );
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("user-agent", user_agent),
    ];
    let resp = app.request(Method::POST, "/token", &headers, form).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    let access = body["access_token"].as_str().expect("access").to_owned();
    let payload = access.split('.').nth(1).expect("a JWT");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("json");
    Login {
        sid: claims["sid"].as_str().expect("sid").to_owned(),
        access,
        refresh: body["refresh_token"].as_str().expect("refresh").to_owned(),
    }
}

async fn sessions_page(app: &TestApp, login: &Login, query: &str) -> serde_json::Value {
    let resp = app
        .get_with_token(&format!("/users/me/sessions{query}"), &login.access)
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    resp.json()
}

fn ids(page: &serde_json::Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect()
}

async fn end_session(app: &TestApp, login: &Login, sid: &str) -> u16 {
    let bearer = format!("Bearer {}", login.access);
    let path = format!("/users/me/sessions/{sid}");
    app.request(Method::DELETE, &path, &[("authorization", &bearer)], "")
        .await
        .status
}

/// `200` while the access token acts.
async fn me_status(app: &TestApp, login: &Login) -> u16 {
    app.get_with_token("/users/me", &login.access).await.status
}

/// Both halves of `login`'s session are cut: its access token is refused
/// and its refresh token gets `invalid_grant`.
async fn assert_cut(app: &TestApp, login: &Login, path: &str) {
    assert_eq!(me_status(app, login).await, 401, "{path}: access token");
    let refresh = app.refresh(&login.refresh).await;
    assert_eq!(refresh.status, 400, "{path}: {}", refresh.text());
    assert_eq!(refresh.json()["error"], "invalid_grant", "{path}");
}

/// Both halves of `login`'s session still work (the refresh is spent).
async fn assert_live(app: &TestApp, login: &Login, path: &str) {
    assert_eq!(me_status(app, login).await, 200, "{path}: access token");
    let refresh = app.refresh(&login.refresh).await;
    assert_eq!(refresh.status, 200, "{path}: {}", refresh.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_shows_live_sessions_newest_first_and_marks_the_callers() {
    let (app, _) = TestApp::with_admin().await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let phone = log_in(&app, "ada@example.com", "Phone\t/1").await;
    let ended = log_in(&app, "ada@example.com", "Kiosk/1").await;
    let laptop = log_in(&app, "ada@example.com", "Laptop/2").await;
    assert_eq!(end_session(&app, &laptop, &ended.sid).await, 204);
    app.register("Bob", "bob@example.com", PASSWORD).await;
    let bob = log_in(&app, "bob@example.com", "Bob/1").await;

    let page = sessions_page(&app, &phone, "").await;

    assert_eq!(ids(&page), [laptop.sid.as_str(), phone.sid.as_str()]);
    let items = page["items"].as_array().expect("items");
    let fields: Vec<&str> = items[0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        ["created_at", "current", "id", "last_used_at", "user_agent"]
    );
    assert_eq!(items[0]["user_agent"], "Laptop/2");
    assert_eq!(
        items[1]["user_agent"], "Phone/1",
        "control characters dropped"
    );
    assert_eq!(items[0]["current"], false);
    assert_eq!(items[1]["current"], true, "the caller's own session");
    assert!(
        items[1]["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(page.get("next_cursor").is_none());
    let text = page.to_string();
    for secret in [&phone.refresh, &laptop.refresh, &bob.sid] {
        assert!(!text.contains(secret.as_str()), "{secret} leaked");
    }

    let first = sessions_page(&app, &phone, "?limit=1").await;
    assert_eq!(ids(&first), [laptop.sid.as_str()]);
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = sessions_page(&app, &phone, &format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(ids(&second), [phone.sid.as_str()]);
    assert!(second.get("next_cursor").is_none());

    let bad = app
        .get_with_token("/users/me/sessions?cursor=nope", &phone.access)
        .await;
    bad.assert_problem(422, "validation-failed");
    let anonymous = app.get("/users/me/sessions").await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn ending_a_session_by_id_cuts_it_alone_and_only_the_callers_own() {
    let (app, _) = TestApp::with_admin().await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    app.register("Bob", "bob@example.com", PASSWORD).await;
    let phone = log_in(&app, "ada@example.com", "Phone/1").await;
    let laptop = log_in(&app, "ada@example.com", "Laptop/2").await;
    let bob = log_in(&app, "bob@example.com", "Bob/1").await;
    assert_eq!(me_status(&app, &phone).await, 200, "cache warm");

    assert_eq!(end_session(&app, &laptop, &phone.sid).await, 204);

    assert_cut(&app, &phone, "DELETE /users/me/sessions/{id}").await;
    assert_eq!(end_session(&app, &laptop, &phone.sid).await, 404, "ended");
    assert_eq!(end_session(&app, &laptop, &bob.sid).await, 404, "Bob's");
    assert_eq!(end_session(&app, &laptop, "no-such-session").await, 404);
    assert_eq!(end_session(&app, &laptop, "%27%20OR%201%3D1").await, 404);
    assert_live(&app, &laptop, "the other session").await;
    assert_live(&app, &bob, "someone else's").await;
}

/// One way of ending `victim`'s session, by `victim` itself (whose
/// `other` login is the caller when the path needs one) or the admin.
#[derive(Clone, Copy, Debug)]
enum Path {
    Logout,
    LogoutEverywhere,
    PasswordChange,
    DeleteAccount,
    AdminDisable,
    AdminDelete,
    EndById,
}

async fn end_by(
    app: &TestApp,
    admin: &str,
    path: Path,
    email: &str,
    victim: &Login,
    other: &Login,
) {
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let me_id = app.get_with_token("/users/me", &other.access).await.json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let resp = match path {
        Path::Logout => {
            let body = format!("refresh_token={}", urlencode(&victim.refresh));
            app.request(Method::POST, "/logout", &form, body).await
        }
        Path::LogoutEverywhere => {
            let bearer = format!("Bearer {}", other.access);
            let headers = [("authorization", bearer.as_str())];
            app.request(Method::POST, "/logout?all=true", &headers, "")
                .await
        }
        Path::PasswordChange => {
            let body = json!({"password": "a new passphrase", "current_password": PASSWORD});
            app.send_json(Method::PATCH, "/users/me", &other.access, &body)
                .await
        }
        Path::DeleteAccount => {
            let body = json!({"current_password": PASSWORD});
            app.send_json(Method::DELETE, "/users/me", &other.access, &body)
                .await
        }
        Path::AdminDisable => {
            let body = json!({"disabled": true});
            app.send_json(Method::PATCH, &format!("/users/{me_id}"), admin, &body)
                .await
        }
        Path::AdminDelete => {
            let bearer = format!("Bearer {admin}");
            let headers = [("authorization", bearer.as_str())];
            app.request(Method::DELETE, &format!("/users/{me_id}"), &headers, "")
                .await
        }
        Path::EndById => {
            let status = end_session(app, other, &victim.sid).await;
            assert_eq!(status, 204, "{path:?} of {email}");
            return;
        }
    };
    assert!(
        resp.status == 200 || resp.status == 204,
        "{path:?} of {email}: {} {}",
        resp.status,
        resp.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_way_of_ending_a_session_cuts_both_its_halves() {
    let (app, admin) = TestApp::with_admin().await;
    let paths = [
        Path::Logout,
        Path::LogoutEverywhere,
        Path::PasswordChange,
        Path::DeleteAccount,
        Path::AdminDisable,
        Path::AdminDelete,
        Path::EndById,
    ];
    for (n, path) in paths.into_iter().enumerate() {
        let email = format!("victim{n}@example.com");
        app.register("Victim", &email, PASSWORD).await;
        let victim = log_in(&app, &email, "Phone/1").await;
        let other = log_in(&app, &email, "Laptop/2").await;
        assert_eq!(me_status(&app, &victim).await, 200, "{path:?}: cache warm");

        end_by(&app, &admin, path, &email, &victim, &other).await;

        assert_cut(&app, &victim, &format!("{path:?}")).await;
        if matches!(path, Path::PasswordChange | Path::EndById | Path::Logout) {
            assert_live(&app, &other, &format!("{path:?} spares the caller")).await;
        }
    }
    // Each session counted once, under its path's reason.
    let metrics = app.get("/metrics").await.text();
    for (reason, ended) in [
        ("logout", 1),
        ("logout_everywhere", 2),
        ("password_changed", 1),
        ("account_deleted", 4),
        ("disabled", 2),
        ("ended_by_owner", 1),
        ("refresh_token_reuse", 0),
    ] {
        let series = format!("spin_users_sessions_ended_total{{reason=\"{reason}\"}} {ended}\n");
        assert!(metrics.contains(&series), "{series} in\n{metrics}");
    }
}
