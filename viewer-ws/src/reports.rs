//! Citizen reports over HTTP: `POST /api/reports` (the same body as MQTT's
//! `citytwin/reports/new`), `GET /api/reports`, `GET /api/reports/kpis` and
//! `POST /api/reports/{id}/resolve`. Validation, numbering, the rate limit and persistence are
//! the twin's (`twin_core::waste::report`, the ingest pipeline); this module maps them to HTTP.

use std::collections::HashMap;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};
use twin_actors::twin::Rejection;
use twin_core::waste::report::MAX_REPORT_BYTES;

use crate::AppState;
use crate::api::{ApiError, authorize, bearer, check_params};
use crate::auth::Role;

type ApiResult = Result<Response, ApiError>;

/// Reports one network address may send in any rolling hour, whatever reporter ids it uses
/// (a city app's backend behind one address needs a token with the operator role, which is not
/// limited here).
pub const REPORTS_PER_ADDRESS_PER_HOUR: usize = 30;

/// Recent reports by sending address.
#[derive(Default)]
pub struct AddressLimiter {
    recent:
        std::sync::Mutex<HashMap<std::net::IpAddr, std::collections::VecDeque<std::time::Instant>>>,
}

impl AddressLimiter {
    /// Count a report from `addr` now, or say how many seconds until it may send again.
    pub fn admit(&self, addr: std::net::IpAddr) -> Result<(), u64> {
        let now = std::time::Instant::now();
        let hour = std::time::Duration::from_secs(3600);
        let mut all = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        // Forget addresses whose reports are all older than an hour.
        if all.len() > 10_000 {
            all.retain(|_, w| w.back().is_some_and(|t| now.duration_since(*t) < hour));
        }
        let w = all.entry(addr).or_default();
        while w.front().is_some_and(|t| now.duration_since(*t) >= hour) {
            w.pop_front();
        }
        if w.len() >= REPORTS_PER_ADDRESS_PER_HOUR {
            let oldest = w.front().copied().unwrap_or(now);
            return Err((hour.saturating_sub(now.duration_since(oldest)))
                .as_secs()
                .max(1));
        }
        w.push_back(now);
        Ok(())
    }
}

/// The HTTP status of a refused report.
fn refusal(rej: Rejection) -> ApiError {
    let (status, reason) = match rej.reason.as_str() {
        "rate_limited" => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "payload_too_large" => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        "unknown_report" => (StatusCode::NOT_FOUND, "unknown_report"),
        "already_resolved" => (StatusCode::CONFLICT, "already_resolved"),
        "store_error" => (StatusCode::SERVICE_UNAVAILABLE, "store_error"),
        "stopped" => (StatusCode::SERVICE_UNAVAILABLE, "twin_stopped"),
        "malformed" => (StatusCode::BAD_REQUEST, "malformed"),
        "unknown_entity" => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_entity"),
        "not_a_bin" => (StatusCode::UNPROCESSABLE_ENTITY, "not_a_bin"),
        "outside_city" => (StatusCode::UNPROCESSABLE_ENTITY, "outside_city"),
        "far_from_bin" => (StatusCode::UNPROCESSABLE_ENTITY, "far_from_bin"),
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "bad_field"),
    };
    ApiError::new(status, reason, rej.message)
}

async fn body_bytes(
    state: &AppState,
    request: Request,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    crate::api::read_body(
        request,
        limit,
        state.limits.connections.body_timeout,
        "payload_too_large",
        format!("the body exceeds {limit} bytes"),
    )
    .await
}

/// `POST /api/reports`: one report; 201 with the numbered report once it is durable.
pub async fn post_report(State(state): State<AppState>, request: Request) -> ApiResult {
    let role = authorize(&state, bearer(request.headers()), Role::Viewer)?;
    // Operators (a city app's backend) are trusted to limit their own users.
    let trusted = role.is_some_and(|r| r >= Role::Operator);
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| crate::connections::address_key(c.0.ip()));
    if let (false, Some(ip)) = (trusted, peer)
        && let Err(wait) = state.report_senders.admit(ip)
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "{ip} has sent {REPORTS_PER_ADDRESS_PER_HOUR} reports in the last hour; retry in {wait} s"
            ),
        ));
    }
    let bytes = body_bytes(&state, request, MAX_REPORT_BYTES).await?;
    let report = state
        .hub
        .twin
        .submit_report(bytes.to_vec())
        .await
        .map_err(refusal)?;
    Ok((StatusCode::CREATED, axum::Json(json!(report))).into_response())
}

/// `GET /api/reports?open=true&limit=N`: the newest reports first.
pub async fn list_reports(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult {
    authorize(&state, bearer(&headers), Role::Viewer)?;
    check_params(&params, &["open", "limit"])?;
    let open_only = match params.get("open").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_parameter",
                format!("open=`{v}` is not true or false"),
            ));
        }
    };
    let limit = match params.get("limit") {
        None => 1_000,
        Some(v) => v.parse::<usize>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_parameter",
                format!("limit=`{v}` is not a count"),
            )
        })?,
    };
    let book = state.hub.twin.shared.reports();
    let reports: Vec<Json> = book
        .all()
        .rev()
        .filter(|r| !open_only || r.is_open())
        .take(limit)
        .map(|r| json!(r))
        .collect();
    Ok(axum::Json(json!({"count": reports.len(), "reports": reports})).into_response())
}

/// `GET /api/reports/kpis`: open and resolved reports, per neighbourhood and kind, and the
/// hours they took to resolve.
pub async fn report_kpis(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    authorize(&state, bearer(&headers), Role::Viewer)?;
    let kpis = state.hub.twin.shared.reports().kpis();
    Ok(axum::Json(json!(kpis)).into_response())
}

/// `POST /api/reports/{id}/resolve` with an optional `{"resolution": "..."}` (operator).
pub async fn resolve_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> ApiResult {
    authorize(&state, bearer(request.headers()), Role::Operator)?;
    let id: u64 = id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_report",
            format!("`{id}` is not a report number"),
        )
    })?;
    let bytes = body_bytes(&state, request, 4096).await?;
    let resolution = if bytes.iter().all(u8::is_ascii_whitespace) {
        "resolved by an operator".to_string()
    } else {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            resolution: String,
        }
        let b: Body = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed",
                format!("the body must be {{\"resolution\": \"...\"}}: {e}"),
            )
        })?;
        b.resolution.chars().take(500).collect()
    };
    let report = state
        .hub
        .twin
        .resolve_report(id, resolution)
        .await
        .map_err(refusal)?;
    Ok(axum::Json(json!(report)).into_response())
}
