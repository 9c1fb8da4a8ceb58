//! Batch entity operations (clause 6.14–6.17): create, upsert, update and delete many entities
//! in one request. Each entity succeeds or fails on its own; a batch with failures answers
//! 207 with a BatchOperationResult (clause 5.2.16): the ids that succeeded and, per failed
//! entity, a ProblemDetails. The twin's assets in a batch are written as readings, all of the
//! batch's in one durable ingest.

use std::collections::HashMap;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value as Json, json};
use twin_core::ngsi_ld::entity;

use super::broker::{self, Owner};
use super::http::{check_params, write_body};
use super::problem::{NgsiResult, Problem};
use super::twin_write;
use super::write::{json_response, option};
use crate::AppState;

/// The outcome of a batch, per entity in request order.
#[derive(Default)]
struct Outcomes {
    success: Vec<String>,
    errors: Vec<(String, Problem)>,
    /// Ids created (upsert answers them).
    created: Vec<String>,
}

/// `POST /ngsi-ld/v1/entityOperations/{operation}`: `create`, `upsert` (`options=update`
/// appends to existing entities, the default `replace` replaces them), `update`
/// (`options=noOverwrite`) and `delete` (a list of ids).
pub(super) async fn batch(
    State(state): State<AppState>,
    Path(operation): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    request: Request,
) -> NgsiResult {
    let allowed: &[&str] = match operation.as_str() {
        "create" | "delete" => &[],
        "upsert" | "update" => &["options"],
        other => {
            return Err(Problem::not_found(format!(
                "no batch operation `{other}` (create, upsert, update, delete)"
            )));
        }
    };
    check_params(&params, allowed)?;
    let (body, _) = write_body(&state, request, false).await?;
    let Json::Array(items) = body else {
        return Err(Problem::bad_request("a batch is a JSON array"));
    };
    if items.is_empty() {
        return Err(Problem::bad_request("an empty batch"));
    }
    if items.len() > state.limits.max_batch {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BadRequestData",
            format!(
                "{} entities in one batch; the limit is {}",
                items.len(),
                state.limits.max_batch
            ),
        ));
    }
    let outcomes = match operation.as_str() {
        "delete" => delete(&state, &items),
        "create" => create(&state, items),
        "upsert" => {
            let update = option(&params, "update", &["update", "replace"])?;
            write(&state, items, Some(!update), false).await?
        }
        _ => {
            let no_overwrite = option(&params, "noOverwrite", &["noOverwrite"])?;
            write(&state, items, None, no_overwrite).await?
        }
    };
    if !outcomes.errors.is_empty() {
        let errors: Vec<Json> = outcomes
            .errors
            .iter()
            .map(|(id, p)| json!({"entityId": id, "error": p.details()}))
            .collect();
        return Ok(json_response(
            StatusCode::MULTI_STATUS,
            json!({"success": outcomes.success, "errors": errors}),
        ));
    }
    Ok(match operation.as_str() {
        "create" => json_response(StatusCode::CREATED, json!(outcomes.success)),
        "upsert" if !outcomes.created.is_empty() => {
            json_response(StatusCode::CREATED, json!(outcomes.created))
        }
        _ => StatusCode::NO_CONTENT.into_response(),
    })
}

/// The id an item names, for its error entry.
fn item_id(item: &Json) -> String {
    item.get("id")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string()
}

fn delete(state: &AppState, items: &[Json]) -> Outcomes {
    let mut out = Outcomes::default();
    for item in items {
        let Some(id) = item.as_str() else {
            out.errors.push((
                item.to_string(),
                Problem::bad_request("a batch delete lists entity ids"),
            ));
            continue;
        };
        let result = match broker::owner(state, id) {
            Ok(Owner::Twin(_)) => Err(Problem::not_supported(format!(
                "{id} is one of the twin's assets"
            ))),
            Ok(Owner::Broker) => broker::delete(state, id),
            Err(p) => Err(p),
        };
        match result {
            Ok(()) => out.success.push(id.to_string()),
            Err(p) => out.errors.push((id.to_string(), p)),
        }
    }
    out
}

fn create(state: &AppState, items: Vec<Json>) -> Outcomes {
    let mut out = Outcomes::default();
    for item in items {
        let id = item_id(&item);
        let result = entity::parse_entity(&item)
            .map_err(|e| Problem::bad_request(e.0))
            .and_then(|body| broker::create(state, body));
        match result {
            Ok(id) => out.success.push(id),
            Err(p) => out.errors.push((id, p)),
        }
    }
    out
}

/// Upsert (`replace` Some: whether existing entities are replaced) or update (`replace`
/// None): broker entities one by one, the twin's assets' attributes as one ingest.
async fn write(
    state: &AppState,
    items: Vec<Json>,
    replace: Option<bool>,
    no_overwrite: bool,
) -> Result<Outcomes, Problem> {
    let mut out = Outcomes::default();
    let mut twin: Vec<(String, usize, Map<String, Json>)> = Vec::new();
    for item in items {
        let id = item_id(&item);
        let body = match entity::parse_entity(&item) {
            Ok(body) if body.id.is_some() => body,
            Ok(_) => {
                out.errors.push((
                    id,
                    Problem::bad_request("an entity in a batch needs its id"),
                ));
                continue;
            }
            Err(e) => {
                out.errors.push((id, Problem::bad_request(e.0)));
                continue;
            }
        };
        let owner = match broker::owner(state, &id) {
            Ok(owner) => owner,
            Err(p) => {
                out.errors.push((id, p));
                continue;
            }
        };
        let result = match (owner, replace) {
            (Owner::Twin(i), _) => {
                twin.push((id, i, body.attributes));
                continue;
            }
            (Owner::Broker, Some(replace_all)) => {
                broker::upsert(state, body, replace_all).map(|created| {
                    if created {
                        out.created.push(id.clone());
                    }
                })
            }
            (Owner::Broker, None) => {
                broker::write_attributes(state, &id, body.attributes, false, no_overwrite).and_then(
                    |r| match r.not_updated.first() {
                        None => Ok(()),
                        Some((name, why)) => Err(Problem::bad_request(format!("{name}: {why}"))),
                    },
                )
            }
        };
        match result {
            Ok(()) => out.success.push(id),
            Err(p) => out.errors.push((id, p)),
        }
    }
    if !twin.is_empty() {
        let writes = twin.iter().map(|(_, i, a)| (*i, a.clone())).collect();
        let results = twin_write::write_attributes(state, writes, no_overwrite).await?;
        for ((id, _, _), result) in twin.into_iter().zip(results) {
            match result.not_updated.first() {
                None => out.success.push(id),
                Some((name, why)) => out
                    .errors
                    .push((id, Problem::bad_request(format!("{name}: {why}")))),
            }
        }
    }
    Ok(out)
}
