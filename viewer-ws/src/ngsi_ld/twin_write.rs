//! Writes to the twin's own assets: an attribute written through NGSI-LD is a reading, and goes
//! through the one validation path every reading takes (`LiveTwin::ingest_durable`), counted
//! and answered like the twin's other sources. Static attributes (from the city's files) are
//! not writable: giving the value they have changes nothing, another value is not updated,
//! with the reason.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};
use twin_actors::twin::Rejection;
use twin_core::Quantity;
use twin_core::id::AssetKind;
use twin_core::ngsi_ld::entity::UpdateResult;
use twin_core::ngsi_ld::model::{attribute_name, is_estimate, unit_code};
use twin_core::ngsi_ld::smart_data_models::nests_value;
use twin_core::quantity::ValueSpec;
use twin_core::reading::RawReading;

use super::problem::Problem;
use super::twin_entity::normalized;
use crate::AppState;

/// The twin's quantity an NGSI-LD attribute name stands for (`socketStatus_2` is
/// `socketStatus.2`, see `model::attribute_name`), if the asset kind has it.
pub(super) fn quantity_name(kind: AssetKind, attribute: &str) -> Option<String> {
    if Quantity::for_asset(kind, attribute).is_some() {
        return Some(attribute.to_string());
    }
    let (base, n) = attribute.rsplit_once('_')?;
    let dotted = format!("{base}.{n}");
    (n.chars().all(|c| c.is_ascii_digit()) && Quantity::for_asset(kind, &dotted).is_some())
        .then_some(dotted)
}

/// What one attribute of a write to a twin asset becomes.
enum Outcome {
    /// A reading for the validation path.
    Reading(RawReading),
    /// Written already (a static attribute given the value it has).
    Unchanged,
    /// Not written, and why.
    Refused(String),
}

/// Decide what one attribute (normalized) of entity `i` becomes. Unknown names go to the
/// validation path as readings, which rejects and counts them like any other source's.
fn outcome(
    state: &AppState,
    i: usize,
    current: &Map<String, Json>,
    name: &str,
    attribute: &Json,
    no_overwrite: bool,
) -> Outcome {
    let e = &state.hub.city.entities()[i];
    let kind = e.kind();
    let quantity = quantity_name(kind, name);
    let estimated = state.hub.entity_state(i).is_some_and(|live| {
        live.keys()
            .any(|k| k != "observedAt" && attribute_name(k) == name)
    });
    if quantity.is_none() && estimated {
        return Outcome::Refused(format!(
            "{name} is estimated by the twin's own models; only measured quantities are written"
        ));
    }
    if quantity.is_none()
        && let Some(have) = current.get(name)
    {
        let same = ["value", "object"]
            .iter()
            .all(|m| have.get(m) == attribute.get(m));
        return if same {
            Outcome::Unchanged
        } else {
            Outcome::Refused(format!(
                "{name} is a static attribute of this asset, from the city's network files; it is not written through the API"
            ))
        };
    }
    if is_estimate(attribute) {
        return Outcome::Refused(format!(
            "{name} is marked as an estimate (`estimated`): only measurements are taken as readings"
        ));
    }
    if no_overwrite && current.contains_key(name) {
        return Outcome::Refused("the attribute exists and noOverwrite was asked".into());
    }
    if attribute.get("type").and_then(Json::as_str) != Some("Property") {
        return Outcome::Refused(format!(
            "{name}: a measured attribute is a Property with a value"
        ));
    }
    let Some(mut value) = attribute.get("value") else {
        return Outcome::Refused(format!("{name}: a Property needs a value"));
    };
    // The EPANET models nest measured values: `{"value": x, "unitCode": …}` (the form the twin
    // answers in) is taken as `x` in that unit.
    let nested_unit = match value {
        Json::Object(inner) if nests_value(kind, name) && inner.contains_key("value") => {
            let unit = inner.get("unitCode").cloned();
            value = &inner["value"];
            unit
        }
        _ => None,
    };
    let unit_given = attribute
        .get("unitCode")
        .or(nested_unit.as_ref())
        .and_then(Json::as_str);
    if let Some(given) = unit_given {
        let ours = quantity
            .as_deref()
            .and_then(|q| Quantity::for_asset(kind, q))
            .and_then(|q| match q.spec() {
                ValueSpec::Number { unit, .. } => Some((unit, unit_code(unit))),
                _ => None,
            });
        match ours {
            Some((_, Some(code))) if code == given => {}
            Some((unit, code)) => {
                return Outcome::Refused(format!(
                    "{name}: unitCode {given}, but the twin keeps it in {unit}{}; convert the value",
                    code.map(|c| format!(" ({c})")).unwrap_or_default()
                ));
            }
            None => {
                return Outcome::Refused(format!(
                    "{name}: unitCode {given} given for a value without a unit"
                ));
            }
        }
    }
    let observed_at = attribute
        .get("observedAt")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    Outcome::Reading(RawReading {
        entity: e.id.to_string(),
        observed_at,
        values: BTreeMap::from([(quantity.unwrap_or_else(|| name.to_string()), value.clone())]),
    })
}

/// Write attributes of twin assets: `writes` holds, per entity (its index in the city), its
/// attributes in normalized form. All readings go to the twin in one durable batch; the
/// answer is each entity's result, in the order given.
pub(super) async fn write_attributes(
    state: &AppState,
    writes: Vec<(usize, Map<String, Json>)>,
    no_overwrite: bool,
) -> Result<Vec<UpdateResult>, Problem> {
    let mut results = vec![UpdateResult::default(); writes.len()];
    let mut readings = Vec::new();
    // Which entity and attribute each reading is.
    let mut of_reading: Vec<(usize, String)> = Vec::new();
    for (k, (i, attributes)) in writes.into_iter().enumerate() {
        let current = normalized(state, i);
        for (name, attribute) in attributes {
            match outcome(state, i, &current, &name, &attribute, no_overwrite) {
                Outcome::Reading(r) => {
                    readings.push(Ok::<_, Rejection>(r));
                    of_reading.push((k, name));
                }
                Outcome::Unchanged => results[k].updated.push(name),
                Outcome::Refused(why) => results[k].not_updated.push((name, why)),
            }
        }
    }
    if readings.is_empty() {
        return Ok(results);
    }
    let outcome = state
        .hub
        .twin
        .ingest_durable(readings, None)
        .await
        .map_err(|e| Problem::internal(format!("the twin cannot take readings: {e}")))?;
    if let Some(e) = outcome.store_error {
        return Err(Problem::internal(format!("nothing was stored: {e}")));
    }
    let mut rejected: BTreeMap<usize, Rejection> = outcome.rejected.into_iter().collect();
    for (n, (k, name)) in of_reading.into_iter().enumerate() {
        match rejected.remove(&n) {
            Some(r) => results[k]
                .not_updated
                .push((name, format!("{} ({})", r.message, r.reason))),
            None => results[k].updated.push(name),
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names_map_back_to_the_twins_quantities() {
        assert_eq!(
            quantity_name(AssetKind::WasteBin, "fillingLevel").as_deref(),
            Some("fillingLevel")
        );
        assert_eq!(quantity_name(AssetKind::WasteBin, "colour"), None);
        let charger = AssetKind::EvCharger;
        if Quantity::for_asset(charger, "socketStatus.2").is_some() {
            assert_eq!(
                quantity_name(charger, "socketStatus_2").as_deref(),
                Some("socketStatus.2")
            );
        }
        assert_eq!(quantity_name(charger, "socketStatus_x"), None);
    }
}
