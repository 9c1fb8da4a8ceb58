//! NGSI-LD errors (clause 5.5.2): ProblemDetails bodies (RFC 7807) with the specification's
//! error types and status codes.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An NGSI-LD error (clause 5.5.2): a ProblemDetails body (RFC 7807) with the specification's
/// error type.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    kind: &'static str,
    detail: String,
}

impl Problem {
    pub(super) fn new(
        status: StatusCode,
        kind: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            status,
            kind,
            detail: detail.into(),
        }
    }

    pub(super) fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "BadRequestData", detail)
    }

    pub(super) fn invalid(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "InvalidRequest", detail)
    }

    pub(super) fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "ResourceNotFound", detail)
    }

    pub(super) fn already_exists(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, "AlreadyExists", detail)
    }

    /// An operation this broker does not perform on this target (422, clause 5.5.2).
    pub(super) fn not_supported(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "OperationNotSupported",
            detail,
        )
    }

    pub(super) fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", detail)
    }

    /// The error as the ProblemDetails object a batch result carries for one entity.
    pub(super) fn details(&self) -> serde_json::Value {
        json!({
            "type": format!("https://uri.etsi.org/ngsi-ld/errors/{}", self.kind),
            "title": self.kind,
            "status": self.status.as_u16(),
            "detail": self.detail,
        })
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let kind = if self.kind.is_empty() {
            "about:blank".to_string()
        } else {
            format!("https://uri.etsi.org/ngsi-ld/errors/{}", self.kind)
        };
        let body = json!({
            "type": kind,
            "title": if self.kind.is_empty() { "Unauthorized" } else { self.kind },
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut response = (self.status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// What an NGSI-LD handler answers.
pub type NgsiResult = Result<Response, Problem>;
