//! Writes to one entity (clause 6.4.3.1, 6.5.3, 6.6, 6.7): create, delete, replace and merge an
//! entity; append, update, replace, partially update and delete its attributes.
//!
//! On the twin's assets an attribute write is a reading ([`super::twin_write`]); deleting them,
//! or their attributes, is refused (`OperationNotSupported`): they come from the city's files.
//! Other entities are the broker's own ([`super::broker`]).

use std::collections::HashMap;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json};
use twin_core::ngsi_ld::entity::{self, UpdateResult};
use twin_core::ngsi_ld::{EntityBody, EntityError};

use super::broker::{self, Owner};
use super::context::Ld;
use super::http::Media;
use super::http::{IdAttrPath, IdPath, check_params, check_writer, update_result, write_body};
use super::problem::{NgsiResult, Problem};
use super::twin_write;
use crate::AppState;

fn bad(e: EntityError) -> Problem {
    Problem::bad_request(e.0)
}

/// Whether `options` holds `word` (clause 6.3.7); any other word than those `allowed` is
/// refused.
pub(super) fn option(
    params: &HashMap<String, String>,
    word: &str,
    allowed: &[&str],
) -> Result<bool, Problem> {
    let mut found = false;
    for w in params
        .get("options")
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
    {
        if !allowed.contains(&w) {
            return Err(Problem::invalid(format!(
                "options `{w}` is not supported here ({})",
                allowed.join(", ")
            )));
        }
        found |= w == word;
    }
    Ok(found)
}

/// A fragment for an existing entity: its id, if given, must be the entity's.
fn fragment(body: &Json, id: &str) -> Result<EntityBody, Problem> {
    let fragment = entity::parse_entity(body).map_err(bad)?;
    match &fragment.id {
        Some(other) if other != id => Err(Problem::bad_request(format!(
            "the body is about {other}, the path about {id}"
        ))),
        _ => Ok(fragment),
    }
}

/// Types given in an attribute write are added to the entity's (clause 4.16: an entity may
/// have several types). A twin asset keeps its one type: another is refused (422).
fn add_types(state: &AppState, id: &str, types: &[String]) -> Result<(), Problem> {
    if types.is_empty() {
        return Ok(());
    }
    match broker::owner(state, id)? {
        Owner::Twin(i) => {
            let own = twin_core::ngsi_ld::model::entity_type(state.hub.city.entities()[i].kind());
            match types.iter().find(|t| *t != own) {
                Some(other) => Err(Problem::not_supported(format!(
                    "{id} is one of the twin's assets, of type {own}: it takes no type {other}"
                ))),
                None => Ok(()),
            }
        }
        Owner::Broker => broker::modify(state, id, |stored| {
            let mut all: Vec<String> = entity::types_of(stored)
                .into_iter()
                .map(str::to_string)
                .collect();
            for t in types {
                if !all.contains(t) {
                    all.push(t.clone());
                }
            }
            stored.insert("type".into(), entity::types_value(&all));
            Ok(())
        }),
    }
}

/// Write attributes of any entity: a reading on a twin asset, an append or update of a
/// broker entity.
async fn write_attributes(
    state: &AppState,
    id: &str,
    attributes: Map<String, Json>,
    update: bool,
    no_overwrite: bool,
) -> Result<UpdateResult, Problem> {
    match broker::owner(state, id)? {
        Owner::Twin(i) => {
            Ok(
                twin_write::write_attributes(state, vec![(i, attributes)], no_overwrite)
                    .await?
                    .pop()
                    .unwrap_or_default(),
            )
        }
        Owner::Broker => broker::write_attributes(state, id, attributes, update, no_overwrite),
    }
}

/// `POST /ngsi-ld/v1/entities` (clause 6.4.3.1): create an entity; 201 with its `Location`.
pub(super) async fn create_entity(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    request: Request,
) -> NgsiResult {
    check_params(&params, &[])?;
    let (body, _) = write_body(&state, request, false).await?;
    let body = entity::parse_entity(&body).map_err(bad)?;
    let id = broker::create(&state, body)?;
    let mut response = StatusCode::CREATED.into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/ngsi-ld/v1/entities/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `DELETE /ngsi-ld/v1/entities/{id}` (clause 6.5.3.2).
pub(super) async fn delete_entity(
    State(state): State<AppState>,
    headers: HeaderMap,
    IdPath(id): IdPath,
    Query(params): Query<HashMap<String, String>>,
) -> NgsiResult {
    check_writer(&state, &headers)?;
    check_params(&params, &["type"])?;
    match broker::owner(&state, &id)? {
        Owner::Twin(_) => Err(Problem::not_supported(format!(
            "{id} is one of the twin's assets: they come from the city's network files"
        ))),
        Owner::Broker => {
            broker::delete(&state, &id)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

/// `PUT /ngsi-ld/v1/entities/{id}` (clause 6.5.3.3): replace a broker entity.
pub(super) async fn replace_entity(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Query(params): Query<HashMap<String, String>>,
    request: Request,
) -> NgsiResult {
    check_params(&params, &[])?;
    let (body, _) = write_body(&state, request, false).await?;
    let body = fragment(&body, &id)?;
    match broker::owner(&state, &id)? {
        Owner::Twin(_) => Err(Problem::not_supported(format!(
            "{id} is one of the twin's assets: write its measured attributes, it cannot be replaced"
        ))),
        Owner::Broker => {
            broker::replace(&state, &id, body)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

/// `PATCH /ngsi-ld/v1/entities/{id}` (clause 6.5.3.4, merge entity): attributes merged member
/// by member, new ones added.
pub(super) async fn merge_entity(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Query(params): Query<HashMap<String, String>>,
    request: Request,
) -> NgsiResult {
    check_params(&params, &[])?;
    let (body, _) = write_body(&state, request, true).await?;
    let body = fragment(&body, &id)?;
    let result = match broker::owner(&state, &id)? {
        Owner::Twin(_) => write_attributes(&state, &id, body.attributes, false, false).await?,
        Owner::Broker => broker::modify(&state, &id, |stored| Ok(entity::merge(stored, body)))?,
    };
    Ok(update_result(result))
}

/// `POST /ngsi-ld/v1/entities/{id}/attrs` (clause 6.6.3.1): append attributes
/// (`options=noOverwrite` keeps existing ones).
pub(super) async fn append_attributes(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Query(params): Query<HashMap<String, String>>,
    request: Request,
) -> NgsiResult {
    check_params(&params, &["options"])?;
    let no_overwrite = option(&params, "noOverwrite", &["noOverwrite"])?;
    let (body, _) = write_body(&state, request, false).await?;
    let body = fragment(&body, &id)?;
    add_types(&state, &id, &body.types)?;
    let result = write_attributes(&state, &id, body.attributes, false, no_overwrite).await?;
    Ok(update_result(result))
}

/// `PATCH /ngsi-ld/v1/entities/{id}/attrs` (clause 6.6.3.2): update existing attributes.
pub(super) async fn update_attributes(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Query(params): Query<HashMap<String, String>>,
    request: Request,
) -> NgsiResult {
    check_params(&params, &[])?;
    let (body, _) = write_body(&state, request, false).await?;
    let body = fragment(&body, &id)?;
    add_types(&state, &id, &body.types)?;
    let result = write_attributes(&state, &id, body.attributes, true, false).await?;
    Ok(update_result(result))
}

/// One attribute's write: `PATCH` (partial update, clause 6.7.3.1) merges the members given,
/// `PUT` (replace, clause 6.7.3.3) replaces the attribute. On a twin asset both are a reading.
async fn write_one_attribute(
    state: AppState,
    id: String,
    name: String,
    request: Request,
    replace: bool,
) -> NgsiResult {
    let (mut body, ld) = write_body(&state, request, !replace).await?;
    let name = attribute_name(&state, &ld, name).await?;
    if let Json::Object(o) = &mut body {
        o.remove("@context");
    }
    let attribute = entity::parse_attribute(&name, &body).map_err(bad)?;
    let result = match broker::owner(&state, &id)? {
        Owner::Twin(_) => {
            let attributes = Map::from_iter([(name.clone(), attribute)]);
            write_attributes(&state, &id, attributes, true, false).await?
        }
        Owner::Broker => broker::modify(&state, &id, |stored| {
            if entity::is_null_attribute(&attribute) && replace {
                return Err(Problem::bad_request(format!(
                    "{name}: NGSI-LD Null deletes an attribute in a partial update (PATCH), not in a replacement"
                )));
            }
            if entity::is_null_attribute(&attribute) && stored.remove(&name).is_some() {
                return Ok(UpdateResult {
                    updated: vec![name.clone()],
                    not_updated: Vec::new(),
                });
            }
            let Some(old) = stored.get_mut(&name) else {
                return Err(Problem::not_found(format!("{id} has no attribute {name}")));
            };
            if replace {
                *old = attribute;
            } else {
                entity::merge_attribute(old, attribute);
            }
            Ok(UpdateResult {
                updated: vec![name.clone()],
                not_updated: Vec::new(),
            })
        })?,
    };
    match result.not_updated.first() {
        None => Ok(StatusCode::NO_CONTENT.into_response()),
        Some((_, why)) => Err(Problem::bad_request(why.clone())),
    }
}

/// `PATCH /ngsi-ld/v1/entities/{id}/attrs/{attrId}` (clause 6.7.3.1).
pub(super) async fn partial_update_attribute(
    State(state): State<AppState>,
    IdAttrPath(id, name): IdAttrPath,
    Query(params): Query<HashMap<String, String>>,
    request: Request,
) -> NgsiResult {
    check_params(&params, &[])?;
    write_one_attribute(state, id, name, request, false).await
}

/// `PUT /ngsi-ld/v1/entities/{id}/attrs/{attrId}` (clause 6.7.3.3).
pub(super) async fn replace_attribute(
    State(state): State<AppState>,
    IdAttrPath(id, name): IdAttrPath,
    Query(params): Query<HashMap<String, String>>,
    request: Request,
) -> NgsiResult {
    check_params(&params, &[])?;
    write_one_attribute(state, id, name, request, true).await
}

/// `DELETE /ngsi-ld/v1/entities/{id}/attrs/{attrId}` (clause 6.7.3.2).
pub(super) async fn delete_attribute(
    State(state): State<AppState>,
    headers: HeaderMap,
    IdAttrPath(id, name): IdAttrPath,
    Query(params): Query<HashMap<String, String>>,
) -> NgsiResult {
    check_writer(&state, &headers)?;
    check_params(&params, &[])?;
    let ld = Ld::from_link(&state, &headers, Media::Json)?;
    let name = attribute_name(&state, &ld, name).await?;
    match broker::owner(&state, &id)? {
        Owner::Twin(_) => Err(Problem::not_supported(format!(
            "{id} is one of the twin's assets: its attributes cannot be deleted"
        ))),
        Owner::Broker => {
            broker::modify(&state, &id, |stored| {
                stored
                    .remove(&name)
                    .map(|_| ())
                    .ok_or_else(|| Problem::not_found(format!("{id} has no attribute {name}")))
            })?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

/// Answer for writes nobody routes elsewhere: the body is JSON already shaped.
pub(super) fn json_response(status: StatusCode, body: Json) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The internal name of an attribute named in a path, a term of the request's @context.
async fn attribute_name(state: &AppState, ld: &Ld, name: String) -> Result<String, Problem> {
    Ok(ld
        .internal(state, std::slice::from_ref(&name))
        .await?
        .pop()
        .unwrap_or(name))
}
