//! Refusals as RFC 9457 problem documents: the error code's HTTP status, its printed form
//! and name, and, for invalid messages, every diagnostic. Nothing in a problem names
//! another party's data or echoes a value.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{Diagnostic, Error, ErrorCode};
use crate::report::WireDiagnostic;

#[derive(Debug)]
pub struct Problem {
    code: ErrorCode,
    detail: String,
    errors: Vec<WireDiagnostic>,
    /// Seconds for `Retry-After`, when known (rate limits); otherwise 5 for retryable codes.
    retry_after: Option<u64>,
}

impl Problem {
    pub fn of(code: ErrorCode, detail: impl Into<String>) -> Problem {
        Problem { code, detail: detail.into(), errors: Vec::new(), retry_after: None }
    }

    /// The `Retry-After` it will carry, when set.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        self.retry_after
    }

    /// Says how long to wait before trying again.
    pub fn retry_after(mut self, seconds: u64) -> Problem {
        self.retry_after = Some(seconds);
        self
    }

    /// Every diagnostic, under `message-invalid` (422); but when the bytes could not even be
    /// read as a message (a decode error) or the request itself is refused (a type the party
    /// may not send), that first such code and its status.
    pub fn invalid(diagnostics: &[Diagnostic]) -> Problem {
        let code = diagnostics
            .iter()
            .map(|d| d.code)
            .find(|code| code.http_status() != 422)
            .unwrap_or(ErrorCode::MessageInvalid);
        let detail = format!("the message is invalid: {} problem(s)", diagnostics.len());
        Problem { code, detail, errors: diagnostics.iter().map(WireDiagnostic::from).collect(), retry_after: None }
    }

    /// Malformed request parameters (`bad-query`, 400): each as an error whose `path` is the
    /// parameter's name, so a form can mark its field.
    pub fn parameters(problems: &[(String, String)]) -> Problem {
        let names: Vec<&str> = problems.iter().map(|(name, _)| name.as_str()).collect();
        Problem {
            code: ErrorCode::BadQuery,
            detail: format!("malformed parameter(s): {}", names.join(", ")),
            errors: problems
                .iter()
                .map(|(name, reason)| WireDiagnostic::from(&Diagnostic::error(ErrorCode::BadQuery, name, reason)))
                .collect(),
            retry_after: None,
        }
    }

    /// An operational failure: the store is unavailable, or raccordo itself failed.
    pub fn from_error(error: Error) -> Problem {
        let code = error.code();
        // Operational details (SQL, paths) are for the logs, not for the caller.
        tracing::error!(code = %code, "{error}");
        Problem::of(code, code.doc().lines().next().unwrap_or_default().to_owned())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = json!({
            "type": format!("https://raccordo.github.io/docs/errors#{}", self.code.id()),
            "title": self.code.name(),
            "status": status.as_u16(),
            "detail": self.detail,
            "code": self.code.id(),
        });
        if !self.errors.is_empty() {
            body["errors"] = json!(self.errors);
        }
        let mut response = (status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/problem+json"));
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        } else if self.code.retry() == crate::error::Retry::Later {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        response
    }
}
