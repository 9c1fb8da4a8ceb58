//! Retrieve and query entities (clauses 6.4.3.2, 6.5.3.1) and list their types (6.25).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value as Json, json};
use twin_core::ngsi_ld::entity::types_of;
use twin_core::ngsi_ld::model::{entity_of_urn, entity_type, urn};
use twin_core::ngsi_ld::{GeoQuery, TypeQuery};

use super::context::Ld;
use super::http::{
    IdPath, Media, check_params, check_pick, check_reader, json_body, media, number_param,
    parse_format, picked, read_request, render, respond, string_list, unpick_id_and_type,
    urlencode,
};
use super::problem::{NgsiResult, Problem};
use super::twin_entity::normalized;
use super::{broker, generated};
use crate::AppState;

/// Entities one query returns unless it asks for another `limit` (clause 6.3.10 lets the
/// broker choose), and the most it may ask for.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;

/// `GET /ngsi-ld/v1/entities/{id}` (clause 6.5.3.1): one entity.
pub(super) async fn retrieve_entity(
    State(state): State<AppState>,
    headers: HeaderMap,
    IdPath(id): IdPath,
    Query(params): Query<HashMap<String, String>>,
) -> NgsiResult {
    let ld = read_request(
        &state,
        &headers,
        &params,
        &[
            "attrs", "pick", "omit", "format", "options", "type", "local",
        ],
    )?;
    check_pick(&params)?;
    // The members of the answer are named as the request names them.
    let given = params.clone();
    let mut params = params;
    ld.internal_params(&state, &mut params).await?;
    let format = parse_format(&params)?;
    let entity = match entity_of_urn(&state.hub.city, &id) {
        Some(i) => normalized(&state, i),
        None => match generated::get(&state, &id) {
            Some(entity) => entity,
            None => broker::get(&state, &id)?.ok_or_else(|| {
            Problem::not_found(format!(
                "no entity {id} (the twin's are urn:ngsi-ld:<Type>:<id>, e.g. urn:ngsi-ld:WasteContainer:17)"
            ))
        })?,
        },
    };
    if let Some(t) = params.get("type")
        && !types_of(&entity).contains(&t.as_str())
    {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("{id} is not of type {t}"),
        ));
    }
    let pick = picked(&params);
    // Clause 5.7.1: an entity with none of the attributes asked for is not found.
    if let Some(asked) = &pick {
        let attributes: Vec<&String> = asked
            .iter()
            .filter(|a| *a != "id" && *a != "type")
            .collect();
        if !attributes.is_empty() && !attributes.iter().any(|a| entity.contains_key(a.as_str())) {
            return Err(Problem::not_found(format!(
                "{id} has none of the attributes asked for"
            )));
        }
    }
    let body = ld
        .external_entities(&state, render(entity, format, pick.as_deref()))
        .await?;
    let body = unpick_id_and_type(body, &given);
    Ok(respond(body, &ld, vec![]))
}

/// `GET /ngsi-ld/v1/entities` (clause 6.4.3.2): entities by type, id, idPattern and `q`, in
/// pages (`limit`, `offset`; `count=true` adds `NGSILD-Results-Count`).
pub(super) async fn query_entities(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> NgsiResult {
    let ld = read_request(
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
            "georel",
            "geometry",
            "coordinates",
            "geoproperty",
            "omit",
            // The twin holds no context source registrations: every entity is local, and
            // `local=true` changes nothing.
            "local",
        ],
    )?;
    // Links to the other pages repeat the parameters as given.
    let given = params.clone();
    let mut params = params;
    ld.internal_params(&state, &mut params).await?;
    if !["type", "attrs", "q", "georel", "id", "idPattern"]
        .iter()
        .any(|k| params.contains_key(*k))
    {
        return Err(Problem::bad_request(
            "a query needs at least one of type, id, idPattern, attrs, q or a geo-query (clause 5.7.2)",
        ));
    }
    let geo = geo_query(&params)?;
    let format = parse_format(&params)?;
    let type_query = match params.get("type") {
        Some(t) => Some(TypeQuery::parse(t).map_err(Problem::bad_request)?),
        None => None,
    };
    // The names it mentions, for the entities generated per type.
    let types: Option<Vec<String>> = type_query.as_ref().map(TypeQuery::names);
    let ids: Option<Vec<String>> = params
        .get("id")
        .map(|t| t.split(',').map(|s| s.trim().to_string()).collect());
    if let Some(bad) = ids.iter().flatten().find(|id| !id.contains(':')) {
        return Err(Problem::bad_request(format!("id `{bad}` is not a URI")));
    }

    let pattern = match params.get("idPattern") {
        Some(p) => Some(
            regex::Regex::new(p)
                .map_err(|e| Problem::bad_request(format!("idPattern `{p}`: {e}")))?,
        ),
        None => None,
    };
    let q = match params.get("q") {
        Some(text) => Some(ld.query(&state, text).await?),
        None => None,
    };
    let limit = number_param(&params, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let offset = number_param(&params, "offset", 0, usize::MAX)?;
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
    check_pick(&params)?;
    let pick = picked(&params);
    let has_attrs = params.contains_key("attrs");
    let mut broker_entities = generated::entities(&state, types.as_deref());
    broker_entities.extend(broker::all(&state)?);
    // Building every candidate's entity is CPU work: off the async workers.
    let worker = state.clone();
    let (matched, page) = tokio::task::spawn_blocking(move || {
        let city = &worker.hub.city;
        let mut matched = 0usize;
        let mut page = Vec::new();
        // Whether an entity passes the filters that need its attributes; in the page if so.
        let mut consider = |entity: Map<String, Json>, matched: &mut usize| {
            if q.as_ref().is_some_and(|q| !q.matches(&entity))
                || geo.as_ref().is_some_and(|g| !g.matches(&entity))
            {
                return;
            }
            // `attrs` keeps only entities having one of them (clause 5.7.2).
            if let Some(pick) = &pick
                && has_attrs
                && !pick.iter().any(|a| entity.contains_key(a))
            {
                return;
            }
            if *matched >= offset && page.len() < limit {
                page.push(render(entity, format, pick.as_deref()));
            }
            *matched += 1;
        };
        let needs_attributes = q.is_some() || geo.is_some() || has_attrs;
        let selected = |id: &str, entity_types: &[&str]| {
            type_query.as_ref().is_none_or(|t| t.matches(entity_types))
                && ids.as_ref().is_none_or(|list| list.iter().any(|i| i == id))
                && pattern.as_ref().is_none_or(|p| p.is_match(id))
        };
        for (i, e) in city.entities().iter().enumerate() {
            let id = urn(e.kind(), &e.id);
            if !selected(&id, &[entity_type(e.kind())]) {
                continue;
            }
            // Entities outside the page that no filter reads are only counted.
            if !needs_attributes && !(matched >= offset && matched < offset + limit) {
                matched += 1;
                continue;
            }
            consider(normalized(&worker, i), &mut matched);
        }
        for entity in broker_entities {
            let id = entity.get("id").and_then(Json::as_str).unwrap_or_default();
            if selected(id, &types_of(&entity)) {
                consider(entity, &mut matched);
            }
        }
        (matched, page)
    })
    .await
    .map_err(|e| Problem::internal(e.to_string()))?;
    let mut extra = Vec::new();
    if count {
        extra.push(("NGSILD-Results-Count", matched.to_string()));
    }
    // Links to the pages around this one (clause 6.3.10), typed as the answer is.
    let media_type = match ld.media {
        Media::Json => "application/json",
        Media::JsonLd => "application/ld+json",
    };
    let page_link = |rel: &str, at: usize| {
        let mut query: Vec<String> = given
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
    let body = ld.external_entities(&state, Json::Array(page)).await?;
    let body = unpick_id_and_type(body, &given);
    Ok(respond(body, &ld, extra))
}

/// The geo-query of a request (clause 6.3.14), if it has one: `georel`, `geometry` and
/// `coordinates` together, `geoproperty` optional.
fn geo_query(params: &HashMap<String, String>) -> Result<Option<GeoQuery>, Problem> {
    let given = ["georel", "geometry", "coordinates"].map(|k| params.get(k));
    match given {
        [None, None, None] if !params.contains_key("geoproperty") => Ok(None),
        [Some(rel), Some(geometry), Some(coordinates)] => GeoQuery::parse(
            rel,
            geometry,
            coordinates,
            params.get("geoproperty").map(String::as_str),
        )
        .map(Some)
        .map_err(|e| Problem::bad_request(e.to_string())),
        _ => Err(Problem::bad_request(
            "a geo-query needs georel, geometry and coordinates together (clause 6.3.14)",
        )),
    }
}

/// `GET /ngsi-ld/v1/types` (clause 6.25): the entity types the broker holds, the twin's and
/// its own entities'.
pub(super) async fn types(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> NgsiResult {
    check_reader(&state, &headers)?;
    // `details=true` (EntityType objects with their attributes) is not written: refused with
    // every other parameter rather than answered with the plain list.
    check_params(&params, &["local"])?;
    let ld = Ld::from_link(&state, &headers, media(&headers)?)?;
    let own = broker::all(&state)?;
    let mut names: Vec<&str> = state
        .hub
        .city
        .entities()
        .iter()
        .map(|e| entity_type(e.kind()))
        .chain(own.iter().flat_map(types_of))
        .chain(generated::TYPES)
        .collect();
    names.sort_unstable();
    names.dedup();
    let names = ld
        .external_names(&state, names.into_iter().map(str::to_string).collect())
        .await?;
    let body = json!({
        "id": "urn:ngsi-ld:EntityTypeList:citytwin",
        "type": "EntityTypeList",
        "typeList": names,
    });
    Ok(respond(body, &ld, vec![]))
}

/// `POST /ngsi-ld/v1/entityOperations/query` (clause 6.23.3.1): a query given as a body
/// (`{"type": "Query", "entities": [...], "attrs": [...], "q": "...", "geoQ": {...}}`),
/// answered as `GET /entities` with the same selection is, the page parameters in the URL.
pub(super) async fn query_batch(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    request: axum::extract::Request,
) -> NgsiResult {
    check_reader(&state, request.headers())?;
    let (mut headers, ld_body, query) = json_body(&state, request, false).await?;
    check_query_body(&query)?;
    // An ld+json body's @context stands for a Link header: one URL (the core context aside).
    if ld_body {
        let context = query.get("@context").cloned().unwrap_or(Json::Null);
        let Some(url) = super::context::link_url(&context) else {
            return Err(Problem::bad_request(
                "a query body's @context must be one URL (with the core context): inline or several contexts are not supported here",
            ));
        };
        let link = format!("<{url}>; rel=\"http://www.w3.org/ns/json-ld#context\"");
        if let Ok(v) = axum::http::HeaderValue::from_str(&link) {
            headers.insert(axum::http::header::LINK, v);
        }
    }
    let mut params = params;
    let selectors: Vec<&Json> = query["entities"].as_array().into_iter().flatten().collect();
    let member = |m: &str| -> Vec<String> {
        selectors
            .iter()
            .filter_map(|s| s.get(m).and_then(Json::as_str).map(str::to_string))
            .collect()
    };
    let (types, ids, patterns) = (member("type"), member("id"), member("idPattern"));
    // Selectors are ORed: several are one query only when they are types alone.
    if selectors.len() > 1 && (!ids.is_empty() || !patterns.is_empty()) {
        return Err(Problem::bad_request(
            "several entity selectors with ids or idPatterns are not supported: send one query per selector",
        ));
    }
    for (key, list) in [("type", types), ("id", ids), ("idPattern", patterns)] {
        if !list.is_empty() {
            params.insert(key.into(), list.join(","));
        }
    }
    let attrs = string_list(query.get("attrs"));
    if !attrs.is_empty() {
        params.insert("attrs".into(), attrs.join(","));
    }
    if let Some(q) = query.get("q").and_then(Json::as_str) {
        params.insert("q".into(), q.into());
    }
    if let Some(geo) = query.get("geoQ") {
        for key in ["georel", "geometry", "geoproperty"] {
            if let Some(v) = geo.get(key).and_then(Json::as_str) {
                params.insert(key.into(), v.into());
            }
        }
        match geo.get("coordinates") {
            Some(Json::String(c)) => {
                params.insert("coordinates".into(), c.clone());
            }
            Some(c) => {
                params.insert("coordinates".into(), c.to_string());
            }
            None => {}
        }
    }
    query_entities(State(state), headers, Query(params)).await
}

/// A query body's members, each of the type clause 5.2.23 gives it: anything else is refused
/// (400) rather than left out of the query, which would answer another question.
fn check_query_body(query: &Json) -> Result<(), Problem> {
    let Some(members) = query.as_object() else {
        return Err(Problem::bad_request("a query body is a JSON object"));
    };
    if query.get("type").and_then(Json::as_str) != Some("Query") {
        return Err(Problem::bad_request(
            "a query body is {\"type\": \"Query\", …}",
        ));
    }
    for (name, value) in members {
        let ok = match name.as_str() {
            "type" | "@context" => true,
            "entities" => value.as_array().is_some_and(|items| {
                !items.is_empty()
                    && items.iter().all(|e| {
                        e.get("type").and_then(Json::as_str).is_some()
                            && e.as_object().is_some_and(|o| {
                                o.iter().all(|(k, v)| {
                                    matches!(k.as_str(), "type" | "id" | "idPattern")
                                        && v.is_string()
                                })
                            })
                    })
            }),
            "attrs" => value
                .as_array()
                .is_some_and(|items| !items.is_empty() && items.iter().all(Json::is_string)),
            "q" => value.is_string(),
            "geoQ" => value.is_object(),
            other => {
                return Err(Problem::bad_request(format!(
                    "query member `{other}` is not supported by this broker"
                )));
            }
        };
        if !ok {
            return Err(Problem::bad_request(format!(
                "query member `{name}`: {value} is not what clause 5.2.23 gives it (entities: selectors with a type; attrs: names; q: text; geoQ: an object)"
            )));
        }
    }
    Ok(())
}
