//! The broker's own entities: those of types that are not the twin's assets (a building, a
//! weather station a partner registers, …), kept in normalized form in the store's NGSI-LD
//! documents, durable when a write returns.
//!
//! Ids of the twin's assets and types of the twin's assets are not the broker's to create:
//! the twin's assets come from the city's network files.

use serde_json::{Map, Value as Json};
use twin_actors::store::Documents;
use twin_core::ngsi_ld::EntityBody;
use twin_core::ngsi_ld::entity::{self, UpdateResult, types_of};
use twin_core::ngsi_ld::model::{entity_of_urn, kinds_of_type};

use super::problem::Problem;
use crate::AppState;

/// The store's NGSI-LD entities, while the twin runs.
pub(super) fn documents(state: &AppState) -> Result<Documents, Problem> {
    state
        .hub
        .twin
        .store_handles()
        .map(|h| h.ngsi_ld_entities)
        .ok_or_else(|| Problem::internal("the twin is not running"))
}

fn store_problem(e: twin_actors::store::StoreError) -> Problem {
    Problem::internal(format!("the store: {e}"))
}

/// Where an entity id lives.
pub(super) enum Owner {
    /// One of the twin's assets (its index in the city).
    Twin(usize),
    /// The broker's own.
    Broker,
}

/// Which side an id belongs to (the broker's own whether or not it exists); the entities the
/// twin derives (roads, key figures, alerts, reports) are not written: 422.
pub(super) fn owner(state: &AppState, id: &str) -> Result<Owner, Problem> {
    match entity_of_urn(&state.hub.city, id) {
        Some(i) => Ok(Owner::Twin(i)),
        None if super::generated::owns(id) => Err(Problem::not_supported(format!(
            "{id} is of a type the twin derives (roads, key figures, alerts, citizens' reports): not written through the API"
        ))),
        None => Ok(Owner::Broker),
    }
}

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("no entity {id}"))
}

/// A broker entity in normalized form.
pub(super) fn get(state: &AppState, id: &str) -> Result<Option<Map<String, Json>>, Problem> {
    Ok(documents(state)?
        .get(id)
        .map_err(store_problem)?
        .and_then(|d| d.as_object().cloned()))
}

/// Every broker entity, in id order.
pub(super) fn all(state: &AppState) -> Result<Vec<Map<String, Json>>, Problem> {
    Ok(documents(state)?
        .all()
        .map_err(store_problem)?
        .into_iter()
        .filter_map(|(_, d)| d.as_object().cloned())
        .collect())
}

/// Refuse an entity the broker must not hold: a twin asset's id or type.
fn check_not_twin(state: &AppState, body: &EntityBody) -> Result<(), Problem> {
    if let Some(id) = &body.id
        && entity_of_urn(&state.hub.city, id).is_some()
    {
        return Err(Problem::already_exists(format!(
            "{id} is one of the twin's assets"
        )));
    }
    if let Some(id) = &body.id
        && super::generated::owns(id)
    {
        return Err(Problem::not_supported(format!(
            "{id} is of a type the twin derives (roads, key figures, alerts, citizens' reports): not written through the API"
        )));
    }
    if let Some(t) = body
        .types
        .iter()
        .find(|t| !kinds_of_type(t).is_empty() || super::generated::TYPES.contains(&t.as_str()))
    {
        return Err(Problem::not_supported(format!(
            "{t} entities are the twin's assets: they come from the city's network files, not from the API"
        )));
    }
    Ok(())
}

/// Create an entity (clause 5.6.1): 409 AlreadyExists when the id is taken.
pub(super) fn create(state: &AppState, body: EntityBody) -> Result<String, Problem> {
    let (Some(id), false) = (body.id.clone(), body.types.is_empty()) else {
        return Err(Problem::bad_request(
            "an entity to create needs id and type",
        ));
    };
    check_not_twin(state, &body)?;
    entity::refuse_nulls(&body).map_err(|e| Problem::bad_request(e.0))?;
    let docs = documents(state)?;
    let write = docs.write();
    if write.get(&id).map_err(store_problem)?.is_some() {
        return Err(Problem::already_exists(format!("{id} exists")));
    }
    let entity = body.into_normalized();
    write
        .put(&id, &Json::Object(entity.clone()))
        .map_err(store_problem)?;
    notify(state, None, entity);
    Ok(id)
}

/// Tell the subscriptions' engine a broker entity changed: the attributes that differ from
/// `before` (all of a new entity).
fn notify(state: &AppState, before: Option<&Map<String, Json>>, after: Map<String, Json>) {
    let changed: Vec<String> = after
        .iter()
        .filter(|(k, v)| {
            !matches!(k.as_str(), "id" | "type") && before.is_none_or(|b| b.get(*k) != Some(*v))
        })
        .map(|(k, _)| k.clone())
        .collect();
    if !changed.is_empty() {
        state.ngsi_ld.notifier.broker_changed(after, changed);
    }
}

/// Read an entity, change it with `change` and keep it (one write at a time): 404 when it
/// does not exist.
pub(super) fn modify<T>(
    state: &AppState,
    id: &str,
    change: impl FnOnce(&mut Map<String, Json>) -> Result<T, Problem>,
) -> Result<T, Problem> {
    let docs = documents(state)?;
    let write = docs.write();
    let mut entity = write
        .get(id)
        .map_err(store_problem)?
        .and_then(|d| d.as_object().cloned())
        .ok_or_else(|| not_found(id))?;
    let before = entity.clone();
    let answer = change(&mut entity)?;
    write
        .put(id, &Json::Object(entity.clone()))
        .map_err(store_problem)?;
    notify(state, Some(&before), entity);
    Ok(answer)
}

/// Delete an entity (clause 5.6.6).
pub(super) fn delete(state: &AppState, id: &str) -> Result<(), Problem> {
    let docs = documents(state)?;
    if docs.write().remove(id).map_err(store_problem)? {
        Ok(())
    } else {
        Err(not_found(id))
    }
}

/// Replace an entity (clause 5.6.18): every attribute replaced, its id kept.
pub(super) fn replace(state: &AppState, id: &str, body: EntityBody) -> Result<(), Problem> {
    check_not_twin(state, &body)?;
    entity::refuse_nulls(&body).map_err(|e| Problem::bad_request(e.0))?;
    modify(state, id, |stored| {
        let types = if body.types.is_empty() {
            types_of(stored).into_iter().map(str::to_string).collect()
        } else {
            body.types.clone()
        };
        *stored = EntityBody {
            id: Some(id.to_string()),
            types,
            attributes: body.attributes,
        }
        .into_normalized();
        Ok(())
    })
}

/// Upsert (batch, clause 5.6.8): create, or when the entity exists replace it (`replace`) or
/// update it by appending its attributes. Whether it was created.
pub(super) fn upsert(
    state: &AppState,
    body: EntityBody,
    replace_all: bool,
) -> Result<bool, Problem> {
    let Some(id) = body.id.clone() else {
        return Err(Problem::bad_request("an entity needs its id"));
    };
    check_not_twin(state, &body)?;
    // An upsert creates, replaces or appends: NGSI-LD Null has nothing to delete in any.
    entity::refuse_nulls(&body).map_err(|e| Problem::bad_request(e.0))?;
    let docs = documents(state)?;
    let write = docs.write();
    let stored = write
        .get(&id)
        .map_err(store_problem)?
        .and_then(|d| d.as_object().cloned());
    let before = stored.clone();
    let (created, entity) = match stored {
        None => {
            if body.types.is_empty() {
                return Err(Problem::bad_request(format!(
                    "{id}: a new entity needs its type"
                )));
            }
            (true, body.into_normalized())
        }
        Some(mut stored) if !replace_all => {
            if !body.types.is_empty() {
                stored.insert("type".into(), entity::types_value(&body.types));
            }
            entity::append(&mut stored, body.attributes, false);
            (false, stored)
        }
        Some(stored) => {
            let mut body = body;
            if body.types.is_empty() {
                body.types = types_of(&stored).into_iter().map(str::to_string).collect();
            }
            (false, body.into_normalized())
        }
    };
    write
        .put(&id, &Json::Object(entity.clone()))
        .map_err(store_problem)?;
    notify(state, before.as_ref(), entity);
    Ok(created)
}

/// Append (`update == false`) or update attributes of a broker entity.
pub(super) fn write_attributes(
    state: &AppState,
    id: &str,
    attributes: Map<String, Json>,
    update: bool,
    no_overwrite: bool,
) -> Result<UpdateResult, Problem> {
    modify(state, id, |stored| {
        Ok(if update {
            entity::update(stored, attributes)
        } else {
            entity::append(stored, attributes, no_overwrite)
        })
    })
}
