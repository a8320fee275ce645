//! The OpenAPI document (`GET /openapi.json`), generated from the Rust types and the handlers'
//! `#[utoipa::path]`s, plus what every operation shares: the 405 of other methods, the 503 of a
//! full server, and the bearer token of the protected routes.

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Ref, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use super::api::{ApiError, ScoreBody, ScoreRequest, ScoreResponse};
use super::review::{
    AccountTransaction, LabelWritten, ReviewDecision, ReviewItem, ReviewQueueView,
};
use super::server::RETRY_AFTER_SECS;
use super::{Readiness, PROTECTED};
use crate::models::{HistoryEntry, ModelsView, Origin, SlotView};
use crate::rules::{RuleOrigin, RuleSetView};
use aegis_core::verdict::{Contribution, Explanation};
use aegis_core::{Decision, TxType, Verdict};

/// The name of the bearer security scheme.
const BEARER: &str = "bearer";

/// The OpenAPI description of this server.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Aegis scorer",
        description = "Real-time fraud replica: the same model and thresholds as the Kafka stream."
    ),
    paths(
        super::score,
        super::model,
        super::healthz,
        super::readyz,
        super::metrics,
        super::live,
        super::review::queue,
        super::review::mark
    ),
    components(schemas(
        ScoreRequest,
        ScoreBody,
        ScoreResponse,
        Verdict,
        Explanation,
        Contribution,
        Decision,
        TxType,
        ApiError,
        Readiness,
        ReviewQueueView,
        ReviewItem,
        AccountTransaction,
        ReviewDecision,
        LabelWritten,
        ModelsView,
        SlotView,
        HistoryEntry,
        RuleSetView,
        RuleOrigin,
        Origin
    )),
    modifiers(&OtherMethodsRefused, &Hardening)
)]
pub struct ApiDoc;

/// Documents the 405 every operation answers to the other methods, with the `Allow` header it
/// carries: exactly the methods documented for that path.
struct OtherMethodsRefused;

impl Modify for OtherMethodsRefused {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                ("GET", &mut item.get),
                ("PUT", &mut item.put),
                ("POST", &mut item.post),
                ("DELETE", &mut item.delete),
                ("OPTIONS", &mut item.options),
                ("HEAD", &mut item.head),
                ("PATCH", &mut item.patch),
                ("TRACE", &mut item.trace),
            ];
            let allow = operations
                .iter()
                .filter(|(_, operation)| operation.is_some())
                .map(|(method, _)| *method)
                .collect::<Vec<_>>()
                .join(", ");
            let refused = error_with_header(
                format!("method not allowed: this path answers {allow} only"),
                "Allow",
                &allow,
                "The methods this path answers (RFC 9110).",
            );
            for (_, operation) in operations {
                if let Some(operation) = operation {
                    operation
                        .responses
                        .responses
                        .insert("405".to_owned(), refused.clone().into());
                }
            }
        }
    }
}

/// The 503 every operation may answer (too many connections or requests in flight), with its
/// `Retry-After`; the bearer scheme, and for the protected operations the 401 and the security
/// requirement: a token *or none* — a token is needed only when the scorer runs with
/// `--api-token-file`.
struct Hardening;

impl Modify for Hardening {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "A token from the scorer's --api-token-file, needed only when it runs with one.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
        let busy = error_with_header(
            "the server is full (too many connections, or requests in flight): retry after the \
             Retry-After seconds"
                .to_owned(),
            "Retry-After",
            &RETRY_AFTER_SECS.to_string(),
            "Seconds to wait before retrying (RFC 9110).",
        );
        let unauthorized = error_with_header(
            "no valid bearer token (only when the scorer runs with --api-token-file)".to_owned(),
            "WWW-Authenticate",
            r#"Bearer realm="aegis""#,
            "The scheme to authenticate with (RFC 6750); with error=\"invalid_token\" when the \
             token presented is not one of the scorer's.",
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let protected = PROTECTED.contains(&path.as_str());
            for operation in operations(item) {
                let responses = &mut operation.responses.responses;
                // An operation with a 503 of its own keeps it (the server's busy 503 still
                // carries Retry-After).
                responses
                    .entry("503".to_owned())
                    .or_insert_with(|| busy.clone().into());
                if protected {
                    responses.insert("401".to_owned(), unauthorized.clone().into());
                    operation.security = Some(vec![
                        SecurityRequirement::default(),
                        SecurityRequirement::new(BEARER, Vec::<String>::new()),
                    ]);
                }
            }
        }
    }
}

/// The operations a path documents.
fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// A JSON [`ApiError`] response carrying header `name`, whose one value is `value`.
fn error_with_header(description: String, name: &str, value: &str, about: &str) -> Response {
    let header = HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([value.to_owned()])),
        )
        .description(Some(about))
        .build();
    ResponseBuilder::new()
        .description(description)
        .header(name, header)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ApiError::name())))
                .build(),
        )
        .build()
}
