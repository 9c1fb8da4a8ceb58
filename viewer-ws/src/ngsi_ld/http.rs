//! What every NGSI-LD request is checked for (role, media type, @context, parameters) and how
//! answers are shaped (the entity formats of clause 4.5, the @context per clause 6.3.5).

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};

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

/// What the client accepts (clause 6.3.4): JSON-LD puts the context in the body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Media {
    Json,
    JsonLd,
}

pub(super) fn media(headers: &HeaderMap) -> Result<Media, Problem> {
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
pub(super) fn check_context(headers: &HeaderMap) -> Result<(), Problem> {
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
/// @context and its parameters. Returns the media type to answer in.
pub(super) fn read_request(
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

/// Answer a body with the context as clause 6.3.5 says: a `Link` header for JSON, `@context`
/// in the body for JSON-LD.
pub(super) fn respond(body: Json, media: Media, extra: Vec<(&'static str, String)>) -> Response {
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
