//! The router: handlers for the API, the page's three embedded files, health and metrics,
//! plus the layers every request passes (metrics, `DEBUG` error details, the bearer-token
//! check on `/api`, the body size limit).

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::error::{ApiError, ErrorDetail};
use super::metrics::{Metrics, UNMATCHED};
use super::model::{Decision, OrderEvents, RecommendationPage, Summary};
use super::params::{self, RawQuery};
use super::store::{InsertOutcome, Store};
use super::AppConfig;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The SQL.
    pub store: Arc<Store>,
    /// Schemas, token, debug flag, body limit.
    pub config: Arc<AppConfig>,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
}

const PAGE_HTML: &str = include_str!("page.html");
const PAGE_CSS: &str = include_str!("page.css");
const PAGE_JS: &str = include_str!("page.js");

/// The whole application.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/summary", get(summary))
        .route("/recommendations", get(recommendations))
        .route("/refunds", post(create_refund))
        .route("/orders/{order_id}/events", get(order_events))
        .fallback(not_found)
        // On the whole /api tree, unmatched paths included, so without the token a client
        // cannot even learn which routes exist.
        .layer(from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/", get(page_html))
        .route("/app.css", get(page_css))
        .route("/app.js", get(page_js))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .nest("/api", api)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(from_fn_with_state(state.clone(), debug_details))
        .layer(from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Counts every request by matched route and status and times it.
async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_string();
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        // Arbitrary method names would be unbounded label values.
        _ => "other",
    };
    let response = next.run(req).await;
    st.metrics.record(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// With `DEBUG`, adds the error chain to 5xx bodies as `"detail"`.
async fn debug_details(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if !st.config.debug {
        return response;
    }
    let Some(ErrorDetail(detail)) = response.extensions().get::<ErrorDetail>().cloned() else {
        return response;
    };
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("detail".into(), detail.into());
    }
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// When a token is configured, `/api` needs `Authorization: Bearer <token>`.
async fn require_token(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(token) = &st.config.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(req).await
}

/// Compares without stopping at the first difference, so response timing does not reveal
/// how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn query(q: Result<Query<RawQuery>, QueryRejection>) -> Result<RawQuery, ApiError> {
    q.map(|Query(raw)| raw)
        .map_err(|_| ApiError::MalformedQuery)
}

async fn summary(
    State(st): State<AppState>,
    q: Result<Query<RawQuery>, QueryRejection>,
) -> Result<Json<Summary>, ApiError> {
    let include_zero = params::summary_query(&query(q)?)?;
    Ok(Json(st.store.summary(include_zero).await?))
}

async fn recommendations(
    State(st): State<AppState>,
    q: Result<Query<RawQuery>, QueryRejection>,
) -> Result<Json<RecommendationPage>, ApiError> {
    let q = params::list_query(&query(q)?)?;
    Ok(Json(st.store.recommendations(&q).await?))
}

async fn create_refund(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Decision>), ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(st.config.body_limit)
        } else {
            ApiError::field("body", "could not be read")
        }
    })?;
    let new = params::new_decision(&body)?;
    match st.store.insert_decision(&new).await? {
        InsertOutcome::Stored(d) => Ok((StatusCode::CREATED, Json(d))),
        InsertOutcome::UnknownOrder => Err(ApiError::NotFound(format!(
            "recommendation for order {:?}",
            new.order_id
        ))),
        #[allow(clippy::cast_precision_loss, clippy::as_conversions)]
        InsertOutcome::AboveRevenue { revenue_cents } => Err(ApiError::AboveRevenue {
            amount_usd: new.amount_cents as f64 / 100.0,
            revenue_usd: revenue_cents as f64 / 100.0,
        }),
    }
}

async fn order_events(
    State(st): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<Json<OrderEvents>, ApiError> {
    let order_id = params::order_id("order_id", &order_id)?;
    match st.store.order_events(&order_id).await? {
        Some(events) => Ok(Json(events)),
        None => Err(ApiError::NotFound(format!("order {order_id:?}"))),
    }
}

async fn healthz(State(st): State<AppState>) -> Response {
    match st.store.ping().await {
        Ok(()) => Json(serde_json::json!({"status": "ok", "database": "ok"})).into_response(),
        Err(e) => {
            eprintln!("caspers serve: health check failed: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "error", "database": "unreachable"})),
            )
                .into_response()
        }
    }
}

async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(),
    )
}

async fn not_found() -> ApiError {
    ApiError::NotFound("route".into())
}

/// The page is static; the headers keep it from being framed or sniffed and allow only
/// its own script and styles (no inline code, no CDN).
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    response
}

async fn page_html() -> Response {
    asset("text/html; charset=utf-8", PAGE_HTML)
}

async fn page_css() -> Response {
    asset("text/css; charset=utf-8", PAGE_CSS)
}

async fn page_js() -> Response {
    asset("text/javascript; charset=utf-8", PAGE_JS)
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
