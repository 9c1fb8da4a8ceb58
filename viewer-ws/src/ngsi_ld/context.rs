//! A request's @context (clause 6.3.5) and what it means for the names in the request and the
//! answer: terms of the request's context become the twin's internal names on the way in
//! (parameters, `q`, bodies) and go back to terms on the way out, through [`super::jsonld`].
//! With the core context alone (no `Link`, or the core context's URL) names are internal
//! already and nothing is translated.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value as Json};

use super::CORE_CONTEXT;
use super::jsonld::TermMap;
use super::problem::Problem;
use crate::AppState;

/// Members of an entity that are not attributes.
const NOT_ATTRIBUTES: [&str; 4] = ["id", "type", "@context", "scope"];

/// The parameters whose values are lists of terms (entity types, attribute names).
const TERM_PARAMS: [&str; 5] = ["type", "attrs", "pick", "omit", "geoproperty"];

/// What the client accepts (clause 6.3.4): JSON-LD puts the context in the body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Media {
    Json,
    JsonLd,
}

/// A request's media type and @context.
#[derive(Clone)]
pub(super) struct Ld {
    /// What the answer is given as.
    pub media: Media,
    /// The request's own context; None for the core context alone.
    pub terms: Option<Arc<TermMap>>,
}

impl Ld {
    /// The @context of a request from its `Link` header (clause 6.3.5), answered as `media`.
    pub fn from_link(state: &AppState, headers: &HeaderMap, media: Media) -> Result<Ld, Problem> {
        let terms = match link_context(headers) {
            Some(url) => state.ngsi_ld.contexts.terms(&Json::String(url))?,
            None => None,
        };
        Ok(Ld { media, terms })
    }

    /// The @context of an `application/ld+json` body.
    pub fn from_body(state: &AppState, context: &Json, media: Media) -> Result<Ld, Problem> {
        Ok(Ld {
            media,
            terms: state.ngsi_ld.contexts.terms(context)?,
        })
    }

    /// The @context to name in the answer: the request's, else the core one.
    pub fn context(&self) -> Json {
        self.terms
            .as_ref()
            .map_or_else(|| Json::String(CORE_CONTEXT.into()), |t| t.context.clone())
    }

    /// Internal names of `names`, terms of the request's context.
    pub async fn internal(
        &self,
        state: &AppState,
        names: &[String],
    ) -> Result<Vec<String>, Problem> {
        match &self.terms {
            None => Ok(names.to_vec()),
            Some(map) => state.ngsi_ld.contexts.internal(map, names).await,
        }
    }

    /// Rewrite the parameters that carry terms (`type`, `attrs`, `pick`, `omit`,
    /// `geoproperty`) with internal names. Lists keep their separators (`,`, `|`, `;` and
    /// parentheses of the type query language, clause 4.17).
    pub async fn internal_params(
        &self,
        state: &AppState,
        params: &mut HashMap<String, String>,
    ) -> Result<(), Problem> {
        if self.terms.is_none() {
            return Ok(());
        }
        for key in TERM_PARAMS {
            let Some(text) = params.get(key) else {
                continue;
            };
            let tokens = split_terms(text);
            let names: Vec<String> = tokens
                .iter()
                .filter(|(term, _)| *term)
                .map(|(_, t)| t.trim().to_string())
                .collect();
            let internal = self.internal(state, &names).await?;
            let mut internal = internal.into_iter();
            let rebuilt: String = tokens
                .into_iter()
                .map(|(term, t)| {
                    if term {
                        internal.next().unwrap_or(t)
                    } else {
                        t
                    }
                })
                .collect();
            params.insert(key.to_string(), rebuilt);
        }
        Ok(())
    }

    /// Parse `q` (clause 4.9) with its attribute names made internal.
    pub async fn query(
        &self,
        state: &AppState,
        text: &str,
    ) -> Result<twin_core::ngsi_ld::Query, Problem> {
        let mut query = twin_core::ngsi_ld::Query::parse(text)
            .map_err(|e| Problem::bad_request(e.to_string()))?;
        if self.terms.is_some() {
            let names: Vec<String> = query.attributes().into_iter().map(str::to_string).collect();
            let internal = self.internal(state, &names).await?;
            let renames: HashMap<String, String> = names.into_iter().zip(internal).collect();
            query.rename_attributes(&|name| renames.get(name).cloned());
        }
        Ok(query)
    }

    /// An entity, a fragment of one, or a list of them from a request body, with internal
    /// names (attribute and sub-attribute names, types).
    pub async fn internal_entities(&self, state: &AppState, body: Json) -> Result<Json, Problem> {
        match &self.terms {
            None => Ok(body),
            Some(map) => {
                let contexts = &state.ngsi_ld.contexts;
                let names = entity_names(&body);
                let internal = contexts.internal(map, &names).await?;
                Ok(rename_entities(
                    body,
                    &names.into_iter().zip(internal).collect(),
                ))
            }
        }
    }

    /// An entity or a list of them for the answer, with the request's terms.
    pub async fn external_entities(&self, state: &AppState, body: Json) -> Result<Json, Problem> {
        match &self.terms {
            None => Ok(body),
            Some(map) => {
                let contexts = &state.ngsi_ld.contexts;
                let names = entity_names(&body);
                let external = contexts.external(map, &names).await?;
                Ok(rename_entities(
                    body,
                    &names.into_iter().zip(external).collect(),
                ))
            }
        }
    }

    /// Names (types, attribute names) for the answer, with the request's terms.
    pub async fn external_names(
        &self,
        state: &AppState,
        names: Vec<String>,
    ) -> Result<Vec<String>, Problem> {
        match &self.terms {
            None => Ok(names),
            Some(map) => state.ngsi_ld.contexts.external(map, &names).await,
        }
    }
}

/// The one URL a `Link` header can name for `context`: the context itself when it is a URL,
/// the one URL beside the core context in a list, the core context for the core context
/// alone; None for an inline context or several URLs (a `Link` header cannot carry them).
pub(super) fn link_url(context: &Json) -> Option<String> {
    let entries: Vec<&Json> = match context {
        Json::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    let urls: Vec<&str> = entries.iter().filter_map(|e| e.as_str()).collect();
    if urls.len() != entries.len() {
        return None;
    }
    let own: Vec<&str> = urls
        .into_iter()
        .filter(|u| !super::jsonld::is_core(u))
        .collect();
    match own.as_slice() {
        [] => Some(CORE_CONTEXT.to_string()),
        [one] => Some((*one).to_string()),
        _ => None,
    }
}

/// The context URL of a `Link` header with the JSON-LD context relation, if any.
pub(super) fn link_context(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find(|link| link.contains("json-ld#context") || !link.contains("rel="))
        .map(|link| {
            link.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
        .filter(|url| !url.is_empty())
}

/// A list parameter as tokens: (is a term, text), separators kept.
fn split_terms(text: &str) -> Vec<(bool, String)> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if matches!(c, ',' | '|' | ';' | '(' | ')') {
            if !current.trim().is_empty() {
                tokens.push((true, std::mem::take(&mut current)));
            }
            current.clear();
            tokens.push((false, c.to_string()));
        } else {
            current.push(c);
        }
    }
    if !current.trim().is_empty() {
        tokens.push((true, current));
    }
    tokens
}

/// Whether a member's value is an attribute object (normalized or concise, or an instance of
/// a temporal evolution), whose other members are sub-attributes.
fn is_attribute(value: &Map<String, Json>) -> bool {
    ["type", "value", "object", "values", "objects"]
        .iter()
        .any(|k| value.contains_key(*k))
}

/// The names of entities (one or a list): types, attribute and sub-attribute names.
fn entity_names(body: &Json) -> Vec<String> {
    let mut names = Vec::new();
    let entities: Vec<&Map<String, Json>> = match body {
        Json::Array(items) => items.iter().filter_map(Json::as_object).collect(),
        Json::Object(o) => vec![o],
        _ => Vec::new(),
    };
    for entity in entities {
        match entity.get("type") {
            Some(Json::String(t)) => names.push(t.clone()),
            Some(Json::Array(ts)) => {
                names.extend(ts.iter().filter_map(Json::as_str).map(str::to_string))
            }
            _ => {}
        }
        for (name, value) in entity {
            if NOT_ATTRIBUTES.contains(&name.as_str()) {
                continue;
            }
            names.push(name.clone());
            for instance in instances(value) {
                names.extend(instance.keys().cloned());
            }
        }
    }
    names.sort_unstable();
    names.dedup();
    names
}

/// The attribute objects of a member: one, or each of a list (a multi-attribute or a
/// temporal evolution).
fn instances(value: &Json) -> Vec<&Map<String, Json>> {
    match value {
        Json::Object(o) if is_attribute(o) => vec![o],
        Json::Array(items) => items
            .iter()
            .filter_map(Json::as_object)
            .filter(|o| is_attribute(o))
            .collect(),
        _ => Vec::new(),
    }
}

/// Entities with their names renamed.
fn rename_entities(body: Json, renames: &HashMap<String, String>) -> Json {
    let rename = |name: String| renames.get(&name).cloned().unwrap_or(name);
    let rename_attribute = |value: Json| -> Json {
        let one = |o: Map<String, Json>| -> Map<String, Json> {
            if !is_attribute(&o) {
                return o;
            }
            o.into_iter().map(|(k, v)| (rename(k), v)).collect()
        };
        match value {
            Json::Object(o) => Json::Object(one(o)),
            Json::Array(items) => Json::Array(
                items
                    .into_iter()
                    .map(|i| match i {
                        Json::Object(o) => Json::Object(one(o)),
                        other => other,
                    })
                    .collect(),
            ),
            other => other,
        }
    };
    let entity = |e: Map<String, Json>| -> Map<String, Json> {
        e.into_iter()
            .map(|(k, v)| match k.as_str() {
                "type" => {
                    let v = match v {
                        Json::String(t) => Json::String(rename(t)),
                        Json::Array(ts) => Json::Array(
                            ts.into_iter()
                                .map(|t| match t {
                                    Json::String(t) => Json::String(rename(t)),
                                    other => other,
                                })
                                .collect(),
                        ),
                        other => other,
                    };
                    (k, v)
                }
                _ if NOT_ATTRIBUTES.contains(&k.as_str()) => (k, v),
                _ => (rename(k), rename_attribute(v)),
            })
            .collect()
    };
    match body {
        Json::Array(items) => Json::Array(
            items
                .into_iter()
                .map(|i| match i {
                    Json::Object(o) => Json::Object(entity(o)),
                    other => other,
                })
                .collect(),
        ),
        Json::Object(o) => Json::Object(entity(o)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_parameters_keep_their_separators() {
        let tokens = split_terms("(Building;Shop)|Vehicle,a");
        let rebuilt: String = tokens.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(rebuilt, "(Building;Shop)|Vehicle,a");
        let terms: Vec<&str> = tokens
            .iter()
            .filter(|(t, _)| *t)
            .map(|(_, s)| s.as_str())
            .collect();
        assert_eq!(terms, ["Building", "Shop", "Vehicle", "a"]);
    }

    #[test]
    fn entities_rename_types_attributes_and_sub_attributes_but_not_values() {
        let body = json!([{
            "id": "urn:x", "type": ["Building", "Shop"],
            "height": {"type": "Property", "value": {"floors": 3}, "accuracy": {"type": "Property", "value": 1}},
            "history": [{"type": "Property", "value": 2, "observedAt": "2026-01-01T00:00:00Z"}],
            "plain": {"floors": 3},
        }]);
        let names = entity_names(&body);
        assert_eq!(
            names,
            [
                "Building",
                "Shop",
                "accuracy",
                "height",
                "history",
                "observedAt",
                "plain",
                "type",
                "value"
            ]
        );
        let renames: HashMap<String, String> = names
            .iter()
            .map(|n| (n.clone(), format!("ex:{n}")))
            .filter(|(n, _)| !["type", "value", "observedAt"].contains(&n.as_str()))
            .collect();
        let renamed = rename_entities(body, &renames);
        assert_eq!(
            renamed,
            json!([{
                "id": "urn:x", "type": ["ex:Building", "ex:Shop"],
                "ex:height": {"type": "Property", "value": {"floors": 3}, "ex:accuracy": {"type": "Property", "value": 1}},
                "ex:history": [{"type": "Property", "value": 2, "observedAt": "2026-01-01T00:00:00Z"}],
                "ex:plain": {"floors": 3},
            }])
        );
    }

    #[test]
    fn the_link_header_gives_the_context() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LINK,
            "<https://example.org/ctx.jsonld>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
                .parse()
                .expect("header"),
        );
        assert_eq!(
            link_context(&headers).as_deref(),
            Some("https://example.org/ctx.jsonld")
        );
        assert_eq!(link_context(&HeaderMap::new()), None);
    }
}
