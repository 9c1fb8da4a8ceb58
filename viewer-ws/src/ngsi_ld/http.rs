//! What every NGSI-LD request is checked for (role, media type, @context, parameters) and how
//! answers are shaped (the entity formats of clause 4.5, the @context per clause 6.3.5).

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};

use super::context::Ld;
pub(super) use super::context::Media;
use super::{CORE_CONTEXT, Problem};
use crate::AppState;
use crate::api::{authorize, bearer};
use crate::auth::Role;

/// Reads follow the twin's `open_reads`, as its own API does.
pub(super) fn check_reader(state: &AppState, headers: &HeaderMap) -> Result<(), Problem> {
    authorize(state, bearer(headers), Role::Viewer)
        .map(|_| ())
        .map_err(|e| Problem::new(e.status, "", e.message))
}

/// The representation asked for (clause 6.3.7): `format=` or the older `options=`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Format {
    Normalized,
    Concise,
    KeyValues,
}

pub(super) fn media(headers: &HeaderMap) -> Result<Media, Problem> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Media::Json);
    };
    // Each media range with its weight (RFC 9110 clause 12.5.1): the highest weight wins, a
    // weight of 0 means "not this", and at one weight JSON comes before JSON-LD.
    let ranges: Vec<(String, f32)> = accept
        .split(',')
        .map(|range| {
            let mut parts = range.split(';');
            let kind = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let weight = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (kind, weight)
        })
        .collect();
    let refused = |kind: &str| ranges.iter().any(|(k, w)| k == kind && *w <= 0.0);
    let mut best: Option<(f32, Media)> = None;
    for (kind, weight) in &ranges {
        let weight = *weight;
        let media = match kind.as_str() {
            "application/json" => Media::Json,
            "application/ld+json" => Media::JsonLd,
            // A wildcard is the first type not refused.
            "*/*" | "application/*" if !refused("application/json") => Media::Json,
            "*/*" | "application/*" if !refused("application/ld+json") => Media::JsonLd,
            _ => continue,
        };
        if weight > 0.0
            && best.is_none_or(|(w, m)| {
                weight > w || (weight == w && media == Media::Json && m != Media::Json)
            })
        {
            best = Some((weight, media));
        }
    }
    best.map(|(_, m)| m).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_ACCEPTABLE,
            "InvalidRequest",
            format!(
                "Accept `{accept}`: this broker answers application/json or application/ld+json"
            ),
        )
    })
}

/// An entity or subscription id from the path, checked to be a URI (clause 4.5.1; 400
/// `BadRequestData` otherwise, before anything is looked up).
pub(super) struct IdPath(pub String);

/// An entity id and an attribute name from the path, the id checked as [`IdPath`] does.
pub(super) struct IdAttrPath(pub String, pub String);

fn check_uri(id: &str) -> Result<(), Problem> {
    if twin_core::ngsi_ld::entity::is_uri(id) {
        Ok(())
    } else {
        Err(Problem::bad_request(format!("`{id}` is not a URI")))
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IdPath {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Problem> {
        let axum::extract::Path(id) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|e| Problem::bad_request(e.to_string()))?;
        check_uri(&id)?;
        Ok(IdPath(id))
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IdAttrPath {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Problem> {
        let axum::extract::Path((id, name)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|e| Problem::bad_request(e.to_string()))?;
        check_uri(&id)?;
        Ok(IdAttrPath(id, name))
    }
}

/// The words of `format` and the older `options` (clause 6.3.7), in order.
pub(super) fn format_words(params: &HashMap<String, String>) -> impl Iterator<Item = &str> {
    params
        .get("format")
        .into_iter()
        .chain(params.get("options"))
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The entity format asked for. `sysAttrs` is refused: the twin keeps no createdAt or
/// modifiedAt to give.
pub(super) fn parse_format(params: &HashMap<String, String>) -> Result<Format, Problem> {
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
/// @context and its parameters. Returns the media type to answer in and the @context.
pub(super) fn read_request(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    allowed: &[&str],
) -> Result<Ld, Problem> {
    check_reader(state, headers)?;
    let media = media(headers)?;
    let ld = Ld::from_link(state, headers, media)?;
    check_params(params, allowed)?;
    Ok(ld)
}

pub(super) fn check_params(
    params: &HashMap<String, String>,
    allowed: &[&str],
) -> Result<(), Problem> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Problem::invalid(format!(
            "parameter `{k}` is not supported here (supported: {})",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

/// The strings of a JSON array member (none when it is absent or not an array).
pub(super) fn string_list(value: Option<&Json>) -> Vec<String> {
    value
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
        .map(str::to_string)
        .collect()
}

/// The attribute names a request picks (`attrs` or `pick`), if it limits them.
pub(super) fn picked(params: &HashMap<String, String>) -> Option<Vec<String>> {
    let list = params.get("pick").or_else(|| params.get("attrs"))?;
    Some(
        list.split([',', '|'])
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

/// Check `pick` (clause 4.21): a comma-separated list of entity members (attribute names, `id`,
/// `type`). Nested projections (`{…}`) and other separators are refused (400).
pub(super) fn check_pick(params: &HashMap<String, String>) -> Result<(), Problem> {
    if let Some(attrs) = params.get("attrs")
        && attrs.split(',').any(|a| matches!(a.trim(), "id" | "type"))
    {
        return Err(Problem::bad_request(
            "attrs names attributes; id and type are entity members (pick them)",
        ));
    }
    if params.contains_key("pick") && params.contains_key("attrs") {
        return Err(Problem::bad_request(
            "pick and attrs cannot be given together (clause 4.21)",
        ));
    }
    if params.contains_key("omit") && (params.contains_key("pick") || params.contains_key("attrs"))
    {
        return Err(Problem::bad_request(
            "omit cannot be given with pick or attrs (clause 4.21)",
        ));
    }
    let Some(list) = params.get("pick").or_else(|| params.get("omit")) else {
        return Ok(());
    };
    let valid = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/' | '#'))
    };
    match list.split(',').map(str::trim).find(|n| !valid(n)) {
        None => Ok(()),
        Some(bad) => Err(Problem::bad_request(format!(
            "pick/omit `{list}`: `{bad}` is not a member name (a comma-separated list of names; nested projections are not supported)"
        ))),
    }
}

/// With `pick`, `id` and `type` are members like the others: kept only when picked (with
/// `attrs` they are always kept). `omit` (clause 4.21) leaves out the members it names, `id`
/// and `type` included.
pub(super) fn unpick_id_and_type(rendered: Json, params: &HashMap<String, String>) -> Json {
    let list = |key: &str| -> Option<Vec<String>> {
        params
            .get(key)
            .map(|l| l.split(',').map(|m| m.trim().to_string()).collect())
    };
    let (picked, omitted) = (list("pick"), list("omit"));
    if picked.is_none() && omitted.is_none() {
        return rendered;
    }
    let strip = |mut entity: Json| {
        if let Some(o) = entity.as_object_mut() {
            if let Some(picked) = &picked {
                for member in ["id", "type"] {
                    if !picked.iter().any(|p| p == member) {
                        o.remove(member);
                    }
                }
            }
            for member in omitted.iter().flatten() {
                o.remove(member);
            }
        }
        entity
    };
    match rendered {
        Json::Array(items) => Json::Array(items.into_iter().map(strip).collect()),
        one => strip(one),
    }
}

/// An entity in the format asked for, with only the picked attributes (id and type always).
pub(super) fn render(
    mut entity: Map<String, Json>,
    format: Format,
    pick: Option<&[String]>,
) -> Json {
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

/// Answer a body with the request's context as clause 6.3.5 says: a `Link` header for JSON,
/// `@context` in the body for JSON-LD.
pub(super) fn respond(body: Json, ld: &Ld, extra: Vec<(&'static str, String)>) -> Response {
    let media = ld.media;
    let context = ld.context();
    let body = match (media, body) {
        (Media::JsonLd, Json::Object(mut o)) => {
            o.insert("@context".into(), context.clone());
            Json::Object(o)
        }
        (Media::JsonLd, Json::Array(items)) => Json::Array(
            items
                .into_iter()
                .map(|item| match item {
                    Json::Object(mut o) => {
                        o.insert("@context".into(), context.clone());
                        Json::Object(o)
                    }
                    other => other,
                })
                .collect(),
        ),
        (_, body) => body,
    };
    // A Link header names one document (an inline context cannot be named: the core one is,
    // and the body's terms are then full IRIs only where the request's were).
    let link_url = super::context::link_url(&context).unwrap_or_else(|| CORE_CONTEXT.to_string());
    let mut response = body.to_string().into_response();
    let headers = response.headers_mut();
    let content_type = match media {
        Media::Json => "application/json",
        Media::JsonLd => "application/ld+json",
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if media == Media::Json
        && let Ok(link) = HeaderValue::from_str(&format!(
            "<{link_url}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
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

/// Percent-encode a query value for a `Link` URL (RFC 3986 unreserved characters kept).
pub(super) fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Writes need the operator role, as the twin's own write paths do, unless the tokens file
/// opens NGSI-LD writes (`open_ngsi_ld_writes`, for a broker on a trusted network).
pub(super) fn check_writer(state: &AppState, headers: &HeaderMap) -> Result<(), Problem> {
    let token = bearer(headers);
    if token.is_none() && state.auth.open_ngsi_ld_writes {
        return Ok(());
    }
    authorize(state, token, Role::Operator)
        .map(|_| ())
        .map_err(|e| Problem::new(e.status, "", e.message))
}

/// The JSON body of a write, after the checks every write makes (clause 6.3.6): the writer's
/// role; a `Content-Type` of `application/json` (the @context in the `Link` header, none in
/// the body), `application/ld+json` (the @context in the body) or, where `merge_patch`,
/// `application/merge-patch+json`; a @context this broker understands; the size and deadline
/// limits of the twin's other bodies; UTF-8 JSON without repeated keys.
pub(super) async fn write_body(
    state: &AppState,
    request: axum::extract::Request,
    merge_patch: bool,
) -> Result<(Json, Ld), Problem> {
    check_writer(state, request.headers())?;
    let (headers, ld, body) = json_body(state, request, merge_patch).await?;
    // The answer's media type (a write's answer is mostly empty, errors aside).
    let answer_media = media(&headers).unwrap_or(Media::Json);
    let contexts: Vec<&Json> = match &body {
        Json::Object(o) => o.get("@context").into_iter().collect(),
        Json::Array(items) => items.iter().filter_map(|i| i.get("@context")).collect(),
        _ => Vec::new(),
    };
    // A batch delete's body is a list of ids: there are no terms to give a context for.
    let only_ids = body
        .as_array()
        .is_some_and(|items| items.iter().all(Json::is_string));
    let context = match (ld && !only_ids, contexts.as_slice()) {
        (false, [_, ..]) => {
            return Err(Problem::bad_request(
                "an application/json body carries no @context: give it in the Link header, or send application/ld+json",
            ));
        }
        (true, []) => {
            return Err(Problem::bad_request(
                "an application/ld+json body needs its @context",
            ));
        }
        (true, [first, rest @ ..]) => {
            if rest.iter().any(|c| c != first) {
                return Err(Problem::bad_request(
                    "the entities of one request name different @contexts: send them in separate requests",
                ));
            }
            Some((*first).clone())
        }
        (false, []) => None,
    };
    let ld = match context {
        Some(context) => Ld::from_body(state, &context, answer_media)?,
        None => Ld::from_link(state, &headers, answer_media)?,
    };
    let body = ld.internal_entities(state, strip_context(body)).await?;
    Ok((body, ld))
}

/// The JSON body of a request as every NGSI-LD body is read (clause 6.3.6): a `Content-Type`
/// of `application/json`, `application/ld+json` or, where `merge_patch`,
/// `application/merge-patch+json` (415 otherwise); no `Link` header beside a JSON-LD body;
/// the size and deadline limits of the twin's other bodies; UTF-8 JSON without repeated keys.
/// Returns the headers, whether the body is JSON-LD, and the body.
pub(super) async fn json_body(
    state: &AppState,
    request: axum::extract::Request,
    merge_patch: bool,
) -> Result<(HeaderMap, bool, Json), Problem> {
    let headers = request.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let ld = match content_type.as_str() {
        "application/json" => false,
        "application/merge-patch+json" if merge_patch => false,
        "application/ld+json" => true,
        other => {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "InvalidRequest",
                format!("Content-Type `{other}`: send application/json or application/ld+json"),
            ));
        }
    };
    // Clause 6.3.5: a JSON-LD body carries its context, so a Link header beside it is an
    // error, not a second context.
    if ld && super::context::link_context(&headers).is_some() {
        return Err(Problem::bad_request(
            "an application/ld+json body carries its @context: send no Link header with it",
        ));
    }
    let limit = state.limits.max_body_bytes;
    let bytes = crate::api::read_body(
        request,
        limit,
        state.limits.connections.body_timeout,
        "body_too_large",
        format!("the body exceeds {limit} bytes; send smaller batches"),
    )
    .await
    .map_err(|e| Problem::new(e.status, "InvalidRequest", e.message))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        Problem::invalid(format!(
            "byte {} of the body is not UTF-8",
            e.valid_up_to() + 1
        ))
    })?;
    let body: Json = twin_core::formats::json::from_str_strict(text)
        .map_err(|e| Problem::invalid(format!("the body is not JSON: {e}")))?;
    Ok((headers, ld, body))
}

/// A body without its `@context` members (taken into account already).
fn strip_context(body: Json) -> Json {
    match body {
        Json::Object(mut o) => {
            o.remove("@context");
            Json::Object(o)
        }
        Json::Array(items) => Json::Array(items.into_iter().map(strip_context).collect()),
        other => other,
    }
}

/// A write's result for its attributes (clause 5.2.18): 204 when every attribute was written,
/// else 207 with `updated` and `notUpdated` (each with its reason).
pub(super) fn update_result(result: twin_core::ngsi_ld::entity::UpdateResult) -> Response {
    if result.not_updated.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let body = json!({
        "updated": result.updated,
        "notUpdated": result.not_updated.iter().map(|(name, reason)| json!({
            "attributeName": name,
            "reason": reason,
        })).collect::<Vec<_>>(),
    });
    let mut response = (StatusCode::MULTI_STATUS, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A whole-number parameter (`limit`, `offset`, …): `default` when absent, at most `max`.
pub(super) fn number_param(
    params: &HashMap<String, String>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, Problem> {
    params.get(name).map_or(Ok(default), |t| {
        t.parse::<usize>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| {
                Problem::bad_request(format!("{name} `{t}` is not a whole number up to {max}"))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<Media> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().expect("header"));
        media(&headers).ok()
    }

    #[test]
    fn accept_weights_choose_the_media_type() {
        assert_eq!(accept("application/json"), Some(Media::Json));
        assert_eq!(accept("application/ld+json"), Some(Media::JsonLd));
        assert_eq!(
            accept("application/json;q=0.1, application/ld+json;q=0.9"),
            Some(Media::JsonLd)
        );
        assert_eq!(
            accept("application/ld+json, application/json"),
            Some(Media::Json)
        );
        assert_eq!(accept("application/json;q=0, */*"), Some(Media::JsonLd));
        assert_eq!(accept("text/csv, */*;q=0.5"), Some(Media::Json));
        assert_eq!(accept("text/csv"), None);
        assert_eq!(accept("application/json;q=0"), None);
    }
}
