//! The HTTP contract of spin-users: the bodies requests carry and answers
//! return, the problem types, and the OpenAPI 3.1 document `utoipa` builds
//! from them. Components serialise these very types, so the document
//! describes what is sent.

#![deny(missing_docs)]
#![deny(unsafe_code)]

mod bodies;
mod openapi;
mod passkeys;
mod problems;
mod standard;
mod views;

pub use bodies::{
    AdminBody, ConfirmBody, DeleteBody, EnrolBody, ForgotBody, LogoutBody, MailQueued,
    OAuthErrorBody, ProfileBody, ReauthBody, RecoveryCodes, RegisterBody, ResetBody, RoleName,
    TokenBody, TokenRequestBody, TokenResponse, TotpEnrolment, VerifyBody,
};
pub use openapi::{ApiDoc, openapi_json};
pub use passkeys::{
    AssertionCredential, CreationOptions, PasskeyList, PasskeyRegistrationBody, PasskeyView,
    RequestOptions, creation_options, passkey_view, request_options,
};
pub use problems::{
    CheckState, FieldProblem, PROBLEM_TYPE_PREFIX, PROBLEM_TYPES, ProblemDetails, ProblemType,
    problem_type,
};
pub use standard::{
    GRANT_TYPES, Introspection, MFA_GRANT_TYPE, PASSKEY_GRANT_TYPE, ServerMetadata, UserInfo,
    user_info,
};
pub use views::{
    DrainReport, Page, PrivateView, PublicView, SessionPage, SessionView, TaskKind, TaskPage,
    TaskState, TaskView, private_view, public_view, session_view, task_view,
};
