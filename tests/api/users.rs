//! The `users` component: registration, `GET /users/me`, `GET /users/:id`.

use http::Method;
use serde_json::json;
use spin_users_component_tests::{TestApp, concurrently};

#[tokio::test(flavor = "multi_thread")]
async fn register_returns_201_with_location_and_no_secrets() {
    let app = TestApp::spin_users().start().await;

    let resp = app
        .post_json(
            "/users",
            &json!({"name": "Ada", "email": " Ada@Example.com ", "password": "correct horse"}),
        )
        .await;

    assert_eq!(resp.status, 201, "{}", resp.text());
    let body = resp.json();
    let id = body["id"].as_str().expect("id");
    assert_eq!(
        resp.header("location"),
        Some(format!("/users/{id}").as_str())
    );
    assert_eq!(body["email"], "ada@example.com", "normalised");
    assert_eq!(body["roles"], json!(["user"]));
    assert!(!resp.text().contains("correct horse"));
    assert!(!resp.text().contains("argon2"), "no hash in responses");
}

#[tokio::test(flavor = "multi_thread")]
async fn register_returns_409_when_the_email_is_taken_in_any_case() {
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;

    let resp = app
        .post_json(
            "/users",
            &json!({"name": "Imposter", "email": "ADA@example.COM", "password": "another pass"}),
        )
        .await;

    resp.assert_problem(409, "email-taken");
}

#[tokio::test(flavor = "multi_thread")]
async fn register_returns_422_listing_every_invalid_field() {
    let app = TestApp::spin_users().start().await;
    let cases = [
        (
            json!({"name": "", "email": "x", "password": "short"}),
            vec!["name", "email", "password"],
        ),
        (
            json!({"name": "Ada", "email": "ada@example.com", "password": "ada@example.com"}),
            vec!["password"],
        ),
        (
            json!({"name": "A".repeat(101), "email": "ada@example.com", "password": "correct horse"}),
            vec!["name"],
        ),
        (
            json!({"name": "Ada", "email": format!("{}@example.com", "a".repeat(320)), "password": "correct horse"}),
            vec!["email"],
        ),
    ];
    for (body, fields) in cases {
        let resp = app.post_json("/users", &body).await;

        let problem = resp.assert_problem(422, "validation-failed");
        let got: Vec<&str> = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().expect("field"))
            .collect();
        assert_eq!(got, fields, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn register_rejects_bad_bodies_with_clear_problems() {
    let app = TestApp::spin_users().start().await;
    let valid =
        json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse"}).to_string();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "text/plain",
            valid.clone().into_bytes(),
            415,
            "unsupported-media-type",
        ),
        (
            "application/json",
            b"{\"name\": ".to_vec(),
            400,
            "invalid-json",
        ),
        (
            "application/json",
            b"\xff\xfe\xfd".to_vec(),
            400,
            "invalid-json",
        ),
        ("application/json", b"[1,2,3]".to_vec(), 400, "invalid-json"),
        (
            "application/json",
            br#"{"name":"Ada","email":"a@b.co","password":"correct horse","admin":true}"#.to_vec(),
            400,
            "invalid-json",
        ),
        (
            "application/json",
            vec![b' '; 64 * 1024],
            413,
            "payload-too-large",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let resp = app
            .request(
                Method::POST,
                "/users",
                &[("content-type", content_type)],
                body,
            )
            .await;

        resp.assert_problem(status, code);
    }
    // Nothing above created an account.
    let created = app
        .post_json("/users", &serde_json::from_str(&valid).expect("json"))
        .await;
    assert_eq!(created.status, 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_registrations_of_one_email_create_exactly_one_account() {
    let app = std::sync::Arc::new(TestApp::spin_users().start().await);
    let statuses = concurrently(&app, 16, |app, i| async move {
        app.post_json(
            "/users",
            &json!({"name": format!("Ada {i}"), "email": "ada@example.com", "password": "correct horse"}),
        )
        .await
        .status
    })
    .await;

    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        15,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn me_returns_the_callers_account() {
    let app = TestApp::spin_users().start().await;
    let created = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    let token = app.access_token("ada@example.com", "correct horse").await;

    let resp = app.get_with_token("/users/me", &token).await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json(), created);
}

#[tokio::test(flavor = "multi_thread")]
async fn protected_routes_return_401_with_www_authenticate_without_a_valid_token() {
    let app = TestApp::spin_users().start().await;
    let cases: [&[(&str, &str)]; 5] = [
        &[],
        &[("authorization", "Basic YWRhOnB3")],
        &[("authorization", "Bearer")],
        &[("authorization", "Bearer not.a.jwt")],
        &[(
            "authorization",
            "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        )],
    ];
    for headers in cases {
        let resp = app.request(Method::GET, "/users/me", headers, "").await;

        resp.assert_problem(401, "unauthorized");
        assert_eq!(
            resp.header("www-authenticate"),
            Some("Bearer"),
            "{headers:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn users_by_id_show_others_only_public_fields() {
    let app = TestApp::spin_users().start().await;
    let ada = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;
    let bob = app
        .register("Bob", "bob@example.com", "battery staple")
        .await;
    let bob_token = app.access_token("bob@example.com", "battery staple").await;

    let other = app
        .get_with_token(
            &format!("/users/{}", ada["id"].as_str().expect("id")),
            &bob_token,
        )
        .await;
    let own = app
        .get_with_token(
            &format!("/users/{}", bob["id"].as_str().expect("id")),
            &bob_token,
        )
        .await;

    assert_eq!(other.status, 200);
    assert_eq!(
        other.json(),
        json!({"id": ada["id"], "name": "Ada"}),
        "no email of others"
    );
    assert_eq!(own.json(), bob, "own account in full");
}

#[tokio::test(flavor = "multi_thread")]
async fn users_by_id_return_404_for_unknown_or_malformed_ids() {
    let app = TestApp::spin_users().start().await;
    app.register("Ada", "ada@example.com", "correct horse")
        .await;
    let token = app.access_token("ada@example.com", "correct horse").await;

    for id in [
        "00000000-0000-4000-8000-000000000000",
        "1",
        "%27%20OR%201%3D1",
    ] {
        let resp = app.get_with_token(&format!("/users/{id}"), &token).await;

        resp.assert_problem(404, "not-found");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn users_by_id_require_authentication() {
    let app = TestApp::spin_users().start().await;
    let ada = app
        .register("Ada", "ada@example.com", "correct horse")
        .await;

    let resp = app
        .get(&format!("/users/{}", ada["id"].as_str().expect("id")))
        .await;

    resp.assert_problem(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_lands_in_the_configured_backend() {
    let app = TestApp::spin_users().start().await;

    app.register("Ada", "ada@example.com", "correct horse")
        .await;

    // `query_db` reads PostgreSQL when the app was given a database URL,
    // the SQLite file otherwise: a silent fallback would find no row.
    assert_eq!(
        app.database_url.is_some(),
        spin_users_component_tests::backend() == spin_users_component_tests::Backend::Postgres
    );
    let rows = app.query_db("SELECT email FROM users").await;
    assert_eq!(rows, vec![vec![Some("ada@example.com".to_string())]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declared_oversized_body_is_refused_before_it_is_read() {
    let app = TestApp::spin_users().start().await;

    let resp = app
        .request(
            Method::POST,
            "/users",
            &[
                ("content-type", "application/json"),
                ("content-length", "1000000000"),
            ],
            "{}",
        )
        .await;

    resp.assert_problem(413, "payload-too-large");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_refuses_oversized_bodies() {
    let app = TestApp::spin_users().start().await;
    let big = vec![b'x'; 20 * 1024];
    for (method, path) in [
        (Method::POST, "/users"),
        (Method::PATCH, "/users/me"),
        (Method::POST, "/token"),
        (Method::POST, "/logout"),
        (Method::GET, "/healthz"),
    ] {
        let resp = app
            .request(
                method.clone(),
                path,
                &[("content-type", "application/json")],
                big.clone(),
            )
            .await;

        resp.assert_problem(413, "payload-too-large");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn names_with_hidden_characters_are_refused_and_names_are_stored_composed() {
    let app = TestApp::spin_users().start().await;
    let reversed = app
        .post_json(
            "/users",
            &json!({"name": "Ada\u{202e}nimda", "email": "ada@example.com", "password": "correct horse"}),
        )
        .await;
    let composed = app
        .register("Ame\u{0301}lie", "amelie@example.com", "correct horse")
        .await;
    let token = app
        .access_token("amelie@example.com", "correct horse")
        .await;
    let zero_width = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &token,
            &json!({"name": "Am\u{200b}elie"}),
        )
        .await;
    let bom = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &token,
            &json!({"name": "\u{feff}Amelie"}),
        )
        .await;
    // 100 decomposed é: 200 code points, 100 characters once composed.
    let long = app
        .send_json(
            Method::PATCH,
            "/users/me",
            &token,
            &json!({"name": "e\u{0301}".repeat(100)}),
        )
        .await;

    let body = reversed.assert_problem(422, "validation-failed");
    assert_eq!(body["errors"][0]["field"], "name");
    assert_eq!(composed["name"], "Am\u{e9}lie");
    zero_width.assert_problem(422, "validation-failed");
    bom.assert_problem(422, "validation-failed");
    assert_eq!(long.status, 200, "{}", long.text());
    assert_eq!(long.json()["name"], "\u{e9}".repeat(100));
}
