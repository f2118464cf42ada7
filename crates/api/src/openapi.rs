//! The OpenAPI 3.1 document, built by `utoipa` from the body types of this
//! crate. Each operation is declared on a marker function below: the
//! handlers live in components, which this crate cannot name, and a test
//! (tests/api/openapi.rs) checks the document against the routes the
//! components and `spin.toml` really serve, both ways.

#![allow(dead_code, reason = "marker functions only carry #[utoipa::path]")]

use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi, ToResponse};

use crate::bodies::{
    AdminBody, ConfirmBody, DeleteBody, EnrolBody, ForgotBody, LogoutBody, MailQueued,
    OAuthErrorBody, ProfileBody, ReauthBody, RecoveryCodes, RegisterBody, ResetBody, RoleName,
    TokenBody, TokenRequestBody, TokenResponse, TotpEnrolment, VerifyBody,
};
use crate::passkeys::{
    AssertionCredential, CreationOptions, PasskeyList, PasskeyRegistrationBody, PasskeyView,
    RequestOptions,
};
use crate::problems::{CheckState, FieldProblem, ProblemDetails, catalogue_markdown};
use crate::standard::{Introspection, ServerMetadata, UserInfo};
use crate::views::{
    DrainReport, Page, PrivateView, PublicView, SessionPage, SessionView, TaskKind, TaskPage,
    TaskState, TaskView,
};

const PROBLEM: &str = "application/problem+json";

/// The files `GET /docs/{file}` serves: Swagger UI's, the script that
/// starts it, and the account pages' script and style.
#[derive(serde::Serialize, utoipa::ToSchema)]
enum SwaggerUiFile {
    #[serde(rename = "swagger-ui-bundle.js")]
    Bundle,
    #[serde(rename = "swagger-ui.css")]
    Styles,
    #[serde(rename = "init.js")]
    Init,
    #[serde(rename = "account.js")]
    AccountScript,
    #[serde(rename = "sign-in.js")]
    SignInScript,
    #[serde(rename = "account.css")]
    AccountStyles,
    #[serde(rename = "LICENSE")]
    License,
}

/// The document: every route, its bodies, headers and problems.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "spin-users",
        description = "User accounts, login and tokens as Spin WebAssembly components. Errors (except on `/token`) are RFC 9457 `application/problem+json`; see `ProblemDetails` for every type.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        service_info, liveness, readiness,
        register, list_users, me, update_me, delete_me, my_sessions, end_my_session,
        send_verification, verify_email, confirm_email_change, forgot_password, reset_password, user_by_id,
        admin_update, admin_delete, enrol_totp, confirm_totp, disable_totp, admin_remove_mfa,
        passkey_creation_options, register_passkey, my_passkeys, remove_passkey, passkey_request_options, token, logout, jwks, revoke, introspect, userinfo, userinfo_post,
        openid_configuration, authorization_server_metadata, export_me, list_tasks, task, retry_task, metrics, drain_jobs,
        openapi_document, swagger_ui, swagger_ui_file, verify_email_page, reset_password_page,
        confirm_email_page, sign_in_page
    ),
    components(schemas(
        PrivateView, PublicView, Page, ForgotBody, MailQueued, ResetBody, VerifyBody, SessionView, SessionPage, TokenBody, Introspection, UserInfo, ServerMetadata, TaskView, TaskPage, TaskState, TaskKind, DrainReport, SwaggerUiFile, RegisterBody, ProfileBody, DeleteBody, AdminBody, RoleName,
        EnrolBody, ConfirmBody, ReauthBody, TotpEnrolment, RecoveryCodes,
        CreationOptions, RequestOptions, PasskeyRegistrationBody, PasskeyView, PasskeyList,
        AssertionCredential,
        TokenRequestBody, LogoutBody, TokenResponse, OAuthErrorBody, ProblemDetails,
        FieldProblem, CheckState
    ), responses(
        InvalidJson, Unauthorized, Forbidden, NotFound, PreconditionFailed, PayloadTooLarge,
        UnsupportedMediaType, RateLimited
    )),
    modifiers(&Security, &ProblemCatalogue, &LogoutBodyOptional, &NameRules),
    tags(
        (name = "health", description = "Identity, liveness and readiness."),
        (name = "users", description = "Registration, one's own account and sessions, a forgotten password, lookups and administration."),
        (name = "auth", description = "OAuth 2.0 tokens, logout, revocation (RFC 7009), introspection (RFC 7662), userinfo, the server metadata and the verification keys."),
        (name = "tasks", description = "Background jobs: one's data export, and their states."),
        (name = "operations", description = "Metrics, background jobs, this document and Swagger UI.")
    )
)]
pub struct ApiDoc;

/// The document as JSON.
pub fn openapi_json() -> String {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    add_links(
        &mut doc,
        "/paths/~1users/post/responses/201",
        "The new account (administrators only)",
        &[
            ("GetUser", "user_by_id"),
            ("UpdateUser", "admin_update"),
            ("DeleteUser", "admin_delete"),
        ],
    );
    add_links(
        &mut doc,
        "/paths/~1users~1me~1export/post/responses/202",
        "The queued export",
        &[("GetTask", "task"), ("RetryTask", "retry_task")],
    );
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// OpenAPI links from the response at `pointer` to operations on what it
/// created (`id` from its body), so a client generator (or schemathesis's
/// stateful phase) can follow them. Written as JSON because utoipa 5.5's
/// `Link` serialises its fields in snake case (`operation_id`).
fn add_links(
    doc: &mut serde_json::Value,
    pointer: &str,
    description: &str,
    targets: &[(&str, &str)],
) {
    let links: serde_json::Map<_, _> = targets
        .iter()
        .map(|(name, operation_id)| {
            let link = serde_json::json!({
                "operationId": operation_id,
                "parameters": { "id": "$response.body#/id" },
                "description": description,
            });
            ((*name).to_owned(), link)
        })
        .collect();
    if let Some(response) = doc.pointer_mut(pointer) {
        response["links"] = serde_json::Value::Object(links);
    }
}

/// `bearer` (access tokens) and `oauth2` (the password flow at `/token`).
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        for (name, variable) in [
            ("metrics_token", "metrics_token"),
            ("jobs_token", "jobs_token"),
            ("introspection_token", "introspection_token"),
        ] {
            let mut scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
            scheme.description = Some(format!("The secret in the `{variable}` variable"));
            components.add_security_scheme(name, SecurityScheme::Http(scheme));
        }
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
                "/token",
                Scopes::new(),
            ))])),
        );
    }
}

/// `POST /logout?all=true` reads no body; utoipa marks every declared body
/// as required.
struct LogoutBodyOptional;

impl Modify for LogoutBodyOptional {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let body = openapi
            .paths
            .paths
            .get_mut("/logout")
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.request_body.as_mut());
        if let Some(body) = body {
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
}

/// The display-name rules of `spin_users_domain::DisplayName`, on every
/// body that sets a name.
struct NameRules;

impl Modify for NameRules {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for body in ["RegisterBody", "ProfileBody"] {
            let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(body) else {
                continue;
            };
            if let Some(RefOr::T(Schema::Object(name))) = object.properties.get_mut("name") {
                name.min_length = Some(1);
                name.max_length = Some(spin_users_domain::MAX_NAME_CHARS);
                name.pattern = Some(spin_users_domain::display_name_pattern());
            }
        }
    }
}

/// Every problem type in `ProblemDetails`'s description.
struct ProblemCatalogue;

impl Modify for ProblemCatalogue {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        if let Some(utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(object))) =
            components.schemas.get_mut("ProblemDetails")
        {
            object.description = Some(format!(
                "An RFC 9457 problem. Its `type` is `urn:spin-users:problem:<code>`:\n\n{}",
                catalogue_markdown()
            ));
        }
    }
}

/// `invalid-json`: the body is not JSON of the shape the endpoint expects.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct InvalidJson(ProblemDetails);

/// `unauthorized`: no valid bearer token (comes with `WWW-Authenticate`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unauthorized(ProblemDetails);

/// `forbidden` (administrators only) or `password-change-required` (the
/// account must choose a new password with `PATCH /users/me` first).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Forbidden(ProblemDetails);

/// `not-found`: no such user, or one the caller may not see.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(ProblemDetails);

/// `precondition-failed`: `If-Match` names no current representation.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PreconditionFailed(ProblemDetails);

/// `payload-too-large`: the body is over 16 KiB.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(ProblemDetails);

/// `unsupported-media-type`: `Accept` lists the body types read.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(ProblemDetails);

/// `rate-limited`: over a limit or locked out, for `Retry-After` seconds.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(
        ("Retry-After" = u64, description = "Seconds"),
        ("RateLimit" = String, description = "IETF draft: the remaining budget"),
        ("RateLimit-Policy" = String, description = "IETF draft: the limits")
    )
)]
pub struct RateLimited(ProblemDetails);

#[utoipa::path(get, path = "/", tag = "health",
    responses((status = 200, description = "Service name and version", content_type = "application/json",
        body = inline(Object), example = json!({"name": "spin-users", "version": "0.1.0"}))))]
fn service_info() {}

#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The instance runs", body = inline(Object), example = json!({"status": "ok"}))))]
fn liveness() {}

#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Every dependency answers", body = inline(Object)),
        (status = 503, description = "`not-ready`: `checks` names the dependency down", body = ProblemDetails, content_type = PROBLEM)))]
fn readiness() {}

#[utoipa::path(post, path = "/users", tag = "users",
    request_body(content = RegisterBody, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$",
        description = "1–255 printable ASCII characters. Retries with the same key (from the same client, within 24 h) get the first answer again")),
    responses(
        (status = 201, description = "Registered", body = PrivateView, headers(
            ("Location" = String, description = "`/users/<id>`"),
            ("RateLimit" = String, description = "IETF draft: the remaining budget"),
            ("RateLimit-Policy" = String, description = "IETF draft: the limit"))),
        (status = 202, description = "With `email_verification = \"required\"`: one answer for a new and a taken address; the new account must verify its address before it logs in, the owner of a taken one is mailed `email.account_exists`", body = MailQueued, headers(("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 400, response = InvalidJson),
        (status = 409, description = "`email-taken` (unless verification is required) or `idempotency-key-in-use`", body = ProblemDetails, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`validation-failed` or `idempotency-key-reused`", body = ProblemDetails, content_type = PROBLEM),
        (status = 429, response = RateLimited)))]
fn register() {}

#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("email_prefix" = Option<String>, Query, description = "Emails starting with this"),
        ("name" = Option<String>, Query, description = "Names containing this, ignoring case"),
        ("role" = Option<RoleName>, Query),
        ("disabled" = Option<bool>, Query)),
    responses(
        (status = 200, description = "One page, in creation order", body = Page),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, description = "`validation-failed`: a bad parameter", body = ProblemDetails, content_type = PROBLEM)))]
fn list_users() {}

#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    params(("If-None-Match" = Option<String>, Header, description = "An ETag of an earlier answer")),
    responses(
        (status = 200, description = "The caller's account", body = PrivateView, headers(("ETag" = String, description = "Strong; depends on the body only"))),
        (status = 304, description = "Unchanged since the ETag given"),
        (status = 401, response = Unauthorized)))]
fn me() {}

#[utoipa::path(patch, path = "/users/me", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    request_body(content = ProfileBody, content_type = "application/json"),
    params(("If-Match" = Option<String>, Header, description = "Write only if the account is still this ETag")),
    responses(
        (status = 200, description = "Changed", body = PrivateView, headers(("ETag" = String), ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 202, description = "With `webhook_url` set, a new `email` waits for the new address to confirm (`email.change_confirmation` to it, `email.change_requested` to the old one; `POST /email/confirm-change` applies it); any other field in the body is applied now", body = MailQueued, headers(("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 400, response = InvalidJson),
        (status = 401, response = Unauthorized),
        (status = 409, description = "`email-taken` or `edit-conflict`", body = ProblemDetails, content_type = PROBLEM),
        (status = 412, response = PreconditionFailed),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`validation-failed` (a wrong `current_password` included; with a second factor on, a missing or wrong `code` or `recovery_code` for an email or password change)", body = ProblemDetails, content_type = PROBLEM),
        (status = 429, description = "`rate-limited` (password attempts), or `second-factor-locked` with `Retry-After`", body = ProblemDetails, content_type = PROBLEM, headers(("Retry-After" = String), ("RateLimit" = String), ("RateLimit-Policy" = String)))))]
fn update_me() {}

#[utoipa::path(delete, path = "/users/me", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    request_body(content = DeleteBody, content_type = "application/json"),
    params(("If-Match" = Option<String>, Header)),
    responses(
        (status = 204, description = "Deleted; every session ended"),
        (status = 400, response = InvalidJson),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "`last-admin` or `edit-conflict`", body = ProblemDetails, content_type = PROBLEM),
        (status = 412, response = PreconditionFailed),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`validation-failed`: `current_password` missing or wrong, or, with a second factor on, `code` (or `recovery_code`)", body = ProblemDetails, content_type = PROBLEM),
        (status = 429, description = "`rate-limited` (password attempts), or `second-factor-locked` with `Retry-After`", body = ProblemDetails, content_type = PROBLEM, headers(("Retry-After" = String), ("RateLimit" = String), ("RateLimit-Policy" = String)))))]
fn delete_me() {}

#[utoipa::path(post, path = "/users/me/mfa/totp", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    request_body(content = EnrolBody, content_type = "application/json"),
    responses(
        (status = 200, description = "A new TOTP secret (RFC 6238: SHA1, 6 digits, 30 s), its `otpauth://` URI and QR code; nothing is on until `POST /users/me/mfa/totp/confirm`. Enrolling again replaces a pending secret", body = TotpEnrolment, headers(("Cache-Control" = String, description = "`no-store`"), ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 400, response = InvalidJson),
        (status = 401, response = Unauthorized),
        (status = 409, description = "`second-factor-enabled`: one is on already", body = ProblemDetails, content_type = PROBLEM),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`validation-failed`: `current_password` missing or wrong", body = ProblemDetails, content_type = PROBLEM),
        (status = 429, response = RateLimited)))]
fn enrol_totp() {}

#[utoipa::path(post, path = "/users/me/mfa/totp/confirm", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    request_body(content = ConfirmBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The second factor is on; the recovery codes are shown this once (stored hashed). From now on a password login answers `mfa_required`", body = RecoveryCodes, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = InvalidJson),
        (status = 401, response = Unauthorized),
        (status = 409, description = "`second-factor-enabled`, or `second-factor-not-enabled`: no enrolment is pending", body = ProblemDetails, content_type = PROBLEM),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`validation-failed`: `code` missing or wrong", body = ProblemDetails, content_type = PROBLEM),
        (status = 429, description = "`second-factor-locked`: five wrong codes in a row; `Retry-After` says when to retry", body = ProblemDetails, content_type = PROBLEM, headers(("Retry-After" = String)))))]
fn confirm_totp() {}

#[utoipa::path(delete, path = "/users/me/mfa/totp", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    request_body(content = ReauthBody, content_type = "application/json"),
    responses(
        (status = 204, description = "The second factor is off: a password alone logs in again"),
        (status = 400, response = InvalidJson),
        (status = 401, response = Unauthorized),
        (status = 409, description = "`second-factor-not-enabled`", body = ProblemDetails, content_type = PROBLEM),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`validation-failed`: `current_password`, or `code` (or `recovery_code`), missing or wrong", body = ProblemDetails, content_type = PROBLEM),
        (status = 429, description = "`rate-limited` (password attempts), or `second-factor-locked` with `Retry-After`", body = ProblemDetails, content_type = PROBLEM, headers(("Retry-After" = String), ("RateLimit" = String), ("RateLimit-Policy" = String)))))]
fn disable_totp() {}

#[utoipa::path(get, path = "/users/me/sessions", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100), ("cursor" = Option<String>, Query)),
    responses(
        (status = 200, description = "The caller's live sessions (neither ended nor expired), newest first", body = SessionPage, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, response = Unauthorized),
        (status = 422, description = "`validation-failed`: a bad `limit` or `cursor`", body = ProblemDetails, content_type = PROBLEM)))]
fn my_sessions() {}

#[utoipa::path(delete, path = "/users/me/sessions/{id}", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    params(("id" = String, Path, description = "A session id from `GET /users/me/sessions` (`sid` in its access tokens)")),
    responses(
        (status = 204, description = "The session ended: its refresh token gets `invalid_grant` and its access tokens `401`, at once"),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound)))]
fn end_my_session() {}

#[utoipa::path(post, path = "/users/me/verify-email", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 202, description = "A new `email.verification` mail is queued (none once the address is verified)", body = MailQueued, headers(("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = RateLimited)))]
fn send_verification() {}

#[utoipa::path(post, path = "/email/verify", tag = "users",
    request_body(content = VerifyBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The address is proven: the account's private view, `email_verified: true`", body = PrivateView, headers(("ETag" = String))),
        (status = 400, description = "`invalid-token` (made up, used, expired, or the account's address changed) or `invalid-json`", body = ProblemDetails, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType)))]
fn verify_email() {}

#[utoipa::path(post, path = "/email/confirm-change", tag = "users",
    request_body(content = VerifyBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The account moved to the address the token was mailed to, now verified: its private view", body = PrivateView, headers(("ETag" = String))),
        (status = 400, description = "`invalid-token` (made up, used, expired, or the account disabled) or `invalid-json`", body = ProblemDetails, content_type = PROBLEM),
        (status = 409, description = "`email-taken`: another account took the address meanwhile", body = ProblemDetails, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType)))]
fn confirm_email_change() {}

#[utoipa::path(get, path = "/confirm-email", tag = "users",
    params(("token" = Option<String>, Query, description = "From the change confirmation mail; it only fills the form")),
    responses((status = 200, description = "A form that applies an e-mail change; loading it spends nothing, submitting it calls `POST /email/confirm-change`", content_type = "text/html")))]
fn confirm_email_page() {}

#[utoipa::path(post, path = "/password/forgot", tag = "users",
    request_body(content = ForgotBody, content_type = "application/json"),
    responses(
        (status = 202, description = "The same answer for every address, known or not: a reset link is mailed (an `email.password_reset` event to `webhook_url`, after this answer) only if an enabled account has it", body = MailQueued, headers(("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 400, response = InvalidJson),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`validation-failed`: not an email address", body = ProblemDetails, content_type = PROBLEM),
        (status = 429, response = RateLimited)))]
fn forgot_password() {}

#[utoipa::path(post, path = "/password/reset", tag = "users",
    request_body(content = ResetBody, content_type = "application/json"),
    responses(
        (status = 204, description = "The password is reset; every session of the account ended (refresh tokens `invalid_grant`, access tokens `401`), and an `email.password_changed` notice is mailed"),
        (status = 400, description = "`invalid-token` (made up, used, expired, or the account moved on) or `invalid-json`", body = ProblemDetails, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`validation-failed`: the new password breaks the rules; the token stays usable", body = ProblemDetails, content_type = PROBLEM)))]
fn reset_password() {}

#[utoipa::path(get, path = "/users/{id}", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    params(("id" = String, Path, format = "uuid"), ("If-None-Match" = Option<String>, Header)),
    responses(
        (status = 200, description = "The user themself and admins see the private view, others the public one", headers(("ETag" = String)),
            content((PrivateView = "application/json"), (PublicView = "application/json"))),
        (status = 304, description = "Unchanged since the ETag given"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound)))]
fn user_by_id() {}

#[utoipa::path(patch, path = "/users/{id}", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    request_body(content = AdminBody, content_type = "application/json"),
    params(("id" = String, Path, format = "uuid"), ("If-Match" = Option<String>, Header)),
    responses(
        (status = 200, description = "Changed (administrators)", body = PrivateView, headers(("ETag" = String))),
        (status = 400, response = InvalidJson),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`last-admin` or `edit-conflict`", body = ProblemDetails, content_type = PROBLEM),
        (status = 412, response = PreconditionFailed),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`validation-failed`: unknown role", body = ProblemDetails, content_type = PROBLEM)))]
fn admin_update() {}

#[utoipa::path(delete, path = "/users/{id}", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    params(("id" = String, Path, format = "uuid"), ("If-Match" = Option<String>, Header)),
    responses(
        (status = 204, description = "Deleted (administrators)"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`last-admin` or `edit-conflict`", body = ProblemDetails, content_type = PROBLEM),
        (status = 412, response = PreconditionFailed)))]
fn admin_delete() {}

#[utoipa::path(delete, path = "/users/{id}/mfa", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    params(("id" = String, Path, format = "uuid"), ("If-Match" = Option<String>, Header)),
    responses(
        (status = 204, description = "The user's second factor is off (administrators; audited as `second_factor_disabled` by the admin), for a lost authenticator"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`second-factor-not-enabled`", body = ProblemDetails, content_type = PROBLEM),
        (status = 412, response = PreconditionFailed)))]
fn admin_remove_mfa() {}

#[utoipa::path(post, path = "/users/me/passkeys/options", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    request_body(content = ReauthBody, content_type = "application/json"),
    responses(
        (status = 200, description = "WebAuthn L3 `PublicKeyCredentialCreationOptionsJSON` for `PublicKeyCredential.parseCreationOptionsFromJSON()`: a challenge (256 bits, once, 5 minutes, bound to this account as it is now), the relying party (`webauthn_rp_id`, `service_name`), the user handle, EdDSA and ES256, user verification required, a discoverable credential preferred, attestation `none`, and `excludeCredentials` listing the caller's passkeys. Registering needs the password now, and the second factor while one is on", body = CreationOptions, headers(("Cache-Control" = String, description = "`no-store`"), ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 400, response = InvalidJson),
        (status = 401, response = Unauthorized),
        (status = 409, description = "`too-many-passkeys`: the account holds 20", body = ProblemDetails, content_type = PROBLEM),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`validation-failed`: `current_password`, or with a second factor on `code` (or `recovery_code`), missing or wrong", body = ProblemDetails, content_type = PROBLEM),
        (status = 429, description = "`rate-limited` (password attempts), or `second-factor-locked` with `Retry-After`", body = ProblemDetails, content_type = PROBLEM, headers(("Retry-After" = String), ("RateLimit" = String), ("RateLimit-Policy" = String)))))]
fn passkey_creation_options() {}

#[utoipa::path(post, path = "/users/me/passkeys", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    request_body(content = PasskeyRegistrationBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The passkey is registered: the credential verified per WebAuthn L3 §7.1 (client data type and challenge, an origin of `webauthn_origins`, the RP ID hash, UP and UV, attestation `none`, an EdDSA or ES256 COSE key)", body = PasskeyView),
        (status = 400, description = "`invalid-json`, or `passkey-rejected`: it did not verify, or its challenge is unknown, spent, expired or a sign-in's", body = ProblemDetails, content_type = PROBLEM),
        (status = 401, response = Unauthorized),
        (status = 409, description = "`passkey-registered` (this credential is registered already) or `too-many-passkeys`", body = ProblemDetails, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`validation-failed`: `credential` missing, or `name` too long or not printable", body = ProblemDetails, content_type = PROBLEM)))]
fn register_passkey() {}

#[utoipa::path(get, path = "/users/me/passkeys", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The caller's passkeys, oldest first (never a key)", body = PasskeyList, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, response = Unauthorized)))]
fn my_passkeys() {}

#[utoipa::path(delete, path = "/users/me/passkeys/{id}", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    params(("id" = String, Path, description = "A credential id from `GET /users/me/passkeys`")),
    request_body(content = ReauthBody, content_type = "application/json"),
    responses(
        (status = 204, description = "The passkey is removed: it signs nothing in from now on"),
        (status = 400, response = InvalidJson),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`validation-failed`: `current_password`, or with a second factor on `code` (or `recovery_code`), missing or wrong", body = ProblemDetails, content_type = PROBLEM),
        (status = 429, description = "`rate-limited` (password attempts), or `second-factor-locked` with `Retry-After`", body = ProblemDetails, content_type = PROBLEM, headers(("Retry-After" = String), ("RateLimit" = String), ("RateLimit-Policy" = String)))))]
fn remove_passkey() {}

#[utoipa::path(post, path = "/passkeys/login/options", tag = "auth",
    responses(
        (status = 200, description = "WebAuthn L3 `PublicKeyCredentialRequestOptionsJSON` for `PublicKeyCredential.parseRequestOptionsFromJSON()`: a challenge (256 bits, once, 5 minutes) bound to no account, the RP ID, user verification required and no `allowCredentials`, so the authenticator offers its discoverable credentials. Send the assertion to `POST /token` with `grant_type=urn:spin-users:grant-type:passkey`. Counted against the per-address login limit", body = RequestOptions, headers(("Cache-Control" = String, description = "`no-store`"), ("RateLimit" = String), ("RateLimit-Policy" = String))),
        (status = 429, response = RateLimited)))]
fn passkey_request_options() {}

#[utoipa::path(post, path = "/token", tag = "auth",
    request_body(content((TokenRequestBody = "application/x-www-form-urlencoded"), (TokenRequestBody = "application/json"))),
    responses(
        (status = 200, description = "Tokens (RFC 6749 §5.1)", body = TokenResponse, headers(("RateLimit" = String), ("RateLimit-Policy" = String), ("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "RFC 6749 §5.2 error: the same `invalid_grant` for every credential problem (a wrong, replayed or spent code or recovery code, and a bad, spent or expired `mfa_token`, included)", body = OAuthErrorBody),
        (status = 403, description = "`mfa_required`: the password was right and the account has a second factor on; no tokens yet. Send `mfa_token` (5 minutes, once) with `otp` or `recovery_code` and `grant_type=urn:spin-users:grant-type:mfa`", body = OAuthErrorBody, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 429, description = "`rate-limited`, or `second-factor-locked` (five wrong second factors in a row) with `Retry-After`", body = ProblemDetails, content_type = PROBLEM, headers(("Retry-After" = String), ("RateLimit" = String), ("RateLimit-Policy" = String)))))]
fn token() {}

#[utoipa::path(post, path = "/logout", tag = "auth",
    request_body(description = "Required unless `?all=true`", content((LogoutBody = "application/x-www-form-urlencoded"), (LogoutBody = "application/json"))),
    params(("all" = Option<bool>, Query, description = "`true` with a bearer token: end every session of the caller (the body is then not read)")),
    responses(
        (status = 204, description = "The session ended (also for an unknown token, RFC 7009)"),
        (status = 400, description = "`invalid-json`: no `refresh_token`", body = ProblemDetails, content_type = PROBLEM),
        (status = 401, description = "`unauthorized` (`?all=true` without a valid token)", body = ProblemDetails, content_type = PROBLEM),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`validation-failed`: no `refresh_token`", body = ProblemDetails, content_type = PROBLEM)))]
fn logout() {}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "The Ed25519 public keys (RFC 7517) access tokens verify with", body = inline(Object),
        headers(("Cache-Control" = String)))))]
fn jwks() {}

#[utoipa::path(post, path = "/revoke", tag = "auth",
    request_body(content((TokenBody = "application/x-www-form-urlencoded"), (TokenBody = "application/json"))),
    responses(
        (status = 200, description = "The token's session ended, both halves; also for an unknown, malformed, expired or already revoked token (RFC 7009 §2.2)", headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "RFC 6749 §5.2 error: `invalid_request` without a `token`", body = OAuthErrorBody)))]
fn revoke() {}

#[utoipa::path(post, path = "/introspect", tag = "auth", security(("introspection_token" = [])),
    request_body(content((TokenBody = "application/x-www-form-urlencoded"), (TokenBody = "application/json"))),
    responses(
        (status = 200, description = "RFC 7662 §2.2: the claims of an active token, or exactly `{\"active\": false}`", body = Introspection, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "RFC 6749 §5.2 error: `invalid_request` without a `token`", body = OAuthErrorBody),
        (status = 401, response = Unauthorized)))]
fn introspect() {}

#[utoipa::path(get, path = "/userinfo", tag = "auth", security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The token owner's claims (OpenID Connect Core §5.3.2)", body = UserInfo),
        (status = 401, description = "`unauthorized`, with `WWW-Authenticate: Bearer error=\"invalid_token\"`", body = ProblemDetails, content_type = PROBLEM)))]
fn userinfo() {}

#[utoipa::path(post, path = "/userinfo", tag = "auth", security(("bearer" = []), ("oauth2" = [])), operation_id = "userinfo_post",
    responses(
        (status = 200, description = "As `GET /userinfo` (OpenID Connect Core §5.3.1)", body = UserInfo),
        (status = 401, description = "`unauthorized`, with `WWW-Authenticate: Bearer error=\"invalid_token\"`", body = ProblemDetails, content_type = PROBLEM)))]
fn userinfo_post() {}

#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "auth",
    responses((status = 200, description = "OpenID Connect Discovery 1.0 metadata: what exists, at absolute URLs", body = ServerMetadata,
        headers(("Cache-Control" = String)))))]
fn openid_configuration() {}

#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "auth",
    responses((status = 200, description = "RFC 8414 metadata: the same document", body = ServerMetadata,
        headers(("Cache-Control" = String)))))]
fn authorization_server_metadata() {}

#[utoipa::path(post, path = "/users/me/export", tag = "tasks", security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 202, description = "An export of everything stored about the caller (profile, sessions, passkeys, audit events) is queued; it usually runs at once, after this answer", body = TaskView,
            headers(("Location" = String, description = "`/tasks/<id>`"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden)))]
fn export_me() {}

#[utoipa::path(get, path = "/tasks", tag = "tasks", security(("bearer" = []), ("oauth2" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Default 20"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("state" = Option<TaskState>, Query),
        ("kind" = Option<TaskKind>, Query),
        ("owner" = Option<String>, Query, description = "Administrators: one user's jobs (others always see only their own)")),
    responses(
        (status = 200, description = "The caller's jobs (administrators: everyone's), oldest first", body = TaskPage),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, description = "`validation-failed`: a bad parameter", body = ProblemDetails, content_type = PROBLEM)))]
fn list_tasks() {}

#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks", security(("bearer" = []), ("oauth2" = [])),
    params(("id" = String, Path, format = "uuid"), ("If-None-Match" = Option<String>, Header)),
    responses(
        (status = 200, description = "The job, with its result once it succeeded (its owner and administrators)", body = TaskView, headers(("ETag" = String))),
        (status = 304, description = "Unchanged since the ETag given"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound)))]
fn task() {}

#[utoipa::path(post, path = "/tasks/{id}/retry", tag = "tasks", security(("bearer" = []), ("oauth2" = [])),
    params(("id" = String, Path, format = "uuid")),
    responses(
        (status = 200, description = "The dead job is queued again, its attempts reset (administrators)", body = TaskView),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`task-not-dead`: the job is not dead", body = ProblemDetails, content_type = PROBLEM)))]
fn retry_task() {}

#[utoipa::path(get, path = "/metrics", tag = "operations", security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        (status = 401, description = "`unauthorized`: `metrics_token` is set and was not given", body = ProblemDetails, content_type = PROBLEM)))]
fn metrics() {}

#[utoipa::path(post, path = "/jobs/drain", tag = "operations", security(("jobs_token" = [])),
    responses(
        (status = 200, description = "Due background jobs run, within a budget (100 jobs, 20 s); call again while `claimed` is 100", body = DrainReport),
        (status = 401, description = "`unauthorized`: no or a wrong `jobs_token`, or none is configured", body = ProblemDetails, content_type = PROBLEM)))]
fn drain_jobs() {}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = inline(Object))))]
fn openapi_document() {}

#[utoipa::path(get, path = "/verify-email", tag = "users",
    params(("token" = Option<String>, Query, description = "From the verification mail; it only fills the form")),
    responses((status = 200, description = "A form that confirms the address; loading it spends nothing, submitting it calls `POST /email/verify`", content_type = "text/html")))]
fn verify_email_page() {}

#[utoipa::path(get, path = "/reset-password", tag = "users",
    params(("token" = Option<String>, Query, description = "From the reset mail; it only fills the form")),
    responses((status = 200, description = "A form that sets a new password; loading it spends nothing, submitting it calls `POST /password/reset`", content_type = "text/html")))]
fn reset_password_page() {}

#[utoipa::path(get, path = "/sign-in", tag = "users",
    responses((status = 200, description = "A sign-in page: a password (and a second factor) or a passkey signs in, and a signed-in user adds passkeys and sees them. No framework, no third-party script; passkeys need it on an origin of `webauthn_origins`", content_type = "text/html")))]
fn sign_in_page() {}

#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "Swagger UI over this document", body = String, content_type = "text/html")))]
fn swagger_ui() {}

#[utoipa::path(get, path = "/docs/{file}", tag = "operations",
    params(("file" = SwaggerUiFile, Path)),
    responses(
        (status = 200, description = "One of Swagger UI's files", content(
            (String = "text/javascript"), (String = "text/css"), (String = "text/plain"))),
        (status = 404, response = NotFound)))]
fn swagger_ui_file() {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problems::PROBLEM_TYPES;

    fn document() -> serde_json::Value {
        serde_json::from_str(&openapi_json()).expect("the document is JSON")
    }

    #[test]
    fn it_is_openapi_3_1_with_both_security_schemes() {
        let doc = document();
        assert!(
            doc["openapi"].as_str().unwrap_or("").starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["oauth2"]["flows"]["password"]["tokenUrl"], "/token");
    }

    #[test]
    fn name_fields_carry_the_domain_rules() {
        let doc = document();
        for body in ["RegisterBody", "ProfileBody"] {
            let name = &doc["components"]["schemas"][body]["properties"]["name"];
            assert_eq!(name["maxLength"], 100, "{body}");
            assert_eq!(name["pattern"], spin_users_domain::display_name_pattern());
        }
    }

    #[test]
    fn links_name_real_operations() {
        let doc = document();
        let operation_ids: Vec<&str> = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|item| item.as_object().expect("operations").values())
            .filter_map(|operation| operation["operationId"].as_str())
            .collect();
        for (response, count) in [
            (&doc["paths"]["/users"]["post"]["responses"]["201"], 3),
            (
                &doc["paths"]["/users/me/export"]["post"]["responses"]["202"],
                2,
            ),
        ] {
            let links = response["links"].as_object().expect("links");
            assert_eq!(links.len(), count);
            for link in links.values() {
                let target = link["operationId"].as_str().expect("operationId");
                assert!(operation_ids.contains(&target), "{target}");
                assert_eq!(link["parameters"]["id"], "$response.body#/id");
            }
        }
    }

    #[test]
    fn only_the_logout_body_is_optional() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("operations") {
                if let Some(body) = operation.get("requestBody") {
                    let required = body["required"].as_bool().unwrap_or(false);
                    assert_eq!(required, path != "/logout", "{method} {path}");
                }
            }
        }
    }

    #[test]
    fn every_problem_type_is_described() {
        let doc = document();
        let description = doc["components"]["schemas"]["ProblemDetails"]["description"]
            .as_str()
            .expect("ProblemDetails is described");
        for problem in PROBLEM_TYPES {
            assert!(
                description.contains(&format!("`{}`", problem.code)),
                "{}",
                problem.code
            );
        }
    }

    #[test]
    fn problem_answers_are_problem_json_and_rate_limits_have_their_headers() {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths");
        for (path, operations) in paths {
            for (method, operation) in operations.as_object().expect("operations") {
                for (status, response) in operation["responses"].as_object().expect("responses") {
                    // A reusable response: `#/components/responses/<name>`.
                    let response = match response["$ref"].as_str() {
                        Some(reference) => {
                            let name = reference.rsplit('/').next().unwrap_or_default();
                            &doc["components"]["responses"][name]
                        }
                        None => response,
                    };
                    let content = response["content"].as_object();
                    if status.starts_with('4') || status.starts_with('5') {
                        let content = content.expect("an error answer has a body");
                        let problem = content.contains_key("application/problem+json");
                        // RFC 6749 §5.2 bodies, which OAuth clients parse.
                        let oauth_endpoint =
                            ["/token", "/revoke", "/introspect"].contains(&path.as_str());
                        // `mfa_required` is Auth0's shape of that body.
                        let mfa_required = path == "/token" && status == "403";
                        let oauth = oauth_endpoint && status == "400" || mfa_required;
                        assert!(problem || oauth, "{method} {path} {status}");
                    }
                    if status == "429" {
                        let headers = response["headers"].as_object().expect("429 headers");
                        assert!(headers.contains_key("Retry-After"), "{method} {path}");
                    }
                }
            }
        }
    }
}
