//! The OpenAPI description's shared parts: the document itself, the bearer scheme, and the error
//! responses that the shared extractors give every route using them (`Auth`: 401, 403 and 429;
//! `ApiPath`, `ApiQuery`, `ApiJson`: 400, 404, 413, 415, 422). They are added here, once, from
//! each operation's shape, so that no handler's annotation lists them by hand and none forgets
//! one; a handler documents only the statuses of its own (409, 502, a 422 of its checks…).

use utoipa::{
    Modify, OpenApi, PartialSchema,
    openapi::{
        ContentBuilder, HeaderBuilder, Ref, RefOr, ResponseBuilder,
        path::{Operation, ParameterIn},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard API", version = "1", description = "The REST API of the Switchboard support hub. Every route but `/auth/login` takes `Authorization: Bearer <session token or API key>`. Every error is answered with the JSON `ErrorBody`, `{\"error\": {\"code\", \"message\"}}`."),
    modifiers(&BearerAuth),
    components(schemas(crate::error::ErrorBody)),
    security(("bearer" = [])),
)]
pub(super) struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The operations that take a token but check no permission: any principal of the
/// organization may call them, so they never answer 403. (`GET /search` leaves out what the
/// caller may not read instead of refusing.)
const OPEN_TO_ANY_CALLER: &[(&str, &str)] = &[
    ("get", "/api/v1/auth/me"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/organization"),
    ("get", "/api/v1/search"),
];

/// What about an operation makes a shared error possible.
#[derive(Clone, Copy)]
enum Cause {
    /// `Auth` extracts the caller.
    TakesToken,
    /// `Auth::require` checks a permission.
    ChecksPermission,
    /// Path segments, query parameters or a JSON body that may not parse.
    HasInput,
    /// An id in the path names something that may not exist.
    NamesAResource,
    /// `ApiJson` reads the body.
    TakesJson,
}

/// One error response shared by many operations, kept once under `components/responses`.
struct SharedError {
    status: &'static str,
    name: &'static str,
    description: &'static str,
    cause: Cause,
}

const SHARED_ERRORS: &[SharedError] = &[
    SharedError {
        status: "400",
        name: "BadRequest",
        description: "A path segment, query parameter or body that does not parse \
                      (`invalid_path`, `invalid_query`, `invalid_json`)",
        cause: Cause::HasInput,
    },
    SharedError {
        status: "401",
        name: "Unauthorized",
        description: "No `Authorization: Bearer` header, or a token or API key that is \
                      unknown, expired or revoked",
        cause: Cause::TakesToken,
    },
    SharedError {
        status: "403",
        name: "Forbidden",
        description: "The caller lacks the permission the route needs (named in the message)",
        cause: Cause::ChecksPermission,
    },
    SharedError {
        status: "404",
        name: "NotFound",
        description: "Nothing with that id in the caller's organization",
        cause: Cause::NamesAResource,
    },
    SharedError {
        status: "413",
        name: "PayloadTooLarge",
        description: "The body is larger than the hub accepts",
        cause: Cause::TakesJson,
    },
    SharedError {
        status: "415",
        name: "UnsupportedMediaType",
        description: "The body was not sent with `Content-Type: application/json`",
        cause: Cause::TakesJson,
    },
    SharedError {
        status: "422",
        name: "UnprocessableEntity",
        description: "The body is JSON but not of the documented shape, or a value is out of range",
        cause: Cause::TakesJson,
    },
    SharedError {
        status: "429",
        name: "TooManyRequests",
        description: "The organization made more requests than its API limit allows \
                      (`api_requests_per_minute`, `api_burst`); try again after `Retry-After` \
                      seconds",
        cause: Cause::TakesToken,
    },
];

/// Adds the shared error responses to every operation they apply to, unless the operation
/// documents that status itself (with its own description), and gives every error response an
/// operation documents without a body the `ErrorBody` that `ApiError` sends.
pub(super) fn document_shared_errors(openapi: &mut utoipa::openapi::OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    for error in SHARED_ERRORS {
        components
            .responses
            .insert(error.name.to_owned(), RefOr::T(shared_response(error)));
    }
    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let open = OPEN_TO_ANY_CALLER.contains(&(method, path.as_str()));
            complete_own_responses(operation);
            for error in SHARED_ERRORS {
                if applies(error.cause, operation, open) {
                    operation
                        .responses
                        .responses
                        .entry(error.status.to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(error.name)));
                }
            }
        }
    }
}

/// Completes the responses a handler's annotation lists in short (`(status = 404, body =
/// ErrorBody)`, or no body at all): an error sends the `ErrorBody`; a response without a
/// description (which OpenAPI requires) is the shared one of its status when it says no more
/// than that (no headers of its own), or else takes the status's reason phrase.
fn complete_own_responses(operation: &mut Operation) {
    for (status, entry) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = entry else { continue };
        let is_error = status.starts_with(['4', '5']);
        if is_error && response.content.is_empty() {
            response
                .content
                .insert("application/json".to_owned(), RefOr::T(error_body()));
        }
        if !response.description.is_empty() {
            continue;
        }
        match SHARED_ERRORS.iter().find(|error| error.status == status) {
            Some(shared) if is_error && response.headers.is_empty() => {
                *entry = RefOr::Ref(Ref::from_response_name(shared.name));
            }
            _ => {
                response.description = status
                    .parse::<axum::http::StatusCode>()
                    .ok()
                    .and_then(|code| code.canonical_reason())
                    .unwrap_or("Answered with this status")
                    .to_owned();
            }
        }
    }
}

/// `{"error": {"code", "message"}}`, as JSON.
fn error_body() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build()
}

fn shared_response(error: &SharedError) -> utoipa::openapi::Response {
    let mut response = ResponseBuilder::new()
        .description(error.description)
        .content("application/json", error_body());
    if error.status == "429" {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(u64::schema()))
                .description(Some("Seconds to wait"))
                .build(),
        );
    }
    response.build()
}

/// Whether `cause` holds for `operation`; `open`: it checks no permission.
fn applies(cause: Cause, operation: &Operation, open: bool) -> bool {
    // `/auth/login` declares `security(())`: no token. Every other operation inherits the
    // document's bearer requirement and leaves its own unset.
    let takes_token = operation.security.is_none();
    let parameters = || operation.parameters.iter().flatten();
    let has_parameter_in = |place: ParameterIn| {
        parameters().any(|parameter| matches!(parameter, RefOr::T(p) if p.parameter_in == place))
    };
    let takes_json = operation.request_body.as_ref().is_some_and(
        |body| matches!(body, RefOr::T(body) if body.content.contains_key("application/json")),
    );
    match cause {
        Cause::TakesToken => takes_token,
        Cause::ChecksPermission => takes_token && !open,
        Cause::HasInput => {
            has_parameter_in(ParameterIn::Path)
                || has_parameter_in(ParameterIn::Query)
                || operation.request_body.is_some()
        }
        Cause::NamesAResource => has_parameter_in(ParameterIn::Path),
        Cause::TakesJson => takes_json,
    }
}
