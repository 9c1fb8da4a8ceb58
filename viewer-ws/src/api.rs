//! The HTTP API (JSON): entities, their history, layers as GeoJSON, KPIs, alerts, health, and
//! `POST /api/readings` through the twin's one validation path. Errors are JSON objects
//! `{"error": <reason>, "message": <what and where>}` with the matching status code.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};
use twin_actors::twin::Rejection;
use twin_core::EntityKind;
use twin_core::geometry::BBox;
use twin_core::reading::RawReading;

use crate::AppState;
use crate::auth::Role;
use crate::feed::Filter;
use crate::geo::{asset_type, layer_collection};

/// An API error: status, a stable reason code and a message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            reason,
            message: message.into(),
        }
    }

    fn bad_request(reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, reason, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.reason, "message": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

/// The bearer token of a request, if any. The scheme is matched without regard to case
/// (RFC 9110 §11.1: `bearer`, `Bearer`, `BEARER`).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Check that the request may use a path needing `role`; the caller's role (None: anonymous
/// with open reads).
pub fn authorize(
    state: &AppState,
    token: Option<&str>,
    role: Role,
) -> Result<Option<Role>, ApiError> {
    state.auth.check(token, role).map_err(|e| {
        let status = match e {
            crate::auth::AuthError::Forbidden { .. } => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        };
        ApiError::new(status, "unauthorized", e.to_string())
    })
}

pub fn check_params(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    for k in params.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(ApiError::bad_request(
                "bad_parameter",
                format!(
                    "unknown query parameter `{k}` (allowed: {})",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// `layer=bin,charger` → a layer mask (all layers when absent).
fn parse_layers(text: Option<&String>) -> Result<u8, ApiError> {
    let Some(text) = text else {
        return Ok(Filter::all().layers);
    };
    let mut mask = 0;
    for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let kind = EntityKind::from_prefix(name).ok_or_else(|| {
            ApiError::bad_request(
                "bad_parameter",
                format!("layer `{name}` is not one of street, power, water, bin, charger"),
            )
        })?;
        mask |= Filter::bit(kind);
    }
    Ok(mask)
}

/// `bbox=minLon,minLat,maxLon,maxLat`.
fn parse_bbox(text: Option<&String>) -> Result<Option<BBox>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    let parts: Vec<Option<f64>> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect();
    match parts.as_slice() {
        [Some(a), Some(b), Some(c), Some(d)] if a <= c && b <= d => Ok(Some(BBox {
            min_lon: *a,
            min_lat: *b,
            max_lon: *c,
            max_lat: *d,
        })),
        _ => Err(ApiError::bad_request(
            "bad_parameter",
            format!("bbox `{text}` is not minLon,minLat,maxLon,maxLat with min ≤ max"),
        )),
    }
}

fn parse_time(name: &str, text: Option<&String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    text.map(|t| {
        DateTime::parse_from_rfc3339(t)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| {
                ApiError::bad_request(
                    "bad_parameter",
                    format!("{name} `{t}` is not an RFC 3339 time: {e}"),
                )
            })
    })
    .transpose()
}

fn entity_index(state: &AppState, id: &str) -> Result<usize, ApiError> {
    if let Err(e) = id.parse::<twin_core::EntityId>() {
        // A model file's own id (an EPANET node or link id) names one entity too.
        let city = &state.hub.city;
        let by_source: Vec<usize> = (0..city.entities().len())
            .filter(|&i| city.entities()[i].source_id.as_deref() == Some(id))
            .collect();
        return match by_source.as_slice() {
            [i] => Ok(*i),
            [] => Err(ApiError::bad_request("bad_id", e.to_string())),
            several => Err(ApiError::bad_request(
                "ambiguous_id",
                format!(
                    "`{id}` is the model file's id of {} entities ({}): give the entity id",
                    several.len(),
                    several
                        .iter()
                        .map(|&i| city.entities()[i].id.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        };
    }
    state.hub.index_of(id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_entity",
            format!("no entity `{id}` in {}", state.hub.city.meta.name),
        )
    })
}

fn entity_summary(state: &AppState, i: usize, live: serde_json::Map<String, Json>) -> Json {
    let e = &state.hub.city.entities()[i];
    let mut summary = json!({
        "id": e.id.to_string(),
        "type": asset_type(&e.asset),
        "name": e.name,
        "location": [e.location.lon, e.location.lat],
        "state": live,
    });
    // The element's id in its model file (an EPANET node or link id).
    if let Some(source) = &e.source_id {
        summary["sourceId"] = json!(source);
    }
    summary
}

/// `GET /health`: `ok`, or `degraded` with its reasons (`part: reason`: a full disk, a store
/// error, a network model that panicked). Always 200 while the process answers: a degraded
/// twin still serves its state; monitors read `status`.
pub async fn health(State(state): State<AppState>) -> Response {
    let status = state.hub.twin.status();
    let ok = status.degraded.is_empty();
    axum::Json(json!({
        "status": if ok { "ok" } else { "degraded" },
        "degraded": status.degraded,
        "city": status.city,
        "entities": status.entities,
        "version": state.hub.current_version(),
        "clients": state.hub.clients.load(std::sync::atomic::Ordering::Relaxed),
        "connections": state.connections.counts(),
        // When each network model last published (absent: not yet solved since the start).
        "models": twin_actors::network::NetworkKind::ALL
            .iter()
            .filter_map(|&k| {
                let (estimates, _) = state.hub.twin.shared.networks.latest(k)?;
                Some((k.name().to_string(), Json::String(estimates.solved_at.clone())))
            })
            .collect::<serde_json::Map<String, Json>>(),
        "readings_logged": status.readings_logged,
    }))
    .into_response()
}

/// Full dumps (`GET /api/entities` answers of more than [`DUMP_CHUNK`] entities) sent at once
/// in all, and from one address: each costs megabytes of JSON, so a few loops of them must not
/// starve `/health` or the feed. Over either: 429 `busy`.
pub const DUMPS_IN_FLIGHT: usize = 4;
pub const DUMPS_PER_ADDRESS: usize = 1;
/// How long a full dump counts against [`DUMPS_IN_FLIGHT`] at most, however slowly its client
/// reads.
const DUMP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);
/// Entities serialised per chunk of a streamed answer: the hub's lock is let go, and other
/// requests and the feed get their turn, between two chunks.
const DUMP_CHUNK: usize = 500;

/// `GET /api/entities?layer=…&bbox=…&limit=N`: `{"count", "entities": [...]}`, every entity
/// passing the filter (at most `limit`), in city order. A large answer is streamed in chunks
/// and counts as a full dump ([`DUMPS_IN_FLIGHT`], [`DUMPS_PER_ADDRESS`]).
pub async fn entities(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult {
    authorize(&state, bearer(&headers), Role::Viewer)?;
    check_params(&params, &["layer", "bbox", "limit"])?;
    let filter = Filter {
        layers: parse_layers(params.get("layer"))?,
        bbox: parse_bbox(params.get("bbox"))?,
    };
    let limit = match params.get("limit") {
        None => usize::MAX,
        Some(t) => t.parse::<usize>().map_err(|_| {
            ApiError::bad_request("bad_parameter", format!("limit `{t}` is not a count"))
        })?,
    };
    let indices = state.hub.matching(&filter, limit);
    let summaries = |chunk: &[usize]| -> Vec<Json> {
        state
            .hub
            .states_of(chunk)
            .into_iter()
            .zip(chunk)
            .map(|(s, &i)| entity_summary(&state, i, s))
            .collect()
    };
    if indices.len() <= DUMP_CHUNK {
        let list = summaries(&indices);
        return Ok(axum::Json(json!({"count": list.len(), "entities": list})).into_response());
    }
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |c| c.0.ip());
    let Some(permit) = state.dumps.admit(peer) else {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            format!(
                "a full dump is already being sent to this address, or {DUMPS_IN_FLIGHT} are in all; \
                 try again in a moment, or ask for less (layer, bbox, limit)"
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return Ok(response);
    };
    // A client that stops reading would hold the permit for good (the stream is not polled
    // while the socket is full): the permit goes back after DUMP_DEADLINE whatever happens.
    let permit = Arc::new(std::sync::Mutex::new(Some(permit)));
    let expiring = permit.clone();
    tokio::spawn(async move {
        tokio::time::sleep(DUMP_DEADLINE).await;
        expiring.lock().unwrap_or_else(|p| p.into_inner()).take();
    });
    let head = format!("{{\"count\":{},\"entities\":[", indices.len());
    let chunks: Vec<Vec<usize>> = indices.chunks(DUMP_CHUNK).map(<[usize]>::to_vec).collect();
    let state = state.clone();
    // The permit travels with the stream: released when the last chunk is sent or the client
    // goes away.
    let parts = futures_util::stream::unfold(
        (chunks.into_iter(), 0usize, Some(head), permit),
        move |(mut chunks, sent, head, permit)| {
            let state = state.clone();
            async move {
                if let Some(head) = head {
                    return Some((
                        Ok::<_, std::convert::Infallible>(head.into_bytes()),
                        (chunks, sent, None, permit),
                    ));
                }
                let Some(chunk) = chunks.next() else {
                    permit.lock().unwrap_or_else(|p| p.into_inner()).take();
                    return None;
                };
                tokio::task::yield_now().await;
                let mut out = Vec::with_capacity(chunk.len() * 200);
                for (k, (live, &i)) in state
                    .hub
                    .states_of(&chunk)
                    .into_iter()
                    .zip(&chunk)
                    .enumerate()
                {
                    if sent + k > 0 {
                        out.push(b',');
                    }
                    // Serialising a `Value` into a Vec cannot fail.
                    let _ = serde_json::to_writer(&mut out, &entity_summary(&state, i, live));
                }
                if chunks.len() == 0 {
                    out.extend_from_slice(b"]}");
                }
                Some((Ok(out), (chunks, sent + chunk.len(), None, permit)))
            }
        },
    );
    let mut response = Body::from_stream(parts).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

pub async fn entity(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    authorize(&state, bearer(&headers), Role::Viewer)?;
    let i = entity_index(&state, &id)?;
    let live = state.hub.entity_state(i).unwrap_or_default();
    let mut out = entity_summary(&state, i, live);
    let layer = &state.layers[layer_slot(state.hub.city.entities()[i].id.kind())];
    if let Some((_, geometry, props)) = layer.features.iter().find(|(k, _, _)| *k == i) {
        out["attributes"] = Json::Object(props.clone());
        out["geometry"] = geometry.clone();
    }
    Ok(axum::Json(out).into_response())
}

/// Readings one history request returns unless it asks for fewer (`limit`).
const HISTORY_DEFAULT_LIMIT: usize = 10_000;
/// Most readings one history request may ask for; a longer window is read in pages (`from`
/// after the last reading returned).
const HISTORY_MAX_LIMIT: usize = 100_000;

/// `GET /api/entities/{id}/history?from&to&limit&last`: an entity's readings kept in the
/// store's history, oldest first. `from`/`to` are RFC 3339 times (inclusive, default: all),
/// `limit` caps the readings (default 10,000, at most 100,000), `last=true` takes the newest
/// `limit` of the window instead of the oldest. One point per value: observation time,
/// quantity (Smart Data Model name), value and unit. `truncated` says the window held more.
pub async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult {
    authorize(&state, bearer(&headers), Role::Viewer)?;
    check_params(&params, &["from", "to", "limit", "last"])?;
    let i = entity_index(&state, &id)?;
    let entity = state.hub.city.entities()[i].id.clone();
    let from = parse_time("from", params.get("from"))?;
    let to = parse_time("to", params.get("to"))?;
    let limit = match params.get("limit") {
        None => HISTORY_DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=HISTORY_MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    format!("limit `{text}` is not a whole number from 1 to {HISTORY_MAX_LIMIT}"),
                ));
            }
        },
    };
    let newest = match params.get("last").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                format!("last `{other}` is not true or false"),
            ));
        }
    };
    let window = twin_actors::store::Window {
        from_ms: from.map_or(i64::MIN, |t| t.timestamp_millis()),
        to_ms: to.map_or(i64::MAX, |t| t.timestamp_millis()),
        // One more than asked tells whether the window holds more.
        limit: limit + 1,
        newest,
    };
    let history = state.hub.twin.history().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "twin_stopped",
            "the twin is not running",
        )
    })?;
    let read = tokio::task::spawn_blocking(move || {
        let span = history.span(&entity)?;
        history.read(&entity, window).map(|r| (span, r))
    })
    .await;
    let (span, mut readings) = match read {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store_error",
                e.to_string(),
            ));
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store_error",
                format!("the history read failed: {e}"),
            ));
        }
    };
    let truncated = readings.len() > limit;
    if truncated {
        if newest {
            readings.remove(0);
        } else {
            readings.pop();
        }
    }
    let points: Vec<Json> = readings
        .iter()
        .flat_map(|r| {
            let at = twin_core::live::rfc3339(r.observed_at.timestamp_millis());
            r.values.iter().map(move |(q, v)| {
                let mut point =
                    json!({"observedAt": at, "quantity": q.name(), "value": v.to_json()});
                if let twin_core::quantity::ValueSpec::Number { unit, .. } = q.spec() {
                    point["unit"] = json!(unit);
                }
                point
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "id": id,
        "oldest": span.map(|(t, _)| twin_core::live::rfc3339(t)),
        "newest": span.map(|(_, t)| twin_core::live::rfc3339(t)),
        "readings": readings.len(),
        "truncated": truncated,
        "count": points.len(),
        "points": points,
    }))
    .into_response())
}

/// Position of a layer in [`AppState::layers`].
pub fn layer_slot(kind: EntityKind) -> usize {
    EntityKind::ALL
        .iter()
        .position(|&k| k == kind)
        .unwrap_or_default()
}

pub async fn layer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> ApiResult {
    authorize(&state, bearer(&headers), Role::Viewer)?;
    let kind = file
        .strip_suffix(".geojson")
        .and_then(EntityKind::from_prefix)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_layer",
                format!(
                    "no layer `{file}`: use street.geojson, power.geojson, water.geojson, \
                     bin.geojson or charger.geojson"
                ),
            )
        })?;
    let layer = &state.layers[layer_slot(kind)];
    let text = layer_collection(layer, |i| state.hub.entity_state(i));
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], text).into_response())
}

pub async fn kpis(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    authorize(&state, bearer(&headers), Role::Viewer)?;
    Ok(axum::Json(json!(*state.hub.current_kpis())).into_response())
}

pub async fn alerts(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    authorize(&state, bearer(&headers), Role::Viewer)?;
    let alerts = state.hub.current_alerts();
    Ok(axum::Json(json!({"count": alerts.len(), "alerts": *alerts})).into_response())
}

/// The request's body, at most `limit` bytes, else 413 with `reason` and `message`: a
/// `Content-Length` over the limit is refused from the headers alone, before any of the body
/// is read (RFC 9110 §15.5.14); a body that runs past the limit while read is refused too.
/// A body that has not all arrived `within` its deadline gets 408 `body_timeout` (a client
/// that sends half a body must not hold the connection).
pub async fn read_body(
    request: Request,
    limit: usize,
    within: std::time::Duration,
    reason: &'static str,
    message: String,
) -> Result<axum::body::Bytes, ApiError> {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, reason, message.clone());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(within, axum::body::to_bytes(request.into_body(), limit)).await {
        Ok(body) => body.map_err(|_| too_large()),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!("the body did not arrive within {} s", within.as_secs_f64()),
        )),
    }
}

/// `POST /api/readings`: a JSON array of readings, validated like MQTT ones; answers once the
/// accepted readings are durable.
pub async fn post_readings(State(state): State<AppState>, request: Request) -> ApiResult {
    authorize(&state, bearer(request.headers()), Role::Operator)?;
    let limit = state.limits.max_body_bytes;
    let bytes = read_body(
        request,
        limit,
        state.limits.connections.body_timeout,
        "body_too_large",
        format!("the body exceeds {limit} bytes; send smaller batches"),
    )
    .await?;
    // Each reading kept as its own text, so a key repeated inside one is refused for that
    // reading alone (a parsed `Value` would have kept the last one silently).
    let body = std::str::from_utf8(&bytes)
        .map(twin_core::formats::json::strip_bom)
        .map_err(|e| {
            ApiError::bad_request(
                "not_utf8",
                format!("byte {} of the body is not UTF-8", e.valid_up_to() + 1),
            )
        })?;
    let items: Vec<&serde_json::value::RawValue> = match serde_json::from_str(body) {
        Ok(items) => items,
        Err(e) if e.is_data() => {
            return Err(ApiError::bad_request(
                "malformed",
                "the body must be a JSON array of readings",
            ));
        }
        Err(e) => {
            return Err(ApiError::bad_request(
                "malformed",
                format!("the body is not JSON: {e}"),
            ));
        }
    };
    if items.len() > state.limits.max_batch {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "{} readings in one request; the limit is {}",
                items.len(),
                state.limits.max_batch
            ),
        ));
    }
    let readings: Vec<Result<RawReading, Rejection>> = items
        .iter()
        .enumerate()
        .map(|(k, v)| {
            RawReading::from_json(v.get()).map_err(|e| Rejection {
                reason: e.reason().into(),
                message: format!("reading {k}: {e}"),
            })
        })
        .collect();
    // The entity each reading names, for the answer; a malformed one is looked into leniently.
    let entities: Vec<Option<String>> = readings
        .iter()
        .zip(&items)
        .map(|(r, v)| match r {
            Ok(r) => Some(r.entity.clone()),
            Err(_) => serde_json::from_str::<Json>(v.get())
                .ok()
                .and_then(|j| j.get("entity").and_then(Json::as_str).map(str::to_string)),
        })
        .collect();
    let n = readings.len();
    let outcome = state
        .hub
        .twin
        .ingest_durable(readings, None)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "twin_stopped", e))?;
    if let Some(e) = outcome.store_error {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_error",
            format!("nothing of this batch was stored: {e}"),
        ));
    }
    let rejected_at: std::collections::HashSet<usize> =
        outcome.rejected.iter().map(|(k, _)| *k).collect();
    let accepted: Vec<usize> = (0..n).filter(|k| !rejected_at.contains(k)).collect();
    let rejected: Vec<Json> = outcome
        .rejected
        .iter()
        .map(|(k, r)| {
            json!({"index": k, "entity": entities[*k], "reason": r.reason, "message": r.message})
        })
        .collect();
    Ok(axum::Json(json!({
        "accepted_count": outcome.accepted,
        "rejected_count": rejected.len(),
        "accepted": accepted,
        "rejected": rejected,
    }))
    .into_response())
}

/// `POST /api/snapshot` (admin): write a snapshot of all entity state now.
pub async fn post_snapshot(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    authorize(&state, bearer(&headers), Role::Admin)?;
    let seq = state
        .hub
        .twin
        .snapshot()
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "snapshot_failed", e))?;
    Ok(axum::Json(json!({"snapshot_seq": seq})).into_response())
}

pub async fn not_found(request: Request<Body>) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route {} {}", request.method(), request.uri().path()),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().expect("header"));
            bearer(&h).map(str::to_string)
        };
        for v in ["Bearer abc123", "bearer abc123", "BEARER  abc123 "] {
            assert_eq!(with(v).as_deref(), Some("abc123"), "{v}");
        }
        assert_eq!(with("Basic abc123"), None);
        assert_eq!(with("Bearerabc123"), None);
    }

    proptest::proptest! {
        #![proptest_config(twin_core::formats::mutate::config(256))]

        /// Query parameters: mutated real values give a value or a 400 naming the parameter,
        /// never a panic; a bounding box accepted is finite.
        #[test]
        fn fuzz_query_parameters(edits in twin_core::formats::mutate::edits()) {
            use twin_core::formats::mutate::apply;
            let layers = apply("street,bin,power", &edits);
            if let Err(e) = parse_layers(Some(&layers)) {
                proptest::prop_assert_eq!(e.status, StatusCode::BAD_REQUEST);
            }
            let bbox = apply("24.80 44.82 24.90 44.88", &edits).replace(' ', ",");
            match parse_bbox(Some(&bbox)) {
                Ok(Some(b)) => proptest::prop_assert!(
                    [b.min_lon, b.min_lat, b.max_lon, b.max_lat].iter().all(|x| x.is_finite())
                ),
                Ok(None) => {}
                Err(e) => proptest::prop_assert_eq!(e.status, StatusCode::BAD_REQUEST),
            }
            let time = apply("2026-11-27T08:00:00Z", &edits);
            if let Err(e) = parse_time("from", Some(&time)) {
                proptest::prop_assert_eq!(e.status, StatusCode::BAD_REQUEST);
            }
        }
    }
}

/// A known path asked with a method it does not take: 405 with the methods it does (the
/// `Allow` header is axum's).
pub async fn method_not_allowed(request: Request<Body>) -> Response {
    let what = format!(
        "{} is not allowed on {}",
        request.method(),
        request.uri().path()
    );
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", what).into_response()
}
