//! The twin's own assets as NGSI-LD entities of their Smart Data Models: static attributes
//! from the city's files, live ones from the feed's published state.

use serde_json::{Map, Value as Json, json};
use twin_core::Quantity;
use twin_core::ngsi_ld::model::{ESTIMATED, attribute_name, entity_type, unit_code, urn};
use twin_core::ngsi_ld::smart_data_models::{model_value, nests_value};
use twin_core::quantity::ValueSpec;

use crate::AppState;
use crate::api::layer_slot;

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
            let value = model_value(e.kind(), name, value);
            out.insert(attribute_name(name), static_attribute(city, name, &value));
        }
    }
    for (name, attribute) in state.ngsi_ld.models.extra_attributes(city, i) {
        out.insert(name, attribute);
    }
    if let Some(source) = &e.source_id {
        out.insert(
            "sourceId".into(),
            json!({"type": "Property", "value": source}),
        );
    }
    let live = state.hub.entity_state(i).unwrap_or_default();
    let estimated = state.hub.estimated_fields(i);
    let observed_at = live.get("observedAt").cloned();
    for (name, value) in &live {
        if name == "observedAt" || value.is_null() {
            continue;
        }
        let code = Quantity::for_asset(e.kind(), name).and_then(|q| match q.spec() {
            ValueSpec::Number { unit, .. } => unit_code(unit),
            _ => None,
        });
        let mut attr = if nests_value(e.kind(), name) {
            // The EPANET models give these as an object with the value and its unit.
            let mut inner = json!({"value": value});
            if let Some(code) = code {
                inner["unitCode"] = json!(code);
            }
            json!({"type": "Property", "value": inner})
        } else {
            let mut attr = json!({"type": "Property", "value": value});
            if let Some(code) = code {
                attr["unitCode"] = json!(code);
            }
            attr
        };
        if let Some(at) = &observed_at {
            attr["observedAt"] = at.clone();
        }
        if estimated.contains(name) {
            attr[ESTIMATED] = json!({"type": "Property", "value": true});
        }
        out.insert(attribute_name(name), attr);
    }
    out
}

/// A static attribute: a reference to another of the twin's entities (`ref…` naming an entity
/// id) is a Relationship to its URN, anything else a Property.
pub(super) fn static_attribute(city: &twin_core::CityModel, name: &str, value: &Json) -> Json {
    if name.starts_with("ref")
        && let Some(text) = value.as_str()
        && let Ok(id) = text.parse::<twin_core::EntityId>()
        && let Some(j) = city.entity_index(&id)
    {
        return json!({"type": "Relationship", "object": urn(city.entities()[j].kind(), &id)});
    }
    json!({"type": "Property", "value": value})
}

/// The URN of a twin asset given by its own id (`bin:17`), if it is one.
pub(super) fn urn_of_twin_id(city: &twin_core::CityModel, id: &str) -> Option<String> {
    let id: twin_core::EntityId = id.parse().ok()?;
    let i = city.entity_index(&id)?;
    Some(urn(city.entities()[i].kind(), &id))
}
