//! The NGSI-LD API (ETSI GS CIM 009 V1.8.1) under `/ngsi-ld/v1`, as far as it is written: the
//! city's assets as Smart Data Models entities, retrieved one by one or queried (type, id,
//! idPattern, `q`, attrs/pick, pagination with count, the normalized, concise and keyValues
//! formats), errors as ProblemDetails. docs/ngsi-ld.md lists what is supported and refused.
//!
//! Terms are those of the Smart Data Models' @contexts and the NGSI-LD core context; responses
//! name the core context in their `Link` header (clause 6.3.5). Requests naming another
//! context are refused with `LdContextNotAvailable` until expansion with a JSON-LD processor
//! is written, rather than answered with terms that would mean something else.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};
use twin_core::Quantity;
use twin_core::ngsi_ld::model::{attribute_name, entity_of_urn, entity_type, unit_code, urn};
use twin_core::quantity::ValueSpec;

use crate::AppState;
use crate::api::{authorize, bearer, layer_slot};
use crate::auth::Role;

/// The NGSI-LD core context the answers are compacted with (clause 4.4, Annex B).
pub const CORE_CONTEXT: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld";
/// Entities one query returns unless it asks for another `limit` (clause 6.3.10 lets the
/// broker choose), and the most it may ask for.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;

/// An NGSI-LD error (clause 5.5.2): a ProblemDetails body (RFC 7807) with the specification's
/// error type.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    kind: &'static str,
    detail: String,
}

impl Problem {
    fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            kind,
            detail: detail.into(),
        }
    }

    fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "BadRequestData", detail)
    }

    fn invalid(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "InvalidRequest", detail)
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

type NgsiResult = Result<Response, Problem>;

/// The routes of the NGSI-LD API.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/ngsi-ld/v1/entities", axum::routing::get(query_entities))
        .route(
            "/ngsi-ld/v1/entities/{id}",
            axum::routing::get(retrieve_entity),
        )
        .route("/ngsi-ld/v1/types", axum::routing::get(types))
        .route(
            "/ngsi-ld/v1/temporal/entities/{id}",
            axum::routing::get(retrieve_temporal),
        )
}

/// Reads follow the twin's `open_reads`, as its own API does.
fn check_reader(state: &AppState, headers: &HeaderMap) -> Result<(), Problem> {
    authorize(state, bearer(headers), Role::Viewer)
        .map(|_| ())
        .map_err(|e| Problem::new(e.status, "", e.message))
}

/// The representation asked for (clause 6.3.7): `format=` or the older `options=`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Normalized,
    Concise,
    KeyValues,
}

/// What the client accepts (clause 6.3.4): JSON-LD puts the context in the body.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Media {
    Json,
    JsonLd,
}

fn media(headers: &HeaderMap) -> Result<Media, Problem> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Media::Json);
    };
    let types: Vec<&str> = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or_default().trim())
        .collect();
    if types
        .iter()
        .any(|t| matches!(*t, "application/json" | "*/*" | "application/*"))
    {
        Ok(Media::Json)
    } else if types.contains(&"application/ld+json") {
        Ok(Media::JsonLd)
    } else {
        Err(Problem::new(
            StatusCode::NOT_ACCEPTABLE,
            "InvalidRequest",
            format!(
                "Accept `{accept}`: this broker answers application/json or application/ld+json"
            ),
        ))
    }
}

/// Refuse a `Link` header naming a context other than the core one (clause 6.3.5): its terms
/// could mean other IRIs than the twin's.
fn check_context(headers: &HeaderMap) -> Result<(), Problem> {
    let Some(link) = headers.get(header::LINK).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let url = link
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    if url.contains("ngsi-ld-core-context") {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::GATEWAY_TIMEOUT,
        "LdContextNotAvailable",
        format!(
            "@context {url}: this broker serves the Smart Data Models and core terms only and does not yet expand other contexts; send no Link header or the core context"
        ),
    ))
}

/// The words of `format` and the older `options` (clause 6.3.7), in order.
fn format_words(params: &HashMap<String, String>) -> impl Iterator<Item = &str> {
    params
        .get("format")
        .into_iter()
        .chain(params.get("options"))
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The entity format asked for. `sysAttrs` is refused: the twin keeps no createdAt or
/// modifiedAt to give.
fn parse_format(params: &HashMap<String, String>) -> Result<Format, Problem> {
    let mut format = Format::Normalized;
    for word in format_words(params) {
        match word {
            "normalized" => format = Format::Normalized,
            "concise" => format = Format::Concise,
            "keyValues" | "simplified" => format = Format::KeyValues,
            other => {
                return Err(Problem::invalid(format!(
                    "format/options `{other}` is not supported (normalized, concise, keyValues, simplified)"
                )));
            }
        }
    }
    Ok(format)
}

/// What every NGSI-LD read checks first: the reader's role, the media type it accepts, its
/// @context and its parameters. Returns the media type to answer in.
fn read_request(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    allowed: &[&str],
) -> Result<Media, Problem> {
    check_reader(state, headers)?;
    let media = media(headers)?;
    check_context(headers)?;
    check_params(params, allowed)?;
    Ok(media)
}

fn check_params(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), Problem> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Problem::invalid(format!(
            "parameter `{k}` is not supported here (supported: {})",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

/// The attribute names a request picks (`attrs` or `pick`), if it limits them.
fn picked(params: &HashMap<String, String>) -> Option<Vec<String>> {
    let list = params.get("pick").or_else(|| params.get("attrs"))?;
    Some(
        list.split([',', '|'])
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

/// The entity `i` in normalized form (clause 4.5.1), with every attribute.
pub fn normalized(state: &AppState, i: usize) -> Map<String, Json> {
    let city = &state.hub.city;
    let e = &city.entities()[i];
    let mut out = Map::new();
    out.insert("id".into(), json!(urn(e.kind(), &e.id)));
    out.insert("type".into(), json!(entity_type(e.kind())));
    let layer = &state.layers[layer_slot(e.id.kind())];
    // A layer's features are in city order: a query builds thousands of entities.
    let feature = layer
        .features
        .binary_search_by_key(&i, |(k, _, _)| *k)
        .ok()
        .map(|at| &layer.features[at]);
    if let Some((_, geometry, props)) = feature {
        out.insert(
            "location".into(),
            json!({"type": "GeoProperty", "value": geometry}),
        );
        for (name, value) in props {
            if matches!(name.as_str(), "id" | "type" | "assetType" | "state") || value.is_null() {
                continue;
            }
            out.insert(attribute_name(name), static_attribute(city, name, value));
        }
    }
    if let Some(source) = &e.source_id {
        out.insert(
            "sourceId".into(),
            json!({"type": "Property", "value": source}),
        );
    }
    let live = state.hub.entity_state(i).unwrap_or_default();
    let observed_at = live.get("observedAt").cloned();
    for (name, value) in &live {
        if name == "observedAt" || value.is_null() {
            continue;
        }
        let mut attr = json!({"type": "Property", "value": value});
        if let Some(at) = &observed_at {
            attr["observedAt"] = at.clone();
        }
        if let Some(q) = Quantity::for_asset(e.kind(), name)
            && let ValueSpec::Number { unit, .. } = q.spec()
            && let Some(code) = unit_code(unit)
        {
            attr["unitCode"] = json!(code);
        }
        out.insert(attribute_name(name), attr);
    }
    out
}

/// A static attribute: a reference to another of the twin's entities (`ref…` naming an entity
/// id) is a Relationship to its URN, anything else a Property.
fn static_attribute(city: &twin_core::CityModel, name: &str, value: &Json) -> Json {
    if name.starts_with("ref")
        && let Some(text) = value.as_str()
        && let Ok(id) = text.parse::<twin_core::EntityId>()
        && let Some(j) = city.entity_index(&id)
    {
        return json!({"type": "Relationship", "object": urn(city.entities()[j].kind(), &id)});
    }
    json!({"type": "Property", "value": value})
}

/// An entity in the format asked for, with only the picked attributes (id and type always).
fn render(mut entity: Map<String, Json>, format: Format, pick: Option<&[String]>) -> Json {
    if let Some(pick) = pick {
        entity.retain(|k, _| k == "id" || k == "type" || pick.iter().any(|p| p == k));
    }
    let simplify = |attr: &Json, concise: bool| -> Json {
        let value = attr
            .get("value")
            .or_else(|| attr.get("object"))
            .cloned()
            .unwrap_or(Json::Null);
        if !concise {
            return value;
        }
        // Concise (clause 4.5.2.3): a Property without sub-attributes is its value; else the
        // object without its type.
        let mut o = attr.as_object().cloned().unwrap_or_default();
        o.remove("type");
        if o.len() == 1 && o.contains_key("value") {
            value
        } else {
            Json::Object(o)
        }
    };
    match format {
        Format::Normalized => Json::Object(entity),
        Format::Concise | Format::KeyValues => Json::Object(
            entity
                .into_iter()
                .map(|(k, v)| {
                    if k == "id" || k == "type" {
                        (k, v)
                    } else {
                        let s = simplify(&v, format == Format::Concise);
                        (k, s)
                    }
                })
                .collect(),
        ),
    }
}

/// Answer a body with the context as clause 6.3.5 says: a `Link` header for JSON, `@context`
/// in the body for JSON-LD.
fn respond(body: Json, media: Media, extra: Vec<(&'static str, String)>) -> Response {
    let body = match (media, body) {
        (Media::JsonLd, Json::Object(mut o)) => {
            o.insert("@context".into(), json!(CORE_CONTEXT));
            Json::Object(o)
        }
        (Media::JsonLd, Json::Array(items)) => Json::Array(
            items
                .into_iter()
                .map(|item| match item {
                    Json::Object(mut o) => {
                        o.insert("@context".into(), json!(CORE_CONTEXT));
                        Json::Object(o)
                    }
                    other => other,
                })
                .collect(),
        ),
        (_, body) => body,
    };
    let mut response = body.to_string().into_response();
    let headers = response.headers_mut();
    let content_type = match media {
        Media::Json => "application/json",
        Media::JsonLd => "application/ld+json",
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if media == Media::Json
        && let Ok(link) = HeaderValue::from_str(&format!(
            "<{CORE_CONTEXT}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
        ))
    {
        headers.insert(header::LINK, link);
    }
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(name, v);
        }
    }
    response
}

/// `GET /ngsi-ld/v1/entities/{id}` (clause 6.5.3.1): one entity.
pub async fn retrieve_entity(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> NgsiResult {
    let media = read_request(
        &state,
        &headers,
        &params,
        &["attrs", "pick", "format", "options", "type"],
    )?;
    let format = parse_format(&params)?;
    if !id.contains(':') {
        return Err(Problem::bad_request(format!("`{id}` is not a URI")));
    }
    let i = entity_of_urn(&state.hub.city, &id).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("no entity {id} (the twin's are urn:ngsi-ld:<Type>:<id>, e.g. urn:ngsi-ld:WasteContainer:17)"),
        )
    })?;
    let entity = normalized(&state, i);
    if let Some(t) = params.get("type")
        && entity["type"] != json!(t)
    {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("{id} is not of type {t}"),
        ));
    }
    let pick = picked(&params);
    Ok(respond(
        render(entity, format, pick.as_deref()),
        media,
        vec![],
    ))
}

/// `GET /ngsi-ld/v1/entities` (clause 6.4.3.2): entities by type, id, idPattern and `q`, in
/// pages (`limit`, `offset`; `count=true` adds `NGSILD-Results-Count`).
pub async fn query_entities(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> NgsiResult {
    let media = read_request(
        &state,
        &headers,
        &params,
        &[
            "type",
            "id",
            "idPattern",
            "q",
            "attrs",
            "pick",
            "format",
            "options",
            "limit",
            "offset",
            "count",
        ],
    )?;
    if !["type", "attrs", "q"]
        .iter()
        .any(|k| params.contains_key(*k))
    {
        return Err(Problem::bad_request(
            "a query needs at least one of type, attrs or q (clause 5.7.2); geo-queries are not supported yet",
        ));
    }
    let format = parse_format(&params)?;
    let types: Option<Vec<String>> = params
        .get("type")
        .map(|t| t.split([',', '|']).map(|s| s.trim().to_string()).collect());
    let ids: Option<Vec<String>> = params
        .get("id")
        .map(|t| t.split(',').map(|s| s.trim().to_string()).collect());
    if let Some(bad) = ids.iter().flatten().find(|id| !id.contains(':')) {
        return Err(Problem::bad_request(format!("id `{bad}` is not a URI")));
    }
    if params.contains_key("pick") && params.contains_key("attrs") {
        return Err(Problem::bad_request(
            "pick and attrs cannot be given together (clause 4.21)",
        ));
    }
    let pattern = match params.get("idPattern") {
        Some(p) => Some(
            regex::Regex::new(p)
                .map_err(|e| Problem::bad_request(format!("idPattern `{p}`: {e}")))?,
        ),
        None => None,
    };
    let q = match params.get("q") {
        Some(text) => Some(
            twin_core::ngsi_ld::Query::parse(text)
                .map_err(|e| Problem::bad_request(e.to_string()))?,
        ),
        None => None,
    };
    let number = |name: &str, default: usize, max: usize| -> Result<usize, Problem> {
        match params.get(name) {
            None => Ok(default),
            Some(t) => t
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| {
                    Problem::bad_request(format!("{name} `{t}` is not a whole number up to {max}"))
                }),
        }
    };
    let limit = number("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let offset = number("offset", 0, usize::MAX)?;
    let count = match params.get("count").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(Problem::bad_request(format!(
                "count `{other}` is not true or false"
            )));
        }
    };
    if limit == 0 && !count {
        return Err(Problem::bad_request(
            "limit=0 is allowed only with count=true (clause 6.3.10)",
        ));
    }
    let pick = picked(&params);
    let has_attrs = params.contains_key("attrs");
    // Building every candidate's entity is CPU work: off the async workers.
    let worker = state.clone();
    let (matched, page) = tokio::task::spawn_blocking(move || {
        let city = &worker.hub.city;
        let mut matched = 0usize;
        let mut page = Vec::new();
        for (i, e) in city.entities().iter().enumerate() {
            let ngsi_type = entity_type(e.kind());
            if types
                .as_ref()
                .is_some_and(|t| !t.iter().any(|x| x == ngsi_type))
            {
                continue;
            }
            let id = urn(e.kind(), &e.id);
            if ids.as_ref().is_some_and(|list| !list.contains(&id))
                || pattern.as_ref().is_some_and(|p| !p.is_match(&id))
            {
                continue;
            }
            let in_page = matched >= offset && page.len() < limit;
            if !(q.is_some() || has_attrs || in_page) {
                matched += 1;
                continue;
            }
            let entity = normalized(&worker, i);
            if q.as_ref().is_some_and(|q| !q.matches(&entity)) {
                continue;
            }
            // `attrs` keeps only entities having one of them (clause 5.7.2).
            if let Some(pick) = &pick
                && has_attrs
                && !pick.iter().any(|a| entity.contains_key(a))
            {
                continue;
            }
            if in_page {
                page.push(render(entity, format, pick.as_deref()));
            }
            matched += 1;
        }
        (matched, page)
    })
    .await
    .map_err(|e| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            e.to_string(),
        )
    })?;
    let mut extra = Vec::new();
    if count {
        extra.push(("NGSILD-Results-Count", matched.to_string()));
    }
    // Links to the pages around this one (clause 6.3.10), typed as the answer is.
    let media_type = match media {
        Media::Json => "application/json",
        Media::JsonLd => "application/ld+json",
    };
    let page_link = |rel: &str, at: usize| {
        let mut query: Vec<String> = params
            .iter()
            .filter(|(k, _)| *k != "offset")
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        query.sort();
        query.push(format!("offset={at}"));
        (
            "Link",
            format!(
                "</ngsi-ld/v1/entities?{}>; rel=\"{rel}\"; type=\"{media_type}\"",
                query.join("&")
            ),
        )
    };
    if limit > 0 && offset + page.len() < matched {
        extra.push(page_link("next", offset + limit));
    }
    if limit > 0 && offset > 0 {
        extra.push(page_link("prev", offset.saturating_sub(limit)));
    }
    Ok(respond(Json::Array(page), media, extra))
}

/// `GET /ngsi-ld/v1/types` (clause 6.25): the entity types the twin holds.
pub async fn types(State(state): State<AppState>, headers: HeaderMap) -> NgsiResult {
    check_reader(&state, &headers)?;
    let media = media(&headers)?;
    let mut names: Vec<&str> = state
        .hub
        .city
        .entities()
        .iter()
        .map(|e| entity_type(e.kind()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let body = json!({
        "id": "urn:ngsi-ld:EntityTypeList:citytwin",
        "type": "EntityTypeList",
        "typeList": names,
    });
    Ok(respond(body, media, vec![]))
}

/// Instances one temporal request may hold before it must be narrowed (403 TooManyResults).
const MAX_INSTANCES: usize = 100_000;

/// `GET /ngsi-ld/v1/temporal/entities/{id}` (clause 6.19.3.1): the readings kept in the
/// history as the temporal evolution of the entity's measured attributes: `timerel`
/// (`before`, `after`, `between`) with `timeAt`/`endTimeAt`, `lastN`, `attrs`/`pick`, and
/// `format` = normalized (instances), `temporalValues` (`[value, time]` pairs) or
/// `aggregatedValues` (`aggrMethods`, `aggrPeriodDuration`).
pub async fn retrieve_temporal(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> NgsiResult {
    use twin_core::ngsi_ld::temporal;
    let media = read_request(
        &state,
        &headers,
        &params,
        &[
            "timerel",
            "timeAt",
            "endTimeAt",
            "lastN",
            "attrs",
            "pick",
            "format",
            "options",
            "aggrMethods",
            "aggrPeriodDuration",
            "timeproperty",
        ],
    )?;
    if let Some(p) = params.get("timeproperty")
        && p != "observedAt"
    {
        return Err(Problem::invalid(format!(
            "timeproperty `{p}`: readings are kept by observedAt only"
        )));
    }
    let mut shape = "normalized";
    for word in format_words(&params) {
        match word {
            w @ ("normalized" | "temporalValues" | "aggregatedValues") => shape = w,
            other => {
                return Err(Problem::invalid(format!(
                    "format/options `{other}` is not supported here (normalized, temporalValues, aggregatedValues)"
                )));
            }
        }
    }
    let time = |name: &str| -> Result<Option<i64>, Problem> {
        params
            .get(name)
            .map(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|d| d.timestamp_millis())
                    .map_err(|e| {
                        Problem::bad_request(format!("{name} `{t}` is not a DateTime: {e}"))
                    })
            })
            .transpose()
    };
    let (from_ms, to_ms) = temporal::window(
        params.get("timerel").map(String::as_str),
        time("timeAt")?,
        time("endTimeAt")?,
    )
    .map_err(Problem::bad_request)?;
    let last_n = match params.get("lastN") {
        None => None,
        Some(t) => Some(t.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            Problem::bad_request(format!("lastN `{t}` is not a whole number above 0"))
        })?),
    };
    let methods: Vec<temporal::Method> = match (shape, params.get("aggrMethods")) {
        ("aggregatedValues", Some(list)) => list
            .split(',')
            .map(|m| temporal::Method::parse(m.trim()))
            .collect::<Result<_, _>>()
            .map_err(Problem::bad_request)?,
        ("aggregatedValues", None) => {
            return Err(Problem::bad_request(
                "format=aggregatedValues needs aggrMethods",
            ));
        }
        _ => Vec::new(),
    };
    let period = match params.get("aggrPeriodDuration") {
        Some(d) => temporal::duration_ms(d).map_err(Problem::bad_request)?,
        None => None,
    };
    let i = entity_of_urn(&state.hub.city, &id).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("no entity {id}"),
        )
    })?;
    let e = &state.hub.city.entities()[i];
    let kind = e.kind();
    let entity = e.id.clone();
    let history = state.hub.twin.history().ok_or_else(|| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "the twin is not running",
        )
    })?;
    let window = twin_actors::store::Window {
        from_ms,
        to_ms,
        limit: MAX_INSTANCES + 1,
        newest: last_n.is_some(),
    };
    let readings = tokio::task::spawn_blocking(move || history.read(&entity, window))
        .await
        .map_err(|e| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            )
        })?
        .map_err(|e| {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            )
        })?;
    let mut readings = readings;
    if readings.len() > MAX_INSTANCES && last_n.is_some() {
        // The newest readings were read: the oldest one past the cap goes.
        readings.remove(0);
    } else if readings.len() > MAX_INSTANCES {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "TooManyResults",
            format!(
                "more than {MAX_INSTANCES} readings in the window: narrow it with timerel or ask for lastN"
            ),
        ));
    }
    // Instances per attribute, in time order.
    let pick = picked(&params);
    let mut by_attr: std::collections::BTreeMap<String, (Option<&'static str>, Vec<(i64, Json)>)> =
        std::collections::BTreeMap::new();
    for r in &readings {
        let ms = r.observed_at.timestamp_millis();
        for (q, v) in &r.values {
            let name = attribute_name(&q.name());
            if pick.as_ref().is_some_and(|p| !p.contains(&name)) {
                continue;
            }
            let unit = match q.spec() {
                ValueSpec::Number { unit, .. } => unit_code(unit),
                _ => None,
            };
            let entry = by_attr.entry(name).or_insert((unit, Vec::new()));
            entry.1.push((ms, v.to_json()));
        }
    }
    let rfc = twin_core::live::rfc3339;
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.insert("type".into(), json!(entity_type(kind)));
    for (name, (unit, mut instances)) in by_attr {
        if let Some(n) = last_n {
            let skip = instances.len().saturating_sub(n);
            instances.drain(..skip);
        }
        let attr = match shape {
            "temporalValues" => json!({
                "type": "Property",
                "values": instances.iter().map(|(t, v)| json!([v, rfc(*t)])).collect::<Vec<_>>(),
            }),
            "aggregatedValues" => {
                let (Some(first), Some(last)) = (instances.first(), instances.last()) else {
                    continue;
                };
                let start = if from_ms == i64::MIN {
                    first.0
                } else {
                    from_ms
                };
                let end = if to_ms == i64::MAX {
                    last.0 + 1
                } else {
                    to_ms + 1
                };
                let points: Vec<(i64, &Json)> = instances.iter().map(|(t, v)| (*t, v)).collect();
                let mut attr = json!({"type": "Property"});
                for m in &methods {
                    let rows: Vec<Json> = temporal::aggregate(&points, *m, start, end, period)
                        .into_iter()
                        .map(|(v, s, e)| json!([v, rfc(s), rfc(e)]))
                        .collect();
                    attr[m.name()] = json!(rows);
                }
                attr
            }
            _ => json!(
                instances
                    .iter()
                    .map(|(t, v)| {
                        let mut instance =
                            json!({"type": "Property", "value": v, "observedAt": rfc(*t)});
                        if let Some(code) = unit {
                            instance["unitCode"] = json!(code);
                        }
                        instance
                    })
                    .collect::<Vec<_>>()
            ),
        };
        out.insert(name, attr);
    }
    Ok(respond(Json::Object(out), media, vec![]))
}

/// Percent-encode a query value for a `Link` URL (RFC 3986 unreserved characters kept).
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
