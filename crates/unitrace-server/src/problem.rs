//! The one place where errors become HTTP answers: RFC 7807 `application/problem+json` carrying
//! the EPCIS exception type.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use unitrace_epcis::Problem;
use unitrace_store::StoreError;

/// An API error: status, EPCIS exception type, and what is wrong.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// e.g. `ValidationException`; written as `epcisException:ValidationException`.
    pub kind: &'static str,
    pub detail: String,
    /// Per-event problems of a refused document.
    pub problems: Vec<Problem>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            detail: detail.into(),
            problems: Vec::new(),
        }
    }

    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", detail)
    }

    pub fn query_param(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "QueryParameterException", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NoSuchResourceException", detail)
    }

    /// 404 for a name the client chose or was given (a named query, a subscription, a capture
    /// job), as GS1's binding types it.
    pub fn no_such_name(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NoSuchNameException", detail)
    }

    /// 409: the resource exists already, or changed since it was read.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "ConflictException", detail)
    }

    pub fn capture_limit(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "CaptureLimitExceededException",
            detail,
        )
    }

    pub fn unsupported_media(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "ValidationException",
            detail,
        )
    }

    pub fn not_acceptable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, "NotAcceptableException", detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ImplementationException",
            detail,
        )
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
            detail,
        )
    }

    pub fn with_problems(mut self, problems: Vec<Problem>) -> Self {
        self.problems = problems;
        self
    }

    /// A store error met while answering a query.
    pub fn from_query(e: StoreError) -> Self {
        match e {
            StoreError::InvalidInput(m) => Self::query_param(m),
            StoreError::InvalidPageToken(m) => Self::query_param(format!("nextPageToken: {m}")),
            e => Self::from(e),
        }
    }

    pub fn body(&self) -> Value {
        let mut v = json!({
            "type": format!("epcisException:{}", self.kind),
            "title": title(self.kind),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if !self.problems.is_empty() {
            v["problems"] = problems_json(&self.problems);
        }
        v
    }
}

pub fn problems_json(problems: &[Problem]) -> Value {
    Value::Array(
        problems
            .iter()
            .take(1000)
            .map(|p| {
                json!({
                    "eventIndex": p.event_index,
                    "eventID": p.event_id,
                    "pointer": p.pointer,
                    "message": p.message,
                })
            })
            .collect(),
    )
}

fn title(kind: &str) -> &'static str {
    match kind {
        "ValidationException" => "The request is not valid",
        "QueryParameterException" => "A query parameter is not valid",
        "QueryTooLargeException" => "The query would return too many events",
        "NoSuchResourceException" => "No such resource",
        "NoSuchNameException" => "No such name",
        "ResourceAlreadyExistsException" => "The resource exists already",
        "CaptureLimitExceededException" => "Capture limit exceeded",
        "NotAcceptableException" => "No acceptable representation",
        "ServiceUnavailableException" => "Service unavailable",
        "ConflictException" => "Conflict",
        _ => "Internal error",
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidInput(m) => ApiError::validation(m),
            StoreError::QueryTooLarge { limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "QueryTooLargeException",
                format!("more than maxEventCount={limit} events match"),
            ),
            StoreError::InvalidPageToken(m) => ApiError::query_param(format!("nextPageToken: {m}")),
            StoreError::Unavailable(m) => ApiError::unavailable(format!("store unavailable: {m}")),
            StoreError::Closed => ApiError::unavailable("the store is shutting down"),
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::conflict(m),
            e @ (StoreError::Database(_) | StoreError::Corrupt(_)) => {
                tracing::error!(error = %e, "store fault");
                ApiError::internal(e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut r = (self.status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        crate::add_gs1_headers(r.headers_mut());
        r
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
