//! The API's error type and how each error becomes a JSON response.
//!
//! Every error body is `{"error": "<one line>"}`; validation errors add
//! `"fields": {"<field>": "<problem>"}` so the page can show each message next to its
//! input. Internal errors say only "internal error" unless the server runs with `DEBUG`, in
//! which case [`crate::app::routes`] adds `"detail"` (the error chain); the full chain is
//! always logged to stderr.

use std::collections::BTreeMap;
use std::error::Error as _;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::store::StoreError;

/// Field name → what is wrong with it, ordered for stable messages.
pub type FieldErrors = BTreeMap<String, String>;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter or body field is invalid (422).
    #[error("invalid {}", describe(.0))]
    Invalid(FieldErrors),
    /// The body is not JSON at all (400).
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(#[source] serde_json::Error),
    /// The query string cannot be decoded (400).
    #[error("query string cannot be decoded")]
    MalformedQuery,
    /// The body is not declared as JSON (415); this also keeps plain HTML forms on other
    /// sites from posting decisions.
    #[error("request body must be sent as Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body exceeds the limit (413).
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// No such order, or no such route (404).
    #[error("{0} not found")]
    NotFound(String),
    /// `/api` needs `Authorization: Bearer <token>` and it is missing or wrong (401).
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// The refund exceeds the order's revenue (422 on `amount_usd`).
    #[error("amount_usd: {amount_usd:.2} is above the order's revenue of {revenue_usd:.2}")]
    AboveRevenue {
        /// Requested refund, in dollars.
        amount_usd: f64,
        /// The order's revenue, in dollars.
        revenue_usd: f64,
    },
    /// The database failed (500, or 503 when a table is missing or the database is away).
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn describe(fields: &FieldErrors) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    /// One invalid field.
    pub fn field(name: &str, problem: impl Into<String>) -> Self {
        ApiError::Invalid(FieldErrors::from([(name.to_string(), problem.into())]))
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) | ApiError::AboveRevenue { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::MalformedJson(_) | ApiError::MalformedQuery => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Store(StoreError::MissingTable(_) | StoreError::Pool(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The error chain of a failed request, attached to its response so the `DEBUG` layer can
/// show it; never sent otherwise.
#[derive(Debug, Clone)]
pub struct ErrorDetail(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = serde_json::Map::new();
        let mut detail = None;
        match &self {
            ApiError::Store(StoreError::Query(_)) => {
                // What the database said may name tables and values: only with DEBUG.
                body.insert("error".into(), "internal error".into());
                let chain = chain(&self);
                eprintln!("caspers serve: {chain}");
                detail = Some(chain);
            }
            ApiError::Store(e) => {
                body.insert("error".into(), e.to_string().into());
                let chain = chain(&self);
                eprintln!("caspers serve: {chain}");
                detail = Some(chain);
            }
            ApiError::Invalid(fields) => {
                body.insert("error".into(), self.to_string().into());
                body.insert(
                    "fields".into(),
                    serde_json::to_value(fields).unwrap_or_default(),
                );
            }
            ApiError::AboveRevenue {
                amount_usd,
                revenue_usd,
            } => {
                let problem =
                    format!("{amount_usd:.2} is above the order's revenue of {revenue_usd:.2}");
                body.insert(
                    "error".into(),
                    format!("invalid amount_usd: {problem}").into(),
                );
                body.insert(
                    "fields".into(),
                    serde_json::json!({ "amount_usd": problem }),
                );
            }
            _ => {
                body.insert("error".into(), self.to_string().into());
            }
        }
        let mut response = (status, Json(serde_json::Value::Object(body))).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"caspers\""),
            );
        }
        if let Some(detail) = detail {
            response.extensions_mut().insert(ErrorDetail(detail));
        }
        response
    }
}

/// `error: source: source…`, like anyhow's `{:#}`.
fn chain(err: &ApiError) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
